//! Fuzz identity file parsing: `Identity::from_json` must return an error, never panic.
//!
//! The first input byte picks the mode. Even: the rest is the identity file as given.
//! Odd: the rest (as UTF-8, lossily) becomes the value of one `id.*` field inside an
//! otherwise well-formed file, so the PEM and value-encoding paths are reached directly.
#![no_main]

use dark_listener::identity::Identity;
use libfuzzer_sys::fuzz_target;

/// Encodes `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let _ = Identity::from_json(rest, "fuzz.json");
        return;
    }
    let value = json_string(&String::from_utf8_lossy(rest));
    let filler = json_string("pem:-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n");
    let (cert, key, ca) = match (mode / 2) % 3 {
        0 => (value.as_str(), filler.as_str(), filler.as_str()),
        1 => (filler.as_str(), value.as_str(), filler.as_str()),
        _ => (filler.as_str(), filler.as_str(), value.as_str()),
    };
    let file = format!(
        "{{\"ztAPI\":\"https://ctrl:1280\",\"id\":{{\"cert\":{cert},\"key\":{key},\"ca\":{ca}}}}}"
    );
    let _ = Identity::from_json(file.as_bytes(), "fuzz.json");
});
