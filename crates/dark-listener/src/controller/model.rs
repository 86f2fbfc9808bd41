//! The JSON documents of the edge client API, as serde types.
//!
//! Every response is an envelope, `{"data": …, "meta": {…}}` on success or
//! `{"error": {…}, "meta": {…}}` on failure. The types here keep the fields an SDK uses and
//! tolerate everything else: unknown fields are ignored, optional fields default, so a newer
//! controller does not break an older SDK. Requests (`POST /authenticate`, `POST /sessions`)
//! are serialized from the types at the bottom.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A response envelope. `data` and `error` are both optional so one type reads both shapes.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<T> {
    #[serde(default = "Option::default")]
    pub(crate) data: Option<T>,
    #[serde(default)]
    pub(crate) error: Option<ApiErrorBody>,
    #[serde(default)]
    pub(crate) meta: Option<Meta>,
}

/// The `meta` object of an envelope.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Meta {
    #[serde(default)]
    pub(crate) pagination: Option<Pagination>,
}

/// `meta.pagination` of a list response.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    /// Page size the controller applied.
    #[serde(default)]
    pub limit: u64,
    /// Offset of this page.
    #[serde(default)]
    pub offset: u64,
    /// Number of items in the whole list.
    #[serde(default)]
    pub total_count: u64,
}

/// The `error` object of an error envelope.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorBody {
    /// Machine-readable code, e.g. `UNAUTHORIZED`, `NOT_FOUND`, `INVALID_AUTH`.
    #[serde(default)]
    pub code: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// Message of the underlying cause, when the controller gives one.
    #[serde(default)]
    pub cause_message: Option<String>,
    /// Controller-side request id (for log correlation).
    #[serde(default)]
    pub request_id: Option<String>,
}

/// `GET /version` data.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ControllerVersion {
    /// Controller version, e.g. `v0.26.0`.
    #[serde(default)]
    pub version: String,
    /// Source revision.
    #[serde(default)]
    pub revision: String,
    /// Build date.
    #[serde(default)]
    pub build_date: String,
    /// API name → API version → where it is served.
    #[serde(default)]
    pub api_versions: BTreeMap<String, BTreeMap<String, ApiVersion>>,
    /// Capabilities such as `OIDC_AUTH`, `HA_CONTROLLER`.
    #[serde(default)]
    pub capabilities: Vec<String>,
}

impl ControllerVersion {
    /// The path the edge client API v1 is served under: `apiVersions.edge.v1.path`, or
    /// `apiVersions["edge-client"].v1.path` when only the newer key is present.
    pub fn edge_client_path(&self) -> Option<&str> {
        ["edge", "edge-client"]
            .iter()
            .filter_map(|api| self.api_versions.get(*api)?.get("v1"))
            .map(|v| v.path.as_str())
            .find(|p| !p.is_empty())
    }

    /// Whether the controller offers certificate OIDC login (`OIDC_AUTH`).
    pub fn offers_oidc(&self) -> bool {
        self.capabilities.iter().any(|c| c == "OIDC_AUTH")
    }

    /// The path of the OIDC API: `apiVersions["edge-oidc"].v1.path`.
    pub fn oidc_path(&self) -> Option<&str> {
        self.api_versions
            .get("edge-oidc")?
            .get("v1")
            .map(|v| v.path.as_str())
            .filter(|p| !p.is_empty())
    }
}

/// One entry of `apiVersions`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiVersion {
    /// Path prefix, e.g. `/edge/client/v1`.
    #[serde(default)]
    pub path: String,
    /// Full base URLs.
    #[serde(default)]
    pub api_base_urls: Vec<String>,
}

/// A reference to another entity (`{"id","name"}`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct EntityRef {
    /// Entity id.
    #[serde(default)]
    pub id: String,
    /// Entity name.
    #[serde(default)]
    pub name: String,
}

