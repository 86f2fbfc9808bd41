//! Cross-checks our Go-style float formatting against an independent implementation: Python's
//! `repr` (David Gay's shortest, round-half-even digits, as Go's `FormatFloat` produces) with
//! Go's `'g'` layout rules re-implemented in Python. Uses the peer Python
//! (`DARKSCRAPE_PEER_PYTHON`, falling back to `<workspace>/.venv-peers/bin/python`).

use std::io::Write;
use std::process::{Command, Stdio};

use dark_metrics::exposition::float::{write_go_float, write_openmetrics_float};
use testbed::peers::peer_python;

const GO_G_IN_PYTHON: &str = r#"
import struct, sys
from decimal import Decimal

def go_g(x, om):
    if x != x:
        return "NaN"
    if x == float("inf"):
        return "+Inf"
    if x == float("-inf"):
        return "-Inf"
    if x == 0:
        return "0.0" if om else "0"
    sign, digits, exp = Decimal(repr(x)).as_tuple()
    text = "".join(map(str, digits))
    e = len(text) - 1 + exp
    text = text.rstrip("0") or "0"
    if e < -4 or e >= 6:
        out = text[0] + ("." + text[1:] if len(text) > 1 else "")
        out += "e" + ("-" if e < 0 else "+") + ("%02d" % abs(e))
    elif e >= 0:
        if len(text) <= e + 1:
            out = text + "0" * (e + 1 - len(text))
            if om:
                out += ".0"
        else:
            out = text[: e + 1] + "." + text[e + 1 :]
    else:
        out = "0." + "0" * (-e - 1) + text
    return ("-" if sign else "") + out

for line in sys.stdin:
    bits = int(line, 16)
    x = struct.unpack("<d", bits.to_bytes(8, "little"))[0]
    print(go_g(x, False), go_g(x, True))
"#;

fn values() -> Vec<f64> {
    let mut values = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.1,
        0.75,
        63.0,
        1e6,
        999999.0,
        123456.5,
        1.795343977e9,
        f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -1.3431062691227563e14,
        9007199254740993.0,
    ];
    let mut state: u64 = 0x853C_49E6_748F_EA9B;
    for i in 0..30_000u32 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        values.push(match i % 5 {
            0 => f64::from_bits(state),
            1 => (state % 10_000_000_000) as f64 / 1000.0,
            2 => (state >> 11) as f64,
            3 => (state % 9973) as f64 * 10f64.powi((state % 30) as i32 - 15),
            _ => 1.0 / ((state % 100_000) as f64 + 1.0),
        });
    }
    values
}

#[test]
fn go_g_formatting_matches_independent_python_implementation() {
    let values = values();
    let mut input = String::new();
    for value in &values {
        input.push_str(&format!("{:016x}\n", value.to_bits()));
    }
    let mut child = Command::new(peer_python())
        .args(["-c", GO_G_IN_PYTHON])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), values.len());
    let mut mismatches = Vec::new();
    for (value, line) in values.iter().zip(&lines) {
        let mut go = Vec::new();
        write_go_float(&mut go, *value);
        let mut om = Vec::new();
        write_openmetrics_float(&mut om, *value);
        let ours = format!(
            "{} {}",
            String::from_utf8(go).unwrap(),
            String::from_utf8(om).unwrap()
        );
        if ours != *line {
            mismatches.push(format!("{value:e}: ours {ours:?}, python {line:?}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches, first: {:?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(5)]
    );
}
