//! Malformed input to the frame decoder and the edge parsers: every case is a typed error,
//! never a panic, and the decoder refuses oversized lengths before buffering the body.

use bytes::{BufMut, Bytes, BytesMut};
use dark_listener::wire::consts::{content_type, header};
use dark_listener::wire::edge::*;
use dark_listener::wire::frame::{Frame, FrameCodec, FrameError, FrameLimits, LengthField};
use dark_listener::wire::headers::HeaderError;
use tokio_util::codec::Decoder;

/// A 20-byte frame header with the given lengths, followed by `rest`.
fn raw(ct: i32, seq: i32, hdr_len: u32, body_len: u32, rest: &[u8]) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_slice(&[3, 6, 9, 0x0c]);
    b.put_i32_le(ct);
    b.put_i32_le(seq);
    b.put_u32_le(hdr_len);
    b.put_u32_le(body_len);
    b.put_slice(rest);
    b
}

fn decode(mut buf: BytesMut) -> Result<Option<Frame>, FrameError> {
    FrameCodec::new().decode(&mut buf)
}

#[test]
fn bad_magic_reports_the_bytes_seen() {
    let err = decode(BytesMut::from(&b"\x16\x03\x01\x02\x00 tls hello?"[..])).unwrap_err();
    assert!(matches!(
        err,
        FrameError::BadMagic {
            seen: [0x16, 3, 1, 2],
            first_message: true
        }
    ));
    assert!(err.to_string().contains("16"), "{err}");
}

#[test]
fn short_header_sections_are_rejected() {
    for len in 1..8u32 {
        let buf = raw(0, 1, len, 0, &vec![0u8; len as usize]);
        let err = decode(buf).unwrap_err();
        assert!(
            matches!(err, FrameError::HeaderSectionTooShort { len: l } if l == len),
            "{len}: {err}"
        );
    }
}

#[test]
fn truncated_header_entry_is_rejected() {
    // 8-byte entry with empty value, then 4 stray bytes.
    let mut section = vec![0xe8, 3, 0, 0, 0, 0, 0, 0];
    section.extend_from_slice(&[1, 2, 3, 4]);
    let err = decode(raw(0, 1, 12, 0, &section)).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::TruncatedHeaderEntry {
                offset: 8,
                remaining: 4
            }
        ),
        "{err}"
    );
}

#[test]
fn header_value_past_section_end_is_rejected() {
    // Entry claims 5 value bytes; only 2 remain in the section, though the body follows.
    let section = [0xe8, 3, 0, 0, 5, 0, 0, 0, 1, 2];
    let mut rest = section.to_vec();
    rest.extend_from_slice(b"bodybody");
    let err = decode(raw(0, 1, 10, 8, &rest)).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::HeaderValueOverrun {
                id: 1000,
                offset: 0,
                len: 5,
                remaining: 2
            }
        ),
        "{err}"
    );
}

#[test]
fn header_value_length_minus_one_is_an_overrun() {
    let section = [0xe8, 3, 0, 0, 0xff, 0xff, 0xff, 0xff];
    let err = decode(raw(0, 1, 8, 0, &section)).unwrap_err();
    assert!(
        matches!(err, FrameError::HeaderValueOverrun { len: u32::MAX, .. }),
        "{err}"
    );
}

#[test]
fn negative_lengths_are_rejected_from_the_header_alone() {
    let err = decode(raw(0, 1, u32::MAX, 0, &[])).unwrap_err();
    assert!(matches!(
        err,
        FrameError::NegativeLength {
            field: LengthField::Headers,
            len: u32::MAX
        }
    ));
    let err = decode(raw(0, 1, 0, 0x8000_0000, &[])).unwrap_err();
    assert!(matches!(
        err,
        FrameError::NegativeLength {
            field: LengthField::Body,
            ..
        }
    ));
}

