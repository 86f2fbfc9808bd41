//! An opt-in capture of the raw frames SDKs send to the router: for tests and fixture
//! scripts that need the exact bytes a peer we did not write puts on the wire (the Go SDK's
//! frames in `crates/dark-listener/tests/fixtures/`).
//!
//! Off unless [`RouterOptions::frame_capture`](super::RouterOptions::frame_capture) holds a
//! [`FrameCapture`]. When on, each channel's TLS stream is read through a
//! [`CapturingStream`], which hands every plaintext byte the router reads (the hello
//! included) to a small frame splitter of its own: it reads the 20-byte frame header
//! (magic, content type, sequence, header length, body length; ziti-edge-protocol.md §1.1)
//! and cuts the byte stream at `20 + header length + body length`. It does not use
//! dark-listener's decoder (a bug there must not shape what is captured) and never
//! re-encodes anything: a captured frame is the byte slice as it arrived.
//!
//! Memory is bounded: the capture keeps at most `max_frames` frames and `max_bytes` bytes
//! in all; a frame longer than [`MAX_FRAME_BYTES_KEPT`] keeps its first bytes only (its
//! [`CapturedFrame::wire_len`] says how long it was). Once the capture is full, channels stop
//! splitting. A stream that does not start with the channel v2 magic, or loses it between
//! frames, is not captured further. When off, [`CapturingStream`] is a plain pass-through.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The first bytes of every channel v2 frame (§1.1).
const MAGIC_V2: [u8; 4] = [0x03, 0x06, 0x09, 0x0C];
/// Size of the fixed frame header (§1.1).
const FRAME_HEADER_LEN: usize = 20;
/// A captured frame longer than this keeps only its first this many bytes.
pub const MAX_FRAME_BYTES_KEPT: usize = 64 * 1024;

/// One frame as an SDK sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedFrame {
    /// The router-internal channel id (`lab-ch<id>` in the hello reply).
    pub channel: u64,
    /// The name of the identity behind the channel; `None` when the handshake did not get
    /// as far as naming one (the hello of a refused channel).
    pub identity: Option<String>,
    /// The frame's bytes from its magic on: the whole frame, or its first
    /// [`MAX_FRAME_BYTES_KEPT`] bytes when it is longer.
    pub bytes: Vec<u8>,
    /// The frame's length on the wire (20 + header length + body length).
    pub wire_len: u64,
}

impl CapturedFrame {
    /// The content type (the `i32` at offset 4).
    pub fn content_type(&self) -> i32 {
        i32::from_le_bytes(self.bytes[4..8].try_into().expect("4 bytes"))
    }

    /// Whether [`bytes`](Self::bytes) holds the whole frame.
    pub fn is_whole(&self) -> bool {
        self.bytes.len() as u64 == self.wire_len
    }
}

/// A shared record of the frames SDKs sent. Cloning it shares the record.
#[derive(Debug, Clone)]
pub struct FrameCapture {
    inner: Arc<Mutex<CaptureRecord>>,
}

#[derive(Debug)]
struct CaptureRecord {
    max_frames: usize,
    max_bytes: usize,
    kept_bytes: usize,
    frames: Vec<CapturedFrame>,
    identities: HashMap<u64, String>,
    frames_seen: u64,
}

impl CaptureRecord {
    fn full(&self) -> bool {
        self.frames.len() >= self.max_frames || self.kept_bytes >= self.max_bytes
    }
}

impl FrameCapture {
    /// A capture keeping at most `max_frames` frames and `max_bytes` bytes of them.
    pub fn new(max_frames: usize, max_bytes: usize) -> Self {
        FrameCapture {
            inner: Arc::new(Mutex::new(CaptureRecord {
                max_frames,
                max_bytes,
                kept_bytes: 0,
                frames: Vec::new(),
                identities: HashMap::new(),
                frames_seen: 0,
            })),
        }
    }

    fn record_guard(&self) -> MutexGuard<'_, CaptureRecord> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The capture state of a new channel (called by the router for each connection).
    pub fn channel(&self, channel: u64) -> ChannelCapture {
        ChannelCapture {
            capture: self.clone(),
            channel,
            current: Vec::new(),
            wire_len: None,
            seen: 0,
            stopped: false,
        }
    }

    /// Names the identity behind `channel` (called once its hello is accepted).
    pub fn set_identity(&self, channel: u64, identity: &str) {
        self.record_guard()
            .identities
            .insert(channel, identity.to_owned());
    }

    /// The frames kept, in the order they were completed, identities filled in.
    pub fn frames(&self) -> Vec<CapturedFrame> {
        let rec = self.record_guard();
        rec.frames
            .iter()
            .map(|f| CapturedFrame {
                identity: rec.identities.get(&f.channel).cloned(),
                ..f.clone()
            })
            .collect()
    }

