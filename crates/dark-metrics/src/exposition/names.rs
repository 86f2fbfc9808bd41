//! Metric and label names: the legacy character rules, the name escaping schemes a scraper can
//! ask for (`escaping=` in the Accept header), and the string escapes both text formats use.
//!
//! A *legacy-valid* metric name matches `[a-zA-Z_:][a-zA-Z0-9_:]*` and a legacy-valid label
//! name `[a-zA-Z_][a-zA-Z0-9_]*`. Any other (UTF-8) name is written quoted inside the braces
//! under [`EscapingScheme::AllowUtf8`], or rewritten to a legacy-valid name under the other
//! schemes, exactly as Go's `model.EscapeName` does. Legacy-valid names are never changed.

/// How names that are not legacy-valid are written (the `escaping=` media type parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EscapingScheme {
    /// `allow-utf-8`: write the name as is, quoted where the syntax requires it.
    #[default]
    AllowUtf8,
    /// `underscores`: every character outside `[a-zA-Z0-9_:]` (or a leading digit) becomes `_`.
    Underscores,
    /// `dots`: `_` becomes `__`, `.` becomes `_dot_`, any other invalid character `__`.
    Dots,
    /// `values`: prefix `U__`, `_` becomes `__`, any other invalid character `_<hex code>_`.
    Values,
}

impl EscapingScheme {
    /// Parses the value of an `escaping=` parameter; `None` for an unknown scheme.
    pub fn from_param(value: &str) -> Option<Self> {
        match value {
            "allow-utf-8" => Some(EscapingScheme::AllowUtf8),
            "underscores" => Some(EscapingScheme::Underscores),
            "dots" => Some(EscapingScheme::Dots),
            "values" => Some(EscapingScheme::Values),
            _ => None,
        }
    }

    /// The parameter value naming this scheme (`allow-utf-8`, `underscores`, …).
    pub fn as_param(self) -> &'static str {
        match self {
            EscapingScheme::AllowUtf8 => "allow-utf-8",
            EscapingScheme::Underscores => "underscores",
            EscapingScheme::Dots => "dots",
            EscapingScheme::Values => "values",
        }
    }
}

fn is_legacy_metric_char(c: char, first: bool) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || (!first && c.is_ascii_digit())
}

fn is_legacy_label_char(c: char, first: bool) -> bool {
    c.is_ascii_alphabetic() || c == '_' || (!first && c.is_ascii_digit())
}

/// Byte classes for the hot loops (a metric name's first byte, its other bytes, and bytes that
/// must be escaped inside a quoted string: `\\`, newline, `"`).
const START: u8 = 0b001;
const CONTINUE: u8 = 0b010;
const ESCAPE: u8 = 0b100;
const BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        if c.is_ascii_alphabetic() || c == b'_' || c == b':' {
            table[i] |= START | CONTINUE;
        }
        if c.is_ascii_digit() {
            table[i] |= CONTINUE;
        }
        if c == b'\\' || c == b'\n' || c == b'"' {
            table[i] |= ESCAPE;
        }
        i += 1;
    }
    table
};

/// True if `name` (the concatenation of `parts`) is a legacy-valid metric name.
pub fn is_legacy_metric_name(parts: &[&str]) -> bool {
    // Byte-wise: every legacy character is ASCII, so any non-ASCII byte fails.
    let mut first = true;
    for part in parts {
        for &b in part.as_bytes() {
            let class = BYTE_CLASS[usize::from(b)];
            let ok = class & if first { START } else { CONTINUE } != 0;
            if !ok {
                return false;
            }
            first = false;
        }
    }
    !first
}

