//! Measures how long a certificate login takes while idle TCP connections (no TLS bytes) are
//! held open to the controller.
//!
//! ```text
//! cargo run -p ziti-lab --example flood_login -- [idle connections] [logins]
//! ```
//!
//! Defaults: 600 idle connections, 5 logins one after the other, each bounded by 15 s.
//! Prints the time of each login, and then of one login with the flood closed.

#[path = "support/https_login.rs"]
mod https_login;

use std::sync::Arc;
use std::time::{Duration, Instant};

use https_login::{client_tls, login, loopback_config};
use ziti_lab::Lab;

async fn timed_login(config: &Arc<rustls::ClientConfig>, addr: std::net::SocketAddr) -> String {
    let start = Instant::now();
    match tokio::time::timeout(Duration::from_secs(15), login(config.clone(), addr)).await {
        Ok(Ok(status)) => format!("HTTP {status} after {:.3} s", start.elapsed().as_secs_f64()),
        Ok(Err(e)) => format!("failed after {:.3} s: {e}", start.elapsed().as_secs_f64()),
        Err(_) => "no answer within 15 s".to_owned(),
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let idle: usize = args
        .next()
        .map_or(600, |a| a.parse().expect("idle connections"));
    let logins: usize = args.next().map_or(5, |a| a.parse().expect("logins"));
    let dir = tempfile::tempdir().expect("temporary directory");
    let lab = Lab::init_with(dir.path(), loopback_config()).expect("lab");
    let running = lab.start().await.expect("start");
    let addr = running.controller_addr();
    let client = client_tls(&lab, "client");
    println!("login, no flood: {}", timed_login(&client, addr).await);
    let mut flood = Vec::with_capacity(idle);
    for _ in 0..idle {
        flood.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for n in 0..logins {
        println!(
            "login {n} behind {idle} idle connections: {}",
            timed_login(&client, addr).await
        );
    }
    drop(flood);
    println!(
        "login after the flood closed: {}",
        timed_login(&client, addr).await
    );
    running.shutdown().await;
}
