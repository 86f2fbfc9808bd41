//! The lab's own PKI: an RSA CA, RSA server certificates for the controller and the router,
//! client certificates (signed from enrollment CSRs or issued directly), and the TLS server
//! configurations built from them.
//!
//! RSA is used for the CA and the server keys because the enrollment JWT is signed with the
//! controller server key and C SDK 0.29.3 can only verify RS256 enrollment JWTs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use ring::rand::SecureRandom;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use crate::error::LabError;

/// The SPIFFE trust domain written into client certificate URI SANs.
pub const SPIFFE_TRUST_DOMAIN: &str = "lab";

/// Hex SHA-256 of a certificate's DER: how the lab recognises client certificates.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct CertFingerprint(String);

impl CertFingerprint {
    /// Fingerprint of a DER certificate.
    pub fn of_der(der: &[u8]) -> Self {
        CertFingerprint(hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            der,
        )))
    }

    /// The lowercase hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CertFingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a CSR was refused.
#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    /// The body is neither PEM nor DER of a PKCS#10 request.
    #[error("not a PKCS#10 certificate signing request: {0}")]
    Malformed(String),
    /// The request's self-signature does not verify.
    #[error("the CSR signature does not verify")]
    BadSignature,
    /// Signing the certificate failed.
    #[error("cannot sign the certificate: {0}")]
    Signing(String),
}

/// A certificate issued by the lab CA.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// PEM of the leaf certificate.
    pub cert_pem: String,
    /// DER of the leaf certificate.
    pub cert_der: Vec<u8>,
    /// Fingerprint of the leaf.
    pub fingerprint: CertFingerprint,
}

/// The private key and certificate of one server (controller or router).
struct ServerIdentity {
    cert_pem: String,
    cert_der: Vec<u8>,
    key_pkcs8_der: Vec<u8>,
}

/// The lab PKI, loaded from (or created in) `<lab dir>/pki`.
pub struct LabPki {
    ca_cert_pem: String,
    ca_cert_der: Vec<u8>,
    ca_issuer: Certificate,
    ca_key: KeyPair,
    controller: ServerIdentity,
    router: ServerIdentity,
}

impl std::fmt::Debug for LabPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabPki")
            .field("ca", &CertFingerprint::of_der(&self.ca_cert_der))
            .finish_non_exhaustive()
    }
}

const CA_CERT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";
const CONTROLLER_CERT: &str = "controller.crt";
const CONTROLLER_KEY: &str = "controller.key";
const ROUTER_CERT: &str = "router.crt";
const ROUTER_KEY: &str = "router.key";

fn random_serial() -> Result<SerialNumber, LabError> {
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| LabError::pki("drawing a serial number", "system RNG failed"))?;
    bytes[0] &= 0x7f;
    Ok(SerialNumber::from_slice(&bytes))
}

/// Generates an RSA-2048 key and returns its PKCS#8 DER.
fn generate_rsa_pkcs8() -> Result<Vec<u8>, LabError> {
    use rsa::pkcs8::EncodePrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048)
        .map_err(|e| LabError::pki("generating an RSA key", e))?;
    let der = key
        .to_pkcs8_der()
        .map_err(|e| LabError::pki("encoding an RSA key", e))?;
    Ok(der.as_bytes().to_vec())
}

fn rsa_key_pair(pkcs8: &[u8]) -> Result<KeyPair, LabError> {
    KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(pkcs8.to_vec()),
        &rcgen::PKCS_RSA_SHA256,
    )
    .map_err(|e| LabError::pki("loading an RSA key", e))
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "darkscrape lab");
    dn.push(DnType::CommonName, "darkscrape lab CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.use_authority_key_identifier_extension = false;
    params
}

fn write_file(path: &Path, text: &str) -> Result<(), LabError> {
    std::fs::write(path, text).map_err(|e| LabError::io("write", path, e))
}

fn read_file(path: &Path) -> Result<String, LabError> {
    std::fs::read_to_string(path).map_err(|e| LabError::io("read", path, e))
}

fn pem_to_der(pem_text: &str, what: &'static str) -> Result<Vec<u8>, LabError> {
    let block = pem::parse(pem_text).map_err(|e| LabError::pki(what, e))?;
    Ok(block.into_contents())
}

