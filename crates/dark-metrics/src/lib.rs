//! # dark-metrics — Prometheus metrics served over dark listeners
//!
//! | module | owns |
//! | --- | --- |
//! | [`health`] | health files: a dark process's liveness for exec probes (the writer and the check) |
//! | [`exposition`] | the metric family model, the OpenMetrics 1.0 and text 0.0.4 writers and parsers, content negotiation, the `prometheus-client` registry bridge |
//! | [`scrape`] | the scraping side: one HTTP GET of a metrics path over any connected stream, parsed by content type |
//! | [`serve`] | the HTTP metrics server: registries and scrape-time collectors behind hyper + tower, deadlines from the scrape-timeout header, gzip, limits, graceful shutdown, any connection source |
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod exposition;
pub mod health;
pub mod scrape;
pub mod serve;
