//! `udp_queues` collector: bytes waiting in the send and receive queues of all UDP
//! sockets, summed per IP version, from `/proc/net/udp` and `/proc/net/udp6`.
//!
//! The kernel walks its whole UDP hash table for every `read` of these files, so they are
//! read with `read_seq_table`, which skips the extra end-of-file read when
//! the first page already holds the whole table (socket lines are fixed-width, under 256
//! bytes).

use std::path::Path;
use std::sync::Arc;

use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::{label, Families};
use crate::read::read_seq_table;

/// Sums the `tx_queue:rx_queue` column (hexadecimal) over all sockets: (tx, rx).
pub fn parse_udp_queues(path: &Path, text: &str) -> Result<(u64, u64), CollectorError> {
    let (mut tx, mut rx) = (0u64, 0u64);
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split_ascii_whitespace().collect();
        let queues = cols.get(4).ok_or_else(|| {
            CollectorError::parse(path, format!("socket line too short: {line:?}"))
        })?;
        let (t, r) = queues
            .split_once(':')
            .ok_or_else(|| CollectorError::parse(path, format!("bad queue column {queues:?}")))?;
        let hex = |s: &str| {
            u64::from_str_radix(s, 16)
                .map_err(|e| CollectorError::parse(path, format!("bad queue size {s:?}: {e}")))
        };
        tx = tx.saturating_add(hex(t)?);
        rx = rx.saturating_add(hex(r)?);
    }
    Ok((tx, rx))
}

/// Exports `node_udp_queues{ip,queue}`.
pub struct UdpQueuesCollector {
    options: Arc<CollectorOptions>,
}

impl UdpQueuesCollector {
    /// A collector reading `<procfs>/net/udp{,6}`.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        UdpQueuesCollector { options }
    }
}

impl HostCollector for UdpQueuesCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let mut missing = 0;
        for (file, ip) in [("net/udp", "v4"), ("net/udp6", "v6")] {
            let path = self.options.paths.proc(file);
            let text = match read_seq_table(&path, 256) {
                Ok(t) => t,
                Err(e) if e.is_not_found() => {
                    missing += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let (tx, rx) = parse_udp_queues(&path, &text)?;
            let help = "Bytes queued in UDP sockets, by IP version and queue.";
            out.gauge(
                "node_udp_queues",
                help,
                vec![label("queue", "tx"), label("ip", ip)],
                tx as f64,
            );
            out.gauge(
                "node_udp_queues",
                help,
                vec![label("queue", "rx"), label("ip", ip)],
                rx as f64,
            );
        }
        if missing == 2 {
            return Err(CollectorError::NoData(
                "neither net/udp nor net/udp6 exists".into(),
            ));
        }
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "udp_queues",
    default_enabled: true,
    build: |options| Box::new(UdpQueuesCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn fixture_values() {
        // One loopback socket with 0x340 bytes waiting to be received.
        let f = run(&UdpQueuesCollector::new(fixture_options()));
        assert_eq!(
            value(&f, "node_udp_queues", &[("ip", "v4"), ("queue", "rx")]),
            832.0
        );
        assert_eq!(
            value(&f, "node_udp_queues", &[("ip", "v4"), ("queue", "tx")]),
            0.0
        );
        assert_eq!(
            value(&f, "node_udp_queues", &[("ip", "v6"), ("queue", "rx")]),
            0.0
        );
    }

    #[test]
    fn malformed() {
        let head = "sl local rem st queues\n";
        for bad in [
            " 1: a b 07\n",
            " 1: a b 07 0000zz:0\n",
            " 1: a b 07 00000000\n",
        ] {
            assert!(
                parse_udp_queues(Path::new("t"), &format!("{head}{bad}")).is_err(),
                "{bad:?}"
            );
        }
    }
}
