//! `promtool check metrics` on an exposition body, with the only lint findings allowed
//! being the naming-convention ones node_exporter's own output gets for the same names
//! (kernel field names in CamelCase, entropy measured in bits), kept for compatibility with
//! node_exporter's dashboards and alerts. Included with `#[path]`.
#![allow(dead_code)]

/// A lint finding node_exporter 1.5.0's own output gets for the same metric name.
pub fn upstream_naming_lint(line: &str) -> bool {
    let Some((name, finding)) = line.split_once(' ') else {
        return false;
    };
    let kernel_field_family = ["node_memory_", "node_netstat_", "node_sockstat_"]
        .iter()
        .any(|p| name.starts_with(p));
    (kernel_field_family
        && finding == "metric names should be written in 'snake_case' not 'camelCase'")
        || (name.starts_with("node_entropy_")
            && finding == "use base unit \"bytes\" instead of \"bits\"")
}

/// Runs promtool on `body` (text format 0.0.4) and fails on any finding other than the
/// upstream naming lints.
pub fn assert_promtool_clean(body: &[u8]) {
    let (code, report) = testbed::promtool::check_metrics(body);
    let unexpected: Vec<&str> = report
        .lines()
        .filter(|l| !upstream_naming_lint(l))
        .collect();
    assert!(
        unexpected.is_empty(),
        "promtool complains:\n{}",
        unexpected.join("\n")
    );
    // promtool exits 0 only when it finds nothing; the allowed findings make it exit 3.
    assert!(
        code == Some(0) || !report.is_empty(),
        "promtool failed without a report"
    );
}
