//! The two text writers: Prometheus text format 0.0.4 and OpenMetrics 1.0.
//!
//! Both append to a caller-owned `Vec<u8>` (reuse it across scrapes to avoid reallocating) and
//! never allocate per sample. Output follows the Go reference encoder (`expfmt`) so it can be
//! diffed against Go exporters:
//!
//! | | text 0.0.4 | OpenMetrics 1.0 |
//! | --- | --- | --- |
//! | metadata | `# HELP` then `# TYPE`, both with the sample name (`foo_total`) | `# TYPE`, `# UNIT`, `# HELP` with the family name (`foo`) |
//! | HELP escapes | `\\` and `\n` | `\\`, `\n` and `\"` |
//! | values | Go `'g'` shortest (`63`, `1.795343977e+09`) | same plus `.0` for integral values; counts of histograms and summaries as integers |
//! | timestamps | integer milliseconds | seconds as a float (`1.520879607789e+09`) |
//! | `le` / `quantile` | Go `'g'` form (`1`, `+Inf`) | canonical `1.0`, `0.25`, `1e+06`, `+Inf` |
//! | end | nothing | `# EOF\n` |
//!
//! Type mapping:
//!
//! * counter: 0.0.4 writes the samples as [`MetricFamily::name`] (which keeps `_total`); OM
//!   declares `# TYPE foo counter` and writes `foo_total`. A counter whose name lacks `_total`
//!   is declared `unknown` in OM and keeps its name, as Go does.
//! * gaugehistogram: 0.0.4 has no such type, so it is written as `histogram` with `_gcount` and
//!   `_gsum` renamed `_count` and `_sum` (Go does the same). OM writes `gaugehistogram`.
//! * info: 0.0.4 writes a `gauge` named `<family>_info`; OM writes `# TYPE <family> info`.
//! * stateset: 0.0.4 writes a `gauge`; OM writes `stateset`.
//! * unknown: 0.0.4 `untyped`, OM `unknown`.
//! * `_created` samples are written only in OM and only when
//!   [`WriteOptions::created_samples`] is set (Prometheus ingests them as extra series by
//!   default, so Go's promhttp leaves them out unless asked).
//!
//! A family with no sample lines to write is left out entirely, metadata included, as Go's
//! registry does; so the output never carries metadata without samples (which would make two
//! consecutive families of one name, legal in our model, collide). Families with the same name
//! in a row are otherwise written as given: fine in 0.0.4 (Prometheus' `/federate` does it),
//! not valid OpenMetrics.
//!
//! A `# UNIT` line is written only if the OM family name ends in `_<unit>`; otherwise the unit
//! is left out (the format forbids it) and a debug event is logged. Samples are written in the
//! order given; [`MetricFamily::sort_for_exposition`] sorts like Go's registry.

use std::io;

use super::float::{write_go_float, write_openmetrics_count, write_openmetrics_float};
use super::model::{MetricFamily, MetricType, Sample};
use super::names::{
    is_legacy_metric_name, write_escaped, write_label_name, write_metric_name, EscapingScheme,
};
use super::negotiate::Format;

/// Choices that change what a writer emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOptions {
    /// How metric and label names that are not legacy-valid are written; the default,
    /// `allow-utf-8`, quotes them.
    pub escaping: EscapingScheme,
    /// Write `_created` samples (OpenMetrics only). Off by default.
    pub created_samples: bool,
}

/// Appends `families` in Prometheus text format 0.0.4.
pub fn write_text(out: &mut Vec<u8>, families: &[MetricFamily], options: &WriteOptions) {
    for family in families {
        write_text_family(out, family, options);
    }
}

/// Appends `families` in OpenMetrics 1.0 text, ending with `# EOF\n`.
pub fn write_openmetrics(out: &mut Vec<u8>, families: &[MetricFamily], options: &WriteOptions) {
    for family in families {
        write_openmetrics_family(out, family, options);
    }
    out.extend_from_slice(b"# EOF\n");
}

