//! Channel wire format v2: frames and their codec.
//!
//! This module owns the byte layout of one channel message and the streaming decoder that
//! cuts a TLS byte stream into [`Frame`]s (ziti-edge-protocol.md §1.1, §1.4, §1.6, §1.8):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | magic `03 06 09 0C` ([`MAGIC_V2`]) |
//! | 4 | 4 | content type, `i32` LE ([`super::consts::content_type`]) |
//! | 8 | 4 | sequence, `i32` LE ([`SequenceCounter`]) |
//! | 12 | 4 | header section length, `u32` LE |
//! | 16 | 4 | body length, `u32` LE |
//! | 20 | H | headers: (`key i32`, `len u32`, value)* ([`Headers`]) |
//! | 20+H | B | body |
//!
//! [`FrameCodec`] implements [`tokio_util::codec::Decoder`] and [`Encoder`]. It checks both
//! lengths against [`FrameLimits`] as soon as the 20-byte header is in and never reserves
//! room for the rest of a frame: the buffer grows only with bytes that arrived (see
//! [`super::recv::ReceiveBuffer`], which also shrinks it after a large frame and tracks the
//! deadline for completing a frame). It accepts input split at any byte boundary.
//!
//! A listener whose first message has a bad magic answers with [`unknown_version_reply`]
//! and closes: [`FrameError::BadMagic`] says whether it was the first message.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::consts::{
    header, FIRST_SEQUENCE, FRAME_HEADER_LEN, HEADER_ENTRY_PREFIX_LEN, HELLO_MAX_BODY_BYTES,
    HELLO_MAX_HEADER_BYTES, MAGIC_UNKNOWN_VERSION, MAGIC_V2,
};
use super::headers::{HeaderError, Headers};

/// The bytes a listener writes after a bad first magic: the unknown-version magic, a count
/// of 2, and the supported versions 1 and 2.
pub fn unknown_version_reply() -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&MAGIC_UNKNOWN_VERSION);
    out[4..8].copy_from_slice(&2u32.to_le_bytes());
    out[8..12].copy_from_slice(&1u32.to_le_bytes());
    out[12..16].copy_from_slice(&2u32.to_le_bytes());
    out
}

/// One channel message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Content type (see [`super::consts::content_type`]).
    pub content_type: i32,
    /// Sender-assigned sequence number.
    pub sequence: i32,
    /// Header section.
    pub headers: Headers,
    /// Body.
    pub body: Bytes,
}

impl Frame {
    /// A frame with no headers.
    pub fn new(content_type: i32, sequence: i32, body: impl Into<Bytes>) -> Self {
        Self {
            content_type,
            sequence,
            headers: Headers::new(),
            body: body.into(),
        }
    }

    /// The sequence this frame replies to (header 1), `Ok(None)` if it is not a reply.
    pub fn reply_for(&self) -> Result<Option<i32>, HeaderError> {
        self.headers.get_i32(header::REPLY_FOR)
    }

    /// Mark this frame as the reply to the request with sequence `request_sequence`.
    pub fn set_reply_for(&mut self, request_sequence: i32) {
        self.headers.put_i32(header::REPLY_FOR, request_sequence);
    }

    /// Builder form of [`Frame::set_reply_for`].
    pub fn replying_to(mut self, request_sequence: i32) -> Self {
        self.set_reply_for(request_sequence);
        self
    }

    /// Make this frame a reply to `request`: set ReplyFor to its sequence and copy the
    /// reflected header 128 (the channel v5 rule; v4 also copied 129..=255, which no edge
    /// message uses).
    pub fn reply_to(&mut self, request: &Frame) {
        self.set_reply_for(request.sequence);
        if let Some(reflected) = request.headers.get_bytes(header::REFLECTED) {
            self.headers.put_bytes(header::REFLECTED, reflected.clone());
        }
    }

    /// Number of bytes this frame takes on the wire.
    pub fn encoded_len(&self) -> usize {
        FRAME_HEADER_LEN + self.headers.encoded_len() + self.body.len()
    }

    /// Append the wire form of this frame to `dst`.
    ///
    /// Fails only if the header section or body is longer than `i32::MAX` bytes.
    pub fn encode_into(&self, dst: &mut BytesMut) -> Result<(), FrameError> {
        dst.reserve(self.encoded_len());
        self.encode_head_into(dst)?;
        dst.put_slice(&self.body);
        Ok(())
    }

