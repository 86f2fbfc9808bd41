//! The lab's edge router: the TLS endpoint SDKs dial to host and reach services.
//!
//! It speaks the OpenZiti edge protocol (channel wire format v2, edge content types 60783…) as
//! a released router does towards SDKs that use legacy (non-flow-controlled) data, following
//! the checklist of ziti-edge-protocol.md §8, and authorises everything through
//! [`LabState`] instead of a controller link. Both hosting modes are served: router-provided
//! conn ids (Bind with 1012, what current SDKs ask for) and the legacy mode of C SDK 0.29.3
//! (the host picks the conn id in DialSuccess and waits for the router's StateConnected).
//!
//! | module | owns |
//! | --- | --- |
//! | [`handshake`] | magic check, hello, hello acknowledgement, token + certificate check |
//! | [`share`] | each identity's share of the channels |
//! | [`inbound`] | reading a channel: frame deadline, budget for frames still arriving |
//! | [`channel`] | one channel's outbound queue, conn table and pending requests |
//! | [`dispatch`] | what each incoming message does (Connect, Bind, Data, …) |
//! | [`terminators`] | the terminator table and terminator selection |
//! | [`tap`] | the opt-in record of relayed Data payloads (tests) |
//! | [`capture`] | the opt-in record of the raw frames SDKs send (fixture scripts, tests) |
//! | [`denial`] | refusal texts and error codes |
//! | [`token`] | OIDC access tokens on channels: hello check, UpdateToken, expiry |
//!
//! **Tasks.** Per channel: one reader task (handshake, then decode and dispatch frames in
//! order) and one writer task (drains the channel's bounded outbound queue into the TLS
//! stream, batching what is queued). A Connect spawns a dial task that waits for the host;
//! a Bind with SupportsInspect spawns an inspect task. The DialSuccess of a host is handled
//! inline by the host's reader, which registers both circuit ends and queues the dialer's
//! StateConnected before it reads the host's next frame, so the dialer always gets
//! StateConnected before any data of the host.
//!
//! **Bounds and back-pressure.** Frames are limited by [`FrameLimits`] (the hello by the hello
//! limits), must complete within [`RouterOptions::frame_deadline`], and frames over 128 KiB
//! share [`RouterOptions::incomplete_frame_budget_bytes`] while they arrive; one identity
//! holds at most [`RouterOptions::max_channels_per_identity`] channels; each channel has at most [`RouterOptions::max_conns_per_channel`] conns,
//! [`RouterOptions::max_pending_dials_per_channel`] dials in flight,
//! [`RouterOptions::max_binds_per_channel`] terminators and an outbound queue of
//! [`RouterOptions::outbound_queue_frames`] frames and [`RouterOptions::outbound_queue_bytes`]
//! bytes. Legacy Data has no flow control: a reader
//! task relaying Data waits for room in the peer's queue, so a slow reader on one channel
//! throttles (through TCP) the senders whose data is relayed to it, and only them. A queue
//! that stays full for [`RouterOptions::stall_timeout`] closes that channel (its circuits end
//! with StateClosed to their peers). A malformed frame closes its own channel only.

pub mod capture;
pub mod channel;
pub mod denial;
pub mod dispatch;
pub mod handshake;
pub mod inbound;
pub mod share;
pub mod tap;
pub mod terminators;
pub mod token;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use dark_listener::wire::edge::RouterVersion;
use dark_listener::wire::frame::{FrameCodec, FrameLimits};
use dark_listener::wire::recv::DEFAULT_FRAME_DEADLINE;
use dark_listener::wire::{FrameBatch, ReceiveBuffer};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::pki::CertFingerprint;
use crate::state::LabState;
use crate::tls_accept;

use channel::{ChannelLimits, EdgeChannel, OutboundQueue, QueuedFrame};
use share::IdentityShares;
use terminators::TerminatorTable;

