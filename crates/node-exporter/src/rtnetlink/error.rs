//! [`DumpError`]: why a link dump failed (socket, kernel, malformed or endless answer).

use std::fmt;
use std::io;

use super::dump::MAX_DATAGRAMS;

/// Why a link dump failed.
#[derive(Debug)]
pub enum DumpError {
    /// The netlink socket could not be opened, written or read.
    Io {
        /// The step that failed.
        step: &'static str,
        /// The error it returned.
        source: io::Error,
    },
    /// The kernel answered with an error.
    Kernel(io::Error),
    /// The answer does not decode.
    Malformed {
        /// Byte offset of the offending message in its datagram.
        offset: usize,
        /// What is wrong with it.
        detail: String,
    },
    /// The kernel's answer did not end within 4,096 datagrams.
    Unterminated,
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpError::Io { step, source } => {
                write!(f, "rtnetlink link dump: {step} failed: {source}")
            }
            DumpError::Kernel(e) => write!(f, "rtnetlink link dump: the kernel answered {e}"),
            DumpError::Malformed { offset, detail } => write!(
                f,
                "rtnetlink link dump: malformed answer at byte {offset}: {detail}"
            ),
            DumpError::Unterminated => write!(
                f,
                "rtnetlink link dump: no end of dump after {MAX_DATAGRAMS} datagrams"
            ),
        }
    }
}

impl std::error::Error for DumpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DumpError::Io { source, .. } | DumpError::Kernel(source) => Some(source),
            _ => None,
        }
    }
}
