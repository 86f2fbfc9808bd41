//! # node-exporter — Linux host metrics with node_exporter's names and flags
//!
//! A Rust re-implementation of the default Linux collectors of Prometheus' node_exporter,
//! compatible with node_exporter **1.5.0** (the version Debian 12 ships, used for parity
//! tests), so the node-mixin alerts and community dashboards work unchanged. Metrics are
//! produced as [`dark_metrics::exposition::MetricFamily`] values; serving them is
//! dark-metrics' job.
//!
//! ```no_run
//! # async fn demo() -> Result<(), node_exporter::ConfigError> {
//! use node_exporter::{CollectorOptions, HostPaths, NodeExporter, DEFAULT_COLLECTOR_TIMEOUT};
//! let exporter = NodeExporter::new(&["cpu", "meminfo"], CollectorOptions::defaults(HostPaths::default())?,
//!     DEFAULT_COLLECTOR_TIMEOUT)?;
//! let families = exporter.scrape().await;
//! # Ok(()) }
//! ```
//!
//! | module | owns |
//! | --- | --- |
//! | [`args`] | the collector flags ([`ExporterArgs`]) in node_exporter's conventions |
//! | [`command`] | the whole command (collector and serving flags, `--once`, serving dark), shared by `darkscrape node-exporter` and `darkscrape-node-exporter` |
//! | [`exporter`] | [`NodeExporter`]: concurrent collectors with per-collector deadlines |
//! | [`serve`] | [`NodeExporter`] as a dark-metrics scrape-time collector (served dark by `darkscrape node-exporter`) |
//! | [`collectors`] | one file per collector, each declaring its `REGISTRATION` (name, default state, constructor) beside its code; the option set; the name table built from the registrations |
//! | [`rtnetlink`] | the one `RTM_GETLINK` dump netdev and netclass read interfaces from |
//! | `intern`, `read`, `pool` | interned metric names and field memos, bounded file reads into a reused buffer, the collector thread pool |
//! | [`families`] | [`Families`], the per-name family set collectors write into |
//! | [`paths`] | [`HostPaths`]: the procfs / sysfs / rootfs / udev roots |
//! | [`error`] | [`CollectorError`] and [`ConfigError`] |
//!
//! ## Collectors
//!
//! conntrack, cpu, cpufreq, diskstats, entropy, filefd, filesystem, hwmon, loadavg,
//! meminfo, netclass, netdev, netstat, os, powersupplyclass, pressure, sockstat, softnet,
//! stat, textfile, thermal_zone, time, timex, udp_queues, uname, vmstat — all enabled by
//! default, as in node_exporter 1.5.0. Each reports
//! `node_scrape_collector_duration_seconds{collector}` and
//! `node_scrape_collector_success{collector}`. Collectors whose source is absent on a host
//! behave as upstream: hwmon, netclass, powersupplyclass, pressure, conntrack, os and
//! udp_queues report success 0 ("no data"); cpufreq and thermal_zone succeed with no samples.
//!
//! Where behaviour differs from node_exporter 1.5.0, and why: `COMPATIBILITY.md` beside
//! this crate. Measurements against node_exporter and the history of the performance work:
//! `BENCHMARKS.md`.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod args;
pub mod collectors;
pub mod command;
pub mod error;
pub mod exporter;
pub mod families;
mod intern;
pub mod paths;
mod pool;
mod read;
pub mod rtnetlink;
pub mod serve;

/// Locks `m`, ignoring poisoning: a collector that panicked while holding a lock (its
/// thread survives, see `pool`) must not wedge every later scrape; the guarded state is
/// a cache or a queue that stays usable.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

pub use args::{CollectorToggles, ExporterArgs};
pub use collectors::{CollectorInfo, CollectorOptions, DeviceFilter, HostCollector, COLLECTORS};
pub use error::{CollectorError, ConfigError};
pub use exporter::{NodeExporter, DEFAULT_COLLECTOR_TIMEOUT};
pub use families::Families;
pub use paths::HostPaths;

/// Renders a scrape in Prometheus text format 0.0.4 (the format node_exporter serves),
/// using dark-metrics' Go-compatible writer.
pub fn render_text(families: &[dark_metrics::exposition::MetricFamily]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 * 1024);
    dark_metrics::exposition::write_text(
        &mut out,
        families,
        &dark_metrics::exposition::WriteOptions::default(),
    );
    out
}
