//! Services and what the service policies grant: lookups of declared services by id, and
//! the services an identity may Dial or Bind with its permissions (the policies themselves
//! are evaluated by [`LabConfig::permissions`]). Service sessions are checked against the
//! same permissions when created and each time a router presents them (module
//! `service_sessions`).

use std::collections::BTreeMap;

use super::{derive_id, find_identity, LabState};
use crate::config::{LabConfig, PolicyType, ServiceDecl};

/// A service as the router and controller see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceInfo {
    /// Stable id.
    pub id: String,
    /// Declared name.
    pub name: String,
    /// Role attributes.
    pub roles: Vec<String>,
    /// Whether SDKs must encrypt end to end.
    pub encryption_required: bool,
    /// Config-type → config object.
    pub configs: BTreeMap<String, serde_json::Value>,
}

impl LabState {
    pub(super) fn service_info(decl: &ServiceDecl) -> ServiceInfo {
        ServiceInfo {
            id: derive_id("service", &decl.name),
            name: decl.name.clone(),
            roles: decl.roles.clone(),
            encryption_required: decl.encryption_required,
            configs: decl.configs.clone(),
        }
    }

    /// The service with this id, if declared.
    pub fn service(&self, id: &str) -> Option<ServiceInfo> {
        let inner = self.lock();
        find_service(&inner.config, id).map(Self::service_info)
    }

    /// Services the identity may Dial or Bind, with its permissions, in declaration order.
    pub fn services_for(&self, identity_id: &str) -> Vec<(ServiceInfo, Vec<PolicyType>)> {
        let inner = self.lock();
        let Some(identity) = find_identity(&inner.config, identity_id) else {
            return Vec::new();
        };
        inner
            .config
            .services
            .iter()
            .filter_map(|s| {
                let perms = inner.config.permissions(identity, s);
                (!perms.is_empty()).then(|| (Self::service_info(s), perms))
            })
            .collect()
    }
}

pub(super) fn find_service<'a>(config: &'a LabConfig, id: &str) -> Option<&'a ServiceDecl> {
    config
        .services
        .iter()
        .find(|s| derive_id("service", &s.name) == id)
}
