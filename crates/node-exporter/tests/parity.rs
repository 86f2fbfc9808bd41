//! Parity with the real node_exporter 1.5.0 (Debian's `prometheus-node-exporter`): both are
//! run on this machine with the same collectors and filter flags; every family node_exporter
//! emits must exist in ours with the same type and label names, the per-collector success
//! pattern must match, and values that cannot drift between two reads must agree.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use dark_metrics::exposition::{MetricFamily, MetricType};
use node_exporter::{ExporterArgs, COLLECTORS};
use testbed::lab::free_loopback_addr;

/// Families node_exporter emits that we deliberately do not, with the reason.
const ONLY_IN_NODE_EXPORTER: &[(&str, &str)] = &[
    (
        "node_exporter_build_info",
        "build information of the Go binary (version, Go version), not a host metric",
    ),
    (
        "promhttp_metric_handler_errors_total",
        "error counter of Go's promhttp HTTP handler, kept even with --web.disable-exporter-metrics; serving is dark-metrics' job",
    ),
];

/// Families we emit that node_exporter 1.5.0 does not, with the reason.
const ONLY_IN_OURS: &[(&str, &str)] = &[];

/// Filter flags given to both exporters, so Debian's patched defaults do not matter.
fn shared_flags(textfile_dir: &str) -> Vec<String> {
    let mut flags = vec![
        "--collector.disable-defaults".to_string(),
        format!(
            "--collector.filesystem.mount-points-exclude={}",
            node_exporter::collectors::DEFAULT_MOUNT_POINTS_EXCLUDE
        ),
        format!(
            "--collector.filesystem.fs-types-exclude={}",
            node_exporter::collectors::DEFAULT_FS_TYPES_EXCLUDE
        ),
        "--collector.netdev.device-exclude=".to_string(),
        format!("--collector.textfile.directory={textfile_dir}"),
    ];
    flags.extend(COLLECTORS.iter().map(|c| format!("--collector.{}", c.name)));
    flags
}

fn node_exporter_binary() -> PathBuf {
    let path = std::env::var_os("DARKSCRAPE_NODE_EXPORTER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/prometheus-node-exporter"));
    assert!(
        path.exists(),
        "node_exporter not found at {} (set DARKSCRAPE_NODE_EXPORTER); run scripts/install-test-deps.sh",
        path.display()
    );
    path
}

/// Kills and reaps the child when dropped, so a failing assertion leaves no process behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GET /metrics over loopback with HTTP/1.0 (the server closes the connection).
fn fetch_metrics(port: u16) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut raw = Vec::new();
    stream.take(64 * 1024 * 1024).read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("response without header end"))?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(format!(
            "unexpected response: {head}"
        )));
    }
    Ok(body.to_string())
}

fn scrape_node_exporter(flags: &[String]) -> Vec<MetricFamily> {
    let port = free_loopback_addr().port();
    let child = Command::new(node_exporter_binary())
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.disable-exporter-metrics")
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node_exporter");
    let _guard = KillOnDrop(child);
    let started = Instant::now();
    let body = loop {
        match fetch_metrics(port) {
            Ok(body) => break body,
            Err(e) if started.elapsed() < Duration::from_secs(10) => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("node_exporter did not answer on 127.0.0.1:{port} within 10 s: {e}"),
        }
    };
    dark_metrics::exposition::parse::parse_text(&body).expect("node_exporter output parses")
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ExporterArgs,
}

fn scrape_ours(flags: &[String]) -> Vec<MetricFamily> {
    let cli = Cli::try_parse_from(std::iter::once("ours".to_string()).chain(flags.iter().cloned()))
        .expect("our flags parse");
    let exporter = cli.args.build().expect("exporter builds");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(exporter.scrape())
}

fn by_name(families: Vec<MetricFamily>) -> BTreeMap<String, MetricFamily> {
    families
        .into_iter()
        .map(|f| (f.name.to_string(), f))
        .collect()
}

fn label_names(f: &MetricFamily) -> BTreeSet<String> {
    f.samples
        .iter()
        .flat_map(|s| s.labels.iter().map(|(k, _)| k.to_string()))
        .collect()
}

fn series(f: &MetricFamily) -> BTreeMap<Vec<(String, String)>, f64> {
    f.samples
        .iter()
        .map(|s| {
            let mut l: Vec<(String, String)> = s
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            l.sort();
            (l, s.value)
        })
        .collect()
}

