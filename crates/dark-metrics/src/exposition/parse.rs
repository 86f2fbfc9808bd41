//! Parsers for Prometheus text 0.0.4 and OpenMetrics 1.0 text, producing [`MetricFamily`]
//! values.
//!
//! The parser works line by line and can be fed a body in chunks ([`Parser::push`]), so a
//! federation client can parse while it reads. Its line-level semantics follow Prometheus'
//! own lexers (`promlex.l`, `openmetricslex.l`) and the format specifications:
//!
//! * **Both formats:** metric names are `[a-zA-Z_:][a-zA-Z0-9_:]*` or a quoted UTF-8 string
//!   given as the first item inside the braces (`{"my.metric",a="b"}`); label names are
//!   `[a-zA-Z_][a-zA-Z0-9_]*` or quoted; label values are quoted with the escapes `\\`, `\"`
//!   and `\n` (any other escaped character is kept as written, as Prometheus does); a trailing
//!   comma inside the braces is allowed; duplicate label names are an error. Values are Go
//!   float syntax plus `NaN`/`Inf`/`Infinity` in any case with an optional sign; hex floats and
//!   `_` separators are rejected.
//! * **Text 0.0.4:** tokens are separated by any run of spaces or tabs, blank lines and
//!   `#` comments are ignored, timestamps are integer milliseconds, HELP unescapes `\\` and
//!   `\n`, and the TYPE line names the samples (`# TYPE foo_total counter`).
//! * **OpenMetrics 1.0:** tokens are separated by exactly one space; blank lines and free
//!   comments are errors; metadata carries the family name (`# TYPE foo counter`, samples
//!   `foo_total`); timestamps are seconds as a float (converted to milliseconds, rounded);
//!   HELP unescapes `\\`, `\"` and `\n`; a `# UNIT` must be a suffix `_<unit>` of the family
//!   name; counters' value samples must end in `_total`; the input must end with `# EOF` and
//!   nothing may follow it. **Exemplars** (`value # {labels} value [timestamp]`) are checked
//!   (allowed only on counter `_total` and histogram `_bucket` samples, labels at most 128
//!   characters) and then dropped: the model has no place for them.
//!
//! Grouping: samples join the family declared by the preceding `# TYPE`/`# HELP` lines when
//! their name fits that family's type (`_bucket`/`_sum`/`_count` for a histogram, and so on).
//! Any other sample starts a family of its own, typed unknown, named after the sample, and
//! collecting the following samples with exactly that name. A family name that appears again
//! later becomes a separate family (Prometheus' `/federate` emits that when one name carries
//! several sample kinds), so families are never merged across the input.
//!
//! In the resulting model a counter is named with `_total` and an info family with `_info`
//! (the 0.0.4 convention of [`MetricFamily::name`]); histogram `_bucket` samples must carry a
//! numeric `le` and summary quantile samples a numeric `quantile`.
//!
//! Limits ([`ParseLimits`]) bound the line length, the number of samples and the number of
//! families, so a hostile target cannot make the parser use unbounded memory.

use std::borrow::Cow;

use super::float::{parse_float, parse_millis};
use super::model::{MetricFamily, MetricType, Sample, Text};
use super::negotiate::Format;

/// Bounds on what one parse may consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Longest accepted line in bytes, without its newline.
    pub max_line_bytes: usize,
    /// Most samples accepted in one input.
    pub max_series: usize,
    /// Most families accepted in one input.
    pub max_families: usize,
}

impl Default for ParseLimits {
    /// 256 KiB lines, 2 million samples, 500 000 families.
    fn default() -> Self {
        ParseLimits {
            max_line_bytes: 256 * 1024,
            max_series: 2_000_000,
            max_families: 500_000,
        }
    }
}

/// A parse failure: the 1-based line where it happened and what was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub kind: ParseErrorKind,
}

