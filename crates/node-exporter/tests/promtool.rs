//! `promtool check metrics` (Prometheus 2.42, a linter nobody here wrote) on a full scrape of
//! this host and of the fixture tree: the output must parse, and the only lint findings
//! allowed are the naming-convention ones node_exporter's own output gets for the same
//! names (kernel field names in CamelCase, entropy measured in bits), because those names
//! are kept for compatibility with node_exporter's dashboards and alerts.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use node_exporter::{
    CollectorOptions, HostPaths, NodeExporter, COLLECTORS, DEFAULT_COLLECTOR_TIMEOUT,
};

fn promtool() -> PathBuf {
    let path = std::env::var_os("DARKSCRAPE_PROMTOOL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/promtool"));
    assert!(
        path.exists(),
        "promtool not found at {} (set DARKSCRAPE_PROMTOOL); run scripts/install-test-deps.sh",
        path.display()
    );
    path
}

/// A lint finding node_exporter 1.5.0's own output gets for the same metric name.
fn upstream_naming_lint(line: &str) -> bool {
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

fn check(paths: HostPaths) {
    let names: Vec<&str> = COLLECTORS.iter().map(|c| c.name).collect();
    let exporter = NodeExporter::new(
        &names,
        CollectorOptions::defaults(paths).unwrap(),
        DEFAULT_COLLECTOR_TIMEOUT,
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let families = rt.block_on(exporter.scrape());
    let body = node_exporter::render_text(&families);
    assert!(body.len() > 1000, "suspiciously small scrape");
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&body).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
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
        out.status.success() || !report.is_empty(),
        "promtool failed without a report"
    );
}

#[test]
fn host_scrape_passes_promtool() {
    check(HostPaths::default());
}

#[test]
fn fixture_scrape_passes_promtool() {
    check(HostPaths::under(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures"
    )));
}
