//! `filefd` collector: allocated and maximum file handles from `/proc/sys/fs/file-nr`.

use std::sync::Arc;

use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::Families;
use crate::read::read_text;

/// Exports `node_filefd_allocated` and `node_filefd_maximum`.
pub struct FilefdCollector {
    options: Arc<CollectorOptions>,
}

impl FilefdCollector {
    /// A collector reading `<procfs>/sys/fs/file-nr`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        FilefdCollector { options }
    }
}

impl HostCollector for FilefdCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let path = self.options.paths.proc("sys/fs/file-nr");
        let text = read_text(&path)?;
        let parts: Vec<&str> = text.split_ascii_whitespace().collect();
        if parts.len() < 3 {
            return Err(CollectorError::parse(
                &path,
                format!("expected 3 numbers, got {text:?}"),
            ));
        }
        let num = |s: &str| {
            s.parse::<f64>()
                .map_err(|e| CollectorError::parse(&path, format!("bad number {s:?}: {e}")))
        };
        out.gauge(
            "node_filefd_allocated",
            "File handles allocated.",
            vec![],
            num(parts[0])?,
        );
        out.gauge(
            "node_filefd_maximum",
            "Most file handles the kernel will allocate.",
            vec![],
            num(parts[2])?,
        );
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "filefd",
    default_enabled: true,
    build: |options| Box::new(FilefdCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn fixture_values() {
        // file-nr: 779 0 2466183
        let f = run(&FilefdCollector::new(fixture_options()));
        assert_eq!(value(&f, "node_filefd_allocated", &[]), 779.0);
        assert_eq!(value(&f, "node_filefd_maximum", &[]), 2466183.0);
    }

    #[test]
    fn malformed() {
        let dir = temp_dir("filefd");
        std::fs::create_dir_all(dir.join("proc/sys/fs")).unwrap();
        let o = Arc::new(CollectorOptions::defaults(crate::HostPaths::under(&dir)).unwrap());
        for bad in ["1 2\n", "a 0 3\n", ""] {
            std::fs::write(dir.join("proc/sys/fs/file-nr"), bad).unwrap();
            assert!(
                FilefdCollector::new(Arc::clone(&o))
                    .update(&mut Families::new())
                    .is_err(),
                "{bad:?}"
            );
        }
    }
}
