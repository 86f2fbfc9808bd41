//! Shared helpers of the ziti-lab integration tests: an HTTPS client (hyper over tokio-rustls)
//! and test support files, and ([`oidc_flow`]) the OIDC login step by step. Labs and the
//! peer-tool lookup come from `ziti_lab::test_support`.
#![allow(dead_code)]

pub mod oidc_flow;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// Path of a file under tests/support.
pub fn support_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name)
}

/// Client-side TLS material.
pub struct ClientTls {
    pub config: Arc<rustls::ClientConfig>,
}

fn pem_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

impl ClientTls {
    /// Trusts `ca_pem`; presents `cert_pem`/`key_pem` when given. `tls12_only` forces TLS 1.2.
    pub fn new(ca_pem: &str, client: Option<(&str, &str)>, tls12_only: bool) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in pem_certs(ca_pem) {
            roots.add(c).unwrap();
        }
        let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
            &[&rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots);
        let config = match client {
            Some((cert, key)) => {
                let key = rustls_pemfile::private_key(&mut key.as_bytes())
                    .unwrap()
                    .unwrap();
                builder.with_client_auth_cert(pem_certs(cert), key).unwrap()
            }
            None => builder.with_no_client_auth(),
        };
        ClientTls {
            config: Arc::new(config),
        }
    }
}

/// A response read completely.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub tls_version: Option<rustls::ProtocolVersion>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    pub fn location(&self) -> String {
        self.headers
            .get(http::header::LOCATION)
            .unwrap_or_else(|| panic!("no Location in {} {:?}", self.status, self.body))
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// Asserts an OAuth error body with `status` and `error`; returns the description.
    pub fn oauth_error(&self, status: u16, error: &str) -> String {
        assert_eq!(self.status, status, "{:?}", self.body);
        let v = self.json();
        assert_eq!(v["error"], error, "{v}");
        let d = v["error_description"].as_str().unwrap().to_owned();
        assert!(!d.is_empty());
        d
    }
}

/// `POST /authenticate?method=cert` with `tls`'s client certificate and `body`, no extra
/// headers: a certificate login.
pub async fn authenticate(tls: &ClientTls, addr: std::net::SocketAddr, body: Vec<u8>) -> Reply {
    send(tls, addr, "POST", "/authenticate?method=cert", &[], body).await
}

/// `GET /current-api-session` with the API session `token` in `zt-session`.
pub async fn current_api_session(
    tls: &ClientTls,
    addr: std::net::SocketAddr,
    token: &str,
) -> Reply {
    send(
        tls,
        addr,
        "GET",
        "/current-api-session",
        &[("zt-session", token)],
        Vec::new(),
    )
    .await
}

/// Sends one request on a new TLS connection to `addr` (bounded by a 10 s timeout), asking
/// for JSON.
pub async fn send(
    tls: &ClientTls,
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Reply {
    let mut all = vec![("accept", "application/json")];
    all.extend_from_slice(headers);
    request(
        &tls.config,
        addr,
        &addr.to_string(),
        method,
        path,
        &all,
        body,
    )
    .await
}

/// Sends one request on a new TLS connection to `addr` with `Host: host` and exactly
/// `headers` besides (bounded by a 10 s timeout); follows no redirect.
pub async fn request(
    tls: &Arc<rustls::ClientConfig>,
    addr: std::net::SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Reply {
    tokio::time::timeout(Duration::from_secs(10), async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let connector = tokio_rustls::TlsConnector::from(tls.clone());
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let stream = connector.connect(name, tcp).await.unwrap();
        let tls_version = stream.get_ref().1.protocol_version();
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = sender
            .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
            tls_version,
        }
    })
    .await
    .expect("request timed out")
}
