//! The tokio driver of a router channel: the reader, writer and probe tasks around the
//! sans-IO [`ChannelCore`].
//!
//! The reader decodes frames ([`super::receive`]), hands each to the core and carries out
//! the [`ChannelAction`]s it returns: queue a frame, wake a waiting request, deliver to a
//! stream (waiting for room, which is the back-pressure point) or to a bind. The writer
//! numbers queued frames, registers reply waiters with the core and writes in batches. The
//! probe task sends a latency probe every interval. The state and every decision about a
//! frame are the core's; this module only waits and moves bytes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::core::{
    probe_verdict, BindEvent, ChannelAction, ChannelCore, ProbeVerdict, StreamEvent,
};
use super::{receive, ChannelError, ChannelOptions, Outbound, RouterChannel};
use crate::wire::edge::HelloReply;
use crate::wire::frame::{Frame, SequenceCounter};
use crate::wire::{FrameBatch, ReceiveBuffer};

/// The core as the driver instantiates it: queue senders for streams and binds, one-shot
/// senders for requests waiting for a reply.
pub(super) type Core =
    ChannelCore<mpsc::Sender<StreamEvent>, mpsc::Sender<BindEvent>, oneshot::Sender<Frame>>;

type Action =
    ChannelAction<mpsc::Sender<StreamEvent>, mpsc::Sender<BindEvent>, oneshot::Sender<Frame>>;

/// What the tasks and every [`RouterChannel`] handle share.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) router: String,
    pub(super) hello: HelloReply,
    pub(super) out: mpsc::Sender<Outbound>,
    core: Mutex<Core>,
    pub(super) latency_micros: AtomicU64,
    reader_parked: AtomicBool,
    pub(super) closed: CancellationToken,
    pub(super) options: ChannelOptions,
}

impl Shared {
    pub(super) fn new(
        router: String,
        hello: HelloReply,
        out: mpsc::Sender<Outbound>,
        options: ChannelOptions,
    ) -> Self {
        Self {
            core: Mutex::new(Core::new(router.clone(), options.max_conns)),
            router,
            hello,
            out,
            latency_micros: AtomicU64::new(u64::MAX),
            reader_parked: AtomicBool::new(false),
            closed: CancellationToken::new(),
            options,
        }
    }

    /// The core, locked. Never held across an await.
    pub(super) fn core(&self) -> MutexGuard<'_, Core> {
        match self.core.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Marks the channel dead with `reason` (first reason wins) and drops every waiter and
    /// conn sink, outside the lock, so pending requests and streams learn about it.
    pub(super) fn fail(&self, reason: ChannelError) {
        let drained = {
            let mut core = self.core();
            let drained = core.close(reason);
            if drained.first {
                if let Some(reason) = core.close_reason() {
                    tracing::info!(router = %self.router, error = %reason, "router channel closed");
                }
            }
            self.closed.cancel();
            drained
        };
        drop(drained);
    }

    /// Why the channel closed (a generic reason while it is still open).
    pub(super) fn reason(&self) -> ChannelError {
        self.core()
            .close_reason()
            .cloned()
            .unwrap_or_else(|| ChannelError::Closed {
                router: self.router.clone(),
                reason: "channel shut down".into(),
            })
    }

    /// Starts the reader, writer and probe tasks.
    pub(super) fn spawn_tasks<R, W>(
        self: &Arc<Self>,
        reader: R,
        received: ReceiveBuffer,
        writer: W,
        queue: mpsc::Receiver<Outbound>,
    ) where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        tokio::spawn(write_loop(self.clone(), writer, queue));
        tokio::spawn(read_loop(self.clone(), reader, received));
        tokio::spawn(probe_loop(Arc::downgrade(self), self.closed.clone()));
    }
}

async fn write_loop<W>(shared: Arc<Shared>, mut writer: W, mut queue: mpsc::Receiver<Outbound>)
where
    W: AsyncWrite + Unpin,
{
    let mut sequence = SequenceCounter::new();
    let mut batch = FrameBatch::new();
    let result: Result<(), String> = async {
        loop {
            let item = tokio::select! {
                _ = shared.closed.cancelled() => return Ok(()),
                item = queue.recv() => match item {
                    Some(item) => item,
                    None => return Ok(()),
                },
            };
            // Gather what is queued (bounded batch), write it in one vectored write, flush.
            let mut next = Some(item);
            for _ in 0..64 {
                let Some(item) = next.take() else { break };
                let frame = number(&shared, &mut sequence, item);
                batch.push(&frame).map_err(|e| e.to_string())?;
                next = queue.try_recv().ok();
            }
            if let Some(item) = next {
                let frame = number(&shared, &mut sequence, item);
                batch.push(&frame).map_err(|e| e.to_string())?;
            }
            writer
                .write_all_buf(&mut batch)
                .await
                .map_err(|e| e.to_string())?;
            writer.flush().await.map_err(|e| e.to_string())?;
        }
    }
    .await;
    if let Err(reason) = result {
        // A write error usually means the router closed the connection: the reader sees
        // that too and knows better why (e.g. a refused token), so let it report first.
        tokio::select! {
            _ = shared.closed.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => shared.fail(ChannelError::Closed {
                router: shared.router.clone(),
                reason: format!("write failed: {reason}"),
            }),
        }
    }
    let _ = writer.shutdown().await;
}

