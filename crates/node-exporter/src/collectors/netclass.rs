//! `netclass` collector: interface properties (operational state, MTU, speed, carrier
//! changes, …) as `/sys/class/net/<iface>/` shows them.
//!
//! Two sources give the same values. sysfs: only the attributes node_exporter exports are
//! read (Go procfs reads every file in the directory); attributes the driver refuses
//! (`EINVAL` for the speed of a virtual device, `EOPNOTSUPP`, missing files, permission)
//! are left out, as upstream does. rtnetlink (see [`NetclassSource`]): one `RTM_GETLINK`
//! dump gives most attributes for every interface at once, and only `addr_assign_type`,
//! `dev_id`, `name_assign_type` and, for a running interface, `speed` and `duplex` are read
//! from sysfs; where the two differ in form, the netlink values are mapped to what sysfs
//! would show (flags, iflink, and the attributes sysfs refuses for a down interface).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dark_metrics::exposition::MetricType;

use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::{labels, Families};
use crate::intern::interned;
use crate::paths::HostPaths;
use crate::read::{list_dir, parse_i64_auto, SysDir};
use crate::rtnetlink::{dump_links, format_hardware_address, FallbackLog, Link, DUMP_TIMEOUT};

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

/// Where netclass reads interface properties (`--[no-]collector.netclass.netlink`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetclassSource {
    /// rtnetlink, falling back to sysfs (with a warning) when the dump fails, for instance
    /// where a sandbox refuses netlink sockets. The default when `--path.sysfs` is `/sys`.
    Auto,
    /// rtnetlink; a failed dump fails the collector (`--collector.netclass.netlink`).
    Netlink,
    /// sysfs attribute files only; the default for any other `--path.sysfs`, whose
    /// interfaces need not be those of this process's network namespace.
    Sysfs,
}

impl NetclassSource {
    /// The default for `paths`: [`NetclassSource::Auto`] when sysfs is `/sys`, else
    /// [`NetclassSource::Sysfs`].
    pub fn auto(paths: &HostPaths) -> Self {
        if paths.sysfs == Path::new("/sys") {
            NetclassSource::Auto
        } else {
            NetclassSource::Sysfs
        }
    }
}

/// An interface's attributes by their sysfs names.
trait Interface {
    /// A text attribute; `None` when the kernel has none to give.
    fn text(&self, attr: &str) -> Result<Option<String>, CollectorError>;
    /// A numeric attribute (decimal or `0x` hex in sysfs); `None` when absent.
    fn number(&self, attr: &str) -> Result<Option<i64>, CollectorError>;
}

/// An interface read from its sysfs directory.
struct SysfsInterface(SysDir);

impl Interface for SysfsInterface {
    fn text(&self, attr: &str) -> Result<Option<String>, CollectorError> {
        optional_attr(&self.0, attr)
    }

    fn number(&self, attr: &str) -> Result<Option<i64>, CollectorError> {
        Ok(self.text(attr)?.and_then(|raw| parse_i64_auto(&raw)))
    }
}

/// An interface from the link dump, with its sysfs directory (when it could be opened)
/// for what netlink does not carry.
struct NetlinkInterface<'a> {
    link: &'a Link,
    dir: Option<SysfsInterface>,
}

impl NetlinkInterface<'_> {
    /// sysfs answers `speed` and `duplex` of a running interface only.
    fn sysfs_attr<T>(
        &self,
        attr: &str,
        read: impl FnOnce(&SysfsInterface, &str) -> Result<Option<T>, CollectorError>,
    ) -> Result<Option<T>, CollectorError> {
        let refused = matches!(attr, "speed" | "duplex") && !self.link.is_running();
        match &self.dir {
            Some(dir) if !refused => read(dir, attr),
            _ => Ok(None),
        }
    }
}

