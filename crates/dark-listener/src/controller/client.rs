//! [`ControllerClient`]: one method per edge client API call, authenticated with an OIDC
//! access token (`Authorization: Bearer`) or a legacy `zt-session` token, over every
//! controller of the identity in turn.
//!
//! The client owns the base URL, the API path learned from `GET /version`, and the current
//! API session token. It does not retry or schedule anything; [`super::ControllerSession`]
//! does that on top of it.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rustls::ClientConfig;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::answer::{decode_data, decode_envelope};
use super::http::{HttpsTransport, TransportLimits};
use super::model::{
    ApiSession, AuthenticateRequest, ControllerVersion, CreateSessionRequest, CurrentIdentity,
    Envelope, Service, ServiceSession, ServiceTerminator, ServiceUpdates, SessionType,
};
use super::oidc::{self, flow::OidcEndpoint, OidcTokens};
use super::ControllerError;

/// Characters left as-is in query values: RFC 3986 unreserved.
pub(crate) const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Tunables of a [`ControllerClient`].
#[derive(Debug, Clone)]
pub struct ControllerClientOptions {
    /// Deadline for one request, connect and body included.
    pub request_timeout: Duration,
    /// Deadline for the TCP connect.
    pub connect_timeout: Duration,
    /// Largest response body accepted.
    pub max_body_bytes: usize,
    /// Page size for list calls (`GET /services`).
    pub page_size: u32,
    /// Most pages read for one list, so a misbehaving controller cannot keep us paging.
    pub max_pages: u32,
}

impl Default for ControllerClientOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_body_bytes: 8 * 1024 * 1024,
            page_size: 100,
            max_pages: 1000,
        }
    }
}

/// The split of a `ztAPI` URL: `https://host:port` and the path (possibly empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ControllerUrl {
    pub(crate) origin: String,
    pub(crate) path: String,
}

impl ControllerUrl {
    pub(crate) fn parse(url: &str) -> Result<Self, ControllerError> {
        let bad = |reason: &str| ControllerError::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: http::Uri = url.trim().parse().map_err(|_| bad("not a URL"))?;
        if uri.scheme_str() != Some("https") {
            return Err(bad("the controller URL must start with https://"));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.host().is_empty() || authority.as_str().contains('@') {
            return Err(bad("no host, or user info in the URL"));
        }
        if uri.query().is_some() {
            return Err(bad("the controller URL must not carry a query"));
        }
        let path = uri.path().trim_end_matches('/').to_string();
        Ok(Self {
            origin: format!("https://{authority}"),
            path,
        })
    }
}

/// A client of the controller's edge client API.
///
/// Cheap to clone; clones share the connection pool, the learned API path and the token.
#[derive(Clone)]
pub struct ControllerClient {
    transport: HttpsTransport,
    /// The controllers, in the identity file's order; `ClientState::current` picks one.
    urls: Arc<Vec<ControllerUrl>>,
    options: ControllerClientOptions,
    state: Arc<Mutex<ClientState>>,
}

#[derive(Debug, Default)]
struct ClientState {
    /// Index into `urls` of the controller in use.
    current: usize,
    api_path: Option<String>,
    /// `apiVersions["edge-oidc"].v1.path` from `/version`, when the controller offers OIDC.
    oidc_path: Option<String>,
    token: Option<String>,
    /// The token is an OIDC access token (sent as `Authorization: Bearer`), not a legacy
    /// `zt-session` token.
    bearer: bool,
}

impl std::fmt::Debug for ControllerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerClient")
            .field("url", &self.url())
            .field("api_path", &self.api_path())
            .field("authenticated", &self.token().is_some())
            .finish()
    }
}

impl ControllerClient {
    /// A client for the controller at `zt_api` (the identity's `ztAPI`, with or without the
    /// `/edge/client/v1` path), using `tls` (normally [`crate::tls::client_config`]).
    pub fn new(
        zt_api: &str,
        tls: Arc<ClientConfig>,
        options: ControllerClientOptions,
    ) -> Result<Self, ControllerError> {
        Self::with_urls(&[zt_api], tls, options)
    }

