//! Identity file loading: every value encoding, EC and RSA keys, C- and Go-style files, the
//! writer, a real TLS handshake with the loaded material, and malformed inputs.
//!
//! Certificates and keys are generated per test run (rcgen, p256, rsa); nothing is fixed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use dark_listener::identity::{client_api_base, Identity, IdentityError, PemParts};
use p256::pkcs8::{DecodePrivateKey, LineEnding};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedKey, DnType, IsCa, KeyPair, PKCS_RSA_SHA256,
};
use serde_json::{json, Value};

/// A CA plus a leaf issued by it.
struct Pki {
    ca_pem: String,
    other_ca_pem: String,
    leaf_pem: String,
    leaf_key_pkcs8: String,
    ca: CertifiedKey,
    cn: String,
}

fn ca(cn: &str) -> CertifiedKey {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    CertifiedKey {
        cert,
        key_pair: key,
    }
}

fn leaf_signed(ca: &CertifiedKey, key: &KeyPair, cn: Option<&str>, sans: Vec<String>) -> String {
    let mut params = CertificateParams::new(sans).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(cn) = cn {
        params.distinguished_name.push(DnType::CommonName, cn);
    }
    params
        .distinguished_name
        .push(DnType::OrganizationName, "OpenZiti");
    params.signed_by(key, &ca.cert, &ca.key_pair).unwrap().pem()
}

fn ec_pki() -> Pki {
    let ca_ck = ca("darkscrape test CA");
    let other = ca("darkscrape other CA");
    let key = KeyPair::generate().unwrap();
    let cn = "reflectz-host-01".to_owned();
    let leaf_pem = leaf_signed(&ca_ck, &key, Some(&cn), Vec::new());
    Pki {
        ca_pem: ca_ck.cert.pem(),
        other_ca_pem: other.cert.pem(),
        leaf_pem,
        leaf_key_pkcs8: key.serialize_pem(),
        ca: ca_ck,
        cn,
    }
}

fn sec1_of(pkcs8_pem: &str) -> String {
    p256::SecretKey::from_pkcs8_pem(pkcs8_pem)
        .unwrap()
        .to_sec1_pem(LineEnding::LF)
        .unwrap()
        .to_string()
}

/// One RSA-2048 key per test binary (key generation is slow in debug builds).
fn rsa_key() -> &'static rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap())
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "darkscrape-identity-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn c_style(pki: &Pki, key: &str) -> Value {
    json!({
        "ztAPI": "https://127.0.0.1:18441",
        "id": {"cert": pki.leaf_pem, "key": key, "ca": pki.ca_pem}
    })
}

fn load(v: &Value) -> Result<Identity, IdentityError> {
    Identity::from_json(v.to_string().as_bytes(), "test.json")
}

fn err(v: &Value) -> IdentityError {
    match load(v) {
        Ok(id) => panic!("expected an error, loaded {id:?}"),
        Err(e) => e,
    }
}

#[test]
fn go_style_file_with_pem_prefixes_chain_and_ca_bundle() {
    let pki = ec_pki();
    let chain = format!("{}{}", pki.leaf_pem, pki.ca_pem);
    let bundle = format!("{}\n{}", pki.ca_pem, pki.other_ca_pem);
    let file = json!({
        "ztAPI": "https://ctrl.example:1280/edge/client/v1",
        "ztAPIs": null,
        "configTypes": null,
        "id": {
            "key": format!("pem:{}", pki.leaf_key_pkcs8),
            "cert": format!("pem:{chain}"),
            "ca": format!("pem:{bundle}"),
        },
        "enableHa": false,
        "someFutureField": {"x": [1, 2]}
    });
    let id = load(&file).unwrap();
    assert_eq!(id.name(), pki.cn);
    assert_eq!(
        id.zt_api(),
        Some("https://ctrl.example:1280/edge/client/v1")
    );
    assert!(id.zt_apis().is_empty());
    assert_eq!(id.config_types(), None);
    assert_eq!(
        id.controller_urls(),
        vec!["https://ctrl.example:1280/edge/client/v1"]
    );
    assert_eq!(id.controller_bases(), vec!["https://ctrl.example:1280"]);
    assert_eq!(id.cert_chain().len(), 2);
    assert_eq!(
        id.cert_chain()[0].as_ref(),
        pki_der(&pki.leaf_pem).as_slice()
    );
    assert_eq!(id.ca_certs().len(), 2);
    assert_eq!(id.root_cert_store().len(), 2);
    assert_eq!(id.source(), "test.json");
}

