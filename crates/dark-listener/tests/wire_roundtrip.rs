//! Every edge message type survives message → frame → bytes → frame → message, with all
//! optional fields set and with none set; header value encodings keep their exact widths.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use dark_listener::wire::consts::{content_type, flags, header, ConnType, ErrorCode, Precedence};
use dark_listener::wire::edge::*;
use dark_listener::wire::frame::{Frame, FrameCodec, SequenceCounter};
use dark_listener::wire::headers::{HeaderError, Headers};
use tokio_util::codec::{Decoder, Encoder};

fn through_bytes(frame: Frame) -> Frame {
    let mut codec = FrameCodec::new();
    let mut buf = BytesMut::new();
    codec.encode(&frame, &mut buf).unwrap();
    let decoded = codec.decode(&mut buf).unwrap().unwrap();
    assert!(buf.is_empty());
    assert_eq!(decoded, frame);
    decoded
}

fn key(b: u8) -> PublicKey {
    PublicKey([b; 32])
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn b(v: &'static [u8]) -> Bytes {
    Bytes::from_static(v)
}

macro_rules! roundtrip {
    ($ty:ident, $value:expr) => {{
        let value: $ty = $value;
        let frame = through_bytes(value.to_frame(7));
        assert_eq!(frame.sequence, 7);
        let parsed = $ty::from_frame(&frame).unwrap();
        assert_eq!(parsed, value);
        let via_enum = EdgeMessage::parse(&frame).unwrap();
        assert_eq!(via_enum.to_frame(7).unwrap(), frame);
        via_enum
    }};
}

#[test]
fn hello_roundtrip() {
    roundtrip!(
        Hello,
        Hello {
            session_token: b(b"tok"),
            identifier: b(b"me"),
            ..Default::default()
        }
    );
    let full = Hello {
        session_token: b(b"tok"),
        identifier: b(b"ziti-sdk-c[1]@h"),
        connection_id: s("c1"),
        is_grouped: true,
        underlay_type: s("edge.default"),
        is_first_group_connection: true,
        group_secret: Some(b(&[9; 16])),
        supports_inspect: true,
    };
    assert!(matches!(roundtrip!(Hello, full), EdgeMessage::Hello(_)));
}

#[test]
fn hello_reply_roundtrip() {
    let reply = HelloReply {
        success: true,
        message: Bytes::new(),
        connection_id: s("conn-1"),
        router_id: s("router-a"),
        version: Some(RouterVersion::parse("v2.0.3|abc|2026-08-20|linux|amd64")),
        supports_bind_success: true,
        supports_posture_checks: true,
        capabilities: Some(RouterCapabilities::from_bits(&[1, 2, 62])),
        is_grouped: true,
        underlay_type: s("edge.default"),
        group_secret: Some(b(&[1; 16])),
        reject_class: None,
    };
    let frame = through_bytes(reply.to_frame(-1).replying_to(-1));
    assert_eq!(frame.reply_for().unwrap(), Some(-1));
    assert_eq!(HelloReply::from_frame(&frame).unwrap(), reply);
    assert_eq!(reply.version.as_ref().unwrap().os, "linux");
    assert_eq!(
        reply.version.as_ref().unwrap().encode(),
        "v2.0.3|abc|2026-08-20|linux|amd64"
    );
    let rejected = HelloReply {
        success: false,
        message: b(b"busy"),
        reject_class: Some(1),
        ..Default::default()
    };
    let frame = through_bytes(rejected.to_frame(1));
    assert_eq!(HelloReply::from_frame(&frame).unwrap(), rejected);
}

#[test]
fn result_and_latency_roundtrip() {
    roundtrip!(
        ChannelResult,
        ChannelResult {
            success: true,
            message: b(b"ok")
        }
    );
    roundtrip!(
        ChannelResult,
        ChannelResult {
            success: false,
            message: b(b"no")
        }
    );
    let probe = LatencyProbe::from_timestamp(0x0102_0304_0506_0708);
    assert_eq!(probe.timestamp(), Some(0x0102_0304_0506_0708));
    roundtrip!(LatencyProbe, probe.clone());
    let request = through_bytes(probe.to_frame(11));
    let answer = through_bytes(LatencyProbe::response(&request, 3));
    assert_eq!(answer.content_type, content_type::RESULT);
    let parsed = LatencyResponse::from_frame(&answer).unwrap();
    assert_eq!(parsed.reply_for, 11);
    assert_eq!(parsed.probe, probe.probe);
    assert_eq!(
        LatencyResponse::from_frame(&parsed.to_frame(3)).unwrap(),
        parsed
    );
    // Content type 4 form through the enum.
    let ct4 = EdgeMessage::LatencyResponse(parsed.clone())
        .to_frame(4)
        .unwrap();
    assert_eq!(ct4.content_type, content_type::LATENCY_RESPONSE);
    assert_eq!(
        EdgeMessage::parse(&ct4).unwrap(),
        EdgeMessage::LatencyResponse(parsed)
    );
}

#[test]
fn connect_roundtrip() {
    roundtrip!(
        Connect,
        Connect {
            conn_id: 3,
            token: b(b"t"),
            ..Default::default()
        }
    );
    roundtrip!(
        Connect,
        Connect {
            conn_id: 2_147_483_645,
            token: b(b"dial-token"),
            public_key: Some(key(7)),
            terminator_identity: s("host-a"),
            caller_id: s("caller"),
            app_data: Some(b(b"{\"k\":1}")),
            stickiness_token: Some(b(b"st")),
            connection_marker: s("mk"),
            use_xgress_to_sdk: Some(false),
            crypto_method: CryptoMethod::Libsodium,
        }
    );
}

#[test]
fn state_messages_roundtrip() {
    roundtrip!(
        StateConnected,
        StateConnected {
            conn_id: 1,
            ..Default::default()
        }
    );
    roundtrip!(
        StateConnected,
        StateConnected {
            conn_id: 1,
            circuit_id: s("circ"),
            router_provided_conn_id: true,
            public_key: Some(key(1)),
            stickiness_token: Some(b(b"x")),
            use_xgress_to_sdk: true,
            xgress_ctrl_id: s("ctrl"),
            xgress_address: s("addr"),
        }
    );
    roundtrip!(
        StateClosed,
        StateClosed {
            conn_id: 4,
            ..Default::default()
        }
    );
    roundtrip!(
        StateClosed,
        StateClosed {
            conn_id: 4,
            reason: b(b"encryption required"),
            error: ErrorDetails {
                code: Some(ErrorCode::EncryptionDataMissing),
                structured: Some(StructuredError {
                    message: "initiator did not send public header".into(),
                    code: 11,
                    retry_hint: 3,
                    failing_posture_check_ids: vec!["pc1".into()],
                }),
            },
            circuit_id: s("c"),
        }
    );
}

#[test]
fn data_roundtrip_and_flags() {
    roundtrip!(
        Data,
        Data {
            conn_id: 9,
            payload: b(b"hello"),
            ..Default::default()
        }
    );
    let fin = Data {
        conn_id: 9,
        flags: flags::FIN,
        ..Default::default()
    };
    assert!(fin.is_fin());
    roundtrip!(Data, fin);
    let multi = Data {
        conn_id: 9,
        flags: flags::MULTIPART_MSG,
        uuid: Some(b(&[5; 16])),
        payload: b(b"parts"),
    };
    assert!(multi.is_multipart() && !multi.is_fin());
    roundtrip!(Data, multi);
    // The C SDK adds 1001 Seq: it is ignored.
    let mut frame = Data {
        conn_id: 9,
        payload: b(b"x"),
        ..Default::default()
    }
    .to_frame(1);
    frame.headers.put_u32(header::SEQ, 77);
    assert_eq!(Data::from_frame(&frame).unwrap().payload.as_ref(), b"x");
}

#[test]
fn dial_messages_roundtrip() {
    roundtrip!(
        Dial,
        Dial {
            bind_conn_id: 1,
            token: b(b"bind"),
            ..Default::default()
        }
    );
    roundtrip!(
        Dial,
        Dial {
            bind_conn_id: 1,
            new_conn_id: Some(1 << 31),
            token: b(b"bind"),
            caller_id: s(""),
            circuit_id: s("circ"),
            public_key: Some(key(2)),
            connection_marker: s("m"),
            app_data: Some(b(b"app")),
            dialer_identity_id: s("id-1"),
            dialer_identity_name: s("scraper"),
            crypto_method: CryptoMethod::Libsodium,
        }
    );
    let ok = DialSuccess {
        bind_conn_id: 1,
        new_conn_id: 2_147_483_648,
        public_key: Some(key(3)),
    };
    let frame = through_bytes(ok.to_frame(2).replying_to(9));
    assert_eq!(frame.body.as_ref(), &[0, 0, 0, 0x80]);
    assert_eq!(frame.reply_for().unwrap(), Some(9));
    assert_eq!(DialSuccess::from_frame(&frame).unwrap(), ok);
    roundtrip!(
        DialSuccess,
        DialSuccess {
            bind_conn_id: 1,
            new_conn_id: 5,
            public_key: None
        }
    );
    roundtrip!(
        DialFailed,
        DialFailed {
            bind_conn_id: 1,
            reason: b(b"no")
        }
    );
}

#[test]
fn bind_messages_roundtrip() {
    roundtrip!(
        Bind,
        Bind {
            conn_id: 1,
            token: b(b"b"),
            ..Default::default()
        }
    );
    roundtrip!(
        Bind,
        Bind {
            conn_id: 1,
            token: b(b"b"),
            cost: Some(65535),
            precedence: Some(Precedence::Required),
            terminator_identity: s("node-1"),
            terminator_identity_secret: Some(b(&[1, 2, 3])),
            listener_id: s("L"),
            router_provided_conn_id: true,
            supports_inspect: true,
            supports_bind_success: true,
            public_key: Some(key(4)),
            use_xgress_to_sdk: Some(false),
            crypto_method: CryptoMethod::Libsodium,
        }
    );
    roundtrip!(
        Unbind,
        Unbind {
            conn_id: 1,
            token: b(b"b"),
            listener_id: s("L")
        }
    );
    roundtrip!(
        Unbind,
        Unbind {
            conn_id: 1,
            token: b(b"b"),
            listener_id: None
        }
    );
    roundtrip!(
        UpdateBind,
        UpdateBind {
            conn_id: 1,
            token: b(b"b"),
            cost: Some(10),
            precedence: Some(Precedence::Failed)
        }
    );
    roundtrip!(
        UpdateBind,
        UpdateBind {
            conn_id: 1,
            token: b(b"b"),
            cost: None,
            precedence: None
        }
    );
    roundtrip!(
        HealthEvent,
        HealthEvent {
            conn_id: 1,
            token: b(b"b"),
            healthy: false
        }
    );
    roundtrip!(
        HealthEvent,
        HealthEvent {
            conn_id: 1,
            token: b(b"b"),
            healthy: true
        }
    );
    roundtrip!(BindSuccess, BindSuccess { conn_id: 1 });
}

#[test]
fn inspect_and_token_messages_roundtrip() {
    roundtrip!(ConnInspectRequest, ConnInspectRequest { conn_id: 8 });
    for conn_type in [
        ConnType::Invalid,
        ConnType::Dial,
        ConnType::Bind,
        ConnType::Unknown,
    ] {
        roundtrip!(
            ConnInspectResponse,
            ConnInspectResponse {
                conn_id: 8,
                conn_type,
                details: b(b"{}")
            }
        );
    }
    roundtrip!(
        UpdateToken,
        UpdateToken {
            token: b(b"eyJ...")
        }
    );
    roundtrip!(UpdateTokenSuccess, UpdateTokenSuccess);
    roundtrip!(
        UpdateTokenFailure,
        UpdateTokenFailure {
            reason: b(b"expired"),
            error: ErrorDetails {
                code: Some(ErrorCode::InvalidApiSession),
                structured: None
            },
        }
    );
}

#[test]
fn unknown_content_type_is_unsupported_not_an_error() {
    let frame = Frame::new(content_type::XG_PAYLOAD, 1, "x");
    assert_eq!(
        EdgeMessage::parse(&frame).unwrap(),
        EdgeMessage::Unsupported(1100)
    );
    assert!(EdgeMessage::Unsupported(1100).to_frame(1).is_none());
}

#[test]
fn crypto_method_is_never_sent_and_read_leniently() {
    let connect = Connect {
        conn_id: 1,
        public_key: Some(key(1)),
        ..Default::default()
    };
    assert!(!connect.to_frame(1).headers.contains(header::CRYPTO_METHOD));
    let cases: [(&[u8], bool); 5] = [
        (&[0], true),
        (b"libsodium", true),
        (&[1], false),
        (b"aes-gcm", false),
        (b"none", false),
    ];
    for (raw, libsodium) in cases {
        let mut f = connect.to_frame(1);
        f.headers
            .put_bytes(header::CRYPTO_METHOD, Bytes::copy_from_slice(raw));
        let parsed = Connect::from_frame(&f).unwrap().crypto_method;
        assert_eq!(parsed == CryptoMethod::Libsodium, libsodium, "{raw:?}");
        let mut d = Dial {
            bind_conn_id: 1,
            ..Default::default()
        }
        .to_frame(1);
        d.headers
            .put_bytes(header::CRYPTO_METHOD, Bytes::copy_from_slice(raw));
        assert_eq!(
            Dial::from_frame(&d).unwrap().crypto_method == CryptoMethod::Libsodium,
            libsodium
        );
    }
}

#[test]
fn sequence_counter_starts_at_one() {
    let mut seq = SequenceCounter::new();
    assert_eq!(
        (
            seq.next_sequence(),
            seq.next_sequence(),
            seq.next_sequence()
        ),
        (1, 2, 3)
    );
}

#[test]
fn reply_to_copies_reflected_header_only() {
    let mut request = Frame::new(content_type::LATENCY, 42, Bytes::new());
    request.headers.put_u64(header::REFLECTED, 99);
    request.headers.put_u32(header::CONN_ID, 5);
    let mut reply = Frame::new(content_type::RESULT, 1, Bytes::new());
    reply.reply_to(&request);
    assert_eq!(reply.reply_for().unwrap(), Some(42));
    assert_eq!(reply.headers.get_u64(header::REFLECTED).unwrap(), Some(99));
    assert!(!reply.headers.contains(header::CONN_ID));
    assert_eq!(Frame::new(2, 1, "").reply_for().unwrap(), None);
}

#[test]
fn header_widths_are_exact() {
    let mut h = Headers::new();
    h.put_bool(1, true);
    h.put_bool(2, false);
    h.put_byte(3, 0xab);
    h.put_u16(4, 0x0102);
    h.put_u32(5, 0x01020304);
    h.put_u64(6, 0x0102030405060708);
    h.put_i32(7, -2);
    h.put_string(8, "héllo");
    let raw: Vec<(i32, Vec<u8>)> = h.iter().map(|(k, v)| (k, v.to_vec())).collect();
    assert_eq!(
        raw,
        vec![
            (1, vec![1]),
            (2, vec![0]),
            (3, vec![0xab]),
            (4, vec![2, 1]),
            (5, vec![4, 3, 2, 1]),
            (6, vec![8, 7, 6, 5, 4, 3, 2, 1]),
            (7, vec![0xfe, 0xff, 0xff, 0xff]),
            (8, "héllo".as_bytes().to_vec()),
        ]
    );
    assert_eq!(h.get_bool(1).unwrap(), Some(true));
    assert_eq!(h.get_bool(2).unwrap(), Some(false));
    assert_eq!(h.get_byte(3).unwrap(), Some(0xab));
    assert_eq!(h.get_u16(4).unwrap(), Some(0x0102));
    assert_eq!(h.get_u32(5).unwrap(), Some(0x01020304));
    assert_eq!(h.get_u64(6).unwrap(), Some(0x0102030405060708));
    assert_eq!(h.get_i32(7).unwrap(), Some(-2));
    assert_eq!(h.get_string(8).unwrap().as_deref(), Some("héllo"));
    assert_eq!(h.get_u32(99).unwrap(), None);
    // Wrong widths are errors, not guesses.
    assert_eq!(
        h.get_u32(4).unwrap_err(),
        HeaderError::WrongWidth {
            id: 4,
            expected: 4,
            actual: 2
        }
    );
    assert!(matches!(h.get_u16(5), Err(HeaderError::WrongWidth { .. })));
    assert!(matches!(h.get_u64(5), Err(HeaderError::WrongWidth { .. })));
    assert!(matches!(h.get_bool(4), Err(HeaderError::WrongWidth { .. })));
    assert_eq!(
        h.get_bool(3).unwrap_err(),
        HeaderError::InvalidBool { id: 3, value: 0xab }
    );
    h.put_bytes(9, vec![0xff, 0xfe]);
    assert_eq!(
        h.get_string(9).unwrap_err(),
        HeaderError::InvalidUtf8 { id: 9 }
    );
}

#[test]
fn collection_headers_roundtrip_and_limits() {
    let mut h = Headers::new();
    h.put_string_slice(1031, &["a", "bc", ""]).unwrap();
    assert_eq!(
        h.get_bytes(1031).unwrap().as_ref(),
        &[3, 0, 0, 0, 1, 0, 0, 0, b'a', 2, 0, 0, 0, b'b', b'c', 0, 0, 0, 0]
    );
    assert_eq!(
        h.get_string_slice(1031).unwrap().unwrap(),
        vec!["a", "bc", ""]
    );
    h.put_string_slice::<&str>(1031, &[]).unwrap();
    assert!(h.get_bytes(1031).unwrap().is_empty());
    assert_eq!(
        h.get_string_slice(1031).unwrap().unwrap(),
        Vec::<String>::new()
    );

    let mut m = BTreeMap::new();
    m.insert(7u32, b(b"seven"));
    m.insert(1u32, Bytes::new());
    h.put_u32_bytes_map(50, &m).unwrap();
    assert_eq!(
        h.get_bytes(50).unwrap().as_ref(),
        &[
            2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 5, 0, 0, 0, b's', b'e', b'v', b'e',
            b'n'
        ]
    );
    assert_eq!(h.get_u32_bytes_map(50).unwrap().unwrap(), m);

    let mut sm = BTreeMap::new();
    sm.insert("k".to_string(), "v".to_string());
    h.put_string_map(51, &sm).unwrap();
    assert_eq!(
        h.get_bytes(51).unwrap().as_ref(),
        &[1, 0, 0, 0, 1, 0, 0, 0, b'k', 1, 0, 0, 0, b'v']
    );
    assert_eq!(h.get_string_map(51).unwrap().unwrap(), sm);

    // Limits on put.
    let many: Vec<String> = (0..129).map(|i| i.to_string()).collect();
    assert_eq!(
        h.put_string_slice(52, &many),
        Err(HeaderError::TooManyEntries { id: 52, count: 129 })
    );
    let long = "x".repeat(8193);
    assert_eq!(
        h.put_string_slice(52, &[long.as_str()]),
        Err(HeaderError::EntryTooLong { id: 52, len: 8193 })
    );
    assert!(h.put_string_slice(52, &["x".repeat(8192)]).is_ok());
    assert_eq!(h.get_string_slice(52).unwrap().unwrap()[0].len(), 8192);
    let at_limit: Vec<String> = (0..128).map(|i| i.to_string()).collect();
    h.put_string_slice(53, &at_limit).unwrap();
    assert_eq!(h.get_string_slice(53).unwrap().unwrap(), at_limit);
}

type ErrorCheck = fn(&HeaderError) -> bool;

#[test]
fn malformed_collections_are_typed_errors() {
    let cases: Vec<(Vec<u8>, ErrorCheck)> = vec![
        (vec![1, 0, 0], |e| {
            matches!(e, HeaderError::TruncatedCollection { offset: 0, .. })
        }),
        (vec![1, 0, 0, 0], |e| {
            matches!(e, HeaderError::TruncatedCollection { offset: 4, .. })
        }),
        (vec![1, 0, 0, 0, 5, 0, 0, 0, b'a'], |e| {
            matches!(e, HeaderError::TruncatedCollection { offset: 8, .. })
        }),
        (vec![1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], |e| {
            matches!(e, HeaderError::EntryTooLong { .. })
        }),
        (vec![129, 0, 0, 0], |e| {
            matches!(e, HeaderError::TooManyEntries { count: 129, .. })
        }),
        (vec![0, 0, 0, 0, 9], |e| {
            matches!(e, HeaderError::TrailingBytes { extra: 1, .. })
        }),
        (vec![1, 0, 0, 0, 1, 0, 0, 0, 0xff], |e| {
            matches!(e, HeaderError::InvalidUtf8 { .. })
        }),
    ];
    for (raw, check) in cases {
        let mut h = Headers::new();
        h.put_bytes(1031, raw.clone());
        let err = h.get_string_slice(1031).unwrap_err();
        assert!(check(&err), "{raw:?} gave {err:?}");
    }
    let mut h = Headers::new();
    h.put_bytes(60, vec![1, 0, 0, 0, 7, 0, 0, 0]);
    assert!(matches!(
        h.get_u32_bytes_map(60),
        Err(HeaderError::TruncatedCollection { offset: 8, .. })
    ));
    h.put_bytes(61, vec![1, 0, 0, 0, 1, 0, 0, 0, b'k']);
    assert!(matches!(
        h.get_string_map(61),
        Err(HeaderError::TruncatedCollection { offset: 9, .. })
    ));
}