/// What was wrong with the input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseErrorKind {
    /// A line is longer than [`ParseLimits::max_line_bytes`].
    #[error("line longer than {limit} bytes; raise ParseLimits::max_line_bytes if the target is trusted")]
    LineTooLong {
        /// The limit.
        limit: usize,
    },
    /// More samples than [`ParseLimits::max_series`].
    #[error("more than {limit} samples; raise ParseLimits::max_series or scrape less")]
    TooManySeries {
        /// The limit.
        limit: usize,
    },
    /// More families than [`ParseLimits::max_families`].
    #[error("more than {limit} metric families; raise ParseLimits::max_families or scrape less")]
    TooManyFamilies {
        /// The limit.
        limit: usize,
    },
    /// The line is not valid UTF-8.
    #[error("line is not valid UTF-8")]
    InvalidUtf8,
    /// An OpenMetrics input did not end with `# EOF`.
    #[error("OpenMetrics input does not end with \"# EOF\"")]
    MissingEof,
    /// Something followed `# EOF` in an OpenMetrics input.
    #[error("data after \"# EOF\"")]
    DataAfterEof,
    /// An empty line in OpenMetrics.
    #[error("empty line (not allowed in OpenMetrics)")]
    EmptyLine,
    /// A `#` line that is not `# HELP`, `# TYPE`, `# UNIT` or `# EOF` in OpenMetrics.
    #[error("comment line that is not HELP, TYPE, UNIT or EOF (not allowed in OpenMetrics)")]
    InvalidComment,
    /// A metadata line without a metric name, or with a malformed one.
    #[error("{keyword} line without a valid metric name")]
    InvalidMetadata {
        /// `HELP`, `TYPE` or `UNIT`.
        keyword: &'static str,
    },
    /// A TYPE with an unknown type name.
    #[error("unknown metric type {0:?}")]
    UnknownType(String),
    /// HELP, TYPE or UNIT given twice for one family before its samples.
    #[error("second {keyword} line for {name:?}")]
    DuplicateMetadata {
        /// `HELP`, `TYPE` or `UNIT`.
        keyword: &'static str,
        /// The family name.
        name: String,
    },
    /// An OpenMetrics metadata line for a family after its samples.
    #[error("{keyword} line for {name:?} after its samples (families must not be interleaved)")]
    MetadataAfterSamples {
        /// `HELP`, `TYPE` or `UNIT`.
        keyword: &'static str,
        /// The family name.
        name: String,
    },
    /// A UNIT that is not a suffix of the family name.
    #[error("unit {unit:?} is not a suffix of the family name {name:?}")]
    UnitMismatch {
        /// The family name.
        name: String,
        /// The unit.
        unit: String,
    },
    /// A metric name was expected.
    #[error("expected a metric name, found {found:?}")]
    ExpectedMetricName {
        /// The text found instead.
        found: String,
    },
    /// A label name was expected.
    #[error("expected a label name, found {found:?}")]
    ExpectedLabelName {
        /// The text found instead.
        found: String,
    },
    /// A specific character was expected.
    #[error("expected {expected}, found {found:?}")]
    Expected {
        /// What was expected.
        expected: &'static str,
        /// The text found instead (empty at the end of the line).
        found: String,
    },
    /// A quoted string did not end on this line.
    #[error("unterminated quoted string")]
    UnterminatedString,
    /// A metric name was given twice (outside and inside the braces, or twice inside).
    #[error("metric name given twice")]
    DuplicateMetricName,
    /// A label name occurs twice in one sample.
    #[error("label {0:?} given twice")]
    DuplicateLabel(String),
    /// The value is not a number.
    #[error("invalid sample value {0:?}")]
    InvalidValue(String),
    /// The timestamp is not valid for the format.
    #[error("invalid timestamp {0:?}")]
    InvalidTimestamp(String),
    /// Unexpected text after the sample.
    #[error("unexpected text after the sample: {0:?}")]
    TrailingText(String),
    /// An OpenMetrics counter sample without the `_total` suffix.
    #[error("counter sample {0:?} must end in _total")]
    CounterWithoutTotal(String),
    /// An OpenMetrics info sample without the `_info` suffix.
    #[error("info sample {0:?} must end in _info")]
    InfoWithoutSuffix(String),
    /// An OpenMetrics sample named exactly like its histogram family (histogram samples are
    /// `_bucket`, `_count`, `_sum`, …).
    #[error("sample {0:?} has the histogram family's own name; histogram samples need a suffix")]
    BareHistogramSample(String),
    /// A histogram bucket without `le`, or a summary quantile without `quantile`.
    #[error("sample {name:?} lacks the {label:?} label")]
    MissingLabel {
        /// The sample name.
        name: String,
        /// The missing label.
        label: &'static str,
    },
    /// An `le` or `quantile` label that is not a number.
    #[error("label {label:?} has a non-numeric value {value:?}")]
    InvalidLabelNumber {
        /// The label name.
        label: &'static str,
        /// Its value.
        value: String,
    },
    /// An exemplar on a sample that may not carry one.
    #[error("exemplar on {0:?} (only counter _total and histogram _bucket samples may carry one)")]
    ExemplarNotAllowed(String),
    /// An exemplar whose labels exceed 128 characters.
    #[error("exemplar labels longer than 128 characters")]
    ExemplarTooLong,
}

