//! Error types: what went wrong while collecting, and what was wrong with the configuration.

use std::io;
use std::path::PathBuf;

/// Why one collector could not deliver its metrics for one scrape.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    /// A file under procfs, sysfs or rootfs could not be read.
    #[error("cannot read {path}: {source} (check --path.procfs / --path.sysfs / --path.rootfs)")]
    Read {
        /// The file or directory that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// A file was read but its content is not in the expected format.
    #[error("unexpected content in {path}: {detail}")]
    Parse {
        /// The file whose content was malformed.
        path: PathBuf,
        /// What was wrong with it.
        detail: String,
    },
    /// The source of this collector does not exist on this host (node_exporter's `ErrNoData`):
    /// the collector reports `node_scrape_collector_success 0` and logs only at debug level.
    #[error("no data on this host: {0}")]
    NoData(String),
    /// The rtnetlink link dump failed.
    #[error("{0} (--no-collector.netclass.netlink reads sysfs instead)")]
    Netlink(#[source] crate::rtnetlink::DumpError),
    /// A system call failed.
    #[error("system call {call} failed: {source}")]
    Syscall {
        /// The system call's name.
        call: &'static str,
        /// The error it returned.
        #[source]
        source: io::Error,
    },
}

impl CollectorError {
    /// A [`CollectorError::Parse`] for `path` with a description of the problem.
    pub(crate) fn parse(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        CollectorError::Parse {
            path: path.into(),
            detail: detail.into(),
        }
    }

    /// Whether the error means "the source is absent" rather than a real failure.
    pub fn is_no_data(&self) -> bool {
        matches!(self, CollectorError::NoData(_))
    }

    /// Whether the error is a read failure because the file does not exist.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, CollectorError::Read { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// A configuration that cannot be used; raised when the exporter is built from flags.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A flag that takes a regular expression got one that does not compile.
    #[error("--{flag}: invalid regular expression {pattern:?}: {source}")]
    Regex {
        /// The flag name without leading dashes.
        flag: &'static str,
        /// The pattern given.
        pattern: String,
        /// The compile error.
        #[source]
        source: Box<regex_lite::Error>,
    },
    /// Two flags that exclude each other were both given.
    #[error("--{0} and --{1} are mutually exclusive: give only one of them")]
    MutuallyExclusive(&'static str, &'static str),
    /// A collector name that does not exist.
    #[error("unknown collector {0:?}")]
    UnknownCollector(String),
    /// A duration flag that could not be parsed.
    #[error("--{flag}: invalid duration {value:?} (use e.g. 5s, 500ms): {detail}")]
    Duration {
        /// The flag name without leading dashes.
        flag: &'static str,
        /// The value given.
        value: String,
        /// Why it was rejected.
        detail: String,
    },
}

/// Compiles `pattern` for `flag`, mapping the error to [`ConfigError::Regex`].
pub(crate) fn compile_regex(
    flag: &'static str,
    pattern: &str,
) -> Result<regex_lite::Regex, ConfigError> {
    regex_lite::Regex::new(pattern).map_err(|source| ConfigError::Regex {
        flag,
        pattern: pattern.to_string(),
        source: Box::new(source),
    })
}