/// Appends `families` in the given format.
pub fn write_format(
    out: &mut Vec<u8>,
    format: Format,
    families: &[MetricFamily],
    options: &WriteOptions,
) {
    match format {
        Format::Text004 => write_text(out, families, options),
        Format::OpenMetrics100 => write_openmetrics(out, families, options),
    }
}

/// Writes `families` in the given format to `sink`, buffering about 64 KiB at a time.
pub fn write_format_to<W: io::Write>(
    sink: &mut W,
    format: Format,
    families: &[MetricFamily],
    options: &WriteOptions,
) -> io::Result<()> {
    const FLUSH_AT: usize = 64 * 1024;
    let mut buffer = Vec::with_capacity(FLUSH_AT + 4096);
    for family in families {
        match format {
            Format::Text004 => write_text_family(&mut buffer, family, options),
            Format::OpenMetrics100 => write_openmetrics_family(&mut buffer, family, options),
        }
        if buffer.len() >= FLUSH_AT {
            sink.write_all(&buffer)?;
            buffer.clear();
        }
    }
    if format == Format::OpenMetrics100 {
        buffer.extend_from_slice(b"# EOF\n");
    }
    sink.write_all(&buffer)?;
    sink.flush()
}

/// The name of a sample as (stem, suffix), or `None` if the sample is not written.
type SampleName<'a> = Option<(&'a str, &'static str)>;

fn text_metadata_name(family: &MetricFamily) -> (&str, &'static str) {
    match family.metric_type {
        MetricType::Info => (family.openmetrics_name(), "_info"),
        _ => (&family.name, ""),
    }
}

fn text_sample_name<'a>(family: &'a MetricFamily, sample: &Sample) -> SampleName<'a> {
    let suffix = sample.suffix;
    if suffix == "_created" {
        return None;
    }
    match family.metric_type {
        MetricType::Counter => Some((&family.name, if suffix == "_total" { "" } else { suffix })),
        MetricType::Info => Some((family.openmetrics_name(), "_info")),
        MetricType::GaugeHistogram => Some((
            &family.name,
            match suffix {
                "_gcount" => "_count",
                "_gsum" => "_sum",
                other => other,
            },
        )),
        _ => Some((&family.name, suffix)),
    }
}

fn write_text_family(out: &mut Vec<u8>, family: &MetricFamily, options: &WriteOptions) {
    if family.name.is_empty() {
        tracing::debug!("skipping a metric family without a name");
        return;
    }
    if !family
        .samples
        .iter()
        .any(|sample| text_sample_name(family, sample).is_some())
    {
        return;
    }
    write_text_metadata(out, family, options);
    write_text_samples(out, family, &family.samples, options);
}

/// Appends the `# HELP` and `# TYPE` lines of `family` in text format 0.0.4 (its samples
/// are not looked at). With [`write_text_samples`] a large family is written in parts.
pub fn write_text_metadata(out: &mut Vec<u8>, family: &MetricFamily, options: &WriteOptions) {
    let (stem, suffix) = text_metadata_name(family);
    if !family.help.is_empty() {
        out.extend_from_slice(b"# HELP ");
        write_metric_name(out, &[stem, suffix], options.escaping);
        out.push(b' ');
        write_escaped(out, &family.help, false);
        out.push(b'\n');
    }
    out.extend_from_slice(b"# TYPE ");
    write_metric_name(out, &[stem, suffix], options.escaping);
    out.extend_from_slice(match family.metric_type {
        MetricType::Counter => b" counter\n",
        MetricType::Gauge | MetricType::Info | MetricType::StateSet => b" gauge\n",
        MetricType::Histogram | MetricType::GaugeHistogram => b" histogram\n",
        MetricType::Summary => b" summary\n",
        MetricType::Unknown => b" untyped\n",
    });
}

