//! Golden byte fixtures for the hosting side, from the reference notes
//! (ziti-edge-protocol.md §1.1–§1.4, §2.1–§2.3, §3.1, §3.2, §5 and the C SDK addendum): Bind
//! (as our SDK sends it, plain and with every option, and as the Go SDK sends it), Unbind,
//! Dial (router-provided id and legacy), DialSuccess (with and without key, and the C SDK's
//! legacy form), DialFailed, BindSuccess, ConnInspectRequest and ConnInspectResponse,
//! UpdateBind and HealthEvent.
//!
//! Each hex literal is written by hand from the notes, with the section each byte group comes
//! from beside it; none is produced by our encoder. Every fixture is decoded field by field,
//! and every message our SDK or the lab router builds is encoded and compared with it
//! (`golden::assert_encodes_to`: frame header and body exact, headers as a map because the
//! protocol leaves their order free). Fixtures from other peers that carry headers our types
//! do not write (C SDK 1001 Seq, Go CryptoMethod 1009) are decoded only.

#[macro_use]
mod golden;

use bytes::Bytes;
use dark_listener::wire::consts::{content_type, header, ConnType, Precedence};
use dark_listener::wire::edge::{
    Bind, BindSuccess, ConnInspectRequest, ConnInspectResponse, CryptoMethod, Dial, DialFailed,
    DialSuccess, EdgeMessage, HealthEvent, Unbind, UpdateBind,
};
use golden::{assert_encodes_to, decode_one, fixture_key, unhex};

// §2.3 Bind as our SDK sends it for a plain service: 1000, 1012 = true, 1023 = true,
// 1021 ListenerId; body = bind token.
const BIND_PLAIN: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "76 ed 00 00",                         // §2.1 content type 60790 Bind
    "01 00 00 00",                         // §1.4 seq 1
    "29 00 00 00",                         // §1.1 header length 41
    "08 00 00 00",                         // §1.1 body length 8
    "e8 03 00 00 04 00 00 00 01 00 00 00", // §2.2 1000 ConnId 1 (the bind conn id)
    "f4 03 00 00 01 00 00 00 01",          // §2.2 1012 RouterProvidedConnId, bool true
    "ff 03 00 00 01 00 00 00 01",          // §2.2 1023 SupportsInspect, bool true
    "fd 03 00 00 03 00 00 00 4c 2d 31",    // §2.2 1021 ListenerId "L-1"
    "62 69 6e 64 2d 74 6f 6b",             // body "bind-tok"
);

// §2.3 Bind with every option our SDK writes: as above plus 1003 host key (e2ee), 1004 Cost
// u16 300, 1005 Precedence byte 1 (required), 1006 TerminatorIdentity (§5).
const BIND_FULL: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "76 ed 00 00",                         // §2.1 content type 60790 Bind
    "01 00 00 00",                         // §1.4 seq 1
    "72 00 00 00",                         // §1.1 header length 114
    "08 00 00 00",                         // §1.1 body length 8
    "e8 03 00 00 04 00 00 00 01 00 00 00", // §2.2 1000 ConnId 1
    "f4 03 00 00 01 00 00 00 01",          // §2.2 1012 RouterProvidedConnId true
    "ff 03 00 00 01 00 00 00 01",          // §2.2 1023 SupportsInspect true
    "eb 03 00 00 20 00 00 00",             // §2.2 1003 PublicKey, 32 bytes
    pk_hex!(),
    "ec 03 00 00 02 00 00 00 2c 01", // §2.2/§5 1004 Cost, u16 LE 300
    "ed 03 00 00 01 00 00 00 01",    // §2.2/§5 1005 Precedence, byte 1 = required
    "ee 03 00 00 06 00 00 00 68 6f 73 74 2d 61", // §2.2/§5 1006 TerminatorIdentity "host-a"
    "fd 03 00 00 03 00 00 00 4c 2d 31", // §2.2 1021 ListenerId "L-1"
    "62 69 6e 64 2d 74 6f 6b",       // body "bind-tok"
);

