//! The socket side of a link dump: the `RTM_GETLINK` request, one exchange over a
//! `NETLINK_ROUTE` socket ([`dump_links`], repeated when the kernel flags a dump as
//! interrupted), and the [`FallbackLog`] of collectors that read files when it fails.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use super::{DumpError, Link, LinkDecoder};

/// `RTM_GETLINK`: the request.
const RTM_GETLINK: u16 = 18;
/// `NLM_F_REQUEST | NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
const DUMP_REQUEST_FLAGS: u16 = 0x1 | 0x300;
/// `IFLA_EXT_MASK`: the request attribute that carries the `RTEXT_FILTER_*` bits.
const IFLA_EXT_MASK: u16 = 29;
/// `RTEXT_FILTER_SKIP_STATS`: the kernel leaves the statistics out of the answer.
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;

/// The largest datagram one `recv` takes; the kernel fills dump datagrams up to 32 KiB.
const RECV_BUFFER: usize = 64 * 1024;
/// Datagrams one dump may take before it is abandoned (a namespace with ~100,000 links).
pub(super) const MAX_DATAGRAMS: usize = 4096;
/// Dumps repeated when the kernel flags one as interrupted by a concurrent change.
const DUMP_ATTEMPTS: usize = 3;

/// The dump request for sequence number `seq`: `nlmsghdr`, an all-zero `ifinfomsg` (every
/// family, every interface) and `IFLA_EXT_MASK` with `RTEXT_FILTER_SKIP_STATS`, which
/// leaves out the statistics of virtual functions (the interface's own counters,
/// `IFLA_STATS64`, always come).
pub fn link_dump_request(seq: u32) -> [u8; 40] {
    let mut req = [0u8; 40];
    req[0..4].copy_from_slice(&40u32.to_ne_bytes());
    req[4..6].copy_from_slice(&RTM_GETLINK.to_ne_bytes());
    req[6..8].copy_from_slice(&DUMP_REQUEST_FLAGS.to_ne_bytes());
    req[8..12].copy_from_slice(&seq.to_ne_bytes());
    // nlmsg_pid 0 (the kernel assigns the port) and ifinfomsg all zero: bytes 12..32.
    req[32..34].copy_from_slice(&8u16.to_ne_bytes());
    req[34..36].copy_from_slice(&IFLA_EXT_MASK.to_ne_bytes());
    req[36..40].copy_from_slice(&RTEXT_FILTER_SKIP_STATS.to_ne_bytes());
    req
}

/// How long one `recv` of a collector's link dump may wait (the kernel answers in
/// microseconds; this only keeps a wedged socket from holding a collector thread).
pub const DUMP_TIMEOUT: Duration = Duration::from_secs(10);

/// Logs a failed dump that a collector answers from files instead: at warning level the
/// first time, at debug level after that.
#[derive(Debug, Default)]
pub(crate) struct FallbackLog(AtomicBool);

impl FallbackLog {
    /// Records that `collector` read `instead` because of `error`; `note` tells the
    /// operator what follows or what to do.
    pub(crate) fn record(&self, collector: &str, error: &DumpError, instead: &str, note: &str) {
        if !self.0.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                collector,
                error = %error,
                "reading {instead} instead of netlink ({note})"
            );
        } else {
            tracing::debug!(collector, error = %error, "reading {instead} instead of netlink");
        }
    }
}

/// Sequence numbers of this process's requests (each dump has its own socket, so this only
/// makes a stray answer recognisable).
static NEXT_SEQ: AtomicU32 = AtomicU32::new(1);

/// Dumps every link of the calling thread's network namespace, sorted by name. Each
/// `recv` waits at most `timeout`. A dump the kernel flags as interrupted by a concurrent
/// change is repeated (up to three times in all; the last answer is kept, one entry per
/// interface index).
pub fn dump_links(timeout: Duration) -> Result<Vec<Link>, DumpError> {
    let mut links = Vec::new();
    for _ in 0..DUMP_ATTEMPTS {
        let decoder = dump_once(timeout)?;
        let interrupted = decoder.is_interrupted();
        links = decoder.into_links();
        if !interrupted {
            break;
        }
        tracing::debug!("rtnetlink link dump interrupted by a concurrent change; asking again");
    }
    Ok(one_per_index_by_name(links))
}

