//! Writing identity files in the Go SDK layout (`pem:` values), as `ziti edge enroll` does.

use std::path::Path;

use serde::Serialize;

use crate::error::LabError;

/// `{"ztAPI": …, "id": {"cert","key","ca"}}` with `pem:`-prefixed values.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityFile {
    /// Controller URL.
    #[serde(rename = "ztAPI")]
    pub zt_api: String,
    /// Credentials.
    pub id: IdentityMaterial,
}

/// The `id` object of an identity file.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityMaterial {
    /// `pem:` + client certificate.
    pub cert: String,
    /// `pem:` + private key.
    pub key: String,
    /// `pem:` + CA bundle.
    pub ca: String,
}

impl IdentityFile {
    /// Builds the file content from PEM texts.
    pub fn new(zt_api: String, cert_pem: &str, key_pem: &str, ca_pem: &str) -> Self {
        IdentityFile {
            zt_api,
            id: IdentityMaterial {
                cert: format!("pem:{cert_pem}"),
                key: format!("pem:{key_pem}"),
                ca: format!("pem:{ca_pem}"),
            },
        }
    }

    /// Writes the JSON to `path` (created or replaced), readable only by the owner on Unix.
    pub fn write(&self, path: &Path) -> Result<(), LabError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| LabError::StateFile {
            path: path.to_owned(),
            source: e,
        })?;
        std::fs::write(path, text).map_err(|e| LabError::io("write", path, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| LabError::io("set permissions of", path, e))?;
        }
        Ok(())
    }
}
