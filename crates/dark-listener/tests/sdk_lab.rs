//! The SDK data plane against the in-process lab (controller + edge router on loopback):
//! Rust host ↔ Rust dialer, with and without end-to-end encryption, addressed terminators,
//! refusals with the controller's or router's reason, and peer information.

#[path = "sdk_support.rs"]
mod support;

use std::time::Duration;

use bytes::Bytes;
use dark_listener::context::{ContextOptions, DialError, DialOptions};
use dark_listener::listener::BindOptions;
use support::{
    assert_dial_refused, assert_encrypted_iff_e2ee, payload, round_trip, spawn_echo, start_lab,
    start_lab_on_fixed_ports, E2EE, PLAIN,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SIZES: [usize; 6] = [1, 1000, 65_536, 65_537, 300_001, 1 << 20];

async fn echo_all_sizes(service: &'static str) {
    let lab = start_lab().await;
    let host = lab.context("host-a").await;
    let listener = host.bind(service, BindOptions::default()).await.unwrap();
    assert_eq!(listener.bound_routers(), 1);
    let echo = spawn_echo(listener, "");
    let dialer = lab.context("dialer").await;
    for (i, size) in SIZES.into_iter().enumerate() {
        let data = payload(size, i as u8);
        let stream = dialer.dial(service, DialOptions::default()).await.unwrap();
        assert_encrypted_iff_e2ee(&stream, service);
        let back = round_trip(stream, &data).await;
        assert_eq!(back.len(), data.len(), "size {size} on {service}");
        assert!(
            back == data,
            "payload of {size} bytes differs after the echo on {service}"
        );
    }
    // The router measured a latency for the channel the dialer used.
    let latencies = dialer.router_latencies();
    assert_eq!(latencies.len(), 1, "{latencies:?}");
    assert!(latencies[0].1.is_some(), "{latencies:?}");
    dialer.shutdown(Duration::from_secs(5)).await;
    host.shutdown(Duration::from_secs(5)).await;
    echo.await.unwrap();
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_echo_is_byte_exact_up_to_one_mebibyte() {
    echo_all_sizes(PLAIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_echo_is_byte_exact_up_to_one_mebibyte() {
    echo_all_sizes(E2EE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_are_addressed_by_terminator_identity() {
    let lab = start_lab().await;
    let a = lab.context("host-a").await;
    let b = lab.context("host-b").await;
    let opts = BindOptions {
        bind_using_edge_identity: true,
        ..BindOptions::default()
    };
    let echo_a = spawn_echo(a.bind(PLAIN, opts.clone()).await.unwrap(), "host-a:");
    let echo_b = spawn_echo(b.bind(PLAIN, opts).await.unwrap(), "host-b:");
    let dialer = lab.context("dialer").await;
    for target in ["host-b", "host-a", "host-b"] {
        let stream = dialer
            .dial(
                PLAIN,
                DialOptions {
                    terminator_identity: Some(target.into()),
                    ..DialOptions::default()
                },
            )
            .await
            .unwrap();
        let back = round_trip(stream, b"ping").await;
        assert_eq!(String::from_utf8(back).unwrap(), format!("{target}:ping"));
    }
    // Nobody bound under this instance id: the router refuses with its reason.
    let err = dialer
        .dial(
            PLAIN,
            DialOptions {
                terminator_identity: Some("host-c".into()),
                ..DialOptions::default()
            },
        )
        .await
        .unwrap_err();
    match &err {
        DialError::Refused { reason, .. } => assert!(!reason.is_empty(), "{err}"),
        other => panic!("expected a refusal from the router, got {other}"),
    }
    for ctx in [dialer, a, b] {
        ctx.shutdown(Duration::from_secs(5)).await;
    }
    echo_a.await.unwrap();
    echo_b.await.unwrap();
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_dial_and_bind_are_refused_with_a_reason() {
    let lab = start_lab().await;
    let host = lab.context("host-a").await;
    let echo = spawn_echo(host.bind(PLAIN, BindOptions::default()).await.unwrap(), "");
    let stranger = lab.context("stranger").await;
    let err = stranger
        .dial(PLAIN, DialOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, DialError::Controller { .. }),
        "stranger's dial: {err}"
    );
    assert!(err.to_string().contains(PLAIN), "{err}");
    // The dialer may dial but not bind.
    let dialer = lab.context("dialer").await;
    let err = dialer
        .bind(
            PLAIN,
            BindOptions {
                bind_timeout: Duration::from_secs(5),
                ..BindOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("Bind") || err.to_string().contains("bind"),
        "{err}"
    );
    for ctx in [stranger, dialer, host] {
        ctx.shutdown(Duration::from_secs(5)).await;
    }
    echo.await.unwrap();
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_sees_caller_and_app_data_and_fin_half_closes() {
    let lab = start_lab().await;
    let host = lab.context("host-a").await;
    let mut listener = host.bind(E2EE, BindOptions::default()).await.unwrap();
    let dialer = lab.context("dialer").await;
    let mut stream = dialer
        .dial(
            E2EE,
            DialOptions {
                caller_id: Some("caller-7".into()),
                app_data: Some(Bytes::from_static(b"{\"k\":1}")),
                ..DialOptions::default()
            },
        )
        .await
        .unwrap();
    let (mut accepted, peer) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(peer.caller_id.as_deref(), Some("caller-7"));
    assert_eq!(peer.app_data.as_deref(), Some(&b"{\"k\":1}"[..]));
    assert_eq!(peer.dialer_identity_name.as_deref(), Some("dialer"));
    assert!(accepted.is_encrypted());
    // Dialer half-closes: host reads the data then EOF, and can still answer.
    stream.write_all(b"request").await.unwrap();
    stream.shutdown().await.unwrap();
    let mut got = Vec::new();
    accepted.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"request");
    accepted.write_all(b"answer after FIN").await.unwrap();
    // Host drops the stream: the dialer gets the data, then EOF (StateClosed).
    drop(accepted);
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, b"answer after FIN");
    // Writing after the peer closed fails.
    assert!(stream.write_all(b"late").await.is_err());
    // Without a caller id, the dialer's identity name is sent, as the Go SDK does.
    let _second = dialer.dial(E2EE, DialOptions::default()).await.unwrap();
    let (_accepted, peer) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(peer.caller_id.as_deref(), Some("dialer"));
    drop(listener);
    dialer.shutdown(Duration::from_secs(5)).await;
    host.shutdown(Duration::from_secs(5)).await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_rebinds_after_the_router_restarts() {
    let mut lab = start_lab_on_fixed_ports().await;
    let mut quick = ContextOptions::default();
    quick.channel.reconnect_initial = Duration::from_millis(100);
    quick.channel.reconnect_max = Duration::from_millis(500);
    quick.session.backoff_initial = Duration::from_millis(100);
    quick.session.backoff_max = Duration::from_millis(500);
    let host = lab.context_with("host-a", quick.clone()).await;
    let mut listener = host
        .bind(
            PLAIN,
            BindOptions {
                retry_initial: Duration::from_millis(100),
                retry_max: Duration::from_millis(500),
                ..BindOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(listener.bound_routers(), 1);
    let dialer = lab.context_with("dialer", quick).await;
    let serve = |mut listener: dark_listener::listener::ServiceListener| {
        tokio::spawn(async move {
            // Serves two connections, then hands the listener back.
            for _ in 0..2 {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = Vec::new();
                s.read_to_end(&mut buf).await.unwrap();
                s.write_all(&buf).await.unwrap();
                s.shutdown().await.unwrap();
                let _ = s.read(&mut [0u8; 1]).await;
            }
            listener
        })
    };
    let server = serve(listener);
    let stream = dialer.dial(PLAIN, DialOptions::default()).await.unwrap();
    assert_eq!(round_trip(stream, b"before").await, b"before");

    lab.stop_serving().await;
    assert_dial_refused(&dialer, PLAIN).await;
    lab.serve_again().await;

    let stream = tokio::time::timeout(Duration::from_secs(20), async {
        // Bounded by the timeout: the host needs a moment to notice and re-bind.
        loop {
            match dialer.dial(PLAIN, DialOptions::default()).await {
                Ok(s) => break s,
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    })
    .await
    .expect("no dial succeeded within 20 s of the router restart");
    assert_eq!(round_trip(stream, b"after").await, b"after");
    listener = server.await.unwrap();
    assert_eq!(listener.bound_routers(), 1);
    assert!(listener.wait_bound(1, Duration::from_secs(1)).await);
    drop(listener);
    dialer.shutdown(Duration::from_secs(5)).await;
    host.shutdown(Duration::from_secs(5)).await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_back_pressures_the_writer_without_unbounded_buffering() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    const TOTAL: usize = 96 << 20;
    const CHUNK: usize = 64 << 10;
    let lab = start_lab().await;
    let mut small = ContextOptions::default();
    small.channel.stream_queue = 2;
    small.channel.write_queue = 2;
    let host = lab.context_with("host-a", small.clone()).await;
    let mut listener = host.bind(PLAIN, BindOptions::default()).await.unwrap();
    let dialer = lab.context_with("dialer", small).await;
    let mut stream = dialer.dial(PLAIN, DialOptions::default()).await.unwrap();
    let written = Arc::new(AtomicUsize::new(0));
    let progress = written.clone();
    let writer = tokio::spawn(async move {
        let mut chunk = vec![0u8; CHUNK];
        let mut offset = 0usize;
        while offset < TOTAL {
            for (i, b) in chunk.iter_mut().enumerate() {
                *b = ((offset + i) % 251) as u8;
            }
            stream.write_all(&chunk).await.unwrap();
            offset += CHUNK;
            progress.store(offset, Ordering::SeqCst);
        }
        stream.shutdown().await.unwrap();
        stream
    });
    let (mut accepted, _) = listener.accept().await.unwrap();
    // Nobody reads: the writer must stall well before the end, and stay stalled.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stalled_at = written.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        written.load(Ordering::SeqCst),
        stalled_at,
        "writer kept going"
    );
    assert!(
        stalled_at < TOTAL / 2,
        "{stalled_at} of {TOTAL} bytes were accepted with no reader"
    );
    // Reading resumes the flow; every byte arrives in order.
    let mut buf = vec![0u8; CHUNK];
    let mut seen = 0usize;
    loop {
        let n = tokio::time::timeout(Duration::from_secs(30), accepted.read(&mut buf))
            .await
            .expect("stream stalled after reading resumed")
            .unwrap();
        if n == 0 {
            break;
        }
        for (i, b) in buf[..n].iter().enumerate() {
            assert_eq!(*b, ((seen + i) % 251) as u8, "byte {} differs", seen + i);
        }
        seen += n;
    }
    assert_eq!(seen, TOTAL);
    let _stream = writer.await.unwrap();
    drop(accepted);
    drop(listener);
    dialer.shutdown(Duration::from_secs(5)).await;
    host.shutdown(Duration::from_secs(5)).await;
    lab.stop().await;
}
