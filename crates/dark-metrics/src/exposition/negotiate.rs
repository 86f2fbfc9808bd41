//! Content negotiation: picks the exposition format, the exact `Content-Type` to send and the
//! name escaping scheme from a scraper's `Accept` header.
//!
//! Rules (modelled on Go's `expfmt.NegotiateAccept`, which Prometheus' targets use):
//!
//! * Accept entries are tried in order of falling `q` (ties: more specific media ranges first,
//!   then header order). Entries with `q=0` (or an unparsable `q`) are not acceptable.
//! * `application/openmetrics-text` with `version=1.0.0` is answered with OpenMetrics 1.0 and
//!   `application/openmetrics-text; version=1.0.0; charset=utf-8`. Without `version` (Go treats
//!   that as `0.0.1`) or with `version=0.0.1` the same body is sent labelled
//!   `application/openmetrics-text; version=0.0.1; charset=utf-8`, because OpenMetrics 0.0.1
//!   and 1.0.0 text are the same syntax and a client that asked only for 0.0.1 should get that
//!   label back. Other OpenMetrics versions are not supported.
//! * `text/plain` with no version or `version=0.0.4` is answered with text 0.0.4 and
//!   `text/plain; version=0.0.4; charset=utf-8`. `text/plain;version=1.0.0` is not offered; a
//!   Prometheus 3 that lists it always lists 0.0.4 below it.
//! * `*/*` and `text/*` pick text 0.0.4; `application/*` picks OpenMetrics 1.0.
//! * Nothing acceptable, an empty or absent header: text 0.0.4.
//!
//! Escaping (how metric and label names outside the legacy character set are written): the
//! last valid `escaping=` parameter met while walking the entries up to and including the
//! chosen one wins, as in Go; Prometheus 3 sends `escaping=allow-utf-8` on its `1.0.0` entries.
//! When none was sent, `underscores` applies (the documented producer default). The
//! Content-Type never carries `escaping=`: names that are legacy-valid (all of ours) are
//! unaffected by any scheme, and a quoted UTF-8 name is only ever written when the scraper
//! asked for `allow-utf-8`.

use super::names::EscapingScheme;
use super::write::WriteOptions;

/// Content-Type of a text 0.0.4 response.
pub const TEXT_004_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content-Type of an OpenMetrics 1.0 response.
pub const OPENMETRICS_100_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content-Type of an OpenMetrics response to a client that asked only for version 0.0.1.
pub const OPENMETRICS_001_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=0.0.1; charset=utf-8";

/// Accept entries beyond this many are ignored (a real scraper sends about five).
const MAX_ACCEPT_ENTRIES: usize = 64;

/// An exposition text format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text004,
    /// OpenMetrics 1.0 text.
    OpenMetrics100,
}

impl Format {
    /// The Content-Type announcing this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text004 => TEXT_004_CONTENT_TYPE,
            Format::OpenMetrics100 => OPENMETRICS_100_CONTENT_TYPE,
        }
    }
}

/// The outcome of negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The format to write.
    pub format: Format,
    /// The exact `Content-Type` header value to send.
    pub content_type: &'static str,
    /// How names that are not legacy-valid must be written.
    pub escaping: EscapingScheme,
}

impl Negotiated {
    /// Writer options for this response (no `_created` samples).
    pub fn write_options(&self) -> WriteOptions {
        WriteOptions {
            escaping: self.escaping,
            created_samples: false,
        }
    }
}

struct Entry<'a> {
    media_type: &'a str,
    sub_type: &'a str,
    version: Option<&'a str>,
    escaping: Option<EscapingScheme>,
    q: f32,
    order: usize,
}

impl Entry<'_> {
    fn specificity(&self) -> u8 {
        match (self.media_type, self.sub_type) {
            ("*", _) => 0,
            (_, "*") => 1,
            _ => 2,
        }
    }
}

