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

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use serde_json::Value;

/// Path suffix Go enrollment appends to the controller address in `ztAPI`.
pub const CLIENT_API_SUFFIX: &str = "/edge/client/v1";

/// What is wrong with an identity file, naming the file, the field and the fix.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The identity file itself could not be read.
    #[error("identity file {file}: cannot read it: {error}; check the path and its permissions")]
    Read {
        /// The identity file.
        file: String,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The content is not JSON.
    #[error("identity file {file}: not valid JSON ({detail}); an identity file is the JSON object written by enrollment")]
    NotJson {
        /// The identity file.
        file: String,
        /// Parser message with line and column.
        detail: String,
    },
    /// A required field is absent (or `null`).
    #[error("identity file {file}: field {field} is missing (expected {expected})")]
    MissingField {
        /// The identity file.
        file: String,
        /// JSON path of the field.
        field: String,
        /// What should be there.
        expected: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("identity file {file}: field {field} is {found}, expected {expected}")]
    WrongType {
        /// The identity file.
        file: String,
        /// JSON path of the field.
        field: String,
        /// What should be there.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// Neither `ztAPI` nor a non-empty `ztAPIs` is present.
    #[error("identity file {file}: no controller URL; set field ztAPI to the controller address, e.g. \"https://ctrl.example:1280\"")]
    NoControllerUrl {
        /// The identity file.
        file: String,
    },
    /// A controller URL is not an http(s) URL with a host.
    #[error("identity file {file}: field {field} is {value:?}, which is not an http(s) URL; expected e.g. \"https://ctrl.example:1280\"")]
    BadUrl {
        /// The identity file.
        file: String,
        /// JSON path of the field.
        field: String,
        /// The value found.
        value: String,
    },
    /// An `id.*` value names a hardware or OS key store, which this SDK does not support.
    #[error("identity file {file}: field {field} refers to a {scheme} key store, which is not supported; export the key and give it as \"pem:-----BEGIN …\" or a file path")]
    UnsupportedEngine {
        /// The identity file.
        file: String,
        /// JSON path of the field.
        field: String,
        /// `pkcs11`, `keychain` or `engine`.
        scheme: String,
    },
    /// An `id.*` value uses a URL scheme other than `file:` and `pem:`.
    #[error("identity file {file}: field {field} uses URL scheme {scheme:?}, which is not supported (expected \"pem:-----BEGIN …\", \"file:///path\" or a path)")]
    UnsupportedScheme {
        /// The identity file.
        file: String,
        /// JSON path of the field.
        field: String,
        /// The scheme found.
        scheme: String,
    },
    /// A file referenced by an `id.*` value could not be read.
    #[error("identity file {file}: field {field} refers to {}, which cannot be read: {error}; fix the path (relative paths are resolved against the identity file's directory)", path.display())]
    ReferencedFile {
        /// The identity file.
        file: String,
        /// JSON path of the field.
        field: String,
        /// The resolved path.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// An `id.*` value (or the file it names) contains no PEM block at all.
    #[error("identity file {file}: field {field} is not PEM or a file path{origin} (expected \"pem:-----BEGIN {label}-----…\", \"file:///path\" or a path)")]
    NotPem {
        /// The identity file.
        file: String,
        /// JSON path of the field.
        field: String,
        /// The PEM label that was expected.
        label: &'static str,
        /// Empty for inline values, or " (file …)" for referenced files.
        origin: String,
    },
    /// A PEM block is malformed (truncated, bad base64, missing end line).
    #[error("identity file {file}: field {field} holds malformed PEM{origin}: {detail}; re-export it or re-enroll")]
    PemSyntax {
        /// The identity file.
        file: String,
        /// JSON path of the field.
        field: String,
        /// Empty for inline values, or " (file …)" for referenced files.
        origin: String,
        /// Parser message.
        detail: String,
    },
    /// The PEM holds blocks, but none of the expected kind.
    #[error("identity file {file}: field {field} holds PEM of the wrong kind{origin} (found {found}, expected {expected})")]
    WrongPemKind {
        /// The identity file.
        file: String,
        /// JSON path of the field.
        field: String,
        /// Empty for inline values, or " (file …)" for referenced files.
        origin: String,
        /// Labels found.
        found: String,
        /// Labels accepted.
        expected: &'static str,
    },
    /// `id.key` holds more than one private key.
    #[error("identity file {file}: field id.key holds {count} private keys; keep only the key of the certificate in id.cert")]
    MultipleKeys {
        /// The identity file.
        file: String,
        /// Number of keys found.
        count: usize,
    },
    /// A certificate does not parse as x509.
    #[error("identity file {file}: field {field}: certificate #{index} is not a valid x509 certificate ({detail}); re-export it or re-enroll")]
    Certificate {
        /// The identity file.
        file: String,
        /// JSON path of the field.
        field: String,
        /// Position in the field, from 0.
        index: usize,
        /// Parser message.
        detail: String,
    },
    /// rustls refused a CA certificate as a trust anchor.
    #[error("identity file {file}: field id.ca: certificate #{index} cannot be used as a trust anchor ({detail}); replace the CA bundle")]
    CaRejected {
        /// The identity file.
        file: String,
        /// Position in the bundle, from 0.
        index: usize,
        /// rustls message.
        detail: String,
    },
    /// The private key is of a type or curve rustls' ring provider cannot sign with.
    #[error("identity file {file}: field id.key is not usable for TLS ({detail}); supported keys are EC P-256/P-384, RSA ≥ 2048 bits and Ed25519")]
    KeyUnsupported {
        /// The identity file.
        file: String,
        /// rustls message.
        detail: String,
    },
    /// The private key does not belong to the leaf certificate.
    #[error("identity file {file}: field id.key does not match the public key of the first certificate in id.cert; put the key that was enrolled with this certificate (leaf first in id.cert)")]
    KeyMismatch {
        /// The identity file.
        file: String,
    },
    /// The leaf certificate has no subject common name, which is the identity's name.
    #[error("identity file {file}: field id.cert: the first certificate has no subject common name (CN); use the certificate issued at enrollment")]
    NoCommonName {
        /// The identity file.
        file: String,
    },
}

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

/// Error context: which file, and where relative paths start.
struct Context<'a> {
    file: &'a str,
    dir: &'a Path,
}

/// PEM text of one `id.*` field and where it came from (for messages).
struct Material {
    text: String,
    origin: String,
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse(bytes: &[u8], file: &str, dir: &Path) -> Result<Identity, IdentityError> {
    let ctx = Context { file, dir };
    let root: Value = serde_json::from_slice(bytes).map_err(|e| IdentityError::NotJson {
        file: file.to_owned(),
        detail: e.to_string(),
    })?;
    let Value::Object(top) = &root else {
        return Err(IdentityError::WrongType {
            file: file.to_owned(),
            field: "(top level)".to_owned(),
            expected: "a JSON object",
            found: json_type(&root),
        });
    };

    let zt_api = match top.get("ztAPI") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            check_url(&ctx, "ztAPI", s)?;
            Some(s.clone())
        }
        Some(other) => return Err(wrong_type(&ctx, "ztAPI", "a URL string", other)),
    };
    let zt_apis = string_list(&ctx, top.get("ztAPIs"), "ztAPIs")?.unwrap_or_default();
    for (i, url) in zt_apis.iter().enumerate() {
        check_url(&ctx, &format!("ztAPIs[{i}]"), url)?;
    }
    if zt_api.is_none() && zt_apis.is_empty() {
        return Err(IdentityError::NoControllerUrl {
            file: file.to_owned(),
        });
    }
    let config_types = string_list(&ctx, top.get("configTypes"), "configTypes")?;

    let id = match top.get("id") {
        None | Some(Value::Null) => {
            return Err(IdentityError::MissingField {
                file: file.to_owned(),
                field: "id".to_owned(),
                expected: "an object with cert, key and ca",
            })
        }
        Some(Value::Object(id)) => id,
        Some(other) => {
            return Err(wrong_type(
                &ctx,
                "id",
                "an object with cert, key and ca",
                other,
            ))
        }
    };
    let material = |name: &str, label: &'static str| -> Result<Material, IdentityError> {
        let field = format!("id.{name}");
        const EXPECTED: &str = "a string: \"pem:-----BEGIN …\", \"file:///path\" or a path";
        match id.get(name) {
            None | Some(Value::Null) => Err(IdentityError::MissingField {
                file: file.to_owned(),
                field,
                expected: EXPECTED,
            }),
            Some(Value::String(s)) => resolve(&ctx, &field, label, s),
            Some(other) => Err(wrong_type(&ctx, &field, EXPECTED, other)),
        }
    };
    let cert = material("cert", "CERTIFICATE")?;
    let key = material("key", "EC PRIVATE KEY")?;
    let ca = material("ca", "CERTIFICATE")?;
    build(&ctx, zt_api, zt_apis, config_types, [cert, key, ca])
}

