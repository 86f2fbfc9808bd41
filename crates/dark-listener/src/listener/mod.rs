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

mod router_bind;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand_core::{OsRng, RngCore};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::context::ContextInner;
use crate::controller::schedule::Backoff;
use crate::controller::{ControllerError, RouterAddress, SessionType};
use crate::e2ee::KeyPair;
use crate::stream::DarkStream;
use crate::wire::consts::Precedence;

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
            let task = router_bind::router_bind(
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
        if !router_bind::pause(&stop, backoff.next_delay()).await {
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
                    if !router_bind::pause(&stop, backoff.next_delay()).await {
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
pub(super) const GIVE_UP_AFTER: u32 = 5;

#[cfg(test)]
mod tests;
