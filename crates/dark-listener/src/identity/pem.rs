//! The x509 material of an identity: PEM blocks of the right kind, the certificate chain,
//! the private key (checked usable by rustls' `ring` provider and matching the leaf), the CA
//! bundle as trust anchors, and the leaf's common name (the identity's name).

use super::file::{Context, Material};
use super::*;

/// Labels of all `-----BEGIN X-----` lines (at the start of a line, as the PEM parser
/// requires), for messages.
pub(super) fn pem_labels(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            line.trim_end()
                .strip_prefix("-----BEGIN ")
                .and_then(|rest| rest.strip_suffix("-----"))
                .map(str::to_owned)
        })
        .collect()
}

pub(super) fn pem_items(
    ctx: &Context<'_>,
    field: &str,
    label: &'static str,
    material: &Material,
) -> Result<Vec<rustls_pemfile::Item>, IdentityError> {
    if pem_labels(&material.text).is_empty() {
        return Err(IdentityError::NotPem {
            file: ctx.file.to_owned(),
            field: field.to_owned(),
            label,
            origin: material.origin.clone(),
        });
    }
    let mut reader = material.text.as_bytes();
    let mut items = Vec::new();
    // Each successful item consumes at least one line, so this terminates; an error ends it.
    for item in rustls_pemfile::read_all(&mut reader) {
        match item {
            Ok(item) => items.push(item),
            Err(e) => {
                return Err(IdentityError::PemSyntax {
                    file: ctx.file.to_owned(),
                    field: field.to_owned(),
                    origin: material.origin.clone(),
                    detail: e.to_string(),
                })
            }
        }
    }
    Ok(items)
}

pub(super) fn wrong_kind(
    ctx: &Context<'_>,
    field: &str,
    material: &Material,
    expected: &'static str,
) -> IdentityError {
    let labels = pem_labels(&material.text);
    IdentityError::WrongPemKind {
        file: ctx.file.to_owned(),
        field: field.to_owned(),
        origin: material.origin.clone(),
        found: labels.join(", "),
        expected,
    }
}

pub(super) fn certificates(
    ctx: &Context<'_>,
    field: &str,
    material: &Material,
) -> Result<Vec<CertificateDer<'static>>, IdentityError> {
    let certs: Vec<CertificateDer<'static>> = pem_items(ctx, field, "CERTIFICATE", material)?
        .into_iter()
        .filter_map(|item| match item {
            rustls_pemfile::Item::X509Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(wrong_kind(ctx, field, material, "CERTIFICATE"));
    }
    for (index, cert) in certs.iter().enumerate() {
        x509_parser::parse_x509_certificate(cert).map_err(|e| IdentityError::Certificate {
            file: ctx.file.to_owned(),
            field: field.to_owned(),
            index,
            detail: e.to_string(),
        })?;
    }
    Ok(certs)
}

pub(super) fn private_key(
    ctx: &Context<'_>,
    material: &Material,
) -> Result<PrivateKeyDer<'static>, IdentityError> {
    const EXPECTED: &str = "EC PRIVATE KEY, RSA PRIVATE KEY or PRIVATE KEY";
    let mut keys: Vec<PrivateKeyDer<'static>> =
        pem_items(ctx, "id.key", "EC PRIVATE KEY", material)?
            .into_iter()
            .filter_map(|item| match item {
                rustls_pemfile::Item::Pkcs1Key(k) => Some(PrivateKeyDer::from(k)),
                rustls_pemfile::Item::Pkcs8Key(k) => Some(PrivateKeyDer::from(k)),
                rustls_pemfile::Item::Sec1Key(k) => Some(PrivateKeyDer::from(k)),
                _ => None,
            })
            .collect();
    match keys.len() {
        0 => Err(wrong_kind(ctx, "id.key", material, EXPECTED)),
        1 => Ok(keys.remove(0)),
        count => Err(IdentityError::MultipleKeys {
            file: ctx.file.to_owned(),
            count,
        }),
    }
}

pub(super) fn common_name(
    ctx: &Context<'_>,
    leaf: &CertificateDer<'_>,
) -> Result<String, IdentityError> {
    let no_cn = || IdentityError::NoCommonName {
        file: ctx.file.to_owned(),
    };
    let (_, cert) =
        x509_parser::parse_x509_certificate(leaf).map_err(|e| IdentityError::Certificate {
            file: ctx.file.to_owned(),
            field: "id.cert".to_owned(),
            index: 0,
            detail: e.to_string(),
        })?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .ok_or_else(no_cn)?
        .as_str()
        .map_err(|_| no_cn())?;
    if cn.is_empty() {
        return Err(no_cn());
    }
    Ok(cn.to_owned())
}

pub(super) fn build(
    ctx: &Context<'_>,
    zt_api: Option<String>,
    zt_apis: Vec<String>,
    config_types: Option<Vec<String>>,
    [cert, key, ca]: [Material; 3],
) -> Result<Identity, IdentityError> {
    let cert_chain = certificates(ctx, "id.cert", &cert)?;
    let key_der = private_key(ctx, &key)?;
    let ca_certs = certificates(ctx, "id.ca", &ca)?;

    let name = common_name(ctx, &cert_chain[0])?;

    let signing_key = any_supported_type(&key_der).map_err(|e| IdentityError::KeyUnsupported {
        file: ctx.file.to_owned(),
        detail: e.to_string(),
    })?;
    let certified_key = CertifiedKey::new(cert_chain.clone(), signing_key);
    match certified_key.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(IdentityError::KeyMismatch {
                file: ctx.file.to_owned(),
            })
        }
        Err(e) => {
            return Err(IdentityError::KeyUnsupported {
                file: ctx.file.to_owned(),
                detail: e.to_string(),
            })
        }
    }

    let mut roots = RootCertStore::empty();
    for (index, der) in ca_certs.iter().enumerate() {
        roots
            .add(der.clone())
            .map_err(|e| IdentityError::CaRejected {
                file: ctx.file.to_owned(),
                index,
                detail: e.to_string(),
            })?;
    }

    Ok(Identity {
        file: ctx.file.to_owned(),
        zt_api,
        zt_apis,
        config_types,
        cert_chain,
        key: key_der,
        ca_certs,
        roots,
        certified_key: Arc::new(certified_key),
        name,
        cert_pem: cert.text,
        key_pem: key.text,
        ca_pem: ca.text,
    })
}
