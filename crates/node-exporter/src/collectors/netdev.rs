//! `netdev` collector: per-interface traffic counters as `node_network_<key>_total{device}`.
//!
//! node_exporter 1.5.0 asks netlink (`RTM_GETLINK`) by default and folds the counters into
//! the `/proc/net/dev` names; so does this collector, with one rtnetlink dump (see
//! [`crate::rtnetlink`]), when procfs is this process's own `/proc`. The kernel builds
//! `/proc/net/dev` from the same `rtnl_link_stats64` with the same folding, so with another
//! `--path.procfs`, or where netlink is refused, it reads `/proc/net/dev` and adds the one
//! figure only netlink has, `receive_nohandler`, from
//! `/sys/class/net/<dev>/statistics/rx_nohandler`: same names, same values.
//! `--no-collector.netdev.netlink` reads `/proc/net/dev` only and leaves `receive_nohandler`
//! out, as upstream does. `--collector.netdev.enable-detailed-metrics` exports every
//! unfolded counter (from the dump, or from sysfs).

use std::path::Path;
use std::sync::Arc;

use dark_metrics::exposition::Text;

use super::{HostCollector, CollectorOptions, FieldMemo, FieldPass};
use crate::error::CollectorError;
use crate::families::{labels, Families};
use crate::intern::interned;
use crate::read::{read_text, read_u64};
use crate::rtnetlink::{dump_links, FallbackLog, Link, LinkStats, DUMP_TIMEOUT, STATS64_FIELDS};

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

/// The sixteen `/proc/net/dev` columns, in its order, as the kernel folds them from
/// `rtnl_link_stats64`: dropped includes missed, frame sums the length, overrun, CRC and
/// frame errors, carrier sums the carrier, aborted, window and heartbeat errors. Counters
/// wrap on overflow as the kernel's sums do.
pub fn proc_columns(stats: &LinkStats) -> [u64; 16] {
    let f = |name: &str| stats.get(name).unwrap_or(0);
    let sum = |names: &[&str]| names.iter().fold(0u64, |acc, n| acc.wrapping_add(f(n)));
    [
        f("rx_bytes"),
        f("rx_packets"),
        f("rx_errors"),
        sum(&["rx_dropped", "rx_missed_errors"]),
        f("rx_fifo_errors"),
        sum(&[
            "rx_length_errors",
            "rx_over_errors",
            "rx_crc_errors",
            "rx_frame_errors",
        ]),
        f("rx_compressed"),
        f("multicast"),
        f("tx_bytes"),
        f("tx_packets"),
        f("tx_errors"),
        f("tx_dropped"),
        f("tx_fifo_errors"),
        f("collisions"),
        sum(&[
            "tx_carrier_errors",
            "tx_aborted_errors",
            "tx_window_errors",
            "tx_heartbeat_errors",
        ]),
        f("tx_compressed"),
    ]
}

/// The detailed-mode key of an `rtnl_link_stats64` field: `rx_` becomes `receive_`, `tx_`
/// becomes `transmit_`.
fn detailed_key(field: &str) -> String {
    if let Some(rest) = field.strip_prefix("rx_") {
        format!("receive_{rest}")
    } else if let Some(rest) = field.strip_prefix("tx_") {
        format!("transmit_{rest}")
    } else {
        field.to_string()
    }
}

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
    /// Whether the counters come from an rtnetlink dump (else from files).
    via_netlink: bool,
    /// Logs falling back to the files.
    fallback: FallbackLog,
}

impl NetdevCollector {
    /// A collector dumping the links over rtnetlink when procfs is `/proc` and
    /// `netdev_netlink` is on, else reading `<procfs>/net/dev` and
    /// `<sysfs>/class/net/*/statistics`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        let via_netlink = options.netdev_netlink && options.paths.procfs == Path::new("/proc");
        NetdevCollector {
            options,
            ignored: FieldMemo::default(),
            names: FieldMemo::default(),
            via_netlink,
            fallback: FallbackLog::default(),
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

    /// One device's folded counters (and `receive_nohandler`, when known and wanted).
    fn export_folded(
        &self,
        out: &mut Families,
        names: &mut FieldPass<'_, (Text, Text)>,
        dev: &str,
        counters: [u64; 16],
        nohandler: Option<u64>,
    ) {
        for (key, v) in PROC_KEYS.iter().zip(counters) {
            let key = if self.options.netdev_detailed {
                key
            } else {
                legacy_name(key)
            };
            Self::emit(out, names, dev, key, v);
        }
        if let (true, Some(v)) = (self.options.netdev_netlink, nohandler) {
            Self::emit(out, names, dev, "receive_nohandler", v);
        }
    }

    fn export_links(&self, links: &[Link], out: &mut Families) {
        let mut ignored = self.ignored.pass();
        let mut names = self.names.pass();
        for link in links {
            let filter = &self.options.netdev_devices;
            let Some(stats) = &link.stats else {
                continue;
            };
            if ignored.get_or(&link.name, || filter.ignored(&link.name)) {
                continue;
            }
            if self.options.netdev_detailed {
                for (field, v) in stats.iter() {
                    Self::emit(out, &mut names, &link.name, &detailed_key(field), v);
                }
            } else {
                let nohandler = stats.get("rx_nohandler");
                self.export_folded(out, &mut names, &link.name, proc_columns(stats), nohandler);
            }
        }
    }

    fn update_from_files(&self, out: &mut Families) -> Result<(), CollectorError> {
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
                for file in STATS64_FIELDS {
                    if let Ok(v) = read_u64(&stats_dir.join(file)) {
                        Self::emit(out, &mut names, &dev, &detailed_key(file), v);
                    }
                }
                continue;
            }
            let nohandler = if self.options.netdev_netlink {
                read_u64(&stats_dir.join("rx_nohandler")).ok()
            } else {
                None
            };
            self.export_folded(out, &mut names, &dev, counters, nohandler);
        }
        Ok(())
    }
}

