//! The API session: logging in (`POST /authenticate` with the SDK and environment info),
//! the session the controller returns, and the identity it belongs to.

use super::*;

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
