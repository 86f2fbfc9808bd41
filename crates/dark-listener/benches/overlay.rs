//! Overlay benchmark: what one stream through the lab's edge router costs, next to a plain
//! TLS relay doing the same hops, all in this process on loopback.
//!
//! Run it with `cargo bench -p dark-listener --bench overlay` (see `BENCHMARKS.md` for how
//! to read the table). Three parts:
//!
//! 1. **Many streams**: N concurrent streams opened (a small exchange each) and kept open,
//!    with the process VmRSS/VmHWM before and after. Host, router and dialer all live in
//!    this process, so the per-stream figure covers both ends and the router.
//! 2. **Throughput** of one stream, one way (dialer → router → host), plain and end-to-end
//!    encrypted, against a TLS relay baseline: client -TLS-> relay -TLS-> server, where the
//!    relay decrypts and re-encrypts as the router does. Both use rustls with the `ring`
//!    provider and the lab's own certificates (router certificate, client certificates of
//!    the lab identities, mutual TLS). Median of several rounds, with the process CPU time
//!    per gigabyte. For the breakdown, the e2ee primitives are also measured alone, and the
//!    TLS relay also carries e2ee-sealed messages (what encryption costs over a transport
//!    with no overlay overhead).
//! 3. **Dial-to-first-byte latency** (p50, p99): overlay dial + one byte echoed, against a
//!    fresh TCP + TLS connection + one byte echoed (direct, and through the relay).
//!
//! Started by `cargo test --all-targets` (no `--bench` argument) it runs a small smoke
//! configuration instead, so the test suite checks that the benchmark works without paying
//! for it.

#[path = "../tests/sdk_support.rs"]
mod support;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use dark_listener::context::{Context, DialOptions};
use dark_listener::e2ee::{E2eeSession, SessionKeys, SEAL_OVERHEAD};
use dark_listener::listener::{BindOptions, ServiceListener};
use dark_listener::stream::{DarkStream, MAX_DATA_PAYLOAD};
use rustls::pki_types::ServerName;
use support::{start_lab, E2EE, PLAIN};
use testbed::lab::TestLab;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Sizes of one run.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Bytes moved per throughput round.
    transfer_bytes: usize,
    /// Throughput rounds per mode (the median is reported).
    rounds: usize,
    /// Latency samples per mode, after `warmup` unrecorded ones.
    latency_samples: usize,
    warmup: usize,
    /// Concurrent streams of the memory part.
    streams: usize,
    /// Bytes the e2ee primitives seal and open in the breakdown.
    crypto_bytes: usize,
}

const FULL: Plan = Plan {
    transfer_bytes: 256 << 20,
    rounds: 5,
    latency_samples: 500,
    warmup: 30,
    streams: 1000,
    crypto_bytes: 512 << 20,
};

const SMOKE: Plan = Plan {
    transfer_bytes: 2 << 20,
    rounds: 1,
    latency_samples: 10,
    warmup: 2,
    streams: 50,
    crypto_bytes: 2 << 20,
};

/// Bound on any single wait of the benchmark.
const STALL: Duration = Duration::from_secs(60);

fn main() {
    support::run_benchmark(|bench| run(if bench { FULL } else { SMOKE }, bench));
}

