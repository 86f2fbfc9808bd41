//! An opt-in tap on the payloads the router relays: for tests that prove what a router (or
//! anyone with the router's keys) sees of a circuit, such as that end-to-end encryption hides
//! the plaintext.
//!
//! Off unless [`RouterOptions::payload_tap`](super::RouterOptions::payload_tap) holds a
//! [`PayloadTap`]; the router then hands it the payload of every Data message it relays, per
//! circuit. Memory is bounded: at most [`PayloadTap::new`]'s `max_circuits` circuits keep
//! bytes, each at most `max_bytes_per_circuit` (the first bytes are kept, the rest only
//! counted).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// A shared record of relayed Data payloads, keyed by circuit id. Cloning it shares the record.
#[derive(Debug, Clone)]
pub struct PayloadTap {
    inner: Arc<Mutex<TapRecord>>,
}

#[derive(Debug)]
struct TapRecord {
    max_circuits: usize,
    max_bytes_per_circuit: usize,
    circuits: HashMap<String, Vec<u8>>,
    total_bytes: u64,
    data_messages: u64,
}

impl PayloadTap {
    /// A tap keeping the first `max_bytes_per_circuit` payload bytes of at most
    /// `max_circuits` circuits; every byte is counted in [`total_bytes`](Self::total_bytes).
    pub fn new(max_circuits: usize, max_bytes_per_circuit: usize) -> Self {
        PayloadTap {
            inner: Arc::new(Mutex::new(TapRecord {
                max_circuits,
                max_bytes_per_circuit,
                circuits: HashMap::new(),
                total_bytes: 0,
                data_messages: 0,
            })),
        }
    }

    fn record_guard(&self) -> MutexGuard<'_, TapRecord> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records one relayed Data payload of `circuit` (called by the router).
    pub fn record(&self, circuit: &str, payload: &[u8]) {
        let mut rec = self.record_guard();
        rec.total_bytes += payload.len() as u64;
        rec.data_messages += 1;
        let (max_circuits, max_bytes) = (rec.max_circuits, rec.max_bytes_per_circuit);
        if !rec.circuits.contains_key(circuit) {
            if rec.circuits.len() >= max_circuits {
                return;
            }
            rec.circuits.insert(circuit.to_owned(), Vec::new());
        }
        let kept = rec.circuits.get_mut(circuit).expect("inserted above");
        let room = max_bytes.saturating_sub(kept.len());
        kept.extend_from_slice(&payload[..payload.len().min(room)]);
    }

    /// Payload bytes relayed in all, kept or not.
    pub fn total_bytes(&self) -> u64 {
        self.record_guard().total_bytes
    }

    /// Data messages relayed in all.
    pub fn data_messages(&self) -> u64 {
        self.record_guard().data_messages
    }

    /// The ids of the circuits whose bytes are kept.
    pub fn circuits(&self) -> Vec<String> {
        self.record_guard().circuits.keys().cloned().collect()
    }

    /// The kept bytes of `circuit` (both directions, in relay order); empty when unknown.
    pub fn circuit_bytes(&self, circuit: &str) -> Vec<u8> {
        self.record_guard()
            .circuits
            .get(circuit)
            .cloned()
            .unwrap_or_default()
    }

    /// Whether `needle` occurs in the kept bytes of any circuit.
    pub fn saw(&self, needle: &[u8]) -> bool {
        if needle.is_empty() {
            return true;
        }
        self.record_guard()
            .circuits
            .values()
            .any(|kept| kept.windows(needle.len()).any(|w| w == needle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_bounded_bytes_per_circuit_and_counts_everything() {
        let tap = PayloadTap::new(1, 4);
        tap.record("c1", b"abc");
        tap.record("c1", b"defgh");
        tap.record("c2", b"zzz");
        assert_eq!(tap.circuit_bytes("c1"), b"abcd");
        assert!(tap.circuit_bytes("c2").is_empty());
        assert_eq!(tap.circuits(), ["c1"]);
        assert_eq!(tap.total_bytes(), 11);
        assert_eq!(tap.data_messages(), 3);
        assert!(tap.saw(b"bcd"));
        assert!(!tap.saw(b"zzz"));
    }
}
