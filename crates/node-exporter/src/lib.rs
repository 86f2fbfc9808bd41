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
//! `cargo build --release --bin darkscrape` then
//! `cargo run --release -p node-exporter --example bench_vs_node_exporter -- --scrapes 300`
//! measures, in one run, node_exporter, this crate behind a minimal loopback HTTP server, and
//! the `darkscrape node-exporter` binary serving dark over an in-process lab overlay (what a
//! user runs), all with the same 26 collectors (method in the example's docs). Figures from
//! runs on 2026-11-23 (the VM is shared with other builds: node_exporter's own CPU per scrape
//! varied 4.7–6.0 ms between runs, so ratios move by a few hundredths):
//!
//! | | CPU / scrape | VmHWM | RssAnon | RssFile |
//! | --- | --- | --- | --- | --- |
//! | node_exporter 1.5.0, loopback HTTP | 4.7–6.0 ms | 20.5–20.8 MiB | 7.2–7.7 MiB | 13.0–13.2 MiB |
//! | exporter alone, loopback HTTP (release) | 1.5–1.9 ms | 8.0–9.1 MiB | 1.6–2.3 MiB | 6.4–6.8 MiB |
//! | `darkscrape node-exporter` on the overlay (release) | 1.9–2.3 ms | 13.6–13.7 MiB | 2.5–2.6 MiB | 11.1–11.2 MiB |
//! | same, `--profile dist` (fat LTO, 1 codegen unit) | 2.0–2.2 ms | 12.0–12.4 MiB | 2.1–2.4 MiB | 9.9–10.0 MiB |
//!
//! **CPU:** the exporter alone uses 0.31–0.37 of node_exporter's CPU per scrape (the 1/3
//! target is met in quiet runs); served dark by `darkscrape` it uses 0.36–0.43 — the overlay
//! adds ~0.3 ms per scrape (TLS to the router, edge framing, a dial per scrape) — so the
//! target is **missed** for what a user runs. **Peak RSS:** 0.39–0.45 (exporter alone) and
//! 0.58–0.67 (darkscrape) of node_exporter's: the 1/4 target is **missed**. Anonymous memory
//! is 0.22–0.35 of node_exporter's; the excess is file-backed: the `darkscrape` binary holds
//! every subcommand (lab controller and router, RSA, reflectz), 13.9 MB of text (10.8 MB
//! with LTO), and the kernel maps text in 64 KiB fault-around blocks, so text touched at
//! start-up (clap, tracing's filter, rustls and the controller client) spreads over many
//! blocks; glibc, libm and ld.so add ~1.9 MiB that a static Go binary does not map.
//! `MALLOC_ARENA_MAX=1` in the environment saves another 0.25–0.4 MiB of anonymous memory
//! (one malloc arena for the collector thread and the runtime), with no CPU change measured.
//! Collectors run on one thread (a second one measured ~20% more CPU and 0.7 MiB more
//! memory). Kernel time dominates several collectors (each read of `/proc/net/udp` walks
//! the whole UDP hash table; sysfs attributes cost 5–30 µs each), which is why udp_queues
//! reads its tables in one call, netclass opens attributes relative to the interface
//! directory, and the CPU topology is cached; `examples/collector_costs.rs` shows where a
//! scrape's time goes.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod args;
pub mod collectors;
pub mod command;
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
