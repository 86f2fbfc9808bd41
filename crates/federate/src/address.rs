//! How a scrape names its dark target: [`TargetAddress`] (a service and, for addressable
//! terminators, the hosting identity), read from the absolute-URI request Prometheus sends
//! to a `proxy_url` ([`ProxiedRequest::parse`]).
//!
//! Two ways to name a target, both accepted on every request:
//!
//! * **Query parameters** (what discovery hands out, and the only form for any service
//!   name): `ziti_service=<name>` and optionally `ziti_terminator=<identity>`, set in
//!   Prometheus with `__param_ziti_service` / `__param_ziti_terminator` labels or `params:`.
//!   The URL's host is then only a label for people.
//! * **The URL's host** when no `ziti_service` parameter is given: `http://<service>[:port]/…`,
//!   for hand-written `static_configs` whose service names are valid host names.
//!
//! The gateway's own parameters are removed before the request is forwarded; every other
//! query parameter (an exporter's `module=` or `target=`) reaches the target unchanged. Any
//! service name works, including `-`, `.`, spaces and non-ASCII: nothing is split on a
//! separator (the seed's `service-identity` form broke on `-`).
//!
//! This module also owns the connection-pool key of a target
//! ([`TargetAddress::pool_authority`]): a host name made of hex digits that the overlay
//! connector turns back into the address.

use std::fmt;

use http::Uri;

/// Query parameter naming the service to dial.
pub const SERVICE_PARAM: &str = "ziti_service";
/// Query parameter naming the terminator identity (the hosting identity of an addressable
/// terminator, bound with `bindUsingEdgeIdentity`).
pub const TERMINATOR_PARAM: &str = "ziti_terminator";

/// A dark scrape target: the service, and the hosting identity when the service is hosted
/// with addressable terminators.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetAddress {
    /// The OpenZiti service to dial.
    pub service: String,
    /// The terminator identity to reach (dial header 1006), if one is named.
    pub terminator: Option<String>,
}

impl TargetAddress {
    /// A target on `service`, any terminator.
    pub fn service(service: impl Into<String>) -> Self {
        TargetAddress {
            service: service.into(),
            terminator: None,
        }
    }

    /// A target on `service` hosted by `terminator`.
    pub fn hosted_by(service: impl Into<String>, terminator: impl Into<String>) -> Self {
        TargetAddress {
            service: service.into(),
            terminator: Some(terminator.into()),
        }
    }

    /// The `instance` label of this target: `<terminator>@<service>`, or the service name
    /// when no terminator is named. Unique per target, since a terminator identity belongs
    /// to one host per service.
    pub fn instance(&self) -> String {
        self.to_string()
    }

    /// The key of this target's connection pool, as a URI host: `s<hex of the service>`,
    /// then `.t<hex of the terminator>` when there is one. Hex keeps any name a valid host.
    pub fn pool_authority(&self) -> String {
        let mut key = String::with_capacity(2 + 2 * self.service.len());
        key.push('s');
        push_hex(&mut key, self.service.as_bytes());
        if let Some(terminator) = &self.terminator {
            key.push_str(".t");
            push_hex(&mut key, terminator.as_bytes());
        }
        key
    }

    /// Reads back [`TargetAddress::pool_authority`]; `None` for any other host.
    pub fn from_pool_authority(host: &str) -> Option<Self> {
        let (service, terminator) = match host.split_once('.') {
            Some((service, terminator)) => (service, Some(terminator.strip_prefix('t')?)),
            None => (host, None),
        };
        let service = from_hex(service.strip_prefix('s')?).filter(|s| !s.is_empty())?;
        let terminator = match terminator {
            Some(hex) => Some(from_hex(hex)?),
            None => None,
        };
        Some(TargetAddress {
            service,
            terminator,
        })
    }
}

impl fmt::Display for TargetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.terminator {
            Some(terminator) => write!(f, "{terminator}@{}", self.service),
            None => f.write_str(&self.service),
        }
    }
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
}

fn from_hex(text: &str) -> Option<String> {
    if text.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = text
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            u8::try_from(high * 16 + low).ok()
        })
        .collect();
    String::from_utf8(bytes?).ok()
}

/// Why a proxied request names no target the gateway may dial.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The request line holds a path, not an absolute URI: not a proxy request.
    #[error("not a proxy request: expected an absolute URI such as http://SERVICE/metrics (set proxy_url in the scrape config)")]
    NotAbsolute,
    /// The scheme is not `http`.
    #[error("scheme {0:?} is not proxied: use scheme http, the overlay already encrypts and authenticates every connection")]
    Scheme(String),
    /// Neither a `ziti_service` parameter nor a host names the service.
    #[error(
        "no service named: give the service as the URL host or as the ziti_service query parameter"
    )]
    NoService,
    /// A gateway parameter is given twice.
    #[error("query parameter {0} is given more than once")]
    Repeated(&'static str),
}

