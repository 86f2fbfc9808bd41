//! Fuzz the channel v2 frame decoder and every edge message parser.
//!
//! The first input byte picks a chunk size so that partial-frame handling is exercised; the
//! rest is the byte stream. Decoded frames are parsed as edge messages, re-encoded, and
//! decoded again, which must give the same frame.
#![no_main]

use bytes::BytesMut;
use dark_listener::wire::edge::{EdgeMessage, HelloReply, LatencyResponse};
use dark_listener::wire::frame::{FrameCodec, FrameLimits};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk % 64) + 1;
    let limits = FrameLimits {
        max_header_bytes: 16 * 1024,
        max_body_bytes: 256 * 1024,
    };
    let mut codec = FrameCodec::with_limits(limits);
    let mut buf = BytesMut::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    let _ = EdgeMessage::parse(&frame);
                    let _ = HelloReply::from_frame(&frame);
                    let _ = LatencyResponse::from_frame(&frame);
                    for (id, _) in frame.headers.iter() {
                        let _ = frame.headers.get_string_slice(id);
                        let _ = frame.headers.get_u32_bytes_map(id);
                        let _ = frame.headers.get_string_map(id);
                    }
                    // Re-encoding a decoded frame and decoding it again is the identity
                    // (duplicate ids were already collapsed by the first decode).
                    let bytes = frame.to_bytes().expect("decoded frames fit the wire");
                    let mut again = BytesMut::from(&bytes[..]);
                    let round = FrameCodec::with_limits(limits)
                        .decode(&mut again)
                        .expect("re-encoded frame decodes")
                        .expect("re-encoded frame is whole");
                    assert_eq!(round, frame);
                    assert!(again.is_empty());
                }
                Ok(None) => break,
                Err(_) => return,
            }
            assert!(buf.capacity() <= 20 + 16 * 1024 + 256 * 1024 + 128);
        }
    }
    let _ = codec.decode_eof(&mut buf);
});
