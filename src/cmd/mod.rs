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

use dark_listener::controller::AuthMethod;

/// `--auth`: how a subcommand that takes `--identity` logs in to the controller.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// How to log in to the controller: `auto` (OIDC when the controller offers it, as every
    /// ziti 2.x controller does; else the legacy API session), `oidc`, or `legacy`. The log
    /// says which one was used.
    #[arg(long = "auth", default_value = "auto", env = "DARKSCRAPE_AUTH")]
    pub method: AuthMethod,
}
