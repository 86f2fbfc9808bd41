//! [`ControllerSession`]: the long-running task that keeps an API session and the service
//! list current, and hands out Dial/Bind sessions.
//!
//! The task loops over two phases. *Login*: `GET /version`, `POST /authenticate`, retried
//! with capped exponential backoff and jitter while the controller is unreachable or refuses.
//! *Maintenance*: refresh the API session with `GET /current-api-session` at 1/2…5/6 of its
//! remaining lifetime, poll `service-updates` and re-list services when they changed; a 401
//! anywhere (or a caller reporting one) sends it back to login. State is published on a
//! `watch` channel, so the channel layer can follow token changes without asking.

mod task;

use task::run;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::model::{
    ApiSession, AuthenticateRequest, CurrentIdentity, EnvInfo, SdkInfo, Service, ServiceSession,
    ServiceTerminator, SessionType,
};
use super::oidc::OidcTokens;
use super::schedule::{refresh_delay, Backoff};
use super::{error_chain, ControllerClient, ControllerError};

/// Tunables of a [`ControllerSession`].
#[derive(Debug, Clone)]
pub struct ControllerSessionOptions {
    /// `sdkInfo` sent at login.
    pub sdk_info: SdkInfo,
    /// `envInfo` sent at login.
    pub env_info: EnvInfo,
    /// Config types asked for at login and when listing services.
    pub config_types: Vec<String>,
    /// How often to ask `service-updates` whether the service list changed.
    pub service_poll_interval: Duration,
    /// Shortest wait before an API session refresh (capped to half the remaining lifetime).
    pub min_refresh_delay: Duration,
    /// Refresh interval when the controller gives no expiry at all.
    pub fallback_refresh: Duration,
    /// First retry delay after a failure.
    pub backoff_initial: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// How to log in: OIDC, the legacy API session, or whichever the controller offers.
    pub auth: AuthMethod,
}

/// How the keeper logs in to the controller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthMethod {
    /// OIDC when `/version` lists `OIDC_AUTH` (every ziti 2.x controller), else legacy: what
    /// the Go and C SDKs do.
    #[default]
    Auto,
    /// Certificate OIDC login with PKCE; fails on controllers that do not offer it.
    Oidc,
    /// The legacy `POST /authenticate?method=cert` API session (controllers before 2.0, and
    /// the only login the C SDK 0.29.3 knows).
    Legacy,
}

impl AuthMethod {
    /// The name used on the command line and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Auto => "auto",
            AuthMethod::Oidc => "oidc",
            AuthMethod::Legacy => "legacy",
        }
    }
}

impl std::str::FromStr for AuthMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(AuthMethod::Auto),
            "oidc" => Ok(AuthMethod::Oidc),
            "legacy" => Ok(AuthMethod::Legacy),
            other => Err(format!(
                "unknown authentication method {other:?}: use auto, oidc or legacy"
            )),
        }
    }
}

impl std::fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Default for ControllerSessionOptions {
    fn default() -> Self {
        Self {
            sdk_info: SdkInfo::default(),
            env_info: EnvInfo::current(),
            config_types: Vec::new(),
            service_poll_interval: Duration::from_secs(60),
            min_refresh_delay: Duration::from_secs(30),
            fallback_refresh: Duration::from_secs(300),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            auth: AuthMethod::Auto,
        }
    }
}

/// What the session keeper knows right now.
#[derive(Debug, Clone, Default)]
pub struct SessionSnapshot {
    /// The current API session; `None` while logged out or logging in.
    pub api_session: Option<ApiSession>,
    /// The identity as the controller sees it.
    pub identity: Option<CurrentIdentity>,
    /// Services the identity may use, by name.
    pub services: Arc<BTreeMap<String, Service>>,
    /// `lastChangeAt` of the service list, as last seen.
    pub services_changed_at: Option<String>,
    /// How many successful logins so far (a new login means a new token).
    pub logins: u64,
    /// The last failure, for diagnostics.
    pub last_error: Option<String>,
}

/// Keeps an API session valid and the service list current, in a background task.
///
/// Dropping it stops the task (without logging out); [`ControllerSession::shutdown`] also
/// deletes the API session at the controller.
#[derive(Debug)]
pub struct ControllerSession {
    inner: Arc<Inner>,
    task: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Inner {
    client: ControllerClient,
    options: ControllerSessionOptions,
    state: watch::Sender<SessionSnapshot>,
    /// Login count a caller saw rejected; the task re-logs in when it equals the current one.
    relogin_for: AtomicU64,
    wake: Notify,
    cancel: CancellationToken,
    /// The OIDC refresh token of the current login (never logged).
    refresh_token: std::sync::Mutex<Option<String>>,
}

impl Drop for ControllerSession {
    fn drop(&mut self) {
        self.inner.cancel.cancel();
    }
}

impl ControllerSession {
    /// Starts the keeper task on the current tokio runtime.
    pub fn start(client: ControllerClient, options: ControllerSessionOptions) -> Self {
        let (state, _) = watch::channel(SessionSnapshot::default());
        let inner = Arc::new(Inner {
            client,
            options,
            state,
            relogin_for: AtomicU64::new(u64::MAX),
            wake: Notify::new(),
            cancel: CancellationToken::new(),
            refresh_token: std::sync::Mutex::new(None),
        });
        let task = tokio::spawn(run(inner.clone()));
        Self {
            inner,
            task: Some(task),
        }
    }

    /// The underlying client (shares the token with the keeper).
    pub fn client(&self) -> &ControllerClient {
        &self.inner.client
    }

