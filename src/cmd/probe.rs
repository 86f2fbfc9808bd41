//! `darkscrape probe`: the exec probe of a dark process. Checks the health file that
//! `darkscrape reflectz|node-exporter --health-file F` (and `darkscrape-node-exporter`)
//! keep fresh while their services are bound (`dark_metrics::health`), and exits 0 when it
//! was written at most `--max-age` seconds ago, 1 with a one-line reason on stderr
//! otherwise. No network, no listening socket: Kubernetes runs it inside the container.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use dark_metrics::health::check_health_file;

/// Arguments of `darkscrape probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The health file the probed process writes (its `--health-file`).
    #[arg(long, env = "HEALTH_FILE")]
    pub health_file: PathBuf,
    /// Oldest acceptable file, in seconds (the writers refresh every 5 s; leave room for a
    /// router reconnect).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_age: u64,
}

/// Runs `darkscrape probe …`: one line on stdout and `Ok` when the file is fresh;
/// otherwise one line on stderr and exit code 1 (not an error for `main` to print: that
/// would add a backtrace when RUST_BACKTRACE is set).
pub fn run(args: ProbeArgs) -> anyhow::Result<()> {
    match check_health_file(&args.health_file, Duration::from_secs(args.max_age)) {
        Ok(age) => {
            println!(
                "healthy: {} written {}s ago",
                args.health_file.display(),
                age.as_secs()
            );
            Ok(())
        }
        Err(error) => {
            eprintln!("unhealthy: {error}");
            std::process::exit(1)
        }
    }
}
