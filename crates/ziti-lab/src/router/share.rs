//! Each identity's share of a router's channels.
//!
//! A router serves at most [`RouterOptions::max_channels`](super::RouterOptions::max_channels)
//! channels. Without a per-identity bound one identity (one leaked credential, or one buggy
//! fleet) could hold all of them and lock every other identity out. [`IdentityShares`]
//! counts the live channels of each identity; a channel is counted from its successful
//! hello until it closes ([`ShareSlot`] gives its place back on drop). A hello over the bound
//! is answered with a failed hello reply whose message is [`ShareFull`]'s text, which SDKs
//! report (this SDK as `ChannelError::HelloRejected`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Live channels per identity id, and the bound.
#[derive(Debug)]
pub struct IdentityShares {
    max_per_identity: usize,
    live: Mutex<HashMap<String, usize>>,
}

/// One counted channel of an identity; dropping it frees the place.
#[derive(Debug)]
pub struct ShareSlot {
    shares: Arc<IdentityShares>,
    identity_id: String,
}

/// Why a channel was refused: its identity already holds its share.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("identity {identity} already has {max} channels open to this router, the most one identity may hold; close unused SDK contexts or processes of this identity, or give them identities of their own")]
pub struct ShareFull {
    /// The identity's name.
    pub identity: String,
    /// The bound in force.
    pub max: usize,
}

impl IdentityShares {
    /// Shares of at most `max_per_identity` channels each (0 is taken as 1).
    pub fn new(max_per_identity: usize) -> Arc<Self> {
        Arc::new(Self {
            max_per_identity: max_per_identity.max(1),
            live: Mutex::new(HashMap::new()),
        })
    }

    fn live(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        // Every critical section is one map update: a poisoned lock is still consistent.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one more channel of the identity `identity_id` (named `identity_name` in the
    /// refusal), unless it already holds its share.
    pub fn take(
        self: &Arc<Self>,
        identity_id: &str,
        identity_name: &str,
    ) -> Result<ShareSlot, ShareFull> {
        let mut live = self.live();
        let count = live.entry(identity_id.to_owned()).or_insert(0);
        if *count >= self.max_per_identity {
            return Err(ShareFull {
                identity: identity_name.to_owned(),
                max: self.max_per_identity,
            });
        }
        *count += 1;
        Ok(ShareSlot {
            shares: self.clone(),
            identity_id: identity_id.to_owned(),
        })
    }

    /// Live channels of `identity_id`.
    pub fn count(&self, identity_id: &str) -> usize {
        self.live().get(identity_id).copied().unwrap_or(0)
    }
}

impl Drop for ShareSlot {
    fn drop(&mut self) {
        let mut live = self.shares.live();
        if let Some(count) = live.get_mut(&self.identity_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                live.remove(&self.identity_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_gets_its_share_and_a_closed_channel_frees_a_place() {
        let shares = IdentityShares::new(2);
        let a1 = shares.take("a", "alice").unwrap();
        let _a2 = shares.take("a", "alice").unwrap();
        let full = shares.take("a", "alice").unwrap_err();
        assert_eq!(
            full,
            ShareFull {
                identity: "alice".into(),
                max: 2
            }
        );
        assert!(full
            .to_string()
            .contains("identity alice already has 2 channels"));
        // Another identity is not affected.
        let _b = shares.take("b", "bob").unwrap();
        drop(a1);
        assert_eq!(shares.count("a"), 1);
        let _a3 = shares.take("a", "alice").unwrap();
        assert_eq!(shares.count("a"), 2);
    }
}
