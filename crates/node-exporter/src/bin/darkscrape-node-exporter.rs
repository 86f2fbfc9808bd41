//! `darkscrape-node-exporter`: the node exporter alone, served dark — the same flags and
//! serving as `darkscrape node-exporter` (both run [`node_exporter::command::run`]), in a
//! binary without darkscrape's other subcommands (lab, enrollment, reflectz), so less
//! program text is mapped and the process stays smaller. See the crate's performance notes.

use clap::Parser;

/// Node-style host exporter with node_exporter's metric names and flags, served on an
/// OpenZiti overlay with no listening socket.
#[derive(Debug, Parser)]
#[command(name = "darkscrape-node-exporter", version, about, long_about = None)]
struct Cli {
    /// Log filter (also read from RUST_LOG): a default level and `target=level` pairs, e.g.
    /// `info,dark_listener=debug`. rustls is kept at `error`: it warns on every C SDK
    /// handshake that sends an IP address as SNI.
    #[arg(long, env = "RUST_LOG", default_value = "info,rustls=error")]
    log: String,

    #[command(flatten)]
    args: node_exporter::command::CommandArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `Targets` takes the same `level,target=level` lists as darkscrape's EnvFilter, without
    // span and field filters, and without linking a second regular expression engine.
    let filter = match cli.log.parse::<tracing_subscriber::filter::Targets>() {
        Ok(filter) => filter,
        Err(error) => {
            eprintln!(
                "darkscrape-node-exporter: invalid --log filter {:?}: {error}",
                cli.log
            );
            return std::process::ExitCode::from(2);
        }
    };
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
    match node_exporter::command::run(cli.args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("darkscrape-node-exporter: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
