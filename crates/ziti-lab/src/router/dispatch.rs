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

use std::sync::Arc;

use bytes::Bytes;
use dark_listener::wire::consts::{content_type as ct, header as h, ConnType, Precedence};
use dark_listener::wire::edge::{
    Bind, BindSuccess, ConnInspectRequest, ConnInspectResponse, Connect, Data, Dial, DialFailed,
    DialSuccess, HealthEvent, LatencyProbe, PublicKey, StateClosed, StateConnected, Unbind,
    UpdateBind,
};
use dark_listener::wire::frame::Frame;
use tokio::sync::oneshot;

use crate::config::PolicyType;

use super::channel::{
    ConnPeer, ConnSlot, DialOutcome, EdgeChannel, PendingDial, PendingRequest, RegisterError,
};
use super::denial::Denial;
use super::terminators::Terminator;
use super::RouterCore;

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

// ---- dialing ---------------------------------------------------------------------------

async fn reply_denial(ch: &EdgeChannel, request: &Frame, conn_id: u32, denial: &Denial) {
    reply_denial_with_circuit(ch, request, conn_id, denial, None).await;
}

async fn reply_denial_with_circuit(
    ch: &EdgeChannel,
    request: &Frame,
    conn_id: u32,
    denial: &Denial,
    circuit_id: Option<String>,
) {
    tracing::debug!(channel = ch.id, conn = conn_id, reason = %denial, "refused");
    let mut reply = denial.state_closed(conn_id, circuit_id).to_frame(0);
    reply.reply_to(request);
    let _ = ch.send(reply).await;
}

/// What a Connect resolved to before the host is asked.
struct DialPlan {
    terminator: Terminator,
    host: Arc<EdgeChannel>,
}

fn plan_dial(core: &RouterCore, ch: &EdgeChannel, connect: &Connect) -> Result<DialPlan, Denial> {
    let token = std::str::from_utf8(&connect.token).map_err(|_| Denial::InvalidSession)?;
    let session = core
        .state
        .service_session(token)
        .map_err(|_| Denial::InvalidSession)?;
    if session.identity.id != ch.identity.id {
        return Err(Denial::InvalidSession);
    }
    if session.session_type != PolicyType::Dial {
        return Err(Denial::WrongSessionType);
    }
    let encrypted = session.service.encryption_required;
    if encrypted && connect.public_key.is_none() {
        return Err(Denial::InitiatorKeyMissing);
    }
    let terminator = core
        .terminators()
        .select(&session.service.id, connect.terminator_identity.as_deref())?;
    if encrypted && terminator.public_key.is_none() {
        return Err(Denial::TerminatorKeyMissing);
    }
    let host = core.channel(terminator.host).ok_or(Denial::NoTerminators {
        service_id: session.service.id.clone(),
    })?;
    Ok(DialPlan { terminator, host })
}

async fn connect(core: &Arc<RouterCore>, ch: &Arc<EdgeChannel>, frame: Frame) {
    let conn_id = match frame.headers.get_u32(h::CONN_ID) {
        Ok(Some(id)) => id,
        _ => return reply_denial(ch, &frame, 0, &Denial::MissingConnId).await,
    };
    let connect = match Connect::from_frame(&frame) {
        Ok(c) => c,
        Err(e) => {
            return reply_denial(ch, &frame, conn_id, &Denial::Malformed(e.to_string())).await
        }
    };
    let plan = match plan_dial(core, ch, &connect) {
        Ok(p) => p,
        Err(denial) => return reply_denial(ch, &frame, conn_id, &denial).await,
    };
    let Ok(permit) = ch.dial_slots.clone().try_acquire_owned() else {
        let limit = core.options.max_pending_dials_per_channel;
        return reply_denial(ch, &frame, conn_id, &Denial::TooManyPendingDials(limit)).await;
    };
    if let Err(e) = ch.register_dialing(conn_id) {
        let denial = match e {
            RegisterError::InUse => Denial::ConnIdInUse(conn_id),
            RegisterError::Full => Denial::TooManyConnections(core.options.max_conns_per_channel),
            RegisterError::Closed => return,
        };
        return reply_denial(ch, &frame, conn_id, &denial).await;
    }
    let core = core.clone();
    let ch = ch.clone();
    tokio::spawn(async move {
        let _permit = permit;
        run_dial(&core, &ch, frame, connect, plan).await;
    });
}

