//! Golden byte fixtures for the dialing side and the messages every channel carries, from the
//! reference notes (ziti-edge-protocol.md §1.1–§1.4, §2.1–§2.3, §3.3, §3.4, §6.3 and the C SDK
//! addendum): Connect with every optional header our SDK sends, the C SDK's Connect,
//! StateConnected (reply to Connect and to Bind), StateClosed (failure reply with error code
//! and structured error, router close, SDK close), Data (plain, FIN, C SDK with Seq and
//! UUID), UpdateToken and its two replies.
//!
//! Each hex literal is written by hand from the notes, with the section each byte group comes
//! from beside it; none is produced by our encoder. Every fixture is decoded field by field,
//! and every message our SDK or the lab router builds is encoded and compared with it
//! (`golden::assert_encodes_to`: frame header and body exact, headers as a map because the
//! protocol leaves their order free). Fixtures from other peers that carry headers our types
//! do not write (C SDK 1001 Seq, CryptoMethod 1009) are decoded only.

#[macro_use]
mod golden;

use bytes::Bytes;
use dark_listener::wire::consts::{content_type, header, ErrorCode, RetryHint};
use dark_listener::wire::edge::{
    Connect, CryptoMethod, Data, EdgeMessage, ErrorDetails, StateClosed, StateConnected,
    StructuredError, UpdateToken, UpdateTokenFailure, UpdateTokenSuccess,
};
use golden::{assert_encodes_to, decode_one, fixture_key, unhex};

// §2.3 Connect as our SDK sends it to an encrypted service, addressed to one host
// (§5), with caller id and app data: 1000, 1003, 1006, 1008, 1011; body = dial token.
const CONNECT_FULL: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "6f ed 00 00",                         // §2.1 content type 60783 Connect
    "02 00 00 00",                         // §1.4 seq 2
    "56 00 00 00",                         // §1.1 header length 86
    "08 00 00 00",                         // §1.1 body length 8
    "e8 03 00 00 04 00 00 00 07 00 00 00", // §2.2 1000 ConnId, u32 7
    "eb 03 00 00 20 00 00 00",             // §2.2 1003 PublicKey, 32 bytes
    pk_hex!(),
    "ee 03 00 00 06 00 00 00 68 6f 73 74 2d 61", // §2.2 1006 TerminatorIdentity "host-a"
    "f0 03 00 00 02 00 00 00 6d 65",             // §2.2 1008 CallerId "me"
    "f3 03 00 00 02 00 00 00 7b 7d",             // §2.2 1011 AppData "{}"
    "64 69 61 6c 2d 74 6f 6b",                   // §2.3 body: dial token "dial-tok"
);

// Addendum: the C SDK 0.29.3 dialer's Connect: 1000, 1001 Seq 0, 1008 CallerId (its identity
// name), 1003, and 1009 CryptoMethod as the *string* "libsodium" (§4 gotcha 1).
const CONNECT_C_SDK: &str = concat!(
    "03 06 09 0c",                               // §1.1 magic v2
    "6f ed 00 00",                               // §2.1 content type 60783 Connect
    "04 00 00 00",                               // §1.4 seq 4
    "5f 00 00 00",                               // §1.1 header length 95
    "03 00 00 00",                               // §1.1 body length 3
    "e8 03 00 00 04 00 00 00 03 00 00 00",       // §2.2 1000 ConnId, u32 3
    "e9 03 00 00 04 00 00 00 00 00 00 00",       // addendum / §2.2 1001 Seq, u32 0
    "f0 03 00 00 06 00 00 00 63 2d 68 6f 73 74", // §2.2 1008 CallerId "c-host"
    "eb 03 00 00 20 00 00 00",                   // §2.2 1003 PublicKey, 32 bytes
    pk_hex!(),
    "f1 03 00 00 09 00 00 00", // §2.2 1009 CryptoMethod, 9 bytes (C: string)
    "6c 69 62 73 6f 64 69 75 6d", // "libsodium"
    "74 6f 6b",                // body "tok"
);

