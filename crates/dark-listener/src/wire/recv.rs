//! The receiving side of a channel, without I/O: the receive buffer and the frame deadline.
//!
//! [`ReceiveBuffer`] owns the bytes a channel reader has read but not yet decoded, and the
//! [`FrameCodec`] that cuts them into frames. The lab's router and this SDK's channel reader
//! both read through it, so both treat a peer that stalls in the middle of a frame the same
//! way:
//!
//! * **The buffer grows with the bytes that arrive**, not with what a header announces:
//!   [`ReceiveBuffer::read_space`] makes room for at most what the current frame still lacks,
//!   and at most as much again as is already buffered (at least [`READ_CHUNK`]). A header
//!   announcing 4 MiB costs nothing until 4 MiB arrive.
//! * **It shrinks after a large frame**: once a frame larger than [`KEEP_CAPACITY`] is
//!   decoded, the bytes after it move to a fresh small buffer. The large allocation is then
//!   owned only by the frame's body (`Bytes` share it) and is freed with it, so a channel
//!   that once carried a large frame does not keep that memory for its lifetime.
//! * **A frame has a deadline**: the clock starts when [`ReceiveBuffer::decode`] first finds
//!   an incomplete frame (the start of a header or more) and stops when that frame is
//!   decoded. [`ReceiveBuffer::deadline`] says when it expires and
//!   [`ReceiveBuffer::expired_error`] builds the [`FrameError::Incomplete`] to close the
//!   channel with. Time spent dispatching complete frames (back-pressure) is not counted.
//!
//! No clock is read here: callers hand in `now`.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use super::frame::{announced_frame_len, Frame, FrameCodec, FrameError};

/// Smallest room made for one read.
pub const READ_CHUNK: usize = 16 * 1024;

/// A buffer whose allocation grew past this many bytes (for a frame larger than an SDK's
/// 64 KiB Data frames) is replaced by a small one once that frame is decoded.
pub const KEEP_CAPACITY: usize = 128 * 1024;

/// Default time a peer has to complete a frame once its first bytes arrived: 30 s.
///
/// A frame at the 256 MiB body limit needs about 9 MB/s to arrive in time; ordinary frames
/// (at most 64 KiB for this SDK, 31 KiB for the C SDK) take microseconds on any working link.
pub const DEFAULT_FRAME_DEADLINE: Duration = Duration::from_secs(30);

/// Undecoded bytes of one channel, their codec, and the deadline of the incomplete frame.
#[derive(Debug)]
pub struct ReceiveBuffer {
    codec: FrameCodec,
    buf: BytesMut,
    frame_deadline: Duration,
    incomplete_since: Option<Instant>,
}

impl ReceiveBuffer {
    /// An empty buffer decoding with `codec`; an incomplete frame must complete within
    /// `frame_deadline`.
    pub fn new(codec: FrameCodec, frame_deadline: Duration) -> Self {
        Self::with_pending(codec, BytesMut::new(), frame_deadline)
    }