async fn run(plan: Plan, bench: bool) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "overlay benchmark ({}, {cores} cores, tokio 2 worker threads)",
        support::plan_and_build(bench)
    );
    println!("load average at start: {}", load_average());
    let lab = start_lab().await;
    let host = lab.context("host-a").await;
    let dialer = lab.context("dialer").await;
    let plain_host = OverlayHost::bind(&host, PLAIN).await;
    let e2ee_host = OverlayHost::bind(&host, E2EE).await;
    let baseline = TlsBaseline::start(&lab).await;

    // 1. Many concurrent streams: measured first, before the throughput rounds' large
    // buffers have grown the heap (freed memory is reused, which would hide the growth).
    println!();
    println!(
        "1. {} concurrent streams (64 bytes echoed each, then kept open)",
        plan.streams
    );
    println!(
        "   {:<22} {:>10} {:>12} {:>12} {:>12} {:>14}",
        "step", "open s", "VmRSS MiB", "VmHWM MiB", "ΔRSS MiB", "Δ per stream"
    );
    let start = memory();
    println!(
        "   {:<22} {:>10} {:>12.1} {:>12.1} {:>12} {:>14}",
        "before",
        "",
        mib(start.rss_kib),
        mib(start.hwm_kib),
        "",
        ""
    );
    let mut kept: Vec<DarkStream> = Vec::new();
    let mut previous = start;
    for (label, host) in [
        ("+ N plain streams", &plain_host),
        ("+ N e2ee streams", &e2ee_host),
    ] {
        let started = Instant::now();
        let opened = host.open_many(&dialer, plan.streams).await;
        let took = started.elapsed();
        // Let the host side settle (echo tasks parked) before reading the counters.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = memory();
        let delta = now.rss_kib.saturating_sub(previous.rss_kib);
        println!(
            "   {:<22} {:>10.2} {:>12.1} {:>12.1} {:>12.1} {:>11.1} KiB",
            label.replace('N', &plan.streams.to_string()),
            took.as_secs_f64(),
            mib(now.rss_kib),
            mib(now.hwm_kib),
            mib(delta),
            delta as f64 / plan.streams as f64
        );
        kept.extend(opened);
        previous = now;
    }
    assert_eq!(kept.len(), 2 * plan.streams);
    // The allocator reuses memory freed between the two steps, so the split between plain
    // and e2ee is noisy; the total over both is the steadier figure.
    let total = previous.rss_kib.saturating_sub(start.rss_kib);
    println!(
        "   {:<22} {:>10} {:>12} {:>12} {:>12.1} {:>11.1} KiB",
        format!("all {} streams", kept.len()),
        "",
        "",
        "",
        mib(total),
        total as f64 / kept.len() as f64
    );
    drop(kept);

    // 2. Throughput.
    let mut tls_runs = Vec::new();
    let mut plain_runs = Vec::new();
    let mut e2ee_runs = Vec::new();
    let mut sealed_tls_runs = Vec::new();
    for _ in 0..plan.rounds {
        let (w, r) = baseline.relayed_pair().await;
        tls_runs.push(transfer(w, r, plan.transfer_bytes).await);
        let (w, r) = plain_host.pair(&dialer).await;
        plain_runs.push(transfer(w, r, plan.transfer_bytes).await);
        let (w, r) = e2ee_host.pair(&dialer).await;
        e2ee_runs.push(transfer(w, r, plan.transfer_bytes).await);
        let (w, r) = baseline.relayed_pair().await;
        sealed_tls_runs.push(sealed_transfer(w, r, plan.transfer_bytes).await);
    }
    let tls = Transfer::median(&tls_runs);
    let plain = Transfer::median(&plain_runs);
    let e2ee = Transfer::median(&e2ee_runs);
    let sealed_tls = Transfer::median(&sealed_tls_runs);
    let crypto = e2ee_primitives(plan.crypto_bytes);
    println!();
    println!(
        "2. throughput, one stream one way, {} MiB per round, median of {}",
        plan.transfer_bytes >> 20,
        plan.rounds
    );
    println!(
        "   {:<44} {:>9} {:>9} {:>13}",
        "path", "MB/s", "vs TLS", "CPU s per GB"
    );
    for (name, t) in [
        ("TLS relay (client→relay→server, baseline)", tls),
        ("overlay plain (dialer→router→host)", plain),
        ("overlay e2ee (dialer→router→host)", e2ee),
        ("TLS relay carrying e2ee-sealed messages", sealed_tls),
    ] {
        println!(
            "   {:<44} {:>9.0} {:>9.2} {:>13.2}",
            name,
            t.mb_per_s(),
            t.mb_per_s() / tls.mb_per_s(),
            t.cpu_s_per_gb()
        );
    }
    println!(
        "   e2ee primitives alone (seal + open on one thread, {} KiB messages): {:.2} CPU s per GB",
        MAX_DATA_PAYLOAD >> 10,
        crypto,
    );
    let ratio = e2ee.mb_per_s() / tls.mb_per_s();
    println!(
        "   target e2ee >= 0.5 x TLS relay: {} ({ratio:.2})",
        if ratio >= 0.5 { "met" } else { "NOT met" }
    );

    // 3. Latency.
    let mut rows = Vec::new();
    rows.push((
        "overlay plain: dial + 1 byte echoed",
        latencies(plan, || async {
            let mut s = dial(&dialer, PLAIN).await;
            first_byte(&mut s).await;
        })
        .await,
    ));
    rows.push((
        "overlay e2ee: dial + 1 byte echoed",
        latencies(plan, || async {
            let mut s = dial(&dialer, E2EE).await;
            first_byte(&mut s).await;
        })
        .await,
    ));
    rows.push((
        "TCP + TLS connect + 1 byte echoed (direct)",
        latencies(plan, || async {
            let mut s = baseline.connect(baseline.server_addr).await;
            first_byte(&mut s).await;
        })
        .await,
    ));
    rows.push((
        "TCP + TLS connect + 1 byte echoed (via relay)",
        latencies(plan, || async {
            let mut s = baseline.connect(baseline.relay_addr).await;
            first_byte(&mut s).await;
        })
        .await,
    ));
    println!();
    println!(
        "3. dial-to-first-byte latency, {} samples each (after {} warm-up)",
        plan.latency_samples, plan.warmup
    );
    println!("   {:<46} {:>10} {:>10}", "path", "p50 µs", "p99 µs");
    for (name, samples) in &rows {
        println!(
            "   {:<46} {:>10.0} {:>10.0}",
            name,
            percentile(samples, 0.50).as_secs_f64() * 1e6,
            percentile(samples, 0.99).as_secs_f64() * 1e6
        );
    }

    println!();
    println!("load average at end: {}", load_average());
    plain_host.close();
    e2ee_host.close();
    dialer.shutdown(Duration::from_secs(5)).await;
    host.shutdown(Duration::from_secs(5)).await;
    lab.stop().await;
}

