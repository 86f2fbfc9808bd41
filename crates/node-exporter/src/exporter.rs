//! [`NodeExporter`]: runs the enabled collectors concurrently for one scrape, each under a
//! deadline, and adds `node_scrape_collector_{duration_seconds,success}`.
//!
//! Collectors do blocking file reads, so they run on a small pool of threads (`pool::WorkerPool`). A
//! collector that misses the deadline is reported with success 0 and the scrape is answered
//! with everything else. Its thread is left to finish (the pool starts a replacement); until
//! it does, later scrapes skip that collector (success 0) instead of piling up more blocked
//! threads. Scrapes that overlap (two Prometheus servers) each run every collector.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dark_metrics::exposition::MetricFamily;

use crate::collectors::{self, CollectorOptions, HostCollector};
use crate::error::ConfigError;
use crate::families::{label, Families};
use crate::lock;
use crate::pool::{StuckTicket, WorkerPool};

/// Default per-collector deadline.
pub const DEFAULT_COLLECTOR_TIMEOUT: Duration = Duration::from_secs(5);

struct Entry {
    name: &'static str,
    collector: Arc<dyn HostCollector>,
    /// Runs of this collector that missed their deadline and have not returned yet.
    stuck: Arc<AtomicUsize>,
}

/// A configured set of collectors; cheap to share behind an `Arc` across scrapes.
pub struct NodeExporter {
    entries: Vec<Entry>,
    timeout: Duration,
    pool: WorkerPool,
}

/// Outcome of one collector run: its families, its result (`Err(())` if it panicked) and
/// how long it took.
type JobResult = (
    Families,
    Result<Result<(), crate::error::CollectorError>, ()>,
    Duration,
);

/// What a scrape and a collector's job share about one run.
#[derive(Default)]
struct JobState {
    /// Set by the job when it returns.
    result: Option<JobResult>,
    /// The job has returned.
    finished: bool,
    /// Set when the scrape gave up on the job; dropped when the job ends.
    stuck: Option<StuckMark>,
}

/// Counts the jobs of one scrape still running; the last one wakes the scrape.
struct Round {
    /// Jobs not finished, plus one held by the scrape until all jobs are queued.
    remaining: AtomicUsize,
    /// Notified when `remaining` reaches zero (a stored permit if nobody waits yet).
    done: tokio::sync::Notify,
}

impl Round {
    fn finish_one(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.notify_one();
        }
    }
}

/// Threads the pool keeps. One: collectors are short and mostly wait on the kernel, and
/// measurements showed a second thread costs ~20% more CPU per scrape (cross-thread
/// allocation and cache traffic) and 0.7 MiB more memory. A scrape whose queue is held up
/// by a slow collector gets a second thread after [`BOOST_AFTER`] (see [`NodeExporter::scrape`]).
const POOL_THREADS: usize = 1;

/// How long a scrape waits before giving its queue a second thread: the smaller of this and
/// a quarter of the per-collector deadline.
const BOOST_AFTER: Duration = Duration::from_secs(1);

/// Marks one run of a collector as past its deadline and still running: holds a pool
/// replacement thread and counts toward the collector's stuck runs until the run returns.
struct StuckMark {
    _thread: StuckTicket,
    count: Arc<AtomicUsize>,
}

impl StuckMark {
    fn new(thread: StuckTicket, count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        StuckMark {
            _thread: thread,
            count: Arc::clone(count),
        }
    }
}

impl Drop for StuckMark {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

impl NodeExporter {
    /// Builds the named collectors (from [`collectors::COLLECTORS`]) with `options`, each
    /// given `timeout` per scrape.
    pub fn new(
        enabled: &[&str],
        options: CollectorOptions,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        let options = Arc::new(options);
        let mut entries = Vec::with_capacity(enabled.len());
        for name in enabled {
            let info = collectors::COLLECTORS
                .iter()
                .find(|c| c.name == *name)
                .ok_or_else(|| ConfigError::UnknownCollector(name.to_string()))?;
            entries.push(Entry {
                name: info.name,
                collector: Arc::from(collectors::build(info.name, &options)?),
                stuck: Arc::new(AtomicUsize::new(0)),
            });
        }
        entries.sort_by_key(|e| e.name);
        entries.dedup_by_key(|e| e.name);
        Ok(NodeExporter {
            entries,
            timeout,
            pool: WorkerPool::new(POOL_THREADS),
        })
    }

