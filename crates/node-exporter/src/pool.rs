//! [`WorkerPool`]: the few threads collectors run on.
//!
//! Collectors do blocking reads, so they cannot run on async worker threads. One thread per
//! collector per scrape would cost thread wake-ups and a malloc arena per thread (resident
//! memory), so a scrape queues its collectors on a small pool instead. A job that misses its
//! deadline keeps its thread; the pool then starts one replacement so the other collectors
//! still have `base` threads, and the extra thread exits when the stuck job finally returns.
//! Since a collector is never queued again while it is still running, the number of
//! threads stays bounded by `base` plus the number of collectors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Stack size of a worker. Only touched pages become resident, so this is a reservation;
/// unoptimised builds of the time-zone and text parsers need more than 256 KiB.
const WORKER_STACK_BYTES: usize = 2 * 1024 * 1024;

struct Shared {
    queue: Mutex<Receiver<Job>>,
    /// Threads alive.
    live: AtomicUsize,
    /// Threads wanted: `base` plus one per job currently past its deadline.
    wanted: AtomicUsize,
}

/// A small pool of named threads with stuck-worker replacement.
pub(crate) struct WorkerPool {
    sender: Mutex<Sender<Job>>,
    shared: Arc<Shared>,
    base: usize,
}

impl WorkerPool {
    /// A pool that keeps `base` threads (started on first use).
    pub(crate) fn new(base: usize) -> Self {
        let (sender, receiver) = channel();
        WorkerPool {
            sender: Mutex::new(sender),
            shared: Arc::new(Shared {
                queue: Mutex::new(receiver),
                live: AtomicUsize::new(0),
                wanted: AtomicUsize::new(base.max(1)),
            }),
            base: base.max(1),
        }
    }

    fn spawn_worker(&self) -> std::io::Result<()> {
        let shared = Arc::clone(&self.shared);
        shared.live.fetch_add(1, Ordering::AcqRel);
        let spawned = std::thread::Builder::new()
            .name("collector".into())
            .stack_size(WORKER_STACK_BYTES)
            .spawn(move || worker_loop(shared));
        if spawned.is_err() {
            self.shared.live.fetch_sub(1, Ordering::AcqRel);
        }
        spawned.map(|_| ())
    }

    /// Starts threads until `wanted` are alive.
    fn top_up(&self) {
        while self.shared.live.load(Ordering::Acquire) < self.shared.wanted.load(Ordering::Acquire)
        {
            if let Err(e) = self.spawn_worker() {
                tracing::error!(error = %e, "cannot start a collector thread");
                break;
            }
        }
    }

    /// Queues a job.
    pub(crate) fn execute(&self, job: impl FnOnce() + Send + 'static) {
        self.top_up();
        let sender = crate::lock(&self.sender);
        if sender.send(Box::new(job)).is_err() {
            tracing::error!("collector pool queue closed");
        }
    }

    /// Records that a job is past its deadline and still holds its thread: one more thread
    /// is wanted until [`StuckTicket`] is dropped by the job when it finally ends.
    pub(crate) fn mark_stuck(&self) -> StuckTicket {
        self.shared.wanted.fetch_add(1, Ordering::AcqRel);
        self.top_up();
        tracing::warn!(
            threads = self.live_threads(),
            base = self.base(),
            "a collector thread is stuck; started a replacement"
        );
        StuckTicket(Arc::clone(&self.shared))
    }

    /// One more thread while the returned ticket lives (for a scrape whose queue is held up
    /// by a slow collector).
    pub(crate) fn extra_thread(&self) -> StuckTicket {
        self.shared.wanted.fetch_add(1, Ordering::AcqRel);
        self.top_up();
        StuckTicket(Arc::clone(&self.shared))
    }

    /// Threads currently alive (for tests and diagnostics).
    pub(crate) fn live_threads(&self) -> usize {
        self.shared.live.load(Ordering::Acquire)
    }

    /// The number of threads kept when nothing is stuck.
    pub(crate) fn base(&self) -> usize {
        self.base
    }
}

/// Held while an extra thread is wanted (a job past its deadline, or a scrape whose queue
/// is held up); dropping it lets the extra thread go.
pub(crate) struct StuckTicket(Arc<Shared>);

impl Drop for StuckTicket {
    fn drop(&mut self) {
        self.0.wanted.fetch_sub(1, Ordering::AcqRel);
    }
}

fn worker_loop(shared: Arc<Shared>) {
    loop {
        let job = { crate::lock(&shared.queue).recv() };
        let Ok(job) = job else { break };
        job();
        // More threads than wanted: this one was a replacement, or a stuck one came back.
        let live = shared.live.load(Ordering::Acquire);
        if live > shared.wanted.load(Ordering::Acquire)
            && shared
                .live
                .compare_exchange(live, live - 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            return;
        }
    }
    shared.live.fetch_sub(1, Ordering::AcqRel);
}
