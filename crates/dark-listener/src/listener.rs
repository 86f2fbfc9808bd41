//! Hosting: [`ServiceListener`] binds a service on edge routers and yields accepted streams.
//!
//! This module owns the host side of ziti-edge-protocol.md §3.2 and §5:
//!
//! * One Bind per router, on up to [`BindOptions::max_routers`] of the routers the Bind
//!   session lists. Each Bind asks for router-provided conn ids (1012), advertises inspect
//!   support (1023; the channel answers ConnInspectRequest), carries a stable listener id
//!   (1021), the host public key (1003) when the service requires encryption (one key pair
//!   per listener), and cost (1004), precedence (1005) and terminator identity (1006) from
//!   [`BindOptions`].
//! * Each router's bind is kept alive by its own task: after the channel is lost it rebinds
//!   with capped backoff; when the router refuses or closes the bind (session expired,
//!   terminator removed) it fetches a fresh Bind session first.
//! * Each Dial is answered with DialSuccess (body = the router-provided conn id, same key in
//!   1003) or DialFailed: backlog full, listener closing, no conn id, or — on an encrypted
//!   service — a dialer without a public key (no plaintext ever flows on such a service).
//!   On an encrypted service the host's stream header follows DialSuccess as the first Data.
//! * Dropping the listener (or context shutdown) sends Unbind on every router.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand_core::{OsRng, RngCore};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::channel::core::replies;
use crate::channel::{BindEvent, ChannelError, RouterChannel};
use crate::context::ContextInner;
use crate::controller::schedule::Backoff;
use crate::controller::{ControllerError, RouterAddress, SessionType};
use crate::e2ee::{E2eeSession, KeyPair, Role};
use crate::stream::{DarkStream, StreamInfo, StreamRole};
use crate::wire::consts::Precedence;
use crate::wire::edge::{Bind, Data, Dial, DialSuccess, PublicKey, Unbind};

/// Options of [`crate::context::Context::bind`].
#[derive(Debug, Clone)]
pub struct BindOptions {
    /// Terminator instance id (1006): dialers address this host with it.
    pub terminator_identity: Option<String>,
    /// Use this identity's name as the terminator instance id (like Go's
    /// `BindUsingEdgeIdentity`); ignored when `terminator_identity` is set.
    pub bind_using_edge_identity: bool,
    /// Terminator cost (1004), sent when set.
    pub cost: Option<u16>,
    /// Terminator precedence (1005), sent when set and not default.
    pub precedence: Option<Precedence>,
    /// Most routers to bind on.
    pub max_routers: usize,
    /// Accepted connections waiting for [`ServiceListener::accept`]; Dials beyond are refused.
    pub accept_queue: usize,
    /// How long `bind` waits for the first router to accept.
    pub bind_timeout: Duration,
    /// Deadline for a router's answer to Bind.
    pub request_timeout: Duration,
    /// First delay before re-binding after a failure.
    pub retry_initial: Duration,
    /// Longest delay before re-binding.
    pub retry_max: Duration,
}

impl Default for BindOptions {
    fn default() -> Self {
        Self {
            terminator_identity: None,
            bind_using_edge_identity: false,
            cost: None,
            precedence: None,
            max_routers: 3,
            accept_queue: 64,
            bind_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            retry_initial: Duration::from_millis(250),
            retry_max: Duration::from_secs(30),
        }
    }
}

/// Who dialed an accepted connection (from the router's Dial).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerInfo {
    /// Caller id chosen by the dialer (1008).
    pub caller_id: Option<String>,
    /// Dialer identity id, added by the router (1034).
    pub dialer_identity_id: Option<String>,
    /// Dialer identity name, added by the router (1035).
    pub dialer_identity_name: Option<String>,
    /// Application data from the dialer (1011).
    pub app_data: Option<Bytes>,
    /// Fabric circuit id (1026).
    pub circuit_id: Option<String>,
    /// The router the connection arrived on.
    pub router: String,
}

