//! An embedded, single-node OpenZiti overlay for demos and tests.
//!
//! The lab owns a directory holding `lab.toml` (addresses, identities, services, service
//! policies), its own PKI (`pki/`) and persisted state (`state/`). Running it serves the
//! controller's edge client API (legacy, certificate-authenticated mode) so that real SDKs —
//! the C SDK bundled in PyPI `openziti` 0.6.0 as well as darkscrape's own — can enroll, log in,
//! list services and create Dial/Bind sessions. The edge router ([`router`])
//! validates what SDKs present through [`LabState`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), ziti_lab::LabError> {
//! let lab = ziti_lab::Lab::init(std::path::Path::new("/tmp/my-lab"))?;
//! let running = lab.start().await?;
//! let jwt = lab.enrollment_jwt("reflectz")?;
//! # let _ = jwt;
//! running.shutdown().await;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod config;
pub mod controller;
pub mod error;
pub mod identity_file;
pub mod jwt;
pub mod pkcs7;
pub mod pki;
pub mod router;
pub mod state;
pub mod timefmt;

#[cfg(test)]
pub(crate) mod test_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use config::{IdentityDecl, LabConfig, PolicyType, ServiceDecl, ServicePolicyDecl};
pub use error::LabError;
pub use pki::{CertFingerprint, LabPki};
pub use state::{
    ApiSessionInfo, EdgeRouterInfo, IdentityInfo, LabState, RouterAuthError, ServiceInfo,
    ServiceSessionInfo,
};

/// A lab directory, opened: configuration, PKI and state, ready to [`start`](Lab::start).
#[derive(Debug, Clone)]
pub struct Lab {
    dir: PathBuf,
    state: Arc<LabState>,
}

impl Lab {
    /// Creates a lab in `dir` with the starter configuration (see [`LabConfig::starter`]).
    pub fn init(dir: &Path) -> Result<Self, LabError> {
        Self::init_with(dir, LabConfig::starter())
    }

    /// Creates a lab in `dir` with `config`. Fails if `dir/lab.toml` exists. An existing
    /// `dir/pki` (e.g. copied from another lab) is reused; otherwise a new PKI is generated.
    pub fn init_with(dir: &Path, config: LabConfig) -> Result<Self, LabError> {
        let toml_path = dir.join("lab.toml");
        if toml_path.exists() {
            return Err(LabError::AlreadyInitialised(dir.to_owned()));
        }
        std::fs::create_dir_all(dir).map_err(|e| LabError::io("create directory", dir, e))?;
        config.validate(&toml_path)?;
        let pki_dir = pki::pki_dir(dir);
        if !LabPki::exists(&pki_dir) {
            let ctrl_host =
                config::advertised_host(&config.controller.host, config.controller.address);
            let router_host = config::advertised_host(&config.router.host, config.router.address);
            LabPki::create(&pki_dir, &ctrl_host, &router_host)?;
        }
        std::fs::write(&toml_path, config.to_toml()?)
            .map_err(|e| LabError::io("write", &toml_path, e))?;
        Self::open(dir)
    }

    /// Opens the lab in `dir` (state from a previous run is picked up).
    pub fn open(dir: &Path) -> Result<Self, LabError> {
        let toml_path = dir.join("lab.toml");
        if !toml_path.is_file() {
            return Err(LabError::NotALab(dir.to_owned()));
        }
        let config = LabConfig::load(&toml_path)?;
        let pki = LabPki::load(&pki::pki_dir(dir))?;
        let state = LabState::load(dir, config, pki)?;
        Ok(Lab {
            dir: dir.to_owned(),
            state: Arc::new(state),
        })
    }

    /// The lab directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The shared state (for the router, tests and tools).
    pub fn state(&self) -> Arc<LabState> {
        self.state.clone()
    }

    /// A fresh enrollment JWT for the named identity (see [`LabState::mint_enrollment_jwt`]).
    /// Mint it after [`start`](Lab::start) when the configured port is 0, so `iss` carries
    /// the bound port.
    pub fn enrollment_jwt(&self, name: &str) -> Result<String, LabError> {
        self.state.mint_enrollment_jwt(name)
    }

