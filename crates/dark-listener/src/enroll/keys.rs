//! The identity's key (EC P-256 by default, RSA on request) and its certificate signing
//! request.

use std::fmt;
use std::str::FromStr;

use super::EnrollError;

/// The kind of key to generate for the identity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA P-256 (what the C SDK uses).
    #[default]
    EcP256,
    /// RSA 2048 bits.
    Rsa2048,
    /// RSA 4096 bits.
    Rsa4096,
}

impl FromStr for KeyType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ec" | "ec-p256" | "p256" => Ok(KeyType::EcP256),
            "rsa" | "rsa2048" | "rsa-2048" => Ok(KeyType::Rsa2048),
            "rsa4096" | "rsa-4096" => Ok(KeyType::Rsa4096),
            other => Err(format!(
                "unknown key type {other:?}; use ec, rsa (2048 bits) or rsa4096"
            )),
        }
    }
}

/// Makes the identity's key pair.
pub fn generate_key(kind: KeyType) -> Result<rcgen::KeyPair, EnrollError> {
    let fail = |e: &dyn fmt::Display| EnrollError::KeyGeneration {
        reason: e.to_string(),
    };
    match kind {
        KeyType::EcP256 => {
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| fail(&e))
        }
        KeyType::Rsa2048 | KeyType::Rsa4096 => {
            use rsa::pkcs8::EncodePrivateKey as _;
            let bits = if kind == KeyType::Rsa2048 { 2048 } else { 4096 };
            let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, bits).map_err(|e| fail(&e))?;
            let der = key.to_pkcs8_der().map_err(|e| fail(&e))?;
            let pkcs8 = rustls::pki_types::PrivatePkcs8KeyDer::from(der.as_bytes().to_vec());
            rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256)
                .map_err(|e| fail(&e))
        }
    }
}

/// A PEM certificate signing request for identity `subject` (the JWT `sub`).
pub fn certificate_request(key: &rcgen::KeyPair, subject: &str) -> Result<String, EnrollError> {
    let fail = |e: rcgen::Error| EnrollError::KeyGeneration {
        reason: e.to_string(),
    };
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::OrganizationName, "OpenZiti");
    dn.push(rcgen::DnType::CommonName, subject);
    params.distinguished_name = dn;
    params
        .serialize_request(key)
        .map_err(fail)?
        .pem()
        .map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_carries_subject_and_key() {
        let key = generate_key(KeyType::EcP256).unwrap();
        let pem = certificate_request(&key, "id-1").unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        let der: Vec<u8> = rustls_pemfile::csr(&mut pem.as_bytes())
            .unwrap()
            .unwrap()
            .as_ref()
            .to_vec();
        use x509_parser::prelude::FromDer as _;
        let (_, csr) =
            x509_parser::certification_request::X509CertificationRequest::from_der(&der).unwrap();
        let cn = csr
            .certification_request_info
            .subject
            .iter_common_name()
            .next()
            .unwrap();
        assert_eq!(cn.as_str().unwrap(), "id-1");
        assert_eq!(
            csr.certification_request_info
                .subject_pki
                .subject_public_key
                .data
                .as_ref(),
            key.public_key_raw()
        );
    }
    #[test]
    fn key_types_parse() {
        assert_eq!("ec".parse::<KeyType>().unwrap(), KeyType::EcP256);
        assert_eq!("RSA".parse::<KeyType>().unwrap(), KeyType::Rsa2048);
        assert_eq!("rsa4096".parse::<KeyType>().unwrap(), KeyType::Rsa4096);
        assert!("dsa".parse::<KeyType>().is_err());
    }
}
