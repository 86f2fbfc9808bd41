//! The overlay fixture of the node exporter's serving tests (also used by the workspace's
//! `tests/node_exporter_dark.rs`): a `testbed` lab with a host identity, a scraper identity,
//! one metrics service and its bind and dial policies. Included with `#[path]`.
#![allow(dead_code)]

use std::time::Duration;

use dark_listener::context::Context;
use testbed::lab::{group_config, ServiceGroup, TestLab};
use ziti_lab::LabConfig;

/// The metrics service.
pub const SERVICE: &str = "node.metrics.svc";
/// The identity hosting it.
pub const HOST: &str = "node.host";
/// The identity scraping it.
pub const SCRAPER: &str = "node.scraper";

fn config() -> LabConfig {
    group_config(&ServiceGroup {
        service_role: "node-metrics",
        services: &[(SERVICE, false)],
        identities: &[(HOST, "node-hosts"), (SCRAPER, "scrapers")],
        binders: "node-hosts",
        dialers: "scrapers",
    })
}

/// A running lab with this fixture's identities, service and policies.
pub async fn start_lab() -> TestLab {
    TestLab::start_with(config()).await
}

/// A context for `name`, logged in.
pub async fn context(lab: &TestLab, name: &str) -> Context {
    let ctx = Context::from_identity_file(lab.identity_file(name)).unwrap();
    ctx.wait_authenticated(Duration::from_secs(20))
        .await
        .unwrap();
    ctx
}
