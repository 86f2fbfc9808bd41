//! The echo line protocol on one connection, and the accept loop serving many at once.
//!
//! Protocol (the original's, kept byte for byte):
//!
//! * Every line, meaning bytes up to and including `\n`, is answered with
//!   `you sent me: ` followed by the line exactly as received (a `\r` before the `\n` stays,
//!   bytes need not be UTF-8). Replies are flushed one by one, in order.
//! * When the client closes its side, reflectz closes too. Bytes after the last `\n` (a
//!   partial line) get no reply, as in the original, where `ReadString('\n')` returns them
//!   with an error and the connection is closed.
//!
//! Limits (the original had none):
//!
//! * A line longer than [`EchoLimits::max_line_bytes`] (counting its `\n`) is not echoed:
//!   reflectz writes `reflectz: line longer than N bytes; closing\n` and closes the
//!   connection, since the rest of the stream cannot be framed reliably.
//! * A connection that completes no line within [`EchoLimits::idle_timeout`] is closed
//!   without a message.
//! * At most [`EchoLimits::max_connections`] connections are served at once; more wait in
//!   the listener's accept queue (which refuses Dials once full).
//! * On shutdown, no new connection is accepted, and open connections keep being echoed
//!   until their clients close them, for at most [`EchoLimits::drain_timeout`]; then those
//!   still open are closed (FIN) and the loop returns.

use std::future::Future;
use std::time::Duration;

use dark_metrics::serve::{serve_streams, AcceptSource, Drain};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::time::Instant;

use crate::metrics::ReflectMetrics;

/// What each echoed line starts with.
pub const REPLY_PREFIX: &[u8] = b"you sent me: ";

/// Limits of the echo service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoLimits {
    /// Longest line, `\n` included.
    pub max_line_bytes: usize,
    /// Longest wait for the next complete line.
    pub idle_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Longest wait for open connections to be closed by their clients after shutdown.
    pub drain_timeout: Duration,
}

impl Default for EchoLimits {
    fn default() -> Self {
        EchoLimits {
            max_line_bytes: 64 * 1024,
            idle_timeout: Duration::from_secs(300),
            max_connections: 1024,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// How one echo connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EchoOutcome {
    /// The client closed after a complete line (or before sending anything).
    PeerClosed,
    /// The client closed with this many bytes of an unfinished line, which got no reply.
    PartialLine(usize),
    /// A line exceeded the limit; the notice was sent and the connection closed.
    LineTooLong,
    /// No complete line arrived within the idle timeout.
    IdleTimeout,
    /// Reading or writing failed.
    Io(String),
    /// The service is shutting down.
    Shutdown,
}

impl EchoOutcome {
    /// The `reason` label of `reflect_closed_connections_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            EchoOutcome::PeerClosed => "eof",
            EchoOutcome::PartialLine(_) => "partial_line",
            EchoOutcome::LineTooLong => "line_too_long",
            EchoOutcome::IdleTimeout => "idle_timeout",
            EchoOutcome::Io(_) => "io_error",
            EchoOutcome::Shutdown => "shutdown",
        }
    }
}

enum LineRead {
    Line,
    Eof,
    TooLong,
}

/// Reads one line (up to and including `\n`) into `line`, refusing to hold more than `max`
/// bytes. Returns how many bytes were consumed along with the result.
async fn read_line_bounded<R>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<LineRead>
where
    R: AsyncBufRead + Unpin,
{
    loop {
        let buffer = reader.fill_buf().await?;
        if buffer.is_empty() {
            return Ok(LineRead::Eof);
        }
        let (take, complete) = match buffer.iter().position(|&b| b == b'\n') {
            Some(index) => (index + 1, true),
            None => (buffer.len(), false),
        };
        if line.len() + take > max {
            let room = max.saturating_sub(line.len()).min(take);
            line.extend_from_slice(&buffer[..room]);
            reader.consume(room);
            return Ok(LineRead::TooLong);
        }
        line.extend_from_slice(&buffer[..take]);
        reader.consume(take);
        if complete {
            return Ok(LineRead::Line);
        }
    }
}

