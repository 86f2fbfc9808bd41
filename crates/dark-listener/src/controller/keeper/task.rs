//! The keeper's background task and what it does for the session: log in (OIDC or legacy),
//! describe and refresh the API session, poll service updates, and decide when the next
//! refresh is due. [`run`] is the loop; the public handle is in the parent module.

use super::*;

impl Inner {
    pub(super) fn client_request_timeout(&self) -> Duration {
        // Long enough for one login round (version + authenticate) plus a backoff step.
        self.options.backoff_max.max(Duration::from_secs(5)) + Duration::from_secs(30)
    }

    pub(super) fn publish(&self, update: impl FnOnce(&mut SessionSnapshot)) {
        self.state.send_modify(update);
    }

    pub(super) fn note_error(&self, err: &ControllerError) {
        let text = error_chain(err);
        self.publish(|s| s.last_error = Some(text));
    }

    /// Drops the API session token so the next call logs in again.
    pub(super) fn forget_api_session(&self) {
        self.client.clear_token();
        self.publish(|s| s.api_session = None);
    }

    /// The controller answered 401 to a maintenance call: records why and forgets the session.
    pub(super) fn session_rejected(&self, err: &ControllerError) {
        tracing::info!(error = %err, "API session no longer valid; logging in again");
        self.note_error(err);
        self.forget_api_session();
    }

    pub(super) fn relogin_requested(&self) -> bool {
        self.relogin_for.load(Ordering::SeqCst) == self.state.borrow().logins
    }

    pub(super) async fn login(&self) -> Result<ApiSession, ControllerError> {
        let offers_oidc = match self.client.version().await {
            Ok(version) => {
                tracing::debug!(
                    controller = self.client.origin(),
                    version = version.version,
                    api_path = self.client.api_path(),
                    oidc = version.offers_oidc(),
                    "controller version"
                );
                version.offers_oidc()
            }
            Err(err) if err.is_transport() => return Err(err),
            Err(err) => {
                tracing::warn!(
                    controller = self.client.origin(),
                    error = %err,
                    "GET /version failed; keeping the API path from ztAPI"
                );
                false
            }
        };
        let request = AuthenticateRequest {
            sdk_info: self.options.sdk_info.clone(),
            env_info: self.options.env_info.clone(),
            config_types: self.options.config_types.clone(),
        };
        let use_oidc = match self.options.auth {
            AuthMethod::Oidc => true,
            AuthMethod::Legacy => false,
            AuthMethod::Auto => offers_oidc,
        };
        if !use_oidc && self.client.controller_count() > 1 {
            tracing::warn!(
                controllers = self.client.controller_count(),
                "logging in with a legacy API session, which only the controller that issued it \
                 accepts: after a fail-over the SDK logs in again; use OIDC (--auth oidc or auto \
                 on a controller that offers it) for a cluster"
            );
        }
        if !use_oidc {
            self.set_refresh_token(None);
            return self.client.authenticate(&request).await;
        }
        let tokens = self.client.authenticate_oidc(&request).await?;
        self.set_refresh_token(tokens.refresh_token.clone());
        Ok(self
            .described(api_session_of(&tokens, &request.config_types))
            .await)
    }

    /// Completes an OIDC session from `GET /current-api-session` (identity, expiry as the
    /// controller sees it); the token stays the access token. Without an answer the session
    /// keeps what the token's claims say.
    pub(super) async fn described(&self, mut session: ApiSession) -> ApiSession {
        match self.client.current_api_session().await {
            Ok(detail) => {
                session.identity = detail.identity;
                if session.identity_id.is_none() {
                    session.identity_id = detail.identity_id;
                }
                if !detail.id.is_empty() {
                    session.id = detail.id;
                }
            }
            Err(err) => tracing::debug!(
                error = %err,
                "GET /current-api-session with the OIDC token failed; using the token's claims"
            ),
        }
        session
    }

