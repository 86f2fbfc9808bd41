//! In-process labs for tests: one RSA PKI generated once (RSA key generation is slow in debug
//! builds) into the system temp directory and copied into each lab, labs in temp dirs on
//! ephemeral or fixed free loopback ports (or, with a PKI of their own, on another address),
//! optionally with tuned router options, identity files, and dialing a service until its host
//! has bound it. The shared PKI and the lab directories are ziti-lab's own test support
//! (`ziti_lab::test_support`), re-exported here.

use std::path::PathBuf;
use std::time::Duration;

use dark_listener::context::{Context, ContextOptions, DialOptions};
use dark_listener::identity::Identity;
use dark_listener::stream::DarkStream;
use ziti_lab::router::RouterOptions;
use ziti_lab::{
    IdentityDecl, Lab, LabConfig, PolicyType, RunningLab, ServiceDecl, ServicePolicyDecl,
};

// The lab's own test support is the one copy of these; ziti-lab's tests use it directly.
pub use ziti_lab::test_support::{
    copy_shared_pki_into, ephemeral_config, free_loopback_addr, new_lab, shared_pki_dir,
};

/// Services that one group of identities hosts and another dials: what a fixture declares.
#[derive(Debug, Clone, Copy)]
pub struct ServiceGroup<'a> {
    /// The role every service of the group carries (policies name it as `#role`).
    pub service_role: &'a str,
    /// The services: name and whether end-to-end encryption is required.
    pub services: &'a [(&'a str, bool)],
    /// The identities: name and role.
    pub identities: &'a [(&'a str, &'a str)],
    /// The identity role allowed to bind the services (policy `<binders>-bind`).
    pub binders: &'a str,
    /// The identity role allowed to dial the services (policy `<dialers>-dial`).
    pub dialers: &'a str,
}

/// The [`ephemeral_config`] plus `group`'s identities, services and Bind/Dial policies.
pub fn group_config(group: &ServiceGroup<'_>) -> LabConfig {
    let mut config = ephemeral_config();
    for (name, role) in group.identities {
        config.identities.push(IdentityDecl {
            name: (*name).into(),
            roles: vec![(*role).into()],
        });
    }
    for (name, encryption_required) in group.services {
        config.services.push(ServiceDecl {
            name: (*name).into(),
            roles: vec![group.service_role.into()],
            encryption_required: *encryption_required,
            configs: Default::default(),
        });
    }
    for (role, policy_type, suffix) in [
        (group.binders, PolicyType::Bind, "bind"),
        (group.dialers, PolicyType::Dial, "dial"),
    ] {
        config.service_policies.push(ServicePolicyDecl {
            name: format!("{role}-{suffix}"),
            policy_type,
            identities: vec![format!("#{role}")],
            services: vec![format!("#{}", group.service_role)],
        });
    }
    config
}

/// Dials `service` with `options` every 100 ms until its host's bind is in place, for at
/// most `attempts` tries; panics with the last refusal after that.
pub async fn dial_when_bound(
    ctx: &Context,
    service: &str,
    options: DialOptions,
    attempts: u32,
) -> DarkStream {
    let mut last = None;
    for _ in 0..attempts {
        match ctx.dial(service, options.clone()).await {
            Ok(stream) => return stream,
            Err(error) => last = Some(error),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot dial {service} ({options:?}) in {attempts} tries: {last:?}");
}

/// Dial options addressing the terminator hosted by `identity`.
pub fn addressed(identity: &str) -> DialOptions {
    DialOptions {
        terminator_identity: Some(identity.to_string()),
        ..DialOptions::default()
    }
}

/// A running lab in a temp dir, with logged-in contexts for its identities.
pub struct TestLab {
    /// The lab directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// The lab.
    pub lab: Lab,
    /// The running controller and router; `None` while stopped.
    pub running: Option<RunningLab>,
}

impl TestLab {
    /// Initialises a lab with `config` and starts it.
    pub async fn start_with(config: LabConfig) -> Self {
        Self::start_with_router(config, RouterOptions::default()).await
    }

    /// Initialises a lab with `config` and starts it with the router tuned by `options`.
    pub async fn start_with_router(config: LabConfig, options: RouterOptions) -> Self {
        let (dir, lab) = new_lab(config);
        let running = lab.start_with(options).await.unwrap();
        TestLab {
            dir,
            lab,
            running: Some(running),
        }
    }

    /// Initialises a lab with `config` and a PKI of its own, whose server certificates name
    /// the configured addresses (the shared PKI names only 127.0.0.1), and starts it: for
    /// labs served on an address other than loopback, such as a veth of a test namespace.
    pub async fn start_with_own_pki(config: LabConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let lab = Lab::init_with(dir.path(), config).unwrap();
        let running = lab.start().await.unwrap();
        TestLab {
            dir,
            lab,
            running: Some(running),
        }
    }

    /// Writes an identity file for `name` into the lab directory (once) and returns its path.
    pub fn identity_file(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.json"));
        if !path.exists() {
            self.lab.issue_identity_file(name, &path).unwrap();
        }
        path
    }

    /// A context for `name` with default options, logged in (within 20 s).
    pub async fn context(&self, name: &str) -> Context {
        self.context_with(name, ContextOptions::default()).await
    }

    /// A context for `name` with `options`, logged in (within 20 s).
    pub async fn context_with(&self, name: &str, options: ContextOptions) -> Context {
        let identity = Identity::from_file(self.identity_file(name)).unwrap();
        let ctx = Context::with_options(identity, options).unwrap();
        ctx.wait_authenticated(Duration::from_secs(20))
            .await
            .unwrap();
        ctx
    }

    /// Stops the controller and router, keeping the lab directory.
    pub async fn stop_serving(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    /// Starts serving again after [`stop_serving`](Self::stop_serving).
    pub async fn serve_again(&mut self) {
        assert!(self.running.is_none());
        self.running = Some(self.lab.start().await.unwrap());
    }

    /// Stops the lab and removes its directory.
    pub async fn stop(mut self) {
        self.stop_serving().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_declares_identities_services_and_both_policies() {
        let config = group_config(&ServiceGroup {
            service_role: "svc",
            services: &[("a.svc", false), ("b.svc", true)],
            identities: &[("host", "hosts"), ("client", "clients")],
            binders: "hosts",
            dialers: "clients",
        });
        let base = ephemeral_config();
        assert_eq!(config.identities.len(), base.identities.len() + 2);
        let b = config.services.iter().find(|s| s.name == "b.svc").unwrap();
        assert!(b.encryption_required);
        assert_eq!(b.roles, ["svc"]);
        let bind = config
            .service_policies
            .iter()
            .find(|p| p.name == "hosts-bind")
            .unwrap();
        assert!(matches!(bind.policy_type, PolicyType::Bind));
        assert_eq!(bind.identities, ["#hosts"]);
        assert_eq!(bind.services, ["#svc"]);
        let dial = config
            .service_policies
            .iter()
            .find(|p| p.name == "clients-dial")
            .unwrap();
        assert!(matches!(dial.policy_type, PolicyType::Dial));
        assert!(config.router.address.ip().is_loopback());
    }
}
