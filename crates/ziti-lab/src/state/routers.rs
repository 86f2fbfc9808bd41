//! The edge routers the controller lists: the configured one and any started beside it at
//! run time ([`crate::RunningLab::add_router`]), so SDKs can bind on several routers and
//! dial through another when one goes away. Extra routers are not persisted. Also the
//! terminators the running routers hold, as the controller lists them per service.

use std::net::SocketAddr;
use std::sync::Arc;

use super::{derive_id, now_micros, LabState};
use crate::config::advertised_host;
use crate::router::RouterCore;

/// A terminator as the controller lists it (`terminatorClientDetail`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminatorInfo {
    /// Terminator id.
    pub id: String,
    /// The service it hosts.
    pub service_id: String,
    /// The edge router holding it.
    pub router_id: String,
    /// Its instance id (`identity` in the API; the host's identity name when it binds with
    /// `bindUsingEdgeIdentity`), empty when none was given.
    pub instance_id: String,
}

/// An edge router as the controller lists it to SDKs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeRouterInfo {
    /// Stable id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Host put into its URL.
    pub hostname: String,
    /// `tls://host:port`.
    pub tls_url: String,
}

impl LabState {
    /// The lab's edge router as listed to SDKs.
    pub fn edge_router(&self) -> EdgeRouterInfo {
        let inner = self.lock();
        let hostname = advertised_host(&inner.config.router.host, inner.router_addr);
        EdgeRouterInfo {
            id: derive_id("router", &inner.config.router.name),
            name: inner.config.router.name.clone(),
            tls_url: format!("tls://{hostname}:{}", inner.router_addr.port()),
            hostname,
        }
    }

    /// Every edge router, the configured one first, as the controller lists them to SDKs.
    pub fn edge_routers(&self) -> Vec<EdgeRouterInfo> {
        let mut all = vec![self.edge_router()];
        let inner = self.lock();
        for (name, addr) in &inner.extra_routers {
            let hostname = advertised_host(&inner.config.router.host, *addr);
            all.push(EdgeRouterInfo {
                id: derive_id("router", name),
                name: name.clone(),
                tls_url: format!("tls://{hostname}:{}", addr.port()),
                hostname,
            });
        }
        all
    }

    /// Lists an extra router `name` at `addr` (replacing an earlier entry of that name); the
    /// service lists change, so SDKs polling for updates see it.
    pub(crate) fn register_edge_router(&self, name: &str, addr: SocketAddr) {
        let mut inner = self.lock();
        inner.extra_routers.retain(|(n, _)| n != name);
        inner.extra_routers.push((name.to_owned(), addr));
        inner.last_change_at = now_micros();
    }

    /// Records `router` as the running edge router (its terminators are what
    /// [`LabState::service_terminators`] lists).
    pub fn attach_router(&self, router: &Arc<RouterCore>) {
        *self.router.lock().unwrap_or_else(|p| p.into_inner()) = Arc::downgrade(router);
    }

    /// The terminators of the service with id `service_id` on the running router, ordered by
    /// id; empty while the router is stopped (its terminators went with its channels).
    pub fn service_terminators(&self, service_id: &str) -> Vec<TerminatorInfo> {
        let router = self
            .router
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .upgrade();
        let Some(router) = router else {
            return Vec::new();
        };
        let table = router.terminators();
        table
            .for_service(service_id)
            .map(|t| TerminatorInfo {
                id: t.id.clone(),
                service_id: t.service_id.clone(),
                router_id: router.router_id.clone(),
                instance_id: t.instance_id.clone().unwrap_or_default(),
            })
            .collect()
    }
}