impl HostCollector for NetdevCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        if self.via_netlink {
            match dump_links(DUMP_TIMEOUT) {
                Ok(links) => {
                    self.export_links(&links, out);
                    return Ok(());
                }
                Err(e) => self.fallback.record(
                    "netdev",
                    &e,
                    "/proc/net/dev and sysfs",
                    "the counters are the same",
                ),
            }
        }
        self.update_from_files(out)
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "netdev",
    default_enabled: true,
    build: |options| Box::new(NetdevCollector::new(options)),
};

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

    /// A collector on this machine's `/proc` and `/sys`, from netlink or from the files.
    fn live(netlink: bool, detailed: bool) -> NetdevCollector {
        let mut o = CollectorOptions::defaults(crate::HostPaths::default()).unwrap();
        o.netdev_detailed = detailed;
        let mut c = NetdevCollector::new(Arc::new(o));
        assert!(c.via_netlink, "the live default is netlink");
        c.via_netlink = netlink;
        c
    }

    /// Every series of `f` with its value, as `name{device}`.
    fn series(f: &[dark_metrics::exposition::MetricFamily]) -> Vec<(String, f64)> {
        f.iter()
            .flat_map(|fam| {
                fam.samples
                    .iter()
                    .map(move |s| (format!("{}{:?}", fam.name, s.labels), s.value))
            })
            .collect()
    }

    #[test]
    fn netlink_and_files_agree_on_this_host() {
        for detailed in [false, true] {
            // Counters move: the netlink read must lie between two file reads.
            let before = series(&run(&live(false, detailed)));
            let netlink = series(&run(&live(true, detailed)));
            let after = series(&run(&live(false, detailed)));
            let names = |s: &[(String, f64)]| s.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
            assert_eq!(names(&before), names(&netlink), "detailed {detailed}");
            assert_eq!(names(&after), names(&netlink), "detailed {detailed}");
            assert!(netlink.iter().any(|(n, _)| n.contains("receive_nohandler")));
            for ((b, n), a) in before.iter().zip(&netlink).zip(&after) {
                assert!(b.1 <= n.1 && n.1 <= a.1, "{}: {} {} {}", n.0, b.1, n.1, a.1);
            }
        }
    }

    #[test]
    fn folding_matches_proc_net_dev() {
        // Each field a distinct power of two, so every sum shows which fields it took.
        let mut raw = Vec::new();
        for i in 0..24u32 {
            raw.extend_from_slice(&(1u64 << i).to_ne_bytes());
        }
        let mut msg = vec![0u8; 16];
        msg.extend_from_slice(&[8, 0, 3, 0, b'x', 0, 0, 0]);
        msg.extend_from_slice(&((4 + raw.len()) as u16).to_ne_bytes());
        msg.extend_from_slice(&23u16.to_ne_bytes());
        msg.extend_from_slice(&raw);
        let mut dgram = Vec::new();
        dgram.extend_from_slice(&((16 + msg.len()) as u32).to_ne_bytes());
        dgram.extend_from_slice(&16u16.to_ne_bytes());
        dgram.extend_from_slice(&[0; 10]);
        dgram.extend_from_slice(&msg);
        let mut d = crate::rtnetlink::LinkDecoder::new(0);
        d.feed(&dgram).unwrap();
        let stats = d.into_links()[0].stats.unwrap();
        let bit = |name: &str| 1u64 << STATS64_FIELDS.iter().position(|f| *f == name).unwrap();
        let cols = proc_columns(&stats);
        assert_eq!(cols[0], bit("rx_bytes"));
        assert_eq!(cols[1], bit("rx_packets"));
        assert_eq!(cols[3], bit("rx_dropped") | bit("rx_missed_errors"));
        assert_eq!(
            cols[5],
            bit("rx_length_errors")
                | bit("rx_over_errors")
                | bit("rx_crc_errors")
                | bit("rx_frame_errors")
        );
        assert_eq!(cols[7], bit("multicast"));
        assert_eq!(cols[13], bit("collisions"));
        assert_eq!(
            cols[14],
            bit("tx_carrier_errors")
                | bit("tx_aborted_errors")
                | bit("tx_window_errors")
                | bit("tx_heartbeat_errors")
        );
        assert_eq!(cols[15], bit("tx_compressed"));
        // Every field but rx_nohandler lands in exactly one column.
        let all = cols.iter().fold(0, |acc, c| {
            assert_eq!(acc & c, 0);
            acc | c
        });
        assert_eq!(all, (1 << 23) - 1);
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
