//! # reflectz — the demo workload of the "scrape anything from anywhere" articles, in Rust
//!
//! Two services hosted on the overlay under one identity, with no listening socket:
//!
//! * an **echo** service speaking the original line protocol: every `\n`-terminated line
//!   comes back as `you sent me: <line>` (the line's own `\n`, and a `\r` before it, kept);
//! * a **metrics** service bound with the identity's name as terminator identity (like Go's
//!   `BindUsingEdgeIdentity`), so a scraper can address this very instance, serving
//!   `reflect_total_connections` and the workload's other metrics through dark-metrics.
//!
//! | module | owns |
//! | --- | --- |
//! | [`echo`] | the line protocol on one connection, its limits, and the accept loop |
//! | [`metrics`] | the workload's metrics and the metrics server built from them |
//! | [`host`] | binding both services with a dark-listener context and running them until shutdown |
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod echo;
pub mod host;
pub mod metrics;

pub use echo::{serve_echo, EchoLimits, EchoOutcome};
pub use host::{run, ReflectzConfig, ReflectzError, RunSummary};
pub use metrics::ReflectMetrics;
