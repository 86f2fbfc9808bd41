//! Checks against the real Prometheus tools (Debian packages, found through
//! `DARKSCRAPE_PROMTOOL`, `DARKSCRAPE_PROMETHEUS` and `DARKSCRAPE_NODE_EXPORTER`, falling back
//! to `/usr/bin/...`; missing tools fail with a pointer to `scripts/install-test-deps.sh`):
//!
//! * `promtool check metrics` lints our text 0.0.4 output; `promtool tsdb create-blocks-from
//!   openmetrics` runs Prometheus' own OpenMetrics parser over our OpenMetrics output.
//! * Prometheus 2.42 scrapes a loopback server that negotiates with our code: we record the
//!   Accept header it sends, check it picks OpenMetrics, and check through its HTTP API that
//!   both formats were ingested completely. Its own `/metrics` and `/federate` (Go-written
//!   0.0.4) must survive our parse -> write byte for byte.
//! * node_exporter's Go-written output must survive our parse -> write byte for byte.
//!
//! All traffic stays on 127.0.0.1; every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use dark_metrics::exposition::{
    negotiate, parse, write_format, write_openmetrics, write_text, Format, MetricFamily,
    MetricType, ParseLimits, Sample, Text, WriteOptions,
};
use testbed::lab::free_loopback_addr;
use testbed::peers::{node_exporter, prometheus, promtool};
use testbed::promtool::check_metrics;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "dark-metrics-{tag}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn l(pairs: &[(&str, &str)]) -> Vec<(Text, Text)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string().into(), v.to_string().into()))
        .collect()
}

fn s(suffix: &'static str, labels: &[(&str, &str)], value: f64) -> Sample {
    Sample {
        suffix,
        labels: l(labels),
        value,
        timestamp_ms: None,
    }
}

/// A lint-clean set covering every type, escapes and special values (legacy names only, since
/// Prometheus 2.42 predates quoted UTF-8 names).
fn rich_families() -> Vec<MetricFamily> {
    let family = |name: &str, help: &str, t: MetricType, samples: Vec<Sample>| MetricFamily {
        name: name.to_string().into(),
        help: help.to_string().into(),
        unit: Text::Borrowed(""),
        metric_type: t,
        samples,
    };
    let mut families = vec![
        family(
            "demo_build_info",
            "Build facts.",
            MetricType::Info,
            vec![s("", &[("version", "1.0")], 1.0)],
        ),
        family(
            "demo_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
            MetricType::Counter,
            vec![
                s("", &[("cpu", "0"), ("mode", "idle")], 12345.67),
                s("", &[("cpu", "0"), ("mode", "user")], 1.795343977e9),
            ],
        ),
        family(
            "demo_filesystem_avail_bytes",
            "Help with \\ backslash, \"quotes\" and a\nnewline.",
            MetricType::Gauge,
            vec![
                s("", &[("mountpoint", "/a \"b\"\\c\nd")], 1.5e12),
                s("", &[("mountpoint", "/")], f64::INFINITY),
                s("", &[("mountpoint", "/x")], f64::NEG_INFINITY),
                s("", &[("mountpoint", "/y")], f64::NAN),
                s("", &[("mountpoint", "/z")], 0.00001),
            ],
        ),
        family(
            "demo_queue_length",
            "Queue length by state.",
            MetricType::GaugeHistogram,
            vec![
                s("_bucket", &[("le", "1")], 3.0),
                s("_bucket", &[("le", "+Inf")], 4.0),
                s("_gsum", &[], 2.5),
                s("_gcount", &[], 4.0),
            ],
        ),
        family(
            "demo_request_duration_seconds",
            "Request latency.",
            MetricType::Histogram,
            vec![
                s("_bucket", &[("path", "/"), ("le", "0.1")], 1.0),
                s("_bucket", &[("path", "/"), ("le", "1000000")], 2.0),
                s("_bucket", &[("path", "/"), ("le", "+Inf")], 2.0),
                s("_sum", &[("path", "/")], 0.15),
                s("_count", &[("path", "/")], 2.0),
            ],
        ),
        family(
            "demo_rpc_duration_seconds",
            "RPC latency.",
            MetricType::Summary,
            vec![
                s("", &[("quantile", "0.5")], 0.2),
                s("", &[("quantile", "0.99")], 0.9),
                s("_sum", &[], 1.0),
                s("_count", &[], 5.0),
            ],
        ),
        family(
            "demo_unit_state",
            "Unit states.",
            MetricType::StateSet,
            vec![
                s("", &[("demo_unit_state", "active")], 1.0),
                s("", &[("demo_unit_state", "failed")], 0.0),
            ],
        ),
        family(
            "demo_vmstat_pgfault",
            "Untyped like node_exporter's vmstat.",
            MetricType::Unknown,
            vec![s("", &[], 123456789.0)],
        ),
    ];
    families[2].unit = "bytes".into();
    families
}

