//! `hwmon` collector: hardware sensors (temperatures, voltages, fans, power, …) from
//! `/sys/class/hwmon/hwmon*/` and their `device/` directories.
//!
//! Files are named `<type><n>_<property>`. Values are converted to base units (m°C, mV and
//! mA × 0.001; µW and µJ ÷ 1e6). Each file is read with one bounded `read`, because some
//! drivers never signal end of file.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use dark_metrics::exposition::MetricType;

use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::{labels, Families};
use crate::intern::interned;
use crate::read::{list_dir, read_attr};

const SENSOR_TYPES: [&str; 13] = [
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
];

/// Splits a sensor file name into (type, number, property), like `temp1_input` →
/// (`temp`, 1, `input`). `None` when the name does not have that shape.
pub fn split_sensor_name(name: &str) -> Option<(&str, u32, &str)> {
    let digits_at = name.find(|c: char| c.is_ascii_digit());
    let Some(start) = digits_at else {
        return (!name.is_empty()).then_some((name, 0, ""));
    };
    if start == 0 {
        return None;
    }
    let kind = &name[..start];
    let rest = &name[start..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let num: u32 = rest[..end].parse().ok()?;
    let tail = &rest[end..];
    let property = if tail.is_empty() {
        ""
    } else {
        let p = tail.strip_prefix('_')?;
        if p.is_empty() {
            return None;
        }
        p
    };
    Some((kind, num, property))
}

/// Lower-cases and replaces anything outside `[a-z0-9:_]` with `_`, trimming `_`.
pub fn clean_name(name: &str) -> String {
    let replaced: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    replaced.trim_matches('_').to_string()
}

type SensorData = BTreeMap<String, BTreeMap<String, String>>;

fn collect_sensor_files(dir: &Path, data: &mut SensorData) -> Result<(), CollectorError> {
    for file in list_dir(dir)? {
        let Some((kind, num, property)) = split_sensor_name(&file) else {
            continue;
        };
        if !SENSOR_TYPES.contains(&kind) {
            continue;
        }
        // Unreadable files (write-only, EAGAIN, …) are skipped.
        let Ok(value) = read_attr(&dir.join(&file)) else {
            continue;
        };
        data.entry(format!("{kind}{num}"))
            .or_default()
            .insert(property.to_string(), value);
    }
    Ok(())
}

/// The `chip` label: `<devtype>_<devname>` from the resolved `device` link, else the
/// cleaned `name` file, else the directory's own name.
fn chip_name(dir: &Path) -> Option<String> {
    if let Ok(dev) = std::fs::canonicalize(dir.join("device")) {
        let name = dev
            .file_name()
            .map(|n| clean_name(&n.to_string_lossy()))
            .unwrap_or_default();
        let kind = dev
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| clean_name(&n.to_string_lossy()))
            .unwrap_or_default();
        if !kind.is_empty() && !name.is_empty() {
            return Some(format!("{kind}_{name}"));
        }
        if !name.is_empty() {
            return Some(name);
        }
    }
    if let Ok(n) = read_attr(&dir.join("name")) {
        let n = clean_name(&n);
        if !n.is_empty() {
            return Some(n);
        }
    }
    let real = std::fs::canonicalize(dir).ok()?;
    let n = clean_name(&real.file_name()?.to_string_lossy());
    (!n.is_empty()).then_some(n)
}

/// Exports `node_hwmon_*`.
pub struct HwmonCollector {
    options: Arc<CollectorOptions>,
}

