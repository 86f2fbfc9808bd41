//! `thermal_zone` collector: thermal zone temperatures and cooling device states from
//! `/sys/class/thermal/` (temperatures in m°C, exported in °C).

use std::sync::Arc;

use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::{labels, Families};
use crate::read::{numbered_entries, read_attr, read_i64};

/// Exports `node_thermal_zone_temp` and `node_cooling_device_{cur,max}_state`.
pub struct ThermalZoneCollector {
    options: Arc<CollectorOptions>,
}

impl ThermalZoneCollector {
    /// A collector reading `<sysfs>/class/thermal`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        ThermalZoneCollector { options }
    }
}

impl HostCollector for ThermalZoneCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let dir = self.options.paths.sys("class/thermal");
        for (n, zone) in numbered_entries(&dir, "thermal_zone")? {
            let kind = read_attr(&zone.join("type"))?;
            let temp = read_i64(&zone.join("temp"))?;
            out.gauge(
                "node_thermal_zone_temp",
                "Thermal zone temperature in degrees Celsius.",
                labels(&[("zone", &n.to_string()), ("type", &kind)]),
                temp as f64 / 1000.0,
            );
        }
        for (n, dev) in numbered_entries(&dir, "cooling_device")? {
            let kind = read_attr(&dev.join("type"))?;
            let l = || labels(&[("name", &n.to_string()), ("type", &kind)]);
            let cur = read_i64(&dev.join("cur_state"))?;
            let max = read_i64(&dev.join("max_state"))?;
            out.gauge(
                "node_cooling_device_cur_state",
                "Current throttle state of the cooling device.",
                l(),
                cur as f64,
            );
            out.gauge(
                "node_cooling_device_max_state",
                "Highest throttle state of the cooling device.",
                l(),
                max as f64,
            );
        }
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "thermal_zone",
    default_enabled: true,
    build: |options| Box::new(ThermalZoneCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn fixture_values() {
        // Synthetic zone and fan (this VM has an empty /sys/class/thermal).
        let f = run(&ThermalZoneCollector::new(fixture_options()));
        assert_eq!(
            value(
                &f,
                "node_thermal_zone_temp",
                &[("zone", "0"), ("type", "x86_pkg_temp")]
            ),
            41.5
        );
        assert_eq!(
            value(
                &f,
                "node_cooling_device_cur_state",
                &[("name", "0"), ("type", "Fan")]
            ),
            1.0
        );
        assert_eq!(
            value(&f, "node_cooling_device_max_state", &[("name", "0")]),
            3.0
        );
    }

    #[test]
    fn absent_class_is_success_without_samples() {
        let dir = temp_dir("thermal");
        let o = Arc::new(CollectorOptions::defaults(crate::HostPaths::under(&dir)).unwrap());
        let mut f = Families::new();
        ThermalZoneCollector::new(o).update(&mut f).unwrap();
        assert!(f.is_empty());
    }
}
