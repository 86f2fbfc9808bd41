//! `textfile` collector: metrics from `*.prom` files in `--collector.textfile.directory`
//! (repeatable, globs allowed), for values a cron job or script writes.
//!
//! A file that fails to parse, or that carries client-side timestamps, is skipped whole
//! and sets `node_textfile_scrape_error 1`. Families missing some labels in some samples
//! get those labels as `""`. A family without HELP gets one naming its files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use dark_metrics::exposition::Text;

use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::{labels, Families};
use crate::read::{list_dir, read_text};

/// Exports textfile metrics plus `node_textfile_mtime_seconds` and
/// `node_textfile_scrape_error`.
pub struct TextfileCollector {
    options: Arc<CollectorOptions>,
}

impl TextfileCollector {
    /// A collector reading the configured directories.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        TextfileCollector { options }
    }

    /// Directories named by the flags: glob matches, or the pattern itself if it matches
    /// nothing (so a missing directory is reported).
    fn directories(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        for pattern in &self.options.textfile_directories {
            let matches: Vec<PathBuf> = glob::glob(pattern)
                .map(|paths| paths.filter_map(Result::ok).collect())
                .unwrap_or_default();
            if matches.is_empty() {
                dirs.push(PathBuf::from(pattern));
            } else {
                dirs.extend(matches);
            }
        }
        dirs
    }
}

impl HostCollector for TextfileCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let mut errored = false;
        let mut parsed = Families::new();
        let mut files_by_family: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut mtimes: BTreeMap<String, f64> = BTreeMap::new();
        for dir in self.directories() {
            if dir.as_os_str().is_empty() {
                continue;
            }
            let names = match list_dir(&dir) {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read textfile directory");
                    errored = true;
                    continue;
                }
            };
            for name in names.iter().filter(|n| n.ends_with(".prom")) {
                let path = dir.join(name);
                match read_file(&path) {
                    Ok((families, mtime)) => {
                        let shown = path.to_string_lossy().into_owned();
                        for fam in families {
                            files_by_family
                                .entry(fam.name.to_string())
                                .or_default()
                                .push(shown.clone());
                            if let Err(rejected) = parsed.insert_family(fam) {
                                tracing::error!(file = %shown, family = %rejected.name, "family has another type in an earlier file; skipped");
                                errored = true;
                            }
                        }
                        mtimes.insert(shown, mtime);
                    }
                    Err(reason) => {
                        tracing::error!(file = %path.display(), %reason, "textfile skipped");
                        errored = true;
                    }
                }
            }
        }
        for mut fam in parsed.into_sorted_vec() {
            if fam.help.is_empty() {
                let files = files_by_family
                    .get(&*fam.name)
                    .map(|f| f.join(", "))
                    .unwrap_or_default();
                fam.help = format!("Metric read from {files}").into();
            }
            pad_labels(&mut fam);
            if let Err(f) = out.insert_family(fam) {
                tracing::error!(family = %f.name, "textfile family clashes with another family; skipped");
                errored = true;
            }
        }
        for (file, mtime) in mtimes {
            out.gauge(
                "node_textfile_mtime_seconds",
                "Modification time of each text file read, in Unix seconds.",
                labels(&[("file", &file)]),
                mtime,
            );
        }
        out.gauge(
            "node_textfile_scrape_error",
            "1 if a text file or directory could not be read or parsed, else 0.",
            vec![],
            if errored { 1.0 } else { 0.0 },
        );
        Ok(())
    }
}

/// Reads and parses one `.prom` file; returns its families and its mtime (whole seconds).
fn read_file(path: &Path) -> Result<(Vec<dark_metrics::exposition::MetricFamily>, f64), String> {
    let text = read_text(path).map_err(|e| e.to_string())?;
    let families = dark_metrics::exposition::parse::parse_text(&text)
        .map_err(|e| format!("parse error: {e}"))?;
    if families
        .iter()
        .any(|f| f.samples.iter().any(|s| s.timestamp_ms.is_some()))
    {
        return Err("contains client-side timestamps, which are not supported".into());
    }
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| format!("cannot stat: {e}"))?;
    let secs = mtime
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok((families, secs as f64))
}

/// Gives every sample of a family the union of the family's label names (missing as "").
fn pad_labels(fam: &mut dark_metrics::exposition::MetricFamily) {
    let mut names: Vec<Text> = Vec::new();
    for s in &fam.samples {
        for (n, _) in &s.labels {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    for s in &mut fam.samples {
        for n in &names {
            // Histogram `le` and summary `quantile` belong to their own samples only.
            if (n == "le" && s.suffix != "_bucket") || (n == "quantile" && !s.suffix.is_empty()) {
                continue;
            }
            if !s.labels.iter().any(|(k, _)| k == n) {
                s.labels.push((n.clone(), Text::Borrowed("")));
            }
        }
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "textfile",
    default_enabled: true,
    build: |options| Box::new(TextfileCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;
    use dark_metrics::exposition::MetricType;

    fn collect(dirs: Vec<String>) -> Vec<dark_metrics::exposition::MetricFamily> {
        let mut o = (*fixture_options()).clone();
        o.textfile_directories = dirs;
        run(&TextfileCollector::new(Arc::new(o)))
    }

    #[test]
    fn reads_prom_files_and_reports_errors() {
        let dir = temp_dir("textfile");
        std::fs::write(
            dir.join("good.prom"),
            "# TYPE backup_ok gauge\nbackup_ok{job=\"db\"} 1\nbackup_ok 0\n",
        )
        .unwrap();
        std::fs::write(dir.join("more.prom"), "backup_size_bytes 42\n").unwrap();
        std::fs::write(dir.join("ignored.txt"), "not_read 1\n").unwrap();
        let f = collect(vec![dir.to_string_lossy().into_owned()]);
        assert_eq!(value(&f, "backup_ok", &[("job", "db")]), 1.0);
        assert_eq!(
            value(&f, "backup_ok", &[("job", "")]),
            0.0,
            "missing label padded"
        );
        assert_eq!(type_of(&f, "backup_size_bytes"), MetricType::Unknown);
        let help = &f
            .iter()
            .find(|x| x.name == "backup_size_bytes")
            .unwrap()
            .help;
        assert!(help.starts_with("Metric read from ") && help.ends_with("more.prom"));
        assert_eq!(count(&f, "node_textfile_mtime_seconds"), 2);
        assert_eq!(value(&f, "node_textfile_scrape_error", &[]), 0.0);
        assert!(f.iter().all(|x| x.name != "not_read"));

        std::fs::write(dir.join("stamped.prom"), "x 1 1700000000000\n").unwrap();
        std::fs::write(dir.join("broken.prom"), "x{ 1\n").unwrap();
        let f = collect(vec![dir.to_string_lossy().into_owned()]);
        assert_eq!(value(&f, "node_textfile_scrape_error", &[]), 1.0);
        assert_eq!(count(&f, "x"), 0);
        assert_eq!(count(&f, "node_textfile_mtime_seconds"), 2);
    }

    #[test]
    fn no_directory_means_no_error_and_missing_directory_is_an_error() {
        let f = collect(vec![]);
        assert_eq!(value(&f, "node_textfile_scrape_error", &[]), 0.0);
        let f = collect(vec!["/nonexistent/darkscrape-textfile".into()]);
        assert_eq!(value(&f, "node_textfile_scrape_error", &[]), 1.0);
    }
}