impl LabPki {
    /// Creates a fresh CA and server certificates in `pki_dir` (which must not hold a PKI yet).
    /// `controller_host`/`router_host` are added to the SANs next to `127.0.0.1` and `localhost`.
    pub fn create(
        pki_dir: &Path,
        controller_host: &str,
        router_host: &str,
    ) -> Result<Self, LabError> {
        std::fs::create_dir_all(pki_dir)
            .map_err(|e| LabError::io("create directory", pki_dir, e))?;
        // RSA key generation is the slow part; make the three keys on parallel threads.
        let (ca_pkcs8, controller_pkcs8, router_pkcs8) = std::thread::scope(|s| {
            let a = s.spawn(generate_rsa_pkcs8);
            let b = s.spawn(generate_rsa_pkcs8);
            let c = generate_rsa_pkcs8();
            let join = |h: std::thread::ScopedJoinHandle<'_, Result<Vec<u8>, LabError>>| {
                h.join().unwrap_or_else(|_| {
                    Err(LabError::pki(
                        "generating an RSA key",
                        "worker thread panicked",
                    ))
                })
            };
            (join(a), join(b), c)
        });
        let (ca_pkcs8, controller_pkcs8, router_pkcs8) =
            (ca_pkcs8?, controller_pkcs8?, router_pkcs8?);
        let ca_key = rsa_key_pair(&ca_pkcs8)?;
        let mut params = ca_params();
        params.serial_number = Some(random_serial()?);
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(3650);
        let ca_cert = params
            .self_signed(&ca_key)
            .map_err(|e| LabError::pki("self-signing the CA", e))?;
        let ca_cert_pem = ca_cert.pem();
        write_file(&pki_dir.join(CA_CERT), &ca_cert_pem)?;
        write_file(&pki_dir.join(CA_KEY), &ca_key.serialize_pem())?;

