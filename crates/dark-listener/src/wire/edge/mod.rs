//! Typed edge messages, built into and parsed from [`Frame`]s.
//!
//! This module owns the meaning of each message of ziti-edge-protocol.md §1.5, §1.7 and §2.3:
//! which headers it carries, which are required, and how its body is used. Every type can
//! be built ([`to_frame`](Connect::to_frame)) and parsed ([`from_frame`](Connect::from_frame)),
//! so the SDK and the lab router use the same definitions from opposite ends.
//!
//! | type | content type | sender | body |
//! | --- | --- | --- | --- |
//! | [`Hello`] | 0 | dialer of the channel | identifier (unauthenticated) |
//! | [`HelloReply`] | 2 Result | router | empty, or a rejection message |
//! | [`ChannelResult`] | 2 Result | either | message |
//! | [`LatencyProbe`] / [`LatencyResponse`] | 3 / 2 | SDK / router | empty |
//! | [`Connect`] | 60783 | dialing SDK | Dial session token |
//! | [`StateConnected`] | 60784 | router | empty |
//! | [`StateClosed`] | 60785 | either | reason |
//! | [`Data`] | 60786 | either | payload |
//! | [`Dial`] | 60787 | router → host | Bind session token |
//! | [`DialSuccess`] | 60788 | host | `u32` LE new conn id (exactly 4 bytes) |
//! | [`DialFailed`] | 60789 | host | reason |
//! | [`Bind`] / [`Unbind`] / [`UpdateBind`] / [`HealthEvent`] | 60790 / 60791 / 60794 / 60795 | host | Bind session token |
//! | [`ConnInspectRequest`] / [`ConnInspectResponse`] | 60798 / 60799 | router / host | – / details |
//! | [`BindSuccess`] | 60800 | router | empty |
//! | [`UpdateToken`] / [`UpdateTokenSuccess`] / [`UpdateTokenFailure`] | 60803 / 60801 / 60802 | SDK / router | token / – / reason |
//!
//! Messages do not carry their own sequence: `to_frame(sequence)` takes it, and replies are
//! marked with [`Frame::replying_to`] or [`Frame::reply_to`]. Parsers ignore headers they do
//! not use (for instance the C SDK's 1001 `Seq`). [`EdgeMessage::parse`] dispatches on the
//! content type.
//!
//! The messages live in four files by role: `channel` (Hello, HelloReply, Result, latency),
//! `dial` (Connect, StateConnected, StateClosed, Data), `host` (Bind and its kin, Dial,
//! DialSuccess, DialFailed, ConnInspect) and `token` (UpdateToken and its answers); this
//! file keeps what they share (the header reader, [`PublicKey`], [`StructuredError`],
//! [`EdgeError`]) and [`EdgeMessage`]. Everything is re-exported here.
//!
//! Header 1009 `CryptoMethod` is never written; on receipt it is read by [`CryptoMethod`]:
//! absent, byte `00` or the string `libsodium` mean libsodium, anything else is unsupported.

mod channel;
mod dial;
mod host;
mod token;

pub use channel::*;
pub use dial::*;
pub use host::*;
pub use token::*;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::consts::{
    capability, content_type as ct, crypto_method, header as h, ConnType, ErrorCode, Precedence,
    RetryHint, NOT_A_REPLY, PUBLIC_KEY_LEN,
};
use super::frame::Frame;
use super::headers::{HeaderError, Headers};

/// Why a frame is not a valid edge message of the expected type.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// The frame has another content type.
    #[error("expected content type {expected} ({}), found {found}", ct::name(*expected).unwrap_or("unknown"))]
    WrongContentType {
        /// Content type the parser handles.
        expected: i32,
        /// Content type of the frame.
        found: i32,
    },
    /// A required header is absent.
    #[error("{message} is missing required header {id} ({})", h::name(*id))]
    MissingHeader {
        /// Message type name.
        message: &'static str,
        /// Header id.
        id: i32,
    },
    /// A header is present but malformed.
    #[error("{message}: {source}")]
    BadHeader {
        /// Message type name.
        message: &'static str,
        /// What was wrong.
        #[source]
        source: HeaderError,
    },
    /// Header 1003 is not a 32-byte X25519 key.
    #[error("{message}: public key (header 1003) must be 32 bytes, found {len}")]
    BadPublicKey {
        /// Message type name.
        message: &'static str,
        /// Length found.
        len: usize,
    },
    /// A byte-enum header holds an unknown value.
    #[error("{message}: header {id} ({}) holds unknown value {value}", h::name(*id))]
    UnknownEnumValue {
        /// Message type name.
        message: &'static str,
        /// Header id.
        id: i32,
        /// Value found.
        value: u8,
    },
    /// A DialSuccess body is not exactly 4 bytes.
    #[error("DialSuccess body must be exactly 4 bytes (u32 LE conn id), found {len}")]
    BadDialSuccessBody {
        /// Body length found.
        len: usize,
    },
    /// Header 1033 is not valid StructuredError JSON.
    #[error("{message}: StructuredError (header 1033) is not valid JSON: {detail}")]
    BadStructuredError {
        /// Message type name.
        message: &'static str,
        /// Parser message.
        detail: String,
    },
}

