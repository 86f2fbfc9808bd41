//! The controller client and session keeper against the in-process lab controller
//! (`ziti-lab`, loopback, ephemeral ports): login, identity, services with paging, Dial/Bind
//! sessions and refusals, API session refresh, re-login after the controller forgot the
//! session, and recovery after a controller restart.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use dark_listener::controller::{
    AuthMethod, ControllerClient, ControllerClientOptions, ControllerError, ControllerSession,
    ControllerSessionOptions, SessionType,
};
use dark_listener::identity::Identity;
use dark_listener::tls;
use testbed::lab::copy_shared_pki_into;
use ziti_lab::config::{ControllerConfig, RouterConfig};
use ziti_lab::{IdentityDecl, Lab, LabConfig, PolicyType, ServiceDecl, ServicePolicyDecl};

fn identity(name: &str) -> IdentityDecl {
    IdentityDecl {
        name: name.into(),
        roles: Vec::new(),
    }
}

fn service(name: &str) -> ServiceDecl {
    ServiceDecl {
        name: name.into(),
        roles: vec!["many".into()],
        encryption_required: false,
        configs: Default::default(),
    }
}

fn policy(
    name: &str,
    kind: PolicyType,
    identities: &[&str],
    services: &[&str],
) -> ServicePolicyDecl {
    ServicePolicyDecl {
        name: name.into(),
        policy_type: kind,
        identities: identities.iter().map(|s| s.to_string()).collect(),
        services: services.iter().map(|s| s.to_string()).collect(),
    }
}

/// Identities `host` (Bind+Dial on `echo`, Dial on `metrics`) and `stranger` (no policy);
/// service `secret` nobody may use.
fn base_config(controller: SocketAddr, session_timeout_secs: u64) -> LabConfig {
    LabConfig {
        controller: ControllerConfig {
            address: controller,
            api_session_timeout_secs: session_timeout_secs,
            ..ControllerConfig::default()
        },
        router: RouterConfig {
            address: "127.0.0.1:0".parse().unwrap(),
            ..RouterConfig::default()
        },
        identities: vec![identity("host"), identity("stranger")],
        services: vec![service("echo"), service("metrics"), service("secret")],
        service_policies: vec![
            policy("host-binds-echo", PolicyType::Bind, &["@host"], &["@echo"]),
            policy(
                "host-dials",
                PolicyType::Dial,
                &["@host"],
                &["@echo", "@metrics"],
            ),
        ],
    }
}

struct TestLab {
    _dir: tempfile::TempDir,
    lab: Lab,
    running: ziti_lab::RunningLab,
}

async fn start_lab(config: LabConfig) -> TestLab {
    let dir = tempfile::tempdir().unwrap();
    copy_shared_pki_into(&dir.path().join("lab"));
    let lab = Lab::init_with(&dir.path().join("lab"), config).unwrap_or_else(|_| {
        panic!("lab init failed");
    });
    let running = lab.start().await.unwrap();
    TestLab {
        _dir: dir,
        lab,
        running,
    }
}

impl TestLab {
    fn identity(&self, name: &str) -> Identity {
        let path = self.lab.dir().join(format!("{name}.json"));
        self.lab.issue_identity_file(name, &path).unwrap();
        Identity::from_file(&path).unwrap()
    }

    fn client(&self, name: &str, options: ControllerClientOptions) -> ControllerClient {
        let identity = self.identity(name);
        let tls = tls::client_config(&identity).unwrap();
        ControllerClient::new(identity.zt_api().unwrap(), tls, options).unwrap()
    }
}

fn fast_keeper_options() -> ControllerSessionOptions {
    ControllerSessionOptions {
        // These tests reach into the lab's API session store by the session's token, which
        // only a legacy login hands out; the OIDC keeper is tested in sdk_oidc.rs.
        auth: AuthMethod::Legacy,
        service_poll_interval: Duration::from_millis(200),
        min_refresh_delay: Duration::from_millis(200),
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(800),
        ..ControllerSessionOptions::default()
    }
}

