//! An unmodified Prometheus (Debian's 2.42) scrapes dark targets through `darkscrape
//! federate`, with the scrape configuration the README prints and no relabel rules.
//!
//! On the in-process lab: two reflectz processes host one metrics service with addressable
//! terminators, beside `darkscrape node-exporter`, the `custom_exporter` example, a target
//! hosted by the real OpenZiti C SDK (PyPI `openziti` 0.6.0), and four bad targets (garbage,
//! oversized, hanging, closing mid-body). Every good target reaches `up == 1` with its own
//! `instance`, each bad one `up == 0` with its own reason in the gateway's reason series (as
//! Prometheus stores it), and so do a service the scraper may only bind and one that does not
//! exist, named by hand. Then one reflectz stops: its target goes down with reason
//! `no_terminator` while the others stay up. promtool checks the gateway's `/metrics`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use dark_listener::context::Context;
use dark_listener::listener::BindOptions;
use testbed::lab::{ephemeral_config, free_loopback_addr, TestLab};
use testbed::peers::{peer_python, workspace_root};
use testbed::prometheus::{label, value, TestPrometheus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Child;
use ziti_lab::{IdentityDecl, LabConfig, PolicyType, ServiceDecl, ServicePolicyDecl};

const REFLECT: &str = "reflect";
const REFLECT_METRICS: &str = "reflect-metrics";
const NODE: &str = "node-metrics.host-1";
const CUSTOM: &str = "custom-metrics";
const C_SDK: &str = "c-sdk-metrics";
const FORBIDDEN: &str = "forbidden-metrics";
/// Bad targets and what the gateway must say about each.
const BAD: [(&str, &str); 4] = [
    ("bad-garbage", "invalid_exposition"),
    ("bad-oversize", "body_too_large"),
    ("bad-hang", "timeout"),
    ("bad-midbody", "closed_mid_body"),
];
/// The gateway's body limit in this test (the oversized target sends twice as much).
const BODY_LIMIT: usize = 1 << 20;

fn lab_config() -> LabConfig {
    let mut config = ephemeral_config();
    config.identities.clear();
    config.services.clear();
    config.service_policies.clear();
    for (name, role) in [
        ("reflectz", "workload"),
        ("reflectz-2", "workload"),
        ("node-host", "workload"),
        ("custom-host", "workload"),
        ("c-host", "workload"),
        ("bad-host", "workload"),
        ("scraper", "scraper"),
    ] {
        config.identities.push(IdentityDecl {
            name: name.into(),
            roles: vec![role.into()],
        });
    }
    let mut service = |name: &str, role: &str, encrypted: bool| {
        config.services.push(ServiceDecl {
            name: name.into(),
            roles: vec![role.into(), "demo".into()],
            encryption_required: encrypted,
            configs: Default::default(),
        })
    };
    service(REFLECT, "echo", false);
    service(REFLECT_METRICS, "scrape", true);
    service(NODE, "scrape", false);
    service(CUSTOM, "scrape", true);
    service(C_SDK, "scrape", false);
    for (name, _) in BAD {
        service(name, "scrape", false);
    }
    service(FORBIDDEN, "forbidden", false);
    let mut policy = |name: &str, kind, identities: &str, services: &[&str]| {
        config.service_policies.push(ServicePolicyDecl {
            name: name.into(),
            policy_type: kind,
            identities: vec![identities.into()],
            services: services.iter().map(|s| s.to_string()).collect(),
        })
    };
    policy(
        "workloads-bind",
        PolicyType::Bind,
        "#workload",
        &["#scrape", "#echo", "#forbidden"],
    );
    policy("scraper-dial", PolicyType::Dial, "#scraper", &["#scrape"]);
    // The scraper sees this service but may only bind it: a dial is refused by policy.
    policy(
        "scraper-bind-only",
        PolicyType::Bind,
        "#scraper",
        &["#forbidden"],
    );
    config
}

fn darkscrape() -> tokio::process::Command {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_darkscrape"))
}

/// Starts `command` with its stderr in `<dir>/<name>.log`.
fn spawn(mut command: tokio::process::Command, dir: &Path, name: &str) -> Child {
    command
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join(format!("{name}.log"))).expect("log file"))
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{name} does not start: {e}"))
}

/// The logs of every child, for failure messages.
fn logs(dir: &Path) -> String {
    testbed::files::log_tails(dir, 30)
}

