//! Golden outputs of both writers for every metric type and escaping case. The expected text
//! is written by hand from the format specifications (and Go's `expfmt` conventions), not
//! produced by our writer.

use dark_metrics::exposition::{
    write_openmetrics, write_text, EscapingScheme, MetricFamily, MetricType, Sample, Text,
    WriteOptions,
};

fn labels(pairs: &[(&str, &str)]) -> Vec<(Text, Text)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string().into(), v.to_string().into()))
        .collect()
}

fn sample(suffix: &'static str, pairs: &[(&str, &str)], value: f64) -> Sample {
    Sample {
        suffix,
        labels: labels(pairs),
        value,
        timestamp_ms: None,
    }
}

fn text(families: &[MetricFamily]) -> String {
    let mut out = Vec::new();
    write_text(&mut out, families, &WriteOptions::default());
    String::from_utf8(out).unwrap()
}

fn om(families: &[MetricFamily]) -> String {
    om_with(families, &WriteOptions::default())
}

fn om_with(families: &[MetricFamily], options: &WriteOptions) -> String {
    let mut out = Vec::new();
    write_openmetrics(&mut out, families, options);
    String::from_utf8(out).unwrap()
}

fn counter() -> MetricFamily {
    let mut family = MetricFamily::new(
        "node_cpu_seconds_total",
        "Seconds the CPUs spent in each mode.",
        MetricType::Counter,
    )
    .with_sample(labels(&[("cpu", "0"), ("mode", "idle")]), 1795343977.0)
    .with_sample(labels(&[("cpu", "0"), ("mode", "user")]), 0.75);
    family.samples.push(sample(
        "_created",
        &[("cpu", "0"), ("mode", "idle")],
        1700000000.5,
    ));
    family
}

#[test]
fn counter_text() {
    assert_eq!(
        text(&[counter()]),
        "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n\
         # TYPE node_cpu_seconds_total counter\n\
         node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 1.795343977e+09\n\
         node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 0.75\n"
    );
}

#[test]
fn counter_openmetrics() {
    assert_eq!(
        om(&[counter()]),
        "# TYPE node_cpu_seconds counter\n\
         # HELP node_cpu_seconds Seconds the CPUs spent in each mode.\n\
         node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 1.795343977e+09\n\
         node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 0.75\n\
         # EOF\n"
    );
    let with_created = WriteOptions {
        created_samples: true,
        ..WriteOptions::default()
    };
    assert_eq!(
        om_with(&[counter()], &with_created),
        "# TYPE node_cpu_seconds counter\n\
         # HELP node_cpu_seconds Seconds the CPUs spent in each mode.\n\
         node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 1.795343977e+09\n\
         node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 0.75\n\
         node_cpu_seconds_created{cpu=\"0\",mode=\"idle\"} 1.7000000005e+09\n\
         # EOF\n"
    );
}

#[test]
fn counter_without_total_is_unknown_in_openmetrics() {
    let family = MetricFamily::new("requests", "", MetricType::Counter).with_sample(vec![], 63.0);
    assert_eq!(
        text(std::slice::from_ref(&family)),
        "# TYPE requests counter\nrequests 63\n"
    );
    assert_eq!(
        om(&[family]),
        "# TYPE requests unknown\nrequests 63.0\n# EOF\n"
    );
}

#[test]
fn gauge_special_values() {
    let family = MetricFamily::new("temperature", "", MetricType::Gauge)
        .with_sample(labels(&[("k", "nan")]), f64::NAN)
        .with_sample(labels(&[("k", "inf")]), f64::INFINITY)
        .with_sample(labels(&[("k", "-inf")]), f64::NEG_INFINITY)
        .with_sample(labels(&[("k", "neg-zero")]), -0.0)
        .with_sample(labels(&[("k", "small")]), 0.00001)
        .with_sample(labels(&[("k", "one")]), 1.0);
    assert_eq!(
        text(std::slice::from_ref(&family)),
        "# TYPE temperature gauge\n\
         temperature{k=\"nan\"} NaN\n\
         temperature{k=\"inf\"} +Inf\n\
         temperature{k=\"-inf\"} -Inf\n\
         temperature{k=\"neg-zero\"} 0\n\
         temperature{k=\"small\"} 1e-05\n\
         temperature{k=\"one\"} 1\n"
    );
    assert_eq!(
        om(&[family]),
        "# TYPE temperature gauge\n\
         temperature{k=\"nan\"} NaN\n\
         temperature{k=\"inf\"} +Inf\n\
         temperature{k=\"-inf\"} -Inf\n\
         temperature{k=\"neg-zero\"} 0.0\n\
         temperature{k=\"small\"} 1e-05\n\
         temperature{k=\"one\"} 1.0\n\
         # EOF\n"
    );
}

