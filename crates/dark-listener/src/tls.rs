//! TLS setup: the rustls client configurations the SDK uses.
//!
//! One [`ClientConfig`] serves both the controller and the edge routers: it presents the
//! identity's certificate chain and key (mutual TLS), and verifies the server against the
//! identity's CA bundle only (no system roots), host name or IP SAN included. It uses the
//! `ring` crypto provider and offers TLS 1.2 and 1.3 (older OpenZiti peers only speak 1.2).
//!
//! Enrollment is the one place where the server certificate cannot be verified by a CA yet:
//! [`LeafCapture`] builds a configuration that accepts any server certificate for a single
//! handshake (still checking that the server holds the certificate's key) and records the
//! leaf, so the caller can check the enrollment JWT signature with it before trusting
//! anything the server says.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::identity::Identity;

/// What went wrong while building a TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The CA bundle has no certificate rustls accepts as a trust anchor.
    #[error("the identity's CA bundle holds no usable CA certificate ({rejected} rejected); check `id.ca` in the identity file")]
    NoTrustAnchors {
        /// How many certificates of the bundle were rejected.
        rejected: usize,
    },
    /// The identity has no client certificate.
    #[error("the identity has no client certificate; check `id.cert` in the identity file")]
    NoClientCertificate,
    /// rustls refused the certificate chain, the key, or the protocol versions.
    #[error("rustls refused the identity's certificate/key pair: {0}; check that `id.key` belongs to `id.cert`")]
    Rustls(#[from] rustls::Error),
}

/// The crypto provider used everywhere in the SDK: rustls' `ring` provider.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds a root store from a CA bundle.
///
/// Certificates webpki cannot use as trust anchors are skipped (and counted); an empty
/// result is an error because no server could ever be verified with it.
pub fn root_store(ca_bundle: &[CertificateDer<'_>]) -> Result<RootCertStore, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    let (_, rejected) = roots.add_parsable_certificates(ca_bundle.iter().cloned());
    if roots.is_empty() {
        return Err(TlsSetupError::NoTrustAnchors { rejected });
    }
    if rejected > 0 {
        tracing::warn!(
            rejected,
            "some certificates of the CA bundle are not usable as trust anchors"
        );
    }
    Ok(roots)
}

/// Builds the shared client configuration (controller and routers) from an identity.
pub fn client_config(identity: &Identity) -> Result<Arc<ClientConfig>, TlsSetupError> {
    client_config_from_parts(
        identity.cert_chain().to_vec(),
        identity.private_key(),
        identity.ca_certs(),
    )
}

/// Builds the shared client configuration from its parts: the client certificate chain
/// (leaf first), its private key, and the CA bundle trusted for servers.
pub fn client_config_from_parts(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    ca_bundle: &[CertificateDer<'_>],
) -> Result<Arc<ClientConfig>, TlsSetupError> {
    if cert_chain.is_empty() {
        return Err(TlsSetupError::NoClientCertificate);
    }
    let roots = root_store(ca_bundle)?;
    let config = ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(roots)
        .with_client_auth_cert(cert_chain, key)?;
    Ok(Arc::new(config))
}

/// Builds a client configuration that verifies servers against `ca_bundle` and presents no
/// client certificate (used for the enrollment request, before the identity has one).
pub fn server_verifying_config(
    ca_bundle: &[CertificateDer<'_>],
) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let roots = root_store(ca_bundle)?;
    let config = ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Lower-case hex SHA-1 of a certificate's DER encoding (the form OpenZiti uses for
/// fingerprints and JWT `kid`s).
pub fn sha1_fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.as_ref());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A one-handshake configuration that accepts any server certificate and records the leaf.
///
/// The handshake signature is still verified, so the recorded leaf belongs to a server that
/// holds its private key. Nothing is trusted by this alone: the caller must check the leaf
/// (enrollment checks the JWT signature with its public key) before sending anything that
/// matters or believing any answer.
#[derive(Debug, Clone)]
pub struct LeafCapture {
    verifier: Arc<CapturingVerifier>,
}

impl Default for LeafCapture {
    fn default() -> Self {
        Self::new()
    }
}

impl LeafCapture {
    /// A fresh capture with nothing recorded.
    pub fn new() -> Self {
        let provider = crypto_provider();
        Self {
            verifier: Arc::new(CapturingVerifier {
                algorithms: provider.signature_verification_algorithms,
                leaf: Mutex::new(None),
            }),
        }
    }

    /// The client configuration to use for the capturing handshake (no client certificate).
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsSetupError> {
        let config = ClientConfig::builder_with_provider(crypto_provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .dangerous()
            .with_custom_certificate_verifier(self.verifier.clone())
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    /// The leaf certificate the server presented in the last handshake, if any.
    pub fn leaf(&self) -> Option<CertificateDer<'static>> {
        match self.verifier.leaf.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

#[derive(Debug)]
struct CapturingVerifier {
    algorithms: WebPkiSupportedAlgorithms,
    leaf: Mutex<Option<CertificateDer<'static>>>,
}

impl ServerCertVerifier for CapturingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut guard = match self.leaf.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Some(end_entity.clone().into_owned());
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_and_leaf() -> (
        CertificateDer<'static>,
        CertificateDer<'static>,
        PrivateKeyDer<'static>,
    ) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_params = rcgen::CertificateParams::new(vec!["client".to_string()]).unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
        (
            ca.der().clone(),
            leaf.der().clone(),
            PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
    }

    #[test]
    fn builds_mutual_tls_config_from_parts() {
        let (ca, leaf, key) = ca_and_leaf();
        let config = client_config_from_parts(vec![leaf], key, &[ca]).unwrap();
        assert!(config.client_auth_cert_resolver.has_certs());
    }

    #[test]
    fn empty_ca_bundle_is_refused() {
        let (_, leaf, key) = ca_and_leaf();
        let err = client_config_from_parts(vec![leaf], key, &[]).unwrap_err();
        assert!(matches!(err, TlsSetupError::NoTrustAnchors { rejected: 0 }));
    }

    #[test]
    fn garbage_ca_is_refused() {
        let (_, leaf, key) = ca_and_leaf();
        let garbage = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        let err = client_config_from_parts(vec![leaf], key, &[garbage]).unwrap_err();
        assert!(matches!(err, TlsSetupError::NoTrustAnchors { rejected: 1 }));
    }

    #[test]
    fn mismatched_key_is_refused() {
        let (ca, leaf, _) = ca_and_leaf();
        let other = rcgen::KeyPair::generate().unwrap();
        let key = PrivateKeyDer::Pkcs8(other.serialize_der().into());
        assert!(client_config_from_parts(vec![leaf], key, &[ca]).is_err());
    }

    #[test]
    fn missing_client_chain_is_refused() {
        let (ca, _, key) = ca_and_leaf();
        let err = client_config_from_parts(Vec::new(), key, &[ca]).unwrap_err();
        assert!(matches!(err, TlsSetupError::NoClientCertificate));
    }

    #[test]
    fn sha1_fingerprint_matches_known_digest() {
        // SHA-1("abc") from FIPS 180-1.
        let cert = CertificateDer::from(b"abc".to_vec());
        assert_eq!(
            sha1_fingerprint(&cert),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }
}
