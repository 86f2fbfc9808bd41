//! OpenZiti identity files: reading, validating and writing them.
//!
//! This module owns the JSON identity file an enrolled endpoint keeps (see
//! `docs/reference/ziti-controller-api.md` §1): the controller URL(s) and the x509 material
//! (`id.cert`, `id.key`, `id.ca`). It turns that file into rustls-ready values and checks
//! up front everything that would otherwise fail later during a TLS handshake: the PEM
//! blocks are of the right kind, the key is usable by rustls' `ring` provider, the key
//! matches the leaf certificate, the CA bundle is non-empty and accepted as trust anchors,
//! and the leaf carries a subject common name (the identity's name).
//!
//! ## Accepted file layout
//!
//! * `ztAPI` (string URL) and/or `ztAPIs` (array of URLs or `null`); at least one URL.
//!   Go-enrolled files carry `https://host:port/edge/client/v1`, C-enrolled ones
//!   `https://host:port`; both are kept as given, and [`client_api_base`] strips the suffix.
//! * `configTypes` (array of strings or `null`), `enableHa` (ignored) and any unknown field
//!   (ignored).
//! * `id.cert` (certificate chain, leaf first), `id.key` (EC in SEC1 or PKCS#8, RSA in PKCS#1
//!   or PKCS#8), `id.ca` (one or more CA certificates). Each value is one of
//!   `pem:<PEM>`, bare PEM (starting with `-----BEGIN`, leading whitespace allowed),
//!   `file://<path>`, `file:<path>` or a bare path.
//! * Engine references (`pkcs11:`, `keychain:`, `engine:`) and other URL schemes are refused
//!   with an error saying so.
//!
//! **Relative paths** are resolved against the directory of the identity file when it is
//! loaded with [`Identity::from_file`] (so an identity directory can be moved as a unit),
//! and against the process working directory with [`Identity::from_json`]. The Go and C
//! SDKs always use the working directory; enrolled files never contain relative paths, so
//! this only matters for hand-written files.
//!
//! ## Writing
//!
//! [`Identity::to_json_go_style`] writes the layout Go enrollment produces, with
//! `pem:`-prefixed inline values, so both SDK families can load the result.

mod error;
mod file;
mod pem;

pub use error::IdentityError;
pub use file::MAX_FILE_BYTES;
use file::{check_url, parse, read_limited, Context, Material};
use pem::build;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use serde_json::Value;

/// Path suffix Go enrollment appends to the controller address in `ztAPI`.
pub const CLIENT_API_SUFFIX: &str = "/edge/client/v1";

/// A loaded and validated identity.
pub struct Identity {
    file: String,
    zt_api: Option<String>,
    zt_apis: Vec<String>,
    config_types: Option<Vec<String>>,
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    ca_certs: Vec<CertificateDer<'static>>,
    roots: RootCertStore,
    certified_key: Arc<CertifiedKey>,
    name: String,
    cert_pem: String,
    key_pem: String,
    ca_pem: String,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Self {
            file: self.file.clone(),
            zt_api: self.zt_api.clone(),
            zt_apis: self.zt_apis.clone(),
            config_types: self.config_types.clone(),
            cert_chain: self.cert_chain.clone(),
            key: self.key.clone_key(),
            ca_certs: self.ca_certs.clone(),
            roots: self.roots.clone(),
            certified_key: Arc::clone(&self.certified_key),
            name: self.name.clone(),
            cert_pem: self.cert_pem.clone(),
            key_pem: self.key_pem.clone(),
            ca_pem: self.ca_pem.clone(),
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("file", &self.file)
            .field("name", &self.name)
            .field("controller_urls", &self.controller_urls())
            .field("cert_chain_len", &self.cert_chain.len())
            .field("ca_certs_len", &self.ca_certs.len())
            .finish_non_exhaustive()
    }
}

/// PEM material of one identity, as given to [`Identity::from_pem_parts`].
#[derive(Debug, Clone, Copy)]
pub struct PemParts<'a> {
    /// Certificate chain, leaf first.
    pub cert: &'a str,
    /// Private key of the leaf.
    pub key: &'a str,
    /// CA bundle.
    pub ca: &'a str,
}