/// Parses a whole input in the given format with the given limits.
pub fn parse(
    input: &[u8],
    format: Format,
    limits: &ParseLimits,
) -> Result<Vec<MetricFamily>, ParseError> {
    let mut parser = Parser::new(format, *limits);
    parser.push(input)?;
    parser.finish()
}

/// Parses Prometheus text 0.0.4 with default limits.
pub fn parse_text(input: &str) -> Result<Vec<MetricFamily>, ParseError> {
    parse(input.as_bytes(), Format::Text004, &ParseLimits::default())
}

/// Parses OpenMetrics 1.0 text with default limits.
pub fn parse_openmetrics(input: &str) -> Result<Vec<MetricFamily>, ParseError> {
    parse(
        input.as_bytes(),
        Format::OpenMetrics100,
        &ParseLimits::default(),
    )
}

/// The family being filled.
struct OpenFamily {
    /// Name as the metadata lines give it (OM family name, or 0.0.4 TYPE name).
    meta_name: String,
    metric_type: MetricType,
    help: String,
    unit: String,
    has_type: bool,
    has_help: bool,
    has_unit: bool,
    /// Created from a sample without metadata: only that exact name joins it.
    implicit: bool,
    samples: Vec<Sample>,
}

impl OpenFamily {
    fn new(meta_name: String, implicit: bool) -> Self {
        OpenFamily {
            meta_name,
            metric_type: MetricType::Unknown,
            help: String::new(),
            unit: String::new(),
            has_type: false,
            has_help: false,
            has_unit: false,
            implicit,
            samples: Vec::new(),
        }
    }
}

/// An incremental parser: feed bytes with [`Parser::push`], then call [`Parser::finish`].
pub struct Parser {
    format: Format,
    limits: ParseLimits,
    /// Bytes of a line not yet ended by `\n`.
    pending: Vec<u8>,
    /// Number of the next line (1-based).
    line: usize,
    families: Vec<MetricFamily>,
    current: Option<OpenFamily>,
    series: usize,
    seen_eof: bool,
    /// Set when an error was returned; further input is refused with the same error.
    failed: Option<ParseError>,
}

impl Parser {
    /// A parser for one input in `format`.
    pub fn new(format: Format, limits: ParseLimits) -> Self {
        Parser {
            format,
            limits,
            pending: Vec::new(),
            line: 1,
            families: Vec::new(),
            current: None,
            series: 0,
            seen_eof: false,
            failed: None,
        }
    }