async fn run_dial(
    core: &Arc<RouterCore>,
    ch: &Arc<EdgeChannel>,
    connect_frame: Frame,
    connect: Connect,
    plan: DialPlan,
) {
    let DialPlan { terminator, host } = plan;
    let circuit_id = core.next_circuit_id();
    let new_conn_id = terminator
        .router_provided_conn_ids
        .then(|| host.next_router_conn_id());
    let dial = Dial {
        bind_conn_id: terminator.bind_conn_id,
        new_conn_id,
        token: terminator.bind_token.clone(),
        caller_id: Some(connect.caller_id.clone().unwrap_or_default()),
        circuit_id: Some(circuit_id.clone()),
        public_key: connect.public_key,
        connection_marker: connect.connection_marker.clone(),
        app_data: connect.app_data.clone(),
        dialer_identity_id: Some(ch.identity.id.clone()),
        dialer_identity_name: Some(ch.identity.name.clone()),
        ..Dial::default()
    }
    .to_frame(0);
    let (done_tx, mut done_rx) = oneshot::channel();
    let pending = PendingDial {
        dialer: ch.clone(),
        dialer_conn_id: connect.conn_id,
        connect: connect_frame.clone(),
        terminator: terminator.clone(),
        new_conn_id,
        circuit_id: circuit_id.clone(),
        done: done_tx,
    };
    let failed = |cause: &str| Denial::TerminatorFailed {
        terminator: terminator.id.clone(),
        cause: cause.to_owned(),
    };
    let timeout = core.options.dial_timeout;
    let outcome = match host
        .send_request(dial, PendingRequest::Dial(Box::new(pending)))
        .await
    {
        Err(e) => DialOutcome::Failed(failed(&e.to_string())),
        Ok(seq) => match tokio::time::timeout(timeout, &mut done_rx).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => DialOutcome::Failed(failed("the hosting channel closed")),
            Err(_) => {
                if host.take_pending(seq).is_some() {
                    DialOutcome::Failed(failed(
                        "timeout waiting for message reply: context deadline exceeded",
                    ))
                } else {
                    // The host's reader took the request just now and is completing it.
                    match tokio::time::timeout(timeout, &mut done_rx).await {
                        Ok(Ok(outcome)) => outcome,
                        _ => DialOutcome::Failed(failed("the dial did not complete")),
                    }
                }
            }
        },
    };
    match outcome {
        DialOutcome::Connected => {
            tracing::debug!(
                dialer = ch.id,
                conn = connect.conn_id,
                host = host.id,
                terminator = %terminator.id,
                circuit = %circuit_id,
                "circuit up"
            );
        }
        DialOutcome::Failed(denial) => {
            ch.remove_dialing(connect.conn_id);
            reply_denial_with_circuit(
                ch,
                &connect_frame,
                connect.conn_id,
                &denial,
                Some(circuit_id),
            )
            .await;
        }
    }
}

/// Header 1003 of a frame, if it is a 32-byte key (anything else is ignored).
fn public_key_of(frame: &Frame) -> Option<PublicKey> {
    frame
        .headers
        .get_bytes(h::PUBLIC_KEY)
        .and_then(|k| <[u8; 32]>::try_from(k.as_ref()).ok())
        .map(PublicKey)
}

/// Tells a host that the conn it just accepted is dead. In legacy mode the host waits for
/// a reply to its DialSuccess, so the StateClosed is that reply.
async fn refuse_accepted(
    host: &EdgeChannel,
    dial_success: &Frame,
    conn_id: u32,
    legacy: bool,
    reason: &str,
) {
    let mut msg = StateClosed {
        conn_id,
        reason: Bytes::copy_from_slice(reason.as_bytes()),
        ..StateClosed::default()
    }
    .to_frame(0);
    if legacy {
        msg.reply_to(dial_success);
    }
    let _ = host.send(msg).await;
}

