//! The Go SDK v1.9.0 as a host while the lab restarts under it, reached by our dialer: after
//! the edge router restarts (twice) the Go host binds again and serves new dials; while the
//! controller is down, a stream to the Go host keeps flowing, and once it is back new dials
//! work (ours, and a Go SDK dialer's).

#[path = "sdk_support.rs"]
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dark_listener::context::{Context, DialOptions};
use support::{
    assert_dial_refused, payload, pump_echo_rounds, round_trip, start_lab_on_fixed_ports, PLAIN,
};
use testbed::go_peer::{go_dial, GoHost};

/// Dials `service` until a 64 KiB echo comes back exact (every 200 ms, `within` at most);
/// returns how long it took.
async fn echo_within(dialer: &Context, service: &str, within: Duration) -> Duration {
    let started = Instant::now();
    let options = DialOptions {
        timeout: Duration::from_secs(2),
        ..DialOptions::default()
    };
    let data = payload(65_536, 5);
    let mut last = None;
    while started.elapsed() < within {
        match dialer.dial(service, options.clone()).await {
            Ok(stream) => {
                assert!(round_trip(stream, &data).await == data, "echo differs");
                return started.elapsed();
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no echo from the Go host within {within:?}: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_host_binds_again_each_time_the_router_restarts() {
    let mut lab = start_lab_on_fixed_ports().await;
    let go = GoHost::start("host", &[], &lab.identity_file("host-b"), PLAIN).await;
    let dialer = lab.context("dialer").await;
    echo_within(&dialer, PLAIN, Duration::from_secs(15)).await;
    for round in 1..=2 {
        lab.running.as_mut().unwrap().stop_router().await;
        assert_dial_refused(&dialer, PLAIN).await;
        lab.running.as_mut().unwrap().start_router().await.unwrap();
        let took = echo_within(&dialer, PLAIN, Duration::from_secs(60)).await;
        println!("round {round}: the Go host served again {took:?} after the router restart");
    }
    dialer.shutdown(Duration::from_secs(5)).await;
    go.stop().await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_to_a_go_host_keeps_flowing_while_the_controller_restarts() {
    let mut lab = start_lab_on_fixed_ports().await;
    let go = GoHost::start("host", &[], &lab.identity_file("host-b"), PLAIN).await;
    let dialer = lab.context("dialer").await;
    echo_within(&dialer, PLAIN, Duration::from_secs(15)).await;

    // One stream carries numbered 8 KiB chunks the whole time; each echo is checked.
    let stream = dialer.dial(PLAIN, DialOptions::default()).await.unwrap();
    let rounds = Arc::new(AtomicU64::new(0));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let pump = {
        let rounds = rounds.clone();
        tokio::spawn(async move {
            pump_echo_rounds(stream, rounds, done_rx).await;
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        rounds.load(Ordering::SeqCst) > 0,
        "no echo before the outage"
    );

    lab.running.as_mut().unwrap().stop_controller().await;
    let outage_start = rounds.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = rounds.load(Ordering::SeqCst) - outage_start;
    assert!(
        during >= 20,
        "the stream to the Go host slowed to {during} rounds in 3 s while the controller was down"
    );
    lab.running
        .as_mut()
        .unwrap()
        .start_controller()
        .await
        .unwrap();

    // New dials work again: ours, and a fresh Go SDK dialer's.
    echo_within(&dialer, PLAIN, Duration::from_secs(30)).await;
    let sizes = [100_000];
    go_dial(
        &[],
        &lab.identity_file("dialer"),
        PLAIN,
        &sizes,
        Duration::from_secs(60),
    )
    .await
    .assert_exact(&sizes, PLAIN);

    let _ = done_tx.send(());
    tokio::time::timeout(Duration::from_secs(10), pump)
        .await
        .expect("the pump did not stop")
        .unwrap();
    assert!(rounds.load(Ordering::SeqCst) > outage_start + during);
    dialer.shutdown(Duration::from_secs(5)).await;
    go.stop().await;
    lab.stop().await;
}
