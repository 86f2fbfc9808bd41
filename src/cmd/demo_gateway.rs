//! The demo's last step: the federate gateway for an unmodified Prometheus.
//!
//! The gateway runs in the demo's process with the scraper identity, on a loopback bridge.
//! When a `prometheus` binary is on PATH (and `--no-prometheus` is not given), the demo starts
//! it on loopback with [`SCRAPE_CONFIG`] (the README's configuration), waits until the dark
//! target is up and prints where to look; otherwise it prints the configuration to paste.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context as _};
use dark_listener::context::Context;
use federate::scrape_loop::ScrapeLoopOptions;
use federate::{start_gateway, wait_for_targets, GatewayConfig, RunningGateway, TargetAddress};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::time::Instant;

use super::demo::{say, HOST_IDENTITY, METRICS_SERVICE};

/// The scrape configuration the README prints, with `{gateway}` for the bridge address
/// (a test checks that the README holds exactly this with `127.0.0.1:9099`).
pub const SCRAPE_CONFIG: &str = "\
scrape_configs:
  # Every dark target the scraper identity may dial, discovered and scraped through the gateway.
  - job_name: dark
    http_sd_configs:
      - url: http://{gateway}/sd
        refresh_interval: 15s
    proxy_url: http://{gateway}/
  # One target by hand: the service as the host, the hosting identity as a parameter.
  - job_name: dark-by-hand
    proxy_url: http://{gateway}/
    params:
      ziti_terminator: [reflectz]
    static_configs:
      - targets: [reflect-metrics]
  # The gateway itself. honor_labels keeps the target's `instance` on the reason series:
  #   up{job=\"dark\"} == 0 and on(instance) darkscrape_federate_last_scrape_error
  - job_name: darkscrape-federate
    honor_labels: true
    static_configs:
      - targets: [{gateway}]
";

/// [`SCRAPE_CONFIG`] for a gateway at `gateway`.
pub fn scrape_config(gateway: SocketAddr) -> String {
    SCRAPE_CONFIG.replace("{gateway}", &gateway.to_string())
}

/// The running gateway and the Prometheus the demo started, if any.
pub struct GatewayStep {
    /// The gateway.
    pub gateway: RunningGateway,
    prometheus: Option<tokio::process::Child>,
}

impl GatewayStep {
    /// Stops Prometheus (if the demo started one) and the gateway.
    pub async fn stop(mut self) {
        if let Some(mut child) = self.prometheus.take() {
            let _ = child.kill().await;
        }
        self.gateway.stop().await;
    }
}

/// `addr` when it can be bound now; a free port on the same address when its port is 0 or
/// already taken (then said on stdout, so a busy 9090 or 9099 does not stop the demo).
fn concrete(addr: SocketAddr, what: &str) -> anyhow::Result<SocketAddr> {
    if addr.port() != 0 && std::net::TcpListener::bind(addr).is_ok() {
        return Ok(addr);
    }
    let mut any = addr;
    any.set_port(0);
    let probe = std::net::TcpListener::bind(any).context("cannot find a free port")?;
    let chosen = probe.local_addr()?;
    if addr.port() != 0 {
        say(&format!(
            "{addr} is taken; the {what} uses {chosen} instead"
        ));
    }
    Ok(chosen)
}

/// `prometheus` on PATH.
fn prometheus_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("prometheus"))
        .find(|candidate| candidate.is_file())
}

