//! Discovery of the dark targets one identity may scrape, and their Prometheus http_sd form.
//!
//! The source is the controller, through the SDK's session keeper: its service list (services
//! with Dial permission, kept current by `service-updates` polling) narrowed by a
//! [`DiscoveryFilter`], and each service's terminators (`GET /services/{id}/terminators`).
//! A service hosted with addressable terminators (`bindUsingEdgeIdentity`) gives one target
//! per hosting identity; any other service gives one target for the service.
//!
//! [`spawn_discovery`] runs the loop: it rebuilds the list when the service list changes and
//! every refresh interval, and publishes it on a `watch` channel. A hosting identity whose
//! terminator vanished stays listed for [`DiscoveryOptions::keep_vanished`], so a host that
//! crashed shows as a target that is down (with the gateway's reason) before it is forgotten,
//! instead of silently leaving Prometheus. [`http_sd_json`] renders a list for `GET /sd`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use dark_listener::controller::{ControllerSession, Service, SessionType};
use regex_lite::Regex;
use serde_json::{json, Map, Value};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::address::{TargetAddress, SERVICE_PARAM, TERMINATOR_PARAM};
use crate::telemetry::GatewayMetrics;

/// Label carrying the service name.
pub const SERVICE_LABEL: &str = "ziti_service";
/// Label carrying the terminator identity (only on addressable targets).
pub const TERMINATOR_LABEL: &str = "ziti_terminator";
/// Label carrying the service's role attributes, as `,a,b,` (match with `.*,a,.*`).
pub const ATTRIBUTES_LABEL: &str = "ziti_service_attributes";

/// Which services are discovered: those the identity may dial, whose name matches `include`
/// and not `exclude`, and that carry at least one of `attributes` (when any is given).
#[derive(Debug, Clone, Default)]
pub struct DiscoveryFilter {
    include: Option<Regex>,
    exclude: Option<Regex>,
    attributes: Vec<String>,
    excluded_names: BTreeSet<String>,
}

/// A filter that cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("invalid {flag} regex {pattern:?}: {source}")]
pub struct FilterError {
    flag: &'static str,
    pattern: String,
    #[source]
    source: regex_lite::Error,
}

impl DiscoveryFilter {
    /// A filter from the command-line forms: anchored regexes (as Prometheus's relabel
    /// rules: `reflect.*` must match the whole name) and role attributes with or without the
    /// policies' leading `#`.
    pub fn new(
        include: Option<&str>,
        exclude: Option<&str>,
        attributes: &[String],
    ) -> Result<Self, FilterError> {
        let anchored = |flag, pattern: &str| {
            Regex::new(&format!("^(?:{pattern})$")).map_err(|source| FilterError {
                flag,
                pattern: pattern.to_string(),
                source,
            })
        };
        Ok(DiscoveryFilter {
            include: include
                .map(|p| anchored("--service-regex", p))
                .transpose()?,
            exclude: exclude
                .map(|p| anchored("--exclude-service-regex", p))
                .transpose()?,
            attributes: attributes
                .iter()
                .map(|a| a.strip_prefix('#').unwrap_or(a).to_string())
                .filter(|a| !a.is_empty())
                .collect(),
            excluded_names: BTreeSet::new(),
        })
    }

    /// Also leaves out the service called `name` (the gateway's own, when it serves dark).
    pub fn excluding(mut self, name: &str) -> Self {
        self.excluded_names.insert(name.to_string());
        self
    }

    /// Whether `service` is discovered.
    pub fn matches(&self, service: &Service) -> bool {
        service.permits(SessionType::Dial)
            && !self.excluded_names.contains(&service.name)
            && self
                .include
                .as_ref()
                .is_none_or(|r| r.is_match(&service.name))
            && !self
                .exclude
                .as_ref()
                .is_some_and(|r| r.is_match(&service.name))
            && (self.attributes.is_empty()
                || service
                    .role_attributes
                    .iter()
                    .any(|a| self.attributes.contains(a)))
    }
}

/// One discovered target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredTarget {
    /// Where it is.
    pub address: TargetAddress,
    /// The service's role attributes.
    pub attributes: Vec<String>,
}

/// The discovered targets, ordered by address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetList {
    /// The targets.
    pub targets: Vec<DiscoveredTarget>,
    /// Whether the list has been built from the controller at least once.
    pub ready: bool,
    /// The last discovery failure, if the last round had one.
    pub last_error: Option<String>,
}

