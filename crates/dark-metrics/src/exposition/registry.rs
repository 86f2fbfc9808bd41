//! Bridge from a `prometheus-client` [`Registry`] to our [`MetricFamily`] model, so that the
//! crate's metrics are served through the same writers (and the same negotiation) as every
//! other family.
//!
//! The registry is encoded with `prometheus-client`'s OpenMetrics text encoder and the result
//! is parsed with our parser. Things the encoder (0.25.2) gets wrong are repaired on the way:
//!
//! * HELP text is written unescaped, so a newline in it splits the line and a backslash or
//!   quote is ambiguous. The encoder always writes `# HELP <name> <help>` directly followed by
//!   `# TYPE <name> …`, so everything between the two is the raw help text; it is re-escaped
//!   before parsing and survives exactly (unless the help itself contains a line starting with
//!   that same `# TYPE <name> ` line).
//! * Non-finite values come out as `inf`/`-inf`, bucket bounds as `1.0`: our parser accepts
//!   them and our writers emit the canonical `+Inf`, `-Inf`, and `le` forms.
//! * Histogram samples come out as `_sum`, `_count`, then buckets; they are reordered to Go's
//!   bucket, sum, count order (per label set).
//! * Exemplars are dropped (the model has no place for them).
//!
//! Metric and label names are not validated by `prometheus-client`; a name our parser rejects
//! makes the bridge fail with the offending line.

use prometheus_client::registry::Registry;

use super::model::{MetricFamily, MetricType, Text};
use super::names::write_escaped;
use super::negotiate::Format;
use super::parse::{parse, ParseError, ParseLimits};

/// Why a registry could not be turned into families.
#[derive(Debug, thiserror::Error)]
pub enum RegistryBridgeError {
    /// `prometheus-client`'s encoder failed; a custom collector returned `fmt::Error`.
    #[error("prometheus-client could not encode the registry (a collector returned fmt::Error)")]
    Encode,
    /// The encoder's output did not parse, typically because a metric or label name is
    /// invalid; fix the name at registration.
    #[error("prometheus-client produced output that does not parse: {0}")]
    Parse(#[from] ParseError),
}

/// Encodes `registry` and returns its metric families in our model.
pub fn families_from_registry(
    registry: &Registry,
) -> Result<Vec<MetricFamily>, RegistryBridgeError> {
    let mut encoded = String::new();
    prometheus_client::encoding::text::encode(&mut encoded, registry)
        .map_err(|_| RegistryBridgeError::Encode)?;
    let repaired = repair_help_lines(&encoded);
    let limits = ParseLimits {
        max_line_bytes: usize::MAX,
        max_series: usize::MAX,
        max_families: usize::MAX,
    };
    let mut families = parse(&repaired, Format::OpenMetrics100, &limits)?;
    for family in &mut families {
        if matches!(
            family.metric_type,
            MetricType::Histogram | MetricType::GaugeHistogram
        ) {
            order_histogram_samples(family);
        }
    }
    Ok(families)
}

/// Re-escapes the raw HELP text `prometheus-client` writes, joining a help text that a raw
/// newline split over several lines.
fn repair_help_lines(encoded: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded.len() + 64);
    let mut lines = encoded.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("# HELP ") else {
            out.extend_from_slice(line.as_bytes());
            continue;
        };
        let Some((name, first)) = rest.split_once(' ') else {
            out.extend_from_slice(line.as_bytes());
            continue;
        };
        let type_prefix = format!("# TYPE {name} ");
        let mut help = first.strip_suffix('\n').unwrap_or(first).to_string();
        while let Some(next) = lines.peek() {
            if next.starts_with(&type_prefix) {
                break;
            }
            help.push('\n');
            help.push_str(next.strip_suffix('\n').unwrap_or(next));
            lines.next();
        }
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        write_escaped(&mut out, &help, true);
        out.push(b'\n');
    }
    out
}

/// Puts each label set's buckets first, then `_sum`, `_count`, `_gsum`, `_gcount` and
/// `_created`, keeping the order of label sets and of buckets.
fn order_histogram_samples(family: &mut MetricFamily) {
    fn rank(suffix: &str) -> u8 {
        match suffix {
            "_bucket" => 0,
            "_sum" | "_gsum" => 1,
            "_count" | "_gcount" => 2,
            _ => 3,
        }
    }
    // Group key: the labels without `le`, in first-seen order.
    let mut groups: Vec<Vec<(Text, Text)>> = Vec::new();
    let mut keyed: Vec<(usize, u8, usize)> = Vec::with_capacity(family.samples.len());
    for (index, sample) in family.samples.iter().enumerate() {
        let key: Vec<(Text, Text)> = sample
            .labels
            .iter()
            .filter(|(name, _)| name != "le")
            .cloned()
            .collect();
        let group = match groups.iter().position(|g| *g == key) {
            Some(position) => position,
            None => {
                groups.push(key);
                groups.len() - 1
            }
        };
        keyed.push((group, rank(sample.suffix), index));
    }
    keyed.sort();
    let mut old: Vec<Option<super::model::Sample>> = std::mem::take(&mut family.samples)
        .into_iter()
        .map(Some)
        .collect();
    family.samples = keyed
        .into_iter()
        .filter_map(|(_, _, index)| old.get_mut(index).and_then(Option::take))
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_split_by_raw_newlines_is_joined_and_escaped() {
        let raw = "# HELP a First \"line\" \\ end\nsecond line\n# TYPE a gauge\na 1\n# EOF\n";
        let repaired = String::from_utf8(repair_help_lines(raw)).unwrap();
        assert_eq!(
            repaired,
            "# HELP a First \\\"line\\\" \\\\ end\\nsecond line\n# TYPE a gauge\na 1\n# EOF\n"
        );
    }

    #[test]
    fn histogram_samples_are_regrouped() {
        use super::super::model::Sample;
        let sample = |suffix: &'static str, labels: &[(&str, &str)]| Sample {
            suffix,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string().into(), v.to_string().into()))
                .collect(),
            value: 0.0,
            timestamp_ms: None,
        };
        let mut family = MetricFamily {
            name: "h".into(),
            help: "".into(),
            unit: "".into(),
            metric_type: MetricType::Histogram,
            samples: vec![
                sample("_sum", &[("p", "a")]),
                sample("_count", &[("p", "a")]),
                sample("_bucket", &[("p", "a"), ("le", "1")]),
                sample("_bucket", &[("p", "a"), ("le", "+Inf")]),
                sample("_sum", &[("p", "b")]),
                sample("_count", &[("p", "b")]),
                sample("_bucket", &[("p", "b"), ("le", "+Inf")]),
            ],
        };
        order_histogram_samples(&mut family);
        let order: Vec<(&str, &str)> = family
            .samples
            .iter()
            .map(|s| (s.suffix, &*s.labels[0].1))
            .collect();
        assert_eq!(
            order,
            [
                ("_bucket", "a"),
                ("_bucket", "a"),
                ("_sum", "a"),
                ("_count", "a"),
                ("_bucket", "b"),
                ("_sum", "b"),
                ("_count", "b"),
            ]
        );
        assert_eq!(family.samples[1].labels[1].1, "+Inf");
    }
}
