//! Dialing through the router: a Connect is checked ([`plan_dial`]: session, policy, keys,
//! terminator), forwarded to the hosting SDK as a Dial, and answered with StateConnected or
//! a StateClosed denial once the host sends DialSuccess or DialFailed (or times out).

use std::sync::Arc;

use bytes::Bytes;
use dark_listener::wire::consts::header as h;
use dark_listener::wire::edge::{
    Connect, Dial, DialFailed, DialSuccess, PublicKey, StateClosed, StateConnected,
};
use dark_listener::wire::frame::Frame;
use tokio::sync::oneshot;

use crate::config::PolicyType;

use super::PEER_CLOSED_REASON;
use crate::router::channel::{
    ConnPeer, DialOutcome, EdgeChannel, PendingDial, PendingRequest, RegisterError,
};
use crate::router::denial::Denial;
use crate::router::terminators::Terminator;
use crate::router::RouterCore;

pub(super) async fn reply_denial(ch: &EdgeChannel, request: &Frame, conn_id: u32, denial: &Denial) {
    reply_denial_with_circuit(ch, request, conn_id, denial, None).await;
}

pub(super) async fn reply_denial_with_circuit(
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

pub(super) async fn connect(core: &Arc<RouterCore>, ch: &Arc<EdgeChannel>, frame: Frame) {
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

pub(super) async fn dial_success(host: &Arc<EdgeChannel>, frame: Frame) {
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

pub(super) fn dial_failed(host: &Arc<EdgeChannel>, frame: &Frame) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use dark_listener::wire::consts::content_type as ct;

    #[test]
    fn public_key_of_ignores_wrong_lengths() {
        let mut f = Frame::new(ct::DIAL_SUCCESS, 1, Bytes::new());
        f.headers.put_bytes(h::PUBLIC_KEY, vec![1u8; 31]);
        assert!(public_key_of(&f).is_none());
        f.headers.put_bytes(h::PUBLIC_KEY, vec![1u8; 32]);
        assert_eq!(public_key_of(&f), Some(PublicKey([1; 32])));
    }
}
