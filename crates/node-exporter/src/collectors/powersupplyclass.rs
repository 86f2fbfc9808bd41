//! `powersupplyclass` collector: batteries and mains adapters from
//! `/sys/class/power_supply/<supply>/` (µA, µV, µWh … exported in base units; temperatures
//! in tenths of °C exported in °C).

use std::io::ErrorKind;
use std::sync::Arc;

use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::{labels, Families};
use crate::intern::interned;
use crate::read::{list_dir, parse_i64_auto, read_attr};

/// (sysfs file, metric suffix, divisor)
const NUMERIC: &[(&str, &str, f64)] = &[
    ("authentic", "authentic", 1.0),
    ("calibrate", "calibrate", 1.0),
    ("capacity", "capacity", 1.0),
    ("capacity_alert_max", "capacity_alert_max", 1.0),
    ("capacity_alert_min", "capacity_alert_min", 1.0),
    ("cycle_count", "cyclecount", 1.0),
    ("online", "online", 1.0),
    ("present", "present", 1.0),
    ("time_to_empty_now", "time_to_empty_seconds", 1.0),
    ("time_to_full_now", "time_to_full_seconds", 1.0),
    ("current_boot", "current_boot", 1e6),
    ("current_max", "current_max", 1e6),
    ("current_now", "current_ampere", 1e6),
    ("energy_empty", "energy_empty", 1e6),
    ("energy_empty_design", "energy_empty_design", 1e6),
    ("energy_full", "energy_full", 1e6),
    ("energy_full_design", "energy_full_design", 1e6),
    ("energy_now", "energy_watthour", 1e6),
    ("voltage_boot", "voltage_boot", 1e6),
    ("voltage_max", "voltage_max", 1e6),
    ("voltage_max_design", "voltage_max_design", 1e6),
    ("voltage_min", "voltage_min", 1e6),
    ("voltage_min_design", "voltage_min_design", 1e6),
    ("voltage_now", "voltage_volt", 1e6),
    ("voltage_ocv", "voltage_ocv", 1e6),
    ("charge_control_limit", "charge_control_limit", 1e6),
    ("charge_control_limit_max", "charge_control_limit_max", 1e6),
    ("charge_counter", "charge_counter", 1e6),
    ("charge_empty", "charge_empty", 1e6),
    ("charge_empty_design", "charge_empty_design", 1e6),
    ("charge_full", "charge_full", 1e6),
    ("charge_full_design", "charge_full_design", 1e6),
    ("charge_now", "charge_ampere", 1e6),
    ("charge_term_current", "charge_term_current", 1e6),
    ("constant_charge_current", "constant_charge_current", 1e6),
    (
        "constant_charge_current_max",
        "constant_charge_current_max",
        1e6,
    ),
    ("constant_charge_voltage", "constant_charge_voltage", 1e6),
    (
        "constant_charge_voltage_max",
        "constant_charge_voltage_max",
        1e6,
    ),
    ("precharge_current", "precharge_current", 1e6),
    ("input_current_limit", "input_current_limit", 1e6),
    ("power_now", "power_watt", 1e6),
    ("temp", "temp_celsius", 10.0),
    ("temp_alert_max", "temp_alert_max_celsius", 10.0),
    ("temp_alert_min", "temp_alert_min_celsius", 10.0),
    ("temp_ambient", "temp_ambient_celsius", 10.0),
    ("temp_ambient_max", "temp_ambient_max_celsius", 10.0),
    ("temp_ambient_min", "temp_ambient_min_celsius", 10.0),
    ("temp_max", "temp_max_celsius", 10.0),
    ("temp_min", "temp_min_celsius", 10.0),
];

/// Text attributes that become labels of `node_power_supply_info` when non-empty.
const INFO: [&str; 11] = [
    "capacity_level",
    "charge_type",
    "health",
    "manufacturer",
    "model_name",
    "serial_number",
    "status",
    "technology",
    "type",
    "usb_type",
    "scope",
];

/// Exports `node_power_supply_*`.
pub struct PowerSupplyCollector {
    options: Arc<CollectorOptions>,
}

impl PowerSupplyCollector {
    /// A collector reading `<sysfs>/class/power_supply`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        PowerSupplyCollector { options }
    }
}

impl HostCollector for PowerSupplyCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let root = self.options.paths.sys("class/power_supply");
        let supplies = match list_dir(&root) {
            Ok(s) => s,
            Err(CollectorError::Read { source, .. }) if source.kind() == ErrorKind::NotFound => {
                return Err(CollectorError::NoData(format!(
                    "{} does not exist",
                    root.display()
                )))
            }
            Err(e) => return Err(e),
        };
        for supply in supplies {
            if self.options.powersupply_ignored.is_match(&supply) {
                continue;
            }
            let dir = root.join(&supply);
            for (file, suffix, divisor) in NUMERIC {
                let Ok(raw) = read_attr(&dir.join(file)) else {
                    continue;
                };
                let Some(v) = parse_i64_auto(&raw) else {
                    continue;
                };
                out.gauge(
                    interned(format_args!("node_power_supply_{suffix}")),
                    interned(format_args!(
                        "Power supply attribute {file} from /sys/class/power_supply/<power_supply>."
                    )),
                    labels(&[("power_supply", &supply)]),
                    v as f64 / divisor,
                );
            }
            let mut info = labels(&[("power_supply", &supply)]);
            for attr in INFO {
                if let Ok(v) = read_attr(&dir.join(attr)) {
                    if !v.is_empty() {
                        info.push(((*attr).into(), v.into()));
                    }
                }
            }
            out.gauge(
                "node_power_supply_info",
                "Power supply identity and state; the value is always 1.",
                info,
                1.0,
            );
        }
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "powersupplyclass",
    default_enabled: true,
    build: |options| Box::new(PowerSupplyCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn fixture_values() {
        // Synthetic battery BAT0 (this VM has no power supplies).
        let f = run(&PowerSupplyCollector::new(fixture_options()));
        let b = [("power_supply", "BAT0")];
        assert_eq!(value(&f, "node_power_supply_capacity", &b), 87.0);
        assert_eq!(value(&f, "node_power_supply_voltage_volt", &b), 12.5);
        assert_eq!(value(&f, "node_power_supply_temp_celsius", &b), 31.2);
        assert_eq!(value(&f, "node_power_supply_cyclecount", &b), 42.0);
        assert_eq!(
            value(
                &f,
                "node_power_supply_info",
                &[("status", "Discharging"), ("type", "Battery")]
            ),
            1.0
        );
    }
}
