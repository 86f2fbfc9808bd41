//! `meminfo` collector: every line of `/proc/meminfo` as `node_memory_<Field>[_bytes]`.
//!
//! node_exporter 1.5.0 exports every line generically (versions from 1.9.0 only export the
//! fields Go procfs knows); this follows 1.5.0. `kB` values are multiplied by 1024 and get
//! `_bytes`; unitless lines (`HugePages_Total`) keep their value; `Active(anon)` becomes
//! `Active_anon`.

use std::path::Path;
use std::sync::Arc;

use dark_metrics::exposition::{MetricType, Text};

use super::{Collector, CollectorOptions, FieldMemo};
use crate::error::CollectorError;
use crate::families::Families;
use crate::intern::interned;
use crate::read::read_text;

/// Parses `/proc/meminfo` into (metric suffix, value) pairs.
pub fn parse_meminfo(path: &Path, text: &str) -> Result<Vec<(String, f64)>, CollectorError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_ascii_whitespace().collect();
        if parts.is_empty() {
            continue;
        }
        let (Some(key), Some(raw)) = (parts[0].strip_suffix(':'), parts.get(1)) else {
            return Err(CollectorError::parse(
                path,
                format!("invalid line {line:?}"),
            ));
        };
        let mut value: f64 = raw
            .parse()
            .map_err(|e| CollectorError::parse(path, format!("bad value in {line:?}: {e}")))?;
        // `Name(sub)` -> `Name_sub`.
        let mut name = match (key.find('('), key.rfind(')')) {
            (Some(open), Some(close)) if open < close => {
                format!(
                    "{}_{}{}",
                    &key[..open],
                    &key[open + 1..close],
                    &key[close + 1..]
                )
            }
            _ => key.to_string(),
        };
        match parts.len() {
            2 => {}
            3 => {
                value *= 1024.0;
                name.push_str("_bytes");
            }
            _ => {
                return Err(CollectorError::parse(
                    path,
                    format!("invalid line {line:?}"),
                ))
            }
        }
        out.push((name, value));
    }
    Ok(out)
}

/// Exports `node_memory_*`.
pub struct MeminfoCollector {
    options: Arc<CollectorOptions>,
    /// Per field: the family name, help text and type.
    names: FieldMemo<(Text, Text, MetricType)>,
}

impl MeminfoCollector {
    /// A collector reading `<procfs>/meminfo`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        MeminfoCollector {
            options,
            names: FieldMemo::default(),
        }
    }
}

impl Collector for MeminfoCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let path = self.options.paths.proc("meminfo");
        let mut names = self.names.pass();
        for (field, value) in parse_meminfo(&path, &read_text(&path)?)? {
            let (name, help, ty) = names.get_or(&field, || {
                let ty = if field.ends_with("_total") {
                    MetricType::Counter
                } else {
                    MetricType::Gauge
                };
                (
                    interned(format_args!("node_memory_{field}")),
                    interned(format_args!(
                        "Memory information field {field} from /proc/meminfo."
                    )),
                    ty,
                )
            });
            out.add(name, help, ty, vec![], value);
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
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/proc/meminfo"
        ))
        .unwrap();
        let kb: f64 = text
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let f = run(&MeminfoCollector::new(fixture_options()));
        assert_eq!(value(&f, "node_memory_MemTotal_bytes", &[]), kb * 1024.0);
        assert!(f.iter().any(|x| x.name == "node_memory_Active_anon_bytes"));
        assert!(f.iter().any(|x| x.name == "node_memory_HugePages_Total"));
        assert_eq!(f.len(), text.lines().count());
    }

    #[test]
    fn converts_and_renames() {
        let v = parse_meminfo(
            Path::new("t"),
            "MemTotal:  2 kB\nInactive(file): 1 kB\nHugePages_Free: 3\n",
        )
        .unwrap();
        assert_eq!(
            v,
            vec![
                ("MemTotal_bytes".into(), 2048.0),
                ("Inactive_file_bytes".into(), 1024.0),
                ("HugePages_Free".into(), 3.0)
            ]
        );
    }

    #[test]
    fn malformed() {
        for bad in [
            "MemTotal 5 kB\n",
            "MemTotal: x kB\n",
            "MemTotal: 1 kB extra\n",
            "MemTotal:\n",
        ] {
            assert!(parse_meminfo(Path::new("t"), bad).is_err(), "{bad:?}");
        }
    }
}
