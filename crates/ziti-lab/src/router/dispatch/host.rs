//! Hosting through the router: Bind registers a terminator (after the real router's width
//! rules for cost and precedence), Unbind and UpdateBind change it, and ConnInspect answers
//! tell whether a terminator's bind is still alive.

use std::sync::Arc;

use bytes::Bytes;
use dark_listener::wire::consts::{header as h, ConnType, Precedence};
use dark_listener::wire::edge::{
    Bind, BindSuccess, ConnInspectRequest, ConnInspectResponse, StateClosed, StateConnected,
    Unbind, UpdateBind,
};
use dark_listener::wire::frame::Frame;
use tokio::sync::oneshot;

use crate::config::PolicyType;

use super::dial::reply_denial;
use crate::router::channel::{DialOutcome, EdgeChannel, PendingRequest};
use crate::router::denial::Denial;
use crate::router::terminators::Terminator;
use crate::router::RouterCore;

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

pub(super) async fn bind(core: &Arc<RouterCore>, ch: &Arc<EdgeChannel>, frame: Frame) {
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

pub(super) fn inspect_response(ch: &Arc<EdgeChannel>, frame: &Frame) {
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

pub(super) fn unbind(core: &Arc<RouterCore>, ch: &Arc<EdgeChannel>, frame: &Frame) {
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

pub(super) fn update_bind(core: &Arc<RouterCore>, ch: &Arc<EdgeChannel>, frame: &Frame) {
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
    use dark_listener::wire::consts::content_type as ct;
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
}
