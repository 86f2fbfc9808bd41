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
//!
//! The code is split by concern: `lex` reads tokens inside one line (names, labels, quoted
//! strings, values, timestamps, exemplars), `line` is the line grammar of each format
//! (metadata, comments, samples), `family` assembles samples into families, `parser` cuts
//! the input into lines and enforces the limits, and `error` says what went wrong.

mod error;
mod family;
mod lex;
mod line;
mod parser;

pub use error::{ParseError, ParseErrorKind};
pub use parser::Parser;

use super::model::MetricFamily;
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
