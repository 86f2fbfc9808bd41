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
//! * [`core`] — the sans-IO state of the channel, [`ChannelCore`]: conn ids
//!   ([`ConnIdAllocator`], from `1..=2^31-3`, skipping ids in use), the table of streams and
//!   binds, requests waiting for a reply, and the close reason. It routes replies to their
//!   waiters by ReplyFor, Data and StateClosed to streams by conn id, Dial to binds by bind
//!   conn id (Dials for unknown bind ids are refused with DialFailed), answers
//!   ConnInspectRequest (2 for live binds, 1 for streams, 0 for unknown ids) and router
//!   latency probes, and drops the rest. [`core::replies`] decides what a router's answer to
//!   a Hello, Bind, Connect or UpdateToken means.
//! * `driver` — the tokio tasks around the core:
//!   - a **reader** (`receive`: the wire module's [`ReceiveBuffer`], which grows with the
//!     bytes that arrive and shrinks after a large frame) that feeds frames to the core and
//!     closes the channel when the router starts a frame and does not complete it within
//!     [`ChannelOptions::frame_deadline`];
//!   - a **writer** fed by a bounded queue; it numbers outgoing frames and registers reply
//!     waiters with the core before writing the request;
//!   - a **probe** task: a latency probe (content type 3, header 128) every
//!     [`ChannelOptions::probe_interval`]; an unanswered probe after
//!     [`ChannelOptions::probe_timeout`] declares the channel dead (unless the reader is
//!     parked on back-pressure, see below). Each answer updates the measured latency.
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

pub mod core;
mod driver;
mod error;
mod ids;
pub mod pool;
mod receive;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

pub use self::core::{BindEvent, ChannelAction, ChannelCore, StreamEvent};
pub use self::error::ChannelError;
pub use self::ids::ConnIdAllocator;
pub use self::pool::RouterPool;

use self::core::replies::{self, HelloStep};
use self::driver::Shared;
use crate::controller::RouterAddress;
use crate::wire::consts::{content_type as ct, HELLO_SEQUENCE};
use crate::wire::edge::{Hello, HelloReply, LatencyProbe};
use crate::wire::frame::{Frame, FrameCodec, FrameLimits};
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

/// An item of the writer queue.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A frame; the writer assigns its sequence.
    Frame(Frame),
    /// A request: the reply (matched by ReplyFor) goes to the sender.
    Request(Frame, oneshot::Sender<Frame>),
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
        let hello = loop {
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
                Ok(Some(frame)) => match replies::hello_step(&router, &frame) {
                    HelloStep::Accepted(hello) => break *hello,
                    HelloStep::Refused(err) => return Err(err),
                    HelloStep::NotYetTheReply => {
                        tracing::debug!(router = %router, content_type = frame.content_type, "frame before the hello reply ignored");
                    }
                },
            }
        };
        tracing::debug!(
            router = %router,
            router_id = hello.router_id.as_deref().unwrap_or(""),
            version = hello.version.as_ref().map(|v| v.version.as_str()).unwrap_or(""),
            capabilities = ?hello.capabilities.as_ref().map(|c| c.bits()),
            "hello acknowledged"
        );
        let (out, out_rx) = mpsc::channel(options.write_queue.max(1));
        let shared = Arc::new(Shared::new(router, hello, out, options));
        shared.spawn_tasks(reader, received, writer, out_rx);
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
        self.shared.core().conn_count()
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
        replies::update_token_outcome(&self.shared.router, &reply)
    }

    /// Allocates a conn id and registers a stream sink for it (before Connect is sent).
    pub(crate) fn register_stream(
        &self,
    ) -> Result<(u32, mpsc::Receiver<StreamEvent>), ChannelError> {
        let (tx, rx) = mpsc::channel(self.shared.options.stream_queue.max(1));
        let id = self.shared.core().open_stream(tx)?;
        Ok((id, rx))
    }

    /// Registers a stream sink under a router-provided id (from a Dial).
    pub(crate) fn register_stream_with_id(
        &self,
        id: u32,
    ) -> Result<mpsc::Receiver<StreamEvent>, ChannelError> {
        let (tx, rx) = mpsc::channel(self.shared.options.stream_queue.max(1));
        self.shared.core().accept_stream(id, tx)?;
        Ok(rx)
    }

    /// Allocates a conn id and registers a bind sink for it (before Bind is sent).
    pub(crate) fn register_bind(
        &self,
        queue: usize,
    ) -> Result<(u32, mpsc::Receiver<BindEvent>), ChannelError> {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let id = self.shared.core().open_bind(tx)?;
        Ok((id, rx))
    }

    /// Forgets a conn id (stream or bind); returns whether it was registered.
    pub(crate) fn unregister(&self, id: u32) -> bool {
        self.shared.core().forget(id)
    }
}