fn series_count(families: &[MetricFamily]) -> usize {
    families.iter().map(|f| f.samples.len()).sum()
}

#[test]
fn promtool_lints_text_output_clean() {
    let mut text = Vec::new();
    write_text(&mut text, &rich_families(), &WriteOptions::default());
    let (code, messages) = check_metrics(&text);
    assert_eq!(
        code,
        Some(0),
        "promtool: {messages}\n{}",
        String::from_utf8_lossy(&text)
    );
    // The check can fail: a HELP written with an OpenMetrics-only escape of a raw newline
    // breaks the text format.
    let broken = b"# HELP demo_x Help\nbroken\n# TYPE demo_x gauge\ndemo_x 1\n";
    let (code, _) = check_metrics(broken);
    assert_ne!(code, Some(0));
}

#[test]
fn prometheus_openmetrics_parser_accepts_our_output() {
    let promtool = promtool();
    // create-blocks-from needs a timestamp on every sample.
    let mut families = rich_families();
    let mut ms = 1_700_000_000_000i64;
    for family in &mut families {
        for sample in &mut family.samples {
            sample.timestamp_ms = Some(ms);
            ms += 1_500;
        }
    }
    let expected = series_count(&families);
    let dir = temp_dir("om-blocks");
    let input = dir.join("input.om");
    let mut om = Vec::new();
    write_openmetrics(&mut om, &families, &WriteOptions::default());
    std::fs::write(&input, &om).unwrap();
    let output = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(dir.join("blocks"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "promtool: {stdout}{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&om)
    );
    // The table's NUM SAMPLES column (5th) sums to what we wrote.
    let samples: usize = stdout
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(4))
        .filter_map(|n| n.parse::<usize>().ok())
        .sum();
    assert_eq!(samples, expected, "{stdout}");

    // Without `# EOF` Prometheus' parser refuses it, so the check is meaningful.
    let truncated = &om[..om.len() - "# EOF\n".len()];
    std::fs::write(&input, truncated).unwrap();
    let output = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(dir.join("blocks2"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A minimal HTTP/1.0 GET; returns (status line, headers, body).
fn http_get(
    addr: SocketAddr,
    target: &str,
    accept: &str,
) -> std::io::Result<(String, String, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {target} HTTP/1.0\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let (status, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
    Ok((
        status.to_string(),
        headers.to_string(),
        raw[split + 4..].to_vec(),
    ))
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Parses Go-written 0.0.4, writes it back, and returns both.
fn reparse_text(body: &[u8]) -> (String, String) {
    let families = parse(body, Format::Text004, &ParseLimits::default())
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(body)));
    let mut out = Vec::new();
    write_text(&mut out, &families, &WriteOptions::default());
    (
        String::from_utf8_lossy(body).into_owned(),
        String::from_utf8(out).unwrap(),
    )
}

fn assert_same_text(source: &str, original: &str, rewritten: &str) {
    if original != rewritten {
        let diff = original
            .lines()
            .zip(rewritten.lines())
            .find(|(a, b)| a != b);
        panic!(
            "{source}: our rewrite differs (Go {} bytes, ours {} bytes); first differing line: {diff:?}",
            original.len(),
            rewritten.len()
        );
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serves our families on `listener`: `/metrics` negotiates, `/text` is always 0.0.4. Records
/// every Accept header seen on `/metrics`. Runs until `stop` is set (bounded by the caller).
fn serve(listener: TcpListener, accepts: Arc<Mutex<Vec<String>>>, stop: Arc<Mutex<bool>>) {
    listener.set_nonblocking(true).unwrap();
    let families = rich_families();
    let started = Instant::now();
    while !*stop.lock().unwrap() && started.elapsed() < Duration::from_secs(60) {
        let (stream, _) = match listener.accept() {
            Ok(pair) => pair,
            Err(_) => {
                thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).is_err() {
            continue;
        }
        let mut accept = None;
        for _ in 0..100 {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("accept") {
                    accept = Some(value.trim().to_string());
                }
            }
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("/");
        let negotiated = if path == "/text" {
            negotiate(None)
        } else {
            accepts
                .lock()
                .unwrap()
                .push(accept.clone().unwrap_or_default());
            negotiate(accept.as_deref())
        };
        let mut body = Vec::new();
        write_format(
            &mut body,
            negotiated.format,
            &families,
            &negotiated.write_options(),
        );
        let mut stream = reader.into_inner();
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            negotiated.content_type,
            body.len()
        );
        let _ = stream.write_all(&body);
    }
}

fn query(api: SocketAddr, expr: &str) -> Option<serde_json::Value> {
    let target = format!("/api/v1/query?query={}", percent_encode(expr));
    let (status, _, body) = http_get(api, &target, "application/json").ok()?;
    if !status.contains(" 200 ") {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&body).ok()?;
    Some(json["data"]["result"].clone())
}

fn scalar(result: &serde_json::Value) -> Option<f64> {
    result.get(0)?["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_scrapes_both_formats_and_its_go_output_round_trips() {
    let prometheus = prometheus();
    let dir = temp_dir("prometheus");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    let api: SocketAddr = free_loopback_addr();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  external_labels:\n    site: lab\n\
             scrape_configs:\n\
             \x20 - job_name: dm_negotiated\n    static_configs:\n      - targets: ['{target}']\n\
             \x20 - job_name: dm_text\n    metrics_path: /text\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let accepts = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(Mutex::new(false));
    let server = {
        let (accepts, stop) = (accepts.clone(), stop.clone());
        thread::spawn(move || serve(listener, accepts, stop))
    };
    let child = Command::new(&prometheus)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={api}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _guard = KillOnDrop(child);

    // Wait (bounded) until both jobs have been scraped successfully with every sample.
    let expected = series_count(&rich_families()) as f64;
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut last = String::new();
    let mut done = false;
    while Instant::now() < deadline {
        thread::sleep(Duration::from_millis(500));
        let ok = ["dm_negotiated", "dm_text"].iter().all(|job| {
            let up = query(api, &format!("up{{job=\"{job}\"}}")).and_then(|r| scalar(&r));
            let scraped = query(api, &format!("scrape_samples_scraped{{job=\"{job}\"}}"))
                .and_then(|r| scalar(&r));
            last = format!("{job}: up={up:?} scraped={scraped:?} (want {expected})");
            up == Some(1.0) && scraped == Some(expected)
        });
        if ok {
            done = true;
            break;
        }
    }
    *stop.lock().unwrap() = true;
    assert!(
        done,
        "Prometheus did not ingest our output in time; last: {last}"
    );

    // Values came through exactly, in both formats.
    for job in ["dm_negotiated", "dm_text"] {
        let result = query(
            api,
            &format!("demo_cpu_seconds_total{{job=\"{job}\",mode=\"user\"}}"),
        )
        .unwrap();
        assert_eq!(scalar(&result), Some(1.795343977e9), "{job}");
        let result = query(
            api,
            &format!(
                "demo_filesystem_avail_bytes{{job=\"{job}\",mountpoint=\"/a \\\"b\\\"\\\\c\\nd\"}}"
            ),
        )
        .unwrap();
        assert_eq!(scalar(&result), Some(1.5e12), "{job}");
    }

    // The Accept header Prometheus 2.42 sent, and what we made of it.
    let accepts = accepts.lock().unwrap().clone();
    let accept = accepts.first().cloned().unwrap_or_default();
    assert_eq!(
        accept,
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    );
    let negotiated = negotiate(Some(&accept));
    assert_eq!(negotiated.format, Format::OpenMetrics100);
    assert_eq!(
        negotiated.content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );

    // Prometheus' own Go-written /metrics and /federate survive parse -> write unchanged.
    let (status, headers, body) = http_get(api, "/metrics", "text/plain;version=0.0.4").unwrap();
    assert!(status.contains(" 200 "), "{status}");
    assert!(headers.contains("text/plain; version=0.0.4"), "{headers}");
    let (original, rewritten) = reparse_text(&body);
    assert_same_text("prometheus /metrics", &original, &rewritten);

    let federate = format!("/federate?match[]={}", percent_encode("{job=~\"dm_.*\"}"));
    let (status, _, body) = http_get(api, &federate, "text/plain;version=0.0.4").unwrap();
    assert!(status.contains(" 200 "), "{status}");
    let families = parse(&body, Format::Text004, &ParseLimits::default()).unwrap();
    assert!(
        families.iter().all(|f| f.metric_type == MetricType::Unknown
            && f.samples.iter().all(|s| s.timestamp_ms.is_some())),
        "federation output is untyped with timestamps"
    );
    assert!(series_count(&families) >= 2 * expected as usize);
    let (original, rewritten) = reparse_text(&body);
    assert_same_text("prometheus /federate", &original, &rewritten);

    drop(_guard);
    let _ = server.join();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn node_exporter_output_round_trips_byte_for_byte() {
    let node_exporter = node_exporter();
    let addr: SocketAddr = free_loopback_addr();
    let child = Command::new(&node_exporter)
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _guard = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        match http_get(addr, "/metrics", "text/plain;version=0.0.4") {
            Ok((status, _, body)) if status.contains(" 200 ") => break body,
            _ if Instant::now() < deadline => thread::sleep(Duration::from_millis(100)),
            other => panic!("node_exporter did not answer: {other:?}"),
        }
    };
    let (original, rewritten) = reparse_text(&body);
    assert!(original.len() > 10_000, "suspiciously small output");
    assert_same_text("node_exporter", &original, &rewritten);
}
