//! One-time-token enrollment against the in-process lab controller (`ziti-lab`, loopback,
//! ephemeral ports): a JWT becomes an identity that then logs in; a tampered JWT, an expired
//! JWT and a reused token are refused with errors that say so; and the identity file we
//! write is accepted by the real C SDK (PyPI `openziti` 0.6.0, C SDK 0.29.3).
use base64::Engine as _;
use dark_listener::controller::{
    AuthenticateRequest, ControllerClient, ControllerClientOptions, EnvInfo,
};
use dark_listener::enroll::{enroll, EnrollError, EnrollOptions, EnrollmentJwt};
use dark_listener::identity::Identity;
use dark_listener::tls;
use testbed::lab::copy_shared_pki_into;
use testbed::peers::peer_python;
use ziti_lab::config::{ControllerConfig, RouterConfig};
use ziti_lab::{IdentityDecl, Lab, LabConfig};

async fn start_lab(enrollment_ttl_secs: u64) -> (tempfile::TempDir, Lab, ziti_lab::RunningLab) {
    let dir = tempfile::tempdir().unwrap();
    copy_shared_pki_into(&dir.path().join("lab"));
    let config = LabConfig {
        controller: ControllerConfig {
            address: "127.0.0.1:0".parse().unwrap(),
            enrollment_ttl_secs,
            ..ControllerConfig::default()
        },
        router: RouterConfig {
            address: "127.0.0.1:0".parse().unwrap(),
            ..RouterConfig::default()
        },
        identities: vec![
            IdentityDecl {
                name: "newbie".into(),
                roles: Vec::new(),
            },
            IdentityDecl {
                name: "other".into(),
                roles: Vec::new(),
            },
        ],
        // The C SDK's load() waits for a first non-empty service list.
        services: vec![ziti_lab::ServiceDecl {
            name: "echo".into(),
            roles: Vec::new(),
            encryption_required: false,
            configs: Default::default(),
        }],
        service_policies: vec![ziti_lab::ServicePolicyDecl {
            name: "newbie-dials-echo".into(),
            policy_type: ziti_lab::PolicyType::Dial,
            identities: vec!["@newbie".into()],
            services: vec!["@echo".into()],
        }],
    };
    let lab = Lab::init_with(&dir.path().join("lab"), config).unwrap();
    let running = lab.start().await.unwrap();
    (dir, lab, running)
}

#[tokio::test]
async fn enrolled_identity_logs_in() {
    let (dir, lab, running) = start_lab(600).await;
    let jwt = lab.enrollment_jwt("newbie").unwrap();
    let parsed = EnrollmentJwt::parse(&jwt).unwrap();
    assert_eq!(parsed.claims.iss, running.controller_url());

    let enrolled = enroll(&jwt, &EnrollOptions::default()).await.unwrap();
    assert_eq!(enrolled.zt_api, running.controller_url());
    assert!(enrolled.key_pem.contains("PRIVATE KEY"));

    let path = dir.path().join("newbie.json");
    std::fs::write(&path, enrolled.to_json_go_style()).unwrap();
    let identity = Identity::from_file(&path).unwrap();
    assert_eq!(identity.name(), parsed.claims.sub);

    let client = ControllerClient::new(
        identity.zt_api().unwrap(),
        tls::client_config(&identity).unwrap(),
        ControllerClientOptions::default(),
    )
    .unwrap();
    client.version().await.unwrap();
    let session = client
        .authenticate(&AuthenticateRequest {
            sdk_info: Default::default(),
            env_info: EnvInfo::current(),
            config_types: Vec::new(),
        })
        .await
        .unwrap();
    assert_eq!(session.identity.unwrap().name, "newbie");

    // The token was one-time: using it again is refused by the controller, with its code.
    let err = enroll(&jwt, &EnrollOptions::default()).await.unwrap_err();
    match &err {
        EnrollError::Refused { status, code, .. } => {
            assert!((400..500).contains(status), "{err}");
            assert!(!code.is_empty(), "{err}");
        }
        other => panic!("unexpected {other}"),
    }
    running.shutdown().await;
}

#[tokio::test]
async fn tampered_jwt_is_refused_before_enrolling() {
    let (_dir, lab, running) = start_lab(600).await;
    let jwt = lab.enrollment_jwt("newbie").unwrap();
    let other = EnrollmentJwt::parse(&lab.enrollment_jwt("other").unwrap()).unwrap();
    // Swap the subject for another identity's id, keep the signature.
    let parts: Vec<&str> = jwt.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: serde_json::Value =
        serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = other.claims.sub.clone().into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(serde_json::to_vec(&claims).unwrap()),
        parts[2]
    );
    let err = enroll(&tampered, &EnrollOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, EnrollError::SignatureMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("altered"), "{err}");

    // A flipped signature byte is refused too.
    let mut sig = b64.decode(parts[2]).unwrap();
    sig[10] ^= 0x01;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], b64.encode(sig));
    let err = enroll(&flipped, &EnrollOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, EnrollError::SignatureMismatch { .. }),
        "{err}"
    );

    // The untouched token still works: nothing was spent by the refusals.
    enroll(&jwt, &EnrollOptions::default()).await.unwrap();
    running.shutdown().await;
}

#[tokio::test]
async fn expired_jwt_is_refused() {
    let (_dir, lab, running) = start_lab(0).await;
    let jwt = lab.enrollment_jwt("newbie").unwrap();
    let err = enroll(&jwt, &EnrollOptions::default()).await.unwrap_err();
    assert!(matches!(err, EnrollError::Expired { .. }), "{err}");
    assert!(err.to_string().contains("new one"), "{err}");
    running.shutdown().await;
}

#[tokio::test]
async fn enrolled_identity_is_accepted_by_the_c_sdk() {
    let (dir, lab, running) = start_lab(600).await;
    let jwt = lab.enrollment_jwt("newbie").unwrap();
    let enrolled = enroll(&jwt, &EnrollOptions::default()).await.unwrap();
    let path = dir.path().join("newbie.json");
    std::fs::write(&path, enrolled.to_json_go_style()).unwrap();

    let script = "import sys, openziti\n\
                  ctx = openziti.load(sys.argv[1])\n\
                  print('loaded', flush=True)\n";
    let child = tokio::process::Command::new(peer_python())
        .arg("-c")
        .arg(script)
        .arg(&path)
        .env("ZITI_LOG", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the C SDK did not finish loading the identity within 30 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("loaded"),
        "C SDK could not load our identity: status {:?}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // It logged in with the enrolled certificate.
    let id = EnrollmentJwt::parse(&jwt).unwrap().claims.sub;
    assert!(!running.state().api_sessions_of(&id).is_empty());
    running.shutdown().await;
}
