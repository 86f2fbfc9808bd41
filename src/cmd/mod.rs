//! One module per `darkscrape` subcommand.

pub mod demo;
pub mod dial;
pub mod enroll;
pub mod identity;
pub mod lab;
pub mod node_exporter;
pub mod probe;
pub mod reflectz;
