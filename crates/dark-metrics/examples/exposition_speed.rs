//! Measures the writers and the parser on a synthetic scrape shaped like node_exporter's
//! output on a small host (about 280 families, 500 samples, 57 KB of text).
//!
//! Run with `cargo run --release -p dark-metrics --example exposition_speed`.

use std::time::Instant;

use dark_metrics::exposition::{
    parse, write_openmetrics, write_text, Format, MetricFamily, MetricType, ParseLimits, Sample,
    WriteOptions,
};

fn synthetic_scrape() -> Vec<MetricFamily> {
    let mut families = Vec::new();
    // Per-CPU counters: 2 CPUs x 8 modes.
    let mut cpu = MetricFamily::new(
        "node_cpu_seconds_total",
        "Seconds the CPUs spent in each mode.",
        MetricType::Counter,
    );
    for c in 0..2 {
        for mode in [
            "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
        ] {
            cpu.samples.push(Sample::new(
                vec![
                    ("cpu".into(), c.to_string().into()),
                    ("mode".into(), mode.into()),
                ],
                123_456.78 + f64::from(c) * 17.31,
            ));
        }
    }
    families.push(cpu);
    // Many single-sample gauges with byte values (like meminfo).
    for i in 0..200 {
        families.push(
            MetricFamily::new(
                format!("node_memory_Field{i}_bytes"),
                format!("Memory information field Field{i}_bytes."),
                MetricType::Gauge,
            )
            .with_sample(vec![], 8_123_456_512.0 + f64::from(i) * 4096.0),
        );
    }
    // Per-device families with several labels (like filesystem / netdev).
    for metric in [
        "size_bytes",
        "avail_bytes",
        "free_bytes",
        "files",
        "files_free",
        "readonly",
    ] {
        let mut family = MetricFamily::new(
            format!("node_filesystem_{metric}"),
            "Filesystem information.",
            MetricType::Gauge,
        );
        for m in 0..8 {
            family.samples.push(Sample::new(
                vec![
                    ("device".into(), format!("/dev/sda{m}").into()),
                    ("device_error".into(), "".into()),
                    ("fstype".into(), "ext4".into()),
                    ("mountpoint".into(), format!("/mnt/volume{m}").into()),
                ],
                1.5e11 / f64::from(m + 1),
            ));
        }
        families.push(family);
    }
    // Fractional gauges (durations, loads).
    for i in 0..70 {
        let mut family = MetricFamily::new(
            format!("node_scrape_collector_metric{i}"),
            "A fractional gauge.",
            MetricType::Gauge,
        );
        for c in 0..3 {
            family.samples.push(Sample::new(
                vec![("collector".into(), format!("c{c}").into())],
                0.000_123_456 * f64::from(i + c + 1),
            ));
        }
        families.push(family);
    }
    families
}

/// The fastest of `batches` batches of `per_batch` runs, in microseconds per run. The minimum
/// is robust against other processes competing for the CPU.
fn fastest_us(batches: u32, per_batch: u32, mut run: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..batches {
        let started = Instant::now();
        for _ in 0..per_batch {
            run();
        }
        best = best.min(started.elapsed().as_secs_f64() * 1e6 / f64::from(per_batch));
    }
    best
}

fn main() {
    let families = synthetic_scrape();
    let samples: usize = families.iter().map(|f| f.samples.len()).sum();
    let options = WriteOptions::default();
    let mut buffer = Vec::with_capacity(128 * 1024);

    write_text(&mut buffer, &families, &options);
    let text = buffer.clone();
    let text_us = fastest_us(40, 50, || {
        buffer.clear();
        write_text(&mut buffer, &families, &options);
    });
    buffer.clear();
    write_openmetrics(&mut buffer, &families, &options);
    let om = buffer.clone();
    let om_us = fastest_us(40, 50, || {
        buffer.clear();
        write_openmetrics(&mut buffer, &families, &options);
    });
    let limits = ParseLimits::default();
    let parse_text_us = fastest_us(20, 20, || {
        let parsed = parse(&text, Format::Text004, &limits).expect("own output parses");
        assert_eq!(parsed.len(), families.len());
    });
    let parse_om_us = fastest_us(20, 20, || {
        let parsed = parse(&om, Format::OpenMetrics100, &limits).expect("own output parses");
        assert_eq!(parsed.len(), families.len());
    });

    println!(
        "{} families, {samples} samples; text {} bytes, OpenMetrics {} bytes",
        families.len(),
        text.len(),
        om.len()
    );
    println!("write text 0.0.4:  {text_us:8.1} µs per scrape (fastest batch)");
    println!("write OpenMetrics: {om_us:8.1} µs per scrape (fastest batch)");
    println!("parse text 0.0.4:  {parse_text_us:8.1} µs per scrape (fastest batch)");
    println!("parse OpenMetrics: {parse_om_us:8.1} µs per scrape (fastest batch)");
}
