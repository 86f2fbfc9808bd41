//! Identities: lookups of declared identities, and how one gets a certificate the lab
//! accepts. [`LabState::mint_enrollment_jwt`] arms a one-time (`ott`) enrollment and signs its
//! JWT; [`LabState::enroll`] checks the token and signs the SDK's CSR (refusing with an
//! [`EnrollmentRefusal`]); [`LabState::issue_client_cert`] issues a certificate and key
//! directly (what `darkscrape lab identity` writes into an identity file). Each accepted
//! certificate's fingerprint is recorded in the identity's record, which is how a login or a
//! router channel is mapped to its identity.

use super::{derive_id, CertRecord, CertSource, Inner, LabState, PendingEnrollment};
use crate::config::{IdentityDecl, LabConfig};
use crate::error::LabError;
use crate::jwt::EnrollmentClaims;
use crate::pki::{CertFingerprint, CsrError, IssuedCert};
use crate::timefmt::now_micros;

/// An identity as the router and controller see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityInfo {
    /// Stable id (CN of its certificates, JWT `sub`).
    pub id: String,
    /// Declared name.
    pub name: String,
    /// Role attributes.
    pub roles: Vec<String>,
}

/// Why an enrollment was refused (maps to the controller's error codes).
#[derive(Debug, thiserror::Error)]
pub enum EnrollmentRefusal {
    /// No identity has this pending token (`INVALID_ENROLLMENT_TOKEN`).
    #[error("the enrollment token is not valid")]
    InvalidToken,
    /// The token's JWT has expired (`ENROLLMENT_EXPIRED`).
    #[error("the enrollment token has expired; mint a new one with `darkscrape lab jwt`")]
    Expired,
    /// The token was already used (`ENROLLMENT_IDENTITY_ALREADY_ENROLLED`).
    #[error(
        "the identity already enrolled with this token; mint a new one with `darkscrape lab jwt`"
    )]
    AlreadyEnrolled,
    /// The CSR is bad (`COULD_NOT_PROCESS_CSR`).
    #[error(transparent)]
    Csr(#[from] CsrError),
    /// The state could not be persisted.
    #[error(transparent)]
    Storage(#[from] LabError),
}

impl LabState {
    pub(super) fn identity_info(decl: &IdentityDecl) -> IdentityInfo {
        IdentityInfo {
            id: derive_id("identity", &decl.name),
            name: decl.name.clone(),
            roles: decl.roles.clone(),
        }
    }

    /// The identity with this id, if declared.
    pub fn identity(&self, id: &str) -> Option<IdentityInfo> {
        let inner = self.lock();
        find_identity(&inner.config, id).map(Self::identity_info)
    }

    /// The identity with this name, or an error listing the declared names.
    pub fn identity_by_name(&self, name: &str) -> Result<IdentityInfo, LabError> {
        let inner = self.lock();
        inner.config.identity(name).map(Self::identity_info)
    }

    /// Mints a fresh one-time enrollment JWT for the named identity. This re-arms enrollment:
    /// any older, unused JWT of the identity stops working, and enrolling with the new one
    /// replaces the identity's previously *enrolled* certificate (certificates issued directly
    /// with [`LabState::issue_client_cert`] stay valid).
    pub fn mint_enrollment_jwt(&self, name: &str) -> Result<String, LabError> {
        let url = self.controller_url();
        let mut inner = self.lock();
        let info = Self::identity_info(inner.config.identity(name)?);
        self.reload_identities(&mut inner)?;
        let ttl = inner.config.controller.enrollment_ttl_secs;
        let record =
            inner
                .identities
                .get_mut(&info.id)
                .ok_or_else(|| LabError::UnknownIdentity {
                    name: name.to_owned(),
                    known: Vec::new(),
                })?;
        let token = uuid::Uuid::new_v4().to_string();
        let exp = now_micros() / 1_000_000 + i64::try_from(ttl).unwrap_or(i64::MAX / 2);
        record.pending = Some(PendingEnrollment {
            token: token.clone(),
            expires_at_secs: exp,
        });
        self.save_identity(record)?;
        self.signer.sign(&EnrollmentClaims {
            iss: url,
            sub: info.id,
            jti: token,
            em: "ott".into(),
            exp,
            aud: vec![String::new()],
        })
    }

    /// Completes an `ott` enrollment: checks the token, signs the CSR, records the certificate.
    pub fn enroll(
        &self,
        token: &str,
        csr: &[u8],
    ) -> Result<(IdentityInfo, IssuedCert), EnrollmentRefusal> {
        let mut inner = self.lock();
        let find = |inner: &Inner| {
            inner
                .identities
                .values()
                .find(|r| {
                    r.pending.as_ref().is_some_and(|p| p.token == token)
                        || r.used_tokens.iter().any(|t| t == token)
                })
                .map(|r| r.id.clone())
        };
        let id = match find(&inner) {
            Some(id) => id,
            None => {
                self.reload_identities(&mut inner)?;
                find(&inner).ok_or(EnrollmentRefusal::InvalidToken)?
            }
        };
        let decl = find_identity(&inner.config, &id).ok_or(EnrollmentRefusal::InvalidToken)?;
        let info = Self::identity_info(decl);
        let record = inner
            .identities
            .get_mut(&id)
            .ok_or(EnrollmentRefusal::InvalidToken)?;
        if record.used_tokens.iter().any(|t| t == token) {
            return Err(EnrollmentRefusal::AlreadyEnrolled);
        }
        let pending = record
            .pending
            .clone()
            .ok_or(EnrollmentRefusal::InvalidToken)?;
        if pending.expires_at_secs <= now_micros() / 1_000_000 {
            return Err(EnrollmentRefusal::Expired);
        }
        let issued = self.pki.sign_csr(csr, &info.id, &info.name)?;
        record.pending = None;
        record.used_tokens.push(pending.token);
        record.certs.retain(|c| c.source != CertSource::Enrolled);
        record.certs.push(CertRecord {
            fingerprint: issued.fingerprint.clone(),
            source: CertSource::Enrolled,
            issued_at: now_micros(),
        });
        self.save_identity(record)?;
        Ok((info, issued))
    }

    /// Issues a client certificate + key for the named identity without enrollment (what
    /// `darkscrape lab identity` writes into an identity file). Returns (cert, key PEM).
    pub fn issue_client_cert(&self, name: &str) -> Result<(IssuedCert, String), LabError> {
        let mut inner = self.lock();
        let info = Self::identity_info(inner.config.identity(name)?);
        self.reload_identities(&mut inner)?;
        let (cert, key) = self.pki.issue_client(&info.id, &info.name)?;
        if let Some(record) = inner.identities.get_mut(&info.id) {
            record.certs.push(CertRecord {
                fingerprint: cert.fingerprint.clone(),
                source: CertSource::Issued,
                issued_at: now_micros(),
            });
            self.save_identity(record)?;
        }
        Ok((cert, key))
    }

    pub(super) fn identity_for_cert(
        &self,
        inner: &mut Inner,
        fp: &CertFingerprint,
    ) -> Result<Option<String>, LabError> {
        let find = |inner: &Inner| {
            inner
                .identities
                .values()
                .find(|r| r.certs.iter().any(|c| &c.fingerprint == fp))
                .map(|r| r.id.clone())
        };
        if let Some(id) = find(inner) {
            return Ok(Some(id));
        }
        self.reload_identities(inner)?;
        Ok(find(inner))
    }
}

pub(super) fn find_identity<'a>(config: &'a LabConfig, id: &str) -> Option<&'a IdentityDecl> {
    config
        .identities
        .iter()
        .find(|i| derive_id("identity", &i.name) == id)
}
