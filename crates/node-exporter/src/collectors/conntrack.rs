//! `conntrack` collector: connection tracking table size and limit
//! (`/proc/sys/net/netfilter/nf_conntrack_{count,max}`) and per-CPU statistics summed
//! over CPUs (`/proc/net/stat/nf_conntrack`).
//!
//! Statistic columns are located by the file's header line, so kernels with other column
//! sets are read correctly (Go procfs 0.8.0 used fixed positions).

use std::path::Path;
use std::sync::Arc;

use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::Families;
use crate::intern::interned;
use crate::read::{read_text, read_u64};

/// (header column, metric)
const STATS: [(&str, &str); 8] = [
    ("found", "node_nf_conntrack_stat_found"),
    ("invalid", "node_nf_conntrack_stat_invalid"),
    ("ignore", "node_nf_conntrack_stat_ignore"),
    ("insert", "node_nf_conntrack_stat_insert"),
    ("insert_failed", "node_nf_conntrack_stat_insert_failed"),
    ("drop", "node_nf_conntrack_stat_drop"),
    ("early_drop", "node_nf_conntrack_stat_early_drop"),
    ("search_restart", "node_nf_conntrack_stat_search_restart"),
];

/// Sums the per-CPU hexadecimal rows of `/proc/net/stat/nf_conntrack` by column name.
pub fn parse_conntrack_stat(path: &Path, text: &str) -> Result<Vec<(String, u64)>, CollectorError> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| CollectorError::parse(path, "empty file"))?
        .split_ascii_whitespace()
        .collect();
    let mut sums = vec![0u64; header.len()];
    for line in lines {
        let cols: Vec<&str> = line.split_ascii_whitespace().collect();
        if cols.len() != header.len() {
            return Err(CollectorError::parse(
                path,
                format!(
                    "row has {} columns, header has {}",
                    cols.len(),
                    header.len()
                ),
            ));
        }
        for (i, c) in cols.iter().enumerate() {
            let v = u64::from_str_radix(c, 16)
                .map_err(|e| CollectorError::parse(path, format!("bad hex value {c:?}: {e}")))?;
            sums[i] = sums[i].saturating_add(v);
        }
    }
    Ok(header.into_iter().map(String::from).zip(sums).collect())
}

/// Exports `node_nf_conntrack_*`.
pub struct ConntrackCollector {
    options: Arc<CollectorOptions>,
}

impl ConntrackCollector {
    /// A collector reading netfilter's procfs files.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        ConntrackCollector { options }
    }
}

fn absent_is_no_data(e: CollectorError) -> CollectorError {
    if e.is_not_found() {
        CollectorError::NoData("connection tracking is not loaded".into())
    } else {
        e
    }
}

impl HostCollector for ConntrackCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let p = &self.options.paths;
        let count =
            read_u64(&p.proc("sys/net/netfilter/nf_conntrack_count")).map_err(absent_is_no_data)?;
        out.gauge(
            "node_nf_conntrack_entries",
            "Connections in the tracking table.",
            vec![],
            count as f64,
        );
        let max =
            read_u64(&p.proc("sys/net/netfilter/nf_conntrack_max")).map_err(absent_is_no_data)?;
        out.gauge(
            "node_nf_conntrack_entries_limit",
            "Size of the connection tracking table.",
            vec![],
            max as f64,
        );
        let path = p.proc("net/stat/nf_conntrack");
        let sums = parse_conntrack_stat(&path, &read_text(&path).map_err(absent_is_no_data)?)?;
        for (column, name) in STATS {
            let Some((_, v)) = sums.iter().find(|(c, _)| c == column) else {
                continue;
            };
            let help = interned(format_args!(
                "Connection tracking statistic {column}, summed over CPUs."
            ));
            // node_exporter types these as gauges although they only grow.
            out.gauge(name, help, vec![], *v as f64);
        }
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "conntrack",
    default_enabled: true,
    build: |options| Box::new(ConntrackCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn fixture_values() {
        let f = run(&ConntrackCollector::new(fixture_options()));
        let count: f64 = fixture_text("proc/sys/net/netfilter/nf_conntrack_count")
        .trim()
        .parse()
        .unwrap();
        assert_eq!(value(&f, "node_nf_conntrack_entries", &[]), count);
        assert_eq!(value(&f, "node_nf_conntrack_stat_found", &[]), 0.0);
        assert_eq!(f.len(), 10);
    }

    #[test]
    fn sums_columns_by_name() {
        let s = parse_conntrack_stat(
            Path::new("t"),
            "entries found drop\n00000001 0000000a 00000001\n00000001 00000005 00000002\n",
        )
        .unwrap();
        assert_eq!(
            s,
            vec![
                ("entries".into(), 2),
                ("found".into(), 15),
                ("drop".into(), 3)
            ]
        );
        assert!(parse_conntrack_stat(Path::new("t"), "a b\n1\n").is_err());
        assert!(parse_conntrack_stat(Path::new("t"), "a\nzz\n").is_err());
        assert!(parse_conntrack_stat(Path::new("t"), "").is_err());
    }
}
