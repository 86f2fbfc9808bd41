//! Fuzz the rtnetlink link-dump decoder: `LinkDecoder::feed` must return an error or
//! links, never panic, however the input is cut into datagrams.
//!
//! The first input byte splits the rest into up to three datagrams (its two low bit pairs
//! pick cut points as fractions of the length). The decoder expects the sequence number of
//! the first message, so inputs mutated from the seed (a real dump) reach the attribute
//! decoding rather than stopping at a sequence mismatch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use node_exporter::rtnetlink::{format_hardware_address, LinkDecoder};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let seq = rest
        .get(8..12)
        .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    let cut = |bits: u8| rest.len() * usize::from(bits & 3) / 4;
    let (a, b) = (cut(mode), cut(mode >> 2));
    let (first, second) = (a.min(b), a.max(b));
    let mut decoder = LinkDecoder::new(seq);
    for part in [&rest[..first], &rest[first..second], &rest[second..]] {
        if decoder.feed(part).is_err() {
            return;
        }
    }
    for link in decoder.into_links() {
        assert!(!link.name.is_empty(), "a link without a name was accepted");
        let _ = (link.sysfs_flags(), link.iflink(), link.operstate_name(), link.dormant());
        let _ = format_hardware_address(link.address.as_deref());
        if let Some(stats) = link.stats {
            assert!(stats.iter().count() >= 23, "short statistics were accepted");
        }
    }
});
