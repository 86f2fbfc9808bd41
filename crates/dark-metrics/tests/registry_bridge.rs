//! `families_from_registry` on real `prometheus-client` registries: every metric kind the crate
//! offers, its sharp edges (raw HELP, `inf`, sum/count before buckets) and both writers'
//! output, with the expected text written by hand.

use dark_metrics::exposition::{
    families_from_registry, write_openmetrics, write_text, MetricType, RegistryBridgeError,
    WriteOptions,
};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

#[derive(Debug)]
struct SpecialValues;

impl Collector for SpecialValues {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let gauge = ConstGauge::new(f64::INFINITY);
        let metric_encoder = encoder.encode_descriptor(
            "edge_value",
            "Line one\nline \"two\" with \\ backslash",
            None,
            gauge.metric_type(),
        )?;
        let mut family_encoder = metric_encoder;
        let labels = vec![("path".to_string(), "/a \"b\"\\c\nd".to_string())];
        gauge.encode(family_encoder.encode_family(&labels)?)?;
        let negative = ConstGauge::new(f64::NEG_INFINITY);
        let labels = vec![("path".to_string(), "neg".to_string())];
        negative.encode(family_encoder.encode_family(&labels)?)?;
        let nan = ConstGauge::new(f64::NAN);
        let labels = vec![("path".to_string(), "nan".to_string())];
        nan.encode(family_encoder.encode_family(&labels)?)?;
        Ok(())
    }
}

#[derive(Debug)]
struct Failing;

impl Collector for Failing {
    fn encode(&self, _encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        Err(std::fmt::Error)
    }
}

fn registry() -> Registry {
    let mut registry = Registry::default();
    let requests: Family<Vec<(String, String)>, Counter> = Family::default();
    registry.register("http_requests", "Requests served", requests.clone());
    requests
        .get_or_create(&vec![("code".to_string(), "200".to_string())])
        .inc_by(1027);
    let temperature: Gauge<f64, AtomicU64> = Gauge::default();
    temperature.set(21.5);
    registry.register_with_unit(
        "room_temperature",
        "Room temperature",
        Unit::Celsius,
        temperature,
    );
    let latency = Histogram::new([0.1, 1.0]);
    latency.observe(0.05);
    latency.observe(0.5);
    latency.observe(3.0);
    registry.register_with_unit("latency", "Latency", Unit::Seconds, latency);
    let info = Info::new(vec![("version".to_string(), "1.2.3".to_string())]);
    registry.register("build", "Build facts", info);
    registry.register_collector(Box::new(SpecialValues));
    registry
}

#[test]
fn registry_through_the_text_writer() {
    let families = families_from_registry(&registry()).unwrap();
    let mut out = Vec::new();
    write_text(&mut out, &families, &WriteOptions::default());
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "# HELP http_requests_total Requests served.\n\
         # TYPE http_requests_total counter\n\
         http_requests_total{code=\"200\"} 1027\n\
         # HELP room_temperature_celsius Room temperature.\n\
         # TYPE room_temperature_celsius gauge\n\
         room_temperature_celsius 21.5\n\
         # HELP latency_seconds Latency.\n\
         # TYPE latency_seconds histogram\n\
         latency_seconds_bucket{le=\"0.1\"} 1\n\
         latency_seconds_bucket{le=\"1\"} 2\n\
         latency_seconds_bucket{le=\"+Inf\"} 3\n\
         latency_seconds_sum 3.55\n\
         latency_seconds_count 3\n\
         # HELP build_info Build facts.\n\
         # TYPE build_info gauge\n\
         build_info{version=\"1.2.3\"} 1\n\
         # HELP edge_value Line one\\nline \"two\" with \\\\ backslash\n\
         # TYPE edge_value gauge\n\
         edge_value{path=\"/a \\\"b\\\"\\\\c\\nd\"} +Inf\n\
         edge_value{path=\"neg\"} -Inf\n\
         edge_value{path=\"nan\"} NaN\n"
    );
}

#[test]
fn registry_through_the_openmetrics_writer() {
    let families = families_from_registry(&registry()).unwrap();
    assert_eq!(families[3].metric_type, MetricType::Info);
    let mut out = Vec::new();
    write_openmetrics(&mut out, &families, &WriteOptions::default());
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "# TYPE http_requests counter\n\
         # HELP http_requests Requests served.\n\
         http_requests_total{code=\"200\"} 1027.0\n\
         # TYPE room_temperature_celsius gauge\n\
         # UNIT room_temperature_celsius celsius\n\
         # HELP room_temperature_celsius Room temperature.\n\
         room_temperature_celsius 21.5\n\
         # TYPE latency_seconds histogram\n\
         # UNIT latency_seconds seconds\n\
         # HELP latency_seconds Latency.\n\
         latency_seconds_bucket{le=\"0.1\"} 1\n\
         latency_seconds_bucket{le=\"1.0\"} 2\n\
         latency_seconds_bucket{le=\"+Inf\"} 3\n\
         latency_seconds_sum 3.55\n\
         latency_seconds_count 3\n\
         # TYPE build info\n\
         # HELP build Build facts.\n\
         build_info{version=\"1.2.3\"} 1.0\n\
         # TYPE edge_value gauge\n\
         # HELP edge_value Line one\\nline \\\"two\\\" with \\\\ backslash\n\
         edge_value{path=\"/a \\\"b\\\"\\\\c\\nd\"} +Inf\n\
         edge_value{path=\"neg\"} -Inf\n\
         edge_value{path=\"nan\"} NaN\n\
         # EOF\n"
    );
}

#[test]
fn empty_registry_and_failures() {
    assert!(families_from_registry(&Registry::default())
        .unwrap()
        .is_empty());
    let mut failing = Registry::default();
    failing.register_collector(Box::new(Failing));
    assert!(matches!(
        families_from_registry(&failing),
        Err(RegistryBridgeError::Encode)
    ));
    // prometheus-client does not validate names; ours fails with the line.
    let mut bad = Registry::default();
    bad.register("bad name", "Invalid", Gauge::<i64>::default());
    match families_from_registry(&bad) {
        Err(RegistryBridgeError::Parse(error)) => {
            // "# HELP bad name Invalid." reads as family "bad"; its TYPE line then fails.
            assert_eq!(error.line, 2);
            assert!(error.to_string().contains("unknown metric type"), "{error}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}
