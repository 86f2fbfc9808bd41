//! `darkscrape node-exporter`: the node-style host exporter (node_exporter-compatible
//! metric names and flags). The flags and the serving live in `node_exporter::command`,
//! shared with the exporter-only binary `darkscrape-node-exporter`; this subcommand only
//! runs them.

pub use node_exporter::command::CommandArgs as NodeExporterArgs;

/// Runs the subcommand.
pub fn run(args: NodeExporterArgs) -> anyhow::Result<()> {
    Ok(node_exporter::command::run(args)?)
}
