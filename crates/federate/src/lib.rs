//! # federate — the gateway between an OpenZiti overlay and an unmodified Prometheus
//!
//! The gateway holds one scraper identity and turns the overlay into what Prometheus already
//! understands: **service discovery** (`GET /sd`, Prometheus http_sd JSON of every dark target
//! the identity may dial) and a **scrape proxy** (`proxy_url`: Prometheus sends absolute-URI
//! GETs, the gateway dials the service over the overlay and relays the answer unchanged). It
//! also serves its own metrics (`/metrics`, with a reason series per failing target) and a
//! status page (`/`). It serves on a loopback bridge, on a dark service, or both.
//!
//! | module | owns |
//! | --- | --- |
//! | [`address`] | how a scrape names its target (`ziti_service` / `ziti_terminator` parameters, or the URL host) |
//! | [`discovery`] | the target list from the controller, its filter, and its http_sd form |
//! | [`proxy`] | dialing targets over the overlay with kept-alive connections, forwarding, failure reasons |
//! | [`body`] | reading an answer under a size limit, and the cheap exposition check |
//! | [`scrape_loop`] | the gateway's own scrapes of every target, the latest sample set of each |
//! | [`federation`] | `/federate`: PromQL selectors, labels, streamed text output |
//! | [`forward`] | `darkscrape host`: an existing loopback TCP service hosted dark, byte for byte |
//! | [`telemetry`] | the gateway's metrics and the last outcome of every target |
//! | [`gateway`] | the one tower service every listener serves: routing and the status page |
//! | [`run`] | starting and stopping a gateway on its listeners |
//!
//! ## Prometheus configuration (no relabel rules)
//!
//! ```yaml
//! scrape_configs:
//!   - job_name: dark
//!     http_sd_configs:
//!       - url: http://127.0.0.1:9099/sd
//!     proxy_url: http://127.0.0.1:9099/
//! ```
//!
//! Every target gets `instance` (`<terminator>@<service>`, or the service name), `ziti_service`,
//! `ziti_terminator` (addressable terminators), `ziti_service_attributes` (`,a,b,`), and the
//! `__param_ziti_service` / `__param_ziti_terminator` labels that route its scrape.
//!
//! A failing target answers with a precise status (400 bad request, 403 not permitted, 404
//! unknown service, 502 dial refused / closed mid-body / body too large / invalid exposition,
//! 503 no terminator or overloaded, 504 deadline) and its reason shows in
//! `darkscrape_federate_last_scrape_error{instance,reason,…} 1`.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod address;
pub mod body;
pub mod discovery;
pub mod federation;
pub mod forward;
pub mod gateway;
pub mod proxy;
pub mod run;
pub mod scrape_loop;
pub mod telemetry;

pub use address::{ProxiedRequest, TargetAddress};
pub use discovery::{DiscoveredTarget, DiscoveryFilter, DiscoveryOptions, TargetList};
pub use gateway::GatewayService;
pub use proxy::{ProxyFailure, ProxyLimits, ScrapeProxy};
pub use run::{start_gateway, wait_for_targets, GatewayConfig, GatewayError, RunningGateway};
pub use telemetry::GatewayMetrics;