/// Values of a family by label set, sorted for comparison.
fn values(
    map: &BTreeMap<String, MetricFamily>,
    name: &str,
) -> BTreeMap<Vec<(String, String)>, f64> {
    series(
        map.get(name)
            .unwrap_or_else(|| panic!("family {name} missing")),
    )
}

#[test]
fn same_families_types_labels_and_stable_values_as_node_exporter_1_5_0() {
    let dir = std::env::temp_dir().join(format!("node-exporter-parity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("parity.prom"),
        "# HELP parity_backup_age_seconds Age of the last backup.\n# TYPE parity_backup_age_seconds gauge\nparity_backup_age_seconds{job=\"db\"} 42\nparity_jobs_total 3\n",
    )
    .unwrap();
    let flags = shared_flags(&dir.to_string_lossy());
    let theirs = by_name(scrape_node_exporter(&flags));
    let ours = by_name(scrape_ours(&flags));
    let _ = std::fs::remove_dir_all(&dir);

    let mut problems = Vec::new();
    for (name, fam) in &theirs {
        if ONLY_IN_NODE_EXPORTER.iter().any(|(n, _)| n == name) {
            continue;
        }
        let Some(mine) = ours.get(name) else {
            problems.push(format!("missing family {name}"));
            continue;
        };
        // node_exporter's textfile families without TYPE are untyped, like ours.
        if mine.metric_type != fam.metric_type {
            problems.push(format!(
                "{name}: type {:?}, node_exporter {:?}",
                mine.metric_type, fam.metric_type
            ));
        }
        if label_names(mine) != label_names(fam) {
            problems.push(format!(
                "{name}: labels {:?}, node_exporter {:?}",
                label_names(mine),
                label_names(fam)
            ));
        }
    }
    for name in ours.keys() {
        if !theirs.contains_key(name) && !ONLY_IN_OURS.iter().any(|(n, _)| n == name) {
            problems.push(format!(
                "extra family {name} (node_exporter does not emit it here)"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "parity problems:\n{}",
        problems.join("\n")
    );

    // The same collectors succeed and fail.
    assert_eq!(
        values(&ours, "node_scrape_collector_success"),
        values(&theirs, "node_scrape_collector_success")
    );

    // Values that cannot drift between the two reads.
    for name in [
        "node_memory_MemTotal_bytes",
        "node_boot_time_seconds",
        "node_filesystem_size_bytes",
        "node_filesystem_files",
        "node_uname_info",
        "node_os_info",
        "node_os_version",
        "node_network_mtu_bytes",
        "node_network_info",
        "node_network_speed_bytes",
        "node_disk_info",
        "node_entropy_pool_size_bits",
        "node_filefd_maximum",
        "node_nf_conntrack_entries_limit",
        "node_time_clocksource_available_info",
        "node_time_clocksource_current_info",
        "node_time_zone_offset_seconds",
        "node_timex_tick_seconds",
        "node_timex_status",
        "node_memory_SwapTotal_bytes",
        "node_memory_HugePages_Total",
        "parity_backup_age_seconds",
        "parity_jobs_total",
    ] {
        assert_eq!(values(&ours, name), values(&theirs, name), "{name} differs");
    }
    // Same CPUs and modes; same devices.
    for (name, label) in [
        ("node_cpu_seconds_total", "cpu"),
        ("node_cpu_guest_seconds_total", "cpu"),
        ("node_network_receive_bytes_total", "device"),
        ("node_disk_reads_completed_total", "device"),
        ("node_softnet_processed_total", "cpu"),
        ("node_filesystem_avail_bytes", "mountpoint"),
    ] {
        let keys = |m: &BTreeMap<String, MetricFamily>| -> BTreeSet<Vec<(String, String)>> {
            values(m, name).into_keys().collect()
        };
        assert_eq!(
            keys(&ours),
            keys(&theirs),
            "{name}: series differ by {label}"
        );
    }
    // Counters read a moment apart: ours (read second) is not below node_exporter's.
    for name in [
        "node_context_switches_total",
        "node_forks_total",
        "node_intr_total",
    ] {
        let (o, t) = (values(&ours, name), values(&theirs, name));
        assert!(
            o.values().next().unwrap() >= t.values().next().unwrap(),
            "{name} went backwards"
        );
    }
    assert_eq!(
        ours.get("node_cpu_seconds_total").map(|f| f.metric_type),
        Some(MetricType::Counter)
    );
}
