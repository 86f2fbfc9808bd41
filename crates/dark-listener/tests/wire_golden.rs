//! Golden byte fixtures for the channel layer, from the reference notes
//! (ziti-edge-protocol.md §1.1, §1.3–§1.7 and ziti-controller-api.md §5.1): Hello (ours, the
//! C SDK 0.29.3's and the C SDK 1.x grouped one), HelloReply (a Result, accepted and
//! rejected), the latency probe and both answer forms (Result, content type 4), Connect's
//! worked example, and version negotiation. The hex literals are written by hand from the
//! text, not produced by our encoder, so an encoder bug cannot hide behind a matching decoder.
//! Edge messages are in `wire_golden_dialer.rs` and `wire_golden_host.rs`; the helpers are in
//! `golden/mod.rs`.

#[macro_use]
mod golden;

use bytes::{Bytes, BytesMut};
use dark_listener::wire::consts::{content_type, header, NOT_A_REPLY};
use dark_listener::wire::edge::{
    ChannelResult, Connect, EdgeMessage, Hello, HelloReply, LatencyProbe, LatencyResponse,
    RouterCapabilities, RouterVersion,
};
use dark_listener::wire::frame::{unknown_version_reply, Frame, FrameCodec, FrameError};
use dark_listener::wire::headers::Headers;
use golden::{assert_encodes_to, decode_one, encode, unhex};
use tokio_util::codec::Decoder;

// §1.1 worked example 1: SDK hello, seq -1, one header 1002="abc", body "id".
const SDK_HELLO: &str = "03 06 09 0c | 00 00 00 00 | ff ff ff ff | 0b 00 00 00 | 02 00 00 00 | ea 03 00 00 03 00 00 00 61 62 63 | 69 64";
// §1.1 worked example 2: Connect, seq 5, header 1000=u32 1, body "tok".
const CONNECT: &str = "03 06 09 0c | 6f ed 00 00 | 05 00 00 00 | 0c 00 00 00 | 03 00 00 00 | e8 03 00 00 04 00 00 00 01 00 00 00 | 74 6f 6b";
// §1.6 unknown-version reply.
const UNKNOWN_VERSION: &str = "03 06 09 0A | 02 00 00 00 | 01 00 00 00 | 02 00 00 00";
// controller-api §5.1: C SDK 0.29.3 hello, seq 0, hdrLen 44, bodyLen 16, header 1002 = a
// 36-byte UUID token, body `ziti-sdk-c[0]@<host>` (host "lb" here).
const C_SDK_HELLO: &str = "03 06 09 0c | 00 00 00 00 | 00 00 00 00 | 2c 00 00 00 | 10 00 00 00 |
    ea 03 00 00 24 00 00 00
    30 66 33 62 32 61 36 65 2d 31 63 34 64 2d 34 65 38 66 2d 39 61 37 62 2d 35 63 36 64 37 65 38 66 39 61 30 62 |
    7a 69 74 69 2d 73 64 6b 2d 63 5b 30 5d 40 6c 62";

#[test]
fn sdk_hello_decodes_field_by_field() {
    let frame = decode_one(&unhex(SDK_HELLO));
    assert_eq!(frame.content_type, content_type::HELLO);
    assert_eq!(frame.sequence, -1);
    assert_eq!(frame.headers.len(), 1);
    assert_eq!(
        frame
            .headers
            .get_bytes(header::SESSION_TOKEN)
            .unwrap()
            .as_ref(),
        b"abc"
    );
    assert_eq!(frame.body.as_ref(), b"id");
    let hello = Hello::from_frame(&frame).unwrap();
    assert_eq!(hello.session_token.as_ref(), b"abc");
    assert_eq!(hello.identifier.as_ref(), b"id");
    assert!(!hello.is_grouped);
}

#[test]
fn sdk_hello_encodes_byte_for_byte() {
    let hello = Hello {
        session_token: Bytes::from_static(b"abc"),
        identifier: Bytes::from_static(b"id"),
        ..Hello::default()
    };
    assert_eq!(encode(&hello.to_frame(-1)), unhex(SDK_HELLO));
}

#[test]
fn connect_decodes_field_by_field() {
    let frame = decode_one(&unhex(CONNECT));
    assert_eq!(frame.content_type, 60783);
    assert_eq!(frame.sequence, 5);
    assert_eq!(frame.headers.get_u32(header::CONN_ID).unwrap(), Some(1));
    assert_eq!(frame.body.as_ref(), b"tok");
    let connect = Connect::from_frame(&frame).unwrap();
    assert_eq!(connect.conn_id, 1);
    assert_eq!(connect.token.as_ref(), b"tok");
    assert_eq!(connect.public_key, None);
}