/// One entry per interface index, the later one where the dump listed an index twice (an
/// interrupted dump may, even under two names), ordered by name.
fn one_per_index_by_name(mut links: Vec<Link>) -> Vec<Link> {
    links.reverse();
    links.sort_by_key(|l| l.index);
    links.dedup_by_key(|l| l.index);
    links.sort_by(|a, b| a.name.cmp(&b.name));
    links
}

fn dump_once(timeout: Duration) -> Result<LinkDecoder, DumpError> {
    use rustix::net::{
        recv, send, socket_with, sockopt, AddressFamily, RecvFlags, SendFlags, SocketFlags,
        SocketType,
    };
    let io = |step: &'static str| {
        move |e: rustix::io::Errno| DumpError::Io {
            step,
            source: e.into(),
        }
    };
    // Protocol `None` is NETLINK_ROUTE.
    let fd = socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(io("opening a NETLINK_ROUTE socket"))?;
    sockopt::set_socket_timeout(&fd, sockopt::Timeout::Recv, Some(timeout))
        .map_err(io("setting the receive timeout"))?;
    let seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
    send(&fd, &link_dump_request(seq), SendFlags::empty()).map_err(io("sending RTM_GETLINK"))?;
    let mut decoder = LinkDecoder::new(seq);
    let mut buf = vec![0u8; RECV_BUFFER];
    for _ in 0..MAX_DATAGRAMS {
        let (n, full) =
            recv(&fd, &mut buf[..], RecvFlags::TRUNC).map_err(io("receiving the link dump"))?;
        if full > n {
            return Err(DumpError::Malformed {
                offset: 0,
                detail: format!("datagram of {full} bytes exceeds the {n}-byte buffer"),
            });
        }
        decoder.feed(&buf[..n])?;
        if decoder.is_done() {
            return Ok(decoder);
        }
    }
    Err(DumpError::Unterminated)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::CAPTURED_SEQ;
    use super::*;

    #[test]
    fn the_request_matches_what_the_capture_sent() {
        // capture.py packs the same request with Python's struct module.
        let req = link_dump_request(CAPTURED_SEQ);
        let mut want = Vec::new();
        want.extend_from_slice(&40u32.to_ne_bytes());
        want.extend_from_slice(&18u16.to_ne_bytes());
        want.extend_from_slice(&0x301u16.to_ne_bytes());
        want.extend_from_slice(&CAPTURED_SEQ.to_ne_bytes());
        want.extend_from_slice(&[0; 4 + 16]);
        want.extend_from_slice(&[8, 0, 29, 0, 8, 0, 0, 0]);
        assert_eq!(req.as_slice(), want.as_slice());
    }

    #[test]
    fn an_index_listed_twice_keeps_its_later_entry() {
        let link = |index, name: &str| Link {
            index,
            name: name.into(),
            ..Link::default()
        };
        let links = one_per_index_by_name(vec![
            link(3, "eth0"),
            link(1, "lo"),
            link(2, "old"),
            link(2, "new"),
        ]);
        let names: Vec<(i32, &str)> = links.iter().map(|l| (l.index, l.name.as_str())).collect();
        assert_eq!(names, [(3, "eth0"), (1, "lo"), (2, "new")]);
    }

    #[test]
    fn dumps_this_namespace() {
        let links = dump_links(Duration::from_secs(5)).unwrap();
        assert!(
            links.iter().all(|l| l.stats.is_some()),
            "every link has counters"
        );
        let lo = links.iter().find(|l| l.name == "lo").expect("lo is listed");
        assert_eq!(lo.link_type, 772);
        // Same interfaces as sysfs lists (both show this process's namespace here).
        let mut sysfs: Vec<String> = std::fs::read_dir("/sys/class/net")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| std::path::Path::new("/sys/class/net").join(n).is_dir())
            .collect();
        sysfs.sort();
        let names: Vec<String> = links.iter().map(|l| l.name.clone()).collect();
        assert_eq!(names, sysfs);
    }
}
