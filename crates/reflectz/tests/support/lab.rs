//! Shared fixture of the reflectz lab tests: an in-process lab (controller + edge router on
//! loopback) with a reflectz host identity, a scraper identity, the echo and metrics
//! services and their policies; plus HTTP over any stream and peer-tool lookups. Included
//! with `#[path]`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use dark_listener::context::Context;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use ziti_lab::{
    IdentityDecl, Lab, LabConfig, LabPki, PolicyType, RunningLab, ServiceDecl, ServicePolicyDecl,
};

/// The echo service.
pub const ECHO: &str = "reflect.svc";
/// The metrics service.
pub const METRICS: &str = "reflect.scrape.svc";
/// The custom exporter example's service.
pub const DEMO: &str = "demo.metrics.svc";
/// The identity hosting both.
pub const HOST: &str = "reflect.host";
/// The identity dialing both.
pub const SCRAPER: &str = "reflect.scraper";

/// One RSA PKI per target dir (RSA generation is slow in debug builds), copied per lab.
fn pki_template() -> &'static PathBuf {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reflectz-lab-pki");
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
    for (name, role) in [(HOST, "reflect-hosts"), (SCRAPER, "reflect-clients")] {
        config.identities.push(IdentityDecl {
            name: name.into(),
            roles: vec![role.into()],
        });
    }
    for name in [ECHO, METRICS, DEMO] {
        config.services.push(ServiceDecl {
            name: name.into(),
            roles: vec!["reflect".into()],
            encryption_required: false,
            configs: Default::default(),
        });
    }
    config.service_policies.push(ServicePolicyDecl {
        name: "reflect-bind".into(),
        policy_type: PolicyType::Bind,
        identities: vec!["#reflect-hosts".into()],
        services: vec!["#reflect".into()],
    });
    config.service_policies.push(ServicePolicyDecl {
        name: "reflect-dial".into(),
        policy_type: PolicyType::Dial,
        identities: vec!["#reflect-clients".into()],
        services: vec!["#reflect".into()],
    });
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

    /// Writes an identity file for `name` and returns its path.
    pub fn identity_file(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.json"));
        if !path.exists() {
            self.lab.issue_identity_file(name, &path).unwrap();
        }
        path
    }

    /// A context for `name`, logged in.
    pub async fn context(&self, name: &str) -> Context {
        let ctx = Context::from_identity_file(self.identity_file(name)).unwrap();
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

/// One HTTP/1.1 GET on `io`: status, content type and body.
pub async fn http_get<Io>(io: Io, path: &str, accept: &str) -> (u16, String, String)
where
    Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .expect("HTTP handshake");
    let driver = tokio::spawn(connection);
    let request = http::Request::get(path)
        .header("host", "reflectz")
        .header("accept", accept)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(20), sender.send_request(request))
        .await
        .expect("response within 20 s")
        .expect("response");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    driver.abort();
    (
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// The value of the sample line starting with `series` + space.
pub fn sample_value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The peer Python (venv with openziti 0.6.0), or a panic saying how to install it.
pub fn peer_python() -> PathBuf {
    let path = std::env::var_os("DARKSCRAPE_PEER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-peers/bin/python")
        });
    assert!(
        path.exists(),
        "peer python {} not found: run scripts/install-test-deps.sh (or set DARKSCRAPE_PEER_PYTHON)",
        path.display()
    );
    path
}

/// A file under tests/support.
pub fn support_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name)
}