#[test]
fn oversized_lengths_fail_before_buffering_or_reserving() {
    let limits = FrameLimits {
        max_header_bytes: 100,
        max_body_bytes: 1000,
    };
    let mut codec = FrameCodec::with_limits(limits);
    // Only the 20-byte header has arrived: the error comes now, not after 1001 body bytes.
    let mut buf = raw(0, 1, 0, 1001, &[]);
    let cap_before = buf.capacity();
    let err = codec.decode(&mut buf).unwrap_err();
    assert!(matches!(
        err,
        FrameError::TooLong {
            field: LengthField::Body,
            len: 1001,
            limit: 1000
        }
    ));
    assert_eq!(
        buf.capacity(),
        cap_before,
        "nothing was reserved for the oversized body"
    );
    let mut buf = raw(0, 1, 101, 0, &[]);
    let err = codec.decode(&mut buf).unwrap_err();
    assert!(matches!(
        err,
        FrameError::TooLong {
            field: LengthField::Headers,
            len: 101,
            limit: 100
        }
    ));
    // At the limit is fine and reserves at most the limit.
    let mut buf = raw(0, 1, 0, 1000, &[]);
    assert!(codec.decode(&mut buf).unwrap().is_none());
    assert!(
        buf.capacity() <= 20 + 1000 + 64,
        "reserved {}",
        buf.capacity()
    );
}

#[test]
fn listener_holds_the_hello_to_hello_limits() {
    let mut codec = FrameCodec::for_listener(FrameLimits::default());
    let mut buf = raw(0, 1, 0, 4193, &[]);
    let err = codec.decode(&mut buf).unwrap_err();
    assert!(matches!(
        err,
        FrameError::TooLong {
            field: LengthField::Body,
            limit: 4192,
            ..
        }
    ));
    let mut codec = FrameCodec::for_listener(FrameLimits::default());
    let mut buf = raw(0, 1, 16385, 0, &[]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FrameError::TooLong { limit: 16384, .. })
    ));
}

#[test]
fn frames_split_into_tiny_chunks_decode_identically() {
    let frames: Vec<Frame> = (0..20)
        .map(|i| {
            Data {
                conn_id: i,
                flags: i % 2,
                uuid: None,
                payload: Bytes::from(vec![i as u8; i as usize * 37]),
            }
            .to_frame(i as i32 + 1)
        })
        .collect();
    let mut stream = BytesMut::new();
    for f in &frames {
        f.encode_into(&mut stream).unwrap();
    }
    let stream = stream.freeze();
    for chunk in [1usize, 2, 3, 7, 19, 20, 21, 64] {
        let mut codec = FrameCodec::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in stream.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                out.push(f);
            }
        }
        assert_eq!(out, frames, "chunk size {chunk}");
        assert!(buf.is_empty());
        assert_eq!(codec.frames_decoded(), 20);
    }
}

#[test]
fn eof_inside_a_frame_is_an_error() {
    let bytes = Data {
        conn_id: 1,
        payload: Bytes::from_static(b"abc"),
        ..Default::default()
    }
    .to_frame(1)
    .to_bytes()
    .unwrap();
    let mut buf = BytesMut::from(&bytes[..bytes.len() - 1]);
    let err = FrameCodec::new().decode_eof(&mut buf).unwrap_err();
    assert!(matches!(err, FrameError::TruncatedStream { buffered } if buffered == bytes.len() - 1));
    let mut empty = BytesMut::new();
    assert!(FrameCodec::new().decode_eof(&mut empty).unwrap().is_none());
}

#[test]
fn duplicate_header_ids_keep_the_last_value() {
    let section = [
        0xe8, 3, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, // 1000 = 1
        0xe8, 3, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, // 1000 = 2
    ];
    let frame = decode(raw(content_type::DATA, 1, 24, 0, &section))
        .unwrap()
        .unwrap();
    assert_eq!(frame.headers.len(), 1);
    assert_eq!(Data::from_frame(&frame).unwrap().conn_id, 2);
}

fn with_header(mut f: Frame, id: i32, value: &[u8]) -> Frame {
    f.headers.put_bytes(id, Bytes::copy_from_slice(value));
    f
}