#[test]
fn escaping_in_help_and_label_values() {
    let family = MetricFamily::new(
        "node_filesystem_avail_bytes",
        "Path \"quoted\" with \\ backslash\nand newline.",
        MetricType::Gauge,
    )
    .with_sample(
        labels(&[("mountpoint", "/mnt/a \"b\"\\c\nd"), ("fstype", "ext4")]),
        4096.0,
    );
    assert_eq!(
        text(std::slice::from_ref(&family)),
        "# HELP node_filesystem_avail_bytes Path \"quoted\" with \\\\ backslash\\nand newline.\n\
         # TYPE node_filesystem_avail_bytes gauge\n\
         node_filesystem_avail_bytes{mountpoint=\"/mnt/a \\\"b\\\"\\\\c\\nd\",fstype=\"ext4\"} 4096\n"
    );
    assert_eq!(
        om(&[family.with_unit("bytes")]),
        "# TYPE node_filesystem_avail_bytes gauge\n\
         # UNIT node_filesystem_avail_bytes bytes\n\
         # HELP node_filesystem_avail_bytes Path \\\"quoted\\\" with \\\\ backslash\\nand newline.\n\
         node_filesystem_avail_bytes{mountpoint=\"/mnt/a \\\"b\\\"\\\\c\\nd\",fstype=\"ext4\"} 4096.0\n\
         # EOF\n"
    );
}

#[test]
fn unit_not_matching_the_name_is_left_out() {
    let family = MetricFamily::new("uptime", "", MetricType::Gauge)
        .with_unit("seconds")
        .with_sample(vec![], 12.5);
    assert_eq!(om(&[family]), "# TYPE uptime gauge\nuptime 12.5\n# EOF\n");
}

fn histogram(metric_type: MetricType) -> MetricFamily {
    let (count, sum) = if metric_type == MetricType::GaugeHistogram {
        ("_gcount", "_gsum")
    } else {
        ("_count", "_sum")
    };
    MetricFamily {
        name: "request_duration_seconds".into(),
        help: "Request latency.".into(),
        unit: "".into(),
        metric_type,
        samples: vec![
            sample("_bucket", &[("path", "/"), ("le", "0.1")], 3.0),
            sample("_bucket", &[("path", "/"), ("le", "1")], 7.0),
            sample("_bucket", &[("path", "/"), ("le", "1000000")], 8.0),
            sample("_bucket", &[("path", "/"), ("le", "+Inf")], 9.0),
            sample(sum, &[("path", "/")], 12.25),
            sample(count, &[("path", "/")], 9.0),
            sample("_created", &[("path", "/")], 1700000000.0),
        ],
    }
}

#[test]
fn histogram_text_and_openmetrics() {
    let family = histogram(MetricType::Histogram);
    assert_eq!(
        text(std::slice::from_ref(&family)),
        "# HELP request_duration_seconds Request latency.\n\
         # TYPE request_duration_seconds histogram\n\
         request_duration_seconds_bucket{path=\"/\",le=\"0.1\"} 3\n\
         request_duration_seconds_bucket{path=\"/\",le=\"1\"} 7\n\
         request_duration_seconds_bucket{path=\"/\",le=\"1e+06\"} 8\n\
         request_duration_seconds_bucket{path=\"/\",le=\"+Inf\"} 9\n\
         request_duration_seconds_sum{path=\"/\"} 12.25\n\
         request_duration_seconds_count{path=\"/\"} 9\n"
    );
    assert_eq!(
        om(&[family]),
        "# TYPE request_duration_seconds histogram\n\
         # HELP request_duration_seconds Request latency.\n\
         request_duration_seconds_bucket{path=\"/\",le=\"0.1\"} 3\n\
         request_duration_seconds_bucket{path=\"/\",le=\"1.0\"} 7\n\
         request_duration_seconds_bucket{path=\"/\",le=\"1e+06\"} 8\n\
         request_duration_seconds_bucket{path=\"/\",le=\"+Inf\"} 9\n\
         request_duration_seconds_sum{path=\"/\"} 12.25\n\
         request_duration_seconds_count{path=\"/\"} 9\n\
         # EOF\n"
    );
}

