//! `meminfo` collector: every line of `/proc/meminfo` as `node_memory_<Field>[_bytes]`.
//!
//! node_exporter 1.5.0 exports every line generically (versions from 1.9.0 only export the
//! fields Go procfs knows); this follows 1.5.0. `kB` values are multiplied by 1024 and get
//! `_bytes`; unitless lines (`HugePages_Total`) keep their value; `Active(anon)` becomes
//! `Active_anon`.

use std::path::Path;
use std::sync::Arc;

use dark_metrics::exposition::{MetricType, Text};

use super::{HostCollector, CollectorOptions, FieldMemo};
use crate::error::CollectorError;
use crate::families::Families;
use crate::intern::interned;
use crate::read::read_text;

/// One line of `/proc/meminfo`, borrowed from the file's text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeminfoField<'a> {
    /// The name as the kernel prints it, without the colon (`Active(anon)`).
    pub key: &'a str,
    /// Whether the line is in kB (exported in bytes, with a `_bytes` suffix).
    pub kilobytes: bool,
    /// The value as exported: bytes for kB lines.
    pub value: f64,
}

impl MeminfoField<'_> {
    /// The metric name's suffix: `Active(anon)` becomes `Active_anon`, and kB lines get
    /// `_bytes`.
    pub fn suffix(&self) -> String {
        let key = self.key;
        let mut name = match (key.find('('), key.rfind(')')) {
            (Some(open), Some(close)) if open < close => format!(
                "{}_{}{}",
                &key[..open],
                &key[open + 1..close],
                &key[close + 1..]
            ),
            _ => key.to_string(),
        };
        if self.kilobytes {
            name.push_str("_bytes");
        }
        name
    }
}

/// Parses `/proc/meminfo` (`Key: value [kB]` lines) without copying the keys.
pub fn parse_meminfo<'a>(
    path: &Path,
    text: &'a str,
) -> Result<Vec<MeminfoField<'a>>, CollectorError> {
    let mut out = Vec::with_capacity(64);
    for line in text.lines() {
        let mut parts = line.split_ascii_whitespace();
        let Some(first) = parts.next() else {
            continue;
        };
        let invalid = || CollectorError::parse(path, format!("invalid line {line:?}"));
        let (Some(key), Some(raw)) = (first.strip_suffix(':'), parts.next()) else {
            return Err(invalid());
        };
        let kilobytes = parts.next().is_some();
        if parts.next().is_some() {
            return Err(invalid());
        }
        let mut value: f64 = raw
            .parse()
            .map_err(|e| CollectorError::parse(path, format!("bad value in {line:?}: {e}")))?;
        if kilobytes {
            value *= 1024.0;
        }
        out.push(MeminfoField {
            key,
            kilobytes,
            value,
        });
    }
    Ok(out)
}

/// Name, help text and type of one field's family.
fn family_of(field: &MeminfoField<'_>) -> (Text, Text, MetricType) {
    let suffix = field.suffix();
    let ty = if suffix.ends_with("_total") {
        MetricType::Counter
    } else {
        MetricType::Gauge
    };
    (
        interned(format_args!("node_memory_{suffix}")),
        interned(format_args!(
            "Memory information field {suffix} from /proc/meminfo."
        )),
        ty,
    )
}

/// Exports `node_memory_*`.
pub struct MeminfoCollector {
    options: Arc<CollectorOptions>,
    /// Per field position: the raw key's unit, family name, help text and type.
    names: FieldMemo<(bool, (Text, Text, MetricType))>,
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

impl HostCollector for MeminfoCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let path = self.options.paths.proc("meminfo");
        let text = read_text(&path)?;
        let mut names = self.names.pass();
        for field in parse_meminfo(&path, &text)? {
            let (kilobytes, family) =
                names.get_or(field.key, || (field.kilobytes, family_of(&field)));
            // The memo is keyed by the raw name; a line whose unit changed is named afresh.
            let (name, help, ty) = if kilobytes == field.kilobytes {
                family
            } else {
                family_of(&field)
            };
            out.add(name, help, ty, vec![], field.value);
        }
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "meminfo",
    default_enabled: true,
    build: |options| Box::new(MeminfoCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn fixture_values() {
        let text = fixture_text("proc/meminfo");
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
        let named: Vec<(String, f64)> = v.iter().map(|f| (f.suffix(), f.value)).collect();
        assert_eq!(
            named,
            vec![
                ("MemTotal_bytes".into(), 2048.0),
                ("Inactive_file_bytes".into(), 1024.0),
                ("HugePages_Free".into(), 3.0)
            ]
        );
        assert_eq!(v[1].key, "Inactive(file)");
    }

    #[test]
    fn a_field_whose_unit_changes_is_named_afresh() {
        let dir = temp_dir("meminfo-unit");
        std::fs::create_dir_all(dir.join("proc")).unwrap();
        let o = Arc::new(CollectorOptions::defaults(crate::HostPaths::under(&dir)).unwrap());
        let c = MeminfoCollector::new(o);
        std::fs::write(dir.join("proc/meminfo"), "Odd(x): 2 kB\n").unwrap();
        assert_eq!(value(&run(&c), "node_memory_Odd_x_bytes", &[]), 2048.0);
        std::fs::write(dir.join("proc/meminfo"), "Odd(x): 2\n").unwrap();
        let f = run(&c);
        assert_eq!(value(&f, "node_memory_Odd_x", &[]), 2.0);
        assert_eq!(count(&f, "node_memory_Odd_x_bytes"), 0);
        let _ = std::fs::remove_dir_all(&dir);
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