#[test]
fn edge_parsers_name_what_is_wrong() {
    // Wrong content type.
    let f = Frame::new(content_type::DATA, 1, "");
    assert!(matches!(
        Connect::from_frame(&f),
        Err(EdgeError::WrongContentType {
            expected: 60783,
            found: 60786
        })
    ));
    // Missing conn id.
    let err = Data::from_frame(&f).unwrap_err();
    assert!(matches!(err, EdgeError::MissingHeader { id: 1000, .. }));
    assert!(err.to_string().contains("ConnId"), "{err}");
    // Conn id of the wrong width.
    let f = with_header(
        Frame::new(content_type::DATA, 1, ""),
        header::CONN_ID,
        &[1, 0],
    );
    assert!(matches!(
        Data::from_frame(&f),
        Err(EdgeError::BadHeader {
            source: HeaderError::WrongWidth {
                id: 1000,
                expected: 4,
                actual: 2
            },
            ..
        })
    ));
    // Hello without token.
    assert!(matches!(
        Hello::from_frame(&Frame::new(0, 1, "x")),
        Err(EdgeError::MissingHeader { id: 1002, .. })
    ));
    // Public key of 31 bytes.
    let f = Connect {
        conn_id: 1,
        ..Default::default()
    }
    .to_frame(1);
    let f = with_header(f, header::PUBLIC_KEY, &[0; 31]);
    assert!(matches!(
        Connect::from_frame(&f),
        Err(EdgeError::BadPublicKey { len: 31, .. })
    ));
    // Dial with a bool in 1012 instead of a u32.
    let f = with_header(
        Dial {
            bind_conn_id: 1,
            ..Default::default()
        }
        .to_frame(1),
        header::ROUTER_PROVIDED_CONN_ID,
        &[1],
    );
    assert!(matches!(
        Dial::from_frame(&f),
        Err(EdgeError::BadHeader { .. })
    ));
    // Bind with a 4-byte 1012 instead of a bool.
    let f = with_header(
        Bind {
            conn_id: 1,
            ..Default::default()
        }
        .to_frame(1),
        header::ROUTER_PROVIDED_CONN_ID,
        &[1, 0, 0, 0],
    );
    assert!(matches!(
        Bind::from_frame(&f),
        Err(EdgeError::BadHeader { .. })
    ));
    // Unknown precedence and conn type.
    let f = with_header(
        Bind {
            conn_id: 1,
            ..Default::default()
        }
        .to_frame(1),
        header::PRECEDENCE,
        &[7],
    );
    assert!(matches!(
        Bind::from_frame(&f),
        Err(EdgeError::UnknownEnumValue {
            id: 1005,
            value: 7,
            ..
        })
    ));
    let mut f = ConnInspectRequest { conn_id: 1 }.to_frame(1);
    f.content_type = content_type::CONN_INSPECT_RESPONSE;
    assert!(matches!(
        ConnInspectResponse::from_frame(&f),
        Err(EdgeError::MissingHeader { id: 1022, .. })
    ));
    let f = with_header(f, header::CONN_TYPE, &[9]);
    assert!(matches!(
        ConnInspectResponse::from_frame(&f),
        Err(EdgeError::UnknownEnumValue { id: 1022, .. })
    ));
    // Structured error that is not JSON.
    let f = with_header(
        StateClosed {
            conn_id: 1,
            ..Default::default()
        }
        .to_frame(1),
        header::STRUCTURED_ERROR,
        b"{nope",
    );
    assert!(matches!(
        StateClosed::from_frame(&f),
        Err(EdgeError::BadStructuredError { .. })
    ));
    // Health event without status.
    let mut f = BindSuccess { conn_id: 1 }.to_frame(1);
    f.content_type = content_type::HEALTH_EVENT;
    assert!(matches!(
        HealthEvent::from_frame(&f),
        Err(EdgeError::MissingHeader { id: 1013, .. })
    ));
    // Latency response without ReplyFor.
    let f = ChannelResult {
        success: true,
        message: Bytes::new(),
    }
    .to_frame(1);
    assert!(matches!(
        LatencyResponse::from_frame(&f),
        Err(EdgeError::MissingHeader { id: 1, .. })
    ));
}

#[test]
fn dial_success_body_must_be_exactly_four_bytes() {
    for len in [0usize, 1, 3, 5, 8] {
        let mut f = DialSuccess {
            bind_conn_id: 1,
            new_conn_id: 2,
            public_key: None,
        }
        .to_frame(1);
        f.body = Bytes::from(vec![0u8; len]);
        assert!(
            matches!(DialSuccess::from_frame(&f), Err(EdgeError::BadDialSuccessBody { len: l }) if l == len)
        );
    }
}