impl HwmonCollector {
    /// A collector reading `<sysfs>/class/hwmon`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        HwmonCollector { options }
    }

    fn update_chip(dir: &Path, out: &mut Families) -> Result<(), CollectorError> {
        let chip = chip_name(dir)
            .ok_or_else(|| CollectorError::parse(dir, "cannot derive a chip name"))?;
        let mut data = SensorData::new();
        collect_sensor_files(dir, &mut data)?;
        if dir.join("device").is_dir() {
            collect_sensor_files(&dir.join("device"), &mut data)?;
        }
        if let Ok(n) = read_attr(&dir.join("name")) {
            let n = clean_name(&n);
            if !n.is_empty() {
                out.gauge(
                    "node_hwmon_chip_names",
                    "Human-readable name of each chip; the value is always 1.",
                    labels(&[("chip", &chip), ("chip_name", &n)]),
                    1.0,
                );
            }
        }
        for (sensor, props) in &data {
            let Some((kind, _, _)) = split_sensor_name(sensor) else {
                continue;
            };
            let l = || labels(&[("chip", &chip), ("sensor", sensor)]);
            if let Some(label) = props.get("label") {
                out.gauge(
                    "node_hwmon_sensor_label",
                    "Label of each sensor; the value is always 1.",
                    labels(&[("chip", &chip), ("sensor", sensor), ("label", label)]),
                    1.0,
                );
            }
            match kind {
                "beep_enable" => {
                    let on = props.get("").is_some_and(|v| v == "1");
                    out.gauge(
                        "node_hwmon_beep_enabled",
                        "1 if the chip beeps on alarms.",
                        l(),
                        if on { 1.0 } else { 0.0 },
                    );
                    continue;
                }
                "vrm" => {
                    if let Some(v) = props.get("").and_then(|v| v.parse::<f64>().ok()) {
                        out.gauge(
                            "node_hwmon_voltage_regulator_version",
                            "Voltage regulator module version.",
                            l(),
                            v,
                        );
                    }
                    continue;
                }
                "update_interval" => {
                    if let Some(v) = props.get("").and_then(|v| v.parse::<f64>().ok()) {
                        out.gauge(
                            "node_hwmon_update_interval_seconds",
                            "Sensor update interval in seconds.",
                            l(),
                            v * 0.001,
                        );
                    }
                    continue;
                }
                _ => {}
            }
            let prefix = format!("node_hwmon_{kind}");
            for (element, raw) in props {
                if element == "label" {
                    continue;
                }
                let Ok(v) = raw.parse::<f64>() else { continue };
                let mut name = prefix.clone();
                if element == "input" {
                    if props.contains_key("") {
                        name.push_str("_input");
                    }
                } else if !element.is_empty() {
                    name.push('_');
                    name.push_str(&clean_name(element));
                }
                let (name, value, ty) = match (kind, element.as_str()) {
                    (_, "fault") | (_, "alarm") => (name, v, MetricType::Gauge),
                    (_, "beep") => (name + "_enabled", v, MetricType::Gauge),
                    ("in", _) | ("cpu", _) => (name + "_volts", v * 0.001, MetricType::Gauge),
                    ("temp", e) if e != "type" => (name + "_celsius", v * 0.001, MetricType::Gauge),
                    ("curr", _) => (name + "_amps", v * 0.001, MetricType::Gauge),
                    ("energy", _) => (name + "_joule_total", v / 1e6, MetricType::Counter),
                    ("power", "accuracy") => (name, v / 1e6, MetricType::Gauge),
                    (
                        "power",
                        "average_interval" | "average_interval_min" | "average_interval_max",
                    ) => (name + "_seconds", v * 0.001, MetricType::Gauge),
                    ("power", _) => (name + "_watt", v / 1e6, MetricType::Gauge),
                    ("humidity", _) => (name, v / 1e6, MetricType::Gauge),
                    ("fan", "input" | "min" | "max" | "target") => {
                        (name + "_rpm", v, MetricType::Gauge)
                    }
                    _ => (name, v, MetricType::Gauge),
                };
                let help = interned(format_args!(
                    "Hardware monitor {kind} sensor reading ({}).",
                    if element.is_empty() { "value" } else { element }
                ));
                out.add(interned(format_args!("{name}")), help, ty, l(), value);
            }
        }
        Ok(())
    }
}

impl HostCollector for HwmonCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let root = self.options.paths.sys("class/hwmon");
        let entries = match list_dir(&root) {
            Ok(e) => e,
            Err(CollectorError::Read { source, .. }) if source.kind() == ErrorKind::NotFound => {
                return Err(CollectorError::NoData(format!(
                    "{} does not exist",
                    root.display()
                )))
            }
            Err(e) => return Err(e),
        };
        let mut last_error = None;
        for entry in entries {
            let dir = root.join(entry);
            if !dir.is_dir() {
                continue;
            }
            if let Err(e) = Self::update_chip(&dir, out) {
                last_error = Some(e);
            }
        }
        last_error.map_or(Ok(()), Err)
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "hwmon",
    default_enabled: true,
    build: |options| Box::new(HwmonCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn fixture_values() {
        // Synthetic chip (this VM has no hwmon): tests/fixtures/sys/class/hwmon/hwmon0.
        let f = run(&HwmonCollector::new(fixture_options()));
        let t = [("chip", "coretemp"), ("sensor", "temp1")];
        assert_eq!(value(&f, "node_hwmon_temp_celsius", &t), 45.0);
        assert_eq!(value(&f, "node_hwmon_temp_crit_celsius", &t), 100.0);
        assert_eq!(value(&f, "node_hwmon_temp_crit_alarm_celsius", &t), 0.0);
        assert_eq!(
            value(&f, "node_hwmon_sensor_label", &[("label", "Package id 0")]),
            1.0
        );
        assert_eq!(value(&f, "node_hwmon_in_volts", &[("sensor", "in0")]), 1.2);
        assert_eq!(
            value(&f, "node_hwmon_fan_rpm", &[("sensor", "fan1")]),
            1200.0
        );
        assert_eq!(
            value(&f, "node_hwmon_power_average_watt", &[("sensor", "power1")]),
            15.0
        );
        assert_eq!(
            value(
                &f,
                "node_hwmon_energy_joule_total",
                &[("sensor", "energy1")]
            ),
            2.5
        );
        assert_eq!(
            type_of(&f, "node_hwmon_energy_joule_total"),
            MetricType::Counter
        );
        assert_eq!(
            value(&f, "node_hwmon_chip_names", &[("chip_name", "coretemp")]),
            1.0
        );
    }

    #[test]
    fn sensor_names() {
        assert_eq!(split_sensor_name("temp1_input"), Some(("temp", 1, "input")));
        assert_eq!(
            split_sensor_name("temp1_crit_alarm"),
            Some(("temp", 1, "crit_alarm"))
        );
        assert_eq!(split_sensor_name("pwm2"), Some(("pwm", 2, "")));
        assert_eq!(
            split_sensor_name("update_interval"),
            Some(("update_interval", 0, ""))
        );
        assert_eq!(split_sensor_name("in0input"), None);
        assert_eq!(split_sensor_name("1temp"), None);
        assert_eq!(split_sensor_name("temp1_"), None);
        assert_eq!(clean_name("Package id 0\n"), "package_id_0");
    }

    #[test]
    fn missing_class_is_no_data() {
        let dir = temp_dir("hwmon");
        let o = Arc::new(CollectorOptions::defaults(crate::HostPaths::under(&dir)).unwrap());
        assert!(HwmonCollector::new(o)
            .update(&mut Families::new())
            .unwrap_err()
            .is_no_data());
    }
}
