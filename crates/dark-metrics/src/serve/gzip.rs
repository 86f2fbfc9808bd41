//! Response compression: whether a request's `Accept-Encoding` allows gzip, and gzip of a
//! whole in-memory body with flate2.
//!
//! A scrape body is built in memory anyway, so it is compressed in one call rather than
//! streamed (tower-http's streaming compression layer cost about 170 µs per few-kilobyte
//! scrape here; this costs about 30 µs at level 1 with the zlib-rs backend).

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

/// `Accept-Encoding` entries beyond this many are ignored.
const MAX_ENTRIES: usize = 32;

/// Whether the `Accept-Encoding` values allow a gzip answer: `gzip` (or `x-gzip`) listed
/// with a non-zero q, or `*` with a non-zero q while gzip is not refused explicitly.
pub(crate) fn accepts_gzip<'a>(values: impl Iterator<Item = &'a str>) -> bool {
    let mut gzip: Option<bool> = None;
    let mut any: Option<bool> = None;
    for entry in values.flat_map(|v| v.split(',')).take(MAX_ENTRIES) {
        let mut parts = entry.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let mut acceptable = true;
        for param in parts {
            if let Some((name, value)) = param.split_once('=') {
                if name.trim().eq_ignore_ascii_case("q") {
                    acceptable = value.trim().parse::<f32>().is_ok_and(|q| q > 0.0);
                }
            }
        }
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(gzip.unwrap_or(false) || acceptable);
        } else if coding == "*" {
            any = Some(acceptable);
        }
    }
    gzip.or(any).unwrap_or(false)
}

/// Gzips `body` at `level` (0–9).
pub(crate) fn gzip(body: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        Compression::new(level.min(9)),
    );
    encoder.write_all(body)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(header: &str) -> bool {
        accepts_gzip(std::iter::once(header))
    }

    #[test]
    fn accept_encoding_cases() {
        assert!(accepts("gzip"));
        assert!(accepts("GZIP"));
        assert!(accepts("deflate, gzip;q=0.5"));
        assert!(accepts("x-gzip"));
        assert!(accepts("*"));
        assert!(accepts("br;q=1, *;q=0.1"));
        assert!(!accepts(""));
        assert!(!accepts("identity"));
        assert!(!accepts("zstd, br"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("gzip;q=0.000, identity"));
        assert!(!accepts("*, gzip;q=0"));
        assert!(!accepts("gzip;q=abc"));
        assert!(!accepts("gzipped"));
        assert!(accepts_gzip(["identity", "gzip"].into_iter()));
    }

    #[test]
    fn gzip_round_trips() {
        let body = b"demo_jobs_total 1\n".repeat(100);
        let zipped = gzip(&body, 6).unwrap();
        assert!(zipped.len() < body.len() / 5);
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&zipped[..]), &mut out)
            .unwrap();
        assert_eq!(out, body);
    }
}