// §2.3 Bind as the Go SDK sends it (sdk-go `NewBindMsg`): 1000, 1023, 1024, 1028 = false,
// 1003 and 1009 CryptoMethod byte 0, 1012.
const BIND_GO_SDK: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "76 ed 00 00",                         // §2.1 content type 60790 Bind
    "03 00 00 00",                         // §1.4 seq 3
    "61 00 00 00",                         // §1.1 header length 97
    "03 00 00 00",                         // §1.1 body length 3
    "e8 03 00 00 04 00 00 00 01 00 00 00", // §2.2 1000 ConnId 1
    "ff 03 00 00 01 00 00 00 01",          // §2.2 1023 SupportsInspect true
    "00 04 00 00 01 00 00 00 01",          // §2.2 1024 SupportsBindSuccess true
    "04 04 00 00 01 00 00 00 00",          // §2.2 1028 UseXgressToSdk false (explicit bool)
    "eb 03 00 00 20 00 00 00",             // §2.2 1003 PublicKey
    pk_hex!(),
    "f1 03 00 00 01 00 00 00 00", // §2.2/§4 1009 CryptoMethod, Go byte 0 = libsodium
    "f4 03 00 00 01 00 00 00 01", // §2.2 1012 RouterProvidedConnId true
    "74 6f 6b",                   // body "tok"
);

/// What listener/router_bind.rs builds, given the optional parts.
fn sdk_bind(full: bool) -> Bind {
    Bind {
        conn_id: 1,
        token: Bytes::from_static(b"bind-tok"),
        listener_id: Some("L-1".into()),
        router_provided_conn_id: true,
        supports_inspect: true,
        public_key: full.then(fixture_key),
        cost: full.then_some(300),
        precedence: full.then_some(Precedence::Required),
        terminator_identity: full.then(|| "host-a".to_string()),
        ..Bind::default()
    }
}

#[test]
fn sdk_bind_decodes_and_encodes() {
    let bytes = unhex(BIND_PLAIN);
    let frame = decode_one(&bytes);
    assert_eq!(frame.content_type, content_type::BIND);
    assert_eq!(frame.sequence, 1);
    let bind = Bind::from_frame(&frame).unwrap();
    assert_eq!(bind.conn_id, 1);
    assert_eq!(bind.token.as_ref(), b"bind-tok");
    assert!(bind.router_provided_conn_id);
    assert!(bind.supports_inspect);
    assert!(!bind.supports_bind_success);
    assert_eq!(bind.listener_id.as_deref(), Some("L-1"));
    assert_eq!(bind.public_key, None);
    assert_eq!(bind.cost, None);
    assert_eq!(bind.precedence, None);
    assert_eq!(bind.terminator_identity, None);
    assert_eq!(bind.use_xgress_to_sdk, None);
    assert_eq!(bind, sdk_bind(false));
    assert_encodes_to(&sdk_bind(false).to_frame(1), &bytes);
}

#[test]
fn sdk_bind_with_every_option_decodes_and_encodes() {
    let bytes = unhex(BIND_FULL);
    let bind = Bind::from_frame(&decode_one(&bytes)).unwrap();
    assert_eq!(bind.conn_id, 1);
    assert_eq!(bind.public_key, Some(fixture_key()));
    assert_eq!(bind.cost, Some(300));
    assert_eq!(bind.precedence, Some(Precedence::Required));
    assert_eq!(bind.terminator_identity.as_deref(), Some("host-a"));
    assert_eq!(bind.listener_id.as_deref(), Some("L-1"));
    assert!(bind.router_provided_conn_id && bind.supports_inspect);
    assert_eq!(bind, sdk_bind(true));
    assert_encodes_to(&sdk_bind(true).to_frame(1), &bytes);
}

#[test]
fn go_sdk_bind_decodes() {
    let frame = decode_one(&unhex(BIND_GO_SDK));
    let bind = Bind::from_frame(&frame).unwrap();
    assert_eq!(bind.conn_id, 1);
    assert!(bind.supports_inspect);
    assert!(bind.supports_bind_success);
    assert_eq!(bind.use_xgress_to_sdk, Some(false));
    assert_eq!(bind.public_key, Some(fixture_key()));
    assert_eq!(bind.crypto_method, CryptoMethod::Libsodium);
    assert!(bind.router_provided_conn_id);
    assert_eq!(bind.listener_id, None);
    assert_eq!(bind.token.as_ref(), b"tok");
}

