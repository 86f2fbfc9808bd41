//! What is wrong with an identity file, naming the file, the field and the fix.

use std::path::PathBuf;

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
