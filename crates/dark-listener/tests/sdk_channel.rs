//! The router channel against a scripted router on an in-memory duplex pipe: the hello on
//! the wire, hello failures, "closed right after hello" as an authentication failure,
//! latency probes and dead-router detection, Dials for unknown binds, ConnInspect answers,
//! and malformed input.

use std::time::Duration;

use bytes::Bytes;
use dark_listener::channel::{ChannelError, ChannelOptions, RouterChannel};
use dark_listener::wire::consts::{content_type as ct, header, ConnType, HELLO_SEQUENCE};
use dark_listener::wire::edge::{
    ConnInspectRequest, ConnInspectResponse, Dial, DialFailed, Hello, HelloReply, LatencyProbe,
    RouterCapabilities,
};
use dark_listener::wire::frame::{Frame, FrameCodec};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};
use tokio_util::codec::{FramedRead, FramedWrite};

type RouterRead = FramedRead<ReadHalf<DuplexStream>, FrameCodec>;
type RouterWrite = FramedWrite<WriteHalf<DuplexStream>, FrameCodec>;

fn options() -> ChannelOptions {
    ChannelOptions {
        probe_interval: Duration::from_secs(3600),
        probe_timeout: Duration::from_millis(300),
        ..ChannelOptions::default()
    }
}

fn pipe() -> (DuplexStream, RouterRead, RouterWrite) {
    let (sdk, router) = tokio::io::duplex(1 << 20);
    let (r, w) = tokio::io::split(router);
    (
        sdk,
        FramedRead::new(r, FrameCodec::new()),
        FramedWrite::new(w, FrameCodec::new()),
    )
}

async fn next(read: &mut RouterRead) -> Frame {
    tokio::time::timeout(Duration::from_secs(5), read.next())
        .await
        .expect("no frame from the SDK within 5 s")
        .expect("SDK closed the pipe")
        .unwrap()
}

fn hello_ack(success: bool, message: &str) -> Frame {
    HelloReply {
        success,
        message: Bytes::copy_from_slice(message.as_bytes()),
        router_id: Some("r1".into()),
        capabilities: Some(RouterCapabilities::from_bits(&[1, 2, 4, 5, 6, 62])),
        ..HelloReply::default()
    }
    .to_frame(-1)
    .replying_to(HELLO_SEQUENCE)
}

/// Starts a channel whose router acknowledges the hello; returns the hello the SDK sent and
/// the router's ends.
async fn started_with_hello() -> (RouterChannel, Frame, RouterRead, RouterWrite) {
    let (sdk, mut read, mut write) = pipe();
    let router = tokio::spawn(async move {
        let hello = next(&mut read).await;
        write.send(&hello_ack(true, "")).await.unwrap();
        (hello, read, write)
    });
    let channel = RouterChannel::start(sdk, "test-router".into(), "api-token", "my-id", options())
        .await
        .unwrap();
    let (hello, read, write) = router.await.unwrap();
    (channel, hello, read, write)
}

/// Starts a channel whose router acknowledges the hello; returns the router's ends.
async fn started() -> (RouterChannel, RouterRead, RouterWrite) {
    let (channel, hello, read, write) = started_with_hello().await;
    assert_eq!(hello.sequence, HELLO_SEQUENCE);
    (channel, read, write)
}

#[tokio::test]
async fn hello_carries_token_and_identity_and_parses_the_big_endian_capabilities() {
    let (channel, hello, _read, _write) = started_with_hello().await;
    let parsed = Hello::from_frame(&hello).unwrap();
    assert_eq!(hello.sequence, -1);
    assert_eq!(&parsed.session_token[..], b"api-token");
    assert_eq!(&parsed.identifier[..], b"my-id");
    // Nothing advertised that is not implemented.
    assert!(!parsed.is_grouped && !parsed.supports_inspect);
    assert_eq!(hello.headers.len(), 1, "{:?}", hello.headers);
    let caps = channel.hello_reply().capabilities.clone().unwrap();
    assert_eq!(&caps.as_bytes()[..], &[0x40, 0, 0, 0, 0, 0, 0, 0x76]);
    assert!(caps.connect_v2() && caps.has(62) && !caps.has(3));
    assert_eq!(channel.hello_reply().router_id.as_deref(), Some("r1"));
}

#[tokio::test]
async fn failed_hello_is_reported_with_the_router_message() {
    let (sdk, mut read, mut write) = pipe();
    tokio::spawn(async move {
        let _ = next(&mut read).await;
        write.send(&hello_ack(false, "busy")).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    let err = RouterChannel::start(sdk, "r".into(), "t", "i", options())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChannelError::HelloRejected { message, .. } if message == "busy"),
        "{err}"
    );
}

#[tokio::test]
async fn close_right_after_the_hello_is_an_authentication_failure() {
    // Closed before the hello reply.
    let (sdk, mut read, write) = pipe();
    tokio::spawn(async move {
        let _ = next(&mut read).await;
        drop(read);
        drop(write);
    });
    let err = RouterChannel::start(sdk, "r".into(), "t", "i", options())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ChannelError::AuthenticationRejected { .. }),
        "{err}"
    );

    // Acknowledged, then closed without a single further frame (how routers reject tokens).
    let (sdk, mut read, mut write) = pipe();
    tokio::spawn(async move {
        let _ = next(&mut read).await;
        write.send(&hello_ack(true, "")).await.unwrap();
        let _ = write.get_mut().shutdown().await;
        drop(read);
        drop(write);
    });
    let channel = RouterChannel::start(sdk, "r".into(), "t", "i", options())
        .await
        .unwrap();
    let err = channel.probe(Duration::from_secs(5)).await.unwrap_err();
    assert!(
        matches!(err, ChannelError::AuthenticationRejected { .. }),
        "{err}"
    );
    assert!(!channel.is_open());
    assert!(matches!(
        channel.close_reason(),
        ChannelError::AuthenticationRejected { .. }
    ));
}

