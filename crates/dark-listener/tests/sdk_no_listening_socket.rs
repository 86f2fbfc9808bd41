//! A process that hosts services with this SDK opens no listening socket.
//!
//! The in-process lab listens (controller and router), so the host runs in a child process:
//! this test binary re-runs itself with `SDK_NO_LISTEN_CHILD` set, the child binds an
//! encrypted and a plain service and echoes, and the parent — after proving the child really
//! serves by dialing both services — matches the child's socket inodes (`/proc/PID/fd`)
//! against `/proc/PID/net/{tcp,tcp6,udp,udp6}`: no TCP socket of the child may be in LISTEN
//! state and the child may own no UDP socket at all (`ziti_lab::sockets`). (`harness = false`:
//! `main` is the test.)

#[path = "sdk_support.rs"]
mod support;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use dark_listener::context::{Context, DialOptions};
use dark_listener::listener::BindOptions;
use support::{payload, round_trip, spawn_echo, start_lab, E2EE, PLAIN};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

const CHILD_ENV: &str = "SDK_NO_LISTEN_CHILD";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match std::env::var_os(CHILD_ENV) {
        Some(identity) => runtime.block_on(child(identity.into())),
        None => {
            print!("test host_process_has_no_listening_socket ... ");
            let _ = std::io::stdout().flush();
            runtime.block_on(parent());
            println!("ok");
        }
    }
}

/// Child: host both services until stdin closes.
async fn child(identity: std::path::PathBuf) {
    let ctx = Context::from_identity_file(identity).unwrap();
    ctx.wait_authenticated(Duration::from_secs(20))
        .await
        .unwrap();
    let plain = spawn_echo(ctx.bind(PLAIN, BindOptions::default()).await.unwrap(), "");
    let e2ee = spawn_echo(ctx.bind(E2EE, BindOptions::default()).await.unwrap(), "");
    println!("bound");
    let _ = std::io::stdout().flush();
    let mut stdin = tokio::io::stdin();
    let mut sink = [0u8; 64];
    // Bounded by the parent: it closes our stdin (or kills us) when done.
    while let Ok(n) = stdin.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
    ctx.shutdown(Duration::from_secs(5)).await;
    let _ = plain.await;
    let _ = e2ee.await;
}

async fn parent() {
    let lab = start_lab().await;
    let identity = lab.identity_file("host-a");
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, &identity)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let bound = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("child did not bind within 60 s")
        .unwrap();
    assert_eq!(bound.as_deref(), Some("bound"), "child failed to bind");

    // The child really serves both services.
    let dialer = lab.context("dialer").await;
    for service in [PLAIN, E2EE] {
        let data = payload(100_000, 7);
        let stream = dialer.dial(service, DialOptions::default()).await.unwrap();
        assert!(round_trip(stream, &data).await == data, "{service}");
    }

    // The shared procfs check: the child's TCP sockets (controller and router channels,
    // which show the matching works) include no listener, and it owns no UDP socket.
    let census = ziti_lab::sockets::check_process_dark(pid)
        .unwrap_or_else(|not_dark| panic!("the hosting process is not dark: {not_dark}"));
    assert!(!census.tcp.is_empty());
    // And the lab (in this process) does listen: the matching works both ways.
    let own = ziti_lab::sockets::SocketCensus::of(std::process::id()).unwrap();
    assert!(
        own.tcp_listening.len() >= 2,
        "the lab's listeners were not found: {own:?}"
    );

    drop(child.stdin.take());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("child did not stop within 20 s after stdin closed")
        .unwrap();
    assert!(status.success(), "child exited with {status}");
    dialer.shutdown(Duration::from_secs(5)).await;
    lab.stop().await;
}
