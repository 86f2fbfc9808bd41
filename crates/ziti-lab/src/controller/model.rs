//! JSON objects of the edge client API (shapes of `ziti-controller-api.md` §3), built from
//! [`LabState`](crate::LabState) values.

use serde_json::{json, Map, Value};

use crate::config::PolicyType;
use crate::state::{
    ApiSessionInfo, EdgeRouterInfo, IdentityInfo, ServiceInfo, ServiceSessionInfo, TerminatorInfo,
};
use crate::timefmt::format_micros;

/// Version reported by `/version`. Below 1.0.0 on purpose: Go SDKs then stay on the
/// session-based (legacy) dial path this lab implements.
pub const REPORTED_VERSION: &str = "v0.26.0";

/// Base path of the edge client API.
pub const CLIENT_API_PATH: &str = "/edge/client/v1";

fn entity_ref(id: &str, name: &str, entity: &str) -> Value {
    json!({"id": id, "name": name, "entity": entity, "_links": {}})
}

/// `GET /version` data.
pub fn version(controller_url: &str, build_date: &str) -> Value {
    let api = json!({"v1": {"path": CLIENT_API_PATH, "apiBaseUrls": [format!("{controller_url}{CLIENT_API_PATH}")]}});
    json!({
        "version": REPORTED_VERSION,
        "revision": concat!("ziti-lab-", env!("CARGO_PKG_VERSION")),
        "buildDate": build_date,
        "runtimeVersion": "rust",
        "apiVersions": {"edge": api.clone(), "edge-client": api},
        "capabilities": []
    })
}

/// Adds what a 2.x controller with the `edge-oidc` API bound lists in `/version`
/// (`controller/internal/routes/version_router.go`): capabilities `OIDC_AUTH` and
/// `OIDC_AUTH_WITH_CSR` (no `HA_CONTROLLER`: the lab is not a raft cluster) and
/// `apiVersions["edge-oidc"]["v1"]` with path `/oidc`.
pub fn advertise_oidc(version: &mut Value, controller_url: &str) {
    version["apiVersions"]["edge-oidc"] =
        json!({"v1": {"path": "/oidc", "apiBaseUrls": [format!("{controller_url}/oidc")]}});
    version["capabilities"] = json!(["OIDC_AUTH", "OIDC_AUTH_WITH_CSR"]);
}

/// `currentApiSessionDetail`.
pub fn api_session(s: &ApiSessionInfo) -> Value {
    let created = format_micros(s.created_at);
    let last = format_micros(s.last_activity_at);
    json!({
        "id": s.id,
        "token": s.token,
        "identity": entity_ref(&s.identity.id, &s.identity.name, "identities"),
        "identityId": s.identity.id,
        "authenticatorId": format!("cert-{}", &s.cert_fingerprint.as_str()[..12]),
        "configTypes": s.config_types,
        "ipAddress": s.ip_address,
        "authQueries": [],
        "isMfaRequired": false,
        "isMfaComplete": false,
        "isCertExtendable": false,
        "isCertExtendRequested": false,
        "isCertKeyRollRequested": false,
        "improperClientCertChain": false,
        "createdAt": created,
        "updatedAt": last,
        "lastActivityAt": last,
        "cachedLastActivityAt": last,
        "expiresAt": format_micros(s.expires_at),
        "expirationSeconds": s.expiration_seconds,
        "tags": {},
        "_links": {"self": {"href": "./current-api-session"}}
    })
}

/// `identityDetail` of `GET /current-identity`.
pub fn identity(i: &IdentityInfo, has_api_session: bool, changed_at: i64) -> Value {
    let ts = format_micros(changed_at);
    json!({
        "id": i.id,
        "name": i.name,
        "type": entity_ref("User", "User", "identity-types"),
        "typeId": "User",
        "roleAttributes": i.roles,
        "isAdmin": false,
        "isDefaultAdmin": false,
        "disabled": false,
        "hasApiSession": has_api_session,
        "hasEdgeRouterConnection": false,
        "appData": {},
        "defaultHostingCost": 0,
        "defaultHostingPrecedence": "default",
        "serviceHostingCosts": {},
        "serviceHostingPrecedences": {},
        "authPolicyId": "default",
        "externalId": null,
        "createdAt": ts,
        "updatedAt": ts,
        "tags": {},
        "_links": {"self": {"href": format!("./identities/{}", i.id)}}
    })
}

