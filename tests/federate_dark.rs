//! `darkscrape federate --service` with no `--listen`: the gateway is hosted on the overlay
//! only. The process holds no listening IP socket (`ziti_lab::sockets`); a client on the
//! overlay reads `/sd` and scrapes a dark exporter through the gateway's proxy over one
//! kept-alive overlay connection; and the target list follows the controller: a Dial policy
//! added while the gateway runs brings its service in, and deleting the policy takes it out.

use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use dark_listener::context::{Context, DialOptions};
use dark_listener::listener::BindOptions;
use dark_metrics::serve::MetricsServer;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use testbed::lab::{ephemeral_config, TestLab};
use ziti_lab::{IdentityDecl, LabConfig, PolicyType, ServiceDecl, ServicePolicyDecl};

const GATEWAY_SERVICE: &str = "federate.gateway";
const APP: &str = "app-metrics";
const LATE: &str = "late-metrics";

fn policy(name: &str, kind: PolicyType, identity: &str, service: &str) -> ServicePolicyDecl {
    ServicePolicyDecl {
        name: name.into(),
        policy_type: kind,
        identities: vec![identity.into()],
        services: vec![service.into()],
    }
}

fn lab_config() -> LabConfig {
    let mut config = ephemeral_config();
    config.identities.clear();
    config.services.clear();
    config.service_policies.clear();
    for name in ["host", "gateway", "prometheus"] {
        config.identities.push(IdentityDecl {
            name: name.into(),
            roles: vec![],
        });
    }
    for name in [GATEWAY_SERVICE, APP, LATE] {
        config.services.push(ServiceDecl {
            name: name.into(),
            roles: vec![],
            encryption_required: name != APP,
            configs: Default::default(),
        });
    }
    config.service_policies = vec![
        policy(
            "host-binds-app",
            PolicyType::Bind,
            "@host",
            &format!("@{APP}"),
        ),
        policy(
            "host-binds-late",
            PolicyType::Bind,
            "@host",
            &format!("@{LATE}"),
        ),
        policy(
            "gateway-dials-app",
            PolicyType::Dial,
            "@gateway",
            &format!("@{APP}"),
        ),
        policy(
            "gateway-binds",
            PolicyType::Bind,
            "@gateway",
            &format!("@{GATEWAY_SERVICE}"),
        ),
        policy(
            "prometheus-dials",
            PolicyType::Dial,
            "@prometheus",
            &format!("@{GATEWAY_SERVICE}"),
        ),
    ];
    config
}