// ---- overlay side -----------------------------------------------------------------------

/// A bound service whose accepted streams either echo (latency, many streams) or are handed
/// to the benchmark (throughput), as `hand_over` says.
struct OverlayHost {
    service: &'static str,
    hand_over: Arc<AtomicBool>,
    accepted: tokio::sync::Mutex<mpsc::Receiver<DarkStream>>,
    task: tokio::task::JoinHandle<()>,
}

impl OverlayHost {
    async fn bind(host: &Context, service: &'static str) -> Self {
        let options = BindOptions {
            accept_queue: 1024,
            ..BindOptions::default()
        };
        let listener = host.bind(service, options).await.expect("bind");
        let hand_over = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel(4);
        let task = tokio::spawn(accept_loop(listener, hand_over.clone(), tx));
        OverlayHost {
            service,
            hand_over,
            accepted: tokio::sync::Mutex::new(rx),
            task,
        }
    }

    /// A fresh (dialed, accepted) pair, for a one-way transfer.
    async fn pair(&self, dialer: &Context) -> (DarkStream, DarkStream) {
        self.hand_over.store(true, Ordering::SeqCst);
        let dialed = dial(dialer, self.service).await;
        let accepted = tokio::time::timeout(STALL, self.accepted.lock().await.recv())
            .await
            .expect("accept stalled")
            .expect("accept loop ended");
        self.hand_over.store(false, Ordering::SeqCst);
        (dialed, accepted)
    }

    /// Opens `count` streams (at most 32 dials in flight), exchanges 64 bytes on each and
    /// returns them open.
    async fn open_many(&self, dialer: &Context, count: usize) -> Vec<DarkStream> {
        let limit = Arc::new(tokio::sync::Semaphore::new(32));
        let mut set = tokio::task::JoinSet::new();
        for i in 0..count {
            let permit = limit.clone().acquire_owned().await.expect("semaphore");
            let dialer = dialer.clone();
            let service = self.service;
            set.spawn(async move {
                let _permit = permit;
                let mut s = dial(&dialer, service).await;
                let hello = [(i % 251) as u8; 64];
                s.write_all(&hello).await.expect("write");
                let mut back = [0u8; 64];
                tokio::time::timeout(STALL, s.read_exact(&mut back))
                    .await
                    .expect("echo stalled")
                    .expect("read");
                assert_eq!(back, hello);
                s
            });
        }
        let mut streams = Vec::with_capacity(count);
        while let Some(done) = set.join_next().await {
            streams.push(done.expect("stream task"));
        }
        streams
    }

    fn close(self) {
        self.task.abort();
    }
}

async fn accept_loop(
    mut listener: ServiceListener,
    hand_over: Arc<AtomicBool>,
    tx: mpsc::Sender<DarkStream>,
) {
    while let Ok((stream, _peer)) = listener.accept().await {
        if hand_over.load(Ordering::SeqCst) {
            if tx.send(stream).await.is_err() {
                return;
            }
        } else {
            tokio::spawn(echo(stream));
        }
    }
}

