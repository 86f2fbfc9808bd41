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
//!
//! ## Performance
//!
//! **Proxy** (`cargo bench -p federate --bench gateway`): Debian's Prometheus 2.42 scrapes 200
//! exporters of 1,000 series each directly over loopback HTTP, then through the gateway
//! (http_sd + proxy_url), 60 s per phase at a 5 s interval, everything but Prometheus in one
//! process on the lab, CPU read per runtime. Run of 01:00 UTC on the 2-core build machine:
//!
//! | phase | scrapes | p50 | p99 | exporters CPU/scrape | lab router CPU/scrape | gateway CPU/scrape |
//! | --- | ---: | ---: | ---: | ---: | ---: | ---: |
//! | direct | 2,400 | 2.40 ms | 10.1 ms | 1,248 µs | — | — |
//! | through the gateway | 2,400 | 2.78 ms | 8.1 ms | 1,164 µs | 147 µs | 346 µs |
//!
//! Added latency p50 0.38 ms (target ≤ 0.5 ms, kept-alive streams); gateway CPU per proxied
//! scrape 0.28 × the exporter's CPU for serving that scrape itself (target ≤ 1.5). The process
//! grew by 37 MiB over the dark phase (the gateway's 200 kept-alive streams and buffers, and
//! the exporters' and router's side of them). An earlier run with the machine loaded by two
//! parallel builds (load 4–5), before accepted TCP connections set `TCP_NODELAY`, measured
//! p50 +2.1 ms and a direct p99 of 98 ms (delayed-ACK stalls): the latency figures need a
//! quiet machine.
//!
//! **`/federate`** (`cargo bench -p federate --bench federate_endpoint`, `BENCH_EXPORTERS=20`
//! for the small size): the gateway's `/federate?match[]={job="dark"}` against Prometheus
//! 2.42's own on the same series (Prometheus scrapes the same targets through the gateway),
//! one request at a time, CPU less each side's idle rate:
//!
//! | targets × 1,000 series | gateway p50 / p99 | Prometheus p50 / p99 | gateway CPU/request | Prometheus CPU/request | bytes plain / gzip (gateway) | memory: gateway store / Prometheus VmHWM |
//! | --- | ---: | ---: | ---: | ---: | ---: | ---: |
//! | 20 | 18.5 / 29.8 ms | 83.3 / 110.4 ms | 19.6 ms | 101.5 ms | 3.55 MB / 197 KB | +15 MiB / 155 MiB |
//! | 200 | 230 / 570 ms | 2,611 / 3,766 ms | 154 ms | 1,611 ms | 35.7 MB / 2.20 MB | +106 MiB / 1,120 MiB |
//!
//! The gateway answers 4.5 (20 targets) to 11 (200 targets) times faster for a fifth to a
//! tenth of the CPU, and holds the 200,000 series in a tenth of Prometheus's memory; its cost
//! grows about linearly from 20 to 200 targets, Prometheus's faster. The 200-target row is of
//! 01:20 UTC, after `/federate` learned to stream inside one family (this benchmark's 200
//! targets share one family name); an earlier run, which built that family whole, measured
//! 319 / 462 ms against 1,582 / 2,495 ms and a process peak of 617 MB instead of 357 MB (the
//! process also holds the benchmark's client, which reads each 35.7 MB answer whole, the
//! exporters and the lab). The machine ran other builds during both runs. Its gzip is level 1:
//! 2.20 MB against Prometheus's 1.44 MB.
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
