//! `darkscrape node-exporter`: the node-style host exporter (node_exporter-compatible
//! metric names and flags). `--once` runs one scrape and prints it in text format 0.0.4,
//! with no network at all; serving it dark over the overlay comes with dark-metrics serving.

use std::io::Write;

use anyhow::Context;

/// Flags of `darkscrape node-exporter`.
#[derive(Debug, clap::Args)]
pub struct NodeExporterArgs {
    /// Run one scrape, print it to stdout in Prometheus text format 0.0.4 and exit.
    #[arg(long, required = true)]
    pub once: bool,

    /// Collector selection and options, as node_exporter names them.
    #[command(flatten)]
    pub exporter: node_exporter::ExporterArgs,
}

/// Runs the subcommand.
pub fn run(args: NodeExporterArgs) -> anyhow::Result<()> {
    let exporter = args
        .exporter
        .build()
        .context("invalid node-exporter flags")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("cannot start the async runtime")?;
    let families = runtime.block_on(exporter.scrape());
    let body = node_exporter::render_text(&families);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&body)
        .and_then(|()| stdout.flush())
        .context("cannot write the scrape to stdout")?;
    Ok(())
}
