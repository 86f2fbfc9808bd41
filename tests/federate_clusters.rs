//! Dark federation between two clusters on the lab, read by a stock Prometheus (Debian's
//! 2.42) through a central gateway:
//!
//! * cluster A: reflectz hosted dark, and a cluster gateway served with `--service` only
//!   (no IP listener) whose scrape loop feeds `/federate`, with external label `cluster=a`;
//! * cluster B (the seed's): a stock Prometheus and Debian's node_exporter 1.5.0 on loopback,
//!   hosted dark byte for byte with `darkscrape host`;
//! * central: a gateway on another identity discovers both federation services (attribute
//!   `federation`), and Prometheus federates them through it with `honor_labels`.
//!
//! Checked: both clusters' series arrive with their original `instance` and cluster label;
//! node_exporter is also scraped through the central gateway; neither cluster process has a
//! listening IP socket; A's `/federate` passes promtool, refuses bad selectors with the
//! parser's message, and drops a stopped target's series on the next cycle.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use testbed::lab::{ephemeral_config, free_loopback_addr, TestLab};
use testbed::peers::node_exporter;
use testbed::prometheus::{label, TestPrometheus};
use tokio::process::Child;
use ziti_lab::{IdentityDecl, LabConfig, PolicyType, ServiceDecl, ServicePolicyDecl};

fn lab_config() -> LabConfig {
    let mut config = ephemeral_config();
    config.identities = ["a-workload", "a-gateway", "b-host", "central"]
        .iter()
        .map(|name| IdentityDecl {
            name: (*name).into(),
            roles: vec![],
        })
        .collect();
    config.services = [
        ("a-reflect", "a-echo"),
        ("a-reflect-metrics", "a-scrape"),
        ("a-federate", "federation"),
        ("b-federate", "federation"),
        ("b-node", "b-scrape"),
    ]
    .iter()
    .map(|(name, role)| ServiceDecl {
        name: (*name).into(),
        roles: vec![(*role).into()],
        encryption_required: true,
        configs: Default::default(),
    })
    .collect();
    let policy = |name: &str, kind, identity: &str, services: &[&str]| ServicePolicyDecl {
        name: name.into(),
        policy_type: kind,
        identities: vec![format!("@{identity}")],
        services: services.iter().map(|s| s.to_string()).collect(),
    };
    config.service_policies = vec![
        policy(
            "a-workload-binds",
            PolicyType::Bind,
            "a-workload",
            &["#a-echo", "#a-scrape"],
        ),
        policy(
            "a-gateway-dials",
            PolicyType::Dial,
            "a-gateway",
            &["#a-scrape"],
        ),
        policy(
            "a-gateway-binds",
            PolicyType::Bind,
            "a-gateway",
            &["@a-federate"],
        ),
        policy(
            "b-host-binds",
            PolicyType::Bind,
            "b-host",
            &["@b-federate", "@b-node"],
        ),
        policy(
            "central-dials",
            PolicyType::Dial,
            "central",
            &["#federation", "@b-node"],
        ),
    ];
    config
}

fn spawn(program: &Path, args: &[&str], dir: &Path, name: &str) -> Child {
    tokio::process::Command::new(program)
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("{name}.log"))).expect("log file"))
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{name} does not start: {e}"))
}

fn logs(dir: &Path) -> String {
    testbed::files::log_tails(dir, 20)
}

/// GET through the central gateway's proxy: (status, body).
async fn via_central(central: SocketAddr, uri: &str) -> (u16, String) {
    let tcp = tokio::net::TcpStream::connect(central)
        .await
        .expect("central gateway");
    let request = http::Request::get(uri)
        .header("host", "a-federate")
        .body(http_body_util::Empty::new())
        .unwrap();
    let response = testbed::http::send_on(tcp, request).await;
    (
        response.status().as_u16(),
        String::from_utf8_lossy(response.body()).into_owned(),
    )
}