#[test]
fn gauge_histogram_maps_to_histogram_in_text() {
    let family = histogram(MetricType::GaugeHistogram);
    assert_eq!(
        text(std::slice::from_ref(&family)),
        "# HELP request_duration_seconds Request latency.\n\
         # TYPE request_duration_seconds histogram\n\
         request_duration_seconds_bucket{path=\"/\",le=\"0.1\"} 3\n\
         request_duration_seconds_bucket{path=\"/\",le=\"1\"} 7\n\
         request_duration_seconds_bucket{path=\"/\",le=\"1e+06\"} 8\n\
         request_duration_seconds_bucket{path=\"/\",le=\"+Inf\"} 9\n\
         request_duration_seconds_sum{path=\"/\"} 12.25\n\
         request_duration_seconds_count{path=\"/\"} 9\n"
    );
    assert_eq!(
        om(&[family]),
        "# TYPE request_duration_seconds gaugehistogram\n\
         # HELP request_duration_seconds Request latency.\n\
         request_duration_seconds_bucket{path=\"/\",le=\"0.1\"} 3\n\
         request_duration_seconds_bucket{path=\"/\",le=\"1.0\"} 7\n\
         request_duration_seconds_bucket{path=\"/\",le=\"1e+06\"} 8\n\
         request_duration_seconds_bucket{path=\"/\",le=\"+Inf\"} 9\n\
         request_duration_seconds_gsum{path=\"/\"} 12.25\n\
         request_duration_seconds_gcount{path=\"/\"} 9\n\
         # EOF\n"
    );
}

#[test]
fn summary_text_and_openmetrics() {
    let family = MetricFamily {
        name: "rpc_seconds".into(),
        help: "".into(),
        unit: "seconds".into(),
        metric_type: MetricType::Summary,
        samples: vec![
            sample("", &[("quantile", "0.5")], 0.25),
            sample("", &[("quantile", "0.99")], 1.5),
            sample("", &[("quantile", "1")], 2.0),
            sample("_sum", &[], 40.5),
            sample("_count", &[], 100.0),
        ],
    };
    assert_eq!(
        text(std::slice::from_ref(&family)),
        "# TYPE rpc_seconds summary\n\
         rpc_seconds{quantile=\"0.5\"} 0.25\n\
         rpc_seconds{quantile=\"0.99\"} 1.5\n\
         rpc_seconds{quantile=\"1\"} 2\n\
         rpc_seconds_sum 40.5\n\
         rpc_seconds_count 100\n"
    );
    assert_eq!(
        om(&[family]),
        "# TYPE rpc_seconds summary\n\
         # UNIT rpc_seconds seconds\n\
         rpc_seconds{quantile=\"0.5\"} 0.25\n\
         rpc_seconds{quantile=\"0.99\"} 1.5\n\
         rpc_seconds{quantile=\"1.0\"} 2.0\n\
         rpc_seconds_sum 40.5\n\
         rpc_seconds_count 100\n\
         # EOF\n"
    );
}

#[test]
fn info_and_stateset() {
    let info = MetricFamily::new("node_uname_info", "Uname facts.", MetricType::Info)
        .with_sample(labels(&[("release", "6.1.0"), ("sysname", "Linux")]), 1.0);
    let stateset = MetricFamily::new("unit_state", "", MetricType::StateSet)
        .with_sample(labels(&[("unit_state", "active")]), 1.0)
        .with_sample(labels(&[("unit_state", "failed")]), 0.0);
    assert_eq!(
        text(&[info.clone(), stateset.clone()]),
        "# HELP node_uname_info Uname facts.\n\
         # TYPE node_uname_info gauge\n\
         node_uname_info{release=\"6.1.0\",sysname=\"Linux\"} 1\n\
         # TYPE unit_state gauge\n\
         unit_state{unit_state=\"active\"} 1\n\
         unit_state{unit_state=\"failed\"} 0\n"
    );
    assert_eq!(
        om(&[info, stateset]),
        "# TYPE node_uname info\n\
         # HELP node_uname Uname facts.\n\
         node_uname_info{release=\"6.1.0\",sysname=\"Linux\"} 1.0\n\
         # TYPE unit_state stateset\n\
         unit_state{unit_state=\"active\"} 1.0\n\
         unit_state{unit_state=\"failed\"} 0.0\n\
         # EOF\n"
    );
    // An info family named without `_info` gets the suffix on its samples in both formats.
    let bare = MetricFamily::new("build", "", MetricType::Info)
        .with_sample(labels(&[("version", "1")]), 1.0);
    assert_eq!(
        text(std::slice::from_ref(&bare)),
        "# TYPE build_info gauge\nbuild_info{version=\"1\"} 1\n"
    );
    assert_eq!(
        om(&[bare]),
        "# TYPE build info\nbuild_info{version=\"1\"} 1.0\n# EOF\n"
    );
}

