//! Number formatting and parsing for the exposition formats.
//!
//! Writing follows the Go reference encoder (`prometheus/common` `expfmt`), so that our output
//! can be diffed byte for byte against Go exporters:
//!
//! * text 0.0.4 writes a value the way Go's `strconv.FormatFloat(v, 'g', -1, 64)` does: the
//!   shortest digits that round-trip, in plain notation when the decimal exponent is in
//!   `-4..6` and in `d.ddde±XX` notation otherwise (`63`, `0.75`, `1e-05`, `1.795343977e+09`).
//!   `NaN`, `+Inf` and `-Inf` are spelled that way, and negative zero is written `0`.
//! * OpenMetrics writes the same digits but adds `.0` when the result has neither a `.` nor an
//!   exponent (`63.0`, `1.0`, `1e+06`), which is also the canonical form of `le` and
//!   `quantile` label values.
//!
//! Parsing accepts what Go's `strconv.ParseFloat` accepts for decimal input (including `inf`,
//! `Infinity` and `nan` in any case, with an optional sign) and, like Prometheus, rejects hex
//! floats and `_` digit separators.

/// Largest integer below which every integer is exactly representable in an `f64`.
const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53

/// Appends `value` in Go's shortest `'g'` form, as the 0.0.4 writer does.
pub fn write_go_float(out: &mut Vec<u8>, value: f64) {
    write_float(out, value, false);
}

/// Appends `value` in the OpenMetrics canonical form (Go's shortest `'g'` form plus `.0` when
/// the text would otherwise look like an integer).
pub fn write_openmetrics_float(out: &mut Vec<u8>, value: f64) {
    write_float(out, value, true);
}

/// Appends `value` as an OpenMetrics count: a plain integer when it is a non-negative integral
/// value that fits a `u64` (as Go writes histogram and summary counts), otherwise the
/// OpenMetrics float form.
pub fn write_openmetrics_count(out: &mut Vec<u8>, value: f64) {
    // 2^64 as f64; every integral f64 below it fits a u64 exactly.
    const U64_LIMIT: f64 = 18_446_744_073_709_551_616.0;
    if (0.0..U64_LIMIT).contains(&value) && value.fract() == 0.0 {
        // Truncation is exact: the value is integral and in range.
        let integer = value as u64;
        out.extend_from_slice(itoa::Buffer::new().format(integer).as_bytes());
    } else {
        write_openmetrics_float(out, value);
    }
}

fn write_float(out: &mut Vec<u8>, value: f64, openmetrics: bool) {
    if value.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"+Inf" } else { b"-Inf" });
        return;
    }
    if value == 0.0 {
        // Covers -0.0 too: Go's writer checks `f == 0` before formatting.
        out.extend_from_slice(if openmetrics { b"0.0" } else { b"0" });
        return;
    }
    let digits = if value.fract() == 0.0 && value.abs() < EXACT_INTEGER_LIMIT {
        Digits::of_integer(value)
    } else {
        Digits::of_shortest(value)
    };
    digits.write_go_g(out, openmetrics);
}

/// The shortest decimal digits of a finite, non-zero float: `0.d1d2d3… × 10^(exponent+1)`, i.e.
/// the value is `d1.d2d3… × 10^exponent`.
#[derive(Default)]
struct Digits {
    negative: bool,
    /// ASCII digits without leading or trailing zeros; at most 17 for an `f64`.
    buf: [u8; 32],
    len: usize,
    exponent: i32,
}

impl Digits {
    /// Exact digits of an integral value below 2^53 (every such integer is its own shortest
    /// round-trip representation once trailing zeros are dropped).
    fn of_integer(value: f64) -> Self {
        let mut digits = Digits::default();
        digits.fill_from_integer(value);
        digits
    }

    fn fill_from_integer(&mut self, value: f64) {
        self.negative = value < 0.0;
        // Exact: integral and below 2^53 in magnitude.
        let magnitude = value.abs() as u64;
        let mut itoa_buf = itoa::Buffer::new();
        let text = itoa_buf.format(magnitude).as_bytes();
        let significant = text.iter().rposition(|&b| b != b'0').map_or(1, |i| i + 1);
        self.buf[..significant].copy_from_slice(&text[..significant]);
        self.len = significant;
        self.exponent = text.len() as i32 - 1;
    }