    /// The frames kept of the channels of identity `name`.
    pub fn frames_of(&self, name: &str) -> Vec<CapturedFrame> {
        self.frames()
            .into_iter()
            .filter(|f| f.identity.as_deref() == Some(name))
            .collect()
    }

    /// Frames seen complete in all, kept or not (frames of channels that stopped splitting
    /// once the capture was full are not seen).
    pub fn frames_seen(&self) -> u64 {
        self.record_guard().frames_seen
    }

    /// Whether the capture holds as much as it may.
    pub fn is_full(&self) -> bool {
        self.record_guard().full()
    }

    /// Records one frame; false once the capture is full (the channel then stops).
    fn keep(&self, channel: u64, bytes: Vec<u8>, wire_len: u64) -> bool {
        let mut rec = self.record_guard();
        rec.frames_seen += 1;
        if rec.full() {
            return false;
        }
        let room = rec.max_bytes - rec.kept_bytes;
        let mut bytes = bytes;
        bytes.truncate(room);
        rec.kept_bytes += bytes.len();
        rec.frames.push(CapturedFrame {
            channel,
            identity: None,
            bytes,
            wire_len,
        });
        !rec.full()
    }
}

/// One channel's frame splitter: the bytes of the frame being read (at most
/// [`MAX_FRAME_BYTES_KEPT`]) and how far it got.
#[derive(Debug)]
pub struct ChannelCapture {
    capture: FrameCapture,
    channel: u64,
    current: Vec<u8>,
    /// The current frame's wire length, once its 20-byte header is in.
    wire_len: Option<u64>,
    /// Bytes of the current frame seen (kept or not).
    seen: u64,
    stopped: bool,
}

impl ChannelCapture {
    /// Feeds bytes as read from the channel, in order.
    pub fn observe(&mut self, mut bytes: &[u8]) {
        // Bounded: every pass consumes at least one byte or ends the loop.
        while !bytes.is_empty() && !self.stopped {
            let take = match self.wire_len {
                None => FRAME_HEADER_LEN - self.current.len(),
                Some(total) => usize::try_from(total - self.seen).unwrap_or(usize::MAX),
            }
            .min(bytes.len());
            let (now, rest) = bytes.split_at(take);
            bytes = rest;
            let keep = now
                .len()
                .min(MAX_FRAME_BYTES_KEPT.saturating_sub(self.current.len()));
            self.current.extend_from_slice(&now[..keep]);
            self.seen += take as u64;
            if self.wire_len.is_none() {
                let have = self.current.len().min(MAGIC_V2.len());
                if self.current[..have] != MAGIC_V2[..have] {
                    self.stop();
                    return;
                }
                if self.current.len() < FRAME_HEADER_LEN {
                    continue;
                }
                let le = |at: usize| {
                    u64::from(u32::from_le_bytes(
                        self.current[at..at + 4].try_into().expect("4 bytes"),
                    ))
                };
                self.wire_len = Some(FRAME_HEADER_LEN as u64 + le(12) + le(16));
            }
            if Some(self.seen) == self.wire_len {
                let frame = std::mem::take(&mut self.current);
                let wire_len = self.seen;
                self.wire_len = None;
                self.seen = 0;
                if !self.capture.keep(self.channel, frame, wire_len) {
                    self.stop();
                }
            }
        }
    }

    fn stop(&mut self) {
        self.stopped = true;
        self.current = Vec::new();
    }

    /// Names the channel's identity (see [`FrameCapture::set_identity`]).
    pub fn set_identity(&self, identity: &str) {
        self.capture.set_identity(self.channel, identity);
    }
}

/// A channel's stream, read through a [`ChannelCapture`] when capture is on; writes pass
/// through untouched.
#[derive(Debug)]
pub struct CapturingStream<S> {
    inner: S,
    capture: Option<ChannelCapture>,
}

