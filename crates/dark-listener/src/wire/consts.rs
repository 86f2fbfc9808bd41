//! Every number of the channel and edge protocols, by name.
//!
//! This module owns the numeric vocabulary of the wire: content types, header ids, the
//! edge `Flags` bits, error codes, retry hints, connection types, terminator precedence,
//! router capability bits, the hello size limits and the connection-id ranges. Values that
//! this crate never acts on are listed too, so that logs can name whatever a peer sends.
//!
//! | module / type | what it numbers | reference |
//! | --- | --- | --- |
//! | [`content_type`] | the `i32` content type in every frame header | ziti-edge-protocol.md §1.3, §2.1 |
//! | [`header`] | the `i32` header ids of the header section | §1.3, §2.2 |
//! | [`flags`] | bits of header 1010 `Flags` in `Data` | §2.2 |
//! | [`xgress_flags`] | bits of xgress header 2258 (SDK flow control) | §6.1 |
//! | [`ErrorCode`] | header 1014 and `StructuredError.code` | §2.2 |
//! | [`RetryHint`] | `StructuredError.retryHint` | §2.2 |
//! | [`ConnType`] | header 1022 in `ConnInspectResponse` | §2.3 |
//! | [`Precedence`] | header 1005 in `Bind`/`UpdateBind` | §5 |
//! | [`capability`] | bit numbers of header 1039 `RouterCapabilities` | §1.5 |
//! | [`hello_reject_class`] | header 13 in a failed hello result | §1.3 |
//! | constants below | hello limits, sequence and connection-id ranges | §1.4, §1.5, §3.1 |

use std::fmt;

/// The magic that opens every channel v2 frame.
pub const MAGIC_V2: [u8; 4] = [0x03, 0x06, 0x09, 0x0C];
/// The magic of the "unknown version" response a listener writes after a bad first magic.
pub const MAGIC_UNKNOWN_VERSION: [u8; 4] = [0x03, 0x06, 0x09, 0x0A];
/// The test-only "v3" magic of the Go channel library; no production peer speaks it.
pub const MAGIC_V3_TEST_ONLY: [u8; 4] = [0x03, 0x06, 0x09, 0x0D];
/// Size of the fixed frame header: magic, content type, sequence, header length, body length.
pub const FRAME_HEADER_LEN: usize = 20;
/// Size of one header entry's fixed part: key `i32` + length `u32`.
pub const HEADER_ENTRY_PREFIX_LEN: usize = 8;

/// Largest header section a listener accepts in the hello (Go `readHelloV2`).
pub const HELLO_MAX_HEADER_BYTES: u32 = 16384;
/// Largest body a listener accepts in the hello (Go `readHelloV2`).
pub const HELLO_MAX_BODY_BYTES: u32 = 4192;
/// Sequence number the Go dialer forces on its hello.
pub const HELLO_SEQUENCE: i32 = -1;
/// First sequence number a side assigns to its outgoing messages (both Go and C).
pub const FIRST_SEQUENCE: i32 = 1;
/// Value Go reports for "ReplyFor" when the header is absent.
pub const NOT_A_REPLY: i32 = -1;

/// Smallest connection id an SDK may choose.
pub const SDK_CONN_ID_MIN: u32 = 1;
/// Largest connection id an SDK may choose (Go hands out ids below `u32::MAX / 2 - 1`).
pub const SDK_CONN_ID_MAX: u32 = u32::MAX / 2 - 2;
/// First connection id a router assigns to accepted (hosted) connections: 2^31.
pub const ROUTER_CONN_ID_START: u32 = 1 << 31;

/// Most entries in an encoded string slice or map header value.
pub const MAX_COLLECTION_ENTRIES: u32 = 128;
/// Most bytes in one string, key or value inside a string slice or map header value.
pub const MAX_COLLECTION_ENTRY_BYTES: u32 = 8192;

/// Length of an X25519 public key in header 1003.
pub const PUBLIC_KEY_LEN: usize = 32;

