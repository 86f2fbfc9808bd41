//! `darkscrape identity FILE`: load an identity file and print a summary.

use std::path::PathBuf;

/// Arguments of `darkscrape identity`.
#[derive(Debug, clap::Args)]
pub struct IdentityArgs {
    /// Path of the identity JSON file.
    pub file: PathBuf,
}

/// Loads the identity and prints what it holds.
pub fn run(args: IdentityArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("identity parsing is being written")
}