async fn dial_success(host: &Arc<EdgeChannel>, frame: Frame) {
    let body_id = <[u8; 4]>::try_from(frame.body.as_ref())
        .ok()
        .map(u32::from_le_bytes);
    let pending = match frame.reply_for() {
        Ok(Some(seq)) => host.take_pending(seq),
        _ => None,
    };
    let p = match pending {
        Some(PendingRequest::Dial(p)) => p,
        other => {
            if let Some(PendingRequest::Inspect(tx)) = other {
                drop(tx);
            }
            tracing::debug!(
                channel = host.id,
                "DialSuccess for no pending Dial (late or unsolicited)"
            );
            if let Some(n) = body_id {
                refuse_accepted(host, &frame, n, true, "no dial is pending for this reply").await;
            }
            return;
        }
    };
    let legacy = p.new_conn_id.is_none();
    let failed = |cause: String| {
        DialOutcome::Failed(Denial::TerminatorFailed {
            terminator: p.terminator.id.clone(),
            cause,
        })
    };
    let conn_id = match (p.new_conn_id, body_id) {
        (_, None) => {
            let err = DialSuccess::from_frame(&frame)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_else(|| "unreadable DialSuccess".into());
            refuse_accepted(host, &frame, p.new_conn_id.unwrap_or(0), legacy, &err).await;
            let _ = p.done.send(failed(err));
            return;
        }
        (Some(assigned), Some(answered)) => {
            if assigned != answered {
                tracing::warn!(
                    channel = host.id,
                    assigned,
                    answered,
                    "DialSuccess names another conn id than the router provided; using the router's"
                );
            }
            assigned
        }
        (None, Some(chosen)) => chosen,
    };
    let host_key = public_key_of(&frame).or(p.terminator.public_key);
    let host_end = ConnPeer {
        channel: p.dialer.clone(),
        conn_id: p.dialer_conn_id,
        circuit_id: p.circuit_id.clone(),
    };
    if let Err(e) = host.register_open(conn_id, host_end) {
        let reason = match e {
            RegisterError::InUse => format!("conn id {conn_id} is already in use on this channel"),
            RegisterError::Full => "too many connections on this channel".to_owned(),
            RegisterError::Closed => "the hosting channel closed".to_owned(),
        };
        refuse_accepted(host, &frame, conn_id, legacy, &reason).await;
        let _ = p.done.send(failed(reason));
        return;
    }
    let dialer_end = ConnPeer {
        channel: host.clone(),
        conn_id,
        circuit_id: p.circuit_id.clone(),
    };
    if !p.dialer.promote(p.dialer_conn_id, dialer_end) {
        host.remove_conn(conn_id);
        refuse_accepted(host, &frame, conn_id, legacy, PEER_CLOSED_REASON).await;
        let _ = p.done.send(failed("the dialer went away".into()));
        return;
    }
    if legacy {
        let mut ack = StateConnected {
            conn_id,
            ..StateConnected::default()
        }
        .to_frame(0);
        ack.reply_to(&frame);
        let _ = host.send(ack).await;
    }
    let wants_router_ids = p
        .connect
        .headers
        .get_flag(h::ROUTER_PROVIDED_CONN_ID)
        .unwrap_or(false);
    let mut connected = StateConnected {
        conn_id: p.dialer_conn_id,
        circuit_id: Some(p.circuit_id.clone()),
        router_provided_conn_id: wants_router_ids,
        public_key: host_key,
        ..StateConnected::default()
    }
    .to_frame(0);
    connected.reply_to(&p.connect);
    // Queued before this reader handles the host's next frame: StateConnected precedes data.
    let _ = p.dialer.send(connected).await;
    let _ = p.done.send(DialOutcome::Connected);
}

fn dial_failed(host: &Arc<EdgeChannel>, frame: &Frame) {
    let pending = match frame.reply_for() {
        Ok(Some(seq)) => host.take_pending(seq),
        _ => None,
    };
    match pending {
        Some(PendingRequest::Dial(p)) => {
            let reason = DialFailed::from_frame(frame)
                .map(|f| String::from_utf8_lossy(&f.reason).into_owned())
                .unwrap_or_else(|e| e.to_string());
            let _ = p.done.send(DialOutcome::Failed(Denial::TerminatorFailed {
                terminator: p.terminator.id.clone(),
                cause: reason,
            }));
        }
        Some(PendingRequest::Inspect(tx)) => drop(tx),
        None => tracing::debug!(channel = host.id, "DialFailed for no pending Dial dropped"),
    }
}

// ---- hosting ---------------------------------------------------------------------------

/// Reads cost and precedence the way the real router does: the first two bytes of 1004 as
/// a `u16` LE and the first byte of 1005. C SDK 0.29.3 sends both as 4-byte integers.
fn normalise_bind_widths(frame: &Frame) -> Frame {
    let mut out = frame.clone();
    if let Some(cost) = frame.headers.get_bytes(h::COST) {
        if cost.len() > 2 {
            out.headers.put_bytes(h::COST, cost.slice(..2));
        }
    }
    if let Some(p) = frame.headers.get_bytes(h::PRECEDENCE) {
        if p.len() > 1 {
            out.headers.put_bytes(h::PRECEDENCE, p.slice(..1));
        }
    }
    out
}

