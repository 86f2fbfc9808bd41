//! Lab state survives a restart, and a second `Lab` opened on the same directory (as
//! `darkscrape lab jwt` / `lab identity` do from another process) affects the running lab.

mod common;

use common::{authenticate, current_api_session, send, ClientTls};
use ziti_lab::test_support::{ephemeral_config, new_lab};
use ziti_lab::Lab;

fn login_body() -> Vec<u8> {
    br#"{"configTypes":["intercept.v1"]}"#.to_vec()
}

#[tokio::test]
async fn api_sessions_certificates_and_ids_survive_a_restart() {
    let (dir, lab) = new_lab(ephemeral_config());
    let running = lab.start().await.unwrap();
    let before = lab.state().identity_by_name("client").unwrap();
    let (cert, key) = lab.state().issue_client_cert("client").unwrap();
    let tls = ClientTls::new(
        lab.state().pki().ca_pem(),
        Some((&cert.cert_pem, &key)),
        false,
    );
    let r = authenticate(&tls, running.controller_addr(), login_body()).await;
    assert_eq!(r.status, 200);
    let token = r.json()["data"]["token"].as_str().unwrap().to_owned();
    running.shutdown().await;
    drop(lab);

    let lab = Lab::open(dir.path()).unwrap();
    let running = lab.start().await.unwrap();
    assert_eq!(lab.state().identity_by_name("client").unwrap(), before);
    // Same token, same certificate: still logged in, config types remembered.
    let r = current_api_session(&tls, running.controller_addr(), &token).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.json()["data"]["configTypes"],
        serde_json::json!(["intercept.v1"])
    );
    // And the certificate still authenticates anew.
    let r = authenticate(&tls, running.controller_addr(), login_body()).await;
    assert_eq!(r.json()["data"]["identity"]["name"], "client");
    running.shutdown().await;
}

#[tokio::test]
async fn credentials_minted_by_a_second_lab_handle_work_in_the_running_lab() {
    let (dir, lab) = new_lab(ephemeral_config());
    let running = lab.start().await.unwrap();

    // "Another process": its own Lab on the same directory.
    let other = Lab::open(dir.path()).unwrap();
    let id_file = dir.path().join("scraper.json");
    other.issue_identity_file("scraper", &id_file).unwrap();
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&id_file).unwrap()).unwrap();
    assert_eq!(file["ztAPI"], running.controller_url());
    let cert = file["id"]["cert"]
        .as_str()
        .unwrap()
        .strip_prefix("pem:")
        .unwrap()
        .to_owned();
    let key = file["id"]["key"]
        .as_str()
        .unwrap()
        .strip_prefix("pem:")
        .unwrap()
        .to_owned();
    let ca = file["id"]["ca"]
        .as_str()
        .unwrap()
        .strip_prefix("pem:")
        .unwrap()
        .to_owned();
    let tls = ClientTls::new(&ca, Some((&cert, &key)), false);
    let r = authenticate(&tls, running.controller_addr(), Vec::new()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["data"]["identity"]["name"], "scraper");

    // A JWT minted by the other handle is accepted by the running lab.
    let jwt = other.enrollment_jwt("reflectz").unwrap();
    let claims_b64 = jwt.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims_b64)
            .unwrap(),
    )
    .unwrap();
    let kp = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&kp)
        .unwrap()
        .pem()
        .unwrap();
    assert_eq!(claims["iss"], running.controller_url());
    let anon = ClientTls::new(&ca, None, false);
    let path = format!(
        "/enroll?method=ott&token={}",
        claims["jti"].as_str().unwrap()
    );
    let r = send(
        &anon,
        running.controller_addr(),
        "POST",
        &path,
        &[("content-type", "text/plain")],
        csr.into_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    running.shutdown().await;
}

/// The inode of `path`, `None` while it does not exist.
fn inode(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

#[tokio::test]
async fn a_burst_of_logins_is_journaled_not_rewritten_and_survives_a_restart() {
    let (dir, lab) = new_lab(ephemeral_config());
    let running = lab.start().await.unwrap();
    let state = lab.state();
    let mut certs = Vec::new();
    for name in ["client", "reflectz"] {
        certs.push(state.issue_client_cert(name).unwrap().0.cert_der);
    }
    let snapshot = dir.path().join("state/api-sessions.json");
    let journal = dir.path().join("state/api-sessions.journal");
    let login = |n: usize| {
        state
            .authenticate(Some(&certs[n % 2]), Vec::new(), "127.0.0.1".into())
            .unwrap()
            .token
    };
    let mut tokens = vec![login(0)];
    let before = inode(&snapshot);
    for n in 1..100 {
        tokens.push(login(n));
    }
    // The snapshot was not rewritten (a rewrite renames a new file into place) ...
    assert_eq!(
        inode(&snapshot),
        before,
        "api-sessions.json rewritten by a login"
    );
    // ... the logins went to the journal, one line each, written off the lock (so wait).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let lines = loop {
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        let lines = text.lines().filter(|l| l.starts_with("{\"put\"")).count();
        if lines == tokens.len() || std::time::Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(lines, tokens.len());

    // Another process opening the lab now (no flush yet) replays the journal.
    let other = Lab::open(dir.path()).unwrap();
    for t in &tokens {
        assert!(
            other.state().api_session_exists(t),
            "session {t} not replayed"
        );
    }
    drop(other);

    // A logout is journaled too, and a clean restart keeps the rest.
    assert!(state.delete_api_session(&tokens[0]).unwrap());
    running.shutdown().await;
    drop(lab);
    let lab = Lab::open(dir.path()).unwrap();
    assert!(!lab.state().api_session_exists(&tokens[0]));
    for t in &tokens[1..] {
        assert!(lab.state().api_session_exists(t), "session {t} lost");
    }
    assert_eq!(
        std::fs::metadata(&journal).unwrap().len(),
        0,
        "not compacted at shutdown"
    );
}