impl Interface for NetlinkInterface<'_> {
    fn text(&self, attr: &str) -> Result<Option<String>, CollectorError> {
        let link = self.link;
        Ok(Some(match attr {
            "operstate" => link.operstate_name().to_string(),
            "address" => format_hardware_address(link.address.as_deref()),
            "broadcast" => format_hardware_address(link.broadcast.as_deref()),
            "ifalias" => link.alias.clone().unwrap_or_default(),
            _ => return self.sysfs_attr(attr, SysfsInterface::text),
        }))
    }

    fn number(&self, attr: &str) -> Result<Option<i64>, CollectorError> {
        let link = self.link;
        let running = link.is_running();
        Ok(match attr {
            "carrier" => link.carrier.filter(|_| running).map(i64::from),
            "carrier_changes" => link.carrier_changes.map(i64::from),
            "carrier_up_count" => link.carrier_up_count.map(i64::from),
            "carrier_down_count" => link.carrier_down_count.map(i64::from),
            "dormant" => link.dormant().map(i64::from),
            "flags" => Some(i64::from(link.sysfs_flags())),
            "ifindex" => Some(i64::from(link.index)),
            "iflink" => Some(link.iflink()),
            "link_mode" => link.link_mode.map(i64::from),
            "mtu" => link.mtu.map(i64::from),
            "netdev_group" => link.group.map(i64::from),
            "tx_queue_len" => link.tx_queue_len.map(i64::from),
            "type" => Some(i64::from(link.link_type)),
            _ => return self.sysfs_attr(attr, SysfsInterface::number),
        })
    }
}

/// Exports `node_network_up`, `node_network_info` and the numeric interface properties.
pub struct NetclassCollector {
    options: Arc<CollectorOptions>,
    /// Logs falling back to sysfs.
    fallback: FallbackLog,
}

impl NetclassCollector {
    /// A collector reading `<sysfs>/class/net` (and rtnetlink, per the options).
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        NetclassCollector {
            options,
            fallback: FallbackLog::default(),
        }
    }

    fn class_dir(&self) -> PathBuf {
        self.options.paths.sys("class/net")
    }

    fn update_sysfs(&self, out: &mut Families) -> Result<(), CollectorError> {
        let class_dir = self.class_dir();
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
            self.export(&dev, &SysfsInterface(dir), out)?;
        }
        Ok(())
    }

    fn update_netlink(&self, links: &[Link], out: &mut Families) -> Result<(), CollectorError> {
        let class_dir = self.class_dir();
        for link in links {
            if self.options.netclass_ignored_devices.is_match(&link.name) {
                continue;
            }
            // Without its sysfs directory (sysfs not mounted, or the interface is going
            // away) the sysfs-only attributes are left out.
            let dir = SysDir::open(&class_dir.join(&link.name))
                .ok()
                .map(SysfsInterface);
            self.export(&link.name, &NetlinkInterface { link, dir }, out)?;
        }
        Ok(())
    }

    /// Exports one interface's families.
    fn export(
        &self,
        dev: &str,
        iface: &impl Interface,
        out: &mut Families,
    ) -> Result<(), CollectorError> {
        let text = |attr: &str| -> Result<String, CollectorError> {
            Ok(iface.text(attr)?.unwrap_or_default())
        };
        let operstate = text("operstate")?;
        out.gauge(
            "node_network_up",
            "1 if the interface's operstate is up, else 0.",
            labels(&[("device", dev)]),
            if operstate == "up" { 1.0 } else { 0.0 },
        );
        out.gauge(
            "node_network_info",
            "Interface identity from /sys/class/net/<iface>; the value is always 1.",
            labels(&[
                ("device", dev),
                ("address", &text("address")?),
                ("broadcast", &text("broadcast")?),
                ("duplex", &text("duplex")?),
                ("operstate", &operstate),
                ("ifalias", &text("ifalias")?),
            ]),
            1.0,
        );
        for (file, suffix, ty) in NUMERIC {
            let Some(v) = iface.number(file)? else {
                continue;
            };
            out.add(
                interned(format_args!("node_network_{suffix}")),
                interned(format_args!(
                    "Interface property {suffix} from /sys/class/net/<iface>/{file}."
                )),
                ty,
                labels(&[("device", dev)]),
                v as f64,
            );
        }
        if let Some(speed) = iface.number("speed")? {
            if speed >= 0 || !self.options.netclass_ignore_invalid_speed {
                // Mbit/s to bytes/s, truncated like node_exporter's int64 conversion.
                let bytes = speed.saturating_mul(1_000_000) / 8;
                out.gauge(
                    "node_network_speed_bytes",
                    "Interface link speed in bytes per second.",
                    labels(&[("device", dev)]),
                    bytes as f64,
                );
            }
        }
        Ok(())
    }
}