/// Picks the response format for an `Accept` header value (`None` when the request had none).
/// Several `Accept` headers should be joined with `,` first.
pub fn negotiate(accept: Option<&str>) -> Negotiated {
    let mut entries: Vec<Entry<'_>> = accept
        .unwrap_or("")
        .split(',')
        .take(MAX_ACCEPT_ENTRIES)
        .enumerate()
        .filter_map(|(order, text)| parse_entry(text, order))
        .collect();
    entries.sort_by(|a, b| {
        b.q.total_cmp(&a.q)
            .then(b.specificity().cmp(&a.specificity()))
            .then(a.order.cmp(&b.order))
    });
    let mut escaping = None;
    for entry in &entries {
        if entry.escaping.is_some() {
            escaping = entry.escaping;
        }
        if entry.q <= 0.0 {
            continue;
        }
        if let Some(content_type) = match_entry(entry) {
            let format = if content_type == TEXT_004_CONTENT_TYPE {
                Format::Text004
            } else {
                Format::OpenMetrics100
            };
            return Negotiated {
                format,
                content_type,
                escaping: escaping.unwrap_or(EscapingScheme::Underscores),
            };
        }
    }
    Negotiated {
        format: Format::Text004,
        content_type: TEXT_004_CONTENT_TYPE,
        escaping: escaping.unwrap_or(EscapingScheme::Underscores),
    }
}

