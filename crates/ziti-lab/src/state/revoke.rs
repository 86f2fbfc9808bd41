//! Taking access away, as a 2.x controller does: deleting an identity (`ziti edge delete
//! identity`) removes its enrollment, certificates, API sessions and service sessions, so it
//! can no longer log in; and every removal of an API session (that one, or a logout) is
//! announced so that routers close the channels that presented the session, as openziti/ziti
//! v2.0.3 routers do for legacy API sessions (`router/xgress_edge/connections.go`
//! `completeBinding`). Terminators on those channels go with them.

use super::{LabError, LabState};
use crate::state::IdentityInfo;

impl LabState {
    /// Deletes the identity `name`: its declaration in `lab.toml`, its enrollment and
    /// certificate record, its API sessions and their service sessions. Logging in with its
    /// certificate fails afterwards (`401 INVALID_AUTH`), and routers close its channels.
    pub fn remove_identity(&self, name: &str) -> Result<IdentityInfo, LabError> {
        let info = {
            let inner = self.lock();
            Self::identity_info(inner.config.identity(name)?)
        };
        self.change_config(|c| {
            c.identities.retain(|i| i.name != name);
            Ok(())
        })?;
        let record = self.identity_path(&info.id);
        match std::fs::remove_file(&record) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LabError::io("remove", &record, e)),
        }
        let mut inner = self.lock();
        inner.identities.remove(&info.id);
        let store = &self.api_store;
        inner.api_sessions.retain(|token, s| {
            let keep = s.identity_id != info.id;
            if !keep {
                store.remove(token);
            }
            keep
        });
        inner.sessions.retain(|_, s| s.identity_id != info.id);
        self.save_sessions(&inner)?;
        drop(inner);
        self.announce_api_session_removals();
        tracing::info!(identity = %name, "identity deleted; its sessions are gone");
        Ok(info)
    }

    /// Whether the API session with this token still exists (without marking activity).
    pub fn api_session_exists(&self, token: &str) -> bool {
        self.lock().api_sessions.contains_key(token)
    }

    /// Changes whenever API sessions were removed; a router re-checks its channels'
    /// sessions with [`api_session_exists`](Self::api_session_exists) then.
    pub fn api_session_removals(&self) -> tokio::sync::watch::Receiver<u64> {
        self.api_session_removals.subscribe()
    }

    pub(super) fn announce_api_session_removals(&self) {
        self.api_session_removals
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }
}
