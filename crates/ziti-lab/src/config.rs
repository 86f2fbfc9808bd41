//! `lab.toml`: the declared shape of a lab (addresses, identities, services, service policies)
//! and the policy matching rules (`@name`, `#role`, `#all`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::LabError;

/// Default controller address.
pub const DEFAULT_CONTROLLER_ADDRESS: &str = "127.0.0.1:1280";
/// Default edge router address.
pub const DEFAULT_ROUTER_ADDRESS: &str = "127.0.0.1:3022";
/// Default API session timeout (idle time after which an API session expires), in seconds.
pub const DEFAULT_API_SESSION_TIMEOUT_SECS: u64 = 30 * 60;
/// Default lifetime of an enrollment JWT, in seconds.
pub const DEFAULT_ENROLLMENT_TTL_SECS: u64 = 24 * 60 * 60;
/// Default bound on one identity's live API sessions. Each SDK process (`darkscrape dial`,
/// an exporter, a test's `Context`) holds one API session, and a test or a soak may run
/// hundreds of processes with one identity, so the bound sits above that: 1,024. It stays far
/// below the lab's global cap ([`crate::state::MAX_API_SESSIONS`], 10,000): one identity
/// logging in in a loop ends its own least recently used sessions and leaves 8,976 places to
/// the others; it would take ten identities flooding at once to fill the pool.
pub const DEFAULT_MAX_API_SESSIONS_PER_IDENTITY: usize = 1024;

/// The whole `lab.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LabConfig {
    /// The controller section.
    #[serde(default)]
    pub controller: ControllerConfig,
    /// The edge router section.
    #[serde(default)]
    pub router: RouterConfig,
    /// Declared identities.
    #[serde(default, rename = "identity")]
    pub identities: Vec<IdentityDecl>,
    /// Declared services.
    #[serde(default, rename = "service")]
    pub services: Vec<ServiceDecl>,
    /// Declared service policies.
    #[serde(default, rename = "service_policy")]
    pub service_policies: Vec<ServicePolicyDecl>,
}

/// `[controller]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ControllerConfig {
    /// Listening address of the edge client API. Port 0 picks a free port at start.
    #[serde(default = "default_controller_address")]
    pub address: SocketAddr,
    /// Host name put into URLs (`ztAPI`, JWT `iss`) and certificate SANs. Defaults to the
    /// address' IP (or `127.0.0.1` for an unspecified address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Idle timeout of API sessions, seconds.
    #[serde(default = "default_api_session_timeout")]
    pub api_session_timeout_secs: u64,
    /// Lifetime of enrollment JWTs, seconds.
    #[serde(default = "default_enrollment_ttl")]
    pub enrollment_ttl_secs: u64,
    /// Most live API sessions one identity holds; a login beyond it ends that identity's least
    /// recently used API session (as a logout would). At least 1.
    #[serde(default = "default_max_api_sessions_per_identity")]
    pub max_api_sessions_per_identity: usize,
    /// Whether the controller serves the `edge-oidc` API under `/oidc` and advertises it in
    /// `/version` (`OIDC_AUTH`), as ziti 2.x controllers do by default. Legacy
    /// `/authenticate` stays available either way.
    #[serde(default = "default_oidc")]
    pub oidc: bool,
    /// Lifetime of OIDC access tokens, seconds (ziti 2.x: 30 min).
    #[serde(default = "default_oidc_access_token")]
    pub oidc_access_token_secs: u64,
    /// Lifetime of OIDC refresh tokens, seconds (ziti 2.x: 24 h).
    #[serde(default = "default_oidc_refresh_token")]
    pub oidc_refresh_token_secs: u64,
}

/// `[router]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// Listening address of the edge router. Port 0 picks a free port at start.
    #[serde(default = "default_router_address")]
    pub address: SocketAddr,
    /// Name of the router as listed by the controller.
    #[serde(default = "default_router_name")]
    pub name: String,
    /// Host name put into `tls://host:port` router URLs and the router certificate SANs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// `[[identity]]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IdentityDecl {
    /// Unique name.
    pub name: String,
    /// Role attributes, matched by `#role` in policies.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `[[service]]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceDecl {
    /// Unique name.
    pub name: String,
    /// Role attributes, matched by `#role` in policies.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Whether end-to-end encryption is required between the SDKs.
    #[serde(default)]
    pub encryption_required: bool,
    /// Config-type name → config object (e.g. `intercept.v1`). A string value is parsed as JSON.
    #[serde(default)]
    pub configs: BTreeMap<String, serde_json::Value>,
}

