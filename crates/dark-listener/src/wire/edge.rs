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
//! Header 1009 `CryptoMethod` is never written; on receipt it is read by [`CryptoMethod`]:
//! absent, byte `00` or the string `libsodium` mean libsodium, anything else is unsupported.

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

/// Hello (content type 0): the first message on a channel, from the dialing side.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hello {
    /// Header 1002: the API session token.
    pub session_token: Bytes,
    /// Body: an unauthenticated identifier (Go: cert CN; C: `ziti-sdk-c[n]@host`).
    pub identifier: Bytes,
    /// Header 0: logical connection id (grouped channels).
    pub connection_id: Option<String>,
    /// Header 9: request a multi-underlay channel. Do not set unless implemented.
    pub is_grouped: bool,
    /// Header 7: underlay type of a grouped channel.
    pub underlay_type: Option<String>,
    /// Header 11: first underlay of a group.
    pub is_first_group_connection: bool,
    /// Header 10: group secret of an additional underlay.
    pub group_secret: Option<Bytes>,
    /// Header 1023: the C SDK advertises inspect support in its hello.
    pub supports_inspect: bool,
}

impl Hello {
    /// Build the frame. Headers are written in the order 1002, 0, 9, 7, 11, 10, 1023.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_bytes(h::SESSION_TOKEN, self.session_token.clone());
        put_opt_string(&mut hd, h::CONNECTION_ID, &self.connection_id);
        put_true(&mut hd, h::IS_GROUPED, self.is_grouped);
        put_opt_string(&mut hd, h::TYPE, &self.underlay_type);
        put_true(
            &mut hd,
            h::IS_FIRST_GROUP_CONNECTION,
            self.is_first_group_connection,
        );
        put_opt_bytes(&mut hd, h::GROUP_SECRET, &self.group_secret);
        put_true(&mut hd, h::SUPPORTS_INSPECT, self.supports_inspect);
        frame(ct::HELLO, sequence, hd, self.identifier.clone())
    }

    /// Parse a hello. Header 1002 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::HELLO, "Hello")?;
        Ok(Self {
            session_token: r.required(h::SESSION_TOKEN, r.bytes(h::SESSION_TOKEN))?,
            identifier: f.body.clone(),
            connection_id: r.string(h::CONNECTION_ID)?,
            is_grouped: r.flag(h::IS_GROUPED)?,
            underlay_type: r.string(h::TYPE)?,
            is_first_group_connection: r.flag(h::IS_FIRST_GROUP_CONNECTION)?,
            group_secret: r.bytes(h::GROUP_SECRET),
            supports_inspect: r.flag(h::SUPPORTS_INSPECT)?,
        })
    }
}

/// The router's `version|revision|buildDate|os|arch` (header 4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouterVersion {
    /// Version, e.g. `v2.0.3`.
    pub version: String,
    /// Source revision.
    pub revision: String,
    /// Build date.
    pub build_date: String,
    /// Operating system.
    pub os: String,
    /// Architecture.
    pub arch: String,
}

impl RouterVersion {
    /// Parse the pipe-joined form; missing fields are left empty.
    pub fn parse(s: &str) -> Self {
        let mut parts = s.splitn(5, '|').map(str::to_owned);
        Self {
            version: parts.next().unwrap_or_default(),
            revision: parts.next().unwrap_or_default(),
            build_date: parts.next().unwrap_or_default(),
            os: parts.next().unwrap_or_default(),
            arch: parts.next().unwrap_or_default(),
        }
    }

    /// The pipe-joined wire form.
    pub fn encode(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.version, self.revision, self.build_date, self.os, self.arch
        )
    }
}

/// Header 1039: a big-endian, arbitrary-length bitmask of router capabilities.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouterCapabilities {
    bytes: Bytes,
}

impl RouterCapabilities {
    /// Wrap the raw header value.
    pub fn from_bytes(bytes: Bytes) -> Self {
        Self { bytes }
    }

    /// The minimal big-endian encoding with the given bits set.
    pub fn from_bits(bits: &[u32]) -> Self {
        let Some(max) = bits.iter().copied().max() else {
            return Self::default();
        };
        let len = max as usize / 8 + 1;
        let mut out = vec![0u8; len];
        for bit in bits {
            let idx = len - 1 - *bit as usize / 8;
            out[idx] |= 1 << (bit % 8);
        }
        Self {
            bytes: Bytes::from(out),
        }
    }