/// Why a service could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The controller refused (service unknown, no Bind policy, …).
    #[error("bind {service:?}: {source}")]
    Controller {
        /// Service name.
        service: String,
        /// The controller error.
        #[source]
        source: ControllerError,
    },
    /// No router accepted the bind in time.
    #[error("bind {service:?}: no edge router accepted the bind within {after:?}; last error: {last_error}")]
    NotBound {
        /// Service name.
        service: String,
        /// The deadline.
        after: Duration,
        /// What went wrong last.
        last_error: String,
    },
    /// The context was shut down.
    #[error("bind {service:?}: the context has been shut down")]
    ShutDown {
        /// Service name.
        service: String,
    },
}

/// Why [`ServiceListener::accept`] returned no connection.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// The listener stopped (closed, or the context shut down).
    #[error("listener for service {service:?} is closed")]
    Closed {
        /// Service name.
        service: String,
    },
}

#[derive(Debug, Clone, Default)]
struct ListenerStatus {
    bound: usize,
    last_error: Option<String>,
    fatal: Option<String>,
}

/// What every router task of one listener shares.
#[derive(Debug)]
struct BindSpec {
    service: String,
    keys: Option<KeyPair>,
    listener_id: String,
    terminator_identity: Option<String>,
    options: BindOptions,
}

/// A hosted service: yields one [`DarkStream`] per client.
#[derive(Debug)]
pub struct ServiceListener {
    service: String,
    accepted: mpsc::Receiver<(DarkStream, PeerInfo)>,
    status: watch::Receiver<ListenerStatus>,
    stop: CancellationToken,
}

impl Drop for ServiceListener {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl ServiceListener {
    /// The service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The next accepted connection and who dialed it.
    pub async fn accept(&mut self) -> Result<(DarkStream, PeerInfo), AcceptError> {
        tokio::select! {
            next = self.accepted.recv() => next.ok_or_else(|| AcceptError::Closed {
                service: self.service.clone(),
            }),
            _ = self.stop.cancelled() => Err(AcceptError::Closed { service: self.service.clone() }),
        }
    }

    /// How many routers currently hold a live bind.
    pub fn bound_routers(&self) -> usize {
        self.status.borrow().bound
    }

    /// Waits until at least `count` routers hold a live bind (at most `timeout`).
    pub async fn wait_bound(&mut self, count: usize, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.status.wait_for(|s| s.bound >= count))
            .await
            .map(|r| r.is_ok())
            .unwrap_or(false)
    }

    /// The last bind error seen, for diagnostics.
    pub fn last_error(&self) -> Option<String> {
        self.status.borrow().last_error.clone()
    }

    /// A handle that keeps reporting this listener's bind state after the listener itself
    /// moved into a server (for a health check).
    pub fn bind_state(&self) -> BindState {
        BindState {
            service: self.service.clone(),
            status: self.status.clone(),
        }
    }

    /// Stops hosting: Unbind is sent on every router (in the background).
    pub fn close(self) {}
}

/// The live bind state of one [`ServiceListener`], readable from anywhere (cheap to clone).
#[derive(Debug, Clone)]
pub struct BindState {
    service: String,
    status: watch::Receiver<ListenerStatus>,
}

impl BindState {
    /// The service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// How many routers hold a live bind now: 0 while every router is being rebound, and
    /// once the listener's bind tasks are gone (the listener was dropped or the context
    /// shut down).
    pub fn bound_routers(&self) -> usize {
        if self.status.has_changed().is_err() {
            return 0;
        }
        self.status.borrow().bound
    }

    /// The last bind error seen, for diagnostics.
    pub fn last_error(&self) -> Option<String> {
        self.status.borrow().last_error.clone()
    }
}

