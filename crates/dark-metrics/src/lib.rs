//! # dark-metrics — Prometheus metrics served over dark listeners
//!
//! | module | owns |
//! | --- | --- |
//! | [`exposition`] | the metric family model, the OpenMetrics 1.0 and text 0.0.4 writers and parsers, content negotiation, the `prometheus-client` registry bridge |
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod exposition;
