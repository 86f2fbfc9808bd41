//! `pressure` collector: total stall time from pressure stall information
//! (`/proc/pressure/{cpu,io,memory}`), microseconds exported as seconds.
//!
//! Follows node_exporter 1.5.0: cpu "full" and the irq file are not exported (later
//! versions add them).

use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::Families;
use crate::read::read_text;

/// `total=` of the `some` and `full` lines, in microseconds.
pub fn parse_psi(path: &Path, text: &str) -> Result<(Option<u64>, Option<u64>), CollectorError> {
    let (mut some, mut full) = (None, None);
    for line in text.lines() {
        let mut parts = line.split_ascii_whitespace();
        let kind = parts.next();
        let total = parts
            .find_map(|p| p.strip_prefix("total="))
            .ok_or_else(|| CollectorError::parse(path, format!("line without total=: {line:?}")))?;
        let total: u64 = total
            .parse()
            .map_err(|e| CollectorError::parse(path, format!("bad total in {line:?}: {e}")))?;
        match kind {
            Some("some") => some = Some(total),
            Some("full") => full = Some(total),
            _ => {
                return Err(CollectorError::parse(
                    path,
                    format!("unknown line kind: {line:?}"),
                ))
            }
        }
    }
    Ok((some, full))
}

/// Exports `node_pressure_*_seconds_total`.
pub struct PressureCollector {
    options: Arc<CollectorOptions>,
}

impl PressureCollector {
    /// A collector reading `<procfs>/pressure/`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        PressureCollector { options }
    }
}

impl HostCollector for PressureCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        for resource in ["cpu", "io", "memory"] {
            let path = self.options.paths.proc(&format!("pressure/{resource}"));
            let text = match read_text(&path) {
                Ok(t) => t,
                Err(CollectorError::Read { source, .. })
                    if source.kind() == ErrorKind::NotFound
                        || source.raw_os_error() == Some(libc::EOPNOTSUPP) =>
                {
                    return Err(CollectorError::NoData(
                        "pressure stall information is not available".into(),
                    ))
                }
                Err(e) => return Err(e),
            };
            let (some, full) = parse_psi(&path, &text)?;
            let secs = |us: Option<u64>| us.unwrap_or(0) as f64 / 1e6;
            match resource {
                "cpu" => out.counter(
                    "node_pressure_cpu_waiting_seconds_total",
                    "Seconds in which at least one task waited for a CPU.",
                    vec![],
                    secs(some),
                ),
                "io" => {
                    out.counter(
                        "node_pressure_io_waiting_seconds_total",
                        "Seconds in which at least one task waited for I/O.",
                        vec![],
                        secs(some),
                    );
                    out.counter(
                        "node_pressure_io_stalled_seconds_total",
                        "Seconds in which all non-idle tasks were stalled on I/O.",
                        vec![],
                        secs(full),
                    );
                }
                _ => {
                    out.counter(
                        "node_pressure_memory_waiting_seconds_total",
                        "Seconds in which at least one task waited for memory.",
                        vec![],
                        secs(some),
                    );
                    out.counter(
                        "node_pressure_memory_stalled_seconds_total",
                        "Seconds in which all non-idle tasks were stalled on memory.",
                        vec![],
                        secs(full),
                    );
                }
            }
        }
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "pressure",
    default_enabled: true,
    build: |options| Box::new(PressureCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn fixture_values() {
        // cpu some total=81302409; io some 5138298 full 4110285
        let f = run(&PressureCollector::new(fixture_options()));
        assert_eq!(
            value(&f, "node_pressure_cpu_waiting_seconds_total", &[]),
            81.302409
        );
        assert_eq!(
            value(&f, "node_pressure_io_waiting_seconds_total", &[]),
            5.138298
        );
        assert_eq!(
            value(&f, "node_pressure_io_stalled_seconds_total", &[]),
            4.110285
        );
        assert_eq!(
            value(&f, "node_pressure_memory_stalled_seconds_total", &[]),
            0.0
        );
        assert_eq!(f.len(), 5);
    }

    #[test]
    fn malformed_and_absent() {
        assert!(parse_psi(Path::new("t"), "some avg10=0.00\n").is_err());
        assert!(parse_psi(Path::new("t"), "some total=x\n").is_err());
        assert!(parse_psi(Path::new("t"), "most total=1\n").is_err());
        let dir = temp_dir("psi");
        let o = Arc::new(CollectorOptions::defaults(crate::HostPaths::under(&dir)).unwrap());
        assert!(PressureCollector::new(o)
            .update(&mut Families::new())
            .unwrap_err()
            .is_no_data());
    }
}