#[test]
fn connect_encodes_byte_for_byte() {
    let connect = Connect {
        conn_id: 1,
        token: Bytes::from_static(b"tok"),
        ..Connect::default()
    };
    assert_eq!(encode(&connect.to_frame(5)), unhex(CONNECT));
    // The same frame built by hand through the generic header API.
    let mut headers = Headers::new();
    headers.put_u32(header::CONN_ID, 1);
    let frame = Frame {
        content_type: content_type::CONNECT,
        sequence: 5,
        headers,
        body: Bytes::from_static(b"tok"),
    };
    assert_eq!(
        frame.to_bytes().unwrap().as_ref(),
        unhex(CONNECT).as_slice()
    );
}

#[test]
fn unknown_version_reply_matches_reference() {
    assert_eq!(unknown_version_reply().to_vec(), unhex(UNKNOWN_VERSION));
}

#[test]
fn dialer_recognises_unknown_version_reply() {
    let mut codec = FrameCodec::new();
    let mut buf = BytesMut::from(unhex(UNKNOWN_VERSION).as_slice());
    let err = codec.decode(&mut buf).unwrap_err();
    assert!(err.is_unknown_version_reply(), "{err}");
}

#[test]
fn listener_gets_bad_magic_on_first_message() {
    let mut codec = FrameCodec::for_listener(Default::default());
    let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
    match codec.decode(&mut buf) {
        Err(e @ FrameError::BadMagic { .. }) => {
            assert!(e.wants_unknown_version_reply());
            assert!(matches!(e, FrameError::BadMagic { seen, .. } if &seen == b"GET "));
        }
        other => panic!("expected BadMagic, got {other:?}"),
    }
}

#[test]
fn bad_magic_after_first_frame_is_not_a_version_problem() {
    let mut codec = FrameCodec::new();
    let mut bytes = unhex(CONNECT);
    bytes.extend_from_slice(b"\x03\x06\x09\x0b and more");
    let mut buf = BytesMut::from(bytes.as_slice());
    assert!(codec.decode(&mut buf).unwrap().is_some());
    let err = codec.decode(&mut buf).unwrap_err();
    assert!(!err.wants_unknown_version_reply());
    assert!(matches!(
        err,
        FrameError::BadMagic {
            seen: [3, 6, 9, 0x0b],
            first_message: false
        }
    ));
}

#[test]
fn c_sdk_hello_decodes_and_encodes() {
    let bytes = unhex(C_SDK_HELLO);
    assert_eq!(bytes.len(), 20 + 44 + 16);
    let frame = decode_one(&bytes);
    assert_eq!(frame.sequence, 0);
    let hello = Hello::from_frame(&frame).unwrap();
    assert_eq!(
        hello.session_token.as_ref(),
        b"0f3b2a6e-1c4d-4e8f-9a7b-5c6d7e8f9a0b"
    );
    assert_eq!(hello.identifier.as_ref(), b"ziti-sdk-c[0]@lb");
    assert_eq!(encode(&hello.to_frame(0)), bytes);
}

#[test]
fn router_capabilities_of_current_main() {
    let caps = RouterCapabilities::from_bytes(Bytes::from(unhex("40 00 00 00 00 00 00 76")));
    assert_eq!(caps.bits(), vec![1, 2, 4, 5, 6, 62]);
    assert!(caps.connect_v2());
    assert!(!caps.has(0));
    assert!(!caps.has(3));
    assert!(!caps.has(63));
    assert!(!caps.has(1000));
    assert_eq!(
        RouterCapabilities::from_bits(&[1, 2, 4, 5, 6, 62])
            .as_bytes()
            .as_ref(),
        unhex("40 00 00 00 00 00 00 76").as_slice()
    );
}

