//! Router channels: one TLS connection per edge router, and the tasks that drive it.
//!
//! This module owns everything between the TLS byte stream and the virtual connections
//! multiplexed over it (ziti-edge-protocol.md §1.4–1.7, §2.3, §3):
//!
//! * [`RouterChannel::connect`] — TCP + TLS (the identity's client certificate, the
//!   identity's CA bundle), then the Hello (sequence -1, header 1002 = API session token,
//!   body = identity name) and its reply, then a first latency probe that both measures the
//!   round trip and proves the router accepted the token: a router closes the connection
//!   right after acknowledging a hello whose token it rejects, which is reported as
//!   [`ChannelError::AuthenticationRejected`].
//! * A **reader** task (`receive`: the wire module's [`ReceiveBuffer`], which grows with
//!   the bytes that arrive and shrinks after a large frame) that closes the channel when the
//!   router starts a frame and does not complete it within [`ChannelOptions::frame_deadline`],
//!   and that routes replies to their waiters by ReplyFor, Data and
//!   StateClosed to streams by conn id, Dial to binds by bind conn id (Dials for unknown
//!   bind ids are refused with DialFailed), answers ConnInspectRequest (2 for live binds, 1
//!   for streams, 0 for unknown ids) and router latency probes, and drops the rest.
//! * A **writer** task fed by a bounded queue; it numbers outgoing frames and registers reply
//!   waiters before writing the request.
//! * A **probe** task: a latency probe (content type 3, header 128) every
//!   [`ChannelOptions::probe_interval`]; an unanswered probe after
//!   [`ChannelOptions::probe_timeout`] declares the channel dead (unless the reader is parked
//!   on back-pressure, see below). Each answer updates the measured latency.
//! * Conn-id allocation from `1..=2^31-3`, skipping ids in use ([`ConnIdAllocator`]).
//!
//! ## Back-pressure
//!
//! Inbound Data for a stream goes into a bounded per-stream queue. When a stream's reader is
//! slow, the queue fills and the channel reader waits for room: in legacy Data mode (the only
//! mode this SDK speaks, and the only one the C SDK speaks) there is no per-connection flow
//! control on the wire, so this back-pressure reaches **every connection on that router
//! channel** and finally the router. Memory stays bounded; a stream that is never read stalls
//! its channel. Read your streams, or drop them.
//!
//! Reconnection with capped backoff and router selection by latency live in [`pool`].

mod ids;
pub mod pool;
mod receive;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use self::ids::ConnIdAllocator;
pub use self::pool::RouterPool;

use crate::controller::RouterAddress;
use crate::wire::consts::{content_type as ct, ConnType, HELLO_SEQUENCE};
use crate::wire::edge::{
    ConnInspectRequest, ConnInspectResponse, Data, Dial, DialFailed, Hello, HelloReply,
    LatencyProbe, StateClosed,
};
use crate::wire::frame::{Frame, FrameCodec, FrameLimits, SequenceCounter};
use crate::wire::recv::DEFAULT_FRAME_DEADLINE;
use crate::wire::{FrameBatch, ReceiveBuffer};

/// Tunables of a router channel.
#[derive(Debug, Clone)]
pub struct ChannelOptions {
    /// Deadline for TCP connect, TLS handshake, hello and the first latency probe together.
    pub connect_timeout: Duration,
    /// Time between latency probes.
    pub probe_interval: Duration,
    /// An unanswered probe older than this declares the channel dead.
    pub probe_timeout: Duration,
    /// Frames the writer queue holds before senders wait.
    pub write_queue: usize,
    /// Inbound Data frames buffered per stream before the channel reader waits.
    pub stream_queue: usize,
    /// Most virtual connections (streams and binds) on one channel.
    pub max_conns: usize,
    /// Frame size limits for what the router sends.
    pub frame_limits: FrameLimits,
    /// Time the router has to complete a frame once its first bytes arrived; a router that
    /// stalls mid-frame past it gets its channel closed (default
    /// [`DEFAULT_FRAME_DEADLINE`], 30 s). Time the reader spends waiting for a slow stream
    /// (back-pressure) does not count.
    pub frame_deadline: Duration,
    /// First reconnect delay after a failed connect.
    pub reconnect_initial: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(15),
            probe_interval: Duration::from_secs(30),
            probe_timeout: Duration::from_secs(10),
            write_queue: 256,
            stream_queue: 64,
            max_conns: 65_536,
            frame_limits: FrameLimits::default(),
            frame_deadline: DEFAULT_FRAME_DEADLINE,
            reconnect_initial: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(30),
        }
    }
}

