//! Reading frames from the router: the channel reader's loop around [`ReceiveBuffer`].
//!
//! It owns only the I/O step: decode what is buffered, otherwise read more, and stop waiting
//! when the incomplete frame's deadline ([`ChannelOptions::frame_deadline`](super::ChannelOptions::frame_deadline))
//! passes. The buffer policy and the deadline bookkeeping are the wire module's, shared with
//! the lab's router.

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

use crate::wire::frame::{Frame, FrameError};
use crate::wire::ReceiveBuffer;

/// The next frame from `reader`; `Ok(None)` at a clean end of the stream, and
/// [`FrameError::Incomplete`] when a frame that started arriving is not complete by its
/// deadline.
pub(crate) async fn next_frame<R>(
    rx: &mut ReceiveBuffer,
    reader: &mut R,
) -> Result<Option<Frame>, FrameError>
where
    R: AsyncRead + Unpin,
{
    loop {
        if let Some(frame) = rx.decode(Instant::now().into_std())? {
            return Ok(Some(frame));
        }
        let read = match rx.deadline() {
            Some(deadline) => {
                let deadline = Instant::from_std(deadline);
                match tokio::time::timeout_at(deadline, reader.read_buf(rx.read_space())).await {
                    Ok(read) => read,
                    Err(_) => return Err(rx.expired_error()),
                }
            }
            None => reader.read_buf(rx.read_space()).await,
        };
        if read? == 0 {
            return rx.decode_eof();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;

    use crate::channel::{ChannelError, ChannelOptions, RouterChannel};
    use crate::scripted_router::{answer_hello, router_pipe};

    /// A router that acknowledges the hello, then sends the header of a 4 MiB Data frame and
    /// all but the last 64 KiB of it, and stalls.
    #[tokio::test]
    async fn a_router_that_stalls_mid_frame_is_cut_off_at_the_frame_deadline() {
        let (sdk, mut read, mut write) = router_pipe(1 << 20);
        let stalled = tokio::spawn(async move {
            answer_hello(&mut read, &mut write).await;
            let body: u32 = 4 << 20;
            let mut head = vec![3, 6, 9, 12];
            head.extend_from_slice(&60786i32.to_le_bytes());
            head.extend_from_slice(&1i32.to_le_bytes());
            head.extend_from_slice(&0u32.to_le_bytes());
            head.extend_from_slice(&body.to_le_bytes());
            let w = write.get_mut();
            w.write_all(&head).await.unwrap();
            w.write_all(&vec![0u8; (body - (64 << 10)) as usize])
                .await
                .unwrap();
            w.flush().await.unwrap();
            // Keep both ends open: the router is stalled, not gone.
            std::future::pending::<()>().await;
            drop((read, write));
        });
        let options = ChannelOptions {
            frame_deadline: Duration::from_millis(300),
            ..ChannelOptions::default()
        };
        let channel = RouterChannel::start(sdk, "stalling".into(), "t", "id", options)
            .await
            .expect("hello acknowledged");
        tokio::time::timeout(Duration::from_secs(10), channel.closed())
            .await
            .expect("the channel closes at the frame deadline, not never");
        match channel.close_reason() {
            ChannelError::Protocol { detail, .. } => {
                assert!(detail.contains("not complete"), "{detail}");
                assert!(detail.contains(&(20 + (4 << 20)).to_string()), "{detail}");
            }
            other => panic!("unexpected close reason: {other}"),
        }
        stalled.abort();
    }
}
