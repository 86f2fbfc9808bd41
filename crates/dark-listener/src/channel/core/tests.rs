//! The channel core driven frame by frame: every transition, and the malformed and
//! out-of-order input the pipe-based tests in `tests/sdk_channel.rs` cover through tasks.
//! Streams and binds are plain labels, waiters are numbers.

use bytes::Bytes;

use super::replies::{self, ConnectOutcome, HelloStep};
use super::*;
use crate::wire::consts::{content_type as ct, flags, ErrorCode, HELLO_SEQUENCE, SDK_CONN_ID_MIN};
use crate::wire::edge::{
    ConnInspectRequest, ConnInspectResponse, Data, Dial, DialFailed, HelloReply, LatencyProbe,
    StateClosed, StateConnected, UpdateToken,
};
use crate::wire::frame::Frame;

type Core = ChannelCore<&'static str, &'static str, u32>;
type Action = ChannelAction<&'static str, &'static str, u32>;

fn core() -> Core {
    ChannelCore::new("router-a:3022", 8)
}

fn handle(core: &mut Core, frame: Frame) -> Vec<Action> {
    let mut out = Vec::new();
    core.handle_frame(frame, &mut out);
    out
}

fn data(conn_id: u32, payload: &'static [u8], flags: u32) -> Frame {
    Data {
        conn_id,
        flags,
        payload: Bytes::from_static(payload),
        ..Data::default()
    }
    .to_frame(7)
}

fn state_closed(conn_id: u32, reason: &'static str) -> Frame {
    StateClosed {
        conn_id,
        reason: Bytes::from_static(reason.as_bytes()),
        ..StateClosed::default()
    }
    .to_frame(9)
}

fn dial(bind_conn_id: u32, new_conn_id: u32, sequence: i32) -> Frame {
    Dial {
        bind_conn_id,
        new_conn_id: Some(new_conn_id),
        token: Bytes::from_static(b"session"),
        ..Dial::default()
    }
    .to_frame(sequence)
}

fn sent(action: &Action) -> &Frame {
    match action {
        ChannelAction::Send(frame) => frame,
        other => panic!("expected a frame to send, got {other:?}"),
    }
}

#[test]
fn ids_are_allocated_from_one_and_freed_on_forget() {
    let mut core = core();
    assert_eq!(core.open_stream("s1").unwrap(), SDK_CONN_ID_MIN);
    assert_eq!(core.open_bind("b1").unwrap(), SDK_CONN_ID_MIN + 1);
    assert_eq!(core.conn_count(), 2);
    assert_eq!(core.conn_type(1), ConnType::Dial);
    assert_eq!(core.conn_type(2), ConnType::Bind);
    assert!(core.forget(1));
    assert!(!core.forget(1), "a second forget finds nothing");
    assert_eq!(core.conn_type(1), ConnType::Invalid);
    assert_eq!(core.conn_count(), 1);
}

#[test]
fn the_connection_bound_is_enforced_for_own_and_router_ids() {
    let mut core: Core = ChannelCore::new("r", 2);
    core.open_stream("a").unwrap();
    core.open_stream("b").unwrap();
    let err = core.open_bind("c").unwrap_err();
    assert!(
        matches!(err, ChannelError::ConnIdsExhausted { max: 2, .. }),
        "{err}"
    );
    let err = core.accept_stream(1 << 31, "d").unwrap_err();
    assert!(
        matches!(err, ChannelError::ConnIdsExhausted { .. }),
        "{err}"
    );
    core.forget(1);
    core.accept_stream(1 << 31, "d").unwrap();
}

#[test]
fn a_router_id_already_in_use_is_a_protocol_error() {
    let mut core = core();
    core.accept_stream(0x8000_0001, "first").unwrap();
    let err = core.accept_stream(0x8000_0001, "second").unwrap_err();
    assert!(
        err.to_string().contains("already in use"),
        "unexpected error: {err}"
    );
    // The first stream still gets its data.
    let out = handle(&mut core, data(0x8000_0001, b"x", 0));
    assert_eq!(
        out,
        vec![ChannelAction::ToStream {
            stream: "first",
            event: StreamEvent::Data(Bytes::from_static(b"x"))
        }]
    );
}

