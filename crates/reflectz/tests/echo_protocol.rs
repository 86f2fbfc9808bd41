//! The echo protocol over in-memory streams: framing, partial lines, limits, many
//! concurrent clients, shutdown, and the metrics it leaves behind.

use std::time::Duration;

use reflectz::echo::{serve_echo, EchoLimits, EchoSummary};
use reflectz::ReflectMetrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

struct Echo {
    connect: mpsc::Sender<DuplexStream>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<EchoSummary>,
    metrics: ReflectMetrics,
}

fn start(limits: EchoLimits) -> Echo {
    let (connect, accept) = mpsc::channel::<DuplexStream>(64);
    let (stop, stopped) = oneshot::channel::<()>();
    let metrics = ReflectMetrics::new();
    let task = tokio::spawn(serve_echo(accept, limits, metrics.clone(), async {
        let _ = stopped.await;
    }));
    Echo {
        connect,
        stop,
        task,
        metrics,
    }
}

impl Echo {
    async fn connect(&self) -> DuplexStream {
        let (client, server) = tokio::io::duplex(64 * 1024);
        self.connect.send(server).await.unwrap();
        client
    }

    async fn stop(self) -> EchoSummary {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap()
    }
}

/// Writes `input`, closes the write side, reads until the server closes.
async fn exchange(mut client: DuplexStream, input: &[u8]) -> Vec<u8> {
    client.write_all(input).await.unwrap();
    client.shutdown().await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut out))
        .await
        .expect("server closes after the client")
        .unwrap();
    out
}

async fn wait_until(what: &str, check: impl Fn() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn every_line_comes_back_prefixed_with_its_newline() {
    let echo = start(EchoLimits::default());
    let out = exchange(
        echo.connect().await,
        b"hello\nwith spaces and \xff bytes\r\n\nlast",
    )
    .await;
    assert_eq!(
        out,
        b"you sent me: hello\nyou sent me: with spaces and \xff bytes\r\nyou sent me: \n".to_vec(),
        "{}",
        String::from_utf8_lossy(&out)
    );
    wait_until("close recorded", || echo.metrics.active_connections() == 0).await;
    assert_eq!(echo.metrics.total_connections(), 1);
    assert_eq!(echo.metrics.lines(), 3);
    echo.stop().await;
}

#[tokio::test]
async fn replies_arrive_line_by_line_while_the_connection_stays_open() {
    let echo = start(EchoLimits::default());
    let mut client = echo.connect().await;
    // Counted at accept, before any byte.
    wait_until("accept counted", || echo.metrics.total_connections() == 1).await;
    let mut buf = vec![0u8; 128];
    for word in ["one", "two", "three"] {
        // Send the line in two pieces: the reply comes only once the newline arrives.
        client.write_all(word.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        client.write_all(b"\n").await.unwrap();
        let expected = format!("you sent me: {word}\n");
        let mut got = Vec::new();
        while got.len() < expected.len() {
            let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "closed early");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(String::from_utf8(got).unwrap(), expected);
    }
    assert_eq!(echo.metrics.total_connections(), 1);
    assert_eq!(echo.metrics.active_connections(), 1);
    drop(client);
    echo.stop().await;
}

#[tokio::test]
async fn an_overlong_line_gets_a_notice_and_the_connection_closes() {
    let limits = EchoLimits {
        max_line_bytes: 16,
        ..EchoLimits::default()
    };
    let echo = start(limits);
    let out = exchange(
        echo.connect().await,
        b"short\nthis line is far too long\nnever read\n",
    )
    .await;
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "you sent me: short\nreflectz: line longer than 16 bytes; closing\n"
    );
    // Exactly at the limit (newline included) is fine.
    let out = exchange(echo.connect().await, b"fifteen chars!!\n").await;
    assert_eq!(out, b"you sent me: fifteen chars!!\n");
    echo.stop().await;
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let limits = EchoLimits {
        idle_timeout: Duration::from_millis(200),
        ..EchoLimits::default()
    };
    let echo = start(limits);
    let mut client = echo.connect().await;
    client.write_all(b"no newline yet").await.unwrap();
    let mut out = Vec::new();
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut out))
        .await
        .expect("closed by the idle timeout")
        .unwrap();
    assert!(out.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(150));
    echo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_at_once_get_their_own_lines() {
    let echo = start(EchoLimits::default());
    let mut clients = Vec::new();
    for i in 0..64 {
        let client = echo.connect().await;
        clients.push(tokio::spawn(async move {
            let input: String = (0..20).map(|j| format!("client {i} line {j}\n")).collect();
            let out = exchange(client, input.as_bytes()).await;
            let expected: String = (0..20)
                .map(|j| format!("you sent me: client {i} line {j}\n"))
                .collect();
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    wait_until("all closed", || echo.metrics.active_connections() == 0).await;
    assert_eq!(echo.metrics.total_connections(), 64);
    assert_eq!(echo.metrics.lines(), 64 * 20);
    let summary = echo.stop().await;
    assert_eq!(summary.connections, 64);
    assert!(summary.drained);
}

#[tokio::test]
async fn shutdown_lets_open_connections_finish() {
    let echo = start(EchoLimits::default());
    let mut client = echo.connect().await;
    client.write_all(b"hi\n").await.unwrap();
    let mut buf = [0u8; 64];
    let n = client.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"you sent me: hi\n");
    let connect = echo.connect.clone();
    let _ = echo.stop.send(());
    // Shutdown has begun: no new connection is taken, the open one is still echoed.
    let (_c, s) = tokio::io::duplex(64);
    tokio::time::timeout(Duration::from_secs(5), connect.closed())
        .await
        .expect("the source is dropped once shutdown begins");
    assert!(
        connect.send(s).await.is_err(),
        "no accepting after shutdown"
    );
    for line in ["still\n", "there\n"] {
        client.write_all(line.as_bytes()).await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], format!("you sent me: {line}").as_bytes());
    }
    let out = exchange(client, b"last\n").await;
    assert_eq!(out, b"you sent me: last\n");
    let summary = tokio::time::timeout(Duration::from_secs(5), echo.task)
        .await
        .unwrap()
        .unwrap();
    assert!(summary.drained);
    assert_eq!(echo.metrics.lines(), 4);
}

#[tokio::test]
async fn a_connection_open_past_the_drain_timeout_is_closed() {
    let limits = EchoLimits {
        drain_timeout: Duration::from_millis(300),
        ..EchoLimits::default()
    };
    let echo = start(limits);
    let mut client = echo.connect().await;
    client.write_all(b"hi\n").await.unwrap();
    let mut buf = [0u8; 64];
    let n = client.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"you sent me: hi\n");
    let started = std::time::Instant::now();
    let summary = echo.stop().await;
    assert!(!summary.drained);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(5));
    let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 0, "server closed its side");
}
