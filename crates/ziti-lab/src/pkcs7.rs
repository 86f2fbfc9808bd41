//! DER encoding of a degenerate, certificates-only PKCS#7 `SignedData` (RFC 2315 / RFC 5652):
//! the body of `GET /.well-known/est/cacerts`.
//!
//! Layout (the only one the C SDK 0.29.3 parser accepts): `ContentInfo { signedData, [0] {
//! version 1, digestAlgorithms SET {} (empty), contentInfo { data } (no eContent),
//! [0] IMPLICIT certificates, signerInfos SET {} } }`.

const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];

/// Appends a DER TLV with a definite length.
fn tlv(tag: u8, content: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
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
}

fn wrap(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    tlv(tag, content, &mut out);
    out
}

/// Builds the DER of a certs-only SignedData holding `certs_der` (each a DER certificate).
pub fn certs_only_der(certs_der: &[&[u8]]) -> Vec<u8> {
    let mut signed = Vec::new();
    tlv(0x02, &[0x01], &mut signed); // version 1
    tlv(0x31, &[], &mut signed); // digestAlgorithms: empty SET
    tlv(0x30, &wrap(0x06, OID_DATA), &mut signed); // contentInfo: data, no content
    let certs: Vec<u8> = certs_der.concat();
    tlv(0xa0, &certs, &mut signed); // [0] IMPLICIT SET OF Certificate
    tlv(0x31, &[], &mut signed); // signerInfos: empty SET
    let mut content_info = wrap(0x06, OID_SIGNED_DATA);
    tlv(0xa0, &wrap(0x30, &signed), &mut content_info);
    wrap(0x30, &content_info)
}

/// Base64 (standard alphabet) of [`certs_only_der`], in 64-character lines ending in `\n`.
pub fn certs_only_base64(certs_der: &[&[u8]]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(certs_only_der(certs_der));
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 1);
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_lengths_are_encoded_minimally() {
        assert_eq!(wrap(0x04, &[7; 3]), vec![0x04, 3, 7, 7, 7]);
        let long = wrap(0x04, &[0; 200]);
        assert_eq!(&long[..3], &[0x04, 0x81, 200]);
        let longer = wrap(0x04, &vec![0; 0x1234]);
        assert_eq!(&longer[..4], &[0x04, 0x82, 0x12, 0x34]);
    }

    #[test]
    fn layout_matches_a_degenerate_signed_data() {
        // A fake "certificate" keeps this test independent of the PKI code.
        let fake_cert = wrap(0x30, &[0x02, 0x01, 0x05]);
        let der = certs_only_der(&[&fake_cert]);
        let expected: Vec<u8> = [
            &[0x30, 0x2a][..],
            &[0x06, 0x09],
            OID_SIGNED_DATA,
            &[0xa0, 0x1d, 0x30, 0x1b],
            &[0x02, 0x01, 0x01],
            &[0x31, 0x00],
            &[0x30, 0x0b, 0x06, 0x09],
            OID_DATA,
            &[0xa0, 0x05],
            &fake_cert,
            &[0x31, 0x00],
        ]
        .concat();
        assert_eq!(der, expected);
        let text = certs_only_base64(&[&fake_cert]);
        assert!(text.ends_with('\n'));
        assert!(text.lines().all(|l| l.len() <= 64));
    }
}