#[test]
fn data_goes_to_its_stream_and_fin_follows_the_payload() {
    let mut core = core();
    let id = core.open_stream("s").unwrap();
    assert_eq!(
        handle(&mut core, data(id, b"hello", 0)),
        vec![ChannelAction::ToStream {
            stream: "s",
            event: StreamEvent::Data(Bytes::from_static(b"hello"))
        }]
    );
    assert_eq!(
        handle(&mut core, data(id, b"last", flags::FIN)),
        vec![
            ChannelAction::ToStream {
                stream: "s",
                event: StreamEvent::Data(Bytes::from_static(b"last"))
            },
            ChannelAction::ToStream {
                stream: "s",
                event: StreamEvent::Fin
            },
        ]
    );
    // An empty FIN is only a FIN; an empty Data without FIN is delivered as it is.
    assert_eq!(
        handle(&mut core, data(id, b"", flags::FIN)),
        vec![ChannelAction::ToStream {
            stream: "s",
            event: StreamEvent::Fin
        }]
    );
    assert_eq!(
        handle(&mut core, data(id, b"", 0)),
        vec![ChannelAction::ToStream {
            stream: "s",
            event: StreamEvent::Data(Bytes::new())
        }]
    );
}

#[test]
fn data_for_unknown_conns_binds_or_malformed_data_is_dropped() {
    let mut core = core();
    let bind = core.open_bind("b").unwrap();
    assert!(handle(&mut core, data(77, b"x", 0)).is_empty());
    assert!(
        handle(&mut core, data(bind, b"x", 0)).is_empty(),
        "Data to a bind id"
    );
    // No conn id header (1000): malformed.
    assert!(handle(&mut core, Frame::new(ct::DATA, 3, Bytes::from_static(b"x"))).is_empty());
    assert_eq!(core.conn_count(), 1);
}

#[test]
fn state_closed_ends_a_stream_with_its_reason_and_frees_the_id() {
    let mut core = core();
    let id = core.open_stream("s").unwrap();
    assert_eq!(
        handle(&mut core, state_closed(id, "service went away")),
        vec![ChannelAction::ToStream {
            stream: "s",
            event: StreamEvent::Closed("service went away".into())
        }]
    );
    assert_eq!(core.conn_count(), 0);
    // A second StateClosed, and Data after the close, find nothing.
    assert!(handle(&mut core, state_closed(id, "again")).is_empty());
    assert!(handle(&mut core, data(id, b"late", 0)).is_empty());
}

#[test]
fn state_closed_ends_a_bind_and_dials_for_it_are_then_refused() {
    let mut core = core();
    let id = core.open_bind("b").unwrap();
    let out = handle(&mut core, state_closed(id, "terminator removed"));
    match &out[..] {
        [ChannelAction::ToBind {
            bind: "b",
            event: BindEvent::Closed(closed),
            if_gone: None,
        }] => assert_eq!(&closed.reason[..], b"terminator removed"),
        other => panic!("{other:?}"),
    }
    let out = handle(&mut core, dial(id, 0x8000_0000, 40));
    let refusal = DialFailed::from_frame(sent(&out[0])).unwrap();
    assert_eq!(refusal.bind_conn_id, id);
    assert_eq!(sent(&out[0]).reply_for(), Ok(Some(40)));
}

#[test]
fn malformed_state_closed_is_dropped() {
    let mut core = core();
    core.open_stream("s").unwrap();
    assert!(handle(&mut core, Frame::new(ct::STATE_CLOSED, 1, Bytes::new())).is_empty());
    assert_eq!(core.conn_count(), 1);
}