        for (name, host, cert_file, key_file, pkcs8) in [
            (
                "controller",
                controller_host,
                CONTROLLER_CERT,
                CONTROLLER_KEY,
                controller_pkcs8,
            ),
            ("router", router_host, ROUTER_CERT, ROUTER_KEY, router_pkcs8),
        ] {
            let key = rsa_key_pair(&pkcs8)?;
            let cert = server_params(name, host)?
                .signed_by(&key, &ca_cert, &ca_key)
                .map_err(|e| LabError::pki("signing a server certificate", e))?;
            write_file(&pki_dir.join(cert_file), &cert.pem())?;
            write_file(&pki_dir.join(key_file), &key.serialize_pem())?;
        }
        Self::load(pki_dir)
    }

    /// Loads the PKI written by [`LabPki::create`].
    pub fn load(pki_dir: &Path) -> Result<Self, LabError> {
        let ca_cert_pem = read_file(&pki_dir.join(CA_CERT))?;
        let ca_cert_der = pem_to_der(&ca_cert_pem, "reading the CA certificate")?;
        let ca_key = KeyPair::from_pem(&read_file(&pki_dir.join(CA_KEY))?)
            .map_err(|e| LabError::pki("reading the CA key", e))?;
        // rcgen signs with an issuer `Certificate`; rebuild one with the same name and key.
        let issuer_params = CertificateParams::from_ca_cert_pem(&ca_cert_pem)
            .map_err(|e| LabError::pki("reading the CA certificate", e))?;
        let ca_issuer = issuer_params
            .self_signed(&ca_key)
            .map_err(|e| LabError::pki("rebuilding the CA issuer", e))?;
        let server = |cert: &str, key: &str| -> Result<ServerIdentity, LabError> {
            let cert_pem = read_file(&pki_dir.join(cert))?;
            let cert_der = pem_to_der(&cert_pem, "reading a server certificate")?;
            let key_pkcs8_der =
                pem_to_der(&read_file(&pki_dir.join(key))?, "reading a server key")?;
            Ok(ServerIdentity {
                cert_pem,
                cert_der,
                key_pkcs8_der,
            })
        };
        Ok(LabPki {
            ca_cert_pem,
            ca_cert_der,
            ca_issuer,
            ca_key,
            controller: server(CONTROLLER_CERT, CONTROLLER_KEY)?,
            router: server(ROUTER_CERT, ROUTER_KEY)?,
        })
    }

    /// Whether `pki_dir` holds a CA certificate.
    pub fn exists(pki_dir: &Path) -> bool {
        pki_dir.join(CA_CERT).is_file()
    }

    /// PEM of the CA certificate (the `id.ca` of identities).
    pub fn ca_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    /// DER of the CA certificate.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_cert_der
    }

    /// DER of the controller server certificate.
    pub fn controller_cert_der(&self) -> &[u8] {
        &self.controller.cert_der
    }

    /// PEM of the controller server certificate.
    pub fn controller_cert_pem(&self) -> &str {
        &self.controller.cert_pem
    }

    /// PKCS#8 DER of the controller's RSA key (signs enrollment JWTs).
    pub(crate) fn controller_key_pkcs8(&self) -> &[u8] {
        &self.controller.key_pkcs8_der
    }

    /// DER of the router server certificate.
    pub fn router_cert_der(&self) -> &[u8] {
        &self.router.cert_der
    }

    fn client_params(
        identity_id: &str,
        identity_name: &str,
    ) -> Result<CertificateParams, LabError> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "darkscrape lab");
        dn.push(DnType::OrganizationalUnitName, identity_name);
        dn.push(DnType::CommonName, identity_id);
        params.distinguished_name = dn;
        let uri = format!("spiffe://{SPIFFE_TRUST_DOMAIN}/identity/{identity_id}");
        params.subject_alt_names = vec![SanType::URI(
            uri.try_into()
                .map_err(|e| LabError::pki("building the SPIFFE SAN", e))?,
        )];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.serial_number = Some(random_serial()?);
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(365);
        params.use_authority_key_identifier_extension = true;
        Ok(params)
    }

    /// Signs the public key of a PKCS#10 CSR (PEM or DER) as the client certificate of an
    /// identity. The CSR's subject and extensions are ignored; the certificate gets
    /// `CN=<identity id>` and the SPIFFE URI SAN `spiffe://lab/identity/<id>`.
    pub fn sign_csr(
        &self,
        csr: &[u8],
        identity_id: &str,
        identity_name: &str,
    ) -> Result<IssuedCert, CsrError> {
        use x509_parser::prelude::FromDer;
        let der = if csr.starts_with(b"-----BEGIN") {
            let block = pem::parse(csr).map_err(|e| CsrError::Malformed(e.to_string()))?;
            if !block.tag().contains("CERTIFICATE REQUEST") {
                return Err(CsrError::Malformed(format!(
                    "PEM block is {:?}, expected CERTIFICATE REQUEST",
                    block.tag()
                )));
            }
            block.into_contents()
        } else {
            csr.to_vec()
        };
        let (rest, req) =
            x509_parser::certification_request::X509CertificationRequest::from_der(&der)
                .map_err(|e| CsrError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CsrError::Malformed("trailing bytes after the CSR".into()));
        }
        req.verify_signature().map_err(|_| CsrError::BadSignature)?;
        let spki = req.certification_request_info.subject_pki.raw;
        let public_key = rcgen::SubjectPublicKeyInfo::from_der(spki)
            .map_err(|e| CsrError::Malformed(format!("unsupported public key: {e}")))?;
        let params = Self::client_params(identity_id, identity_name)
            .map_err(|e| CsrError::Signing(e.to_string()))?;
        let cert = params
            .signed_by(&public_key, &self.ca_issuer, &self.ca_key)
            .map_err(|e| CsrError::Signing(e.to_string()))?;
        Ok(issued(&cert))
    }

    /// Issues a client certificate and a fresh EC P-256 key for an identity, without enrollment.
    /// Returns the certificate and the PKCS#8 PEM of the key.
    pub fn issue_client(
        &self,
        identity_id: &str,
        identity_name: &str,
    ) -> Result<(IssuedCert, String), LabError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| LabError::pki("generating a client key", e))?;
        let cert = Self::client_params(identity_id, identity_name)?
            .signed_by(&key, &self.ca_issuer, &self.ca_key)
            .map_err(|e| LabError::pki("signing a client certificate", e))?;
        Ok((issued(&cert), key.serialize_pem()))
    }

    fn server_config(
        &self,
        server: &ServerIdentity,
        request_client_certs: bool,
        require_client_certs: bool,
    ) -> Result<Arc<rustls::ServerConfig>, LabError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| LabError::Tls(e.to_string()))?;
        let builder = if request_client_certs {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from(self.ca_cert_der.clone()))
                .map_err(|e| LabError::Tls(format!("CA certificate: {e}")))?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let verifier = if require_client_certs {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            let verifier = verifier.build().map_err(|e| LabError::Tls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let chain = vec![
            CertificateDer::from(server.cert_der.clone()),
            CertificateDer::from(self.ca_cert_der.clone()),
        ];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.key_pkcs8_der.clone()));
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| LabError::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// TLS 1.2 + 1.3 configuration of the controller: client certificates are requested,
    /// verified against the lab CA when presented, and not required.
    pub fn controller_tls_config(&self) -> Result<Arc<rustls::ServerConfig>, LabError> {
        self.server_config(&self.controller, true, false)
    }

    /// TLS 1.2 + 1.3 configuration of the edge router: router certificate, client
    /// certificates required and verified against the lab CA, no ALPN.
    pub fn router_tls_config(&self) -> Result<Arc<rustls::ServerConfig>, LabError> {
        let mut config = (*self.server_config(&self.router, true, true)?).clone();
        config.alpn_protocols.clear();
        Ok(Arc::new(config))
    }
}

