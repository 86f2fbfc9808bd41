//! `netdev` collector: per-interface traffic counters as `node_network_<key>_total{device}`.
//!
//! node_exporter 1.5.0 asks netlink (`RTM_GETLINK`) by default and folds the result into
//! the `/proc/net/dev` names. The kernel builds `/proc/net/dev` from the same
//! `rtnl_link_stats64` with the same folding, so this collector reads `/proc/net/dev` and
//! adds the one figure only netlink had, `receive_nohandler`, from
//! `/sys/class/net/<dev>/statistics/rx_nohandler`. `--no-collector.netdev.netlink` leaves it
//! out, as upstream does. `--collector.netdev.enable-detailed-metrics` reads every unfolded
//! statistic from sysfs.

use std::path::Path;
use std::sync::Arc;

use dark_metrics::exposition::Text;

use super::{Collector, CollectorOptions, FieldMemo, FieldPass};
use crate::error::CollectorError;
use crate::families::{labels, Families};
use crate::intern::interned;
use crate::read::{read_text, read_u64};

/// `/proc/net/dev` columns, in order, with their raw key names.
const PROC_KEYS: [&str; 16] = [
    "receive_bytes",
    "receive_packets",
    "receive_errors",
    "receive_dropped",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errors",
    "transmit_dropped",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
];

/// sysfs `statistics/` files read in detailed mode (`rtnl_link_stats64` fields).
const SYSFS_STATS: [&str; 24] = [
    "rx_packets",
    "tx_packets",
    "rx_bytes",
    "tx_bytes",
    "rx_errors",
    "tx_errors",
    "rx_dropped",
    "tx_dropped",
    "multicast",
    "collisions",
    "rx_length_errors",
    "rx_over_errors",
    "rx_crc_errors",
    "rx_frame_errors",
    "rx_fifo_errors",
    "rx_missed_errors",
    "tx_aborted_errors",
    "tx_carrier_errors",
    "tx_fifo_errors",
    "tx_heartbeat_errors",
    "tx_window_errors",
    "rx_compressed",
    "tx_compressed",
    "rx_nohandler",
];

/// Parses `/proc/net/dev` into (device, 16 counters).
pub fn parse_net_dev(path: &Path, text: &str) -> Result<Vec<(String, [u64; 16])>, CollectorError> {
    let mut out = Vec::new();
    for line in text.lines().skip(2) {
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, rest)) = line.split_once(':') else {
            return Err(CollectorError::parse(
                path,
                format!("line without interface name: {line:?}"),
            ));
        };
        let values: Vec<&str> = rest.split_ascii_whitespace().collect();
        if values.len() != 16 {
            return Err(CollectorError::parse(
                path,
                format!("expected 16 counters, got {}: {line:?}", values.len()),
            ));
        }
        let mut counters = [0u64; 16];
        for (i, v) in values.iter().enumerate() {
            counters[i] = v.parse().map_err(|e| {
                CollectorError::parse(path, format!("bad counter {v:?} in {line:?}: {e}"))
            })?;
        }
        out.push((name.trim().to_string(), counters));
    }
    Ok(out)
}

/// The legacy (`/proc/net/dev`-style) name of a raw key.
fn legacy_name(key: &str) -> &str {
    match key {
        "receive_errors" => "receive_errs",
        "receive_dropped" => "receive_drop",
        "transmit_errors" => "transmit_errs",
        "transmit_dropped" => "transmit_drop",
        other => other,
    }
}

/// Exports `node_network_*_total`.
pub struct NetdevCollector {
    options: Arc<CollectorOptions>,
    /// Per device line: whether the device filter drops the device.
    ignored: FieldMemo,
    /// Per sample, in scrape order: the family name and help text of its key.
    names: FieldMemo<(Text, Text)>,
}

