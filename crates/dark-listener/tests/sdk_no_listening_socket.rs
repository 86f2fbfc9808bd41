//! A process that hosts services with this SDK opens no listening socket.
//!
//! The in-process lab listens (controller and router), so the host runs in a child process:
//! this test binary re-runs itself with `SDK_NO_LISTEN_CHILD` set, the child binds an
//! encrypted and a plain service and echoes, and the parent — after proving the child really
//! serves by dialing both services — matches the child's socket inodes (`/proc/PID/fd`)
//! against `/proc/PID/net/{tcp,tcp6,udp,udp6}`: no TCP socket of the child may be in LISTEN
//! state and the child may own no UDP socket at all. (`harness = false`: `main` is the test.)

#[path = "sdk_support.rs"]
mod support;

use std::collections::HashSet;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use dark_listener::context::{Context, DialOptions};
use dark_listener::listener::BindOptions;
use support::{payload, round_trip, spawn_echo, TestLab, E2EE, PLAIN};
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

/// Socket inodes the process `pid` holds open.
fn socket_inodes(pid: u32) -> HashSet<u64> {
    let mut out = HashSet::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let Ok(target) = std::fs::read_link(entry.unwrap().path()) else {
            continue;
        };
        let target = target.to_string_lossy().into_owned();
        if let Some(inode) = target
            .strip_prefix("socket:[")
            .and_then(|s| s.strip_suffix(']'))
        {
            out.insert(inode.parse().unwrap());
        }
    }
    out
}

/// (state, inode) of every entry of a /proc/net table.
fn proc_net_entries(pid: u32, table: &str) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            Some((cols.get(3)?.to_string(), cols.get(9)?.parse().ok()?))
        })
        .collect()
}

async fn parent() {
    let lab = TestLab::start().await;
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

    let inodes = socket_inodes(pid);
    let mut tcp_of_child = 0;
    for table in ["tcp", "tcp6"] {
        for (state, inode) in proc_net_entries(pid, table) {
            if inodes.contains(&inode) {
                tcp_of_child += 1;
                assert_ne!(
                    state, "0A",
                    "the hosting process has a listening TCP socket (inode {inode} in {table})"
                );
            }
        }
    }
    for table in ["udp", "udp6"] {
        for (_, inode) in proc_net_entries(pid, table) {
            assert!(
                !inodes.contains(&inode),
                "the hosting process owns a UDP socket (inode {inode} in {table})"
            );
        }
    }
    // The check saw the child's outbound connections (controller and router channel), so it
    // would also have seen a listener.
    assert!(
        tcp_of_child >= 1,
        "no TCP socket of the child found in /proc/{pid}/net/tcp*: inodes {inodes:?}"
    );
    // And the lab (in this process) does listen: the matching works both ways.
    let own = socket_inodes(std::process::id());
    let own_listening = ["tcp", "tcp6"]
        .iter()
        .flat_map(|t| proc_net_entries(std::process::id(), t))
        .filter(|(state, inode)| state == "0A" && own.contains(inode))
        .count();
    assert!(own_listening >= 2, "the lab's listeners were not found");

    drop(child.stdin.take());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("child did not stop within 20 s after stdin closed")
        .unwrap();
    assert!(status.success(), "child exited with {status}");
    dialer.shutdown(Duration::from_secs(5)).await;
    lab.stop().await;
}
