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
//! | [`args`] | the command-line flags ([`ExporterArgs`]) in node_exporter's conventions |
//! | [`scrape`] | [`NodeExporter`]: concurrent collectors with per-collector deadlines |
//! | [`serve`] | [`NodeExporter`] as a dark-metrics scrape-time collector (served dark by `darkscrape node-exporter`) |
//! | [`collectors`] | one file per collector, their option set and name table |
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
//! ## Where node_exporter 1.5.0 and current node_exporter (1.12) differ, we follow 1.5.0
//!
//! * meminfo exports every `/proc/meminfo` line (1.9+ only the fields Go procfs knows).
//! * filesystem reads `/proc/1/mounts`, labels are `device, mountpoint, fstype` (1.8+ adds
//!   `device_error`, reads mountinfo and adds `node_filesystem_mount_info`).
//! * `node_disk_info` has no `rotational` label (added later).
//! * netstat's default field filter lacks `TCPOFOQueue` and `TCPRcvQDrop`.
//! * pressure exports neither cpu "full" nor irq.
//! * `node_network_info` has no `adminstate` label.
//! * hwmon chip names are not disambiguated (1.12 does).
//! * conntrack exports the eight `node_nf_conntrack_stat_*` gauges 1.5.0 has.
//!
//! ## Known differences from node_exporter 1.5.0
//!
//! Each is also in the parity test's allow-list (`tests/parity.rs`) where it shows there.
//!
//! * **Not implemented collectors:** arp, bcache, bonding, btrfs, dmi, edac, fibrechannel,
//!   infiniband, ipvs, mdadm, nfs, nfsd, nvme, rapl, schedstat, selinux, tapestats, xfs,
//!   zfs, and all collectors that are off by default. The parity test runs node_exporter
//!   with exactly our collector set.
//! * **No `go_*`, `process_*`, `promhttp_*` and `node_exporter_build_info`**: those are Go
//!   runtime and HTTP-handler metrics of the Go binary, not host metrics
//!   (`promhttp_metric_handler_errors_total` stays even with
//!   `--web.disable-exporter-metrics`, hence its place in the parity allow-list).
//! * **Per-collector deadline** (`--collector.timeout`, default 5 s): upstream has none and
//!   a hung collector hangs the scrape. A collector that misses it reports success 0.
//! * **`--collector.filesystem.mount-timeout` defaults to 2 s** (upstream: 5 s, hidden
//!   flag) so it fires before the collector deadline and the other mounts are served.
//! * **netdev** reads `/proc/net/dev` (+ `rx_nohandler` from sysfs) instead of netlink;
//!   the kernel derives both from the same counters with the same folding, so names and
//!   values match. With `--collector.netdev.enable-detailed-metrics` the unfolded values
//!   come from `/sys/class/net/<dev>/statistics/`.
//! * **netclass** reads only the attributes it exports instead of every file of the
//!   interface directory (faster; same metrics).
//! * **conntrack** finds statistic columns by the header of `/proc/net/stat/nf_conntrack`
//!   instead of fixed positions (same values on kernels whose layout upstream expects).
//! * **`--collector.diskstats.device-include`** alone replaces the default exclude pattern
//!   (1.5.0 rejects it as mutually exclusive with the default).
//! * **`--collector.textfile.directory`** is repeatable (1.5.0 takes one value; newer
//!   versions are repeatable). Families of one name from several files are merged.
//! * **Debian's packaging** changes two defaults of its binary: `--collector.netdev.device-exclude`
//!   is `^lo$` and `--collector.filesystem.mount-points-exclude` also excludes `/run`, `/mnt`
//!   and `/media`. We keep upstream's defaults; the parity test passes both binaries the
//!   same values explicitly.
//! * **HELP texts** are our own wording (metric names, types, labels and units are
//!   upstream's).
//! * **Not implemented options:** `--collector.cpu.info` (and its flag/bug filters),
//!   `--collector.netdev.address-info`, `--collector.netclass.netlink`, `collect[]` URL
//!   filtering (a serving concern).
//!
//! ## Performance (measured on the 2-vCPU development VM, node_exporter 1.5.0 alongside)
//!
//! `cargo run --release -p node-exporter --example bench_vs_node_exporter -- --scrapes 300`
//! runs both exporters as separate loopback HTTP servers with the same 26 collectors and
//! compares utime+stime per scrape and `VmHWM` (method in the example's docs). Figures from
//! the last runs (the VM is shared with other builds, which adds noise to both sides):
//!
//! | | CPU / scrape | VmHWM | RssAnon | RssFile |
//! | --- | --- | --- | --- | --- |
//! | node_exporter 1.5.0 | 4.3–4.9 ms | 20.8–21.0 MiB | 7.1–7.6 MiB | 13.0–13.3 MiB |
//! | this crate (tokio + hyper server) | 1.3–1.7 ms | 7.1–7.2 MiB | 2.1 MiB | 5.0–5.2 MiB |
//!
//! CPU per scrape is 0.30–0.35 of node_exporter's (the 1/3 target is met in most runs and
//! missed by up to 0.02 in a loaded one). Peak RSS is 0.34–0.35 of node_exporter's: the 1/4
//! target is **missed**. About 5 MiB of our resident memory is file-backed — program text
//! (clap, regex, tokio, hyper, the collectors) and glibc, which node_exporter, a static Go
//! binary, does not map; with a single trivial collector the floor is already ~6.4 MiB.
//! Anonymous memory is 0.27–0.28 of node_exporter's. Collectors run on one thread (a second
//! one measured ~20% more CPU and 0.7 MiB more memory). Kernel time dominates several
//! collectors (each read of `/proc/net/udp` walks the whole UDP hash table; sysfs
//! attributes cost 5–30 µs each), which is why udp_queues reads its tables in one call,
//! netclass opens attributes relative to the interface directory, and the CPU topology is
//! cached; `examples/collector_costs.rs` shows where a scrape's time goes.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod args;
pub mod collectors;
pub mod error;
pub mod families;
pub mod paths;
mod pool;
mod read;
pub mod scrape;
pub mod serve;

pub use args::{CollectorToggles, ExporterArgs};
pub use collectors::{Collector, CollectorInfo, CollectorOptions, DeviceFilter, COLLECTORS};
pub use error::{CollectorError, ConfigError};
pub use families::Families;
pub use paths::HostPaths;
pub use scrape::{NodeExporter, DEFAULT_COLLECTOR_TIMEOUT};

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
