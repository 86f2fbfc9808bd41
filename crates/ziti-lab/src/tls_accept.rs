//! The accept side shared by the lab's TLS servers (controller and router): an accept loop
//! that runs one task per connection until shutdown and then drains them, and the TLS
//! handshake with a deadline, in two bounded stages.
//!
//! **Pending** (accepted, TLS handshake not finished): at most [`AcceptLimits::pending`]
//! connections, each with a deadline for its handshake. When the pool is full, a new
//! connection takes the place of the oldest pending one that has not sent a byte yet, else of
//! the oldest one still in its handshake; only if every place is held by a connection that
//! finished its handshake (waiting for a served place) is the new one closed.
//! **Served** (handshake done): at most [`AcceptLimits::served`] at once; a handshaken
//! connection waits for a place, keeping its pending place meanwhile.
//!
//! Why: the served places used to be taken at accept, before the handshake. 400–600 TCP
//! connections that never sent a byte held all of the controller's 256 places until the 10 s
//! handshake timeout, and no client could log in meanwhile. Now a connection costs a served
//! place only once it has proven it speaks TLS with the lab's certificates, and a flood of
//! idle connections only evicts itself: a real client, which sends its ClientHello at once,
//! is admitted by evicting the oldest silent connection and is not evicted by later silent
//! ones. (A flood that sends ClientHellos and then stalls, faster than one pool per handshake
//! time, could still push out real handshakes; that needs per-peer limits, which a loopback lab
//! does not have addresses for.) Connections are accepted as fast as they come, so they do
//! not queue in the kernel backlog behind the flood either.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long the loop pauses after a failed accept (e.g. out of file descriptors).
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// How many connections each stage holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AcceptLimits {
    /// Connections served at once (handshake done).
    pub served: usize,
    /// Connections accepted whose handshake has not finished (or that wait for a served
    /// place); the oldest silent one makes way for a new connection when full.
    pub pending: usize,
}

/// An accepted TCP connection that has not been served yet: it holds a pending place until
/// [`handshake`] gets it a served place.
pub(crate) struct Incoming {
    tcp: TcpStream,
    place: PendingPlace,
    served: Arc<Semaphore>,
    served_permit: Arc<OnceLock<OwnedSemaphorePermit>>,
}

impl Incoming {
    /// The TCP connection (e.g. to set options before the handshake).
    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.tcp
    }
}

/// Accepts connections on `listener` until `shutdown` turns true, each served by a task
/// running `serve(incoming, peer)`, which calls [`handshake`] (bounded as described in the
/// module doc by `limits`). After the loop, `stopping` runs (e.g. to tell open connections to
/// close), then the tasks get `drain` to finish before the rest are aborted. `component` names
/// the server in logs.
pub(crate) async fn serve_connections<S, F>(
    listener: TcpListener,
    limits: AcceptLimits,
    mut shutdown: watch::Receiver<bool>,
    component: &'static str,
    mut serve: S,
    stopping: impl FnOnce(),
    drain: Duration,
) where
    S: FnMut(Incoming, SocketAddr) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let served = Arc::new(Semaphore::new(limits.served));
    let pool = Arc::new(PendingPool::new(limits.pending));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(component, error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                    continue;
                }
            },
        };
        // Reap finished connection tasks so the set stays small.
        while tasks.try_join_next().is_some() {}
        let Some(place) = pool.admit() else {
            tracing::debug!(
                component,
                %peer,
                "every pending place is held by a connection waiting to be served; closing the new one"
            );
            continue;
        };
        let served_permit = Arc::new(OnceLock::new());
        let incoming = Incoming {
            tcp,
            place,
            served: served.clone(),
            served_permit: served_permit.clone(),
        };
        let connection = serve(incoming, peer);
        tasks.spawn(async move {
            // Holds the served place (once the handshake got one) until the connection ends.
            let _served = served_permit;
            connection.await;
        });
    }
    drop(listener);
    stopping();
    let deadline = tokio::time::sleep(drain);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            next = tasks.join_next() => if next.is_none() { break },
        }
    }
    tasks.abort_all();
    tracing::info!(component, "stopped");
}