fn local_port_zero() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tokio::test]
async fn login_identity_services_and_sessions() {
    let lab = start_lab(base_config(local_port_zero(), 1800)).await;
    let client = lab.client("host", ControllerClientOptions::default());

    let version = client.version().await.unwrap();
    assert!(!version.version.is_empty());
    assert_eq!(client.api_path(), "/edge/client/v1");

    let err = client.current_identity().await.unwrap_err();
    assert!(
        matches!(err, ControllerError::NotAuthenticated { .. }),
        "{err}"
    );

    let session = client
        .authenticate(&dark_listener::controller::AuthenticateRequest {
            sdk_info: Default::default(),
            env_info: dark_listener::controller::EnvInfo::current(),
            config_types: vec!["all".into()],
        })
        .await
        .unwrap();
    assert!(!session.token.is_empty());
    assert_eq!(session.identity.as_ref().unwrap().name, "host");
    assert_eq!(session.expiration_seconds, Some(1800));

    let me = client.current_identity().await.unwrap();
    assert_eq!(me.name, "host");
    assert_eq!(Some(me.id.as_str()), session.identity_id());

    let refreshed = client.current_api_session().await.unwrap();
    assert_eq!(refreshed.id, session.id);

    let services = client.services(&[]).await.unwrap();
    let names: BTreeSet<&str> = services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["echo", "metrics"]),
        "secret must not be listed"
    );
    let echo = client.service_by_name("echo", &[]).await.unwrap().unwrap();
    assert!(echo.permits(SessionType::Bind) && echo.permits(SessionType::Dial));
    assert!(client
        .service_by_name("secret", &[])
        .await
        .unwrap()
        .is_none());
    assert!(client
        .service_by_name("no such svc", &[])
        .await
        .unwrap()
        .is_none());

    let updates = client.service_updates().await.unwrap();
    assert!(!updates.last_change_at.is_empty());

    for kind in [SessionType::Dial, SessionType::Bind] {
        let s = client.create_session(&echo.id, kind).await.unwrap();
        assert_eq!(s.kind, Some(kind));
        // A JWT, as 2.x controllers answer; the SDK passes it on untouched.
        assert!(s.token.starts_with("ey"), "{}", s.token);
        assert_eq!(s.token.split('.').count(), 3);
        let router = s.edge_routers[0].tls_address().unwrap();
        assert_eq!(router.port, lab.running.router_addr().port());
        let again = client.session(&s.id).await.unwrap();
        assert_eq!(again.token, s.token);
    }

    // The controller's refusals, typed.
    let metrics = client
        .service_by_name("metrics", &[])
        .await
        .unwrap()
        .unwrap();
    let err = client
        .create_session(&metrics.id, SessionType::Bind)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.code().is_some(), "{err}");
    let secret_id = ziti_lab::state::derive_id("service", "secret");
    let err = client
        .create_session(&secret_id, SessionType::Dial)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = client.session("no-such-session").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");

    // Logout: the token is gone at the controller.
    let token = client.token().unwrap();
    client.logout().await.unwrap();
    assert!(client.token().is_none());
    assert!(lab.running.state().touch_api_session(&token).is_none());

    lab.running.shutdown().await;
}

#[tokio::test]
async fn identity_without_policy_and_path_in_zt_api() {
    let lab = start_lab(base_config(local_port_zero(), 1800)).await;
    let identity = lab.identity("stranger");
    let tls = tls::client_config(&identity).unwrap();
    // ztAPI as Go writes it, with the client API path.
    let url = format!("{}/edge/client/v1", identity.zt_api().unwrap());
    let client = ControllerClient::new(&url, tls, ControllerClientOptions::default()).unwrap();
    let keeper = ControllerSession::start(client, fast_keeper_options());
    let session = keeper
        .wait_authenticated(Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(session.identity.unwrap().name, "stranger");
    let err = keeper
        .create_session("echo", SessionType::Dial)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ControllerError::ServiceNotFound { .. }),
        "{err}"
    );
    keeper.shutdown(Duration::from_secs(5)).await.unwrap();
    lab.running.shutdown().await;
}

#[tokio::test]
async fn services_are_paged() {
    let mut config = base_config(local_port_zero(), 1800);
    for i in 0..60 {
        config.services.push(service(&format!("bulk-{i:02}")));
    }
    config.service_policies.push(policy(
        "host-dials-many",
        PolicyType::Dial,
        &["@host"],
        &["#many"],
    ));
    let lab = start_lab(config).await;
    let options = ControllerClientOptions {
        page_size: 25,
        ..ControllerClientOptions::default()
    };
    let client = lab.client("host", options);
    client.version().await.unwrap();
    client
        .authenticate(&dark_listener::controller::AuthenticateRequest {
            sdk_info: Default::default(),
            env_info: dark_listener::controller::EnvInfo::current(),
            config_types: Vec::new(),
        })
        .await
        .unwrap();
    let services = client.services(&["all".to_string()]).await.unwrap();
    let names: BTreeSet<String> = services.iter().map(|s| s.name.clone()).collect();
    // echo, metrics, secret and bulk-00..59 all carry role "many".
    assert_eq!(services.len(), 63, "duplicates or missing pages");
    assert_eq!(names.len(), 63);
    assert!(names.contains("bulk-59") && names.contains("secret"));
    lab.running.shutdown().await;
}