    /// The raw header value.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Whether bit `bit` is set (bit n is `(b[len-1-n/8] >> (n%8)) & 1`).
    pub fn has(&self, bit: u32) -> bool {
        let byte = bit as usize / 8;
        if byte >= self.bytes.len() {
            return false;
        }
        (self.bytes[self.bytes.len() - 1 - byte] >> (bit % 8)) & 1 == 1
    }

    /// All set bits, ascending.
    pub fn bits(&self) -> Vec<u32> {
        let total = self.bytes.len() as u32 * 8;
        (0..total).filter(|b| self.has(*b)).collect()
    }

    /// Whether the router supports sessionless dial (bit 2).
    pub fn connect_v2(&self) -> bool {
        self.has(capability::CONNECT_V2)
    }
}

/// The router's reply to a hello: a Result (content type 2) with router headers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HelloReply {
    /// Header 2: success.
    pub success: bool,
    /// Body: empty on success, the rejection message otherwise.
    pub message: Bytes,
    /// Header 0: router-assigned connection id.
    pub connection_id: Option<String>,
    /// Header 8: router identity id.
    pub router_id: Option<String>,
    /// Header 4: router version.
    pub version: Option<RouterVersion>,
    /// Header 1024: the router sends BindSuccess.
    pub supports_bind_success: bool,
    /// Header 1032: the router supports posture checks.
    pub supports_posture_checks: bool,
    /// Header 1039: capability bitmask (main / 2.1 only).
    pub capabilities: Option<RouterCapabilities>,
    /// Header 9: grouping confirmed.
    pub is_grouped: bool,
    /// Header 7: underlay type echoed.
    pub underlay_type: Option<String>,
    /// Header 10: group secret.
    pub group_secret: Option<Bytes>,
    /// Header 13: rejection class of a failed hello.
    pub reject_class: Option<u32>,
}

impl HelloReply {
    /// Build the frame; the caller adds ReplyFor ([`Frame::replying_to`]).
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_bool(h::RESULT_SUCCESS, self.success);
        put_opt_string(&mut hd, h::CONNECTION_ID, &self.connection_id);
        put_opt_string(&mut hd, h::ID, &self.router_id);
        if let Some(v) = &self.version {
            hd.put_string(h::HELLO_VERSION, &v.encode());
        }
        put_true(
            &mut hd,
            h::SUPPORTS_BIND_SUCCESS,
            self.supports_bind_success,
        );
        put_true(
            &mut hd,
            h::SUPPORTS_POSTURE_CHECKS,
            self.supports_posture_checks,
        );
        if let Some(c) = &self.capabilities {
            hd.put_bytes(h::ROUTER_CAPABILITIES, c.as_bytes().clone());
        }
        put_true(&mut hd, h::IS_GROUPED, self.is_grouped);
        put_opt_string(&mut hd, h::TYPE, &self.underlay_type);
        put_opt_bytes(&mut hd, h::GROUP_SECRET, &self.group_secret);
        if let Some(c) = self.reject_class {
            hd.put_u32(h::HELLO_REJECT_CLASS, c);
        }
        frame(ct::RESULT, sequence, hd, self.message.clone())
    }

    /// Parse a hello reply. A missing header 2 means failure.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::RESULT, "hello reply")?;
        Ok(Self {
            success: r.flag(h::RESULT_SUCCESS)?,
            message: f.body.clone(),
            connection_id: r.string(h::CONNECTION_ID)?,
            router_id: r.string(h::ID)?,
            version: r
                .string(h::HELLO_VERSION)?
                .map(|s| RouterVersion::parse(&s)),
            supports_bind_success: r.flag(h::SUPPORTS_BIND_SUCCESS)?,
            supports_posture_checks: r.flag(h::SUPPORTS_POSTURE_CHECKS)?,
            capabilities: r
                .bytes(h::ROUTER_CAPABILITIES)
                .map(RouterCapabilities::from_bytes),
            is_grouped: r.flag(h::IS_GROUPED)?,
            underlay_type: r.string(h::TYPE)?,
            group_secret: r.bytes(h::GROUP_SECRET),
            reject_class: r.u32(h::HELLO_REJECT_CLASS)?,
        })
    }
}

/// A generic channel Result (content type 2): success flag and message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChannelResult {
    /// Header 2.
    pub success: bool,
    /// Body.
    pub message: Bytes,
}