/// True if `name` is a legacy-valid label name.
pub fn is_legacy_label_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match bytes.first() {
        Some(&b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes[1..]
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Appends `text` with `\` → `\\`, newline → `\n` and, if `quote` is set, `"` → `\"`.
pub fn write_escaped(out: &mut Vec<u8>, text: &str, quote: bool) {
    let bytes = text.as_bytes();
    if !bytes
        .iter()
        .any(|&b| BYTE_CLASS[usize::from(b)] & ESCAPE != 0)
    {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let replacement: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'"' if quote => b"\\\"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(replacement);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends a metric name given as parts (a family stem and a sample suffix). Returns true if
/// the name had to be quoted, in which case the caller must write it inside braces.
pub fn write_metric_name(out: &mut Vec<u8>, parts: &[&str], scheme: EscapingScheme) -> bool {
    if is_legacy_metric_name(parts) {
        for part in parts {
            out.extend_from_slice(part.as_bytes());
        }
        return false;
    }
    match scheme {
        EscapingScheme::AllowUtf8 => {
            out.push(b'"');
            for part in parts {
                write_escaped(out, part, true);
            }
            out.push(b'"');
            true
        }
        _ => {
            escape_chars(
                out,
                parts.iter().flat_map(|p| p.chars()),
                scheme,
                is_legacy_metric_char,
            );
            false
        }
    }
}

/// Appends a label name, quoted under [`EscapingScheme::AllowUtf8`] or rewritten under the
/// other schemes when it is not legacy-valid.
pub fn write_label_name(out: &mut Vec<u8>, name: &str, scheme: EscapingScheme) {
    if is_legacy_label_name(name) {
        out.extend_from_slice(name.as_bytes());
        return;
    }
    match scheme {
        EscapingScheme::AllowUtf8 => {
            out.push(b'"');
            write_escaped(out, name, true);
            out.push(b'"');
        }
        _ => escape_chars(out, name.chars(), scheme, is_legacy_label_char),
    }
}

fn escape_chars(
    out: &mut Vec<u8>,
    chars: impl Iterator<Item = char>,
    scheme: EscapingScheme,
    valid: fn(char, bool) -> bool,
) {
    let mut utf8 = [0u8; 4];
    if scheme == EscapingScheme::Values {
        out.extend_from_slice(b"U__");
    }
    let mut empty = true;
    for (i, c) in chars.enumerate() {
        empty = false;
        let first = i == 0;
        match scheme {
            EscapingScheme::AllowUtf8 | EscapingScheme::Underscores => {
                let c = if valid(c, first) { c } else { '_' };
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
            EscapingScheme::Dots => match c {
                '_' => out.extend_from_slice(b"__"),
                '.' => out.extend_from_slice(b"_dot_"),
                c if valid(c, first) => out.push(c as u8),
                _ => out.extend_from_slice(b"__"),
            },
            EscapingScheme::Values => match c {
                '_' => out.extend_from_slice(b"__"),
                c if valid(c, first) => out.push(c as u8),
                c => {
                    out.push(b'_');
                    let code = u32::from(c);
                    let mut hex = [0u8; 8];
                    let mut n = 0;
                    let mut rest = code;
                    loop {
                        hex[n] = b"0123456789abcdef"[(rest & 0xf) as usize];
                        n += 1;
                        rest >>= 4;
                        if rest == 0 {
                            break;
                        }
                    }
                    hex[..n].reverse();
                    out.extend_from_slice(&hex[..n]);
                    out.push(b'_');
                }
            },
        }
    }
    if empty && scheme == EscapingScheme::Values {
        out.truncate(out.len() - 3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: &str, scheme: EscapingScheme) -> (String, bool) {
        let mut out = Vec::new();
        let quoted = write_metric_name(&mut out, &[name], scheme);
        (String::from_utf8(out).unwrap(), quoted)
    }

    fn label(name: &str, scheme: EscapingScheme) -> String {
        let mut out = Vec::new();
        write_label_name(&mut out, name, scheme);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn legacy_names_are_never_changed() {
        for scheme in [
            EscapingScheme::AllowUtf8,
            EscapingScheme::Underscores,
            EscapingScheme::Dots,
            EscapingScheme::Values,
        ] {
            assert_eq!(
                metric("node_cpu:rate5m", scheme),
                ("node_cpu:rate5m".into(), false)
            );
            assert_eq!(label("le", scheme), "le");
        }
    }

    #[test]
    fn utf8_names_are_quoted_or_escaped() {
        assert_eq!(
            metric("my.metric", EscapingScheme::AllowUtf8),
            ("\"my.metric\"".into(), true)
        );
        assert_eq!(
            metric("a\"b\\c", EscapingScheme::AllowUtf8),
            ("\"a\\\"b\\\\c\"".into(), true)
        );
        assert_eq!(
            metric("my.metric_x", EscapingScheme::Underscores),
            ("my_metric_x".into(), false)
        );
        assert_eq!(
            metric("1abc", EscapingScheme::Underscores),
            ("_abc".into(), false)
        );
        assert_eq!(
            metric("my.metric_x", EscapingScheme::Dots),
            ("my_dot_metric__x".into(), false)
        );
        assert_eq!(
            metric("my.metric_x", EscapingScheme::Values),
            ("U__my_2e_metric__x".into(), false)
        );
        assert_eq!(
            metric("temp°C", EscapingScheme::Values),
            ("U__temp_b0_C".into(), false)
        );
        assert_eq!(label("a:b", EscapingScheme::AllowUtf8), "\"a:b\"");
        assert_eq!(label("a:b", EscapingScheme::Underscores), "a_b");
        assert_eq!(
            label("service.name", EscapingScheme::Dots),
            "service_dot_name"
        );
    }

    #[test]
    fn parts_are_checked_as_one_name() {
        let mut out = Vec::new();
        assert!(!write_metric_name(
            &mut out,
            &["foo", "_total"],
            EscapingScheme::AllowUtf8
        ));
        assert_eq!(out, b"foo_total");
        assert!(!is_legacy_metric_name(&["", ""]));
        assert!(!is_legacy_metric_name(&["", "1a"]));
        assert!(!is_legacy_label_name(""));
    }

    #[test]
    fn escapes_only_the_required_characters() {
        let mut out = Vec::new();
        write_escaped(&mut out, "a\\b\n\"c\"\t", false);
        assert_eq!(out, b"a\\\\b\\n\"c\"\t");
        out.clear();
        write_escaped(&mut out, "a\\b\n\"c\"\t", true);
        assert_eq!(out, b"a\\\\b\\n\\\"c\\\"\t");
    }

    #[test]
    fn scheme_params_round_trip() {
        for scheme in [
            EscapingScheme::AllowUtf8,
            EscapingScheme::Underscores,
            EscapingScheme::Dots,
            EscapingScheme::Values,
        ] {
            assert_eq!(EscapingScheme::from_param(scheme.as_param()), Some(scheme));
        }
        assert_eq!(EscapingScheme::from_param("utf8"), None);
    }
}