async fn dial(ctx: &Context, service: &str) -> DarkStream {
    ctx.dial(service, DialOptions::default())
        .await
        .unwrap_or_else(|e| panic!("dial {service}: {e}"))
}

// ---- TLS baseline -----------------------------------------------------------------------

/// A TLS echo/sink server and a decrypt-and-re-encrypt relay in front of it, both with the
/// lab router's TLS configuration (client certificates required).
struct TlsBaseline {
    server_addr: SocketAddr,
    relay_addr: SocketAddr,
    connector: TlsConnector,
    hand_over: Arc<AtomicBool>,
    accepted: tokio::sync::Mutex<mpsc::Receiver<tokio_rustls::server::TlsStream<TcpStream>>>,
}

impl TlsBaseline {
    async fn start(lab: &TestLab) -> Self {
        let server_tls = lab
            .lab
            .state()
            .pki()
            .router_tls_config()
            .expect("router tls");
        let identity = |name: &str| {
            dark_listener::identity::Identity::from_file(lab.identity_file(name)).expect("identity")
        };
        let client_tls =
            dark_listener::tls::client_config(&identity("dialer")).expect("client tls");
        let relay_upstream_tls =
            dark_listener::tls::client_config(&identity("host-a")).expect("relay tls");

        let server = TcpListener::bind("127.0.0.1:0").await.expect("bind server");
        let server_addr = server.local_addr().expect("server addr");
        let hand_over = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(tls_server(
            server,
            TlsAcceptor::from(server_tls.clone()),
            hand_over.clone(),
            tx,
        ));

        let relay = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let relay_addr = relay.local_addr().expect("relay addr");
        tokio::spawn(tls_relay(
            relay,
            TlsAcceptor::from(server_tls),
            TlsConnector::from(relay_upstream_tls),
            server_addr,
        ));
        TlsBaseline {
            server_addr,
            relay_addr,
            connector: TlsConnector::from(client_tls),
            hand_over,
            accepted: tokio::sync::Mutex::new(rx),
        }
    }

    async fn connect(&self, addr: SocketAddr) -> tokio_rustls::client::TlsStream<TcpStream> {
        tls_connect(&self.connector, addr)
            .await
            .unwrap_or_else(|e| panic!("TLS connect {addr}: {e}"))
    }

    /// A (client through the relay, server-side) pair, for a one-way transfer.
    async fn relayed_pair(
        &self,
    ) -> (
        tokio_rustls::client::TlsStream<TcpStream>,
        tokio_rustls::server::TlsStream<TcpStream>,
    ) {
        self.hand_over.store(true, Ordering::SeqCst);
        let mut client = self.connect(self.relay_addr).await;
        // The relay only dials the server once the client handshake is done; a first byte
        // makes sure of that without waiting on timers.
        client.write_all(&[0x5a]).await.expect("write");
        let mut accepted = tokio::time::timeout(STALL, self.accepted.lock().await.recv())
            .await
            .expect("accept stalled")
            .expect("server ended");
        self.hand_over.store(false, Ordering::SeqCst);
        let mut first = [0u8; 1];
        tokio::time::timeout(STALL, accepted.read_exact(&mut first))
            .await
            .expect("first byte through the relay stalled")
            .expect("first byte");
        (client, accepted)
    }
}

async fn tls_connect(
    connector: &TlsConnector,
    addr: SocketAddr,
) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::from(addr.ip());
    tokio::time::timeout(STALL, connector.connect(name, tcp))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake"))?
}

async fn tls_server(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    hand_over: Arc<AtomicBool>,
    tx: mpsc::Sender<tokio_rustls::server::TlsStream<TcpStream>>,
) {
    while let Ok((tcp, _)) = listener.accept().await {
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let hand_over = hand_over.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let Ok(Ok(tls)) = tokio::time::timeout(STALL, acceptor.accept(tcp)).await else {
                return;
            };
            if hand_over.load(Ordering::SeqCst) {
                let _ = tx.send(tls).await;
            } else {
                echo(tls).await;
            }
        });
    }
}

