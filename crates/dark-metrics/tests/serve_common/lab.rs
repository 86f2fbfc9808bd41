//! An in-process lab (controller + edge router on loopback) with a host identity, a
//! scraper identity and one metrics service, for the serving tests over the overlay (the lab
//! itself lives in the `testbed` crate).

use testbed::lab::{ephemeral_config, TestLab};
use ziti_lab::{IdentityDecl, LabConfig, PolicyType, ServiceDecl, ServicePolicyDecl};

/// The metrics service.
pub const SERVICE: &str = "metrics.svc";
/// The identity hosting it.
pub const HOST: &str = "exporter.host";
/// The identity scraping it.
pub const SCRAPER: &str = "metrics.scraper";

fn config() -> LabConfig {
    let mut config = ephemeral_config();
    for (name, role) in [(HOST, "exporters"), (SCRAPER, "scrapers")] {
        config.identities.push(IdentityDecl {
            name: name.into(),
            roles: vec![role.into()],
        });
    }
    config.services.push(ServiceDecl {
        name: SERVICE.into(),
        roles: vec!["metrics".into()],
        encryption_required: false,
        configs: Default::default(),
    });
    for (name, policy_type, role) in [
        ("exporters-bind", PolicyType::Bind, "#exporters"),
        ("scrapers-dial", PolicyType::Dial, "#scrapers"),
    ] {
        config.service_policies.push(ServicePolicyDecl {
            name: name.into(),
            policy_type,
            identities: vec![role.into()],
            services: vec!["#metrics".into()],
        });
    }
    config
}

/// A running lab with this fixture's identities, services and policies.
pub async fn start_lab() -> TestLab {
    TestLab::start_with(config()).await
}
