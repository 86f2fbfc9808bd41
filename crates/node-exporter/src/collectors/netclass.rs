//! `netclass` collector: interface properties from `/sys/class/net/<iface>/` (operational
//! state, MTU, speed, carrier changes, …).
//!
//! Only the attributes node_exporter exports are read (Go procfs reads every file in the
//! directory). Attributes the driver refuses (`EINVAL` for the speed of a virtual device,
//! `EOPNOTSUPP`, missing files, permission) are left out, as upstream does.

use std::io::ErrorKind;
use std::sync::Arc;

use dark_metrics::exposition::MetricType;

use super::{Collector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::{labels, Families};
use crate::intern::interned;
use crate::read::{list_dir, parse_i64_auto, SysDir};

/// (sysfs file, metric suffix, type) of the numeric attributes.
const NUMERIC: [(&str, &str, MetricType); 16] = [
    ("addr_assign_type", "address_assign_type", MetricType::Gauge),
    ("carrier", "carrier", MetricType::Gauge),
    (
        "carrier_changes",
        "carrier_changes_total",
        MetricType::Counter,
    ),
    (
        "carrier_up_count",
        "carrier_up_changes_total",
        MetricType::Counter,
    ),
    (
        "carrier_down_count",
        "carrier_down_changes_total",
        MetricType::Counter,
    ),
    ("dev_id", "device_id", MetricType::Gauge),
    ("dormant", "dormant", MetricType::Gauge),
    ("flags", "flags", MetricType::Gauge),
    ("ifindex", "iface_id", MetricType::Gauge),
    ("iflink", "iface_link", MetricType::Gauge),
    ("link_mode", "iface_link_mode", MetricType::Gauge),
    ("mtu", "mtu_bytes", MetricType::Gauge),
    ("name_assign_type", "name_assign_type", MetricType::Gauge),
    ("netdev_group", "net_dev_group", MetricType::Gauge),
    ("tx_queue_len", "transmit_queue_length", MetricType::Gauge),
    ("type", "protocol_type", MetricType::Gauge),
];

/// Reads an attribute; `Ok(None)` when the kernel has none to give.
fn optional_attr(dir: &SysDir, name: &str) -> Result<Option<String>, CollectorError> {
    match dir.attr(name) {
        Ok(v) => Ok(Some(v)),
        Err(CollectorError::Read { source, .. })
            if matches!(
                source.kind(),
                ErrorKind::NotFound
                    | ErrorKind::PermissionDenied
                    | ErrorKind::InvalidInput
                    | ErrorKind::Unsupported
            ) || matches!(
                source.raw_os_error(),
                Some(libc::EOPNOTSUPP) | Some(libc::EINVAL)
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Exports `node_network_up`, `node_network_info` and the numeric interface properties.
pub struct NetclassCollector {
    options: Arc<CollectorOptions>,
}

impl NetclassCollector {
    /// A collector reading `<sysfs>/class/net`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        NetclassCollector { options }
    }
}

impl Collector for NetclassCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let class_dir = self.options.paths.sys("class/net");
        let names = match list_dir(&class_dir) {
            Ok(n) => n,
            Err(CollectorError::Read { source, .. })
                if matches!(
                    source.kind(),
                    ErrorKind::NotFound | ErrorKind::PermissionDenied
                ) =>
            {
                return Err(CollectorError::NoData(format!(
                    "{} is not readable",
                    class_dir.display()
                )))
            }
            Err(e) => return Err(e),
        };
        for dev in names {
            if self.options.netclass_ignored_devices.is_match(&dev) {
                continue;
            }
            // `bonding_masters` and other plain files are not interfaces.
            let dir = match SysDir::open(&class_dir.join(&dev)) {
                Ok(d) => d,
                Err(CollectorError::Read { source, .. })
                    if source.raw_os_error() == Some(libc::ENOTDIR) =>
                {
                    continue
                }
                // The interface went away between listing and opening.
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            };
            let text = |f: &str| -> Result<String, CollectorError> {
                Ok(optional_attr(&dir, f)?.unwrap_or_default())
            };
            let operstate = text("operstate")?;
            out.gauge(
                "node_network_up",
                "1 if the interface's operstate is up, else 0.",
                labels(&[("device", &dev)]),
                if operstate == "up" { 1.0 } else { 0.0 },
            );
            out.gauge(
                "node_network_info",
                "Interface identity from /sys/class/net/<iface>; the value is always 1.",
                labels(&[
                    ("device", &dev),
                    ("address", &text("address")?),
                    ("broadcast", &text("broadcast")?),
                    ("duplex", &text("duplex")?),
                    ("operstate", &operstate),
                    ("ifalias", &text("ifalias")?),
                ]),
                1.0,
            );
            for (file, suffix, ty) in NUMERIC {
                let Some(raw) = optional_attr(&dir, file)? else {
                    continue;
                };
                let Some(v) = parse_i64_auto(&raw) else {
                    continue;
                };
                out.add(
                    interned(format_args!("node_network_{suffix}")),
                    interned(format_args!(
                        "Interface property {suffix} from /sys/class/net/<iface>/{file}."
                    )),
                    ty,
                    labels(&[("device", &dev)]),
                    v as f64,
                );
            }
            if let Some(speed) = optional_attr(&dir, "speed")?.and_then(|s| parse_i64_auto(&s)) {
                if speed >= 0 || !self.options.netclass_ignore_invalid_speed {
                    // Mbit/s to bytes/s, truncated like node_exporter's int64 conversion.
                    let bytes = speed.saturating_mul(1_000_000) / 8;
                    out.gauge(
                        "node_network_speed_bytes",
                        "Interface link speed in bytes per second.",
                        labels(&[("device", &dev)]),
                        bytes as f64,
                    );
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn fixture_values() {
        let f = run(&NetclassCollector::new(fixture_options()));
        assert_eq!(
            value(&f, "node_network_mtu_bytes", &[("device", "eth0")]),
            1400.0
        );
        assert_eq!(
            value(&f, "node_network_mtu_bytes", &[("device", "lo")]),
            65536.0
        );
        assert_eq!(value(&f, "node_network_up", &[("device", "eth0")]), 1.0);
        // flags are hex in sysfs: eth0 0x1003.
        assert_eq!(
            value(&f, "node_network_flags", &[("device", "eth0")]),
            4099.0
        );
        assert_eq!(
            value(
                &f,
                "node_network_info",
                &[
                    ("device", "eth0"),
                    ("operstate", "up"),
                    ("duplex", "unknown")
                ]
            ),
            1.0
        );
        assert_eq!(
            type_of(&f, "node_network_carrier_changes_total"),
            MetricType::Counter
        );
        // eth0 (virtio) reports speed -1 ("unknown"); exported as -125000 like node_exporter.
        assert_eq!(
            value(&f, "node_network_speed_bytes", &[("device", "eth0")]),
            -125000.0
        );
        assert_eq!(count(&f, "node_network_speed_bytes"), 1);
        assert_eq!(count(&f, "node_network_up"), 2);
    }

    #[test]
    fn missing_class_dir_is_no_data() {
        let dir = temp_dir("netclass");
        let o = Arc::new(CollectorOptions::defaults(crate::HostPaths::under(&dir)).unwrap());
        let err = NetclassCollector::new(o)
            .update(&mut Families::new())
            .unwrap_err();
        assert!(err.is_no_data());
    }
}