// §1.5 "Router → SDK reply" as a router on main/2.1 sends it: Result, seq -1, ReplyFor = the
// hello's seq (-1), success, connection id, router id, version, 1024, 1032 and 1039.
const HELLO_REPLY: &str = concat!(
    "03 06 09 0c",             // §1.1 magic v2
    "02 00 00 00",             // §1.3 content type 2 Result
    "ff ff ff ff",             // §1.5 seq -1
    "6f 00 00 00",             // §1.1 header length 111
    "00 00 00 00",             // §1.5 body "" on success
    "01 00 00 00 04 00 00 00", // §1.3 header 1 ReplyFor, 4 bytes
    "ff ff ff ff",             // §1.4 i32 -1 = the hello's sequence
    "02 00 00 00 01 00 00 00", // §1.3 header 2 ResultSuccess, 1 byte
    "01",                      // §1.2 bool true
    "00 00 00 00 04 00 00 00", // §1.3 header 0 ConnectionId, 4 bytes
    "63 68 2d 31",             // §1.2 string "ch-1"
    "08 00 00 00 04 00 00 00", // §1.3 header 8 Id, 4 bytes
    "65 72 2d 31",             // §1.2 string "er-1"
    "04 00 00 00 18 00 00 00", // §1.3 header 4 HelloVersion, 24 bytes
    // §1.5 "v2.0.3|r1|d1|linux|amd64" (version|revision|buildDate|os|arch)
    "76 32 2e 30 2e 33 7c 72 31 7c 64 31 7c 6c 69 6e 75 78 7c 61 6d 64 36 34",
    "00 04 00 00 01 00 00 00", // §2.2 header 1024 SupportsBindSuccess, 1 byte
    "01",                      // §1.5 {1}
    "08 04 00 00 01 00 00 00", // §2.2 header 1032 SupportsPostureChecks, 1 byte
    "01",                      // §1.5 {1}
    "0f 04 00 00 08 00 00 00", // §2.2 header 1039 RouterCapabilities, 8 bytes
    "40 00 00 00 00 00 00 76", // §1.5 big-endian bits 1, 2, 4, 5, 6, 62 (current main)
);

// §1.5 failure form: ResultSuccess = 0, body = message, 13 HelloRejectClass, ReplyFor -1.
const HELLO_REJECTED: &str = concat!(
    "03 06 09 0c",                            // §1.1 magic v2
    "02 00 00 00",                            // §1.3 content type 2 Result
    "ff ff ff ff",                            // §1.5 seq -1
    "21 00 00 00",                            // §1.1 header length 33
    "0d 00 00 00",                            // §1.1 body length 13
    "01 00 00 00 04 00 00 00 ff ff ff ff",    // §1.5 ReplyFor forced to -1
    "02 00 00 00 01 00 00 00 00",             // §1.3 header 2 ResultSuccess = false (§1.2 bool)
    "0d 00 00 00 04 00 00 00 02 00 00 00", // §1.3 header 13 HelloRejectClass u32 2 = not permitted
    "6e 6f 74 20 70 65 72 6d 69 74 74 65 64", // body "not permitted"
);

#[test]
fn hello_reply_decodes_field_by_field() {
    let frame = decode_one(&unhex(HELLO_REPLY));
    assert_eq!(frame.content_type, content_type::RESULT);
    assert_eq!(frame.sequence, -1);
    assert_eq!(frame.reply_for().unwrap(), Some(-1));
    assert_eq!(frame.headers.len(), 8);
    assert!(frame.body.is_empty());
    let reply = HelloReply::from_frame(&frame).unwrap();
    assert!(reply.success);
    assert!(reply.message.is_empty());
    assert_eq!(reply.connection_id.as_deref(), Some("ch-1"));
    assert_eq!(reply.router_id.as_deref(), Some("er-1"));
    let version = reply.version.as_ref().unwrap();
    assert_eq!(
        (
            version.version.as_str(),
            version.revision.as_str(),
            version.build_date.as_str(),
            version.os.as_str(),
            version.arch.as_str()
        ),
        ("v2.0.3", "r1", "d1", "linux", "amd64")
    );
    assert!(reply.supports_bind_success);
    assert!(reply.supports_posture_checks);
    let caps = reply.capabilities.as_ref().unwrap();
    assert_eq!(caps.bits(), vec![1, 2, 4, 5, 6, 62]);
    assert!(caps.connect_v2());
    assert!(!reply.is_grouped);
    assert_eq!(reply.reject_class, None);
}

#[test]
fn hello_reply_encodes_to_the_fixture() {
    let reply = HelloReply {
        success: true,
        connection_id: Some("ch-1".into()),
        router_id: Some("er-1".into()),
        version: Some(RouterVersion::parse("v2.0.3|r1|d1|linux|amd64")),
        supports_bind_success: true,
        supports_posture_checks: true,
        capabilities: Some(RouterCapabilities::from_bits(&[1, 2, 4, 5, 6, 62])),
        ..HelloReply::default()
    };
    // Header order is free (§1.1); assert_encodes_to compares the headers as a map.
    assert_encodes_to(&reply.to_frame(-1).replying_to(-1), &unhex(HELLO_REPLY));
}

