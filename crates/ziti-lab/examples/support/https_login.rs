//! What the lab's examples share: a lab on free loopback ports and a certificate login over
//! HTTPS on a new TLS connection.
#![allow(dead_code)]

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use ziti_lab::{Lab, LabConfig};

/// A client TLS configuration presenting a fresh certificate of `identity`.
pub fn client_tls(lab: &Lab, identity: &str) -> Arc<rustls::ClientConfig> {
    let state = lab.state();
    let (cert, key) = state.issue_client_cert(identity).expect("certificate");
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
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("client certificate"),
    )
}

/// The starter configuration on free loopback ports.
pub fn loopback_config() -> LabConfig {
    let mut config = LabConfig::starter();
    config.controller.address = "127.0.0.1:0".parse().expect("address");
    config.router.address = "127.0.0.1:0".parse().expect("address");
    config
}

/// `POST /authenticate?method=cert` on a new TLS connection; the HTTP status.
pub async fn login(
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
