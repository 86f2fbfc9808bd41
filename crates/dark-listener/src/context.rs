//! [`Context`]: the SDK entry point, tying an identity to the controller session keeper and
//! the router channels, with `bind` (host a service) and `dial` (connect to one).
//!
//! This module owns the wiring (identity → TLS configuration → [`ControllerSession`] →
//! [`RouterPool`]), the dial path (ziti-edge-protocol.md §3.3: Dial session, router choice by
//! latency, Connect, StateConnected or StateClosed, key exchange) and graceful shutdown.
//! Hosting lives in [`crate::listener`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::channel::core::replies::{self, ConnectOutcome};
use crate::channel::{ChannelError, ChannelOptions, RouterChannel, RouterPool};
use crate::controller::{
    error_chain, ControllerClient, ControllerClientOptions, ControllerError, ControllerSession,
    ControllerSessionOptions, RouterAddress, ServiceSession, SessionType,
};
use crate::e2ee::{E2eeError, E2eeSession, KeyPair, Role};
use crate::identity::{Identity, IdentityError};
use crate::listener::{BindError, BindOptions, ServiceListener};
use crate::stream::{DarkStream, StreamInfo, StreamRole};
use crate::tls::TlsSetupError;
use crate::wire::consts::ErrorCode;
use crate::wire::edge::{Connect, Data, StructuredError};

/// Tunables of a [`Context`].
#[derive(Debug, Clone, Default)]
pub struct ContextOptions {
    /// Controller HTTP client settings.
    pub controller: ControllerClientOptions,
    /// API session keeper settings.
    pub session: ControllerSessionOptions,
    /// Router channel settings.
    pub channel: ChannelOptions,
}

/// Why a context could not be created or used.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The identity file could not be loaded.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The identity's certificate material is unusable for TLS.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    /// The identity names no controller.
    #[error("identity {0} names no controller (`ztAPI`); re-enroll or fix the identity file")]
    NoController(String),
    /// The controller client could not be built.
    #[error(transparent)]
    Controller(#[from] ControllerError),
    /// Not called inside a tokio runtime.
    #[error(
        "dark-listener needs a tokio runtime: create the Context from async code running on tokio"
    )]
    NoRuntime,
    /// The context was shut down.
    #[error("the context has been shut down")]
    ShutDown,
}

/// Options of [`Context::dial`].
#[derive(Debug, Clone)]
pub struct DialOptions {
    /// Reach the terminator hosted under this instance id (header 1006), e.g. the host's
    /// identity name when it binds with [`BindOptions::bind_using_edge_identity`].
    pub terminator_identity: Option<String>,
    /// Opaque bytes handed to the host (header 1011).
    pub app_data: Option<Bytes>,
    /// Caller id shown to the host (header 1008).
    pub caller_id: Option<String>,
    /// Deadline for the whole dial (session, router, Connect).
    pub timeout: Duration,
}

impl Default for DialOptions {
    fn default() -> Self {
        Self {
            terminator_identity: None,
            app_data: None,
            caller_id: None,
            timeout: Duration::from_secs(15),
        }
    }
}