#[test]
fn rejected_hello_reply_decodes_and_encodes() {
    let bytes = unhex(HELLO_REJECTED);
    let frame = decode_one(&bytes);
    assert_eq!(frame.reply_for().unwrap(), Some(-1));
    assert_eq!(
        frame.headers.get_bool(header::RESULT_SUCCESS).unwrap(),
        Some(false)
    );
    let reply = HelloReply::from_frame(&frame).unwrap();
    assert!(!reply.success);
    assert_eq!(reply.message.as_ref(), b"not permitted");
    assert_eq!(reply.reject_class, Some(2));
    assert_eq!(reply.connection_id, None);
    let ours = HelloReply {
        success: false,
        message: Bytes::from_static(b"not permitted"),
        reject_class: Some(2),
        ..HelloReply::default()
    };
    assert_encodes_to(&ours.to_frame(-1).replying_to(-1), &bytes);
}

// §1.7 latency probe as the SDK sends it: ct 3, header 128 = u64 send timestamp (here
// 0x0102030405060708), no body.
const LATENCY_PROBE: &str = concat!(
    "03 06 09 0c",             // §1.1 magic v2
    "03 00 00 00",             // §1.3 content type 3 Latency
    "07 00 00 00",             // §1.4 seq 7
    "10 00 00 00",             // §1.1 header length 16
    "00 00 00 00",             // §1.1 body length 0
    "80 00 00 00 08 00 00 00", // §1.3 header 128 (reflected / probe time), 8 bytes
    "08 07 06 05 04 03 02 01", // §1.2 u64 LE 0x0102030405060708
);

// §1.7 the router's answer: Result (ct 2), ResultSuccess = 1, ReplyFor = the probe's seq,
// header 128 copied back; empty body.
const LATENCY_RESULT: &str = concat!(
    "03 06 09 0c",                         // §1.1 magic v2
    "02 00 00 00",                         // §1.3 content type 2 Result
    "0c 00 00 00",                         // §1.4 the router's own seq 12
    "25 00 00 00",                         // §1.1 header length 37
    "00 00 00 00",                         // §1.1 body length 0
    "02 00 00 00 01 00 00 00 01",          // §1.3 header 2 ResultSuccess = true
    "01 00 00 00 04 00 00 00 07 00 00 00", // §1.4 header 1 ReplyFor = 7
    "80 00 00 00 08 00 00 00",             // §1.3 header 128 copied from the probe
    "08 07 06 05 04 03 02 01",
);

#[test]
fn latency_probe_decodes_and_encodes() {
    let bytes = unhex(LATENCY_PROBE);
    let frame = decode_one(&bytes);
    assert_eq!(frame.content_type, content_type::LATENCY);
    assert_eq!(frame.sequence, 7);
    assert_eq!(
        frame.headers.get_u64(header::REFLECTED).unwrap(),
        Some(0x0102_0304_0506_0708)
    );
    let probe = LatencyProbe::from_frame(&frame).unwrap();
    assert_eq!(probe.timestamp(), Some(0x0102_0304_0506_0708));
    assert!(matches!(
        EdgeMessage::parse(&frame).unwrap(),
        EdgeMessage::Latency(_)
    ));
    assert_encodes_to(
        &LatencyProbe::from_timestamp(0x0102_0304_0506_0708).to_frame(7),
        &bytes,
    );
}

#[test]
fn latency_result_decodes_and_encodes() {
    let bytes = unhex(LATENCY_RESULT);
    let frame = decode_one(&bytes);
    assert_eq!(frame.content_type, content_type::RESULT);
    assert_eq!(frame.sequence, 12);
    let answer = LatencyResponse::from_frame(&frame).unwrap();
    assert_eq!(answer.reply_for, 7);
    assert_eq!(answer.probe.as_ref(), &unhex("08 07 06 05 04 03 02 01")[..]);
    let result = ChannelResult::from_frame(&frame).unwrap();
    assert!(result.success);
    assert!(result.message.is_empty());
    // Both ways this crate builds the answer: replying to the decoded probe (what the SDK
    // does when a router probes it) and from the typed response.
    let probe = decode_one(&unhex(LATENCY_PROBE));
    assert_encodes_to(&LatencyProbe::response(&probe, 12), &bytes);
    assert_encodes_to(
        &LatencyResponse {
            probe: Bytes::from(unhex("08 07 06 05 04 03 02 01")),
            reply_for: 7,
        }
        .to_frame(12),
        &bytes,
    );
}

