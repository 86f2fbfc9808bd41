//! Data-plane interop with the real OpenZiti C SDK (PyPI openziti 0.6.0 = C SDK 0.29.3,
//! in the test venv): the C SDK dials a Rust-hosted echo, and a Rust dialer reaches a
//! C-hosted echo, with and without end-to-end encryption, byte-exact up to 1 MiB.

#[path = "sdk_support.rs"]
mod support;

use std::process::Stdio;
use std::time::Duration;

use dark_listener::context::DialOptions;
use dark_listener::listener::BindOptions;
use support::{payload, spawn_echo, start_lab, support_file, E2EE, PLAIN};
use testbed::peers::peer_python;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const SIZES: [usize; 5] = [1, 1000, 65_536, 300_001, 1 << 20];

fn peer_command(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(peer_python());
    cmd.arg(support_file("sdk_c_echo.py"))
        .args(args)
        .env("ZITI_LOG", "2")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn c_dials_rust_host(service: &'static str) {
    let lab = start_lab().await;
    let host = lab.context("host-a").await;
    let echo = spawn_echo(
        host.bind(service, BindOptions::default()).await.unwrap(),
        "",
    );
    let identity = lab.identity_file("dialer");
    let sizes: Vec<String> = SIZES.iter().map(|s| s.to_string()).collect();
    let mut args = vec!["dial", identity.to_str().unwrap(), service];
    args.extend(sizes.iter().map(String::as_str));
    let child = peer_command(&args)
        .spawn()
        .expect("cannot start the peer python");
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("C SDK dialer did not finish within 120 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let echoed: Vec<_> = lines.iter().filter(|l| l["step"] == "echoed").collect();
    assert_eq!(
        echoed.len(),
        SIZES.len(),
        "C SDK dialer on {service}: {stdout}\n--- stderr ---\n{stderr}"
    );
    for (line, size) in echoed.iter().zip(SIZES) {
        assert_eq!(line["size"], size as u64, "{line}");
        assert_eq!(line["received"], size as u64, "{line}\n{stderr}");
        assert_eq!(line["ok"], true, "{line}");
    }
    assert!(out.status.success(), "{stdout}\n{stderr}");
    host.shutdown(Duration::from_secs(5)).await;
    echo.await.unwrap();
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_sdk_dials_a_rust_hosted_plain_echo() {
    c_dials_rust_host(PLAIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_sdk_dials_a_rust_hosted_encrypted_echo() {
    c_dials_rust_host(E2EE).await;
}

async fn rust_dials_c_host(service: &'static str) {
    let lab = start_lab().await;
    let identity = lab.identity_file("host-b");
    let mut child = peer_command(&["host", identity.to_str().unwrap(), service])
        .spawn()
        .expect("cannot start the peer python");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let bound = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            if line.contains("\"bound\"") {
                return true;
            }
        }
        false
    })
    .await;
    if bound != Ok(true) {
        let _ = child.start_kill();
        let out = child.wait_with_output().await.unwrap();
        panic!(
            "C SDK host did not bind {service}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Keep draining the host's stdout so it never blocks on a full pipe.
    let drain = tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    let dialer = lab.context("dialer").await;
    for (i, size) in SIZES.into_iter().enumerate() {
        let data = payload(size, 40 + i as u8);
        let stream = dialer.dial(service, DialOptions::default()).await.unwrap();
        assert_eq!(stream.is_encrypted(), service == E2EE);
        let (mut rd, mut wr) = tokio::io::split(stream);
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            wr.write_all(&sent).await.unwrap();
            wr
        });
        let mut back = vec![0u8; size];
        tokio::time::timeout(Duration::from_secs(30), rd.read_exact(&mut back))
            .await
            .unwrap_or_else(|_| panic!("C SDK echo of {size} bytes on {service} timed out"))
            .unwrap();
        assert!(
            back == data,
            "C SDK echo of {size} bytes on {service} differs"
        );
        let wr = writer.await.unwrap();
        drop(rd.unsplit(wr));
    }
    dialer.shutdown(Duration::from_secs(5)).await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    drain.abort();
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_dials_a_c_hosted_plain_echo() {
    rust_dials_c_host(PLAIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_dials_a_c_hosted_encrypted_echo() {
    rust_dials_c_host(E2EE).await;
}