    pub(super) fn set_refresh_token(&self, token: Option<String>) {
        match self.refresh_token.lock() {
            Ok(mut guard) => *guard = token,
            Err(poisoned) => *poisoned.into_inner() = token,
        }
    }

    pub(super) fn refresh_token(&self) -> Option<String> {
        match self.refresh_token.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Extends the API session: `GET /current-api-session` for a legacy session, the refresh
    /// grant for an OIDC one (whose new access token is then published).
    pub(super) async fn refresh_api_session(&self) -> Result<ApiSession, ControllerError> {
        if !self.client.uses_oidc() {
            return self.client.current_api_session().await;
        }
        let Some(refresh_token) = self.refresh_token() else {
            return Err(ControllerError::NotAuthenticated {
                operation: "OIDC refresh (the controller gave no refresh token)",
            });
        };
        let tokens = self.client.refresh_oidc(&refresh_token).await?;
        self.set_refresh_token(tokens.refresh_token.clone());
        Ok(api_session_of(&tokens, &self.options.config_types))
    }

    /// Re-lists services when `service-updates` says they changed (or cannot say).
    pub(super) async fn poll_services(&self, force: bool) -> Result<(), ControllerError> {
        let changed_at = match self.client.service_updates().await {
            Ok(updates) => Some(updates.last_change_at),
            Err(err) if err.is_not_found() => None,
            Err(err) => return Err(err),
        };
        let known = self.state.borrow().services_changed_at.clone();
        if !force && changed_at.is_some() && changed_at == known {
            return Ok(());
        }
        let services = self.client.services(&self.options.config_types).await?;
        let by_name: BTreeMap<String, Service> =
            services.into_iter().map(|s| (s.name.clone(), s)).collect();
        tracing::debug!(count = by_name.len(), "service list updated");
        self.publish(|s| {
            s.services = Arc::new(by_name);
            s.services_changed_at = changed_at;
        });
        Ok(())
    }

    pub(super) fn refresh_after(&self, session: &ApiSession) -> Duration {
        if self.client.uses_oidc() {
            // The access token's own expiry, to the millisecond: whole seconds would move a
            // short token's refresh past its end.
            if let Some(remaining) =
                crate::controller::oidc::claims::decode_unverified(&session.token)
                    .ok()
                    .and_then(|claims| claims.expires_at)
                    .map(|exp| {
                        (std::time::UNIX_EPOCH + Duration::from_secs(exp))
                            .duration_since(std::time::SystemTime::now())
                            .unwrap_or(Duration::ZERO)
                    })
            {
                return refresh_delay(remaining, self.options.min_refresh_delay);
            }
        }
        let remaining = session
            .expiration_seconds
            .map(Duration::from_secs)
            .or_else(|| remaining_until(session.expires_at.as_deref()?))
            .unwrap_or(self.options.fallback_refresh);
        refresh_delay(remaining, self.options.min_refresh_delay)
    }
}

/// The API session an OIDC login stands for: its id (`z_asid`), the access token (used in
/// router hellos exactly where a legacy token goes) and its lifetime.
fn api_session_of(tokens: &OidcTokens, config_types: &[String]) -> ApiSession {
    ApiSession {
        id: tokens
            .claims
            .api_session_id
            .clone()
            .unwrap_or_else(|| "oidc".to_string()),
        token: tokens.access_token.clone(),
        identity_id: tokens.claims.subject.clone(),
        expiration_seconds: Some(tokens.lifetime.as_secs()),
        config_types: config_types.to_vec(),
        ..ApiSession::default()
    }
}

/// Time from now until an RFC 3339 instant (zero if past), by the local clock.
fn remaining_until(expires_at: &str) -> Option<Duration> {
    let at =
        time::OffsetDateTime::parse(expires_at, &time::format_description::well_known::Rfc3339)
            .ok()?;
    let left = at - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(left).unwrap_or(Duration::ZERO))
}

