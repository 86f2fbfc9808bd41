//! Carrying a refreshed OIDC access token to the routers: when the session keeper publishes a
//! new token for the same login (a refresh, not a new login), every open router channel gets
//! UpdateToken (60803) with it, as a ziti 2.x router expects before the old token expires. A
//! router that refuses answers UpdateTokenFailure and closes the channel; the next dial or
//! bind opens a new one with the current token. Legacy API sessions keep their token across
//! refreshes, so nothing is sent for them.

use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::channel::RouterPool;
use crate::controller::SessionSnapshot;

/// How long one router gets to answer an UpdateToken.
pub const UPDATE_TOKEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs until `shutdown`, sending UpdateToken on every open channel of `pool` after each
/// token refresh seen on `updates`.
pub(crate) async fn follow_token_refreshes(
    mut updates: watch::Receiver<SessionSnapshot>,
    pool: RouterPool,
    shutdown: CancellationToken,
) {
    let mut seen = current(&updates);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = updates.changed() => if changed.is_err() { return },
        }
        let now = current(&updates);
        let refreshed = match (&seen, &now) {
            (Some((logins, old)), Some((logins_now, new))) => logins == logins_now && old != new,
            _ => false,
        };
        if now.is_some() {
            seen = now.clone();
        }
        let Some((_, token)) = now.filter(|_| refreshed) else {
            continue;
        };
        for channel in pool.open_channels().await {
            match channel.update_token(&token, UPDATE_TOKEN_TIMEOUT).await {
                Ok(()) => tracing::debug!(
                    router = channel.router(),
                    "router accepted the refreshed token"
                ),
                Err(error) => tracing::warn!(
                    router = channel.router(),
                    %error,
                    "router did not accept the refreshed token; the channel will be replaced"
                ),
            }
        }
    }
}

/// The login count and token of the current API session, if logged in.
fn current(updates: &watch::Receiver<SessionSnapshot>) -> Option<(u64, String)> {
    let snapshot = updates.borrow();
    snapshot
        .api_session
        .as_ref()
        .map(|session| (snapshot.logins, session.token.clone()))
}
