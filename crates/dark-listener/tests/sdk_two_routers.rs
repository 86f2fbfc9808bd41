//! Two edge routers (the lab's configured one and one added beside it): the host binds on
//! both; five times in a row one router is stopped (the two take turns) and new dials succeed
//! through the other within 5 s, byte-exact; the router comes back and the host binds on it
//! again. Nothing is lost: every echo is checked.

#[path = "sdk_support.rs"]
mod support;

use std::time::{Duration, Instant};

use dark_listener::context::{Context, ContextOptions, DialOptions};
use dark_listener::listener::{BindOptions, ServiceListener};
use support::{echo_stream, payload, round_trip, start_lab_on_fixed_ports, PLAIN};
use testbed::lab::TestLab;
use tokio::sync::{mpsc, oneshot};

/// Echoes every accepted stream; answers "how many routers hold a live bind" on `queries`.
fn serve_echo(
    mut listener: ServiceListener,
    mut queries: mpsc::Receiver<oneshot::Sender<usize>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        tokio::spawn(echo_stream(stream, ""));
                    }
                    Err(_) => return,
                },
                query = queries.recv() => match query {
                    Some(answer) => {
                        let _ = answer.send(listener.bound_routers());
                    }
                    None => return,
                },
            }
        }
    })
}

async fn bound_routers(queries: &mpsc::Sender<oneshot::Sender<usize>>) -> usize {
    let (tx, rx) = oneshot::channel();
    queries.send(tx).await.expect("echo task alive");
    rx.await.expect("echo task answers")
}

/// Waits (at most `within`) until the host holds a live bind on `count` routers.
async fn wait_bound(
    queries: &mpsc::Sender<oneshot::Sender<usize>>,
    count: usize,
    within: Duration,
) {
    let started = Instant::now();
    while bound_routers(queries).await < count {
        assert!(
            started.elapsed() < within,
            "the host holds binds on {} routers, not {count}, after {within:?}",
            bound_routers(queries).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Dials until an exact 64 KiB echo comes back (dials of 1 s at most, 5 s in all); returns
/// how long that took.
async fn echo_within_5_s(dialer: &Context, round: usize) -> Duration {
    let options = DialOptions {
        timeout: Duration::from_secs(1),
        ..DialOptions::default()
    };
    let data = payload(65_536, round as u8);
    let started = Instant::now();
    let mut errors = Vec::new();
    while started.elapsed() < Duration::from_secs(5) {
        match dialer.dial(PLAIN, options.clone()).await {
            Ok(stream) => {
                let back = round_trip(stream, &data).await;
                assert!(back == data, "round {round}: echo differs");
                return started.elapsed();
            }
            Err(e) => errors.push(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("round {round}: no dial succeeded within 5 s: {errors:#?}");
}

/// The lab on fixed ports with a second edge router, "router-b".
async fn start_lab_with_router_b() -> TestLab {
    let mut lab = start_lab_on_fixed_ports().await;
    lab.running
        .as_mut()
        .unwrap()
        .add_router("router-b")
        .await
        .unwrap();
    lab
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dials_fail_over_within_5_s_and_the_host_binds_again_five_times() {
    let mut lab = start_lab_with_router_b().await;
    // Contexts made after the second router exists: their sessions list both.
    let mut host_options = ContextOptions::default();
    host_options.channel.reconnect_initial = Duration::from_millis(100);
    host_options.channel.reconnect_max = Duration::from_millis(500);
    let host = lab.context_with("host-a", host_options).await;
    let bind = BindOptions {
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_millis(500),
        ..BindOptions::default()
    };
    let listener = host.bind(PLAIN, bind).await.unwrap();
    let (queries, query_rx) = mpsc::channel(4);
    let echo = serve_echo(listener, query_rx);
    wait_bound(&queries, 2, Duration::from_secs(15)).await;
    let dialer = lab.context("dialer").await;
    echo_within_5_s(&dialer, 0).await;

    for round in 1..=5 {
        let running = lab.running.as_mut().unwrap();
        let stopped = if round % 2 == 1 {
            "router-b"
        } else {
            "the configured router"
        };
        if round % 2 == 1 {
            running.stop_extra_router("router-b").await;
        } else {
            running.stop_router().await;
        }
        let took = echo_within_5_s(&dialer, round).await;
        println!("round {round}: {stopped} stopped, a dial went through the other in {took:?}");
        wait_bound(&queries, 1, Duration::from_secs(5)).await;

        let running = lab.running.as_mut().unwrap();
        if round % 2 == 1 {
            running.start_extra_router("router-b").await.unwrap();
        } else {
            running.start_router().await.unwrap();
        }
        let started = Instant::now();
        wait_bound(&queries, 2, Duration::from_secs(30)).await;
        println!(
            "round {round}: {stopped} back, the host bound on it again after {:?}",
            started.elapsed()
        );
        echo_within_5_s(&dialer, round + 10).await;
    }

    dialer.shutdown(Duration::from_secs(5)).await;
    host.shutdown(Duration::from_secs(5)).await;
    drop(queries);
    echo.await.unwrap();
    lab.stop().await;
}

/// The Go SDK v1.9.0 as the host over the same two routers (its default of at most 3
/// terminators, one per router): first router-b stops, then, after it came back, the
/// configured router; each time new dials of ours go through the other within 5 s. The second
/// round can only pass if the Go host bound on router-b again after its restart (a stopped
/// router's terminators go with its channels).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_sdk_host_on_two_routers_keeps_serving_when_either_stops() {
    let mut lab = start_lab_with_router_b().await;
    let go =
        testbed::go_peer::GoHost::start("host", &[], &lab.identity_file("host-b"), PLAIN).await;
    let dialer = lab.context("dialer").await;
    // The Go host's terminators follow its listener: the first echo may take a moment.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        let options = DialOptions {
            timeout: Duration::from_secs(1),
            ..DialOptions::default()
        };
        if dialer.dial(PLAIN, options).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    echo_within_5_s(&dialer, 0).await;
    for round in 1..=2 {
        let running = lab.running.as_mut().unwrap();
        if round == 1 {
            running.stop_extra_router("router-b").await;
        } else {
            running.stop_router().await;
        }
        let took = echo_within_5_s(&dialer, round).await;
        println!("Go host, round {round}: a dial went through the other router in {took:?}");
        let running = lab.running.as_mut().unwrap();
        if round == 1 {
            running.start_extra_router("router-b").await.unwrap();
        } else {
            running.start_router().await.unwrap();
        }
        // The Go host binds on the returning router again; give it time, then check service.
        tokio::time::sleep(Duration::from_secs(3)).await;
        echo_within_5_s(&dialer, round + 10).await;
    }
    dialer.shutdown(Duration::from_secs(5)).await;
    go.stop().await;
    lab.stop().await;
}
