//! A running lab listens on no TCP port other than its controller and router addresses.
//! (Alone in its test binary so no other test's sockets are in the process.)

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ziti_lab::test_support::{ephemeral_config, new_lab};

/// Socket inodes owned by this process (`/proc/self/fd/* -> socket:[inode]`).
fn own_socket_inodes() -> BTreeSet<u64> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|target| {
            let t = target.to_str()?.to_owned();
            t.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// Parses `/proc/net/tcp`-style hex `ADDR:PORT` (address in host byte order words).
fn parse_hex_addr(text: &str, v6: bool) -> SocketAddr {
    let (addr, port) = text.split_once(':').unwrap();
    let port = u16::from_str_radix(port, 16).unwrap();
    let ip = if v6 {
        let mut bytes = [0u8; 16];
        for (i, chunk) in addr.as_bytes().chunks(8).enumerate() {
            let word = u32::from_str_radix(std::str::from_utf8(chunk).unwrap(), 16).unwrap();
            bytes[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
        }
        IpAddr::V6(Ipv6Addr::from(bytes))
    } else {
        let word = u32::from_str_radix(addr, 16).unwrap();
        IpAddr::V4(Ipv4Addr::from(word.to_le_bytes()))
    };
    SocketAddr::new(ip, port)
}

/// LISTEN sockets of this process.
fn own_listeners() -> BTreeSet<SocketAddr> {
    let inodes = own_socket_inodes();
    let mut out = BTreeSet::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 10 || cols[3] != "0A" {
                continue;
            }
            let inode: u64 = cols[9].parse().unwrap();
            if inodes.contains(&inode) {
                out.insert(parse_hex_addr(cols[1], v6));
            }
        }
    }
    out
}

#[test]
fn hex_addresses_decode() {
    assert_eq!(
        parse_hex_addr("0100007F:0500", false),
        "127.0.0.1:1280".parse().unwrap()
    );
    assert_eq!(
        parse_hex_addr("00000000000000000000000001000000:0BCE", true),
        "[::1]:3022".parse().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_listens_only_on_controller_and_router() {
    let before = own_listeners();
    assert!(before.is_empty(), "listeners before start: {before:?}");
    let (_dir, lab) = new_lab(ephemeral_config());
    let running = lab.start().await.unwrap();
    let listening = own_listeners();
    let allowed: BTreeSet<SocketAddr> = [running.controller_addr(), running.router_addr()].into();
    assert!(
        listening.contains(&running.controller_addr()),
        "controller not listening: {listening:?}"
    );
    assert!(
        listening.is_subset(&allowed),
        "unexpected listeners {:?} (allowed {allowed:?})",
        listening.difference(&allowed).collect::<Vec<_>>()
    );
    running.shutdown().await;
    let after = own_listeners();
    assert!(after.is_empty(), "listeners after shutdown: {after:?}");
}
