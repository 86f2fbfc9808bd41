//! Test fixtures shared by the decoder tests: the captured kernel answer and builders of
//! hand-made netlink messages.

use super::{DumpError, Link, LinkDecoder};

/// The kernel's answer (Linux 6.18) to [`link_dump_request`](super::link_dump_request) in the namespace that
/// `tests/fixtures/netlink/capture.sh` builds.
pub(super) const CAPTURED: &[u8] = include_bytes!("../../tests/fixtures/netlink/link_dump.bin");
/// The sequence number capture.py sent.
pub(super) const CAPTURED_SEQ: u32 = 0x6472_6B73;

pub(super) fn captured() -> Vec<Link> {
    let mut d = LinkDecoder::new(CAPTURED_SEQ);
    d.feed(CAPTURED).unwrap();
    assert!(d.is_done());
    assert!(!d.is_interrupted());
    d.into_links()
}

/// A one-message datagram: header with `kind`, then `payload`.
pub(super) fn message(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(payload);
    m
}

pub(super) fn link_payload(attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut p = vec![0u8; 16];
    p[4..8].copy_from_slice(&7i32.to_ne_bytes());
    for (kind, value) in attrs {
        p.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        p.extend_from_slice(&kind.to_ne_bytes());
        p.extend_from_slice(value);
        while p.len() % 4 != 0 {
            p.push(0);
        }
    }
    p
}

pub(super) fn feed(datagram: &[u8]) -> Result<LinkDecoder, DumpError> {
    let mut d = LinkDecoder::new(5);
    d.feed(datagram)?;
    Ok(d)
}

pub(super) fn malformed(datagram: &[u8]) -> String {
    match feed(datagram) {
        Err(DumpError::Malformed { detail, .. }) => detail,
        other => panic!("expected a malformed-answer error, got {other:?}"),
    }
}