#[test]
fn connect_with_every_sdk_header_decodes_and_encodes() {
    let bytes = unhex(CONNECT_FULL);
    let frame = decode_one(&bytes);
    assert_eq!(frame.content_type, content_type::CONNECT);
    assert_eq!(frame.sequence, 2);
    let connect = Connect::from_frame(&frame).unwrap();
    assert_eq!(connect.conn_id, 7);
    assert_eq!(connect.token.as_ref(), b"dial-tok");
    assert_eq!(connect.public_key, Some(fixture_key()));
    assert_eq!(connect.terminator_identity.as_deref(), Some("host-a"));
    assert_eq!(connect.caller_id.as_deref(), Some("me"));
    assert_eq!(connect.app_data.as_deref(), Some(&b"{}"[..]));
    assert_eq!(connect.stickiness_token, None);
    assert_eq!(connect.connection_marker, None);
    assert_eq!(connect.use_xgress_to_sdk, None);
    assert_eq!(connect.crypto_method, CryptoMethod::Libsodium);
    // What context/dial.rs builds for such a dial (it never writes 1009).
    let ours = Connect {
        conn_id: 7,
        token: Bytes::from_static(b"dial-tok"),
        public_key: Some(fixture_key()),
        terminator_identity: Some("host-a".into()),
        caller_id: Some("me".into()),
        app_data: Some(Bytes::from_static(b"{}")),
        ..Connect::default()
    };
    assert_encodes_to(&ours.to_frame(2), &bytes);
}

#[test]
fn c_sdk_connect_decodes_with_its_string_crypto_method() {
    let frame = decode_one(&unhex(CONNECT_C_SDK));
    assert_eq!(frame.headers.get_u32(header::SEQ).unwrap(), Some(0));
    assert_eq!(
        frame
            .headers
            .get_bytes(header::CRYPTO_METHOD)
            .map(|v| v.as_ref()),
        Some(&b"libsodium"[..])
    );
    let connect = Connect::from_frame(&frame).unwrap();
    assert_eq!(connect.conn_id, 3);
    assert_eq!(connect.caller_id.as_deref(), Some("c-host"));
    assert_eq!(connect.public_key, Some(fixture_key()));
    assert_eq!(connect.crypto_method, CryptoMethod::Libsodium);
    assert_eq!(connect.token.as_ref(), b"tok");
}

// §2.3 StateConnected, reply to the Connect above (seq 2): 1 ReplyFor, 1000, 1026 CircuitId,
// 1003 host key; empty body.
const STATE_CONNECTED_DIAL: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "70 ed 00 00",                         // §2.1 content type 60784 StateConnected
    "03 00 00 00",                         // §1.4 router seq 3
    "4a 00 00 00",                         // §1.1 header length 74
    "00 00 00 00",                         // §2.3 body empty
    "01 00 00 00 04 00 00 00 02 00 00 00", // §1.3/§1.4 1 ReplyFor = 2
    "e8 03 00 00 04 00 00 00 07 00 00 00", // §2.2 1000 ConnId 7
    "02 04 00 00 02 00 00 00 63 31",       // §2.2 1026 CircuitId "c1"
    "eb 03 00 00 20 00 00 00",             // §2.2 1003 host PublicKey
    pk_hex!(),
);

// §2.3 StateConnected, reply to a Bind (seq 1) that asked for router-provided ids: 1000,
// 1012 = bool true.
const STATE_CONNECTED_BIND: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "70 ed 00 00",                         // §2.1 content type 60784 StateConnected
    "04 00 00 00",                         // §1.4 router seq 4
    "21 00 00 00",                         // §1.1 header length 33
    "00 00 00 00",                         // body empty
    "01 00 00 00 04 00 00 00 01 00 00 00", // §1.4 1 ReplyFor = 1
    "e8 03 00 00 04 00 00 00 01 00 00 00", // §2.2 1000 ConnId 1 (the bind conn id)
    "f4 03 00 00 01 00 00 00 01",          // §2.2 1012 RouterProvidedConnId, bool true
);

#[test]
fn state_connected_reply_to_connect_decodes_and_encodes() {
    let bytes = unhex(STATE_CONNECTED_DIAL);
    let frame = decode_one(&bytes);
    assert_eq!(frame.reply_for().unwrap(), Some(2));
    let connected = StateConnected::from_frame(&frame).unwrap();
    assert_eq!(connected.conn_id, 7);
    assert_eq!(connected.circuit_id.as_deref(), Some("c1"));
    assert_eq!(connected.public_key, Some(fixture_key()));
    assert!(!connected.router_provided_conn_id);
    assert!(!connected.use_xgress_to_sdk);
    let ours = StateConnected {
        conn_id: 7,
        circuit_id: Some("c1".into()),
        public_key: Some(fixture_key()),
        ..StateConnected::default()
    };
    assert_encodes_to(&ours.to_frame(3).replying_to(2), &bytes);
}

