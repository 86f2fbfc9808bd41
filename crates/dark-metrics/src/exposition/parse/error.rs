//! The parse error: the line it happened on ([`ParseError`]) and what was wrong
//! ([`ParseErrorKind`]).

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
    /// A line is longer than [`ParseLimits::max_line_bytes`](super::ParseLimits::max_line_bytes).
    #[error("line longer than {limit} bytes; raise ParseLimits::max_line_bytes if the target is trusted")]
    LineTooLong {
        /// The limit.
        limit: usize,
    },
    /// More samples than [`ParseLimits::max_series`](super::ParseLimits::max_series).
    #[error("more than {limit} samples; raise ParseLimits::max_series or scrape less")]
    TooManySeries {
        /// The limit.
        limit: usize,
    },
    /// More families than [`ParseLimits::max_families`](super::ParseLimits::max_families).
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