/// The TLS handshake of `incoming`, bounded by `timeout` (from accept to the end of the
/// handshake), then the wait for a served place. `None` (logged at debug) when the handshake
/// fails, times out, or the connection made way for a newer one.
pub(crate) async fn handshake(
    acceptor: &TlsAcceptor,
    incoming: Incoming,
    peer: SocketAddr,
    timeout: Duration,
    component: &'static str,
) -> Option<TlsStream<TcpStream>> {
    let Incoming {
        tcp,
        place,
        served,
        served_permit,
    } = incoming;
    let PendingPlace {
        ticket,
        mut evicted,
    } = place;
    let shake = async {
        // Allocate TLS state only once the peer has sent something.
        tcp.readable().await?;
        ticket.set_stage(Stage::Talking);
        acceptor.accept(tcp).await
    };
    let tls = tokio::select! {
        _ = &mut evicted => {
            tracing::debug!(
                component,
                %peer,
                "connection dropped before its TLS handshake finished, to admit a newer one \
                 (too many pending handshakes)"
            );
            return None;
        }
        shaken = tokio::time::timeout(timeout, shake) => match shaken {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(component, %peer, error = %e, "TLS handshake failed");
                return None;
            }
            Err(_) => {
                tracing::debug!(component, %peer, "TLS handshake timed out");
                return None;
            }
        },
    };
    ticket.set_stage(Stage::Handshaken);
    // The semaphore is never closed.
    let permit = served.acquire_owned().await.ok()?;
    let _ = served_permit.set(permit);
    drop(ticket);
    Some(tls)
}

/// Where a pending connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Accepted, nothing received yet.
    Silent,
    /// Sent something: in the TLS handshake.
    Talking,
    /// Handshake done, waiting for a served place (not evicted).
    Handshaken,
}

/// The pending places, oldest first.
struct PendingPool {
    capacity: usize,
    entries: Mutex<PoolEntries>,
}

struct PoolEntries {
    next_id: u64,
    /// Id (in admission order) → stage and the sender whose drop tells the connection it was
    /// evicted.
    by_age: BTreeMap<u64, (Stage, oneshot::Sender<()>)>,
}

/// A connection's place in the [`PendingPool`].
struct PendingPlace {
    ticket: PlaceTicket,
    /// Resolves (with an error) when the place is taken away.
    evicted: oneshot::Receiver<()>,
}

/// Frees its place when dropped.
struct PlaceTicket {
    pool: Arc<PendingPool>,
    id: u64,
}

impl PendingPool {
    fn new(capacity: usize) -> Self {
        PendingPool {
            capacity: capacity.max(1),
            entries: Mutex::new(PoolEntries {
                next_id: 0,
                by_age: BTreeMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolEntries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a new connection, evicting the oldest silent (else oldest talking) one when
    /// full; `None` when every place is held by a handshaken connection.
    fn admit(self: &Arc<Self>) -> Option<PendingPlace> {
        let mut entries = self.lock();
        if entries.by_age.len() >= self.capacity {
            let oldest_in = |stage| {
                entries
                    .by_age
                    .iter()
                    .find(|(_, (s, _))| *s == stage)
                    .map(|(id, _)| *id)
            };
            let victim = oldest_in(Stage::Silent).or_else(|| oldest_in(Stage::Talking))?;
            // Dropping the sender wakes the evicted connection's task, which closes it.
            entries.by_age.remove(&victim);
        }
        let id = entries.next_id;
        entries.next_id += 1;
        let (tx, evicted) = oneshot::channel();
        entries.by_age.insert(id, (Stage::Silent, tx));
        Some(PendingPlace {
            ticket: PlaceTicket {
                pool: self.clone(),
                id,
            },
            evicted,
        })
    }
}

impl PlaceTicket {
    fn set_stage(&self, stage: Stage) {
        if let Some(entry) = self.pool.lock().by_age.get_mut(&self.id) {
            entry.0 = stage;
        }
    }
}

impl Drop for PlaceTicket {
    fn drop(&mut self) {
        self.pool.lock().by_age.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_evicted(place: &mut PendingPlace) -> bool {
        matches!(
            place.evicted.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        )
    }

    #[test]
    fn a_full_pool_evicts_the_oldest_silent_then_the_oldest_talking_never_a_handshaken_one() {
        let pool = Arc::new(PendingPool::new(3));
        let mut a = pool.admit().unwrap();
        let mut b = pool.admit().unwrap();
        let mut c = pool.admit().unwrap();
        a.ticket.set_stage(Stage::Talking);
        // Full: b is the oldest silent one.
        let mut d = pool.admit().unwrap();
        assert!(!is_evicted(&mut a));
        assert!(is_evicted(&mut b));
        assert!(!is_evicted(&mut c));
        c.ticket.set_stage(Stage::Handshaken);
        d.ticket.set_stage(Stage::Talking);
        // No silent one: a is the oldest talking one.
        let mut e = pool.admit().unwrap();
        assert!(is_evicted(&mut a));
        e.ticket.set_stage(Stage::Handshaken);
        d.ticket.set_stage(Stage::Handshaken);
        // Every place handshaken: the newcomer is refused, nobody is evicted.
        assert!(pool.admit().is_none());
        assert!(!is_evicted(&mut c) && !is_evicted(&mut d) && !is_evicted(&mut e));
        // A place freed is a place for the next one.
        drop(c);
        assert!(pool.admit().is_some());
    }
}