#[test]
fn state_connected_reply_to_bind_decodes_and_encodes() {
    let bytes = unhex(STATE_CONNECTED_BIND);
    let frame = decode_one(&bytes);
    assert_eq!(frame.reply_for().unwrap(), Some(1));
    let connected = StateConnected::from_frame(&frame).unwrap();
    assert_eq!(connected.conn_id, 1);
    assert!(connected.router_provided_conn_id);
    assert_eq!(connected.circuit_id, None);
    assert_eq!(connected.public_key, None);
    let ours = StateConnected {
        conn_id: 1,
        router_provided_conn_id: true,
        ..StateConnected::default()
    };
    assert_encodes_to(&ours.to_frame(4).replying_to(1), &bytes);
}

// §2.3 StateClosed (a): failure reply to the Connect (seq 2) with 1014 ErrorCode and 1033
// StructuredError (JSON fields as in sdk-go messages.go `Error`), 1026; body = reason.
const STATE_CLOSED_REFUSAL: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "71 ed 00 00",                         // §2.1 content type 60785 StateClosed
    "05 00 00 00",                         // §1.4 router seq 5
    "62 00 00 00",                         // §1.1 header length 98
    "0d 00 00 00",                         // §1.1 body length 13
    "01 00 00 00 04 00 00 00 02 00 00 00", // §1.4 1 ReplyFor = 2
    "e8 03 00 00 04 00 00 00 07 00 00 00", // §2.2 1000 ConnId 7
    "f6 03 00 00 04 00 00 00 0e 00 00 00", // §2.2 1014 ErrorCode u32 14 AccessDenied
    "09 04 00 00 2c 00 00 00",             // §2.2 1033 StructuredError, 44 bytes:
    // {"message":"denied","code":14,"retryHint":3}  (retryHint 3 = not retriable)
    "7b 22 6d 65 73 73 61 67 65 22 3a 22 64 65 6e 69 65 64 22 2c 22 63 6f 64 65 22 3a 31 34 2c",
    "22 72 65 74 72 79 48 69 6e 74 22 3a 33 7d",
    "02 04 00 00 02 00 00 00 63 31", // §2.2 1026 CircuitId "c1"
    "61 63 63 65 73 73 20 64 65 6e 69 65 64", // body "access denied"
);

// §3.2 step 4: unsolicited StateClosed of a bind with a structured posture failure
// (code 15, failingPostureCheckIds) and no 1014; body = reason.
const STATE_CLOSED_POSTURE: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "71 ed 00 00",                         // §2.1 content type 60785 StateClosed
    "08 00 00 00",                         // §1.4 router seq 8
    "62 00 00 00",                         // §1.1 header length 98
    "14 00 00 00",                         // §1.1 body length 20
    "e8 03 00 00 04 00 00 00 01 00 00 00", // §2.2 1000 ConnId 1 (a bind)
    "09 04 00 00 4e 00 00 00",             // §2.2 1033 StructuredError, 78 bytes:
    // {"message":"posture","code":15,"retryHint":0,"failingPostureCheckIds":["pc1"]}
    "7b 22 6d 65 73 73 61 67 65 22 3a 22 70 6f 73 74 75 72 65 22 2c 22 63 6f 64 65 22 3a 31 35 2c",
    "22 72 65 74 72 79 48 69 6e 74 22 3a 30 2c 22 66 61 69 6c 69 6e 67 50 6f 73 74 75 72 65 43",
    "68 65 63 6b 49 64 73 22 3a 5b 22 70 63 31 22 5d 7d",
    "70 6f 73 74 75 72 65 20 63 68 65 63 6b 20 66 61 69 6c 65 64", // "posture check failed"
);

// §2.3 StateClosed (b) / §3.2 step 9: router closes a hosted conn (router id 2^31, §3.1);
// body = reason, no error headers.
const STATE_CLOSED_BY_ROUTER: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "71 ed 00 00",                         // §2.1 content type 60785 StateClosed
    "09 00 00 00",                         // §1.4 seq 9
    "0c 00 00 00",                         // §1.1 header length 12
    "06 00 00 00",                         // §1.1 body length 6
    "e8 03 00 00 04 00 00 00 00 00 00 80", // §2.2 1000 ConnId u32 2^31
    "63 6c 6f 73 65 64",                   // body "closed"
);