fn random_listener_id() -> String {
    let mut raw = [0u8; 16];
    OsRng.fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) async fn bind(
    ctx: Arc<ContextInner>,
    service: &str,
    options: BindOptions,
) -> Result<ServiceListener, BindError> {
    let controller_err = |source| BindError::Controller {
        service: service.to_string(),
        source,
    };
    if ctx.shutdown.is_cancelled() {
        return Err(BindError::ShutDown {
            service: service.to_string(),
        });
    }
    let controller = ctx.controller().map_err(controller_err)?;
    let detail = controller.service(service).await.map_err(controller_err)?;
    let first_session = controller
        .create_session(service, SessionType::Bind)
        .await
        .map_err(controller_err)?;
    drop(controller);
    let addresses: Vec<RouterAddress> = first_session
        .edge_routers
        .iter()
        .filter_map(|r| r.tls_address().ok())
        .take(options.max_routers.max(1))
        .collect();
    if addresses.is_empty() {
        return Err(BindError::NotBound {
            service: service.to_string(),
            after: Duration::ZERO,
            last_error: "the Bind session lists no edge router with a tls:// address".into(),
        });
    }
    let terminator_identity = options.terminator_identity.clone().or_else(|| {
        options
            .bind_using_edge_identity
            .then(|| ctx.identity_name())
    });
    let spec = Arc::new(BindSpec {
        service: service.to_string(),
        keys: detail.encryption_required.then(KeyPair::generate),
        listener_id: random_listener_id(),
        terminator_identity,
        options: options.clone(),
    });
    let (accepted_tx, accepted_rx) = mpsc::channel(options.accept_queue.max(1));
    let (status_tx, mut status_rx) = watch::channel(ListenerStatus::default());
    let status_tx = Arc::new(status_tx);
    let stop = ctx.shutdown.child_token();
    ctx.tasks.spawn(supervise(
        ctx.clone(),
        spec,
        addresses,
        first_session.token.clone(),
        accepted_tx,
        status_tx,
        stop.clone(),
    ));
    let listener = ServiceListener {
        service: service.to_string(),
        accepted: accepted_rx,
        status: status_rx.clone(),
        stop,
    };
    let waited = tokio::time::timeout(
        options.bind_timeout,
        status_rx.wait_for(|s| s.bound > 0 || s.fatal.is_some()),
    )
    .await
    .map(|r| r.map(|_| ()));
    let snapshot = status_rx.borrow().clone();
    match waited {
        Ok(Ok(())) if snapshot.bound > 0 => Ok(listener),
        _ => Err(BindError::NotBound {
            service: service.to_string(),
            after: options.bind_timeout,
            last_error: snapshot
                .fatal
                .or(snapshot.last_error)
                .unwrap_or_else(|| "no answer from any router".into()),
        }),
    }
}

enum BindEnd {
    Stopped,
    ChannelLost,
    Refused(String),
}

/// Keeps one bind task per router of the Bind session. A task ends when its router stays
/// unreachable ([`GIVE_UP_AFTER`] failed attempts in a row); the supervisor then asks for a
/// fresh session and starts tasks for the routers it lists that have none (a router that
/// moved or came back is picked up this way).
async fn supervise(
    ctx: Arc<ContextInner>,
    spec: Arc<BindSpec>,
    mut addresses: Vec<RouterAddress>,
    mut token: String,
    accepted: mpsc::Sender<(DarkStream, PeerInfo)>,
    status: Arc<watch::Sender<ListenerStatus>>,
    stop: CancellationToken,
) {
    let mut running: HashMap<String, ()> = HashMap::new();
    let mut tasks: JoinSet<String> = JoinSet::new();
    let mut backoff = Backoff::new(spec.options.retry_initial, spec.options.retry_max);
    loop {
        for address in addresses.drain(..) {
            let key = address.to_string();
            if running.insert(key.clone(), ()).is_some() {
                continue;
            }
            let task = router_bind(
                ctx.clone(),
                spec.clone(),
                address,
                token.clone(),
                accepted.clone(),
                status.clone(),
                stop.clone(),
            );
            tasks.spawn(async move {
                task.await;
                key
            });
        }
        if tasks.is_empty() {
            // No router left: go straight to asking for a fresh session (after the pause).
            status.send_modify(|s| {
                s.last_error
                    .get_or_insert_with(|| "no edge router to bind on".into());
            });
        } else {
            let ended = tokio::select! {
                _ = stop.cancelled() => None,
                ended = tasks.join_next() => ended,
            };
            match ended {
                None => break,
                Some(Ok(key)) => {
                    running.remove(&key);
                }
                Some(Err(join)) => {
                    tracing::error!(service = %spec.service, error = %join, "bind task failed");
                    running.clear();
                }
            }
        }
        if !pause(&stop, backoff.next_delay()).await {
            break;
        }
        // Bounded by `stop`: retried with backoff until a session arrives or the listener
        // stops.
        loop {
            let fresh = match ctx.controller() {
                Ok(c) => c.create_session(&spec.service, SessionType::Bind).await,
                Err(e) => Err(e),
            };
            match fresh {
                Ok(session) => {
                    token = session.token.clone();
                    addresses = session
                        .edge_routers
                        .iter()
                        .filter_map(|r| r.tls_address().ok())
                        .filter(|a| !running.contains_key(&a.to_string()))
                        .take(
                            spec.options
                                .max_routers
                                .max(1)
                                .saturating_sub(running.len()),
                        )
                        .collect();
                    break;
                }
                Err(err) => {
                    status.send_modify(|s| s.last_error = Some(format!("new Bind session: {err}")));
                    if !pause(&stop, backoff.next_delay()).await {
                        tasks.shutdown().await;
                        return;
                    }
                }
            }
        }
        if !addresses.is_empty() {
            backoff.reset();
        }
    }
    // Let every task send its Unbind.
    while tasks.join_next().await.is_some() {}
}