impl ChannelResult {
    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_bool(h::RESULT_SUCCESS, self.success);
        frame(ct::RESULT, sequence, hd, self.message.clone())
    }

    /// Parse a Result. A missing header 2 means failure.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::RESULT, "Result")?;
        Ok(Self {
            success: r.flag(h::RESULT_SUCCESS)?,
            message: f.body.clone(),
        })
    }
}

/// Latency probe (content type 3): header 128 carries an opaque value echoed by the reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LatencyProbe {
    /// Header 128 (Go puts a `u64` timestamp there).
    pub probe: Bytes,
}

impl LatencyProbe {
    /// A probe carrying `timestamp` as `u64` LE.
    pub fn from_timestamp(timestamp: u64) -> Self {
        Self {
            probe: Bytes::copy_from_slice(&timestamp.to_le_bytes()),
        }
    }

    /// The probe value as a `u64` LE timestamp, if it is 8 bytes.
    pub fn timestamp(&self) -> Option<u64> {
        <[u8; 8]>::try_from(self.probe.as_ref())
            .ok()
            .map(u64::from_le_bytes)
    }

    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_bytes(h::REFLECTED, self.probe.clone());
        frame(ct::LATENCY, sequence, hd, Bytes::new())
    }

    /// Parse a probe; a probe without header 128 is accepted with an empty value.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::LATENCY, "Latency")?;
        Ok(Self {
            probe: r.bytes(h::REFLECTED).unwrap_or_default(),
        })
    }

    /// The router's answer: a successful Result replying to `request` with header 128 copied.
    pub fn response(request: &Frame, sequence: i32) -> Frame {
        let mut out = ChannelResult {
            success: true,
            message: Bytes::new(),
        }
        .to_frame(sequence);
        out.reply_to(request);
        out
    }
}

/// A latency answer: a Result (2) or LatencyResponse (4) carrying the echoed header 128.
///
/// The two forms differ upstream. An edge router answers with a Result that *replies* to the
/// probe (ReplyFor, ResultSuccess, 128 copied: channel `latency.LatencyHandler`). Content type
/// 4 comes from channel `latency.Responder`, which is not a reply: it copies header 128 into a
/// fresh message with no other header, and the prober matches it by content type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LatencyResponse {
    /// Header 128 as echoed.
    pub probe: Bytes,
    /// Header 1 ReplyFor; [`NOT_A_REPLY`] (-1) for a content type 4 answer without it.
    pub reply_for: i32,
}

impl LatencyResponse {
    /// Parse a latency answer of content type 2 or 4. A Result (2) must carry ReplyFor, its
    /// only link to the probe; a LatencyResponse (4) may omit it ([`NOT_A_REPLY`]).
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let expected = if f.content_type == ct::LATENCY_RESPONSE {
            ct::LATENCY_RESPONSE
        } else {
            ct::RESULT
        };
        let r = Reader::new(f, expected, "latency response")?;
        let reply_for = f.reply_for().map_err(|e| r.bad(e))?;
        let reply_for = match (expected, reply_for) {
            (ct::LATENCY_RESPONSE, None) => NOT_A_REPLY,
            (_, reply_for) => r.required(h::REPLY_FOR, reply_for)?,
        };
        Ok(Self {
            probe: r.bytes(h::REFLECTED).unwrap_or_default(),
            reply_for,
        })
    }

    /// Build as a LatencyResponse (content type 4) the way channel `latency.Responder` does:
    /// header 128 only, plus ReplyFor when `reply_for` is not [`NOT_A_REPLY`].
    pub fn to_latency_response_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_bytes(h::REFLECTED, self.probe.clone());
        let mut f = frame(ct::LATENCY_RESPONSE, sequence, hd, Bytes::new());
        if self.reply_for != NOT_A_REPLY {
            f.set_reply_for(self.reply_for);
        }
        f
    }

    /// Build as a successful Result (the router's form).
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut f = ChannelResult {
            success: true,
            message: Bytes::new(),
        }
        .to_frame(sequence);
        f.headers.put_bytes(h::REFLECTED, self.probe.clone());
        f.set_reply_for(self.reply_for);
        f
    }
}

