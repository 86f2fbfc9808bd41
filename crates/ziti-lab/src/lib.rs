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
pub mod sockets;
pub mod state;
pub mod timefmt;
mod tls_accept;

#[doc(hidden)]
pub mod test_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use config::{IdentityDecl, LabConfig, PolicyType, ServiceDecl, ServicePolicyDecl};
pub use error::LabError;
pub use pki::{CertFingerprint, LabPki};
pub use state::{
    ApiSessionInfo, EdgeRouterInfo, IdentityInfo, LabState, RouterAuthError, ServiceInfo,
    ServiceSessionInfo, TerminatorInfo,
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
        let controller = ServingTask::controller(listener, &self.state)?;
        let fabric = Arc::new(router::Fabric::new());
        let router_id = self.state.edge_router().id;
        let router = ServingTask::router(
            router_listener,
            router::RouterCore::on_fabric(
                self.state.clone(),
                router_options.clone(),
                router_id,
                fabric.clone(),
            ),
        )?;
        tracing::info!(%controller_addr, %router_addr, dir = %self.dir.display(), "lab started");
        Ok(RunningLab {
            controller_addr,
            router_addr,
            controller_url: self.state.controller_url(),
            state: self.state.clone(),
            router_options,
            controller: Some(controller),
            router: Some(router),
            fabric,
            extra_routers: Vec::new(),
        })
    }
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, LabError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| LabError::Bind { addr, source: e })
}

/// One served part of the lab (controller or router): its accept loop and the signal that
/// stops it. Dropping it aborts the task.
#[derive(Debug)]
struct ServingTask {
    name: &'static str,
    shutdown_tx: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ServingTask {
    fn controller(
        listener: tokio::net::TcpListener,
        state: &Arc<LabState>,
    ) -> Result<Self, LabError> {
        let tls = state.pki().controller_tls_config()?;
        let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(controller::serve(listener, tls, state.clone(), shutdown_rx));
        Ok(ServingTask {
            name: "controller",
            shutdown_tx,
            task,
        })
    }

    fn router(
        listener: tokio::net::TcpListener,
        core: router::RouterCore,
    ) -> Result<Self, LabError> {
        let tls = core.state.pki().router_tls_config()?;
        let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
        let core = Arc::new(core);
        // The controller lists terminators from the routers' shared fabric through it.
        core.state.attach_router(&core);
        let task = tokio::spawn(router::serve(listener, tls, core, shutdown_rx));
        Ok(ServingTask {
            name: "router",
            shutdown_tx,
            task,
        })
    }

    /// Asks the task to stop (it stops accepting and winds down its connections).
    fn signal(&self) {
        let _ = self.shutdown_tx.send(true);
    }

    /// Waits (bounded) for the task to finish after [`signal`](Self::signal); aborts it if
    /// it does not.
    async fn finish(mut self) {
        if tokio::time::timeout(std::time::Duration::from_secs(5), &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!(part = self.name, "did not stop within 5 s; aborting it");
            self.task.abort();
        }
    }
}

impl Drop for ServingTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A lab being served. Dropping it without [`shutdown`](RunningLab::shutdown) stops the
/// accept loops too (the tasks are aborted).
///
/// The controller and the router can also be stopped and started again separately
/// ([`stop_router`](RunningLab::stop_router), [`start_controller`](RunningLab::start_controller),
/// ...), on the same addresses, to test how SDKs ride out the loss of one of them.
#[derive(Debug)]
pub struct RunningLab {
    controller_addr: SocketAddr,
    router_addr: SocketAddr,
    controller_url: String,
    state: Arc<LabState>,
    router_options: router::RouterOptions,
    controller: Option<ServingTask>,
    router: Option<ServingTask>,
    fabric: Arc<router::Fabric>,
    extra_routers: Vec<ExtraRouter>,
}

/// A router started beside the configured one ([`RunningLab::add_router`]).
#[derive(Debug)]
struct ExtraRouter {
    name: String,
    addr: SocketAddr,
    task: Option<ServingTask>,
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

    /// Stops the edge router alone: it stops accepting and drops every channel (so every
    /// bind and stream through it ends). The controller keeps serving. Does nothing if the
    /// router is already stopped.
    pub async fn stop_router(&mut self) {
        if let Some(router) = self.router.take() {
            router.signal();
            router.finish().await;
        }
    }

