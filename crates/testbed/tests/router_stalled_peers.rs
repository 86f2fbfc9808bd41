//! Memory of the lab under 100 peers that stall in the middle of a large frame (issue 18):
//! each logs in, sends a frame header announcing 64 KiB of headers and 4 MiB of body, sends
//! all but the last 64 KiB, and stalls.
//!
//! The lab runs as a separate `darkscrape lab run` process so that its resident memory
//! (`VmRSS` of `/proc/PID/status`) is its own. In each of [`ROUNDS`] rounds the test asserts
//! that every peer is dropped at the frame deadline, that the lab's RSS stays under
//! [`PEAK_BOUND_MIB`] above its baseline while the peers are connected, and that it falls
//! back to within [`AFTER_BOUND_MIB`] of the baseline once they are gone (the second round
//! shows that freed memory does not stay with the allocator and pile up). Set `DARKSCRAPE_LAB_BINARY` to run
//! it against another build of `darkscrape` (for instance one from before the fix).
//!
//! It runs the workspace's `darkscrape` binary, so it lives here rather than among
//! ziti-lab's own tests (which depend on no crate that depends on ziti-lab).

// The raw router channels of ziti-lab's own router tests (one copy, read from there).
#[path = "../../ziti-lab/tests/support/router_lab.rs"]
mod router_lab;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dark_listener::controller::{
    AuthenticateRequest, ControllerClient, ControllerClientOptions, EnvInfo, SdkInfo,
};
use dark_listener::identity::Identity;
use dark_listener::wire::consts::{content_type as ct, header as h};
use dark_listener::wire::edge::{Hello, LatencyProbe};
use router_lab::{RawChannel, ReadEnd};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

/// Stalled peers per round.
const PEERS: usize = 100;
/// Rounds of stalled peers.
const ROUNDS: usize = 2;
/// The lab's frame deadline in this test.
const DEADLINE: Duration = Duration::from_secs(5);
/// Time on top of the deadline within which every stalled peer must be closed.
const MARGIN: Duration = Duration::from_secs(25);
/// Announced sizes of the stalled frame, and what is held back of it.
const HEADER_BYTES: u32 = 64 << 10;
const BODY_BYTES: u32 = 4 << 20;
const HELD_BACK: u32 = 64 << 10;
/// Most the lab's RSS may grow above its baseline while the peers are connected: the
/// router's 64 MiB budget for frames still arriving, plus per-channel buffers and TLS state
/// (before the fix: ~420 MiB, 4 MiB per peer).
const PEAK_BOUND_MIB: u64 = 128;
/// Most the lab's RSS may stay above its baseline once the peers are gone.
const AFTER_BOUND_MIB: u64 = 32;
const IDENTITIES: [&str; 5] = ["host-a", "host-b", "dialer", "both", "stranger"];