    /// A buffer that starts with `pending` (bytes read past the hello, for instance).
    pub fn with_pending(codec: FrameCodec, pending: BytesMut, frame_deadline: Duration) -> Self {
        Self {
            codec,
            buf: pending,
            frame_deadline,
            incomplete_since: None,
        }
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed. `now` starts the frame
    /// deadline when an incomplete frame is found for the first time.
    pub fn decode(&mut self, now: Instant) -> Result<Option<Frame>, FrameError> {
        match self.codec.decode(&mut self.buf)? {
            Some(frame) => {
                self.incomplete_since = None;
                self.shrink_after(frame.encoded_len());
                Ok(Some(frame))
            }
            None => {
                if !self.buf.is_empty() && self.incomplete_since.is_none() {
                    self.incomplete_since = Some(now);
                }
                Ok(None)
            }
        }
    }

    /// At the end of the stream: the last frame, `Ok(None)` if nothing is left, or
    /// [`FrameError::TruncatedStream`] if a frame was cut off.
    pub fn decode_eof(&mut self) -> Result<Option<Frame>, FrameError> {
        let frame = self.codec.decode_eof(&mut self.buf)?;
        if frame.is_some() {
            self.incomplete_since = None;
        }
        Ok(frame)
    }

    /// The wire size announced by the header of the incomplete frame at the front, once that
    /// header is in. Meaningful after [`decode`](Self::decode) returned `Ok(None)`.
    pub fn incomplete_frame_len(&self) -> Option<usize> {
        announced_frame_len(&self.buf).filter(|&total| total > self.buf.len())
    }

    /// When the incomplete frame at the front must be complete; `None` when nothing of a
    /// frame is buffered.
    pub fn deadline(&self) -> Option<Instant> {
        self.incomplete_since
            .map(|since| since + self.frame_deadline)
    }

    /// The frame deadline in force.
    pub fn frame_deadline(&self) -> Duration {
        self.frame_deadline
    }

    /// The error to close the channel with once [`deadline`](Self::deadline) has passed.
    pub fn expired_error(&self) -> FrameError {
        FrameError::Incomplete {
            after: self.frame_deadline,
            announced: announced_frame_len(&self.buf).unwrap_or(0),
            received: self.buf.len(),
        }
    }

    /// Whether the incomplete frame's deadline has passed at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|d| now >= d)
    }

    /// Bytes buffered and not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The buffer's capacity (what it holds allocated for undecoded bytes).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The codec (to ask how many frames it decoded, or its limits).
    pub fn codec(&self) -> &FrameCodec {
        &self.codec
    }

    /// The buffer to read into, with room for the next read: at most what the incomplete
    /// frame still lacks, and at most as much again as is buffered (at least
    /// [`READ_CHUNK`]). Call after [`decode`](Self::decode) returned `Ok(None)`.
    pub fn read_space(&mut self) -> &mut BytesMut {
        let len = self.buf.len();
        let want = match self.incomplete_frame_len() {
            Some(total) => (total - len).min(len.max(READ_CHUNK)),
            None => READ_CHUNK,
        };
        if self.buf.capacity() - len < want {
            self.buf.reserve(want);
        }
        &mut self.buf
    }

    /// Makes room for the rest of the incomplete frame at once, for a caller that has
    /// accounted for its whole announced size (the lab router's budget for frames still
    /// arriving): one allocation instead of a doubling series whose freed steps the
    /// allocator may keep. Only pages that bytes are written to become resident.
    pub fn reserve_incomplete_frame(&mut self) {
        if let Some(total) = self.incomplete_frame_len() {
            self.buf.reserve(total - self.buf.len());
        }
    }

