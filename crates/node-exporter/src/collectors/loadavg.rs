//! `loadavg` collector: the 1, 5 and 15 minute load averages from `/proc/loadavg`.

use std::path::Path;
use std::sync::Arc;

use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::Families;
use crate::read::read_text;

/// Parses the first three fields of `/proc/loadavg`.
pub fn parse_loadavg(path: &Path, text: &str) -> Result<[f64; 3], CollectorError> {
    let parts: Vec<&str> = text.split_ascii_whitespace().collect();
    if parts.len() < 3 {
        return Err(CollectorError::parse(
            path,
            format!("expected 3 load averages, got {text:?}"),
        ));
    }
    let mut loads = [0.0; 3];
    for (i, p) in parts[..3].iter().enumerate() {
        loads[i] = p
            .parse::<f64>()
            .map_err(|e| CollectorError::parse(path, format!("bad load {p:?}: {e}")))?;
    }
    Ok(loads)
}

/// Exports `node_load1`, `node_load5`, `node_load15`.
pub struct LoadavgCollector {
    options: Arc<CollectorOptions>,
}

impl LoadavgCollector {
    /// A collector reading `<procfs>/loadavg`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        LoadavgCollector { options }
    }
}

impl HostCollector for LoadavgCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let path = self.options.paths.proc("loadavg");
        let [l1, l5, l15] = parse_loadavg(&path, &read_text(&path)?)?;
        out.gauge("node_load1", "Load average over 1 minute.", vec![], l1);
        out.gauge("node_load5", "Load average over 5 minutes.", vec![], l5);
        out.gauge("node_load15", "Load average over 15 minutes.", vec![], l15);
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "loadavg",
    default_enabled: true,
    build: |options| Box::new(LoadavgCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn fixture_values() {
        let text = fixture_text("proc/loadavg");
        let want: f64 = text.split_whitespace().next().unwrap().parse().unwrap();
        let f = run(&LoadavgCollector::new(fixture_options()));
        assert_eq!(value(&f, "node_load1", &[]), want);
        assert_eq!(
            parse_loadavg(Path::new("t"), "0.50 1.25 2.00 1/100 42\n").unwrap(),
            [0.5, 1.25, 2.0]
        );
    }

    #[test]
    fn malformed() {
        assert!(parse_loadavg(Path::new("t"), "0.5 1.0\n").is_err());
        assert!(parse_loadavg(Path::new("t"), "a b c\n").is_err());
        assert!(parse_loadavg(Path::new("t"), "").is_err());
    }
}