    /// Feeds the next chunk of input (chunks may split lines anywhere).
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<(), ParseError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        while let Some(newline) = chunk.iter().position(|&b| b == b'\n') {
            let (head, rest) = chunk.split_at(newline);
            chunk = &rest[1..];
            let result = if self.pending.is_empty() {
                self.check_length(head.len())
                    .and_then(|()| self.line_bytes(head))
            } else {
                let total = self.pending.len() + head.len();
                self.check_length(total).and_then(|()| {
                    let mut line = std::mem::take(&mut self.pending);
                    line.extend_from_slice(head);
                    let result = self.line_bytes(&line);
                    line.clear();
                    self.pending = line;
                    result
                })
            };
            self.record(result)?;
            self.line += 1;
        }
        let total = self.pending.len() + chunk.len();
        let result = self.check_length(total);
        self.record(result)?;
        self.pending.extend_from_slice(chunk);
        Ok(())
    }

    /// Ends the input and returns the families.
    pub fn finish(mut self) -> Result<Vec<MetricFamily>, ParseError> {
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.line_bytes(&line)?;
            self.line += 1;
        }
        if self.format == Format::OpenMetrics100 && !self.seen_eof {
            return Err(ParseError {
                line: self.line.saturating_sub(1).max(1),
                kind: ParseErrorKind::MissingEof,
            });
        }
        self.close_current().map_err(|kind| self.error(kind))?;
        Ok(self.families)
    }

    fn record(&mut self, result: Result<(), ParseError>) -> Result<(), ParseError> {
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }

    fn error(&self, kind: ParseErrorKind) -> ParseError {
        ParseError {
            line: self.line,
            kind,
        }
    }

    fn check_length(&self, length: usize) -> Result<(), ParseError> {
        if length > self.limits.max_line_bytes {
            return Err(self.error(ParseErrorKind::LineTooLong {
                limit: self.limits.max_line_bytes,
            }));
        }
        Ok(())
    }

    fn line_bytes(&mut self, bytes: &[u8]) -> Result<(), ParseError> {
        let text =
            std::str::from_utf8(bytes).map_err(|_| self.error(ParseErrorKind::InvalidUtf8))?;
        self.parse_line(text).map_err(|kind| self.error(kind))
    }

    fn parse_line(&mut self, line: &str) -> Result<(), ParseErrorKind> {
        let om = self.format == Format::OpenMetrics100;
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

    /// The open family a metadata line for `name` belongs to, opening a new one if needed.
    fn family_for_metadata(
        &mut self,
        name: String,
        keyword: &'static str,
    ) -> Result<&mut OpenFamily, ParseErrorKind> {
        let om = self.format == Format::OpenMetrics100;
        let reuse = match &self.current {
            Some(family) if family.meta_name == name && !family.implicit => {
                let already = match keyword {
                    "HELP" => family.has_help,
                    "TYPE" => family.has_type,
                    _ => family.has_unit,
                };
                if !family.samples.is_empty() {
                    if om {
                        return Err(ParseErrorKind::MetadataAfterSamples { keyword, name });
                    }
                    false
                } else if already {
                    return Err(ParseErrorKind::DuplicateMetadata { keyword, name });
                } else {
                    true
                }
            }
            _ => false,
        };
        if !reuse {
            self.close_current()?;
            self.open_family(OpenFamily::new(name, false))?;
        }
        match self.current.as_mut() {
            Some(family) => Ok(family),
            None => Err(ParseErrorKind::InvalidMetadata { keyword }),
        }
    }

    fn open_family(&mut self, family: OpenFamily) -> Result<(), ParseErrorKind> {
        if self.families.len() >= self.limits.max_families {
            return Err(ParseErrorKind::TooManyFamilies {
                limit: self.limits.max_families,
            });
        }
        self.current = Some(family);
        Ok(())
    }

    fn close_current(&mut self) -> Result<(), ParseErrorKind> {
        let Some(open) = self.current.take() else {
            return Ok(());
        };
        if self.families.len() >= self.limits.max_families {
            return Err(ParseErrorKind::TooManyFamilies {
                limit: self.limits.max_families,
            });
        }
        let om = self.format == Format::OpenMetrics100;
        let name = match (om, open.metric_type) {
            (true, MetricType::Counter) => open.meta_name + "_total",
            (true, MetricType::Info) => open.meta_name + "_info",
            _ => open.meta_name,
        };
        self.families.push(MetricFamily {
            name: name.into(),
            help: open.help.into(),
            unit: open.unit.into(),
            metric_type: open.metric_type,
            samples: open.samples,
        });
        Ok(())
    }

    fn sample_line(&mut self, line: &str) -> Result<(), ParseErrorKind> {
        let om = self.format == Format::OpenMetrics100;
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

    /// Makes the family `name` belongs to current and returns the sample's suffix.
    fn assign_family(&mut self, name: &str) -> Result<&'static str, ParseErrorKind> {
        let om = self.format == Format::OpenMetrics100;
        if let Some(family) = &self.current {
            if let Some(suffix) = match_suffix(family, name, om)? {
                return Ok(suffix);
            }
        }
        self.close_current()?;
        self.open_family(OpenFamily::new(name.to_string(), true))?;
        Ok("")
    }
}

/// The suffix under which `name` belongs to `family`, `None` if it does not belong.
fn match_suffix(
    family: &OpenFamily,
    name: &str,
    om: bool,
) -> Result<Option<&'static str>, ParseErrorKind> {
    let base = family.meta_name.as_str();
    if family.implicit {
        return Ok((name == base).then_some(""));
    }
    let Some(tail) = name.strip_prefix(base) else {
        return Ok(None);
    };
    let allowed: &[&'static str] = match (om, family.metric_type) {
        (true, MetricType::Counter) => {
            if tail.is_empty() {
                return Err(ParseErrorKind::CounterWithoutTotal(name.to_string()));
            }
            return Ok(match tail {
                "_total" => Some(""),
                "_created" => Some("_created"),
                _ => None,
            });
        }
        (true, MetricType::Info) => {
            if tail.is_empty() {
                return Err(ParseErrorKind::InfoWithoutSuffix(name.to_string()));
            }
            return Ok((tail == "_info").then_some(""));
        }
        (true, MetricType::Histogram | MetricType::GaugeHistogram) if tail.is_empty() => {
            return Err(ParseErrorKind::BareHistogramSample(name.to_string()));
        }
        (true, MetricType::Histogram) => &["_bucket", "_count", "_sum", "_created"],
        (true, MetricType::GaugeHistogram) => &["_bucket", "_gcount", "_gsum"],
        (true, MetricType::Summary) => &["", "_count", "_sum", "_created"],
        (false, MetricType::Histogram) => &["_bucket", "_count", "_sum"],
        (false, MetricType::Summary) => &["", "_count", "_sum"],
        _ => &[""],
    };
    Ok(allowed.iter().copied().find(|suffix| *suffix == tail))
}