/// What went wrong with a router channel.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChannelError {
    /// TCP connect failed.
    #[error("cannot reach edge router {router}: {detail}; check that the router is up and its address is reachable")]
    Connect {
        /// Router address.
        router: String,
        /// The socket error.
        detail: String,
    },
    /// The TLS handshake failed.
    #[error("TLS handshake with edge router {router} failed: {detail}; the router certificate must chain to the identity's CA")]
    Tls {
        /// Router address.
        router: String,
        /// The TLS error.
        detail: String,
    },
    /// A step did not finish in time.
    #[error("edge router {router}: {stage} did not finish within {after:?}")]
    Timeout {
        /// Router address.
        router: String,
        /// What was being waited for.
        stage: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// The router answered the hello with a failure.
    #[error("edge router {router} rejected the hello: {message}")]
    HelloRejected {
        /// Router address.
        router: String,
        /// The router's message.
        message: String,
    },
    /// The router closed the connection right after the hello: it refused the API session.
    #[error("edge router {router} closed the channel right after the hello: it rejected the API session token (expired or unknown session, or a certificate it does not accept); log in again")]
    AuthenticationRejected {
        /// Router address.
        router: String,
    },
    /// The router sent something this SDK cannot accept.
    #[error("edge router {router} broke the protocol: {detail}")]
    Protocol {
        /// Router address.
        router: String,
        /// What was wrong.
        detail: String,
    },
    /// The channel is gone (router closed it, I/O error, or shut down).
    #[error("channel to edge router {router} is closed: {reason}")]
    Closed {
        /// Router address.
        router: String,
        /// Why.
        reason: String,
    },
    /// A latency probe went unanswered: the router is considered dead.
    #[error("edge router {router} did not answer a latency probe within {after:?}; channel declared dead")]
    ProbeTimeout {
        /// Router address.
        router: String,
        /// The probe timeout.
        after: Duration,
    },
    /// No connection id is free on this channel.
    #[error("edge router {router}: all {max} connection slots of the channel are in use")]
    ConnIdsExhausted {
        /// Router address.
        router: String,
        /// The limit.
        max: usize,
    },
    /// The router is in reconnect backoff after a failure.
    #[error(
        "edge router {router} is in reconnect backoff for another {retry_in:?} after: {last_error}"
    )]
    Backoff {
        /// Router address.
        router: String,
        /// Time left.
        retry_in: Duration,
        /// The failure that caused the backoff.
        last_error: String,
    },
}

/// One inbound event for a stream.
#[derive(Debug)]
pub(crate) enum StreamEvent {
    /// A Data body (still encrypted when the connection is).
    Data(Bytes),
    /// The peer half-closed (FIN).
    Fin,
    /// The connection was closed (StateClosed); the reason text.
    Closed(String),
}

/// One inbound event for a bind.
#[derive(Debug)]
pub(crate) enum BindEvent {
    /// A Dial for this bind, with the Dial frame's sequence (for the reply).
    Dial {
        /// The parsed Dial.
        dial: Box<Dial>,
        /// Sequence of the Dial frame.
        sequence: i32,
    },
    /// The router closed the bind.
    Closed(StateClosed),
}

#[derive(Debug)]
enum ConnSink {
    Stream(mpsc::Sender<StreamEvent>),
    Bind(mpsc::Sender<BindEvent>),
}

/// An item of the writer queue.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A frame; the writer assigns its sequence.
    Frame(Frame),
    /// A request: the reply (matched by ReplyFor) goes to the sender.
    Request(Frame, oneshot::Sender<Frame>),
}

