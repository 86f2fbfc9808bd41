//! The line grammar of both formats: 0.0.4 comments and HELP/TYPE lines, OpenMetrics
//! metadata lines and `# EOF`, and sample lines with their value, timestamp and exemplar, plus
//! the per-type checks on a sample (`le`, `quantile`, where exemplars may stand).

use super::lex::{om_timestamp, split_token, unescape, Cursor};
use super::{ParseErrorKind, Parser};
use crate::exposition::float::{parse_float, parse_millis};
use crate::exposition::model::{MetricType, Sample};

impl Parser {
    pub(super) fn parse_line(&mut self, line: &str) -> Result<(), ParseErrorKind> {
        let om = self.openmetrics();
        if self.seen_eof {
            return Err(ParseErrorKind::DataAfterEof);
        }
        if om {
            if line.is_empty() {
                return Err(ParseErrorKind::EmptyLine);
            }
            if line == "# EOF" {
                self.seen_eof = true;
                return Ok(());
            }
            if let Some(rest) = line.strip_prefix('#') {
                return self.om_metadata(rest);
            }
            return self.sample_line(line);
        }
        let trimmed = line.trim_start_matches([' ', '\t']);
        if trimmed.trim_end_matches([' ', '\t']).is_empty() {
            return Ok(());
        }
        if let Some(rest) = trimmed.strip_prefix('#') {
            return self.text_comment(rest);
        }
        self.sample_line(trimmed)
    }