// §1.3 content type 4 LatencyResponse, "used by latency.AddLatencyProbeResponder, not by edge
// routers". The notes give no layout; it is read from the upstream file they cite (§9:
// openziti/channel latency/latency.go, `Responder.HandleReceive`): a fresh message, not a
// reply, whose only header is 128 copied from the probe.
const LATENCY_RESPONSE_CT4: &str = concat!(
    "03 06 09 0c",             // §1.1 magic v2
    "04 00 00 00",             // §1.3 content type 4 LatencyResponse
    "09 00 00 00",             // §1.4 the responder's own seq 9
    "10 00 00 00",             // §1.1 header length 16
    "00 00 00 00",             // §1.1 body length 0
    "80 00 00 00 08 00 00 00", // §1.3 header 128 copied from the probe, 8 bytes
    "08 07 06 05 04 03 02 01", // §1.7 the probe's u64 timestamp
);

#[test]
fn latency_response_of_content_type_4_decodes_and_encodes() {
    let bytes = unhex(LATENCY_RESPONSE_CT4);
    let frame = decode_one(&bytes);
    assert_eq!(frame.content_type, content_type::LATENCY_RESPONSE);
    assert_eq!(frame.reply_for().unwrap(), None);
    let answer = LatencyResponse::from_frame(&frame).unwrap();
    assert_eq!(answer.reply_for, NOT_A_REPLY);
    assert_eq!(answer.probe.as_ref(), &unhex("08 07 06 05 04 03 02 01")[..]);
    let EdgeMessage::LatencyResponse(parsed) = EdgeMessage::parse(&frame).unwrap() else {
        panic!("content type 4 is a LatencyResponse");
    };
    assert_eq!(parsed, answer);
    assert_encodes_to(
        &EdgeMessage::LatencyResponse(answer).to_frame(9).unwrap(),
        &bytes,
    );
}

// §1.5 the C SDK 1.x hello: besides 1002 it always sends 1023 SupportsInspect, 9 IsGrouped,
// 11 IsFirstGroupConnection and 7 Type "edge.default"; seq 1 (§1.4: its first message).
const C_SDK_GROUPED_HELLO: &str = concat!(
    "03 06 09 0c",                                     // §1.1 magic v2
    "00 00 00 00",                                     // §1.3 content type 0 Hello
    "01 00 00 00",                                     // §1.4 seq 1
    "3a 00 00 00",                                     // §1.1 header length 58
    "10 00 00 00",                                     // §1.1 body length 16
    "ea 03 00 00 03 00 00 00 61 62 63",                // §2.2 1002 SessionToken "abc"
    "ff 03 00 00 01 00 00 00 01",                      // §2.2 1023 SupportsInspect true
    "09 00 00 00 01 00 00 00 01",                      // §1.3 9 IsGrouped true
    "0b 00 00 00 01 00 00 00 01",                      // §1.3 11 IsFirstGroupConnection true
    "07 00 00 00 0c 00 00 00",                         // §1.3 7 Type, 12 bytes:
    "65 64 67 65 2e 64 65 66 61 75 6c 74",             // "edge.default"
    "7a 69 74 69 2d 73 64 6b 2d 63 5b 30 5d 40 6c 62", // body "ziti-sdk-c[0]@lb"
);

#[test]
fn c_sdk_grouped_hello_decodes_and_encodes() {
    let bytes = unhex(C_SDK_GROUPED_HELLO);
    let frame = decode_one(&bytes);
    assert_eq!(frame.sequence, 1);
    let hello = Hello::from_frame(&frame).unwrap();
    assert_eq!(hello.session_token.as_ref(), b"abc");
    assert_eq!(hello.identifier.as_ref(), b"ziti-sdk-c[0]@lb");
    assert!(hello.supports_inspect);
    assert!(hello.is_grouped);
    assert!(hello.is_first_group_connection);
    assert_eq!(hello.underlay_type.as_deref(), Some("edge.default"));
    assert_eq!(hello.connection_id, None);
    assert_eq!(hello.group_secret, None);
    let ours = Hello {
        session_token: Bytes::from_static(b"abc"),
        identifier: Bytes::from_static(b"ziti-sdk-c[0]@lb"),
        is_grouped: true,
        underlay_type: Some("edge.default".into()),
        is_first_group_connection: true,
        supports_inspect: true,
        ..Hello::default()
    };
    assert_encodes_to(&ours.to_frame(1), &bytes);
}
