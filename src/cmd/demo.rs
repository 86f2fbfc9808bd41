//! `darkscrape demo`: the whole story in one process, on the embedded lab overlay.
//!
//! 1. Starts a ziti-lab (controller + edge router on loopback) in a temporary or given
//!    directory, declares the demo identities, services and policies, and writes their
//!    identity files.
//! 2. Hosts reflectz with the `reflectz` identity: the echo service and its metrics service
//!    (addressable by the identity's name), with no listening socket.
//! 3. Dials the echo service as `client` and prints the answer.
//! 4. Scrapes reflectz's metrics over the overlay as `scraper` and prints a summary.
//! 5. Runs the federate gateway with the `scraper` identity and, when `prometheus` is on
//!    PATH, a Prometheus scraping every dark target through it (see [`super::demo_gateway`]).
//! 6. Keeps running (unless `--once`) and prints the commands to try from another terminal.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use dark_listener::context::{Context, DialOptions};
use dark_metrics::exposition::MetricFamily;
use dark_metrics::scrape::{scrape, ScrapeRequest};
use reflectz::{ReflectMetrics, ReflectzConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use ziti_lab::config::{ControllerConfig, RouterConfig};
use ziti_lab::{IdentityDecl, Lab, LabConfig, PolicyType, ServiceDecl, ServicePolicyDecl};

/// Name of the identity hosting reflectz.
pub(crate) const HOST_IDENTITY: &str = "reflectz";
/// Name of the identity that dials the echo service.
const CLIENT_IDENTITY: &str = "client";
/// Name of the identity that scrapes the metrics.
const SCRAPER_IDENTITY: &str = "scraper";
/// The echo service.
const ECHO_SERVICE: &str = "reflect";
/// The metrics service (terminator identity = the host identity's name).
pub(crate) const METRICS_SERVICE: &str = "reflect-metrics";

/// Arguments of `darkscrape demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Lab directory to use (created if missing, reused if it holds a lab). Default: a new
    /// temporary directory, removed on exit.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Address of the lab controller when the directory is new (port 0 = any free port).
    #[arg(long, default_value = "127.0.0.1:1280")]
    pub controller: SocketAddr,
    /// Address of the lab edge router when the directory is new (port 0 = any free port).
    #[arg(long, default_value = "127.0.0.1:3022")]
    pub router: SocketAddr,
    /// Exit after the echo and the scrape instead of running until Ctrl-C.
    #[arg(long)]
    pub once: bool,
    /// Seconds to wait for each step (binding, dialing, scraping).
    #[arg(long, default_value_t = 30)]
    pub step_timeout: u64,
    /// Loopback bridge of the federate gateway (port 0 = any free port).
    #[arg(long, default_value = "127.0.0.1:9099")]
    pub gateway: SocketAddr,
    /// Address of the Prometheus the demo starts when `prometheus` is on PATH (port 0 = any
    /// free port).
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub prometheus: SocketAddr,
    /// Do not start Prometheus even if it is on PATH; print the scrape configuration instead.
    #[arg(long)]
    pub no_prometheus: bool,
}