/// Header reading with the message name attached to every error.
struct Reader<'a> {
    message: &'static str,
    headers: &'a Headers,
}

impl<'a> Reader<'a> {
    fn new(frame: &'a Frame, expected: i32, message: &'static str) -> Result<Self, EdgeError> {
        if frame.content_type != expected {
            return Err(EdgeError::WrongContentType {
                expected,
                found: frame.content_type,
            });
        }
        Ok(Self {
            message,
            headers: &frame.headers,
        })
    }

    fn bad(&self, source: HeaderError) -> EdgeError {
        EdgeError::BadHeader {
            message: self.message,
            source,
        }
    }

    fn required<T>(&self, id: i32, value: Option<T>) -> Result<T, EdgeError> {
        value.ok_or(EdgeError::MissingHeader {
            message: self.message,
            id,
        })
    }

    fn u32(&self, id: i32) -> Result<Option<u32>, EdgeError> {
        self.headers.get_u32(id).map_err(|e| self.bad(e))
    }

    fn conn_id(&self) -> Result<u32, EdgeError> {
        let v = self.u32(h::CONN_ID)?;
        self.required(h::CONN_ID, v)
    }

    fn u16(&self, id: i32) -> Result<Option<u16>, EdgeError> {
        self.headers.get_u16(id).map_err(|e| self.bad(e))
    }

    fn flag(&self, id: i32) -> Result<bool, EdgeError> {
        self.headers.get_flag(id).map_err(|e| self.bad(e))
    }

    fn bool(&self, id: i32) -> Result<Option<bool>, EdgeError> {
        self.headers.get_bool(id).map_err(|e| self.bad(e))
    }

    fn string(&self, id: i32) -> Result<Option<String>, EdgeError> {
        self.headers.get_string(id).map_err(|e| self.bad(e))
    }

    fn bytes(&self, id: i32) -> Option<Bytes> {
        self.headers.get_bytes(id).cloned()
    }

    fn public_key(&self) -> Result<Option<PublicKey>, EdgeError> {
        match self.headers.get_bytes(h::PUBLIC_KEY) {
            None => Ok(None),
            Some(v) => <[u8; PUBLIC_KEY_LEN]>::try_from(v.as_ref())
                .map(|k| Some(PublicKey(k)))
                .map_err(|_| EdgeError::BadPublicKey {
                    message: self.message,
                    len: v.len(),
                }),
        }
    }

    fn precedence(&self) -> Result<Option<Precedence>, EdgeError> {
        match self
            .headers
            .get_byte(h::PRECEDENCE)
            .map_err(|e| self.bad(e))?
        {
            None => Ok(None),
            Some(b) => Precedence::from_u8(b)
                .map(Some)
                .ok_or(EdgeError::UnknownEnumValue {
                    message: self.message,
                    id: h::PRECEDENCE,
                    value: b,
                }),
        }
    }

    fn error_details(&self) -> Result<ErrorDetails, EdgeError> {
        let code = self.u32(h::ERROR_CODE)?.map(ErrorCode::from_u32);
        let structured = match self.headers.get_bytes(h::STRUCTURED_ERROR) {
            None => None,
            Some(raw) => Some(serde_json::from_slice::<StructuredError>(raw).map_err(|e| {
                EdgeError::BadStructuredError {
                    message: self.message,
                    detail: e.to_string(),
                }
            })?),
        };
        Ok(ErrorDetails { code, structured })
    }
}