fn pki_der(pem: &str) -> Vec<u8> {
    let mut rd = pem.as_bytes();
    let der = rustls_pemfile::certs(&mut rd).next().unwrap().unwrap();
    der.to_vec()
}

#[test]
fn c_style_file_with_bare_pem_and_sec1_key() {
    let pki = ec_pki();
    let sec1 = sec1_of(&pki.leaf_key_pkcs8);
    assert!(sec1.starts_with("-----BEGIN EC PRIVATE KEY-----"));
    let id = load(&c_style(&pki, &sec1)).unwrap();
    assert_eq!(id.name(), pki.cn);
    assert_eq!(id.controller_urls(), vec!["https://127.0.0.1:18441"]);
    assert_eq!(id.controller_bases(), vec!["https://127.0.0.1:18441"]);
    assert!(matches!(
        id.private_key(),
        rustls::pki_types::PrivateKeyDer::Sec1(_)
    ));
}

#[test]
fn rsa_keys_in_pkcs1_and_pkcs8() {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::EncodePrivateKey;
    let rsa = rsa_key();
    let pkcs8 = rsa.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let pkcs1 = rsa.to_pkcs1_pem(LineEnding::LF).unwrap().to_string();
    let ca_ck = ca("rsa test CA");
    let key = KeyPair::from_pkcs8_pem_and_sign_algo(&pkcs8, &PKCS_RSA_SHA256).unwrap();
    let leaf = leaf_signed(&ca_ck, &key, Some("rsa-identity"), Vec::new());
    for (key_pem, want_pkcs1) in [(&pkcs1, true), (&pkcs8, false)] {
        let file = json!({
            "ztAPI": "https://ctrl:1280",
            "id": {"cert": leaf, "key": key_pem, "ca": ca_ck.cert.pem()}
        });
        let id = load(&file).unwrap();
        assert_eq!(id.name(), "rsa-identity");
        assert_eq!(
            matches!(id.private_key(), rustls::pki_types::PrivateKeyDer::Pkcs1(_)),
            want_pkcs1
        );
    }
}

#[test]
fn file_references_absolute_prefixed_and_relative_to_identity_dir() {
    let pki = ec_pki();
    let dir = TempDir::new();
    let cert = dir.write("certs/leaf.pem", &pki.leaf_pem);
    let key = dir.write("keys/leaf.key", &sec1_of(&pki.leaf_key_pkcs8));
    dir.write("ca.pem", &format!("{}{}", pki.ca_pem, pki.other_ca_pem));
    let file = json!({
        "ztAPI": "https://ctrl:1280",
        "id": {
            "cert": format!("file://{}", cert.display()),
            "key": format!("file:{}", key.display()),
            "ca": "ca.pem"
        }
    });
    let path = dir.write("sub/../identity.json", &file.to_string());
    let id = Identity::from_file(&path).unwrap();
    assert_eq!(id.name(), pki.cn);
    assert_eq!(id.ca_certs().len(), 2);

    // Relative references from identity files in other directories resolve there too.
    let file = json!({
        "ztAPI": "https://ctrl:1280",
        "id": {"cert": "../certs/leaf.pem", "key": "../keys/leaf.key", "ca": "file:../ca.pem"}
    });
    let nested = dir.write("nested/id.json", &file.to_string());
    assert_eq!(Identity::from_file(&nested).unwrap().name(), pki.cn);

    // from_json resolves relative to the working directory: the same text fails here.
    let e = Identity::from_json(file.to_string().as_bytes(), "inline").unwrap_err();
    assert!(
        matches!(&e, IdentityError::ReferencedFile { field, .. } if field == "id.cert"),
        "{e}"
    );
}