/// Which config types a listing asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSelection {
    /// `configTypes=all`.
    All,
    /// Exactly these types.
    Only(Vec<String>),
}

impl ConfigSelection {
    /// From the API session's types plus the query's; `all` anywhere selects everything.
    pub fn merge(session: &[String], query: &[String]) -> Self {
        let mut types: Vec<String> = Vec::new();
        for t in session.iter().chain(query) {
            if t == "all" {
                return ConfigSelection::All;
            }
            if !types.contains(t) {
                types.push(t.clone());
            }
        }
        ConfigSelection::Only(types)
    }

    fn includes(&self, ty: &str) -> bool {
        match self {
            ConfigSelection::All => true,
            ConfigSelection::Only(t) => t.iter().any(|x| x == ty),
        }
    }
}

/// `serviceDetail`.
pub fn service(
    s: &ServiceInfo,
    perms: &[PolicyType],
    configs: &ConfigSelection,
    changed_at: i64,
) -> Value {
    let ts = format_micros(changed_at);
    let mut config = Map::new();
    for (ty, value) in &s.configs {
        if configs.includes(ty) {
            config.insert(ty.clone(), value.clone());
        }
    }
    let config_ids: Vec<String> = s
        .configs
        .keys()
        .map(|ty| crate::state::derive_id("config", &format!("{}/{ty}", s.name)))
        .collect();
    json!({
        "id": s.id,
        "name": s.name,
        "permissions": perms.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "encryptionRequired": s.encryption_required,
        "config": config,
        "configs": config_ids,
        "postureQueries": [],
        "terminatorStrategy": "smartrouting",
        "maxIdleTimeMillis": 0,
        "roleAttributes": s.roles,
        "createdAt": ts,
        "updatedAt": ts,
        "tags": {},
        "_links": {"self": {"href": format!("./services/{}", s.id)}}
    })
}

/// A terminator as listed to SDKs (`terminatorClientDetail`).
pub fn terminator(t: &TerminatorInfo, changed_at: i64) -> Value {
    let ts = format_micros(changed_at);
    json!({
        "id": t.id,
        "serviceId": t.service_id,
        "service": {"id": t.service_id, "_links": {}},
        "routerId": t.router_id,
        "identity": t.instance_id,
        "createdAt": ts,
        "updatedAt": ts,
        "tags": {},
        "_links": {"self": {"href": format!("./terminators/{}", t.id)}}
    })
}

/// An edge router as listed to SDKs (`currentIdentityEdgeRouterDetail` / `sessionEdgeRouter`).
pub fn edge_router(r: &EdgeRouterInfo, changed_at: i64) -> Value {
    let ts = format_micros(changed_at);
    json!({
        "id": r.id,
        "name": r.name,
        "hostname": r.hostname,
        "supportedProtocols": {"tls": r.tls_url},
        "urls": {"tls": r.tls_url},
        "isOnline": true,
        "syncStatus": "SYNC_DONE",
        "cost": 0,
        "noTraversal": false,
        "disabled": false,
        "createdAt": ts,
        "updatedAt": ts,
        "tags": {},
        "_links": {}
    })
}

/// `sessionDetail` (service session).
pub fn session(s: &ServiceSessionInfo, routers: &[EdgeRouterInfo], changed_at: i64) -> Value {
    let ts = format_micros(s.created_at);
    json!({
        "id": s.id,
        "token": s.token,
        "type": s.session_type.as_str(),
        "serviceId": s.service.id,
        "service": entity_ref(&s.service.id, &s.service.name, "services"),
        "apiSessionId": s.api_session_id,
        "apiSession": {"id": s.api_session_id, "entity": "api-sessions", "_links": {}},
        "identityId": s.identity.id,
        "edgeRouters": routers.iter().map(|r| edge_router(r, changed_at)).collect::<Vec<_>>(),
        "createdAt": ts,
        "updatedAt": ts,
        "tags": {},
        "_links": {"self": {"href": format!("./sessions/{}", s.id)}}
    })
}