    /// Follows state changes (new token, new service list).
    pub fn subscribe(&self) -> watch::Receiver<SessionSnapshot> {
        self.inner.state.subscribe()
    }

    /// The state right now.
    pub fn snapshot(&self) -> SessionSnapshot {
        self.inner.state.borrow().clone()
    }

    /// Waits until an API session exists (at most `timeout`).
    pub async fn wait_authenticated(
        &self,
        timeout: Duration,
    ) -> Result<ApiSession, ControllerError> {
        self.wait_for_login(0, timeout).await
    }

    /// Waits until the login count exceeds `after` and an API session exists.
    async fn wait_for_login(
        &self,
        after: u64,
        timeout: Duration,
    ) -> Result<ApiSession, ControllerError> {
        let mut rx = self.inner.state.subscribe();
        let waited = tokio::time::timeout(timeout, async {
            rx.wait_for(|s| s.logins > after && s.api_session.is_some())
                .await
                .map(|snapshot| snapshot.api_session.clone())
        })
        .await;
        match waited {
            Ok(Ok(Some(session))) => Ok(session),
            Ok(Ok(None)) | Ok(Err(_)) => Err(ControllerError::ShutDown),
            Err(_) => Err(ControllerError::NotReady {
                after: timeout,
                last_error: self
                    .snapshot()
                    .last_error
                    .unwrap_or_else(|| "none yet".to_string()),
            }),
        }
    }

    /// Tells the keeper that the current API session was refused (by the controller or a
    /// router): it logs in again. Repeated reports about the same session count once.
    pub fn reauthenticate(&self) {
        let logins = self.inner.state.borrow().logins;
        self.inner.relogin_for.store(logins, Ordering::SeqCst);
        self.inner.wake.notify_one();
    }

    /// The service called `name`: from the cached list, else asked by name.
    pub async fn service(&self, name: &str) -> Result<Service, ControllerError> {
        if let Some(service) = self.inner.state.borrow().services.get(name) {
            return Ok(service.clone());
        }
        let config_types = self.inner.options.config_types.clone();
        let found = self
            .with_login(|client| {
                let config_types = config_types.clone();
                async move { client.service_by_name(name, &config_types).await }
            })
            .await?;
        found.ok_or_else(|| ControllerError::ServiceNotFound {
            name: name.to_string(),
        })
    }

    /// The terminators of the service called `name` (`GET /services/{id}/terminators`):
    /// where it is hosted, and under which instance ids.
    pub async fn service_terminators(
        &self,
        name: &str,
    ) -> Result<Vec<ServiceTerminator>, ControllerError> {
        let id = self.service(name).await?.id;
        self.with_login(|client| {
            let id = id.clone();
            async move { client.service_terminators(&id).await }
        })
        .await
    }

    /// A Dial or Bind session for the service called `name` (`POST /sessions`).
    pub async fn create_session(
        &self,
        name: &str,
        kind: SessionType,
    ) -> Result<ServiceSession, ControllerError> {
        let service = self.service(name).await?;
        if !service.permissions.is_empty() && !service.permits(kind) {
            return Err(ControllerError::NotPermitted {
                name: name.to_string(),
                kind,
            });
        }
        let id = service.id.clone();
        self.with_login(|client| {
            let id = id.clone();
            async move { client.create_session(&id, kind).await }
        })
        .await
    }

    /// Re-reads a service session (`GET /sessions/{id}`).
    pub async fn refresh_session(&self, id: &str) -> Result<ServiceSession, ControllerError> {
        self.with_login(|client| async move { client.session(id).await })
            .await
    }

    /// Stops the keeper and logs out (`DELETE /current-api-session`), waiting at most
    /// `timeout` for the task to stop and again at most `timeout` for the logout.
    pub async fn shutdown(mut self, timeout: Duration) -> Result<(), ControllerError> {
        self.inner.cancel.cancel();
        if let Some(mut task) = self.task.take() {
            // The task may be inside a request to a hung controller: do not wait for it.
            if tokio::time::timeout(timeout, &mut task).await.is_err() {
                task.abort();
            }
        }
        if self.inner.client.token().is_none() {
            return Ok(());
        }
        match tokio::time::timeout(timeout, self.inner.client.logout()).await {
            Ok(result) => result,
            Err(_) => {
                self.inner.client.clear_token();
                Err(ControllerError::NotReady {
                    after: timeout,
                    last_error: "logout did not finish".into(),
                })
            }
        }
    }

    /// Runs `call` with a valid API session; when the controller answers 401, logs in again
    /// and retries once.
    async fn with_login<'a, T, F, Fut>(&'a self, call: F) -> Result<T, ControllerError>
    where
        F: Fn(&'a ControllerClient) -> Fut,
        Fut: std::future::Future<Output = Result<T, ControllerError>> + 'a,
    {
        let wait = self.inner.client_request_timeout();
        if self.inner.cancel.is_cancelled() {
            return Err(ControllerError::ShutDown);
        }
        self.wait_authenticated(wait).await?;
        let logins = self.inner.state.borrow().logins;
        match call(&self.inner.client).await {
            Err(err) if err.is_unauthorized() => {
                tracing::info!(error = %err, "controller refused the API session; logging in again");
                self.inner.relogin_for.store(logins, Ordering::SeqCst);
                self.inner.wake.notify_one();
                self.wait_for_login(logins, wait).await?;
                call(&self.inner.client).await
            }
            other => other,
        }
    }
}