/// Connect (60783): dial a service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connect {
    /// Header 1000: SDK-chosen conn id.
    pub conn_id: u32,
    /// Body: Dial service-session token.
    pub token: Bytes,
    /// Header 1003: dialer public key (only for encrypted services).
    pub public_key: Option<PublicKey>,
    /// Header 1006: terminator instance id to address.
    pub terminator_identity: Option<String>,
    /// Header 1008: caller id.
    pub caller_id: Option<String>,
    /// Header 1011: application data for the host.
    pub app_data: Option<Bytes>,
    /// Header 1027: stickiness token.
    pub stickiness_token: Option<Bytes>,
    /// Header 1025: connection marker.
    pub connection_marker: Option<String>,
    /// Header 1028: SDK flow control requested (written only when `Some`).
    pub use_xgress_to_sdk: Option<bool>,
    /// Header 1009 as received (never written).
    pub crypto_method: CryptoMethod,
}

impl Connect {
    /// Build the frame (1009 is never written).
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        put_opt_key(&mut hd, &self.public_key);
        put_opt_string(&mut hd, h::TERMINATOR_IDENTITY, &self.terminator_identity);
        put_opt_string(&mut hd, h::CALLER_ID, &self.caller_id);
        put_opt_bytes(&mut hd, h::APP_DATA, &self.app_data);
        put_opt_bytes(&mut hd, h::STICKINESS_TOKEN, &self.stickiness_token);
        put_opt_string(&mut hd, h::CONNECTION_MARKER, &self.connection_marker);
        if let Some(x) = self.use_xgress_to_sdk {
            hd.put_bool(h::USE_XGRESS_TO_SDK, x);
        }
        frame(ct::CONNECT, sequence, hd, self.token.clone())
    }

    /// Parse a Connect. Header 1000 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::CONNECT, "Connect")?;
        Ok(Self {
            conn_id: r.conn_id()?,
            token: f.body.clone(),
            public_key: r.public_key()?,
            terminator_identity: r.string(h::TERMINATOR_IDENTITY)?,
            caller_id: r.string(h::CALLER_ID)?,
            app_data: r.bytes(h::APP_DATA),
            stickiness_token: r.bytes(h::STICKINESS_TOKEN),
            connection_marker: r.string(h::CONNECTION_MARKER)?,
            use_xgress_to_sdk: r.bool(h::USE_XGRESS_TO_SDK)?,
            crypto_method: CryptoMethod::from_headers(&f.headers),
        })
    }
}

/// StateConnected (60784): success reply to Connect, Bind, or a legacy DialSuccess.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateConnected {
    /// Header 1000.
    pub conn_id: u32,
    /// Header 1026: circuit id.
    pub circuit_id: Option<String>,
    /// Header 1012 (bool): router-provided conn ids confirmed.
    pub router_provided_conn_id: bool,
    /// Header 1003: host public key.
    pub public_key: Option<PublicKey>,
    /// Header 1027: stickiness token.
    pub stickiness_token: Option<Bytes>,
    /// Header 1028: SDK flow control accepted.
    pub use_xgress_to_sdk: bool,
    /// Header 1029: xgress controller id.
    pub xgress_ctrl_id: Option<String>,
    /// Header 1030: xgress address.
    pub xgress_address: Option<String>,
}

impl StateConnected {
    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        put_opt_string(&mut hd, h::CIRCUIT_ID, &self.circuit_id);
        put_true(
            &mut hd,
            h::ROUTER_PROVIDED_CONN_ID,
            self.router_provided_conn_id,
        );
        put_opt_key(&mut hd, &self.public_key);
        put_opt_bytes(&mut hd, h::STICKINESS_TOKEN, &self.stickiness_token);
        put_true(&mut hd, h::USE_XGRESS_TO_SDK, self.use_xgress_to_sdk);
        put_opt_string(&mut hd, h::XGRESS_CTRL_ID, &self.xgress_ctrl_id);
        put_opt_string(&mut hd, h::XGRESS_ADDRESS, &self.xgress_address);
        frame(ct::STATE_CONNECTED, sequence, hd, Bytes::new())
    }

    /// Parse. Header 1000 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::STATE_CONNECTED, "StateConnected")?;
        Ok(Self {
            conn_id: r.conn_id()?,
            circuit_id: r.string(h::CIRCUIT_ID)?,
            router_provided_conn_id: r.flag(h::ROUTER_PROVIDED_CONN_ID)?,
            public_key: r.public_key()?,
            stickiness_token: r.bytes(h::STICKINESS_TOKEN),
            use_xgress_to_sdk: r.flag(h::USE_XGRESS_TO_SDK)?,
            xgress_ctrl_id: r.string(h::XGRESS_CTRL_ID)?,
            xgress_address: r.string(h::XGRESS_ADDRESS)?,
        })
    }
}

