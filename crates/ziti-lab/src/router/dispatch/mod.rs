//! What each message from an SDK does to the router.
//!
//! [`frame`] is called by a channel's reader for every frame after the hello, in arrival
//! order. It answers latency probes, relays Data / FIN / StateClosed along circuits, starts
//! dials for Connect, registers terminators for Bind, completes dials on DialSuccess /
//! DialFailed, and drops what the router does not handle (logged at debug). Edge messages
//! whose headers cannot be read get a StateClosed reply when they expect one and are dropped
//! otherwise; frame-level errors never reach this module (the reader closes the channel).
//!
//! [`channel_closed`] tears a closed channel down: its terminators go, its dials in flight
//! fail, and every circuit it was part of ends with StateClosed to the other side.

mod dial;
mod host;

use std::sync::Arc;

use bytes::Bytes;
use dark_listener::wire::consts::{content_type as ct, header as h};
use dark_listener::wire::edge::{Data, HealthEvent, LatencyProbe, StateClosed};
use dark_listener::wire::frame::Frame;

use super::channel::{ConnPeer, ConnSlot, DialOutcome, EdgeChannel, PendingRequest};
use super::denial::Denial;
use super::RouterCore;
use dial::{connect, dial_failed, dial_success};
use host::{bind, inspect_response, unbind, update_bind};

/// Body of the StateClosed sent to one end of a circuit when the other end went away (the
/// real router's text for a circuit closed from the far side).
pub const PEER_CLOSED_REASON: &str = "close called";

/// Handles one frame from `ch`.
pub async fn frame(core: &Arc<RouterCore>, ch: &Arc<EdgeChannel>, frame: Frame) {
    match frame.content_type {
        ct::LATENCY => {
            let _ = ch.send(LatencyProbe::response(&frame, 0)).await;
        }
        ct::DATA => relay_data(core, ch, &frame).await,
        ct::STATE_CLOSED => close_from_sdk(ch, &frame).await,
        ct::CONNECT => connect(core, ch, frame).await,
        ct::DIAL_SUCCESS => dial_success(ch, frame).await,
        ct::DIAL_FAILED => dial_failed(ch, &frame),
        ct::BIND => bind(core, ch, frame).await,
        ct::UNBIND => unbind(core, ch, &frame),
        ct::UPDATE_BIND => update_bind(core, ch, &frame),
        ct::HEALTH_EVENT => match HealthEvent::from_frame(&frame) {
            Ok(ev) => tracing::debug!(
                channel = ch.id,
                bind = ev.conn_id,
                healthy = ev.healthy,
                "health event"
            ),
            Err(e) => {
                tracing::debug!(channel = ch.id, error = %e, "unreadable HealthEvent dropped")
            }
        },
        ct::CONN_INSPECT_RESPONSE => inspect_response(ch, &frame),
        ct::UPDATE_TOKEN => super::token::update(core, ch, &frame).await,
        other => tracing::debug!(
            channel = ch.id,
            content_type = other,
            name = ct::name(other).unwrap_or("unknown"),
            "dropped message of a content type the router does not handle"
        ),
    }
}

// ---- circuits --------------------------------------------------------------------------

async fn relay_data(core: &RouterCore, ch: &Arc<EdgeChannel>, frame: &Frame) {
    let data = match Data::from_frame(frame) {
        Ok(d) => d,
        Err(e) => {
            tracing::debug!(channel = ch.id, error = %e, "unreadable Data dropped");
            return;
        }
    };
    let Some(ConnSlot::Open(peer)) = ch.conn(data.conn_id) else {
        tracing::debug!(
            channel = ch.id,
            conn = data.conn_id,
            "Data for a conn that is not open dropped"
        );
        return;
    };
    if let Some(tap) = &core.options.payload_tap {
        tap.record(&peer.circuit_id, &data.payload);
    }
    let out = Data {
        conn_id: peer.conn_id,
        flags: data.flags,
        uuid: data.uuid,
        payload: data.payload,
    }
    .to_frame(0);
    // Waits while the peer's queue is full: legacy Data has no flow control, so the peer's
    // reading speed throttles this channel's reader (and through TCP, this SDK).
    let _ = peer.channel.send(out).await;
}

async fn close_from_sdk(ch: &Arc<EdgeChannel>, frame: &Frame) {
    let Ok(Some(conn_id)) = frame.headers.get_u32(h::CONN_ID) else {
        tracing::debug!(
            channel = ch.id,
            "StateClosed without a readable conn id dropped"
        );
        return;
    };
    match ch.remove_conn(conn_id) {
        Some(ConnSlot::Open(peer))
            if peer
                .channel
                .remove_conn_facing(peer.conn_id, ch.id, conn_id) =>
        {
            notify_peer_closed(&peer).await;
        }
        Some(ConnSlot::Open(_)) => {}
        Some(ConnSlot::Dialing) => {
            tracing::debug!(
                channel = ch.id,
                conn = conn_id,
                "dialer closed its conn before the host answered"
            );
        }
        // Unknown ids (and bind ids: the Go SDK closes its bind id after Unbind) are ignored.
        None => {}
    }
}

async fn notify_peer_closed(peer: &ConnPeer) {
    let msg = StateClosed {
        conn_id: peer.conn_id,
        reason: Bytes::from_static(PEER_CLOSED_REASON.as_bytes()),
        ..StateClosed::default()
    }
    .to_frame(0);
    let _ = peer.channel.send(msg).await;
}

/// Tears down a channel that closed (see the module docs).
pub async fn channel_closed(core: &Arc<RouterCore>, ch: &Arc<EdgeChannel>) {
    let removed = core.terminators().remove_host(ch.id);
    if !removed.is_empty() {
        tracing::debug!(
            channel = ch.id,
            terminators = removed.len(),
            "terminators removed"
        );
    }
    let (conns, pending) = ch.drain();
    for request in pending {
        if let PendingRequest::Dial(p) = request {
            let _ = p.done.send(DialOutcome::Failed(Denial::TerminatorFailed {
                terminator: p.terminator.id.clone(),
                cause: "the hosting channel closed".into(),
            }));
        }
    }
    for (conn_id, slot) in conns {
        if let ConnSlot::Open(peer) = slot {
            if peer
                .channel
                .remove_conn_facing(peer.conn_id, ch.id, conn_id)
            {
                notify_peer_closed(&peer).await;
            }
        }
    }
}