/// An API session (`POST /authenticate`, `GET /current-api-session` data).
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiSession {
    /// API session id.
    pub id: String,
    /// The token: sent as `zt-session` to the controller and in the router Hello.
    pub token: String,
    /// The authenticated identity.
    #[serde(default)]
    pub identity: Option<EntityRef>,
    /// The authenticated identity's id (also inside `identity`).
    #[serde(default)]
    pub identity_id: Option<String>,
    /// Expiry time, RFC 3339.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Seconds until expiry, as of the response.
    #[serde(default)]
    pub expiration_seconds: Option<u64>,
    /// Last update time, RFC 3339.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Config types the session asked for at authentication.
    #[serde(default)]
    pub config_types: Vec<String>,
    /// Pending authentication queries (MFA); non-empty means only partially authenticated.
    #[serde(default)]
    pub auth_queries: Vec<serde_json::Value>,
}

impl ApiSession {
    /// The identity id, from `identity.id` or `identityId`.
    pub fn identity_id(&self) -> Option<&str> {
        self.identity
            .as_ref()
            .map(|i| i.id.as_str())
            .filter(|id| !id.is_empty())
            .or(self.identity_id.as_deref())
    }
}

impl fmt::Debug for ApiSession {
    // The token is a bearer credential: keep it out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiSession")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .field("identity", &self.identity)
            .field("expires_at", &self.expires_at)
            .field("expiration_seconds", &self.expiration_seconds)
            .finish_non_exhaustive()
    }
}

/// `GET /current-identity` data.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CurrentIdentity {
    /// Identity id.
    pub id: String,
    /// Identity name.
    #[serde(default)]
    pub name: String,
    /// Free-form application data attached to the identity.
    #[serde(default)]
    pub app_data: Option<serde_json::Value>,
    /// Default cost of terminators this identity hosts.
    #[serde(default)]
    pub default_hosting_cost: Option<u32>,
    /// Default precedence (`default`, `required`, `failed`) of terminators this identity hosts.
    #[serde(default)]
    pub default_hosting_precedence: Option<String>,
    /// Per-service hosting costs (service id → cost).
    #[serde(default)]
    pub service_hosting_costs: BTreeMap<String, u32>,
    /// Per-service hosting precedences (service id → precedence).
    #[serde(default)]
    pub service_hosting_precedences: BTreeMap<String, String>,
}

/// What an identity may do with a service.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SessionType {
    /// Connect to the service as a client.
    Dial,
    /// Host the service.
    Bind,
}

impl fmt::Display for SessionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionType::Dial => "Dial",
            SessionType::Bind => "Bind",
        })
    }
}

/// An entry of a service's `permissions`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash)]
pub enum ServicePermission {
    /// The identity may dial the service.
    Dial,
    /// The identity may bind (host) the service.
    Bind,
    /// A permission this SDK does not know.
    #[serde(other)]
    Other,
}

/// A service the identity may dial or bind (`GET /services` element).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// Service id (used in `POST /sessions`).
    pub id: String,
    /// Service name.
    pub name: String,
    /// Dial and/or Bind.
    #[serde(default)]
    pub permissions: Vec<ServicePermission>,
    /// Whether connections must be end-to-end encrypted.
    #[serde(default)]
    pub encryption_required: bool,
    /// Config type name → config document, for the requested config types.
    #[serde(default)]
    pub config: BTreeMap<String, serde_json::Value>,
    /// Last update time, RFC 3339.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Terminator strategy (e.g. `smartrouting`).
    #[serde(default)]
    pub terminator_strategy: Option<String>,
    /// The service's role attributes (what `#role` selectors in policies match); `null` in
    /// the JSON reads as none.
    #[serde(default, deserialize_with = "null_as_default")]
    pub role_attributes: Vec<String>,
}

impl Service {
    /// Whether the identity holds the permission needed for a session of this type.
    pub fn permits(&self, kind: SessionType) -> bool {
        let wanted = match kind {
            SessionType::Dial => ServicePermission::Dial,
            SessionType::Bind => ServicePermission::Bind,
        };
        self.permissions.contains(&wanted)
    }
}