    /// A 0.0.4 `#` line: HELP or TYPE, anything else is a comment.
    fn text_comment(&mut self, rest: &str) -> Result<(), ParseErrorKind> {
        let rest = rest.trim_start_matches([' ', '\t']);
        let (keyword, after) = split_token(rest);
        let keyword = match keyword {
            "HELP" => "HELP",
            "TYPE" => "TYPE",
            _ => return Ok(()),
        };
        if !after.starts_with([' ', '\t']) {
            return Err(ParseErrorKind::InvalidMetadata { keyword });
        }
        let mut cursor = Cursor::new(after.trim_start_matches([' ', '\t']), false);
        let name = cursor
            .metric_name_token()
            .map_err(|_| ParseErrorKind::InvalidMetadata { keyword })?;
        let rest = cursor.rest();
        if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
            return Err(ParseErrorKind::InvalidMetadata { keyword });
        }
        let rest = rest.trim_start_matches([' ', '\t']);
        if keyword == "HELP" {
            let help = unescape(rest, false);
            let family = self.family_for_metadata(name, keyword)?;
            family.help = help;
            family.has_help = true;
        } else {
            let metric_type = match rest.trim_end_matches([' ', '\t']) {
                "counter" => MetricType::Counter,
                "gauge" => MetricType::Gauge,
                "histogram" => MetricType::Histogram,
                "summary" => MetricType::Summary,
                "untyped" => MetricType::Unknown,
                other => return Err(ParseErrorKind::UnknownType(other.to_string())),
            };
            let family = self.family_for_metadata(name, keyword)?;
            family.metric_type = metric_type;
            family.has_type = true;
        }
        Ok(())
    }

    /// An OpenMetrics `#` line (after the `#`).
    fn om_metadata(&mut self, rest: &str) -> Result<(), ParseErrorKind> {
        let Some(rest) = rest.strip_prefix(' ') else {
            return Err(ParseErrorKind::InvalidComment);
        };
        let (keyword, after) = split_token(rest);
        let keyword = match keyword {
            "HELP" => "HELP",
            "TYPE" => "TYPE",
            "UNIT" => "UNIT",
            _ => return Err(ParseErrorKind::InvalidComment),
        };
        let Some(after) = after.strip_prefix(' ') else {
            return Err(ParseErrorKind::InvalidMetadata { keyword });
        };
        let mut cursor = Cursor::new(after, true);
        let name = cursor
            .metric_name_token()
            .map_err(|_| ParseErrorKind::InvalidMetadata { keyword })?;
        let rest = cursor.rest();
        let value = match rest.strip_prefix(' ') {
            Some(value) => value,
            None if rest.is_empty() && keyword != "TYPE" => "",
            None => {
                return Err(ParseErrorKind::Expected {
                    expected: "a space and a value after the metric name",
                    found: rest.to_string(),
                })
            }
        };
        match keyword {
            "HELP" => {
                let help = unescape(value, true);
                let family = self.family_for_metadata(name, keyword)?;
                family.help = help;
                family.has_help = true;
            }
            "TYPE" => {
                let metric_type = MetricType::from_openmetrics_keyword(value)
                    .ok_or_else(|| ParseErrorKind::UnknownType(value.to_string()))?;
                let family = self.family_for_metadata(name, keyword)?;
                family.metric_type = metric_type;
                family.has_type = true;
            }
            _ => {
                if !value.is_empty() {
                    let fits = name
                        .strip_suffix(value)
                        .is_some_and(|stem| stem.ends_with('_'));
                    if !fits {
                        return Err(ParseErrorKind::UnitMismatch {
                            name,
                            unit: value.to_string(),
                        });
                    }
                }
                let family = self.family_for_metadata(name, keyword)?;
                family.unit = value.to_string();
                family.has_unit = true;
            }
        }
        Ok(())
    }

    fn sample_line(&mut self, line: &str) -> Result<(), ParseErrorKind> {
        let om = self.openmetrics();
        let mut cursor = Cursor::new(line, om);
        let (name, labels) = cursor.series()?;
        cursor.separator("a space before the value")?;
        let value_text = cursor.token();
        let value = parse_float(value_text)
            .ok_or_else(|| ParseErrorKind::InvalidValue(value_text.to_string()))?;
        let mut timestamp_ms = None;
        let mut has_exemplar = false;
        if cursor.at_separator() {
            cursor.separator("a space")?;
            if om && cursor.rest().starts_with('#') {
                has_exemplar = true;
            } else if om && cursor.rest().is_empty() {
                return Err(ParseErrorKind::TrailingText(" ".to_string()));
            } else if !cursor.rest().is_empty() {
                let text = cursor.token();
                timestamp_ms = Some(if om {
                    om_timestamp(text)?
                } else {
                    parse_millis(text)
                        .ok_or_else(|| ParseErrorKind::InvalidTimestamp(text.to_string()))?
                });
                if om && cursor.rest().starts_with(' ') {
                    cursor.separator("a space")?;
                    if !cursor.rest().starts_with('#') {
                        return Err(ParseErrorKind::TrailingText(cursor.rest().to_string()));
                    }
                    has_exemplar = true;
                }
            }
        }
        if has_exemplar {
            cursor.exemplar()?;
        }
        if !om {
            cursor.skip_blanks();
        }
        if !cursor.rest().is_empty() {
            return Err(ParseErrorKind::TrailingText(cursor.rest().to_string()));
        }

        let suffix = self.assign_family(&name)?;
        let Some(family) = self.current.as_ref() else {
            return Err(ParseErrorKind::ExpectedMetricName {
                found: name.to_string(),
            });
        };
        if has_exemplar {
            let allowed = match family.metric_type {
                MetricType::Counter => suffix.is_empty(),
                MetricType::Histogram | MetricType::GaugeHistogram => suffix == "_bucket",
                _ => false,
            };
            if !allowed {
                return Err(ParseErrorKind::ExemplarNotAllowed(name.into_owned()));
            }
        }
        let required = match (family.metric_type, suffix) {
            (MetricType::Histogram | MetricType::GaugeHistogram, "_bucket") => Some("le"),
            (MetricType::Summary, "") => Some("quantile"),
            _ => None,
        };
        if let Some(label) = required {
            match labels.iter().find(|(n, _)| n == label) {
                None => {
                    return Err(ParseErrorKind::MissingLabel {
                        name: name.into_owned(),
                        label,
                    })
                }
                Some((_, v)) if parse_float(v).is_none() => {
                    return Err(ParseErrorKind::InvalidLabelNumber {
                        label,
                        value: v.to_string(),
                    })
                }
                Some(_) => {}
            }
        }
        if self.series >= self.limits.max_series {
            return Err(ParseErrorKind::TooManySeries {
                limit: self.limits.max_series,
            });
        }
        self.series += 1;
        if let Some(family) = self.current.as_mut() {
            family.samples.push(Sample {
                suffix,
                labels,
                value,
                timestamp_ms,
            });
        }
        Ok(())
    }
}
