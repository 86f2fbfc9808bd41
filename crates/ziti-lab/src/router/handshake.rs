//! The start of a channel: version check, hello, hello acknowledgement, authentication.
//!
//! Order as in the real edge listener (ziti-edge-protocol.md §1.5, §1.6, §8 items 2–4):
//! 1. the first 4 bytes must be the v2 magic; anything else gets the unknown-version reply
//!    (`03 06 09 0A`, count 2, versions 1 and 2) and the connection is closed;
//! 2. the hello must arrive within the hello timeout and fit the hello limits (headers ≤ 16384,
//!    body ≤ 4192 bytes);
//! 3. the hello is acknowledged (Result, sequence -1, ReplyFor = hello sequence, success,
//!    connection id, router id, version, SupportsBindSuccess) **before** anything is checked;
//! 4. then the API session token (1002) and the client certificate's fingerprint are checked
//!    against [`LabState`] — a legacy token, or an OIDC access JWT checked by
//!    [`super::token::authenticate`]; on failure the TLS connection is closed without a message.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use dark_listener::wire::consts::{content_type as ct, header, HELLO_SEQUENCE};
use dark_listener::wire::edge::{HelloReply, RouterVersion};
use dark_listener::wire::frame::{unknown_version_reply, Frame, FrameCodec, FrameError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::Decoder;

use crate::pki::CertFingerprint;
use crate::state::{ApiSessionInfo, LabState};

/// Why a channel never became usable (logged at debug; the SDK only sees the connection close).
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
}

/// A channel that passed the handshake.
#[derive(Debug)]
pub struct Accepted {
    /// The API session the hello presented.
    pub session: ApiSessionInfo,
    /// Bytes read after the hello (the start of the next frames).
    pub pending_bytes: BytesMut,
    /// The codec, past the hello (it applies the post-hello limits now).
    pub codec: FrameCodec,
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

/// Runs the handshake on a TLS stream whose client certificate is `leaf_der` (fingerprint
/// `fingerprint`).
#[allow(clippy::too_many_arguments)]
pub async fn accept_channel<S>(
    stream: &mut S,
    codec: FrameCodec,
    connection_id: &str,
    fingerprint: &CertFingerprint,
    leaf_der: &[u8],
    info: &RouterHelloInfo,
    state: &Arc<LabState>,
    hello_timeout: Duration,
) -> Result<Accepted, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
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
    // The real router validates only after acknowledging; so does the lab.
    let token = hello
        .headers
        .get_bytes(header::SESSION_TOKEN)
        .and_then(|t| std::str::from_utf8(t).ok())
        .filter(|t| !t.is_empty())
        .ok_or(HandshakeError::NoToken)?;
    let (session, oidc) = if super::token::looks_like_jwt(token) {
        let (session, oidc) = super::token::authenticate(state, token, leaf_der)?;
        (session, Some(oidc))
    } else {
        (state.router_authenticate(token, fingerprint)?, None)
    };
    Ok(Accepted {
        session,
        pending_bytes: buf,
        codec,
        oidc,
    })
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
