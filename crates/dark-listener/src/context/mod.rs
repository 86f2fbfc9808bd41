//! [`Context`]: the SDK entry point, tying an identity to the controller session keeper and
//! the router channels, with `bind` (host a service) and `dial` (connect to one).
//!
//! This module owns the wiring (identity → TLS configuration → [`ControllerSession`] →
//! [`RouterPool`]), the dial path (ziti-edge-protocol.md §3.3: Dial session, router choice by
//! latency, Connect, StateConnected or StateClosed, key exchange) and graceful shutdown.
//! Hosting lives in [`crate::listener`].

mod dial;
mod error;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::channel::{ChannelError, ChannelOptions, RouterPool};
use crate::controller::{
    error_chain, ControllerClient, ControllerClientOptions, ControllerError, ControllerSession,
    ControllerSessionOptions, RouterAddress, ServiceSession, SessionType,
};
use crate::identity::Identity;
use crate::listener::{BindError, BindOptions, ServiceListener};
use crate::stream::DarkStream;
use crate::wire::consts::ErrorCode;

pub(crate) use self::dial::dial_on_channel;
pub use self::error::{ContextError, DialError};

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

/// Options of [`Context::dial`].
#[derive(Debug, Clone)]
pub struct DialOptions {
    /// Reach the terminator hosted under this instance id (header 1006), e.g. the host's
    /// identity name when it binds with [`BindOptions::bind_using_edge_identity`].
    pub terminator_identity: Option<String>,
    /// Opaque bytes handed to the host (header 1011).
    pub app_data: Option<Bytes>,
    /// Caller id shown to the host (header 1008). When `None`, [`Context::dial`] sends the
    /// identity's name, as the OpenZiti Go SDK does on every dial.
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
    pub async fn dial(
        &self,
        service: &str,
        mut options: DialOptions,
    ) -> Result<DarkStream, DialError> {
        if options.caller_id.is_none() {
            options.caller_id = Some(self.inner.identity_name());
        }
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

#[cfg(test)]
mod tests;