#[tokio::test]
async fn probes_measure_latency_and_an_unanswered_probe_kills_the_channel() {
    let (channel, mut read, mut write) = started().await;
    let answer = tokio::spawn(async move {
        let probe = next(&mut read).await;
        assert_eq!(probe.content_type, ct::LATENCY);
        assert_eq!(probe.headers.get_bytes(header::REFLECTED).unwrap().len(), 8);
        write
            .send(&LatencyProbe::response(&probe, 1))
            .await
            .unwrap();
        // Swallow the next probe without answering.
        let second = next(&mut read).await;
        assert_eq!(second.content_type, ct::LATENCY);
        (read, write)
    });
    assert!(channel.latency().is_none());
    let rtt = channel.probe(Duration::from_secs(5)).await.unwrap();
    assert_eq!(channel.latency(), Some(rtt.min(channel.latency().unwrap())));
    let err = channel.probe(Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(err, ChannelError::ProbeTimeout { .. }), "{err}");
    let _ends = answer.await.unwrap();

    // With a short interval, the probe task declares a silent router dead by itself.
    let (sdk, mut read, mut write) = pipe();
    let keep = tokio::spawn(async move {
        let _ = next(&mut read).await;
        write.send(&hello_ack(true, "")).await.unwrap();
        // Read (and ignore) everything, never answer.
        while let Some(Ok(_)) = read.next().await {}
        drop(write);
    });
    let fast = ChannelOptions {
        probe_interval: Duration::from_millis(100),
        probe_timeout: Duration::from_millis(200),
        ..ChannelOptions::default()
    };
    let channel = RouterChannel::start(sdk, "silent".into(), "t", "i", fast)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), channel.closed())
        .await
        .expect("silent router not declared dead within 5 s");
    assert!(matches!(
        channel.close_reason(),
        ChannelError::ProbeTimeout { .. }
    ));
    keep.abort();
}

#[tokio::test]
async fn dial_for_an_unknown_bind_is_refused_and_inspect_is_answered() {
    let (channel, mut read, mut write) = started().await;
    let dial = Dial {
        bind_conn_id: 77,
        new_conn_id: Some(1 << 31),
        token: Bytes::from_static(b"bind-token"),
        ..Dial::default()
    }
    .to_frame(41);
    write.send(&dial).await.unwrap();
    let reply = next(&mut read).await;
    assert_eq!(reply.content_type, ct::DIAL_FAILED);
    assert_eq!(reply.reply_for().unwrap(), Some(41));
    let failed = DialFailed::from_frame(&reply).unwrap();
    assert_eq!(failed.bind_conn_id, 77);
    assert!(String::from_utf8_lossy(&failed.reason).contains("77"));

    let inspect = ConnInspectRequest { conn_id: 5 }.to_frame(42);
    write.send(&inspect).await.unwrap();
    let reply = next(&mut read).await;
    assert_eq!(reply.reply_for().unwrap(), Some(42));
    let response = ConnInspectResponse::from_frame(&reply).unwrap();
    assert_eq!(response.conn_id, 5);
    assert_eq!(response.conn_type, ConnType::Invalid);

    // A router probing us gets a Result with header 128 echoed.
    write
        .send(&LatencyProbe::from_timestamp(99).to_frame(43))
        .await
        .unwrap();
    let reply = next(&mut read).await;
    assert_eq!(reply.content_type, ct::RESULT);
    assert_eq!(reply.reply_for().unwrap(), Some(43));
    assert_eq!(
        &reply.headers.get_bytes(header::REFLECTED).unwrap()[..],
        &99u64.to_le_bytes()
    );
    // Unknown content types and Data for unknown conns are dropped; the channel lives on.
    write.send(&Frame::new(4242, 44, "??")).await.unwrap();
    assert!(channel.is_open());
    assert_eq!(channel.conn_count(), 0);
}

#[tokio::test]
async fn malformed_input_closes_only_with_a_protocol_error() {
    let (channel, _read, mut write) = started().await;
    // Bad magic in the middle of the stream.
    write
        .get_mut()
        .write_all(&[9, 9, 9, 9, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        .await
        .unwrap();
    write.get_mut().flush().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), channel.closed())
        .await
        .expect("channel did not close on a bad frame");
    assert!(
        matches!(channel.close_reason(), ChannelError::Protocol { .. }),
        "{}",
        channel.close_reason()
    );
    let err = channel.probe(Duration::from_secs(1)).await.unwrap_err();
    assert!(matches!(err, ChannelError::Protocol { .. }), "{err}");

    // A body above the frame limit is refused before it is buffered.
    let (sdk, mut read, mut write) = pipe();
    tokio::spawn(async move {
        let _ = next(&mut read).await;
        write.send(&hello_ack(true, "")).await.unwrap();
        let mut huge = vec![3, 6, 9, 12];
        huge.extend_from_slice(&ct::DATA.to_le_bytes());
        huge.extend_from_slice(&1i32.to_le_bytes());
        huge.extend_from_slice(&0u32.to_le_bytes());
        huge.extend_from_slice(&(512u32 << 20).to_le_bytes());
        write.get_mut().write_all(&huge).await.unwrap();
        write.get_mut().flush().await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    let channel = RouterChannel::start(sdk, "big".into(), "t", "i", options())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), channel.closed())
        .await
        .expect("channel did not close on an oversized frame");
    assert!(matches!(
        channel.close_reason(),
        ChannelError::Protocol { .. }
    ));
}