// §2.3 StateClosed (c): an SDK closes a conn: 1000 only, empty body.
const STATE_CLOSED_BY_SDK: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "71 ed 00 00",                         // §2.1 content type 60785 StateClosed
    "0a 00 00 00",                         // §1.4 seq 10
    "0c 00 00 00",                         // §1.1 header length 12
    "00 00 00 00",                         // §2.3 body empty
    "e8 03 00 00 04 00 00 00 00 00 00 80", // §2.2 1000 ConnId u32 2^31
);

#[test]
fn state_closed_refusal_with_code_and_structured_error() {
    let bytes = unhex(STATE_CLOSED_REFUSAL);
    let frame = decode_one(&bytes);
    assert_eq!(frame.content_type, content_type::STATE_CLOSED);
    assert_eq!(frame.reply_for().unwrap(), Some(2));
    let closed = StateClosed::from_frame(&frame).unwrap();
    assert_eq!(closed.conn_id, 7);
    assert_eq!(closed.reason.as_ref(), b"access denied");
    assert_eq!(closed.error.code, Some(ErrorCode::AccessDenied));
    let structured = closed.error.structured.as_ref().unwrap();
    assert_eq!(structured.message, "denied");
    assert_eq!(structured.error_code(), ErrorCode::AccessDenied);
    assert_eq!(structured.hint(), RetryHint::NotRetriable);
    assert!(structured.failing_posture_check_ids.is_empty());
    assert_eq!(closed.circuit_id.as_deref(), Some("c1"));
    // The lab router builds refusals like this; the JSON must match Go's field names and
    // order byte for byte.
    let ours = StateClosed {
        conn_id: 7,
        reason: Bytes::from_static(b"access denied"),
        error: ErrorDetails {
            code: Some(ErrorCode::AccessDenied),
            structured: Some(StructuredError {
                message: "denied".into(),
                code: 14,
                retry_hint: 3,
                failing_posture_check_ids: Vec::new(),
            }),
        },
        circuit_id: Some("c1".into()),
    };
    assert_encodes_to(&ours.to_frame(5).replying_to(2), &bytes);
}

#[test]
fn state_closed_with_posture_failure_decodes_and_encodes() {
    let bytes = unhex(STATE_CLOSED_POSTURE);
    let closed = StateClosed::from_frame(&decode_one(&bytes)).unwrap();
    assert_eq!(closed.conn_id, 1);
    assert_eq!(closed.error.code, None);
    let structured = closed.error.structured.as_ref().unwrap();
    assert_eq!(structured.message, "posture");
    assert_eq!(structured.error_code(), ErrorCode::PostureCheckFailed);
    assert_eq!(structured.hint(), RetryHint::Default);
    assert_eq!(
        structured.failing_posture_check_ids,
        vec!["pc1".to_string()]
    );
    assert_eq!(closed.reason.as_ref(), b"posture check failed");
    let ours = StateClosed {
        conn_id: 1,
        reason: Bytes::from_static(b"posture check failed"),
        error: ErrorDetails {
            code: None,
            structured: Some(StructuredError {
                message: "posture".into(),
                code: 15,
                retry_hint: 0,
                failing_posture_check_ids: vec!["pc1".into()],
            }),
        },
        circuit_id: None,
    };
    assert_encodes_to(&ours.to_frame(8), &bytes);
}

#[test]
fn state_closed_by_router_and_by_sdk() {
    let bytes = unhex(STATE_CLOSED_BY_ROUTER);
    let closed = StateClosed::from_frame(&decode_one(&bytes)).unwrap();
    assert_eq!(closed.conn_id, 1 << 31);
    assert_eq!(closed.reason.as_ref(), b"closed");
    assert_eq!(closed.error, ErrorDetails::default());
    assert_eq!(closed.circuit_id, None);
    let ours = StateClosed {
        conn_id: 1 << 31,
        reason: Bytes::from_static(b"closed"),
        ..StateClosed::default()
    };
    assert_encodes_to(&ours.to_frame(9), &bytes);

    let bytes = unhex(STATE_CLOSED_BY_SDK);
    let frame = decode_one(&bytes);
    let closed = StateClosed::from_frame(&frame).unwrap();
    assert_eq!(closed.conn_id, 1 << 31);
    assert!(closed.reason.is_empty());
    assert!(matches!(
        EdgeMessage::parse(&frame).unwrap(),
        EdgeMessage::StateClosed(_)
    ));
    // What the SDK sends when its side closes a stream or a bind.
    let ours = StateClosed {
        conn_id: 1 << 31,
        ..StateClosed::default()
    };
    assert_encodes_to(&ours.to_frame(10), &bytes);
}