#[derive(Debug, Default)]
struct Table {
    waiters: HashMap<i32, oneshot::Sender<Frame>>,
    conns: HashMap<u32, ConnSink>,
    ids: ConnIdAllocator,
}

#[derive(Debug)]
struct Shared {
    router: String,
    hello: HelloReply,
    out: mpsc::Sender<Outbound>,
    table: Mutex<Table>,
    latency_micros: AtomicU64,
    reader_parked: AtomicBool,
    closed: CancellationToken,
    close_reason: OnceLock<ChannelError>,
    options: ChannelOptions,
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, Table> {
        match self.table.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Marks the channel dead with `reason` (first reason wins) and drops every waiter and
    /// conn sink, so pending requests and streams learn about it.
    fn fail(&self, reason: ChannelError) {
        let (waiters, conns) = {
            let mut table = self.table();
            if self.close_reason.set(reason.clone()).is_ok() {
                tracing::info!(router = %self.router, error = %reason, "router channel closed");
            }
            self.closed.cancel();
            let waiters = std::mem::take(&mut table.waiters);
            let conns = std::mem::take(&mut table.conns);
            table.ids = ConnIdAllocator::new(self.options.max_conns);
            (waiters, conns)
        };
        drop(waiters);
        drop(conns);
    }

    fn reason(&self) -> ChannelError {
        self.close_reason
            .get()
            .cloned()
            .unwrap_or_else(|| ChannelError::Closed {
                router: self.router.clone(),
                reason: "channel shut down".into(),
            })
    }
}

/// A live TLS channel to one edge router. Cheap to clone; every clone shares the channel.
///
/// The channel stays open until the router closes it, a probe times out, or
/// [`RouterChannel::close`] is called; dropping handles does not close it (the
/// [`RouterPool`] owns that decision).
#[derive(Debug, Clone)]
pub struct RouterChannel {
    shared: Arc<Shared>,
}

impl RouterChannel {
    /// Connects to the router at `address`, says hello with `api_session_token`, and starts
    /// the channel tasks. `identifier` is the hello body (the identity name).
    pub async fn connect(
        address: &RouterAddress,
        tls: Arc<ClientConfig>,
        api_session_token: &str,
        identifier: &str,
        options: ChannelOptions,
    ) -> Result<Self, ChannelError> {
        let router = address.to_string();
        let deadline = Instant::now() + options.connect_timeout;
        let timeout = |stage: &'static str| ChannelError::Timeout {
            router: router.clone(),
            stage,
            after: options.connect_timeout,
        };
        let tcp = tokio::time::timeout_at(
            deadline,
            tokio::net::TcpStream::connect((address.host.as_str(), address.port)),
        )
        .await
        .map_err(|_| timeout("TCP connect"))?
        .map_err(|e| ChannelError::Connect {
            router: router.clone(),
            detail: e.to_string(),
        })?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(address.host.clone()).map_err(|e| ChannelError::Tls {
            router: router.clone(),
            detail: format!(
                "router host {:?} is not a valid server name: {e}",
                address.host
            ),
        })?;
        let tls_stream = tokio::time::timeout_at(
            deadline,
            tokio_rustls::TlsConnector::from(tls).connect(name, tcp),
        )
        .await
        .map_err(|_| timeout("TLS handshake"))?
        .map_err(|e| ChannelError::Tls {
            router: router.clone(),
            detail: e.to_string(),
        })?;
        let channel = tokio::time::timeout_at(
            deadline,
            Self::start(
                tls_stream,
                router.clone(),
                api_session_token,
                identifier,
                options.clone(),
            ),
        )
        .await
        .map_err(|_| timeout("hello"))??;
        // The first probe measures the round trip and proves the token was accepted.
        let remaining = deadline.saturating_duration_since(Instant::now());
        match channel.probe(remaining).await {
            Ok(rtt) => {
                tracing::debug!(router = %router, rtt_us = rtt.as_micros() as u64, "router channel up");
                Ok(channel)
            }
            Err(err) => {
                channel.close();
                Err(err)
            }
        }
    }