    /// Starts the edge router again on the address it had, with a fresh router core (no
    /// channels, no terminators), as a restarted router process would. Does nothing if it
    /// is running.
    pub async fn start_router(&mut self) -> Result<(), LabError> {
        if self.router.is_none() {
            let listener = bind(self.router_addr).await?;
            self.router = Some(ServingTask::router(
                listener,
                router::RouterCore::on_fabric(
                    self.state.clone(),
                    self.router_options.clone(),
                    self.state.edge_router().id,
                    self.fabric.clone(),
                ),
            )?);
            tracing::info!(router_addr = %self.router_addr, "lab router started again");
        }
        Ok(())
    }

    /// Stops the controller alone (in-flight requests finish, bounded) and persists
    /// sessions. The router keeps serving, so established channels and streams keep
    /// flowing; API sessions stay valid, as in a controller that restarts from its
    /// database. Does nothing if the controller is already stopped.
    pub async fn stop_controller(&mut self) {
        if let Some(controller) = self.controller.take() {
            controller.signal();
            controller.finish().await;
            if let Err(e) = self.state.flush() {
                tracing::warn!(error = %e, "cannot persist sessions after stopping the controller");
            }
        }
    }

    /// Starts the controller again on the address it had. Does nothing if it is running.
    pub async fn start_controller(&mut self) -> Result<(), LabError> {
        if self.controller.is_none() {
            let listener = bind(self.controller_addr).await?;
            self.controller = Some(ServingTask::controller(listener, &self.state)?);
            tracing::info!(controller_addr = %self.controller_addr, "lab controller started again");
        }
        Ok(())
    }

    /// Starts a second (third, …) edge router called `name` on a free loopback port (or the
    /// configured router host), listed by the controller beside the configured one; returns
    /// its address. Circuits may cross routers: a dial through one reaches a host bound on
    /// another. The name must not be taken.
    pub async fn add_router(&mut self, name: &str) -> Result<SocketAddr, LabError> {
        if self.extra_routers.iter().any(|r| r.name == name)
            || self.state.edge_router().name == name
        {
            return Err(LabError::Duplicate {
                kind: "edge router",
                name: name.to_owned(),
            });
        }
        let wanted = SocketAddr::new(self.router_addr.ip(), 0);
        let listener = bind(wanted).await?;
        let addr = listener.local_addr().map_err(|e| LabError::Bind {
            addr: wanted,
            source: e,
        })?;
        self.state.register_edge_router(name, addr);
        let task = self.extra_router_task(name, listener)?;
        self.extra_routers.push(ExtraRouter {
            name: name.to_owned(),
            addr,
            task: Some(task),
        });
        tracing::info!(router = name, %addr, "extra lab router started");
        Ok(addr)
    }

    /// Stops the extra router `name` (its channels close, so its binds and streams end).
    /// Does nothing if it is stopped or unknown.
    pub async fn stop_extra_router(&mut self, name: &str) {
        let task = self
            .extra_routers
            .iter_mut()
            .find(|r| r.name == name)
            .and_then(|r| r.task.take());
        if let Some(task) = task {
            task.signal();
            task.finish().await;
        }
    }

    /// Starts the extra router `name` again on its address. Does nothing if it runs.
    pub async fn start_extra_router(&mut self, name: &str) -> Result<(), LabError> {
        let Some(index) = self.extra_routers.iter().position(|r| r.name == name) else {
            return Err(LabError::UnknownRouter {
                name: name.to_owned(),
                known: self.extra_routers.iter().map(|r| r.name.clone()).collect(),
            });
        };
        if self.extra_routers[index].task.is_none() {
            let listener = bind(self.extra_routers[index].addr).await?;
            let task = self.extra_router_task(name, listener)?;
            self.extra_routers[index].task = Some(task);
        }
        Ok(())
    }

    fn extra_router_task(
        &self,
        name: &str,
        listener: tokio::net::TcpListener,
    ) -> Result<ServingTask, LabError> {
        ServingTask::router(
            listener,
            router::RouterCore::on_fabric(
                self.state.clone(),
                self.router_options.clone(),
                state::derive_id("router", name),
                self.fabric.clone(),
            ),
        )
    }

    /// Stops accepting, lets in-flight requests finish (bounded), persists sessions.
    pub async fn shutdown(mut self) {
        let controller = self.controller.take();
        let router = self.router.take();
        let extras: Vec<ServingTask> = self
            .extra_routers
            .iter_mut()
            .filter_map(|r| r.task.take())
            .collect();
        for part in controller.iter().chain(router.iter()).chain(extras.iter()) {
            part.signal();
        }
        for part in controller.into_iter().chain(router).chain(extras) {
            part.finish().await;
        }
        if let Err(e) = self.state.flush() {
            tracing::warn!(error = %e, "cannot persist sessions at shutdown");
        }
    }
}
