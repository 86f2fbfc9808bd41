//! `cpu` collector: per-CPU time by mode from `/proc/stat`, guest time, isolated CPUs and
//! thermal throttle counts from sysfs.
//!
//! CPU topology (package and core ids), whether a CPU has throttle counters, and the
//! isolated CPU list are read once per CPU and cached (node_exporter reads the isolated
//! list once at start too); the throttle counts themselves are read every scrape.
//!
//! Counters never go backwards from our side: like node_exporter, a lower reading of one
//! mode keeps the previous value, and only an idle drop of 3 s or more (a CPU hot-plug)
//! resets that CPU's cache.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use super::stat::parse_proc_stat;
use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::{label, labels, Families};
use crate::read::{numbered_entries, read_attr, read_text, read_u64};

/// Jiffies per second in `/proc/stat`: the kernel's fixed user-space ABI value `USER_HZ`,
/// which node_exporter (through Go procfs) also hard-codes.
const USER_HZ: f64 = 100.0;
/// An idle counter dropping by this many seconds means the CPU was replugged.
const JUMP_BACK_SECONDS: f64 = 3.0;
const MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];
const IDLE: usize = 3;

/// Exports `node_cpu_*`.
pub struct CpuCollector {
    options: Arc<CollectorOptions>,
    /// Last exported seconds per CPU (ten columns), so counters never decrease.
    last: Mutex<BTreeMap<u32, [f64; 10]>>,
    /// Per CPU directory number: its topology, or `None` if it has none.
    topology: Mutex<BTreeMap<u64, Option<CpuTopology>>>,
    /// CPUs isolated from the scheduler, read on first use.
    isolated: OnceLock<Vec<u32>>,
}

/// Static facts about one CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CpuTopology {
    package: u64,
    core: u64,
    /// `thermal_throttle/` exists (the driver provides throttle counters).
    throttle: bool,
}

fn read_topology(dir: &Path) -> Option<CpuTopology> {
    let package = read_u64(&dir.join("topology/physical_package_id")).ok()?;
    let core = read_u64(&dir.join("topology/core_id")).ok()?;
    Some(CpuTopology {
        package,
        core,
        throttle: dir.join("thermal_throttle").is_dir(),
    })
}

impl CpuCollector {
    /// A collector reading `<procfs>/stat` and `<sysfs>/devices/system/cpu`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        CpuCollector {
            options,
            last: Mutex::new(BTreeMap::new()),
            topology: Mutex::new(BTreeMap::new()),
            isolated: OnceLock::new(),
        }
    }

    /// Merges a new reading into the cache and returns the values to export.
    fn monotonic(&self, cpus: &[(u32, [u64; 10])]) -> BTreeMap<u32, [f64; 10]> {
        let mut last = crate::lock(&self.last);
        let mut next = BTreeMap::new();
        for (id, jiffies) in cpus {
            let new: [f64; 10] = jiffies.map(|j| j as f64 / USER_HZ);
            let mut cur = last.get(id).copied().unwrap_or([0.0; 10]);
            if cur[IDLE] - new[IDLE] >= JUMP_BACK_SECONDS {
                tracing::debug!(
                    cpu = id,
                    "idle counter jumped back: CPU replugged, resetting its counters"
                );
                cur = [0.0; 10];
            }
            for i in 0..10 {
                if new[i] >= cur[i] {
                    cur[i] = new[i];
                }
            }
            next.insert(*id, cur);
        }
        // CPUs that went away are dropped from the cache.
        *last = next.clone();
        next
    }

    fn update_throttles(&self, out: &mut Families) -> Result<(), CollectorError> {
        let cpu_dir = self.options.paths.sys("devices/system/cpu");
        let mut package: BTreeMap<u64, u64> = BTreeMap::new();
        let mut core: BTreeMap<(u64, u64), u64> = BTreeMap::new();
        let mut cache = crate::lock(&self.topology);
        for (n, dir) in numbered_entries(&cpu_dir, "cpu")? {
            let topo = *cache.entry(n).or_insert_with(|| read_topology(&dir));
            let Some(t) = topo else { continue };
            if !t.throttle {
                continue;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = core.entry((t.package, t.core)) {
                if let Ok(v) = read_u64(&dir.join("thermal_throttle/core_throttle_count")) {
                    e.insert(v);
                }
            }
            if let std::collections::btree_map::Entry::Vacant(e) = package.entry(t.package) {
                if let Ok(v) = read_u64(&dir.join("thermal_throttle/package_throttle_count")) {
                    e.insert(v);
                }
            }
        }
        drop(cache);
        for (p, n) in package {
            out.counter(
                "node_cpu_package_throttles_total",
                "Times this CPU package was throttled for heat.",
                labels(&[("package", &p.to_string())]),
                n as f64,
            );
        }
        for ((p, c), n) in core {
            out.counter(
                "node_cpu_core_throttles_total",
                "Times this CPU core was throttled for heat.",
                labels(&[("package", &p.to_string()), ("core", &c.to_string())]),
                n as f64,
            );
        }
        Ok(())
    }

    fn update_isolated(&self, out: &mut Families) -> Result<(), CollectorError> {
        let cpus = match self.isolated.get() {
            Some(c) => c,
            None => {
                let path = self.options.paths.sys("devices/system/cpu/isolated");
                let list = match read_attr(&path) {
                    Ok(t) => parse_cpu_list(&t).map_err(|d| CollectorError::parse(&path, d))?,
                    Err(e) if e.is_not_found() => Vec::new(),
                    Err(e) => return Err(e),
                };
                self.isolated.get_or_init(|| list)
            }
        };
        for cpu in cpus {
            out.gauge(
                "node_cpu_isolated",
                "1 for each CPU isolated from the scheduler (isolcpus).",
                labels(&[("cpu", &cpu.to_string())]),
                1.0,
            );
        }
        Ok(())
    }
}