// §2.3 Unbind: 1000 bind conn id, 1021 ListenerId; body = bind token; no reply.
const UNBIND: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "77 ed 00 00",                         // §2.1 content type 60791 Unbind
    "1e 00 00 00",                         // §1.4 seq 30
    "17 00 00 00",                         // §1.1 header length 23
    "08 00 00 00",                         // §1.1 body length 8
    "e8 03 00 00 04 00 00 00 01 00 00 00", // §2.2 1000 ConnId 1
    "fd 03 00 00 03 00 00 00 4c 2d 31",    // §2.2 1021 ListenerId "L-1"
    "62 69 6e 64 2d 74 6f 6b",             // body "bind-tok"
);

#[test]
fn unbind_decodes_and_encodes() {
    let bytes = unhex(UNBIND);
    let unbind = Unbind::from_frame(&decode_one(&bytes)).unwrap();
    assert_eq!(unbind.conn_id, 1);
    assert_eq!(unbind.listener_id.as_deref(), Some("L-1"));
    assert_eq!(unbind.token.as_ref(), b"bind-tok");
    let ours = Unbind {
        conn_id: 1,
        token: Bytes::from_static(b"bind-tok"),
        listener_id: Some("L-1".into()),
    };
    assert_encodes_to(&ours.to_frame(30), &bytes);
}

// §2.3 Dial / §3.2 step 5: router → host with a router-provided id: 1000 = bind conn id,
// 1012 = u32 new conn id (2^31, §3.1), 1008 CallerId (always present, here empty), 1026,
// 1003 dialer key, 1025, 1011, 1034, 1035; body = the bind token.
const DIAL: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "73 ed 00 00",                         // §2.1 content type 60787 Dial
    "08 00 00 00",                         // §1.4 router seq 8
    "80 00 00 00",                         // §1.1 header length 128
    "08 00 00 00",                         // §1.1 body length 8
    "e8 03 00 00 04 00 00 00 01 00 00 00", // §2.2 1000 ConnId 1 (the bind)
    "f4 03 00 00 04 00 00 00 00 00 00 80", // §2.2 1012 as u32 in Dial: 2^31
    "f0 03 00 00 00 00 00 00",             // §2.2 1008 CallerId, empty
    "02 04 00 00 02 00 00 00 63 31",       // §2.2 1026 CircuitId "c1"
    "eb 03 00 00 20 00 00 00",             // §2.2 1003 dialer PublicKey
    pk_hex!(),
    "01 04 00 00 02 00 00 00 6d 6b", // §2.2 1025 ConnectionMarker "mk"
    "f3 03 00 00 02 00 00 00 7b 7d", // §2.2 1011 AppData "{}"
    "0a 04 00 00 04 00 00 00 69 64 2d 64", // §2.2 1034 DialerIdentityId "id-d"
    "0b 04 00 00 06 00 00 00 64 69 61 6c 65 72", // §2.2 1035 DialerIdentityName "dialer"
    "62 69 6e 64 2d 74 6f 6b",       // body "bind-tok"
);

// §3.2 legacy mode (a Bind without 1012, as the C SDK 0.29.3 binds): no 1012 in the Dial.
const DIAL_LEGACY: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "73 ed 00 00",                         // §2.1 content type 60787 Dial
    "09 00 00 00",                         // §1.4 router seq 9
    "1e 00 00 00",                         // §1.1 header length 30
    "08 00 00 00",                         // §1.1 body length 8
    "e8 03 00 00 04 00 00 00 01 00 00 00", // §2.2 1000 ConnId 1
    "f0 03 00 00 00 00 00 00",             // §2.2 1008 CallerId, empty
    "02 04 00 00 02 00 00 00 63 32",       // §2.2 1026 CircuitId "c2"
    "62 69 6e 64 2d 74 6f 6b",             // body "bind-tok"
);