/// Content types: the `i32` at offset 4 of every frame.
///
/// Channel-level types are 0..=6; edge types start at 60783; SDK flow control uses
/// 1100..=1103; posture and service-change pushes use 10800.. and 108001...
pub mod content_type {
    /// First message of the dialing side.
    pub const HELLO: i32 = 0;
    /// Channel ping (controller channels only).
    pub const PING: i32 = 1;
    /// Generic reply: hello acknowledgement, latency reply.
    pub const RESULT: i32 = 2;
    /// Latency probe request.
    pub const LATENCY: i32 = 3;
    /// Latency probe response (not sent by edge routers, which answer with [`RESULT`]).
    pub const LATENCY_RESPONSE: i32 = 4;
    /// Standalone heartbeat.
    pub const HEARTBEAT: i32 = 5;
    /// Unframed raw payload (router links only).
    pub const RAW: i32 = 6;

    /// SDK flow control: xgress payload.
    pub const XG_PAYLOAD: i32 = 1100;
    /// SDK flow control: xgress acknowledgement.
    pub const XG_ACKNOWLEDGEMENT: i32 = 1101;
    /// SDK flow control: xgress control.
    pub const XG_CONTROL: i32 = 1102;
    /// SDK flow control: xgress close (SDK to router).
    pub const XG_CLOSE: i32 = 1103;

    /// Posture responses (protobuf), SDK to router.
    pub const POSTURE_RESPONSE: i32 = 10800;
    /// Subscribe to service updates (main / 2.1).
    pub const SUBSCRIBE_TO_SERVICE_UPDATES: i32 = 10900;
    /// Unsubscribe from service updates (main / 2.1).
    pub const UNSUBSCRIBE_FROM_SERVICE_UPDATES: i32 = 10901;
    /// Ask the router to resync posture state (main / 2.1).
    pub const RESYNC_POSTURE_STATE: i32 = 10902;
    /// Service change set push, router to SDK (main / 2.1).
    pub const SERVICE_CHANGE_SET: i32 = 10903;
    /// Posture state change push, router to SDK (main / 2.1).
    pub const POSTURE_STATE_CHANGE: i32 = 10904;
    /// Service posture state request (defined, unused).
    pub const SERVICE_POSTURE_STATE_REQUEST: i32 = 108001;
    /// Service posture state response (defined, unused).
    pub const SERVICE_POSTURE_STATE_RESPONSE: i32 = 108002;

    /// Dial a service with a session token.
    pub const CONNECT: i32 = 60783;
    /// Success reply to Connect / Bind (and to DialSuccess in legacy hosting).
    pub const STATE_CONNECTED: i32 = 60784;
    /// Failure reply, or close of a connection or bind.
    pub const STATE_CLOSED: i32 = 60785;
    /// Payload of a virtual connection.
    pub const DATA: i32 = 60786;
    /// Router to hosting SDK: a new inbound connection.
    pub const DIAL: i32 = 60787;
    /// Hosting SDK accepts a Dial.
    pub const DIAL_SUCCESS: i32 = 60788;
    /// Hosting SDK rejects a Dial.
    pub const DIAL_FAILED: i32 = 60789;
    /// Host a service (create a terminator).
    pub const BIND: i32 = 60790;
    /// Stop hosting.
    pub const UNBIND: i32 = 60791;
    /// Defined, unused.
    pub const STATE_SESSION_ENDED: i32 = 60792;
    /// Defined, unused.
    pub const PROBE: i32 = 60793;
    /// Change terminator cost / precedence.
    pub const UPDATE_BIND: i32 = 60794;
    /// Terminator health pass / fail.
    pub const HEALTH_EVENT: i32 = 60795;
    /// Trace a route over a connection.
    pub const TRACE_ROUTE: i32 = 60796;
    /// Trace route answer.
    pub const TRACE_ROUTE_RESPONSE: i32 = 60797;
    /// Router asks what a connection id is.
    pub const CONN_INSPECT_REQUEST: i32 = 60798;
    /// SDK answers a connection inspect.
    pub const CONN_INSPECT_RESPONSE: i32 = 60799;
    /// Router: terminator established at the controller.
    pub const BIND_SUCCESS: i32 = 60800;
    /// Router accepted an UpdateToken.
    pub const UPDATE_TOKEN_SUCCESS: i32 = 60801;
    /// Router rejected an UpdateToken (and closes the channel).
    pub const UPDATE_TOKEN_FAILURE: i32 = 60802;
    /// SDK sends a new API session JWT.
    pub const UPDATE_TOKEN: i32 = 60803;
    /// Operator inspect request (JSON).
    pub const INSPECT_REQUEST: i32 = 60804;
    /// Operator inspect response.
    pub const INSPECT_RESPONSE: i32 = 60805;
    /// Sessionless dial (main / 2.1, OIDC only).
    pub const CONNECT_V2: i32 = 60806;
    /// Defined, unused.
    pub const ROUTE_CIRCUIT: i32 = 60807;

