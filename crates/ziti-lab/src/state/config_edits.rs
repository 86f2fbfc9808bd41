//! Changes to the lab's declarations while it runs: identities, services and service
//! policies added, service policies deleted. Each change is validated, written to
//! `lab.toml` and then applied, and it bumps [`LabState::last_change_at`] so SDKs polling
//! for service updates see it. (Deleting an identity is module `revoke`'s: it also takes its
//! sessions away.)

use super::{IdentityInfo, LabState, ServiceInfo};
use crate::config::{IdentityDecl, LabConfig, ServiceDecl, ServicePolicyDecl};
use crate::error::LabError;
use crate::timefmt::now_micros;

impl LabState {
    pub(super) fn change_config(
        &self,
        edit: impl FnOnce(&mut LabConfig) -> Result<(), LabError>,
    ) -> Result<(), LabError> {
        let mut inner = self.lock();
        let mut config = inner.config.clone();
        edit(&mut config)?;
        let path = self.dir.join("lab.toml");
        config.validate(&path)?;
        let text = config.to_toml()?;
        std::fs::write(&path, text).map_err(|e| LabError::io("write", &path, e))?;
        inner.config = config;
        inner.last_change_at = now_micros();
        self.reload_identities(&mut inner)
    }

    /// Declares an identity (persisted to `lab.toml`).
    pub fn add_identity(&self, decl: IdentityDecl) -> Result<IdentityInfo, LabError> {
        let info = Self::identity_info(&decl);
        self.change_config(|c| {
            if c.identities.iter().any(|i| i.name == decl.name) {
                return Err(LabError::Duplicate {
                    kind: "identity",
                    name: decl.name.clone(),
                });
            }
            c.identities.push(decl);
            Ok(())
        })?;
        Ok(info)
    }

    /// Declares a service (persisted to `lab.toml`).
    pub fn add_service(&self, decl: ServiceDecl) -> Result<ServiceInfo, LabError> {
        let info = Self::service_info(&decl);
        self.change_config(|c| {
            if c.services.iter().any(|s| s.name == decl.name) {
                return Err(LabError::Duplicate {
                    kind: "service",
                    name: decl.name.clone(),
                });
            }
            c.services.push(decl);
            Ok(())
        })?;
        Ok(info)
    }

    /// Declares a service policy (persisted to `lab.toml`).
    pub fn add_service_policy(&self, decl: ServicePolicyDecl) -> Result<(), LabError> {
        self.change_config(|c| {
            if c.service_policies.iter().any(|p| p.name == decl.name) {
                return Err(LabError::Duplicate {
                    kind: "service policy",
                    name: decl.name.clone(),
                });
            }
            c.service_policies.push(decl);
            Ok(())
        })
    }

    /// Deletes the service policy called `name` (persisted to `lab.toml`), as
    /// `ziti edge delete service-policy` does: identities it alone granted lose the service
    /// from their list at once, and new sessions are refused. Fails if no such policy exists.
    pub fn remove_service_policy(&self, name: &str) -> Result<(), LabError> {
        self.change_config(|c| {
            let before = c.service_policies.len();
            c.service_policies.retain(|p| p.name != name);
            if c.service_policies.len() == before {
                return Err(LabError::Unknown {
                    kind: "service policy",
                    name: name.to_string(),
                });
            }
            Ok(())
        })
    }
}
