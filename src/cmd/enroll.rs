//! `darkscrape enroll --jwt FILE --out IDENTITY.json`: one-time-token enrollment.
//!
//! Verifies the JWT against the controller's certificate, makes a key and a CSR, has the
//! controller sign it, and writes a Go-style identity file (`pem:` values, `ztAPI` = the JWT
//! issuer). The file holds a private key, so it is created with mode 0600 and never
//! overwritten.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use dark_listener::enroll::{enroll, EnrollOptions, KeyType};

/// Arguments of `darkscrape enroll`.
#[derive(Debug, clap::Args)]
pub struct EnrollArgs {
    /// The enrollment JWT file the controller issued for this identity.
    #[arg(long, value_name = "FILE")]
    pub jwt: PathBuf,
    /// Where to write the identity file (must not exist yet).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Key to generate: `ec` (P-256), `rsa` (2048 bits) or `rsa4096`.
    #[arg(long, default_value = "ec", value_parser = parse_key_type)]
    pub key_type: KeyType,
    /// Deadline of each request to the controller, in seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,
}

fn parse_key_type(s: &str) -> Result<KeyType, String> {
    s.parse()
}

/// Runs the enrollment on a small tokio runtime and writes the identity file.
pub fn run(args: EnrollArgs) -> anyhow::Result<()> {
    let jwt = std::fs::read_to_string(&args.jwt)
        .with_context(|| format!("cannot read the JWT file {}", args.jwt.display()))?;
    if args.out.exists() {
        anyhow::bail!(
            "{} exists already; choose another --out (an identity file is never overwritten)",
            args.out.display()
        );
    }
    let options = EnrollOptions {
        key_type: args.key_type,
        request_timeout: Duration::from_secs(args.timeout_secs.max(1)),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let enrolled = runtime.block_on(enroll(&jwt, &options))?;
    let mut file = create_private(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    file.write_all(enrolled.to_json_go_style().as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    tracing::info!(
        controller = enrolled.zt_api,
        file = %args.out.display(),
        "enrolled; identity file written"
    );
    eprintln!(
        "enrolled with {}; identity written to {}",
        enrolled.zt_api,
        args.out.display()
    );
    Ok(())
}

/// Creates a new file readable only by its owner (where the platform supports modes).
fn create_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}
