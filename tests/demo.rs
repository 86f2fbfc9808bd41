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
            "--dir",
        ])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
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
    assert!(started.elapsed() < Duration::from_secs(300));

    // A second run reuses the lab directory (identities re-issued, same model).
    let again = Command::new(env!("CARGO_BIN_EXE_darkscrape"))
        .args(["demo", "--once", "--dir"])
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
}
