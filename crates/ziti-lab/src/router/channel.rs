//! One authenticated SDK channel as the rest of the router sees it: its outbound queue, its
//! virtual connections and its outstanding requests.
//!
//! [`EdgeChannel`] is shared (`Arc`) between the channel's own reader task, the reader tasks
//! of the channels it relays to, and dial/inspect tasks. It owns:
//! * the **outbound queue**: an `mpsc` of frames drained by the channel's writer task, bounded
//!   both in frames and in bytes (a byte budget the writer returns once a frame is written).
//!   [`EdgeChannel::send`] assigns the channel's next sequence number and waits for room; a
//!   queue that stays full for the stall timeout means the SDK stopped reading, and the
//!   channel is closed (so one stuck peer cannot hold up the channels relaying to it forever);
//! * the **conn table**: conn id → [`ConnSlot`] (a dial in progress, or an open circuit end
//!   pointing at the peer channel and its conn id);
//! * **pending requests**: the router's own requests on this channel (Dial, ConnInspectRequest)
//!   by sequence number, so replies (matched on ReplyFor) find their waiter;
//! * the counter of router-provided conn ids (2^31 upward, wrapping inside the upper half).
//!
//! Locking: the table is a `std` mutex held for short, synchronous sections only; no code
//! holds two channels' tables at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use dark_listener::wire::consts::ROUTER_CONN_ID_START;
use dark_listener::wire::edge::ConnInspectResponse;
use dark_listener::wire::frame::{Frame, SequenceCounter};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::state::IdentityInfo;

use super::denial::Denial;
use super::terminators::Terminator;

/// Why a frame could not be queued for a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The channel is closing or closed.
    #[error("the channel is closed")]
    Closed,
    /// The channel's queue stayed full for the stall timeout; the channel is being closed.
    #[error("the channel's SDK stopped reading; the channel is being closed")]
    Stalled,
}

/// The far end of an open virtual connection.
#[derive(Clone)]
pub struct ConnPeer {
    /// The channel of the other SDK.
    pub channel: Arc<EdgeChannel>,
    /// The conn id on that channel.
    pub conn_id: u32,
    /// The circuit both ends belong to.
    pub circuit_id: String,
}

impl std::fmt::Debug for ConnPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnPeer")
            .field("channel", &self.channel.id)
            .field("conn_id", &self.conn_id)
            .field("circuit_id", &self.circuit_id)
            .finish()
    }
}

/// What a conn id of a channel is.
#[derive(Debug, Clone)]
pub enum ConnSlot {
    /// A Connect waiting for its terminator; data for it is dropped.
    Dialing,
    /// One end of a circuit.
    Open(ConnPeer),
}

/// How a dial ended, as reported by the host channel's reader to the dial task.
#[derive(Debug)]
pub enum DialOutcome {
    /// Both ends are registered and the dialer has its StateConnected.
    Connected,
    /// The dial failed; the dial task tells the dialer.
    Failed(Denial),
}

/// A Dial sent to a host, waiting for DialSuccess / DialFailed.
#[derive(Debug)]
pub struct PendingDial {
    /// The dialing channel.
    pub dialer: Arc<EdgeChannel>,
    /// The dialer's conn id.
    pub dialer_conn_id: u32,
    /// The Connect frame (for ReplyFor and the reflected header).
    pub connect: Frame,
    /// The terminator dialed.
    pub terminator: Terminator,
    /// The router-provided conn id sent in the Dial, or `None` in legacy mode.
    pub new_conn_id: Option<u32>,
    /// The circuit id.
    pub circuit_id: String,
    /// Where to report the outcome.
    pub done: oneshot::Sender<DialOutcome>,
}

/// A request of the router waiting for the SDK's reply.
#[derive(Debug)]
pub enum PendingRequest {
    /// A Dial to a host.
    Dial(Box<PendingDial>),
    /// A post-bind ConnInspectRequest.
    Inspect(oneshot::Sender<ConnInspectResponse>),
}

/// The mutable part of a channel.
#[derive(Debug, Default)]
pub struct ChannelTable {
    conns: HashMap<u32, ConnSlot>,
    pending: HashMap<i32, PendingRequest>,
    closed: bool,
}

/// Why a conn id could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterError {
    /// The id is taken.
    InUse,
    /// The channel carries its maximum number of conns.
    Full,
    /// The channel is closed.
    Closed,
}

