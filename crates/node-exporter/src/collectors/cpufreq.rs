//! `cpufreq` collector: current, minimum and maximum CPU frequencies from
//! `/sys/devices/system/cpu/cpu*/cpufreq/` (kHz in sysfs, Hz exported).

use std::sync::Arc;

use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::{labels, Families};
use crate::read::{numbered_entries, read_u64};

/// (sysfs file, metric name, help)
const FILES: [(&str, &str, &str); 6] = [
    (
        "cpuinfo_cur_freq",
        "node_cpu_frequency_hertz",
        "Current CPU thread frequency reported by the hardware, in hertz.",
    ),
    (
        "cpuinfo_min_freq",
        "node_cpu_frequency_min_hertz",
        "Lowest CPU thread frequency the hardware supports, in hertz.",
    ),
    (
        "cpuinfo_max_freq",
        "node_cpu_frequency_max_hertz",
        "Highest CPU thread frequency the hardware supports, in hertz.",
    ),
    (
        "scaling_cur_freq",
        "node_cpu_scaling_frequency_hertz",
        "Current CPU thread frequency chosen by the governor, in hertz.",
    ),
    (
        "scaling_min_freq",
        "node_cpu_scaling_frequency_min_hertz",
        "Lowest CPU thread frequency the governor may choose, in hertz.",
    ),
    (
        "scaling_max_freq",
        "node_cpu_scaling_frequency_max_hertz",
        "Highest CPU thread frequency the governor may choose, in hertz.",
    ),
];

/// Exports `node_cpu_frequency_*` and `node_cpu_scaling_frequency_*`.
pub struct CpufreqCollector {
    options: Arc<CollectorOptions>,
}

impl CpufreqCollector {
    /// A collector reading `<sysfs>/devices/system/cpu`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        CpufreqCollector { options }
    }
}

impl HostCollector for CpufreqCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let dir = self.options.paths.sys("devices/system/cpu");
        for (id, cpu_dir) in numbered_entries(&dir, "cpu")? {
            let freq_dir = cpu_dir.join("cpufreq");
            if !freq_dir.is_dir() {
                continue;
            }
            let cpu = id.to_string();
            for (file, name, help) in FILES {
                match read_u64(&freq_dir.join(file)) {
                    Ok(khz) => out.gauge(name, help, labels(&[("cpu", &cpu)]), khz as f64 * 1000.0),
                    // Missing or root-only files (cpuinfo_cur_freq is 0400) are skipped.
                    Err(CollectorError::Read { source, .. })
                        if matches!(
                            source.kind(),
                            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
                        ) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "cpufreq",
    default_enabled: true,
    build: |options| Box::new(CpufreqCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn fixture_values() {
        // Synthetic cpufreq files for cpu0 (this VM exposes none); cpu1 has no cpufreq dir.
        let f = run(&CpufreqCollector::new(fixture_options()));
        assert_eq!(
            value(&f, "node_cpu_scaling_frequency_hertz", &[("cpu", "0")]),
            1_800_000_000.0
        );
        assert_eq!(
            value(&f, "node_cpu_frequency_max_hertz", &[("cpu", "0")]),
            3_600_000_000.0
        );
        assert_eq!(
            count(&f, "node_cpu_frequency_hertz"),
            0,
            "cpuinfo_cur_freq absent in fixture"
        );
        assert_eq!(count(&f, "node_cpu_scaling_frequency_min_hertz"), 1);
    }

    #[test]
    fn garbage_value_is_an_error() {
        let dir = temp_dir("cpufreq");
        std::fs::create_dir_all(dir.join("sys/devices/system/cpu/cpu0/cpufreq")).unwrap();
        std::fs::write(
            dir.join("sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq"),
            "fast\n",
        )
        .unwrap();
        let o = Arc::new(CollectorOptions::defaults(crate::HostPaths::under(&dir)).unwrap());
        let err = CpufreqCollector::new(o)
            .update(&mut Families::new())
            .unwrap_err();
        assert!(matches!(err, CollectorError::Parse { .. }));
    }
}