#[test]
fn untyped_and_timestamps() {
    let mut family = MetricFamily::new("node_netstat_Tcp_CurrEstab", "", MetricType::Unknown);
    family.samples.push(Sample {
        suffix: "",
        labels: vec![],
        value: 12.0,
        timestamp_ms: Some(1520879607789),
    });
    family.samples.push(Sample {
        suffix: "",
        labels: labels(&[("x", "y")]),
        value: 13.0,
        timestamp_ms: Some(6000000),
    });
    assert_eq!(
        text(std::slice::from_ref(&family)),
        "# TYPE node_netstat_Tcp_CurrEstab untyped\n\
         node_netstat_Tcp_CurrEstab 12 1520879607789\n\
         node_netstat_Tcp_CurrEstab{x=\"y\"} 13 6000000\n"
    );
    assert_eq!(
        om(&[family]),
        "# TYPE node_netstat_Tcp_CurrEstab unknown\n\
         node_netstat_Tcp_CurrEstab 12.0 1.520879607789e+09\n\
         node_netstat_Tcp_CurrEstab{x=\"y\"} 13.0 6000.0\n\
         # EOF\n"
    );
}

#[test]
fn utf8_names_per_escaping_scheme() {
    let family = MetricFamily::new("http.requests", "Dotted.", MetricType::Gauge)
        .with_sample(labels(&[("service.name", "api"), ("code", "200")]), 5.0);
    assert_eq!(
        text(std::slice::from_ref(&family)),
        "# HELP \"http.requests\" Dotted.\n\
         # TYPE \"http.requests\" gauge\n\
         {\"http.requests\",\"service.name\"=\"api\",code=\"200\"} 5\n"
    );
    let underscores = WriteOptions {
        escaping: EscapingScheme::Underscores,
        ..WriteOptions::default()
    };
    let mut out = Vec::new();
    write_text(&mut out, std::slice::from_ref(&family), &underscores);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "# HELP http_requests Dotted.\n\
         # TYPE http_requests gauge\n\
         http_requests{service_name=\"api\",code=\"200\"} 5\n"
    );
    let dots = WriteOptions {
        escaping: EscapingScheme::Dots,
        ..WriteOptions::default()
    };
    assert_eq!(
        om_with(&[family], &dots),
        "# TYPE http_dot_requests gauge\n\
         # HELP http_dot_requests Dotted.\n\
         http_dot_requests{service_dot_name=\"api\",code=\"200\"} 5.0\n\
         # EOF\n"
    );
}

#[test]
fn empty_input() {
    assert_eq!(text(&[]), "");
    assert_eq!(om(&[]), "# EOF\n");
    // Families without sample lines are left out, metadata included (as Go's registry does).
    let empty_family = MetricFamily::new("nothing", "Help.", MetricType::Gauge);
    let mut only_created = MetricFamily::new("c_total", "", MetricType::Counter);
    only_created.samples.push(sample("_created", &[], 1.0));
    let kept = MetricFamily::new("kept", "", MetricType::Gauge).with_sample(vec![], 1.0);
    let families = [empty_family, only_created, kept];
    assert_eq!(text(&families), "# TYPE kept gauge\nkept 1\n");
    assert_eq!(om(&families), "# TYPE kept gauge\nkept 1.0\n# EOF\n");
}

#[test]
fn sort_for_exposition_orders_families_and_labels() {
    let mut families = vec![
        MetricFamily::new("b", "", MetricType::Gauge).with_sample(
            labels(&[("package", "0"), ("core", "0"), ("cpu", "0")]),
            1.0,
        ),
        MetricFamily::new("a", "", MetricType::Gauge).with_sample(vec![], 2.0),
    ];
    MetricFamily::sort_for_exposition(&mut families);
    assert_eq!(
        text(&families),
        "# TYPE a gauge\na 2\n# TYPE b gauge\nb{core=\"0\",cpu=\"0\",package=\"0\"} 1\n"
    );
}

#[test]
fn sort_for_exposition_orders_samples_like_go() {
    let mut families = vec![MetricFamily {
        name: "h".into(),
        help: "".into(),
        unit: "".into(),
        metric_type: MetricType::Histogram,
        samples: vec![
            sample("_bucket", &[("le", "1"), ("path", "/b")], 1.0),
            sample("_bucket", &[("le", "+Inf"), ("path", "/b")], 2.0),
            sample("_count", &[("path", "/b")], 2.0),
            sample("_bucket", &[("path", "/a"), ("le", "1")], 3.0),
            sample("_bucket", &[("path", "/a"), ("le", "+Inf")], 4.0),
            sample("_count", &[("path", "/a")], 4.0),
        ],
    }];
    MetricFamily::sort_for_exposition(&mut families);
    assert_eq!(
        text(&families),
        "# TYPE h histogram\n\
         h_bucket{le=\"1\",path=\"/a\"} 3\n\
         h_bucket{le=\"+Inf\",path=\"/a\"} 4\n\
         h_count{path=\"/a\"} 4\n\
         h_bucket{le=\"1\",path=\"/b\"} 1\n\
         h_bucket{le=\"+Inf\",path=\"/b\"} 2\n\
         h_count{path=\"/b\"} 2\n"
    );
}