    /// Digits from the standard library's shortest round-trip `{:e}` output
    /// (`-1.795343977e9`, `7.5e-1`).
    fn of_shortest(value: f64) -> Self {
        let mut ryu_buffer = ryu::Buffer::new();
        // `format_finite` is only called with finite values (checked by `write_float`).
        let text = ryu_buffer.format_finite(value);
        Digits::of_decimal_text(text)
    }

    /// Digits of a shortest round-trip decimal text as `ryu` (or Rust's `{:e}`) writes it:
    /// `[-]mantissa[e[-]exponent]`, where the mantissa may have a point and leading or
    /// trailing zeros (`1234.0`, `0.00123`, `1.795343977e9`, `1e-7`).
    fn of_decimal_text(text: &str) -> Self {
        let mut digits = Digits::default();
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        digits.negative = negative;
        let (mantissa, exponent_text) = unsigned.split_once(['e', 'E']).unwrap_or((unsigned, "0"));
        let exponent: i32 = exponent_text.parse().unwrap_or(0);
        // All mantissa digits D with the point after `point` of them; `leading` zeros of D
        // are dropped, so the value is 0.D' x 10^(point - leading).
        let mut point: Option<i32> = None;
        let mut seen: i32 = 0;
        let mut leading: i32 = 0;
        for b in mantissa.bytes() {
            match b {
                b'.' => point = Some(seen),
                b'0'..=b'9' => {
                    seen += 1;
                    if b == b'0' && digits.len == 0 {
                        leading += 1;
                    } else if digits.len < digits.buf.len() {
                        digits.buf[digits.len] = b;
                        digits.len += 1;
                    }
                }
                _ => {}
            }
        }
        let point = point.unwrap_or(seen);
        digits.exponent = point - leading - 1 + exponent;
        while digits.len > 1 && digits.buf[digits.len - 1] == b'0' {
            digits.len -= 1;
        }
        if digits.len == 0 {
            digits.buf[0] = b'0';
            digits.len = 1;
            digits.exponent = 0;
        }
        digits
    }

    /// Go's `%g` with shortest precision: exponent notation when the exponent is below -4 or at
    /// least 6 (Go uses precision 6 for this decision when the precision is "shortest").
    fn write_go_g(&self, out: &mut Vec<u8>, openmetrics: bool) {
        let digits = &self.buf[..self.len];
        if self.negative {
            out.push(b'-');
        }
        let exp = self.exponent;
        if !(-4..6).contains(&exp) {
            out.push(digits[0]);
            if digits.len() > 1 {
                out.push(b'.');
                out.extend_from_slice(&digits[1..]);
            }
            out.push(b'e');
            out.push(if exp < 0 { b'-' } else { b'+' });
            let magnitude = exp.unsigned_abs();
            if magnitude < 10 {
                out.push(b'0');
            }
            out.extend_from_slice(itoa::Buffer::new().format(magnitude).as_bytes());
            return;
        }
        if exp < 0 {
            out.extend_from_slice(b"0.");
            for _ in 0..(-exp - 1) {
                out.push(b'0');
            }
            out.extend_from_slice(digits);
            return;
        }
        // 0 <= exp < 6: integer part has exp+1 digits.
        let integer_len = exp as usize + 1;
        if digits.len() <= integer_len {
            out.extend_from_slice(digits);
            for _ in digits.len()..integer_len {
                out.push(b'0');
            }
            if openmetrics {
                out.extend_from_slice(b".0");
            }
        } else {
            out.extend_from_slice(&digits[..integer_len]);
            out.push(b'.');
            out.extend_from_slice(&digits[integer_len..]);
        }
    }
}

/// Parses a sample value (or an OpenMetrics timestamp) the way Prometheus does: Go's
/// `ParseFloat` syntax for decimal numbers and the case-insensitive keywords `inf`, `infinity`
/// and `nan` with an optional sign; hex floats (`0x…p…`) and `_` separators are rejected.
/// Returns `None` when the text is not a number.
pub fn parse_float(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > 64 {
        return None;
    }
    let (negative, unsigned) = match bytes[0] {
        b'+' => (false, &text[1..]),
        b'-' => (true, &text[1..]),
        _ => (false, text),
    };
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if unsigned.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    // Go's decimal syntax: digits with an optional single '.', then an optional exponent.
    // Rust's parser accepts the same decimal forms; we only pre-check the alphabet so that
    // hex floats, separators and Rust-only spellings are refused.
    let mut seen_digit = false;
    let mut seen_dot = false;
    let mut seen_exponent = false;
    let mut previous = 0u8;
    for &b in unsigned.as_bytes() {
        match b {
            b'0'..=b'9' => seen_digit = true,
            b'.' if !seen_dot && !seen_exponent => seen_dot = true,
            b'e' | b'E' if seen_digit && !seen_exponent => seen_exponent = true,
            b'+' | b'-' if matches!(previous, b'e' | b'E') => {}
            _ => return None,
        }
        previous = b;
    }
    if !seen_digit {
        return None;
    }
    let value: f64 = unsigned.parse().ok()?;
    Some(if negative { -value } else { value })
}