    /// Append the wire form of this frame without its body: the 20-byte header and the
    /// header section (the body follows them on the wire; see [`super::batch::FrameBatch`]).
    ///
    /// Fails only if the header section or body is longer than `i32::MAX` bytes.
    pub fn encode_head_into(&self, dst: &mut BytesMut) -> Result<(), FrameError> {
        let header_len = self.headers.encoded_len();
        let header_len = i32::try_from(header_len)
            .map_err(|_| FrameError::TooLargeToEncode { len: header_len })?;
        let body_len =
            i32::try_from(self.body.len()).map_err(|_| FrameError::TooLargeToEncode {
                len: self.body.len(),
            })?;
        dst.reserve(FRAME_HEADER_LEN + self.headers.encoded_len());
        dst.put_slice(&MAGIC_V2);
        dst.put_i32_le(self.content_type);
        dst.put_i32_le(self.sequence);
        dst.put_i32_le(header_len);
        dst.put_i32_le(body_len);
        self.headers.encode_into(dst);
        Ok(())
    }

    /// The wire form of this frame.
    pub fn to_bytes(&self) -> Result<Bytes, FrameError> {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.encode_into(&mut out)?;
        Ok(out.freeze())
    }
}

/// Size limits the decoder enforces before buffering a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest accepted header section, in bytes.
    pub max_header_bytes: u32,
    /// Largest accepted body, in bytes.
    pub max_body_bytes: u32,
}

impl FrameLimits {
    /// The listener-side limits for the hello: 16384 header bytes, 4192 body bytes.
    pub const fn hello() -> Self {
        Self {
            max_header_bytes: HELLO_MAX_HEADER_BYTES,
            max_body_bytes: HELLO_MAX_BODY_BYTES,
        }
    }
}

/// Default post-hello body limit: 256 MiB.
///
/// Real peers do send bodies that large. The Go SDK (sdk-golang v1.9.0 `edgeConn.Write`) puts
/// each `Write` into one Data message, end-to-end sealed as one secretstream message, so a
/// 64 MiB write is a 64 MiB body; an OpenZiti router forwards it whole (openziti/channel reads
/// any body length up to 2^32 - 1, and xgress sends unchunked payloads with its default MTU of
/// 0), so it reaches the other SDK as one frame. The C SDK coalesces to 31 KiB.
pub const DEFAULT_MAX_BODY_BYTES: u32 = 256 * 1024 * 1024;

impl Default for FrameLimits {
    /// 64 KiB of headers and [`DEFAULT_MAX_BODY_BYTES`] of body: what Go SDK peers send in one
    /// write through a real router, while still bounding what one frame may claim.
    fn default() -> Self {
        Self {
            max_header_bytes: 64 * 1024,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Which length field of the frame header an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthField {
    /// The header section length at offset 12.
    Headers,
    /// The body length at offset 16.
    Body,
}

impl std::fmt::Display for LengthField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LengthField::Headers => "header section",
            LengthField::Body => "body",
        })
    }
}

/// Why bytes could not be decoded into a frame (or a frame not encoded).
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The message does not start with `03 06 09 0C`.
    ///
    /// When `first_message` is true a listener should write [`unknown_version_reply`] and
    /// close; [`FrameError::is_unknown_version_reply`] tells a dialer that the peer itself
    /// sent that reply.
    #[error("bad frame magic {seen:02x?} (expected 03 06 09 0c){}", if *first_message { " on the first message; the peer speaks another channel wire version" } else { "; the stream is out of sync" })]
    BadMagic {
        /// The four bytes seen.
        seen: [u8; 4],
        /// Whether no frame had been decoded on this stream before.
        first_message: bool,
    },
    /// A length field has its sign bit set (written as a negative `i32`).
    #[error("{field} length {len:#010x} is negative as i32; the peer is broken or not speaking channel v2")]
    NegativeLength {
        /// Which length.
        field: LengthField,
        /// The raw value.
        len: u32,
    },
    /// A length field is over the configured limit.
    #[error("{field} length {len} exceeds the limit of {limit} bytes")]
    TooLong {
        /// Which length.
        field: LengthField,
        /// The length announced.
        len: u32,
        /// The limit in force.
        limit: u32,
    },
    /// A header section of 1..=7 bytes cannot hold even one entry.
    #[error("header section of {len} bytes is too short for one entry (8 bytes minimum)")]
    HeaderSectionTooShort {
        /// The section length.
        len: u32,
    },
    /// A header entry's 8-byte prefix is cut off by the end of the section.
    #[error("header entry at offset {offset} of the header section is truncated ({remaining} bytes left, 8 needed)")]
    TruncatedHeaderEntry {
        /// Offset of the entry inside the section.
        offset: usize,
        /// Bytes left in the section.
        remaining: usize,
    },
    /// A header entry's value runs past the end of the section.
    #[error("header {id} at offset {offset} claims {len} bytes but only {remaining} remain in the header section")]
    HeaderValueOverrun {
        /// Header id.
        id: i32,
        /// Offset of the entry inside the section.
        offset: usize,
        /// Value length announced.
        len: u32,
        /// Bytes left in the section after the prefix.
        remaining: usize,
    },
    /// The stream ended in the middle of a frame.
    #[error("connection closed in the middle of a frame ({buffered} bytes buffered)")]
    TruncatedStream {
        /// Bytes left undecoded.
        buffered: usize,
    },
    /// A frame whose header arrived was not complete within the frame deadline.
    #[error("a frame of {announced} bytes announced by its header was not complete {after:?} after its first byte arrived ({received} bytes received); the peer stalled or is too slow, so the channel is closed (if the link really is that slow, raise the frame deadline: ChannelOptions::frame_deadline in the SDK, RouterOptions::frame_deadline in the lab)")]
    Incomplete {
        /// The frame deadline in force.
        after: std::time::Duration,
        /// The frame's size as announced by its header (0 if the header itself is incomplete).
        announced: usize,
        /// Bytes of it received.
        received: usize,
    },
    /// A frame to encode has a header section or body over `i32::MAX` bytes.
    #[error("cannot encode a frame part of {len} bytes; the wire allows at most 2^31-1")]
    TooLargeToEncode {
        /// The offending length.
        len: usize,
    },
    /// I/O error from the underlying stream.
    #[error("I/O error on the channel stream: {0}")]
    Io(#[from] std::io::Error),
}