/// Where a service is hosted (`GET /services/{id}/terminators` element,
/// `terminatorClientDetail`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceTerminator {
    /// Terminator id.
    pub id: String,
    /// The service hosted.
    #[serde(default)]
    pub service_id: String,
    /// The edge router holding the terminator.
    #[serde(default)]
    pub router_id: String,
    /// The instance id the host bound with (its identity name with
    /// `bindUsingEdgeIdentity`); empty when it gave none.
    #[serde(default)]
    pub identity: String,
}

/// `GET /current-api-session/service-updates` data.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceUpdates {
    /// When the identity's service list last changed (compared as an opaque string).
    #[serde(default)]
    pub last_change_at: String,
}

/// An edge router listed in a service session.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EdgeRouter {
    /// Router name.
    #[serde(default)]
    pub name: String,
    /// Router host name.
    #[serde(default)]
    pub hostname: String,
    /// Protocol → URL (`tls` → `tls://host:port`).
    #[serde(default)]
    pub supported_protocols: BTreeMap<String, String>,
    /// Deprecated protocol → URL map, still sent by controllers.
    #[serde(default)]
    pub urls: BTreeMap<String, String>,
    /// Whether the controller sees the router online.
    #[serde(default)]
    pub is_online: Option<bool>,
    /// Routing cost.
    #[serde(default)]
    pub cost: Option<u32>,
}

impl EdgeRouter {
    /// The router's TLS address: `supportedProtocols.tls`, falling back to `urls.tls`.
    pub fn tls_address(&self) -> Result<RouterAddress, RouterAddressError> {
        let url = self
            .supported_protocols
            .get("tls")
            .or_else(|| self.urls.get("tls"))
            .ok_or_else(|| RouterAddressError::NoTlsUrl {
                router: self.name.clone(),
            })?;
        RouterAddress::parse(url)
    }
}

/// Host and port of an edge router's TLS listener.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouterAddress {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl RouterAddress {
    /// Parses `tls://host:port`, `tls://[v6]:port`, or Go's `tls:host:port`.
    pub fn parse(url: &str) -> Result<Self, RouterAddressError> {
        let bad = |reason: &'static str| RouterAddressError::Malformed {
            url: url.to_string(),
            reason,
        };
        let rest = url
            .strip_prefix("tls://")
            .or_else(|| url.strip_prefix("tls:"))
            .ok_or_else(|| bad("does not start with tls://"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| bad("no port after ']'"))?;
            (host, port)
        } else {
            rest.rsplit_once(':').ok_or_else(|| bad("no port"))?
        };
        if host.is_empty() || host.contains(['/', '@', ' ']) {
            return Err(bad("empty or invalid host"));
        }
        let port: u16 = port.parse().map_err(|_| bad("port is not a number"))?;
        if port == 0 {
            return Err(bad("port 0"));
        }
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for RouterAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "tls://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "tls://{}:{}", self.host, self.port)
        }
    }
}

/// Why an edge router address could not be used.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RouterAddressError {
    /// Neither `supportedProtocols.tls` nor `urls.tls` is present.
    #[error("edge router {router:?} offers no tls:// address")]
    NoTlsUrl {
        /// Router name.
        router: String,
    },
    /// The URL is not `tls://host:port`.
    #[error("edge router address {url:?} is malformed: {reason}")]
    Malformed {
        /// The URL as sent by the controller.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A service session (`POST /sessions`, `GET /sessions/{id}` data): the token a router
/// accepts for Dial or Bind on one service, and the routers to use.
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSession {
    /// Session id (for `GET /sessions/{id}`).
    pub id: String,
    /// Session token, sent to the router in Connect/Bind.
    pub token: String,
    /// Dial or Bind.
    #[serde(rename = "type")]
    pub kind: Option<SessionType>,
    /// The service this session is for.
    #[serde(default)]
    pub service_id: Option<String>,
    /// The API session it belongs to.
    #[serde(default)]
    pub api_session_id: Option<String>,
    /// Routers the identity may use for this service.
    #[serde(default)]
    pub edge_routers: Vec<EdgeRouter>,
}

impl fmt::Debug for ServiceSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceSession")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .field("kind", &self.kind)
            .field("service_id", &self.service_id)
            .field("edge_routers", &self.edge_routers)
            .finish()
    }
}

