//! Netlink message framing of a dump answer: [`LinkDecoder`] walks the messages of each
//! datagram (`nlmsghdr`), checks lengths and sequence numbers, notes an interrupted dump,
//! turns `NLMSG_ERROR`/`NLMSG_DONE` into errors or the end, and hands `RTM_NEWLINK` payloads
//! to [`super::attrs`]. Also the native-endian integer readers both share.

use std::io;

use super::attrs::decode_link;
use super::{DumpError, Link};

/// `NLMSG_NOOP`: a message to skip.
const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR`: an error (or acknowledgement) carrying a negative errno.
const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the end of a dump.
pub(super) const NLMSG_DONE: u16 = 3;
/// `RTM_NEWLINK`: one interface, the answer's payload.
pub(super) const RTM_NEWLINK: u16 = 16;
/// `NLM_F_DUMP_INTR`: the table changed while it was dumped; the answer may be inconsistent.
const NLM_F_DUMP_INTR: u16 = 0x10;
/// Length of `struct nlmsghdr`.
const NLMSG_HDRLEN: usize = 16;

/// Decodes the datagrams of one dump answer, in order.
#[derive(Debug)]
pub struct LinkDecoder {
    seq: u32,
    links: Vec<Link>,
    done: bool,
    interrupted: bool,
}

impl LinkDecoder {
    /// A decoder for the answer to the request with sequence number `seq`.
    pub fn new(seq: u32) -> Self {
        LinkDecoder {
            seq,
            links: Vec::new(),
            done: false,
            interrupted: false,
        }
    }

    /// Whether `NLMSG_DONE` has been seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether the kernel flagged the dump as interrupted by a concurrent change.
    pub fn is_interrupted(&self) -> bool {
        self.interrupted
    }

    /// The links decoded so far, in the kernel's order.
    pub fn into_links(self) -> Vec<Link> {
        self.links
    }

    /// Decodes one datagram (one or more netlink messages). After `NLMSG_DONE`, further
    /// input is an error.
    pub fn feed(&mut self, datagram: &[u8]) -> Result<(), DumpError> {
        let mut offset = 0;
        while offset < datagram.len() {
            let malformed = |detail: String| DumpError::Malformed { offset, detail };
            if self.done {
                return Err(malformed("data after the end of the dump".into()));
            }
            let rest = &datagram[offset..];
            if rest.len() < NLMSG_HDRLEN {
                return Err(malformed(format!(
                    "{} bytes left, a message header takes {NLMSG_HDRLEN}",
                    rest.len()
                )));
            }
            let len = u32_at(rest, 0) as usize;
            let kind = u16_at(rest, 4);
            let flags = u16_at(rest, 6);
            let seq = u32_at(rest, 8);
            if len < NLMSG_HDRLEN || len > rest.len() {
                return Err(malformed(format!(
                    "message length {len} outside {NLMSG_HDRLEN}..={}",
                    rest.len()
                )));
            }
            if seq != self.seq {
                return Err(malformed(format!(
                    "sequence number {seq:#x}, the request had {:#x}",
                    self.seq
                )));
            }
            if flags & NLM_F_DUMP_INTR != 0 {
                self.interrupted = true;
            }
            let payload = &rest[NLMSG_HDRLEN..len];
            match kind {
                NLMSG_NOOP => {}
                NLMSG_DONE => {
                    // The payload, when present, is the dump's final status.
                    if payload.len() >= 4 && i32_at(payload, 0) < 0 {
                        return Err(kernel_error(i32_at(payload, 0)));
                    }
                    self.done = true;
                }
                NLMSG_ERROR => {
                    if payload.len() < 4 {
                        return Err(malformed("error message without an error code".into()));
                    }
                    let code = i32_at(payload, 0);
                    // Zero is an acknowledgement, which a dump does not ask for.
                    if code != 0 {
                        return Err(kernel_error(code));
                    }
                }
                RTM_NEWLINK => {
                    let link = decode_link(payload).map_err(malformed)?;
                    self.links.push(link);
                }
                other => return Err(malformed(format!("unexpected message type {other}"))),
            }
            // Messages start on four-byte boundaries; the last one may end the datagram
            // unpadded.
            offset += align4(len).min(rest.len());
        }
        Ok(())
    }
}

fn kernel_error(code: i32) -> DumpError {
    DumpError::Kernel(io::Error::from_raw_os_error(code.saturating_neg()))
}

pub(super) fn align4(n: usize) -> usize {
    (n + 3) & !3
}

// Callers check the length first; these read native-endian integers at fixed offsets.
pub(super) fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

pub(super) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(super) fn i32_at(b: &[u8], at: usize) -> i32 {
    u32_at(b, at) as i32
}

#[cfg(test)]
mod tests {
    use super::super::attrs::{IFLA_IFNAME, IFLA_MTU};
    use super::super::fixtures::{
        captured, feed, link_payload, malformed, message, CAPTURED, CAPTURED_SEQ,
    };
    use super::super::link::{format_hardware_address, IFF_ALLMULTI, IFF_PROMISC};
    use super::*;

    fn by_name<'a>(links: &'a [Link], name: &str) -> &'a Link {
        links.iter().find(|l| l.name == name).unwrap()
    }
    #[test]
    fn decodes_the_captured_dump() {
        let links = captured();
        let names: Vec<&str> = links.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["lo", "ifb7", "veth1", "veth0", "br0", "mv0"]);

        let lo = by_name(&links, "lo");
        assert_eq!((lo.index, lo.link_type, lo.mtu), (1, 772, Some(65536)));
        assert_eq!(lo.sysfs_flags(), 0x9);
        assert_eq!(lo.operstate_name(), "unknown");
        assert_eq!(
            format_hardware_address(lo.address.as_deref()),
            "00:00:00:00:00:00"
        );
        assert_eq!(lo.iflink(), 1);

        let ifb = by_name(&links, "ifb7");
        assert_eq!(ifb.mtu, Some(9000));
        assert_eq!(ifb.tx_queue_len, Some(500));
        assert_eq!(ifb.group, Some(3));
        assert_eq!(ifb.alias.as_deref(), Some("uplink to rack 7"));
        // Promiscuous by the user's request: netlink and sysfs agree.
        assert_eq!(ifb.promiscuity, Some(1));
        assert_eq!(ifb.sysfs_flags(), 0x183);
        assert_eq!(
            format_hardware_address(ifb.broadcast.as_deref()),
            "ff:ff:ff:ff:ff:ff"
        );

        // A bridge port: promiscuous and all-multicast because the bridge holds them,
        // which netlink's flag word leaves out and sysfs shows (0x1303).
        let port = by_name(&links, "veth1");
        assert_eq!(port.flags & (IFF_PROMISC | IFF_ALLMULTI), 0);
        assert_eq!((port.promiscuity, port.allmulti), (Some(1), Some(1)));
        assert_eq!(port.sysfs_flags(), 0x1303);
        assert_eq!(
            format_hardware_address(port.address.as_deref()),
            "02:00:00:00:00:0b"
        );
        assert_eq!(port.carrier, Some(1));
        assert_eq!(port.operstate_name(), "up");
        assert_eq!(port.dormant(), Some(false));

        let veth0 = by_name(&links, "veth0");
        assert_eq!(veth0.sysfs_flags(), 0x1003);
        // Counters (Linux 6.18 sends 25; the 24 named are read): what one end of the
        // pair sent, the other received.
        let (s0, s1) = (veth0.stats.unwrap(), port.stats.unwrap());
        assert_eq!(s0.get("rx_packets"), Some(4));
        assert_eq!(s0.get("rx_bytes"), Some(340));
        assert_eq!(s0.get("tx_bytes"), Some(90));
        assert_eq!(s1.get("tx_bytes"), Some(340));
        assert_eq!(s1.get("rx_bytes"), Some(90));
        assert_eq!(s0.get("rx_nohandler"), Some(0));
        assert_eq!(s0.get("rx_otherhost_dropped"), None);
        assert_eq!(s0.iter().count(), 24);
        assert_eq!(ifb.stats.unwrap().get("rx_dropped"), Some(1));
        assert_eq!(veth0.iflink(), i64::from(port.index));
        assert_eq!(port.iflink(), i64::from(veth0.index));

        // Down: sysfs would refuse carrier and dormant.
        let mv = by_name(&links, "mv0");
        assert!(!mv.is_running());
        assert_eq!(mv.dormant(), None);
        assert_eq!(mv.operstate_name(), "down");
        assert_eq!(mv.iflink(), i64::from(veth0.index));
        assert_eq!(mv.sysfs_flags(), 0x1002);
        assert!(mv.carrier_changes.is_some());
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        for cut in 0..CAPTURED.len() {
            let mut d = LinkDecoder::new(CAPTURED_SEQ);
            let r = d.feed(&CAPTURED[..cut]);
            // A cut on a message boundary decodes (without the end of the dump).
            assert!(r.is_err() || !d.is_done(), "cut at {cut}");
        }
    }
    #[test]
    fn malformed_messages_are_named() {
        let mut short = message(RTM_NEWLINK, 0, 5, &[]);
        short[0..4].copy_from_slice(&8u32.to_ne_bytes());
        assert!(malformed(&short).contains("message length 8"));
        let mut long = message(RTM_NEWLINK, 0, 5, &[]);
        long[0..4].copy_from_slice(&400u32.to_ne_bytes());
        assert!(malformed(&long).contains("message length 400"));
        assert!(malformed(&[1, 2, 3]).contains("3 bytes left"));
        assert!(malformed(&message(RTM_NEWLINK, 0, 6, &[])).contains("sequence number 0x6"));
        assert!(malformed(&message(99, 0, 5, &[])).contains("unexpected message type 99"));
        assert!(malformed(&message(RTM_NEWLINK, 0, 5, &[0; 8])).contains("interface header"));
        assert!(malformed(&message(NLMSG_ERROR, 0, 5, &[])).contains("without an error code"));
        let mut after = message(NLMSG_DONE, 0, 5, &0i32.to_ne_bytes());
        after.extend(message(NLMSG_NOOP, 0, 5, &[]));
        assert!(malformed(&after).contains("after the end"));
    }
    #[test]
    fn unknown_attributes_and_noops_are_skipped_and_flags_masked() {
        let p = link_payload(&[
            (IFLA_IFNAME, b"eth9\0"),
            (999, &[1, 2, 3]),
            // A nested attribute type with NLA_F_NESTED set is still ignored by type.
            (0x8000 | 26, &[0; 8]),
            (IFLA_MTU, &1500u32.to_ne_bytes()),
        ]);
        let mut dgram = message(NLMSG_NOOP, 0, 5, &[]);
        dgram.extend(message(RTM_NEWLINK, NLM_F_DUMP_INTR, 5, &p));
        dgram.extend(message(NLMSG_DONE, 0, 5, &0i32.to_ne_bytes()));
        let d = feed(&dgram).unwrap();
        assert!(d.is_done() && d.is_interrupted());
        let links = d.into_links();
        assert_eq!(links.len(), 1);
        assert_eq!((links[0].name.as_str(), links[0].mtu), ("eth9", Some(1500)));
        assert_eq!(links[0].operstate_name(), "unknown");
        assert_eq!(links[0].dormant(), None);
    }
    #[test]
    fn kernel_errors_carry_the_errno() {
        let eperm = message(NLMSG_ERROR, 0, 5, &(-libc::EPERM).to_ne_bytes());
        match feed(&eperm) {
            Err(DumpError::Kernel(e)) => assert_eq!(e.raw_os_error(), Some(libc::EPERM)),
            other => panic!("{other:?}"),
        }
        let failed_done = message(NLMSG_DONE, 0, 5, &(-libc::EINTR).to_ne_bytes());
        assert!(matches!(feed(&failed_done), Err(DumpError::Kernel(_))));
        // An acknowledgement is not an error.
        assert!(!feed(&message(NLMSG_ERROR, 0, 5, &0i32.to_ne_bytes()))
            .unwrap()
            .is_done());
    }
}