#[test]
fn a_dial_goes_to_its_bind_with_a_refusal_ready_if_the_bind_is_gone() {
    let mut core = core();
    let bind = core.open_bind("b").unwrap();
    let out = handle(&mut core, dial(bind, 0x8000_0005, 33));
    match &out[..] {
        [ChannelAction::ToBind {
            bind: "b",
            event: BindEvent::Dial { dial, sequence: 33 },
            if_gone: Some(refusal),
        }] => {
            assert_eq!(dial.new_conn_id, Some(0x8000_0005));
            let failed = DialFailed::from_frame(refusal).unwrap();
            assert_eq!(failed.bind_conn_id, bind);
            assert_eq!(&failed.reason[..], b"the listener is closing");
            assert_eq!(refusal.reply_for(), Ok(Some(33)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_dial_for_an_unknown_bind_or_a_stream_id_is_refused() {
    let mut core = core();
    let stream = core.open_stream("s").unwrap();
    for bind_id in [999, stream] {
        let out = handle(&mut core, dial(bind_id, 0x8000_0000, 12));
        assert_eq!(out.len(), 1);
        let frame = sent(&out[0]);
        assert_eq!(frame.content_type, ct::DIAL_FAILED);
        assert_eq!(frame.reply_for(), Ok(Some(12)));
        let failed = DialFailed::from_frame(frame).unwrap();
        assert_eq!(failed.bind_conn_id, bind_id);
        assert_eq!(
            String::from_utf8_lossy(&failed.reason),
            format!("no bind with conn id {bind_id} on this channel")
        );
    }
}

#[test]
fn a_malformed_dial_is_refused_with_bind_id_zero() {
    let mut core = core();
    let out = handle(&mut core, Frame::new(ct::DIAL, 21, Bytes::new()));
    let frame = sent(&out[0]);
    let failed = DialFailed::from_frame(frame).unwrap();
    assert_eq!(failed.bind_conn_id, 0);
    assert!(String::from_utf8_lossy(&failed.reason).starts_with("malformed Dial"));
    assert_eq!(frame.reply_for(), Ok(Some(21)));
}

#[test]
fn inspect_reports_binds_streams_and_unknown_ids() {
    let mut core = core();
    let stream = core.open_stream("s").unwrap();
    let bind = core.open_bind("b").unwrap();
    for (id, kind, word) in [
        (bind, ConnType::Bind, "bind"),
        (stream, ConnType::Dial, "dial"),
        (55, ConnType::Invalid, "unknown"),
    ] {
        let request = ConnInspectRequest { conn_id: id }.to_frame(70 + id as i32);
        let out = handle(&mut core, request);
        let frame = sent(&out[0]);
        assert_eq!(frame.reply_for(), Ok(Some(70 + id as i32)));
        let response = ConnInspectResponse::from_frame(frame).unwrap();
        assert_eq!(response.conn_id, id);
        assert_eq!(response.conn_type, kind);
        assert_eq!(
            String::from_utf8_lossy(&response.details),
            format!("{{\"connId\":{id},\"type\":\"{word}\"}}")
        );
    }
    // An inspect request without a conn id is ignored.
    assert!(handle(
        &mut core,
        Frame::new(ct::CONN_INSPECT_REQUEST, 1, Bytes::new())
    )
    .is_empty());
}

#[test]
fn router_latency_probes_are_answered() {
    let mut core = core();
    let probe = LatencyProbe::from_timestamp(42).to_frame(88);
    let out = handle(&mut core, probe.clone());
    let answer = sent(&out[0]);
    assert_eq!(answer, &LatencyProbe::response(&probe, 0));
    assert_eq!(answer.reply_for(), Ok(Some(88)));
}

#[test]
fn replies_go_to_their_waiter_once_and_unknown_replies_fall_through() {
    let mut core = core();
    core.expect_reply(5, 500, |_| true);
    assert_eq!(core.waiting(), 1);
    let reply = StateConnected {
        conn_id: 1,
        ..StateConnected::default()
    }
    .to_frame(3)
    .replying_to(5);
    assert_eq!(
        handle(&mut core, reply.clone()),
        vec![ChannelAction::Reply {
            waiter: 500,
            frame: reply.clone()
        }]
    );
    assert_eq!(core.waiting(), 0);
    // The same reply again has no waiter: StateConnected is not handled unsolicited.
    assert!(handle(&mut core, reply).is_empty());
    // A probe answer nobody waits for is not answered again (it is a Result, not a probe).
    let probe = LatencyProbe::from_timestamp(1).to_frame(4);
    assert!(handle(&mut core, LatencyProbe::response(&probe, 0).replying_to(99)).is_empty());
}

#[test]
fn a_reply_for_wins_over_the_content_type() {
    // A router answers Connect with StateClosed that replies to the request: it must go to
    // the waiter, not end an unrelated conn with the same id.
    let mut core = core();
    let id = core.open_stream("s").unwrap();
    core.expect_reply(11, 1100, |_| true);
    let refusal = state_closed(id, "no terminators").replying_to(11);
    let out = handle(&mut core, refusal);
    assert!(matches!(
        out[..],
        [ChannelAction::Reply { waiter: 1100, .. }]
    ));
    assert_eq!(core.conn_count(), 1, "the stream is the caller's to forget");
}

#[test]
fn abandoned_waiters_are_swept_past_the_bound() {
    let mut core = core();
    for sequence in 0..1024 {
        core.expect_reply(sequence, sequence as u32, |_| true);
    }
    assert_eq!(core.waiting(), 1024);
    // Only even waiters are still live.
    core.expect_reply(5000, 5000, |w| w % 2 == 0);
    assert_eq!(core.waiting(), 513);
}

#[test]
fn unknown_content_types_are_dropped() {
    let mut core = core();
    assert!(handle(&mut core, Frame::new(12345, 1, Bytes::from_static(b"?"))).is_empty());
    assert!(handle(
        &mut core,
        UpdateToken {
            token: Bytes::from_static(b"t")
        }
        .to_frame(2)
    )
    .is_empty());
}

#[test]
fn eof_before_any_frame_is_a_refused_token_and_after_is_a_close() {
    let mut core = core();
    assert!(matches!(
        core.handle_eof(),
        ChannelError::AuthenticationRejected { .. }
    ));
    handle(&mut core, Frame::new(12345, 1, Bytes::new()));
    let err = core.handle_eof();
    assert!(matches!(err, ChannelError::Closed { .. }), "{err}");
    assert!(err.to_string().contains("router-a:3022"));
}

#[test]
fn a_decode_error_is_a_protocol_error_naming_the_router() {
    let core = core();
    let err = core.handle_decode_error(&crate::wire::frame::FrameError::BadMagic {
        seen: [0; 4],
        first_message: false,
    });
    assert!(matches!(err, ChannelError::Protocol { .. }), "{err}");
    assert!(err.to_string().contains("router-a:3022"));
}

#[test]
fn close_drains_everything_keeps_the_first_reason_and_refuses_new_conns() {
    let mut core = core();
    let s = core.open_stream("s").unwrap();
    core.open_bind("b").unwrap();
    core.expect_reply(1, 10, |_| true);
    let first = ChannelError::ProbeTimeout {
        router: "r".into(),
        after: std::time::Duration::from_secs(1),
    };
    let drained = core.close(first);
    assert!(drained.first);
    assert_eq!(drained.waiters, vec![10]);
    let mut conns = drained.conns;
    conns.sort_by_key(|c| matches!(c, Conn::Bind(_)));
    assert_eq!(conns, vec![Conn::Stream("s"), Conn::Bind("b")]);
    assert_eq!(core.conn_count(), 0);
    assert_eq!(core.waiting(), 0);

    let second = core.close(ChannelError::Closed {
        router: "r".into(),
        reason: "later".into(),
    });
    assert!(!second.first);
    assert!(matches!(
        core.close_reason(),
        Some(ChannelError::ProbeTimeout { .. })
    ));
    for err in [
        core.open_stream("x").unwrap_err(),
        core.open_bind("y").unwrap_err(),
        core.accept_stream(1 << 31, "z").unwrap_err(),
    ] {
        assert!(matches!(err, ChannelError::ProbeTimeout { .. }), "{err}");
    }
    // Late frames for the old ids find nothing.
    assert!(handle(&mut core, data(s, b"late", 0)).is_empty());
}

fn hello_reply(success: bool, message: &'static str) -> Frame {
    HelloReply {
        success,
        message: Bytes::from_static(message.as_bytes()),
        ..HelloReply::default()
    }
    .to_frame(1)
    .replying_to(HELLO_SEQUENCE)
}

#[test]
fn hello_steps_accept_refuse_and_skip_other_frames() {
    match replies::hello_step("r", &hello_reply(true, "")) {
        HelloStep::Accepted(hello) => assert!(hello.success),
        other => panic!("{other:?}"),
    }
    match replies::hello_step("r", &hello_reply(false, "unknown token")) {
        HelloStep::Refused(ChannelError::HelloRejected { message, .. }) => {
            assert_eq!(message, "unknown token")
        }
        other => panic!("{other:?}"),
    }
    // A Result replying to another sequence, or a probe, is not the hello reply.
    let other = HelloReply::default().to_frame(1).replying_to(4);
    assert!(matches!(
        replies::hello_step("r", &other),
        HelloStep::NotYetTheReply
    ));
    let probe = LatencyProbe::from_timestamp(1).to_frame(2);
    assert!(matches!(
        replies::hello_step("r", &probe),
        HelloStep::NotYetTheReply
    ));
}

#[test]
fn bind_outcomes() {
    let connected = StateConnected::default().to_frame(1);
    assert_eq!(replies::bind_outcome(&connected), Ok(()));
    assert_eq!(
        replies::bind_outcome(&state_closed(3, "invalid session")),
        Err("invalid session".into())
    );
    // A StateClosed without its conn id still yields (an empty) reason rather than a panic.
    assert_eq!(
        replies::bind_outcome(&Frame::new(ct::STATE_CLOSED, 1, Bytes::new())),
        Err(String::new())
    );
    assert_eq!(
        replies::bind_outcome(&Frame::new(ct::DATA, 1, Bytes::new())),
        Err(format!(
            "unexpected answer to Bind: content type {}",
            ct::DATA
        ))
    );
}

#[test]
fn connect_outcomes() {
    let connected = StateConnected {
        conn_id: 4,
        circuit_id: Some("c1".into()),
        ..StateConnected::default()
    };
    assert_eq!(
        replies::connect_outcome(&connected.to_frame(1)),
        ConnectOutcome::Connected(connected)
    );
    let refused = StateClosed {
        conn_id: 4,
        reason: Bytes::from_static(b"no terminators"),
        error: crate::wire::edge::ErrorDetails {
            code: Some(ErrorCode::InvalidService),
            ..Default::default()
        },
        ..StateClosed::default()
    };
    match replies::connect_outcome(&refused.to_frame(1)) {
        ConnectOutcome::Refused(closed) => assert_eq!(closed, refused),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        replies::connect_outcome(&Frame::new(ct::STATE_CONNECTED, 1, Bytes::new())),
        ConnectOutcome::Malformed(_)
    ));
    assert_eq!(
        replies::connect_outcome(&Frame::new(ct::DIAL_SUCCESS, 1, Bytes::new())),
        ConnectOutcome::Unexpected(ct::DIAL_SUCCESS)
    );
}

#[test]
fn update_token_outcomes() {
    assert!(replies::update_token_outcome(
        "r",
        &Frame::new(ct::UPDATE_TOKEN_SUCCESS, 1, Bytes::new())
    )
    .is_ok());
    assert!(matches!(
        replies::update_token_outcome("r", &Frame::new(ct::UPDATE_TOKEN_FAILURE, 1, Bytes::new())),
        Err(ChannelError::AuthenticationRejected { .. })
    ));
    assert!(matches!(
        replies::update_token_outcome("r", &Frame::new(ct::DATA, 1, Bytes::new())),
        Err(ChannelError::Protocol { .. })
    ));
}

#[test]
fn close_frame_is_a_bare_state_closed() {
    let frame = replies::close_frame(17);
    let closed = StateClosed::from_frame(&frame).unwrap();
    assert_eq!(closed.conn_id, 17);
    assert!(closed.reason.is_empty());
    assert_eq!(frame.reply_for(), Ok(None));
}

#[test]
fn probe_verdicts() {
    let timeout = || ChannelError::ProbeTimeout {
        router: "r".into(),
        after: std::time::Duration::from_secs(10),
    };
    assert!(matches!(
        probe_verdict(Ok(()), false),
        ProbeVerdict::ProbeAgain
    ));
    assert!(matches!(
        probe_verdict(Ok(()), true),
        ProbeVerdict::ProbeAgain
    ));
    // Silence while the reader waits on a slow stream proves nothing.
    assert!(matches!(
        probe_verdict(Err(timeout()), true),
        ProbeVerdict::ExcusedByBackPressure
    ));
    assert!(matches!(
        probe_verdict(Err(timeout()), false),
        ProbeVerdict::Dead(ChannelError::ProbeTimeout { .. })
    ));
    let closed = ChannelError::Closed {
        router: "r".into(),
        reason: "gone".into(),
    };
    assert!(matches!(
        probe_verdict(Err(closed), false),
        ProbeVerdict::Stop
    ));
}
