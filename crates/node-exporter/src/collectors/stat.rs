//! `stat` collector: kernel-wide counters from `/proc/stat` (boot time, context switches,
//! forks, interrupts, running/blocked processes, optionally softirqs per vector). Also owns
//! the `/proc/stat` parser the `cpu` collector uses.

use std::path::Path;
use std::sync::Arc;

use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::{labels, Families};
use crate::read::read_text;

/// Softirq vectors in `/proc/stat` column order.
const SOFTIRQ_VECTORS: [&str; 10] = [
    "hi",
    "timer",
    "net_tx",
    "net_rx",
    "block",
    "block_iopoll",
    "tasklet",
    "sched",
    "hrtimer",
    "rcu",
];

/// The parts of `/proc/stat` node_exporter exports.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProcStat {
    /// Per-CPU lines: CPU number and the ten jiffy columns (user, nice, system, idle,
    /// iowait, irq, softirq, steal, guest, guest_nice); missing columns are 0.
    pub cpus: Vec<(u32, [u64; 10])>,
    /// First number of the `intr` line.
    pub interrupts: u64,
    /// `ctxt`.
    pub context_switches: u64,
    /// `btime`, Unix seconds.
    pub boot_time: u64,
    /// `processes` (forks since boot).
    pub forks: u64,
    /// `procs_running`.
    pub procs_running: u64,
    /// `procs_blocked`.
    pub procs_blocked: u64,
    /// Per-vector softirq counts (the `softirq` line without its total).
    pub softirqs: Vec<u64>,
}

fn num(path: &Path, line: &str, field: Option<&str>) -> Result<u64, CollectorError> {
    let field = field
        .ok_or_else(|| CollectorError::parse(path, format!("line {line:?} is missing a value")))?;
    field.parse::<u64>().map_err(|e| {
        CollectorError::parse(path, format!("bad number {field:?} in line {line:?}: {e}"))
    })
}

/// Parses `/proc/stat` text (read from `path`, named in errors).
pub fn parse_proc_stat(path: &Path, text: &str) -> Result<ProcStat, CollectorError> {
    let mut stat = ProcStat::default();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        match key {
            "cpu" => {}
            _ if key.starts_with("cpu") => {
                let id = key[3..].parse::<u32>().map_err(|e| {
                    CollectorError::parse(path, format!("bad CPU name {key:?}: {e}"))
                })?;
                let mut cols = [0u64; 10];
                for (i, f) in fields.take(10).enumerate() {
                    cols[i] = num(path, line, Some(f))?;
                }
                stat.cpus.push((id, cols));
            }
            "intr" => stat.interrupts = num(path, line, fields.next())?,
            "ctxt" => stat.context_switches = num(path, line, fields.next())?,
            "btime" => stat.boot_time = num(path, line, fields.next())?,
            "processes" => stat.forks = num(path, line, fields.next())?,
            "procs_running" => stat.procs_running = num(path, line, fields.next())?,
            "procs_blocked" => stat.procs_blocked = num(path, line, fields.next())?,
            "softirq" => {
                let _total = num(path, line, fields.next())?;
                stat.softirqs = fields
                    .map(|f| num(path, line, Some(f)))
                    .collect::<Result<_, _>>()?;
            }
            _ => {}
        }
    }
    Ok(stat)
}

/// Exports `/proc/stat` kernel counters.
pub struct StatCollector {
    options: Arc<CollectorOptions>,
}

impl StatCollector {
    /// A collector reading `<procfs>/stat`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        StatCollector { options }
    }
}

impl HostCollector for StatCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let path = self.options.paths.proc("stat");
        let stat = parse_proc_stat(&path, &read_text(&path)?)?;
        out.counter(
            "node_intr_total",
            "Interrupts serviced since boot.",
            vec![],
            stat.interrupts as f64,
        );
        out.counter(
            "node_context_switches_total",
            "Context switches since boot.",
            vec![],
            stat.context_switches as f64,
        );
        out.counter(
            "node_forks_total",
            "Processes and threads created since boot.",
            vec![],
            stat.forks as f64,
        );
        out.gauge(
            "node_boot_time_seconds",
            "Time the host booted, in Unix seconds.",
            vec![],
            stat.boot_time as f64,
        );
        out.gauge(
            "node_procs_running",
            "Processes in runnable state.",
            vec![],
            stat.procs_running as f64,
        );
        out.gauge(
            "node_procs_blocked",
            "Processes blocked waiting for I/O to complete.",
            vec![],
            stat.procs_blocked as f64,
        );
        if self.options.stat_softirq {
            for (vector, value) in SOFTIRQ_VECTORS.iter().zip(stat.softirqs.iter()) {
                out.counter(
                    "node_softirqs_total",
                    "Softirqs handled since boot, per vector.",
                    labels(&[("vector", vector)]),
                    *value as f64,
                );
            }
        }
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "stat",
    default_enabled: true,
    build: |options| Box::new(StatCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;
    use dark_metrics::exposition::MetricType;

    #[test]
    fn fixture_values() {
        let f = run(&StatCollector::new(fixture_options()));
        let text = fixture_text("proc/stat");
        let btime: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("btime "))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(value(&f, "node_boot_time_seconds", &[]), btime);
        assert_eq!(type_of(&f, "node_intr_total"), MetricType::Counter);
        assert_eq!(count(&f, "node_softirqs_total"), 0);
    }

    #[test]
    fn parses_all_fields_and_softirqs() {
        let text = "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\ncpu1 1 2 3 4\nintr 99 1 2\nctxt 7\nbtime 1700000000\nprocesses 42\nprocs_running 3\nprocs_blocked 1\nsoftirq 55 1 2 3 4 5 6 7 8 9 10\n";
        let s = parse_proc_stat(Path::new("t"), text).unwrap();
        assert_eq!(s.cpus.len(), 2);
        assert_eq!(s.cpus[1], (1, [1, 2, 3, 4, 0, 0, 0, 0, 0, 0]));
        assert_eq!(
            (s.interrupts, s.context_switches, s.boot_time, s.forks),
            (99, 7, 1_700_000_000, 42)
        );
        assert_eq!((s.procs_running, s.procs_blocked), (3, 1));
        assert_eq!(s.softirqs, vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }

    #[test]
    fn rejects_malformed_numbers() {
        for bad in [
            "ctxt x\n",
            "cpuX 1 2\n",
            "btime\n",
            "cpu0 1 -2\n",
            "softirq 1 a\n",
        ] {
            let err = parse_proc_stat(Path::new("/proc/stat"), bad).unwrap_err();
            assert!(
                matches!(err, CollectorError::Parse { .. }),
                "{bad:?}: {err}"
            );
        }
    }
}
