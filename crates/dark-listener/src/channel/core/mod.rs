//! The sans-IO core of a router channel, the way `quinn-proto` is the core of `quinn`.
//!
//! [`ChannelCore`] owns the state of one channel: conn ids ([`ConnIdAllocator`]), the table
//! of virtual connections (streams and binds), the requests waiting for a reply, and the
//! close reason. It takes decoded frames ([`ChannelCore::handle_frame`]), the end of the byte
//! stream and decode errors, and commands (open a stream or a bind, accept a router-provided
//! conn, forget a conn, wait for a reply, close), and answers with [`ChannelAction`]s: frames
//! to send, replies for waiters, events for streams and binds. It has no sockets, no clock
//! and no tokio; the channel's tokio driver (`channel/driver.rs`) does the I/O and the waiting.
//!
//! The core is generic over what the driver keeps per stream (`S`), per bind (`B`) and per
//! waiting request (`W`): the driver uses queue senders, the unit tests plain labels.
//!
//! What a reply to a Hello, Bind, Connect or UpdateToken means is decided by the pure
//! functions of [`replies`]; what an unanswered latency probe means, by [`probe_verdict`].

pub mod replies;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use bytes::Bytes;

use super::{ChannelError, ConnIdAllocator};
use crate::wire::consts::{content_type as ct, ConnType};
use crate::wire::edge::{
    ConnInspectRequest, ConnInspectResponse, Data, Dial, LatencyProbe, StateClosed,
};
use crate::wire::frame::{Frame, FrameError};

/// One inbound event for a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// A Data body (still encrypted when the connection is).
    Data(Bytes),
    /// The peer half-closed (FIN).
    Fin,
    /// The connection was closed (StateClosed); the reason text.
    Closed(String),
}

/// One inbound event for a bind.
#[derive(Debug, Clone, PartialEq)]
pub enum BindEvent {
    /// A Dial for this bind, with the Dial frame's sequence (for the reply).
    Dial {
        /// The parsed Dial.
        dial: Box<Dial>,
        /// Sequence of the Dial frame.
        sequence: i32,
    },
    /// The router closed the bind.
    Closed(StateClosed),
}

/// What the core keeps for one virtual connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn<S, B> {
    /// A stream (dialed by this SDK, or accepted from a Dial).
    Stream(S),
    /// A bind (this SDK hosts a service through it).
    Bind(B),
}

/// What the driver must do after the core handled an input.
#[derive(Debug, PartialEq)]
pub enum ChannelAction<S, B, W> {
    /// Write this frame to the router (the writer numbers it).
    Send(Frame),
    /// Hand `frame` to the request that waited for it.
    Reply {
        /// The waiting request.
        waiter: W,
        /// The reply.
        frame: Frame,
    },
    /// Deliver an event to a stream (waiting for room: this is the back-pressure point).
    ToStream {
        /// The stream's handle.
        stream: S,
        /// The event.
        event: StreamEvent,
    },
    /// Deliver an event to a bind.
    ToBind {
        /// The bind's handle.
        bind: B,
        /// The event.
        event: BindEvent,
        /// What to send instead when the bind is gone (the refusal of a Dial).
        if_gone: Option<Frame>,
    },
}

/// Everything a closing channel held, for the driver to drop (which tells every waiter,
/// stream and bind that the channel is gone).
#[derive(Debug)]
pub struct Drained<S, B, W> {
    /// Whether this close set the reason (the first close wins).
    pub first: bool,
    /// The requests that were waiting for a reply.
    pub waiters: Vec<W>,
    /// The connections that were open.
    pub conns: Vec<Conn<S, B>>,
}

/// The state of one router channel, without I/O. See the module docs.
#[derive(Debug)]
pub struct ChannelCore<S, B, W> {
    router: String,
    max_conns: usize,
    conns: HashMap<u32, Conn<S, B>>,
    ids: ConnIdAllocator,
    waiters: HashMap<i32, W>,
    frames_seen: u64,
    close_reason: Option<ChannelError>,
}

/// Waiting requests kept before abandoned ones are swept out.
const WAITERS_BEFORE_SWEEP: usize = 1024;

impl<S: Clone, B: Clone, W> ChannelCore<S, B, W> {
    /// A core for a channel to `router` (named in errors) that holds at most `max_conns`
    /// connections.
    pub fn new(router: impl Into<String>, max_conns: usize) -> Self {
        Self {
            router: router.into(),
            max_conns,
            conns: HashMap::new(),
            ids: ConnIdAllocator::new(max_conns),
            waiters: HashMap::new(),
            frames_seen: 0,
            close_reason: None,
        }
    }

    /// The router this channel talks to.
    pub fn router(&self) -> &str {
        &self.router
    }

    /// Why the channel closed, once it has.
    pub fn close_reason(&self) -> Option<&ChannelError> {
        self.close_reason.as_ref()
    }

    /// Number of live connections (streams and binds).
    pub fn conn_count(&self) -> usize {
        self.conns.len()
    }

