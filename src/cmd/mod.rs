//! One module per `darkscrape` subcommand.

pub mod identity;
pub mod node_exporter;