/// Which right a service policy grants.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyType {
    /// The identity may dial (connect to) the service.
    Dial,
    /// The identity may bind (host) the service.
    Bind,
}

impl PolicyType {
    /// The wire name, `Dial` or `Bind`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::Dial => "Dial",
            PolicyType::Bind => "Bind",
        }
    }
}

/// `[[service_policy]]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServicePolicyDecl {
    /// Unique name.
    pub name: String,
    /// Dial or Bind.
    #[serde(rename = "type")]
    pub policy_type: PolicyType,
    /// Identity selectors: `@name`, `#role` or `#all`.
    pub identities: Vec<String>,
    /// Service selectors: `@name`, `#role` or `#all`.
    pub services: Vec<String>,
}

fn default_controller_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 1280))
}
fn default_router_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 3022))
}
fn default_router_name() -> String {
    "lab-router".to_owned()
}
fn default_api_session_timeout() -> u64 {
    DEFAULT_API_SESSION_TIMEOUT_SECS
}
fn default_enrollment_ttl() -> u64 {
    DEFAULT_ENROLLMENT_TTL_SECS
}
fn default_max_api_sessions_per_identity() -> usize {
    DEFAULT_MAX_API_SESSIONS_PER_IDENTITY
}

/// Whether OIDC is on when `lab.toml` does not say.
pub const DEFAULT_OIDC: bool = true;
/// Default OIDC access token lifetime, seconds (`common/oidc_tokens.go`).
pub const DEFAULT_OIDC_ACCESS_TOKEN_SECS: u64 = 30 * 60;
/// Default OIDC refresh token lifetime, seconds (`common/oidc_tokens.go`).
pub const DEFAULT_OIDC_REFRESH_TOKEN_SECS: u64 = 24 * 3600;

fn default_oidc() -> bool {
    DEFAULT_OIDC
}

fn default_oidc_access_token() -> u64 {
    DEFAULT_OIDC_ACCESS_TOKEN_SECS
}

fn default_oidc_refresh_token() -> u64 {
    DEFAULT_OIDC_REFRESH_TOKEN_SECS
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            address: default_controller_address(),
            host: None,
            api_session_timeout_secs: DEFAULT_API_SESSION_TIMEOUT_SECS,
            enrollment_ttl_secs: DEFAULT_ENROLLMENT_TTL_SECS,
            max_api_sessions_per_identity: DEFAULT_MAX_API_SESSIONS_PER_IDENTITY,
            oidc: DEFAULT_OIDC,
            oidc_access_token_secs: DEFAULT_OIDC_ACCESS_TOKEN_SECS,
            oidc_refresh_token_secs: DEFAULT_OIDC_REFRESH_TOKEN_SECS,
        }
    }
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            address: default_router_address(),
            name: default_router_name(),
            host: None,
        }
    }
}

/// Host name for URLs of a listener: the explicit host, else the IP of the address
/// (`127.0.0.1` when the address is unspecified).
pub(crate) fn advertised_host(host: &Option<String>, addr: SocketAddr) -> String {
    match host {
        Some(h) => h.clone(),
        None if addr.ip().is_unspecified() => "127.0.0.1".to_owned(),
        None => match addr.ip() {
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        },
    }
}

/// Strips IPv6 brackets from a host for use in certificate SANs.
pub(crate) fn san_host(host: &str) -> &str {
    host.trim_start_matches('[').trim_end_matches(']')
}

