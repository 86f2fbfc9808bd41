//! Shared by the router tests: a lab with a fixed set of identities, services and policies,
//! raw TLS channels to its router that send and receive frames. The lab directory and the
//! peer-tool lookup come from `ziti_lab::test_support`. (testbed's `router_stalled_peers`
//! test includes this file too.)
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use dark_listener::wire::consts::{content_type as ct, header as h};
use dark_listener::wire::edge::{Connect, Data, DialSuccess, Hello};
use dark_listener::wire::frame::{Frame, FrameCodec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::client::TlsStream;
use tokio_util::codec::Decoder;
use ziti_lab::router::RouterOptions;
use ziti_lab::state::derive_id;
use ziti_lab::{
    IdentityDecl, Lab, LabConfig, PolicyType, RunningLab, ServiceDecl, ServicePolicyDecl,
};

/// How long any single wait in these tests may take.
pub const STEP: Duration = Duration::from_secs(10);

fn identity(name: &str, roles: &[&str]) -> IdentityDecl {
    IdentityDecl {
        name: name.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    }
}

fn service(name: &str, encrypted: bool) -> ServiceDecl {
    let mut s = LabConfig::starter().services.remove(0);
    s.name = name.into();
    s.roles = vec!["svc".into()];
    s.encryption_required = encrypted;
    // Distinct intercept addresses so address-based dialing never confuses two services.
    s.configs.clear();
    s
}

fn policy(name: &str, t: PolicyType, identities: &[&str], services: &[&str]) -> ServicePolicyDecl {
    ServicePolicyDecl {
        name: name.into(),
        policy_type: t,
        identities: identities.iter().map(|s| s.to_string()).collect(),
        services: services.iter().map(|s| s.to_string()).collect(),
    }
}

/// The lab configuration all router tests share:
/// * `host-a`, `host-b` (role `host`) may Bind every service;
/// * `dialer` (role `dialer`) may Dial every service;
/// * `both` (roles `host` and `dialer`) may do both;
/// * `stranger` has no policy at all;
/// * services `plain` and `secret` (encryption required).
pub fn test_config() -> LabConfig {
    let mut config = LabConfig::starter();
    config.controller.address = "127.0.0.1:0".parse().unwrap();
    config.router.address = "127.0.0.1:0".parse().unwrap();
    config.identities = vec![
        identity("host-a", &["host"]),
        identity("host-b", &["host"]),
        identity("dialer", &["dialer"]),
        identity("both", &["host", "dialer"]),
        identity("stranger", &[]),
    ];
    config.services = vec![service("plain", false), service("secret", true)];
    config.service_policies = vec![
        policy("hosts-bind", PolicyType::Bind, &["#host"], &["#all"]),
        policy("dialers-dial", PolicyType::Dial, &["#dialer"], &["#all"]),
    ];
    config
}

/// A running lab in a temporary directory.
pub struct TestLab {
    pub lab: Lab,
    pub running: RunningLab,
    pub dir: tempfile::TempDir,
}

impl TestLab {
    pub async fn start() -> TestLab {
        Self::start_with(RouterOptions::default()).await
    }

    pub async fn start_with(options: RouterOptions) -> TestLab {
        let (dir, lab) = ziti_lab::test_support::new_lab(test_config());
        let running = lab.start_with(options).await.unwrap();
        TestLab { lab, running, dir }
    }

    /// A client TLS configuration for `identity` (fresh certificate) and its API session token.
    pub fn login(&self, identity: &str) -> (Arc<rustls::ClientConfig>, String) {
        let state = self.lab.state();
        let (cert, key_pem) = state.issue_client_cert(identity).unwrap();
        let api = state
            .authenticate(Some(&cert.cert_der), Vec::new(), "127.0.0.1".into())
            .unwrap();
        (
            client_tls(Some((&cert.cert_der, &key_pem)), state.pki().ca_der()),
            api.token,
        )
    }

    /// A service session token of `identity` (logged in with `api_token`).
    pub fn session(&self, api_token: &str, service: &str, t: PolicyType) -> String {
        let state = self.lab.state();
        let api = state.touch_api_session(api_token).unwrap();
        state
            .create_service_session(&api, &service_id(service), t)
            .unwrap()
            .token
    }

    /// A raw channel over `tls` that has sent the hello ("router-test") with API session
    /// `token`; the router's reply is still to be read.
    pub async fn send_hello(&self, tls: Arc<rustls::ClientConfig>, token: &str) -> RawChannel {
        let mut ch = RawChannel::connect(self.running.router_addr(), tls).await;
        let hello = Hello {
            session_token: Bytes::from(token.to_owned()),
            identifier: Bytes::from_static(b"router-test"),
            ..Hello::default()
        }
        .to_frame(-1);
        ch.send(hello).await;
        ch
    }

    /// A channel of `identity` that passed the hello.
    pub async fn channel(&self, identity: &str) -> (RawChannel, String) {
        let (tls, token) = self.login(identity);
        let mut ch = self.send_hello(tls, &token).await;
        let ack = ch.recv().await;
        assert_eq!(ack.content_type, ct::RESULT);
        assert_eq!(ack.headers.get_bool(h::RESULT_SUCCESS).unwrap(), Some(true));
        (ch, token)
    }
}

/// The conn id the router chose for a hosted connection (header 1012 of a Dial).
pub fn router_provided_id(dial: &Frame) -> u32 {
    dial.headers
        .get_u32(h::ROUTER_PROVIDED_CONN_ID)
        .unwrap()
        .expect("1012 in Dial")
}

pub fn service_id(name: &str) -> String {
    derive_id("service", name)
}

pub fn identity_id(name: &str) -> String {
    derive_id("identity", name)
}

/// A rustls client trusting the lab CA, presenting `cert` when given.
pub fn client_tls(cert: Option<(&[u8], &str)>, ca_der: &[u8]) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(ca_der.to_vec()))
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match cert {
        Some((der, key_pem)) => {
            let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
                .unwrap()
                .unwrap();
            builder
                .with_client_auth_cert(
                    vec![rustls::pki_types::CertificateDer::from(der.to_vec())],
                    key,
                )
                .unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// A TLS connection to the router that speaks raw frames.
pub struct RawChannel {
    pub stream: TlsStream<tokio::net::TcpStream>,
    buf: BytesMut,
    codec: FrameCodec,
    next_seq: i32,
}

/// What a read from the router ended with, when it was not a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadEnd {
    /// Clean EOF (or TLS close).
    Closed,
    /// Nothing within the wait.
    Timeout,
    /// A read error (reset, TLS alert).
    Error(String),
}

impl RawChannel {
    pub async fn connect(addr: std::net::SocketAddr, tls: Arc<rustls::ClientConfig>) -> RawChannel {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let connector = tokio_rustls::TlsConnector::from(tls);
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let stream = tokio::time::timeout(STEP, connector.connect(name, tcp))
            .await
            .expect("TLS handshake timed out")
            .expect("TLS handshake failed");
        Self::from_stream(stream)
    }

    /// Wraps an established TLS stream.
    pub fn from_stream(stream: TlsStream<tokio::net::TcpStream>) -> RawChannel {
        RawChannel {
            stream,
            buf: BytesMut::new(),
            codec: FrameCodec::new(),
            next_seq: 1,
        }
    }

    /// Sends raw bytes.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    /// Sends a frame as is.
    pub async fn send(&mut self, frame: Frame) {
        let bytes = frame.to_bytes().unwrap();
        self.send_bytes(&bytes).await;
    }

    /// Sends a frame with the next sequence number; returns that number.
    pub async fn send_seq(&mut self, mut frame: Frame) -> i32 {
        let seq = self.next_seq;
        self.next_seq += 1;
        frame.sequence = seq;
        self.send(frame).await;
        seq
    }

    /// Sends a Connect of `conn_id` with the dial session `token` and no other headers;
    /// returns its sequence number.
    pub async fn send_connect(&mut self, conn_id: u32, token: Bytes) -> i32 {
        self.send_seq(
            Connect {
                conn_id,
                token,
                ..Connect::default()
            }
            .to_frame(0),
        )
        .await
    }

    /// Sends a Data frame of `conn_id` carrying `payload` and no other headers; returns its
    /// sequence number.
    pub async fn send_data(&mut self, conn_id: u32, payload: Bytes) -> i32 {
        self.send_seq(
            Data {
                conn_id,
                payload,
                ..Data::default()
            }
            .to_frame(0),
        )
        .await
    }

    /// The next frame, or how the stream ended.
    pub async fn try_recv(&mut self, wait: Duration) -> Result<Frame, ReadEnd> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(frame) = self.codec.decode(&mut self.buf).unwrap() {
                return Ok(frame);
            }
            let read = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await;
            match read {
                Err(_) => return Err(ReadEnd::Timeout),
                Ok(Ok(0)) => return Err(ReadEnd::Closed),
                Ok(Ok(_)) => {}
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(ReadEnd::Closed)
                }
                Ok(Err(e)) => return Err(ReadEnd::Error(e.to_string())),
            }
        }
    }

    /// The next frame; panics if none arrives within [`STEP`].
    pub async fn recv(&mut self) -> Frame {
        match self.try_recv(STEP).await {
            Ok(f) => f,
            Err(e) => panic!("expected a frame, got {e:?}"),
        }
    }

    /// The next frame, which must have content type `content_type`.
    /// Expects a Dial on this host channel and accepts it for the bind `bind_conn_id`
    /// (DialSuccess without a public key); returns the router-provided connection id.
    pub async fn answer_dial(&mut self, bind_conn_id: u32) -> u32 {
        let dial = self.expect(ct::DIAL).await;
        self.accept_dial(&dial, bind_conn_id).await
    }

    /// Answers `dial` (already read) as the host of bind `bind_conn_id` with a DialSuccess
    /// (no key) for the conn id the router chose; returns that id.
    pub async fn accept_dial(&mut self, dial: &Frame, bind_conn_id: u32) -> u32 {
        let id = router_provided_id(dial);
        self.send_seq(
            DialSuccess {
                bind_conn_id,
                new_conn_id: id,
                public_key: None,
            }
            .to_frame(0)
            .replying_to(dial.sequence),
        )
        .await;
        id
    }

    pub async fn expect(&mut self, content_type: i32) -> Frame {
        let f = self.recv().await;
        assert_eq!(
            f.content_type, content_type,
            "expected content type {content_type}, got {f:?}"
        );
        f
    }

    /// Raw bytes until EOF (bounded by [`STEP`]).
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        let mut out = self.buf.split().to_vec();
        let _ = tokio::time::timeout(STEP, self.stream.read_to_end(&mut out)).await;
        out
    }

    /// Asserts that the router closes this channel (within [`STEP`]) without sending a frame;
    /// `what` names the channel in the panic.
    pub async fn expect_closed(&mut self, what: &str) {
        match self.try_recv(STEP).await {
            Err(ReadEnd::Closed) | Err(ReadEnd::Error(_)) => {}
            other => panic!("expected {what} to close, got {other:?}"),
        }
    }

    /// Asserts nothing arrives within `wait` (the channel stays open and silent).
    pub async fn expect_silence(&mut self, wait: Duration) {
        match self.try_recv(wait).await {
            Err(ReadEnd::Timeout) => {}
            other => panic!("expected silence, got {other:?}"),
        }
    }
}

/// Path of a file under tests/support.
pub fn support_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name)
}