/// StateClosed (60785): failure reply, or close of a conn / bind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateClosed {
    /// Header 1000.
    pub conn_id: u32,
    /// Body: reason text (empty when an SDK closes).
    pub reason: Bytes,
    /// Headers 1014 / 1033.
    pub error: ErrorDetails,
    /// Header 1026: circuit id.
    pub circuit_id: Option<String>,
}

impl StateClosed {
    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        self.error.put(&mut hd);
        put_opt_string(&mut hd, h::CIRCUIT_ID, &self.circuit_id);
        frame(ct::STATE_CLOSED, sequence, hd, self.reason.clone())
    }

    /// Parse. Header 1000 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::STATE_CLOSED, "StateClosed")?;
        Ok(Self {
            conn_id: r.conn_id()?,
            reason: f.body.clone(),
            error: r.error_details()?,
            circuit_id: r.string(h::CIRCUIT_ID)?,
        })
    }
}

/// Data (60786): payload of a virtual connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Data {
    /// Header 1000.
    pub conn_id: u32,
    /// Header 1010 (written only when non-zero); see [`super::consts::flags`].
    pub flags: u32,
    /// Header 128: trace UUID.
    pub uuid: Option<Bytes>,
    /// Body.
    pub payload: Bytes,
}

impl Data {
    /// Whether the FIN (half-close) flag is set.
    pub fn is_fin(&self) -> bool {
        self.flags & super::consts::flags::FIN != 0
    }

    /// Whether the body is a multipart message.
    pub fn is_multipart(&self) -> bool {
        self.flags & super::consts::flags::MULTIPART_MSG != 0
    }

    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        if self.flags != 0 {
            hd.put_u32(h::FLAGS, self.flags);
        }
        put_opt_bytes(&mut hd, h::UUID, &self.uuid);
        frame(ct::DATA, sequence, hd, self.payload.clone())
    }

    /// Parse. Header 1000 is required; 1001 `Seq` is ignored.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::DATA, "Data")?;
        Ok(Self {
            conn_id: r.conn_id()?,
            flags: r.u32(h::FLAGS)?.unwrap_or(0),
            uuid: r.bytes(h::UUID),
            payload: f.body.clone(),
        })
    }
}

/// Dial (60787): router to host, a new inbound connection on a bind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dial {
    /// Header 1000: the bind conn id.
    pub bind_conn_id: u32,
    /// Header 1012 (`u32`): router-provided id of the new conn.
    pub new_conn_id: Option<u32>,
    /// Body: the Bind session token the host used.
    pub token: Bytes,
    /// Header 1008: caller id (routers always send it, possibly empty).
    pub caller_id: Option<String>,
    /// Header 1026: circuit id.
    pub circuit_id: Option<String>,
    /// Header 1003: dialer public key.
    pub public_key: Option<PublicKey>,
    /// Header 1025: connection marker.
    pub connection_marker: Option<String>,
    /// Header 1011: application data.
    pub app_data: Option<Bytes>,
    /// Header 1034: dialer identity id.
    pub dialer_identity_id: Option<String>,
    /// Header 1035: dialer identity name.
    pub dialer_identity_name: Option<String>,
    /// Header 1009 as received (never written).
    pub crypto_method: CryptoMethod,
}

