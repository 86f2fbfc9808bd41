//! The exporter-only binary `darkscrape-node-exporter` runs the same command as
//! `darkscrape node-exporter` (`node_exporter::command`): its `--once` output on the fixture
//! tree is the library's scrape of the same tree, its `--log` takes level lists, and bad
//! flags or a missing identity stop it with a message and a failure status. Serving dark is
//! the shared code tested by `serve_dark.rs` and the root `node_exporter_dark` test.

use std::process::{Command, Output};
use std::time::Duration;

use dark_metrics::exposition::{parse_text, MetricFamily};
use node_exporter::{CollectorOptions, HostPaths, NodeExporter};

const BINARY: &str = env!("CARGO_BIN_EXE_darkscrape-node-exporter");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// Collectors whose fixture values do not depend on the clock or the running kernel.
const STABLE: [&str; 6] = [
    "diskstats",
    "loadavg",
    "meminfo",
    "netdev",
    "stat",
    "vmstat",
];

fn run(args: &[&str]) -> Output {
    let fixtures = std::path::Path::new(FIXTURES);
    Command::new(BINARY)
        .arg(format!("--path.procfs={}", fixtures.join("proc").display()))
        .arg(format!("--path.sysfs={}", fixtures.join("sys").display()))
        .arg(format!(
            "--path.rootfs={}",
            fixtures.join("rootfs").display()
        ))
        .arg(format!(
            "--path.udev.data={}",
            fixtures.join("udev").display()
        ))
        .args(args)
        .output()
        .expect("darkscrape-node-exporter runs")
}

fn collector_flags() -> Vec<String> {
    std::iter::once("--collector.disable-defaults".to_string())
        .chain(STABLE.iter().map(|c| format!("--collector.{c}")))
        .collect()
}

/// Families without the per-collector duration gauge (a timing, different every run).
fn without_durations(families: Vec<MetricFamily>) -> Vec<MetricFamily> {
    families
        .into_iter()
        .filter(|f| f.name != "node_scrape_collector_duration_seconds")
        .collect()
}

#[test]
fn once_prints_the_library_scrape_of_the_same_tree() {
    let mut args = vec!["--once", "--log=warn"];
    let flags = collector_flags();
    args.extend(flags.iter().map(String::as_str));
    let out = run(&args);
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let printed = without_durations(parse_text(&text).expect("the output parses as text 0.0.4"));

    let exporter = NodeExporter::new(
        &STABLE,
        CollectorOptions::defaults(HostPaths::under(FIXTURES)).unwrap(),
        Duration::from_secs(5),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let body = node_exporter::render_text(&runtime.block_on(exporter.scrape()));
    let expected = without_durations(parse_text(std::str::from_utf8(&body).unwrap()).unwrap());
    assert!(printed.iter().any(|f| f.name == "node_load1"));
    assert_eq!(printed, expected);
}

#[test]
fn bad_flags_fail_with_a_message() {
    let out = run(&["--once", "--collector.vmstat.fields=(unclosed"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("collector.vmstat.fields"), "{err}");

    let out = run(&["--once", "--log=x=[bad"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--log"));

    let out = run(&["--identity"]);
    assert!(!out.status.success(), "a flag without its value is refused");

    let missing = std::env::temp_dir().join(format!(
        "darkscrape-node-exporter-absent-{}.json",
        std::process::id()
    ));
    let out = run(&[
        "--identity",
        missing.to_str().unwrap(),
        "--service",
        "node.metrics",
        "--collector.disable-defaults",
        "--collector.loadavg",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot use identity") && err.contains("absent"),
        "{err}"
    );
}
