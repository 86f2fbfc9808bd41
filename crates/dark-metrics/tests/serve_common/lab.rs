//! An in-process lab (controller + edge router on loopback) with a host identity, a
//! scraper identity and one metrics service, for the serving tests over the overlay.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use dark_listener::context::Context;
use ziti_lab::{
    IdentityDecl, Lab, LabConfig, LabPki, PolicyType, RunningLab, ServiceDecl, ServicePolicyDecl,
};

/// The metrics service.
pub const SERVICE: &str = "metrics.svc";
/// The identity hosting it.
pub const HOST: &str = "exporter.host";
/// The identity scraping it.
pub const SCRAPER: &str = "metrics.scraper";

/// One RSA PKI per target dir (RSA generation is slow in debug builds), copied per lab.
fn pki_template() -> &'static PathBuf {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dark-metrics-lab-pki");
        let pki = root.join("pki");
        if LabPki::load(&pki).is_err() {
            let scratch = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
                .unwrap()
                .keep();
            LabPki::create(&scratch.join("pki"), "127.0.0.1", "127.0.0.1").unwrap();
            let _ = std::fs::remove_dir_all(&root);
            let _ = std::fs::rename(&scratch, &root);
        }
        pki
    })
}

fn config() -> LabConfig {
    let mut config = LabConfig::starter();
    config.controller.address = "127.0.0.1:0".parse().unwrap();
    config.router.address = "127.0.0.1:0".parse().unwrap();
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

/// A running lab in a temp dir.
pub struct TestLab {
    pub dir: tempfile::TempDir,
    pub lab: Lab,
    pub running: Option<RunningLab>,
}

impl TestLab {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join("pki");
        std::fs::create_dir_all(&dst).unwrap();
        for entry in std::fs::read_dir(pki_template()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
        }
        let lab = Lab::init_with(dir.path(), config()).unwrap();
        let running = lab.start().await.unwrap();
        TestLab {
            dir,
            lab,
            running: Some(running),
        }
    }

    /// A context for `name`, logged in.
    pub async fn context(&self, name: &str) -> Context {
        let path = self.dir.path().join(format!("{name}.json"));
        if !path.exists() {
            self.lab.issue_identity_file(name, &path).unwrap();
        }
        let ctx = Context::from_identity_file(&path).unwrap();
        ctx.wait_authenticated(Duration::from_secs(20))
            .await
            .unwrap();
        ctx
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }
}