/// Why a dial failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The controller refused or could not be asked (service unknown, no Dial policy, …).
    #[error("dial {service:?}: {source}")]
    Controller {
        /// Service name.
        service: String,
        /// The controller error.
        #[source]
        source: ControllerError,
    },
    /// The Dial session lists no usable edge router.
    #[error("dial {service:?}: the controller lists no edge router with a tls:// address for this service; check the edge router policies")]
    NoRouters {
        /// Service name.
        service: String,
    },
    /// No listed router could be reached.
    #[error("dial {service:?}: no edge router reachable: {}", join_errors(.errors))]
    Unreachable {
        /// Service name.
        service: String,
        /// One error per router.
        errors: Vec<ChannelError>,
    },
    /// The channel failed during the dial.
    #[error("dial {service:?}: {source}")]
    Channel {
        /// Service name.
        service: String,
        /// The channel error.
        #[source]
        source: ChannelError,
    },
    /// The router (or the controller behind it, or the host) refused the connection.
    /// The message names the service and says what the code means (see
    /// [`crate::refusal`]); `reason` keeps the router's original text.
    #[error("{}", crate::refusal::message(service, router, reason, *code))]
    Refused {
        /// Service name.
        service: String,
        /// Router address.
        router: String,
        /// The StateClosed body.
        reason: String,
        /// Header 1014, when sent.
        code: Option<ErrorCode>,
        /// Header 1033, when sent.
        structured: Option<Box<StructuredError>>,
    },
    /// The dial did not finish in time.
    #[error(
        "dial {service:?} did not finish within {after:?}{}",
        login_error.as_ref().map(|e| format!(" (the controller session's last error: {e})")).unwrap_or_default()
    )]
    Timeout {
        /// Service name.
        service: String,
        /// The deadline.
        after: Duration,
        /// The session keeper's last error when the dial gave up, e.g. the controller
        /// refusing the login of a deleted identity (`401 INVALID_AUTH`), which is usually why
        /// a dial waits.
        login_error: Option<String>,
    },
    /// The service requires encryption but the host's key did not arrive.
    #[error("dial {service:?}: the service requires end-to-end encryption but the router sent no host public key; refusing to send plaintext")]
    HostKeyMissing {
        /// Service name.
        service: String,
    },
    /// The key exchange failed.
    #[error("dial {service:?}: key exchange failed: {source}")]
    Crypto {
        /// Service name.
        service: String,
        /// The crypto error.
        #[source]
        source: E2eeError,
    },
    /// The router answered Connect with something else than StateConnected/StateClosed.
    #[error("dial {service:?}: router {router} answered Connect with content type {content_type}")]
    UnexpectedReply {
        /// Service name.
        service: String,
        /// Router address.
        router: String,
        /// What it sent.
        content_type: i32,
    },
    /// The context was shut down.
    #[error("dial {service:?}: the context has been shut down")]
    ShutDown {
        /// Service name.
        service: String,
    },
}

