//! The JSON documents of the edge client API, as serde types.
//!
//! Every response is an envelope, `{"data": …, "meta": {…}}` on success or
//! `{"error": {…}, "meta": {…}}` on failure. The types here keep the fields an SDK uses and
//! tolerate everything else: unknown fields are ignored, optional fields default, so a newer
//! controller does not break an older SDK. Requests (`POST /authenticate`, `POST /sessions`)
//! are serialized from types of the same modules.
//!
//! This file holds the envelope, versions and what the others share; `session` holds the API
//! session and login request, `service` the services and service sessions, `router` the edge
//! routers and their addresses. Everything is re-exported here.

mod router;
mod service;
mod session;

pub use router::*;
pub use service::*;
pub use session::*;

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
