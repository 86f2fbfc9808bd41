//! One module per `darkscrape` subcommand.

pub mod identity;