fn match_entry(entry: &Entry<'_>) -> Option<&'static str> {
    let media = entry.media_type;
    let sub = entry.sub_type;
    if media == "*" {
        return Some(TEXT_004_CONTENT_TYPE);
    }
    if media.eq_ignore_ascii_case("text") {
        if sub == "*" {
            return Some(TEXT_004_CONTENT_TYPE);
        }
        if sub.eq_ignore_ascii_case("plain") && matches!(entry.version, None | Some("0.0.4")) {
            return Some(TEXT_004_CONTENT_TYPE);
        }
        return None;
    }
    if media.eq_ignore_ascii_case("application") {
        if sub == "*" {
            return Some(OPENMETRICS_100_CONTENT_TYPE);
        }
        if sub.eq_ignore_ascii_case("openmetrics-text") {
            return match entry.version {
                Some("1.0.0") => Some(OPENMETRICS_100_CONTENT_TYPE),
                None | Some("0.0.1") => Some(OPENMETRICS_001_CONTENT_TYPE),
                Some(_) => None,
            };
        }
    }
    None
}

fn parse_entry(text: &str, order: usize) -> Option<Entry<'_>> {
    let mut parts = text.split(';');
    let range = parts.next()?.trim();
    let (media_type, sub_type) = range.split_once('/')?;
    let (media_type, sub_type) = (media_type.trim(), sub_type.trim());
    if media_type.is_empty() || sub_type.is_empty() || (media_type == "*" && sub_type != "*") {
        return None;
    }
    let mut entry = Entry {
        media_type,
        sub_type,
        version: None,
        escaping: None,
        q: 1.0,
        order,
    };
    for param in parts {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        if key.eq_ignore_ascii_case("q") {
            entry.q = match value.parse::<f32>() {
                Ok(q) if (0.0..=1.0).contains(&q) => q,
                _ => 0.0,
            };
        } else if key.eq_ignore_ascii_case("version") {
            entry.version = Some(value);
        } else if key.eq_ignore_ascii_case("escaping") {
            entry.escaping = EscapingScheme::from_param(value);
        }
    }
    Some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prometheus 3.x default (no native histograms), from `acceptHeader` in scrape/scrape.go.
    const PROMETHEUS_3_DEFAULT: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    /// The example in Prometheus' content negotiation documentation.
    const DOCS_EXAMPLE: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

    /// What Debian's Prometheus 2.42 sends (captured by the `peers` integration test).
    const PROMETHEUS_2_42: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// Prometheus 3.x `DefaultProtoFirstScrapeProtocols` through `acceptHeader` (code-derived).
    const PROMETHEUS_3_PROTO_FIRST: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

    #[test]
    fn prometheus_defaults_get_openmetrics() {
        let n = negotiate(Some(PROMETHEUS_3_DEFAULT));
        assert_eq!(n.format, Format::OpenMetrics100);
        assert_eq!(n.content_type, OPENMETRICS_100_CONTENT_TYPE);
        assert_eq!(n.escaping, EscapingScheme::AllowUtf8);
        for accept in [DOCS_EXAMPLE, PROMETHEUS_2_42] {
            let n = negotiate(Some(accept));
            assert_eq!(n.format, Format::OpenMetrics100);
            assert_eq!(n.content_type, OPENMETRICS_100_CONTENT_TYPE);
            assert_eq!(n.escaping, EscapingScheme::Underscores);
        }
        // Prometheus 3 with native histograms or start timestamps asks for protobuf first;
        // we do not offer protobuf, so the next entry (OpenMetrics) wins.
        let n = negotiate(Some(PROMETHEUS_3_PROTO_FIRST));
        assert_eq!(n.format, Format::OpenMetrics100);
        assert_eq!(n.escaping, EscapingScheme::AllowUtf8);
    }

    #[test]
    fn absent_empty_and_unknown_accept_get_text() {
        for accept in [
            None,
            Some(""),
            Some("   "),
            Some("application/json"),
            Some("text/html,application/xhtml+xml"),
            Some("garbage"),
            Some("application/openmetrics-text;version=2.0.0"),
            Some("text/plain;version=1.0.0;escaping=allow-utf-8"),
            Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"),
        ] {
            let n = negotiate(accept);
            assert_eq!(n.format, Format::Text004, "{accept:?}");
            assert_eq!(n.content_type, TEXT_004_CONTENT_TYPE);
        }
    }

    #[test]
    fn q_values_order_the_choice() {
        let n = negotiate(Some(
            "application/openmetrics-text;version=1.0.0;q=0.2,text/plain;version=0.0.4;q=0.9",
        ));
        assert_eq!(n.format, Format::Text004);
        let n = negotiate(Some(
            "text/plain;version=0.0.4;q=0.3,application/openmetrics-text;version=1.0.0;q=0.5",
        ));
        assert_eq!(n.format, Format::OpenMetrics100);
        // q=0 means "not acceptable".
        let n = negotiate(Some("application/openmetrics-text;version=1.0.0;q=0"));
        assert_eq!(n.format, Format::Text004);
        // Unparsable q counts as 0.
        let n = negotiate(Some(
            "application/openmetrics-text;version=1.0.0;q=high,text/plain;q=0.1",
        ));
        assert_eq!(n.format, Format::Text004);
        // Ties: more specific first.
        let n = negotiate(Some("*/*,application/openmetrics-text;version=1.0.0"));
        assert_eq!(n.format, Format::OpenMetrics100);
    }

    #[test]
    fn openmetrics_001_requests_are_labelled_001() {
        let n = negotiate(Some("application/openmetrics-text"));
        assert_eq!(n.format, Format::OpenMetrics100);
        assert_eq!(n.content_type, OPENMETRICS_001_CONTENT_TYPE);
        let n = negotiate(Some("application/openmetrics-text; version=\"0.0.1\""));
        assert_eq!(n.content_type, OPENMETRICS_001_CONTENT_TYPE);
    }

    #[test]
    fn wildcards_and_whitespace() {
        assert_eq!(negotiate(Some("*/*")).format, Format::Text004);
        assert_eq!(negotiate(Some("text/*")).format, Format::Text004);
        assert_eq!(
            negotiate(Some("application/*")).format,
            Format::OpenMetrics100
        );
        let n = negotiate(Some(
            " application/openmetrics-text ; version = 1.0.0 ; q = 0.5 , text/plain ; q=0.4",
        ));
        assert_eq!(n.format, Format::OpenMetrics100);
        assert_eq!(negotiate(Some("*/plain")).format, Format::Text004);
    }

    #[test]
    fn escaping_is_remembered_along_the_walk() {
        // The chosen 0.0.4 entry has no escaping, but a higher entry did (Go semantics).
        let n = negotiate(Some(
            "text/plain;version=1.0.0;escaping=dots;q=0.5,text/plain;version=0.0.4;q=0.3",
        ));
        assert_eq!(n.format, Format::Text004);
        assert_eq!(n.escaping, EscapingScheme::Dots);
        let n = negotiate(Some(
            "application/openmetrics-text;version=1.0.0;escaping=values",
        ));
        assert_eq!(n.escaping, EscapingScheme::Values);
        let n = negotiate(Some(
            "application/openmetrics-text;version=1.0.0;escaping=bogus",
        ));
        assert_eq!(n.escaping, EscapingScheme::Underscores);
        assert_eq!(n.write_options().escaping, EscapingScheme::Underscores);
    }

    #[test]
    fn many_entries_are_bounded() {
        let long =
            "application/json;q=0.9,".repeat(10_000) + "application/openmetrics-text;version=1.0.0";
        // The OpenMetrics entry is beyond the entry limit, so it is not seen.
        assert_eq!(negotiate(Some(&long)).format, Format::Text004);
    }
}