impl Dial {
    /// Build the frame (1009 is never written).
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.bind_conn_id);
        if let Some(id) = self.new_conn_id {
            hd.put_u32(h::ROUTER_PROVIDED_CONN_ID, id);
        }
        put_opt_string(&mut hd, h::CALLER_ID, &self.caller_id);
        put_opt_string(&mut hd, h::CIRCUIT_ID, &self.circuit_id);
        put_opt_key(&mut hd, &self.public_key);
        put_opt_string(&mut hd, h::CONNECTION_MARKER, &self.connection_marker);
        put_opt_bytes(&mut hd, h::APP_DATA, &self.app_data);
        put_opt_string(&mut hd, h::DIALER_IDENTITY_ID, &self.dialer_identity_id);
        put_opt_string(&mut hd, h::DIALER_IDENTITY_NAME, &self.dialer_identity_name);
        frame(ct::DIAL, sequence, hd, self.token.clone())
    }

    /// Parse. Header 1000 is required; 1012, when present, must be a 4-byte `u32`.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::DIAL, "Dial")?;
        Ok(Self {
            bind_conn_id: r.conn_id()?,
            new_conn_id: r.u32(h::ROUTER_PROVIDED_CONN_ID)?,
            token: f.body.clone(),
            caller_id: r.string(h::CALLER_ID)?,
            circuit_id: r.string(h::CIRCUIT_ID)?,
            public_key: r.public_key()?,
            connection_marker: r.string(h::CONNECTION_MARKER)?,
            app_data: r.bytes(h::APP_DATA),
            dialer_identity_id: r.string(h::DIALER_IDENTITY_ID)?,
            dialer_identity_name: r.string(h::DIALER_IDENTITY_NAME)?,
            crypto_method: CryptoMethod::from_headers(&f.headers),
        })
    }
}

/// DialSuccess (60788): host accepts a Dial (a reply to it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DialSuccess {
    /// Header 1000: the bind conn id.
    pub bind_conn_id: u32,
    /// Body (exactly 4 bytes `u32` LE): the new conn id.
    pub new_conn_id: u32,
    /// Header 1003: host public key for this connection.
    pub public_key: Option<PublicKey>,
}

impl DialSuccess {
    /// Build the frame; the caller adds ReplyFor = the Dial's sequence.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.bind_conn_id);
        put_opt_key(&mut hd, &self.public_key);
        frame(
            ct::DIAL_SUCCESS,
            sequence,
            hd,
            Bytes::copy_from_slice(&self.new_conn_id.to_le_bytes()),
        )
    }

    /// Parse. Header 1000 is required and the body must be exactly 4 bytes.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::DIAL_SUCCESS, "DialSuccess")?;
        let body = <[u8; 4]>::try_from(f.body.as_ref())
            .map_err(|_| EdgeError::BadDialSuccessBody { len: f.body.len() })?;
        Ok(Self {
            bind_conn_id: r.conn_id()?,
            new_conn_id: u32::from_le_bytes(body),
            public_key: r.public_key()?,
        })
    }
}

/// DialFailed (60789): host rejects a Dial (a reply to it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DialFailed {
    /// Header 1000: the bind conn id (C sends 0 after a crypto failure).
    pub bind_conn_id: u32,
    /// Body: reason.
    pub reason: Bytes,
}

impl DialFailed {
    /// Build the frame; the caller adds ReplyFor.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.bind_conn_id);
        frame(ct::DIAL_FAILED, sequence, hd, self.reason.clone())
    }

    /// Parse. Header 1000 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::DIAL_FAILED, "DialFailed")?;
        Ok(Self {
            bind_conn_id: r.conn_id()?,
            reason: f.body.clone(),
        })
    }
}

/// Bind (60790): host a service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bind {
    /// Header 1000: SDK-chosen bind conn id.
    pub conn_id: u32,
    /// Body: Bind service-session token.
    pub token: Bytes,
    /// Header 1004: cost.
    pub cost: Option<u16>,
    /// Header 1005: precedence.
    pub precedence: Option<Precedence>,
    /// Header 1006: terminator instance id.
    pub terminator_identity: Option<String>,
    /// Header 1007: terminator identity secret.
    pub terminator_identity_secret: Option<Bytes>,
    /// Header 1021: listener id.
    pub listener_id: Option<String>,
    /// Header 1012 (bool): ask the router to provide conn ids in Dial.
    pub router_provided_conn_id: bool,
    /// Header 1023: the host answers ConnInspectRequest.
    pub supports_inspect: bool,
    /// Header 1024: the host wants BindSuccess.
    pub supports_bind_success: bool,
    /// Header 1003: host public key (only for encrypted services).
    pub public_key: Option<PublicKey>,
    /// Header 1028: SDK flow control requested (written only when `Some`).
    pub use_xgress_to_sdk: Option<bool>,
    /// Header 1009 as received (never written).
    pub crypto_method: CryptoMethod,
}

