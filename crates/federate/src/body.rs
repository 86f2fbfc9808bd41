//! A target's answer body: read whole under a size limit ([`read_limited`]), and a cheap
//! check that it is an exposition at all ([`check_exposition`]).
//!
//! The gateway reads the body before answering so that a target that closes mid-body or
//! sends too much gets a precise status and reason instead of a truncated 200. The check
//! looks at the first [`CHECK_PREFIX`] bytes only (decoded first when the target gzipped
//! them): the content type must be an exposition format, and the complete lines there must
//! parse. It catches an HTML page or random bytes for the price of one small parse; full
//! validation stays Prometheus's (its target page reports parse errors).

use std::io::Read;

use bytes::{Bytes, BytesMut};
use dark_metrics::exposition::parse::{ParseLimits, Parser};
use dark_metrics::scrape::format_of_content_type;
use http_body_util::BodyExt;

/// How much of a body [`check_exposition`] looks at.
pub const CHECK_PREFIX: usize = 4096;

/// Why a body could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// More than the limit arrived (or was announced).
    #[error("the target's answer exceeds the body limit of {limit} bytes{}", announced.map(|n| format!(" (it announced {n})")).unwrap_or_default())]
    TooLarge {
        /// The limit.
        limit: u64,
        /// The Content-Length, when it announced one.
        announced: Option<u64>,
    },
    /// The connection ended or failed before the body was complete.
    #[error("the target closed the connection mid-body after {received} bytes: {cause}")]
    ClosedMidBody {
        /// Bytes received before the failure.
        received: u64,
        /// What the HTTP layer said.
        cause: String,
    },
}

/// Reads `body` whole, failing as soon as more than `limit` bytes arrive. `announced` is the
/// answer's Content-Length, when it has one.
pub async fn read_limited<B>(
    body: B,
    announced: Option<u64>,
    limit: u64,
) -> Result<Bytes, BodyError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    if let Some(length) = announced.filter(|&n| n > limit) {
        return Err(BodyError::TooLarge {
            limit,
            announced: Some(length),
        });
    }
    let capacity = announced.unwrap_or(0).min(limit) as usize;
    let mut collected = BytesMut::with_capacity(capacity);
    let mut first: Option<Bytes> = None;
    let mut body = std::pin::pin!(body);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::ClosedMidBody {
            received: (collected.len() + first.as_ref().map_or(0, Bytes::len)) as u64,
            cause: e.to_string(),
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let so_far = collected.len() + first.as_ref().map_or(0, Bytes::len);
        if (so_far + data.len()) as u64 > limit {
            return Err(BodyError::TooLarge { limit, announced });
        }
        // The usual case is one chunk: keep it without a copy.
        match first.take() {
            None if collected.is_empty() => first = Some(data),
            None => collected.extend_from_slice(&data),
            Some(earlier) => {
                collected.extend_from_slice(&earlier);
                collected.extend_from_slice(&data);
            }
        }
    }
    Ok(first.unwrap_or_else(|| collected.freeze()))
}

