//! Locating the external peer tools of the tests. Each is taken from its `DARKSCRAPE_*`
//! environment variable (set by `scripts/peers.env`), else from its usual place; a missing
//! tool fails the test with a message saying to run `scripts/install-test-deps.sh`. The lab's
//! own peer is the venv Python with the OpenZiti C SDK; `testbed::peers` finds the others
//! (the Go SDK peer, promtool, prometheus, node_exporter) with [`peer_tool`].

use std::path::{Path, PathBuf};

/// The workspace root (two levels above this crate's manifest).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The tool named by the environment variable `env`, else `fallback`; panics naming the
/// variable and `scripts/install-test-deps.sh` when the file does not exist.
pub fn peer_tool(env: &str, fallback: &Path) -> PathBuf {
    let path = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| fallback.to_path_buf());
    assert!(
        path.exists(),
        "{} not found: run scripts/install-test-deps.sh (or set {env})",
        path.display()
    );
    path
}

/// The peer Python (the venv with `openziti` 0.6.0 and PyNaCl): `DARKSCRAPE_PEER_PYTHON`,
/// else `<workspace>/.venv-peers/bin/python`.
///
/// Python finds its venv from the path it was started with, so `..` in the directory is
/// resolved; the file itself is kept (the venv's `python` is a symlink to the system one).
pub fn peer_python() -> PathBuf {
    let path = peer_tool(
        "DARKSCRAPE_PEER_PYTHON",
        &workspace_root().join(".venv-peers/bin/python"),
    );
    match (
        path.parent().and_then(|dir| dir.canonicalize().ok()),
        path.file_name(),
    ) {
        (Some(dir), Some(file)) => dir.join(file),
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_fails_naming_the_install_script_and_the_variable() {
        let missing = std::env::temp_dir().join("testbed-no-such-tool-7f3a");
        let failure = std::panic::catch_unwind(|| {
            peer_tool("TESTBED_UNSET_VARIABLE_FOR_THIS_TEST", &missing)
        })
        .unwrap_err();
        let message = failure.downcast_ref::<String>().unwrap();
        assert!(
            message.contains("scripts/install-test-deps.sh"),
            "{message}"
        );
        assert!(
            message.contains("TESTBED_UNSET_VARIABLE_FOR_THIS_TEST"),
            "{message}"
        );
    }

    #[test]
    fn an_existing_fallback_is_returned() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        assert_eq!(
            peer_tool("TESTBED_UNSET_VARIABLE_FOR_THIS_TEST", &here),
            here
        );
    }
}
