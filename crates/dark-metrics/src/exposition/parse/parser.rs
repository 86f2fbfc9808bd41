//! The incremental [`Parser`]: cuts the input, pushed in chunks of any size, into lines, enforces
//! the line-length limit and UTF-8, and remembers a failure so later input gets the same error.
//! What one line means is in [`super::line`]; how samples become families in [`super::family`].

use super::family::OpenFamily;
use super::{ParseError, ParseErrorKind, ParseLimits};
use crate::exposition::model::MetricFamily;
use crate::exposition::negotiate::Format;

/// An incremental parser: feed bytes with [`Parser::push`], then call [`Parser::finish`].
pub struct Parser {
    format: Format,
    pub(super) limits: ParseLimits,
    /// Bytes of a line not yet ended by `\n`.
    pending: Vec<u8>,
    /// Number of the next line (1-based).
    line: usize,
    pub(super) families: Vec<MetricFamily>,
    pub(super) current: Option<OpenFamily>,
    pub(super) series: usize,
    pub(super) seen_eof: bool,
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
        if self.openmetrics() && !self.seen_eof {
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

    /// Whether this parser reads OpenMetrics (rather than text 0.0.4).
    pub(super) fn openmetrics(&self) -> bool {
        self.format == Format::OpenMetrics100
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
}
