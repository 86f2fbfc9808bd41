//! [`RouterPool`]: at most one live channel per edge router, reconnect backoff, and router
//! choice by measured latency.
//!
//! Callers ask the pool for a channel to a router address; the pool hands out the live one
//! or connects (one connect at a time per router). After a failed connect the router is in
//! capped exponential backoff ([`ChannelOptions::reconnect_initial`] doubling up to
//! [`ChannelOptions::reconnect_max`]) and asks fail fast with [`ChannelError::Backoff`]
//! until the delay has passed; a successful connect resets it. [`RouterPool::pick`] connects
//! to every router of a session that is not in backoff and returns the one with the lowest
//! measured round trip.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustls::ClientConfig;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{ChannelError, ChannelOptions, RouterChannel};
use crate::controller::RouterAddress;

#[derive(Debug, Default)]
struct Slot {
    channel: Option<RouterChannel>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<ChannelError>,
}

#[derive(Debug)]
struct PoolInner {
    tls: Arc<ClientConfig>,
    identifier: String,
    options: ChannelOptions,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
}

/// The set of router channels of one context. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RouterPool {
    inner: Arc<PoolInner>,
}

/// The delay before attempt `failures + 1`: `initial · 2^(failures-1)`, capped at `max`.
pub fn backoff_delay(initial: Duration, max: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let factor = 1u32 << (failures - 1).min(20);
    initial.saturating_mul(factor).min(max)
}

impl RouterPool {
    /// A pool whose channels use `tls` and say hello with `identifier`.
    pub fn new(tls: Arc<ClientConfig>, identifier: String, options: ChannelOptions) -> Self {
        Self {
            inner: Arc::new(PoolInner {
                tls,
                identifier,
                options,
                slots: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The channel options in use.
    pub fn options(&self) -> &ChannelOptions {
        &self.inner.options
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<Slot>>>> {
        match self.inner.slots.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The channels that are open right now.
    pub(crate) async fn open_channels(&self) -> Vec<RouterChannel> {
        let slots: Vec<_> = self.slots().values().cloned().collect();
        let mut open = Vec::new();
        for slot in slots {
            if let Some(channel) = &slot.lock().await.channel {
                if channel.is_open() {
                    open.push(channel.clone());
                }
            }
        }
        open
    }

    fn slot(&self, key: &str) -> Arc<tokio::sync::Mutex<Slot>> {
        self.slots().entry(key.to_string()).or_default().clone()
    }

    /// The live channel to `address`, connecting (with `api_session_token`) if there is none.
    pub async fn channel(
        &self,
        address: &RouterAddress,
        api_session_token: &str,
    ) -> Result<RouterChannel, ChannelError> {
        let key = address.to_string();
        let slot = self.slot(&key);
        let mut slot = slot.lock().await;
        if let Some(channel) = &slot.channel {
            if channel.is_open() {
                return Ok(channel.clone());
            }
            slot.channel = None;
        }
        if let (Some(at), Some(err)) = (slot.retry_at, &slot.last_error) {
            let now = Instant::now();
            if at > now {
                return Err(ChannelError::Backoff {
                    router: key,
                    retry_in: at - now,
                    last_error: err.to_string(),
                });
            }
        }
        match RouterChannel::connect(
            address,
            self.inner.tls.clone(),
            api_session_token,
            &self.inner.identifier,
            self.inner.options.clone(),
        )
        .await
        {
            Ok(channel) => {
                slot.failures = 0;
                slot.retry_at = None;
                slot.last_error = None;
                slot.channel = Some(channel.clone());
                Ok(channel)
            }
            Err(err) => {
                slot.failures = slot.failures.saturating_add(1);
                let delay = backoff_delay(
                    self.inner.options.reconnect_initial,
                    self.inner.options.reconnect_max,
                    slot.failures,
                );
                tracing::warn!(router = %key, error = %err, retry_in_ms = delay.as_millis() as u64, "router connect failed");
                slot.retry_at = Some(Instant::now() + delay);
                slot.last_error = Some(err.clone());
                Err(err)
            }
        }
    }

    /// How long until `address` may be tried again (zero when it may be tried now).
    pub async fn retry_in(&self, address: &RouterAddress) -> Duration {
        let slot = self.slot(&address.to_string());
        let slot = slot.lock().await;
        slot.retry_at
            .map(|at| at.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    }

    /// Connects to every address not in backoff (concurrently) and returns the open channel
    /// with the lowest measured latency, or the errors of all of them.
    pub async fn pick(
        &self,
        addresses: &[RouterAddress],
        api_session_token: &str,
    ) -> Result<RouterChannel, Vec<ChannelError>> {
        let mut tasks = JoinSet::new();
        for address in addresses {
            let pool = self.clone();
            let address = address.clone();
            let token = api_session_token.to_string();
            tasks.spawn(async move { pool.channel(&address, &token).await });
        }
        let mut best: Option<RouterChannel> = None;
        let mut errors = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(channel)) => {
                    let better = match &best {
                        None => true,
                        Some(current) => rank(&channel) < rank(current),
                    };
                    if better {
                        best = Some(channel);
                    }
                }
                Ok(Err(err)) => errors.push(err),
                Err(join) => errors.push(ChannelError::Closed {
                    router: "?".into(),
                    reason: format!("connect task failed: {join}"),
                }),
            }
        }
        best.ok_or(errors)
    }

    /// Every open channel with its measured latency.
    pub fn latencies(&self) -> Vec<(String, Option<Duration>)> {
        let slots: Vec<_> = self
            .slots()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut out = Vec::new();
        for (key, slot) in slots {
            if let Ok(slot) = slot.try_lock() {
                if let Some(channel) = slot.channel.as_ref().filter(|c| c.is_open()) {
                    out.push((key, channel.latency()));
                }
            }
        }
        out.sort();
        out
    }

    /// Closes every channel.
    pub async fn close_all(&self) {
        let slots: Vec<_> = self.slots().drain().map(|(_, v)| v).collect();
        for slot in slots {
            let mut slot = slot.lock().await;
            if let Some(channel) = slot.channel.take() {
                channel.close();
            }
        }
    }
}

fn rank(channel: &RouterChannel) -> Duration {
    channel.latency().unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let i = Duration::from_millis(250);
        let m = Duration::from_secs(30);
        assert_eq!(backoff_delay(i, m, 0), Duration::ZERO);
        assert_eq!(backoff_delay(i, m, 1), Duration::from_millis(250));
        assert_eq!(backoff_delay(i, m, 2), Duration::from_millis(500));
        assert_eq!(backoff_delay(i, m, 4), Duration::from_secs(2));
        assert_eq!(backoff_delay(i, m, 10), m);
        assert_eq!(backoff_delay(i, m, u32::MAX), m);
    }
}
