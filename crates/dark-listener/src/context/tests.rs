//! The dial side against a scripted router on an in-memory pipe: the Connect on the wire,
//! refusals and a missing host key. The stream's data path is tested in `stream::tests`.

use super::*;
use crate::scripted_router::{dialer_channel, next_frame, spawn_dial};
use crate::wire::consts::{content_type as ct, header as h};
use crate::wire::edge::Connect;
use crate::wire::edge::{ErrorDetails, StateClosed, StateConnected};
use futures_util::SinkExt;

#[tokio::test]
async fn refusal_carries_the_router_reason_and_code() {
    let (channel, mut read, mut write) = dialer_channel().await;
    let options = DialOptions {
        terminator_identity: Some("host-x".into()),
        caller_id: Some("me-caller".into()),
        app_data: Some(Bytes::from_static(b"app")),
        ..DialOptions::default()
    };
    let dial = spawn_dial(&channel, false, options);
    let connect_frame = next_frame(&mut read).await;
    let connect = Connect::from_frame(&connect_frame).unwrap();
    assert!(connect.conn_id >= 1 && connect.conn_id < 1 << 31);
    assert_eq!(&connect.token[..], b"dial-token");
    assert_eq!(connect.terminator_identity.as_deref(), Some("host-x"));
    assert_eq!(connect.caller_id.as_deref(), Some("me-caller"));
    assert_eq!(connect.app_data.as_deref(), Some(&b"app"[..]));
    assert!(connect.public_key.is_none());
    assert!(!connect_frame.headers.contains(h::CRYPTO_METHOD));
    // The conn was registered before Connect went out.
    assert_eq!(channel.conn_count(), 1);
    let refusal = StateClosed {
        conn_id: connect.conn_id,
        reason: Bytes::from_static(b"service svc has no terminators for instanceId host-x"),
        error: ErrorDetails {
            code: Some(ErrorCode::InvalidTerminator),
            structured: None,
        },
        circuit_id: None,
    }
    .to_frame(1)
    .replying_to(connect_frame.sequence);
    write.send(&refusal).await.unwrap();
    match dial.await.unwrap() {
        Err(DialError::Refused { reason, code, .. }) => {
            assert!(reason.contains("no terminators"), "{reason}");
            assert_eq!(code, Some(ErrorCode::InvalidTerminator));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(channel.conn_count(), 0);
}

#[tokio::test]
async fn encrypted_dial_without_a_host_key_sends_nothing_in_plaintext() {
    let (channel, mut read, mut write) = dialer_channel().await;
    let dial = spawn_dial(&channel, true, DialOptions::default());
    let connect_frame = next_frame(&mut read).await;
    let connect = Connect::from_frame(&connect_frame).unwrap();
    assert!(
        connect.public_key.is_some(),
        "encrypted dial must send a key"
    );
    let connected = StateConnected {
        conn_id: connect.conn_id,
        ..StateConnected::default()
    }
    .to_frame(1)
    .replying_to(connect_frame.sequence);
    write.send(&connected).await.unwrap();
    let err = dial.await.unwrap().unwrap_err();
    assert!(matches!(err, DialError::HostKeyMissing { .. }), "{err}");
    // The only thing sent afterwards is the close.
    let closed = next_frame(&mut read).await;
    assert_eq!(closed.content_type, ct::STATE_CLOSED);
    assert!(closed.body.is_empty());
}