    /// The protocol name of a content type, for logs; `None` if unknown.
    pub fn name(content_type: i32) -> Option<&'static str> {
        Some(match content_type {
            HELLO => "Hello",
            PING => "Ping",
            RESULT => "Result",
            LATENCY => "Latency",
            LATENCY_RESPONSE => "LatencyResponse",
            HEARTBEAT => "Heartbeat",
            RAW => "Raw",
            XG_PAYLOAD => "XgPayload",
            XG_ACKNOWLEDGEMENT => "XgAcknowledgement",
            XG_CONTROL => "XgControl",
            XG_CLOSE => "XgClose",
            POSTURE_RESPONSE => "PostureResponse",
            SUBSCRIBE_TO_SERVICE_UPDATES => "SubscribeToServiceUpdates",
            UNSUBSCRIBE_FROM_SERVICE_UPDATES => "UnsubscribeFromServiceUpdates",
            RESYNC_POSTURE_STATE => "ResyncPostureState",
            SERVICE_CHANGE_SET => "ServiceChangeSet",
            POSTURE_STATE_CHANGE => "PostureStateChange",
            SERVICE_POSTURE_STATE_REQUEST => "ServicePostureStateRequest",
            SERVICE_POSTURE_STATE_RESPONSE => "ServicePostureStateResponse",
            CONNECT => "Connect",
            STATE_CONNECTED => "StateConnected",
            STATE_CLOSED => "StateClosed",
            DATA => "Data",
            DIAL => "Dial",
            DIAL_SUCCESS => "DialSuccess",
            DIAL_FAILED => "DialFailed",
            BIND => "Bind",
            UNBIND => "Unbind",
            STATE_SESSION_ENDED => "StateSessionEnded",
            PROBE => "Probe",
            UPDATE_BIND => "UpdateBind",
            HEALTH_EVENT => "HealthEvent",
            TRACE_ROUTE => "TraceRoute",
            TRACE_ROUTE_RESPONSE => "TraceRouteResponse",
            CONN_INSPECT_REQUEST => "ConnInspectRequest",
            CONN_INSPECT_RESPONSE => "ConnInspectResponse",
            BIND_SUCCESS => "BindSuccess",
            UPDATE_TOKEN_SUCCESS => "UpdateTokenSuccess",
            UPDATE_TOKEN_FAILURE => "UpdateTokenFailure",
            UPDATE_TOKEN => "UpdateToken",
            INSPECT_REQUEST => "InspectRequest",
            INSPECT_RESPONSE => "InspectResponse",
            CONNECT_V2 => "ConnectV2",
            ROUTE_CIRCUIT => "RouteCircuit",
            _ => return None,
        })
    }
}

/// Header ids: the `i32` key of each header entry.
///
/// Channel-level ids are 0..=13 and 128; edge ids are 1000..=1040; SDK flow control (xgress)
/// uses 2256..=2260 and application headers from 2000.
pub mod header {
    /// Logical channel id (string); the router returns one in the hello reply.
    pub const CONNECTION_ID: i32 = 0;
    /// Sequence of the request this message answers (`i32`).
    pub const REPLY_FOR: i32 = 1;
    /// Result success flag (bool).
    pub const RESULT_SUCCESS: i32 = 2;
    /// Router-link hello advertisements.
    pub const HELLO_ROUTER_ADVERTISEMENTS: i32 = 3;
    /// Router version `version|revision|buildDate|os|arch` (string).
    pub const HELLO_VERSION: i32 = 4;
    /// Piggy-backed heartbeat request (`u64` unix nanos).
    pub const HEARTBEAT: i32 = 5;
    /// Piggy-backed heartbeat response (`u64`).
    pub const HEARTBEAT_RESPONSE: i32 = 6;
    /// Underlay type of a grouped channel (string).
    pub const TYPE: i32 = 7;
    /// Listener identity token, i.e. the router id (string).
    pub const ID: i32 = 8;
    /// Multi-underlay request / confirmation (bool).
    pub const IS_GROUPED: i32 = 9;
    /// Multi-underlay secret (16-byte UUID).
    pub const GROUP_SECRET: i32 = 10;
    /// First underlay of a group (bool).
    pub const IS_FIRST_GROUP_CONNECTION: i32 = 11;
    /// Underlay type (defined).
    pub const UNDERLAY_TYPE: i32 = 12;
    /// Hello rejection class (`u32`), see [`super::hello_reject_class`].
    pub const HELLO_REJECT_CLASS: i32 = 13;
    /// Reflected header: edge trace UUID, latency probe timestamp. Copied into replies.
    pub const REFLECTED: i32 = 128;
    /// Edge name of header 128: message trace UUID.
    pub const UUID: i32 = 128;

