//! One-way throughput through the lab (dialer → router → host), plain and encrypted. Prints
//! MB/s (run with `--nocapture`, ideally `--release`) and fails if it collapses below a floor
//! that even a debug build on a busy 2-core machine clears easily.

#[path = "sdk_support.rs"]
mod support;

use std::time::{Duration, Instant};

use dark_listener::context::DialOptions;
use dark_listener::listener::BindOptions;
use support::{start_lab, E2EE, PLAIN};
use testbed::lab::TestLab;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FLOOR_MB_PER_S: f64 = 1.0;

/// Moves `total` bytes one way; returns MB/s.
async fn measure(lab: &TestLab, service: &str, total: usize) -> f64 {
    let host = lab.context("host-a").await;
    let mut listener = host.bind(service, BindOptions::default()).await.unwrap();
    let dialer = lab.context("dialer").await;
    let mut stream = dialer.dial(service, DialOptions::default()).await.unwrap();
    let (mut accepted, _) = listener.accept().await.unwrap();
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        let chunk = vec![0x5au8; 64 << 10];
        for _ in 0..total / chunk.len() {
            stream.write_all(&chunk).await.unwrap();
        }
        stream.shutdown().await.unwrap();
        stream
    });
    let mut buf = vec![0u8; 64 << 10];
    let mut seen = 0;
    loop {
        let n = tokio::time::timeout(Duration::from_secs(60), accepted.read(&mut buf))
            .await
            .expect("transfer stalled")
            .unwrap();
        if n == 0 {
            break;
        }
        seen += n;
    }
    let elapsed = started.elapsed();
    assert_eq!(seen, total);
    let _stream = writer.await.unwrap();
    drop(listener);
    dialer.shutdown(Duration::from_secs(5)).await;
    host.shutdown(Duration::from_secs(5)).await;
    total as f64 / 1e6 / elapsed.as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_plain_and_encrypted() {
    let lab = start_lab().await;
    // Encrypted transfers are slow in debug builds (unoptimised ChaCha20-Poly1305): a
    // smaller payload keeps the test short there.
    let plain = measure(&lab, PLAIN, 16 << 20).await;
    let e2ee_total = if cfg!(debug_assertions) {
        2 << 20
    } else {
        16 << 20
    };
    let e2ee = measure(&lab, E2EE, e2ee_total).await;
    eprintln!(
        "one-way throughput over the lab: plain {plain:.1} MB/s (16 MiB), e2ee {e2ee:.1} MB/s ({} MiB)",
        e2ee_total >> 20
    );
    assert!(plain > FLOOR_MB_PER_S, "plain {plain:.2} MB/s");
    assert!(e2ee > FLOOR_MB_PER_S, "e2ee {e2ee:.2} MB/s");
    lab.stop().await;
}
