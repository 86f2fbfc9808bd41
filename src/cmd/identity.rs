//! `darkscrape identity FILE`: load an identity file, check it the way the SDK will use it
//! (key matches the certificate, CA bundle usable), and print a summary. No network.

use std::path::PathBuf;

use dark_listener::identity::Identity;

/// Arguments of `darkscrape identity`.
#[derive(Debug, clap::Args)]
pub struct IdentityArgs {
    /// Path of the identity JSON file.
    pub file: PathBuf,
}

/// Loads the identity and prints what it holds.
pub fn run(args: IdentityArgs) -> anyhow::Result<()> {
    let identity = Identity::from_file(&args.file)?;
    println!("identity file: {}", args.file.display());
    println!("certificate CN: {}", identity.name());
    for url in identity.controller_urls() {
        println!("controller: {url}");
    }
    if let Some(types) = identity.config_types() {
        println!("config types: {}", types.join(", "));
    }
    println!(
        "certificate chain: {} certificate(s); key matches the leaf",
        identity.cert_chain().len()
    );
    println!("CA bundle: {} certificate(s)", identity.ca_certs().len());
    Ok(())
}