fn join_errors(errors: &[ChannelError]) -> String {
    if errors.is_empty() {
        return "no attempt was possible".into();
    }
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Shared state behind a [`Context`] (also used by listeners).
#[derive(Debug)]
pub(crate) struct ContextInner {
    identity: Identity,
    controller: Mutex<Option<Arc<ControllerSession>>>,
    pub(crate) pool: RouterPool,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tasks: TaskTracker,
    dial_sessions: Mutex<HashMap<String, ServiceSession>>,
    auth_timeout: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl ContextInner {
    pub(crate) fn controller(&self) -> Result<Arc<ControllerSession>, ControllerError> {
        lock(&self.controller)
            .clone()
            .ok_or(ControllerError::ShutDown)
    }

    /// The current API session token (waits for a login).
    pub(crate) async fn api_token(&self) -> Result<String, ControllerError> {
        let controller = self.controller()?;
        Ok(controller
            .wait_authenticated(self.auth_timeout)
            .await?
            .token)
    }

    /// The identity's name as the controller knows it (from the API session or
    /// `/current-identity`), falling back to the certificate's common name.
    pub(crate) fn identity_name(&self) -> String {
        let from_controller = self.controller().ok().and_then(|c| {
            let snapshot = c.snapshot();
            snapshot
                .api_session
                .as_ref()
                .and_then(|s| s.identity.as_ref())
                .map(|i| i.name.clone())
                .filter(|n| !n.is_empty())
                .or_else(|| snapshot.identity.map(|i| i.name).filter(|n| !n.is_empty()))
        });
        from_controller.unwrap_or_else(|| self.identity.name().to_string())
    }

    /// Reports a router's refusal of the API session so the keeper logs in again.
    pub(crate) fn channel_failed(&self, err: &ChannelError) {
        if matches!(err, ChannelError::AuthenticationRejected { .. }) {
            if let Ok(controller) = self.controller() {
                controller.reauthenticate();
            }
        }
    }
}

/// An OpenZiti SDK context: one identity, its controller session and its router channels.
///
/// Cheap to clone. Call [`Context::shutdown`] to unbind, close channels and log out.
#[derive(Debug, Clone)]
pub struct Context {
    inner: Arc<ContextInner>,
}

impl Context {
    /// Loads an identity file and starts a context with default options.
    pub fn from_identity_file(path: impl AsRef<Path>) -> Result<Self, ContextError> {
        Self::from_identity(Identity::from_file(path)?)
    }

    /// Starts a context from an identity file with default options except the login method.
    pub fn from_identity_file_with_auth(
        path: impl AsRef<Path>,
        auth: crate::controller::AuthMethod,
    ) -> Result<Self, ContextError> {
        let mut options = ContextOptions::default();
        options.session.auth = auth;
        Self::with_options(Identity::from_file(path)?, options)
    }

    /// Starts a context for `identity` with default options.
    pub fn from_identity(identity: Identity) -> Result<Self, ContextError> {
        Self::with_options(identity, ContextOptions::default())
    }

    /// Starts a context: builds the TLS configuration, starts the controller session keeper
    /// (it logs in in the background) and an empty router pool. Must run inside tokio.
    pub fn with_options(identity: Identity, options: ContextOptions) -> Result<Self, ContextError> {
        tokio::runtime::Handle::try_current().map_err(|_| ContextError::NoRuntime)?;
        let tls = crate::tls::client_config_from_parts(
            identity.cert_chain().to_vec(),
            identity.private_key(),
            identity.ca_certs(),
        )?;
        let urls = identity.controller_urls();
        if urls.is_empty() {
            return Err(ContextError::NoController(identity.source().to_string()));
        }
        let client = ControllerClient::with_urls(&urls, tls.clone(), options.controller.clone())?;
        let auth_timeout = options.controller.request_timeout + options.session.backoff_max;
        let controller = ControllerSession::start(client, options.session.clone());
        let pool = RouterPool::new(tls, identity.name().to_string(), options.channel.clone());
        let updates = controller.subscribe();
        let context = Self {
            inner: Arc::new(ContextInner {
                identity,
                controller: Mutex::new(Some(Arc::new(controller))),
                pool,
                shutdown: CancellationToken::new(),
                tasks: TaskTracker::new(),
                dial_sessions: Mutex::new(HashMap::new()),
                auth_timeout,
            }),
        };
        context
            .inner
            .tasks
            .spawn(crate::token_update::follow_token_refreshes(
                updates,
                context.inner.pool.clone(),
                context.inner.shutdown.clone(),
            ));
        Ok(context)
    }

    /// The identity this context runs as.
    pub fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// The controller session keeper (`None` after shutdown).
    pub fn controller(&self) -> Option<Arc<ControllerSession>> {
        self.inner.controller().ok()
    }

    /// Waits until the controller accepted the identity (at most `timeout`).
    pub async fn wait_authenticated(&self, timeout: Duration) -> Result<(), ContextError> {
        let controller = self.inner.controller()?;
        controller.wait_authenticated(timeout).await?;
        Ok(())
    }

    /// The open router channels and their measured round trips.
    pub fn router_latencies(&self) -> Vec<(String, Option<Duration>)> {
        self.inner.pool.latencies()
    }

    /// Hosts `service`: binds it on the edge routers its Bind session lists and returns a
    /// listener once at least one router accepted the bind (see [`crate::listener`]).
    pub async fn bind(
        &self,
        service: &str,
        options: BindOptions,
    ) -> Result<ServiceListener, BindError> {
        crate::listener::bind(self.inner.clone(), service, options).await
    }

    /// Connects to `service` and returns the stream once the router confirmed the circuit.
    pub async fn dial(&self, service: &str, options: DialOptions) -> Result<DarkStream, DialError> {
        let timeout = options.timeout;
        match tokio::time::timeout(timeout, self.dial_inner(service, &options)).await {
            Ok(result) => result,
            Err(_) => Err(DialError::Timeout {
                service: service.to_string(),
                after: timeout,
                login_error: self
                    .inner
                    .controller()
                    .ok()
                    .and_then(|c| c.snapshot().last_error),
            }),
        }
    }

    async fn dial_inner(
        &self,
        service: &str,
        options: &DialOptions,
    ) -> Result<DarkStream, DialError> {
        let controller_err = |source| DialError::Controller {
            service: service.to_string(),
            source,
        };
        if self.inner.shutdown.is_cancelled() {
            return Err(DialError::ShutDown {
                service: service.to_string(),
            });
        }
        let controller = self.inner.controller().map_err(controller_err)?;
        let detail = controller.service(service).await.map_err(controller_err)?;
        // One retry with a fresh session when the router says the cached one is invalid.
        let mut fresh = false;
        loop {
            let session = self.dial_session(&controller, service, fresh).await?;
            match self
                .connect_once(service, &session, detail.encryption_required, options)
                .await
            {
                Err(DialError::Refused { reason, code, .. })
                    if !fresh
                        && (reason.eq_ignore_ascii_case("invalid session")
                            || matches!(
                                code,
                                Some(ErrorCode::InvalidSession | ErrorCode::InvalidApiSession)
                            )) =>
                {
                    tracing::debug!(
                        service,
                        reason,
                        "dial session refused; retrying with a fresh one"
                    );
                    lock(&self.inner.dial_sessions).remove(service);
                    fresh = true;
                }
                other => return other,
            }
        }
    }

    async fn dial_session(
        &self,
        controller: &ControllerSession,
        service: &str,
        fresh: bool,
    ) -> Result<ServiceSession, DialError> {
        if !fresh {
            if let Some(session) = lock(&self.inner.dial_sessions).get(service) {
                return Ok(session.clone());
            }
        }
        let session = controller
            .create_session(service, SessionType::Dial)
            .await
            .map_err(|source| DialError::Controller {
                service: service.to_string(),
                source,
            })?;
        lock(&self.inner.dial_sessions).insert(service.to_string(), session.clone());
        Ok(session)
    }

    async fn connect_once(
        &self,
        service: &str,
        session: &ServiceSession,
        encrypted: bool,
        options: &DialOptions,
    ) -> Result<DarkStream, DialError> {
        let addresses: Vec<RouterAddress> = session
            .edge_routers
            .iter()
            .filter_map(|r| match r.tls_address() {
                Ok(a) => Some(a),
                Err(e) => {
                    tracing::debug!(service, error = %e, "edge router skipped");
                    None
                }
            })
            .collect();
        if addresses.is_empty() {
            return Err(DialError::NoRouters {
                service: service.to_string(),
            });
        }
        let token = self
            .inner
            .api_token()
            .await
            .map_err(|source| DialError::Controller {
                service: service.to_string(),
                source,
            })?;
        let channel = match self.inner.pool.pick(&addresses, &token).await {
            Ok(channel) => channel,
            Err(errors) => {
                for e in &errors {
                    self.inner.channel_failed(e);
                }
                return Err(DialError::Unreachable {
                    service: service.to_string(),
                    errors,
                });
            }
        };
        dial_on_channel(&channel, service, session, encrypted, options).await
    }

    /// Graceful shutdown: stops every listener (Unbind on each router), waits for them at
    /// most `timeout`, closes all router channels and logs out of the controller.
    pub async fn shutdown(&self, timeout: Duration) {
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        let deadline = tokio::time::Instant::now() + timeout;
        if tokio::time::timeout_at(deadline, self.inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("listeners did not stop in time");
        }
        self.inner.pool.close_all().await;
        let controller = lock(&self.inner.controller).take();
        let Some(mut controller) = controller else {
            return;
        };
        // Wait (bounded) for in-flight users of the keeper to let go, then log out.
        loop {
            match Arc::try_unwrap(controller) {
                Ok(session) => {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    if let Err(err) = session.shutdown(left.max(Duration::from_millis(100))).await {
                        tracing::warn!(error = %error_chain(&err), "logout failed");
                    }
                    return;
                }
                Err(shared) if tokio::time::Instant::now() < deadline => {
                    controller = shared;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(_) => {
                    tracing::warn!(
                        "controller session still in use at shutdown; stopping without logout"
                    );
                    return;
                }
            }
        }
    }
}

/// Connect on one channel: register the conn, send Connect, read the reply, set up crypto.
async fn dial_on_channel(
    channel: &RouterChannel,
    service: &str,
    session: &ServiceSession,
    encrypted: bool,
    options: &DialOptions,
) -> Result<DarkStream, DialError> {
    let channel_err = |source| DialError::Channel {
        service: service.to_string(),
        source,
    };
    let keys = encrypted.then(KeyPair::generate);
    let (conn_id, inbound) = channel.register_stream().map_err(channel_err)?;
    let connect = Connect {
        conn_id,
        token: Bytes::copy_from_slice(session.token.as_bytes()),
        public_key: keys
            .as_ref()
            .map(|k| crate::wire::edge::PublicKey(*k.public_key().as_bytes())),
        terminator_identity: options.terminator_identity.clone(),
        caller_id: options.caller_id.clone(),
        app_data: options.app_data.clone(),
        ..Connect::default()
    };
    let reply = match channel.request(connect.to_frame(0), options.timeout).await {
        Ok(reply) => reply,
        Err(err) => {
            channel.unregister(conn_id);
            return Err(channel_err(err));
        }
    };
    let router = channel.router().to_string();
    let connected = match replies::connect_outcome(&reply) {
        ConnectOutcome::Connected(connected) => connected,
        ConnectOutcome::Refused(closed) => {
            channel.unregister(conn_id);
            return Err(DialError::Refused {
                service: service.to_string(),
                router,
                reason: String::from_utf8_lossy(&closed.reason).into_owned(),
                code: closed.error.code,
                structured: closed.error.structured.map(Box::new),
            });
        }
        ConnectOutcome::Unexpected(content_type) => {
            channel.unregister(conn_id);
            return Err(DialError::UnexpectedReply {
                service: service.to_string(),
                router,
                content_type,
            });
        }
        ConnectOutcome::Malformed(detail) => {
            channel.unregister(conn_id);
            let _ = channel.try_send(replies::close_frame(conn_id));
            return Err(channel_err(ChannelError::Protocol { router, detail }));
        }
    };
    let crypto = match keys {
        None => None,
        Some(keys) => {
            let established = connected
                .public_key
                .ok_or_else(|| DialError::HostKeyMissing {
                    service: service.to_string(),
                })
                .and_then(|pk| {
                    E2eeSession::establish(&keys, Role::Dialer, &crate::e2ee::PublicKey::from(pk.0))
                        .map_err(|source| DialError::Crypto {
                            service: service.to_string(),
                            source,
                        })
                });
            match established {
                Ok(session) => Some(session),
                Err(err) => {
                    channel.unregister(conn_id);
                    let _ = channel.send(replies::close_frame(conn_id)).await;
                    return Err(err);
                }
            }
        }
    };
    if let Some(session) = &crypto {
        let header = Data {
            conn_id,
            payload: session.outgoing_header(),
            ..Data::default()
        }
        .to_frame(0);
        if let Err(err) = channel.send(header).await {
            channel.unregister(conn_id);
            return Err(channel_err(err));
        }
    }
    let info = StreamInfo {
        service: service.to_string(),
        router,
        conn_id,
        circuit_id: connected.circuit_id,
        role: StreamRole::Dialer,
        encrypted: crypto.is_some(),
    };
    Ok(DarkStream::new(channel.clone(), info, inbound, crypto))
}

#[cfg(test)]
mod tests {
    //! The dial side against a scripted router on an in-memory pipe: the Connect on the wire,
    //! refusals, a missing host key, and the stream's data path (64 KiB frames, FIN both
    //! ways, StateClosed as EOF, writes after close).

    use super::*;
    use crate::scripted_router::{next_frame, scripted_channel, RouterRead, RouterWrite};
    use crate::wire::consts::{content_type as ct, flags, header as h};
    use crate::wire::edge::{
        ErrorDetails, PublicKey as WirePublicKey, StateClosed, StateConnected,
    };
    use futures_util::SinkExt;
    use std::io::IoSlice;
    use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

    async fn channel() -> (RouterChannel, RouterRead, RouterWrite) {
        scripted_channel(4 << 20, "me").await
    }

    /// Dials (end-to-end encrypted or not) and answers as a host with a key would; returns
    /// the router's ends, the stream and, when encrypted, the host's session with the
    /// dialer's stream header already read.
    async fn connected_stream(
        encrypted: bool,
    ) -> (
        RouterChannel,
        RouterRead,
        RouterWrite,
        DarkStream,
        Option<E2eeSession>,
    ) {
        let (channel, mut read, mut write) = channel().await;
        let dial = spawn_dial(&channel, encrypted, DialOptions::default());
        let connect_frame = next_frame(&mut read).await;
        let connect = Connect::from_frame(&connect_frame).unwrap();
        let host_keys = KeyPair::generate();
        let connected = StateConnected {
            conn_id: connect.conn_id,
            public_key: Some(WirePublicKey(*host_keys.public_key().as_bytes())),
            ..StateConnected::default()
        }
        .to_frame(1)
        .replying_to(connect_frame.sequence);
        write.send(&connected).await.unwrap();
        let stream = dial.await.unwrap().unwrap();
        let mut host = connect.public_key.map(|key| {
            E2eeSession::establish(&host_keys, Role::Host, &crate::e2ee::PublicKey::from(key.0))
                .unwrap()
        });
        if let Some(host) = &mut host {
            let header = Data::from_frame(&next_frame(&mut read).await).unwrap();
            assert_eq!(header.payload.len(), crate::e2ee::HEADER_LEN);
            assert_eq!(host.open(header.payload).unwrap(), None);
        }
        (channel, read, write, stream, host)
    }

    fn session() -> ServiceSession {
        ServiceSession {
            id: "s1".into(),
            token: "dial-token".into(),
            ..ServiceSession::default()
        }
    }

    /// Starts a dial of "svc" on `channel` in a task; the test plays the router.
    fn spawn_dial(
        channel: &RouterChannel,
        encrypted: bool,
        options: DialOptions,
    ) -> tokio::task::JoinHandle<Result<DarkStream, DialError>> {
        let channel = channel.clone();
        tokio::spawn(async move {
            dial_on_channel(&channel, "svc", &session(), encrypted, &options).await
        })
    }

    #[tokio::test]
    async fn refusal_carries_the_router_reason_and_code() {
        let (channel, mut read, mut write) = channel().await;
        let options = DialOptions {
            terminator_identity: Some("host-x".into()),
            caller_id: Some("me-caller".into()),
            app_data: Some(Bytes::from_static(b"app")),
            ..DialOptions::default()
        };
        let dial = spawn_dial(&channel, false, options);
        let connect_frame = next_frame(&mut read).await;
        let connect = Connect::from_frame(&connect_frame).unwrap();
        assert!(connect.conn_id >= 1 && connect.conn_id < 1 << 31);
        assert_eq!(&connect.token[..], b"dial-token");
        assert_eq!(connect.terminator_identity.as_deref(), Some("host-x"));
        assert_eq!(connect.caller_id.as_deref(), Some("me-caller"));
        assert_eq!(connect.app_data.as_deref(), Some(&b"app"[..]));
        assert!(connect.public_key.is_none());
        assert!(!connect_frame.headers.contains(h::CRYPTO_METHOD));
        // The conn was registered before Connect went out.
        assert_eq!(channel.conn_count(), 1);
        let refusal = StateClosed {
            conn_id: connect.conn_id,
            reason: Bytes::from_static(b"service svc has no terminators for instanceId host-x"),
            error: ErrorDetails {
                code: Some(ErrorCode::InvalidTerminator),
                structured: None,
            },
            circuit_id: None,
        }
        .to_frame(1)
        .replying_to(connect_frame.sequence);
        write.send(&refusal).await.unwrap();
        match dial.await.unwrap() {
            Err(DialError::Refused { reason, code, .. }) => {
                assert!(reason.contains("no terminators"), "{reason}");
                assert_eq!(code, Some(ErrorCode::InvalidTerminator));
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(channel.conn_count(), 0);
    }

    #[tokio::test]
    async fn encrypted_dial_without_a_host_key_sends_nothing_in_plaintext() {
        let (channel, mut read, mut write) = channel().await;
        let dial = spawn_dial(&channel, true, DialOptions::default());
        let connect_frame = next_frame(&mut read).await;
        let connect = Connect::from_frame(&connect_frame).unwrap();
        assert!(
            connect.public_key.is_some(),
            "encrypted dial must send a key"
        );
        let connected = StateConnected {
            conn_id: connect.conn_id,
            ..StateConnected::default()
        }
        .to_frame(1)
        .replying_to(connect_frame.sequence);
        write.send(&connected).await.unwrap();
        let err = dial.await.unwrap().unwrap_err();
        assert!(matches!(err, DialError::HostKeyMissing { .. }), "{err}");
        // The only thing sent afterwards is the close.
        let closed = next_frame(&mut read).await;
        assert_eq!(closed.content_type, ct::STATE_CLOSED);
        assert!(closed.body.is_empty());
    }

    #[tokio::test]
    async fn encrypted_writes_leave_as_one_sealed_frame_per_64_kib() {
        let (_channel, mut read, _write, mut stream, host) = connected_stream(true).await;
        assert!(stream.is_encrypted());
        let mut host = host.expect("encrypted dial sends a key");

        // 200 000 bytes: three full 64 KiB payloads and the rest, each sealed whole (a sealed
        // body is 17 bytes over 64 KiB rather than a 64 KiB body plus a 17-byte frame).
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        stream.write_all(&big).await.unwrap();
        let payload = crate::stream::MAX_DATA_PAYLOAD;
        let mut got = Vec::new();
        for want in [payload, payload, payload, 200_000 - 3 * payload] {
            let d = Data::from_frame(&next_frame(&mut read).await).unwrap();
            assert_eq!(d.payload.len(), want + crate::e2ee::SEAL_OVERHEAD);
            got.extend_from_slice(&host.open(d.payload).unwrap().unwrap());
        }
        assert!(got == big, "plaintext differs after opening");
    }

    #[tokio::test]
    async fn vectored_writes_gather_into_one_frame_sealed_or_not() {
        for encrypted in [false, true] {
            let (_channel, mut read, _write, mut stream, mut host) =
                connected_stream(encrypted).await;
            assert!(stream.is_write_vectored());
            assert_eq!(host.is_some(), encrypted);
            async fn next_plain(read: &mut RouterRead, host: &mut Option<E2eeSession>) -> Vec<u8> {
                let d = Data::from_frame(&next_frame(read).await).unwrap();
                match host {
                    Some(h) => h.open(d.payload).unwrap().unwrap().to_vec(),
                    None => d.payload.to_vec(),
                }
            }
            // Header block and body as two slices (an empty one in between): one frame.
            let head = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
            let body = vec![7u8; 1000];
            let slices = [IoSlice::new(&head), IoSlice::new(&[]), IoSlice::new(&body)];
            let n = stream.write_vectored(&slices).await.unwrap();
            assert_eq!(n, head.len() + body.len());
            assert_eq!(
                next_plain(&mut read, &mut host).await,
                [head.clone(), body].concat()
            );
            // More than one frame carries: the first MAX_DATA_PAYLOAD bytes are taken.
            let big = vec![1u8; crate::stream::MAX_DATA_PAYLOAD];
            let slices = [IoSlice::new(&head), IoSlice::new(&big)];
            let n = stream.write_vectored(&slices).await.unwrap();
            assert_eq!(n, crate::stream::MAX_DATA_PAYLOAD);
            let got = next_plain(&mut read, &mut host).await;
            assert_eq!(got.len(), n);
            assert_eq!(&got[..head.len()], &head[..]);
            assert!(got[head.len()..].iter().all(|&b| b == 1));
        }
    }

    #[tokio::test]
    async fn stream_frames_writes_and_honours_fin_and_close() {
        let (channel, mut read, mut write) = channel().await;
        let dial = spawn_dial(&channel, false, DialOptions::default());
        let connect_frame = next_frame(&mut read).await;
        let conn_id = Connect::from_frame(&connect_frame).unwrap().conn_id;
        let connected = StateConnected {
            conn_id,
            circuit_id: Some("circ-1".into()),
            public_key: Some(WirePublicKey([9; 32])),
            ..StateConnected::default()
        }
        .to_frame(1)
        .replying_to(connect_frame.sequence);
        // Host data may follow StateConnected at once: it must not be lost.
        let early = Data {
            conn_id,
            payload: Bytes::from_static(b"early"),
            ..Data::default()
        }
        .to_frame(2);
        write.send(&connected).await.unwrap();
        write.send(&early).await.unwrap();
        let mut stream = dial.await.unwrap().unwrap();
        assert!(!stream.is_encrypted());
        assert_eq!(stream.info().circuit_id.as_deref(), Some("circ-1"));

        // A 200 000-byte write leaves as frames of at most 64 KiB, in order.
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        stream.write_all(&big).await.unwrap();
        let mut got = Vec::new();
        while got.len() < big.len() {
            let d = Data::from_frame(&next_frame(&mut read).await).unwrap();
            assert_eq!(d.conn_id, conn_id);
            assert!(d.payload.len() <= crate::stream::MAX_DATA_PAYLOAD);
            got.extend_from_slice(&d.payload);
        }
        assert!(got == big);
        // shutdown = FIN: empty, flag 1.
        stream.shutdown().await.unwrap();
        let fin = Data::from_frame(&next_frame(&mut read).await).unwrap();
        assert_eq!(fin.flags, flags::FIN);
        assert!(fin.payload.is_empty());
        assert!(stream.write_all(b"x").await.is_err(), "write after FIN");

        // Peer FIN: EOF after buffered data.
        let more = Data {
            conn_id,
            payload: Bytes::from_static(b" and late"),
            ..Data::default()
        }
        .to_frame(3);
        let peer_fin = Data {
            conn_id,
            flags: flags::FIN,
            ..Data::default()
        }
        .to_frame(4);
        write.send(&more).await.unwrap();
        write.send(&peer_fin).await.unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "early and late");
        assert_eq!(stream.read(&mut [0u8; 4]).await.unwrap(), 0);

        // Drop = StateClosed for the conn, and the id is freed.
        drop(stream);
        let closed = StateClosed::from_frame(&next_frame(&mut read).await).unwrap();
        assert_eq!(closed.conn_id, conn_id);
        assert_eq!(channel.conn_count(), 0);
    }

    #[tokio::test]
    async fn peer_close_is_eof_and_channel_loss_is_an_error() {
        let (channel, mut read, mut write) = channel().await;
        let mut streams = Vec::new();
        for seq in 0..2 {
            let dial = spawn_dial(&channel, false, DialOptions::default());
            let connect_frame = next_frame(&mut read).await;
            let conn_id = Connect::from_frame(&connect_frame).unwrap().conn_id;
            let connected = StateConnected {
                conn_id,
                ..StateConnected::default()
            }
            .to_frame(10 + seq)
            .replying_to(connect_frame.sequence);
            write.send(&connected).await.unwrap();
            streams.push((conn_id, dial.await.unwrap().unwrap()));
        }
        let (first_id, mut first) = streams.remove(0);
        let (_, mut second) = streams.remove(0);
        let close = StateClosed {
            conn_id: first_id,
            reason: Bytes::from_static(b"circuit ended"),
            ..StateClosed::default()
        }
        .to_frame(20);
        write.send(&close).await.unwrap();
        assert_eq!(first.read(&mut [0u8; 8]).await.unwrap(), 0);
        let err = first.write_all(b"x").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        // The router goes away: the other stream fails instead of reading EOF.
        drop(write);
        drop(read);
        let err = second.read(&mut [0u8; 8]).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionAborted);
        assert!(!channel.is_open());
    }
}