impl HostCollector for NetclassCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let links = match self.options.netclass_source {
            NetclassSource::Sysfs => return self.update_sysfs(out),
            NetclassSource::Netlink => dump_links(DUMP_TIMEOUT).map_err(CollectorError::Netlink)?,
            NetclassSource::Auto => match dump_links(DUMP_TIMEOUT) {
                Ok(links) => links,
                Err(e) => {
                    self.fallback.record(
                        "netclass",
                        &e,
                        "sysfs",
                        "--no-collector.netclass.netlink makes that the choice and silences this",
                    );
                    return self.update_sysfs(out);
                }
            },
        };
        self.update_netlink(&links, out)
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "netclass",
    default_enabled: true,
    build: |options| Box::new(NetclassCollector::new(options)),
};

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

    /// Options reading this machine's `/sys`, from `source`.
    fn live(source: NetclassSource) -> Arc<CollectorOptions> {
        let mut o = CollectorOptions::defaults(crate::HostPaths::default()).unwrap();
        assert_eq!(o.netclass_source, NetclassSource::Auto);
        o.netclass_source = source;
        Arc::new(o)
    }

    #[test]
    fn netlink_and_sysfs_agree_on_this_host() {
        // Carrier counters could move between the two reads; three tries.
        let mut last = None;
        for _ in 0..3 {
            let netlink = run(&NetclassCollector::new(live(NetclassSource::Netlink)));
            let sysfs = run(&NetclassCollector::new(live(NetclassSource::Sysfs)));
            assert!(count(&netlink, "node_network_up") >= 1, "lo at least");
            if netlink == sysfs {
                return;
            }
            last = Some((netlink, sysfs));
        }
        let (netlink, sysfs) = last.unwrap();
        assert_eq!(netlink, sysfs);
    }

    #[test]
    fn fixture_trees_are_read_from_sysfs() {
        assert_eq!(fixture_options().netclass_source, NetclassSource::Sysfs);
    }

    #[test]
    fn netlink_attributes_map_to_what_sysfs_shows() {
        let down = Link {
            index: 6,
            link_type: 1,
            flags: 0x1002,
            name: "mv0".into(),
            parent: Some(4),
            carrier: Some(0),
            operstate: Some(2),
            carrier_changes: Some(3),
            ..Link::default()
        };
        let iface = NetlinkInterface {
            link: &down,
            dir: None,
        };
        // sysfs refuses these of an interface that is down.
        for attr in ["carrier", "dormant", "speed", "dev_id"] {
            assert_eq!(iface.number(attr).unwrap(), None, "{attr}");
        }
        assert_eq!(iface.text("duplex").unwrap(), None);
        assert_eq!(iface.number("iflink").unwrap(), Some(4));
        assert_eq!(iface.number("carrier_changes").unwrap(), Some(3));
        assert_eq!(iface.text("operstate").unwrap().as_deref(), Some("down"));
        assert_eq!(iface.text("address").unwrap().as_deref(), Some(""));
        let mut f = Families::new();
        NetclassCollector::new(fixture_options())
            .export("mv0", &iface, &mut f)
            .unwrap();
        let f = f.into_sorted_vec();
        assert_eq!(
            value(&f, "node_network_iface_link", &[("device", "mv0")]),
            4.0
        );
        assert_eq!(value(&f, "node_network_up", &[("device", "mv0")]), 0.0);
        assert_eq!(count(&f, "node_network_carrier"), 0);
        assert_eq!(count(&f, "node_network_speed_bytes"), 0);
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