    /// A client for the controllers of an HA cluster (the identity's `ztAPIs`), used in
    /// order: when the one in use cannot be reached, the next call goes to the next one.
    pub fn with_urls(
        zt_apis: &[&str],
        tls: Arc<ClientConfig>,
        options: ControllerClientOptions,
    ) -> Result<Self, ControllerError> {
        let urls = zt_apis
            .iter()
            .map(|u| ControllerUrl::parse(u))
            .collect::<Result<Vec<_>, _>>()?;
        if urls.is_empty() {
            return Err(ControllerError::InvalidUrl {
                url: String::new(),
                reason: "no controller URL given".into(),
            });
        }
        let transport = HttpsTransport::new(
            tls,
            TransportLimits {
                request_timeout: options.request_timeout,
                connect_timeout: options.connect_timeout,
                max_body_bytes: options.max_body_bytes,
            },
        );
        Ok(Self {
            transport,
            urls: Arc::new(urls),
            options,
            state: Arc::new(Mutex::new(ClientState::default())),
        })
    }

    /// `https://host:port` of the controller in use.
    pub fn origin(&self) -> String {
        self.url().origin
    }

    /// How many controllers the client knows (more than one: an HA cluster).
    pub fn controller_count(&self) -> usize {
        self.urls.len()
    }

    fn url(&self) -> ControllerUrl {
        let current = self.state().current;
        self.urls[current % self.urls.len()].clone()
    }

    /// After a transport failure talking to `origin`: when it is still the controller in use
    /// and there are others, the next one takes over (the paths learned from `/version` are
    /// asked again there).
    fn fail_over_from(&self, origin: &str) {
        if self.urls.len() < 2 {
            return;
        }
        let mut state = self.state();
        let current = state.current % self.urls.len();
        if self.urls[current].origin != origin {
            return;
        }
        state.current = (current + 1) % self.urls.len();
        state.api_path = None;
        state.oidc_path = None;
        tracing::warn!(
            unreachable = origin,
            next = self.urls[state.current].origin,
            "controller unreachable; failing over to the next controller of the identity"
        );
    }

    fn note_failure<T>(
        &self,
        origin: &str,
        result: Result<T, ControllerError>,
    ) -> Result<T, ControllerError> {
        if let Err(e) = &result {
            if e.is_transport() {
                self.fail_over_from(origin);
            }
        }
        result
    }

    fn state(&self) -> MutexGuard<'_, ClientState> {
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The API path in use: learned from `/version`, else the `ztAPI` path.
    pub fn api_path(&self) -> String {
        // The learned path is read first: url() takes the same lock.
        let learned = self.state().api_path.clone();
        learned.unwrap_or_else(|| self.url().path)
    }

    /// The current API session token, if logged in.
    pub fn token(&self) -> Option<String> {
        self.state().token.clone()
    }

    /// Forgets the API session token (e.g. after the controller refused it).
    pub fn clear_token(&self) {
        let mut state = self.state();
        state.token = None;
        state.bearer = false;
    }

    /// Whether the current token is an OIDC access token.
    pub fn uses_oidc(&self) -> bool {
        self.state().bearer
    }

    fn oidc_endpoint(&self) -> OidcEndpoint {
        OidcEndpoint {
            origin: self.url().origin,
            path: self
                .state()
                .oidc_path
                .clone()
                .unwrap_or_else(|| "/oidc".to_string()),
        }
    }

    /// Logs in with the certificate OIDC flow (PKCE, `/oidc/login/cert`, code exchange); the
    /// access token is kept for later calls, sent as `Authorization: Bearer`.
    pub async fn authenticate_oidc(
        &self,
        request: &AuthenticateRequest,
    ) -> Result<OidcTokens, ControllerError> {
        let endpoint = self.oidc_endpoint();
        let tokens = oidc::flow::login(&self.transport, &endpoint, request)
            .await
            .map_err(ControllerError::from);
        self.keep_oidc_tokens(&endpoint.origin, tokens)
    }