    /// Runs the hello exchange on an established byte stream and starts the channel tasks.
    /// `router` names the peer in errors and logs.
    pub async fn start<S>(
        stream: S,
        router: String,
        api_session_token: &str,
        identifier: &str,
        options: ChannelOptions,
    ) -> Result<Self, ChannelError>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read_half, mut writer) = tokio::io::split(stream);
        let mut reader = read_half;
        let mut received = ReceiveBuffer::new(
            FrameCodec::with_limits(options.frame_limits),
            options.frame_deadline,
        );
        let hello = Hello {
            session_token: Bytes::copy_from_slice(api_session_token.as_bytes()),
            identifier: Bytes::copy_from_slice(identifier.as_bytes()),
            ..Hello::default()
        }
        .to_frame(HELLO_SEQUENCE);
        let io_err = |e: crate::wire::frame::FrameError| ChannelError::Closed {
            router: router.clone(),
            reason: e.to_string(),
        };
        let mut hello_bytes = FrameBatch::new();
        hello_bytes.push(&hello).map_err(io_err)?;
        let written = async {
            writer.write_all_buf(&mut hello_bytes).await?;
            writer.flush().await
        };
        written.await.map_err(|e| ChannelError::Closed {
            router: router.clone(),
            reason: format!("writing the hello failed: {e}"),
        })?;
        let reply = loop {
            match receive::next_frame(&mut received, &mut reader).await {
                Ok(None) => {
                    return Err(ChannelError::AuthenticationRejected {
                        router: router.clone(),
                    })
                }
                Err(e) => {
                    return Err(ChannelError::Protocol {
                        router: router.clone(),
                        detail: format!("reading the hello reply: {e}"),
                    })
                }
                Ok(Some(frame)) => {
                    if frame.content_type == ct::RESULT
                        && matches!(frame.reply_for(), Ok(Some(HELLO_SEQUENCE)))
                    {
                        break frame;
                    }
                    tracing::debug!(router = %router, content_type = frame.content_type, "frame before the hello reply ignored");
                }
            }
        };
        let hello = HelloReply::from_frame(&reply).map_err(|e| ChannelError::Protocol {
            router: router.clone(),
            detail: format!("hello reply: {e}"),
        })?;
        if !hello.success {
            return Err(ChannelError::HelloRejected {
                router,
                message: String::from_utf8_lossy(&hello.message).into_owned(),
            });
        }
        tracing::debug!(
            router = %router,
            router_id = hello.router_id.as_deref().unwrap_or(""),
            version = hello.version.as_ref().map(|v| v.version.as_str()).unwrap_or(""),
            capabilities = ?hello.capabilities.as_ref().map(|c| c.bits()),
            "hello acknowledged"
        );
        let (out, out_rx) = mpsc::channel(options.write_queue.max(1));
        let shared = Arc::new(Shared {
            router,
            hello,
            out,
            table: Mutex::new(Table {
                ids: ConnIdAllocator::new(options.max_conns),
                ..Table::default()
            }),
            latency_micros: AtomicU64::new(u64::MAX),
            reader_parked: AtomicBool::new(false),
            closed: CancellationToken::new(),
            close_reason: OnceLock::new(),
            options,
        });
        tokio::spawn(write_loop(shared.clone(), writer, out_rx));
        tokio::spawn(read_loop(shared.clone(), reader, received));
        tokio::spawn(probe_loop(Arc::downgrade(&shared), shared.closed.clone()));
        Ok(Self { shared })
    }

    /// The router address this channel talks to.
    pub fn router(&self) -> &str {
        &self.shared.router
    }

    /// The router's hello reply (router id, version, capabilities).
    pub fn hello_reply(&self) -> &HelloReply {
        &self.shared.hello
    }

    /// The last measured round trip, if a probe was answered.
    pub fn latency(&self) -> Option<Duration> {
        match self.shared.latency_micros.load(Ordering::Relaxed) {
            u64::MAX => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Whether the channel is still up.
    pub fn is_open(&self) -> bool {
        !self.shared.closed.is_cancelled()
    }

    /// Why the channel closed (a generic reason while it is still open).
    pub fn close_reason(&self) -> ChannelError {
        self.shared.reason()
    }

    /// Resolves when the channel closes.
    pub async fn closed(&self) {
        self.shared.closed.cancelled().await
    }

    /// Closes the channel (every stream and bind on it sees the close).
    pub fn close(&self) {
        self.shared.fail(ChannelError::Closed {
            router: self.shared.router.clone(),
            reason: "closed by this SDK".into(),
        });
    }

    /// Number of live virtual connections (streams and binds).
    pub fn conn_count(&self) -> usize {
        self.shared.table().conns.len()
    }

    /// Sends one latency probe and waits at most `timeout` for the answer; updates the
    /// measured latency.
    pub async fn probe(&self, timeout: Duration) -> Result<Duration, ChannelError> {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let started = Instant::now();
        self.request(LatencyProbe::from_timestamp(stamp).to_frame(0), timeout)
            .await
            .map_err(|err| match err {
                ChannelError::Timeout { router, after, .. } => {
                    ChannelError::ProbeTimeout { router, after }
                }
                other => other,
            })?;
        let rtt = started.elapsed();
        self.shared.latency_micros.store(
            rtt.as_micros().min(u64::MAX as u128 - 1) as u64,
            Ordering::Relaxed,
        );
        Ok(rtt)
    }

    /// Queues a frame (the writer assigns its sequence).
    pub(crate) async fn send(&self, frame: Frame) -> Result<(), ChannelError> {
        if self.shared.closed.is_cancelled() {
            return Err(self.shared.reason());
        }
        self.shared
            .out
            .send(Outbound::Frame(frame))
            .await
            .map_err(|_| self.shared.reason())
    }

    /// Queues a frame without waiting; fails when the queue is full or the channel closed.
    pub(crate) fn try_send(&self, frame: Frame) -> Result<(), Frame> {
        match self.shared.out.try_send(Outbound::Frame(frame)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(Outbound::Frame(f)))
            | Err(mpsc::error::TrySendError::Closed(Outbound::Frame(f))) => Err(f),
            Err(_) => Err(Frame::new(0, 0, Bytes::new())),
        }
    }

    /// The sender side of the writer queue (for streams' poll-based writes).
    pub(crate) fn outbound(&self) -> mpsc::Sender<Outbound> {
        self.shared.out.clone()
    }

    /// Sends a request and waits at most `timeout` for the frame that replies to it.
    pub(crate) async fn request(
        &self,
        frame: Frame,
        timeout: Duration,
    ) -> Result<Frame, ChannelError> {
        if self.shared.closed.is_cancelled() {
            return Err(self.shared.reason());
        }
        let (tx, rx) = oneshot::channel();
        let content_type = frame.content_type;
        self.shared
            .out
            .send(Outbound::Request(frame, tx))
            .await
            .map_err(|_| self.shared.reason())?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(self.shared.reason()),
            Err(_) => Err(ChannelError::Timeout {
                router: self.shared.router.clone(),
                stage: if content_type == ct::LATENCY {
                    "latency probe"
                } else {
                    "request"
                },
                after: timeout,
            }),
        }
    }

    /// Sends UpdateToken with a refreshed OIDC access token and waits for the router's
    /// verdict: UpdateTokenSuccess, or UpdateTokenFailure (after which the router closes the
    /// channel).
    pub(crate) async fn update_token(
        &self,
        token: &str,
        timeout: Duration,
    ) -> Result<(), ChannelError> {
        let frame = crate::wire::edge::UpdateToken {
            token: bytes::Bytes::copy_from_slice(token.as_bytes()),
        }
        .to_frame(0);
        let reply = self.request(frame, timeout).await?;
        match reply.content_type {
            ct::UPDATE_TOKEN_SUCCESS => Ok(()),
            ct::UPDATE_TOKEN_FAILURE => Err(ChannelError::AuthenticationRejected {
                router: self.shared.router.clone(),
            }),
            other => Err(ChannelError::Protocol {
                router: self.shared.router.clone(),
                detail: format!("UpdateToken answered with content type {other}"),
            }),
        }
    }

    fn exhausted(&self) -> ChannelError {
        ChannelError::ConnIdsExhausted {
            router: self.shared.router.clone(),
            max: self.shared.options.max_conns,
        }
    }

    /// Allocates a conn id and registers a stream sink for it (before Connect is sent).
    pub(crate) fn register_stream(
        &self,
    ) -> Result<(u32, mpsc::Receiver<StreamEvent>), ChannelError> {
        let (tx, rx) = mpsc::channel(self.shared.options.stream_queue.max(1));
        let mut table = self.shared.table();
        if self.shared.closed.is_cancelled() {
            return Err(self.shared.reason());
        }
        let id = table.ids.allocate().ok_or_else(|| self.exhausted())?;
        table.conns.insert(id, ConnSink::Stream(tx));
        Ok((id, rx))
    }

    /// Registers a stream sink under a router-provided id (from a Dial).
    pub(crate) fn register_stream_with_id(
        &self,
        id: u32,
    ) -> Result<mpsc::Receiver<StreamEvent>, ChannelError> {
        let (tx, rx) = mpsc::channel(self.shared.options.stream_queue.max(1));
        let mut table = self.shared.table();
        if self.shared.closed.is_cancelled() {
            return Err(self.shared.reason());
        }
        if table.conns.contains_key(&id) {
            return Err(ChannelError::Protocol {
                router: self.shared.router.clone(),
                detail: format!("router offered conn id {id}, which is already in use"),
            });
        }
        if table.conns.len() >= self.shared.options.max_conns {
            return Err(self.exhausted());
        }
        table.ids.reserve(id);
        table.conns.insert(id, ConnSink::Stream(tx));
        Ok(rx)
    }

    /// Allocates a conn id and registers a bind sink for it (before Bind is sent).
    pub(crate) fn register_bind(
        &self,
        queue: usize,
    ) -> Result<(u32, mpsc::Receiver<BindEvent>), ChannelError> {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let mut table = self.shared.table();
        if self.shared.closed.is_cancelled() {
            return Err(self.shared.reason());
        }
        let id = table.ids.allocate().ok_or_else(|| self.exhausted())?;
        table.conns.insert(id, ConnSink::Bind(tx));
        Ok((id, rx))
    }

    /// Forgets a conn id (stream or bind); returns whether it was registered.
    pub(crate) fn unregister(&self, id: u32) -> bool {
        let mut table = self.shared.table();
        table.ids.release(id);
        table.conns.remove(&id).is_some()
    }
}

