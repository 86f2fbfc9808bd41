//! `darkscrape probe`, the exec probe of the Kubernetes manifests: the real binary against
//! a health file from the real writer (`dark_metrics::health::spawn_health_file`). Fresh
//! passes with exit 0; stale, missing and foreign files fail with exit 1 and one line
//! saying why.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, SystemTime};

use dark_metrics::health::spawn_health_file;

fn probe(file: &Path, max_age: &str) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_darkscrape"))
        .args(["probe", "--health-file"])
        .arg(file)
        .args(["--max-age", max_age])
        .env_remove("HEALTH_FILE")
        .env_remove("RUST_LOG")
        .output()
        .expect("darkscrape runs")
}

fn stderr_line(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(text.trim_end().lines().count(), 1, "one line: {text:?}");
    text
}

#[tokio::test]
async fn fresh_passes_stale_missing_and_foreign_fail() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("healthy");
    let writer = spawn_health_file(&file, Duration::from_secs(3600), || Ok(())).unwrap();
    for _ in 0..200 {
        if file.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let fresh = probe(&file, "30");
    assert!(fresh.status.success(), "{fresh:?}");
    assert!(String::from_utf8_lossy(&fresh.stdout).starts_with("healthy: "));

    // The writer refreshes only every hour here: backdate the file past --max-age.
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(45))
        .unwrap();
    let stale = probe(&file, "30");
    assert_eq!(stale.status.code(), Some(1), "{stale:?}");
    let line = stderr_line(&stale);
    // 45 s and the few milliseconds the probe took to start.
    assert!(
        line.contains("is 45.") && line.contains("s old (max 30s)"),
        "{line}"
    );
    assert!(
        probe(&file, "60").status.success(),
        "45 s is fresh for --max-age 60"
    );

    drop(writer);
    let missing = probe(&file, "30");
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    assert!(stderr_line(&missing).contains("does not exist"));

    std::fs::write(&file, "OK\n").unwrap();
    let foreign = probe(&file, "30");
    assert_eq!(foreign.status.code(), Some(1), "{foreign:?}");
    assert!(stderr_line(&foreign).contains("not a darkscrape health file"));

    let zero = probe(&file, "0");
    assert_eq!(zero.status.code(), Some(2), "--max-age 0 is a usage error");
}
