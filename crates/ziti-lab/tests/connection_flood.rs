//! A flood of TCP connections that never start TLS does not keep real clients out of the
//! controller or the router: such connections hold no served place, and when the pending
//! pool is full the oldest silent one makes way (see the lab's `tls_accept` module). The
//! clients here must get in within 4 s, well under the 10 s handshake timeout that used to
//! free places.

mod common;
#[path = "support/router_lab.rs"]
mod router_lab;

use std::net::SocketAddr;
use std::time::Duration;

use common::{authenticate, ClientTls};
use router_lab::TestLab;
use ziti_lab::router::RouterOptions;
use ziti_lab::test_support::{ephemeral_config, new_lab};

/// What a real client gets to finish its TLS handshake and request.
const CLIENT_DEADLINE: Duration = Duration::from_secs(4);

/// `count` TCP connections to `addr` that send nothing, kept open by the caller.
async fn idle_connections(addr: SocketAddr, count: usize) -> Vec<tokio::net::TcpStream> {
    let mut open = Vec::with_capacity(count);
    for _ in 0..count {
        open.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    // Let the server accept them all before the real client comes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    open
}

#[tokio::test]
async fn six_hundred_idle_tcp_connections_do_not_block_a_login() {
    let (_dir, lab) = new_lab(ephemeral_config());
    let running = lab.start().await.unwrap();
    let addr = running.controller_addr();
    let state = lab.state();
    let (cert, key) = state.issue_client_cert("client").unwrap();
    let tls = ClientTls::new(state.pki().ca_pem(), Some((&cert.cert_pem, &key)), false);

    let flood = idle_connections(addr, 600).await;
    for attempt in 0..3 {
        let r = tokio::time::timeout(CLIENT_DEADLINE, authenticate(&tls, addr, Vec::new()))
            .await
            .unwrap_or_else(|_| {
                panic!("login {attempt} did not finish within 4 s behind 600 idle connections")
            });
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.json()["data"]["identity"]["name"], "client");
    }
    drop(flood);
    running.shutdown().await;
}

#[tokio::test]
async fn idle_tcp_connections_do_not_block_a_router_channel() {
    let lab = TestLab::start_with(RouterOptions {
        max_channels: 32,
        max_pending_handshakes: 32,
        ..RouterOptions::default()
    })
    .await;
    let flood = idle_connections(lab.running.router_addr(), 200).await;
    for attempt in 0..3 {
        let (_channel, _) = tokio::time::timeout(CLIENT_DEADLINE, lab.channel("host-a"))
            .await
            .unwrap_or_else(|_| {
                panic!("channel {attempt} did not pass its hello within 4 s behind the flood")
            });
    }
    drop(flood);
}
