//! Captures the frames the OpenZiti Go SDK (sdk-golang v1.9.0, the `tests/peers/go-peer`
//! program) sends to an edge router, as raw bytes, and writes the first frame of each kind
//! as hex: the fixture `tests/fixtures/go_sdk_v1.9.0_frames.txt` that
//! `tests/wire_captured_go_sdk.rs` checks our decoder and encoder against. Run it through
//! `tests/fixtures/capture_go_frames.sh` (which sets `DARKSCRAPE_GO_PEER`):
//!
//! ```text
//! cargo run -p dark-listener --example capture_go_frames -- OUT.txt
//! ```
//!
//! Two in-process labs (loopback only) whose router has its frame capture on
//! (`ziti_lab::router::capture`: the bytes as read after TLS, cut at each frame's announced
//! length, never decoded and re-encoded by our code):
//!
//! 1. **legacy login** (OIDC off, so the hello carries a legacy API session token as ours
//!    does): Go hosts bind a plain and an encrypted service; Go dialers dial each once in
//!    `dial` mode (Connect, Data, StateClosed) and once in `pipe` mode (Data then an empty
//!    Data with FIN; the Go host answers with its own FIN). The hosts send Hello, Bind,
//!    DialSuccess, Data, ConnInspectResponse, and after 30 s a latency probe.
//! 2. **OIDC login, binds refused** (access tokens of 4 s, `max_binds_per_channel = 0`): a Go
//!    host's Bind is refused with StateClosed, so the SDK sends Unbind; its hello carries an
//!    access JWT and it sends UpdateToken as the token is refreshed.
//!
//! A frame's kind is (sender identity, content type, set of header ids, FIN flag for Data);
//! the first frame of each kind is written, with a comment line naming the content type, the
//! sender, the login mode, the header ids, the Go SDK version and the date.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use testbed::go_peer::{go_dial, GoHost};
use testbed::lab::{group_config, ServiceGroup, TestLab};
use tokio::io::AsyncWriteExt;
use ziti_lab::router::capture::{CapturedFrame, FrameCapture};
use ziti_lab::router::RouterOptions;
use ziti_lab::LabConfig;

/// The Go SDK version `tests/peers/go-peer/go.mod` pins.
pub const GO_SDK: &str = "sdk-golang v1.9.0";
const PLAIN: &str = "go-capture-plain";
const E2EE: &str = "go-capture-e2ee";
const LATENCY: i32 = 3;
const UNBIND: i32 = 60791;
const UPDATE_TOKEN: i32 = 60803;

fn lab_config(oidc: bool) -> LabConfig {
    let mut config = group_config(&ServiceGroup {
        service_role: "go-capture",
        services: &[(PLAIN, false), (E2EE, true)],
        identities: &[
            ("go-host-plain", "go-hosts"),
            ("go-host-e2ee", "go-hosts"),
            ("go-dialer-plain", "go-dialers"),
            ("go-dialer-e2ee", "go-dialers"),
        ],
        binders: "go-hosts",
        dialers: "go-dialers",
    });
    config.controller.oidc = oidc;
    config.controller.oidc_access_token_secs = 4;
    config
}