fn om_timestamp(text: &str) -> Result<i64, ParseErrorKind> {
    let invalid = || ParseErrorKind::InvalidTimestamp(text.to_string());
    let seconds = parse_float(text).ok_or_else(invalid)?;
    let millis = (seconds * 1000.0).round();
    // i64 range in f64, exclusive of the rounding edge.
    if !millis.is_finite() || millis.abs() >= 9.2e18 {
        return Err(invalid());
    }
    Ok(millis as i64)
}

/// Splits off the first space/tab-delimited token.
fn split_token(text: &str) -> (&str, &str) {
    let end = text.find([' ', '\t']).unwrap_or(text.len());
    text.split_at(end)
}

/// Undoes the escapes of a quoted string or HELP text: `\\` and `\n`, plus `\"` when `quote`
/// is set. Other backslash sequences are kept as written.
fn unescape(text: &str, quote: bool) -> String {
    if !text.contains('\\') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quote => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Label pairs of one sample, in input order.
type Labels = Vec<(Text, Text)>;

/// A position in one line.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
    /// OpenMetrics: single spaces only, no blanks inside braces.
    strict: bool,
}

fn is_name_start(b: u8, metric: bool) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || (metric && b == b':')
}

fn is_name_char(b: u8, metric: bool) -> bool {
    is_name_start(b, metric) || b.is_ascii_digit()
}

