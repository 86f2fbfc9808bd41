//! OIDC access tokens on router channels, as a 2.x edge router treats them (openziti/ziti
//! `router/state/manager.go` `ParseApiSessionJwt`, `router/xgress_edge/listener.go`
//! `processTokenUpdate`):
//!
//! * the hello's header 1002 may carry an access JWT instead of a legacy API session token:
//!   signature (controller key, `kid`), `z_t = "a"`, audience `openziti`/`native`, expiry,
//!   and the TLS leaf certificate's SHA-1 fingerprint listed in `z_cfs` ([`authenticate`]);
//! * UpdateToken (60803, body = new access JWT) is checked the same way and must name the
//!   channel's identity: UpdateTokenSuccess (60801) replies, or UpdateTokenFailure (60802) and
//!   the channel closes ([`update`]);
//! * a channel whose token expires without an update is closed ([`close_on_expiry`]).
//!
//! The per-channel records live in the lab's OIDC context
//! ([`crate::controller::oidc::OidcContext`]), keyed by channel id.

use std::sync::Arc;

use bytes::Bytes;
use dark_listener::wire::edge::{UpdateTokenFailure, UpdateTokenSuccess};
use dark_listener::wire::frame::Frame;
use tokio_util::sync::CancellationToken;

use super::channel::EdgeChannel;
use super::RouterCore;
use crate::controller::oidc::tokens::{self, TokenRefusal};
use crate::controller::oidc::{self as oidc, bearer, ChannelToken};
use crate::pki::CertFingerprint;
use crate::state::{ApiSessionInfo, LabState, RouterAuthError};

/// What the hello's OIDC token established.
#[derive(Debug, Clone)]
pub struct OidcChannel {
    /// DER of the channel's TLS leaf certificate.
    pub leaf_der: Vec<u8>,
    /// Expiry of the hello's token, Unix seconds.
    pub expires_at: i64,
}