#[test]
fn dial_decodes_and_encodes() {
    let bytes = unhex(DIAL);
    let frame = decode_one(&bytes);
    assert_eq!(frame.content_type, content_type::DIAL);
    let dial = Dial::from_frame(&frame).unwrap();
    assert_eq!(dial.bind_conn_id, 1);
    assert_eq!(dial.new_conn_id, Some(1 << 31));
    assert_eq!(dial.caller_id.as_deref(), Some(""));
    assert_eq!(dial.circuit_id.as_deref(), Some("c1"));
    assert_eq!(dial.public_key, Some(fixture_key()));
    assert_eq!(dial.connection_marker.as_deref(), Some("mk"));
    assert_eq!(dial.app_data.as_deref(), Some(&b"{}"[..]));
    assert_eq!(dial.dialer_identity_id.as_deref(), Some("id-d"));
    assert_eq!(dial.dialer_identity_name.as_deref(), Some("dialer"));
    assert_eq!(dial.crypto_method, CryptoMethod::Libsodium);
    assert_eq!(dial.token.as_ref(), b"bind-tok");
    // What the lab router sends.
    let ours = Dial {
        bind_conn_id: 1,
        new_conn_id: Some(1 << 31),
        token: Bytes::from_static(b"bind-tok"),
        caller_id: Some(String::new()),
        circuit_id: Some("c1".into()),
        public_key: Some(fixture_key()),
        connection_marker: Some("mk".into()),
        app_data: Some(Bytes::from_static(b"{}")),
        dialer_identity_id: Some("id-d".into()),
        dialer_identity_name: Some("dialer".into()),
        ..Dial::default()
    };
    assert_encodes_to(&ours.to_frame(8), &bytes);
}

#[test]
fn legacy_dial_decodes_and_encodes() {
    let bytes = unhex(DIAL_LEGACY);
    let dial = Dial::from_frame(&decode_one(&bytes)).unwrap();
    assert_eq!(dial.bind_conn_id, 1);
    assert_eq!(dial.new_conn_id, None);
    assert_eq!(dial.circuit_id.as_deref(), Some("c2"));
    assert_eq!(dial.public_key, None);
    let ours = Dial {
        bind_conn_id: 1,
        token: Bytes::from_static(b"bind-tok"),
        caller_id: Some(String::new()),
        circuit_id: Some("c2".into()),
        ..Dial::default()
    };
    assert_encodes_to(&ours.to_frame(9), &bytes);
}

// §2.3 DialSuccess, reply to the Dial (seq 8): 1000 = bind conn id, 1003 host key; body =
// exactly 4 bytes u32 LE new conn id.
const DIAL_SUCCESS_KEYED: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "74 ed 00 00",                         // §2.1 content type 60788 DialSuccess
    "02 00 00 00",                         // §1.4 host seq 2
    "40 00 00 00",                         // §1.1 header length 64
    "04 00 00 00",                         // §2.3 body exactly 4 bytes
    "01 00 00 00 04 00 00 00 08 00 00 00", // §1.4 1 ReplyFor = 8 (the Dial)
    "e8 03 00 00 04 00 00 00 01 00 00 00", // §2.2 1000 ConnId 1 (the bind)
    "eb 03 00 00 20 00 00 00",             // §2.2 1003 host PublicKey
    pk_hex!(),
    "00 00 00 80", // body u32 LE 2^31 = the router-provided id
);

// The same without a key (plain service).
const DIAL_SUCCESS_PLAIN: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "74 ed 00 00",                         // §2.1 content type 60788 DialSuccess
    "02 00 00 00",                         // §1.4 host seq 2
    "18 00 00 00",                         // §1.1 header length 24
    "04 00 00 00",                         // §2.3 body exactly 4 bytes
    "01 00 00 00 04 00 00 00 08 00 00 00", // §1.4 1 ReplyFor = 8
    "e8 03 00 00 04 00 00 00 01 00 00 00", // §2.2 1000 ConnId 1
    "00 00 00 80",                         // body u32 LE 2^31
);

// Addendum: the C SDK host's legacy DialSuccess: 1000, 1001 Seq 0, 1 ReplyFor; body = its
// own conn id N = 5.
const DIAL_SUCCESS_C_SDK: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "74 ed 00 00",                         // §2.1 content type 60788 DialSuccess
    "05 00 00 00",                         // §1.4 seq 5
    "24 00 00 00",                         // §1.1 header length 36
    "04 00 00 00",                         // §2.3 body exactly 4 bytes
    "e8 03 00 00 04 00 00 00 01 00 00 00", // §2.2 1000 ConnId 1 (the bind)
    "e9 03 00 00 04 00 00 00 00 00 00 00", // addendum 1001 Seq 0
    "01 00 00 00 04 00 00 00 09 00 00 00", // addendum 1 ReplyFor = the Dial's seq 9
    "05 00 00 00",                         // body u32 LE 5 = host-chosen id
);