async fn write_loop<W>(shared: Arc<Shared>, mut writer: W, mut queue: mpsc::Receiver<Outbound>)
where
    W: AsyncWrite + Unpin,
{
    let mut sequence = SequenceCounter::new();
    let mut batch = FrameBatch::new();
    let result: Result<(), String> = async {
        loop {
            let item = tokio::select! {
                _ = shared.closed.cancelled() => return Ok(()),
                item = queue.recv() => match item {
                    Some(item) => item,
                    None => return Ok(()),
                },
            };
            // Gather what is queued (bounded batch), write it in one vectored write, flush.
            let mut next = Some(item);
            for _ in 0..64 {
                let Some(item) = next.take() else { break };
                let frame = number(&shared, &mut sequence, item);
                batch.push(&frame).map_err(|e| e.to_string())?;
                next = queue.try_recv().ok();
            }
            if let Some(item) = next {
                let frame = number(&shared, &mut sequence, item);
                batch.push(&frame).map_err(|e| e.to_string())?;
            }
            writer
                .write_all_buf(&mut batch)
                .await
                .map_err(|e| e.to_string())?;
            writer.flush().await.map_err(|e| e.to_string())?;
        }
    }
    .await;
    if let Err(reason) = result {
        // A write error usually means the router closed the connection: the reader sees
        // that too and knows better why (e.g. a refused token), so let it report first.
        tokio::select! {
            _ = shared.closed.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => shared.fail(ChannelError::Closed {
                router: shared.router.clone(),
                reason: format!("write failed: {reason}"),
            }),
        }
    }
    let _ = writer.shutdown().await;
}

