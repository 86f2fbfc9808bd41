//! The checked-in Go SDK frames (`tests/fixtures/go_sdk_v1.9.0_frames.txt`) cannot drift from
//! the peer unnoticed: this re-captures them from the Go SDK peer (`tests/peers/go-peer`,
//! `DARKSCRAPE_GO_PEER`; the test fails with a pointer to `scripts/install-test-deps.sh`
//! when it is missing) through the lab router's frame capture, runs the same checks as
//! `wire_captured_go_sdk.rs` on the fresh frames, and compares the kinds of frames (sender,
//! content type, header ids, FIN) with the fixture's. Takes about 35 s (the Go SDK's first
//! latency probe comes after 30 s).

#[macro_use]
mod golden;
#[path = "fixtures/go_frames_checks.rs"]
mod checks;
#[path = "fixtures/go_capture.rs"]
mod go_capture;

use std::collections::BTreeSet;

const FIXTURE: &str = include_str!("fixtures/go_sdk_v1.9.0_frames.txt");

/// What must stay the same between captures: everything but tokens, keys, ids and dates.
fn kinds(frames: &[checks::Captured]) -> BTreeSet<(String, String, i32, Vec<i32>, bool)> {
    frames
        .iter()
        .map(|c| {
            let mut ids = c.header_ids.clone();
            ids.sort_unstable();
            (c.login.clone(), c.from.clone(), c.content_type, ids, c.fin)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_go_sdk_capture_passes_the_checks_and_matches_the_fixture() {
    // Fails here, with the install hint, when the peer is missing.
    let peer = testbed::peers::go_peer();
    assert!(peer.exists(), "{}", peer.display());
    let text = go_capture::capture_fixture("live").await;
    let fresh = checks::parse(&text.replace("captured=live", "captured=2000-01-01"));
    checks::check_all(&fresh);
    assert_eq!(
        kinds(&fresh),
        kinds(&checks::parse(FIXTURE)),
        "the Go SDK's frames differ from the fixture; re-run tests/fixtures/capture_go_frames.sh \
         and review the diff\n{text}"
    );
}