    /// Exchanges `refresh_token` for new OIDC tokens and keeps the new access token.
    pub async fn refresh_oidc(&self, refresh_token: &str) -> Result<OidcTokens, ControllerError> {
        let endpoint = self.oidc_endpoint();
        let tokens = oidc::flow::refresh(&self.transport, &endpoint, refresh_token)
            .await
            .map_err(ControllerError::from);
        self.keep_oidc_tokens(&endpoint.origin, tokens)
    }

    /// Notes the outcome of an OIDC call to `origin`; on success keeps the access token, to be
    /// sent as `Authorization: Bearer`.
    fn keep_oidc_tokens(
        &self,
        origin: &str,
        tokens: Result<OidcTokens, ControllerError>,
    ) -> Result<OidcTokens, ControllerError> {
        let tokens = self.note_failure(origin, tokens)?;
        let mut state = self.state();
        state.token = Some(tokens.access_token.clone());
        state.bearer = true;
        Ok(tokens)
    }

    fn url_for(&self, path_and_query: &str) -> String {
        format!("{}{}{}", self.url().origin, self.api_path(), path_and_query)
    }

    /// `GET /version`: learns where the edge client API lives.
    ///
    /// Asked at the `ztAPI` path (as the C SDK does); afterwards every call goes to
    /// `apiVersions.edge.v1.path` when the controller names one.
    pub async fn version(&self) -> Result<ControllerVersion, ControllerError> {
        let controller = self.url();
        let url = format!("{}{}/version", controller.origin, controller.path);
        let answer = self
            .transport
            .send(Method::GET, &url, &self.headers(false, false), None)
            .await
            .map_err(ControllerError::from);
        let answer = self.note_failure(&controller.origin, answer)?;
        let version: ControllerVersion = decode_data("GET /version", &url, answer)?;
        if let Some(path) = version.oidc_path() {
            let path = path.trim_end_matches('/').to_string();
            if path.starts_with('/') {
                self.state().oidc_path = Some(path);
            }
        }
        if let Some(path) = version.edge_client_path() {
            let path = path.trim_end_matches('/').to_string();
            if path.starts_with('/') || path.is_empty() {
                self.state().api_path = Some(path);
            } else {
                tracing::warn!(
                    path,
                    "controller named an API path without a leading '/'; ignoring it"
                );
            }
        }
        Ok(version)
    }

    /// `POST /authenticate?method=cert`: logs in with the TLS client certificate. The token is
    /// kept for later calls.
    pub async fn authenticate(
        &self,
        request: &AuthenticateRequest,
    ) -> Result<ApiSession, ControllerError> {
        let session: ApiSession = self
            .post_json(
                "/authenticate?method=cert",
                request,
                false,
                "POST /authenticate",
            )
            .await?;
        require_token(&session.token, "POST /authenticate", "the API session")?;
        if !session.auth_queries.is_empty() {
            return Err(ControllerError::Invalid {
                operation: "POST /authenticate",
                reason: "the controller asks for further authentication (MFA), which this SDK does not support; remove the MFA posture check for this identity".into(),
            });
        }
        self.state().token = Some(session.token.clone());
        Ok(session)
    }

    /// `GET /current-api-session`: refreshes (and extends) the API session.
    pub async fn current_api_session(&self) -> Result<ApiSession, ControllerError> {
        self.call(
            Method::GET,
            "/current-api-session",
            None,
            true,
            "GET /current-api-session",
        )
        .await
    }