async fn bind(core: &Arc<RouterCore>, ch: &Arc<EdgeChannel>, frame: Frame) {
    let frame = normalise_bind_widths(&frame);
    let conn_id = match frame.headers.get_u32(h::CONN_ID) {
        Ok(Some(id)) => id,
        _ => {
            // As the real router: a Bind without conn id is logged and ignored.
            tracing::warn!(channel = ch.id, "Bind without conn id ignored");
            return;
        }
    };
    let bind = match Bind::from_frame(&frame) {
        Ok(b) => b,
        Err(e) => {
            return reply_denial(ch, &frame, conn_id, &Denial::Malformed(e.to_string())).await
        }
    };
    let session = match std::str::from_utf8(&bind.token)
        .ok()
        .and_then(|t| core.state.service_session(t).ok())
    {
        Some(s) if s.identity.id == ch.identity.id => s,
        _ => return reply_denial(ch, &frame, conn_id, &Denial::InvalidSession).await,
    };
    if session.session_type != PolicyType::Bind {
        let denial = Denial::WrongBindSessionType {
            got: session.session_type.as_str(),
        };
        return reply_denial(ch, &frame, conn_id, &denial).await;
    }
    let limit = core.options.max_binds_per_channel;
    let over_limit = {
        let table = core.terminators();
        !table.has_bind(ch.id, conn_id) && table.count_host(ch.id) >= limit
    };
    if over_limit {
        return reply_denial(ch, &frame, conn_id, &Denial::TooManyBinds(limit)).await;
    }
    let created = {
        let mut table = core.terminators();
        let conflict = bind.terminator_identity.as_deref().and_then(|instance| {
            table
                .instance_conflict(&session.service.id, instance, &ch.identity.id)
                .map(|t| Denial::InstanceIdTaken {
                    sibling: t.id.clone(),
                    instance_id: instance.to_owned(),
                })
        });
        match conflict {
            Some(denial) => Err(denial),
            None => {
                let terminator = Terminator {
                    id: table.next_id(),
                    service_id: session.service.id.clone(),
                    identity_id: ch.identity.id.clone(),
                    host: ch.id,
                    bind_conn_id: conn_id,
                    bind_token: bind.token.clone(),
                    instance_id: bind.terminator_identity.clone(),
                    cost: bind.cost.unwrap_or(0),
                    precedence: bind.precedence.unwrap_or(Precedence::Default),
                    public_key: bind.public_key,
                    router_provided_conn_ids: bind.router_provided_conn_id,
                };
                table.insert(terminator.clone());
                Ok(terminator)
            }
        }
    };
    // The real router confirms a Bind before the controller creates the terminator; the lab
    // creates it first, so a confirmed bind is immediately dialable.
    let mut ok = StateConnected {
        conn_id,
        router_provided_conn_id: bind.router_provided_conn_id,
        ..StateConnected::default()
    }
    .to_frame(0);
    ok.reply_to(&frame);
    if ch.send(ok).await.is_err() {
        if let Ok(t) = &created {
            core.terminators().remove(&t.id);
        }
        return;
    }
    let terminator = match created {
        Ok(t) => t,
        Err(denial) => {
            // As the real router after a refused terminator creation: an unsolicited
            // StateClosed for the bind, with the structured error.
            tracing::debug!(channel = ch.id, bind = conn_id, reason = %denial, "terminator refused");
            let _ = ch
                .send(denial.state_closed(conn_id, None).to_frame(0))
                .await;
            return;
        }
    };
    tracing::debug!(
        channel = ch.id,
        bind = conn_id,
        terminator = %terminator.id,
        service = %session.service.name,
        instance = ?terminator.instance_id,
        legacy = !terminator.router_provided_conn_ids,
        "terminator created"
    );
    if bind.supports_bind_success {
        let _ = ch.send(BindSuccess { conn_id }.to_frame(0)).await;
    }
    if bind.supports_inspect {
        let core = core.clone();
        let ch = ch.clone();
        tokio::spawn(async move { inspect_terminator(&core, &ch, terminator).await });
    }
}

/// Post-create inspect: the host must say the bind conn id is a live bind (ConnType 2), or
/// the terminator goes.
async fn inspect_terminator(core: &Arc<RouterCore>, ch: &Arc<EdgeChannel>, terminator: Terminator) {
    let mut verdict = "post-create inspect timed out".to_owned();
    for _ in 0..core.options.inspect_attempts.max(1) {
        if core.terminators().get(&terminator.id).is_none() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        let request = ConnInspectRequest {
            conn_id: terminator.bind_conn_id,
        }
        .to_frame(0);
        let Ok(seq) = ch.send_request(request, PendingRequest::Inspect(tx)).await else {
            return;
        };
        match tokio::time::timeout(core.options.inspect_interval, rx).await {
            Ok(Ok(response)) if response.conn_type == ConnType::Bind => {
                tracing::debug!(terminator = %terminator.id, "post-create inspect confirmed the bind");
                return;
            }
            Ok(Ok(response)) => {
                verdict = format!(
                    "post-create inspect: the SDK reports conn {} as {:?}, not a bind",
                    terminator.bind_conn_id, response.conn_type
                );
                break;
            }
            Ok(Err(_)) => return,
            Err(_) => {
                ch.take_pending(seq);
            }
        }
    }
    if core.terminators().remove(&terminator.id).is_some() {
        tracing::info!(terminator = %terminator.id, reason = %verdict, "terminator dropped");
        let msg = StateClosed {
            conn_id: terminator.bind_conn_id,
            reason: Bytes::from(verdict),
            ..StateClosed::default()
        }
        .to_frame(0);
        let _ = ch.send(msg).await;
    }
}