/// Parses a 0.0.4 timestamp: an integer number of milliseconds. Prometheus' lexer accepts only
/// digits here; we also accept a leading `-` (the format documentation shows negative
/// timestamps). Returns `None` when the text is not such an integer or overflows `i64`.
pub fn parse_millis(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(value: f64) -> String {
        let mut out = Vec::new();
        write_go_float(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    fn om(value: f64) -> String {
        let mut out = Vec::new();
        write_openmetrics_float(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn go_g_form_matches_strconv_examples() {
        // Expected strings are what Go's strconv.FormatFloat(v, 'g', -1, 64) produces.
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (63.0, "63"),
            (0.75, "0.75"),
            (1795343977.0, "1.795343977e+09"),
            (100000.0, "100000"),
            (999999.0, "999999"),
            (1000000.0, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000123, "0.000123"),
            (0.0000123, "1.23e-05"),
            (0.1, "0.1"),
            (0.3, "0.3"),
            (0.1 + 0.2, "0.30000000000000004"),
            (123456.5, "123456.5"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (1e-100, "1e-100"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "5e-324"),
            (9007199254740993.0, "9.007199254740992e+15"),
            (9007199254740991.0, "9.007199254740991e+15"),
            (-2.5e-7, "-2.5e-07"),
            (3.0517578125e-05, "3.0517578125e-05"),
            (1.5, "1.5"),
            (12345.678, "12345.678"),
            (4.2e9, "4.2e+09"),
            (16777216.0, "1.6777216e+07"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for &(value, expected) in cases {
            assert_eq!(go(value), expected, "value {value:?}");
        }
    }

    #[test]
    fn openmetrics_form_adds_point_zero_only_to_integers() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (1.0, "1.0"),
            (-1.0, "-1.0"),
            (63.0, "63.0"),
            (0.1, "0.1"),
            (0.25, "0.25"),
            (1e6, "1e+06"),
            (2.5e6, "2.5e+06"),
            (1520879607.789, "1.520879607789e+09"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
        ];
        for &(value, expected) in cases {
            assert_eq!(om(value), expected, "value {value:?}");
        }
    }

    #[test]
    fn openmetrics_counts_are_integers_when_integral() {
        let mut out = Vec::new();
        write_openmetrics_count(&mut out, 17.0);
        out.push(b' ');
        write_openmetrics_count(&mut out, 1e19);
        out.push(b' ');
        write_openmetrics_count(&mut out, 2.5);
        out.push(b' ');
        write_openmetrics_count(&mut out, -3.0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "17 10000000000000000000 2.5 -3.0"
        );
    }

    #[test]
    fn written_floats_round_trip_for_many_values() {
        // Deterministic xorshift over raw bit patterns plus scaled integers.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for i in 0..20_000 {
            let bits = next();
            let value = match i % 3 {
                0 => f64::from_bits(bits),
                1 => (bits % 10_000_000_000) as f64 / 1000.0,
                _ => (bits >> 11) as f64,
            };
            if !value.is_finite() {
                continue;
            }
            let text = go(value);
            let back = parse_float(&text).unwrap();
            assert_eq!(
                back.to_bits(),
                if value == 0.0 { 0 } else { value.to_bits() }
            );
            let om_text = om(value);
            assert_eq!(parse_float(&om_text).unwrap(), value, "{om_text}");
            // Shortest: Rust's `{:e}` is also shortest, so digit counts must agree.
            let std_digits = format!("{:e}", value.abs())
                .split('e')
                .next()
                .unwrap()
                .replace('.', "")
                .len();
            let our_mantissa = text
                .trim_start_matches('-')
                .split('e')
                .next()
                .unwrap()
                .replace('.', "");
            let our_digits = our_mantissa
                .trim_start_matches('0')
                .trim_end_matches('0')
                .len();
            assert!(our_digits <= std_digits.max(1), "{value:e} -> {text}");
        }
    }

    /// Two independent shortest-digit generators (ryu, and Rust's Grisu/Dragon `{:e}`) must
    /// give the same digits and exponent, except when the exact binary value lies exactly
    /// halfway between two shortest candidates: Go (and ryu) then round half to even, while
    /// Rust's `{:e}` rounds half up (e.g. -134310626912275.625 -> Go `...275.62`).
    #[test]
    fn ryu_and_std_digits_agree_except_ties() {
        let mut state: u64 = 0xD1B5_4A32_D192_ED03;
        let mut ties = 0;
        for i in 0..50_000u32 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let value = match i % 4 {
                0 => f64::from_bits(state),
                1 => (state % 1_000_000_007) as f64 / 1e6,
                2 => (state % 97) as f64 * 10f64.powi((state % 40) as i32 - 20),
                _ => 1.0 / ((state % 1000) as f64 + 1.0),
            };
            if !value.is_finite() || value == 0.0 {
                continue;
            }
            let from_ryu = Digits::of_shortest(value);
            let from_std = Digits::of_decimal_text(&format!("{value:e}"));
            let ryu_digits = &from_ryu.buf[..from_ryu.len];
            let std_digits = &from_std.buf[..from_std.len];
            if (ryu_digits, from_ryu.exponent) == (std_digits, from_std.exponent) {
                continue;
            }
            // A tie: same length, both round-trip, ryu's last digit even and one below std's.
            ties += 1;
            assert_eq!(ryu_digits.len(), std_digits.len(), "{value:e}");
            let last = ryu_digits[ryu_digits.len() - 1];
            assert_eq!(last % 2, 0, "{value:e}");
            assert_eq!(last + 1, std_digits[std_digits.len() - 1], "{value:e}");
            let mut written = Vec::new();
            write_go_float(&mut written, value);
            let text = String::from_utf8(written).unwrap();
            assert_eq!(parse_float(&text), Some(value));
        }
        assert!(ties < 500, "{ties} ties is implausibly many");
    }

    #[test]
    fn exact_ties_round_half_to_even_like_go() {
        // Exact value -134310626912275.625; Go's FormatFloat gives ...275.62.
        assert_eq!(go(-1.3431062691227563e14), "-1.3431062691227562e+14");
    }

    #[test]
    fn decimal_text_shapes() {
        for (text, digits, exponent) in [
            ("1234.0", "1234", 3),
            ("0.00123", "123", -3),
            ("1.795343977e9", "1795343977", 9),
            ("1e-7", "1", -7),
            ("1e16", "1", 16),
            ("-0.5", "5", -1),
            ("100.0", "1", 2),
        ] {
            let d = Digits::of_decimal_text(text);
            assert_eq!(
                (std::str::from_utf8(&d.buf[..d.len]).unwrap(), d.exponent),
                (digits, exponent),
                "{text}"
            );
        }
    }

    #[test]
    fn parse_float_accepts_go_syntax() {
        let cases: &[(&str, f64)] = &[
            ("1", 1.0),
            ("-1.5", -1.5),
            ("+2", 2.0),
            ("1e3", 1000.0),
            ("1E-3", 0.001),
            ("1.5e+09", 1.5e9),
            (".5", 0.5),
            ("5.", 5.0),
            ("+Inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
            ("INF", f64::INFINITY),
            ("Infinity", f64::INFINITY),
            ("-infinity", f64::NEG_INFINITY),
        ];
        for &(text, expected) in cases {
            assert_eq!(parse_float(text), Some(expected), "{text}");
        }
        for text in ["NaN", "nan", "NAN", "+nan", "-NaN"] {
            assert!(parse_float(text).unwrap().is_nan(), "{text}");
        }
    }

    #[test]
    fn parse_float_rejects_malformed_numbers() {
        for text in [
            "", "+", "-", ".", "e5", "1e", "1e+", "0x1p3", "0X10", "1_000", "1..2", "1.2.3",
            "1e5e5", "1e5.5", "abc", "in", "infinit", "nana", "1 2", "١", "--1", "+-1", "1-",
            "inf1",
        ] {
            assert_eq!(parse_float(text), None, "{text:?}");
        }
    }

    #[test]
    fn parse_millis_accepts_integers_only() {
        assert_eq!(parse_millis("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(parse_millis("-3982045"), Some(-3_982_045));
        for text in ["", "-", "1.5", "1e3", "+5", "99999999999999999999", "0x10"] {
            assert_eq!(parse_millis(text), None, "{text:?}");
        }
    }
}
