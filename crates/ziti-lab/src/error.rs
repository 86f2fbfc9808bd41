//! Errors of the lab: one enum naming what went wrong and what to do about it.

use std::path::PathBuf;

/// Everything that can go wrong while creating, opening or running a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A file of the lab directory could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done ("read", "write", "create directory", ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `lab.toml` is not valid TOML or does not match the expected layout.
    #[error("{path} is not a valid lab configuration: {message}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A persisted state file (JSON) is corrupt.
    #[error(
        "state file {path} is corrupt ({source}); delete it to reset that part of the lab state"
    )]
    StateFile {
        /// The state file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// `Lab::init` was pointed at a directory that already holds a lab.
    #[error("{0} already holds a lab (lab.toml exists); use `lab run` or pick an empty directory")]
    AlreadyInitialised(PathBuf),
    /// `Lab::open` was pointed at a directory without `lab.toml`.
    #[error("{0} holds no lab (no lab.toml); create one with `darkscrape lab init DIR`")]
    NotALab(PathBuf),
    /// The named identity is not declared in `lab.toml`.
    #[error("unknown identity {name:?}; declared identities: {}", known.join(", "))]
    UnknownIdentity {
        /// The name asked for.
        name: String,
        /// The names declared in the lab.
        known: Vec<String>,
    },
    /// An identity, service or policy with that name is already declared.
    #[error("{kind} {name:?} is already declared")]
    Duplicate {
        /// "identity", "service", "service policy" or "edge router".
        kind: &'static str,
        /// The clashing name.
        name: String,
    },
    /// No identity, service or policy with that name is declared.
    #[error("{kind} {name:?} is not declared in lab.toml")]
    Unknown {
        /// "service policy", …
        kind: &'static str,
        /// The name asked for.
        name: String,
    },
    /// No router of that name was added to the running lab.
    #[error("no lab router called {name:?} was added (added: {known:?}); call RunningLab::add_router first")]
    UnknownRouter {
        /// The name asked for.
        name: String,
        /// The routers that were added.
        known: Vec<String>,
    },
    /// Creating keys or certificates failed.
    #[error("PKI error while {action}: {message}")]
    Pki {
        /// What was being done.
        action: &'static str,
        /// The error reported by the crypto library.
        message: String,
    },
    /// The TLS configuration could not be built from the lab's certificates.
    #[error("cannot build the TLS configuration: {0}")]
    Tls(String),
    /// A listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
}

impl LabError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        LabError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn pki(action: &'static str, err: impl std::fmt::Display) -> Self {
        LabError::Pki {
            action,
            message: err.to_string(),
        }
    }
}
