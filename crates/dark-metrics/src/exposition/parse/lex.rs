//! Lexing inside one line: a [`Cursor`] over the line that reads metric and label names (bare
//! or quoted), label sets, quoted strings, separators, tokens and OpenMetrics exemplars, plus
//! the HELP/label-value unescaping and the OpenMetrics timestamp conversion.

use std::borrow::Cow;

use super::ParseErrorKind;
use crate::exposition::float::parse_float;
use crate::exposition::model::Text;

pub(super) fn om_timestamp(text: &str) -> Result<i64, ParseErrorKind> {
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
pub(super) fn split_token(text: &str) -> (&str, &str) {
    let end = text.find([' ', '\t']).unwrap_or(text.len());
    text.split_at(end)
}

/// Undoes the escapes of a quoted string or HELP text: `\\` and `\n`, plus `\"` when `quote`
/// is set. Other backslash sequences are kept as written.
pub(super) fn unescape(text: &str, quote: bool) -> String {
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
pub(super) type Labels = Vec<(Text, Text)>;

/// A position in one line.
pub(super) struct Cursor<'a> {
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
    pub(super) fn new(text: &'a str, strict: bool) -> Self {
        Cursor {
            text,
            pos: 0,
            strict,
        }
    }

    pub(super) fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    pub(super) fn skip_blanks(&mut self) {
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

    pub(super) fn at_separator(&self) -> bool {
        matches!(self.peek(), Some(b' ')) || (!self.strict && matches!(self.peek(), Some(b'\t')))
    }

    /// One space (OpenMetrics) or a run of spaces/tabs (0.0.4).
    pub(super) fn separator(&mut self, expected: &'static str) -> Result<(), ParseErrorKind> {
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
    pub(super) fn token(&mut self) -> &'a str {
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
    pub(super) fn metric_name_token(&mut self) -> Result<String, ParseErrorKind> {
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
    pub(super) fn series(&mut self) -> Result<(Cow<'a, str>, Labels), ParseErrorKind> {
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
    pub(super) fn exemplar(&mut self) -> Result<(), ParseErrorKind> {
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