/// Serves the echo protocol on one connection until it ends or `drain` says the grace
/// period is over, updating `metrics` (but not the open/close counts, which the accept loop
/// keeps).
pub async fn echo_connection<S>(
    stream: S,
    limits: &EchoLimits,
    metrics: &ReflectMetrics,
    mut drain: Drain,
) -> EchoOutcome
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = BufReader::with_capacity(8 * 1024, stream);
    let mut line = Vec::with_capacity(256);
    let mut reply = Vec::with_capacity(256);
    let outcome = loop {
        line.clear();
        let read = tokio::select! {
            read = tokio::time::timeout(
                limits.idle_timeout,
                read_line_bounded(&mut stream, &mut line, limits.max_line_bytes),
            ) => read,
            _ = drain.cut() => break EchoOutcome::Shutdown,
        };
        match read {
            Err(_elapsed) => {
                metrics.bytes_received(line.len() as u64);
                break EchoOutcome::IdleTimeout;
            }
            Ok(Err(error)) => {
                metrics.bytes_received(line.len() as u64);
                break EchoOutcome::Io(error.to_string());
            }
            Ok(Ok(LineRead::Eof)) => {
                metrics.bytes_received(line.len() as u64);
                break if line.is_empty() {
                    EchoOutcome::PeerClosed
                } else {
                    EchoOutcome::PartialLine(line.len())
                };
            }
            Ok(Ok(LineRead::TooLong)) => {
                metrics.bytes_received(line.len() as u64);
                let notice = format!(
                    "reflectz: line longer than {} bytes; closing\n",
                    limits.max_line_bytes
                );
                if let Err(error) = write_flush(&mut stream, notice.as_bytes()).await {
                    break EchoOutcome::Io(error.to_string());
                }
                metrics.bytes_sent(notice.len() as u64);
                break EchoOutcome::LineTooLong;
            }
            Ok(Ok(LineRead::Line)) => {
                reply.clear();
                reply.extend_from_slice(REPLY_PREFIX);
                reply.extend_from_slice(&line);
                if let Err(error) = write_flush(&mut stream, &reply).await {
                    metrics.bytes_received(line.len() as u64);
                    break EchoOutcome::Io(error.to_string());
                }
                metrics.line_echoed(line.len() as u64, reply.len() as u64);
            }
        }
    };
    // Best effort: tell the client we are done (FIN), whatever the reason.
    let _ = stream.get_mut().shutdown().await;
    outcome
}

async fn write_flush<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> std::io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

/// How the echo loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoSummary {
    /// Connections accepted.
    pub connections: u64,
    /// Whether all connections ended within the drain timeout.
    pub drained: bool,
}

/// Serves the echo protocol on every connection from `source` until `shutdown` resolves
/// or the source closes.
pub async fn serve_echo<A>(
    source: A,
    limits: EchoLimits,
    metrics: ReflectMetrics,
    shutdown: impl Future<Output = ()>,
) -> EchoSummary
where
    A: AcceptSource,
{
    let summary = serve_streams(
        source,
        limits.max_connections,
        "echo",
        limits.drain_timeout,
        shutdown,
        move |io, peer, drain| {
            let metrics = metrics.clone();
            metrics.connection_opened();
            async move {
                let opened = Instant::now();
                tracing::debug!(%peer, "echo connection accepted");
                let outcome = echo_connection(io, &limits, &metrics, drain).await;
                metrics.connection_closed(outcome.reason(), opened.elapsed().as_secs_f64());
                tracing::debug!(%peer, ?outcome, "echo connection closed");
            }
        },
    )
    .await;
    EchoSummary {
        connections: summary.connections,
        drained: summary.drained,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines_of(input: &[u8], max: usize) -> Vec<(Vec<u8>, &'static str)> {
        let mut reader = BufReader::with_capacity(4, input);
        let mut out = Vec::new();
        for _ in 0..100 {
            let mut line = Vec::new();
            let kind = match read_line_bounded(&mut reader, &mut line, max)
                .await
                .unwrap()
            {
                LineRead::Line => "line",
                LineRead::Eof => "eof",
                LineRead::TooLong => "too_long",
            };
            out.push((line, kind));
            if kind != "line" {
                break;
            }
        }
        out
    }

    #[tokio::test]
    async fn lines_are_split_at_newlines_across_buffer_refills() {
        let got = lines_of(b"hello world\r\nx\n\npartial", 100).await;
        let expected: Vec<(Vec<u8>, &str)> = vec![
            (b"hello world\r\n".to_vec(), "line"),
            (b"x\n".to_vec(), "line"),
            (b"\n".to_vec(), "line"),
            (b"partial".to_vec(), "eof"),
        ];
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn the_limit_counts_the_newline() {
        assert_eq!(
            lines_of(b"abcd\n", 5).await[0],
            (b"abcd\n".to_vec(), "line")
        );
        assert_eq!(
            lines_of(b"abcde\n", 5).await[0],
            (b"abcde".to_vec(), "too_long")
        );
        assert_eq!(lines_of(b"abcdefghij", 5).await[0].1, "too_long");
        assert_eq!(lines_of(b"", 5).await[0], (Vec::new(), "eof"));
    }
}
