//! `softnet` collector: per-CPU packet processing counters from `/proc/net/softnet_stat`
//! (hexadecimal columns: processed, dropped, time squeezed, …).

use std::path::Path;
use std::sync::Arc;

use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::{labels, Families};
use crate::read::read_text;

/// (processed, dropped, times squeezed) per line, in line order.
pub fn parse_softnet(path: &Path, text: &str) -> Result<Vec<[u64; 3]>, CollectorError> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split_ascii_whitespace().collect();
        if cols.len() < 9 {
            return Err(CollectorError::parse(
                path,
                format!("expected at least 9 columns: {line:?}"),
            ));
        }
        let mut v = [0u64; 3];
        for (i, c) in cols[..3].iter().enumerate() {
            v[i] = u64::from_str_radix(c, 16)
                .map_err(|e| CollectorError::parse(path, format!("bad hex value {c:?}: {e}")))?;
        }
        out.push(v);
    }
    Ok(out)
}

/// Exports `node_softnet_*_total{cpu}`.
pub struct SoftnetCollector {
    options: Arc<CollectorOptions>,
}

impl SoftnetCollector {
    /// A collector reading `<procfs>/net/softnet_stat`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        SoftnetCollector { options }
    }
}

impl HostCollector for SoftnetCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let path = self.options.paths.proc("net/softnet_stat");
        for (cpu, [processed, dropped, squeezed]) in parse_softnet(&path, &read_text(&path)?)?
            .into_iter()
            .enumerate()
        {
            let l = || labels(&[("cpu", &cpu.to_string())]);
            out.counter(
                "node_softnet_processed_total",
                "Packets processed by this CPU.",
                l(),
                processed as f64,
            );
            out.counter(
                "node_softnet_dropped_total",
                "Packets dropped because this CPU's backlog was full.",
                l(),
                dropped as f64,
            );
            out.counter(
                "node_softnet_times_squeezed_total",
                "Times this CPU's packet processing ran out of budget or time with work left.",
                l(),
                squeezed as f64,
            );
        }
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "softnet",
    default_enabled: true,
    build: |options| Box::new(SoftnetCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn fixture_values() {
        // cpu0: 0000002f 00000000 00000000 ...; cpu1: 000016e5 00000000 00000003 ...
        let f = run(&SoftnetCollector::new(fixture_options()));
        assert_eq!(
            value(&f, "node_softnet_processed_total", &[("cpu", "0")]),
            47.0
        );
        assert_eq!(
            value(&f, "node_softnet_processed_total", &[("cpu", "1")]),
            5861.0
        );
        assert_eq!(
            value(&f, "node_softnet_times_squeezed_total", &[("cpu", "1")]),
            3.0
        );
    }

    #[test]
    fn malformed() {
        assert!(parse_softnet(Path::new("t"), "0000002f 00000000\n").is_err());
        assert!(parse_softnet(Path::new("t"), "zz 0 0 0 0 0 0 0 0\n").is_err());
    }
}