impl FrameError {
    /// Whether the peer sent the unknown-version reply (`03 06 09 0A`) instead of a frame.
    pub fn is_unknown_version_reply(&self) -> bool {
        matches!(self, FrameError::BadMagic { seen, .. } if *seen == MAGIC_UNKNOWN_VERSION)
    }

    /// Whether a listener should answer this error with [`unknown_version_reply`].
    pub fn wants_unknown_version_reply(&self) -> bool {
        matches!(
            self,
            FrameError::BadMagic {
                first_message: true,
                ..
            }
        )
    }
}

/// Streaming decoder and encoder of channel v2 frames.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    limits: FrameLimits,
    first_limits: Option<FrameLimits>,
    frames_decoded: u64,
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameCodec {
    /// A codec with [`FrameLimits::default`].
    pub fn new() -> Self {
        Self::with_limits(FrameLimits::default())
    }

    /// A codec with the given limits for every frame.
    pub fn with_limits(limits: FrameLimits) -> Self {
        Self {
            limits,
            first_limits: None,
            frames_decoded: 0,
        }
    }

    /// A codec for the listening side of a channel: the first frame (the hello) is held to
    /// [`FrameLimits::hello`], later frames to `limits`.
    pub fn for_listener(limits: FrameLimits) -> Self {
        Self {
            limits,
            first_limits: Some(FrameLimits::hello()),
            frames_decoded: 0,
        }
    }

    /// The limits that apply to the next frame.
    pub fn current_limits(&self) -> FrameLimits {
        match self.first_limits {
            Some(first) if self.frames_decoded == 0 => first,
            _ => self.limits,
        }
    }

    /// Number of frames decoded so far.
    pub fn frames_decoded(&self) -> u64 {
        self.frames_decoded
    }
}

fn check_len(field: LengthField, len: u32, limit: u32) -> Result<(), FrameError> {
    if len > i32::MAX as u32 {
        return Err(FrameError::NegativeLength { field, len });
    }
    if len > limit {
        return Err(FrameError::TooLong { field, len, limit });
    }
    Ok(())
}