/// A scrape Prometheus sent to the gateway as a proxy: the target, and the path and query
/// to request from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxiedRequest {
    /// The dark target.
    pub target: TargetAddress,
    /// Path and query to send to the target, the gateway's own parameters removed.
    pub path_and_query: String,
}

impl ProxiedRequest {
    /// Reads the target from an absolute request URI (see the module docs).
    pub fn parse(uri: &Uri) -> Result<Self, AddressError> {
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(AddressError::NotAbsolute);
        };
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(AddressError::Scheme(scheme.to_string()));
        }
        let mut service = None;
        let mut terminator = None;
        let mut kept = form_urlencoded::Serializer::new(String::new());
        let mut kept_any = false;
        for (key, value) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
            let slot = match key.as_ref() {
                SERVICE_PARAM => &mut service,
                TERMINATOR_PARAM => &mut terminator,
                _ => {
                    kept.append_pair(&key, &value);
                    kept_any = true;
                    continue;
                }
            };
            if slot.is_some() {
                return Err(AddressError::Repeated(if key == SERVICE_PARAM {
                    SERVICE_PARAM
                } else {
                    TERMINATOR_PARAM
                }));
            }
            *slot = Some(value.into_owned());
        }
        let service = match service {
            Some(name) if !name.is_empty() => name,
            Some(_) => return Err(AddressError::NoService),
            None => authority.host().to_string(),
        };
        if service.is_empty() {
            return Err(AddressError::NoService);
        }
        let mut path_and_query = match uri.path() {
            "" => "/".to_string(),
            path => path.to_string(),
        };
        if kept_any {
            path_and_query.push('?');
            path_and_query.push_str(&kept.finish());
        }
        Ok(ProxiedRequest {
            target: TargetAddress {
                service,
                terminator: terminator.filter(|t| !t.is_empty()),
            },
            path_and_query,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(uri: &str) -> Result<ProxiedRequest, AddressError> {
        ProxiedRequest::parse(&uri.parse::<Uri>().expect("test URI parses"))
    }

    #[test]
    fn parameters_name_any_service_and_are_not_forwarded() {
        let got = parse(
            "http://placeholder:80/metrics?ziti_service=my+svc%2Fv1-a.b%C3%A9&module=if_mib&ziti_terminator=host-1.example",
        )
        .unwrap();
        assert_eq!(
            got.target,
            TargetAddress::hosted_by("my svc/v1-a.bé", "host-1.example")
        );
        assert_eq!(got.path_and_query, "/metrics?module=if_mib");
        assert_eq!(got.target.instance(), "host-1.example@my svc/v1-a.bé");
    }

    #[test]
    fn the_host_names_the_service_when_no_parameter_does() {
        let got = parse("http://reflect-metrics.prod:80/metrics").unwrap();
        assert_eq!(got.target, TargetAddress::service("reflect-metrics.prod"));
        assert_eq!(got.path_and_query, "/metrics");
        let got = parse("http://svc?ziti_terminator=").unwrap();
        assert_eq!(got.target, TargetAddress::service("svc"));
        assert_eq!(got.path_and_query, "/");
    }

    #[test]
    fn malformed_requests_are_refused_with_a_reason() {
        assert_eq!(parse("/metrics"), Err(AddressError::NotAbsolute));
        assert_eq!(
            parse("https://svc/metrics"),
            Err(AddressError::Scheme("https".into()))
        );
        assert_eq!(
            parse("http://svc/metrics?ziti_service="),
            Err(AddressError::NoService)
        );
        assert_eq!(
            parse("http://svc/m?ziti_service=a&ziti_service=b"),
            Err(AddressError::Repeated(SERVICE_PARAM))
        );
        assert_eq!(
            parse("http://svc/m?ziti_terminator=a&ziti_terminator=b"),
            Err(AddressError::Repeated(TERMINATOR_PARAM))
        );
    }

    #[test]
    fn pool_keys_round_trip_and_reject_other_hosts() {
        for target in [
            TargetAddress::service("a"),
            TargetAddress::service("with.dots-and-dashes"),
            TargetAddress::hosted_by("svc é/x", "id@weird.name"),
        ] {
            let key = target.pool_authority();
            assert!(key
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == '.' || c == 's' || c == 't'));
            let uri: Uri = format!("http://{key}/metrics").parse().unwrap();
            assert_eq!(uri.host(), Some(key.as_str()));
            assert_eq!(TargetAddress::from_pool_authority(&key), Some(target));
        }
        for bad in ["", "s", "s6", "x61", "s61.x62", "s61.t6", "s61.tzz", "sff"] {
            assert_eq!(TargetAddress::from_pool_authority(bad), None, "{bad:?}");
        }
    }
}