/// Failed attempts in a row after which a router's bind task hands back to the supervisor.
const GIVE_UP_AFTER: u32 = 5;

async fn router_bind(
    ctx: Arc<ContextInner>,
    spec: Arc<BindSpec>,
    address: RouterAddress,
    mut session_token: String,
    accepted: mpsc::Sender<(DarkStream, PeerInfo)>,
    status: Arc<watch::Sender<ListenerStatus>>,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::new(spec.options.retry_initial, spec.options.retry_max);
    let note = |text: String| {
        tracing::warn!(service = %spec.service, router = %address, error = %text, "bind problem");
        status.send_modify(|s| s.last_error = Some(text));
    };
    let mut need_session = false;
    let mut failures = 0u32;
    loop {
        if stop.is_cancelled() {
            return;
        }
        if failures >= GIVE_UP_AFTER {
            note(format!(
                "{failures} failed attempts in a row; asking for a fresh session"
            ));
            return;
        }
        if need_session {
            let fresh = match ctx.controller() {
                Ok(c) => c.create_session(&spec.service, SessionType::Bind).await,
                Err(e) => Err(e),
            };
            match fresh {
                Ok(session) => {
                    session_token = session.token;
                    need_session = false;
                }
                Err(err) => {
                    if matches!(
                        err,
                        ControllerError::NotPermitted { .. }
                            | ControllerError::ServiceNotFound { .. }
                    ) {
                        status.send_modify(|s| s.fatal = Some(err.to_string()));
                    }
                    note(format!("new Bind session: {err}"));
                    if !pause(&stop, backoff.next_delay()).await {
                        return;
                    }
                    continue;
                }
            }
        }
        let token = match ctx.api_token().await {
            Ok(t) => t,
            Err(err) => {
                note(format!("no API session: {err}"));
                if !pause(&stop, backoff.next_delay()).await {
                    return;
                }
                continue;
            }
        };
        let channel = tokio::select! {
            _ = stop.cancelled() => return,
            c = ctx.pool.channel(&address, &token) => c,
        };
        let channel = match channel {
            Ok(c) => c,
            Err(err) => {
                ctx.channel_failed(&err);
                let wait = match &err {
                    ChannelError::Backoff { retry_in, .. } => *retry_in,
                    _ => backoff.next_delay(),
                };
                note(err.to_string());
                failures += 1;
                if !pause(&stop, wait).await {
                    return;
                }
                continue;
            }
        };
        let (end, was_bound) =
            bind_on_channel(&spec, &channel, &session_token, &accepted, &status, &stop).await;
        if was_bound {
            failures = 0;
            backoff.reset();
        } else {
            failures += 1;
        }
        match end {
            BindEnd::Stopped => return,
            BindEnd::ChannelLost => {
                note(format!("router channel lost: {}", channel.close_reason()));
            }
            BindEnd::Refused(reason) => {
                note(format!("router refused or closed the bind: {reason}"));
                need_session = true;
            }
        }
        if !pause(&stop, backoff.next_delay()).await {
            return;
        }
    }
}