fn lab_binary() -> PathBuf {
    std::env::var_os("DARKSCRAPE_LAB_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| testbed::process::built_binary("darkscrape"))
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("lab is running");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// A logged-in identity: its TLS client configuration and API session token.
struct Login {
    tls: Arc<rustls::ClientConfig>,
    token: String,
}

async fn login(identity_file: &std::path::Path) -> Login {
    let identity = Identity::from_file(identity_file).unwrap();
    let tls = dark_listener::tls::client_config(&identity).unwrap();
    let client = ControllerClient::new(
        identity.zt_api().expect("ztAPI"),
        tls.clone(),
        ControllerClientOptions::default(),
    )
    .unwrap();
    let request = AuthenticateRequest {
        sdk_info: SdkInfo::default(),
        env_info: EnvInfo::current(),
        config_types: Vec::new(),
    };
    // The lab process may still be starting.
    for _ in 0..200 {
        match client.authenticate(&request).await {
            Ok(session) => {
                return Login {
                    tls,
                    token: session.token,
                }
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("the lab did not accept a login within 20 s");
}

/// A channel past the hello (acknowledged with success).
async fn channel(router: std::net::SocketAddr, login: &Login) -> RawChannel {
    let mut ch = RawChannel::connect(router, login.tls.clone()).await;
    ch.send(
        Hello {
            session_token: Bytes::from(login.token.clone()),
            identifier: Bytes::from_static(b"stalled-peer"),
            ..Hello::default()
        }
        .to_frame(-1),
    )
    .await;
    let ack = ch.expect(ct::RESULT).await;
    assert_eq!(
        ack.headers.get_bool(h::RESULT_SUCCESS).unwrap(),
        Some(true),
        "hello refused: {}",
        String::from_utf8_lossy(&ack.body)
    );
    ch
}

/// How one stalled peer ended.
#[derive(Debug)]
enum PeerEnd {
    /// The lab closed the connection.
    Closed,
    /// Still open when the test stopped waiting.
    StillOpen,
}

/// Sends the stalled frame on `ch`, then waits (until `give_up`) for the lab to close it.
async fn stall(mut ch: RawChannel, give_up: Instant) -> PeerEnd {
    let mut head = vec![3, 6, 9, 12];
    head.extend_from_slice(&ct::DATA.to_le_bytes());
    head.extend_from_slice(&7i32.to_le_bytes());
    head.extend_from_slice(&HEADER_BYTES.to_le_bytes());
    head.extend_from_slice(&BODY_BYTES.to_le_bytes());
    let rest = vec![0u8; (HEADER_BYTES + BODY_BYTES - HELD_BACK) as usize];
    let sent = tokio::time::timeout_at(give_up, async {
        ch.stream.write_all(&head).await?;
        ch.stream.write_all(&rest).await?;
        ch.stream.flush().await
    })
    .await;
    match sent {
        Err(_) => return PeerEnd::StillOpen,
        // A write error: the lab closed the connection while the peer was still sending.
        Ok(Err(_)) => return PeerEnd::Closed,
        Ok(Ok(())) => {}
    }
    let wait = give_up.saturating_duration_since(Instant::now());
    match ch.try_recv(wait).await {
        Err(ReadEnd::Closed) | Err(ReadEnd::Error(_)) => PeerEnd::Closed,
        Err(ReadEnd::Timeout) => PeerEnd::StillOpen,
        Ok(frame) => panic!("the lab sent a frame to a stalled peer: {frame:?}"),
    }
}

/// One round: [`PEERS`] peers log in and stall; returns the lab's peak RSS (KiB) while they
/// were connected and how many were still open when the test stopped waiting.
async fn stalled_round(
    router: std::net::SocketAddr,
    logins: &[Arc<Login>],
    pid: u32,
) -> (u64, usize) {
    let mut peers = Vec::new();
    for i in 0..PEERS {
        peers.push(channel(router, &logins[i % logins.len()]).await);
    }
    let give_up = Instant::now() + DEADLINE + MARGIN;
    let stalls: Vec<_> = peers
        .into_iter()
        .map(|ch| tokio::spawn(stall(ch, give_up)))
        .collect();
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let mut still_open = 0;
    for s in stalls {
        if let PeerEnd::StillOpen = s.await.unwrap() {
            still_open += 1;
        }
    }
    sampler.abort();
    let peak = peak.load(Ordering::Relaxed).max(rss_kib(pid));
    (peak, still_open)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_peers_are_dropped_at_the_deadline_and_their_memory_returns() {
    let mut config = router_lab::test_config();
    config.controller.address = testbed::lab::free_loopback_addr();
    config.router.address = testbed::lab::free_loopback_addr();
    let router = config.router.address;
    let (dir, lab) = ziti_lab::test_support::new_lab(config);
    for name in IDENTITIES {
        lab.issue_identity_file(name, &dir.path().join(format!("{name}.json")))
            .unwrap();
    }
    drop(lab);
    let log_path = dir.path().join("lab.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = tokio::process::Command::new(lab_binary())
        .args(["lab", "run"])
        .arg(dir.path())
        .env(
            "DARKSCRAPE_LAB_FRAME_DEADLINE_SECS",
            DEADLINE.as_secs().to_string(),
        )
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut logins = Vec::new();
    for name in IDENTITIES {
        logins.push(Arc::new(
            login(&dir.path().join(format!("{name}.json"))).await,
        ));
    }
    // Warm up: one ordinary channel per identity, a probe answered, closed.
    for login in &logins {
        let mut ch = channel(router, login).await;
        let seq = ch
            .send_seq(LatencyProbe::from_timestamp(1).to_frame(0))
            .await;
        assert_eq!(ch.expect(ct::RESULT).await.reply_for().unwrap(), Some(seq));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = rss_kib(pid);

    let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let mib = |kib: u64| kib / 1024;
    // Two rounds: memory freed after the first must not stay with the allocator and pile
    // up under the second.
    for round in 1..=ROUNDS {
        let (peak, still_open) = stalled_round(router, &logins, pid).await;
        // After: the channels are gone; give the lab a moment to tear them down.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = rss_kib(pid);
        eprintln!(
            "round {round}: lab RSS baseline {} MiB, peak with {PEERS} stalled peers {} MiB, after {} MiB",
            mib(baseline),
            mib(peak),
            mib(after)
        );
        assert!(
            peak.saturating_sub(baseline) < PEAK_BOUND_MIB * 1024,
            "round {round}: the lab grew from {} MiB to {} MiB with {PEERS} stalled peers (bound: +{PEAK_BOUND_MIB} MiB)",
            mib(baseline),
            mib(peak)
        );
        assert_eq!(
            still_open,
            0,
            "round {round}: {still_open} of {PEERS} stalled peers were still connected {MARGIN:?} after the frame deadline of {DEADLINE:?}; lab log:\n{}",
            log_text()
        );
        assert!(
            after.saturating_sub(baseline) < AFTER_BOUND_MIB * 1024,
            "round {round}: the lab stayed at {} MiB after the stalled peers left (baseline {} MiB, bound: +{AFTER_BOUND_MIB} MiB)",
            mib(after),
            mib(baseline)
        );
    }
    assert!(
        log_text().contains("frame deadline passed"),
        "the lab logged no frame deadline: {}",
        log_text()
    );

    // The lab still serves.
    let mut ch = channel(router, &logins[0]).await;
    let seq = ch
        .send_seq(LatencyProbe::from_timestamp(2).to_frame(0))
        .await;
    assert_eq!(ch.expect(ct::RESULT).await.reply_for().unwrap(), Some(seq));
    testbed::process::send_signal(&child, "-INT");
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
}
