//! What a router's answer means, as pure functions: the hello reply, the answer to a Bind,
//! to a Connect and to an UpdateToken, and what a host answers to a Dial
//! (ziti-edge-protocol.md §1.5, §3.2, §3.3, §6.3). Also the few frames the SDK builds in
//! more than one place: DialFailed and the StateClosed that ends a connection.
//!
//! The async code in `channel`, `context` and `listener` sends the requests and waits; the
//! decisions live here so they can be tested frame by frame.

use bytes::Bytes;

use crate::channel::ChannelError;
use crate::wire::consts::{content_type as ct, HELLO_SEQUENCE};
use crate::wire::edge::{DialFailed, HelloReply, StateClosed, StateConnected};
use crate::wire::frame::Frame;

/// What a frame read while waiting for the hello reply means.
#[derive(Debug)]
pub enum HelloStep {
    /// Not the reply (routers may send other frames first): keep reading.
    NotYetTheReply,
    /// The router accepted the hello.
    Accepted(Box<HelloReply>),
    /// The router refused the hello, or answered with something unreadable.
    Refused(ChannelError),
}

/// Classifies a frame read after the hello was sent to `router`.
pub fn hello_step(router: &str, frame: &Frame) -> HelloStep {
    if frame.content_type != ct::RESULT || !matches!(frame.reply_for(), Ok(Some(HELLO_SEQUENCE))) {
        return HelloStep::NotYetTheReply;
    }
    match HelloReply::from_frame(frame) {
        Err(e) => HelloStep::Refused(ChannelError::Protocol {
            router: router.to_string(),
            detail: format!("hello reply: {e}"),
        }),
        Ok(hello) if !hello.success => HelloStep::Refused(ChannelError::HelloRejected {
            router: router.to_string(),
            message: String::from_utf8_lossy(&hello.message).into_owned(),
        }),
        Ok(hello) => HelloStep::Accepted(Box::new(hello)),
    }
}

/// The router's answer to a Bind: `Ok` when bound (StateConnected), otherwise the reason
/// it gave (StateClosed) or what was wrong with the answer.
pub fn bind_outcome(reply: &Frame) -> Result<(), String> {
    match reply.content_type {
        ct::STATE_CONNECTED => Ok(()),
        ct::STATE_CLOSED => {
            let closed = StateClosed::from_frame(reply).unwrap_or_default();
            Err(String::from_utf8_lossy(&closed.reason).into_owned())
        }
        other => Err(format!("unexpected answer to Bind: content type {other}")),
    }
}

/// The router's answer to a Connect.
#[derive(Debug, PartialEq)]
pub enum ConnectOutcome {
    /// The circuit is up.
    Connected(StateConnected),
    /// The router refused the dial; its StateClosed carries the reason and error code.
    Refused(StateClosed),
    /// StateConnected that cannot be read.
    Malformed(String),
    /// Another content type.
    Unexpected(i32),
}

/// Classifies the router's answer to a Connect.
pub fn connect_outcome(reply: &Frame) -> ConnectOutcome {
    match reply.content_type {
        ct::STATE_CONNECTED => match StateConnected::from_frame(reply) {
            Ok(connected) => ConnectOutcome::Connected(connected),
            Err(e) => ConnectOutcome::Malformed(format!("StateConnected: {e}")),
        },
        ct::STATE_CLOSED => {
            ConnectOutcome::Refused(StateClosed::from_frame(reply).unwrap_or_default())
        }
        other => ConnectOutcome::Unexpected(other),
    }
}

/// The router's verdict on an UpdateToken to `router`: accepted, or refused (after which
/// the router closes the channel).
pub fn update_token_outcome(router: &str, reply: &Frame) -> Result<(), ChannelError> {
    match reply.content_type {
        ct::UPDATE_TOKEN_SUCCESS => Ok(()),
        ct::UPDATE_TOKEN_FAILURE => Err(ChannelError::AuthenticationRejected {
            router: router.to_string(),
        }),
        other => Err(ChannelError::Protocol {
            router: router.to_string(),
            detail: format!("UpdateToken answered with content type {other}"),
        }),
    }
}

/// A DialFailed refusing the Dial sent with `dial_sequence` to bind `bind_conn_id`.
pub fn dial_refusal(bind_conn_id: u32, dial_sequence: i32, reason: String) -> Frame {
    DialFailed {
        bind_conn_id,
        reason: Bytes::from(reason),
    }
    .to_frame(0)
    .replying_to(dial_sequence)
}

/// The StateClosed with which this SDK ends connection `conn_id` (no reason text).
pub fn close_frame(conn_id: u32) -> Frame {
    StateClosed {
        conn_id,
        ..StateClosed::default()
    }
    .to_frame(0)
}