/// Hosts one misbehaving HTTP target per entry of [`BAD`] with `ctx`.
async fn host_bad_targets(ctx: &Context) {
    for (service, reason) in BAD {
        let mut listener = ctx
            .bind(service, BindOptions::default())
            .await
            .unwrap_or_else(|e| panic!("bind {service}: {e}"));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 65536 {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = |length: usize| {
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
                             Content-Length: {length}\r\n\r\n"
                        )
                    };
                    match reason {
                        "invalid_exposition" => {
                            let body = "<html><body>This is not a metrics page</body></html>\n";
                            let _ = stream.write_all(head(body.len()).as_bytes()).await;
                            let _ = stream.write_all(body.as_bytes()).await;
                        }
                        "body_too_large" => {
                            let body = "big_metric 1\n".repeat(2 * BODY_LIMIT / 13);
                            let _ = stream.write_all(head(body.len()).as_bytes()).await;
                            let _ = stream.write_all(body.as_bytes()).await;
                        }
                        "timeout" => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        _ => {
                            let _ = stream.write_all(head(100_000).as_bytes()).await;
                            let _ = stream.write_all("half 1\n".repeat(100).as_bytes()).await;
                        }
                    }
                    let _ = stream.shutdown().await;
                });
            }
        });
    }
}

/// The README's scrape configuration block, verbatim.
fn readme_scrape_config() -> String {
    testbed::files::readme_block("federate-scrape-config")
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("gateway reachable");
    let request = http::Request::get(path)
        .header("host", addr.to_string())
        .body(http_body_util::Empty::new())
        .unwrap();
    let response = testbed::http::send_on(tcp, request).await;
    (
        response.status().as_u16(),
        String::from_utf8_lossy(response.body()).into_owned(),
    )
}