#[tokio::test]
async fn keeper_refreshes_before_expiry_and_relogs_when_forgotten() {
    // 3 s API sessions; the service poll is slow so only refreshes keep the session alive.
    let lab = start_lab(base_config(local_port_zero(), 3)).await;
    let client = lab.client("host", ControllerClientOptions::default());
    let options = ControllerSessionOptions {
        service_poll_interval: Duration::from_secs(600),
        ..fast_keeper_options()
    };
    let keeper = ControllerSession::start(client, options);
    let first = keeper
        .wait_authenticated(Duration::from_secs(10))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let snap = keeper.snapshot();
    assert_eq!(
        snap.logins, 1,
        "the session should have been refreshed, not re-created"
    );
    assert!(lab
        .running
        .state()
        .touch_api_session(&first.token)
        .is_some());
    assert_eq!(snap.services.len(), 2);

    // The controller forgets the session: the next call gets 401, the keeper logs in again,
    // the call is retried and succeeds.
    assert!(lab
        .running
        .state()
        .delete_api_session(&first.token)
        .unwrap());
    let dial = keeper
        .create_session("echo", SessionType::Dial)
        .await
        .unwrap();
    assert!(!dial.token.is_empty());
    let snap = keeper.snapshot();
    assert_eq!(snap.logins, 2);
    let second = snap.api_session.unwrap();
    assert_ne!(second.token, first.token);

    // A refusal that is not about the session is passed through untouched.
    let err = keeper
        .create_session("metrics", SessionType::Bind)
        .await
        .unwrap_err();
    assert!(matches!(err, ControllerError::NotPermitted { .. }), "{err}");

    let token = second.token.clone();
    keeper.shutdown(Duration::from_secs(5)).await.unwrap();
    assert!(
        lab.running.state().touch_api_session(&token).is_none(),
        "logout on shutdown"
    );
    lab.running.shutdown().await;
}

