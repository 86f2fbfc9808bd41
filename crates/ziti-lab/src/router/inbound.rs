//! Reading one channel's frames: decode and dispatch in order, the frame deadline, and the
//! router-wide budget for frames still arriving.
//!
//! Bytes are read through dark-listener's [`ReceiveBuffer`] (the SDK reads the same way),
//! so a channel's buffer grows with the bytes that arrive, not with what a header announces,
//! and shrinks back after a large frame. Two bounds stop a peer that announces a large frame
//! and stalls:
//!
//! * **Frame deadline** ([`RouterOptions::frame_deadline`](super::RouterOptions::frame_deadline)):
//!   a frame must be complete within it once its first bytes arrived, or the channel is
//!   closed and the peer and identity logged. Time spent relaying earlier frames
//!   (back-pressure) does not count; time waiting for the budget below does.
//! * **Budget for incomplete frames**
//!   ([`RouterOptions::incomplete_frame_budget_bytes`](super::RouterOptions::incomplete_frame_budget_bytes)):
//!   a frame larger than [`KEEP_CAPACITY`] takes its announced size (at most the whole
//!   budget) from a router-wide semaphore of bytes when its header arrives, and gives it back
//!   when it is decoded. A channel waiting for budget is not read, so what its peer sends
//!   stays in the kernel's socket buffers, outside the router's memory. Smaller frames (every
//!   Data frame of this SDK and of the C SDK) never wait. Memory held for frames in reception
//!   is thus at most the budget plus [`KEEP_CAPACITY`] per channel, however many peers stall.

use std::net::SocketAddr;
use std::sync::Arc;

use dark_listener::wire::recv::KEEP_CAPACITY;
use dark_listener::wire::ReceiveBuffer;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::channel::EdgeChannel;
use super::{dispatch, RouterCore};

/// Resolves at `deadline`, never without one.
async fn expiry(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

/// Reads, decodes and dispatches the frames of channel `ch` (peer `peer`) until it closes.
pub(super) async fn read_loop<R: AsyncRead + Unpin>(
    mut reader: R,
    received: ReceiveBuffer,
    core: &Arc<RouterCore>,
    ch: &Arc<EdgeChannel>,
    peer: SocketAddr,
) {
    let expired = |received: &ReceiveBuffer| {
        tracing::warn!(
            %peer,
            channel = ch.id,
            identity = %ch.identity.name,
            error = %received.expired_error(),
            "frame deadline passed; closing the channel"
        );
    };
    // Budget held for the incomplete frame at the front of the buffer. Declared before the
    // buffer so that, when the channel closes, the buffer is freed before the budget goes
    // to the next large frame (measured: the other order let two generations of stalled
    // frames overlap in memory).
    let mut budget: Option<OwnedSemaphorePermit> = None;
    let mut received = received;
    loop {
        // Dispatch everything already buffered, in order.
        loop {
            match received.decode(Instant::now().into_std()) {
                Ok(Some(frame)) => {
                    budget = None;
                    dispatch::frame(core, ch, frame).await;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(%peer, channel = ch.id, identity = %ch.identity.name, error = %e, "malformed frame; closing the channel");
                    return;
                }
            }
            if ch.closing().is_cancelled() {
                return;
            }
        }
        if budget.is_none() {
            if let Some(announced) = received
                .incomplete_frame_len()
                .filter(|&len| len > KEEP_CAPACITY)
            {
                let want = u32::try_from(announced)
                    .unwrap_or(u32::MAX)
                    .min(core.incomplete_budget_bytes);
                let permit = tokio::select! {
                    _ = ch.closing().cancelled() => return,
                    _ = expiry(received.deadline()) => {
                        expired(&received);
                        return;
                    }
                    p = core.incomplete_frames.clone().acquire_many_owned(want) => p,
                };
                match permit {
                    Ok(p) => budget = Some(p),
                    Err(_) => return,
                }
                received.reserve_incomplete_frame();
            }
        }
        let read = tokio::select! {
            _ = ch.closing().cancelled() => return,
            _ = expiry(received.deadline()) => {
                expired(&received);
                return;
            }
            r = reader.read_buf(received.read_space()) => r,
        };
        match read {
            Ok(0) => {
                if received.buffered() > 0 {
                    tracing::debug!(
                        %peer,
                        channel = ch.id,
                        buffered = received.buffered(),
                        "channel closed mid-frame"
                    );
                }
                return;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(%peer, channel = ch.id, error = %e, "channel read failed");
                return;
            }
        }
    }
}