/// Runs `darkscrape demo`.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the tokio runtime")?;
    runtime.block_on(demo(args))
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let temp;
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("darkscrape-demo-")
                .tempdir()
                .context("cannot create a temporary directory for the lab")?;
            temp.path().to_path_buf()
        }
    };
    let lab = open_or_create_lab(&dir, &args)?;
    let running = lab.start().await.with_context(|| {
        format!(
            "cannot start the lab (are {} and {} free? pass --controller/--router with \
             other ports, or 127.0.0.1:0 for any free port)",
            args.controller, args.router
        )
    })?;
    say(&format!(
        "lab overlay up: controller {} , edge router {} (directory {})",
        running.controller_url(),
        running.router_addr(),
        dir.display()
    ));

    let files = IdentityFiles::issue(&lab, &dir)?;
    let step = Duration::from_secs(args.step_timeout);

    let host = Context::from_identity_file(&files.host)
        .with_context(|| format!("cannot use identity {}", files.host.display()))?;
    let metrics = ReflectMetrics::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let reflectz_task = {
        let host = host.clone();
        let metrics = metrics.clone();
        let mut stop_rx = stop_rx.clone();
        tokio::spawn(async move {
            let config = ReflectzConfig::new(ECHO_SERVICE, Some(METRICS_SERVICE.to_string()));
            reflectz::run(&host, config, metrics, async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            })
            .await
        })
    };
    say(&format!(
        "reflectz hosts '{ECHO_SERVICE}' and '{METRICS_SERVICE}' as identity '{HOST_IDENTITY}' \
         (no listening socket: it dialed out to the router)"
    ));

    let client = Context::from_identity_file(&files.client)
        .with_context(|| format!("cannot use identity {}", files.client.display()))?;
    let line = "hello from the darkscrape demo";
    let answer = echo_once(&client, line, step).await?;
    say(&format!(
        "dialed '{ECHO_SERVICE}' as '{CLIENT_IDENTITY}': sent {line:?}, got {answer:?}"
    ));

    let scraper = Context::from_identity_file(&files.scraper)
        .with_context(|| format!("cannot use identity {}", files.scraper.display()))?;
    let families = scrape_metrics(&scraper, step).await?;
    print_summary(&families);
    let prometheus = (!args.no_prometheus).then_some(args.prometheus);
    let gateway = super::demo_gateway::run(&scraper, &dir, args.gateway, prometheus, step).await?;

    let exit = if args.once {
        Ok(())
    } else {
        print_next_steps(
            &dir,
            &files,
            args.dir.is_none(),
            gateway.gateway.local_addr(),
        );
        wait_for_stop(&reflectz_task).await
    };
    gateway.stop().await;

    let _ = stop_tx.send(true);
    match tokio::time::timeout(Duration::from_secs(10), reflectz_task).await {
        Ok(Ok(Ok(summary))) => tracing::info!(
            echo_connections = summary.echo.connections,
            "reflectz stopped"
        ),
        Ok(Ok(Err(error))) => tracing::warn!(%error, "reflectz stopped with an error"),
        Ok(Err(error)) => tracing::warn!(%error, "reflectz task failed"),
        Err(_) => tracing::warn!("reflectz did not stop within 10 s"),
    }
    for ctx in [&client, &scraper, &host] {
        ctx.shutdown(Duration::from_secs(5)).await;
    }
    running.shutdown().await;
    exit
}

/// Reuses the lab in `dir` or creates one with the demo's identities, services and policies.
fn open_or_create_lab(dir: &Path, args: &DemoArgs) -> anyhow::Result<Lab> {
    if dir.join("lab.toml").exists() {
        let lab =
            Lab::open(dir).with_context(|| format!("cannot open the lab in {}", dir.display()))?;
        ensure_demo_model(&lab)?;
        return Ok(lab);
    }
    let config = LabConfig {
        controller: ControllerConfig {
            address: args.controller,
            ..ControllerConfig::default()
        },
        router: RouterConfig {
            address: args.router,
            ..RouterConfig::default()
        },
        ..demo_model()
    };
    if args.controller.ip() != Ipv4Addr::LOCALHOST || args.router.ip() != Ipv4Addr::LOCALHOST {
        tracing::warn!("the demo lab is meant for loopback; other addresses expose it");
    }
    say("creating the lab's PKI (RSA keys, a few seconds)...");
    Lab::init_with(dir, config).with_context(|| format!("cannot create a lab in {}", dir.display()))
}

/// The demo's identities, services and policies (the seed deployment's shape, in small).
fn demo_model() -> LabConfig {
    LabConfig {
        identities: vec![
            identity(HOST_IDENTITY, "reflectz-hosts"),
            identity(CLIENT_IDENTITY, "reflectz-clients"),
            identity(SCRAPER_IDENTITY, "prometheus-clients"),
        ],
        services: vec![
            service(ECHO_SERVICE, "reflect"),
            service(METRICS_SERVICE, "reflect-scrape"),
        ],
        service_policies: vec![
            policy(
                "reflect-bind",
                PolicyType::Bind,
                "#reflectz-hosts",
                &["#reflect", "#reflect-scrape"],
            ),
            policy(
                "reflect-dial",
                PolicyType::Dial,
                "#reflectz-clients",
                &["#reflect"],
            ),
            policy(
                "reflect-scrape-dial",
                PolicyType::Dial,
                "#prometheus-clients",
                &["#reflect-scrape"],
            ),
        ],
        controller: ControllerConfig::default(),
        router: RouterConfig::default(),
    }
}