    /// `DELETE /current-api-session`: logs out and forgets the token.
    pub async fn logout(&self) -> Result<(), ControllerError> {
        let result: Result<serde_json::Value, _> = self
            .call(
                Method::DELETE,
                "/current-api-session",
                None,
                true,
                "DELETE /current-api-session",
            )
            .await;
        self.clear_token();
        match result {
            Ok(_) | Err(ControllerError::MissingData { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `GET /current-identity`.
    pub async fn current_identity(&self) -> Result<CurrentIdentity, ControllerError> {
        self.call(
            Method::GET,
            "/current-identity",
            None,
            true,
            "GET /current-identity",
        )
        .await
    }

    /// `GET /current-api-session/service-updates`.
    pub async fn service_updates(&self) -> Result<ServiceUpdates, ControllerError> {
        self.call(
            Method::GET,
            "/current-api-session/service-updates",
            None,
            true,
            "GET /current-api-session/service-updates",
        )
        .await
    }

    /// `GET /services`, every page, with `configTypes` (may be `["all"]`).
    pub async fn services(&self, config_types: &[String]) -> Result<Vec<Service>, ControllerError> {
        self.list_services(config_types, None).await
    }

    /// `GET /services?filter=name="…"`: the service called `name`, if the identity may see it.
    pub async fn service_by_name(
        &self,
        name: &str,
        config_types: &[String],
    ) -> Result<Option<Service>, ControllerError> {
        let filter = format!(
            "name=\"{}\"",
            name.replace('\\', "\\\\").replace('"', "\\\"")
        );
        let services = self.list_services(config_types, Some(&filter)).await?;
        Ok(services.into_iter().find(|s| s.name == name))
    }

    async fn list_services(
        &self,
        config_types: &[String],
        filter: Option<&str>,
    ) -> Result<Vec<Service>, ControllerError> {
        let mut query = String::from("/services?");
        for ct in config_types {
            query.push_str("configTypes=");
            query.extend(utf8_percent_encode(ct, QUERY_VALUE));
            query.push('&');
        }
        if let Some(filter) = filter {
            query.push_str("filter=");
            query.extend(utf8_percent_encode(filter, QUERY_VALUE));
            query.push('&');
        }
        self.list_pages(&query, "GET /services").await
    }

    /// `GET /services/{id}/terminators`, every page: where the service is hosted. A
    /// terminator's `identity` is the instance id a host bound with (its identity name with
    /// `bindUsingEdgeIdentity`), which a dial names in [`crate::context::DialOptions`].
    pub async fn service_terminators(
        &self,
        service_id: &str,
    ) -> Result<Vec<ServiceTerminator>, ControllerError> {
        let query = format!(
            "/services/{}/terminators?",
            utf8_percent_encode(service_id, QUERY_VALUE)
        );
        self.list_pages(&query, "GET /services/{id}/terminators")
            .await
    }

    /// Every page of a list: `query` is the path and any query parameters, ending in `?` or
    /// `&`; `limit` and `offset` are appended until `meta.pagination.totalCount` is reached.
    async fn list_pages<T: DeserializeOwned>(
        &self,
        query: &str,
        operation: &'static str,
    ) -> Result<Vec<T>, ControllerError> {
        let limit = u64::from(self.options.page_size.max(1));
        let mut all = Vec::new();
        let mut offset = 0u64;
        for _ in 0..self.options.max_pages.max(1) {
            let url = self.url_for(&format!("{query}limit={limit}&offset={offset}"));
            let answer = self
                .transport
                .send(Method::GET, &url, &self.headers(true, false), None)
                .await?;
            let envelope: Envelope<Vec<T>> = decode_envelope(operation, &url, answer)?;
            let page = envelope.data.unwrap_or_default();
            let page_len = page.len() as u64;
            all.extend(page);
            let total = envelope
                .meta
                .and_then(|m| m.pagination)
                .map(|p| p.total_count);
            offset += page_len;
            match total {
                Some(total) if offset < total && page_len > 0 => continue,
                _ => return Ok(all),
            }
        }
        Err(ControllerError::Invalid {
            operation,
            reason: format!(
                "still paging after {} pages of {limit}; the controller's totalCount looks wrong",
                self.options.max_pages
            ),
        })
    }

    /// `POST /sessions {serviceId, type}`: a Dial or Bind session for one service.
    pub async fn create_session(
        &self,
        service_id: &str,
        kind: SessionType,
    ) -> Result<ServiceSession, ControllerError> {
        let session: ServiceSession = self
            .post_json(
                "/sessions",
                &CreateSessionRequest { service_id, kind },
                true,
                "POST /sessions",
            )
            .await?;
        require_token(&session.token, "POST /sessions", "the session")?;
        Ok(session)
    }

    /// `GET /sessions/{id}`: re-reads a session (its router list may have changed).
    ///
    /// Only the router list is worth reading here: a 2.x controller (v2.0.3
    /// `session_api_model.go`) answers with the session id in `token`, not the JWT that
    /// `POST /sessions` returned, and routers refuse that as a Bind token and read it as a
    /// service id in a Connect. Keep presenting the token from
    /// [`create_session`](Self::create_session); the SDK itself never calls this.
    pub async fn session(&self, id: &str) -> Result<ServiceSession, ControllerError> {
        let path = format!("/sessions/{}", utf8_percent_encode(id, QUERY_VALUE));
        self.call(Method::GET, &path, None, true, "GET /sessions/{id}")
            .await
    }

    fn headers(&self, authenticated: bool, json_body: bool) -> Vec<(&'static str, String)> {
        let mut headers = vec![("accept", "application/json".to_string())];
        if json_body {
            headers.push(("content-type", "application/json".to_string()));
        }
        if authenticated {
            let state = self.state();
            match (&state.token, state.bearer) {
                (Some(token), true) => headers.push(("authorization", format!("Bearer {token}"))),
                (Some(token), false) => headers.push(("zt-session", token.clone())),
                (None, _) => {}
            }
        }
        headers
    }

    /// `POST`s `request` encoded as JSON to `path_and_query` and decodes the answer's `data`.
    async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path_and_query: &str,
        request: &B,
        authenticated: bool,
        operation: &'static str,
    ) -> Result<T, ControllerError> {
        let body = serde_json::to_vec(request)
            .map_err(|source| ControllerError::Encode { operation, source })?;
        self.call(
            Method::POST,
            path_and_query,
            Some(body.into()),
            authenticated,
            operation,
        )
        .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Bytes>,
        authenticated: bool,
        operation: &'static str,
    ) -> Result<T, ControllerError> {
        if authenticated && self.token().is_none() {
            return Err(ControllerError::NotAuthenticated { operation });
        }
        let origin = self.url().origin;
        let url = self.url_for(path_and_query);
        let headers = self.headers(authenticated, body.is_some());
        let answer = self
            .transport
            .send(method, &url, &headers, body)
            .await
            .map_err(ControllerError::from);
        let answer = self.note_failure(&origin, answer)?;
        decode_data(operation, &url, answer)
    }
}

/// Refuses a session answer whose token is empty; `what` names the session in the message.
fn require_token(token: &str, operation: &'static str, what: &str) -> Result<(), ControllerError> {
    if token.is_empty() {
        return Err(ControllerError::Invalid {
            operation,
            reason: format!("{what} has an empty token"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_urls() {
        let u = ControllerUrl::parse("https://ctrl:1280").unwrap();
        assert_eq!(
            (u.origin.as_str(), u.path.as_str()),
            ("https://ctrl:1280", "")
        );
        let u = ControllerUrl::parse("https://127.0.0.1:1280/edge/client/v1/").unwrap();
        assert_eq!(u.path, "/edge/client/v1");
        let u = ControllerUrl::parse("https://[::1]:1280").unwrap();
        assert_eq!(u.origin, "https://[::1]:1280");
        for bad in [
            "",
            "ctrl:1280",
            "http://ctrl:1280",
            "https://",
            "https://u@h:1",
            "https://h:1/?a=b",
            "not a url",
        ] {
            assert!(ControllerUrl::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn query_values_are_percent_encoded() {
        let filter = format!("name=\"{}\"", "a b\"c");
        let enc: String = utf8_percent_encode(&filter, QUERY_VALUE).collect();
        assert_eq!(enc, "name%3D%22a%20b%22c%22");
    }
}
