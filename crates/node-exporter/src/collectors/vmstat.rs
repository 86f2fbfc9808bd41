//! `vmstat` collector: virtual memory counters from `/proc/vmstat` as untyped
//! `node_vmstat_<field>`, filtered by `--collector.vmstat.fields`.

use std::sync::Arc;

use dark_metrics::exposition::Text;

use super::{HostCollector, CollectorOptions, FieldMemo};
use crate::error::CollectorError;
use crate::families::Families;
use crate::intern::interned;
use crate::read::read_text;

/// Exports `node_vmstat_*`.
pub struct VmstatCollector {
    options: Arc<CollectorOptions>,
    /// Per field: the family name and help text, or `None` if the fields filter drops it.
    fields: FieldMemo<Option<(Text, Text)>>,
}

impl VmstatCollector {
    /// A collector reading `<procfs>/vmstat`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        VmstatCollector {
            options,
            fields: FieldMemo::default(),
        }
    }
}

impl HostCollector for VmstatCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let path = self.options.paths.proc("vmstat");
        let text = read_text(&path)?;
        let mut fields = self.fields.pass();
        for line in text.lines() {
            let mut parts = line.split_ascii_whitespace();
            let Some(name) = parts.next() else { continue };
            let raw = parts.next().ok_or_else(|| {
                CollectorError::parse(&path, format!("field without value: {line:?}"))
            })?;
            let value: f64 = raw
                .parse()
                .map_err(|e| CollectorError::parse(&path, format!("bad value in {line:?}: {e}")))?;
            let names = fields.get_or(name, || {
                self.options.vmstat_fields.is_match(name).then(|| {
                    (
                        interned(format_args!("node_vmstat_{name}")),
                        interned(format_args!("Field {name} of /proc/vmstat.")),
                    )
                })
            });
            if let Some((name, help)) = names {
                out.untyped(name, help, vec![], value);
            }
        }
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "vmstat",
    default_enabled: true,
    build: |options| Box::new(VmstatCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn fixture_values() {
        let text = fixture_text("proc/vmstat");
        let pgfault: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("pgfault "))
            .unwrap()
            .parse()
            .unwrap();
        let f = run(&VmstatCollector::new(fixture_options()));
        assert_eq!(value(&f, "node_vmstat_pgfault", &[]), pgfault);
        let names: Vec<&str> = f.iter().map(|x| x.name.as_ref()).collect();
        assert_eq!(
            names,
            [
                "node_vmstat_oom_kill",
                "node_vmstat_pgfault",
                "node_vmstat_pgmajfault",
                "node_vmstat_pgpgin",
                "node_vmstat_pgpgout",
                "node_vmstat_pswpin",
                "node_vmstat_pswpout"
            ]
        );
    }

    #[test]
    fn malformed() {
        let dir = temp_dir("vmstat");
        std::fs::create_dir_all(dir.join("proc")).unwrap();
        let o = Arc::new(CollectorOptions::defaults(crate::HostPaths::under(&dir)).unwrap());
        for bad in ["pgfault\n", "pgfault x\n"] {
            std::fs::write(dir.join("proc/vmstat"), bad).unwrap();
            assert!(
                VmstatCollector::new(Arc::clone(&o))
                    .update(&mut Families::new())
                    .is_err(),
                "{bad:?}"
            );
        }
    }
}