fn put_opt_string(headers: &mut Headers, id: i32, value: &Option<String>) {
    if let Some(v) = value {
        headers.put_string(id, v);
    }
}

fn put_opt_bytes(headers: &mut Headers, id: i32, value: &Option<Bytes>) {
    if let Some(v) = value {
        headers.put_bytes(id, v.clone());
    }
}

fn put_opt_key(headers: &mut Headers, key: &Option<PublicKey>) {
    if let Some(k) = key {
        headers.put_bytes(h::PUBLIC_KEY, Bytes::copy_from_slice(&k.0));
    }
}

fn put_true(headers: &mut Headers, id: i32, value: bool) {
    if value {
        headers.put_bool(id, true);
    }
}

fn frame(content_type: i32, sequence: i32, headers: Headers, body: Bytes) -> Frame {
    Frame {
        content_type,
        sequence,
        headers,
        body,
    }
}

/// A 32-byte X25519 public key (header 1003).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub [u8; PUBLIC_KEY_LEN]);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// What header 1009 `CryptoMethod` says, read leniently (§4 gotcha 1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CryptoMethod {
    /// Absent, Go byte `00`, or C string `libsodium`.
    #[default]
    Libsodium,
    /// Anything else; the raw value is kept for the error message.
    Unsupported(Bytes),
}

impl CryptoMethod {
    /// Interpret the 1009 header of `headers`.
    pub fn from_headers(headers: &Headers) -> Self {
        match headers.get_bytes(h::CRYPTO_METHOD) {
            None => Self::Libsodium,
            Some(v) if v.as_ref() == [crypto_method::LIBSODIUM_BYTE] => Self::Libsodium,
            Some(v) if v.as_ref() == crypto_method::LIBSODIUM_STRING.as_bytes() => Self::Libsodium,
            Some(v) => Self::Unsupported(v.clone()),
        }
    }
}

/// Header 1033: the JSON error object routers attach to failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StructuredError {
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// Error code (see [`ErrorCode`]).
    #[serde(default)]
    pub code: u32,
    /// Retry hint (see [`super::consts::RetryHint`]).
    #[serde(default)]
    pub retry_hint: u32,
    /// Posture checks that failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing_posture_check_ids: Vec<String>,
}

impl StructuredError {
    /// The typed retry hint.
    pub fn hint(&self) -> RetryHint {
        RetryHint::from_u32(self.retry_hint)
    }

    /// The typed error code.
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode::from_u32(self.code)
    }
}

/// Error code (1014) and structured error (1033) of a failure message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorDetails {
    /// Header 1014.
    pub code: Option<ErrorCode>,
    /// Header 1033.
    pub structured: Option<StructuredError>,
}

impl ErrorDetails {
    fn put(&self, headers: &mut Headers) {
        if let Some(code) = self.code {
            headers.put_u32(h::ERROR_CODE, code.as_u32());
        }
        if let Some(s) = &self.structured {
            // Serialising a struct of strings and integers cannot fail.
            if let Ok(json) = serde_json::to_vec(s) {
                headers.put_bytes(h::STRUCTURED_ERROR, json);
            }
        }
    }
}

/// Any message this crate understands, dispatched by content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeMessage {
    /// Content type 0.
    Hello(Hello),
    /// Content type 2 (the hello reply is read with [`HelloReply::from_frame`]).
    Result(ChannelResult),
    /// Content type 3.
    Latency(LatencyProbe),
    /// Content type 4.
    LatencyResponse(LatencyResponse),
    /// 60783.
    Connect(Connect),
    /// 60784.
    StateConnected(StateConnected),
    /// 60785.
    StateClosed(StateClosed),
    /// 60786.
    Data(Data),
    /// 60787.
    Dial(Dial),
    /// 60788.
    DialSuccess(DialSuccess),
    /// 60789.
    DialFailed(DialFailed),
    /// 60790.
    Bind(Bind),
    /// 60791.
    Unbind(Unbind),
    /// 60794.
    UpdateBind(UpdateBind),
    /// 60795.
    HealthEvent(HealthEvent),
    /// 60798.
    ConnInspectRequest(ConnInspectRequest),
    /// 60799.
    ConnInspectResponse(ConnInspectResponse),
    /// 60800.
    BindSuccess(BindSuccess),
    /// 60801.
    UpdateTokenSuccess(UpdateTokenSuccess),
    /// 60802.
    UpdateTokenFailure(UpdateTokenFailure),
    /// 60803.
    UpdateToken(UpdateToken),
    /// Any other content type: peers log and drop these.
    Unsupported(i32),
}

