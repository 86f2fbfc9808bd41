//! Golden byte fixtures from the reference notes (ziti-edge-protocol.md §1.1, §1.6 and
//! ziti-controller-api.md §5.1). The hex literals are copied from the text, not produced by
//! our encoder, so an encoder bug cannot hide behind a matching decoder.

use bytes::{Bytes, BytesMut};
use dark_listener::wire::consts::{content_type, header};
use dark_listener::wire::edge::{Connect, Hello, RouterCapabilities};
use dark_listener::wire::frame::{unknown_version_reply, Frame, FrameCodec, FrameError};
use dark_listener::wire::headers::Headers;
use tokio_util::codec::{Decoder, Encoder};

fn unhex(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    hex::decode(clean).unwrap()
}

fn decode_one(bytes: &[u8]) -> Frame {
    let mut codec = FrameCodec::new();
    let mut buf = BytesMut::from(bytes);
    let frame = codec.decode(&mut buf).unwrap().expect("a whole frame");
    assert!(buf.is_empty(), "no bytes left over");
    frame
}

fn encode(frame: Frame) -> Vec<u8> {
    let mut out = BytesMut::new();
    FrameCodec::new().encode(frame, &mut out).unwrap();
    out.to_vec()
}

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
    assert_eq!(encode(hello.to_frame(-1)), unhex(SDK_HELLO));
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
    assert_eq!(encode(connect.to_frame(5)), unhex(CONNECT));
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
    assert_eq!(encode(hello.to_frame(0)), bytes);
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
