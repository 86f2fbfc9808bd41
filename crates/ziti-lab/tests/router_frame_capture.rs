//! The router's opt-in frame capture (`RouterOptions::frame_capture`) over real TLS: it
//! records the hello and every later frame exactly as sent, however the bytes are split into
//! writes, names the channel's identity, and leaves a refused hello without one.

#[path = "support/router_lab.rs"]
mod router_lab;

use std::time::Duration;

use bytes::Bytes;
use dark_listener::wire::consts::content_type as ct;
use dark_listener::wire::edge::{Hello, LatencyProbe};
use router_lab::{RawChannel, TestLab};
use ziti_lab::router::capture::FrameCapture;
use ziti_lab::router::RouterOptions;

/// Hand-written (ziti-edge-protocol.md §1.1): a Heartbeat (5), seq 9, header 5 = u64 7, body "hb".
const HEARTBEAT: [u8; 38] = [
    0x03, 0x06, 0x09, 0x0c, // magic
    0x05, 0x00, 0x00, 0x00, // content type 5
    0x09, 0x00, 0x00, 0x00, // seq 9
    0x10, 0x00, 0x00, 0x00, // header length 16
    0x02, 0x00, 0x00, 0x00, // body length 2
    0x05, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, // header 5, 8 bytes
    0x07, 0, 0, 0, 0, 0, 0, 0, // u64 7
    b'h', b'b', // body "hb"
];

async fn frames_within(capture: &FrameCapture, identity: &str, n: usize) -> Vec<Vec<u8>> {
    for _ in 0..100 {
        let frames = capture.frames_of(identity);
        if frames.len() >= n {
            return frames.into_iter().map(|f| f.bytes).collect();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "fewer than {n} frames of {identity}: {:?}",
        capture.frames()
    );
}

#[tokio::test]
async fn the_capture_holds_each_frame_as_sent_with_the_identity() {
    let capture = FrameCapture::new(64, 1 << 20);
    let lab = TestLab::start_with(RouterOptions {
        frame_capture: Some(capture.clone()),
        ..RouterOptions::default()
    })
    .await;
    let (mut ch, token) = lab.channel("host-a").await;
    let hello = Hello {
        session_token: Bytes::from(token),
        identifier: Bytes::from_static(b"router-test"),
        ..Hello::default()
    }
    .to_frame(-1)
    .to_bytes()
    .unwrap();
    // The heartbeat and the probe in three writes, cut inside the heartbeat's header and
    // inside the probe's.
    let probe = LatencyProbe::from_timestamp(42)
        .to_frame(10)
        .to_bytes()
        .unwrap();
    let heartbeat = &HEARTBEAT[..];
    let stream: Vec<u8> = [heartbeat, &probe[..]].concat();
    for piece in [&stream[..7], &stream[7..40], &stream[40..]] {
        ch.send_bytes(piece).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = ch.expect(ct::RESULT).await; // the latency answer
    let frames = frames_within(&capture, "host-a", 3).await;
    assert_eq!(frames, [hello.to_vec(), heartbeat.to_vec(), probe.to_vec()]);

    // A refused hello (no such API session) is captured without an identity.
    let (tls, _) = lab.login("host-b");
    let mut refused = RawChannel::connect(lab.running.router_addr(), tls).await;
    let bad = Hello {
        session_token: Bytes::from_static(b"not-a-session"),
        ..Hello::default()
    }
    .to_frame(-1)
    .to_bytes()
    .unwrap();
    refused.send_bytes(&bad).await;
    let _ = refused.read_to_end().await;
    let unnamed: Vec<_> = capture
        .frames()
        .into_iter()
        .filter(|f| f.identity.is_none())
        .collect();
    assert_eq!(unnamed.len(), 1, "{unnamed:?}");
    assert_eq!(unnamed[0].bytes, bad.to_vec());
    assert_eq!(unnamed[0].content_type(), ct::HELLO);
    lab.running.shutdown().await;
}

#[tokio::test]
async fn without_a_capture_nothing_is_recorded_and_the_router_serves() {
    let lab = TestLab::start().await;
    assert!(lab.running.router_addr().port() > 0);
    let (mut ch, _) = lab.channel("host-a").await;
    ch.send(LatencyProbe::from_timestamp(1).to_frame(2)).await;
    let _ = ch.expect(ct::RESULT).await;
    assert!(RouterOptions::default().frame_capture.is_none());
    lab.running.shutdown().await;
}
