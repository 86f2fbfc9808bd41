//! Test-only helpers: the RSA PKI shared by all tests of the workspace (RSA key generation is
//! slow in debug builds). The `testbed` crate generates and caches it; it links the non-test
//! build of this crate, so only paths cross and the PKI is loaded here with this build's
//! [`LabPki`].

use std::path::Path;

use crate::pki::LabPki;

/// The shared PKI, loaded from a copy in `lab_dir/pki`.
pub fn shared_pki(lab_dir: &Path) -> LabPki {
    testbed::lab::copy_shared_pki_into(lab_dir);
    LabPki::load(&lab_dir.join("pki")).unwrap()
}