async fn sleep_or_cancel(cancel: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

pub(super) async fn run(inner: Arc<Inner>) {
    let mut backoff = Backoff::new(inner.options.backoff_initial, inner.options.backoff_max);
    'login: loop {
        // Login phase.
        let session = loop {
            if inner.cancel.is_cancelled() {
                return;
            }
            let attempt = tokio::select! {
                _ = inner.cancel.cancelled() => return,
                r = inner.login() => r,
            };
            match attempt {
                Ok(session) => break session,
                Err(err) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(
                        controller = inner.client.origin(),
                        error = %error_chain(&err),
                        attempt = backoff.attempts(),
                        retry_in_ms = delay.as_millis() as u64,
                        "controller login failed; retrying"
                    );
                    inner.note_error(&err);
                    if !sleep_or_cancel(&inner.cancel, delay).await {
                        return;
                    }
                }
            }
        };
        backoff.reset();
        tracing::info!(
            controller = inner.client.origin(),
            auth = if inner.client.uses_oidc() {
                "oidc"
            } else {
                "legacy"
            },
            requested = inner.options.auth.as_str(),
            api_session = session.id,
            identity = session
                .identity
                .as_ref()
                .map(|i| i.name.as_str())
                .unwrap_or(""),
            "logged in to the controller"
        );
        let mut refresh_at = Instant::now() + inner.refresh_after(&session);
        inner.publish(|s| {
            s.api_session = Some(session);
            s.logins += 1;
            s.last_error = None;
        });
        match inner.client.current_identity().await {
            Ok(identity) => inner.publish(|s| s.identity = Some(identity)),
            Err(err) => {
                tracing::warn!(error = %err, "GET /current-identity failed");
                inner.note_error(&err);
            }
        }
        let mut poll_at = Instant::now();
        let mut force_list = true;
        // Maintenance phase.
        loop {
            if inner.relogin_requested() {
                inner.forget_api_session();
                continue 'login;
            }
            tokio::select! {
                _ = inner.cancel.cancelled() => return,
                _ = inner.wake.notified() => {}
                _ = tokio::time::sleep_until(refresh_at) => {
                    match inner.refresh_api_session().await {
                        Ok(session) => {
                            backoff.reset();
                            refresh_at = Instant::now() + inner.refresh_after(&session);
                            tracing::debug!(api_session = session.id, "API session refreshed");
                            inner.publish(|s| s.api_session = Some(session));
                        }
                        Err(err) if err.is_unauthorized() => {
                            inner.session_rejected(&err);
                            continue 'login;
                        }
                        Err(err) => {
                            let delay = backoff.next_delay();
                            tracing::warn!(
                                controller = inner.client.origin(),
                                error = %error_chain(&err),
                                retry_in_ms = delay.as_millis() as u64,
                                "API session refresh failed; retrying"
                            );
                            inner.note_error(&err);
                            refresh_at = Instant::now() + delay;
                        }
                    }
                }
                _ = tokio::time::sleep_until(poll_at) => {
                    match inner.poll_services(force_list).await {
                        Ok(()) => {
                            force_list = false;
                            poll_at = Instant::now() + inner.options.service_poll_interval;
                        }
                        Err(err) if err.is_unauthorized() => {
                            inner.session_rejected(&err);
                            continue 'login;
                        }
                        Err(err) => {
                            let delay = backoff.next_delay().min(inner.options.service_poll_interval);
                            tracing::warn!(
                                controller = inner.client.origin(),
                                error = %error_chain(&err),
                                retry_in_ms = delay.as_millis() as u64,
                                "service list refresh failed; retrying"
                            );
                            inner.note_error(&err);
                            poll_at = Instant::now() + delay;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn remaining_until_parses_controller_timestamps() {
        assert_eq!(
            remaining_until("2000-01-01T00:00:00.000000Z"),
            Some(Duration::ZERO)
        );
        let future = (time::OffsetDateTime::now_utc() + time::Duration::seconds(120))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let left = remaining_until(&future).unwrap();
        assert!(left > Duration::from_secs(100) && left <= Duration::from_secs(120));
        assert_eq!(remaining_until("yesterday"), None);
        assert_eq!(remaining_until(""), None);
    }
}