    /// Virtual connection id (`u32`).
    pub const CONN_ID: i32 = 1000;
    /// Edge-level sequence (`u32`), informational only.
    pub const SEQ: i32 = 1001;
    /// API session token (string) in the hello.
    pub const SESSION_TOKEN: i32 = 1002;
    /// X25519 public key (32 bytes).
    pub const PUBLIC_KEY: i32 = 1003;
    /// Terminator cost (`u16`).
    pub const COST: i32 = 1004;
    /// Terminator precedence (byte).
    pub const PRECEDENCE: i32 = 1005;
    /// Addressable terminator instance id (string).
    pub const TERMINATOR_IDENTITY: i32 = 1006;
    /// Terminator identity secret (bytes).
    pub const TERMINATOR_IDENTITY_SECRET: i32 = 1007;
    /// Dialer's caller id (string).
    pub const CALLER_ID: i32 = 1008;
    /// Crypto method; Go writes a byte, C a string. Never send it.
    pub const CRYPTO_METHOD: i32 = 1009;
    /// Data flags (`u32`), see [`super::flags`].
    pub const FLAGS: i32 = 1010;
    /// Application data forwarded from dialer to host (bytes).
    pub const APP_DATA: i32 = 1011;
    /// Bool in Bind / StateConnected; `u32` new conn id in Dial.
    pub const ROUTER_PROVIDED_CONN_ID: i32 = 1012;
    /// Health status (bool) in HealthEvent.
    pub const HEALTH_STATUS: i32 = 1013;
    /// Error code (`u32`), see [`super::ErrorCode`].
    pub const ERROR_CODE: i32 = 1014;
    /// Trace route timestamp (`u64`).
    pub const TIMESTAMP: i32 = 1015;
    /// Trace route hop count (`u32`).
    pub const TRACE_HOP_COUNT: i32 = 1016;
    /// Trace route hop type (string).
    pub const TRACE_HOP_TYPE: i32 = 1017;
    /// Trace route hop id (string).
    pub const TRACE_HOP_ID: i32 = 1018;
    /// Trace route source request id (`u32`).
    pub const TRACE_SOURCE_REQUEST_ID: i32 = 1019;
    /// Trace route error (string).
    pub const TRACE_ERROR: i32 = 1020;
    /// Stable id of an SDK listener (string).
    pub const LISTENER_ID: i32 = 1021;
    /// Connection type (byte), see [`super::ConnType`].
    pub const CONN_TYPE: i32 = 1022;
    /// Host answers ConnInspectRequest (bool).
    pub const SUPPORTS_INSPECT: i32 = 1023;
    /// Host wants / router sends BindSuccess (bool).
    pub const SUPPORTS_BIND_SUCCESS: i32 = 1024;
    /// Per-connection trace marker (string).
    pub const CONNECTION_MARKER: i32 = 1025;
    /// Fabric circuit id (string).
    pub const CIRCUIT_ID: i32 = 1026;
    /// Smart-routing stickiness token (bytes).
    pub const STICKINESS_TOKEN: i32 = 1027;
    /// SDK flow control requested / accepted (bool).
    pub const USE_XGRESS_TO_SDK: i32 = 1028;
    /// Controller id for SDK xgress (string).
    pub const XGRESS_CTRL_ID: i32 = 1029;
    /// Xgress address (string).
    pub const XGRESS_ADDRESS: i32 = 1030;
    /// Inspect requested values (string slice).
    pub const INSPECT_REQUESTED_VALUES: i32 = 1031;
    /// Router supports posture checks (bool, hello reply).
    pub const SUPPORTS_POSTURE_CHECKS: i32 = 1032;
    /// Structured error (JSON string).
    pub const STRUCTURED_ERROR: i32 = 1033;
    /// Dialer identity id, added by the router to Dial (string).
    pub const DIALER_IDENTITY_ID: i32 = 1034;
    /// Dialer identity name, added by the router to Dial (string).
    pub const DIALER_IDENTITY_NAME: i32 = 1035;
    /// Service id or name in ConnectV2 (string).
    pub const SERVICE_ID: i32 = 1036;
    /// Whether 1036 is an id (0) or a name (1) (byte).
    pub const SERVICE_IDENTIFIER_TYPE: i32 = 1037;
    /// Connect request id (defined).
    pub const CONNECT_REQUEST_ID: i32 = 1038;
    /// Router capabilities (big-endian bitmask), see [`super::capability`].
    pub const ROUTER_CAPABILITIES: i32 = 1039;
    /// Service subscription index (reserved).
    pub const SERVICE_SUBSCRIPTION_INDEX: i32 = 1040;