/// Body of `POST /authenticate?method=cert`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticateRequest {
    /// What SDK is calling.
    pub sdk_info: SdkInfo,
    /// Where it runs.
    pub env_info: EnvInfo,
    /// Config types the session wants in service listings.
    pub config_types: Vec<String>,
}

/// `sdkInfo` of the authenticate body.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SdkInfo {
    /// SDK type (`darkscrape`).
    #[serde(rename = "type")]
    pub kind: String,
    /// SDK version.
    pub version: String,
    /// Application id, when the application names itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// Application version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
}

impl Default for SdkInfo {
    fn default() -> Self {
        Self {
            kind: "darkscrape".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            app_id: None,
            app_version: None,
        }
    }
}

/// `envInfo` of the authenticate body.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EnvInfo {
    /// Operating system (`linux`).
    pub os: String,
    /// CPU architecture (`x86_64`).
    pub arch: String,
    /// Kernel release, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_release: Option<String>,
    /// Host name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

impl EnvInfo {
    /// Describes the running host (kernel release and host name read from `/proc` on Linux).
    pub fn current() -> Self {
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        Self {
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            os_release: read("/proc/sys/kernel/osrelease"),
            hostname: read("/proc/sys/kernel/hostname"),
        }
    }
}

/// Body of `POST /sessions`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateSessionRequest<'a> {
    pub(crate) service_id: &'a str,
    #[serde(rename = "type")]
    pub(crate) kind: SessionType,
}