// §2.3 Data: 1000 + body.
const DATA_PLAIN: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "72 ed 00 00",                         // §2.1 content type 60786 Data
    "0b 00 00 00",                         // §1.4 seq 11
    "0c 00 00 00",                         // §1.1 header length 12
    "05 00 00 00",                         // §1.1 body length 5
    "e8 03 00 00 04 00 00 00 07 00 00 00", // §2.2 1000 ConnId 7
    "68 65 6c 6c 6f",                      // body "hello"
);

// §3.4 half-close: Data with 1010 Flags = FIN (1), empty body.
const DATA_FIN: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "72 ed 00 00",                         // §2.1 content type 60786 Data
    "0c 00 00 00",                         // §1.4 seq 12
    "18 00 00 00",                         // §1.1 header length 24
    "00 00 00 00",                         // §3.4 empty body
    "e8 03 00 00 04 00 00 00 07 00 00 00", // §2.2 1000 ConnId 7
    "f2 03 00 00 04 00 00 00 01 00 00 00", // §2.2 1010 Flags u32 1 = FIN
);

// Addendum + §2.2: the C SDK's Data carries 1001 Seq and a 128 UUID {u32 slug, u32 seq,
// u64 ts}; receivers ignore the Seq.
const DATA_C_SDK: &str = concat!(
    "03 06 09 0c",                                     // §1.1 magic v2
    "72 ed 00 00",                                     // §2.1 content type 60786 Data
    "06 00 00 00",                                     // §1.4 seq 6
    "30 00 00 00",                                     // §1.1 header length 48
    "02 00 00 00",                                     // §1.1 body length 2
    "e8 03 00 00 04 00 00 00 00 00 00 80",             // §2.2 1000 ConnId 2^31
    "e9 03 00 00 04 00 00 00 05 00 00 00",             // §2.2 1001 Seq u32 5
    "80 00 00 00 10 00 00 00",                         // §2.2 128 UUID, 16 bytes:
    "44 33 22 11 05 00 00 00 01 02 03 04 05 06 07 08", // slug, seq 5, ts
    "68 69",                                           // body "hi"
);

#[test]
fn plain_data_decodes_and_encodes() {
    let bytes = unhex(DATA_PLAIN);
    let frame = decode_one(&bytes);
    let data = Data::from_frame(&frame).unwrap();
    assert_eq!(data.conn_id, 7);
    assert_eq!(data.flags, 0);
    assert!(!data.is_fin());
    assert_eq!(data.uuid, None);
    assert_eq!(data.payload.as_ref(), b"hello");
    let ours = Data {
        conn_id: 7,
        payload: Bytes::from_static(b"hello"),
        ..Data::default()
    };
    assert_encodes_to(&ours.to_frame(11), &bytes);
}

#[test]
fn fin_data_decodes_and_encodes() {
    let bytes = unhex(DATA_FIN);
    let frame = decode_one(&bytes);
    assert_eq!(frame.headers.get_u32(header::FLAGS).unwrap(), Some(1));
    let data = Data::from_frame(&frame).unwrap();
    assert_eq!(data.conn_id, 7);
    assert!(data.is_fin());
    assert!(!data.is_multipart());
    assert!(data.payload.is_empty());
    let ours = Data {
        conn_id: 7,
        flags: 1,
        ..Data::default()
    };
    assert_encodes_to(&ours.to_frame(12), &bytes);
}

#[test]
fn c_sdk_data_decodes_ignoring_its_seq() {
    let frame = decode_one(&unhex(DATA_C_SDK));
    let data = Data::from_frame(&frame).unwrap();
    assert_eq!(data.conn_id, 1 << 31);
    assert_eq!(data.flags, 0);
    assert_eq!(
        data.uuid.as_deref(),
        Some(&unhex("44 33 22 11 05 00 00 00 01 02 03 04 05 06 07 08")[..])
    );
    assert_eq!(data.payload.as_ref(), b"hi");
    // The router relays only body, Flags and UUID (§2.3): the Seq does not survive a
    // decode/encode through our Data type.
    let relayed = Data::from_frame(&frame).unwrap().to_frame(6);
    assert!(!relayed.headers.contains(header::SEQ));
    assert!(relayed.headers.contains(header::UUID));
}

// §2.3 / §6.3 UpdateToken: no headers, body = the new JWT access token.
const UPDATE_TOKEN: &str = concat!(
    "03 06 09 0c",                      // §1.1 magic v2
    "83 ed 00 00",                      // §2.1 content type 60803 UpdateToken
    "0d 00 00 00",                      // §1.4 seq 13
    "00 00 00 00",                      // §1.1 no headers
    "0b 00 00 00",                      // §1.1 body length 11
    "65 79 4a 2e 65 33 30 2e 73 69 67", // body "eyJ.e30.sig"
);