    /// Xgress application headers start here (`2000 + k`).
    pub const XG_APP_HEADERS_BASE: i32 = 2000;
    /// Xgress circuit id (string).
    pub const XG_CIRCUIT_ID: i32 = 2256;
    /// Xgress sequence (`u64` holding an `i32`).
    pub const XG_SEQUENCE: i32 = 2257;
    /// Xgress flags (`u32`), see [`super::xgress_flags`].
    pub const XG_FLAGS: i32 = 2258;
    /// Xgress receive buffer size (`u32`).
    pub const XG_RECV_BUFFER_SIZE: i32 = 2259;
    /// Xgress round-trip time stamp (`u16`).
    pub const XG_RTT: i32 = 2260;

    /// The protocol name of a header id, for logs and error messages.
    pub fn name(id: i32) -> &'static str {
        match id {
            CONNECTION_ID => "ConnectionId",
            REPLY_FOR => "ReplyFor",
            RESULT_SUCCESS => "ResultSuccess",
            HELLO_ROUTER_ADVERTISEMENTS => "HelloRouterAdvertisements",
            HELLO_VERSION => "HelloVersion",
            HEARTBEAT => "Heartbeat",
            HEARTBEAT_RESPONSE => "HeartbeatResponse",
            TYPE => "Type",
            ID => "Id",
            IS_GROUPED => "IsGrouped",
            GROUP_SECRET => "GroupSecret",
            IS_FIRST_GROUP_CONNECTION => "IsFirstGroupConnection",
            UNDERLAY_TYPE => "UnderlayType",
            HELLO_REJECT_CLASS => "HelloRejectClass",
            REFLECTED => "UUID/Reflected",
            CONN_ID => "ConnId",
            SEQ => "Seq",
            SESSION_TOKEN => "SessionToken",
            PUBLIC_KEY => "PublicKey",
            COST => "Cost",
            PRECEDENCE => "Precedence",
            TERMINATOR_IDENTITY => "TerminatorIdentity",
            TERMINATOR_IDENTITY_SECRET => "TerminatorIdentitySecret",
            CALLER_ID => "CallerId",
            CRYPTO_METHOD => "CryptoMethod",
            FLAGS => "Flags",
            APP_DATA => "AppData",
            ROUTER_PROVIDED_CONN_ID => "RouterProvidedConnId",
            HEALTH_STATUS => "HealthStatus",
            ERROR_CODE => "ErrorCode",
            TIMESTAMP => "Timestamp",
            TRACE_HOP_COUNT => "TraceHopCount",
            TRACE_HOP_TYPE => "TraceHopType",
            TRACE_HOP_ID => "TraceHopId",
            TRACE_SOURCE_REQUEST_ID => "TraceSourceRequestId",
            TRACE_ERROR => "TraceError",
            LISTENER_ID => "ListenerId",
            CONN_TYPE => "ConnType",
            SUPPORTS_INSPECT => "SupportsInspect",
            SUPPORTS_BIND_SUCCESS => "SupportsBindSuccess",
            CONNECTION_MARKER => "ConnectionMarker",
            CIRCUIT_ID => "CircuitId",
            STICKINESS_TOKEN => "StickinessToken",
            USE_XGRESS_TO_SDK => "UseXgressToSdk",
            XGRESS_CTRL_ID => "XgressCtrlId",
            XGRESS_ADDRESS => "XgressAddress",
            INSPECT_REQUESTED_VALUES => "InspectRequestedValues",
            SUPPORTS_POSTURE_CHECKS => "SupportsPostureChecks",
            STRUCTURED_ERROR => "StructuredError",
            DIALER_IDENTITY_ID => "DialerIdentityId",
            DIALER_IDENTITY_NAME => "DialerIdentityName",
            SERVICE_ID => "ServiceId",
            SERVICE_IDENTIFIER_TYPE => "ServiceIdentifierType",
            CONNECT_REQUEST_ID => "ConnectRequestId",
            ROUTER_CAPABILITIES => "RouterCapabilities",
            SERVICE_SUBSCRIPTION_INDEX => "ServiceSubscriptionIndex",
            XG_CIRCUIT_ID => "XgCircuitId",
            XG_SEQUENCE => "XgSequence",
            XG_FLAGS => "XgFlags",
            XG_RECV_BUFFER_SIZE => "XgRecvBufferSize",
            XG_RTT => "XgRtt",
            _ => "unknown",
        }
    }
}