#[test]
fn zt_apis_preferred_and_config_types_read() {
    let pki = ec_pki();
    let mut file = c_style(&pki, &pki.leaf_key_pkcs8);
    file["ztAPIs"] = json!(["https://a:1280/edge/client/v1/", "https://b:1280"]);
    file["configTypes"] = json!(["host.v1", "intercept.v1"]);
    let id = load(&file).unwrap();
    assert_eq!(
        id.controller_urls(),
        vec!["https://a:1280/edge/client/v1/", "https://b:1280"]
    );
    assert_eq!(
        id.controller_bases(),
        vec!["https://a:1280", "https://b:1280"]
    );
    assert_eq!(
        id.config_types().unwrap(),
        &["host.v1".to_owned(), "intercept.v1".to_owned()]
    );

    // ztAPIs alone is enough; an empty ztAPIs falls back to ztAPI.
    let mut only_list = file.clone();
    only_list.as_object_mut().unwrap().remove("ztAPI");
    assert_eq!(load(&only_list).unwrap().controller_urls().len(), 2);
    file["ztAPIs"] = json!([]);
    assert_eq!(
        load(&file).unwrap().controller_urls(),
        vec!["https://127.0.0.1:18441"]
    );
}

#[test]
fn client_api_base_strips_only_the_go_suffix() {
    assert_eq!(
        client_api_base("https://c:1280/edge/client/v1"),
        "https://c:1280"
    );
    assert_eq!(
        client_api_base("https://c:1280/edge/client/v1/"),
        "https://c:1280"
    );
    assert_eq!(client_api_base("https://c:1280"), "https://c:1280");
    assert_eq!(client_api_base("https://c:1280/"), "https://c:1280");
    assert_eq!(
        client_api_base("https://c:1280/edge/management/v1"),
        "https://c:1280/edge/management/v1"
    );
}

#[test]
fn go_style_writer_round_trips() {
    let pki = ec_pki();
    let sec1 = sec1_of(&pki.leaf_key_pkcs8);
    let id = load(&c_style(&pki, &sec1)).unwrap();
    let written = id.to_json_go_style();
    let v: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(v["ztAPI"], json!("https://127.0.0.1:18441"));
    assert_eq!(v["ztAPIs"], Value::Null);
    assert_eq!(v["configTypes"], Value::Null);
    assert_eq!(v["enableHa"], json!(false));
    for field in ["cert", "key", "ca"] {
        let s = v["id"][field].as_str().unwrap();
        assert!(s.starts_with("pem:-----BEGIN "), "{field}: {s}");
    }
    assert!(v["id"]["key"]
        .as_str()
        .unwrap()
        .starts_with("pem:-----BEGIN EC PRIVATE KEY-----"));
    let again = Identity::from_json(written.as_bytes(), "written").unwrap();
    assert_eq!(again.name(), id.name());
    assert_eq!(again.cert_chain(), id.cert_chain());
    assert_eq!(again.ca_certs(), id.ca_certs());
    assert_eq!(
        again.private_key().secret_der(),
        id.private_key().secret_der()
    );

    // Built from enrollment output.
    let built = Identity::from_pem_parts(
        "https://127.0.0.1:18441",
        PemParts {
            cert: &pki.leaf_pem,
            key: &pki.leaf_key_pkcs8,
            ca: &pki.ca_pem,
        },
        "enrollment",
    )
    .unwrap();
    assert_eq!(built.name(), pki.cn);
    let reread = Identity::from_json(built.to_json_go_style().as_bytes(), "x").unwrap();
    assert_eq!(reread.cert_chain(), built.cert_chain());
}

