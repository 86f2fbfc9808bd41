//! `uname` collector: `node_uname_info` from the `uname(2)` system call.

use std::sync::Arc;

use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::{labels, Families};

/// Exports `node_uname_info`.
pub struct UnameCollector {
    _options: Arc<CollectorOptions>,
}

impl UnameCollector {
    /// A collector calling `uname(2)` (no files; `--path.*` do not apply).
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        UnameCollector { _options: options }
    }
}

impl HostCollector for UnameCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let u = rustix::system::uname();
        let s = |c: &std::ffi::CStr| c.to_string_lossy().into_owned();
        out.gauge(
            "node_uname_info",
            "Kernel identity from uname(2); the value is always 1.",
            labels(&[
                ("sysname", &s(u.sysname())),
                ("release", &s(u.release())),
                ("version", &s(u.version())),
                ("machine", &s(u.machine())),
                ("nodename", &s(u.nodename())),
                ("domainname", &s(u.domainname())),
            ]),
            1.0,
        );
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "uname",
    default_enabled: true,
    build: |options| Box::new(UnameCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn matches_procfs_view_of_the_kernel() {
        let f = run(&UnameCollector::new(fixture_options()));
        let k = |n: &str| {
            std::fs::read_to_string(format!("/proc/sys/kernel/{n}"))
                .unwrap()
                .trim()
                .to_string()
        };
        assert_eq!(
            value(
                &f,
                "node_uname_info",
                &[
                    ("sysname", &k("ostype")),
                    ("release", &k("osrelease")),
                    ("nodename", &k("hostname")),
                    ("domainname", &k("domainname"))
                ]
            ),
            1.0
        );
    }
}