/// Bits of header 1010 `Flags` on `Data` messages.
pub mod flags {
    /// Half-close: the sender writes no more data. Normally an empty, unencrypted body.
    pub const FIN: u32 = 1;
    /// The message carries a trace UUID.
    pub const TRACE_UUID: u32 = 2;
    /// Multipart (legacy name).
    pub const MULTIPART: u32 = 4;
    /// Stream marker.
    pub const STREAM: u32 = 8;
    /// The (decrypted) body is a multipart message.
    pub const MULTIPART_MSG: u32 = 16;
}

/// Bits of xgress header 2258 (SDK flow control, not implemented here).
pub mod xgress_flags {
    /// Circuit end.
    pub const CIRCUIT_END: u32 = 1;
    /// Originator is the terminator side.
    pub const ORIGINATOR_TERMINATOR: u32 = 2;
    /// Circuit start.
    pub const CIRCUIT_START: u32 = 4;
    /// Chunk.
    pub const CHUNK: u32 = 8;
    /// Retransmission.
    pub const RETRANSMIT: u32 = 16;
    /// End of file.
    pub const EOF: u32 = 32;
    /// Write failed.
    pub const WRITE_FAILED: u32 = 64;
}

/// Bit numbers of header 1039 `RouterCapabilities` (a big-endian bitmask).
pub mod capability {
    /// Multi-underlay channels.
    pub const MULTI_CHANNEL: u32 = 1;
    /// Sessionless dial (ConnectV2).
    pub const CONNECT_V2: u32 = 2;
    /// Service subscriptions.
    pub const SERVICE_SUBSCRIPTIONS: u32 = 4;
    /// Posture checks.
    pub const POSTURE_CHECKS: u32 = 5;
    /// BindSuccess.
    pub const BIND_SUCCESS: u32 = 6;
    /// Router data model (control plane only; set by current routers).
    pub const ROUTER_DATA_MODEL: u32 = 62;
}

/// Values of header 13 in a rejected hello.
pub mod hello_reject_class {
    /// The listener is busy.
    pub const BUSY: u32 = 1;
    /// The dialer is not permitted.
    pub const NOT_PERMITTED: u32 = 2;
}

/// Values of header 1009 as the Go SDK writes them (a byte). The C SDK writes strings.
pub mod crypto_method {
    /// libsodium (Go byte form).
    pub const LIBSODIUM_BYTE: u8 = 0;
    /// SSL (Go byte form, unsupported here).
    pub const SSL_BYTE: u8 = 1;
    /// libsodium (C string form).
    pub const LIBSODIUM_STRING: &str = "libsodium";
}

/// Error codes of header 1014 and of `StructuredError.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0: no error.
    Ok,
    /// 1: internal error.
    Internal,
    /// 2: invalid API session.
    InvalidApiSession,
    /// 3: invalid service session.
    InvalidSession,
    /// 4: wrong session type.
    WrongSessionType,
    /// 5: edge router not valid for the session.
    InvalidEdgeRouterForSession,
    /// 6: invalid service.
    InvalidService,
    /// 7: tunneling not enabled.
    TunnelingNotEnabled,
    /// 8: invalid terminator.
    InvalidTerminator,
    /// 9: invalid precedence.
    InvalidPrecedence,
    /// 10: invalid cost.
    InvalidCost,
    /// 11: encryption required but a public key is missing.
    EncryptionDataMissing,
    /// 12: invalid API session type.
    InvalidApiSessionType,
    /// 13: invalid terminator instance id.
    InvalidInstanceId,
    /// 14: access denied.
    AccessDenied,
    /// 15: posture check failed.
    PostureCheckFailed,
    /// Any value this crate does not know.
    Other(u32),
}