/// The loaded material completes a real mutual-TLS handshake (in memory).
#[test]
fn loaded_identity_completes_mutual_tls() {
    let pki = ec_pki();
    let id = load(&c_style(&pki, &sec1_of(&pki.leaf_key_pkcs8))).unwrap();

    let server_key = KeyPair::generate().unwrap();
    let server_pem = leaf_signed(
        &pki.ca,
        &server_key,
        Some("controller"),
        vec!["localhost".to_owned()],
    );
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client_verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(id.root_cert_store()),
        provider.clone(),
    )
    .build()
    .unwrap();
    let server_cfg = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(
            vec![pki_der(&server_pem).into()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
        )
        .unwrap();
    let client_cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(id.root_cert_store())
        .with_client_auth_cert(id.cert_chain().to_vec(), id.private_key())
        .unwrap();
    let mut client =
        rustls::ClientConnection::new(Arc::new(client_cfg), "localhost".try_into().unwrap())
            .unwrap();
    let mut server = rustls::ServerConnection::new(Arc::new(server_cfg)).unwrap();
    for _ in 0..20 {
        if !client.is_handshaking() && !server.is_handshaking() {
            break;
        }
        let mut buf = Vec::new();
        client.write_tls(&mut buf).unwrap();
        server.read_tls(&mut buf.as_slice()).unwrap();
        server.process_new_packets().unwrap();
        let mut buf = Vec::new();
        server.write_tls(&mut buf).unwrap();
        client.read_tls(&mut buf.as_slice()).unwrap();
        client.process_new_packets().unwrap();
    }
    assert!(!client.is_handshaking() && !server.is_handshaking());
    let presented = server.peer_certificates().unwrap();
    assert_eq!(presented[0].as_ref(), id.cert_chain()[0].as_ref());
}

// ---------------------------------------------------------------- malformed input

#[test]
fn malformed_json_and_structure() {
    let pki = ec_pki();
    let good = c_style(&pki, &pki.leaf_key_pkcs8);

    let e = Identity::from_json(b"{\"ztAPI\": ", "bad.json").unwrap_err();
    assert!(matches!(e, IdentityError::NotJson { .. }), "{e}");
    assert!(e.to_string().contains("bad.json"), "{e}");
    let e = Identity::from_json(b"\xff\xfe", "bin.json").unwrap_err();
    assert!(matches!(e, IdentityError::NotJson { .. }), "{e}");
    let e = Identity::from_json(b"[1,2]", "arr.json").unwrap_err();
    assert!(matches!(e, IdentityError::WrongType { .. }), "{e}");

    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("id");
    assert!(matches!(err(&v), IdentityError::MissingField { field, .. } if field == "id"));

    let mut v = good.clone();
    v["id"] = json!("pem:...");
    assert!(matches!(err(&v), IdentityError::WrongType { field, .. } if field == "id"));

    for name in ["cert", "key", "ca"] {
        let mut v = good.clone();
        v["id"].as_object_mut().unwrap().remove(name);
        let e = err(&v);
        assert!(
            matches!(&e, IdentityError::MissingField { field, .. } if *field == format!("id.{name}")),
            "{e}"
        );
        let mut v = good.clone();
        v["id"][name] = json!(42);
        let e = err(&v);
        assert!(
            matches!(&e, IdentityError::WrongType { field, found: "a number", .. } if *field == format!("id.{name}")),
            "{e}"
        );
    }

    let mut v = good.clone();
    v["ztAPI"] = json!(1280);
    assert!(matches!(err(&v), IdentityError::WrongType { field, .. } if field == "ztAPI"));
    let mut v = good.clone();
    v["ztAPIs"] = json!("https://a:1");
    assert!(matches!(err(&v), IdentityError::WrongType { field, .. } if field == "ztAPIs"));
    let mut v = good.clone();
    v["ztAPIs"] = json!(["https://a:1", 7]);
    assert!(matches!(err(&v), IdentityError::WrongType { field, .. } if field == "ztAPIs[1]"));
    let mut v = good.clone();
    v["configTypes"] = json!({"a": 1});
    assert!(matches!(err(&v), IdentityError::WrongType { field, .. } if field == "configTypes"));

    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("ztAPI");
    assert!(matches!(err(&v), IdentityError::NoControllerUrl { .. }));
    for bad in [
        "ctrl:1280",
        "",
        "https://",
        "ftp://ctrl:21",
        "https://:1280/x",
    ] {
        let mut v = good.clone();
        v["ztAPI"] = json!(bad);
        let e = err(&v);
        assert!(matches!(&e, IdentityError::BadUrl { .. }), "{bad}: {e}");
    }
}