/// One authenticated SDK channel (see the module docs).
pub struct EdgeChannel {
    /// Router-internal channel id.
    pub id: u64,
    /// The identity behind the channel's API session.
    pub identity: IdentityInfo,
    /// Limits the Connects of this channel waiting for their host.
    pub dial_slots: Arc<Semaphore>,
    max_conns: usize,
    stall_timeout: Duration,
    outbound: tokio::sync::Mutex<Outbound>,
    table: Mutex<ChannelTable>,
    closing: CancellationToken,
    next_router_conn_id: AtomicU32,
}

struct Outbound {
    sequence: SequenceCounter,
    tx: mpsc::Sender<QueuedFrame>,
    budget: Arc<Semaphore>,
    budget_cap: u32,
}

/// A frame on its way to the writer, with the bytes of queue budget it holds.
#[derive(Debug)]
pub struct QueuedFrame {
    /// The frame, sequence number assigned.
    pub frame: Frame,
    /// Budget to give back (see [`OutboundQueue`]) once the frame is written.
    pub budget: u32,
}

/// The sending side of a channel's outbound queue: the frame queue and its byte budget.
#[derive(Debug)]
pub struct OutboundQueue {
    /// Frames for the writer.
    pub tx: mpsc::Sender<QueuedFrame>,
    /// Bytes that may be queued; the writer adds back what it wrote.
    pub budget: Arc<Semaphore>,
    /// The budget's size (a frame larger than it takes all of it).
    pub budget_bytes: u32,
}

impl std::fmt::Debug for EdgeChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeChannel")
            .field("id", &self.id)
            .field("identity", &self.identity.name)
            .finish_non_exhaustive()
    }
}

/// Sizes a channel is created with.
#[derive(Debug, Clone, Copy)]
pub struct ChannelLimits {
    /// Most conns (dialed or accepted) at once.
    pub max_conns: usize,
    /// Most Connects waiting for their host at once.
    pub max_pending_dials: usize,
    /// How long a full outbound queue is tolerated.
    pub stall_timeout: Duration,
}

impl EdgeChannel {
    /// A channel whose writer drains `queue`; `closing` is cancelled when it closes.
    pub fn new(
        id: u64,
        identity: IdentityInfo,
        queue: OutboundQueue,
        closing: CancellationToken,
        limits: ChannelLimits,
    ) -> Self {
        EdgeChannel {
            id,
            identity,
            dial_slots: Arc::new(Semaphore::new(limits.max_pending_dials)),
            max_conns: limits.max_conns,
            stall_timeout: limits.stall_timeout,
            outbound: tokio::sync::Mutex::new(Outbound {
                sequence: SequenceCounter::new(),
                tx: queue.tx,
                budget: queue.budget,
                budget_cap: queue.budget_bytes.max(1),
            }),
            table: Mutex::new(ChannelTable::default()),
            closing,
            next_router_conn_id: AtomicU32::new(ROUTER_CONN_ID_START),
        }
    }

    fn table(&self) -> MutexGuard<'_, ChannelTable> {
        // The table stays consistent at every await-free step, so a poisoned lock is usable.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Cancelled when the channel closes.
    pub fn closing(&self) -> &CancellationToken {
        &self.closing
    }

    /// Asks the channel's tasks to close it.
    pub fn close(&self) {
        self.closing.cancel();
    }

    /// Queues `frame` with the channel's next sequence number; returns that number.
    pub async fn send(&self, frame: Frame) -> Result<i32, SendError> {
        self.enqueue(frame, None).await
    }

    /// Queues a request and registers `pending` under its sequence number before it can be
    /// answered.
    pub async fn send_request(
        &self,
        frame: Frame,
        pending: PendingRequest,
    ) -> Result<i32, SendError> {
        self.enqueue(frame, Some(pending)).await
    }

    async fn enqueue(
        &self,
        mut frame: Frame,
        pending: Option<PendingRequest>,
    ) -> Result<i32, SendError> {
        if self.closing.is_cancelled() {
            return Err(SendError::Closed);
        }
        let mut out = self.outbound.lock().await;
        let seq = out.sequence.next_sequence();
        frame.sequence = seq;
        if let Some(p) = pending {
            let mut table = self.table();
            if table.closed {
                return Err(SendError::Closed);
            }
            table.pending.insert(seq, p);
        }
        let cost = u32::try_from(frame.encoded_len())
            .unwrap_or(u32::MAX)
            .min(out.budget_cap);
        let queued = async {
            let permit = out
                .budget
                .acquire_many(cost)
                .await
                .map_err(|_| SendError::Closed)?;
            // The writer gives the budget back once the frame is on the wire.
            permit.forget();
            out.tx
                .send(QueuedFrame {
                    frame,
                    budget: cost,
                })
                .await
                .map_err(|_| SendError::Closed)
        };
        let result = tokio::select! {
            sent = queued => sent,
            _ = self.closing.cancelled() => Err(SendError::Closed),
            _ = tokio::time::sleep(self.stall_timeout) => {
                tracing::warn!(
                    channel = self.id,
                    identity = %self.identity.name,
                    timeout = ?self.stall_timeout,
                    "outbound queue stayed full; the SDK is not reading, closing its channel"
                );
                self.closing.cancel();
                Err(SendError::Stalled)
            }
        };
        if result.is_err() {
            self.take_pending(seq);
        }
        result.map(|()| seq)
    }