#[test]
fn structured_error_accepts_router_json() {
    let json =
        br#"{"message":"posture","code":15,"retryHint":3,"failingPostureCheckIds":["a","b"]}"#;
    let mut f = StateClosed {
        conn_id: 3,
        reason: Bytes::from_static(b"denied"),
        ..Default::default()
    }
    .to_frame(1);
    f.headers.put_u32(header::ERROR_CODE, 15);
    f.headers
        .put_bytes(header::STRUCTURED_ERROR, Bytes::from_static(json));
    let parsed = StateClosed::from_frame(&f).unwrap();
    let s = parsed.error.structured.unwrap();
    assert_eq!(
        (s.code, s.retry_hint, s.failing_posture_check_ids.len()),
        (15, 3, 2)
    );
    assert_eq!(
        parsed.error.code,
        Some(dark_listener::wire::consts::ErrorCode::PostureCheckFailed)
    );
}

/// Deterministic xorshift generator so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn twenty_thousand_random_and_mutated_inputs_never_panic() {
    let seeds: Vec<Bytes> = vec![
        Hello {
            session_token: Bytes::from_static(b"tok"),
            identifier: Bytes::from_static(b"id"),
            ..Default::default()
        }
        .to_frame(-1),
        Connect {
            conn_id: 1,
            token: Bytes::from_static(b"t"),
            caller_id: Some("c".into()),
            ..Default::default()
        }
        .to_frame(2),
        Dial {
            bind_conn_id: 1,
            new_conn_id: Some(5),
            public_key: Some(PublicKey([1; 32])),
            ..Default::default()
        }
        .to_frame(3),
        DialSuccess {
            bind_conn_id: 1,
            new_conn_id: 5,
            public_key: None,
        }
        .to_frame(4),
        StateClosed {
            conn_id: 1,
            error: ErrorDetails {
                code: Some(dark_listener::wire::consts::ErrorCode::Internal),
                structured: None,
            },
            ..Default::default()
        }
        .to_frame(5),
        ConnInspectResponse {
            conn_id: 1,
            conn_type: dark_listener::wire::consts::ConnType::Bind,
            details: Bytes::new(),
        }
        .to_frame(6),
    ]
    .into_iter()
    .map(|f| f.to_bytes().unwrap())
    .collect();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let limits = FrameLimits {
        max_header_bytes: 4096,
        max_body_bytes: 65536,
    };
    let (mut frames, mut errors) = (0u32, 0u32);
    for i in 0..20_000 {
        let input: Vec<u8> = if i % 4 == 0 {
            let len = rng.below(96);
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            let mut v = seeds[rng.below(seeds.len())].to_vec();
            for _ in 0..1 + rng.below(4) {
                if v.is_empty() {
                    v.push(rng.next() as u8);
                }
                match rng.below(3) {
                    0 => {
                        let at = rng.below(v.len());
                        v[at] = rng.next() as u8;
                    }
                    1 => v.truncate(rng.below(v.len() + 1)),
                    _ => {
                        let at = rng.below(v.len() + 1);
                        v.insert(at, rng.next() as u8);
                    }
                }
            }
            v
        };
        let mut codec = FrameCodec::with_limits(limits);
        let mut buf = BytesMut::new();
        let chunk = 1 + rng.below(32);
        'feed: for piece in input.chunks(chunk) {
            buf.extend_from_slice(piece);
            for _ in 0..64 {
                match codec.decode(&mut buf) {
                    Ok(Some(frame)) => {
                        frames += 1;
                        let _ = EdgeMessage::parse(&frame);
                        let _ = HelloReply::from_frame(&frame);
                        let _ = LatencyResponse::from_frame(&frame);
                        for id in [1031, 1000, 1033] {
                            let _ = frame.headers.get_string_slice(id);
                            let _ = frame.headers.get_u32_bytes_map(id);
                            let _ = frame.headers.get_string_map(id);
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {
                        errors += 1;
                        break 'feed;
                    }
                }
            }
        }
        assert!(
            buf.capacity() <= 20 + 4096 + 65536 + 4096,
            "capacity {}",
            buf.capacity()
        );
    }
    // The corpus exercises both paths.
    assert!(frames > 1000, "frames decoded: {frames}");
    assert!(errors > 1000, "errors: {errors}");
}