/// Appends `samples` as sample lines of `family` (its name and type; its own samples are
/// not looked at) in text format 0.0.4, after [`write_text_metadata`].
pub fn write_text_samples(
    out: &mut Vec<u8>,
    family: &MetricFamily,
    samples: &[Sample],
    options: &WriteOptions,
) {
    // Every sample name is a prefix of the family name plus an ASCII suffix, so one check
    // covers them all.
    let legacy = is_legacy_metric_name(&[&family.name]);
    for sample in samples {
        let Some((stem, suffix)) = text_sample_name(family, sample) else {
            continue;
        };
        let canonical = canonical_label(family.metric_type, suffix);
        let name = SeriesName {
            stem,
            suffix,
            legacy,
        };
        write_series(out, &name, sample, canonical, false, options);
        out.push(b' ');
        write_go_float(out, sample.value);
        if let Some(ms) = sample.timestamp_ms {
            out.push(b' ');
            out.extend_from_slice(itoa::Buffer::new().format(ms).as_bytes());
        }
        out.push(b'\n');
    }
}

fn openmetrics_sample_name<'a>(
    family: &'a MetricFamily,
    sample: &Sample,
    options: &WriteOptions,
) -> SampleName<'a> {
    let suffix = sample.suffix;
    match family.metric_type {
        MetricType::Counter => {
            let stem = family.openmetrics_name();
            let has_total = stem.len() != family.name.len();
            match suffix {
                "_created" if has_total && options.created_samples => Some((stem, "_created")),
                "_created" => None,
                _ if has_total => Some((stem, "_total")),
                _ => Some((&family.name, "")),
            }
        }
        MetricType::Info => Some((family.openmetrics_name(), "_info")),
        MetricType::GaugeHistogram => match suffix {
            "_created" => None,
            "_count" | "_gcount" => Some((&family.name, "_gcount")),
            "_sum" | "_gsum" => Some((&family.name, "_gsum")),
            other => Some((&family.name, other)),
        },
        MetricType::Histogram | MetricType::Summary => match suffix {
            "_created" if options.created_samples => Some((&family.name, "_created")),
            "_created" => None,
            other => Some((&family.name, other)),
        },
        MetricType::Gauge | MetricType::StateSet | MetricType::Unknown => {
            Some((&family.name, suffix))
        }
    }
}

fn write_openmetrics_family(out: &mut Vec<u8>, family: &MetricFamily, options: &WriteOptions) {
    if family.name.is_empty() {
        tracing::debug!("skipping a metric family without a name");
        return;
    }
    if !family
        .samples
        .iter()
        .any(|sample| openmetrics_sample_name(family, sample, options).is_some())
    {
        return;
    }
    let name = family.openmetrics_name();
    out.extend_from_slice(b"# TYPE ");
    write_metric_name(out, &[name], options.escaping);
    // A counter whose name lacks `_total` cannot be declared a counter in OpenMetrics.
    let keyword = match family.metric_type {
        MetricType::Counter if name.len() == family.name.len() => MetricType::Unknown,
        other => other,
    }
    .openmetrics_keyword();
    out.push(b' ');
    out.extend_from_slice(keyword.as_bytes());
    out.push(b'\n');
    if !family.unit.is_empty() {
        let fits = name
            .strip_suffix(&*family.unit)
            .is_some_and(|rest| rest.ends_with('_'));
        if fits {
            out.extend_from_slice(b"# UNIT ");
            write_metric_name(out, &[name], options.escaping);
            out.push(b' ');
            write_escaped(out, &family.unit, true);
            out.push(b'\n');
        } else {
            tracing::debug!(
                family = %family.name,
                unit = %family.unit,
                "leaving out a unit the family name does not end with"
            );
        }
    }
    if !family.help.is_empty() {
        out.extend_from_slice(b"# HELP ");
        write_metric_name(out, &[name], options.escaping);
        out.push(b' ');
        write_escaped(out, &family.help, true);
        out.push(b'\n');
    }
    let legacy = is_legacy_metric_name(&[&family.name]);
    for sample in &family.samples {
        let Some((stem, suffix)) = openmetrics_sample_name(family, sample, options) else {
            continue;
        };
        let canonical = canonical_label(family.metric_type, suffix);
        let name = SeriesName {
            stem,
            suffix,
            legacy,
        };
        write_series(out, &name, sample, canonical, true, options);
        out.push(b' ');
        let is_count = match family.metric_type {
            MetricType::Histogram => matches!(suffix, "_bucket" | "_count"),
            MetricType::GaugeHistogram => matches!(suffix, "_bucket" | "_gcount"),
            MetricType::Summary => suffix == "_count",
            _ => false,
        };
        if is_count {
            write_openmetrics_count(out, sample.value);
        } else {
            write_openmetrics_float(out, sample.value);
        }
        if let Some(ms) = sample.timestamp_ms {
            out.push(b' ');
            write_openmetrics_float(out, ms as f64 / 1000.0);
        }
        out.push(b'\n');
    }
}

