//! A parser for the Prometheus text exposition format 0.0.4, as the `textfile` collector
//! needs it: families with HELP and TYPE, labels with escapes, histogram and summary
//! samples grouped under their family, and detection of client-side timestamps.

use std::collections::BTreeMap;

use dark_metrics::exposition::{MetricFamily, MetricType, Sample};

/// What is wrong with a text exposition, with the 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct TextParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// The parsed content of one text file.
#[derive(Debug, Default, PartialEq)]
pub struct ParsedText {
    /// Families in order of first appearance; `help` is empty when the file had none.
    pub families: Vec<MetricFamily>,
    /// Whether any sample carried a timestamp.
    pub has_timestamps: bool,
}

fn valid_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_type(s: &str) -> Option<MetricType> {
    Some(match s {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "summary" => MetricType::Summary,
        "untyped" => MetricType::Unknown,
        _ => return None,
    })
}

/// Parses a float the way Go's `ParseFloat` accepts exposition values.
fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ if s.contains(['p', 'P', '_']) => None,
        _ => s.parse::<f64>().ok(),
    }
}

/// Splits `{a="x",b="y"} rest` into labels and the rest.
/// Label pairs of one sample.
type LabelPairs = Vec<(String, String)>;

fn parse_labels(s: &str) -> Result<(LabelPairs, &str), String> {
    let mut labels = Vec::new();
    let mut rest = s.strip_prefix('{').ok_or("expected '{'")?;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        }
        let eq = rest.find('=').ok_or("label without '='")?;
        let name = rest[..eq].trim();
        if !valid_label_name(name) {
            return Err(format!("invalid label name {name:?}"));
        }
        rest = rest[eq + 1..]
            .trim_start()
            .strip_prefix('"')
            .ok_or("label value must be quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => return Err(format!("invalid escape \\{c} in label value")),
                    None => return Err("unterminated label value".into()),
                },
                Some((_, c)) => value.push(c),
            }
        };
        if labels.iter().any(|(n, _): &(String, String)| n == name) {
            return Err(format!("duplicate label {name:?}"));
        }
        labels.push((name.to_string(), value));
        rest = rest[end + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.starts_with('}') {
            return Err("expected ',' or '}' after label value".into());
        }
    }
}

