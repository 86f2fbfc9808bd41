//! Test support shared by the tests of the darkscrape workspace crates; the one home of logic
//! that several crates' tests need. Used only as a dev-dependency.
//!
//! * [`peers`]: locating the external peer tools (the venv Python with the OpenZiti C SDK,
//!   promtool, prometheus, node_exporter) from the `DARKSCRAPE_*` variables with their
//!   fallbacks, failing with a pointer to `scripts/install-test-deps.sh` when one is missing.
//! * [`promtool`]: promtool's text linter and OpenMetrics parser run on a body.
//! * [`lab`]: in-process labs for tests: a cached RSA PKI shared by every test binary, lab
//!   directories in temp dirs, ephemeral or fixed free loopback ports, identity files.
//!
//! Signatures here carry no `dark_listener` types: dark-listener's own tests use this crate
//! too (through ziti-lab, which depends on dark-listener), and types must line up for every
//! user. Each crate's tests build their `Context` from [`lab::TestLab::identity_file`].
#![warn(missing_docs)]

pub mod lab;
pub mod peers;
pub mod promtool;