/// Reads `null` as the type's default (the Go controller writes `null` for empty lists).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_path_from_edge_or_edge_client() {
        let v: Envelope<ControllerVersion> = serde_json::from_str(
            r#"{"data":{"version":"v0.26.0","revision":"abc","buildDate":"2024-01-01 00:00:00",
            "apiVersions":{"edge":{"v1":{"path":"/edge/client/v1","apiBaseUrls":["https://c:1280/edge/client/v1"]}}},
            "capabilities":[]},"meta":{}}"#,
        )
        .unwrap();
        assert_eq!(v.data.unwrap().edge_client_path(), Some("/edge/client/v1"));
        let only_new: ControllerVersion =
            serde_json::from_str(r#"{"apiVersions":{"edge-client":{"v1":{"path":"/x/v1"}}}}"#)
                .unwrap();
        assert_eq!(only_new.edge_client_path(), Some("/x/v1"));
        let none: ControllerVersion = serde_json::from_str(r#"{"version":"v1"}"#).unwrap();
        assert_eq!(none.edge_client_path(), None);
    }

    #[test]
    fn api_session_reads_reference_example() {
        let env: Envelope<ApiSession> = serde_json::from_str(
            r#"{"data":{"id":"as-1","token":"5e1c","identity":{"id":"id-1","name":"py-peer","entity":"identities","_links":{}},
            "identityId":"id-1","authenticatorId":"auth-1","configTypes":["intercept.v1"],"ipAddress":"127.0.0.1",
            "authQueries":[],"isMfaRequired":false,"expiresAt":"2026-11-22T10:30:00.000000Z","expirationSeconds":1800,
            "updatedAt":"2026-11-22T10:00:00.000000Z","tags":{},"_links":{"self":{"href":"./current-api-session"}}},"meta":{}}"#,
        )
        .unwrap();
        let s = env.data.unwrap();
        assert_eq!(s.token, "5e1c");
        assert_eq!(s.identity_id(), Some("id-1"));
        assert_eq!(s.expiration_seconds, Some(1800));
        assert!(
            !format!("{s:?}").contains("5e1c"),
            "token must not be logged"
        );
    }

    #[test]
    fn api_session_without_token_is_an_error() {
        assert!(serde_json::from_str::<ApiSession>(r#"{"id":"as-1"}"#).is_err());
    }

    #[test]
    fn error_envelope() {
        let env: Envelope<serde_json::Value> = serde_json::from_str(
            r#"{"error":{"code":"UNAUTHORIZED","message":"no","requestId":"r1","args":{"urlVars":{}},"cause":null,"causeMessage":"","data":{}},
            "meta":{"apiVersion":"0.0.1","apiEnrollmentVersion":"0.0.1"}}"#,
        )
        .unwrap();
        assert!(env.data.is_none());
        let err = env.error.unwrap();
        assert_eq!(err.code, "UNAUTHORIZED");
        assert_eq!(err.request_id.as_deref(), Some("r1"));
    }

    #[test]
    fn service_with_unknown_permission_and_pagination() {
        let env: Envelope<Vec<Service>> = serde_json::from_str(
            r#"{"data":[{"id":"svc-1","name":"echo","permissions":["Dial","Bind","Admin"],"encryptionRequired":true,
            "config":{"intercept.v1":{"protocols":["tcp"]}},"postureQueries":[],"updatedAt":"2026-01-01T00:00:00.000000Z"}],
            "meta":{"pagination":{"limit":25,"offset":0,"totalCount":1}}}"#,
        )
        .unwrap();
        let svc = &env.data.unwrap()[0];
        assert!(svc.permits(SessionType::Dial) && svc.permits(SessionType::Bind));
        assert!(svc.permissions.contains(&ServicePermission::Other));
        assert!(svc.encryption_required);
        assert_eq!(env.meta.unwrap().pagination.unwrap().total_count, 1);
    }

    #[test]
    fn session_routers_prefer_supported_protocols() {
        let s: ServiceSession = serde_json::from_str(
            r#"{"id":"sess-1","token":"st-1","type":"Bind","serviceId":"svc-1","edgeRouters":[
            {"name":"er-1","hostname":"127.0.0.1","supportedProtocols":{"tls":"tls://127.0.0.1:3022"},"urls":{"tls":"tls://10.0.0.1:1"}},
            {"name":"er-2","urls":{"tls":"tls://[::1]:4000"}},
            {"name":"er-3","supportedProtocols":{"ws":"ws://x:1"}}]}"#,
        )
        .unwrap();
        assert_eq!(s.kind, Some(SessionType::Bind));
        let a = s.edge_routers[0].tls_address().unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 3022));
        let b = s.edge_routers[1].tls_address().unwrap();
        assert_eq!((b.host.as_str(), b.port), ("::1", 4000));
        assert_eq!(b.to_string(), "tls://[::1]:4000");
        assert!(matches!(
            s.edge_routers[2].tls_address(),
            Err(RouterAddressError::NoTlsUrl { .. })
        ));
    }

    #[test]
    fn malformed_router_addresses() {
        for bad in [
            "",
            "tcp://h:1",
            "tls://h",
            "tls://:1",
            "tls://h:0",
            "tls://h:99999",
            "tls://h:x",
            "tls://[::1:5",
            "tls://[::1]5",
            "tls://a/b:1",
        ] {
            assert!(RouterAddress::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            RouterAddress::parse("tls:h.example:443").unwrap(),
            RouterAddress {
                host: "h.example".into(),
                port: 443
            }
        );
    }

    #[test]
    fn requests_serialize_like_the_reference() {
        let body = serde_json::to_value(CreateSessionRequest {
            service_id: "svc-1",
            kind: SessionType::Dial,
        })
        .unwrap();
        assert_eq!(body, serde_json::json!({"serviceId":"svc-1","type":"Dial"}));
        let auth = serde_json::to_value(AuthenticateRequest {
            sdk_info: SdkInfo::default(),
            env_info: EnvInfo {
                os: "linux".into(),
                arch: "x86_64".into(),
                os_release: None,
                hostname: None,
            },
            config_types: vec!["intercept.v1".into()],
        })
        .unwrap();
        assert_eq!(auth["sdkInfo"]["type"], "darkscrape");
        assert_eq!(
            auth["envInfo"],
            serde_json::json!({"os":"linux","arch":"x86_64"})
        );
        assert_eq!(auth["configTypes"], serde_json::json!(["intercept.v1"]));
    }
}
