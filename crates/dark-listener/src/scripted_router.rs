//! Test-only: the router side of an in-memory pipe, scripted by unit tests of the SDK side
//! (context dials, listener binds, streams). It owns the pipe set-up, the Hello exchange, the
//! bounded wait for the next frame the SDK sends, and a dial answered as a host would.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{DuplexStream, ReadHalf, WriteHalf};
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::channel::{ChannelOptions, RouterChannel};
use crate::context::{DialError, DialOptions};
use crate::controller::ServiceSession;
use crate::e2ee::{E2eeSession, KeyPair, Role};
use crate::stream::DarkStream;
use crate::wire::edge::HelloReply;
use crate::wire::edge::{Connect, Data, PublicKey as WirePublicKey, StateConnected};
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

/// A pipe of `capacity` bytes: the SDK's end and the router's two framed ends.
pub(crate) fn router_pipe(capacity: usize) -> (DuplexStream, RouterRead, RouterWrite) {
    let (sdk, router) = tokio::io::duplex(capacity);
    let (r, w) = tokio::io::split(router);
    (
        sdk,
        FramedRead::new(r, FrameCodec::new()),
        FramedWrite::new(w, FrameCodec::new()),
    )
}

/// Reads the SDK's Hello and acknowledges it.
pub(crate) async fn answer_hello(read: &mut RouterRead, write: &mut RouterWrite) {
    let _hello = next_frame(read).await;
    let ack = HelloReply {
        success: true,
        ..HelloReply::default()
    }
    .to_frame(-1)
    .replying_to(-1);
    write.send(&ack).await.unwrap();
}

/// A channel for `identity` to a scripted router over a pipe of `capacity` bytes, with the
/// Hello answered; returns the channel and the router's two ends.
pub(crate) async fn scripted_channel(
    capacity: usize,
    identity: &str,
) -> (RouterChannel, RouterRead, RouterWrite) {
    let (sdk, mut read, mut write) = router_pipe(capacity);
    let hello = tokio::spawn(async move {
        answer_hello(&mut read, &mut write).await;
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

pub(crate) async fn dialer_channel() -> (RouterChannel, RouterRead, RouterWrite) {
    scripted_channel(4 << 20, "me").await
}

/// Dials (end-to-end encrypted or not) and answers as a host with a key would; returns
/// the router's ends, the stream and, when encrypted, the host's session with the
/// dialer's stream header already read.
pub(crate) async fn connected_stream(
    encrypted: bool,
) -> (
    RouterChannel,
    RouterRead,
    RouterWrite,
    DarkStream,
    Option<E2eeSession>,
) {
    let (channel, mut read, mut write) = dialer_channel().await;
    let dial = spawn_dial(&channel, encrypted, DialOptions::default());
    let connect_frame = next_frame(&mut read).await;
    let connect = Connect::from_frame(&connect_frame).unwrap();
    let host_keys = KeyPair::generate();
    let connected = StateConnected {
        conn_id: connect.conn_id,
        public_key: Some(WirePublicKey(*host_keys.public_key().as_bytes())),
        ..StateConnected::default()
    }
    .to_frame(1)
    .replying_to(connect_frame.sequence);
    write.send(&connected).await.unwrap();
    let stream = dial.await.unwrap().unwrap();
    let mut host = connect.public_key.map(|key| {
        E2eeSession::establish(&host_keys, Role::Host, &crate::e2ee::PublicKey::from(key.0))
            .unwrap()
    });
    if let Some(host) = &mut host {
        let header = Data::from_frame(&next_frame(&mut read).await).unwrap();
        assert_eq!(header.payload.len(), crate::e2ee::HEADER_LEN);
        assert_eq!(host.open(header.payload).unwrap(), None);
    }
    (channel, read, write, stream, host)
}

pub(crate) fn session() -> ServiceSession {
    ServiceSession {
        id: "s1".into(),
        token: "dial-token".into(),
        ..ServiceSession::default()
    }
}

/// Starts a dial of "svc" on `channel` in a task; the test plays the router.
pub(crate) fn spawn_dial(
    channel: &RouterChannel,
    encrypted: bool,
    options: DialOptions,
) -> tokio::task::JoinHandle<Result<DarkStream, DialError>> {
    let channel = channel.clone();
    tokio::spawn(async move {
        crate::context::dial_on_channel(&channel, "svc", &session(), encrypted, &options).await
    })
}
