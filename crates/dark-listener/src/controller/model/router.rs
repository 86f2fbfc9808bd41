//! Edge routers as a service session lists them, and their `tls:` addresses.

use super::*;

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