    /// After a frame of `frame_len` bytes was split off: if the allocation under the buffer
    /// (at least the frame plus the room left) is large, move what follows the frame to a
    /// fresh buffer, so the large allocation lives only as long as the frame.
    fn shrink_after(&mut self, frame_len: usize) {
        if frame_len + self.buf.capacity() <= KEEP_CAPACITY {
            return;
        }
        let mut fresh = BytesMut::with_capacity(self.buf.len().max(READ_CHUNK));
        fresh.extend_from_slice(&self.buf);
        self.buf = fresh;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame::FrameLimits;

    fn header(header_len: u32, body_len: u32) -> Vec<u8> {
        let mut out = vec![3, 6, 9, 12];
        out.extend_from_slice(&60786i32.to_le_bytes());
        out.extend_from_slice(&1i32.to_le_bytes());
        out.extend_from_slice(&header_len.to_le_bytes());
        out.extend_from_slice(&body_len.to_le_bytes());
        out
    }

    /// Reads `bytes` into the buffer the way a socket would: at most the room offered.
    fn feed(rx: &mut ReceiveBuffer, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let space = rx.read_space();
            let room = (space.capacity() - space.len()).max(1);
            let n = room.min(bytes.len());
            space.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
    }

    #[test]
    fn an_announced_frame_reserves_only_what_arrived() {
        let mut rx = ReceiveBuffer::new(FrameCodec::new(), DEFAULT_FRAME_DEADLINE);
        let now = Instant::now();
        rx.read_space().extend_from_slice(&header(0, 4 << 20));
        assert!(rx.decode(now).unwrap().is_none());
        assert_eq!(rx.incomplete_frame_len(), Some(20 + (4 << 20)));
        let space = rx.read_space();
        assert!(
            space.capacity() <= 20 + 2 * READ_CHUNK,
            "{}",
            space.capacity()
        );
        // After 1 MiB of body the buffer holds at most about twice that, not 4 MiB.
        feed(&mut rx, &vec![0u8; 1 << 20]);
        assert!(rx.decode(now).unwrap().is_none());
        assert!(rx.capacity() <= 2 * (1 << 20) + 64, "{}", rx.capacity());
    }

    #[test]
    fn the_buffer_shrinks_after_a_large_frame() {
        let mut rx = ReceiveBuffer::new(FrameCodec::new(), DEFAULT_FRAME_DEADLINE);
        let now = Instant::now();
        let body = 1 << 20;
        let mut bytes = header(0, body);
        bytes.extend_from_slice(&vec![7u8; body as usize]);
        // The start of the next frame follows the large one.
        bytes.extend_from_slice(&header(0, 5));
        let mut frames = Vec::new();
        for piece in bytes.chunks(READ_CHUNK) {
            feed(&mut rx, piece);
            while let Some(f) = rx.decode(now).unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].body.len(), body as usize);
        assert_eq!(rx.buffered(), 20);
        assert!(rx.capacity() <= KEEP_CAPACITY, "{}", rx.capacity());
        feed(&mut rx, b"hello");
        assert_eq!(rx.decode(now).unwrap().unwrap().body.as_ref(), b"hello");
    }

    #[test]
    fn the_deadline_runs_from_the_first_byte_of_a_frame_until_it_is_complete() {
        let deadline = Duration::from_secs(3);
        let mut rx = ReceiveBuffer::new(FrameCodec::new(), deadline);
        let t0 = Instant::now();
        assert!(rx.decode(t0).unwrap().is_none());
        assert_eq!(rx.deadline(), None, "nothing buffered, no deadline");
        feed(&mut rx, &header(0, 10)[..7]);
        assert!(rx.decode(t0).unwrap().is_none());
        assert_eq!(rx.deadline(), Some(t0 + deadline));
        // Later bytes of the same frame do not move the deadline.
        let t1 = t0 + Duration::from_secs(2);
        feed(&mut rx, &header(0, 10)[7..]);
        assert!(rx.decode(t1).unwrap().is_none());
        assert_eq!(rx.deadline(), Some(t0 + deadline));
        assert!(!rx.is_expired(t1));
        assert!(rx.is_expired(t0 + deadline));
        match rx.expired_error() {
            FrameError::Incomplete {
                after,
                announced,
                received,
            } => assert_eq!((after, announced, received), (deadline, 30, 20)),
            other => panic!("{other:?}"),
        }
        feed(&mut rx, &[1; 10]);
        assert!(rx.decode(t1).unwrap().is_some());
        assert_eq!(rx.deadline(), None, "a complete frame stops the clock");
    }

    #[test]
    fn limits_still_apply_before_anything_is_reserved() {
        let limits = FrameLimits {
            max_header_bytes: 64,
            max_body_bytes: 1024,
        };
        let mut rx = ReceiveBuffer::new(FrameCodec::with_limits(limits), DEFAULT_FRAME_DEADLINE);
        feed(&mut rx, &header(0, 1025));
        assert!(matches!(
            rx.decode(Instant::now()),
            Err(FrameError::TooLong { .. })
        ));
    }
}