/// Hosts a metrics server on `service` (addressable by the host's name).
async fn host_metrics(ctx: &Context, service: &str) {
    let mut registry = Registry::default();
    let counter = Counter::<u64>::default();
    counter.inc_by(7);
    registry.register("dark_app_events", "Events.", counter);
    let server = MetricsServer::builder().registry(registry).build().unwrap();
    let options = BindOptions {
        bind_using_edge_identity: true,
        ..BindOptions::default()
    };
    let listener = ctx.bind(service, options).await.unwrap();
    tokio::spawn(async move { server.serve_dark(listener, std::future::pending()).await });
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn get(sender: &mut Sender, uri: &str) -> (u16, String) {
    let request = http::Request::get(uri)
        .header("host", GATEWAY_SERVICE)
        .body(Empty::new())
        .unwrap();
    sender.ready().await.expect("gateway connection kept alive");
    let response = tokio::time::timeout(Duration::from_secs(20), sender.send_request(request))
        .await
        .expect("answer within 20 s")
        .expect("answer");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Polls `/sd` until `done` accepts it (at most 30 s).
async fn wait_sd(
    sender: &mut Sender,
    done: impl Fn(&str) -> bool,
    log: &std::path::Path,
) -> String {
    let mut last = String::new();
    for _ in 0..300 {
        let (status, body) = get(sender, "/sd").await;
        if status == 200 && done(&body) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "/sd never reached the expected state; last: {last}\ngateway log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_served_only_on_the_overlay_follows_the_controller() {
    let lab = TestLab::start_with(lab_config()).await;
    let host = lab.context("host").await;
    host_metrics(&host, APP).await;
    host_metrics(&host, LATE).await;

    let log = lab.dir.path().join("gateway.log");
    let mut gateway = tokio::process::Command::new(env!("CARGO_BIN_EXE_darkscrape"))
        .arg("federate")
        .arg("--identity")
        .arg(lab.identity_file("gateway"))
        .args(["--service", GATEWAY_SERVICE, "--refresh-interval", "1"])
        // Proxy only: the scrape loop would dial the targets too.
        .args(["--scrape-interval", "0"])
        .env("RUST_LOG", "info")
        .env_remove("FEDERATE_LISTEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("darkscrape federate starts");

    let prometheus = lab.context("prometheus").await;
    let mut stream = None;
    for _ in 0..150 {
        match prometheus
            .dial(GATEWAY_SERVICE, DialOptions::default())
            .await
        {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let stream = stream.unwrap_or_else(|| {
        panic!(
            "the gateway service never became dialable:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let driver = tokio::spawn(connection);

    // Dark only: channels to the controller and router, nothing listening.
    let pid = gateway.id().expect("gateway running");
    if let Err(not_dark) = ziti_lab::sockets::check_process_dark(pid) {
        panic!("darkscrape federate --service: {not_dark}");
    }

    let sd = wait_sd(
        &mut sender,
        |body| body.contains(&format!("\"host@{APP}\"")),
        &log,
    )
    .await;
    assert!(!sd.contains(LATE) && !sd.contains(GATEWAY_SERVICE), "{sd}");
    // A proxied scrape over the same overlay connection.
    let (status, body) = get(
        &mut sender,
        &format!("http://{APP}/metrics?ziti_terminator=host"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("dark_app_events_total 7"), "{body}");
    // Kept alive: more scrapes of the target reuse the gateway's overlay connection to it.
    for _ in 0..3 {
        let (status, _) = get(
            &mut sender,
            &format!("http://{APP}/metrics?ziti_terminator=host"),
        )
        .await;
        assert_eq!(status, 200);
    }
    let (_, own) = get(&mut sender, "/metrics").await;
    assert!(
        own.lines()
            .any(|l| l == "darkscrape_federate_dial_duration_seconds_count 1"),
        "four scrapes of one target must dial it once:\n{own}"
    );
    assert!(
        own.contains(
            "darkscrape_federate_scrapes_total{outcome=\"success\",reason=\"\",via=\"proxy\"} 4"
        ),
        "{own}"
    );
    // Not an open proxy: no TLS tunnels, no other scheme, no other method.
    let (status, body) = get(&mut sender, "https://example.com/metrics").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("scheme \"https\" is not proxied"), "{body}");
    let (status, body) = get(&mut sender, "/no-such-endpoint").await;
    assert_eq!(status, 404, "{body}");

    // A Dial policy granted while the gateway runs brings the service in ...
    let state = lab.lab.state();
    state
        .add_service_policy(policy(
            "gateway-dials-late",
            PolicyType::Dial,
            "@gateway",
            &format!("@{LATE}"),
        ))
        .unwrap();
    wait_sd(
        &mut sender,
        |body| body.contains(&format!("\"host@{LATE}\"")),
        &log,
    )
    .await;
    let (status, body) = get(
        &mut sender,
        &format!("http://placeholder/metrics?ziti_service={LATE}&ziti_terminator=host"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // ... and revoking it takes it out.
    state.remove_service_policy("gateway-dials-late").unwrap();
    wait_sd(
        &mut sender,
        |body| !body.contains(LATE) && body.contains(APP),
        &log,
    )
    .await;
    assert!(state.remove_service_policy("gateway-dials-late").is_err());
    let connect = http::Request::connect("example.com:443")
        .body(Empty::new())
        .unwrap();
    sender.ready().await.unwrap();
    let response = sender.send_request(connect).await.unwrap();
    assert_eq!(response.status(), 405);

    drop(sender);
    driver.abort();
    let _ = gateway.kill().await;
    prometheus.shutdown(Duration::from_secs(2)).await;
    host.shutdown(Duration::from_secs(2)).await;
    lab.stop().await;
}
