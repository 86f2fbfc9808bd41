//! Test support: the one home of the helpers that ziti-lab's own tests and, through the
//! `testbed` crate, the other crates' tests share. Not part of the lab's API (hidden from the
//! docs); the helpers panic where a test would fail.
//!
//! * The RSA PKI shared by every test binary of the workspace, generated once into the system
//!   temp directory (RSA key generation is slow in debug builds) and copied into each lab.
//! * Labs in temp dirs, on ephemeral or fixed free loopback ports.
//! * [`peers`]: locating the external peer tools (the venv Python with the OpenZiti C SDK, …).
//!
//! These live here rather than in `testbed` so that ziti-lab's tests need no crate that
//! depends on ziti-lab: its unit tests then link one copy of the crate, and [`LabPki`] and
//! [`Lab`] are the types of the build that uses them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::{Lab, LabConfig, LabPki};

pub mod peers;

/// The directory of the shared test PKI, generated on first use and reused by later runs and
/// by every test binary.
pub fn shared_pki_dir() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let root =
            std::env::temp_dir().join(concat!("darkscrape-test-pki-", env!("CARGO_PKG_VERSION")));
        let pki = root.join("pki");
        if LabPki::load(&pki).is_err() {
            let scratch = tempfile::tempdir().unwrap().keep();
            LabPki::create(&scratch.join("pki"), "127.0.0.1", "127.0.0.1").unwrap();
            let _ = std::fs::remove_dir_all(&root);
            // Another test binary may have won the race; either copy is fine.
            if std::fs::rename(&scratch, &root).is_err() {
                let _ = std::fs::remove_dir_all(&scratch);
            }
        }
        pki
    })
}

/// Copies the shared PKI into `lab_dir/pki`.
pub fn copy_shared_pki_into(lab_dir: &Path) {
    let dst = lab_dir.join("pki");
    std::fs::create_dir_all(&dst).unwrap();
    for entry in std::fs::read_dir(shared_pki_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
    }
}

/// The shared PKI, loaded from a copy in `lab_dir/pki`.
pub fn shared_pki(lab_dir: &Path) -> LabPki {
    copy_shared_pki_into(lab_dir);
    LabPki::load(&lab_dir.join("pki")).unwrap()
}

/// The starter configuration with the controller and router on ephemeral loopback ports.
pub fn ephemeral_config() -> LabConfig {
    let mut config = LabConfig::starter();
    config.controller.address = "127.0.0.1:0".parse().unwrap();
    config.router.address = "127.0.0.1:0".parse().unwrap();
    config
}

/// A loopback address whose port was free a moment ago (for labs that must come back on the
/// same addresses after a restart).
pub fn free_loopback_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A lab initialised with `config` in a fresh temp dir holding a copy of the shared PKI.
pub fn new_lab(config: LabConfig) -> (tempfile::TempDir, Lab) {
    let dir = tempfile::tempdir().unwrap();
    copy_shared_pki_into(dir.path());
    let lab = Lab::init_with(dir.path(), config).unwrap();
    (dir, lab)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lab_gets_a_loadable_copy_of_the_shared_pki() {
        let (first, _) = new_lab(ephemeral_config());
        let (second, _) = new_lab(ephemeral_config());
        assert_ne!(first.path(), second.path());
        for dir in [first.path(), second.path()] {
            LabPki::load(&dir.join("pki")).unwrap();
        }
        let config = ephemeral_config();
        assert_eq!(config.controller.address.port(), 0);
        assert!(config.router.address.ip().is_loopback());
    }
}
