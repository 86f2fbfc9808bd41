//! Test-only: the router side of an in-memory pipe, scripted by unit tests of the SDK side
//! (context dials, listener binds). It owns the pipe set-up, the Hello exchange and the bounded
//! wait for the next frame the SDK sends.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{DuplexStream, ReadHalf, WriteHalf};
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::channel::{ChannelOptions, RouterChannel};
use crate::wire::edge::HelloReply;
use crate::wire::frame::{Frame, FrameCodec};

/// Frames the SDK sent, as the scripted router reads them.
pub(crate) type RouterRead = FramedRead<ReadHalf<DuplexStream>, FrameCodec>;
/// Frames the scripted router sends to the SDK.
pub(crate) type RouterWrite = FramedWrite<WriteHalf<DuplexStream>, FrameCodec>;

/// The next frame the SDK sent; panics after 5 s or when the pipe closed.
pub(crate) async fn next_frame(read: &mut RouterRead) -> Frame {
    tokio::time::timeout(Duration::from_secs(5), read.next())
        .await
        .expect("no frame within 5 s")
        .expect("pipe closed")
        .unwrap()
}

/// A channel for `identity` to a scripted router over a pipe of `capacity` bytes, with the
/// Hello answered; returns the channel and the router's two ends.
pub(crate) async fn scripted_channel(
    capacity: usize,
    identity: &str,
) -> (RouterChannel, RouterRead, RouterWrite) {
    let (sdk, router) = tokio::io::duplex(capacity);
    let (r, w) = tokio::io::split(router);
    let mut read = FramedRead::new(r, FrameCodec::new());
    let mut write = FramedWrite::new(w, FrameCodec::new());
    let hello = tokio::spawn(async move {
        let _hello = next_frame(&mut read).await;
        let ack = HelloReply {
            success: true,
            ..HelloReply::default()
        }
        .to_frame(-1)
        .replying_to(-1);
        write.send(&ack).await.unwrap();
        (read, write)
    });
    let channel = RouterChannel::start(
        sdk,
        "scripted".into(),
        "t",
        identity,
        ChannelOptions::default(),
    )
    .await
    .unwrap();
    let (read, write) = hello.await.unwrap();
    (channel, read, write)
}