// §2.3 DialFailed, reply to the Dial: 1000 = bind conn id, body = reason.
const DIAL_FAILED: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "75 ed 00 00",                         // §2.1 content type 60789 DialFailed
    "03 00 00 00",                         // §1.4 host seq 3
    "18 00 00 00",                         // §1.1 header length 24
    "07 00 00 00",                         // §1.1 body length 7
    "01 00 00 00 04 00 00 00 08 00 00 00", // §1.4 1 ReplyFor = 8
    "e8 03 00 00 04 00 00 00 01 00 00 00", // §2.2 1000 ConnId 1
    "72 65 66 75 73 65 64",                // body "refused"
);

#[test]
fn dial_success_decodes_and_encodes() {
    for (fixture, keyed) in [(DIAL_SUCCESS_KEYED, true), (DIAL_SUCCESS_PLAIN, false)] {
        let bytes = unhex(fixture);
        let frame = decode_one(&bytes);
        assert_eq!(frame.content_type, content_type::DIAL_SUCCESS);
        assert_eq!(frame.reply_for().unwrap(), Some(8));
        let success = DialSuccess::from_frame(&frame).unwrap();
        assert_eq!(success.bind_conn_id, 1);
        assert_eq!(success.new_conn_id, 1 << 31);
        assert_eq!(success.public_key, keyed.then(fixture_key));
        // What listener/router_bind.rs answers a Dial with.
        let ours = DialSuccess {
            bind_conn_id: 1,
            new_conn_id: 1 << 31,
            public_key: keyed.then(fixture_key),
        };
        assert_encodes_to(&ours.to_frame(2).replying_to(8), &bytes);
    }
}

#[test]
fn c_sdk_legacy_dial_success_decodes() {
    let frame = decode_one(&unhex(DIAL_SUCCESS_C_SDK));
    assert_eq!(frame.reply_for().unwrap(), Some(9));
    let success = DialSuccess::from_frame(&frame).unwrap();
    assert_eq!(success.bind_conn_id, 1);
    assert_eq!(success.new_conn_id, 5);
    assert_eq!(success.public_key, None);
}

#[test]
fn dial_failed_decodes_and_encodes() {
    let bytes = unhex(DIAL_FAILED);
    let frame = decode_one(&bytes);
    assert_eq!(frame.reply_for().unwrap(), Some(8));
    let failed = DialFailed::from_frame(&frame).unwrap();
    assert_eq!(failed.bind_conn_id, 1);
    assert_eq!(failed.reason.as_ref(), b"refused");
    let ours = DialFailed {
        bind_conn_id: 1,
        reason: Bytes::from_static(b"refused"),
    };
    assert_encodes_to(&ours.to_frame(3).replying_to(8), &bytes);
}

// §2.3 BindSuccess: router, not a reply; 1000 = bind conn id.
const BIND_SUCCESS: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "80 ed 00 00",                         // §2.1 content type 60800 BindSuccess
    "06 00 00 00",                         // §1.4 router seq 6
    "0c 00 00 00",                         // §1.1 header length 12
    "00 00 00 00",                         // empty body
    "e8 03 00 00 04 00 00 00 01 00 00 00", // §2.2 1000 ConnId 1
);

// §2.3 ConnInspectRequest: router → SDK, 1000.
const CONN_INSPECT_REQUEST: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "7e ed 00 00",                         // §2.1 content type 60798 ConnInspectRequest
    "07 00 00 00",                         // §1.4 router seq 7
    "0c 00 00 00",                         // §1.1 header length 12
    "00 00 00 00",                         // empty body
    "e8 03 00 00 04 00 00 00 01 00 00 00", // §2.2 1000 ConnId 1
);

// §2.3 ConnInspectResponse: reply with 1000, 1022 ConnType byte 2 (bind); body = JSON.
const CONN_INSPECT_RESPONSE: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "7f ed 00 00",                         // §2.1 content type 60799 ConnInspectResponse
    "04 00 00 00",                         // §1.4 host seq 4
    "21 00 00 00",                         // §1.1 header length 33
    "1a 00 00 00",                         // §1.1 body length 26
    "01 00 00 00 04 00 00 00 07 00 00 00", // §1.4 1 ReplyFor = 7
    "e8 03 00 00 04 00 00 00 01 00 00 00", // §2.2 1000 ConnId 1
    "fe 03 00 00 01 00 00 00 02",          // §2.2 1022 ConnType, byte 2 = bind
    // body {"connId":1,"type":"bind"}
    "7b 22 63 6f 6e 6e 49 64 22 3a 31 2c 22 74 79 70 65 22 3a 22 62 69 6e 64 22 7d",
);