impl Bind {
    /// Build the frame (1009 is never written).
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        put_true(
            &mut hd,
            h::ROUTER_PROVIDED_CONN_ID,
            self.router_provided_conn_id,
        );
        put_true(&mut hd, h::SUPPORTS_INSPECT, self.supports_inspect);
        put_true(
            &mut hd,
            h::SUPPORTS_BIND_SUCCESS,
            self.supports_bind_success,
        );
        put_opt_key(&mut hd, &self.public_key);
        if let Some(c) = self.cost {
            hd.put_u16(h::COST, c);
        }
        if let Some(p) = self.precedence {
            hd.put_byte(h::PRECEDENCE, p.as_u8());
        }
        put_opt_string(&mut hd, h::TERMINATOR_IDENTITY, &self.terminator_identity);
        put_opt_bytes(
            &mut hd,
            h::TERMINATOR_IDENTITY_SECRET,
            &self.terminator_identity_secret,
        );
        put_opt_string(&mut hd, h::LISTENER_ID, &self.listener_id);
        if let Some(x) = self.use_xgress_to_sdk {
            hd.put_bool(h::USE_XGRESS_TO_SDK, x);
        }
        frame(ct::BIND, sequence, hd, self.token.clone())
    }

    /// Parse. Header 1000 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::BIND, "Bind")?;
        Ok(Self {
            conn_id: r.conn_id()?,
            token: f.body.clone(),
            cost: r.u16(h::COST)?,
            precedence: r.precedence()?,
            terminator_identity: r.string(h::TERMINATOR_IDENTITY)?,
            terminator_identity_secret: r.bytes(h::TERMINATOR_IDENTITY_SECRET),
            listener_id: r.string(h::LISTENER_ID)?,
            router_provided_conn_id: r.flag(h::ROUTER_PROVIDED_CONN_ID)?,
            supports_inspect: r.flag(h::SUPPORTS_INSPECT)?,
            supports_bind_success: r.flag(h::SUPPORTS_BIND_SUCCESS)?,
            public_key: r.public_key()?,
            use_xgress_to_sdk: r.bool(h::USE_XGRESS_TO_SDK)?,
            crypto_method: CryptoMethod::from_headers(&f.headers),
        })
    }
}

/// Unbind (60791): stop hosting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Unbind {
    /// Header 1000: the bind conn id.
    pub conn_id: u32,
    /// Body: Bind session token.
    pub token: Bytes,
    /// Header 1021: listener id.
    pub listener_id: Option<String>,
}

impl Unbind {
    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        put_opt_string(&mut hd, h::LISTENER_ID, &self.listener_id);
        frame(ct::UNBIND, sequence, hd, self.token.clone())
    }

    /// Parse. Header 1000 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::UNBIND, "Unbind")?;
        Ok(Self {
            conn_id: r.conn_id()?,
            token: f.body.clone(),
            listener_id: r.string(h::LISTENER_ID)?,
        })
    }
}

/// UpdateBind (60794): change cost / precedence of a terminator.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateBind {
    /// Header 1000: the bind conn id.
    pub conn_id: u32,
    /// Body: Bind session token.
    pub token: Bytes,
    /// Header 1004.
    pub cost: Option<u16>,
    /// Header 1005.
    pub precedence: Option<Precedence>,
}

impl UpdateBind {
    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        if let Some(c) = self.cost {
            hd.put_u16(h::COST, c);
        }
        if let Some(p) = self.precedence {
            hd.put_byte(h::PRECEDENCE, p.as_u8());
        }
        frame(ct::UPDATE_BIND, sequence, hd, self.token.clone())
    }

    /// Parse. Header 1000 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::UPDATE_BIND, "UpdateBind")?;
        Ok(Self {
            conn_id: r.conn_id()?,
            token: f.body.clone(),
            cost: r.u16(h::COST)?,
            precedence: r.precedence()?,
        })
    }
}

/// HealthEvent (60795): terminator health pass / fail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthEvent {
    /// Header 1000: the bind conn id.
    pub conn_id: u32,
    /// Body: Bind session token.
    pub token: Bytes,
    /// Header 1013.
    pub healthy: bool,
}

impl HealthEvent {
    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        hd.put_bool(h::HEALTH_STATUS, self.healthy);
        frame(ct::HEALTH_EVENT, sequence, hd, self.token.clone())
    }

    /// Parse. Headers 1000 and 1013 are required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::HEALTH_EVENT, "HealthEvent")?;
        let healthy = r.bool(h::HEALTH_STATUS)?;
        Ok(Self {
            conn_id: r.conn_id()?,
            token: f.body.clone(),
            healthy: r.required(h::HEALTH_STATUS, healthy)?,
        })
    }
}

