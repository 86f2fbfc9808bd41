//! The edge routers the controller lists: the configured one and any started beside it at
//! run time ([`crate::RunningLab::add_router`]), so SDKs can bind on several routers and
//! dial through another when one goes away. Extra routers are not persisted.

use std::net::SocketAddr;

use super::{derive_id, now_micros, LabState};
use crate::config::advertised_host;
use crate::state::EdgeRouterInfo;

impl LabState {
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
}