    /// Names of the enabled collectors, sorted.
    pub fn enabled_collectors(&self) -> Vec<&'static str> {
        self.entries.iter().map(|e| e.name).collect()
    }

    /// The per-collector deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs one scrape: all collectors concurrently, then the per-collector duration and
    /// success gauges. Families are sorted by name, samples by labels.
    ///
    /// Must be called inside a tokio runtime with the time driver enabled.
    pub async fn scrape(&self) -> Vec<MetricFamily> {
        self.scrape_by(None).await
    }

    /// Runs one scrape like [`NodeExporter::scrape`], with every collector's deadline the
    /// earlier of the per-collector timeout and `scrape_deadline` (the deadline the scraper
    /// gave the whole scrape, e.g. from `X-Prometheus-Scrape-Timeout-Seconds`). A collector
    /// that misses it reports success 0 and the rest is returned by the deadline.
    pub async fn scrape_until(&self, scrape_deadline: tokio::time::Instant) -> Vec<MetricFamily> {
        self.scrape_by(Some(scrape_deadline)).await
    }

    async fn scrape_by(&self, scrape_deadline: Option<tokio::time::Instant>) -> Vec<MetricFamily> {
        let start = Instant::now();
        let own_deadline = tokio::time::Instant::from_std(start + self.timeout);
        let deadline = scrape_deadline.map_or(own_deadline, |d| d.min(own_deadline));
        // How long the collectors were given, for the boost point below.
        let budget = deadline.saturating_duration_since(tokio::time::Instant::from_std(start));
        let mut pending = Vec::with_capacity(self.entries.len());
        // One set per collector that answered, plus the scrape's own gauges; merged once.
        let mut sets: Vec<Families> = Vec::with_capacity(self.entries.len() + 1);
        let mut outcomes: Vec<(&'static str, f64, bool)> = Vec::with_capacity(self.entries.len());
        // One wake-up per scrape: the last job to finish notifies.
        let round = Arc::new(Round {
            remaining: AtomicUsize::new(1),
            done: tokio::sync::Notify::new(),
        });
        for e in &self.entries {
            if e.stuck.load(Ordering::Acquire) > 0 {
                tracing::warn!(
                    collector = e.name,
                    "collector still stuck in an earlier scrape; skipped"
                );
                outcomes.push((e.name, 0.0, false));
                continue;
            }
            let collector = Arc::clone(&e.collector);
            let state = Arc::new(Mutex::new(JobState::default()));
            let job_state = Arc::clone(&state);
            let job_round = Arc::clone(&round);
            round.remaining.fetch_add(1, Ordering::AcqRel);
            self.pool.execute(move || {
                let begin = Instant::now();
                let mut out = Families::new();
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    collector.update(&mut out)
                }))
                .map_err(|_| ());
                let elapsed = begin.elapsed();
                {
                    let mut st = lock(&job_state);
                    st.result = Some((out, result, elapsed));
                    st.finished = true;
                    st.stuck = None;
                }
                job_round.finish_one();
            });
            pending.push((e.name, state, &e.stuck));
        }
        round.finish_one();
        if round.remaining.load(Ordering::Acquire) > 0 {
            let boost_at =
                tokio::time::Instant::from_std(start + BOOST_AFTER.min(budget / 4)).min(deadline);
            if tokio::time::timeout_at(boost_at, round.done.notified())
                .await
                .is_err()
            {
                // A slow collector holds the thread: let another one work through the queue.
                let _extra = self.pool.extra_thread();
                let _ = tokio::time::timeout_at(deadline, round.done.notified()).await;
            }
        }
        for (name, state, stuck_count) in pending {
            let mut st = lock(&state);
            match st.result.take() {
                Some((out, Ok(result), elapsed)) => {
                    let ok = match result {
                        Ok(()) => true,
                        Err(e) if e.is_no_data() => {
                            tracing::debug!(collector = name, error = %e, "collector returned no data");
                            false
                        }
                        Err(e) => {
                            tracing::error!(collector = name, error = %e, "collector failed");
                            false
                        }
                    };
                    sets.push(out);
                    outcomes.push((name, elapsed.as_secs_f64(), ok));
                }
                Some((_, Err(()), elapsed)) => {
                    tracing::error!(collector = name, "collector panicked");
                    outcomes.push((name, elapsed.as_secs_f64(), false));
                }
                None => {
                    tracing::error!(collector = name, budget = ?budget, "collector missed its deadline");
                    if !st.finished {
                        st.stuck = Some(StuckMark::new(self.pool.mark_stuck(), stuck_count));
                    }
                    outcomes.push((name, start.elapsed().as_secs_f64(), false));
                }
            }
        }
        let mut all = Families::new();
        for (name, secs, ok) in outcomes {
            all.gauge(
                "node_scrape_collector_duration_seconds",
                "Seconds a collector took during this scrape.",
                vec![label("collector", name)],
                secs,
            );
            all.gauge(
                "node_scrape_collector_success",
                "1 if a collector succeeded during this scrape, else 0.",
                vec![label("collector", name)],
                if ok { 1.0 } else { 0.0 },
            );
        }
        sets.push(all);
        Families::merge_sorted(sets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::fixture_options;
    use crate::error::CollectorError;

    /// A collector that blocks for a while (stands in for a hung NFS statfs).
    struct Slow(Duration);
    impl HostCollector for Slow {
        fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
            std::thread::sleep(self.0);
            out.gauge("slow_value", "h", vec![], 1.0);
            Ok(())
        }
    }

    fn exporter_with_slow(slow: Duration, timeout: Duration) -> NodeExporter {
        let mut ne = NodeExporter::new(
            &["loadavg", "meminfo"],
            (*fixture_options()).clone(),
            timeout,
        )
        .unwrap();
        ne.entries.push(Entry {
            // A name of a real collector so the label is meaningful in the test.
            name: "hwmon",
            collector: Arc::new(Slow(slow)),
            stuck: Arc::new(AtomicUsize::new(0)),
        });
        ne
    }

    fn success(f: &[MetricFamily], collector: &str) -> f64 {
        f.iter()
            .find(|x| x.name == "node_scrape_collector_success")
            .unwrap()
            .samples
            .iter()
            .find(|s| s.labels[0].1 == collector)
            .unwrap()
            .value
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hung_collector_does_not_block_the_scrape() {
        let ne = exporter_with_slow(Duration::from_secs(3), Duration::from_millis(300));
        let t = Instant::now();
        let f = ne.scrape().await;
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "scrape took {:?}",
            t.elapsed()
        );
        assert_eq!(success(&f, "hwmon"), 0.0);
        assert_eq!(success(&f, "loadavg"), 1.0);
        assert!(f.iter().any(|x| x.name == "node_load1"));
        assert!(f.iter().all(|x| x.name != "slow_value"));
        // While the first run is still blocked, the next scrape skips it at once.
        let t = Instant::now();
        let f = ne.scrape().await;
        assert!(t.elapsed() < Duration::from_secs(1));
        assert_eq!(success(&f, "hwmon"), 0.0);
        assert_eq!(success(&f, "meminfo"), 1.0);
        // One replacement thread while the slow one is blocked; it goes away afterwards.
        assert_eq!(ne.pool.live_threads(), ne.pool.base() + 1);
        let waited = Instant::now();
        while ne.pool.live_threads() > ne.pool.base() && waited.elapsed() < Duration::from_secs(10)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(ne.pool.live_threads(), ne.pool.base());
        // Once it returned, the collector runs again.
        let f = ne.scrape().await;
        assert_eq!(success(&f, "loadavg"), 1.0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_scrape_deadline_bounds_the_collector_deadline() {
        // The per-collector timeout (5 s) is far off; the scraper's deadline (300 ms) wins.
        let ne = exporter_with_slow(Duration::from_millis(1500), Duration::from_secs(5));
        let t = Instant::now();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
        let f = ne.scrape_until(deadline).await;
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_millis(1200),
            "scrape took {took:?}"
        );
        assert_eq!(success(&f, "hwmon"), 0.0);
        assert_eq!(success(&f, "loadavg"), 1.0);
        assert!(f.iter().all(|x| x.name != "slow_value"));
        // A later scrape deadline than the collector timeout changes nothing.
        let ne = exporter_with_slow(Duration::from_millis(20), Duration::from_millis(500));
        let f = ne
            .scrape_until(tokio::time::Instant::now() + Duration::from_secs(60))
            .await;
        assert_eq!(success(&f, "hwmon"), 1.0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reports_duration_and_success_per_collector() {
        let ne = exporter_with_slow(Duration::from_millis(20), Duration::from_secs(5));
        let f = ne.scrape().await;
        assert_eq!(success(&f, "hwmon"), 1.0);
        let d = f
            .iter()
            .find(|x| x.name == "node_scrape_collector_duration_seconds")
            .unwrap();
        assert_eq!(d.samples.len(), 3);
        assert!(
            d.samples
                .iter()
                .find(|s| s.labels[0].1 == "hwmon")
                .unwrap()
                .value
                >= 0.02
        );
        assert!(f.iter().any(|x| x.name == "slow_value"));
    }

    struct Panicking;
    impl HostCollector for Panicking {
        fn update(&self, _: &mut Families) -> Result<(), CollectorError> {
            panic!("collector bug")
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_panicking_collector_fails_alone_and_keeps_its_thread() {
        let mut ne = NodeExporter::new(
            &["loadavg"],
            (*fixture_options()).clone(),
            Duration::from_secs(5),
        )
        .unwrap();
        ne.entries.push(Entry {
            name: "hwmon",
            collector: Arc::new(Panicking),
            stuck: Arc::new(AtomicUsize::new(0)),
        });
        for _ in 0..3 {
            let f = ne.scrape().await;
            assert_eq!(success(&f, "hwmon"), 0.0);
            assert_eq!(success(&f, "loadavg"), 1.0);
        }
        assert_eq!(ne.pool.live_threads(), ne.pool.base());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn overlapping_scrapes_each_run_every_collector() {
        let ne = exporter_with_slow(Duration::from_millis(200), Duration::from_secs(5));
        let (a, b) = tokio::join!(ne.scrape(), ne.scrape());
        for f in [a, b] {
            assert_eq!(success(&f, "hwmon"), 1.0);
            assert_eq!(success(&f, "loadavg"), 1.0);
        }
    }

    /// A whole scrape of this machine (every collector) comes out in the order
    /// `MetricFamily::sort_for_exposition` gives, so serving it through dark-metrics (which
    /// sorts what collectors return) finds nothing to reorder.
    #[tokio::test]
    async fn a_scrape_is_already_in_exposition_order() {
        let names: Vec<&str> = collectors::COLLECTORS.iter().map(|c| c.name).collect();
        let ne = NodeExporter::new(
            &names,
            CollectorOptions::defaults(crate::paths::HostPaths::default()).unwrap(),
            DEFAULT_COLLECTOR_TIMEOUT,
        )
        .unwrap();
        let scraped = ne.scrape().await;
        let mut sorted = scraped.clone();
        MetricFamily::sort_for_exposition(&mut sorted);
        for (a, b) in scraped.iter().zip(&sorted) {
            assert_eq!(a, b, "family {} is reordered", a.name);
        }
        assert_eq!(scraped.len(), sorted.len());
    }

    #[test]
    fn unknown_collector_is_a_config_error() {
        let err = NodeExporter::new(
            &["nope"],
            (*fixture_options()).clone(),
            DEFAULT_COLLECTOR_TIMEOUT,
        )
        .err()
        .unwrap();
        assert!(matches!(err, ConfigError::UnknownCollector(_)));
    }
}
