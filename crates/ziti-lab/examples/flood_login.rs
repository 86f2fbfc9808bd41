//! Measures how long a certificate login takes while idle TCP connections (no TLS bytes) are
//! held open to the controller.
//!
//! ```text
//! cargo run -p ziti-lab --example flood_login -- [idle connections] [logins]
//! ```
//!
//! Defaults: 600 idle connections, 5 logins one after the other, each bounded by 15 s.
//! Prints the time of each login, and then of one login with the flood closed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use ziti_lab::{Lab, LabConfig};

async fn login(
    config: Arc<rustls::ClientConfig>,
    addr: std::net::SocketAddr,
) -> Result<u16, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = http::Request::post("/authenticate?method=cert")
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    resp.into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(status)
}

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
    let mut config = LabConfig::starter();
    config.controller.address = "127.0.0.1:0".parse().expect("address");
    config.router.address = "127.0.0.1:0".parse().expect("address");
    let lab = Lab::init_with(dir.path(), config).expect("lab");
    let running = lab.start().await.expect("start");
    let addr = running.controller_addr();
    let state = lab.state();
    let (cert, key) = state.issue_client_cert("client").expect("certificate");
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut state.pki().ca_pem().as_bytes()) {
        roots.add(c.expect("CA")).expect("CA");
    }
    let chain = rustls_pemfile::certs(&mut cert.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("certificate");
    let key = rustls_pemfile::private_key(&mut key.as_bytes())
        .expect("key")
        .expect("key");
    let client = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("client certificate"),
    );
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
