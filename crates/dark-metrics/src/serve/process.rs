//! [`ProcessCollector`]: the standard `process_*` metrics of the serving process (CPU time,
//! memory, file descriptors, start time), with the names and meanings Go's client library
//! gives them, read from Linux's `/proc/self`.

use tokio::time::Instant;

use super::collector::{CollectError, CollectFuture, Collector};
use crate::exposition::{MetricFamily, MetricType};

/// Collects `process_cpu_seconds_total`, `process_open_fds`, `process_max_fds`,
/// `process_virtual_memory_bytes`, `process_virtual_memory_max_bytes`,
/// `process_resident_memory_bytes` and `process_start_time_seconds` for this process.
#[derive(Debug, Clone)]
pub struct ProcessCollector {
    ticks_per_second: f64,
    page_size: f64,
}

impl Default for ProcessCollector {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessCollector {
    /// A collector for the current process.
    pub fn new() -> Self {
        ProcessCollector {
            ticks_per_second: rustix::param::clock_ticks_per_second() as f64,
            page_size: rustix::param::page_size() as f64,
        }
    }

    fn families(&self) -> Result<Vec<MetricFamily>, CollectError> {
        let stat = std::fs::read_to_string("/proc/self/stat")?;
        let stat = parse_stat(&stat)?;
        let boot_time = parse_boot_time(&std::fs::read_to_string("/proc/stat")?)?;
        let limits = std::fs::read_to_string("/proc/self/limits")?;
        let open_fds = std::fs::read_dir("/proc/self/fd")?.count() as f64;
        let gauge = |name: &'static str, help: &'static str, value: f64| {
            MetricFamily::new(name, help, MetricType::Gauge).with_sample(vec![], value)
        };
        let mut families = vec![
            MetricFamily::new(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
                MetricType::Counter,
            )
            .with_sample(
                vec![],
                (stat.user_ticks + stat.system_ticks) as f64 / self.ticks_per_second,
            ),
            gauge(
                "process_open_fds",
                "Number of open file descriptors.",
                open_fds,
            ),
            gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                stat.virtual_bytes as f64,
            ),
            gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                stat.resident_pages as f64 * self.page_size,
            ),
            gauge(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                boot_time as f64 + stat.start_ticks as f64 / self.ticks_per_second,
            ),
        ];
        if let Some(max) = soft_limit(&limits, "Max open files") {
            families.push(gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max,
            ));
        }
        if let Some(max) = soft_limit(&limits, "Max address space") {
            families.push(gauge(
                "process_virtual_memory_max_bytes",
                "Maximum amount of virtual memory available in bytes.",
                max,
            ));
        }
        Ok(families)
    }
}

impl Collector for ProcessCollector {
    fn name(&self) -> &str {
        "process"
    }

    fn collect(&self, _deadline: Instant) -> CollectFuture<'_> {
        // A handful of small procfs reads: cheap enough to do inline.
        let result = self.families();
        Box::pin(async move { result })
    }
}

/// The fields of `/proc/self/stat` this collector uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProcStat {
    user_ticks: u64,
    system_ticks: u64,
    start_ticks: u64,
    virtual_bytes: u64,
    resident_pages: u64,
}

/// Parses `/proc/PID/stat`. The command name (field 2) is in parentheses and may hold
/// spaces and parentheses, so fields are counted from the last `)`.
fn parse_stat(text: &str) -> Result<ProcStat, CollectError> {
    let after_name = text
        .rfind(')')
        .map(|at| &text[at + 1..])
        .ok_or_else(|| CollectError::failed("/proc/self/stat has no ')' after the command name"))?;
    // Field 3 (state) is index 0 here, so field N is index N - 3.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |number: usize| -> Result<u64, CollectError> {
        fields
            .get(number - 3)
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| {
                CollectError::failed(format!(
                    "/proc/self/stat field {number} is missing or not a number"
                ))
            })
    };
    Ok(ProcStat {
        user_ticks: field(14)?,
        system_ticks: field(15)?,
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
        resident_pages: field(24)?,
    })
}

/// The `btime` line of `/proc/stat`: boot time in seconds since the epoch.
fn parse_boot_time(text: &str) -> Result<u64, CollectError> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
        .ok_or_else(|| CollectError::failed("/proc/stat has no valid btime line"))
}

/// The soft limit of `name` in `/proc/PID/limits`; `unlimited` is reported as 2^64 - 1, as
/// Go's client does.
fn soft_limit(text: &str, name: &str) -> Option<f64> {
    let rest = text.lines().find_map(|line| line.strip_prefix(name))?;
    let soft = rest.split_whitespace().next()?;
    if soft == "unlimited" {
        return Some(u64::MAX as f64);
    }
    soft.parse::<u64>().ok().map(|v| v as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (tokio (rt) worker) S 1 4242 4242 0 -1 4194560 1200 0 0 0 \
                        350 120 0 0 20 0 9 0 98765 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        assert_eq!(
            parse_stat(STAT).unwrap(),
            ProcStat {
                user_ticks: 350,
                system_ticks: 120,
                start_ticks: 98765,
                virtual_bytes: 123_456_789,
                resident_pages: 2048,
            }
        );
    }

    #[test]
    fn malformed_stat_is_an_error() {
        for text in [
            "",
            "4242 no-parenthesis S 1",
            "4242 (x) S 1 2 3",
            "4242 (x) S 1 4242 4242 0 -1 4194560 1200 0 0 0 abc 120 0 0 20 0 9 0 98765 1 2",
        ] {
            assert!(parse_stat(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn boot_time_and_limits() {
        assert_eq!(
            parse_boot_time("cpu 1 2\nbtime 1700000000\nprocesses 5\n").unwrap(),
            1_700_000_000
        );
        assert!(parse_boot_time("cpu 1 2\n").is_err());
        assert!(parse_boot_time("btime soon\n").is_err());
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n\
                      Max address space         unlimited            unlimited            bytes\n";
        assert_eq!(soft_limit(limits, "Max open files"), Some(1024.0));
        assert_eq!(
            soft_limit(limits, "Max address space"),
            Some(u64::MAX as f64)
        );
        assert_eq!(soft_limit(limits, "Max processes"), None);
    }

    #[tokio::test]
    async fn this_process_is_measured() {
        let families = ProcessCollector::new()
            .collect(Instant::now())
            .await
            .unwrap();
        let value = |name: &str| {
            families
                .iter()
                .find(|f| f.name == name)
                .map(|f| f.samples[0].value)
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_resident_memory_bytes") > 1e6);
        assert!(value("process_start_time_seconds") > 1.6e9);
        assert!(value("process_cpu_seconds_total") >= 0.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
    }
}