#[tokio::test]
async fn keeper_survives_a_controller_restart() {
    // A fixed port, so the restarted controller is found at the same URL.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let lab = start_lab(base_config(port, 1800)).await;
    let client = lab.client("host", ControllerClientOptions::default());
    let keeper = ControllerSession::start(client, fast_keeper_options());
    let first = keeper
        .wait_authenticated(Duration::from_secs(10))
        .await
        .unwrap();
    let mut rx = keeper.subscribe();

    let TestLab { _dir, lab, running } = lab;
    let state = running.state();
    running.shutdown().await;
    // The keeper notices (a failed poll or refresh)...
    tokio::time::timeout(
        Duration::from_secs(10),
        rx.wait_for(|s| s.last_error.is_some()),
    )
    .await
    .expect("keeper did not notice the controller going away")
    .unwrap();
    // ...and the controller comes back without the session, like one that lost its store.
    assert!(state.delete_api_session(&first.token).unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let running = lab.start().await.unwrap();
    assert_eq!(running.controller_addr(), port);

    tokio::time::timeout(Duration::from_secs(15), rx.wait_for(|s| s.logins >= 2))
        .await
        .expect("keeper did not log in again after the restart")
        .unwrap();
    let session = keeper
        .create_session("echo", SessionType::Bind)
        .await
        .unwrap();
    assert!(!session.token.is_empty());
    keeper.shutdown(Duration::from_secs(5)).await.unwrap();
    running.shutdown().await;
}

#[tokio::test]
async fn unreachable_controller_is_reported_with_its_cause() {
    let lab = start_lab(base_config(local_port_zero(), 1800)).await;
    let identity = lab.identity("host");
    lab.running.shutdown().await;
    // Nothing listens on this port any more.
    let url = identity.zt_api().unwrap().to_string();
    let tls = tls::client_config(&identity).unwrap();
    let options = ControllerClientOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(3),
        ..ControllerClientOptions::default()
    };
    let client = ControllerClient::new(&url, tls, options).unwrap();
    let err = client.version().await.unwrap_err();
    assert!(err.is_transport(), "{err}");
    let keeper = ControllerSession::start(client, fast_keeper_options());
    let err = keeper
        .wait_authenticated(Duration::from_millis(1500))
        .await
        .unwrap_err();
    match err {
        ControllerError::NotReady { last_error, .. } => {
            assert!(last_error.contains("unreachable"), "{last_error}");
            assert!(
                last_error.to_lowercase().contains("refused"),
                "{last_error}"
            );
        }
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn controller_certificate_is_verified_against_the_identity_ca() {
    let lab = start_lab(base_config(local_port_zero(), 1800)).await;
    let identity = lab.identity("host");
    let url = identity.zt_api().unwrap().to_string();

    // A CA bundle that did not issue the controller certificate.
    let other_key = rcgen::KeyPair::generate().unwrap();
    let mut other_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    other_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let other_ca = other_params.self_signed(&other_key).unwrap();
    let tls = tls::client_config_from_parts(
        identity.cert_chain().to_vec(),
        identity.private_key(),
        &[other_ca.der().clone()],
    )
    .unwrap();
    let client = ControllerClient::new(&url, tls, ControllerClientOptions::default()).unwrap();
    let err = client.version().await.unwrap_err();
    let text = dark_listener::controller::error_chain(&err);
    assert!(err.is_transport(), "{text}");
    assert!(text.contains("UnknownIssuer"), "{text}");
    lab.running.shutdown().await;

    // The right CA, but the certificate does not name the host we connect to: a lab on
    // 127.0.0.2 serving a certificate for 127.0.0.1/localhost.
    let lab = start_lab(base_config("127.0.0.2:0".parse().unwrap(), 1800)).await;
    let identity = lab.identity("host");
    assert!(identity.zt_api().unwrap().contains("127.0.0.2"));
    let client = ControllerClient::new(
        identity.zt_api().unwrap(),
        tls::client_config(&identity).unwrap(),
        ControllerClientOptions::default(),
    )
    .unwrap();
    let err = client.version().await.unwrap_err();
    let text = dark_listener::controller::error_chain(&err);
    assert!(text.contains("not valid for name"), "{text}");
    lab.running.shutdown().await;
}

#[tokio::test]
async fn keeper_follows_service_list_changes() {
    let lab = start_lab(base_config(local_port_zero(), 1800)).await;
    let client = lab.client("host", ControllerClientOptions::default());
    let keeper = ControllerSession::start(client, fast_keeper_options());
    keeper
        .wait_authenticated(Duration::from_secs(10))
        .await
        .unwrap();
    let mut rx = keeper.subscribe();
    tokio::time::timeout(
        Duration::from_secs(10),
        rx.wait_for(|s| s.services.len() == 2),
    )
    .await
    .unwrap()
    .unwrap();
    let before = keeper.snapshot().services_changed_at;

    // A new service and policy in the running lab: service-updates moves, the keeper re-lists.
    lab.lab.add_service(service("late")).unwrap();
    lab.lab
        .add_service_policy(policy(
            "host-dials-late",
            PolicyType::Dial,
            &["@host"],
            &["@late"],
        ))
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        rx.wait_for(|s| s.services.contains_key("late")),
    )
    .await
    .expect("the keeper did not pick up the new service")
    .unwrap();
    assert_ne!(keeper.snapshot().services_changed_at, before);
    let late = keeper.service("late").await.unwrap();
    assert!(late.permits(SessionType::Dial) && !late.permits(SessionType::Bind));
    keeper.shutdown(Duration::from_secs(5)).await.unwrap();
    lab.running.shutdown().await;
}

#[tokio::test]
async fn oversized_answers_and_silent_servers_are_bounded() {
    let lab = start_lab(base_config(local_port_zero(), 1800)).await;
    let identity = lab.identity("host");
    let small = ControllerClientOptions {
        max_body_bytes: 64,
        ..ControllerClientOptions::default()
    };
    let client = ControllerClient::new(
        identity.zt_api().unwrap(),
        tls::client_config(&identity).unwrap(),
        small,
    )
    .unwrap();
    let err = client.version().await.unwrap_err();
    assert!(
        matches!(
            err,
            ControllerError::Transport(dark_listener::controller::TransportError::BodyTooLarge {
                limit: 64,
                ..
            })
        ),
        "{err}"
    );
    lab.running.shutdown().await;

    // A server that accepts TCP and then says nothing.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
            if held.len() > 8 {
                break;
            }
        }
    });
    let quick = ControllerClientOptions {
        request_timeout: Duration::from_millis(500),
        ..ControllerClientOptions::default()
    };
    let client = ControllerClient::new(
        &format!("https://{addr}"),
        tls::client_config(&identity).unwrap(),
        quick,
    )
    .unwrap();
    let started = std::time::Instant::now();
    let err = client.version().await.unwrap_err();
    assert!(
        matches!(
            err,
            ControllerError::Transport(dark_listener::controller::TransportError::Timeout { .. })
        ),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    hold.abort();
}