fn wrong_type(ctx: &Context<'_>, field: &str, expected: &'static str, v: &Value) -> IdentityError {
    IdentityError::WrongType {
        file: ctx.file.to_owned(),
        field: field.to_owned(),
        expected,
        found: json_type(v),
    }
}

fn string_list(
    ctx: &Context<'_>,
    v: Option<&Value>,
    field: &str,
) -> Result<Option<Vec<String>>, IdentityError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(wrong_type(ctx, &format!("{field}[{i}]"), "a string", other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(wrong_type(ctx, field, "an array of strings or null", other)),
    }
}

fn check_url(ctx: &Context<'_>, field: &str, url: &str) -> Result<(), IdentityError> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|r| {
        let authority = r.split(['/', '?', '#']).next().unwrap_or_default();
        !authority.is_empty()
            && !authority.starts_with(':')
            && !authority.contains(char::is_whitespace)
    });
    if host_ok {
        Ok(())
    } else {
        Err(IdentityError::BadUrl {
            file: ctx.file.to_owned(),
            field: field.to_owned(),
            value: url.to_owned(),
        })
    }
}

/// Turns one `id.*` value into PEM text, reading a referenced file when needed.
fn resolve(
    ctx: &Context<'_>,
    field: &str,
    label: &'static str,
    value: &str,
) -> Result<Material, IdentityError> {
    let not_pem = |origin: String| IdentityError::NotPem {
        file: ctx.file.to_owned(),
        field: field.to_owned(),
        label,
        origin,
    };
    if let Some(inline) = value.strip_prefix("pem:") {
        return Ok(Material {
            text: inline.trim_start().to_owned(),
            origin: String::new(),
        });
    }
    let trimmed = value.trim_start();
    if trimmed.starts_with("-----BEGIN") {
        return Ok(Material {
            text: trimmed.to_owned(),
            origin: String::new(),
        });
    }
    if value.trim().is_empty() {
        return Err(not_pem(String::new()));
    }
    let path_text = if let Some(p) = value.strip_prefix("file://") {
        p
    } else if let Some(p) = value.strip_prefix("file:") {
        p
    } else {
        let lower = value.to_ascii_lowercase();
        for scheme in ["pkcs11", "keychain", "engine"] {
            if lower.starts_with(&format!("{scheme}:")) {
                return Err(IdentityError::UnsupportedEngine {
                    file: ctx.file.to_owned(),
                    field: field.to_owned(),
                    scheme: scheme.to_owned(),
                });
            }
        }
        if let Some((scheme, _)) = value.split_once("://") {
            let is_scheme = !scheme.is_empty()
                && scheme
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
            if is_scheme {
                return Err(IdentityError::UnsupportedScheme {
                    file: ctx.file.to_owned(),
                    field: field.to_owned(),
                    scheme: scheme.to_owned(),
                });
            }
        }
        value
    };
    if path_text.is_empty() {
        return Err(not_pem(String::new()));
    }
    let path = Path::new(path_text);
    let path = if path.is_relative() {
        ctx.dir.join(path)
    } else {
        path.to_path_buf()
    };
    let bytes = read_limited(&path).map_err(|error| IdentityError::ReferencedFile {
        file: ctx.file.to_owned(),
        field: field.to_owned(),
        path: path.clone(),
        error,
    })?;
    let origin = format!(" (file {})", path.display());
    let text = String::from_utf8(bytes).map_err(|_| not_pem(origin.clone()))?;
    Ok(Material { text, origin })
}