/// Starts the gateway (and Prometheus when it can), and waits until the dark target is up.
pub async fn run(
    scraper: &Context,
    dir: &Path,
    gateway_addr: SocketAddr,
    prometheus_addr: Option<SocketAddr>,
    step: Duration,
) -> anyhow::Result<GatewayStep> {
    let gateway_addr = concrete(gateway_addr, "gateway")?;
    let gateway = start_gateway(
        scraper,
        GatewayConfig {
            listen: Some(gateway_addr),
            scrape_loop: Some(ScrapeLoopOptions::default()),
            ..GatewayConfig::default()
        },
    )
    .await
    .context("cannot start the federate gateway")?;
    let target = TargetAddress::hosted_by(METRICS_SERVICE, HOST_IDENTITY);
    let mut targets = gateway.subscribe_targets();
    if wait_for_targets(&mut targets, step, |list| {
        list.targets.iter().any(|t| t.address == target)
    })
    .await
    .is_none()
    {
        bail!(
            "the gateway did not discover {target} within {} s",
            step.as_secs()
        );
    }
    say(&format!(
        "federate gateway on http://{gateway_addr}/ discovers '{target}' (http_sd at /sd, proxy_url at /)"
    ));
    let config = scrape_config(gateway_addr);
    let binary = prometheus_addr.and_then(|_| prometheus_on_path());
    let (Some(binary), Some(prometheus_addr)) = (binary, prometheus_addr) else {
        say("no `prometheus` on PATH: point yours at the gateway with this scrape configuration:");
        println!("\n{config}");
        return Ok(GatewayStep {
            gateway,
            prometheus: None,
        });
    };
    let prometheus_addr = concrete(prometheus_addr, "Prometheus")?;
    let home = dir.join("prometheus");
    std::fs::create_dir_all(&home).with_context(|| format!("cannot create {}", home.display()))?;
    let config_path = home.join("prometheus.yml");
    std::fs::write(
        &config_path,
        format!("global:\n  scrape_interval: 5s\n{config}"),
    )
    .with_context(|| format!("cannot write {}", config_path.display()))?;
    let log = home.join("prometheus.log");
    let child = tokio::process::Command::new(&binary)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            home.join("data").display()
        ))
        .arg(format!("--web.listen-address={prometheus_addr}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let step_result = GatewayStep {
        gateway,
        prometheus: Some(child),
    };
    let query = format!("up{{job=\"dark\",instance=\"{target}\"}}");
    let deadline = Instant::now() + step.max(Duration::from_secs(30));
    loop {
        if let Ok(body) = prometheus_query(prometheus_addr, &query).await {
            if body.contains("\"value\"") && body.contains("\"1\"]") {
                break;
            }
        }
        if Instant::now() >= deadline {
            bail!(
                "Prometheus did not report {target} up within {} s; its log: {}",
                step.as_secs(),
                log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    say(&format!(
        "Prometheus {} scrapes every dark target through the gateway: up == 1 for '{target}'",
        binary.display()
    ));
    say(&format!(
        "  targets: http://{prometheus_addr}/targets   query: http://{prometheus_addr}/graph?g0.expr=up"
    ));
    say(&format!("  its configuration: {}", config_path.display()));
    Ok(step_result)
}

/// One instant query over loopback HTTP; the raw JSON answer.
async fn prometheus_query(addr: SocketAddr, promql: &str) -> anyhow::Result<String> {
    let encoded: String = promql
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    let driver = tokio::spawn(connection);
    let request = http::Request::get(format!("/api/v1/query?query={encoded}"))
        .header("host", addr.to_string())
        .body(Empty::<bytes::Bytes>::new())?;
    let response =
        tokio::time::timeout(Duration::from_secs(5), sender.send_request(request)).await??;
    let body = response.into_body().collect().await?.to_bytes();
    driver.abort();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README prints the configuration the demo runs (and tests/federate_prometheus.rs
    /// runs the README's block), so the three cannot drift apart.
    #[test]
    fn the_readme_prints_the_demo_scrape_config() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
                .expect("README.md");
        let block = format!(
            "<!-- federate-scrape-config -->\n```yaml\n{}```\n<!-- /federate-scrape-config -->",
            scrape_config("127.0.0.1:9099".parse().unwrap())
        );
        assert!(
            readme.contains(&block),
            "README.md must hold exactly:\n{block}"
        );
    }
}