fn inspect_response(ch: &Arc<EdgeChannel>, frame: &Frame) {
    let pending = match frame.reply_for() {
        Ok(Some(seq)) => ch.take_pending(seq),
        _ => None,
    };
    match pending {
        Some(PendingRequest::Inspect(tx)) => {
            let response = ConnInspectResponse::from_frame(frame).unwrap_or(ConnInspectResponse {
                conn_id: 0,
                conn_type: ConnType::Invalid,
                details: Bytes::new(),
            });
            let _ = tx.send(response);
        }
        Some(PendingRequest::Dial(p)) => {
            // Not an answer to a Dial; put nothing back and fail that dial.
            let _ = p.done.send(DialOutcome::Failed(Denial::TerminatorFailed {
                terminator: p.terminator.id.clone(),
                cause: "the host answered the Dial with a ConnInspectResponse".into(),
            }));
        }
        None => tracing::debug!(
            channel = ch.id,
            "ConnInspectResponse for no request dropped"
        ),
    }
}

fn unbind(core: &Arc<RouterCore>, ch: &Arc<EdgeChannel>, frame: &Frame) {
    match Unbind::from_frame(frame) {
        Ok(u) => {
            let removed = core.terminators().remove_bind(ch.id, u.conn_id);
            tracing::debug!(
                channel = ch.id,
                bind = u.conn_id,
                removed = removed.len(),
                "unbind"
            );
        }
        Err(e) => tracing::debug!(channel = ch.id, error = %e, "unreadable Unbind dropped"),
    }
}

fn update_bind(core: &Arc<RouterCore>, ch: &Arc<EdgeChannel>, frame: &Frame) {
    match UpdateBind::from_frame(&normalise_bind_widths(frame)) {
        Ok(u) => {
            let n = core
                .terminators()
                .update_bind(ch.id, u.conn_id, u.cost, u.precedence);
            tracing::debug!(
                channel = ch.id,
                bind = u.conn_id,
                updated = n,
                "update bind"
            );
        }
        Err(e) => tracing::debug!(channel = ch.id, error = %e, "unreadable UpdateBind dropped"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dark_listener::wire::headers::Headers;

    #[test]
    fn c_sdk_four_byte_cost_and_precedence_are_read_like_the_real_router() {
        let mut headers = Headers::new();
        headers.put_u32(h::CONN_ID, 3);
        headers.put_u32(h::COST, 700);
        headers.put_u32(h::PRECEDENCE, 1);
        let frame = Frame {
            content_type: ct::BIND,
            sequence: 1,
            headers,
            body: Bytes::from_static(b"tok"),
        };
        assert!(
            Bind::from_frame(&frame).is_err(),
            "strict parser refuses 4-byte cost"
        );
        let bind = Bind::from_frame(&normalise_bind_widths(&frame)).unwrap();
        assert_eq!(bind.cost, Some(700));
        assert_eq!(bind.precedence, Some(Precedence::Required));
    }

    #[test]
    fn exact_width_headers_are_left_alone() {
        let mut headers = Headers::new();
        headers.put_u32(h::CONN_ID, 3);
        headers.put_u16(h::COST, 9);
        headers.put_byte(h::PRECEDENCE, 2);
        let frame = Frame {
            content_type: ct::BIND,
            sequence: 1,
            headers,
            body: Bytes::new(),
        };
        assert_eq!(normalise_bind_widths(&frame), frame);
    }

    #[test]
    fn public_key_of_ignores_wrong_lengths() {
        let mut f = Frame::new(ct::DIAL_SUCCESS, 1, Bytes::new());
        f.headers.put_bytes(h::PUBLIC_KEY, vec![1u8; 31]);
        assert!(public_key_of(&f).is_none());
        f.headers.put_bytes(h::PUBLIC_KEY, vec![1u8; 32]);
        assert_eq!(public_key_of(&f), Some(PublicKey([1; 32])));
    }
}