fn excerpt(text: &str) -> String {
    text.chars().take(32).collect()
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str, strict: bool) -> Self {
        Cursor {
            text,
            pos: 0,
            strict,
        }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Blanks allowed inside braces in 0.0.4 only.
    fn skip_inner_blanks(&mut self) {
        if !self.strict {
            self.skip_blanks();
        }
    }

    fn at_separator(&self) -> bool {
        matches!(self.peek(), Some(b' ')) || (!self.strict && matches!(self.peek(), Some(b'\t')))
    }

    /// One space (OpenMetrics) or a run of spaces/tabs (0.0.4).
    fn separator(&mut self, expected: &'static str) -> Result<(), ParseErrorKind> {
        if !self.at_separator() {
            return Err(ParseErrorKind::Expected {
                expected,
                found: excerpt(self.rest()),
            });
        }
        if self.strict {
            self.pos += 1;
            if self.peek() == Some(b' ') {
                return Err(ParseErrorKind::Expected {
                    expected: "exactly one space",
                    found: excerpt(self.rest()),
                });
            }
        } else {
            self.skip_blanks();
        }
        Ok(())
    }

    /// Text up to the next blank.
    fn token(&mut self) -> &'a str {
        let rest = self.rest();
        let end = rest.find([' ', '\t']).unwrap_or(rest.len());
        self.pos += end;
        &rest[..end]
    }

    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), ParseErrorKind> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(ParseErrorKind::Expected {
                expected,
                found: excerpt(self.rest()),
            })
        }
    }

    fn bare_name(&mut self, metric: bool) -> Option<&'a str> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        if !bytes.get(start).is_some_and(|&b| is_name_start(b, metric)) {
            return None;
        }
        let mut end = start + 1;
        while bytes.get(end).is_some_and(|&b| is_name_char(b, metric)) {
            end += 1;
        }
        self.pos = end;
        Some(&self.text[start..end])
    }

    /// A quoted string at the cursor, unescaped.
    fn quoted(&mut self) -> Result<String, ParseErrorKind> {
        self.expect(b'"', "'\"'")?;
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut i = start;
        let mut escaped = false;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                b'"' => {
                    let raw = &self.text[start..i];
                    self.pos = i + 1;
                    return Ok(if escaped {
                        unescape(raw, true)
                    } else {
                        raw.to_string()
                    });
                }
                _ => i += 1,
            }
        }
        Err(ParseErrorKind::UnterminatedString)
    }

    /// A metric name in a metadata line: bare or quoted.
    fn metric_name_token(&mut self) -> Result<String, ParseErrorKind> {
        if self.peek() == Some(b'"') {
            let name = self.quoted()?;
            if name.is_empty() {
                return Err(ParseErrorKind::ExpectedMetricName {
                    found: String::new(),
                });
            }
            return Ok(name);
        }
        self.bare_name(true)
            .map(str::to_string)
            .ok_or_else(|| ParseErrorKind::ExpectedMetricName {
                found: excerpt(self.rest()),
            })
    }

    /// `name{labels}` or `{"name",labels}`.
    fn series(&mut self) -> Result<(Cow<'a, str>, Labels), ParseErrorKind> {
        let mut name = self.bare_name(true).map(Cow::Borrowed);
        let mut labels: Labels = Vec::new();
        if self.peek() == Some(b'{') {
            self.pos += 1;
            self.labels(&mut name, &mut labels)?;
        }
        match name {
            Some(name) if !name.is_empty() => Ok((name, labels)),
            _ => Err(ParseErrorKind::ExpectedMetricName {
                found: excerpt(self.text),
            }),
        }
    }

    /// The inside of `{…}` after the `{`, through the `}`.
    fn labels(
        &mut self,
        name: &mut Option<Cow<'a, str>>,
        labels: &mut Labels,
    ) -> Result<(), ParseErrorKind> {
        let mut first = true;
        loop {
            self.skip_inner_blanks();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(());
            }
            let label_name = if self.peek() == Some(b'"') {
                let quoted = self.quoted()?;
                self.skip_inner_blanks();
                if self.peek() != Some(b'=') {
                    // A quoted string without `=` is the metric name; only first.
                    if !first || name.is_some() {
                        return Err(ParseErrorKind::DuplicateMetricName);
                    }
                    *name = Some(Cow::Owned(quoted));
                    first = false;
                    if !self.after_label()? {
                        return Ok(());
                    }
                    continue;
                }
                quoted
            } else {
                match self.bare_name(false) {
                    Some(n) => n.to_string(),
                    None => {
                        return Err(ParseErrorKind::ExpectedLabelName {
                            found: excerpt(self.rest()),
                        })
                    }
                }
            };
            first = false;
            self.skip_inner_blanks();
            self.expect(b'=', "'=' after the label name")?;
            self.skip_inner_blanks();
            if self.peek() != Some(b'"') {
                return Err(ParseErrorKind::Expected {
                    expected: "a quoted label value",
                    found: excerpt(self.rest()),
                });
            }
            let value = self.quoted()?;
            if labels.iter().any(|(n, _)| **n == label_name) {
                return Err(ParseErrorKind::DuplicateLabel(label_name));
            }
            labels.push((label_name.into(), value.into()));
            if !self.after_label()? {
                return Ok(());
            }
        }
    }

    /// After a label (or quoted name): `,` (returns true, more may follow) or `}` (false).
    fn after_label(&mut self) -> Result<bool, ParseErrorKind> {
        self.skip_inner_blanks();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b'}') => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(ParseErrorKind::Expected {
                expected: "',' or '}'",
                found: excerpt(self.rest()),
            }),
        }
    }

    /// ` # {labels} value [timestamp]` after the `#` position; checks and discards it.
    fn exemplar(&mut self) -> Result<(), ParseErrorKind> {
        self.expect(b'#', "'#' starting an exemplar")?;
        self.separator("a space after '#'")?;
        self.expect(b'{', "'{' starting the exemplar labels")?;
        let mut no_name = None;
        let mut labels = Vec::new();
        self.labels(&mut no_name, &mut labels)?;
        if no_name.is_some() {
            return Err(ParseErrorKind::ExpectedLabelName {
                found: "a quoted name without '='".to_string(),
            });
        }
        let length: usize = labels
            .iter()
            .map(|(n, v)| n.chars().count() + v.chars().count())
            .sum();
        if length > 128 {
            return Err(ParseErrorKind::ExemplarTooLong);
        }
        self.separator("a space before the exemplar value")?;
        let value = self.token();
        parse_float(value).ok_or_else(|| ParseErrorKind::InvalidValue(value.to_string()))?;
        if self.at_separator() {
            self.separator("a space")?;
            let ts = self.token();
            om_timestamp(ts)?;
        }
        Ok(())
    }
}