/// Tunables of the router. [`Default`] gives the values of a real router where one exists.
#[derive(Debug, Clone)]
pub struct RouterOptions {
    /// Time from accept to the end of the TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Time for the hello after the TLS handshake (real router: 5 s).
    pub hello_timeout: Duration,
    /// Time a host gets to answer a Dial (real router: 5 s).
    pub dial_timeout: Duration,
    /// Wait for a ConnInspectResponse before re-sending the request.
    pub inspect_interval: Duration,
    /// ConnInspectRequests sent before an unanswered terminator is dropped.
    pub inspect_attempts: u32,
    /// A tap recording relayed Data payloads (tests only; `None`, the default, records nothing).
    pub payload_tap: Option<tap::PayloadTap>,
    /// A capture of the raw bytes of every frame SDKs send, the hello included (tests and
    /// fixture scripts only; `None`, the default, captures nothing and reads the channels
    /// without any copy). See [`capture`].
    pub frame_capture: Option<capture::FrameCapture>,
    /// Frames a channel's outbound queue holds.
    pub outbound_queue_frames: usize,
    /// Bytes (encoded frames) a channel's outbound queue holds; a larger frame takes it all.
    pub outbound_queue_bytes: u32,
    /// How long a full outbound queue is tolerated before its channel is closed.
    pub stall_timeout: Duration,
    /// Most channels served at once (counted from the end of their TLS handshake); further
    /// handshaken connections wait for a place.
    pub max_channels: usize,
    /// Most connections accepted whose TLS handshake has not finished; when full, a new one
    /// takes the place of the oldest that has not sent a byte (see `tls_accept`).
    pub max_pending_handshakes: usize,
    /// Most channels one identity may hold at once (default 128); a hello over it gets a
    /// failed hello reply naming the identity and the bound (see [`share`]). One process
    /// holds one channel per router per context, so 128 lets one identity run ~120
    /// concurrent `darkscrape dial` processes (the most issue 18 measured against the lab)
    /// while no identity can take more than an eighth of [`RouterOptions::max_channels`].
    pub max_channels_per_identity: usize,
    /// Time a peer has to complete a frame once its first bytes arrived (default 30 s,
    /// dark-listener's [`DEFAULT_FRAME_DEADLINE`]); past it the channel is closed and the
    /// peer and identity logged (see [`inbound`]).
    pub frame_deadline: Duration,
    /// Bytes all channels together may hold for frames larger than 128 KiB that are still
    /// arriving (default 64 MiB; see [`inbound`]). A frame takes its announced size (at
    /// most all of it) when its header arrives; further large frames wait unread until
    /// budget frees or their deadline ends them. Smaller frames never wait.
    pub incomplete_frame_budget_bytes: u32,
    /// Most conns per channel.
    pub max_conns_per_channel: usize,
    /// Most Connects per channel waiting for their host.
    pub max_pending_dials_per_channel: usize,
    /// Most terminators (binds) per channel.
    pub max_binds_per_channel: usize,
    /// Frame size limits after the hello. A real router has none below 2^31 bytes (openziti/
    /// channel), and Go SDKs send one Data frame per write however large; the default,
    /// dark-listener's [`FrameLimits::default`], takes 256 MiB bodies.
    pub frame_limits: FrameLimits,
}

impl Default for RouterOptions {
    fn default() -> Self {
        RouterOptions {
            tls_handshake_timeout: Duration::from_secs(3),
            hello_timeout: Duration::from_secs(5),
            dial_timeout: Duration::from_secs(5),
            inspect_interval: Duration::from_secs(10),
            inspect_attempts: 3,
            payload_tap: None,
            frame_capture: None,
            outbound_queue_frames: 256,
            outbound_queue_bytes: 8 * 1024 * 1024,
            stall_timeout: Duration::from_secs(30),
            max_channels: 1024,
            max_pending_handshakes: 1024,
            max_channels_per_identity: 128,
            frame_deadline: DEFAULT_FRAME_DEADLINE,
            incomplete_frame_budget_bytes: 64 * 1024 * 1024,
            max_conns_per_channel: 4096,
            max_pending_dials_per_channel: 256,
            max_binds_per_channel: 1024,
            frame_limits: FrameLimits::default(),
        }
    }
}

/// State shared by every task of one router.
pub struct RouterCore {
    /// The lab state (tokens, sessions, policies).
    pub state: Arc<LabState>,
    /// Options in force.
    pub options: RouterOptions,
    /// Router id (header 8 of the hello reply).
    pub router_id: String,
    fabric: Arc<Fabric>,
    shares: Arc<IdentityShares>,
    incomplete_frames: Arc<tokio::sync::Semaphore>,
    incomplete_budget_bytes: u32,
}

/// What the lab's routers share: terminators, channels and id counters. A circuit may start
/// on one router and end on another (a real network forwards between routers over router
/// links; here both ends are in one process), so a dial through one router reaches a host
/// bound on another.
#[derive(Debug)]
pub struct Fabric {
    terminators: Mutex<TerminatorTable>,
    channels: Mutex<HashMap<u64, Arc<EdgeChannel>>>,
    next_channel_id: AtomicU64,
    next_circuit_id: AtomicU64,
}

impl Default for Fabric {
    fn default() -> Self {
        Self::new()
    }
}

impl Fabric {
    /// An empty fabric.
    pub fn new() -> Self {
        Fabric {
            terminators: Mutex::new(TerminatorTable::new()),
            channels: Mutex::new(HashMap::new()),
            next_channel_id: AtomicU64::new(1),
            next_circuit_id: AtomicU64::new(1),
        }
    }
}

impl std::fmt::Debug for RouterCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterCore")
            .field("router_id", &self.router_id)
            .finish_non_exhaustive()
    }
}

