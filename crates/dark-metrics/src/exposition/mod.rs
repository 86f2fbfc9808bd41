//! Exposition formats: the in-memory [`model`] of metric families, and (being written) the
//! writers, parsers and content negotiation for OpenMetrics 1.0 and Prometheus text 0.0.4.

pub mod model;

pub use model::{MetricFamily, MetricType, Sample};
