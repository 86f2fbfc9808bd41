//! `sockstat` collector: socket counts and memory per protocol from `/proc/net/sockstat`
//! and `/proc/net/sockstat6` (`mem` is in pages; `mem_bytes` multiplies by the page size).

use std::path::Path;
use std::sync::Arc;

use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::Families;
use crate::intern::interned;
use crate::read::read_text;

/// Fields exported per protocol.
const FIELDS: [&str; 6] = ["inuse", "orphan", "tw", "alloc", "mem", "memory"];

/// A parsed sockstat file.
#[derive(Debug, Default, PartialEq)]
pub struct Sockstat {
    /// `sockets: used N`.
    pub used: Option<u64>,
    /// Per protocol line: name and its (field, value) pairs.
    pub protocols: Vec<(String, Vec<(String, u64)>)>,
}

/// Parses `/proc/net/sockstat{,6}`.
pub fn parse_sockstat(path: &Path, text: &str) -> Result<Sockstat, CollectorError> {
    let mut out = Sockstat::default();
    for line in text.lines() {
        let Some((proto, rest)) = line.split_once(':') else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(CollectorError::parse(
                path,
                format!("line without protocol: {line:?}"),
            ));
        };
        let parts: Vec<&str> = rest.split_ascii_whitespace().collect();
        if parts.len() % 2 != 0 {
            return Err(CollectorError::parse(
                path,
                format!("odd number of fields in {line:?}"),
            ));
        }
        let mut pairs = Vec::new();
        for kv in parts.chunks(2) {
            let v = kv[1].parse::<u64>().map_err(|e| {
                CollectorError::parse(path, format!("bad value {:?} in {line:?}: {e}", kv[1]))
            })?;
            pairs.push((kv[0].to_string(), v));
        }
        if proto == "sockets" {
            out.used = pairs.iter().find(|(k, _)| k == "used").map(|(_, v)| *v);
        } else {
            out.protocols.push((proto.to_string(), pairs));
        }
    }
    Ok(out)
}

/// Exports `node_sockstat_*`.
pub struct SockstatCollector {
    options: Arc<CollectorOptions>,
}

impl SockstatCollector {
    /// A collector reading `<procfs>/net/sockstat{,6}`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        SockstatCollector { options }
    }
}

impl HostCollector for SockstatCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let page = rustix::param::page_size() as f64;
        for (file, v6) in [("net/sockstat", false), ("net/sockstat6", true)] {
            let path = self.options.paths.proc(file);
            let text = match read_text(&path) {
                Ok(t) => t,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            };
            let stat = parse_sockstat(&path, &text)?;
            if let (false, Some(used)) = (v6, stat.used) {
                out.gauge(
                    "node_sockstat_sockets_used",
                    "Sockets in use.",
                    vec![],
                    used as f64,
                );
            }
            for (proto, pairs) in &stat.protocols {
                for field in FIELDS {
                    let Some((_, v)) = pairs.iter().find(|(k, _)| k == field) else {
                        continue;
                    };
                    out.gauge(
                        interned(format_args!("node_sockstat_{proto}_{field}")),
                        interned(format_args!("Sockets of {proto} in state {field}.")),
                        vec![],
                        *v as f64,
                    );
                    if field == "mem" {
                        out.gauge(
                            interned(format_args!("node_sockstat_{proto}_mem_bytes")),
                            interned(format_args!("Memory used by {proto} sockets, in bytes.")),
                            vec![],
                            *v as f64 * page,
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "sockstat",
    default_enabled: true,
    build: |options| Box::new(SockstatCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn fixture_values() {
        // sockets: used 27 / TCP: inuse 6 orphan 0 tw 0 alloc 6 mem 299
        let f = run(&SockstatCollector::new(fixture_options()));
        assert_eq!(value(&f, "node_sockstat_sockets_used", &[]), 27.0);
        assert_eq!(value(&f, "node_sockstat_TCP_inuse", &[]), 6.0);
        assert_eq!(
            value(&f, "node_sockstat_TCP_mem_bytes", &[]),
            299.0 * rustix::param::page_size() as f64
        );
        assert_eq!(value(&f, "node_sockstat_FRAG_memory", &[]), 0.0);
        assert!(f.iter().any(|x| x.name == "node_sockstat_TCP6_inuse"));
    }

    #[test]
    fn malformed() {
        assert!(parse_sockstat(Path::new("t"), "TCP: inuse\n").is_err());
        assert!(parse_sockstat(Path::new("t"), "TCP: inuse x\n").is_err());
        assert!(parse_sockstat(Path::new("t"), "garbage\n").is_err());
        let ok = parse_sockstat(Path::new("t"), "sockets: used 3\nUDP: inuse 1 mem 2\n").unwrap();
        assert_eq!(ok.used, Some(3));
        assert_eq!(
            ok.protocols[0].1,
            vec![("inuse".to_string(), 1), ("mem".to_string(), 2)]
        );
    }
}