impl RouterCore {
    /// The lab's primary router for `state`, on a fabric of its own.
    pub fn new(state: Arc<LabState>, options: RouterOptions) -> Self {
        let router_id = state.edge_router().id;
        Self::on_fabric(state, options, router_id, Arc::new(Fabric::new()))
    }

    /// A router with id `router_id` on a shared `fabric` (see [`Fabric`]).
    pub fn on_fabric(
        state: Arc<LabState>,
        options: RouterOptions,
        router_id: String,
        fabric: Arc<Fabric>,
    ) -> Self {
        let incomplete_budget_bytes = options.incomplete_frame_budget_bytes.max(1);
        RouterCore {
            router_id,
            state,
            shares: IdentityShares::new(options.max_channels_per_identity),
            incomplete_frames: Arc::new(tokio::sync::Semaphore::new(
                incomplete_budget_bytes as usize,
            )),
            incomplete_budget_bytes,
            options,
            fabric,
        }
    }

    /// The terminator table.
    pub fn terminators(&self) -> MutexGuard<'_, TerminatorTable> {
        self.fabric
            .terminators
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn channels(&self) -> MutexGuard<'_, HashMap<u64, Arc<EdgeChannel>>> {
        self.fabric
            .channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The live channel with this id.
    pub fn channel(&self, id: u64) -> Option<Arc<EdgeChannel>> {
        self.channels().get(&id).cloned()
    }

    /// Number of live channels.
    pub fn channel_count(&self) -> usize {
        self.channels().len()
    }

    /// Number of live channels of the identity `identity_id`.
    pub fn identity_channel_count(&self, identity_id: &str) -> usize {
        self.shares.count(identity_id)
    }

