//! Enrollment interop with the OpenZiti Go SDK v1.9.0 (`go-peer enroll`, which enrolls and
//! writes the identity file as `ziti edge enroll` does), against the lab controller, for EC
//! and RSA keys in both directions:
//!
//! * an identity file the Go SDK enrolled loads into our SDK unchanged (the file is not
//!   rewritten), logs in, hosts a service, and a dial reaches it;
//! * an identity file our `enroll` wrote (what `darkscrape enroll` writes) loads into the Go
//!   SDK, which hosts a service with it that our dialer reaches.

#[path = "sdk_support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use dark_listener::context::{Context, ContextOptions, DialOptions};
use dark_listener::enroll::{enroll, EnrollOptions, KeyType};
use dark_listener::identity::Identity;
use dark_listener::listener::BindOptions;
use support::{payload, round_trip, spawn_echo, start_lab, PLAIN};
use testbed::go_peer::GoHost;
use testbed::lab::TestLab;
use testbed::peers::go_peer;

/// Writes a fresh enrollment JWT for `name` and has the Go SDK enroll it with `key_alg`;
/// returns the identity file's path.
async fn go_enroll(lab: &TestLab, name: &str, key_alg: &str) -> PathBuf {
    let jwt = lab.lab.enrollment_jwt(name).unwrap();
    let jwt_path = lab.dir.path().join(format!("{name}-go.jwt"));
    std::fs::write(&jwt_path, jwt).unwrap();
    let out_path = lab.dir.path().join(format!("{name}-go.json"));
    let out = tokio::process::Command::new(go_peer())
        .arg("enroll")
        .args(["-keyAlg", key_alg])
        .arg(&jwt_path)
        .arg(&out_path)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("Go SDK enrollment did not finish in 60 s")
        .unwrap();
    assert!(
        out.status.success() && out_path.exists(),
        "Go SDK enrollment of {name} ({key_alg}) failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out_path
}

/// Dials `service` at the terminator `host` (retried for up to 15 s while the bind
/// settles) and checks a 300 kB echo.
async fn echo_via(dialer: &Context, service: &str, host: &str) {
    let options = DialOptions {
        terminator_identity: Some(host.into()),
        timeout: Duration::from_secs(10),
        ..DialOptions::default()
    };
    let mut stream = None;
    for _ in 0..150 {
        if let Ok(s) = dialer.dial(service, options.clone()).await {
            stream = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stream = stream.unwrap_or_else(|| panic!("{host} did not host {service} within 15 s"));
    let data = payload(300_001, 77);
    assert!(round_trip(stream, &data).await == data, "echo via {host}");
}

fn key_algorithm_of(path: &Path) -> &'static str {
    let text = std::fs::read_to_string(path).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    let key = file["id"]["key"].as_str().unwrap_or_default();
    if key.contains("EC PRIVATE KEY") {
        "EC"
    } else if key.contains("RSA PRIVATE KEY") {
        "RSA"
    } else {
        "unknown"
    }
}

async fn go_enrolled_identity_hosts_for_our_sdk(name: &str, key_alg: &str) {
    let lab = start_lab().await;
    let path = go_enroll(&lab, name, key_alg).await;
    assert_eq!(key_algorithm_of(&path), key_alg);
    let before = std::fs::read(&path).unwrap();
    let identity = Identity::from_file(&path)
        .unwrap_or_else(|e| panic!("the Go SDK's {key_alg} identity file does not load: {e}"));
    assert_eq!(
        identity.name(),
        lab.lab.state().identity_by_name(name).unwrap().id
    );
    let host = Context::with_options(identity, ContextOptions::default()).unwrap();
    host.wait_authenticated(Duration::from_secs(20))
        .await
        .unwrap();
    let options = BindOptions {
        bind_using_edge_identity: true,
        ..BindOptions::default()
    };
    let echo = spawn_echo(host.bind(PLAIN, options).await.unwrap(), "");
    let dialer = lab.context("dialer").await;
    echo_via(&dialer, PLAIN, name).await;
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file was rewritten"
    );
    dialer.shutdown(Duration::from_secs(5)).await;
    host.shutdown(Duration::from_secs(5)).await;
    echo.await.unwrap();
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_sdk_enrolled_ec_identity_loads_unchanged_and_hosts() {
    go_enrolled_identity_hosts_for_our_sdk("host-a", "EC").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_sdk_enrolled_rsa_identity_loads_unchanged_and_hosts() {
    go_enrolled_identity_hosts_for_our_sdk("host-b", "RSA").await;
}

async fn our_enrolled_identity_hosts_in_the_go_sdk(name: &str, key_type: KeyType) {
    let lab = start_lab().await;
    let jwt = lab.lab.enrollment_jwt(name).unwrap();
    let options = EnrollOptions {
        key_type,
        ..EnrollOptions::default()
    };
    let enrolled = enroll(&jwt, &options).await.unwrap();
    let path = lab.dir.path().join(format!("{name}-ours.json"));
    std::fs::write(&path, enrolled.to_json_go_style()).unwrap();
    let host = GoHost::start("host", &["-edge-identity"], &path, PLAIN).await;
    let dialer = lab.context("dialer").await;
    echo_via(&dialer, PLAIN, name).await;
    dialer.shutdown(Duration::from_secs(5)).await;
    host.stop().await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_ec_enrolled_identity_hosts_in_the_go_sdk() {
    our_enrolled_identity_hosts_in_the_go_sdk("host-a", KeyType::EcP256).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_rsa_enrolled_identity_hosts_in_the_go_sdk() {
    our_enrolled_identity_hosts_in_the_go_sdk("host-b", KeyType::Rsa2048).await;
}
