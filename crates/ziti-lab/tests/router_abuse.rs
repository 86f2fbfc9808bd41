//! The lab router against peers that abuse it, in process: one identity opening more than
//! its share of channels, a peer that stalls in the middle of a frame, and large frames
//! competing for the budget of frames still arriving. (The memory of 100 stalled peers is
//! measured on a separate lab process in `crates/testbed/tests/router_stalled_peers.rs`.)

#[path = "support/router_lab.rs"]
mod router_lab;

use std::time::Duration;

use bytes::Bytes;
use dark_listener::channel::{ChannelError, ChannelOptions, RouterChannel};
use dark_listener::wire::consts::{content_type as ct, header as h};
use dark_listener::wire::edge::LatencyProbe;
use dark_listener::wire::frame::Frame;
use router_lab::{RawChannel, TestLab};
use ziti_lab::router::RouterOptions;

/// The 20-byte header of a Data frame announcing `header_len` header bytes and `body_len`
/// body bytes.
fn frame_header(header_len: u32, body_len: u32) -> Vec<u8> {
    let mut out = vec![3, 6, 9, 12];
    out.extend_from_slice(&ct::DATA.to_le_bytes());
    out.extend_from_slice(&7i32.to_le_bytes());
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(&body_len.to_le_bytes());
    out
}

fn probe(body_len: usize) -> Frame {
    let mut f = LatencyProbe::from_timestamp(42).to_frame(0);
    f.body = Bytes::from(vec![0u8; body_len]);
    f
}

#[tokio::test]
async fn one_identity_gets_at_most_its_share_of_channels() {
    let lab = TestLab::start_with(RouterOptions {
        max_channels_per_identity: 3,
        ..RouterOptions::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(lab.channel("dialer").await.0);
    }
    // The fourth hello of the same identity gets a failed hello reply that says why.
    let (tls, token) = lab.login("dialer");
    let mut over = lab.send_hello(tls.clone(), &token).await;
    let reply = over.expect(ct::RESULT).await;
    assert_eq!(
        reply.headers.get_bool(h::RESULT_SUCCESS).unwrap(),
        Some(false)
    );
    let message = String::from_utf8_lossy(&reply.body).into_owned();
    assert!(
        message.contains("identity dialer already has 3 channels"),
        "{message}"
    );
    over.expect_closed("the refused channel").await;

    // This SDK reports the refusal with the router's words.
    let stream = RawChannel::connect(lab.running.router_addr(), tls.clone())
        .await
        .stream;
    let refused = match RouterChannel::start(
        stream,
        "lab-router".into(),
        &token,
        "dialer",
        ChannelOptions::default(),
    )
    .await
    {
        Ok(_) => panic!("the SDK's hello was accepted over the identity's share"),
        Err(e) => e,
    };
    assert!(
        matches!(refused, ChannelError::HelloRejected { .. }),
        "{refused:?}"
    );
    assert!(
        refused
            .to_string()
            .contains("rejected the hello: identity dialer already has 3 channels"),
        "{refused}"
    );

    // Other identities are not affected.
    let (mut other, _) = lab.channel("host-a").await;
    let seq = other.send_seq(probe(0)).await;
    assert_eq!(
        other.expect(ct::RESULT).await.reply_for().unwrap(),
        Some(seq)
    );

    // A closed channel gives its place back (once the router has torn it down).
    drop(held.pop());
    let mut again = None;
    for _ in 0..100 {
        let mut ch = lab.send_hello(tls.clone(), &token).await;
        let ack = ch.expect(ct::RESULT).await;
        if ack.headers.get_bool(h::RESULT_SUCCESS).unwrap() == Some(true) {
            again = Some(ch);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "the freed place was never given back");
}

#[tokio::test]
async fn a_peer_that_stalls_mid_frame_is_closed_at_the_frame_deadline() {
    let lab = TestLab::start_with(RouterOptions {
        frame_deadline: Duration::from_millis(500),
        ..RouterOptions::default()
    })
    .await;
    let (mut good, _) = lab.channel("host-a").await;
    let (mut stalled, _) = lab.channel("dialer").await;
    // 64 KiB of headers and 4 MiB of body announced; all but the last 64 KiB sent.
    let (headers, body) = (64u32 << 10, 4u32 << 20);
    stalled.send_bytes(&frame_header(headers, body)).await;
    stalled
        .send_bytes(&vec![0u8; (headers + body - (64 << 10)) as usize])
        .await;
    stalled.expect_closed("the stalled channel").await;
    // The deadline is about completing a frame, not about being quiet: a channel that sent
    // whole frames and then nothing stays open.
    good.expect_silence(Duration::from_millis(800)).await;
    let seq = good.send_seq(probe(0)).await;
    assert_eq!(
        good.expect(ct::RESULT).await.reply_for().unwrap(),
        Some(seq)
    );
}

#[tokio::test]
async fn large_frames_wait_for_the_budget_and_small_ones_do_not() {
    let lab = TestLab::start_with(RouterOptions {
        frame_deadline: Duration::from_millis(1500),
        incomplete_frame_budget_bytes: 1 << 20,
        ..RouterOptions::default()
    })
    .await;
    // A stalled 4 MiB frame takes the whole 1 MiB budget.
    let (mut stalled, _) = lab.channel("dialer").await;
    stalled.send_bytes(&frame_header(0, 4 << 20)).await;
    stalled.send_bytes(&vec![0u8; 1 << 20]).await;
    // A 300 KiB frame of another channel waits for it; a small one does not.
    let (mut large, _) = lab.channel("host-a").await;
    let (mut small, _) = lab.channel("host-b").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let large_seq = large.send_seq(probe(300 << 10)).await;
    let small_seq = small.send_seq(probe(0)).await;
    assert_eq!(
        small.expect(ct::RESULT).await.reply_for().unwrap(),
        Some(small_seq)
    );
    // The large frame is not read while the stalled one holds the budget …
    large.expect_silence(Duration::from_millis(300)).await;
    // … and is served once the stalled peer is dropped at its deadline.
    let reply = large.expect(ct::RESULT).await;
    assert_eq!(reply.reply_for().unwrap(), Some(large_seq));
    stalled.expect_closed("the stalled channel").await;
}