/// Polls `check` every 500 ms for at most `seconds`.
async fn eventually<F, Fut>(seconds: u64, what: &str, dir: &Path, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut last = String::new();
    for _ in 0..seconds * 2 {
        match check().await {
            Ok(()) => return,
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("{what} within {seconds} s; last: {last}\n{}", logs(dir));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_prometheus_federates_two_dark_clusters() {
    let lab = TestLab::start_with(lab_config()).await;
    let dir = lab.dir.path().to_path_buf();
    let darkscrape = Path::new(env!("CARGO_BIN_EXE_darkscrape"));
    let id = |name: &str| lab.identity_file(name).display().to_string();

    // Cluster A.
    let mut a_reflectz = spawn(
        darkscrape,
        &[
            "reflectz",
            "--identity",
            &id("a-workload"),
            "--service",
            "a-reflect",
            "--metrics-service",
            "a-reflect-metrics",
        ],
        &dir,
        "a-reflectz",
    );
    let a_gateway = spawn(
        darkscrape,
        &[
            "federate",
            "--identity",
            &id("a-gateway"),
            "--service",
            "a-federate",
            "--scrape-interval",
            "1",
            "--refresh-interval",
            "1",
            "--external-label",
            "cluster=a",
        ],
        &dir,
        "a-gateway",
    );

    // Cluster B: node_exporter and a Prometheus on loopback, hosted dark.
    let node_addr = free_loopback_addr();
    let _node = spawn(
        &node_exporter(),
        &[&format!("--web.listen-address={node_addr}")],
        &dir,
        "b-node-exporter",
    );
    let b_prometheus = TestPrometheus::start(&format!(
        "global:\n  scrape_interval: 1s\n  external_labels:\n    cluster: b\n\
         scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{node_addr}']\n"
    ))
    .await;
    let b_federate = spawn(
        darkscrape,
        &[
            "host",
            "--identity",
            &id("b-host"),
            "--service",
            "b-federate",
            "--to",
            &b_prometheus.addr().to_string(),
        ],
        &dir,
        "b-host-federate",
    );
    let _b_node = spawn(
        darkscrape,
        &[
            "host",
            "--identity",
            &id("b-host"),
            "--service",
            "b-node",
            "--to",
            &node_addr.to_string(),
        ],
        &dir,
        "b-host-node",
    );

    // Central.
    let central = free_loopback_addr();
    let _central = spawn(
        darkscrape,
        &[
            "federate",
            "--identity",
            &id("central"),
            "--listen",
            &central.to_string(),
            "--service-attribute",
            "federation",
            "--refresh-interval",
            "1",
            "--scrape-interval",
            "0",
        ],
        &dir,
        "central-gateway",
    );
    eventually(
        60,
        "the central gateway lists both federation services",
        &dir,
        || async {
            let Ok(tcp) = tokio::net::TcpStream::connect(central).await else {
                return Err("central not listening yet".into());
            };
            drop(tcp);
            let (status, body) = via_central(central, "/sd").await;
            if status == 200 && body.contains("\"a-federate\"") && body.contains("\"b-federate\"") {
                Ok(())
            } else {
                Err(format!("{status} {body}"))
            }
        },
    )
    .await;

    // Neither cluster process listens on an IP socket.
    for (child, what) in [
        (&a_gateway, "cluster A gateway"),
        (&b_federate, "cluster B host"),
    ] {
        let pid = child.id().expect("running");
        if let Err(not_dark) = ziti_lab::sockets::check_process_dark(pid) {
            panic!("{what}: {not_dark}");
        }
    }

    // A's /federate through the central proxy: refusals, then promtool on its output.
    let (status, body) = via_central(central, "http://a-federate/federate").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("no match[] given"), "{body}");
    let (status, body) = via_central(central, "http://a-federate/federate?match%5B%5D=up%7B").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("match[]=\"up{\""), "{body}");
    let all = "http://a-federate/federate?match%5B%5D=%7Bjob%3D~%22.%2B%22%7D";
    eventually(
        30,
        "A's /federate serves reflectz's series",
        &dir,
        || async {
            let (status, body) = via_central(central, all).await;
            if status == 200 && body.contains("reflect_total_connections") {
                Ok(())
            } else {
                Err(format!("{status}: {body}"))
            }
        },
    )
    .await;
    let (_, body) = via_central(central, all).await;
    let (code, output) = testbed::promtool::check_metrics(body.as_bytes());
    assert_eq!(
        code,
        Some(0),
        "promtool check metrics on /federate:\n{output}\n{body}"
    );
    assert!(
        body.contains("# HELP reflect_total_connections"),
        "HELP kept:\n{body}"
    );

    // The central Prometheus federates both clusters through the central gateway.
    // The README's central configuration, at this test's address, plus a job scraping
    // cluster B's node_exporter through the central gateway by hand.
    let config = format!(
        "global:\n  scrape_interval: 1s\n{}\
         \x20 - job_name: b-node\n    proxy_url: http://{central}/\n    static_configs:\n\
         \x20     - targets: [b-node]\n",
        testbed::files::readme_block("federate-central-config")
            .replace("127.0.0.1:9099", &central.to_string())
    );
    let prometheus = TestPrometheus::start(&config).await;
    let context = || logs(&dir);
    prometheus
        .wait_for(
            "reflect_total_connections",
            Duration::from_secs(60),
            |result| {
                result.iter().any(|item| {
                    label(item, "cluster") == Some("a")
                        && label(item, "instance") == Some("a-workload@a-reflect-metrics")
                        && label(item, "job") == Some("dark")
                })
            },
            context,
        )
        .await;
    prometheus
        .wait_for(
            "node_load1",
            Duration::from_secs(60),
            |result| {
                let node = node_addr.to_string();
                result.iter().any(|i| {
                    label(i, "cluster") == Some("b") && label(i, "instance") == Some(node.as_str())
                }) && result.iter().any(|i| label(i, "job") == Some("b-node"))
            },
            context,
        )
        .await;

    // A stopped target's series leave A's /federate on the next cycle; its `up` says 0.
    a_reflectz.kill().await.unwrap();
    eventually(
        30,
        "the stopped target's series leave /federate",
        &dir,
        || async {
            let (_, body) = via_central(central, all).await;
            let gone = !body.contains("reflect_total_connections");
            let down = body.lines().any(|l| {
                l.starts_with("up{")
                    && l.contains("instance=\"a-workload@a-reflect-metrics\"")
                    && l.contains("} 0 ")
            });
            if gone && down {
                Ok(())
            } else {
                Err(body)
            }
        },
    )
    .await;

    prometheus.stop().await;
    b_prometheus.stop().await;
    lab.stop().await;
}