/// Largest identity or referenced PEM file read (real ones are a few KiB); this also keeps
/// a value such as `/dev/zero` from reading forever.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Reads a whole file of at most [`MAX_FILE_BYTES`].
fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "file is larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    Ok(bytes)
}

/// Labels of all `-----BEGIN X-----` lines (at the start of a line, as the PEM parser
/// requires), for messages.
fn pem_labels(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            line.trim_end()
                .strip_prefix("-----BEGIN ")
                .and_then(|rest| rest.strip_suffix("-----"))
                .map(str::to_owned)
        })
        .collect()
}

fn pem_items(
    ctx: &Context<'_>,
    field: &str,
    label: &'static str,
    material: &Material,
) -> Result<Vec<rustls_pemfile::Item>, IdentityError> {
    if pem_labels(&material.text).is_empty() {
        return Err(IdentityError::NotPem {
            file: ctx.file.to_owned(),
            field: field.to_owned(),
            label,
            origin: material.origin.clone(),
        });
    }
    let mut reader = material.text.as_bytes();
    let mut items = Vec::new();
    // Each successful item consumes at least one line, so this terminates; an error ends it.
    for item in rustls_pemfile::read_all(&mut reader) {
        match item {
            Ok(item) => items.push(item),
            Err(e) => {
                return Err(IdentityError::PemSyntax {
                    file: ctx.file.to_owned(),
                    field: field.to_owned(),
                    origin: material.origin.clone(),
                    detail: e.to_string(),
                })
            }
        }
    }
    Ok(items)
}

