//! Fuzz the exposition parser (text 0.0.4 and OpenMetrics 1.0): parsing arbitrary bytes
//! must return families or an error, never panic; whatever parses must write back out and
//! parse again to the same families (the writer and parser agree on everything they accept).
//!
//! The first input byte picks the format; the rest is the body.
#![no_main]

use dark_metrics::exposition::{
    parse, write_format, Format, ParseLimits, WriteOptions,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let format = if mode % 2 == 0 {
        Format::Text004
    } else {
        Format::OpenMetrics100
    };
    let limits = ParseLimits {
        max_line_bytes: 64 * 1024,
        max_series: 10_000,
        max_families: 10_000,
    };
    let Ok(families) = parse(body, format, &limits) else {
        return;
    };
    let mut out = Vec::new();
    write_format(&mut out, format, &families, &WriteOptions::default());
    if let Ok(again) = parse(&out, format, &limits) {
        let mut out_again = Vec::new();
        write_format(&mut out_again, format, &again, &WriteOptions::default());
        assert_eq!(out, out_again, "write(parse(write(x))) differs from write(x)");
    }
});
