//! The start of a channel: version check, hello, hello acknowledgement, authentication.
//!
//! Order as in the real edge listener (ziti-edge-protocol.md §1.5, §1.6, §8 items 2–4):
//! 1. the first 4 bytes must be the v2 magic; anything else gets the unknown-version reply
//!    (`03 06 09 0A`, count 2, versions 1 and 2) and the connection is closed;
//! 2. the hello must arrive within the hello timeout and fit the hello limits (headers ≤ 16384,
//!    body ≤ 4192 bytes);
//! 3. the hello is acknowledged (Result, sequence -1, ReplyFor = hello sequence, success,
//!    connection id, router id, version, SupportsBindSuccess) even when the API session token
//!    (1002) or the client certificate's fingerprint is refused by [`LabState`] (a legacy
//!    token, or an OIDC access JWT checked by [`super::token::authenticate`]): then, as a
//!    real router does, the TLS connection is closed right after the acknowledgement without
//!    a message;
//! 4. a valid session whose identity already holds its share of the router's channels
//!    ([`IdentityShares`]) gets a failed hello reply instead, whose body says so, and the
//!    connection is closed.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use dark_listener::wire::consts::{content_type as ct, header, HELLO_SEQUENCE};
use dark_listener::wire::edge::{HelloReply, RouterVersion};
use dark_listener::wire::frame::{unknown_version_reply, Frame, FrameCodec, FrameError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::Decoder;

use crate::pki::CertFingerprint;
use crate::state::{ApiSessionInfo, LabState};

use super::share::{IdentityShares, ShareFull, ShareSlot};

/// Why a channel never became usable. Logged at debug, where the SDK only sees the
/// connection close, except [`HandshakeError::ShareFull`], which is logged at warn and told
/// to the SDK in a failed hello reply.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The first bytes were not the channel v2 magic (the unknown-version reply was sent).
    #[error("the peer does not speak channel v2 (first bytes {0:02x?})")]
    UnknownVersion([u8; 4]),
    /// No complete hello within the hello timeout.
    #[error("no hello within {0:?}")]
    HelloTimeout(Duration),
    /// The connection closed before the hello.
    #[error("the connection closed before the hello")]
    ClosedBeforeHello,
    /// The first frame could not be decoded (too large, truncated, …).
    #[error("bad hello frame: {0}")]
    BadFrame(#[from] FrameError),
    /// The first frame was not a hello.
    #[error("the first message has content type {0}, not hello (0)")]
    NotHello(i32),
    /// Writing the acknowledgement failed.
    #[error("cannot write the hello acknowledgement: {0}")]
    Write(std::io::Error),
    /// The hello carried no API session token (header 1002) or not a UTF-8 one.
    #[error("the hello carries no usable API session token (header 1002)")]
    NoToken,
    /// The token or certificate was refused.
    #[error("authentication failed: {0}")]
    Refused(#[from] crate::state::RouterAuthError),
    /// The OIDC access token was refused.
    #[error("OIDC token refused: {0}")]
    OidcRefused(#[from] super::token::ChannelTokenError),
    /// The identity already holds its share of the router's channels.
    #[error("channel refused: {0}")]
    ShareFull(#[from] ShareFull),
}

/// A channel that passed the handshake.
#[derive(Debug)]
pub struct AcceptedChannel {
    /// The API session the hello presented.
    pub session: ApiSessionInfo,
    /// Bytes read after the hello (the start of the next frames).
    pub pending_bytes: BytesMut,
    /// The codec, past the hello (it applies the post-hello limits now).
    pub codec: FrameCodec,
    /// The channel's place in its identity's share; keep it while the channel lives.
    pub share: ShareSlot,
    /// Set when the hello presented an OIDC access token.
    pub oidc: Option<super::token::OidcChannel>,
}

/// What the router says about itself in the hello acknowledgement.
#[derive(Debug, Clone)]
pub struct RouterHelloInfo {
    /// Header 8.
    pub router_id: String,
    /// Header 4.
    pub version: RouterVersion,
}

/// What the router checks a hello against.
#[derive(Debug, Clone, Copy)]
pub struct HelloPolicy<'a> {
    /// Tokens and certificates.
    pub state: &'a Arc<LabState>,
    /// Each identity's share of the channels.
    pub shares: &'a Arc<IdentityShares>,
    /// Time for the hello to arrive.
    pub hello_timeout: Duration,
}

/// Runs the handshake on a TLS stream whose client certificate is `leaf_der` (fingerprint
/// `fingerprint`).
pub async fn accept_channel<S>(
    stream: &mut S,
    codec: FrameCodec,
    connection_id: &str,
    fingerprint: &CertFingerprint,
    leaf_der: &[u8],
    info: &RouterHelloInfo,
    policy: HelloPolicy<'_>,
) -> Result<AcceptedChannel, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let HelloPolicy {
        state,
        shares,
        hello_timeout,
    } = policy;
    let mut codec = codec;
    let mut buf = BytesMut::with_capacity(4096);
    let hello = match tokio::time::timeout(
        hello_timeout,
        read_first_frame(stream, &mut codec, &mut buf),
    )
    .await
    {
        Err(_) => return Err(HandshakeError::HelloTimeout(hello_timeout)),
        Ok(Err(HandshakeError::BadFrame(e))) if e.wants_unknown_version_reply() => {
            let seen = match e {
                FrameError::BadMagic { seen, .. } => seen,
                _ => [0; 4],
            };
            // Best effort: the peer may already be gone.
            let _ = stream.write_all(&unknown_version_reply()).await;
            let _ = stream.flush().await;
            return Err(HandshakeError::UnknownVersion(seen));
        }
        Ok(other) => other?,
    };
    if hello.content_type != ct::HELLO {
        return Err(HandshakeError::NotHello(hello.content_type));
    }
    // The real router validates only after acknowledging: a refused token or certificate
    // still gets the acknowledgement, then the close.
    let granted = match authenticate(&hello, fingerprint, leaf_der, state) {
        Ok((session, oidc)) => match shares.take(&session.identity.id, &session.identity.name) {
            Ok(share) => Ok((session, share, oidc)),
            Err(full) => {
                refuse(stream, &full, &hello, connection_id, info).await?;
                return Err(full.into());
            }
        },
        Err(refused) => Err(refused),
    };
    let reply = HelloReply {
        success: true,
        connection_id: Some(connection_id.to_owned()),
        router_id: Some(info.router_id.clone()),
        version: Some(info.version.clone()),
        supports_bind_success: true,
        // As 2.0.3 routers do; SDKs with legacy API sessions still send posture data to the
        // controller.
        supports_posture_checks: true,
        ..HelloReply::default()
    }
    .to_frame(HELLO_SEQUENCE)
    .replying_to(hello.sequence);
    let mut out = BytesMut::new();
    reply.encode_into(&mut out)?;
    stream
        .write_all(&out)
        .await
        .map_err(HandshakeError::Write)?;
    stream.flush().await.map_err(HandshakeError::Write)?;
    let (session, share, oidc) = granted?;
    Ok(AcceptedChannel {
        session,
        pending_bytes: buf,
        codec,
        share,
        oidc,
    })
}

/// Answers the hello with a failure whose body is `full`'s text (best effort: the peer may be
/// gone already).
async fn refuse<S>(
    stream: &mut S,
    full: &ShareFull,
    hello: &Frame,
    connection_id: &str,
    info: &RouterHelloInfo,
) -> Result<(), HandshakeError>
where
    S: AsyncWrite + Unpin,
{
    let refusal = HelloReply {
        success: false,
        message: Bytes::from(full.to_string()),
        connection_id: Some(connection_id.to_owned()),
        router_id: Some(info.router_id.clone()),
        version: Some(info.version.clone()),
        ..HelloReply::default()
    }
    .to_frame(HELLO_SEQUENCE)
    .replying_to(hello.sequence);
    let mut out = BytesMut::new();
    refusal.encode_into(&mut out)?;
    let _ = stream.write_all(&out).await;
    let _ = stream.flush().await;
    Ok(())
}

/// The API session a hello presents: a legacy token, or an OIDC access JWT (then also what
/// the router must watch on that channel).
fn authenticate(
    hello: &Frame,
    fingerprint: &CertFingerprint,
    leaf_der: &[u8],
    state: &Arc<LabState>,
) -> Result<(ApiSessionInfo, Option<super::token::OidcChannel>), HandshakeError> {
    let token = hello
        .headers
        .get_bytes(header::SESSION_TOKEN)
        .and_then(|t| std::str::from_utf8(t).ok())
        .filter(|t| !t.is_empty())
        .ok_or(HandshakeError::NoToken)?;
    if super::token::looks_like_jwt(token) {
        let (session, oidc) = super::token::authenticate(state, token, leaf_der)?;
        return Ok((session, Some(oidc)));
    }
    Ok((state.router_authenticate(token, fingerprint)?, None))
}

async fn read_first_frame<S>(
    stream: &mut S,
    codec: &mut FrameCodec,
    buf: &mut BytesMut,
) -> Result<Frame, HandshakeError>
where
    S: AsyncRead + Unpin,
{
    // Bounded: every read adds at least one byte and the codec refuses a hello larger than
    // 20 + 16384 + 4192 bytes, so this loop ends after at most that many reads.
    loop {
        if let Some(frame) = codec.decode(buf)? {
            return Ok(frame);
        }
        let n = stream
            .read_buf(buf)
            .await
            .map_err(|e| HandshakeError::BadFrame(FrameError::Io(e)))?;
        if n == 0 {
            return match codec.decode_eof(buf)? {
                Some(frame) => Ok(frame),
                None => Err(HandshakeError::ClosedBeforeHello),
            };
        }
    }
}
