//! Outgoing frames gathered for one vectored write, without copying large bodies.
//!
//! A channel writer (the SDK's, the lab router's) takes the frames queued for it and writes
//! them in one go. Encoding them into one buffer copies every body once more before TLS
//! copies it again. [`FrameBatch`] encodes each frame's 20-byte header and header section
//! into a shared buffer and keeps every body of at least [`FrameBatch::INLINE_BODY_MAX`]
//! bytes as the [`Bytes`] it already is; small bodies are copied in, where an extra I/O
//! slice would cost more than the copy. The batch is a [`bytes::Buf`] whose
//! [`chunks_vectored`](Buf::chunks_vectored) lists the pieces in order, so
//! `AsyncWriteExt::write_all_buf` hands them to a vectored writer (tokio-rustls is one) as
//! I/O slices. This module does no I/O itself.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use super::frame::{Frame, FrameError};

/// Encoded frames waiting to be written, as a [`Buf`] of their bytes in order.
#[derive(Debug, Default)]
pub struct FrameBatch {
    /// Finished pieces, in write order.
    pieces: VecDeque<Bytes>,
    /// Bytes encoded since the last large body; they follow `pieces`.
    tail: BytesMut,
    /// Bytes in `pieces` and `tail` together.
    len: usize,
}

impl FrameBatch {
    /// Bodies shorter than this are copied into the batch's buffer; longer ones are
    /// written from their own [`Bytes`].
    pub const INLINE_BODY_MAX: usize = 4096;

    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one frame. On error (a header section or body over `i32::MAX` bytes) the
    /// batch is unchanged.
    pub fn push(&mut self, frame: &Frame) -> Result<(), FrameError> {
        frame.encode_head_into(&mut self.tail)?;
        let body = &frame.body;
        if body.len() < Self::INLINE_BODY_MAX {
            self.tail.extend_from_slice(body);
        } else {
            if !self.tail.is_empty() {
                self.pieces.push_back(self.tail.split().freeze());
            }
            self.pieces.push_back(body.clone());
        }
        self.len += frame.encoded_len();
        Ok(())
    }

    /// Bytes not yet written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether everything has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Buf for FrameBatch {
    fn remaining(&self) -> usize {
        self.len
    }

    fn chunk(&self) -> &[u8] {
        match self.pieces.front() {
            Some(piece) => piece,
            None => &self.tail,
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let pieces = self.pieces.iter().map(|p| &p[..]);
        let all = pieces.chain(std::iter::once(&self.tail[..]));
        let mut n = 0;
        for (slot, chunk) in dst.iter_mut().zip(all.filter(|c| !c.is_empty())) {
            *slot = IoSlice::new(chunk);
            n += 1;
        }
        n
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(
            cnt <= self.len,
            "advance({cnt}) past the end of a {}-byte frame batch",
            self.len
        );
        self.len -= cnt;
        while cnt > 0 {
            match self.pieces.front_mut() {
                Some(piece) if cnt >= piece.len() => {
                    cnt -= piece.len();
                    self.pieces.pop_front();
                }
                Some(piece) => {
                    piece.advance(cnt);
                    return;
                }
                None => {
                    self.tail.advance(cnt);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame::FrameCodec;
    use tokio_util::codec::Decoder;

    fn frames() -> Vec<Frame> {
        [0usize, 10, 4095, 4096, 70_000, 3, 100_000]
            .into_iter()
            .enumerate()
            .map(|(i, len)| {
                let mut f = Frame::new(60_784, i as i32 + 1, vec![i as u8; len]);
                f.headers.put_u32(1000, i as u32);
                f
            })
            .collect()
    }

    fn expected(frames: &[Frame]) -> Vec<u8> {
        frames
            .iter()
            .flat_map(|f| f.to_bytes().unwrap().to_vec())
            .collect()
    }

    #[test]
    fn bytes_equal_the_encoded_frames_and_decode_back() {
        let frames = frames();
        let mut batch = FrameBatch::new();
        for f in &frames {
            batch.push(f).unwrap();
        }
        let want = expected(&frames);
        assert_eq!(batch.len(), want.len());
        let mut slices = [IoSlice::new(&[]); 64];
        let n = batch.chunks_vectored(&mut slices);
        let gathered: Vec<u8> = slices[..n].iter().flat_map(|s| s.to_vec()).collect();
        assert_eq!(gathered, want);
        // Three bodies are large enough to stay separate: 4096, 70000, 100000.
        assert_eq!(
            n, 6,
            "head+small bodies, 4096, head, 70000, head+3+head, 100000"
        );

        let mut got = BytesMut::new();
        got.extend_from_slice(&batch.copy_to_bytes(batch.remaining()));
        assert!(batch.is_empty());
        let mut codec = FrameCodec::new();
        for f in &frames {
            assert_eq!(codec.decode(&mut got).unwrap().as_ref(), Some(f));
        }
    }

    #[test]
    fn partial_advances_at_every_boundary_keep_the_order() {
        let frames = frames();
        let want = expected(&frames);
        for step in [1usize, 7, 4096, 65_536, 99_999] {
            let mut batch = FrameBatch::new();
            for f in &frames {
                batch.push(f).unwrap();
            }
            let mut out = Vec::new();
            while batch.has_remaining() {
                let mut slices = [IoSlice::new(&[]); 3];
                let n = batch.chunks_vectored(&mut slices);
                assert!(n > 0);
                let mut take = step;
                for s in &slices[..n] {
                    let k = take.min(s.len());
                    out.extend_from_slice(&s[..k]);
                    take -= k;
                }
                let written = step - take;
                batch.advance(written);
            }
            assert_eq!(out, want, "step {step}");
        }
    }

    #[test]
    fn a_batch_refills_after_draining() {
        let frames = frames();
        let mut batch = FrameBatch::new();
        batch.push(&frames[4]).unwrap();
        batch.advance(batch.remaining());
        assert!(batch.is_empty() && batch.chunk().is_empty());
        batch.push(&frames[1]).unwrap();
        assert_eq!(
            batch.copy_to_bytes(batch.remaining()),
            frames[1].to_bytes().unwrap()
        );
    }
}
