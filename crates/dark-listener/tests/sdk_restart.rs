//! The SDK across restarts of one half of the lab: the edge router alone (the host binds
//! again and new dials succeed) and the controller alone (streams already open keep flowing,
//! and the session keepers carry on, logging in again where the API session was lost).

#[path = "sdk_support.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dark_listener::context::{Context, ContextOptions, DialOptions};
use dark_listener::listener::{BindOptions, ServiceListener};
use dark_listener::stream::DarkStream;
use support::{
    assert_dial_refused, echo_stream, payload, pump_echo_rounds, round_trip, start_lab, E2EE, PLAIN,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Context options that retry quickly, so a restart is noticed within the test's waits.
fn quick_options() -> ContextOptions {
    let mut quick = ContextOptions::default();
    quick.channel.reconnect_initial = Duration::from_millis(100);
    quick.channel.reconnect_max = Duration::from_millis(500);
    quick.session.backoff_initial = Duration::from_millis(100);
    quick.session.backoff_max = Duration::from_millis(500);
    // Poll the controller often, so the keeper meets the outage instead of sleeping past it.
    quick.session.service_poll_interval = Duration::from_millis(300);
    quick
}

fn quick_bind() -> BindOptions {
    BindOptions {
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_millis(500),
        ..BindOptions::default()
    }
}

/// Echoes every accepted stream until `stop` fires, then hands the listener back.
fn serve_echo_until(
    mut listener: ServiceListener,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<ServiceListener> {
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = &mut stop => break,
                accepted = listener.accept() => accepted,
            };
            let Ok((stream, _peer)) = accepted else {
                break;
            };
            tokio::spawn(echo_stream(stream, ""));
        }
        listener
    })
}

/// Dials until one succeeds, bounded by `within`.
async fn dial_within(ctx: &Context, service: &str, within: Duration) -> DarkStream {
    let started = Instant::now();
    let mut last_error = String::new();
    for _ in 0..1000 {
        if started.elapsed() > within {
            break;
        }
        let options = DialOptions {
            timeout: Duration::from_secs(3),
            ..DialOptions::default()
        };
        match ctx.dial(service, options).await {
            Ok(stream) => return stream,
            Err(e) => last_error = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no dial of {service} succeeded within {within:?}; last error: {last_error}");
}

/// Whether something accepts TCP connections on `addr` right now.
async fn accepts_tcp(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_router_restarts_and_the_host_binds_again() {
    let mut lab = start_lab().await;
    let (controller_addr, router_addr) = {
        let running = lab.running.as_ref().unwrap();
        (running.controller_addr(), running.router_addr())
    };
    let host = lab.context_with("host-a", quick_options()).await;
    let listener = host.bind(PLAIN, quick_bind()).await.unwrap();
    assert_eq!(listener.bound_routers(), 1);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let server = serve_echo_until(listener, stop_rx);
    let dialer = lab.context_with("dialer", quick_options()).await;

    let stream = dialer.dial(PLAIN, DialOptions::default()).await.unwrap();
    assert_eq!(round_trip(stream, b"before").await, b"before");
    // A stream left open across the restart must end, not hang.
    let mut open = dialer.dial(PLAIN, DialOptions::default()).await.unwrap();
    open.write_all(b"ping").await.unwrap();
    let mut echoed = [0u8; 4];
    open.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"ping");

    lab.running.as_mut().unwrap().stop_router().await;
    assert!(
        !accepts_tcp(router_addr).await,
        "the router still accepts connections after stop_router"
    );
    assert!(
        accepts_tcp(controller_addr).await,
        "the controller stopped too; only the router should be down"
    );
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), open.read_to_end(&mut rest)).await;
    assert!(
        ended.is_ok(),
        "a stream through the stopped router did not end within 10 s"
    );
    assert_dial_refused(&dialer, PLAIN).await;

    lab.running.as_mut().unwrap().start_router().await.unwrap();
    assert_eq!(lab.running.as_ref().unwrap().router_addr(), router_addr);

    let stream = dial_within(&dialer, PLAIN, Duration::from_secs(20)).await;
    let data = payload(100_000, 7);
    assert_eq!(round_trip(stream, &data).await, data);
    // A second, fresh dial works too (not a one-off).
    let stream = dial_within(&dialer, PLAIN, Duration::from_secs(5)).await;
    assert_eq!(round_trip(stream, b"after").await, b"after");

    let _ = stop_tx.send(());
    let mut listener = server.await.unwrap();
    assert!(
        listener.wait_bound(1, Duration::from_secs(5)).await,
        "the host is not bound on the restarted router: {:?}",
        listener.last_error()
    );
    drop(listener);
    dialer.shutdown(Duration::from_secs(5)).await;
    host.shutdown(Duration::from_secs(5)).await;
    lab.stop().await;
}