#[test]
fn pem_of_the_wrong_kind() {
    let pki = ec_pki();
    let mut v = c_style(&pki, &pki.leaf_pem);
    let e = err(&v);
    assert!(
        matches!(&e, IdentityError::WrongPemKind { field, found, .. } if field == "id.key" && found == "CERTIFICATE"),
        "{e}"
    );
    v["id"]["key"] = json!(pki.leaf_key_pkcs8);
    v["id"]["cert"] = json!(pki.leaf_key_pkcs8);
    let e = err(&v);
    assert!(
        matches!(&e, IdentityError::WrongPemKind { field, .. } if field == "id.cert"),
        "{e}"
    );
    v["id"]["cert"] = json!(pki.leaf_pem);
    v["id"]["ca"] = json!(format!("pem:{}", pki.leaf_key_pkcs8));
    let e = err(&v);
    assert!(
        matches!(&e, IdentityError::WrongPemKind { field, .. } if field == "id.ca"),
        "{e}"
    );
    // Encrypted keys are not supported and say what was found.
    v["id"]["ca"] = json!(pki.ca_pem);
    v["id"]["key"] =
        json!("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n");
    let e = err(&v);
    assert!(
        matches!(&e, IdentityError::WrongPemKind { found, .. } if found == "ENCRYPTED PRIVATE KEY"),
        "{e}"
    );
    // Two keys.
    v["id"]["key"] = json!(format!("{}{}", pki.leaf_key_pkcs8, pki.leaf_key_pkcs8));
    assert!(matches!(
        err(&v),
        IdentityError::MultipleKeys { count: 2, .. }
    ));
}

#[test]
fn key_not_matching_certificate() {
    let pki = ec_pki();
    let other = KeyPair::generate().unwrap().serialize_pem();
    let e = err(&c_style(&pki, &other));
    assert!(matches!(e, IdentityError::KeyMismatch { .. }), "{e}");
    assert!(e.to_string().contains("id.key"), "{e}");

    // Chain given CA first: the leaf key does not match the first certificate.
    let mut v = c_style(&pki, &pki.leaf_key_pkcs8);
    v["id"]["cert"] = json!(format!("{}{}", pki.ca_pem, pki.leaf_pem));
    assert!(matches!(err(&v), IdentityError::KeyMismatch { .. }));
}