/// Checks that a 2xx body looks like an exposition (see the module docs). `content_type` and
/// `content_encoding` are the answer's headers. Protobuf answers are not checked.
pub fn check_exposition(
    body: &[u8],
    content_type: Option<&str>,
    content_encoding: Option<&str>,
) -> Result<(), String> {
    let content_type = content_type.unwrap_or("");
    if content_type.starts_with("application/vnd.google.protobuf") {
        return Ok(());
    }
    let Some(format) = format_of_content_type(content_type) else {
        return Err(format!(
            "content type {content_type:?} is not a Prometheus exposition format"
        ));
    };
    let decoded;
    let prefix: &[u8] = match content_encoding.map(str::trim) {
        None | Some("") | Some("identity") => &body[..body.len().min(CHECK_PREFIX)],
        Some(encoding) if encoding.eq_ignore_ascii_case("gzip") => {
            let mut out = Vec::with_capacity(CHECK_PREFIX);
            let mut decoder = flate2::read::GzDecoder::new(body).take(CHECK_PREFIX as u64);
            if let Err(error) = decoder.read_to_end(&mut out) {
                // A short body ends early; anything else is not gzip.
                if out.is_empty() {
                    return Err(format!("the gzip-encoded body does not decode: {error}"));
                }
            }
            decoded = out;
            &decoded
        }
        Some(other) => return Err(format!("content encoding {other:?} is not gzip")),
    };
    // Only complete lines: the prefix may cut the last one.
    let complete = match prefix.iter().rposition(|&b| b == b'\n') {
        Some(end) => &prefix[..=end],
        None if prefix.len() < CHECK_PREFIX => prefix,
        None => return Err(format!("no line ends in the first {CHECK_PREFIX} bytes")),
    };
    let mut parser = Parser::new(format, ParseLimits::default());
    parser
        .push(complete)
        .map_err(|error| format!("the body is not a valid exposition: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

    #[test]
    fn expositions_pass_and_garbage_does_not() {
        let good = b"# HELP a A.\n# TYPE a counter\na_total 1\nb{x=\"y\"} 2\n";
        assert_eq!(check_exposition(good, Some(TEXT), None), Ok(()));
        let om = b"# TYPE a counter\na_total 1\n# EOF\n";
        assert_eq!(
            check_exposition(
                om,
                Some("application/openmetrics-text; version=1.0.0"),
                None
            ),
            Ok(())
        );
        let err = check_exposition(b"<html><body>hi</body></html>\n", Some(TEXT), None);
        assert!(err.unwrap_err().contains("not a valid exposition"));
        let err = check_exposition(good, Some("text/html"), None);
        assert!(err.unwrap_err().contains("text/html"));
        let err = check_exposition(good, Some(TEXT), Some("br"));
        assert!(err.unwrap_err().contains("br"));
        let err = check_exposition(good, Some(TEXT), Some("gzip"));
        assert!(err.unwrap_err().contains("gzip"));
        // A cut last line is not judged; a line longer than the window is.
        let mut long = good.to_vec();
        long.extend_from_slice(b"c{x=\"unfinished");
        assert_eq!(check_exposition(&long, Some(TEXT), None), Ok(()));
        let endless = vec![b'a'; CHECK_PREFIX + 1];
        assert!(check_exposition(&endless, Some(TEXT), None).is_err());
    }

    #[test]
    fn gzip_bodies_are_checked_after_decoding() {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"a 1\n").unwrap();
        let good = encoder.finish().unwrap();
        assert_eq!(check_exposition(&good, Some(TEXT), Some("gzip")), Ok(()));
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"{{{ not metrics\n").unwrap();
        let bad = encoder.finish().unwrap();
        assert!(check_exposition(&bad, Some(TEXT), Some("gzip")).is_err());
    }

    #[tokio::test]
    async fn bodies_are_read_whole_within_the_limit() {
        let body = Full::new(Bytes::from_static(b"0123456789"));
        assert_eq!(
            read_limited(body, Some(10), 10).await.unwrap(),
            &b"0123456789"[..]
        );
        let body = Full::new(Bytes::from_static(b"0123456789"));
        assert!(matches!(
            read_limited(body, Some(10), 9).await,
            Err(BodyError::TooLarge {
                announced: Some(10),
                ..
            })
        ));
        // Chunks over the limit without an announced length.
        let chunks = futures_chunks(&[b"01234", b"56789"], None);
        assert!(matches!(
            read_limited(chunks, None, 7).await,
            Err(BodyError::TooLarge {
                announced: None,
                ..
            })
        ));
        let chunks = futures_chunks(&[b"01234", b"56789", b"ab"], None);
        assert_eq!(
            read_limited(chunks, None, 12).await.unwrap(),
            &b"0123456789ab"[..]
        );
        // A failure mid-body says how much had arrived.
        let chunks = futures_chunks(&[b"01234"], Some("connection reset"));
        match read_limited(chunks, None, 100).await {
            Err(BodyError::ClosedMidBody { received, cause }) => {
                assert_eq!(received, 5);
                assert!(cause.contains("reset"));
            }
            other => panic!("expected ClosedMidBody, got {other:?}"),
        }
    }

    /// A body of scripted chunks, ending with an error when one is given.
    struct ChunkBody(std::collections::VecDeque<Result<Bytes, String>>);

    impl hyper::body::Body for ChunkBody {
        type Data = Bytes;
        type Error = String;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, String>>> {
            std::task::Poll::Ready(
                self.0
                    .pop_front()
                    .map(|item| item.map(hyper::body::Frame::data)),
            )
        }
    }

    fn futures_chunks(chunks: &[&'static [u8]], error: Option<&'static str>) -> ChunkBody {
        let mut items: std::collections::VecDeque<_> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        if let Some(error) = error {
            items.push_back(Err(error.to_string()));
        }
        ChunkBody(items)
    }
}
