//! One module per `darkscrape` subcommand.

pub mod demo;
pub mod demo_gateway;
pub mod dial;
pub mod enroll;
pub mod federate;
pub mod host;
pub mod identity;
pub mod lab;
pub mod node_exporter;
pub mod probe;
pub mod reflectz;