impl Identity {
    /// Loads an identity file. Relative paths inside it are resolved against its directory.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, IdentityError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let bytes = read_limited(path).map_err(|error| IdentityError::Read {
            file: file.clone(),
            error,
        })?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        parse(&bytes, &file, dir)
    }

    /// Parses identity JSON; `source` names it in errors (e.g. the file name). Relative
    /// paths inside it are resolved against the working directory.
    pub fn from_json(bytes: &[u8], source: &str) -> Result<Self, IdentityError> {
        parse(bytes, source, Path::new("."))
    }

    /// Builds an identity from a controller URL and inline PEM (what enrollment produces);
    /// `source` names it in errors. The same checks as for files apply.
    pub fn from_pem_parts(
        zt_api: &str,
        pem: PemParts<'_>,
        source: &str,
    ) -> Result<Self, IdentityError> {
        let ctx = Context {
            file: source,
            dir: Path::new("."),
        };
        check_url(&ctx, "ztAPI", zt_api)?;
        build(
            &ctx,
            Some(zt_api.to_owned()),
            Vec::new(),
            None,
            [
                Material {
                    text: pem.cert.to_owned(),
                    origin: String::new(),
                },
                Material {
                    text: pem.key.to_owned(),
                    origin: String::new(),
                },
                Material {
                    text: pem.ca.to_owned(),
                    origin: String::new(),
                },
            ],
        )
    }

    /// Where this identity came from (file path or the source label given).
    pub fn source(&self) -> &str {
        &self.file
    }

    /// The identity's name: the subject common name of its certificate (sent in Hello).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ztAPI` exactly as given, if present.
    pub fn zt_api(&self) -> Option<&str> {
        self.zt_api.as_deref()
    }

    /// `ztAPIs` as given (empty when absent or `null`).
    pub fn zt_apis(&self) -> &[String] {
        &self.zt_apis
    }

    /// `configTypes`, or `None` when absent or `null`.
    pub fn config_types(&self) -> Option<&[String]> {
        self.config_types.as_deref()
    }

    /// Controller URLs to use, as given: `ztAPIs` when non-empty, else `ztAPI`.
    pub fn controller_urls(&self) -> Vec<&str> {
        if self.zt_apis.is_empty() {
            self.zt_api.iter().map(String::as_str).collect()
        } else {
            self.zt_apis.iter().map(String::as_str).collect()
        }
    }

    /// [`controller_urls`](Self::controller_urls) with any `/edge/client/v1` suffix removed.
    pub fn controller_bases(&self) -> Vec<&str> {
        self.controller_urls()
            .into_iter()
            .map(client_api_base)
            .collect()
    }

    /// Client certificate chain, leaf first.
    pub fn cert_chain(&self) -> &[CertificateDer<'static>] {
        &self.cert_chain
    }

    /// The client private key.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }

    /// Certificate chain and signing key, ready for a rustls client-certificate resolver.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.certified_key)
    }

    /// CA certificates from `id.ca`.
    pub fn ca_certs(&self) -> &[CertificateDer<'static>] {
        &self.ca_certs
    }

    /// Trust anchors for the controller and routers (every certificate of `id.ca`).
    pub fn root_cert_store(&self) -> RootCertStore {
        self.roots.clone()
    }

    /// The identity as JSON in the layout Go enrollment writes (`pem:` inline values,
    /// `ztAPIs`/`configTypes` `null` when empty).
    pub fn to_json_go_style(&self) -> String {
        #[derive(serde::Serialize)]
        struct IdSection {
            key: String,
            cert: String,
            ca: String,
        }
        #[derive(serde::Serialize)]
        struct GoConfig<'a> {
            #[serde(rename = "ztAPI")]
            zt_api: &'a str,
            #[serde(rename = "ztAPIs")]
            zt_apis: Option<&'a [String]>,
            #[serde(rename = "configTypes")]
            config_types: Option<&'a [String]>,
            id: IdSection,
            #[serde(rename = "enableHa")]
            enable_ha: bool,
        }
        let zt_api = self
            .zt_api
            .as_deref()
            .or_else(|| self.zt_apis.first().map(String::as_str))
            .unwrap_or_default();
        let config = GoConfig {
            zt_api,
            zt_apis: (!self.zt_apis.is_empty()).then_some(self.zt_apis.as_slice()),
            config_types: self.config_types.as_deref(),
            id: IdSection {
                key: format!("pem:{}", self.key_pem),
                cert: format!("pem:{}", self.cert_pem),
                ca: format!("pem:{}", self.ca_pem),
            },
            enable_ha: false,
        };
        // Serialising plain strings, slices and bools cannot fail.
        serde_json::to_string_pretty(&config).unwrap_or_default()
    }
}

/// Strips a trailing `/edge/client/v1` (and trailing slashes) from a controller URL, giving
/// the controller base that C-enrolled files carry.
pub fn client_api_base(url: &str) -> &str {
    let trimmed = url.trim_end_matches('/');
    trimmed
        .strip_suffix(CLIENT_API_SUFFIX)
        .map(|s| s.trim_end_matches('/'))
        .unwrap_or(trimmed)
}