    /// Removes and returns the pending request with this sequence number.
    pub fn take_pending(&self, seq: i32) -> Option<PendingRequest> {
        self.table().pending.remove(&seq)
    }

    /// The next router-provided conn id: 2^31 upward, wrapping back to 2^31, skipping ids
    /// in use on this channel.
    pub fn next_router_conn_id(&self) -> u32 {
        let table = self.table();
        // Bounded: the table holds at most `max_conns` ids, far fewer than 2^31.
        for _ in 0..=self.max_conns {
            let id = self
                .next_router_conn_id
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                    Some(if v == u32::MAX {
                        ROUTER_CONN_ID_START
                    } else {
                        v + 1
                    })
                })
                .unwrap_or(ROUTER_CONN_ID_START);
            if !table.conns.contains_key(&id) {
                return id;
            }
        }
        ROUTER_CONN_ID_START
    }

    /// Registers `conn_id` as a dial in progress.
    pub fn register_dialing(&self, conn_id: u32) -> Result<(), RegisterError> {
        self.register(conn_id, ConnSlot::Dialing)
    }

    /// Registers `conn_id` as an open circuit end.
    pub fn register_open(&self, conn_id: u32, peer: ConnPeer) -> Result<(), RegisterError> {
        self.register(conn_id, ConnSlot::Open(peer))
    }

    fn register(&self, conn_id: u32, slot: ConnSlot) -> Result<(), RegisterError> {
        let mut table = self.table();
        if table.closed {
            return Err(RegisterError::Closed);
        }
        if table.conns.contains_key(&conn_id) {
            return Err(RegisterError::InUse);
        }
        if table.conns.len() >= self.max_conns {
            return Err(RegisterError::Full);
        }
        table.conns.insert(conn_id, slot);
        Ok(())
    }

    /// Turns a dialing slot into an open one. False if the slot is gone (the dialer closed
    /// it) or the channel is closed.
    pub fn promote(&self, conn_id: u32, peer: ConnPeer) -> bool {
        let mut table = self.table();
        if table.closed {
            return false;
        }
        match table.conns.get_mut(&conn_id) {
            Some(slot @ ConnSlot::Dialing) => {
                *slot = ConnSlot::Open(peer);
                true
            }
            _ => false,
        }
    }

    /// The slot of a conn id.
    pub fn conn(&self, conn_id: u32) -> Option<ConnSlot> {
        self.table().conns.get(&conn_id).cloned()
    }

    /// Removes a conn id, returning its slot.
    pub fn remove_conn(&self, conn_id: u32) -> Option<ConnSlot> {
        self.table().conns.remove(&conn_id)
    }

    /// Removes a dialing slot (not an open one).
    pub fn remove_dialing(&self, conn_id: u32) -> bool {
        let mut table = self.table();
        if matches!(table.conns.get(&conn_id), Some(ConnSlot::Dialing)) {
            table.conns.remove(&conn_id);
            true
        } else {
            false
        }
    }

    /// Removes `conn_id` only if it is the open end facing `peer_channel`/`peer_conn_id`.
    pub fn remove_conn_facing(&self, conn_id: u32, peer_channel: u64, peer_conn_id: u32) -> bool {
        let mut table = self.table();
        match table.conns.get(&conn_id) {
            Some(ConnSlot::Open(p))
                if p.channel.id == peer_channel && p.conn_id == peer_conn_id =>
            {
                table.conns.remove(&conn_id);
                true
            }
            _ => false,
        }
    }

    /// Number of conn ids in use.
    pub fn conn_count(&self) -> usize {
        self.table().conns.len()
    }

    /// Marks the channel closed and empties it: no conn can be registered and no request
    /// queued afterwards. Returns the conns and pending requests it held.
    pub fn drain(&self) -> (Vec<(u32, ConnSlot)>, Vec<PendingRequest>) {
        let mut table = self.table();
        table.closed = true;
        let conns = table.conns.drain().collect();
        let pending = table.pending.drain().map(|(_, p)| p).collect();
        (conns, pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dark_listener::wire::consts::content_type as ct;

    fn channel(
        queue_frames: usize,
        budget_bytes: u32,
        stall: Duration,
    ) -> (Arc<EdgeChannel>, mpsc::Receiver<QueuedFrame>) {
        let (tx, rx) = mpsc::channel(queue_frames);
        let ch = EdgeChannel::new(
            1,
            IdentityInfo {
                id: "id".into(),
                name: "name".into(),
                roles: Vec::new(),
            },
            OutboundQueue {
                tx,
                budget: Arc::new(Semaphore::new(budget_bytes as usize)),
                budget_bytes,
            },
            CancellationToken::new(),
            ChannelLimits {
                max_conns: 2,
                max_pending_dials: 1,
                stall_timeout: stall,
            },
        );
        (Arc::new(ch), rx)
    }

    fn data() -> Frame {
        Frame::new(ct::DATA, 0, bytes::Bytes::from_static(b"x"))
    }

    #[tokio::test]
    async fn sequences_count_up_from_one_in_queue_order() {
        let (ch, mut rx) = channel(8, 1 << 20, Duration::from_secs(5));
        assert_eq!(ch.send(data()).await, Ok(1));
        assert_eq!(ch.send(data()).await, Ok(2));
        assert_eq!(rx.recv().await.unwrap().frame.sequence, 1);
        assert_eq!(rx.recv().await.unwrap().frame.sequence, 2);
    }

    #[tokio::test]
    async fn a_full_queue_stalls_then_closes_the_channel() {
        let (ch, _rx) = channel(1, 1 << 20, Duration::from_millis(50));
        assert!(ch.send(data()).await.is_ok());
        let pending = PendingRequest::Inspect(oneshot::channel().0);
        assert_eq!(
            ch.send_request(data(), pending).await,
            Err(SendError::Stalled)
        );
        assert!(ch.closing().is_cancelled());
        assert!(
            ch.take_pending(2).is_none(),
            "a failed request is not left pending"
        );
        assert_eq!(ch.send(data()).await, Err(SendError::Closed));
    }

    #[tokio::test]
    async fn the_byte_budget_bounds_the_queue_independently_of_the_frame_count() {
        let (ch, mut rx) = channel(100, 60, Duration::from_millis(50));
        // One data frame is 21 bytes encoded: two fit in 60, the third waits and stalls.
        assert!(ch.send(data()).await.is_ok());
        assert!(ch.send(data()).await.is_ok());
        assert_eq!(ch.send(data()).await, Err(SendError::Stalled));
        assert_eq!(rx.recv().await.unwrap().budget, 21);
    }

    #[test]
    fn conn_registration_rules() {
        let (ch, _rx) = channel(1, 1 << 20, Duration::from_secs(1));
        assert_eq!(ch.register_dialing(5), Ok(()));
        assert_eq!(ch.register_dialing(5), Err(RegisterError::InUse));
        assert_eq!(ch.register_dialing(6), Ok(()));
        assert_eq!(ch.register_dialing(7), Err(RegisterError::Full));
        assert!(ch.remove_dialing(6));
        assert!(!ch.remove_dialing(6));
        let (conns, pending) = ch.drain();
        assert_eq!((conns.len(), pending.len()), (1, 0));
        assert_eq!(ch.register_dialing(8), Err(RegisterError::Closed));
    }

    #[test]
    fn router_conn_ids_live_in_the_upper_half_and_wrap() {
        let (ch, _rx) = channel(1, 1 << 20, Duration::from_secs(1));
        assert_eq!(ch.next_router_conn_id(), ROUTER_CONN_ID_START);
        assert_eq!(ch.next_router_conn_id(), ROUTER_CONN_ID_START + 1);
        ch.next_router_conn_id.store(u32::MAX, Ordering::Relaxed);
        assert_eq!(ch.next_router_conn_id(), u32::MAX);
        assert_eq!(ch.next_router_conn_id(), ROUTER_CONN_ID_START);
        // Ids in use are skipped.
        assert_eq!(ch.register_dialing(ROUTER_CONN_ID_START + 1), Ok(()));
        assert_eq!(ch.next_router_conn_id(), ROUTER_CONN_ID_START + 2);
    }
}
