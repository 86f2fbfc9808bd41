//! `os` collector: operating system identity from `/etc/os-release` (falling back to
//! `/usr/lib/os-release`) below `--path.rootfs`.

use std::collections::HashMap;
use std::sync::Arc;

use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::{labels, Families};
use crate::read::read_text;

/// Parses os-release `KEY=value` lines (values may be single- or double-quoted; in double
/// quotes `\"`, `\\`, `` \` `` and `\$` are escapes). Malformed lines are skipped.
pub fn parse_os_release(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let value = if let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            let mut v = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some(n @ ('"' | '\\' | '`' | '$')) => v.push(n),
                        Some(n) => {
                            v.push('\\');
                            v.push(n);
                        }
                        None => v.push('\\'),
                    }
                } else {
                    v.push(c);
                }
            }
            v
        } else if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
            inner.to_string()
        } else {
            raw.trim().to_string()
        };
        out.insert(key.to_string(), value);
    }
    out
}

/// The leading `major[.minor]` of `VERSION_ID` as a number (0 when there is none).
pub fn version_number(version_id: &str) -> f64 {
    let mut end = version_id
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(version_id.len());
    if end == 0 {
        return 0.0;
    }
    if version_id[end..].starts_with('.') {
        let frac = version_id[end + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(version_id.len() - end - 1);
        end += 1 + frac;
    }
    version_id[..end]
        .trim_end_matches('.')
        .parse()
        .unwrap_or(0.0)
}

/// Exports `node_os_info` and `node_os_version`.
pub struct OsCollector {
    options: Arc<CollectorOptions>,
}

impl OsCollector {
    /// A collector reading os-release below `<rootfs>`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        OsCollector { options }
    }
}

impl HostCollector for OsCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let mut text = None;
        for file in ["/etc/os-release", "/usr/lib/os-release"] {
            match read_text(&self.options.paths.root(file)) {
                Ok(t) => {
                    text = Some(t);
                    break;
                }
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            }
        }
        let Some(text) = text else {
            return Err(CollectorError::NoData("no os-release file".into()));
        };
        let env = parse_os_release(&text);
        let get = |k: &str| env.get(k).map(String::as_str).unwrap_or("");
        out.gauge(
            "node_os_info",
            "Operating system identity from os-release; the value is always 1.",
            labels(&[
                ("build_id", get("BUILD_ID")),
                ("id", get("ID")),
                ("id_like", get("ID_LIKE")),
                ("image_id", get("IMAGE_ID")),
                ("image_version", get("IMAGE_VERSION")),
                ("name", get("NAME")),
                ("pretty_name", get("PRETTY_NAME")),
                ("variant", get("VARIANT")),
                ("variant_id", get("VARIANT_ID")),
                ("version", get("VERSION")),
                ("version_codename", get("VERSION_CODENAME")),
                ("version_id", get("VERSION_ID")),
            ]),
            1.0,
        );
        let version = version_number(get("VERSION_ID"));
        if version > 0.0 {
            out.gauge(
                "node_os_version",
                "Operating system version (major.minor of VERSION_ID).",
                labels(&[
                    ("id", get("ID")),
                    ("id_like", get("ID_LIKE")),
                    ("name", get("NAME")),
                ]),
                version,
            );
        }
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "os",
    default_enabled: true,
    build: |options| Box::new(OsCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn fixture_values() {
        let f = run(&OsCollector::new(fixture_options()));
        assert_eq!(
            value(
                &f,
                "node_os_info",
                &[
                    ("id", "debian"),
                    ("version_codename", "bookworm"),
                    ("pretty_name", "Debian GNU/Linux 12 (bookworm)")
                ]
            ),
            1.0
        );
        assert_eq!(value(&f, "node_os_version", &[("id", "debian")]), 12.0);
    }

    #[test]
    fn quoting_and_versions() {
        let env =
            parse_os_release("# c\nNAME=\"A \\\"B\\\"\"\nID=x\nV='1.2'\nbroken line\n=nokey\n");
        assert_eq!(env["NAME"], "A \"B\"");
        assert_eq!(env["V"], "1.2");
        assert_eq!(env.len(), 3);
        assert_eq!(version_number("22.04"), 22.04);
        assert_eq!(version_number("12"), 12.0);
        assert_eq!(version_number("3.18.4"), 3.18);
        assert_eq!(version_number("rolling"), 0.0);
        assert_eq!(version_number("7."), 7.0);
    }

    #[test]
    fn absent_is_no_data() {
        let dir = temp_dir("os");
        let o = Arc::new(CollectorOptions::defaults(crate::HostPaths::under(&dir)).unwrap());
        assert!(OsCollector::new(o)
            .update(&mut Families::new())
            .unwrap_err()
            .is_no_data());
    }
}