/// Parses a whole 0.0.4 text exposition.
pub fn parse_text(text: &str) -> Result<ParsedText, TextParseError> {
    let mut order: Vec<String> = Vec::new();
    let mut families: BTreeMap<String, MetricFamily> = BTreeMap::new();
    let mut typed: BTreeMap<String, bool> = BTreeMap::new();
    let mut has_timestamps = false;
    for (idx, raw) in text.lines().enumerate() {
        let err = |reason: String| TextParseError {
            line: idx + 1,
            reason,
        };
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, [' ', '\t']);
            let keyword = parts.next().unwrap_or("");
            if keyword != "HELP" && keyword != "TYPE" {
                continue;
            }
            let name = parts.next().unwrap_or("").trim();
            if !valid_metric_name(name) {
                return Err(err(format!("invalid metric name {name:?} in {keyword}")));
            }
            let arg = parts.next().unwrap_or("").trim_start();
            let fam = families.entry(name.to_string()).or_insert_with(|| {
                order.push(name.to_string());
                MetricFamily::new(name, "", MetricType::Unknown)
            });
            if keyword == "HELP" {
                if !fam.help.is_empty() {
                    return Err(err(format!("second HELP line for {name}")));
                }
                let mut help = String::new();
                let mut chars = arg.chars();
                while let Some(c) = chars.next() {
                    if c == '\\' {
                        match chars.next() {
                            Some('n') => help.push('\n'),
                            Some('\\') => help.push('\\'),
                            Some(o) => {
                                help.push('\\');
                                help.push(o);
                            }
                            None => help.push('\\'),
                        }
                    } else {
                        help.push(c);
                    }
                }
                fam.help = help;
            } else {
                if typed.contains_key(name) {
                    return Err(err(format!("second TYPE line for {name}")));
                }
                if !fam.samples.is_empty() {
                    return Err(err(format!("TYPE line for {name} after its samples")));
                }
                fam.metric_type = parse_type(arg.trim())
                    .ok_or_else(|| err(format!("unknown type {:?}", arg.trim())))?;
                typed.insert(name.to_string(), true);
            }
            continue;
        }
        // Sample line.
        let name_end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
        let name = &line[..name_end];
        if !valid_metric_name(name) {
            return Err(err(format!("invalid metric name {name:?}")));
        }
        let rest = line[name_end..].trim_start();
        let (labels, rest) = if rest.starts_with('{') {
            parse_labels(rest).map_err(err)?
        } else {
            (Vec::new(), rest)
        };
        let mut fields = rest.split_ascii_whitespace();
        let value_text = fields
            .next()
            .ok_or_else(|| err("sample without value".into()))?;
        let value =
            parse_value(value_text).ok_or_else(|| err(format!("invalid value {value_text:?}")))?;
        let timestamp_ms = match fields.next() {
            Some(t) => {
                has_timestamps = true;
                Some(
                    t.parse::<i64>()
                        .map_err(|e| err(format!("invalid timestamp {t:?}: {e}")))?,
                )
            }
            None => None,
        };
        if fields.next().is_some() {
            return Err(err("unexpected text after the sample".into()));
        }
        // Histogram and summary parts belong to their base family.
        let mut family_name = name;
        let mut suffix: &'static str = "";
        for s in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(s) {
                if let Some(f) = families.get(base) {
                    let fits = match f.metric_type {
                        MetricType::Histogram => true,
                        MetricType::Summary => s != "_bucket",
                        _ => false,
                    };
                    if fits {
                        family_name = base;
                        suffix = s;
                    }
                }
            }
        }
        let fam = families.entry(family_name.to_string()).or_insert_with(|| {
            order.push(family_name.to_string());
            MetricFamily::new(family_name, "", MetricType::Unknown)
        });
        match (fam.metric_type, suffix) {
            (MetricType::Histogram, "_bucket") if !labels.iter().any(|(n, _)| n == "le") => {
                return Err(err("histogram bucket without le label".into()))
            }
            (MetricType::Histogram, "") => {
                return Err(err(format!(
                    "histogram {family_name} sample needs _bucket, _sum or _count"
                )))
            }
            (MetricType::Summary, "") if !labels.iter().any(|(n, _)| n == "quantile") => {
                return Err(err("summary sample without quantile label".into()))
            }
            _ => {}
        }
        fam.samples.push(Sample {
            suffix,
            labels,
            value,
            timestamp_ms,
        });
    }
    let families = order
        .into_iter()
        .filter_map(|n| families.remove(&n))
        .collect();
    Ok(ParsedText {
        families,
        has_timestamps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_families_labels_and_escapes() {
        let p = parse_text(
            "# HELP a_total A \\\\ help\\nline\n# TYPE a_total counter\na_total{x=\"1\",y=\"q\\\"\\n\\\\\",} 3\n# comment\n\nb 1e3\nc{} NaN\n",
        )
        .unwrap();
        assert_eq!(p.families.len(), 3);
        assert_eq!(p.families[0].help, "A \\ help\nline");
        assert_eq!(p.families[0].metric_type, MetricType::Counter);
        assert_eq!(
            p.families[0].samples[0].labels[1],
            ("y".to_string(), "q\"\n\\".to_string())
        );
        assert_eq!(p.families[1].metric_type, MetricType::Unknown);
        assert_eq!(p.families[1].samples[0].value, 1000.0);
        assert!(p.families[2].samples[0].value.is_nan());
        assert!(!p.has_timestamps);
    }

    #[test]
    fn groups_histograms_and_summaries() {
        let p = parse_text("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 1\ns_count 1\n").unwrap();
        assert_eq!(p.families.len(), 2);
        assert_eq!(p.families[0].samples.len(), 4);
        assert_eq!(p.families[0].samples[2].suffix, "_sum");
        assert_eq!(p.families[1].samples[0].suffix, "");
    }

    #[test]
    fn detects_timestamps() {
        assert!(parse_text("a 1 1700000000000\n").unwrap().has_timestamps);
    }

    #[test]
    fn rejects_malformed_input() {
        for bad in [
            "1a 1\n",
            "a\n",
            "a x\n",
            "a 0x1p3\n",
            "a{b=1} 1\n",
            "a{b=\"1} 1\n",
            "a{b=\"1\" c=\"2\"} 1\n",
            "a{1b=\"1\"} 1\n",
            "a{b=\"\\t\"} 1\n",
            "a{b=\"1\",b=\"2\"} 1\n",
            "a 1 2 3\n",
            "a 1 x\n",
            "# TYPE a counter\n# TYPE a gauge\n",
            "# TYPE a nonsense\n",
            "a 1\n# TYPE a gauge\n",
            "# HELP a x\n# HELP a y\n",
            "# TYPE h histogram\nh_bucket 1\n",
            "# TYPE h histogram\nh 1\n",
            "# TYPE s summary\ns 1\n",
            "# HELP 9x y\n",
        ] {
            assert!(parse_text(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
