//! Measures how many certificate logins per second the lab's state takes, with many live API
//! sessions (the cost of opening and persisting an API session, without TLS).
//!
//! ```text
//! cargo run --release -p ziti-lab --example login_rate -- [identities] [logins per identity]
//! ```
//!
//! Defaults: 200 identities × 50 logins = 10,000 logins, round robin, so the live API sessions
//! grow to 10,000 (the global cap) while no identity exceeds the per-identity bound. Prints the
//! rate of each tenth of the run and the size of `state/` at the end.

use std::time::Instant;

use ziti_lab::{IdentityDecl, Lab, LabConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let identities: usize = args.next().map_or(200, |a| a.parse().expect("identities"));
    let per_identity: usize = args.next().map_or(50, |a| a.parse().expect("logins"));
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut config = LabConfig::starter();
    for i in 0..identities {
        config.identities.push(IdentityDecl {
            name: format!("bench-{i}"),
            roles: Vec::new(),
        });
    }
    let lab = Lab::init_with(dir.path(), config).expect("lab");
    let state = lab.state();
    let certs: Vec<Vec<u8>> = (0..identities)
        .map(|i| {
            state
                .issue_client_cert(&format!("bench-{i}"))
                .expect("certificate")
                .0
                .cert_der
        })
        .collect();
    let total = identities * per_identity;
    let tenth = (total / 10).max(1);
    let start = Instant::now();
    let mut lap = Instant::now();
    for n in 0..total {
        let cert = &certs[n % identities];
        state
            .authenticate(Some(cert), Vec::new(), "127.0.0.1".into())
            .expect("login");
        if (n + 1) % tenth == 0 {
            let secs = lap.elapsed().as_secs_f64();
            println!(
                "logins {:>6}..{:>6}: {:>8.0} logins/s",
                n + 1 - tenth,
                n + 1,
                tenth as f64 / secs
            );
            lap = Instant::now();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "total: {total} logins in {secs:.2} s = {:.0} logins/s",
        total as f64 / secs
    );
    state.flush().expect("flush");
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir.path().join("state")).expect("state dir") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() {
            let len = entry.metadata().expect("metadata").len();
            println!(
                "  state/{}: {len} bytes",
                entry.file_name().to_string_lossy()
            );
            bytes += len;
        }
    }
    println!("state files: {bytes} bytes");
}