    /// The kind of connection `id` is, as ConnInspect reports it.
    pub fn conn_type(&self, id: u32) -> ConnType {
        match self.conns.get(&id) {
            Some(Conn::Bind(_)) => ConnType::Bind,
            Some(Conn::Stream(_)) => ConnType::Dial,
            None => ConnType::Invalid,
        }
    }

    /// Number of requests waiting for a reply.
    pub fn waiting(&self) -> usize {
        self.waiters.len()
    }

    fn refuse_if_closed(&self) -> Result<(), ChannelError> {
        match &self.close_reason {
            Some(reason) => Err(reason.clone()),
            None => Ok(()),
        }
    }

    fn exhausted(&self) -> ChannelError {
        ChannelError::ConnIdsExhausted {
            router: self.router.clone(),
            max: self.max_conns,
        }
    }

    /// Allocates a conn id for a stream this SDK dials (before its Connect is sent).
    pub fn open_stream(&mut self, stream: S) -> Result<u32, ChannelError> {
        self.open(Conn::Stream(stream))
    }

    /// Allocates a conn id for a bind (before its Bind is sent).
    pub fn open_bind(&mut self, bind: B) -> Result<u32, ChannelError> {
        self.open(Conn::Bind(bind))
    }

    fn open(&mut self, conn: Conn<S, B>) -> Result<u32, ChannelError> {
        self.refuse_if_closed()?;
        let id = self.ids.allocate().ok_or_else(|| self.exhausted())?;
        self.conns.insert(id, conn);
        Ok(id)
    }

    /// Registers a stream under the id the router chose in a Dial (header 1012).
    pub fn accept_stream(&mut self, id: u32, stream: S) -> Result<(), ChannelError> {
        self.refuse_if_closed()?;
        if self.conns.contains_key(&id) {
            return Err(ChannelError::Protocol {
                router: self.router.clone(),
                detail: format!("router offered conn id {id}, which is already in use"),
            });
        }
        if self.conns.len() >= self.max_conns {
            return Err(self.exhausted());
        }
        self.ids.reserve(id);
        self.conns.insert(id, Conn::Stream(stream));
        Ok(())
    }

    /// Forgets a connection (stream or bind) and frees its id; returns whether it was open.
    pub fn forget(&mut self, id: u32) -> bool {
        self.ids.release(id);
        self.conns.remove(&id).is_some()
    }

    /// Records that the request sent with `sequence` waits for a reply. Past
    /// 1,024 waiting requests, those for which `is_live` is false are swept out first.
    pub fn expect_reply(&mut self, sequence: i32, waiter: W, is_live: impl Fn(&W) -> bool) {
        if self.waiters.len() >= WAITERS_BEFORE_SWEEP {
            self.waiters.retain(|_, w| is_live(w));
        }
        self.waiters.insert(sequence, waiter);
    }

    /// Handles one frame from the router; what to do goes to `out`.
    ///
    /// A frame whose ReplyFor matches a waiting request goes to that request. Otherwise:
    /// Data goes to its stream (payload, then FIN), StateClosed ends its stream or bind,
    /// Dial goes to its bind (or is refused with DialFailed), ConnInspectRequest and latency
    /// probes are answered, and anything else (or anything malformed) is dropped.
    pub fn handle_frame(&mut self, frame: Frame, out: &mut Vec<ChannelAction<S, B, W>>) {
        self.frames_seen += 1;
        if let Ok(Some(reply_for)) = frame.reply_for() {
            if let Some(waiter) = self.waiters.remove(&reply_for) {
                out.push(ChannelAction::Reply { waiter, frame });
                return;
            }
        }
        match frame.content_type {
            ct::DATA => self.on_data(&frame, out),
            ct::STATE_CLOSED => self.on_state_closed(&frame, out),
            ct::DIAL => self.on_dial(&frame, out),
            ct::CONN_INSPECT_REQUEST => self.on_inspect(&frame, out),
            ct::LATENCY => out.push(ChannelAction::Send(LatencyProbe::response(&frame, 0))),
            other => {
                tracing::debug!(router = %self.router, content_type = other, "unhandled frame dropped");
            }
        }
    }

