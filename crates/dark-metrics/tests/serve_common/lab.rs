//! An in-process lab (controller + edge router on loopback) with a host identity, a
//! scraper identity and one metrics service, for the serving tests over the overlay (the lab
//! itself lives in the `testbed` crate).

use testbed::lab::{group_config, ServiceGroup, TestLab};
use ziti_lab::LabConfig;

/// The metrics service.
pub const SERVICE: &str = "metrics.svc";
/// The identity hosting it.
pub const HOST: &str = "exporter.host";
/// The identity scraping it.
pub const SCRAPER: &str = "metrics.scraper";

fn config() -> LabConfig {
    group_config(&ServiceGroup {
        service_role: "metrics",
        services: &[(SERVICE, false)],
        identities: &[(HOST, "exporters"), (SCRAPER, "scrapers")],
        binders: "exporters",
        dialers: "scrapers",
    })
}

/// A running lab with this fixture's identities, services and policies.
pub async fn start_lab() -> TestLab {
    TestLab::start_with(config()).await
}
