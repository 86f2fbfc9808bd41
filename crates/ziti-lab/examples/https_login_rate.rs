//! Measures certificate logins per second over HTTPS (a new TLS connection per login, as the
//! issue's login loop did) while the lab already holds many live API sessions.
//!
//! ```text
//! cargo run --release -p ziti-lab --example https_login_rate -- [live sessions] [clients] [seconds]
//! ```
//!
//! Defaults: 8,000 live sessions opened first (spread over 200 identities, so no identity
//! reaches its bound), then 8 clients logging in as one identity in a loop for 5 s. Prints the
//! logins per second and how many were refused. (8,000 + the 1,024 the looping identity may
//! hold stay under the global cap of 10,000.)

#[path = "support/https_login.rs"]
mod https_login;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use https_login::{client_tls, login, loopback_config};
use ziti_lab::{IdentityDecl, Lab};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let live: usize = args
        .next()
        .map_or(8_000, |a| a.parse().expect("live sessions"));
    let clients: usize = args.next().map_or(8, |a| a.parse().expect("clients"));
    let seconds: u64 = args.next().map_or(5, |a| a.parse().expect("seconds"));
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut config = loopback_config();
    let fillers = 200;
    for i in 0..fillers {
        config.identities.push(IdentityDecl {
            name: format!("filler-{i}"),
            roles: Vec::new(),
        });
    }
    let lab = Lab::init_with(dir.path(), config).expect("lab");
    let running = lab.start().await.expect("start");
    let addr = running.controller_addr();
    let state = lab.state();
    let certs: Vec<Vec<u8>> = (0..fillers)
        .map(|i| {
            let name = format!("filler-{i}");
            state
                .issue_client_cert(&name)
                .expect("certificate")
                .0
                .cert_der
        })
        .collect();
    let start = Instant::now();
    for n in 0..live {
        state
            .authenticate(Some(&certs[n % fillers]), Vec::new(), "127.0.0.1".into())
            .expect("filler login");
    }
    println!(
        "{live} live sessions opened in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let tls = client_tls(&lab, "client");
    let ok = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (tls, ok, refused) = (tls.clone(), ok.clone(), refused.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                match login(tls.clone(), addr).await {
                    Ok(200) => ok.fetch_add(1, Ordering::Relaxed),
                    _ => refused.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    let ok = ok.load(Ordering::Relaxed);
    println!(
        "{clients} clients, {seconds} s: {ok} logins = {:.0} logins/s over HTTPS, {} refused or failed",
        ok as f64 / seconds as f64,
        refused.load(Ordering::Relaxed)
    );
    running.shutdown().await;
}