#[test]
fn bind_success_decodes_and_encodes() {
    let bytes = unhex(BIND_SUCCESS);
    let frame = decode_one(&bytes);
    assert!(matches!(
        EdgeMessage::parse(&frame).unwrap(),
        EdgeMessage::BindSuccess(BindSuccess { conn_id: 1 })
    ));
    assert_encodes_to(&BindSuccess { conn_id: 1 }.to_frame(6), &bytes);
}

#[test]
fn conn_inspect_request_and_response() {
    let bytes = unhex(CONN_INSPECT_REQUEST);
    let request = ConnInspectRequest::from_frame(&decode_one(&bytes)).unwrap();
    assert_eq!(request.conn_id, 1);
    assert_encodes_to(&ConnInspectRequest { conn_id: 1 }.to_frame(7), &bytes);

    let bytes = unhex(CONN_INSPECT_RESPONSE);
    let frame = decode_one(&bytes);
    assert_eq!(frame.reply_for().unwrap(), Some(7));
    assert_eq!(frame.headers.get_byte(header::CONN_TYPE).unwrap(), Some(2));
    let response = ConnInspectResponse::from_frame(&frame).unwrap();
    assert_eq!(response.conn_id, 1);
    assert_eq!(response.conn_type, ConnType::Bind);
    assert_eq!(response.details.as_ref(), br#"{"connId":1,"type":"bind"}"#);
    // What the channel core (channel/core/mod.rs) answers for a live bind.
    let ours = ConnInspectResponse {
        conn_id: 1,
        conn_type: ConnType::Bind,
        details: Bytes::from_static(br#"{"connId":1,"type":"bind"}"#),
    };
    assert_encodes_to(&ours.to_frame(4).replying_to(7), &bytes);
}

// §2.3 UpdateBind: 1000, body = bind token, 1004 Cost u16, 1005 Precedence byte.
const UPDATE_BIND: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "7a ed 00 00",                         // §2.1 content type 60794 UpdateBind
    "28 00 00 00",                         // §1.4 seq 40
    "1f 00 00 00",                         // §1.1 header length 31
    "08 00 00 00",                         // §1.1 body length 8
    "e8 03 00 00 04 00 00 00 01 00 00 00", // §2.2 1000 ConnId 1
    "ec 03 00 00 02 00 00 00 0a 00",       // §2.2 1004 Cost u16 10
    "ed 03 00 00 01 00 00 00 02",          // §2.2/§5 1005 Precedence 2 = failed
    "62 69 6e 64 2d 74 6f 6b",             // body "bind-tok"
);

// §2.3 HealthEvent: 1000, body = bind token, 1013 HealthStatus bool.
const HEALTH_EVENT: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "7b ed 00 00",                         // §2.1 content type 60795 HealthEvent
    "29 00 00 00",                         // §1.4 seq 41
    "15 00 00 00",                         // §1.1 header length 21
    "08 00 00 00",                         // §1.1 body length 8
    "e8 03 00 00 04 00 00 00 01 00 00 00", // §2.2 1000 ConnId 1
    "f5 03 00 00 01 00 00 00 00",          // §2.2 1013 HealthStatus, bool false
    "62 69 6e 64 2d 74 6f 6b",             // body "bind-tok"
);

#[test]
fn update_bind_and_health_event() {
    let bytes = unhex(UPDATE_BIND);
    let update = UpdateBind::from_frame(&decode_one(&bytes)).unwrap();
    assert_eq!(update.conn_id, 1);
    assert_eq!(update.cost, Some(10));
    assert_eq!(update.precedence, Some(Precedence::Failed));
    assert_eq!(update.token.as_ref(), b"bind-tok");
    let ours = UpdateBind {
        conn_id: 1,
        token: Bytes::from_static(b"bind-tok"),
        cost: Some(10),
        precedence: Some(Precedence::Failed),
    };
    assert_encodes_to(&ours.to_frame(40), &bytes);

    let bytes = unhex(HEALTH_EVENT);
    let event = HealthEvent::from_frame(&decode_one(&bytes)).unwrap();
    assert_eq!(event.conn_id, 1);
    assert!(!event.healthy);
    let ours = HealthEvent {
        conn_id: 1,
        token: Bytes::from_static(b"bind-tok"),
        healthy: false,
    };
    assert_encodes_to(&ours.to_frame(41), &bytes);
}