    /// A fresh circuit id.
    pub fn next_circuit_id(&self) -> String {
        format!(
            "lab-c{}",
            self.fabric.next_circuit_id.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn hello_info(&self) -> handshake::RouterHelloInfo {
        handshake::RouterHelloInfo {
            router_id: self.router_id.clone(),
            version: RouterVersion {
                version: concat!("v", env!("CARGO_PKG_VERSION")).to_owned(),
                revision: "darkscrape-lab".to_owned(),
                build_date: "unknown".to_owned(),
                os: std::env::consts::OS.to_owned(),
                arch: std::env::consts::ARCH.to_owned(),
            },
        }
    }

    fn limits(&self) -> ChannelLimits {
        ChannelLimits {
            max_conns: self.options.max_conns_per_channel,
            max_pending_dials: self.options.max_pending_dials_per_channel,
            stall_timeout: self.options.stall_timeout,
        }
    }
}

/// Serves the router on `listener` (TLS per `tls`, which must require client certificates
/// from the lab CA) until `shutdown` turns true; then closes every channel.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    core: Arc<RouterCore>,
    shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let stop = CancellationToken::new();
    let max_channels = core.options.max_channels;
    let serve = |tcp, peer| {
        let acceptor = acceptor.clone();
        let core = core.clone();
        let stop = stop.child_token();
        serve_connection(tcp, peer, acceptor, core, stop)
    };
    let limits = tls_accept::AcceptLimits {
        served: max_channels,
        pending: core.options.max_pending_handshakes,
    };
    tls_accept::serve_connections(
        listener,
        limits,
        shutdown,
        "router",
        serve,
        || stop.cancel(),
        Duration::from_secs(2),
    )
    .await;
}

async fn serve_connection(
    tcp: tls_accept::Incoming,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    core: Arc<RouterCore>,
    stop: CancellationToken,
) {
    let _ = tcp.tcp().set_nodelay(true);
    let timeout = core.options.tls_handshake_timeout;
    let Some(tls) = tls_accept::handshake(&acceptor, tcp, peer, timeout, "router").await else {
        return;
    };
    let Some(leaf_der) = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
    else {
        tracing::debug!(%peer, "router connection without a client certificate");
        return;
    };
    let fingerprint = CertFingerprint::of_der(&leaf_der);
    let id = core.fabric.next_channel_id.fetch_add(1, Ordering::Relaxed);
    // Everything read from here on (the hello first) passes the capture, when on.
    let channel_capture = core.options.frame_capture.as_ref().map(|c| c.channel(id));
    let mut tls = capture::CapturingStream::new(tls, channel_capture);
    let connection_id = format!("lab-ch{id}");
    let hello_info = core.hello_info();
    let accepted = tokio::select! {
        _ = stop.cancelled() => return,
        a = handshake::accept_channel(
            &mut tls,
            FrameCodec::for_listener(core.options.frame_limits),
            &connection_id,
            &fingerprint,
            &leaf_der,
            &hello_info,
            handshake::HelloPolicy {
                state: &core.state,
                shares: &core.shares,
                hello_timeout: core.options.hello_timeout,
            },
        ) => a,
    };
    let accepted = match accepted {
        Ok(a) => a,
        Err(e @ handshake::HandshakeError::ShareFull(_)) => {
            tracing::warn!(%peer, error = %e, "router channel refused");
            let _ = tokio::time::timeout(Duration::from_secs(1), tls.shutdown()).await;
            return;
        }
        Err(e) => {
            tracing::debug!(%peer, error = %e, "router channel refused");
            let _ = tokio::time::timeout(Duration::from_secs(1), tls.shutdown()).await;
            return;
        }
    };
    tracing::debug!(
        %peer,
        channel = id,
        identity = %accepted.session.identity.name,
        "router channel up"
    );
    if let Some(capture) = tls.capture() {
        capture.set_identity(&accepted.session.identity.name);
    }
    let (tx, rx) = mpsc::channel(core.options.outbound_queue_frames.max(1));
    let budget_bytes = core.options.outbound_queue_bytes.max(1);
    let budget = Arc::new(tokio::sync::Semaphore::new(budget_bytes as usize));
    let closing = stop.child_token();
    let ch = Arc::new(EdgeChannel::new(
        id,
        accepted.session.identity.clone(),
        OutboundQueue {
            tx,
            budget: budget.clone(),
            budget_bytes,
        },
        closing.clone(),
        core.limits(),
    ));
    core.channels().insert(id, ch.clone());
    let session_watch = tokio::spawn(close_when_api_session_removed(
        core.state.clone(),
        accepted.session.token.clone(),
        id,
        closing.clone(),
    ));
    if let Some(oidc) = &accepted.oidc {
        token::watch_channel(
            &core,
            id,
            &accepted.session.identity.id,
            oidc,
            closing.clone(),
        );
    }
    let (read_half, write_half) = tokio::io::split(tls);
    let writer = tokio::spawn(write_loop(write_half, rx, budget, closing.clone()));
    let received = ReceiveBuffer::with_pending(
        accepted.codec,
        accepted.pending_bytes,
        core.options.frame_deadline,
    );
    inbound::read_loop(read_half, received, &core, &ch, peer).await;
    // The identity's place is given back only once the channel is fully torn down.
    let share = accepted.share;
    ch.close();
    session_watch.abort();
    core.channels().remove(&id);
    dispatch::channel_closed(&core, &ch).await;
    let _ = writer.await;
    drop(share);
    tracing::debug!(%peer, channel = id, "router channel closed");
}

/// Closes the channel once the API session it presented in its hello is removed (logout,
/// identity deleted), as a 2.x router does for legacy API sessions; returns when the channel
/// closes.
async fn close_when_api_session_removed(
    state: Arc<LabState>,
    token: String,
    channel: u64,
    closing: CancellationToken,
) {
    let mut removals = state.api_session_removals();
    loop {
        tokio::select! {
            _ = closing.cancelled() => return,
            changed = removals.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
        if !state.api_session_exists(&token) {
            tracing::info!(
                channel,
                "the channel's API session was removed; closing the channel"
            );
            closing.cancel();
            return;
        }
    }
}

/// Most bytes gathered into one write.
const WRITE_BATCH_BYTES: usize = 256 * 1024;
/// Time a closing channel gets to write what was queued before the close.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut rx: mpsc::Receiver<QueuedFrame>,
    budget: Arc<tokio::sync::Semaphore>,
    closing: CancellationToken,
) {
    let mut batch = FrameBatch::new();
    // Once the channel is closing, what is still queued (a last reply, StateClosed notices)
    // gets a bounded time to go out: a peer that does not read cannot hold the channel open.
    let drain_deadline = async {
        closing.cancelled().await;
        tokio::time::sleep(CLOSE_FLUSH_TIMEOUT).await;
    };
    tokio::pin!(drain_deadline);
    loop {
        let first = tokio::select! {
            biased;
            f = rx.recv() => f,
            _ = closing.cancelled() => None,
        };
        let Some(first) = first else { break };
        let mut next = Some(first);
        let mut returned_budget = 0usize;
        while let Some(queued) = next.take() {
            if let Err(e) = batch.push(&queued.frame) {
                tracing::warn!(error = %e, "cannot encode an outgoing frame; dropping it");
            }
            returned_budget += queued.budget as usize;
            if batch.len() < WRITE_BATCH_BYTES {
                next = rx.try_recv().ok();
            }
        }
        let written = tokio::select! {
            biased;
            r = writer.write_all_buf(&mut batch) => r,
            _ = &mut drain_deadline => break,
        };
        budget.add_permits(returned_budget);
        if let Err(e) = written {
            tracing::debug!(error = %e, "channel write failed");
            break;
        }
        if let Err(e) = writer.flush().await {
            tracing::debug!(error = %e, "channel flush failed");
            break;
        }
    }
    closing.cancel();
    let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, writer.shutdown()).await;
}