    /// Issues a certificate for the named identity and writes a Go-style identity file
    /// (`pem:` values) to `path`. Returns the identity.
    pub fn issue_identity_file(&self, name: &str, path: &Path) -> Result<IdentityInfo, LabError> {
        let identity = self.state.identity_by_name(name)?;
        let (cert, key_pem) = self.state.issue_client_cert(name)?;
        let file = identity_file::IdentityFile::new(
            self.state.controller_url(),
            &cert.cert_pem,
            &key_pem,
            self.state.pki().ca_pem(),
        );
        file.write(path)?;
        Ok(identity)
    }

    /// Declares an identity (persisted to `lab.toml`; live in a running lab).
    pub fn add_identity(&self, decl: IdentityDecl) -> Result<IdentityInfo, LabError> {
        self.state.add_identity(decl)
    }

    /// Declares a service (persisted to `lab.toml`; live in a running lab).
    pub fn add_service(&self, decl: ServiceDecl) -> Result<ServiceInfo, LabError> {
        self.state.add_service(decl)
    }

    /// Declares a service policy (persisted to `lab.toml`; live in a running lab).
    pub fn add_service_policy(&self, decl: ServicePolicyDecl) -> Result<(), LabError> {
        self.state.add_service_policy(decl)
    }

    /// Binds the controller and the edge router (port 0 = any free port) and serves both
    /// until [`RunningLab::shutdown`], with default router options.
    pub async fn start(&self) -> Result<RunningLab, LabError> {
        self.start_with(router::RouterOptions::default()).await
    }

    /// [`start`](Lab::start) with explicit router options (tests shorten timeouts).
    pub async fn start_with(
        &self,
        router_options: router::RouterOptions,
    ) -> Result<RunningLab, LabError> {
        let config = self.state.config();
        let listener = bind(config.controller.address).await?;
        let controller_addr = listener.local_addr().map_err(|e| LabError::Bind {
            addr: config.controller.address,
            source: e,
        })?;
        let router_listener = bind(config.router.address).await?;
        let router_addr = router_listener.local_addr().map_err(|e| LabError::Bind {
            addr: config.router.address,
            source: e,
        })?;
        self.state.set_addresses(controller_addr, router_addr);
        let tls = self.state.pki().controller_tls_config()?;
        let router_tls = self.state.pki().router_tls_config()?;
        let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(controller::serve(
            listener,
            tls,
            self.state.clone(),
            shutdown_rx.clone(),
        ));
        let router_core = Arc::new(router::RouterCore::new(self.state.clone(), router_options));
        let router_task = tokio::spawn(router::serve(
            router_listener,
            router_tls,
            router_core,
            shutdown_rx,
        ));
        tracing::info!(%controller_addr, %router_addr, dir = %self.dir.display(), "lab started");
        Ok(RunningLab {
            controller_addr,
            router_addr,
            controller_url: self.state.controller_url(),
            state: self.state.clone(),
            shutdown_tx,
            task,
            router_task,
        })
    }
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, LabError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| LabError::Bind { addr, source: e })
}

/// A lab being served. Dropping it without [`shutdown`](RunningLab::shutdown) stops the
/// accept loop too (the task is aborted).
#[derive(Debug)]
pub struct RunningLab {
    controller_addr: SocketAddr,
    router_addr: SocketAddr,
    controller_url: String,
    state: Arc<LabState>,
    shutdown_tx: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    router_task: tokio::task::JoinHandle<()>,
}

impl RunningLab {
    /// Address the controller listens on.
    pub fn controller_addr(&self) -> SocketAddr {
        self.controller_addr
    }

    /// Address the edge router listens on.
    pub fn router_addr(&self) -> SocketAddr {
        self.router_addr
    }

    /// `https://host:port` of the controller.
    pub fn controller_url(&self) -> &str {
        &self.controller_url
    }

    /// The shared state.
    pub fn state(&self) -> Arc<LabState> {
        self.state.clone()
    }

    /// Stops accepting, lets in-flight requests finish (bounded), persists sessions.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        if tokio::time::timeout(std::time::Duration::from_secs(5), &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!("controller did not stop within 5 s; aborting it");
            self.task.abort();
        }
        if tokio::time::timeout(std::time::Duration::from_secs(5), &mut self.router_task)
            .await
            .is_err()
        {
            tracing::warn!("router did not stop within 5 s; aborting it");
            self.router_task.abort();
        }
        if let Err(e) = self.state.flush() {
            tracing::warn!(error = %e, "cannot persist sessions at shutdown");
        }
    }
}

impl Drop for RunningLab {
    fn drop(&mut self) {
        self.task.abort();
        self.router_task.abort();
    }
}