/// Parses a kernel CPU list such as `0-2,5` (empty means none).
pub(crate) fn parse_cpu_list(text: &str) -> Result<Vec<u32>, String> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let parse = |s: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|e| format!("bad CPU number {s:?}: {e}"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (parse(a)?, parse(b)?);
                if b < a || b - a > 65_536 {
                    return Err(format!("bad CPU range {part:?}"));
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(parse(part)?),
        }
    }
    Ok(cpus)
}

impl HostCollector for CpuCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let path = self.options.paths.proc("stat");
        let stat = parse_proc_stat(&path, &read_text(&path)?)?;
        for (id, secs) in self.monotonic(&stat.cpus) {
            let cpu = id.to_string();
            for (mode, v) in MODES.iter().zip(secs.iter()) {
                out.counter(
                    "node_cpu_seconds_total",
                    "Seconds each CPU spent in each mode.",
                    vec![label("cpu", cpu.clone()), label("mode", *mode)],
                    *v,
                );
            }
            if self.options.cpu_guest {
                for (mode, v) in [("user", secs[8]), ("nice", secs[9])] {
                    out.counter(
                        "node_cpu_guest_seconds_total",
                        "Seconds each CPU spent running guests (virtual machines), by mode.",
                        vec![label("cpu", cpu.clone()), label("mode", mode)],
                        v,
                    );
                }
            }
        }
        self.update_isolated(out)?;
        self.update_throttles(out)
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "cpu",
    default_enabled: true,
    build: |options| Box::new(CpuCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;
    use dark_metrics::exposition::MetricType;

    #[test]
    fn fixture_values() {
        // tests/fixtures/proc/stat: cpu0 10853 0 2193 23747 121 0 20 858 0 0, cpu1 12064 0 2498 21682 477 0 148 934 0 0
        let f = run(&CpuCollector::new(fixture_options()));
        assert_eq!(
            value(
                &f,
                "node_cpu_seconds_total",
                &[("cpu", "0"), ("mode", "user")]
            ),
            108.53
        );
        assert_eq!(
            value(
                &f,
                "node_cpu_seconds_total",
                &[("cpu", "0"), ("mode", "idle")]
            ),
            237.47
        );
        assert_eq!(
            value(
                &f,
                "node_cpu_seconds_total",
                &[("cpu", "1"), ("mode", "steal")]
            ),
            9.34
        );
        assert_eq!(count(&f, "node_cpu_seconds_total"), 16);
        assert_eq!(count(&f, "node_cpu_guest_seconds_total"), 4);
        assert_eq!(type_of(&f, "node_cpu_seconds_total"), MetricType::Counter);
        // Synthetic thermal_throttle files under cpu0 (this VM has none).
        assert_eq!(
            value(
                &f,
                "node_cpu_core_throttles_total",
                &[("package", "0"), ("core", "0")]
            ),
            3.0
        );
        assert_eq!(
            value(&f, "node_cpu_package_throttles_total", &[("package", "0")]),
            5.0
        );
        assert_eq!(count(&f, "node_cpu_isolated"), 0);
    }

    #[test]
    fn counters_never_go_backwards_but_replug_resets() {
        let c = CpuCollector::new(fixture_options());
        let first = c.monotonic(&[(0, [1000, 0, 500, 10_000, 0, 0, 0, 0, 0, 0])]);
        assert_eq!(first[&0][0], 10.0);
        // user dropped a little: keep the old value; idle dropped 1 s: keep too.
        let second = c.monotonic(&[(0, [900, 0, 600, 9_900, 0, 0, 0, 0, 0, 0])]);
        assert_eq!(second[&0][0], 10.0);
        assert_eq!(second[&0][2], 6.0);
        assert_eq!(second[&0][3], 100.0);
        // idle dropped by 50 s: hot-plug, the CPU starts over.
        let third = c.monotonic(&[(0, [10, 0, 10, 5_000, 0, 0, 0, 0, 0, 0])]);
        assert_eq!(third[&0][0], 0.1);
        assert_eq!(third[&0][3], 50.0);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("").unwrap(), Vec::<u32>::new());
        assert_eq!(parse_cpu_list("0-2,5\n").unwrap(), vec![0, 1, 2, 5]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("a").is_err());
        assert!(parse_cpu_list("0-99999999").is_err());
    }
}