/// Tunables of [`spawn_discovery`].
#[derive(Debug, Clone)]
pub struct DiscoveryOptions {
    /// Which services.
    pub filter: DiscoveryFilter,
    /// How often terminators are listed again (the service list follows the session
    /// keeper's own `service-updates` polling).
    pub refresh_interval: Duration,
    /// How long a hosting identity stays listed after its terminator vanished.
    pub keep_vanished: Duration,
    /// Longest wait for one controller call.
    pub request_timeout: Duration,
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        DiscoveryOptions {
            filter: DiscoveryFilter::default(),
            refresh_interval: Duration::from_secs(30),
            keep_vanished: Duration::from_secs(600),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Starts the discovery loop; it runs until `stop` fires. The receiver always holds the
/// latest list.
pub fn spawn_discovery(
    controller: Arc<ControllerSession>,
    options: DiscoveryOptions,
    metrics: Arc<GatewayMetrics>,
    stop: CancellationToken,
) -> watch::Receiver<Arc<TargetList>> {
    let (publish, receiver) = watch::channel(Arc::new(TargetList::default()));
    tokio::spawn(async move {
        let mut sessions = controller.subscribe();
        let mut round = DiscoveryRound::default();
        loop {
            let services = controller.snapshot().services;
            let list = Arc::new(round.run(&controller, &services, &options).await);
            metrics.set_discovered(&list);
            publish.send_replace(list);
            let next = Instant::now() + options.refresh_interval;
            // Wait for the interval, or for a new service list, or for the stop.
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep_until(next) => break,
                    changed = sessions.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        if !Arc::ptr_eq(&sessions.borrow_and_update().services, &services) {
                            break;
                        }
                    }
                }
            }
        }
    });
    receiver
}

/// What one round remembers for the next: the hosting identities seen per service, and
/// when each was last seen.
#[derive(Debug, Default)]
struct DiscoveryRound {
    seen: BTreeMap<String, BTreeMap<String, Instant>>,
    anonymous: BTreeSet<String>,
}

impl DiscoveryRound {
    async fn run(
        &mut self,
        controller: &ControllerSession,
        services: &BTreeMap<String, Service>,
        options: &DiscoveryOptions,
    ) -> TargetList {
        let now = Instant::now();
        let mut targets = Vec::new();
        let mut last_error = None;
        let matching: Vec<&Service> = services
            .values()
            .filter(|s| options.filter.matches(s))
            .collect();
        self.seen.retain(|name, _| services.contains_key(name));
        for service in matching {
            let listed = tokio::time::timeout(
                options.request_timeout,
                controller.service_terminators(&service.name),
            )
            .await;
            match listed {
                Ok(Ok(terminators)) => {
                    let seen = self.seen.entry(service.name.clone()).or_default();
                    let mut anonymous = false;
                    for t in terminators {
                        if t.identity.is_empty() {
                            anonymous = true;
                        } else {
                            seen.insert(t.identity, now);
                        }
                    }
                    if anonymous {
                        self.anonymous.insert(service.name.clone());
                    } else {
                        self.anonymous.remove(&service.name);
                    }
                }
                // Keep what was known; say why the list may be stale.
                Ok(Err(error)) => {
                    last_error = Some(format!(
                        "listing the terminators of {:?}: {error}",
                        service.name
                    ));
                }
                Err(_) => {
                    last_error = Some(format!(
                        "listing the terminators of {:?} took longer than {:?}",
                        service.name, options.request_timeout
                    ));
                }
            }
            let seen = self.seen.entry(service.name.clone()).or_default();
            seen.retain(|_, at| now.duration_since(*at) <= options.keep_vanished);
            for identity in seen.keys() {
                targets.push(DiscoveredTarget {
                    address: TargetAddress::hosted_by(&service.name, identity),
                    attributes: service.role_attributes.clone(),
                });
            }
            // The service as such: when something is hosted without an instance id, or
            // when nothing is hosted at all (the target is then down, with its reason).
            if self.anonymous.contains(&service.name) || seen.is_empty() {
                targets.push(DiscoveredTarget {
                    address: TargetAddress::service(&service.name),
                    attributes: service.role_attributes.clone(),
                });
            }
        }
        targets.sort_by(|a, b| a.address.cmp(&b.address));
        if let Some(error) = &last_error {
            tracing::warn!(%error, "discovery: the target list may be stale");
        }
        TargetList {
            targets,
            ready: true,
            last_error,
        }
    }
}

