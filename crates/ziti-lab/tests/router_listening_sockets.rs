//! Hosting and dialing through the lab router opens no listening socket: while a service is
//! bound and a circuit carries data, the only LISTEN sockets of this process are the
//! controller's and the router's. (Alone in its test binary, so no other test's sockets count.)

#[path = "support/router_lab.rs"]
mod router_lab;

use std::collections::BTreeSet;

use bytes::Bytes;
use dark_listener::wire::consts::content_type as ct;
use dark_listener::wire::edge::Bind;
use router_lab::TestLab;
use ziti_lab::PolicyType;

/// Inodes of the sockets this process holds (`/proc/self/fd/N -> socket:[inode]`).
fn socket_inodes() -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let text = target.to_string_lossy();
        if let Some(inode) = text
            .strip_prefix("socket:[")
            .and_then(|t| t.strip_suffix(']'))
            .and_then(|t| t.parse().ok())
        {
            out.insert(inode);
        }
    }
    out
}

/// Local ports of this process' sockets in state LISTEN (`0A`), IPv4 and IPv6.
fn listening_ports() -> BTreeSet<u16> {
    let mine = socket_inodes();
    let mut ports = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for row in text.lines().skip(1) {
            let cols: Vec<&str> = row.split_whitespace().collect();
            if cols.len() < 10 || cols[3] != "0A" {
                continue;
            }
            let inode: u64 = cols[9].parse().unwrap();
            if !mine.contains(&inode) {
                continue;
            }
            let port_hex = cols[1].rsplit(':').next().unwrap();
            ports.insert(u16::from_str_radix(port_hex, 16).unwrap());
        }
    }
    ports
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_controller_and_router_listen_while_hosting_and_dialing() {
    assert!(
        listening_ports().is_empty(),
        "listeners before the lab started"
    );
    let lab = TestLab::start().await;
    let expected: BTreeSet<u16> = [
        lab.running.controller_addr().port(),
        lab.running.router_addr().port(),
    ]
    .into();
    assert_eq!(listening_ports(), expected);

    // Host a service and carry data over a circuit.
    let (mut host, api) = lab.channel("host-a").await;
    let bind_token = Bytes::from(lab.session(&api, "plain", PolicyType::Bind));
    host.send_seq(
        Bind {
            conn_id: 1,
            token: bind_token,
            router_provided_conn_id: true,
            ..Bind::default()
        }
        .to_frame(0),
    )
    .await;
    host.expect(ct::STATE_CONNECTED).await;
    let (mut dialer, api) = lab.channel("dialer").await;
    let dial_token = Bytes::from(lab.session(&api, "plain", PolicyType::Dial));
    dialer.send_connect(1, dial_token).await;
    let id = host.answer_dial(1).await;
    dialer.expect(ct::STATE_CONNECTED).await;
    host.send_data(id, Bytes::from_static(b"metrics")).await;
    assert_eq!(dialer.expect(ct::DATA).await.body.as_ref(), b"metrics");

    assert_eq!(
        listening_ports(),
        expected,
        "hosting and dialing must not open listening sockets"
    );
    drop((host, dialer));
    lab.running.shutdown().await;
    assert!(listening_ports().is_empty(), "listeners after shutdown");
}