fn number(shared: &Shared, sequence: &mut SequenceCounter, item: Outbound) -> Frame {
    match item {
        Outbound::Frame(mut frame) => {
            frame.sequence = sequence.next_sequence();
            frame
        }
        Outbound::Request(mut frame, waiter) => {
            frame.sequence = sequence.next_sequence();
            shared
                .core()
                .expect_reply(frame.sequence, waiter, |w| !w.is_closed());
            frame
        }
    }
}

async fn read_loop<R>(shared: Arc<Shared>, mut reader: R, mut received: ReceiveBuffer)
where
    R: AsyncRead + Unpin,
{
    let mut actions: Vec<Action> = Vec::new();
    let reason = loop {
        let next = tokio::select! {
            _ = shared.closed.cancelled() => return,
            next = receive::next_frame(&mut received, &mut reader) => next,
        };
        match next {
            Ok(None) => {
                let reason = shared.core().handle_eof();
                break reason;
            }
            Err(e) => {
                tracing::warn!(router = %shared.router, error = %e, "closing the router channel");
                let reason = shared.core().handle_decode_error(&e);
                break reason;
            }
            Ok(Some(frame)) => {
                shared.core().handle_frame(frame, &mut actions);
                for action in actions.drain(..) {
                    perform(&shared, action).await;
                }
            }
        }
    };
    shared.fail(reason);
}

/// Carries out one action of the core.
async fn perform(shared: &Shared, action: Action) {
    match action {
        ChannelAction::Send(frame) => send_detached(shared, frame),
        ChannelAction::Reply { waiter, frame } => {
            let _ = waiter.send(frame);
        }
        ChannelAction::ToStream { stream, event } => deliver(shared, &stream, event).await,
        ChannelAction::ToBind {
            bind,
            event,
            if_gone,
        } => {
            if bind.send(event).await.is_err() {
                if let Some(refusal) = if_gone {
                    send_detached(shared, refusal);
                }
            }
        }
    }
}

/// Delivers a stream event, waiting for room (back-pressure) while recording that the
/// reader is parked so the probe task does not mistake a slow reader for a dead router.
async fn deliver(shared: &Shared, sink: &mpsc::Sender<StreamEvent>, event: StreamEvent) {
    match sink.try_send(event) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Closed(_)) => {}
        Err(mpsc::error::TrySendError::Full(event)) => {
            shared.reader_parked.store(true, Ordering::Relaxed);
            tokio::select! {
                _ = shared.closed.cancelled() => {}
                _ = sink.send(event) => {}
            }
            shared.reader_parked.store(false, Ordering::Relaxed);
        }
    }
}

/// Queues a reply from the reader without making the reader wait: when the writer queue is
/// full the reply is handed to a short task (the reader must keep draining the socket).
fn send_detached(shared: &Shared, frame: Frame) {
    match shared.out.try_send(Outbound::Frame(frame)) {
        Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
        Err(mpsc::error::TrySendError::Full(item)) => {
            let out = shared.out.clone();
            tokio::spawn(async move {
                let _ = out.send(item).await;
            });
        }
    }
}

async fn probe_loop(shared: std::sync::Weak<Shared>, closed: CancellationToken) {
    let interval = match shared.upgrade() {
        Some(s) => s.options.probe_interval,
        None => return,
    };
    loop {
        tokio::select! {
            _ = closed.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let channel = RouterChannel { shared: strong };
        let timeout = channel.shared.options.probe_timeout;
        let result = channel.probe(timeout).await.map(|_| ());
        let parked = channel.shared.reader_parked.load(Ordering::Relaxed);
        match probe_verdict(result, parked) {
            ProbeVerdict::ExcusedByBackPressure => {
                tracing::debug!(router = %channel.shared.router, "probe unanswered while the reader waits on a slow stream; not declaring the router dead");
            }
            ProbeVerdict::ProbeAgain => {}
            ProbeVerdict::Dead(err) => {
                channel.shared.fail(err);
                return;
            }
            ProbeVerdict::Stop => return,
        }
    }
}
