//! One router's part of a listener: get a channel, send Bind, serve the Dials that arrive
//! on it (refuse, or accept with end-to-end encryption and hand the stream to the
//! listener's backlog), re-bind with backoff after a loss, and Unbind on stop
//! (ziti-edge-protocol.md §3.2). What the router's answer to a Bind means is decided by
//! [`replies::bind_outcome`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{BindEnd, BindSpec, ListenerStatus, PeerInfo, GIVE_UP_AFTER};
use crate::channel::core::replies;
use crate::channel::{BindEvent, ChannelError, RouterChannel};
use crate::context::ContextInner;
use crate::controller::schedule::Backoff;
use crate::controller::{ControllerError, RouterAddress, SessionType};
use crate::e2ee::{E2eeSession, Role};
use crate::stream::{DarkStream, StreamInfo, StreamRole};
use crate::wire::consts::Precedence;
use crate::wire::edge::{Bind, Data, Dial, DialSuccess, PublicKey, Unbind};

pub(super) async fn router_bind(
    ctx: Arc<ContextInner>,
    spec: Arc<BindSpec>,
    address: RouterAddress,
    mut session_token: String,
    accepted: mpsc::Sender<(DarkStream, PeerInfo)>,
    status: Arc<watch::Sender<ListenerStatus>>,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::new(spec.options.retry_initial, spec.options.retry_max);
    let note = |text: String| {
        tracing::warn!(service = %spec.service, router = %address, error = %text, "bind problem");
        status.send_modify(|s| s.last_error = Some(text));
    };
    let mut need_session = false;
    let mut failures = 0u32;
    loop {
        if stop.is_cancelled() {
            return;
        }
        if failures >= GIVE_UP_AFTER {
            note(format!(
                "{failures} failed attempts in a row; asking for a fresh session"
            ));
            return;
        }
        if need_session {
            let fresh = match ctx.controller() {
                Ok(c) => c.create_session(&spec.service, SessionType::Bind).await,
                Err(e) => Err(e),
            };
            match fresh {
                Ok(session) => {
                    session_token = session.token;
                    need_session = false;
                }
                Err(err) => {
                    if matches!(
                        err,
                        ControllerError::NotPermitted { .. }
                            | ControllerError::ServiceNotFound { .. }
                    ) {
                        status.send_modify(|s| s.fatal = Some(err.to_string()));
                    }
                    note(format!("new Bind session: {err}"));
                    if !pause(&stop, backoff.next_delay()).await {
                        return;
                    }
                    continue;
                }
            }
        }
        let token = match ctx.api_token().await {
            Ok(t) => t,
            Err(err) => {
                note(format!("no API session: {err}"));
                if !pause(&stop, backoff.next_delay()).await {
                    return;
                }
                continue;
            }
        };
        let channel = tokio::select! {
            _ = stop.cancelled() => return,
            c = ctx.pool.channel(&address, &token) => c,
        };
        let channel = match channel {
            Ok(c) => c,
            Err(err) => {
                ctx.channel_failed(&err);
                let wait = match &err {
                    ChannelError::Backoff { retry_in, .. } => *retry_in,
                    _ => backoff.next_delay(),
                };
                note(err.to_string());
                failures += 1;
                if !pause(&stop, wait).await {
                    return;
                }
                continue;
            }
        };
        let (end, was_bound) =
            bind_on_channel(&spec, &channel, &session_token, &accepted, &status, &stop).await;
        if was_bound {
            failures = 0;
            backoff.reset();
        } else {
            failures += 1;
        }
        match end {
            BindEnd::Stopped => return,
            BindEnd::ChannelLost => {
                note(format!("router channel lost: {}", channel.close_reason()));
            }
            BindEnd::Refused(reason) => {
                note(format!("router refused or closed the bind: {reason}"));
                need_session = true;
            }
        }
        if !pause(&stop, backoff.next_delay()).await {
            return;
        }
    }
}

