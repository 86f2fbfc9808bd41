//! `netstat` collector: protocol counters from `/proc/net/netstat`, `/proc/net/snmp` and
//! `/proc/net/snmp6` as untyped `node_netstat_<Protocol>_<Field>`, filtered by
//! `--collector.netstat.fields`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::{Collector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::Families;
use crate::read::read_text;

type ProtoStats = BTreeMap<String, BTreeMap<String, String>>;

/// Parses header/value line pairs (`Tcp: A B` then `Tcp: 1 2`).
pub fn parse_paired(path: &Path, text: &str) -> Result<ProtoStats, CollectorError> {
    let mut out = ProtoStats::new();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    while let Some(header) = lines.next() {
        let Some(values) = lines.next() else {
            return Err(CollectorError::parse(
                path,
                format!("header line without values: {header:?}"),
            ));
        };
        let names: Vec<&str> = header.split_ascii_whitespace().collect();
        let vals: Vec<&str> = values.split_ascii_whitespace().collect();
        let (Some(proto), Some(vproto)) = (
            names.first().and_then(|n| n.strip_suffix(':')),
            vals.first(),
        ) else {
            return Err(CollectorError::parse(
                path,
                format!("line without protocol prefix: {header:?}"),
            ));
        };
        if names.len() != vals.len() || vproto.strip_suffix(':') != Some(proto) {
            return Err(CollectorError::parse(
                path,
                format!("header and value lines of {proto} do not match"),
            ));
        }
        let entry = out.entry(proto.to_string()).or_default();
        for (n, v) in names[1..].iter().zip(&vals[1..]) {
            entry.insert(n.to_string(), v.to_string());
        }
    }
    Ok(out)
}

/// Parses `/proc/net/snmp6` (`Ip6InReceives 12` lines; the protocol ends at the first `6`).
pub fn parse_snmp6(text: &str) -> ProtoStats {
    let mut out = ProtoStats::new();
    for line in text.lines() {
        let mut parts = line.split_ascii_whitespace();
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        if let Some(i) = key.find('6') {
            out.entry(key[..=i].to_string())
                .or_default()
                .insert(key[i + 1..].to_string(), value.to_string());
        }
    }
    out
}

/// Exports `node_netstat_*`.
pub struct NetstatCollector {
    options: Arc<CollectorOptions>,
}

impl NetstatCollector {
    /// A collector reading `<procfs>/net/{netstat,snmp,snmp6}`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        NetstatCollector { options }
    }
}

impl Collector for NetstatCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let p = &self.options.paths;
        let netstat_path = p.proc("net/netstat");
        let mut stats = parse_paired(&netstat_path, &read_text(&netstat_path)?)?;
        let snmp_path = p.proc("net/snmp");
        stats.extend(parse_paired(&snmp_path, &read_text(&snmp_path)?)?);
        match read_text(&p.proc("net/snmp6")) {
            Ok(text) => stats.extend(parse_snmp6(&text)),
            // No IPv6 on this host.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        for (proto, fields) in &stats {
            for (field, raw) in fields {
                let value: f64 = raw.parse().map_err(|e| {
                    CollectorError::parse(
                        &netstat_path,
                        format!("bad value {raw:?} for {proto} {field}: {e}"),
                    )
                })?;
                let key = format!("{proto}_{field}");
                if !self.options.netstat_fields.is_match(&key) {
                    continue;
                }
                let help = format!("Protocol statistic {proto}{field}.");
                out.untyped(&format!("node_netstat_{key}"), &help, vec![], value);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;
    use dark_metrics::exposition::MetricType;

    fn field(file: &str, proto: &str, name: &str) -> f64 {
        let text = std::fs::read_to_string(format!(
            "{}/tests/fixtures/proc/net/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let stats = if file == "snmp6" {
            parse_snmp6(&text)
        } else {
            parse_paired(Path::new(file), &text).unwrap()
        };
        stats[proto][name].parse().unwrap()
    }

    #[test]
    fn fixture_values() {
        let f = run(&NetstatCollector::new(fixture_options()));
        assert_eq!(
            value(&f, "node_netstat_Tcp_InSegs", &[]),
            field("snmp", "Tcp", "InSegs")
        );
        assert_eq!(
            value(&f, "node_netstat_TcpExt_ListenDrops", &[]),
            field("netstat", "TcpExt", "ListenDrops")
        );
        assert_eq!(
            value(&f, "node_netstat_Ip6_InOctets", &[]),
            field("snmp6", "Ip6", "InOctets")
        );
        assert_eq!(type_of(&f, "node_netstat_Tcp_InSegs"), MetricType::Unknown);
        assert!(
            f.iter().all(|x| x.name != "node_netstat_Tcp_MaxConn"),
            "filtered out by default"
        );
    }

    #[test]
    fn known_values() {
        let s = parse_paired(Path::new("t"), "Tcp: RtoMin CurrEstab\nTcp: 200 -1\n").unwrap();
        assert_eq!(s["Tcp"]["CurrEstab"], "-1");
        let s6 = parse_snmp6("Udp6InErrors  4\nUdpLite6OutDatagrams 2\nIcmp6InMsgs 3\n");
        assert_eq!(s6["Udp6"]["InErrors"], "4");
        assert_eq!(s6["UdpLite6"]["OutDatagrams"], "2");
    }

    #[test]
    fn malformed() {
        for bad in [
            "Tcp: A B\n",
            "Tcp: A B\nTcp: 1\n",
            "Tcp A\nTcp 1\n",
            "Tcp: A\nUdp: 1\n",
        ] {
            assert!(parse_paired(Path::new("t"), bad).is_err(), "{bad:?}");
        }
    }
}