/// Terminates the client's TLS, opens its own TLS connection to the server and copies the
/// plaintext both ways (decrypt + re-encrypt per hop, like the router).
async fn tls_relay(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    upstream: TlsConnector,
    server: SocketAddr,
) {
    while let Ok((tcp, _)) = listener.accept().await {
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let Ok(Ok(mut downstream)) = tokio::time::timeout(STALL, acceptor.accept(tcp)).await
            else {
                return;
            };
            let Ok(mut upstream) = tls_connect(&upstream, server).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional_with_sizes(
                &mut downstream,
                &mut upstream,
                MAX_DATA_PAYLOAD,
                MAX_DATA_PAYLOAD,
            )
            .await;
        });
    }
}

// ---- shared measuring -------------------------------------------------------------------

/// Echoes until EOF with a small buffer, then half-closes.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    support::echo_until_eof(&mut stream, &mut [0u8; 1024]).await;
}

/// Writes one byte and reads its echo.
async fn first_byte<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) {
    stream.write_all(&[0x42]).await.expect("write");
    let mut back = [0u8; 1];
    tokio::time::timeout(STALL, stream.read_exact(&mut back))
        .await
        .expect("echo stalled")
        .expect("read");
    assert_eq!(back, [0x42]);
}

#[derive(Debug, Clone, Copy)]
struct Transfer {
    bytes: usize,
    elapsed: Duration,
    cpu: Duration,
}

impl Transfer {
    fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64()
    }

    fn cpu_s_per_gb(&self) -> f64 {
        self.cpu.as_secs_f64() / (self.bytes as f64 / 1e9)
    }

    /// The round with the median throughput.
    fn median(runs: &[Transfer]) -> Transfer {
        let mut sorted = runs.to_vec();
        sorted.sort_by(|a, b| a.mb_per_s().total_cmp(&b.mb_per_s()));
        sorted[sorted.len() / 2]
    }
}

/// Moves `total` bytes from `writer` to `reader` (64 KiB writes, then a half-close) and
/// times it from the first write to EOF at the reader, with the process CPU time spent.
async fn transfer<W, R>(mut writer: W, mut reader: R, total: usize) -> Transfer
where
    W: AsyncWrite + Unpin + Send + 'static,
    R: AsyncRead + Unpin,
{
    timed(total, async move {
        let sender = tokio::spawn(async move {
            let chunk = vec![0xa5u8; 64 << 10];
            let mut left = total;
            while left > 0 {
                let n = left.min(chunk.len());
                writer.write_all(&chunk[..n]).await?;
                left -= n;
            }
            writer.shutdown().await?;
            Ok::<_, io::Error>(writer)
        });
        let mut buf = vec![0u8; 64 << 10];
        let mut seen = 0usize;
        loop {
            let n = tokio::time::timeout(STALL, reader.read(&mut buf))
                .await
                .expect("transfer stalled")
                .expect("read");
            if n == 0 {
                break;
            }
            assert!(buf[..n].iter().all(|&b| b == 0xa5), "payload corrupted");
            seen += n;
        }
        (seen, sender)
    })
    .await
}

/// [`transfer`] of e2ee-sealed messages over any byte stream: the writer seals 64 KiB per
/// message (as [`DarkStream`] does) and sends each with a 4-byte length; the reader opens
/// them.
async fn sealed_transfer<W, R>(mut writer: W, mut reader: R, total: usize) -> Transfer
where
    W: AsyncWrite + Unpin + Send + 'static,
    R: AsyncRead + Unpin,
{
    let (sealer_keys, opener_keys) = test_session_keys();
    timed(total, async move {
        let sender = tokio::spawn(async move {
            let mut sealer = E2eeSession::new(&sealer_keys);
            writer.write_all(&sealer.outgoing_header()).await?;
            let chunk = vec![0xa5u8; MAX_DATA_PAYLOAD];
            let mut left = total;
            while left > 0 {
                let n = left.min(chunk.len());
                let sealed = sealer.seal(&chunk[..n]);
                writer
                    .write_all(&(sealed.len() as u32).to_be_bytes())
                    .await?;
                writer.write_all(&sealed).await?;
                left -= n;
            }
            writer.shutdown().await?;
            Ok::<_, io::Error>(writer)
        });
        let mut opener = E2eeSession::new(&opener_keys);
        let mut header = [0u8; dark_listener::e2ee::HEADER_LEN];
        read_within(&mut reader, &mut header).await;
        let opened = opener
            .open(bytes::Bytes::copy_from_slice(&header))
            .expect("stream header");
        assert!(opened.is_none());
        let mut seen = 0usize;
        let mut len = [0u8; 4];
        while seen < total {
            read_within(&mut reader, &mut len).await;
            let len = u32::from_be_bytes(len) as usize;
            assert!(
                len <= MAX_DATA_PAYLOAD + SEAL_OVERHEAD,
                "message of {len} bytes"
            );
            let mut message = BytesMut::zeroed(len);
            read_within(&mut reader, &mut message).await;
            opener.open_in_place(&mut message).expect("open");
            assert!(message.iter().all(|&b| b == 0xa5), "payload corrupted");
            seen += message.len();
        }
        let mut rest = Vec::new();
        tokio::time::timeout(STALL, reader.read_to_end(&mut rest))
            .await
            .expect("EOF stalled")
            .expect("read");
        assert!(rest.is_empty(), "bytes after the last message");
        (seen, sender)
    })
    .await
}