impl ErrorCode {
    /// The code for a wire value.
    pub fn from_u32(value: u32) -> Self {
        match value {
            0 => Self::Ok,
            1 => Self::Internal,
            2 => Self::InvalidApiSession,
            3 => Self::InvalidSession,
            4 => Self::WrongSessionType,
            5 => Self::InvalidEdgeRouterForSession,
            6 => Self::InvalidService,
            7 => Self::TunnelingNotEnabled,
            8 => Self::InvalidTerminator,
            9 => Self::InvalidPrecedence,
            10 => Self::InvalidCost,
            11 => Self::EncryptionDataMissing,
            12 => Self::InvalidApiSessionType,
            13 => Self::InvalidInstanceId,
            14 => Self::AccessDenied,
            15 => Self::PostureCheckFailed,
            other => Self::Other(other),
        }
    }

    /// The wire value.
    pub fn as_u32(self) -> u32 {
        match self {
            Self::Ok => 0,
            Self::Internal => 1,
            Self::InvalidApiSession => 2,
            Self::InvalidSession => 3,
            Self::WrongSessionType => 4,
            Self::InvalidEdgeRouterForSession => 5,
            Self::InvalidService => 6,
            Self::TunnelingNotEnabled => 7,
            Self::InvalidTerminator => 8,
            Self::InvalidPrecedence => 9,
            Self::InvalidCost => 10,
            Self::EncryptionDataMissing => 11,
            Self::InvalidApiSessionType => 12,
            Self::InvalidInstanceId => 13,
            Self::AccessDenied => 14,
            Self::PostureCheckFailed => 15,
            Self::Other(v) => v,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Other(v) => write!(f, "error code {v}"),
            known => write!(f, "{known:?} ({})", known.as_u32()),
        }
    }
}

/// `StructuredError.retryHint`: what the receiver of an error should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryHint {
    /// 0: default behaviour.
    Default,
    /// 1: the peer is too busy; retry later.
    TooBusy,
    /// 2: start over (new session).
    StartOver,
    /// 3: do not retry.
    NotRetriable,
    /// Any value this crate does not know.
    Other(u32),
}

impl RetryHint {
    /// The hint for a wire value.
    pub fn from_u32(value: u32) -> Self {
        match value {
            0 => Self::Default,
            1 => Self::TooBusy,
            2 => Self::StartOver,
            3 => Self::NotRetriable,
            other => Self::Other(other),
        }
    }

    /// The wire value.
    pub fn as_u32(self) -> u32 {
        match self {
            Self::Default => 0,
            Self::TooBusy => 1,
            Self::StartOver => 2,
            Self::NotRetriable => 3,
            Self::Other(v) => v,
        }
    }
}

/// Header 1022 `ConnType` in a `ConnInspectResponse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnType {
    /// 0: invalid / unknown id.
    Invalid,
    /// 1: a dialed connection.
    Dial,
    /// 2: a live bind (the only answer that keeps a terminator alive).
    Bind,
    /// 3: unknown.
    Unknown,
}

impl ConnType {
    /// The type for a wire byte; `None` for values outside 0..=3.
    pub fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            0 => Self::Invalid,
            1 => Self::Dial,
            2 => Self::Bind,
            3 => Self::Unknown,
            _ => return None,
        })
    }

    /// The wire byte.
    pub fn as_u8(self) -> u8 {
        match self {
            Self::Invalid => 0,
            Self::Dial => 1,
            Self::Bind => 2,
            Self::Unknown => 3,
        }
    }
}

/// Header 1005 `Precedence` of a terminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Precedence {
    /// 0: default.
    #[default]
    Default,
    /// 1: required (preferred over default).
    Required,
    /// 2: failed (used only when nothing else is left).
    Failed,
}

impl Precedence {
    /// The precedence for a wire byte; `None` for values outside 0..=2.
    pub fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            0 => Self::Default,
            1 => Self::Required,
            2 => Self::Failed,
            _ => return None,
        })
    }

    /// The wire byte.
    pub fn as_u8(self) -> u8 {
        match self {
            Self::Default => 0,
            Self::Required => 1,
            Self::Failed => 2,
        }
    }
}
