//! The one accept-and-drain loop of the workspace: [`serve_streams`] takes connections from
//! a [`LimitedAccept`] until shutdown, runs a handler per connection, and on shutdown stops
//! accepting (the source is dropped, so a dark service is unbound), tells every open
//! connection that the process is draining ([`Drain::draining`]), waits for them at most the
//! grace period, then tells the ones still open to stop ([`Drain::cut`]) and aborts whatever
//! is left a moment later. The HTTP loop ([`super::serve_connections`]), reflectz's echo
//! service and `darkscrape host`'s forwarder all run on it.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::accept::{AcceptSource, LimitedAccept};

/// How long connections told to stop at the end of the grace period get to wind down
/// (write a last frame, send FIN) before their tasks are aborted.
const CUT_GRACE: Duration = Duration::from_millis(500);

/// Phase of the serving loop, as seen by one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Serving,
    Draining,
    Cut,
}

/// What a connection handler of [`serve_streams`] is told about the loop's shutdown.
#[derive(Debug, Clone)]
pub struct Drain {
    phase: watch::Receiver<Phase>,
}

impl Drain {
    async fn reached(&mut self, phase: Phase) {
        // An error means the loop is gone; treat it as every phase reached.
        let _ = self.phase.wait_for(|now| *now >= phase).await;
    }

    /// Resolves once the loop stopped accepting: a connection should finish what it is
    /// doing (HTTP: the current request) and may keep a stream open until its peer ends it.
    pub async fn draining(&mut self) {
        self.reached(Phase::Draining).await
    }

    /// Resolves when the grace period is over: the connection must end now (its task is
    /// aborted shortly after).
    pub async fn cut(&mut self) {
        self.reached(Phase::Cut).await
    }
}

/// How a [`serve_streams`] loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainSummary {
    /// Connections accepted.
    pub connections: u64,
    /// Whether every open connection finished within the grace period.
    pub drained: bool,
}

/// Accepts connections from `source` (at most `max_connections` served at once; `what`
/// names them in logs) and runs `handler(io, peer, drain)` on each in its own task until
/// `shutdown` resolves or the source closes. Then it drops the source, signals
/// [`Drain::draining`], waits at most `drain_timeout` for open connections, signals
/// [`Drain::cut`] to those left, and aborts any still running after a short moment.
pub async fn serve_streams<A, H, Fut>(
    source: A,
    max_connections: usize,
    what: &'static str,
    drain_timeout: Duration,
    shutdown: impl Future<Output = ()>,
    handler: H,
) -> DrainSummary
where
    A: AcceptSource,
    H: Fn(A::Io, String, Drain) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut accept = LimitedAccept::new(source, max_connections, what);
    let (phase_tx, phase_rx) = watch::channel(Phase::Serving);
    let mut tasks = JoinSet::new();
    let mut connections = 0u64;
    tokio::pin!(shutdown);
    loop {
        // Reap finished connection tasks so the set does not grow.
        while tasks.try_join_next().is_some() {}
        let Some((io, peer, slot)) = accept.next(shutdown.as_mut()).await else {
            break;
        };
        connections += 1;
        let work = handler(
            io,
            peer,
            Drain {
                phase: phase_rx.clone(),
            },
        );
        tasks.spawn(async move {
            work.await;
            drop(slot);
        });
    }
    drop(accept);
    let _ = phase_tx.send(Phase::Draining);
    let open = tasks.len();
    if open > 0 {
        tracing::info!(
            open,
            ?drain_timeout,
            "stopped accepting {what} connections; draining the open ones"
        );
    }
    let drained = tokio::time::timeout(drain_timeout, async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .is_ok();
    if !drained {
        tracing::warn!(
            open = tasks.len(),
            ?drain_timeout,
            "{what} connections still open after the drain timeout; closing them"
        );
        let _ = phase_tx.send(Phase::Cut);
        let _ = tokio::time::timeout(CUT_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    DrainSummary {
        connections,
        drained,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Echo of every byte until EOF, or until cut.
    async fn echo(mut io: tokio::io::DuplexStream, mut drain: Drain) {
        let mut buf = [0u8; 64];
        loop {
            let n = tokio::select! {
                n = io.read(&mut buf) => n.unwrap_or(0),
                _ = drain.cut() => return,
            };
            if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn open_streams_finish_after_shutdown_and_late_ones_are_cut() {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(serve_streams(
            rx,
            4,
            "test",
            Duration::from_secs(5),
            async move {
                let _ = stop_rx.await;
            },
            |io, _peer, drain| echo(io, drain),
        ));
        let (mut finishing, server_side) = tokio::io::duplex(64);
        tx.send(server_side).await.unwrap();
        let (mut lingering, server_side) = tokio::io::duplex(64);
        tx.send(server_side).await.unwrap();
        finishing.write_all(b"a").await.unwrap();
        let mut one = [0u8; 1];
        finishing.read_exact(&mut one).await.unwrap();
        stop_tx.send(()).unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Still served after shutdown began.
        finishing.write_all(b"b").await.unwrap();
        finishing.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"b");
        drop(finishing);
        let summary = serving.await.unwrap();
        assert_eq!(
            summary,
            DrainSummary {
                connections: 2,
                drained: false
            }
        );
        let mut rest = Vec::new();
        assert_eq!(lingering.read_to_end(&mut rest).await.unwrap(), 0);
    }
}
