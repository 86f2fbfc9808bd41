//! Loading a lab's state from `<lab dir>/state/` and writing it back: identity records
//! (`state/identities/<identity id>.json`), service sessions (`state/sessions.json`) and the
//! addresses bound by the last start (`state/addresses.json`), each as JSON written
//! atomically (a temporary file renamed into place). API sessions are written off the lock by
//! module `api_store`; [`LabState::flush`] waits for both.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Weak};

use serde::{Deserialize, Serialize};

use super::{
    api_store, derive_id, IdentityRecord, Inner, LabState, RecordedAddresses, ServiceSessionRecord,
};
use crate::config::LabConfig;
use crate::error::LabError;
use crate::jwt::EnrollmentSigner;
use crate::pki::{CertFingerprint, LabPki};
use crate::timefmt::now_micros;

pub(super) fn write_json_atomic(path: &Path, value: &impl Serialize) -> Result<(), LabError> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| LabError::StateFile {
        path: path.to_owned(),
        source: e,
    })?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|e| LabError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| LabError::io("rename into", path, e))
}

pub(super) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, LabError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| LabError::StateFile {
                path: path.to_owned(),
                source: e,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LabError::io("read", path, e)),
    }
}

impl LabState {
    /// Loads state for the lab in `dir` (config already parsed, PKI already loaded).
    pub(crate) fn load(dir: &Path, config: LabConfig, pki: LabPki) -> Result<Self, LabError> {
        let signer = EnrollmentSigner::new(pki.controller_key_pkcs8(), pki.controller_cert_der())?;
        let instance_id = format!(
            "lab-{}",
            &CertFingerprint::of_der(pki.ca_der()).as_str()[..12]
        );
        let state_dir = dir.join("state");
        std::fs::create_dir_all(state_dir.join("identities"))
            .map_err(|e| LabError::io("create directory", &state_dir, e))?;
        let loaded = api_store::load(&state_dir)?;
        let api_store = api_store::ApiSessionStore::start(&state_dir, &loaded)?;
        let next_api_session_serial = loaded.records.iter().map(|r| r.serial + 1).max();
        let sessions: Vec<ServiceSessionRecord> =
            read_json(&state_dir.join("sessions.json"))?.unwrap_or_default();
        // With port 0 in lab.toml, use the addresses a running lab recorded (so a second
        // process, e.g. `darkscrape lab jwt`, mints JWTs naming the port actually bound).
        let recorded: Option<RecordedAddresses> = read_json(&state_dir.join("addresses.json"))?;
        let pick = |configured: SocketAddr, recorded: Option<SocketAddr>| match recorded {
            Some(r) if configured.port() == 0 => r,
            _ => configured,
        };
        let inner = Inner {
            controller_addr: pick(
                config.controller.address,
                recorded.as_ref().map(|r| r.controller),
            ),
            router_addr: pick(config.router.address, recorded.as_ref().map(|r| r.router)),
            config,
            identities: HashMap::new(),
            api_sessions: loaded
                .records
                .into_iter()
                .map(|s| (s.token.clone(), s))
                .collect(),
            sessions: sessions.into_iter().map(|s| (s.token.clone(), s)).collect(),
            last_change_at: now_micros(),
            next_api_session_serial: next_api_session_serial.unwrap_or(0),
            last_expiry_sweep: 0,
            extra_routers: Vec::new(),
        };
        let state = LabState {
            dir: dir.to_owned(),
            pki,
            signer,
            instance_id,
            inner: Mutex::new(inner),
            api_store,
            router: Mutex::new(Weak::new()),
            api_session_removals: tokio::sync::watch::Sender::new(0),
        };
        {
            let mut inner = state.lock();
            state.reload_identities(&mut inner)?;
        }
        Ok(state)
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    pub(super) fn identity_path(&self, id: &str) -> PathBuf {
        self.state_dir()
            .join("identities")
            .join(format!("{id}.json"))
    }

    /// Re-reads every declared identity's record from disk (creating missing ones in memory).
    pub(super) fn reload_identities(&self, inner: &mut Inner) -> Result<(), LabError> {
        let mut fresh = HashMap::new();
        for decl in &inner.config.identities {
            let id = derive_id("identity", &decl.name);
            let record =
                read_json::<IdentityRecord>(&self.identity_path(&id))?.unwrap_or(IdentityRecord {
                    id: id.clone(),
                    name: decl.name.clone(),
                    pending: None,
                    used_tokens: Vec::new(),
                    certs: Vec::new(),
                });
            fresh.insert(id, record);
        }
        inner.identities = fresh;
        Ok(())
    }

    pub(super) fn save_identity(&self, record: &IdentityRecord) -> Result<(), LabError> {
        write_json_atomic(&self.identity_path(&record.id), record)
    }

    pub(super) fn save_sessions(&self, inner: &Inner) -> Result<(), LabError> {
        let list: Vec<&ServiceSessionRecord> = inner.sessions.values().collect();
        write_json_atomic(&self.state_dir().join("sessions.json"), &list)
    }

    /// Writes API sessions (with their latest activity) and service sessions to disk, and
    /// waits until both are written.
    pub fn flush(&self) -> Result<(), LabError> {
        let inner = self.lock();
        let api_sessions = self
            .api_store
            .snapshot(inner.api_sessions.values().cloned().collect());
        let sessions = self.save_sessions(&inner);
        drop(inner);
        api_sessions.wait()?;
        sessions
    }

    /// Records the addresses actually bound (port 0 resolved) so URLs and JWTs use them, also
    /// in `state/addresses.json` for other processes opening the same lab.
    pub(crate) fn set_addresses(&self, controller: SocketAddr, router: SocketAddr) {
        let mut inner = self.lock();
        inner.controller_addr = controller;
        inner.router_addr = router;
        let recorded = RecordedAddresses { controller, router };
        if let Err(e) = write_json_atomic(&self.state_dir().join("addresses.json"), &recorded) {
            tracing::warn!(error = %e, "cannot record the bound addresses");
        }
    }
}