/// The size on the wire (20-byte header + header section + body) of the frame at the start
/// of `src`, once its 20-byte header is there; `None` before. The lengths are not checked
/// here: the decoder checks them first, so call this only after a decode returned `Ok(None)`.
pub fn announced_frame_len(src: &[u8]) -> Option<usize> {
    if src.len() < FRAME_HEADER_LEN {
        return None;
    }
    Some(FRAME_HEADER_LEN + le_u32(src, 12) as usize + le_u32(src, 16) as usize)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parse a complete header section.
pub fn decode_headers(section: Bytes) -> Result<Headers, FrameError> {
    let mut headers = Headers::new();
    let mut offset = 0usize;
    while offset < section.len() {
        let remaining = section.len() - offset;
        if remaining < HEADER_ENTRY_PREFIX_LEN {
            return Err(FrameError::TruncatedHeaderEntry { offset, remaining });
        }
        let id = le_u32(&section, offset) as i32;
        let len = le_u32(&section, offset + 4);
        let value_start = offset + HEADER_ENTRY_PREFIX_LEN;
        let remaining = section.len() - value_start;
        if len as usize > remaining {
            return Err(FrameError::HeaderValueOverrun {
                id,
                offset,
                len,
                remaining,
            });
        }
        let value_end = value_start + len as usize;
        headers.insert_decoded(id, section.slice(value_start..value_end));
        offset = value_end;
    }
    Ok(headers)
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let first_message = self.frames_decoded == 0;
        if src.len() >= 4 && src[..4] != MAGIC_V2 {
            return Err(FrameError::BadMagic {
                seen: [src[0], src[1], src[2], src[3]],
                first_message,
            });
        }
        if src.len() < FRAME_HEADER_LEN {
            return Ok(None);
        }
        let limits = self.current_limits();
        let header_len = le_u32(src, 12);
        let body_len = le_u32(src, 16);
        check_len(LengthField::Headers, header_len, limits.max_header_bytes)?;
        check_len(LengthField::Body, body_len, limits.max_body_bytes)?;
        if (1..HEADER_ENTRY_PREFIX_LEN as u32).contains(&header_len) {
            return Err(FrameError::HeaderSectionTooShort { len: header_len });
        }
        // Both lengths are bounded by the limits here, so this sum cannot overflow. Nothing
        // is reserved for the rest of the frame: a peer that announces a large frame and
        // stalls would otherwise make every channel hold the whole announced size.
        // [`super::recv::ReceiveBuffer`] grows the buffer with the bytes that really arrive.
        let total = FRAME_HEADER_LEN + header_len as usize + body_len as usize;
        if src.len() < total {
            return Ok(None);
        }
        let content_type = le_u32(src, 4) as i32;
        let sequence = le_u32(src, 8) as i32;
        let mut frame_bytes = src.split_to(total).freeze();
        frame_bytes.advance(FRAME_HEADER_LEN);
        let section = frame_bytes.split_to(header_len as usize);
        let headers = decode_headers(section)?;
        self.frames_decoded += 1;
        Ok(Some(Frame {
            content_type,
            sequence,
            headers,
            body: frame_bytes,
        }))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None if buf.is_empty() => Ok(None),
            None => Err(FrameError::TruncatedStream {
                buffered: buf.len(),
            }),
        }
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        frame.encode_into(dst)
    }
}

impl Encoder<&Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        frame.encode_into(dst)
    }
}

/// Per-channel, per-direction sequence numbers: 1, 2, 3, … as Go and C assign them.
///
/// After `i32::MAX` the counter wraps back to [`FIRST_SEQUENCE`], so it never hands out 0 or
/// a negative value (the Go dialer's hello uses -1, [`super::consts::HELLO_SEQUENCE`]).
#[derive(Debug, Clone)]
pub struct SequenceCounter {
    next: i32,
}

impl Default for SequenceCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl SequenceCounter {
    /// A counter whose first value is 1.
    pub fn new() -> Self {
        Self {
            next: FIRST_SEQUENCE,
        }
    }

    /// The next sequence number.
    pub fn next_sequence(&mut self) -> i32 {
        let out = self.next;
        self.next = if out == i32::MAX {
            FIRST_SEQUENCE
        } else {
            out + 1
        };
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_counter_wraps_to_one() {
        let mut c = SequenceCounter { next: i32::MAX };
        assert_eq!(c.next_sequence(), i32::MAX);
        assert_eq!(c.next_sequence(), 1);
        assert_eq!(c.next_sequence(), 2);
    }

    #[test]
    fn listener_codec_switches_limits_after_hello() {
        let codec = FrameCodec::for_listener(FrameLimits::default());
        assert_eq!(codec.current_limits(), FrameLimits::hello());
        let mut codec = codec;
        let mut buf = BytesMut::from(&Frame::new(0, 1, "x").to_bytes().unwrap()[..]);
        assert!(codec.decode(&mut buf).unwrap().is_some());
        assert_eq!(codec.current_limits(), FrameLimits::default());
    }

    #[test]
    fn a_go_sdk_sized_data_frame_is_accepted_by_default() {
        // One 64 MiB Go SDK write, sealed: 64 MiB + 17 bytes of body in one Data frame.
        let body_len: u32 = (64 << 20) + 17;
        let mut codec = FrameCodec::with_limits(FrameLimits::default());
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[3, 6, 9, 12]);
        buf.extend_from_slice(&60786i32.to_le_bytes());
        buf.extend_from_slice(&1i32.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        buf.extend_from_slice(&body_len.to_le_bytes());
        // Only the header has arrived: the decoder waits for the body instead of refusing.
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&vec![7u8; body_len as usize]);
        let frame = codec.decode(&mut buf).unwrap().expect("a whole frame");
        assert_eq!(frame.body.len(), body_len as usize);
    }
}