fn server_params(name: &str, host: &str) -> Result<CertificateParams, LabError> {
    let mut names: Vec<String> = vec!["127.0.0.1".into(), "localhost".into()];
    let host = crate::config::san_host(host).to_owned();
    if !names.contains(&host) {
        names.push(host);
    }
    let mut params = CertificateParams::new(names)
        .map_err(|e| LabError::pki("building server certificate names", e))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "darkscrape lab");
    dn.push(DnType::CommonName, format!("lab {name}"));
    params.distinguished_name = dn;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.serial_number = Some(random_serial()?);
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(5 * 365);
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

fn issued(cert: &Certificate) -> IssuedCert {
    let der = cert.der().to_vec();
    IssuedCert {
        cert_pem: cert.pem(),
        fingerprint: CertFingerprint::of_der(&der),
        cert_der: der,
    }
}

/// `<lab dir>/pki`.
pub(crate) fn pki_dir(lab_dir: &Path) -> PathBuf {
    lab_dir.join("pki")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_csrs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::test_support::shared_pki(dir.path());
        for bad in [
            &b""[..],
            b"garbage",
            b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            b"\x30\x03\x02\x01\x00",
        ] {
            assert!(matches!(
                pki.sign_csr(bad, "id1", "n"),
                Err(CsrError::Malformed(_))
            ));
        }
        // A valid CSR with a flipped signature byte.
        let key = KeyPair::generate().unwrap();
        let csr = CertificateParams::new(vec!["x".to_owned()])
            .unwrap()
            .serialize_request(&key)
            .unwrap();
        let mut der = csr.der().to_vec();
        let last = der.len() - 1;
        der[last] ^= 0x01;
        assert!(matches!(
            pki.sign_csr(&der, "id1", "n"),
            Err(CsrError::BadSignature)
        ));
    }

    #[test]
    fn rsa_and_p384_csrs_are_signed() {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::test_support::shared_pki(dir.path());
        let rsa = rsa_key_pair(pki.controller_key_pkcs8()).unwrap();
        let p384 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        for key in [rsa, p384] {
            let csr = CertificateParams::new(Vec::<String>::new())
                .unwrap()
                .serialize_request(&key)
                .unwrap();
            let issued = pki.sign_csr(csr.der(), "id9", "n").unwrap();
            use x509_parser::prelude::FromDer;
            let (_, cert) =
                x509_parser::certificate::X509Certificate::from_der(&issued.cert_der).unwrap();
            assert_eq!(cert.public_key().raw, key.public_key_der().as_slice());
        }
    }

    #[test]
    fn csr_signing_yields_a_client_cert_with_the_spiffe_san() {
        use x509_parser::prelude::*;
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::test_support::shared_pki(dir.path());
        let key = KeyPair::generate().unwrap();
        let csr = CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .serialize_request(&key)
            .unwrap();
        let issued = pki
            .sign_csr(csr.pem().unwrap().as_bytes(), "abc123", "web")
            .unwrap();
        let (_, cert) = X509Certificate::from_der(&issued.cert_der).unwrap();
        let (_, ca) = X509Certificate::from_der(pki.ca_der()).unwrap();
        cert.verify_signature(Some(ca.public_key())).unwrap();
        assert_eq!(
            cert.subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "abc123"
        );
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert!(san
            .value
            .general_names
            .iter()
            .any(|g| matches!(g, GeneralName::URI("spiffe://lab/identity/abc123"))));
        assert_eq!(cert.public_key().raw, key.public_key_der().as_slice());
    }
}
