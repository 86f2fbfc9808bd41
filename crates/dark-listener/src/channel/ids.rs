//! Connection-id allocation for one router channel (ziti-edge-protocol.md §3.1).
//!
//! The SDK picks ids for its dial conns and bind conns from `1..=2^31-3`
//! ([`SDK_CONN_ID_MIN`]..=[`SDK_CONN_ID_MAX`]), wrapping back to 1 and skipping ids still in
//! use; routers pick ids for accepted conns from `2^31` upward, so the two never collide.
//! This type is sans-IO: the channel keeps one per router connection.

use std::collections::HashSet;

use crate::wire::consts::{SDK_CONN_ID_MAX, SDK_CONN_ID_MIN};

/// Hands out SDK-side connection ids, never one that is still in use.
#[derive(Debug, Clone)]
pub struct ConnIdAllocator {
    next: u32,
    in_use: HashSet<u32>,
    max_in_use: usize,
}

impl Default for ConnIdAllocator {
    fn default() -> Self {
        Self::new(1 << 20)
    }
}

impl ConnIdAllocator {
    /// An allocator that refuses to hold more than `max_in_use` ids at once.
    pub fn new(max_in_use: usize) -> Self {
        Self {
            next: SDK_CONN_ID_MIN,
            in_use: HashSet::new(),
            max_in_use,
        }
    }

    /// The next free id, or `None` when `max_in_use` ids are taken.
    pub fn allocate(&mut self) -> Option<u32> {
        if self.in_use.len() >= self.max_in_use {
            return None;
        }
        let span = u64::from(SDK_CONN_ID_MAX - SDK_CONN_ID_MIN) + 1;
        // Bounded: at most `in_use.len() + 1` candidates are looked at, since each skipped
        // candidate is a distinct id in use.
        for _ in 0..span.min(self.in_use.len() as u64 + 1) {
            let candidate = self.next;
            self.next = if candidate >= SDK_CONN_ID_MAX {
                SDK_CONN_ID_MIN
            } else {
                candidate + 1
            };
            if self.in_use.insert(candidate) {
                return Some(candidate);
            }
        }
        None
    }

    /// Marks an id as used (for instance a router-provided one), so it is never handed out
    /// while live. Returns `false` if it already was.
    pub fn reserve(&mut self, id: u32) -> bool {
        self.in_use.insert(id)
    }

    /// Returns an id to the pool.
    pub fn release(&mut self, id: u32) {
        self.in_use.remove(&id);
    }

    /// Whether `id` is currently allocated.
    pub fn is_in_use(&self, id: u32) -> bool {
        self.in_use.contains(&id)
    }

    /// How many ids are in use.
    pub fn in_use(&self) -> usize {
        self.in_use.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_one_and_increments() {
        let mut a = ConnIdAllocator::default();
        assert_eq!(a.allocate(), Some(1));
        assert_eq!(a.allocate(), Some(2));
        a.release(1);
        // Released ids are not reused before the counter wraps.
        assert_eq!(a.allocate(), Some(3));
    }

    #[test]
    fn wraps_below_two_to_the_31_and_skips_ids_in_use() {
        let mut a = ConnIdAllocator::default();
        assert_eq!(a.allocate(), Some(1));
        assert_eq!(a.allocate(), Some(2));
        a.next = SDK_CONN_ID_MAX;
        assert_eq!(a.allocate(), Some(2_147_483_645));
        // 1 and 2 are still in use: the wrap skips them.
        assert_eq!(a.allocate(), Some(3));
        a.release(2);
        a.next = SDK_CONN_ID_MAX;
        assert_eq!(a.allocate(), Some(2));
    }

    #[test]
    fn never_reaches_router_id_space() {
        let mut a = ConnIdAllocator {
            next: SDK_CONN_ID_MAX - 1,
            ..ConnIdAllocator::default()
        };
        for _ in 0..4 {
            let id = a.allocate().unwrap();
            assert!(id < 1 << 31);
            assert!((SDK_CONN_ID_MIN..=SDK_CONN_ID_MAX).contains(&id));
        }
    }

    #[test]
    fn refuses_when_full() {
        let mut a = ConnIdAllocator::new(2);
        assert!(a.allocate().is_some());
        assert!(a.allocate().is_some());
        assert_eq!(a.allocate(), None);
        a.release(1);
        assert_eq!(a.allocate(), Some(3));
    }

    #[test]
    fn reserved_ids_are_skipped() {
        let mut a = ConnIdAllocator::default();
        assert!(a.reserve(1));
        assert!(!a.reserve(1));
        assert_eq!(a.allocate(), Some(2));
        assert!(a.is_in_use(1));
        a.release(1);
        assert!(!a.is_in_use(1));
        assert_eq!(a.in_use(), 1);
    }
}
