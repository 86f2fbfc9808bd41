//! Helpers shared by the golden byte fixture tests (`wire_golden*.rs`).
//!
//! The fixtures themselves are hex literals written by hand from
//! `docs/reference/ziti-edge-protocol.md`; nothing here produces expected bytes. What this
//! module does:
//!
//! * [`unhex`] turns a fixture into bytes (spaces and `|` separate groups; any other
//!   non-hex character is a typo and panics);
//! * [`decode_one`] decodes a fixture with the crate's [`FrameCodec`], once whole and once
//!   fed a byte at a time, and checks both give the same frame;
//! * [`encode`] encodes a frame with both writers the SDK and the lab router use
//!   ([`FrameCodec`] and [`FrameBatch`]) and checks they agree;
//! * [`assert_encodes_to`] compares our encoding with a fixture: the 20-byte frame header
//!   and the body byte for byte, and the header section as a map from id to value bytes,
//!   parsed here by a few lines independent of the crate's decoder. The protocol leaves the
//!   order of headers free (§1.1: "order is arbitrary (Go writes map iteration order)"), so
//!   a fixture may list them in another order than our encoder writes them. For frames with
//!   at most one header this is a byte-for-byte comparison.

#![allow(dead_code)] // each test crate uses a different subset

use std::collections::BTreeMap;

use bytes::{Buf, BytesMut};
use dark_listener::wire::frame::{Frame, FrameCodec};
use dark_listener::wire::FrameBatch;
use tokio_util::codec::{Decoder, Encoder};

/// A 32-byte X25519 public key used by the fixtures: bytes 01, 02, …, 20 (§2.2 header 1003
/// is 32 raw bytes). The test crates declare this module with `#[macro_use]`.
#[allow(unused_macros)] // not every test crate needs a key
macro_rules! pk_hex {
    () => {
        "01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f 20"
    };
}

/// The key of [`pk_hex!`] as a typed value.
pub fn fixture_key() -> dark_listener::wire::edge::PublicKey {
    dark_listener::wire::edge::PublicKey(std::array::from_fn(|i| i as u8 + 1))
}

/// Bytes of a hand-written hex fixture. Whitespace and `|` are separators.
pub fn unhex(s: &str) -> Vec<u8> {
    let mut clean = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            c if c.is_ascii_hexdigit() => clean.push(c),
            c if c.is_whitespace() || c == '|' => {}
            other => panic!("fixture contains {other:?}, which is neither hex nor a separator"),
        }
    }
    assert!(
        clean.len() % 2 == 0,
        "fixture has an odd number of hex digits"
    );
    hex::decode(clean).unwrap()
}

/// Decodes exactly one frame from `bytes`, whole and byte by byte.
pub fn decode_one(bytes: &[u8]) -> Frame {
    let mut codec = FrameCodec::new();
    let mut buf = BytesMut::from(bytes);
    let frame = codec.decode(&mut buf).unwrap().expect("a whole frame");
    assert!(buf.is_empty(), "no bytes left over");

    let mut codec = FrameCodec::new();
    let mut buf = BytesMut::new();
    for (i, b) in bytes.iter().enumerate() {
        buf.extend_from_slice(&[*b]);
        let got = codec.decode(&mut buf).unwrap();
        if i + 1 < bytes.len() {
            assert!(got.is_none(), "a frame decoded after only {} bytes", i + 1);
        } else {
            assert_eq!(got.as_ref(), Some(&frame), "byte-by-byte decode differs");
        }
    }
    frame
}

/// Our encoding of `frame`, checked to be the same from [`FrameCodec`] and [`FrameBatch`].
pub fn encode(frame: &Frame) -> Vec<u8> {
    let mut out = BytesMut::new();
    FrameCodec::new().encode(frame, &mut out).unwrap();
    let mut batch = FrameBatch::new();
    batch.push(frame).unwrap();
    let batched = batch.copy_to_bytes(batch.remaining());
    assert_eq!(
        out.as_ref(),
        batched.as_ref(),
        "FrameCodec and FrameBatch disagree"
    );
    out.to_vec()
}

/// The header section of an encoded frame as `id → value`, parsed without the crate's
/// decoder (§1.1: `key i32 LE, len u32 LE, value[len]`, repeated). Panics on a repeated id.
pub fn header_map(bytes: &[u8]) -> BTreeMap<i32, Vec<u8>> {
    let le32 = |at: usize| <[u8; 4]>::try_from(&bytes[at..at + 4]).unwrap();
    let header_len = u32::from_le_bytes(le32(12)) as usize;
    let end = 20 + header_len;
    let mut at = 20;
    let mut map = BTreeMap::new();
    while at < end {
        let key = i32::from_le_bytes(le32(at));
        let len = u32::from_le_bytes(le32(at + 4)) as usize;
        let value = bytes[at + 8..at + 8 + len].to_vec();
        assert!(map.insert(key, value).is_none(), "header {key} repeated");
        at += 8 + len;
    }
    assert_eq!(at, end, "header section overruns its length");
    map
}

/// Asserts that our encoding of `frame` is the fixture `expected` (see the module docs:
/// fixed header and body exact, headers compared as a map).
pub fn assert_encodes_to(frame: &Frame, expected: &[u8]) {
    let ours = encode(frame);
    assert_eq!(
        ours[..20],
        expected[..20],
        "frame header (magic, content type, sequence, header length, body length; §1.1)"
    );
    let body_at = 20 + u32::from_le_bytes(expected[12..16].try_into().unwrap()) as usize;
    assert_eq!(ours[body_at..], expected[body_at..], "body");
    assert_eq!(header_map(&ours), header_map(expected), "headers");
    if header_map(expected).len() <= 1 {
        assert_eq!(ours, expected);
    }
}
