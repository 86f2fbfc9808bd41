//! Locating the external peer tools of the tests (the venv Python with the C SDK, the Go SDK
//! peer, promtool, prometheus, node_exporter). Each is taken from its `DARKSCRAPE_*`
//! environment variable (set by `scripts/peers.env`), else from its usual place; a missing
//! tool fails the test with a message saying to run `scripts/install-test-deps.sh`.

use std::path::{Path, PathBuf};

// The lookup itself and the C SDK's Python are ziti-lab's test support (its own tests find
// that peer); the one copy is re-exported here.
pub use ziti_lab::test_support::peers::{peer_python, peer_tool, workspace_root};

/// The Go SDK peer (`tests/peers/go-peer`, built by `scripts/install-test-deps.sh` into a
/// cache outside the repository): `DARKSCRAPE_GO_PEER`. There is no fallback path, since the
/// cache directory is keyed by the SDK version and a hash of the peer's sources.
pub fn go_peer() -> PathBuf {
    peer_tool(
        "DARKSCRAPE_GO_PEER",
        Path::new("/nonexistent/go-peer (DARKSCRAPE_GO_PEER is not set)"),
    )
}

/// promtool: `DARKSCRAPE_PROMTOOL`, else `/usr/bin/promtool`.
pub fn promtool() -> PathBuf {
    peer_tool("DARKSCRAPE_PROMTOOL", Path::new("/usr/bin/promtool"))
}

/// The Prometheus server: `DARKSCRAPE_PROMETHEUS`, else `/usr/bin/prometheus`.
pub fn prometheus() -> PathBuf {
    peer_tool("DARKSCRAPE_PROMETHEUS", Path::new("/usr/bin/prometheus"))
}

/// node_exporter: `DARKSCRAPE_NODE_EXPORTER`, else `/usr/bin/prometheus-node-exporter`.
pub fn node_exporter() -> PathBuf {
    peer_tool(
        "DARKSCRAPE_NODE_EXPORTER",
        Path::new("/usr/bin/prometheus-node-exporter"),
    )
}