/// Adds whatever part of the demo model an existing lab lacks.
fn ensure_demo_model(lab: &Lab) -> anyhow::Result<()> {
    let model = demo_model();
    let have = lab.state().config();
    for decl in model.identities {
        if !have.identities.iter().any(|i| i.name == decl.name) {
            lab.add_identity(decl)?;
        }
    }
    for decl in model.services {
        if !have.services.iter().any(|s| s.name == decl.name) {
            lab.add_service(decl)?;
        }
    }
    for decl in model.service_policies {
        if !have.service_policies.iter().any(|p| p.name == decl.name) {
            lab.add_service_policy(decl)?;
        }
    }
    Ok(())
}

fn identity(name: &str, role: &str) -> IdentityDecl {
    IdentityDecl {
        name: name.to_string(),
        roles: vec![role.to_string()],
    }
}

fn service(name: &str, role: &str) -> ServiceDecl {
    ServiceDecl {
        name: name.to_string(),
        roles: vec![role.to_string()],
        encryption_required: true,
        configs: Default::default(),
    }
}

fn policy(
    name: &str,
    policy_type: PolicyType,
    identity: &str,
    services: &[&str],
) -> ServicePolicyDecl {
    ServicePolicyDecl {
        name: name.to_string(),
        policy_type,
        identities: vec![identity.to_string()],
        services: services.iter().map(|s| s.to_string()).collect(),
    }
}

/// The identity files the demo writes into the lab directory.
struct IdentityFiles {
    host: PathBuf,
    client: PathBuf,
    scraper: PathBuf,
}

impl IdentityFiles {
    /// Issues fresh certificates (so the files always carry the running controller's
    /// address, even when the port was chosen at start).
    fn issue(lab: &Lab, dir: &Path) -> anyhow::Result<Self> {
        let path = |name: &str| dir.join(format!("{name}.json"));
        let files = IdentityFiles {
            host: path(HOST_IDENTITY),
            client: path(CLIENT_IDENTITY),
            scraper: path(SCRAPER_IDENTITY),
        };
        for (name, file) in [
            (HOST_IDENTITY, &files.host),
            (CLIENT_IDENTITY, &files.client),
            (SCRAPER_IDENTITY, &files.scraper),
        ] {
            lab.issue_identity_file(name, file)
                .with_context(|| format!("cannot write the identity file of {name}"))?;
        }
        Ok(files)
    }
}

/// Dials the echo service (retrying while reflectz is still binding) and returns the answer.
async fn echo_once(client: &Context, line: &str, step: Duration) -> anyhow::Result<String> {
    let stream = dial_when_bound(client, ECHO_SERVICE, DialOptions::default(), step).await?;
    let (read, mut write) = tokio::io::split(stream);
    write
        .write_all(format!("{line}\n").as_bytes())
        .await
        .context("cannot write to the echo service")?;
    let mut answer = String::new();
    let mut reader = BufReader::new(read);
    tokio::time::timeout(step, reader.read_line(&mut answer))
        .await
        .context("the echo service did not answer in time")?
        .context("cannot read the echo answer")?;
    if !answer.ends_with('\n') {
        bail!("the echo service closed before a whole line came back (got {answer:?})");
    }
    Ok(answer.trim_end().to_string())
}

/// Scrapes reflectz's metrics service, addressed by the host's identity name.
async fn scrape_metrics(scraper: &Context, step: Duration) -> anyhow::Result<Vec<MetricFamily>> {
    let options = DialOptions {
        terminator_identity: Some(HOST_IDENTITY.to_string()),
        ..DialOptions::default()
    };
    let stream = dial_when_bound(scraper, METRICS_SERVICE, options, step).await?;
    let mut request = ScrapeRequest::new(METRICS_SERVICE, "/metrics");
    request.timeout = step;
    let response = scrape(stream, &request)
        .await
        .with_context(|| format!("cannot scrape {METRICS_SERVICE}"))?;
    say(&format!(
        "scraped '{METRICS_SERVICE}' (terminator '{HOST_IDENTITY}') as '{SCRAPER_IDENTITY}': \
         {} bytes of {}",
        response.body.len(),
        response.content_type
    ));
    Ok(response.families)
}

