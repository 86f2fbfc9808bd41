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
//! One command builds what it measures and runs the benchmark:
//! `crates/node-exporter/scripts/bench.sh --scrapes 600` (method in
//! `examples/bench_vs_node_exporter.rs`; every row runs the same 26 collectors with the same
//! filter flags, node_exporter with `--web.disable-exporter-metrics`, ours likewise; the
//! overlay rows are scraped over an in-process lab overlay with a fresh overlay connection
//! per scrape and measure only the exporter process). Figures from three runs on
//! 2026-11-23 at load 0.6–1.0 (600 scrapes each; the VM is shared with other builds):
//!
//! | | CPU / scrape | VmHWM | RssAnon | RssFile |
//! | --- | --- | --- | --- | --- |
//! | node_exporter 1.5.0, loopback HTTP | 5.0–6.2 ms | 20.8–21.1 MiB | 7.6–7.9 MiB | 13.1–13.2 MiB |
//! | exporter alone, loopback HTTP (release example) | 1.90–1.97 ms | 7.3–7.4 MiB | 1.5–1.6 MiB | 5.7–5.8 MiB |
//! | `darkscrape node-exporter` on the overlay (release) | 2.07–2.27 ms | 12.3–12.4 MiB | 2.0 MiB | 10.3–10.4 MiB |
//! | `darkscrape-node-exporter` on the overlay (`dist-small`) | 2.22–2.25 ms | 7.6–7.7 MiB | 1.7–1.8 MiB | 5.8–5.9 MiB |
//! | same, glibc linked statically | 2.18–2.32 ms | 6.3–6.4 MiB | 1.7 MiB | 4.7 MiB |
//!
//! **Ratios to node_exporter** for what a user runs, the exporter-only binary served dark:
//! peak RSS 0.300–0.306 (static) and 0.358–0.366 (dynamic): the 1/4 target (about
//! 5.2 MiB) is **missed** by about 1.1 MiB. CPU per scrape 0.357–0.434 (static) and
//! 0.359–0.447 (dynamic) in these runs, 0.321–0.386 and 0.333–0.373 in three earlier runs
//! at load 1–4 (node_exporter's own CPU per scrape moves between 4.5 and 7.5 ms from run to
//! run): the 1/3 target is **missed**; it is met by the exporter alone on loopback in some
//! runs (0.28–0.38), and the overlay path adds 0.2–0.4 ms per scrape. The binary and build
//! changes below moved memory, not CPU: both binaries cost the same CPU per scrape. Before
//! this work `darkscrape node-exporter` measured CPU 0.40–0.44 and peak RSS 0.67–0.68 of
//! node_exporter's; now 0.34–0.45 and 0.58–0.59.
//!
//! **Where the memory is.** File-backed memory is program text: after a few scrapes 95–97%
//! of the binary's text mapping is resident (the kernel maps whole page-cache folios around
//! each fault), so resident memory follows the size of the linked code, not the code run.
//! Hence the exporter-only binary (`src/bin/darkscrape-node-exporter.rs`, no lab,
//! enrollment, reflectz or RSA code: text 13.9 → 10.0 MB in release), the `dist-small`
//! profile (fat LTO, one codegen unit, opt-level "s": 8.2 MB with opt-level 3 → 5.9 MB),
//! regex-lite for the filter flags and `tracing_subscriber::filter::Targets` for `--log`
//! (no `regex` engine linked: → 4.7 MB; together with the CPU changes below anonymous
//! memory also fell by 0.5 MiB), and static glibc (the shared libc, libm, ld.so and libgcc
//! mappings were 1.9 MiB resident; the static binary has 1.0 MB more text: net 1.0 MiB
//! less). What is left in the static binary: 4.0 MB `.text` (0.9 MB of it C: glibc and
//! ring), 0.8 MB `.rodata`, 0.5 MB unwind tables: rustls, ring and webpki for the overlay's
//! TLS, tokio, hyper and clap. hyper's HTTP/2 implementation (h2, about 0.2 MB) was linked
//! through hyper-util's `server-auto` feature although the exporter only speaks HTTP/1.1;
//! with it gone (one later run, 300 scrapes, load 0.9): static binary VmHWM 6.02 MiB against
//! node_exporter's 20.92, ratio **0.288**; dynamic `dist-small` 7.21 MiB, 0.345. Anonymous memory (1.7 MiB; node_exporter 7.3–7.9): 0.5 MiB main heap,
//! 0.85 MiB the collector thread's malloc arena, stacks.
//!
//! **Measured and not adopted:** opt-level "z" (static build, two runs): 0.23 MiB less, CPU
//! per scrape 14–61% higher. `panic = "abort"`: 0.28 MiB less (ratio 0.295), but a panicking
//! collector would take the process down instead of failing alone. The dlmalloc allocator
//! (one heap, no per-thread arena): 0.25 MiB less anonymous memory but 0.18 MiB more
//! file-backed, no net gain. `MALLOC_ARENA_MAX=1` in the environment (one malloc arena)
//! measured 0.25–0.4 MiB less on the earlier `darkscrape` build, but only 0.08 MiB less on
//! the static exporter-only binary (VmHWM 6.02 → 5.93 MiB), so it is not worth a default. The mimalloc allocator in the static lean binary (two runs):
//! CPU per scrape 1.57–1.70 ms, about the same as glibc's malloc, but 12.3 MiB anonymous
//! memory (it reserves and touches whole segments): peak RSS 0.81 of node_exporter's.
//!
//! **Static glibc, the trade-off.** A static binary linked against this glibc (Debian 12,
//! 2.36) resolves host names through its built-in `files` and `dns` sources: checked with
//! `strace`, names from `/etc/hosts` and DNS names resolve and no NSS module is loaded.
//! Other `hosts:` sources in `/etc/nsswitch.conf` (mdns, resolve, sss, myhostname) are
//! shared modules a static binary can only load from a host with the same glibc version;
//! on other hosts they are unavailable and the lookup goes on to the next source. Where
//! the controller's name is only known to such a module, use the dynamic build. Build:
//! `CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" cargo
//! build --profile dist-small --target x86_64-unknown-linux-gnu -p node-exporter --bin
//! darkscrape-node-exporter` (an `RUSTFLAGS` variable would replace the workspace's
//! `.cargo/config.toml` flags; the per-target variable is joined with them).
//!
//! **Where the CPU goes** (`perf record` on the static binary served dark): the collector
//! thread takes two thirds of a scrape, 55% of that in the kernel (sysfs and procfs reads:
//! netclass's attributes, `/proc/net/{netstat,snmp,snmp6,udp,udp6}`, conntrack). In user
//! space malloc/free are ~14% of the process (every label name and value is an owned
//! string in the exposition model), sorting and merging families ~5%, text rendering ~4%,
//! TLS under 1%. Done for CPU (each gain is inside the run-to-run noise of the table above):
//! collectors' families are merged once by a stable sort instead of being re-inserted by a
//! copied name (dark-metrics' gather likewise), netstat and vmstat field filters remember
//! their verdict per field position, collectors run on one pooled
//! thread (a second one measured ~20% more CPU and 0.7 MiB more memory), udp_queues reads
//! its tables in one call, netclass opens attributes relative to the interface directory,
//! and the CPU topology is cached. `examples/collector_costs.rs` times each collector.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod args;
pub mod collectors;
pub mod command;
pub mod error;
pub mod families;
mod intern;
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
