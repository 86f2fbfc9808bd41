//! The controller's CA bundle and host names: the body of `GET /.well-known/est/cacerts`
//! (base64 of a DER PKCS#7 certs-only `SignedData`), read with the RustCrypto `cms` crate, and
//! the check that a certificate names a host, done by webpki (the code rustls verifies
//! server names with).

use base64::Engine as _;
use cms::cert::x509::der::{self, Decode, Encode};
use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use rustls::pki_types::{CertificateDer, ServerName};

use super::EnrollError;

/// `id-signedData` (1.2.840.113549.1.7.2).
const ID_SIGNED_DATA: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");

/// Checks that `cert` is valid for `host` (a DNS name or an IP address, brackets allowed),
/// by its subject alternative names, as a TLS client would check a server.
pub fn certificate_matches_host(cert: &CertificateDer<'_>, host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let Ok(name) = ServerName::try_from(host) else {
        return false;
    };
    let Ok(end_entity) = webpki::EndEntityCert::try_from(cert) else {
        return false;
    };
    end_entity.verify_is_valid_for_subject_name(&name).is_ok()
}

/// Extracts the X.509 certificates of a DER PKCS#7 `SignedData`. A certificate set is a DER
/// `SET OF`, so they come back in DER order, not in the order they were sent.
fn pkcs7_certificates(der: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let info = ContentInfo::from_der(der).map_err(|e| format!("not a PKCS#7 ContentInfo: {e}"))?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(format!(
            "the PKCS#7 content type is {}, not signedData",
            info.content_type
        ));
    }
    let signed: SignedData = info
        .content
        .decode_as()
        .map_err(|e| format!("the PKCS#7 SignedData is malformed: {e}"))?;
    let Some(set) = signed.certificates else {
        return Ok(Vec::new());
    };
    set.0
        .iter()
        .filter_map(|choice| match choice {
            CertificateChoices::Certificate(cert) => Some(cert),
            // Attribute certificates and others are not X.509 certificates.
            _ => None,
        })
        .map(|cert| {
            cert.to_der()
                .map(CertificateDer::from)
                .map_err(|e| format!("a certificate cannot be re-encoded: {e}"))
        })
        .collect()
}

/// Decodes the body of `GET /.well-known/est/cacerts`: base64 (line breaks allowed) of a DER
/// PKCS#7. A body that is already DER is accepted too.
pub fn decode_cacerts_body(body: &[u8]) -> Result<Vec<CertificateDer<'static>>, EnrollError> {
    let bad = |reason: String| EnrollError::CaBundle { reason };
    let der = if body.first() == Some(&0x30) {
        body.to_vec()
    } else {
        let compact: Vec<u8> = body
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(&compact)
            .map_err(|e| bad(format!("the body is not base64: {e}")))?
    };
    let certs = pkcs7_certificates(&der).map_err(bad)?;
    if certs.is_empty() {
        return Err(bad("the PKCS#7 bundle holds no certificate".into()));
    }
    Ok(certs)
}

/// PEM-encodes DER with `label` (`CERTIFICATE`), 64-character lines.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enroll::jwt::tests::signer;

    /// DER of the signedData OID, for the hand-built fixtures below (RFC 2315 layout).
    const OID_SIGNED_DATA_DER: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];

    #[test]
    fn host_matching() {
        let (_, cert) = signer(&rcgen::PKCS_ECDSA_P256_SHA256);
        assert!(certificate_matches_host(&cert, "127.0.0.1"));
        assert!(certificate_matches_host(&cert, "CTRL.example"));
        assert!(!certificate_matches_host(&cert, "127.0.0.2"));
        assert!(!certificate_matches_host(&cert, "other.example"));
        assert!(!certificate_matches_host(
            &CertificateDer::from(vec![1, 2, 3]),
            "127.0.0.1"
        ));
    }

    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else if len < 0x100 {
            out.extend([0x81, len as u8]);
        } else {
            out.extend([0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(content);
        out
    }

    /// A degenerate certs-only SignedData, laid out as RFC 2315 describes it.
    fn certs_only(certs: &[&[u8]]) -> Vec<u8> {
        let version = der(0x02, &[1]);
        let digest_algs = der(0x31, &[]);
        let data_oid = der(
            0x06,
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01],
        );
        let encap = der(0x30, &data_oid);
        let cert_set = der(0xa0, &certs.concat());
        let signer_infos = der(0x31, &[]);
        let signed_data = der(
            0x30,
            &[version, digest_algs, encap, cert_set, signer_infos].concat(),
        );
        let content = der(0xa0, &signed_data);
        der(0x30, &[der(0x06, OID_SIGNED_DATA_DER), content].concat())
    }

    #[test]
    fn pkcs7_certs_only_round_trip() {
        let (_, a) = signer(&rcgen::PKCS_ECDSA_P256_SHA256);
        let (_, b) = signer(&rcgen::PKCS_ECDSA_P384_SHA384);
        let p7 = certs_only(&[a.as_ref(), b.as_ref()]);
        let certs = decode_cacerts_body(&p7).unwrap();
        assert_eq!(certs.len(), 2);
        assert!(
            certs.contains(&a) && certs.contains(&b),
            "both certificates, in any order"
        );
        // base64 with 64-character lines, as the controller sends it
        let text = base64::engine::general_purpose::STANDARD.encode(&p7);
        let wrapped: String = text
            .as_bytes()
            .chunks(64)
            .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
            .collect();
        assert_eq!(decode_cacerts_body(wrapped.as_bytes()).unwrap().len(), 2);
        assert_eq!(decode_cacerts_body(&p7).unwrap().len(), 2);
        // PEM round trip of one cert
        let pem = pem_encode("CERTIFICATE", a.as_ref());
        let back: Vec<CertificateDer> = rustls_pemfile::certs(&mut pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, vec![a]);
    }

    #[test]
    fn malformed_pkcs7() {
        let (_, a) = signer(&rcgen::PKCS_ECDSA_P256_SHA256);
        let good = certs_only(&[a.as_ref()]);
        let mut wrong_oid = good.clone();
        let at = good
            .windows(OID_SIGNED_DATA_DER.len())
            .position(|w| w == OID_SIGNED_DATA_DER)
            .unwrap();
        wrong_oid[at + OID_SIGNED_DATA_DER.len() - 1] = 0x03;
        let mut trailing = good.clone();
        trailing.push(0);
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x30],
            vec![0x30, 0x80, 0x00, 0x00],
            vec![0x30, 0x85, 1, 1, 1, 1, 1],
            vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            vec![0x1f, 0x01, 0x00],
            vec![0x31, 0x00],
            good[..good.len() - 1].to_vec(),
            good[..good.len() / 2].to_vec(),
            wrong_oid,
            trailing,
            der(0x30, &der(0x06, OID_SIGNED_DATA_DER)),
            der(
                0x30,
                &[der(0x06, OID_SIGNED_DATA_DER), der(0xa0, &der(0x31, &[]))].concat(),
            ),
        ];
        for case in &cases {
            assert!(
                matches!(decode_cacerts_body(case), Err(EnrollError::CaBundle { .. })),
                "{case:02x?} accepted"
            );
        }
        let empty = certs_only(&[]);
        assert_eq!(pkcs7_certificates(&empty).unwrap(), vec![]);
        assert!(matches!(
            decode_cacerts_body(&empty),
            Err(EnrollError::CaBundle { .. })
        ));
        assert!(matches!(
            decode_cacerts_body(b"not base64 !"),
            Err(EnrollError::CaBundle { .. })
        ));
    }
}
