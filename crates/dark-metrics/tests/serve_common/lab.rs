//! An in-process lab (controller + edge router on loopback) with a host identity, a
//! scraper identity and one metrics service, for the serving tests over the overlay (the lab
//! itself lives in the `testbed` crate).

use std::time::Duration;

use dark_listener::context::Context;
use testbed::lab::ephemeral_config;
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

/// A running lab in a temp dir: [`testbed::lab::TestLab`] (its fields through `Deref`) with
/// this fixture's configuration, plus logged-in contexts.
pub struct TestLab(testbed::lab::TestLab);

impl std::ops::Deref for TestLab {
    type Target = testbed::lab::TestLab;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl TestLab {
    pub async fn start() -> Self {
        TestLab(testbed::lab::TestLab::start_with(config()).await)
    }

    /// A context for `name`, logged in.
    pub async fn context(&self, name: &str) -> Context {
        let ctx = Context::from_identity_file(self.identity_file(name)).unwrap();
        ctx.wait_authenticated(Duration::from_secs(20))
            .await
            .unwrap();
        ctx
    }

    pub async fn stop(self) {
        self.0.stop().await;
    }
}
