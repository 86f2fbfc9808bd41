//! Shared fixture of the `sdk_*` tests: an in-process lab (controller + edge router on
//! loopback) with hosts, a dialer, a stranger and plain/encrypted services, plus an echo host.
//! The lab itself and the peer-tool lookup live in the `testbed` crate. Included by the tests
//! with `#[path]`; as its own test target it holds no tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dark_listener::context::{Context, DialOptions};
use dark_listener::listener::ServiceListener;
use dark_listener::stream::DarkStream;
use testbed::go_peer::go_dial;
use testbed::lab::{free_loopback_addr, group_config, ServiceGroup, TestLab};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use ziti_lab::LabConfig;

/// Plain service.
pub const PLAIN: &str = "sdk-echo-plain";
/// Service that requires end-to-end encryption.
pub const E2EE: &str = "sdk-echo-e2ee";

/// The lab configuration of these tests.
pub fn config() -> LabConfig {
    group_config(&ServiceGroup {
        service_role: "sdk-test",
        services: &[(PLAIN, false), (E2EE, true)],
        identities: &[
            ("host-a", "sdk-host"),
            ("host-b", "sdk-host"),
            ("dialer", "sdk-dialer"),
            ("stranger", "nobody"),
        ],
        binders: "sdk-host",
        dialers: "sdk-dialer",
    })
}

/// A running lab with this fixture's identities, services and policies.
pub async fn start_lab() -> TestLab {
    TestLab::start_with(config()).await
}

/// [`start_lab`] on fixed (free) loopback ports, so the lab can be stopped and started again
/// at the same addresses.
pub async fn start_lab_on_fixed_ports() -> TestLab {
    let mut config = config();
    config.controller.address = free_loopback_addr();
    config.router.address = free_loopback_addr();
    TestLab::start_with(config).await
}

/// Asserts that a dial of `service` with a 2 s timeout fails (the router is down).
pub async fn assert_dial_refused(ctx: &Context, service: &str) {
    let options = DialOptions {
        timeout: Duration::from_secs(2),
        ..DialOptions::default()
    };
    let dialed = ctx.dial(service, options).await;
    assert!(dialed.is_err(), "dial succeeded while the router was down");
}

/// Echo host: every accepted stream gets `prefix` first, then its input back until EOF,
/// then FIN. Runs until the listener closes.
pub fn spawn_echo(
    mut listener: ServiceListener,
    prefix: &'static str,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((stream, _peer)) = listener.accept().await {
            tokio::spawn(echo_stream(stream, prefix));
        }
    })
}

/// Serves one echo stream: `prefix` first, then its input back until EOF, then FIN; keeps
/// the stream until the peer closes, so the FIN is not overtaken.
pub async fn echo_stream<S>(mut stream: S, prefix: &'static str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if !prefix.is_empty() {
        stream.write_all(prefix.as_bytes()).await.unwrap();
    }
    let mut buf = vec![0u8; 32 * 1024];
    if echo_until_eof(&mut stream, &mut buf).await {
        let _ = stream.read(&mut buf).await;
    }
}

/// Writes back what `stream` sends, read through `buf`, until EOF (or a read error), then
/// half-closes. Returns false, without half-closing, when a write failed.
pub async fn echo_until_eof<S>(stream: &mut S, buf: &mut [u8]) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let n = match stream.read(buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).await.is_err() {
            return false;
        }
    }
    let _ = stream.shutdown().await;
    true
}

/// `main` of a benchmark target: `--bench` on the command line asks for the full plan
/// (`run(true)`), otherwise the smoke plan; runs on a tokio runtime with 2 worker threads.
pub fn run_benchmark<F>(run: impl FnOnce(bool) -> F)
where
    F: std::future::Future<Output = ()>,
{
    let bench = std::env::args().any(|a| a == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(bench));
}

/// Asserts that `stream` is end-to-end encrypted exactly when `service` is [`E2EE`].
pub fn assert_encrypted_iff_e2ee(stream: &DarkStream, service: &str) {
    assert_eq!(
        stream.is_encrypted(),
        service == E2EE,
        "{:?}",
        stream.info()
    );
}

/// Runs `go-peer dial [FLAGS]` as "dialer" on `service` for every size in `sizes` (within
/// 120 s) and checks each echo.
pub async fn go_dialer_echoes(lab: &TestLab, service: &str, flags: &[&str], sizes: &[usize]) {
    let identity = lab.identity_file("dialer");
    go_dial(flags, &identity, service, sizes, Duration::from_secs(120))
        .await
        .assert_exact(sizes, service);
}

/// Deterministic payload of `len` bytes (not all equal, so reordering would show).
pub fn payload(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9E37_79B9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// Echo rounds over `stream` until `done` fires: each round writes a numbered 8 KiB chunk,
/// checks the echo (within 5 s), counts it in `rounds` and waits 10 ms. Returns the stream's
/// two halves.
pub async fn pump_echo_rounds<S>(
    stream: S,
    rounds: Arc<AtomicU64>,
    mut done: tokio::sync::oneshot::Receiver<()>,
) -> (ReadHalf<S>, WriteHalf<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut echoed = vec![0u8; 8 * 1024];
    for round in 0..1_000_000u64 {
        if done.try_recv().is_ok() {
            break;
        }
        let chunk = payload(echoed.len(), (round % 251) as u8);
        wr.write_all(&chunk).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), rd.read_exact(&mut echoed))
            .await
            .unwrap_or_else(|_| panic!("round {round}: echo stalled for 5 s"))
            .unwrap();
        assert!(echoed == chunk, "round {round}: echo differs");
        rounds.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (rd, wr)
}

/// How a benchmark run was made, for its title: "full plan, release build" (or smoke, debug).
pub fn plan_and_build(bench: bool) -> String {
    format!(
        "{} plan, {} build",
        if bench { "full" } else { "smoke" },
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    )
}

/// Sends `data`, half-closes, reads everything until EOF (concurrently, so large payloads do
/// not deadlock on back-pressure).
pub async fn round_trip<S>(stream: S, data: &[u8]) -> Vec<u8>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let data = data.to_vec();
    let writer = tokio::spawn(async move {
        wr.write_all(&data).await.unwrap();
        wr.shutdown().await.unwrap();
        wr
    });
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), rd.read_to_end(&mut out))
        .await
        .expect("echo did not finish in 30 s")
        .unwrap();
    let _wr = writer.await.unwrap();
    out
}

/// A file under tests/support.
pub fn support_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name)
}
