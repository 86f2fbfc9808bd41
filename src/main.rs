//! The `darkscrape` command: every darkscrape part behind one binary.
//!
//! Each subcommand lives in its own module under `cmd/`; this file only parses the command
//! line, sets up logging and dispatches.

mod cmd;

use clap::{Parser, Subcommand};

/// Prometheus scraping over an OpenZiti overlay, with no open port.
#[derive(Debug, Parser)]
#[command(name = "darkscrape", version, about, long_about = None)]
struct Cli {
    /// Log filter in `tracing` syntax (also read from RUST_LOG), e.g. `info,dark_listener=debug`.
    /// rustls is kept at `error`: it warns on every C SDK handshake that sends an IP address as SNI.
    #[arg(
        long,
        global = true,
        env = "RUST_LOG",
        default_value = "info,rustls=error"
    )]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole story on the embedded lab overlay: reflectz hosted dark, dialed and scraped.
    Demo(cmd::demo::DemoArgs),
    /// Connect to a service over the overlay and pipe stdin/stdout through it, like `nc`.
    Dial(cmd::dial::DialArgs),
    /// Enroll with a one-time-token JWT and write the identity file.
    Enroll(cmd::enroll::EnrollArgs),
    /// Gateway for an unmodified Prometheus: http_sd discovery of dark targets and a
    /// proxy_url scrape proxy over the overlay.
    Federate(cmd::federate::FederateArgs),
    /// Host an existing loopback TCP service (an exporter, a Prometheus) on the overlay.
    Host(cmd::host::HostArgs),
    /// Read an OpenZiti identity file and print what it holds (no network).
    Identity(cmd::identity::IdentityArgs),
    /// Embedded single-node OpenZiti overlay (controller and router) for demos and tests.
    Lab(cmd::lab::LabArgs),
    /// Node-style host exporter with node_exporter's metric names and flags.
    NodeExporter(Box<cmd::node_exporter::NodeExporterArgs>),
    /// Exec probe: exit 0 when a --health-file was refreshed within --max-age seconds.
    Probe(cmd::probe::ProbeArgs),
    /// The reflectz demo workload: line echo service and its metrics, hosted on the overlay.
    Reflectz(cmd::reflectz::ReflectzArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&cli.log)?)
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Demo(args) => cmd::demo::run(args),
        Command::Dial(args) => cmd::dial::run(args),
        Command::Enroll(args) => cmd::enroll::run(args),
        Command::Federate(args) => cmd::federate::run(args),
        Command::Host(args) => cmd::host::run(args),
        Command::Identity(args) => cmd::identity::run(args),
        Command::Lab(args) => cmd::lab::run(args),
        Command::NodeExporter(args) => cmd::node_exporter::run(*args),
        Command::Probe(args) => cmd::probe::run(args),
        Command::Reflectz(args) => cmd::reflectz::run(args),
    }
}
