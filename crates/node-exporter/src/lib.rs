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
//! * **netdev** takes its counters from one rtnetlink dump like 1.5.0 when procfs is
//!   `/proc`; with another `--path.procfs`, or where netlink is refused, it reads
//!   `/proc/net/dev` (+ `rx_nohandler` from sysfs), which the kernel folds from the same
//!   counters the same way, so names and values match (a test checks the netlink read lies
//!   between two file reads). With `--collector.netdev.enable-detailed-metrics` the unfolded
//!   values come from the dump or from `/sys/class/net/<dev>/statistics/`.
//! * **netclass** takes most interface properties from one rtnetlink `RTM_GETLINK` dump
//!   (sysfs only for `addr_assign_type`, `dev_id`, `name_assign_type`, and `speed` and
//!   `duplex` of running interfaces): 1.5.0 reads every file of each interface directory,
//!   most of them under the kernel's RTNL lock. The values are mapped to what sysfs shows,
//!   so names and values match 1.5.0's (a test compares both sources in a namespace with a
//!   bridge port, a promiscuous interface and a down one); this differs from newer
//!   node_exporters' `--collector.netclass.netlink`, which exports netlink's flag word and
//!   the link mode as `dormant`. Netlink describes this process's network namespace, so it
//!   is the default only when `--path.sysfs` is `/sys`, falls back to sysfs (with a
//!   warning) when the socket is refused, and `--no-collector.netclass.netlink` turns it
//!   off. From sysfs, only the attributes exported are read.
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
//!   `--collector.netdev.address-info`, `--collector.netclass_rtnl.with-stats`, `collect[]` URL
//!   filtering (a serving concern).
//!
//! ## Performance (measured on the 2-vCPU development VM, node_exporter 1.5.0 alongside)
//!
//! One command builds what it measures and runs the benchmark:
//! `crates/node-exporter/scripts/bench.sh --scrapes 1000 --rounds 5` (method in
//! `examples/bench_vs_node_exporter.rs`; every row runs the same 26 collectors with the same
//! filter flags, node_exporter with `--web.disable-exporter-metrics`, ours likewise; the
//! overlay rows are scraped over an in-process lab overlay with a fresh overlay connection
//! per scrape and measure only the exporter process; all servers run at once and are
//! measured in rounds that visit them in a rotated order, because the shared VM's speed
//! drifts: node_exporter's own CPU per scrape measured 4.4–7.2 ms in different runs of
//! one day). Run of 2026-11-23 11:49 UTC, 1,000 scrapes each in 5 rounds:
//!
//! | | CPU / scrape | VmHWM | RssAnon | RssFile | CPU ratio (rounds) | RSS ratio |
//! | --- | --- | --- | --- | --- | --- | --- |
//! | node_exporter 1.5.0, loopback HTTP | 5.43 ms | 21.17 MiB | 8.10 MiB | 13.07 MiB | 1 | 1 |
//! | exporter alone, loopback HTTP (release example) | 1.43 ms | 7.14 MiB | 1.40 MiB | 5.73 MiB | 0.263 (0.221–0.289) | 0.337 |
//! | `darkscrape node-exporter` on the overlay (release) | 1.68 ms | 11.49 MiB | 1.80 MiB | 9.62 MiB | 0.309 (0.267–0.351) | 0.543 |
//! | `darkscrape-node-exporter` on the overlay (`dist-small`) | 1.66 ms | 7.08 MiB | 1.62 MiB | 5.46 MiB | 0.306 (0.244–0.333) | 0.335 |
//! | the small build (`scripts/build-small.sh`) on the overlay | 1.52 ms | **4.96 MiB** | 1.42 MiB | 3.54 MiB | **0.280** (0.237–0.299) | **0.234** |
//!
//! **Against the targets:** both are met by the small build: CPU per scrape 0.280 here,
//! 0.257 and 0.265 in two other runs (rounds 0.207–0.301), peak RSS 0.234, 0.237 and
//! 0.234 (4.96–5.02 MiB;
//! a binary just copied measured 0.3 MiB more than one read back from disk, the page
//! cache's state shows in file-backed memory). The default dynamic `dist-small` build stays
//! at RSS 0.33. Serving over the overlay with a fresh connection per scrape adds 0.1–0.3 ms
//! to the exporter alone. Before the rtnetlink collectors the small build measured CPU
//! 0.305–0.341 (seven runs the same day), with netclass alone over rtnetlink 0.306–0.307
//! (two runs); before all the performance work `darkscrape node-exporter` measured CPU
//! 0.40–0.44 and peak RSS 0.67–0.68 of node_exporter's.
//!
//! **Interfaces over rtnetlink.** netclass read about twenty sysfs attributes per
//! interface, each an open, a read and a close (most under the kernel's RTNL lock), and
//! netdev `/proc/net/dev` plus one sysfs file per interface; one `RTM_GETLINK` dump now
//! gives both their data (`collector_costs`, same run: netclass 236–327 µs from sysfs,
//! 86–89 µs with the dump and the five attributes netlink lacks; netdev 62 → 26 µs).
//!
//! **The small build's layout.** The kernel maps program text in 64 KiB blocks around each
//! page fault, and the functions a process runs are spread over the whole text, so 98% of
//! the static binary's text was resident although callgrind counts 2,790 functions,
//! 1.8 MB of the 3.8 MB, that ever run (start-up, log-in, binding, text, OpenMetrics and
//! gzip scrapes). `scripts/build-small.sh` records them in a run under valgrind on a lab
//! overlay and links again with lld's `--symbol-ordering-file`, which puts them first:
//! file-backed memory 4.45 → 3.45 MiB, no CPU change. Code that did not run then (error
//! paths, collectors with nothing to read on the build host) works the same and is mapped
//! when it first runs. Measured and not adopted with it: opt-level 2 or 3 for node-exporter
//! and dark-metrics (the bin's level sets the whole-program LTO's): CPU 4–9% lower, but
//! 0.9 MB more text and peak RSS 0.261 of node_exporter's.
//!
//! **Where the CPU went.** A scrape of this host made 3,374 allocations (a malloc probe on
//! the loopback example), most of them copies of literal names, help texts and label names;
//! glibc's malloc and free were ~15% of the process, and every 16 KiB read buffer made it
//! consolidate its free lists. Now: the exposition model keeps literal text borrowed
//! (`dark_metrics::exposition::Text`), names built from kernel fields are interned once per
//! process (`intern.rs`, bounded) and remembered per field position (`FieldMemo`, which also
//! remembers filter verdicts for netstat, vmstat, diskstats, netdev and filesystem),
//! collector threads reuse one read buffer, and the time collector resolves the local zone
//! once (as Go does): 1,684 allocations per scrape, identical output. Kernel text is
//! UTF-8-checked the fast way (the lossy conversion walks byte by byte), meminfo parses
//! without copying its keys and netstat parses only the values it exports. Serving dark, the
//! overlay stream takes vectored writes, so hyper no longer copies the body behind its
//! header block. Earlier: collectors' families are merged once by a stable sort,
//! udp_queues reads its tables in one call, the CPU topology is cached, collectors run on one pooled thread (a
//! second one measured ~20% more CPU and 0.7 MiB more memory). What is left (`perf`, static
//! binary served dark): two thirds of a scrape is the collector thread, 55–58% of that in
//! the kernel generating procfs and sysfs text; on the serving thread the text rendering,
//! the sort that merges the collectors' families, and the TLS write to the router.
//! `examples/collector_costs.rs` times each collector.
//!
//! **Where the memory is.** File-backed memory is program text: after a few scrapes 95–98%
//! of the binary's text mapping is resident (the kernel maps whole page-cache folios around
//! each fault), so resident memory follows the size of the linked code, not the code run.
//! Hence the exporter-only binary (`src/bin/darkscrape-node-exporter.rs`, no lab,
//! enrollment, reflectz or RSA code: text 13.9 → 10.0 MB in release), the `dist-small`
//! profile (fat LTO, one codegen unit, opt-level "s": 8.2 MB with opt-level 3 → 5.9 MB),
//! regex-lite for the filter flags and `tracing_subscriber::filter::Targets` for `--log` (no
//! `regex` engine linked), no HTTP/2 code (hyper's HTTP/1 server only), static glibc (the
//! shared libc, libm, ld.so and libgcc mappings were 1.9 MiB resident; the static binary has
//! 1.0 MB more text: net 1.0 MiB less) and a fixed load address (no PIE: the 180 KB of
//! start-up relocations and the pages they dirty are gone, 0.15–0.25 MiB) and the layout
//! above. What was resident in the static binary before the layout (4.45 MiB file-backed):
//! 3.6 MB `.text` of 3.65 (0.9 MB of it C:
//! glibc and ring), about 1 MB of `.rodata` and unwind tables: rustls, ring and webpki for the
//! overlay's TLS, tokio, hyper, clap (0.2 MB), std's backtrace printer (gimli, addr2line:
//! 0.2 MB), jiff (0.07 MB) and x509-parser (0.1 MB with its DER parsers). Anonymous memory
//! (1.4–1.5 MiB; node_exporter 7.3–7.9): 0.7 MiB main heap, 0.6 MiB the collector thread's
//! malloc arena (0.85 before the allocation work), stacks.
//!
//! **Measured and not adopted:** opt-level "z" (static build, two runs): 0.23 MiB less, CPU
//! per scrape 14–61% higher. `panic = "abort"`: 0.28 MiB less (ratio 0.295 at the time), but
//! a panicking collector would take the process down instead of failing alone. The dlmalloc
//! allocator (one heap, no per-thread arena): 0.25 MiB less anonymous memory but 0.18 MiB
//! more file-backed, no net gain. glibc malloc tunables on the static binary (one run each,
//! VmHWM 5.90 MiB without): `arena_max=1` 5.80, `mmap_threshold=32768` 5.87,
//! `trim_threshold=0:top_pad=0` 5.86, all four together 5.75: not worth asking users to
//! set. The mimalloc allocator in the static lean binary (two runs): CPU per scrape about
//! the same as glibc's malloc, but 12.3 MiB anonymous memory (it reserves and touches whole
//! segments): peak RSS 0.81 of node_exporter's.
//!
//! **The small build, its trade-offs.** A static binary linked against this glibc (Debian
//! 12, 2.36) resolves host names through its built-in `files` and `dns` sources: checked
//! with `strace`, names from `/etc/hosts` and DNS names resolve and no NSS module is loaded.
//! Other `hosts:` sources in `/etc/nsswitch.conf` (mdns, resolve, sss, myhostname) are
//! shared modules a static binary can only load from a host with the same glibc version;
//! on other hosts they are unavailable and the lookup goes on to the next source. Where
//! the controller's name is only known to such a module, use the dynamic build. Without
//! PIE the program is loaded at a fixed address, so address-space randomisation no longer
//! covers its own code (the heap, stacks and mappings are still randomised), as with
//! Debian's node_exporter binary, which is not position-independent either. Build it with
//! `crates/node-exporter/scripts/build-small.sh` (needs valgrind for the layout), or
//! without the layout: `CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C
//! target-feature=+crt-static -C relocation-model=static" cargo build --profile dist-small
//! --target x86_64-unknown-linux-gnu -p node-exporter --bin darkscrape-node-exporter` (an
//! `RUSTFLAGS` variable would replace the workspace's `.cargo/config.toml` flags; the
//! per-target variable is joined with them). Drop `-C relocation-model=static` to keep PIE
//! (0.2 MiB more).
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
pub mod rtnetlink;
pub mod scrape;
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
