//! The dial path on one router channel (ziti-edge-protocol.md §3.3): register the conn,
//! send Connect, read the answer (decided by [`replies::connect_outcome`]), set up
//! end-to-end encryption and hand back the stream.

use bytes::Bytes;

use super::{DialError, DialOptions};
use crate::channel::core::replies::{self, ConnectOutcome};
use crate::channel::{ChannelError, RouterChannel};
use crate::controller::ServiceSession;
use crate::e2ee::{E2eeSession, KeyPair, Role};
use crate::stream::{DarkStream, StreamInfo, StreamRole};
use crate::wire::edge::{Connect, Data};

/// Connect on one channel: register the conn, send Connect, read the reply, set up crypto.
pub(crate) async fn dial_on_channel(
    channel: &RouterChannel,
    service: &str,
    session: &ServiceSession,
    encrypted: bool,
    options: &DialOptions,
) -> Result<DarkStream, DialError> {
    let channel_err = |source| DialError::Channel {
        service: service.to_string(),
        source,
    };
    let keys = encrypted.then(KeyPair::generate);
    let (conn_id, inbound) = channel.register_stream().map_err(channel_err)?;
    let connect = Connect {
        conn_id,
        token: Bytes::copy_from_slice(session.token.as_bytes()),
        public_key: keys
            .as_ref()
            .map(|k| crate::wire::edge::PublicKey(*k.public_key().as_bytes())),
        terminator_identity: options.terminator_identity.clone(),
        caller_id: options.caller_id.clone(),
        app_data: options.app_data.clone(),
        ..Connect::default()
    };
    let reply = match channel.request(connect.to_frame(0), options.timeout).await {
        Ok(reply) => reply,
        Err(err) => {
            channel.unregister(conn_id);
            return Err(channel_err(err));
        }
    };
    let router = channel.router().to_string();
    let connected = match replies::connect_outcome(&reply) {
        ConnectOutcome::Connected(connected) => connected,
        ConnectOutcome::Refused(closed) => {
            channel.unregister(conn_id);
            return Err(DialError::Refused {
                service: service.to_string(),
                router,
                reason: String::from_utf8_lossy(&closed.reason).into_owned(),
                code: closed.error.code,
                structured: closed.error.structured.map(Box::new),
            });
        }
        ConnectOutcome::Unexpected(content_type) => {
            channel.unregister(conn_id);
            return Err(DialError::UnexpectedReply {
                service: service.to_string(),
                router,
                content_type,
            });
        }
        ConnectOutcome::Malformed(detail) => {
            channel.unregister(conn_id);
            let _ = channel.try_send(replies::close_frame(conn_id));
            return Err(channel_err(ChannelError::Protocol { router, detail }));
        }
    };
    let crypto = match keys {
        None => None,
        Some(keys) => {
            let established = connected
                .public_key
                .ok_or_else(|| DialError::HostKeyMissing {
                    service: service.to_string(),
                })
                .and_then(|pk| {
                    E2eeSession::establish(&keys, Role::Dialer, &crate::e2ee::PublicKey::from(pk.0))
                        .map_err(|source| DialError::Crypto {
                            service: service.to_string(),
                            source,
                        })
                });
            match established {
                Ok(session) => Some(session),
                Err(err) => {
                    channel.unregister(conn_id);
                    let _ = channel.send(replies::close_frame(conn_id)).await;
                    return Err(err);
                }
            }
        }
    };
    if let Some(session) = &crypto {
        let header = Data {
            conn_id,
            payload: session.outgoing_header(),
            ..Data::default()
        }
        .to_frame(0);
        if let Err(err) = channel.send(header).await {
            channel.unregister(conn_id);
            return Err(channel_err(err));
        }
    }
    let info = StreamInfo {
        service: service.to_string(),
        router,
        conn_id,
        circuit_id: connected.circuit_id,
        role: StreamRole::Dialer,
        encrypted: crypto.is_some(),
    };
    Ok(DarkStream::new(channel.clone(), info, inbound, crypto))
}