fn number(shared: &Shared, sequence: &mut SequenceCounter, item: Outbound) -> Frame {
    match item {
        Outbound::Frame(mut frame) => {
            frame.sequence = sequence.next_sequence();
            frame
        }
        Outbound::Request(mut frame, waiter) => {
            frame.sequence = sequence.next_sequence();
            let mut table = shared.table();
            if table.waiters.len() >= 1024 {
                table.waiters.retain(|_, w| !w.is_closed());
            }
            table.waiters.insert(frame.sequence, waiter);
            frame
        }
    }
}

async fn read_loop<R>(shared: Arc<Shared>, mut reader: R, mut received: ReceiveBuffer)
where
    R: AsyncRead + Unpin,
{
    let mut frames_seen: u64 = 0;
    let reason = loop {
        let next = tokio::select! {
            _ = shared.closed.cancelled() => return,
            next = receive::next_frame(&mut received, &mut reader) => next,
        };
        match next {
            Ok(None) if frames_seen == 0 => {
                break ChannelError::AuthenticationRejected {
                    router: shared.router.clone(),
                }
            }
            Ok(None) => {
                break ChannelError::Closed {
                    router: shared.router.clone(),
                    reason: "the router closed the connection".into(),
                }
            }
            Err(e) => {
                tracing::warn!(router = %shared.router, error = %e, "closing the router channel");
                break ChannelError::Protocol {
                    router: shared.router.clone(),
                    detail: e.to_string(),
                };
            }
            Ok(Some(frame)) => {
                frames_seen += 1;
                dispatch(&shared, frame).await;
            }
        }
    };
    shared.fail(reason);
}