/// `instance` → value of a query's result.
fn by_instance(result: &[serde_json::Value]) -> BTreeMap<String, f64> {
    result
        .iter()
        .filter_map(|item| Some((label(item, "instance")?.to_string(), value(item)?)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_prometheus_scrapes_every_dark_target_through_the_gateway() {
    let lab = TestLab::start_with(lab_config()).await;
    let dir = lab.dir.path().to_path_buf();
    let mut children: BTreeMap<&str, Child> = BTreeMap::new();
    for host in ["reflectz", "reflectz-2"] {
        let mut command = darkscrape();
        command
            .arg("reflectz")
            .arg("--identity")
            .arg(lab.identity_file(host))
            .args(["--service", REFLECT, "--metrics-service", REFLECT_METRICS]);
        children.insert(host, spawn(command, &dir, host));
    }
    let mut command = darkscrape();
    command
        .args(["node-exporter", "--identity"])
        .arg(lab.identity_file("node-host"))
        .args(["--service", NODE]);
    children.insert("node-exporter", spawn(command, &dir, "node-exporter"));
    let mut command =
        tokio::process::Command::new(testbed::process::built_binary("examples/custom_exporter"));
    command.arg(lab.identity_file("custom-host")).arg(CUSTOM);
    children.insert("custom", spawn(command, &dir, "custom-exporter"));
    let mut command = tokio::process::Command::new(peer_python());
    command
        .arg(workspace_root().join("tests/support/c_sdk_metrics_host.py"))
        .arg(lab.identity_file("c-host"))
        .arg(C_SDK)
        .env("ZITI_LOG", "2");
    children.insert("c-sdk", spawn(command, &dir, "c-sdk-host"));
    let bad_host = lab.context("bad-host").await;
    host_bad_targets(&bad_host).await;

    let gateway_addr = free_loopback_addr();
    let mut command = darkscrape();
    command
        .arg("federate")
        .arg("--identity")
        .arg(lab.identity_file("scraper"))
        .arg("--listen")
        .arg(gateway_addr.to_string())
        .args(["--service-attribute", "scrape", "--refresh-interval", "1"])
        .args(["--max-body-bytes", &BODY_LIMIT.to_string()]);
    children.insert("gateway", spawn(command, &dir, "gateway"));

    let good = [
        "reflectz@reflect-metrics".to_string(),
        "reflectz-2@reflect-metrics".to_string(),
        NODE.to_string(),
        format!("custom-host@{CUSTOM}"),
        C_SDK.to_string(),
    ];
    let bad: Vec<String> = BAD.iter().map(|(s, _)| s.to_string()).collect();
    // Prometheus reads the list at start-up: wait until the gateway lists every target.
    let mut listed = String::new();
    for _ in 0..600 {
        if let Ok(tcp) = tokio::net::TcpStream::connect(gateway_addr).await {
            drop(tcp);
            let (status, body) = get(gateway_addr, "/sd").await;
            if status == 200
                && good
                    .iter()
                    .chain(&bad)
                    .all(|i| body.contains(&format!("\"{i}\"")))
            {
                listed = body;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !listed.is_empty(),
        "the gateway did not list every target within 60 s\n{}",
        logs(&dir)
    );
    assert!(
        !listed.contains(FORBIDDEN) && !listed.contains(&format!("\"{REFLECT}\"")),
        "{listed}"
    );

    // The README's configuration, at this test's address, plus two jobs naming by hand a
    // service the scraper may only bind and one that does not exist. The 2.5 s scrape
    // timeout leaves the debug-built exporters room on a loaded machine: a good target that
    // timed out would show a reason of its own and fail the exact comparison below.
    let config = format!(
        "global:\n  scrape_interval: 3s\n  scrape_timeout: 2500ms\n{}\
         \x20 - job_name: refused\n    proxy_url: http://{gateway_addr}/\n    static_configs:\n\
         \x20     - targets: [{FORBIDDEN}, no-such-service]\n",
        readme_scrape_config().replace("127.0.0.1:9099", &gateway_addr.to_string())
    );
    let prometheus = TestPrometheus::start(&config).await;
    let context = || logs(&dir);
    let expected_up: BTreeMap<String, f64> = good
        .iter()
        .map(|i| (i.clone(), 1.0))
        .chain(bad.iter().map(|i| (i.clone(), 0.0)))
        .collect();
    prometheus
        .wait_for(
            "up{job=\"dark\"}",
            Duration::from_secs(90),
            |result| by_instance(result) == expected_up,
            context,
        )
        .await;
    // The hand-addressed target of the README's second job.
    prometheus
        .wait_for(
            "up{job=\"dark-by-hand\"}",
            Duration::from_secs(60),
            |result| result.len() == 1 && value(&result[0]) == Some(1.0),
            context,
        )
        .await;
    // Every failure with its own reason, as Prometheus stored the gateway's series.
    let mut expected_reasons: BTreeMap<String, String> = BAD
        .iter()
        .map(|(service, reason)| (service.to_string(), reason.to_string()))
        .collect();
    expected_reasons.insert(FORBIDDEN.into(), "not_permitted".into());
    expected_reasons.insert("no-such-service".into(), "unknown_service".into());
    let reasons_of = |result: &[serde_json::Value]| -> BTreeMap<String, String> {
        result
            .iter()
            .filter_map(|item| {
                Some((
                    label(item, "instance")?.to_string(),
                    label(item, "reason")?.to_string(),
                ))
            })
            .collect()
    };
    prometheus
        .wait_for(
            "darkscrape_federate_last_scrape_error{job=\"darkscrape-federate\"}",
            Duration::from_secs(60),
            |result| reasons_of(result) == expected_reasons,
            context,
        )
        .await;
    // The join the README shows: every target that is down, with why.
    let joined = prometheus
        .query("up{job=\"dark\"} == 0 and on(instance) darkscrape_federate_last_scrape_error")
        .await;
    assert_eq!(joined.len(), BAD.len(), "{joined:?}");

    // One host stops: its target stays listed a while and goes down, with the reason.
    let mut reflectz_2 = children.remove("reflectz-2").unwrap();
    reflectz_2.kill().await.unwrap();
    let mut after = expected_up.clone();
    after.insert("reflectz-2@reflect-metrics".into(), 0.0);
    prometheus
        .wait_for(
            "up{job=\"dark\"}",
            Duration::from_secs(60),
            |result| by_instance(result) == after,
            context,
        )
        .await;
    prometheus
        .wait_for(
            "darkscrape_federate_last_scrape_error{instance=\"reflectz-2@reflect-metrics\"}",
            Duration::from_secs(60),
            |result| result.len() == 1 && label(&result[0], "reason") == Some("no_terminator"),
            context,
        )
        .await;

    // The gateway's own metrics pass promtool.
    let (status, body) = get(gateway_addr, "/metrics").await;
    assert_eq!(status, 200);
    for family in [
        "darkscrape_federate_targets",
        "darkscrape_federate_scrapes_total",
        "darkscrape_federate_dial_duration_seconds_bucket",
        "darkscrape_federate_scrape_duration_seconds_bucket",
        "darkscrape_federate_scraped_bytes_total",
    ] {
        assert!(body.contains(family), "/metrics lacks {family}:\n{body}");
    }
    let (code, output) = testbed::promtool::check_metrics(body.as_bytes());
    assert_eq!(code, Some(0), "promtool check metrics:\n{output}");
    // The status page lists the targets with their last outcome.
    let (status, page) = get(gateway_addr, "/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("reflectz-2@reflect-metrics") && page.contains("no_terminator"),
        "{page}"
    );

    prometheus.stop().await;
    for (_, mut child) in children {
        let _ = child.kill().await;
    }
    bad_host.shutdown(Duration::from_secs(2)).await;
    lab.stop().await;
}
