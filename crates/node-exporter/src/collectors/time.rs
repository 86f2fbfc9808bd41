//! `time` collector: the current time, the local time zone's offset, and the kernel's
//! clock sources from `/sys/devices/system/clocksource/`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::{labels, Families};
use crate::read::{numbered_entries, read_attr};

/// Exports `node_time_*`.
pub struct TimeCollector {
    options: Arc<CollectorOptions>,
    /// The local zone, resolved once like Go resolves `time.Local` (from `$TZ`, else
    /// `/etc/localtime`): a changed zone is picked up on restart, as with node_exporter.
    zone: jiff::tz::TimeZone,
}

impl TimeCollector {
    /// A collector using the system clock and `<sysfs>/devices/system/clocksource`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        TimeCollector {
            options,
            zone: jiff::tz::TimeZone::system(),
        }
    }
}

impl HostCollector for TimeCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let now =
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_err(|e| CollectorError::Syscall {
                    call: "clock_gettime",
                    source: std::io::Error::other(e.to_string()),
                })?;
        out.gauge(
            "node_time_seconds",
            "System time in seconds since the Unix epoch.",
            vec![],
            now.as_secs_f64(),
        );
        let info = self.zone.to_offset_info(jiff::Timestamp::now());
        out.gauge(
            "node_time_zone_offset_seconds",
            "Offset of the local time zone from UTC, in seconds.",
            labels(&[("time_zone", info.abbreviation())]),
            f64::from(info.offset().seconds()),
        );
        let dir = self.options.paths.sys("devices/system/clocksource");
        for (n, source) in numbered_entries(&dir, "clocksource")? {
            let device = n.to_string();
            for cs in read_attr(&source.join("available_clocksource"))?.split_ascii_whitespace() {
                out.gauge(
                    "node_time_clocksource_available_info",
                    "Clock sources the kernel can use; the value is always 1.",
                    labels(&[("device", &device), ("clocksource", cs)]),
                    1.0,
                );
            }
            let current = read_attr(&source.join("current_clocksource"))?;
            out.gauge(
                "node_time_clocksource_current_info",
                "Clock source in use; the value is always 1.",
                labels(&[("device", &device), ("clocksource", &current)]),
                1.0,
            );
        }
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "time",
    default_enabled: true,
    build: |options| Box::new(TimeCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn fixture_values() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let f = run(&TimeCollector::new(fixture_options()));
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let t = value(&f, "node_time_seconds", &[]);
        assert!(before <= t && t <= after);
        // Fixture: available "kvm-clock tsc", current "tsc".
        assert_eq!(count(&f, "node_time_clocksource_available_info"), 2);
        assert_eq!(
            value(
                &f,
                "node_time_clocksource_current_info",
                &[("device", "0"), ("clocksource", "tsc")]
            ),
            1.0
        );
        assert_eq!(count(&f, "node_time_zone_offset_seconds"), 1);
    }
}
