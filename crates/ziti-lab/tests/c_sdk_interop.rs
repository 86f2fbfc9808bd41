//! Interop with the real OpenZiti C SDK (PyPI openziti 0.6.0 = libziti 0.29.3): it must enroll
//! against the lab and load the resulting identity (authenticate, list routers and services).

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::support_file;
use ziti_lab::test_support::peers::peer_python;
use ziti_lab::test_support::{ephemeral_config, new_lab};

/// Runs the peer script with a time limit; returns (exit ok, stdout lines as JSON, stderr).
async fn run_peer(args: &[&str], limit: Duration) -> (bool, Vec<serde_json::Value>, String) {
    let mut cmd = tokio::process::Command::new(peer_python());
    cmd.arg(support_file("c_sdk_peer.py"))
        .args(args)
        .env("ZITI_LOG", "3")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().expect("cannot start the peer python");
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("C SDK peer did not finish within {limit:?} (args {args:?})"))
        .unwrap();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (
        out.status.success(),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn step<'a>(lines: &'a [serde_json::Value], name: &str) -> Option<&'a serde_json::Value> {
    lines.iter().find(|l| l["step"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_sdk_enrolls_with_a_lab_jwt_and_loads_the_identity() {
    let (dir, lab) = new_lab(ephemeral_config());
    let running = lab.start().await.unwrap();
    let jwt = lab.enrollment_jwt("reflectz").unwrap();
    let jwt_path = dir.path().join("reflectz.jwt");
    std::fs::write(&jwt_path, &jwt).unwrap();
    let id_path = dir.path().join("reflectz.json");

    let (ok, lines, stderr) = run_peer(
        &[
            "enroll-load",
            jwt_path.to_str().unwrap(),
            id_path.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    )
    .await;
    assert!(ok, "peer failed: {lines:?}\n--- stderr ---\n{stderr}");
    let enrolled = step(&lines, "enrolled").expect("no enrolled step");
    assert_eq!(enrolled["ztAPI"], running.controller_url());
    assert_eq!(enrolled["has_cert"], true, "{enrolled}");
    assert_eq!(enrolled["has_key"], true, "{enrolled}");
    assert_eq!(enrolled["has_ca"], true, "{enrolled}");
    assert_eq!(
        step(&lines, "loaded").expect("no loaded step")["context"],
        true
    );

    // The lab saw the SDK authenticate with the enrolled certificate.
    let identity = lab.state().identity_by_name("reflectz").unwrap();
    let sessions = lab.state().api_sessions_of(&identity.id);
    assert!(!sessions.is_empty(), "no API session for reflectz");

    // The same JWT cannot enroll twice.
    let (ok, lines, _) = run_peer(
        &[
            "enroll-load",
            jwt_path.to_str().unwrap(),
            dir.path().join("again.json").to_str().unwrap(),
        ],
        Duration::from_secs(60),
    )
    .await;
    assert!(
        !ok,
        "second enrollment with the same JWT succeeded: {lines:?}"
    );
    let error = step(&lines, "error").expect("no error step");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("not accepted by controller"),
        "{error}"
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_sdk_loads_a_go_style_identity_file_issued_by_the_lab() {
    let (dir, lab) = new_lab(ephemeral_config());
    let running = lab.start().await.unwrap();
    let id_path = dir.path().join("client.json");
    lab.issue_identity_file("client", &id_path).unwrap();
    let (ok, lines, stderr) = run_peer(
        &["load", id_path.to_str().unwrap()],
        Duration::from_secs(60),
    )
    .await;
    assert!(ok, "peer failed: {lines:?}\n--- stderr ---\n{stderr}");
    assert_eq!(
        step(&lines, "loaded").expect("no loaded step")["context"],
        true
    );
    let identity = lab.state().identity_by_name("client").unwrap();
    assert!(!lab.state().api_sessions_of(&identity.id).is_empty());
    running.shutdown().await;
}