async fn pause(stop: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

async fn bind_on_channel(
    spec: &BindSpec,
    channel: &RouterChannel,
    session_token: &str,
    accepted: &mpsc::Sender<(DarkStream, PeerInfo)>,
    status: &watch::Sender<ListenerStatus>,
    stop: &CancellationToken,
) -> (BindEnd, bool) {
    let (bind_id, mut events) = match channel.register_bind(16) {
        Ok(x) => x,
        Err(err) => return (BindEnd::Refused(err.to_string()), false),
    };
    let token = Bytes::copy_from_slice(session_token.as_bytes());
    let bind = Bind {
        conn_id: bind_id,
        token: token.clone(),
        cost: spec.options.cost,
        precedence: spec
            .options
            .precedence
            .filter(|p| *p != Precedence::Default),
        terminator_identity: spec.terminator_identity.clone(),
        listener_id: Some(spec.listener_id.clone()),
        router_provided_conn_id: true,
        supports_inspect: true,
        public_key: spec
            .keys
            .as_ref()
            .map(|k| PublicKey(*k.public_key().as_bytes())),
        ..Bind::default()
    };
    let reply = tokio::select! {
        _ = stop.cancelled() => {
            channel.unregister(bind_id);
            return (BindEnd::Stopped, false);
        }
        r = channel.request(bind.to_frame(0), spec.options.request_timeout) => r,
    };
    match reply {
        Ok(f) => {
            if let Err(reason) = replies::bind_outcome(&f) {
                channel.unregister(bind_id);
                return (BindEnd::Refused(reason), false);
            }
        }
        Err(err) => {
            channel.unregister(bind_id);
            return if channel.is_open() {
                (BindEnd::Refused(err.to_string()), false)
            } else {
                (BindEnd::ChannelLost, false)
            };
        }
    }
    tracing::info!(service = %spec.service, router = %channel.router(), bind_id, "service bound");
    status.send_modify(|s| s.bound += 1);
    let end = loop {
        tokio::select! {
            _ = stop.cancelled() => {
                let unbind = Unbind {
                    conn_id: bind_id,
                    token: token.clone(),
                    listener_id: Some(spec.listener_id.clone()),
                };
                let _ = channel.send(unbind.to_frame(0)).await;
                let _ = channel.send(replies::close_frame(bind_id)).await;
                channel.unregister(bind_id);
                tracing::info!(service = %spec.service, router = %channel.router(), "service unbound");
                break BindEnd::Stopped;
            }
            event = events.recv() => match event {
                Some(BindEvent::Dial { dial, sequence }) => {
                    answer_dial(spec, channel, bind_id, *dial, sequence, accepted).await;
                }
                Some(BindEvent::Closed(closed)) => {
                    break BindEnd::Refused(String::from_utf8_lossy(&closed.reason).into_owned());
                }
                None => break BindEnd::ChannelLost,
            }
        }
    };
    status.send_modify(|s| s.bound = s.bound.saturating_sub(1));
    (end, true)
}

async fn answer_dial(
    spec: &BindSpec,
    channel: &RouterChannel,
    bind_id: u32,
    dial: Dial,
    sequence: i32,
    accepted: &mpsc::Sender<(DarkStream, PeerInfo)>,
) {
    let refuse = |reason: String| {
        tracing::info!(service = %spec.service, router = %channel.router(), reason, "dial refused");
        replies::dial_refusal(bind_id, sequence, reason)
    };
    let Some(new_id) = dial.new_conn_id else {
        let _ = channel
            .send(refuse(
                "the router's Dial carries no conn id (1012), which this host asked for".into(),
            ))
            .await;
        return;
    };
    let permit = match accepted.try_reserve() {
        Ok(p) => p,
        Err(mpsc::error::TrySendError::Full(())) => {
            let _ = channel.send(refuse("accept backlog full".into())).await;
            return;
        }
        Err(mpsc::error::TrySendError::Closed(())) => {
            let _ = channel.send(refuse("the listener is closing".into())).await;
            return;
        }
    };
    let crypto = match (&spec.keys, dial.public_key) {
        (None, _) => None,
        (Some(_), None) => {
            let _ = channel
                .send(refuse(format!(
                    "service {:?} requires end-to-end encryption and the dialer sent no public key",
                    spec.service
                )))
                .await;
            return;
        }
        (Some(keys), Some(peer)) => {
            match E2eeSession::establish(keys, Role::Host, &crate::e2ee::PublicKey::from(peer.0)) {
                Ok(s) => Some(s),
                Err(err) => {
                    let _ = channel
                        .send(refuse(format!("key exchange failed: {err}")))
                        .await;
                    return;
                }
            }
        }
    };
    let inbound = match channel.register_stream_with_id(new_id) {
        Ok(rx) => rx,
        Err(err) => {
            let _ = channel.send(refuse(err.to_string())).await;
            return;
        }
    };
    let success = DialSuccess {
        bind_conn_id: bind_id,
        new_conn_id: new_id,
        public_key: spec
            .keys
            .as_ref()
            .map(|k| PublicKey(*k.public_key().as_bytes())),
    }
    .to_frame(0)
    .replying_to(sequence);
    if channel.send(success).await.is_err() {
        channel.unregister(new_id);
        return;
    }
    if let Some(session) = &crypto {
        let header = Data {
            conn_id: new_id,
            payload: session.outgoing_header(),
            ..Data::default()
        }
        .to_frame(0);
        if channel.send(header).await.is_err() {
            channel.unregister(new_id);
            return;
        }
    }
    let info = StreamInfo {
        service: spec.service.clone(),
        router: channel.router().to_string(),
        conn_id: new_id,
        circuit_id: dial.circuit_id.clone(),
        role: StreamRole::Host,
        encrypted: crypto.is_some(),
    };
    let peer = PeerInfo {
        caller_id: dial.caller_id.filter(|c| !c.is_empty()),
        dialer_identity_id: dial.dialer_identity_id,
        dialer_identity_name: dial.dialer_identity_name,
        app_data: dial.app_data,
        circuit_id: dial.circuit_id,
        router: channel.router().to_string(),
    };
    permit.send((
        DarkStream::new(channel.clone(), info, inbound, crypto),
        peer,
    ));
}

#[cfg(test)]
mod tests {
    //! The host side against a scripted router on an in-memory pipe: the Bind on the wire,
    //! Dial answers (refusal without a key on an encrypted service, success with the
    //! router-provided id and the host key), the host header first, decryption, refusal of
    //! tampered data, and Unbind on stop.

    use super::*;
    use crate::scripted_router::{next_frame, scripted_channel};
    use crate::wire::consts::header as h;
    use crate::wire::edge::{DialFailed, StateClosed, StateConnected};
    use futures_util::SinkExt;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn encrypted_bind_answers_dials_and_refuses_plaintext_peers() {
        let (channel, mut read, mut write) = scripted_channel(1 << 20, "host").await;

        let spec = Arc::new(BindSpec {
            service: "svc".into(),
            keys: Some(KeyPair::generate()),
            listener_id: "listener-1".into(),
            terminator_identity: Some("host".into()),
            options: BindOptions {
                cost: Some(7),
                ..BindOptions::default()
            },
        });
        let host_key = *spec.keys.as_ref().unwrap().public_key().as_bytes();
        let (accepted_tx, mut accepted_rx) = mpsc::channel(4);
        let (status_tx, _status_rx) = watch::channel(ListenerStatus::default());
        let stop = CancellationToken::new();
        let task = {
            let (spec, channel, stop) = (spec.clone(), channel.clone(), stop.clone());
            tokio::spawn(async move {
                bind_on_channel(
                    &spec,
                    &channel,
                    "bind-token",
                    &accepted_tx,
                    &status_tx,
                    &stop,
                )
                .await
            })
        };

        // The Bind: router-provided ids, inspect support, listener id, key, cost, identity.
        let bind_frame = next_frame(&mut read).await;
        let bind = Bind::from_frame(&bind_frame).unwrap();
        assert!(bind.router_provided_conn_id && bind.supports_inspect);
        assert!(!bind.supports_bind_success);
        assert_eq!(&bind.token[..], b"bind-token");
        assert_eq!(bind.listener_id.as_deref(), Some("listener-1"));
        assert_eq!(bind.terminator_identity.as_deref(), Some("host"));
        assert_eq!(bind.cost, Some(7));
        assert_eq!(bind.public_key.map(|k| k.0), Some(host_key));
        assert!(!bind_frame.headers.contains(h::CRYPTO_METHOD));
        let connected = StateConnected {
            conn_id: bind.conn_id,
            router_provided_conn_id: true,
            ..StateConnected::default()
        }
        .to_frame(1)
        .replying_to(bind_frame.sequence);
        write.send(&connected).await.unwrap();

        // The router's post-bind inspect: a live bind is ConnType 2.
        let inspect = crate::wire::edge::ConnInspectRequest {
            conn_id: bind.conn_id,
        }
        .to_frame(5);
        write.send(&inspect).await.unwrap();
        let reply = next_frame(&mut read).await;
        assert_eq!(reply.reply_for().unwrap(), Some(5));
        let answer = crate::wire::edge::ConnInspectResponse::from_frame(&reply).unwrap();
        assert_eq!(answer.conn_type, crate::wire::consts::ConnType::Bind);

        // A dialer without a key is refused.
        let no_key = Dial {
            bind_conn_id: bind.conn_id,
            new_conn_id: Some(1 << 31),
            token: Bytes::from_static(b"bind-token"),
            ..Dial::default()
        }
        .to_frame(2);
        write.send(&no_key).await.unwrap();
        let reply = next_frame(&mut read).await;
        assert_eq!(reply.reply_for().unwrap(), Some(2));
        let failed = DialFailed::from_frame(&reply).unwrap();
        assert!(String::from_utf8_lossy(&failed.reason).contains("public key"));

        // A dialer with a key is accepted under the router's id, with the host key.
        let dialer_keys = KeyPair::generate();
        let with_key = Dial {
            bind_conn_id: bind.conn_id,
            new_conn_id: Some((1 << 31) + 1),
            token: Bytes::from_static(b"bind-token"),
            public_key: Some(PublicKey(*dialer_keys.public_key().as_bytes())),
            caller_id: Some("c".into()),
            dialer_identity_name: Some("dialer".into()),
            ..Dial::default()
        }
        .to_frame(3);
        write.send(&with_key).await.unwrap();
        let reply = next_frame(&mut read).await;
        assert_eq!(reply.reply_for().unwrap(), Some(3));
        let success = DialSuccess::from_frame(&reply).unwrap();
        assert_eq!(success.new_conn_id, (1 << 31) + 1);
        assert_eq!(success.public_key.map(|k| k.0), Some(host_key));
        // The host's stream header comes alone, right after DialSuccess.
        let header = Data::from_frame(&next_frame(&mut read).await).unwrap();
        assert_eq!(header.conn_id, (1 << 31) + 1);
        assert_eq!(header.payload.len(), crate::e2ee::HEADER_LEN);
        let (mut stream, peer) = accepted_rx.recv().await.unwrap();
        assert_eq!(peer.caller_id.as_deref(), Some("c"));
        assert_eq!(peer.dialer_identity_name.as_deref(), Some("dialer"));

        // The dialer's side of the crypto, driven by hand.
        let mut dialer = E2eeSession::establish(
            &dialer_keys,
            Role::Dialer,
            &crate::e2ee::PublicKey::from(host_key),
        )
        .unwrap();
        assert_eq!(dialer.open(header.payload).unwrap(), None);
        let data = |payload: Bytes| {
            Data {
                conn_id: (1 << 31) + 1,
                payload,
                ..Data::default()
            }
            .to_frame(9)
        };
        write.send(&data(dialer.outgoing_header())).await.unwrap();
        write.send(&data(dialer.seal(b"secret"))).await.unwrap();
        let mut buf = [0u8; 6];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"secret");
        // Tampered ciphertext: the read fails and the host closes the connection.
        let mut forged = dialer.seal(b"more").to_vec();
        forged[3] ^= 1;
        write.send(&data(Bytes::from(forged))).await.unwrap();
        let err = stream.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        let closed = StateClosed::from_frame(&next_frame(&mut read).await).unwrap();
        assert_eq!(closed.conn_id, (1 << 31) + 1);

        // Stop: Unbind (with token and listener id), then StateClosed for the bind.
        stop.cancel();
        let unbind = Unbind::from_frame(&next_frame(&mut read).await).unwrap();
        assert_eq!(unbind.conn_id, bind.conn_id);
        assert_eq!(&unbind.token[..], b"bind-token");
        assert_eq!(unbind.listener_id.as_deref(), Some("listener-1"));
        let closed = StateClosed::from_frame(&next_frame(&mut read).await).unwrap();
        assert_eq!(closed.conn_id, bind.conn_id);
        let (end, was_bound) = task.await.unwrap();
        assert!(matches!(end, BindEnd::Stopped) && was_bound);
    }
}