impl NetdevCollector {
    /// A collector reading `<procfs>/net/dev` and `<sysfs>/class/net/*/statistics`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        NetdevCollector {
            options,
            ignored: FieldMemo::default(),
            names: FieldMemo::default(),
        }
    }

    fn emit(
        out: &mut Families,
        names: &mut FieldPass<'_, (Text, Text)>,
        dev: &str,
        key: &str,
        value: u64,
    ) {
        let (name, help) = names.get_or(key, || {
            (
                interned(format_args!("node_network_{key}_total")),
                interned(format_args!("Network device statistic {key}.")),
            )
        });
        out.counter(name, help, labels(&[("device", dev)]), value as f64);
    }
}

impl Collector for NetdevCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let path = self.options.paths.proc("net/dev");
        let devices = parse_net_dev(&path, &read_text(&path)?)?;
        let mut ignored = self.ignored.pass();
        let mut names = self.names.pass();
        for (dev, counters) in devices {
            let filter = &self.options.netdev_devices;
            if ignored.get_or(&dev, || filter.ignored(&dev)) {
                continue;
            }
            let stats_dir = self
                .options
                .paths
                .sys("class/net")
                .join(&dev)
                .join("statistics");
            if self.options.netdev_detailed && self.options.netdev_netlink {
                for file in SYSFS_STATS {
                    if let Ok(v) = read_u64(&stats_dir.join(file)) {
                        let key = if let Some(rest) = file.strip_prefix("rx_") {
                            format!("receive_{rest}")
                        } else if let Some(rest) = file.strip_prefix("tx_") {
                            format!("transmit_{rest}")
                        } else {
                            file.to_string()
                        };
                        Self::emit(out, &mut names, &dev, &key, v);
                    }
                }
                continue;
            }
            for (key, v) in PROC_KEYS.iter().zip(counters) {
                let key = if self.options.netdev_detailed {
                    key
                } else {
                    legacy_name(key)
                };
                Self::emit(out, &mut names, &dev, key, v);
            }
            if self.options.netdev_netlink {
                if let Ok(v) = read_u64(&stats_dir.join("rx_nohandler")) {
                    Self::emit(out, &mut names, &dev, "receive_nohandler", v);
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
        // eth0: 157353429 5846 0 0 0 0 0 0 364315 3253 0 0 0 0 0 0
        let f = run(&NetdevCollector::new(fixture_options()));
        assert_eq!(
            value(
                &f,
                "node_network_receive_bytes_total",
                &[("device", "eth0")]
            ),
            157353429.0
        );
        assert_eq!(
            value(
                &f,
                "node_network_transmit_packets_total",
                &[("device", "eth0")]
            ),
            3253.0
        );
        assert_eq!(
            value(&f, "node_network_receive_drop_total", &[("device", "lo")]),
            0.0
        );
        assert_eq!(count(&f, "node_network_receive_bytes_total"), 4);
        // rx_nohandler exists in the fixture for lo and eth0 only.
        assert_eq!(count(&f, "node_network_receive_nohandler_total"), 2);
        assert_eq!(f.len(), 17);
    }

    #[test]
    fn filter_and_proc_only_mode() {
        let mut o = (*fixture_options()).clone();
        o.netdev_devices = super::super::DeviceFilter::new("x", "^lo$", "y", "").unwrap();
        o.netdev_netlink = false;
        let f = run(&NetdevCollector::new(Arc::new(o)));
        assert_eq!(count(&f, "node_network_receive_bytes_total"), 3);
        assert_eq!(count(&f, "node_network_receive_nohandler_total"), 0);
    }

    #[test]
    fn malformed() {
        let head = "h1\nh2\n";
        for bad in [
            "eth0 1 2 3\n",
            "eth0: 1 2 3\n",
            "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n",
        ] {
            assert!(
                parse_net_dev(Path::new("t"), &format!("{head}{bad}")).is_err(),
                "{bad:?}"
            );
        }
        let ok = parse_net_dev(
            Path::new("t"),
            "h1\nh2\n  eth1:1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
        )
        .unwrap();
        assert_eq!(ok[0].0, "eth1");
        assert_eq!(ok[0].1[15], 16);
    }
}