async fn read_within<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) {
    tokio::time::timeout(STALL, reader.read_exact(buf))
        .await
        .expect("transfer stalled")
        .expect("read");
}

/// Two matching key sets (sealer's tx = opener's rx) for the breakdown measurements.
fn test_session_keys() -> (SessionKeys, SessionKeys) {
    (
        SessionKeys::from_bytes([1; 32], [2; 32]),
        SessionKeys::from_bytes([2; 32], [1; 32]),
    )
}

/// Times `work` (which returns the bytes the reader saw and the sender task), with the
/// process CPU time spent; checks that all `total` bytes arrived.
async fn timed<W, F>(total: usize, work: F) -> Transfer
where
    F: std::future::Future<Output = (usize, tokio::task::JoinHandle<io::Result<W>>)>,
{
    let cpu_before = process_cpu();
    let started = Instant::now();
    let (seen, sender) = work.await;
    let elapsed = started.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before);
    let writer = sender.await.expect("sender task").expect("write");
    assert_eq!(seen, total, "bytes received");
    drop(writer);
    Transfer {
        bytes: total,
        elapsed,
        cpu,
    }
}

/// Runs `sample` `warmup + latency_samples` times, one at a time; returns the recorded
/// durations, sorted.
async fn latencies<F, Fut>(plan: Plan, mut sample: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut out = Vec::with_capacity(plan.latency_samples);
    for i in 0..plan.warmup + plan.latency_samples {
        let started = Instant::now();
        tokio::time::timeout(STALL, sample())
            .await
            .expect("latency sample stalled");
        if i >= plan.warmup {
            out.push(started.elapsed());
        }
    }
    out.sort();
    out
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let last = sorted.len().saturating_sub(1);
    let at = ((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1);
    sorted.get(at.min(last)).copied().unwrap_or_default()
}

/// Seals and opens `total` bytes in stream-sized messages on one thread (fresh buffer per
/// message, as [`DarkStream`] seals); returns the process CPU seconds per gigabyte of
/// plaintext through both (CPU time, so other load on the machine does not skew it).
fn e2ee_primitives(total: usize) -> f64 {
    let (a, b) = test_session_keys();
    let mut sealer = E2eeSession::new(&a);
    let mut opener = E2eeSession::new(&b);
    assert!(opener
        .open(sealer.outgoing_header())
        .expect("header")
        .is_none());
    let message = vec![0x3cu8; MAX_DATA_PAYLOAD];
    let cpu_before = process_cpu();
    let mut done = 0;
    while done < total {
        let mut buf = BytesMut::with_capacity(MAX_DATA_PAYLOAD + SEAL_OVERHEAD);
        sealer.seal_into(&message, &mut buf);
        opener.open_in_place(&mut buf).expect("open");
        assert_eq!(buf.len(), message.len());
        done += message.len();
    }
    let cpu = process_cpu().saturating_sub(cpu_before);
    cpu.as_secs_f64() / (done as f64 / 1e9)
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg gives them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// User + system CPU time of this process so far (all threads), from /proc/self/stat.
fn process_cpu() -> Duration {
    // Clock ticks; 100 per second on Linux for every architecture this runs on.
    const TICKS_PER_S: u64 = 100;
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let total = ticks(11) + ticks(12); // utime (field 14) + stime (field 15)
    Duration::from_millis(total * 1000 / TICKS_PER_S)
}

#[derive(Debug, Clone, Copy)]
struct Memory {
    rss_kib: u64,
    hwm_kib: u64,
}

fn memory() -> Memory {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