/// Why an OIDC token was refused on a channel.
#[derive(Debug, thiserror::Error)]
pub enum ChannelTokenError {
    /// Signature, type, audience, expiry or certificate binding.
    #[error(transparent)]
    Token(#[from] TokenRefusal),
    /// OIDC is off, or its context cannot be built.
    #[error("OIDC is not available on this lab: {0}")]
    Unavailable(String),
    /// The API session named by `z_asid` ended.
    #[error("the token's API session ended (logout, identity removed or idle timeout)")]
    SessionEnded,
    /// The token names another identity than the channel's.
    #[error("the token is for another identity than the channel's")]
    OtherIdentity,
    /// The channel did not start with an OIDC token.
    #[error("this channel presented a legacy API session; only OIDC channels take token updates")]
    NotOidc,
    /// The lab state refused the API session for this certificate.
    #[error(transparent)]
    Refused(#[from] RouterAuthError),
}

fn verify(
    state: &Arc<LabState>,
    jwt: &str,
    leaf_der: &[u8],
) -> Result<tokens::OidcClaims, ChannelTokenError> {
    if !state.config().controller.oidc {
        return Err(ChannelTokenError::Unavailable(
            "controller.oidc = false".into(),
        ));
    }
    let ctx = oidc::context(state).map_err(|e| ChannelTokenError::Unavailable(e.to_string()))?;
    Ok(tokens::verify(
        jwt,
        &ctx.signer,
        &ctx.spki_der,
        tokens::TYPE_ACCESS,
        Some(leaf_der),
        oidc::now_secs(),
    )?)
}

/// Hello with an access JWT: the API session it stands for (checked against the certificate
/// like a legacy token) and the channel's token record.
pub fn authenticate(
    state: &Arc<LabState>,
    jwt: &str,
    leaf_der: &[u8],
) -> Result<(ApiSessionInfo, OidcChannel), ChannelTokenError> {
    let claims = verify(state, jwt, leaf_der)?;
    let session =
        bearer::session_of_claims(state, &claims).ok_or(ChannelTokenError::SessionEnded)?;
    let session = state.router_authenticate(&session.token, &CertFingerprint::of_der(leaf_der))?;
    Ok((
        session,
        OidcChannel {
            leaf_der: leaf_der.to_vec(),
            expires_at: claims.exp,
        },
    ))
}

/// Whether a hello token is a JWT (OIDC) rather than a legacy API session token.
pub fn looks_like_jwt(token: &str) -> bool {
    tokens::looks_like_jwt(token)
}

/// Registers an OIDC channel and spawns its expiry watch (which closes the channel when the
/// token runs out without an update, and forgets the record when the channel closes).
pub fn watch_channel(
    core: &Arc<RouterCore>,
    channel: u64,
    identity_id: &str,
    oidc_channel: &OidcChannel,
    closing: CancellationToken,
) {
    let Ok(ctx) = oidc::context(&core.state) else {
        closing.cancel();
        return;
    };
    let (tx, rx) = tokio::sync::watch::channel(oidc_channel.expires_at);
    ctx.tables().channels.insert(
        channel,
        ChannelToken {
            identity_id: identity_id.to_owned(),
            leaf_der: oidc_channel.leaf_der.clone(),
            expires_at: tx,
        },
    );
    tokio::spawn(async move {
        close_on_expiry(rx, channel, closing).await;
        ctx.tables().channels.remove(&channel);
    });
}

/// Waits until the channel closes, or closes it when the current expiry passes.
pub async fn close_on_expiry(
    mut expiry: tokio::sync::watch::Receiver<i64>,
    channel: u64,
    closing: CancellationToken,
) {
    loop {
        let exp = *expiry.borrow_and_update();
        let wait_ms = (exp.saturating_mul(1000))
            .saturating_sub(crate::timefmt::now_micros() / 1000)
            .max(0);
        let sleep = tokio::time::sleep(std::time::Duration::from_millis(wait_ms as u64));
        tokio::select! {
            _ = closing.cancelled() => return,
            changed = expiry.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = sleep => {
                if *expiry.borrow() == exp {
                    tracing::info!(channel, "the channel's OIDC token expired without an update; closing the channel");
                    closing.cancel();
                    return;
                }
            }
        }
    }
}

/// UpdateToken from the SDK: verify, answer, and close the channel on failure.
pub async fn update(core: &Arc<RouterCore>, ch: &Arc<EdgeChannel>, frame: &Frame) {
    let outcome = check_update(core, ch, frame);
    let mut reply = match &outcome {
        Ok(()) => UpdateTokenSuccess.to_frame(0),
        Err(e) => UpdateTokenFailure {
            reason: Bytes::from(e.to_string()),
            ..UpdateTokenFailure::default()
        }
        .to_frame(0),
    };
    reply.reply_to(frame);
    let _ = ch.send(reply).await;
    match outcome {
        Ok(()) => tracing::debug!(channel = ch.id, "OIDC token updated"),
        Err(e) => {
            tracing::info!(channel = ch.id, reason = %e, "token update refused; closing the channel");
            ch.close();
        }
    }
}

fn check_update(
    core: &Arc<RouterCore>,
    ch: &Arc<EdgeChannel>,
    frame: &Frame,
) -> Result<(), ChannelTokenError> {
    let ctx =
        oidc::context(&core.state).map_err(|e| ChannelTokenError::Unavailable(e.to_string()))?;
    let (identity_id, leaf_der) = {
        let t = ctx.tables();
        let rec = t.channels.get(&ch.id).ok_or(ChannelTokenError::NotOidc)?;
        (rec.identity_id.clone(), rec.leaf_der.clone())
    };
    let jwt = std::str::from_utf8(&frame.body).unwrap_or("").trim();
    let claims = verify(&core.state, jwt, &leaf_der)?;
    if claims.sub != identity_id {
        return Err(ChannelTokenError::OtherIdentity);
    }
    bearer::session_of_claims(&core.state, &claims).ok_or(ChannelTokenError::SessionEnded)?;
    let mut t = ctx.tables();
    if let Some(rec) = t.channels.get(&ch.id) {
        rec.expires_at.send_replace(claims.exp);
    }
    t.stats.router_token_updates += 1;
    Ok(())
}