/// A host-name form of `name` for the `targets` entry of http_sd (shown by Prometheus in
/// the target's URL; routing uses the `ziti_service` parameter): characters outside
/// `[A-Za-z0-9.-]` become `-`.
fn display_host(name: &str) -> String {
    let host: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let host = host.trim_matches(|c| c == '.' || c == '-');
    if host.is_empty() {
        "ziti".to_string()
    } else {
        host.to_string()
    }
}

/// The http_sd document (`[{"targets": […], "labels": {…}}, …]`) of `list`: per target, its
/// `instance`, the ziti labels, and the `__param_*` labels that route Prometheus's scrape
/// through the gateway's proxy, so a job of `http_sd_configs` + `proxy_url` needs no
/// relabel rules.
pub fn http_sd_json(list: &TargetList) -> Value {
    let groups: Vec<Value> = list
        .targets
        .iter()
        .map(|target| {
            let address = &target.address;
            let mut labels = Map::new();
            labels.insert("instance".into(), json!(address.instance()));
            labels.insert(SERVICE_LABEL.into(), json!(address.service));
            labels.insert(format!("__param_{SERVICE_PARAM}"), json!(address.service));
            if let Some(terminator) = &address.terminator {
                labels.insert(TERMINATOR_LABEL.into(), json!(terminator));
                labels.insert(format!("__param_{TERMINATOR_PARAM}"), json!(terminator));
            }
            if !target.attributes.is_empty() {
                labels.insert(
                    ATTRIBUTES_LABEL.into(),
                    json!(format!(",{},", target.attributes.join(","))),
                );
            }
            json!({"targets": [display_host(&address.service)], "labels": labels})
        })
        .collect();
    Value::Array(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dark_listener::controller::ServicePermission;

    fn service(name: &str, perms: &[ServicePermission], attributes: &[&str]) -> Service {
        Service {
            id: format!("id-{name}"),
            name: name.to_string(),
            permissions: perms.to_vec(),
            role_attributes: attributes.iter().map(|a| a.to_string()).collect(),
            ..Service::default()
        }
    }

    #[test]
    fn filter_needs_dial_and_anchors_its_regexes() {
        use ServicePermission::{Bind, Dial};
        let all = DiscoveryFilter::new(None, None, &[]).unwrap();
        assert!(all.matches(&service("a", &[Dial], &[])));
        assert!(!all.matches(&service("a", &[Bind], &[])));
        let f = DiscoveryFilter::new(Some("reflect.*"), Some(".*-test"), &[]).unwrap();
        assert!(f.matches(&service("reflect-metrics", &[Dial], &[])));
        assert!(!f.matches(&service("my-reflect-metrics", &[Dial], &[])));
        assert!(!f.matches(&service("reflect-test", &[Dial], &[])));
        let f = DiscoveryFilter::new(None, None, &["#scrape".into(), "prod".into()]).unwrap();
        assert!(f.matches(&service("a", &[Dial], &["x", "scrape"])));
        assert!(f.matches(&service("a", &[Dial], &["prod"])));
        assert!(!f.matches(&service("a", &[Dial], &["scraper"])));
        let f = all.excluding("gateway");
        assert!(!f.matches(&service("gateway", &[Dial], &[])));
        let err = DiscoveryFilter::new(Some("("), None, &[]).unwrap_err();
        assert!(err.to_string().contains("--service-regex"), "{err}");
    }

    #[test]
    fn http_sd_routes_through_parameters_and_labels_every_target() {
        let list = TargetList {
            targets: vec![
                DiscoveredTarget {
                    address: TargetAddress::hosted_by("reflect-metrics", "host-1"),
                    attributes: vec!["scrape".into(), "demo".into()],
                },
                DiscoveredTarget {
                    address: TargetAddress::service("odd name/é"),
                    attributes: vec![],
                },
            ],
            ready: true,
            last_error: None,
        };
        let sd = http_sd_json(&list);
        assert_eq!(
            sd,
            json!([
                {"targets": ["reflect-metrics"], "labels": {
                    "instance": "host-1@reflect-metrics",
                    "ziti_service": "reflect-metrics",
                    "ziti_terminator": "host-1",
                    "ziti_service_attributes": ",scrape,demo,",
                    "__param_ziti_service": "reflect-metrics",
                    "__param_ziti_terminator": "host-1"}},
                {"targets": ["odd-name"], "labels": {
                    "instance": "odd name/é",
                    "ziti_service": "odd name/é",
                    "__param_ziti_service": "odd name/é"}}
            ])
        );
        assert_eq!(display_host("_"), "ziti");
    }
}