async fn dispatch(shared: &Shared, frame: Frame) {
    if let Ok(Some(reply_for)) = frame.reply_for() {
        let waiter = shared.table().waiters.remove(&reply_for);
        if let Some(waiter) = waiter {
            let _ = waiter.send(frame);
            return;
        }
    }
    match frame.content_type {
        ct::DATA => {
            let data = match Data::from_frame(&frame) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(router = %shared.router, error = %e, "malformed Data dropped");
                    return;
                }
            };
            let sink = match shared.table().conns.get(&data.conn_id) {
                Some(ConnSink::Stream(tx)) => Some(tx.clone()),
                _ => None,
            };
            let Some(sink) = sink else {
                tracing::debug!(router = %shared.router, conn_id = data.conn_id, "Data for unknown conn dropped");
                return;
            };
            let fin = data.is_fin();
            if !data.payload.is_empty() || !fin {
                deliver(shared, &sink, StreamEvent::Data(data.payload)).await;
            }
            if fin {
                deliver(shared, &sink, StreamEvent::Fin).await;
            }
        }
        ct::STATE_CLOSED => {
            let closed = match StateClosed::from_frame(&frame) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(router = %shared.router, error = %e, "malformed StateClosed dropped");
                    return;
                }
            };
            let sink = {
                let mut table = shared.table();
                let sink = table.conns.remove(&closed.conn_id);
                if sink.is_some() {
                    table.ids.release(closed.conn_id);
                }
                sink
            };
            match sink {
                Some(ConnSink::Stream(tx)) => {
                    let reason = String::from_utf8_lossy(&closed.reason).into_owned();
                    // The stream may be gone already; a full queue must not stall the
                    // channel forever for a connection that is ending anyway.
                    if tx.try_send(StreamEvent::Closed(reason.clone())).is_err() && !tx.is_closed()
                    {
                        deliver(shared, &tx, StreamEvent::Closed(reason)).await;
                    }
                }
                Some(ConnSink::Bind(tx)) => {
                    let _ = tx.send(BindEvent::Closed(closed)).await;
                }
                None => {}
            }
        }
        ct::DIAL => {
            let dial = match Dial::from_frame(&frame) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(router = %shared.router, error = %e, "malformed Dial refused");
                    refuse_dial(shared, &frame, 0, format!("malformed Dial: {e}"));
                    return;
                }
            };
            let sink = match shared.table().conns.get(&dial.bind_conn_id) {
                Some(ConnSink::Bind(tx)) => Some(tx.clone()),
                _ => None,
            };
            let bind_conn_id = dial.bind_conn_id;
            let sequence = frame.sequence;
            match sink {
                Some(tx) => {
                    if let Err(mpsc::error::SendError(_)) = tx
                        .send(BindEvent::Dial {
                            dial: Box::new(dial),
                            sequence,
                        })
                        .await
                    {
                        refuse_dial(
                            shared,
                            &frame,
                            bind_conn_id,
                            "the listener is closing".into(),
                        );
                    }
                }
                None => refuse_dial(
                    shared,
                    &frame,
                    bind_conn_id,
                    format!("no bind with conn id {bind_conn_id} on this channel"),
                ),
            }
        }
        ct::CONN_INSPECT_REQUEST => {
            let Ok(request) = ConnInspectRequest::from_frame(&frame) else {
                return;
            };
            let conn_type = match shared.table().conns.get(&request.conn_id) {
                Some(ConnSink::Bind(_)) => ConnType::Bind,
                Some(ConnSink::Stream(_)) => ConnType::Dial,
                None => ConnType::Invalid,
            };
            let details = format!(
                "{{\"connId\":{},\"type\":\"{}\"}}",
                request.conn_id,
                match conn_type {
                    ConnType::Bind => "bind",
                    ConnType::Dial => "dial",
                    _ => "unknown",
                }
            );
            let reply = ConnInspectResponse {
                conn_id: request.conn_id,
                conn_type,
                details: Bytes::from(details),
            }
            .to_frame(0)
            .replying_to(frame.sequence);
            send_detached(shared, reply);
        }
        ct::LATENCY => {
            let reply = LatencyProbe::response(&frame, 0);
            send_detached(shared, reply);
        }
        other => {
            tracing::debug!(router = %shared.router, content_type = other, "unhandled frame dropped");
        }
    }
}

