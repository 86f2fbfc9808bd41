//! The host side against a scripted router on an in-memory pipe: the Bind on the wire,
//! Dial answers (refusal without a key on an encrypted service, success with the
//! router-provided id and the host key), the host header first, decryption, refusal of
//! tampered data, and Unbind on stop.

use super::router_bind::bind_on_channel;
use super::*;
use crate::e2ee::{E2eeSession, Role};
use crate::scripted_router::{next_frame, scripted_channel};
use crate::wire::consts::header as h;
use crate::wire::edge::{
    Bind, Data, Dial, DialFailed, DialSuccess, PublicKey, StateClosed, StateConnected, Unbind,
};
use futures_util::SinkExt;
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn encrypted_bind_answers_dials_and_refuses_plaintext_peers() {
    let (channel, mut read, mut write) = scripted_channel(1 << 20, "host").await;

    let spec = Arc::new(BindSpec {
        service: "svc".into(),
        keys: Some(KeyPair::generate()),
        listener_id: "listener-1".into(),
        terminator_identity: Some("host".into()),
        options: BindOptions {
            cost: Some(7),
            ..BindOptions::default()
        },
    });
    let host_key = *spec.keys.as_ref().unwrap().public_key().as_bytes();
    let (accepted_tx, mut accepted_rx) = mpsc::channel(4);
    let (status_tx, _status_rx) = watch::channel(ListenerStatus::default());
    let stop = CancellationToken::new();
    let task = {
        let (spec, channel, stop) = (spec.clone(), channel.clone(), stop.clone());
        tokio::spawn(async move {
            bind_on_channel(
                &spec,
                &channel,
                "bind-token",
                &accepted_tx,
                &status_tx,
                &stop,
            )
            .await
        })
    };

    // The Bind: router-provided ids, inspect support, listener id, key, cost, identity.
    let bind_frame = next_frame(&mut read).await;
    let bind = Bind::from_frame(&bind_frame).unwrap();
    assert!(bind.router_provided_conn_id && bind.supports_inspect);
    assert!(!bind.supports_bind_success);
    assert_eq!(&bind.token[..], b"bind-token");
    assert_eq!(bind.listener_id.as_deref(), Some("listener-1"));
    assert_eq!(bind.terminator_identity.as_deref(), Some("host"));
    assert_eq!(bind.cost, Some(7));
    assert_eq!(bind.public_key.map(|k| k.0), Some(host_key));
    assert!(!bind_frame.headers.contains(h::CRYPTO_METHOD));
    let connected = StateConnected {
        conn_id: bind.conn_id,
        router_provided_conn_id: true,
        ..StateConnected::default()
    }
    .to_frame(1)
    .replying_to(bind_frame.sequence);
    write.send(&connected).await.unwrap();

    // The router's post-bind inspect: a live bind is ConnType 2.
    let inspect = crate::wire::edge::ConnInspectRequest {
        conn_id: bind.conn_id,
    }
    .to_frame(5);
    write.send(&inspect).await.unwrap();
    let reply = next_frame(&mut read).await;
    assert_eq!(reply.reply_for().unwrap(), Some(5));
    let answer = crate::wire::edge::ConnInspectResponse::from_frame(&reply).unwrap();
    assert_eq!(answer.conn_type, crate::wire::consts::ConnType::Bind);

    // A dialer without a key is refused.
    let no_key = Dial {
        bind_conn_id: bind.conn_id,
        new_conn_id: Some(1 << 31),
        token: Bytes::from_static(b"bind-token"),
        ..Dial::default()
    }
    .to_frame(2);
    write.send(&no_key).await.unwrap();
    let reply = next_frame(&mut read).await;
    assert_eq!(reply.reply_for().unwrap(), Some(2));
    let failed = DialFailed::from_frame(&reply).unwrap();
    assert!(String::from_utf8_lossy(&failed.reason).contains("public key"));

    // A dialer with a key is accepted under the router's id, with the host key.
    let dialer_keys = KeyPair::generate();
    let with_key = Dial {
        bind_conn_id: bind.conn_id,
        new_conn_id: Some((1 << 31) + 1),
        token: Bytes::from_static(b"bind-token"),
        public_key: Some(PublicKey(*dialer_keys.public_key().as_bytes())),
        caller_id: Some("c".into()),
        dialer_identity_name: Some("dialer".into()),
        ..Dial::default()
    }
    .to_frame(3);
    write.send(&with_key).await.unwrap();
    let reply = next_frame(&mut read).await;
    assert_eq!(reply.reply_for().unwrap(), Some(3));
    let success = DialSuccess::from_frame(&reply).unwrap();
    assert_eq!(success.new_conn_id, (1 << 31) + 1);
    assert_eq!(success.public_key.map(|k| k.0), Some(host_key));
    // The host's stream header comes alone, right after DialSuccess.
    let header = Data::from_frame(&next_frame(&mut read).await).unwrap();
    assert_eq!(header.conn_id, (1 << 31) + 1);
    assert_eq!(header.payload.len(), crate::e2ee::HEADER_LEN);
    let (mut stream, peer) = accepted_rx.recv().await.unwrap();
    assert_eq!(peer.caller_id.as_deref(), Some("c"));
    assert_eq!(peer.dialer_identity_name.as_deref(), Some("dialer"));

    // The dialer's side of the crypto, driven by hand.
    let mut dialer = E2eeSession::establish(
        &dialer_keys,
        Role::Dialer,
        &crate::e2ee::PublicKey::from(host_key),
    )
    .unwrap();
    assert_eq!(dialer.open(header.payload).unwrap(), None);
    let data = |payload: Bytes| {
        Data {
            conn_id: (1 << 31) + 1,
            payload,
            ..Data::default()
        }
        .to_frame(9)
    };
    write.send(&data(dialer.outgoing_header())).await.unwrap();
    write.send(&data(dialer.seal(b"secret"))).await.unwrap();
    let mut buf = [0u8; 6];
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"secret");
    // Tampered ciphertext: the read fails and the host closes the connection.
    let mut forged = dialer.seal(b"more").to_vec();
    forged[3] ^= 1;
    write.send(&data(Bytes::from(forged))).await.unwrap();
    let err = stream.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    let closed = StateClosed::from_frame(&next_frame(&mut read).await).unwrap();
    assert_eq!(closed.conn_id, (1 << 31) + 1);

    // Stop: Unbind (with token and listener id), then StateClosed for the bind.
    stop.cancel();
    let unbind = Unbind::from_frame(&next_frame(&mut read).await).unwrap();
    assert_eq!(unbind.conn_id, bind.conn_id);
    assert_eq!(&unbind.token[..], b"bind-token");
    assert_eq!(unbind.listener_id.as_deref(), Some("listener-1"));
    let closed = StateClosed::from_frame(&next_frame(&mut read).await).unwrap();
    assert_eq!(closed.conn_id, bind.conn_id);
    let (end, was_bound) = task.await.unwrap();
    assert!(matches!(end, BindEnd::Stopped) && was_bound);
}