fn wrong_kind(
    ctx: &Context<'_>,
    field: &str,
    material: &Material,
    expected: &'static str,
) -> IdentityError {
    let labels = pem_labels(&material.text);
    IdentityError::WrongPemKind {
        file: ctx.file.to_owned(),
        field: field.to_owned(),
        origin: material.origin.clone(),
        found: labels.join(", "),
        expected,
    }
}

fn certificates(
    ctx: &Context<'_>,
    field: &str,
    material: &Material,
) -> Result<Vec<CertificateDer<'static>>, IdentityError> {
    let certs: Vec<CertificateDer<'static>> = pem_items(ctx, field, "CERTIFICATE", material)?
        .into_iter()
        .filter_map(|item| match item {
            rustls_pemfile::Item::X509Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(wrong_kind(ctx, field, material, "CERTIFICATE"));
    }
    for (index, cert) in certs.iter().enumerate() {
        x509_parser::parse_x509_certificate(cert).map_err(|e| IdentityError::Certificate {
            file: ctx.file.to_owned(),
            field: field.to_owned(),
            index,
            detail: e.to_string(),
        })?;
    }
    Ok(certs)
}

fn private_key(
    ctx: &Context<'_>,
    material: &Material,
) -> Result<PrivateKeyDer<'static>, IdentityError> {
    const EXPECTED: &str = "EC PRIVATE KEY, RSA PRIVATE KEY or PRIVATE KEY";
    let mut keys: Vec<PrivateKeyDer<'static>> =
        pem_items(ctx, "id.key", "EC PRIVATE KEY", material)?
            .into_iter()
            .filter_map(|item| match item {
                rustls_pemfile::Item::Pkcs1Key(k) => Some(PrivateKeyDer::from(k)),
                rustls_pemfile::Item::Pkcs8Key(k) => Some(PrivateKeyDer::from(k)),
                rustls_pemfile::Item::Sec1Key(k) => Some(PrivateKeyDer::from(k)),
                _ => None,
            })
            .collect();
    match keys.len() {
        0 => Err(wrong_kind(ctx, "id.key", material, EXPECTED)),
        1 => Ok(keys.remove(0)),
        count => Err(IdentityError::MultipleKeys {
            file: ctx.file.to_owned(),
            count,
        }),
    }
}

fn common_name(ctx: &Context<'_>, leaf: &CertificateDer<'_>) -> Result<String, IdentityError> {
    let no_cn = || IdentityError::NoCommonName {
        file: ctx.file.to_owned(),
    };
    let (_, cert) =
        x509_parser::parse_x509_certificate(leaf).map_err(|e| IdentityError::Certificate {
            file: ctx.file.to_owned(),
            field: "id.cert".to_owned(),
            index: 0,
            detail: e.to_string(),
        })?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .ok_or_else(no_cn)?
        .as_str()
        .map_err(|_| no_cn())?;
    if cn.is_empty() {
        return Err(no_cn());
    }
    Ok(cn.to_owned())
}

fn build(
    ctx: &Context<'_>,
    zt_api: Option<String>,
    zt_apis: Vec<String>,
    config_types: Option<Vec<String>>,
    [cert, key, ca]: [Material; 3],
) -> Result<Identity, IdentityError> {
    let cert_chain = certificates(ctx, "id.cert", &cert)?;
    let key_der = private_key(ctx, &key)?;
    let ca_certs = certificates(ctx, "id.ca", &ca)?;

    let name = common_name(ctx, &cert_chain[0])?;

    let signing_key = any_supported_type(&key_der).map_err(|e| IdentityError::KeyUnsupported {
        file: ctx.file.to_owned(),
        detail: e.to_string(),
    })?;
    let certified_key = CertifiedKey::new(cert_chain.clone(), signing_key);
    match certified_key.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(IdentityError::KeyMismatch {
                file: ctx.file.to_owned(),
            })
        }
        Err(e) => {
            return Err(IdentityError::KeyUnsupported {
                file: ctx.file.to_owned(),
                detail: e.to_string(),
            })
        }
    }

    let mut roots = RootCertStore::empty();
    for (index, der) in ca_certs.iter().enumerate() {
        roots
            .add(der.clone())
            .map_err(|e| IdentityError::CaRejected {
                file: ctx.file.to_owned(),
                index,
                detail: e.to_string(),
            })?;
    }

    Ok(Identity {
        file: ctx.file.to_owned(),
        zt_api,
        zt_apis,
        config_types,
        cert_chain,
        key: key_der,
        ca_certs,
        roots,
        certified_key: Arc::new(certified_key),
        name,
        cert_pem: cert.text,
        key_pem: key.text,
        ca_pem: ca.text,
    })
}