/// Delivers a stream event, waiting for room (back-pressure) while recording that the
/// reader is parked so the probe task does not mistake a slow reader for a dead router.
async fn deliver(shared: &Shared, sink: &mpsc::Sender<StreamEvent>, event: StreamEvent) {
    match sink.try_send(event) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Closed(_)) => {}
        Err(mpsc::error::TrySendError::Full(event)) => {
            shared.reader_parked.store(true, Ordering::Relaxed);
            tokio::select! {
                _ = shared.closed.cancelled() => {}
                _ = sink.send(event) => {}
            }
            shared.reader_parked.store(false, Ordering::Relaxed);
        }
    }
}

fn refuse_dial(shared: &Shared, dial: &Frame, bind_conn_id: u32, reason: String) {
    let reply = DialFailed {
        bind_conn_id,
        reason: Bytes::from(reason),
    }
    .to_frame(0)
    .replying_to(dial.sequence);
    send_detached(shared, reply);
}

/// Queues a reply from the reader without making the reader wait: when the writer queue is
/// full the reply is handed to a short task (the reader must keep draining the socket).
fn send_detached(shared: &Shared, frame: Frame) {
    match shared.out.try_send(Outbound::Frame(frame)) {
        Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
        Err(mpsc::error::TrySendError::Full(item)) => {
            let out = shared.out.clone();
            tokio::spawn(async move {
                let _ = out.send(item).await;
            });
        }
    }
}

async fn probe_loop(shared: std::sync::Weak<Shared>, closed: CancellationToken) {
    let interval = match shared.upgrade() {
        Some(s) => s.options.probe_interval,
        None => return,
    };
    loop {
        tokio::select! {
            _ = closed.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let channel = RouterChannel { shared: strong };
        let timeout = channel.shared.options.probe_timeout;
        match channel.probe(timeout).await {
            Ok(_) => {}
            Err(ChannelError::ProbeTimeout { .. })
                if channel.shared.reader_parked.load(Ordering::Relaxed) =>
            {
                tracing::debug!(router = %channel.shared.router, "probe unanswered while the reader waits on a slow stream; not declaring the router dead");
            }
            Err(err @ ChannelError::ProbeTimeout { .. }) => {
                channel.shared.fail(err);
                return;
            }
            Err(_) => return,
        }
    }
}
