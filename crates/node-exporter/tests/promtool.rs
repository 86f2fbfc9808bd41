//! `promtool check metrics` (Prometheus 2.42, a linter nobody here wrote) on a full scrape of
//! this host and of the fixture tree: the output must parse, and the only lint findings
//! allowed are the naming-convention ones node_exporter's own output gets for the same
//! names (see `support/promtool.rs`). The served scrape is checked in `serve_dark.rs`.

#[path = "support/promtool.rs"]
mod promtool;

use node_exporter::{
    CollectorOptions, HostPaths, NodeExporter, COLLECTORS, DEFAULT_COLLECTOR_TIMEOUT,
};

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
    promtool::assert_promtool_clean(&body);
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
