//! Services and service sessions: the services an identity may dial or bind, their
//! terminators and change feed, and the Dial/Bind sessions (`POST /sessions`).

use super::*;

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

/// Body of `POST /sessions`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateSessionRequest<'a> {
    pub(crate) service_id: &'a str,
    #[serde(rename = "type")]
    pub(crate) kind: SessionType,
}