impl EdgeMessage {
    /// Parse `frame` according to its content type.
    pub fn parse(frame: &Frame) -> Result<Self, EdgeError> {
        Ok(match frame.content_type {
            ct::HELLO => Self::Hello(Hello::from_frame(frame)?),
            ct::RESULT => Self::Result(ChannelResult::from_frame(frame)?),
            ct::LATENCY => Self::Latency(LatencyProbe::from_frame(frame)?),
            ct::LATENCY_RESPONSE => Self::LatencyResponse(LatencyResponse::from_frame(frame)?),
            ct::CONNECT => Self::Connect(Connect::from_frame(frame)?),
            ct::STATE_CONNECTED => Self::StateConnected(StateConnected::from_frame(frame)?),
            ct::STATE_CLOSED => Self::StateClosed(StateClosed::from_frame(frame)?),
            ct::DATA => Self::Data(Data::from_frame(frame)?),
            ct::DIAL => Self::Dial(Dial::from_frame(frame)?),
            ct::DIAL_SUCCESS => Self::DialSuccess(DialSuccess::from_frame(frame)?),
            ct::DIAL_FAILED => Self::DialFailed(DialFailed::from_frame(frame)?),
            ct::BIND => Self::Bind(Bind::from_frame(frame)?),
            ct::UNBIND => Self::Unbind(Unbind::from_frame(frame)?),
            ct::UPDATE_BIND => Self::UpdateBind(UpdateBind::from_frame(frame)?),
            ct::HEALTH_EVENT => Self::HealthEvent(HealthEvent::from_frame(frame)?),
            ct::CONN_INSPECT_REQUEST => {
                Self::ConnInspectRequest(ConnInspectRequest::from_frame(frame)?)
            }
            ct::CONN_INSPECT_RESPONSE => {
                Self::ConnInspectResponse(ConnInspectResponse::from_frame(frame)?)
            }
            ct::BIND_SUCCESS => Self::BindSuccess(BindSuccess::from_frame(frame)?),
            ct::UPDATE_TOKEN_SUCCESS => {
                Self::UpdateTokenSuccess(UpdateTokenSuccess::from_frame(frame)?)
            }
            ct::UPDATE_TOKEN_FAILURE => {
                Self::UpdateTokenFailure(UpdateTokenFailure::from_frame(frame)?)
            }
            ct::UPDATE_TOKEN => Self::UpdateToken(UpdateToken::from_frame(frame)?),
            other => Self::Unsupported(other),
        })
    }

    /// Build the frame for this message; `None` for [`EdgeMessage::Unsupported`].
    pub fn to_frame(&self, sequence: i32) -> Option<Frame> {
        Some(match self {
            Self::Hello(m) => m.to_frame(sequence),
            Self::Result(m) => m.to_frame(sequence),
            Self::Latency(m) => m.to_frame(sequence),
            Self::LatencyResponse(m) => m.to_latency_response_frame(sequence),
            Self::Connect(m) => m.to_frame(sequence),
            Self::StateConnected(m) => m.to_frame(sequence),
            Self::StateClosed(m) => m.to_frame(sequence),
            Self::Data(m) => m.to_frame(sequence),
            Self::Dial(m) => m.to_frame(sequence),
            Self::DialSuccess(m) => m.to_frame(sequence),
            Self::DialFailed(m) => m.to_frame(sequence),
            Self::Bind(m) => m.to_frame(sequence),
            Self::Unbind(m) => m.to_frame(sequence),
            Self::UpdateBind(m) => m.to_frame(sequence),
            Self::HealthEvent(m) => m.to_frame(sequence),
            Self::ConnInspectRequest(m) => m.to_frame(sequence),
            Self::ConnInspectResponse(m) => m.to_frame(sequence),
            Self::BindSuccess(m) => m.to_frame(sequence),
            Self::UpdateTokenSuccess(m) => m.to_frame(sequence),
            Self::UpdateTokenFailure(m) => m.to_frame(sequence),
            Self::UpdateToken(m) => m.to_frame(sequence),
            Self::Unsupported(_) => return None,
        })
    }
}