#[test]
fn missing_referenced_file_names_path_and_field() {
    let pki = ec_pki();
    let dir = TempDir::new();
    let file = json!({
        "ztAPI": "https://ctrl:1280",
        "id": {"cert": pki.leaf_pem, "key": pki.leaf_key_pkcs8, "ca": "file://does/not/exist.pem"}
    });
    let path = dir.write("id.json", &file.to_string());
    let e = Identity::from_file(&path).unwrap_err();
    let IdentityError::ReferencedFile { field, path: p, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(field, "id.ca");
    assert_eq!(p, &dir.0.join("does/not/exist.pem"));
    let msg = e.to_string();
    assert!(
        msg.contains("id.json") && msg.contains("exist.pem"),
        "{msg}"
    );

    let e = Identity::from_file(dir.0.join("absent.json")).unwrap_err();
    assert!(matches!(e, IdentityError::Read { .. }), "{e}");

    // Devices and oversized files are not read without bound.
    let mut v = c_style(&pki, &pki.leaf_key_pkcs8);
    v["id"]["cert"] = json!("/dev/zero");
    let e = err(&v);
    assert!(
        matches!(&e, IdentityError::ReferencedFile { field, .. } if field == "id.cert"),
        "{e}"
    );
    assert!(e.to_string().contains("larger than"), "{e}");

    // A referenced file that is not PEM.
    let junk = dir.write("junk.pem", "hello\n");
    let mut v = c_style(&pki, &pki.leaf_key_pkcs8);
    v["id"]["ca"] = json!(format!("file:{}", junk.display()));
    let e = err(&v);
    assert!(
        matches!(&e, IdentityError::NotPem { field, origin, .. } if field == "id.ca" && origin.contains("junk.pem")),
        "{e}"
    );
}

#[test]
fn empty_ca_rejected() {
    let pki = ec_pki();
    for ca in ["", "pem:", "   ", "pem:\n"] {
        let mut v = c_style(&pki, &pki.leaf_key_pkcs8);
        v["id"]["ca"] = json!(ca);
        let e = err(&v);
        assert!(
            matches!(&e, IdentityError::NotPem { field, .. } if field == "id.ca"),
            "{ca:?}: {e}"
        );
        assert!(e.to_string().contains("not PEM or a file path"), "{e}");
    }
}

#[test]
fn truncated_and_corrupt_pem_rejected() {
    let pki = ec_pki();
    // End line cut off.
    let cut = pki
        .leaf_pem
        .trim_end()
        .rsplit_once('\n')
        .unwrap()
        .0
        .to_owned();
    let mut v = c_style(&pki, &pki.leaf_key_pkcs8);
    v["id"]["cert"] = json!(cut);
    let e = err(&v);
    assert!(
        matches!(&e, IdentityError::PemSyntax { field, .. } if field == "id.cert"),
        "{e}"
    );
    // Cut in the middle of the base64.
    v["id"]["cert"] = json!(&pki.leaf_pem[..pki.leaf_pem.len() / 2]);
    assert!(matches!(err(&v), IdentityError::PemSyntax { .. }));
    // Valid base64 of a truncated DER certificate.
    let der = pki_der(&pki.leaf_pem);
    let short =
        p256::pkcs8::der::pem::encode_string("CERTIFICATE", LineEnding::LF, &der[..der.len() - 40])
            .unwrap();
    v["id"]["cert"] = json!(short);
    let e = err(&v);
    assert!(
        matches!(&e, IdentityError::Certificate { field, index: 0, .. } if field == "id.cert"),
        "{e}"
    );
    // Bad characters in the base64 of the key.
    let bad_key = pki.leaf_key_pkcs8.replacen("M", "!", 1);
    let v = c_style(&pki, &bad_key);
    assert!(matches!(err(&v), IdentityError::PemSyntax { .. }));
}

#[test]
fn engine_urls_and_other_schemes_refused() {
    let pki = ec_pki();
    for (value, scheme) in [
        ("pkcs11:///usr/lib/softhsm.so?id=01", "pkcs11"),
        ("keychain:my-identity", "keychain"),
        ("engine:tpm2?id=1", "engine"),
    ] {
        let e = err(&c_style(&pki, value));
        assert!(
            matches!(&e, IdentityError::UnsupportedEngine { field, scheme: s, .. } if field == "id.key" && s == scheme),
            "{value}: {e}"
        );
        assert!(e.to_string().contains("not supported"), "{e}");
    }
    let mut v = c_style(&pki, &pki.leaf_key_pkcs8);
    v["id"]["ca"] = json!("https://ctrl/.well-known/est/cacerts");
    assert!(
        matches!(err(&v), IdentityError::UnsupportedScheme { scheme, .. } if scheme == "https")
    );
}

#[test]
fn certificate_without_common_name_rejected() {
    let pki = ec_pki();
    let key = KeyPair::generate().unwrap();
    let leaf = leaf_signed(&pki.ca, &key, None, Vec::new());
    let mut v = c_style(&pki, &key.serialize_pem());
    v["id"]["cert"] = json!(leaf);
    assert!(matches!(err(&v), IdentityError::NoCommonName { .. }));
}

#[test]
fn errors_name_file_field_and_fix() {
    let pki = ec_pki();
    let mut v = c_style(&pki, &pki.leaf_key_pkcs8);
    v["id"]["cert"] = json!("pem:not pem at all");
    let e = Identity::from_json(v.to_string().as_bytes(), "x.json").unwrap_err();
    assert_eq!(
        e.to_string(),
        "identity file x.json: field id.cert is not PEM or a file path (expected \"pem:-----BEGIN CERTIFICATE-----…\", \"file:///path\" or a path)"
    );
}

#[test]
fn paths_are_not_confused_with_pem() {
    // A bare path that happens to exist is read; one starting with whitespace-then-BEGIN is PEM.
    let pki = ec_pki();
    let dir = TempDir::new();
    dir.write("cert.pem", &pki.leaf_pem);
    let file = json!({
        "ztAPI": "http://ctrl:1280",
        "id": {"cert": "cert.pem", "key": format!("\n  {}", pki.leaf_key_pkcs8), "ca": pki.ca_pem}
    });
    let path = dir.write("id.json", &file.to_string());
    assert_eq!(
        Identity::from_file(Path::new(&path)).unwrap().name(),
        pki.cn
    );
}
