//! Test support shared by the tests of the darkscrape workspace crates; the one home of logic
//! that several crates' tests need. Used only as a dev-dependency.
//!
//! * [`peers`]: locating the external peer tools (the venv Python with the OpenZiti C SDK,
//!   promtool, prometheus, node_exporter) from the `DARKSCRAPE_*` variables with their
//!   fallbacks, failing with a pointer to `scripts/install-test-deps.sh` when one is missing.
//! * [`go_peer`]: the Go SDK peer as a host that listens and as a dialer whose echoes are
//!   checked and timed.
//! * [`files`]: a README block a test runs as printed, and child-process log tails.
//! * [`http`]: one bounded HTTP/1.1 request on any byte stream.
//! * [`promtool`]: promtool's text linter and OpenMetrics parser run on a body.
//! * [`process`]: binaries built beside the test, signals, bounded clean exits.
//! * [`prometheus`]: a real Prometheus server started with a given configuration and
//!   queried over its HTTP API.
//! * [`lab`]: in-process labs for tests: a cached RSA PKI shared by every test binary, lab
//!   directories in temp dirs, ephemeral or fixed free loopback ports, identity files, a
//!   router tuned by test options (e.g. a payload tap), a PKI of its own for a lab served
//!   off loopback, and dialing a service until its host has bound it.
//!
//! [`lab::TestLab`] hands out `dark_listener` contexts. dark-listener's own integration tests
//! use it too: they, ziti-lab and this crate all link the one (non-test) build of the
//! dark-listener library, so the types line up. Its unit tests (`cfg(test)` build, a
//! different copy) must not use such signatures.
//!
//! The shared test PKI, lab directories and the lookup of peer tools are ziti-lab's own test
//! support (`ziti_lab::test_support`), re-exported from [`lab`] and [`peers`]: ziti-lab's
//! tests use it without this crate, so ziti-lab does not dev-depend on a crate that depends
//! on it. Tests that need both the lab and the workspace's binaries live in `tests/` here.
#![warn(missing_docs)]

pub mod files;
pub mod go_peer;
pub mod http;
pub mod lab;
pub mod peers;
pub mod process;
pub mod prometheus;
pub mod promtool;