impl<S> CapturingStream<S> {
    /// `inner`, captured into `capture` when it is `Some`.
    pub fn new(inner: S, capture: Option<ChannelCapture>) -> Self {
        CapturingStream { inner, capture }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The channel's capture, when on.
    pub fn capture(&self) -> Option<&ChannelCapture> {
        self.capture.as_ref()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CapturingStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(capture)) = (&polled, this.capture.as_mut()) {
            capture.observe(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CapturingStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A frame written by hand (§1.1): magic, content type, sequence, lengths, headers, body.
    fn frame(content_type: i32, headers: &[u8], body: &[u8]) -> Vec<u8> {
        let mut out = MAGIC_V2.to_vec();
        out.extend_from_slice(&content_type.to_le_bytes());
        out.extend_from_slice(&7i32.to_le_bytes());
        out.extend_from_slice(&(headers.len() as u32).to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(headers);
        out.extend_from_slice(body);
        out
    }

    fn header(id: i32, value: &[u8]) -> Vec<u8> {
        let mut out = id.to_le_bytes().to_vec();
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn splits_frames_exactly_however_the_bytes_arrive() {
        let hello = frame(0, &header(1002, b"token"), b"");
        let data = frame(60786, &header(1000, &5u32.to_le_bytes()), b"payload");
        let empty = frame(5, b"", b"");
        let stream: Vec<u8> = [hello.clone(), data.clone(), empty.clone()].concat();
        for chunk in [1, 3, 19, 20, 21, stream.len()] {
            let capture = FrameCapture::new(10, 1 << 20);
            let mut ch = capture.channel(4);
            for piece in stream.chunks(chunk) {
                ch.observe(piece);
            }
            ch.set_identity("host-a");
            let frames = capture.frames();
            let bytes: Vec<_> = frames.iter().map(|f| f.bytes.clone()).collect();
            assert_eq!(
                bytes,
                [hello.clone(), data.clone(), empty.clone()],
                "chunks of {chunk}"
            );
            assert!(frames.iter().all(|f| f.is_whole()
                && f.channel == 4
                && f.identity.as_deref() == Some("host-a")));
            assert_eq!(frames[1].content_type(), 60786);
            assert_eq!(capture.frames_of("host-a").len(), 3);
            assert!(capture.frames_of("other").is_empty());
        }
    }

    #[test]
    fn bounds_frames_bytes_and_the_size_kept_of_one_frame() {
        let small = frame(60786, b"", b"abc");
        let capture = FrameCapture::new(2, 1 << 20);
        let mut ch = capture.channel(1);
        for _ in 0..5 {
            ch.observe(&small);
        }
        assert_eq!(capture.frames().len(), 2);
        assert!(capture.is_full());
        // The channel stopped splitting once the capture was full.
        assert_eq!(capture.frames_seen(), 2);

        let capture = FrameCapture::new(10, 30);
        let mut ch = capture.channel(1);
        ch.observe(&small);
        ch.observe(&small);
        let frames = capture.frames();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].bytes, small);
        assert_eq!(frames[1].bytes, small[..30 - small.len()]);
        assert!(!frames[1].is_whole());

        let big_body = vec![0x5a; MAX_FRAME_BYTES_KEPT + 100];
        let big = frame(60786, b"", &big_body);
        let capture = FrameCapture::new(10, 1 << 20);
        let mut ch = capture.channel(2);
        ch.observe(&big);
        ch.observe(&small);
        let frames = capture.frames();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].bytes, big[..MAX_FRAME_BYTES_KEPT]);
        assert_eq!(frames[0].wire_len, big.len() as u64);
        assert_eq!(frames[1].bytes, small);
    }

    #[test]
    fn a_stream_without_the_magic_is_not_captured() {
        let capture = FrameCapture::new(10, 1 << 20);
        let mut ch = capture.channel(1);
        ch.observe(b"GET / HTTP/1.1\r\n\r\n");
        ch.observe(&frame(0, b"", b""));
        assert!(capture.frames().is_empty());

        // A good frame, then garbage where the next magic should be.
        let capture = FrameCapture::new(10, 1 << 20);
        let mut ch = capture.channel(1);
        ch.observe(&[frame(5, b"", b"x"), b"\x03\x06\x09\x0bjunk".to_vec()].concat());
        ch.observe(&frame(5, b"", b"y"));
        assert_eq!(capture.frames().len(), 1);
    }

    #[tokio::test]
    async fn the_stream_captures_what_is_read_and_passes_writes_through() {
        let (mut sdk, router) = tokio::io::duplex(64);
        let capture = FrameCapture::new(10, 1 << 20);
        let mut stream = CapturingStream::new(router, Some(capture.channel(9)));
        let sent = frame(60790, &header(1023, &[1]), b"bind-token");
        let writer = tokio::spawn({
            let sent = sent.clone();
            async move {
                sdk.write_all(&sent).await.unwrap();
                let mut back = [0u8; 5];
                sdk.read_exact(&mut back).await.unwrap();
                back
            }
        });
        let mut got = vec![0u8; sent.len()];
        stream.read_exact(&mut got).await.unwrap();
        stream.write_all(b"reply").await.unwrap();
        assert_eq!(&writer.await.unwrap(), b"reply");
        assert_eq!(got, sent);
        assert_eq!(capture.frames()[0].bytes, sent);

        // Off: a plain pass-through.
        let (mut sdk, router) = tokio::io::duplex(64);
        let mut stream = CapturingStream::new(router, None);
        sdk.write_all(b"abc").await.unwrap();
        let mut got = [0u8; 3];
        stream.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"abc");
        assert!(stream.capture().is_none());
    }
}