/// The label whose value is a number written in canonical form for this sample, if any.
fn canonical_label(metric_type: MetricType, suffix: &str) -> Option<&'static str> {
    match (metric_type, suffix) {
        (MetricType::Histogram | MetricType::GaugeHistogram, "_bucket") => Some("le"),
        (MetricType::Summary, "") => Some("quantile"),
        _ => None,
    }
}

/// A sample's name: family stem, suffix, and whether the family name is legacy-valid.
struct SeriesName<'a> {
    stem: &'a str,
    suffix: &'a str,
    legacy: bool,
}

/// Writes `name{labels}` (or `{"name",labels}` for a quoted name).
fn write_series(
    out: &mut Vec<u8>,
    name: &SeriesName<'_>,
    sample: &Sample,
    canonical: Option<&str>,
    openmetrics: bool,
    options: &WriteOptions,
) {
    let mark = out.len();
    let quoted = if name.legacy && !name.stem.is_empty() {
        out.extend_from_slice(name.stem.as_bytes());
        out.extend_from_slice(name.suffix.as_bytes());
        false
    } else {
        write_metric_name(out, &[name.stem, name.suffix], options.escaping)
    };
    if quoted {
        // The quoted name goes inside the braces: `{"my.metric",a="b"}`.
        out.insert(mark, b'{');
    }
    if sample.labels.is_empty() {
        if quoted {
            out.push(b'}');
        }
        return;
    }
    let mut separator = if quoted { b',' } else { b'{' };
    for (label_name, value) in &sample.labels {
        out.push(separator);
        separator = b',';
        write_label_name(out, label_name, options.escaping);
        out.extend_from_slice(b"=\"");
        match canonical {
            Some(label) if label == label_name => write_canonical_number(out, value, openmetrics),
            _ => write_escaped(out, value, true),
        }
        out.push(b'"');
    }
    out.push(b'}');
}

fn write_canonical_number(out: &mut Vec<u8>, value: &str, openmetrics: bool) {
    match super::float::parse_float(value) {
        Some(number) if openmetrics => write_openmetrics_float(out, number),
        Some(number) => write_go_float(out, number),
        None => write_escaped(out, value, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_names_go_inside_braces() {
        let family = MetricFamily::new("my.metric", "", MetricType::Gauge)
            .with_sample(vec![], 1.0)
            .with_sample(vec![("a".into(), "b".into())], 2.0);
        let mut out = Vec::new();
        write_text(&mut out, &[family], &WriteOptions::default());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# TYPE \"my.metric\" gauge\n{\"my.metric\"} 1\n{\"my.metric\",a=\"b\"} 2\n"
        );
    }

    #[test]
    fn io_sink_gets_the_same_bytes() {
        let families: Vec<MetricFamily> = (0..3000)
            .map(|i| {
                MetricFamily::new(format!("metric_{i}"), "help text", MetricType::Gauge)
                    .with_sample(vec![("i".into(), i.to_string().into())], f64::from(i) / 7.0)
            })
            .collect();
        for format in [Format::Text004, Format::OpenMetrics100] {
            let mut direct = Vec::new();
            write_format(&mut direct, format, &families, &WriteOptions::default());
            let mut via_io = Vec::new();
            write_format_to(&mut via_io, format, &families, &WriteOptions::default()).unwrap();
            assert!(direct.len() > 64 * 1024);
            assert_eq!(direct, via_io);
        }
    }
}
