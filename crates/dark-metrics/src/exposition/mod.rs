//! Exposition formats: the in-memory [`model`] of metric families, the writers for Prometheus
//! text 0.0.4 and OpenMetrics 1.0 ([`mod@write`]), content negotiation ([`mod@negotiate`]), the
//! parsers ([`mod@parse`]), the `prometheus-client` bridge ([`registry`]), number formatting
//! ([`float`]) and name escaping ([`names`]).
//!
//! One scrape, end to end:
//!
//! ```
//! use dark_metrics::exposition::{negotiate, write_format, MetricFamily, MetricType};
//!
//! let families = vec![MetricFamily::new("node_load1", "1m load average.", MetricType::Gauge)
//!     .with_sample(vec![], 0.75)];
//! // The Accept header Prometheus 2.x sends.
//! let accept = "application/openmetrics-text;version=1.0.0,\
//!               application/openmetrics-text;version=0.0.1;q=0.75,\
//!               text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
//! let negotiated = negotiate(Some(accept));
//! let mut body = Vec::new(); // reuse across scrapes
//! write_format(&mut body, negotiated.format, &families, &negotiated.write_options());
//! assert_eq!(
//!     negotiated.content_type,
//!     "application/openmetrics-text; version=1.0.0; charset=utf-8"
//! );
//! assert_eq!(
//!     body,
//!     b"# TYPE node_load1 gauge\n# HELP node_load1 1m load average.\nnode_load1 0.75\n# EOF\n"
//! );
//! ```

pub mod float;
pub mod model;
pub mod names;
pub mod negotiate;
pub mod parse;
pub mod registry;
pub mod write;

pub use model::{MetricFamily, MetricType, Sample, Text};
pub use names::EscapingScheme;
pub use negotiate::{negotiate, Format, Negotiated};
pub use parse::{
    parse, parse_openmetrics, parse_text, ParseError, ParseErrorKind, ParseLimits, Parser,
};
pub use registry::{families_from_registry, RegistryBridgeError};
pub use write::{
    write_format, write_format_to, write_openmetrics, write_text, write_text_metadata,
    write_text_samples, WriteOptions,
};