    fn on_data(&mut self, frame: &Frame, out: &mut Vec<ChannelAction<S, B, W>>) {
        let data = match Data::from_frame(frame) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(router = %self.router, error = %e, "malformed Data dropped");
                return;
            }
        };
        let Some(Conn::Stream(stream)) = self.conns.get(&data.conn_id) else {
            tracing::debug!(router = %self.router, conn_id = data.conn_id, "Data for unknown conn dropped");
            return;
        };
        let fin = data.is_fin();
        if !data.payload.is_empty() || !fin {
            out.push(ChannelAction::ToStream {
                stream: stream.clone(),
                event: StreamEvent::Data(data.payload),
            });
        }
        if fin {
            out.push(ChannelAction::ToStream {
                stream: stream.clone(),
                event: StreamEvent::Fin,
            });
        }
    }

    fn on_state_closed(&mut self, frame: &Frame, out: &mut Vec<ChannelAction<S, B, W>>) {
        let closed = match StateClosed::from_frame(frame) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(router = %self.router, error = %e, "malformed StateClosed dropped");
                return;
            }
        };
        let Some(conn) = self.conns.remove(&closed.conn_id) else {
            return;
        };
        self.ids.release(closed.conn_id);
        out.push(match conn {
            Conn::Stream(stream) => ChannelAction::ToStream {
                stream,
                event: StreamEvent::Closed(String::from_utf8_lossy(&closed.reason).into_owned()),
            },
            Conn::Bind(bind) => ChannelAction::ToBind {
                bind,
                event: BindEvent::Closed(closed),
                if_gone: None,
            },
        });
    }

    fn on_dial(&mut self, frame: &Frame, out: &mut Vec<ChannelAction<S, B, W>>) {
        let dial = match Dial::from_frame(frame) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(router = %self.router, error = %e, "malformed Dial refused");
                out.push(ChannelAction::Send(replies::dial_refusal(
                    0,
                    frame.sequence,
                    format!("malformed Dial: {e}"),
                )));
                return;
            }
        };
        let bind_conn_id = dial.bind_conn_id;
        match self.conns.get(&bind_conn_id) {
            Some(Conn::Bind(bind)) => out.push(ChannelAction::ToBind {
                bind: bind.clone(),
                event: BindEvent::Dial {
                    dial: Box::new(dial),
                    sequence: frame.sequence,
                },
                if_gone: Some(replies::dial_refusal(
                    bind_conn_id,
                    frame.sequence,
                    "the listener is closing".into(),
                )),
            }),
            _ => out.push(ChannelAction::Send(replies::dial_refusal(
                bind_conn_id,
                frame.sequence,
                format!("no bind with conn id {bind_conn_id} on this channel"),
            ))),
        }
    }

    fn on_inspect(&mut self, frame: &Frame, out: &mut Vec<ChannelAction<S, B, W>>) {
        let Ok(request) = ConnInspectRequest::from_frame(frame) else {
            return;
        };
        let conn_type = self.conn_type(request.conn_id);
        let details = format!(
            "{{\"connId\":{},\"type\":\"{}\"}}",
            request.conn_id,
            match conn_type {
                ConnType::Bind => "bind",
                ConnType::Dial => "dial",
                _ => "unknown",
            }
        );
        let reply = ConnInspectResponse {
            conn_id: request.conn_id,
            conn_type,
            details: Bytes::from(details),
        }
        .to_frame(0)
        .replying_to(frame.sequence);
        out.push(ChannelAction::Send(reply));
    }

    /// The router ended the byte stream: why the channel is over. A close before any frame
    /// after the hello is how a router refuses the API session token.
    pub fn handle_eof(&self) -> ChannelError {
        if self.frames_seen == 0 {
            ChannelError::AuthenticationRejected {
                router: self.router.clone(),
            }
        } else {
            ChannelError::Closed {
                router: self.router.clone(),
                reason: "the router closed the connection".into(),
            }
        }
    }

    /// The router sent bytes that are not a frame: why the channel is over.
    pub fn handle_decode_error(&self, error: &FrameError) -> ChannelError {
        ChannelError::Protocol {
            router: self.router.clone(),
            detail: error.to_string(),
        }
    }

    /// Closes the channel with `reason` (the first reason wins) and hands back every waiter
    /// and connection, whose ids are all free again. Opening anything afterwards fails with
    /// the reason.
    pub fn close(&mut self, reason: ChannelError) -> Drained<S, B, W> {
        let first = self.close_reason.is_none();
        if first {
            self.close_reason = Some(reason);
        }
        self.ids = ConnIdAllocator::new(self.max_conns);
        Drained {
            first,
            waiters: self.waiters.drain().map(|(_, w)| w).collect(),
            conns: self.conns.drain().map(|(_, c)| c).collect(),
        }
    }
}

/// What the probe task does after a latency probe.
#[derive(Debug)]
pub enum ProbeVerdict {
    /// The router answered: probe again after the interval.
    ProbeAgain,
    /// The probe went unanswered while the channel's reader was parked on a slow stream:
    /// the answer is then queued behind that stream's data, so silence proves nothing.
    /// Probe again after the interval.
    ExcusedByBackPressure,
    /// The router is considered dead: close the channel with this reason.
    Dead(ChannelError),
    /// The channel closed for another reason: stop probing.
    Stop,
}

/// Decides what a probe's `result` means; `reader_parked` says whether the channel's reader
/// was waiting for room in a stream's queue (back-pressure) when the probe timed out.
pub fn probe_verdict(result: Result<(), ChannelError>, reader_parked: bool) -> ProbeVerdict {
    match result {
        Ok(()) => ProbeVerdict::ProbeAgain,
        Err(ChannelError::ProbeTimeout { .. }) if reader_parked => {
            ProbeVerdict::ExcusedByBackPressure
        }
        Err(err @ ChannelError::ProbeTimeout { .. }) => ProbeVerdict::Dead(err),
        Err(_) => ProbeVerdict::Stop,
    }
}