impl LabConfig {
    /// Parses `lab.toml` text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, LabError> {
        let mut config: LabConfig = toml::from_str(text).map_err(|e| LabError::Config {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.normalise_configs(path)?;
        config.validate(path)?;
        Ok(config)
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, LabError> {
        let text = std::fs::read_to_string(path).map_err(|e| LabError::io("read", path, e))?;
        Self::parse(&text, path)
    }

    /// Serialises the configuration as TOML.
    pub fn to_toml(&self) -> Result<String, LabError> {
        toml::to_string_pretty(self).map_err(|e| LabError::Config {
            path: "lab.toml".into(),
            message: format!("cannot serialise: {e}"),
        })
    }

    fn normalise_configs(&mut self, path: &Path) -> Result<(), LabError> {
        for svc in &mut self.services {
            for (ty, value) in svc.configs.iter_mut() {
                if let serde_json::Value::String(text) = value {
                    *value = serde_json::from_str(text).map_err(|e| LabError::Config {
                        path: path.to_owned(),
                        message: format!(
                            "service {:?}: config {ty:?} is a string but not valid JSON: {e}",
                            svc.name
                        ),
                    })?;
                }
                if !value.is_object() {
                    return Err(LabError::Config {
                        path: path.to_owned(),
                        message: format!(
                            "service {:?}: config {ty:?} must be a table/object",
                            svc.name
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Checks names are unique and non-empty and policy selectors are well formed.
    pub fn validate(&self, path: &Path) -> Result<(), LabError> {
        let bad = |message: String| LabError::Config {
            path: path.to_owned(),
            message,
        };
        if self.controller.max_api_sessions_per_identity == 0 {
            return Err(bad(
                "controller.max_api_sessions_per_identity is 0, so no identity could log in; \
                 set it to 1 or more (default 1024)"
                    .to_owned(),
            ));
        }
        check_unique("identity", self.identities.iter().map(|i| &i.name), path)?;
        check_unique("service", self.services.iter().map(|s| &s.name), path)?;
        check_unique(
            "service_policy",
            self.service_policies.iter().map(|p| &p.name),
            path,
        )?;
        for p in &self.service_policies {
            for sel in p.identities.iter().chain(p.services.iter()) {
                Selector::parse(sel)
                    .map_err(|m| bad(format!("service_policy {:?}: {m}", p.name)))?;
            }
        }
        Ok(())
    }

    /// The declared identity called `name`, or an error listing the declared ones.
    pub fn identity(&self, name: &str) -> Result<&IdentityDecl, LabError> {
        self.identities
            .iter()
            .find(|i| i.name == name)
            .ok_or_else(|| LabError::UnknownIdentity {
                name: name.to_owned(),
                known: self.identities.iter().map(|i| i.name.clone()).collect(),
            })
    }

    /// Which rights (`Dial`, `Bind`) `identity` has on `service`, sorted (Bind before Dial).
    pub fn permissions(&self, identity: &IdentityDecl, service: &ServiceDecl) -> Vec<PolicyType> {
        let mut out: Vec<PolicyType> = self
            .service_policies
            .iter()
            .filter(|p| {
                p.identities
                    .iter()
                    .any(|s| Selector::matches_str(s, &identity.name, &identity.roles))
                    && p.services
                        .iter()
                        .any(|s| Selector::matches_str(s, &service.name, &service.roles))
            })
            .map(|p| p.policy_type)
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The starter configuration written by `lab init`.
    pub fn starter() -> Self {
        let mut intercept = serde_json::Map::new();
        intercept.insert("protocols".into(), serde_json::json!(["tcp"]));
        intercept.insert("addresses".into(), serde_json::json!(["echo.ziti"]));
        intercept.insert(
            "portRanges".into(),
            serde_json::json!([{"low": 7, "high": 7}]),
        );
        let mut configs = BTreeMap::new();
        configs.insert(
            "intercept.v1".to_owned(),
            serde_json::Value::Object(intercept),
        );
        LabConfig {
            controller: ControllerConfig::default(),
            router: RouterConfig::default(),
            identities: vec![
                IdentityDecl {
                    name: "reflectz".into(),
                    roles: vec!["workload".into()],
                },
                IdentityDecl {
                    name: "scraper".into(),
                    roles: vec!["scraper".into()],
                },
                IdentityDecl {
                    name: "client".into(),
                    roles: vec!["client".into()],
                },
            ],
            services: vec![ServiceDecl {
                name: "echo".into(),
                roles: vec!["demo".into()],
                encryption_required: false,
                configs,
            }],
            service_policies: vec![
                ServicePolicyDecl {
                    name: "workloads-bind-demo".into(),
                    policy_type: PolicyType::Bind,
                    identities: vec!["#workload".into()],
                    services: vec!["#demo".into()],
                },
                ServicePolicyDecl {
                    name: "clients-dial-demo".into(),
                    policy_type: PolicyType::Dial,
                    identities: vec!["#client".into(), "#scraper".into()],
                    services: vec!["#demo".into()],
                },
            ],
        }
    }
}

fn check_unique<'a>(
    kind: &str,
    names: impl Iterator<Item = &'a String>,
    path: &Path,
) -> Result<(), LabError> {
    let mut seen = std::collections::BTreeSet::new();
    for n in names {
        if n.is_empty() {
            return Err(LabError::Config {
                path: path.to_owned(),
                message: format!("a {kind} has an empty name"),
            });
        }
        if !seen.insert(n.as_str()) {
            return Err(LabError::Config {
                path: path.to_owned(),
                message: format!("{kind} {n:?} is declared twice"),
            });
        }
    }
    Ok(())
}

/// A policy selector: `@name`, `#role` or `#all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector<'a> {
    /// `#all`: every entity.
    All,
    /// `#role`: entities carrying the role.
    Role(&'a str),
    /// `@name`: the entity with that name.
    Named(&'a str),
}

impl<'a> Selector<'a> {
    /// Parses a selector; the error says what form is expected.
    pub fn parse(text: &'a str) -> Result<Self, String> {
        if text == "#all" {
            Ok(Selector::All)
        } else if let Some(role) = text.strip_prefix('#').filter(|r| !r.is_empty()) {
            Ok(Selector::Role(role))
        } else if let Some(name) = text.strip_prefix('@').filter(|n| !n.is_empty()) {
            Ok(Selector::Named(name))
        } else {
            Err(format!(
                "selector {text:?} must be \"@name\", \"#role\" or \"#all\""
            ))
        }
    }

    /// Whether the selector picks an entity with that name and roles.
    pub fn matches(&self, name: &str, roles: &[String]) -> bool {
        match self {
            Selector::All => true,
            Selector::Role(r) => roles.iter().any(|x| x == r),
            Selector::Named(n) => *n == name,
        }
    }

    fn matches_str(text: &str, name: &str, roles: &[String]) -> bool {
        Selector::parse(text).is_ok_and(|s| s.matches(name, roles))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LabConfig, LabError> {
        LabConfig::parse(text, Path::new("lab.toml"))
    }

    #[test]
    fn defaults_apply_to_an_empty_file() {
        let c = parse("").unwrap();
        assert_eq!(c.controller.address.to_string(), DEFAULT_CONTROLLER_ADDRESS);
        assert_eq!(c.router.address.to_string(), DEFAULT_ROUTER_ADDRESS);
        assert_eq!(c.controller.api_session_timeout_secs, 1800);
    }

    #[test]
    fn starter_round_trips_through_toml() {
        let s = LabConfig::starter();
        let text = s.to_toml().unwrap();
        assert_eq!(parse(&text).unwrap(), s);
    }

    #[test]
    fn policies_grant_by_name_role_and_all() {
        let c = parse(
            r##"
            [[identity]]
            name = "a"
            roles = ["web"]
            [[identity]]
            name = "b"
            [[service]]
            name = "s1"
            roles = ["metrics"]
            [[service]]
            name = "s2"
            [[service_policy]]
            name = "p1"
            type = "Bind"
            identities = ["#web"]
            services = ["#metrics"]
            [[service_policy]]
            name = "p2"
            type = "Dial"
            identities = ["@b"]
            services = ["#all"]
            "##,
        )
        .unwrap();
        let (a, b) = (&c.identities[0], &c.identities[1]);
        let (s1, s2) = (&c.services[0], &c.services[1]);
        assert_eq!(c.permissions(a, s1), vec![PolicyType::Bind]);
        assert!(c.permissions(a, s2).is_empty());
        assert_eq!(c.permissions(b, s1), vec![PolicyType::Dial]);
        assert_eq!(c.permissions(b, s2), vec![PolicyType::Dial]);
    }

    #[test]
    fn string_configs_are_parsed_as_json() {
        let c = parse(
            r#"
            [[service]]
            name = "s"
            configs = { "intercept.v1" = '{"protocols":["tcp"]}' }
            "#,
        )
        .unwrap();
        assert_eq!(
            c.services[0].configs["intercept.v1"],
            serde_json::json!({"protocols": ["tcp"]})
        );
    }

    #[test]
    fn malformed_configurations_are_rejected_with_a_reason() {
        let cases = [
            ("[controller]\naddress = \"nope\"", "address"),
            ("[[identity]]\nname = \"a\"\n[[identity]]\nname = \"a\"", "twice"),
            ("[[identity]]\nname = \"\"", "empty name"),
            (
                "[[service_policy]]\nname=\"p\"\ntype=\"Dial\"\nidentities=[\"web\"]\nservices=[\"#all\"]",
                "selector",
            ),
            (
                "[[service_policy]]\nname=\"p\"\ntype=\"Host\"\nidentities=[]\nservices=[]",
                "Host",
            ),
            ("[[service]]\nname=\"s\"\nconfigs = { x = '{nope' }", "not valid JSON"),
            ("[[service]]\nname=\"s\"\nconfigs = { x = 3 }", "table/object"),
            ("[bogus]\n", "bogus"),
        ];
        for (text, needle) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?} gave {err}");
        }
    }

    #[test]
    fn unknown_identity_lists_declared_names() {
        let c = LabConfig::starter();
        let err = c.identity("nobody").unwrap_err().to_string();
        assert!(err.contains("reflectz") && err.contains("client"), "{err}");
    }
}
