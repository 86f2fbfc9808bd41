//! Test-only helpers: one RSA PKI shared by all unit tests (RSA key generation is slow in debug
//! builds). It is generated once into the system temp directory and reused by later runs.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::pki::LabPki;

fn template() -> &'static PathBuf {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        // Same place as the integration tests' copy (tests/common/mod.rs).
        let root =
            std::env::temp_dir().join(concat!("ziti-lab-test-pki-", env!("CARGO_PKG_VERSION")));
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
pub fn copy_pki_into(lab_dir: &Path) {
    let dst = lab_dir.join("pki");
    std::fs::create_dir_all(&dst).unwrap();
    for entry in std::fs::read_dir(template()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
    }
}

/// The shared PKI, loaded from a copy in `lab_dir/pki`.
pub fn shared_pki(lab_dir: &Path) -> LabPki {
    copy_pki_into(lab_dir);
    LabPki::load(&lab_dir.join("pki")).unwrap()
}