/// BindSuccess (60800): router, the terminator exists at the controller.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BindSuccess {
    /// Header 1000: the bind conn id.
    pub conn_id: u32,
}

impl BindSuccess {
    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        frame(ct::BIND_SUCCESS, sequence, hd, Bytes::new())
    }

    /// Parse. Header 1000 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::BIND_SUCCESS, "BindSuccess")?;
        Ok(Self {
            conn_id: r.conn_id()?,
        })
    }
}

/// ConnInspectRequest (60798): router asks what a conn id is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnInspectRequest {
    /// Header 1000.
    pub conn_id: u32,
}

impl ConnInspectRequest {
    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        frame(ct::CONN_INSPECT_REQUEST, sequence, hd, Bytes::new())
    }

    /// Parse. Header 1000 is required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::CONN_INSPECT_REQUEST, "ConnInspectRequest")?;
        Ok(Self {
            conn_id: r.conn_id()?,
        })
    }
}

/// ConnInspectResponse (60799): the SDK's answer (a reply to the request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInspectResponse {
    /// Header 1000.
    pub conn_id: u32,
    /// Header 1022: must be [`ConnType::Bind`] for a live bind or the router drops it.
    pub conn_type: ConnType,
    /// Body: free text / JSON.
    pub details: Bytes,
}

impl ConnInspectResponse {
    /// Build the frame; the caller adds ReplyFor.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        hd.put_u32(h::CONN_ID, self.conn_id);
        hd.put_byte(h::CONN_TYPE, self.conn_type.as_u8());
        frame(
            ct::CONN_INSPECT_RESPONSE,
            sequence,
            hd,
            self.details.clone(),
        )
    }

    /// Parse. Headers 1000 and 1022 are required.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::CONN_INSPECT_RESPONSE, "ConnInspectResponse")?;
        let raw = f.headers.get_byte(h::CONN_TYPE).map_err(|e| r.bad(e))?;
        let raw = r.required(h::CONN_TYPE, raw)?;
        let conn_type = ConnType::from_u8(raw).ok_or(EdgeError::UnknownEnumValue {
            message: r.message,
            id: h::CONN_TYPE,
            value: raw,
        })?;
        Ok(Self {
            conn_id: r.conn_id()?,
            conn_type,
            details: f.body.clone(),
        })
    }
}

/// UpdateToken (60803): SDK sends a fresh API-session JWT.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateToken {
    /// Body: the new token.
    pub token: Bytes,
}

impl UpdateToken {
    /// Build the frame.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        frame(
            ct::UPDATE_TOKEN,
            sequence,
            Headers::new(),
            self.token.clone(),
        )
    }

    /// Parse.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        Reader::new(f, ct::UPDATE_TOKEN, "UpdateToken")?;
        Ok(Self {
            token: f.body.clone(),
        })
    }
}

/// UpdateTokenSuccess (60801): router accepted the token (a reply).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateTokenSuccess;

impl UpdateTokenSuccess {
    /// Build the frame; the caller adds ReplyFor.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        frame(
            ct::UPDATE_TOKEN_SUCCESS,
            sequence,
            Headers::new(),
            Bytes::new(),
        )
    }

    /// Parse.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        Reader::new(f, ct::UPDATE_TOKEN_SUCCESS, "UpdateTokenSuccess")?;
        Ok(Self)
    }
}

/// UpdateTokenFailure (60802): router rejected the token and will close the channel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateTokenFailure {
    /// Body: reason.
    pub reason: Bytes,
    /// Headers 1014 / 1033.
    pub error: ErrorDetails,
}

impl UpdateTokenFailure {
    /// Build the frame; the caller adds ReplyFor.
    pub fn to_frame(&self, sequence: i32) -> Frame {
        let mut hd = Headers::new();
        self.error.put(&mut hd);
        frame(ct::UPDATE_TOKEN_FAILURE, sequence, hd, self.reason.clone())
    }

    /// Parse.
    pub fn from_frame(f: &Frame) -> Result<Self, EdgeError> {
        let r = Reader::new(f, ct::UPDATE_TOKEN_FAILURE, "UpdateTokenFailure")?;
        Ok(Self {
            reason: f.body.clone(),
            error: r.error_details()?,
        })
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