// §2.3 UpdateTokenSuccess: a reply (ReplyFor = 13), empty.
const UPDATE_TOKEN_SUCCESS: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "81 ed 00 00",                         // §2.1 content type 60801 UpdateTokenSuccess
    "14 00 00 00",                         // §1.4 router seq 20
    "0c 00 00 00",                         // §1.1 header length 12
    "00 00 00 00",                         // empty body
    "01 00 00 00 04 00 00 00 0d 00 00 00", // §1.4 1 ReplyFor = 13
);

// §2.3 UpdateTokenFailure: a reply with body = error, 1033 and 1014.
const UPDATE_TOKEN_FAILURE: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "82 ed 00 00",                         // §2.1 content type 60802 UpdateTokenFailure
    "15 00 00 00",                         // §1.4 router seq 21
    "4c 00 00 00",                         // §1.1 header length 76
    "0d 00 00 00",                         // §1.1 body length 13
    "01 00 00 00 04 00 00 00 0d 00 00 00", // §1.4 1 ReplyFor = 13
    "09 04 00 00 2c 00 00 00",             // §2.2 1033 StructuredError, 44 bytes:
    // {"message":"expired","code":2,"retryHint":0}
    "7b 22 6d 65 73 73 61 67 65 22 3a 22 65 78 70 69 72 65 64 22 2c 22 63 6f 64 65 22 3a 32 2c",
    "22 72 65 74 72 79 48 69 6e 74 22 3a 30 7d",
    "f6 03 00 00 04 00 00 00 02 00 00 00", // §2.2 1014 ErrorCode 2 InvalidApiSession
    "74 6f 6b 65 6e 20 65 78 70 69 72 65 64", // body "token expired"
);

#[test]
fn update_token_decodes_and_encodes() {
    let bytes = unhex(UPDATE_TOKEN);
    let frame = decode_one(&bytes);
    assert_eq!(frame.content_type, content_type::UPDATE_TOKEN);
    assert!(frame.headers.is_empty());
    let update = UpdateToken::from_frame(&frame).unwrap();
    assert_eq!(update.token.as_ref(), b"eyJ.e30.sig");
    // What channel/mod.rs (update_token) sends after a refresh.
    let ours = UpdateToken {
        token: Bytes::from_static(b"eyJ.e30.sig"),
    };
    assert_encodes_to(&ours.to_frame(13), &bytes);
}

#[test]
fn update_token_replies_decode_and_encode() {
    let bytes = unhex(UPDATE_TOKEN_SUCCESS);
    let frame = decode_one(&bytes);
    assert_eq!(frame.content_type, content_type::UPDATE_TOKEN_SUCCESS);
    assert_eq!(frame.reply_for().unwrap(), Some(13));
    assert!(matches!(
        EdgeMessage::parse(&frame).unwrap(),
        EdgeMessage::UpdateTokenSuccess(_)
    ));
    assert_encodes_to(&UpdateTokenSuccess.to_frame(20).replying_to(13), &bytes);

    let bytes = unhex(UPDATE_TOKEN_FAILURE);
    let frame = decode_one(&bytes);
    assert_eq!(frame.content_type, content_type::UPDATE_TOKEN_FAILURE);
    assert_eq!(frame.reply_for().unwrap(), Some(13));
    let failure = UpdateTokenFailure::from_frame(&frame).unwrap();
    assert_eq!(failure.reason.as_ref(), b"token expired");
    assert_eq!(failure.error.code, Some(ErrorCode::InvalidApiSession));
    let structured = failure.error.structured.as_ref().unwrap();
    assert_eq!(structured.message, "expired");
    assert_eq!(structured.error_code(), ErrorCode::InvalidApiSession);
    assert_eq!(structured.hint(), RetryHint::Default);
    assert_encodes_to(
        &UpdateTokenFailure {
            reason: Bytes::from_static(b"token expired"),
            error: ErrorDetails {
                code: Some(ErrorCode::InvalidApiSession),
                structured: Some(StructuredError {
                    message: "expired".into(),
                    code: 2,
                    retry_hint: 0,
                    failing_posture_check_ids: Vec::new(),
                }),
            },
        }
        .to_frame(21)
        .replying_to(13),
        &bytes,
    );
}
