//! The body of `GET /.well-known/est/cacerts`: a degenerate, certificates-only PKCS#7
//! `SignedData` (RFC 2315 / RFC 5652), DER-encoded with the RustCrypto `cms` crate, then
//! base64.
//!
//! Layout (the only one the C SDK 0.29.3 parser accepts): `ContentInfo { signedData, [0] {
//! version 1, digestAlgorithms SET {} (empty), contentInfo { data } (no eContent),
//! [0] IMPLICIT certificates, signerInfos SET {} } }`. The certificates are a DER `SET OF`,
//! so they are encoded in DER order.

use cms::cert::x509::der::asn1::SetOfVec;
use cms::cert::x509::der::{Any, Decode, Encode};
use cms::cert::x509::Certificate;
use cms::cert::CertificateChoices;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{CertificateSet, EncapsulatedContentInfo, SignedData, SignerInfos};
use const_oid::db::rfc5911::{ID_DATA, ID_SIGNED_DATA};

/// Builds the DER of a certs-only SignedData holding `certs_der` (each a DER certificate).
pub fn certs_only_der(certs_der: &[&[u8]]) -> Result<Vec<u8>, String> {
    let mut certificates = SetOfVec::new();
    for der in certs_der {
        let cert = Certificate::from_der(der).map_err(|e| format!("not a certificate: {e}"))?;
        certificates
            .insert(CertificateChoices::Certificate(cert))
            .map_err(|e| format!("certificate set: {e}"))?;
    }
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(certificates)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::new()),
    };
    let content = Any::encode_from(&signed).map_err(|e| format!("SignedData: {e}"))?;
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content,
    }
    .to_der()
    .map_err(|e| format!("ContentInfo: {e}"))
}

/// Base64 (standard alphabet) of [`certs_only_der`], in 64-character lines ending in `\n`.
pub fn certs_only_base64(certs_der: &[&[u8]]) -> Result<String, String> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(certs_only_der(certs_der)?);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 1);
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER of the signedData and data OIDs, for the hand-built expected layout.
    const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
    const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];

    /// One DER TLV with a definite, minimal length (the fixture builder).
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
        out.extend_from_slice(content);
        out
    }

    fn a_certificate() -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        rcgen::CertificateParams::new(vec!["ca.lab".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .der()
            .to_vec()
    }

    #[test]
    fn layout_matches_the_degenerate_signed_data_the_c_sdk_reads() {
        let cert = a_certificate();
        let der = certs_only_der(&[&cert]).unwrap();
        // RFC 2315 §9.1 / RFC 5652 §5.1, degenerate case, built by hand.
        let signed_data = tlv(
            0x30,
            &[
                tlv(0x02, &[1]),
                tlv(0x31, &[]),
                tlv(0x30, &tlv(0x06, OID_DATA)),
                tlv(0xa0, &cert),
                tlv(0x31, &[]),
            ]
            .concat(),
        );
        let expected = tlv(
            0x30,
            &[tlv(0x06, OID_SIGNED_DATA), tlv(0xa0, &signed_data)].concat(),
        );
        assert_eq!(der, expected);
        let text = certs_only_base64(&[&cert]).unwrap();
        assert!(text.ends_with('\n'));
        assert!(text.lines().all(|l| l.len() <= 64));
    }

    #[test]
    fn something_that_is_not_a_certificate_is_refused() {
        let err = certs_only_der(&[&tlv(0x30, &[0x02, 0x01, 0x05])]).unwrap_err();
        assert!(err.contains("not a certificate"), "{err}");
    }
}