/// How long the controller stays down.
const CONTROLLER_OUTAGE: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_keep_flowing_while_the_controller_restarts() {
    let mut lab = start_lab().await;
    let (controller_addr, router_addr) = {
        let running = lab.running.as_ref().unwrap();
        (running.controller_addr(), running.router_addr())
    };
    let host = lab.context_with("host-a", quick_options()).await;
    let listener = host.bind(E2EE, quick_bind()).await.unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let server = serve_echo_until(listener, stop_rx);
    let dialer = lab.context_with("dialer", quick_options()).await;
    // A second dialer whose API session the restarted controller will have lost.
    let forgotten = lab.context_with("dialer", quick_options()).await;
    let forgotten_logins = forgotten.controller().unwrap().snapshot().logins;

    // One encrypted stream carries numbered chunks the whole time; each echo is checked.
    let stream = dialer.dial(E2EE, DialOptions::default()).await.unwrap();
    let rounds = Arc::new(AtomicU64::new(0));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let pump = {
        let rounds = rounds.clone();
        tokio::spawn(async move {
            let (mut rd, mut wr) = pump_echo_rounds(stream, rounds.clone(), done_rx).await;
            wr.shutdown().await.unwrap();
            let mut rest = Vec::new();
            rd.read_to_end(&mut rest).await.unwrap();
            assert!(
                rest.is_empty(),
                "{} unexpected bytes at the end",
                rest.len()
            );
            rounds.load(Ordering::SeqCst)
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before_outage = rounds.load(Ordering::SeqCst);
    assert!(before_outage > 0, "no echo round before the outage");

    lab.running.as_mut().unwrap().stop_controller().await;
    assert!(
        !accepts_tcp(controller_addr).await,
        "the controller still accepts connections after stop_controller"
    );
    assert!(
        accepts_tcp(router_addr).await,
        "the router stopped too; only the controller should be down"
    );
    // The restarted controller will not know this API session (the lab's record of it: a
    // legacy session's own token, or the session an OIDC token names).
    let session = forgotten
        .controller()
        .unwrap()
        .snapshot()
        .api_session
        .unwrap();
    let identity_id = session
        .identity_id
        .clone()
        .or_else(|| session.identity.as_ref().map(|i| i.id.clone()))
        .expect("the session names its identity");
    let record = lab
        .lab
        .state()
        .api_sessions_of(&identity_id)
        .into_iter()
        .find(|s| s.id == session.id)
        .expect("the lab knows the session");
    assert!(lab.lab.state().delete_api_session(&record.token).unwrap());
    let outage_start = rounds.load(Ordering::SeqCst);
    tokio::time::sleep(CONTROLLER_OUTAGE).await;
    let outage_end = rounds.load(Ordering::SeqCst);
    assert!(
        outage_end >= outage_start + 20,
        "the stream slowed to {} rounds in {CONTROLLER_OUTAGE:?} while the controller was down",
        outage_end - outage_start
    );
    let keeper_error = dialer.controller().unwrap().snapshot().last_error;
    assert!(
        keeper_error.is_some(),
        "the dialer's keeper did not notice the controller outage"
    );

    lab.running
        .as_mut()
        .unwrap()
        .start_controller()
        .await
        .unwrap();
    assert_eq!(
        lab.running.as_ref().unwrap().controller_addr(),
        controller_addr
    );
    // New dials work: with the API session kept, and with a new login where it was lost.
    let stream = dial_within(&dialer, E2EE, Duration::from_secs(20)).await;
    let data = payload(70_000, 3);
    assert_eq!(round_trip(stream, &data).await, data);
    let stream = dial_within(&forgotten, E2EE, Duration::from_secs(20)).await;
    assert_eq!(round_trip(stream, &data).await, data);
    let logins = forgotten.controller().unwrap().snapshot().logins;
    assert!(
        logins > forgotten_logins,
        "the keeper dialed without logging in again ({logins} logins)"
    );

    let after_restart = rounds.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        rounds.load(Ordering::SeqCst) > after_restart,
        "the stream stopped after the controller restart"
    );
    let _ = done_tx.send(());
    let total = tokio::time::timeout(Duration::from_secs(10), pump)
        .await
        .expect("the stream did not finish within 10 s")
        .unwrap();
    assert!(total > outage_end);

    let _ = stop_tx.send(());
    drop(server.await.unwrap());
    forgotten.shutdown(Duration::from_secs(5)).await;
    dialer.shutdown(Duration::from_secs(5)).await;
    host.shutdown(Duration::from_secs(5)).await;
    lab.stop().await;
}
