//! `darkscrape demo --once`, the README's main-job command, run end to end: the lab starts,
//! reflectz is hosted dark, the echo comes back and the metrics scrape over the overlay.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn demo_echoes_and_scrapes_over_the_lab() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_darkscrape"))
        .args([
            "demo",
            "--once",
            "--controller",
            "127.0.0.1:0",
            "--router",
            "127.0.0.1:0",
            "--step-timeout",
            "60",
            "--gateway",
            "127.0.0.1:0",
            "--prometheus",
            "127.0.0.1:0",
            "--dir",
        ])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .env("PATH", path_with_prometheus())
        .output()
        .expect("run darkscrape demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "demo failed after {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        started.elapsed()
    );
    assert!(
        stdout.contains("got \"you sent me: hello from the darkscrape demo\""),
        "{stdout}"
    );
    assert!(stdout.contains("application/openmetrics-text"), "{stdout}");
    let total = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("reflect_total_connections "))
        .unwrap_or_else(|| panic!("no reflect_total_connections line in\n{stdout}"));
    assert_eq!(total.split_whitespace().last(), Some("1"), "{total}");
    for name in ["client.json", "scraper.json", "reflectz.json", "lab.toml"] {
        assert!(dir.path().join(name).exists(), "{name} written");
    }
    // The gateway, and the Prometheus the demo started, which scrapes reflectz through it.
    assert!(
        stdout.contains("federate gateway on http://127.0.0.1:")
            && stdout.contains("discovers 'reflectz@reflect-metrics'"),
        "{stdout}"
    );
    assert!(
        stdout.contains("scrapes every dark target through the gateway: up == 1"),
        "{stdout}"
    );
    assert!(dir.path().join("prometheus/prometheus.yml").exists());
    assert!(started.elapsed() < Duration::from_secs(300));

    // A second run reuses the lab directory (identities re-issued, same model).
    let again = Command::new(env!("CARGO_BIN_EXE_darkscrape"))
        .args([
            "demo",
            "--once",
            "--gateway",
            "127.0.0.1:0",
            "--no-prometheus",
            "--dir",
        ])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run darkscrape demo again");
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success(),
        "second demo run failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(stdout.contains("you sent me:"), "{stdout}");
    // Without Prometheus the demo prints the scrape configuration to paste.
    assert!(
        stdout.contains("scrape configuration:") && stdout.contains("proxy_url: http://127.0.0.1:"),
        "{stdout}"
    );
}

/// PATH with the directory of the Prometheus the tests use first, so the demo finds it.
fn path_with_prometheus() -> std::ffi::OsString {
    let prometheus = testbed::peers::prometheus();
    let dir = prometheus.parent().expect("prometheus has a directory");
    let mut dirs = vec![dir.to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH")
}