/// Waits (at most `limit`) until `capture` holds a frame of `content_type` from each of
/// `identities`; says which were still missing.
async fn wait_for(capture: &FrameCapture, content_type: i32, identities: &[&str], limit: Duration) {
    let started = Instant::now();
    loop {
        let missing: Vec<&str> = identities
            .iter()
            .copied()
            .filter(|id| {
                !capture
                    .frames_of(id)
                    .iter()
                    .any(|f| f.content_type() == content_type)
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        if started.elapsed() > limit {
            eprintln!("capture: no content type {content_type} from {missing:?} within {limit:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `go-peer dial IDENTITY SERVICE 5` until it succeeds (the host's terminator comes a moment
/// after it listens), at most 40 tries.
async fn dial_until_bound(identity: &Path, service: &str) {
    for _ in 0..40 {
        let run = go_dial(&[], identity, service, &[5], Duration::from_secs(30)).await;
        if run.success {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the Go dialer never reached {service}");
}

/// `go-peer pipe IDENTITY SERVICE` with `input` on stdin, then EOF (the SDK half-closes: a
/// Data with FIN); returns what came back.
async fn pipe(identity: &Path, service: &str, input: &[u8]) -> Vec<u8> {
    let mut child = tokio::process::Command::new(testbed::peers::go_peer())
        .args(["pipe", identity.to_str().expect("UTF-8 path"), service])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("cannot start the Go SDK peer");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(input).await.expect("writing to go-peer");
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("go-peer pipe did not finish in 30 s")
        .expect("waiting for go-peer pipe");
    assert!(
        out.status.success(),
        "go-peer pipe on {service} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Run 1: legacy login, hosting and dialing both services.
async fn legacy_run() -> Vec<CapturedFrame> {
    let capture = FrameCapture::new(4096, 32 << 20);
    let options = RouterOptions {
        frame_capture: Some(capture.clone()),
        ..RouterOptions::default()
    };
    let lab = TestLab::start_with_router(lab_config(false), options).await;
    let mut hosts = Vec::new();
    for (identity, service) in [("go-host-plain", PLAIN), ("go-host-e2ee", E2EE)] {
        hosts.push(GoHost::start("host", &[], &lab.identity_file(identity), service).await);
    }
    for (identity, service) in [("go-dialer-plain", PLAIN), ("go-dialer-e2ee", E2EE)] {
        let file = lab.identity_file(identity);
        dial_until_bound(&file, service).await;
        let back = pipe(&file, service, b"half-close me\n").await;
        assert_eq!(
            back, b"half-close me\n",
            "echo through the Go host on {service}"
        );
    }
    // The Go SDK probes each router channel's latency every 30 s.
    wait_for(
        &capture,
        LATENCY,
        &["go-host-plain", "go-host-e2ee"],
        Duration::from_secs(45),
    )
    .await;
    for host in hosts {
        host.stop().await;
    }
    lab.stop().await;
    capture.frames()
}

/// Run 2: OIDC login, every Bind refused.
async fn oidc_refused_bind_run() -> Vec<CapturedFrame> {
    let capture = FrameCapture::new(4096, 32 << 20);
    let options = RouterOptions {
        frame_capture: Some(capture.clone()),
        max_binds_per_channel: 0,
        ..RouterOptions::default()
    };
    let lab = TestLab::start_with_router(lab_config(true), options).await;
    let host = GoHost::start("host", &[], &lab.identity_file("go-host-plain"), PLAIN).await;
    wait_for(
        &capture,
        UNBIND,
        &["go-host-plain"],
        Duration::from_secs(20),
    )
    .await;
    wait_for(
        &capture,
        UPDATE_TOKEN,
        &["go-host-plain"],
        Duration::from_secs(20),
    )
    .await;
    host.stop().await;
    lab.stop().await;
    capture.frames()
}

/// Header ids of a frame, read from its header section (§1.1), in wire order.
pub fn header_ids(bytes: &[u8]) -> Vec<i32> {
    let le = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let end = 20 + le(12) as usize;
    let mut ids = Vec::new();
    let mut at = 20;
    while at + 8 <= end.min(bytes.len()) {
        ids.push(le(at) as i32);
        at += 8 + le(at + 4) as usize;
    }
    ids
}

/// The FIN bit (1) of header 1010 Flags, for Data.
fn fin(bytes: &[u8]) -> bool {
    let le = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let end = 20 + le(12) as usize;
    let mut at = 20;
    while at + 8 <= end.min(bytes.len()) {
        let (id, len) = (le(at) as i32, le(at + 4) as usize);
        if id == 1010 && len == 4 {
            return le(at + 8) & 1 != 0;
        }
        at += 8 + len;
    }
    false
}

/// The name of a content type, as the reference notes spell it.
pub fn content_type_name(ct: i32) -> &'static str {
    match ct {
        0 => "Hello",
        1 => "Ping",
        2 => "Result",
        3 => "LatencyProbe",
        4 => "LatencyResponse",
        5 => "Heartbeat",
        10800 => "PostureResponse",
        60783 => "Connect",
        60784 => "StateConnected",
        60785 => "StateClosed",
        60786 => "Data",
        60787 => "Dial",
        60788 => "DialSuccess",
        60789 => "DialFailed",
        60790 => "Bind",
        60791 => "Unbind",
        60794 => "UpdateBind",
        60795 => "HealthEvent",
        60797 => "TraceRouteResponse",
        60799 => "ConnInspectResponse",
        60803 => "UpdateToken",
        _ => "Unknown",
    }
}

/// The fixture text: the first frame of each kind of `runs`.
fn fixture(runs: &[(&str, Vec<CapturedFrame>)], date: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Frames the OpenZiti Go SDK ({GO_SDK}, tests/peers/go-peer) sent to the lab router,\n\
         # captured {date} by tests/fixtures/capture_go_frames.sh (examples/capture_go_frames.rs)\n\
         # from the router's raw frame capture: plaintext after TLS, cut at each frame's\n\
         # announced length, never decoded or re-encoded by darkscrape. Do not edit by hand.\n\
         # Each frame is a `# frame` line (key=value fields) followed by one line of hex."
    );
    let mut seen = BTreeSet::new();
    for (login, frames) in runs {
        for f in frames {
            let Some(identity) = f.identity.as_deref() else {
                continue;
            };
            if !f.is_whole() {
                continue;
            }
            let ct = f.content_type();
            let ids = header_ids(&f.bytes);
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            let is_fin = ct == 60786 && fin(&f.bytes);
            if !seen.insert((login.to_string(), identity.to_owned(), ct, sorted, is_fin)) {
                continue;
            }
            let ids_text: Vec<String> = ids.iter().map(i32::to_string).collect();
            let _ = writeln!(
                out,
                "# frame name={} content_type={ct} from={identity} login={login} fin={is_fin} \
                 headers={} sdk=\"{GO_SDK}\" captured={date}",
                content_type_name(ct),
                if ids_text.is_empty() {
                    "-".to_owned()
                } else {
                    ids_text.join(",")
                },
            );
            let _ = writeln!(out, "{}", hex::encode(&f.bytes));
        }
    }
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .expect("usage: capture_go_frames OUT.txt");
    let date = time::OffsetDateTime::now_utc().date().to_string();
    let legacy = legacy_run().await;
    eprintln!("capture: {} frames in the legacy run", legacy.len());
    let oidc = oidc_refused_bind_run().await;
    eprintln!("capture: {} frames in the OIDC run", oidc.len());
    let text = fixture(&[("legacy", legacy), ("oidc", oidc)], &date);
    std::fs::write(&out, &text).expect("cannot write the fixture");
    let frames = text.lines().filter(|l| l.starts_with("# frame")).count();
    eprintln!("capture: {frames} frames written to {}", out.display());
}
