//! `netstat` collector: protocol counters from `/proc/net/netstat`, `/proc/net/snmp` and
//! `/proc/net/snmp6` as untyped `node_netstat_<Protocol>_<Field>`, filtered by
//! `--collector.netstat.fields`.

use std::path::Path;
use std::sync::Arc;

use dark_metrics::exposition::Text;

use super::{HostCollector, CollectorOptions, FieldMemo};
use crate::error::CollectorError;
use crate::families::Families;
use crate::intern::interned;
use crate::read::read_text;

/// One statistic: (protocol, field, raw value), borrowed from the file's text.
pub type Stat<'a> = (&'a str, &'a str, &'a str);

/// Parses header/value line pairs (`Tcp: A B` then `Tcp: 1 2`).
pub fn parse_paired<'a>(path: &Path, text: &'a str) -> Result<Vec<Stat<'a>>, CollectorError> {
    let mut out = Vec::with_capacity(512);
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    while let Some(header) = lines.next() {
        let Some(values) = lines.next() else {
            return Err(CollectorError::parse(
                path,
                format!("header line without values: {header:?}"),
            ));
        };
        let mut names = header.split_ascii_whitespace();
        let mut vals = values.split_ascii_whitespace();
        let (Some(proto), Some(vproto)) =
            (names.next().and_then(|n| n.strip_suffix(':')), vals.next())
        else {
            return Err(CollectorError::parse(
                path,
                format!("line without protocol prefix: {header:?}"),
            ));
        };
        if vproto.strip_suffix(':') != Some(proto) {
            return Err(CollectorError::parse(
                path,
                format!("value line for {vproto} follows header of {proto}"),
            ));
        }
        loop {
            match (names.next(), vals.next()) {
                (Some(n), Some(v)) => out.push((proto, n, v)),
                (None, None) => break,
                _ => {
                    return Err(CollectorError::parse(
                        path,
                        format!("header and value lines of {proto} differ in length"),
                    ))
                }
            }
        }
    }
    Ok(out)
}

/// Parses `/proc/net/snmp6` (`Ip6InReceives 12` lines; the protocol ends at the first `6`).
pub fn parse_snmp6(text: &str) -> Vec<Stat<'_>> {
    let mut out = Vec::with_capacity(128);
    for line in text.lines() {
        let mut parts = line.split_ascii_whitespace();
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        if let Some(i) = key.find('6') {
            out.push((&key[..=i], &key[i + 1..], value));
        }
    }
    out
}

/// Exports `node_netstat_*`.
pub struct NetstatCollector {
    options: Arc<CollectorOptions>,
    /// Per field: the family name and help text, or `None` if the fields filter drops it.
    fields: FieldMemo<Option<(Text, Text)>>,
}

impl NetstatCollector {
    /// A collector reading `<procfs>/net/{netstat,snmp,snmp6}`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        NetstatCollector {
            options,
            fields: FieldMemo::default(),
        }
    }
}

impl HostCollector for NetstatCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let p = &self.options.paths;
        let netstat_path = p.proc("net/netstat");
        let netstat = read_text(&netstat_path)?;
        let snmp_path = p.proc("net/snmp");
        let snmp = read_text(&snmp_path)?;
        let snmp6 = match read_text(&p.proc("net/snmp6")) {
            Ok(text) => text,
            // No IPv6 on this host.
            Err(e) if e.is_not_found() => String::new(),
            Err(e) => return Err(e),
        };
        let stats = parse_paired(&netstat_path, &netstat)?
            .into_iter()
            .map(|s| (s, &netstat_path))
            .chain(
                parse_paired(&snmp_path, &snmp)?
                    .into_iter()
                    .map(|s| (s, &snmp_path)),
            )
            .chain(parse_snmp6(&snmp6).into_iter().map(|s| (s, &snmp_path)));
        let mut key = String::with_capacity(64);
        let mut fields = self.fields.pass();
        for ((proto, field, raw), path) in stats {
            key.clear();
            key.push_str(proto);
            key.push('_');
            key.push_str(field);
            let names = fields.get_or(&key, || {
                self.options.netstat_fields.is_match(&key).then(|| {
                    (
                        interned(format_args!("node_netstat_{key}")),
                        interned(format_args!("Protocol statistic {proto}{field}.")),
                    )
                })
            });
            // Only the fields exported are parsed (the default filter keeps ~30 of ~400).
            let Some((name, help)) = names else {
                continue;
            };
            let value: f64 = raw.parse().map_err(|e| {
                CollectorError::parse(path, format!("bad value {raw:?} for {proto} {field}: {e}"))
            })?;
            out.untyped(name, help, vec![], value);
        }
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "netstat",
    default_enabled: true,
    build: |options| Box::new(NetstatCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;
    use dark_metrics::exposition::MetricType;

    fn field(file: &str, proto: &str, name: &str) -> f64 {
        let text = fixture_text(&format!("proc/net/{file}"));
        let stats = if file == "snmp6" {
            parse_snmp6(&text)
        } else {
            parse_paired(Path::new(file), &text).unwrap()
        };
        stats
            .iter()
            .find(|(p, n, _)| *p == proto && *n == name)
            .unwrap()
            .2
            .parse()
            .unwrap()
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
        assert_eq!(
            s,
            vec![("Tcp", "RtoMin", "200"), ("Tcp", "CurrEstab", "-1")]
        );
        let s6 = parse_snmp6("Udp6InErrors  4\nUdpLite6OutDatagrams 2\nIcmp6InMsgs 3\n");
        assert_eq!(
            s6,
            vec![
                ("Udp6", "InErrors", "4"),
                ("UdpLite6", "OutDatagrams", "2"),
                ("Icmp6", "InMsgs", "3")
            ]
        );
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

    #[test]
    fn a_bad_value_fails_only_when_its_field_is_exported() {
        let dir = temp_dir("netstat-values");
        std::fs::create_dir_all(dir.join("proc/net")).unwrap();
        let o = Arc::new(CollectorOptions::defaults(crate::HostPaths::under(&dir)).unwrap());
        let c = NetstatCollector::new(o);
        std::fs::write(dir.join("proc/net/snmp"), "Tcp: InSegs\nTcp: 7\n").unwrap();
        // TcpExt_Unlisted is not exported by the default filter: not parsed.
        std::fs::write(
            dir.join("proc/net/netstat"),
            "TcpExt: Unlisted ListenDrops\nTcpExt: x 3\n",
        )
        .unwrap();
        let f = run(&c);
        assert_eq!(value(&f, "node_netstat_TcpExt_ListenDrops", &[]), 3.0);
        assert_eq!(value(&f, "node_netstat_Tcp_InSegs", &[]), 7.0);
        std::fs::write(
            dir.join("proc/net/netstat"),
            "TcpExt: Unlisted ListenDrops\nTcpExt: 1 x\n",
        )
        .unwrap();
        let err = c.update(&mut Families::new()).unwrap_err();
        assert!(err.to_string().contains("TcpExt ListenDrops"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