pub(super) async fn pause(stop: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

pub(super) async fn bind_on_channel(
    spec: &BindSpec,
    channel: &RouterChannel,
    session_token: &str,
    accepted: &mpsc::Sender<(DarkStream, PeerInfo)>,
    status: &watch::Sender<ListenerStatus>,
    stop: &CancellationToken,
) -> (BindEnd, bool) {
    let (bind_id, mut events) = match channel.register_bind(16) {
        Ok(x) => x,
        Err(err) => return (BindEnd::Refused(err.to_string()), false),
    };
    let token = Bytes::copy_from_slice(session_token.as_bytes());
    let bind = Bind {
        conn_id: bind_id,
        token: token.clone(),
        cost: spec.options.cost,
        precedence: spec
            .options
            .precedence
            .filter(|p| *p != Precedence::Default),
        terminator_identity: spec.terminator_identity.clone(),
        listener_id: Some(spec.listener_id.clone()),
        router_provided_conn_id: true,
        supports_inspect: true,
        public_key: spec
            .keys
            .as_ref()
            .map(|k| PublicKey(*k.public_key().as_bytes())),
        ..Bind::default()
    };
    let reply = tokio::select! {
        _ = stop.cancelled() => {
            channel.unregister(bind_id);
            return (BindEnd::Stopped, false);
        }
        r = channel.request(bind.to_frame(0), spec.options.request_timeout) => r,
    };
    match reply {
        Ok(f) => {
            if let Err(reason) = replies::bind_outcome(&f) {
                channel.unregister(bind_id);
                return (BindEnd::Refused(reason), false);
            }
        }
        Err(err) => {
            channel.unregister(bind_id);
            return if channel.is_open() {
                (BindEnd::Refused(err.to_string()), false)
            } else {
                (BindEnd::ChannelLost, false)
            };
        }
    }
    tracing::info!(service = %spec.service, router = %channel.router(), bind_id, "service bound");
    status.send_modify(|s| s.bound += 1);
    let end = loop {
        tokio::select! {
            _ = stop.cancelled() => {
                let unbind = Unbind {
                    conn_id: bind_id,
                    token: token.clone(),
                    listener_id: Some(spec.listener_id.clone()),
                };
                let _ = channel.send(unbind.to_frame(0)).await;
                let _ = channel.send(replies::close_frame(bind_id)).await;
                channel.unregister(bind_id);
                tracing::info!(service = %spec.service, router = %channel.router(), "service unbound");
                break BindEnd::Stopped;
            }
            event = events.recv() => match event {
                Some(BindEvent::Dial { dial, sequence }) => {
                    answer_dial(spec, channel, bind_id, *dial, sequence, accepted).await;
                }
                Some(BindEvent::Closed(closed)) => {
                    break BindEnd::Refused(String::from_utf8_lossy(&closed.reason).into_owned());
                }
                None => break BindEnd::ChannelLost,
            }
        }
    };
    status.send_modify(|s| s.bound = s.bound.saturating_sub(1));
    (end, true)
}

async fn answer_dial(
    spec: &BindSpec,
    channel: &RouterChannel,
    bind_id: u32,
    dial: Dial,
    sequence: i32,
    accepted: &mpsc::Sender<(DarkStream, PeerInfo)>,
) {
    let refuse = |reason: String| {
        tracing::info!(service = %spec.service, router = %channel.router(), reason, "dial refused");
        replies::dial_refusal(bind_id, sequence, reason)
    };
    let Some(new_id) = dial.new_conn_id else {
        let _ = channel
            .send(refuse(
                "the router's Dial carries no conn id (1012), which this host asked for".into(),
            ))
            .await;
        return;
    };
    let permit = match accepted.try_reserve() {
        Ok(p) => p,
        Err(mpsc::error::TrySendError::Full(())) => {
            let _ = channel.send(refuse("accept backlog full".into())).await;
            return;
        }
        Err(mpsc::error::TrySendError::Closed(())) => {
            let _ = channel.send(refuse("the listener is closing".into())).await;
            return;
        }
    };
    let crypto = match (&spec.keys, dial.public_key) {
        (None, _) => None,
        (Some(_), None) => {
            let _ = channel
                .send(refuse(format!(
                    "service {:?} requires end-to-end encryption and the dialer sent no public key",
                    spec.service
                )))
                .await;
            return;
        }
        (Some(keys), Some(peer)) => {
            match E2eeSession::establish(keys, Role::Host, &crate::e2ee::PublicKey::from(peer.0)) {
                Ok(s) => Some(s),
                Err(err) => {
                    let _ = channel
                        .send(refuse(format!("key exchange failed: {err}")))
                        .await;
                    return;
                }
            }
        }
    };
    let inbound = match channel.register_stream_with_id(new_id) {
        Ok(rx) => rx,
        Err(err) => {
            let _ = channel.send(refuse(err.to_string())).await;
            return;
        }
    };
    let success = DialSuccess {
        bind_conn_id: bind_id,
        new_conn_id: new_id,
        public_key: spec
            .keys
            .as_ref()
            .map(|k| PublicKey(*k.public_key().as_bytes())),
    }
    .to_frame(0)
    .replying_to(sequence);
    if channel.send(success).await.is_err() {
        channel.unregister(new_id);
        return;
    }
    if let Some(session) = &crypto {
        let header = Data {
            conn_id: new_id,
            payload: session.outgoing_header(),
            ..Data::default()
        }
        .to_frame(0);
        if channel.send(header).await.is_err() {
            channel.unregister(new_id);
            return;
        }
    }
    let info = StreamInfo {
        service: spec.service.clone(),
        router: channel.router().to_string(),
        conn_id: new_id,
        circuit_id: dial.circuit_id.clone(),
        role: StreamRole::Host,
        encrypted: crypto.is_some(),
    };
    let peer = PeerInfo {
        caller_id: dial.caller_id.filter(|c| !c.is_empty()),
        dialer_identity_id: dial.dialer_identity_id,
        dialer_identity_name: dial.dialer_identity_name,
        app_data: dial.app_data,
        circuit_id: dial.circuit_id,
        router: channel.router().to_string(),
    };
    permit.send((
        DarkStream::new(channel.clone(), info, inbound, crypto),
        peer,
    ));
}