/// Dials `service`, retrying "no terminator yet" refusals until `step` has passed.
async fn dial_when_bound(
    ctx: &Context,
    service: &str,
    options: DialOptions,
    step: Duration,
) -> anyhow::Result<dark_listener::stream::DarkStream> {
    let started = Instant::now();
    loop {
        match ctx.dial(service, options.clone()).await {
            Ok(stream) => return Ok(stream),
            Err(error) if started.elapsed() < step => {
                tracing::debug!(%error, service, "dial refused, retrying while the host binds");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => {
                return Err(error).with_context(|| {
                    format!("cannot dial '{service}' within {} s", step.as_secs())
                })
            }
        }
    }
}

fn print_summary(families: &[MetricFamily]) {
    let samples: usize = families.iter().map(|f| f.samples.len()).sum();
    say(&format!(
        "{} metric families, {samples} samples; reflectz's own:",
        families.len()
    ));
    for family in families.iter().filter(|f| f.name.starts_with("reflect")) {
        let value = family
            .samples
            .iter()
            .find(|s| s.suffix.is_empty() || s.suffix == "_count")
            .map(|s| s.value);
        match value {
            Some(v) => println!(
                "    {:<40} {:<10} {v}",
                family.name,
                family.metric_type.openmetrics_keyword()
            ),
            None => println!(
                "    {:<40} {}",
                family.name,
                family.metric_type.openmetrics_keyword()
            ),
        }
    }
}

fn print_next_steps(
    dir: &Path,
    files: &IdentityFiles,
    temporary: bool,
    gateway: Option<SocketAddr>,
) {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "darkscrape".to_string());
    println!();
    println!("The demo keeps running. From another terminal, try:");
    println!();
    println!("  # talk to reflectz over the overlay (type lines, Ctrl-D to end)");
    println!(
        "  {exe} dial --identity {} --service {ECHO_SERVICE}",
        files.client.display()
    );
    println!();
    println!("  # scrape its metrics by hand, addressing the host by its identity name");
    println!(
        "  printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' | {exe} dial --identity {} --service {METRICS_SERVICE} --terminator-identity {HOST_IDENTITY}",
        files.scraper.display()
    );
    println!();
    if let Some(gateway) = gateway {
        println!("  # the gateway for Prometheus: discovery, a proxied scrape, its status page");
        println!("  curl http://{gateway}/sd");
        println!(
            "  curl -x http://{gateway} 'http://{METRICS_SERVICE}/metrics?ziti_terminator={HOST_IDENTITY}'"
        );
        println!("  open http://{gateway}/ in a browser");
        println!();
    }
    println!("  # check that reflectz listens on nothing but the lab does");
    println!("  ss -ltnp");
    println!();
    if temporary {
        println!(
            "Lab directory {} is removed on exit (use --dir to keep it).",
            dir.display()
        );
    } else {
        println!(
            "Lab directory {} is kept; run the demo again to reuse it.",
            dir.display()
        );
    }
    println!("Press Ctrl-C to stop.");
}

/// Waits for Ctrl-C/SIGTERM, or fails if reflectz stops on its own.
async fn wait_for_stop(
    reflectz_task: &tokio::task::JoinHandle<Result<reflectz::RunSummary, reflectz::ReflectzError>>,
) -> anyhow::Result<()> {
    let signal = dark_metrics::serve::shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            _ = &mut signal => return Ok(()),
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                if reflectz_task.is_finished() {
                    bail!("reflectz stopped unexpectedly; see the log above");
                }
            }
        }
    }
}

/// Prints one demo step on stdout.
pub(crate) fn say(text: &str) {
    println!("demo: {text}");
}
