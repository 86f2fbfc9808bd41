//! Routers added beside the configured one: listed by the state (and so by the controller)
//! with their own id and URL, answering hellos with their own router id; names are unique,
//! and restarting an unknown router says how to add it.

#[path = "support/router_lab.rs"]
mod router_lab;

use bytes::Bytes;
use dark_listener::wire::edge::{Hello, HelloReply};
use router_lab::{RawChannel, TestLab};
use ziti_lab::state::derive_id;
use ziti_lab::LabError;

#[tokio::test]
async fn an_added_router_is_listed_and_answers_with_its_own_id() {
    let mut lab = TestLab::start().await;
    let addr = lab.running.add_router("router-b").await.unwrap();
    assert_ne!(addr, lab.running.router_addr());
    let routers = lab.lab.state().edge_routers();
    assert_eq!(routers.len(), 2);
    assert_eq!(routers[1].id, derive_id("router", "router-b"));
    assert_eq!(
        routers[1].tls_url,
        format!("tls://127.0.0.1:{}", addr.port())
    );
    assert_ne!(routers[0].id, routers[1].id);

    let (tls, token) = lab.login("host-a");
    let mut ch = RawChannel::connect(addr, tls).await;
    let hello = Hello {
        session_token: Bytes::from(token),
        identifier: Bytes::from_static(b"router-test"),
        ..Hello::default()
    }
    .to_frame(-1);
    ch.send(hello).await;
    let reply = HelloReply::from_frame(&ch.recv().await).unwrap();
    assert!(reply.success);
    assert_eq!(reply.router_id.as_deref(), Some(routers[1].id.as_str()));

    let again = lab.running.add_router("router-b").await.unwrap_err();
    assert!(matches!(again, LabError::Duplicate { .. }), "{again}");
    let unknown = lab
        .running
        .start_extra_router("router-c")
        .await
        .unwrap_err();
    assert!(unknown.to_string().contains("add_router"), "{unknown}");
}
