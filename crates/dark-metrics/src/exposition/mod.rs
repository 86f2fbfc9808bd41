//! Exposition formats: the in-memory [`model`] of metric families, the writers for Prometheus
//! text 0.0.4 and OpenMetrics 1.0 ([`write`]), content negotiation ([`negotiate`]), the
//! parsers ([`parse`]), the `prometheus-client` bridge ([`registry`]), number formatting
//! ([`float`]) and name escaping ([`names`]).

pub mod float;
pub mod model;
pub mod names;
pub mod negotiate;
pub mod parse;
pub mod registry;
pub mod write;

pub use model::{MetricFamily, MetricType, Sample};
pub use names::EscapingScheme;
pub use negotiate::{negotiate, Format, Negotiated};
pub use parse::{
    parse, parse_openmetrics, parse_text, ParseError, ParseErrorKind, ParseLimits, Parser,
};
pub use registry::{families_from_registry, RegistryBridgeError};
pub use write::{write_format, write_format_to, write_openmetrics, write_text, WriteOptions};
