//! rtnetlink link dump: one `RTM_GETLINK` request returns every interface of the exporter's
//! network namespace, with most of what `/sys/class/net/<iface>/` shows and its counters.
//! The netclass collector uses it in place of about twenty sysfs attribute reads per
//! interface (each an open, a read and a close, most of them under the kernel's RTNL lock),
//! and netdev in place of `/proc/net/dev` and one sysfs file per interface.
//!
//! This module owns the request, the socket exchange and the decoder of the kernel's
//! answer ([`LinkDecoder`]); it knows nothing about metrics. Layouts are those of
//! `linux/netlink.h`, `linux/rtnetlink.h` and `linux/if_link.h` (native byte order).

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// `NLMSG_NOOP`: a message to skip.
const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR`: an error (or acknowledgement) carrying a negative errno.
const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: the end of a dump.
const NLMSG_DONE: u16 = 3;
/// `RTM_NEWLINK`: one interface, the answer's payload.
const RTM_NEWLINK: u16 = 16;
/// `RTM_GETLINK`: the request.
const RTM_GETLINK: u16 = 18;
/// `NLM_F_REQUEST | NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
const DUMP_REQUEST_FLAGS: u16 = 0x1 | 0x300;
/// `NLM_F_DUMP_INTR`: the table changed while it was dumped; the answer may be inconsistent.
const NLM_F_DUMP_INTR: u16 = 0x10;
/// Length of `struct nlmsghdr`.
const NLMSG_HDRLEN: usize = 16;
/// Length of `struct ifinfomsg`.
const IFINFOMSG_LEN: usize = 16;
/// The attribute type bits of `nla_type` (without `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER`).
const NLA_TYPE_MASK: u16 = 0x3fff;
/// `MAX_ADDR_LEN`: the longest hardware address the kernel keeps.
const MAX_ADDR_LEN: usize = 32;

// `IFLA_*` attribute types read here (linux/if_link.h).
const IFLA_ADDRESS: u16 = 1;
const IFLA_BROADCAST: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_TXQLEN: u16 = 13;
const IFLA_STATS64: u16 = 23;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKMODE: u16 = 17;
const IFLA_IFALIAS: u16 = 20;
const IFLA_GROUP: u16 = 27;
const IFLA_EXT_MASK: u16 = 29;
const IFLA_PROMISCUITY: u16 = 30;
const IFLA_CARRIER: u16 = 33;
const IFLA_CARRIER_CHANGES: u16 = 35;
const IFLA_CARRIER_UP_COUNT: u16 = 47;
const IFLA_CARRIER_DOWN_COUNT: u16 = 48;
const IFLA_ALLMULTI: u16 = 61;
/// `RTEXT_FILTER_SKIP_STATS`: the kernel leaves the statistics out of the answer.
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;

// `IFF_*` interface flags (linux/if.h).
const IFF_UP: u32 = 0x1;
const IFF_RUNNING: u32 = 0x40;
const IFF_PROMISC: u32 = 0x100;
const IFF_ALLMULTI: u32 = 0x200;
const IFF_LOWER_UP: u32 = 0x10000;
const IFF_DORMANT: u32 = 0x20000;

/// Names of `IF_OPER_*`, the RFC 2863 operational states, as sysfs `operstate` prints them.
const OPERSTATES: [&str; 7] = [
    "unknown",
    "notpresent",
    "down",
    "lowerlayerdown",
    "testing",
    "dormant",
    "up",
];

/// Fields of `struct rtnl_link_stats64` read, in the kernel's order, by the names of the
/// files in `/sys/class/net/<iface>/statistics/`. Linux 4.6 added the last one; later
/// fields (`rx_otherhost_dropped`) are not read.
pub const STATS64_FIELDS: [&str; 24] = [
    "rx_packets",
    "tx_packets",
    "rx_bytes",
    "tx_bytes",
    "rx_errors",
    "tx_errors",
    "rx_dropped",
    "tx_dropped",
    "multicast",
    "collisions",
    "rx_length_errors",
    "rx_over_errors",
    "rx_crc_errors",
    "rx_frame_errors",
    "rx_fifo_errors",
    "rx_missed_errors",
    "tx_aborted_errors",
    "tx_carrier_errors",
    "tx_fifo_errors",
    "tx_heartbeat_errors",
    "tx_window_errors",
    "rx_compressed",
    "tx_compressed",
    "rx_nohandler",
];

/// The fields every kernel with `IFLA_STATS64` sends (all but `rx_nohandler`).
const STATS64_MIN_FIELDS: usize = 23;

/// An interface's counters from `IFLA_STATS64`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    values: [u64; 24],
    present: usize,
}

impl LinkStats {
    /// The counter called `name` (one of [`STATS64_FIELDS`]); `None` when this kernel does
    /// not send it or the name is unknown.
    pub fn get(&self, name: &str) -> Option<u64> {
        let i = STATS64_FIELDS.iter().position(|f| *f == name)?;
        self.nth(i)
    }

    /// The `i`-th counter of [`STATS64_FIELDS`], if the kernel sent it.
    pub fn nth(&self, i: usize) -> Option<u64> {
        (i < self.present).then(|| self.values[i])
    }

    /// The counters the kernel sent, with their names, in the kernel's order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        STATS64_FIELDS
            .iter()
            .copied()
            .zip(self.values)
            .take(self.present)
    }
}

/// The largest datagram one `recv` takes; the kernel fills dump datagrams up to 32 KiB.
const RECV_BUFFER: usize = 64 * 1024;
/// Datagrams one dump may take before it is abandoned (a namespace with ~100,000 links).
const MAX_DATAGRAMS: usize = 4096;
/// Dumps repeated when the kernel flags one as interrupted by a concurrent change.
const DUMP_ATTEMPTS: usize = 3;

/// One interface as `RTM_NEWLINK` describes it. Optional fields are attributes the kernel
/// may leave out (older kernels, or values that equal a default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Link {
    /// `ifi_index`, sysfs `ifindex`.
    pub index: i32,
    /// `ifi_type` (`ARPHRD_*`), sysfs `type`.
    pub link_type: u16,
    /// `ifi_flags` as the kernel reports them over netlink (see [`Link::sysfs_flags`]).
    pub flags: u32,
    /// `IFLA_IFNAME`.
    pub name: String,
    /// `IFLA_MTU`.
    pub mtu: Option<u32>,
    /// `IFLA_TXQLEN`.
    pub tx_queue_len: Option<u32>,
    /// `IFLA_OPERSTATE` (`IF_OPER_*`).
    pub operstate: Option<u8>,
    /// `IFLA_LINKMODE`.
    pub link_mode: Option<u8>,
    /// `IFLA_GROUP`.
    pub group: Option<u32>,
    /// `IFLA_LINK`: present only when the link's parent is another interface.
    pub parent: Option<u32>,
    /// `IFLA_ADDRESS`: present only when the device has a hardware address length.
    pub address: Option<Vec<u8>>,
    /// `IFLA_BROADCAST`.
    pub broadcast: Option<Vec<u8>>,
    /// `IFLA_IFALIAS`: present only when an alias is set.
    pub alias: Option<String>,
    /// `IFLA_CARRIER`.
    pub carrier: Option<u8>,
    /// `IFLA_CARRIER_CHANGES`.
    pub carrier_changes: Option<u32>,
    /// `IFLA_CARRIER_UP_COUNT`.
    pub carrier_up_count: Option<u32>,
    /// `IFLA_CARRIER_DOWN_COUNT`.
    pub carrier_down_count: Option<u32>,
    /// `IFLA_PROMISCUITY`: how many users asked for promiscuous mode.
    pub promiscuity: Option<u32>,
    /// `IFLA_ALLMULTI`: how many users asked for all-multicast mode (Linux 6.6 and later).
    pub allmulti: Option<u32>,
    /// `IFLA_STATS64`: the interface's counters.
    pub stats: Option<LinkStats>,
}

impl Link {
    /// Whether the interface is administratively up (the kernel's `netif_running`).
    /// sysfs refuses `carrier`, `dormant`, `speed` and `duplex` of an interface that is not.
    pub fn is_running(&self) -> bool {
        self.flags & IFF_UP != 0
    }

    /// The flags as sysfs `flags` shows them (the device's own flag word). Netlink adds the
    /// computed `IFF_RUNNING`, `IFF_LOWER_UP` and `IFF_DORMANT`, and reports promiscuous and
    /// all-multicast mode only when a user asked for them; sysfs shows them whenever
    /// anyone (a bridge, a packet socket) holds them, which the two counters tell.
    pub fn sysfs_flags(&self) -> u32 {
        let mut flags =
            self.flags & !(IFF_RUNNING | IFF_LOWER_UP | IFF_DORMANT | IFF_PROMISC | IFF_ALLMULTI);
        let held = |count: Option<u32>, bit: u32| match count {
            Some(n) => n > 0,
            None => self.flags & bit != 0,
        };
        if held(self.promiscuity, IFF_PROMISC) {
            flags |= IFF_PROMISC;
        }
        if held(self.allmulti, IFF_ALLMULTI) {
            flags |= IFF_ALLMULTI;
        }
        flags
    }

    /// Whether the interface is dormant (RFC 2863), known only while it is running.
    pub fn dormant(&self) -> Option<bool> {
        self.is_running().then_some(self.flags & IFF_DORMANT != 0)
    }

    /// sysfs `iflink`: the parent's index, or the interface's own when it has none.
    pub fn iflink(&self) -> i64 {
        self.parent.map_or(i64::from(self.index), i64::from)
    }

    /// sysfs `operstate`: `down` for an interface that is not running, as the kernel says.
    pub fn operstate_name(&self) -> &'static str {
        match self.operstate {
            Some(state) => OPERSTATES
                .get(usize::from(state))
                .copied()
                .unwrap_or("unknown"),
            None => "unknown",
        }
    }
}

/// Formats a hardware address as sysfs does: lower-case hex bytes joined by colons, empty
/// when the device has none.
pub fn format_hardware_address(bytes: Option<&[u8]>) -> String {
    use std::fmt::Write;
    let bytes = bytes.unwrap_or_default();
    let mut text = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            text.push(':');
        }
        // Writing to a String cannot fail.
        let _ = write!(text, "{b:02x}");
    }
    text
}

/// Why a link dump failed.
#[derive(Debug)]
pub enum DumpError {
    /// The netlink socket could not be opened, written or read.
    Io {
        /// The step that failed.
        step: &'static str,
        /// The error it returned.
        source: io::Error,
    },
    /// The kernel answered with an error.
    Kernel(io::Error),
    /// The answer does not decode.
    Malformed {
        /// Byte offset of the offending message in its datagram.
        offset: usize,
        /// What is wrong with it.
        detail: String,
    },
    /// The kernel's answer did not end within 4,096 datagrams.
    Unterminated,
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpError::Io { step, source } => {
                write!(f, "rtnetlink link dump: {step} failed: {source}")
            }
            DumpError::Kernel(e) => write!(f, "rtnetlink link dump: the kernel answered {e}"),
            DumpError::Malformed { offset, detail } => write!(
                f,
                "rtnetlink link dump: malformed answer at byte {offset}: {detail}"
            ),
            DumpError::Unterminated => write!(
                f,
                "rtnetlink link dump: no end of dump after {MAX_DATAGRAMS} datagrams"
            ),
        }
    }
}

impl std::error::Error for DumpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DumpError::Io { source, .. } | DumpError::Kernel(source) => Some(source),
            _ => None,
        }
    }
}

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

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

// Callers check the length first; these read native-endian integers at fixed offsets.
fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    u32_at(b, at) as i32
}

/// Decodes the payload of one `RTM_NEWLINK`: `ifinfomsg` followed by attributes.
fn decode_link(payload: &[u8]) -> Result<Link, String> {
    if payload.len() < IFINFOMSG_LEN {
        return Err(format!(
            "link message of {} bytes, the interface header takes {IFINFOMSG_LEN}",
            payload.len()
        ));
    }
    let mut link = Link {
        link_type: u16_at(payload, 2),
        index: i32_at(payload, 4),
        flags: u32_at(payload, 8),
        ..Link::default()
    };
    let mut attrs = &payload[IFINFOMSG_LEN..];
    while !attrs.is_empty() {
        if attrs.len() < 4 {
            return Err(format!(
                "link {}: {} stray bytes after the attributes",
                link.index,
                attrs.len()
            ));
        }
        let len = usize::from(u16_at(attrs, 0));
        let kind = u16_at(attrs, 2) & NLA_TYPE_MASK;
        if len < 4 || len > attrs.len() {
            return Err(format!(
                "link {}: attribute {kind} has length {len}, outside 4..={}",
                link.index,
                attrs.len()
            ));
        }
        let value = &attrs[4..len];
        let index = link.index;
        let sized = |want: usize| {
            if value.len() == want {
                Ok(value)
            } else {
                Err(format!(
                    "link {index}: attribute {kind} has {} bytes, expected {want}",
                    value.len()
                ))
            }
        };
        let u32_value = || sized(4).map(|v| u32_at(v, 0));
        let u8_value = || sized(1).map(|v| v[0]);
        let address = || {
            if value.len() <= MAX_ADDR_LEN {
                Ok(value.to_vec())
            } else {
                Err(format!(
                    "link {index}: hardware address attribute {kind} of {} bytes, at most {MAX_ADDR_LEN}",
                    value.len()
                ))
            }
        };
        match kind {
            IFLA_IFNAME => link.name = c_string(value),
            IFLA_IFALIAS => link.alias = Some(c_string(value)),
            IFLA_ADDRESS => link.address = Some(address()?),
            IFLA_BROADCAST => link.broadcast = Some(address()?),
            IFLA_MTU => link.mtu = Some(u32_value()?),
            IFLA_LINK => link.parent = Some(u32_value()?),
            IFLA_TXQLEN => link.tx_queue_len = Some(u32_value()?),
            IFLA_GROUP => link.group = Some(u32_value()?),
            IFLA_PROMISCUITY => link.promiscuity = Some(u32_value()?),
            IFLA_ALLMULTI => link.allmulti = Some(u32_value()?),
            IFLA_CARRIER_CHANGES => link.carrier_changes = Some(u32_value()?),
            IFLA_CARRIER_UP_COUNT => link.carrier_up_count = Some(u32_value()?),
            IFLA_CARRIER_DOWN_COUNT => link.carrier_down_count = Some(u32_value()?),
            IFLA_OPERSTATE => link.operstate = Some(u8_value()?),
            IFLA_LINKMODE => link.link_mode = Some(u8_value()?),
            IFLA_CARRIER => link.carrier = Some(u8_value()?),
            IFLA_STATS64 => {
                link.stats = Some(decode_stats(value).map_err(|e| format!("link {index}: {e}"))?)
            }
            _ => {}
        }
        attrs = &attrs[align4(len).min(attrs.len())..];
    }
    if link.name.is_empty() {
        return Err(format!("link {} has no name (IFLA_IFNAME)", link.index));
    }
    Ok(link)
}

/// Decodes `IFLA_STATS64`: native-endian `u64`s, at least the 23 fields older kernels send.
fn decode_stats(value: &[u8]) -> Result<LinkStats, String> {
    if value.len() % 8 != 0 || value.len() < STATS64_MIN_FIELDS * 8 {
        return Err(format!(
            "statistics attribute of {} bytes, expected a multiple of 8 of at least {}",
            value.len(),
            STATS64_MIN_FIELDS * 8
        ));
    }
    let mut stats = LinkStats::default();
    for (slot, chunk) in stats.values.iter_mut().zip(value.chunks_exact(8)) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        *slot = u64::from_ne_bytes(bytes);
        stats.present += 1;
    }
    Ok(stats)
}

/// A NUL-terminated attribute string (the terminator and anything after it dropped),
/// decoded lossily like the sysfs text the collector would otherwise read.
fn c_string(value: &[u8]) -> String {
    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    crate::read::text_of(&value[..end]).into_owned()
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
    use super::*;

    /// The kernel's answer (Linux 6.18) to [`link_dump_request`] in the namespace that
    /// `tests/fixtures/netlink/capture.sh` builds.
    const CAPTURED: &[u8] = include_bytes!("../tests/fixtures/netlink/link_dump.bin");
    /// The sequence number capture.py sent.
    const CAPTURED_SEQ: u32 = 0x6472_6B73;

    fn captured() -> Vec<Link> {
        let mut d = LinkDecoder::new(CAPTURED_SEQ);
        d.feed(CAPTURED).unwrap();
        assert!(d.is_done());
        assert!(!d.is_interrupted());
        d.into_links()
    }

    fn by_name<'a>(links: &'a [Link], name: &str) -> &'a Link {
        links.iter().find(|l| l.name == name).unwrap()
    }

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

    /// A one-message datagram: header with `kind`, then `payload`.
    fn message(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(payload);
        m
    }

    fn link_payload(attrs: &[(u16, &[u8])]) -> Vec<u8> {
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

    fn feed(datagram: &[u8]) -> Result<LinkDecoder, DumpError> {
        let mut d = LinkDecoder::new(5);
        d.feed(datagram)?;
        Ok(d)
    }

    fn malformed(datagram: &[u8]) -> String {
        match feed(datagram) {
            Err(DumpError::Malformed { detail, .. }) => detail,
            other => panic!("expected a malformed-answer error, got {other:?}"),
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
    fn malformed_attributes_are_named() {
        let name: &[u8] = b"eth9\0";
        let nameless = message(RTM_NEWLINK, 0, 5, &link_payload(&[(IFLA_MTU, &[0; 4])]));
        assert!(malformed(&nameless).contains("link 7 has no name"));
        let short_mtu = link_payload(&[(IFLA_IFNAME, name), (IFLA_MTU, &[1, 2])]);
        assert!(malformed(&message(RTM_NEWLINK, 0, 5, &short_mtu))
            .contains("attribute 4 has 2 bytes, expected 4"));
        let long_state = link_payload(&[(IFLA_IFNAME, name), (IFLA_OPERSTATE, &[6, 0])]);
        assert!(malformed(&message(RTM_NEWLINK, 0, 5, &long_state)).contains("expected 1"));
        let huge_address = link_payload(&[(IFLA_IFNAME, name), (IFLA_ADDRESS, &[0xaa; 33])]);
        assert!(malformed(&message(RTM_NEWLINK, 0, 5, &huge_address)).contains("at most 32"));

        let mut bad_len = link_payload(&[(IFLA_IFNAME, name)]);
        bad_len.extend_from_slice(&[2, 0, 4, 0]);
        assert!(malformed(&message(RTM_NEWLINK, 0, 5, &bad_len)).contains("has length 2"));
        let mut overrun = link_payload(&[(IFLA_IFNAME, name)]);
        overrun.extend_from_slice(&[64, 0, 4, 0]);
        assert!(malformed(&message(RTM_NEWLINK, 0, 5, &overrun)).contains("has length 64"));
        let short_stats = link_payload(&[(IFLA_IFNAME, name), (IFLA_STATS64, &[0; 100])]);
        assert!(malformed(&message(RTM_NEWLINK, 0, 5, &short_stats))
            .contains("statistics attribute of 100 bytes"));
        let odd_stats = link_payload(&[(IFLA_IFNAME, name), (IFLA_STATS64, &[0; 196])]);
        assert!(malformed(&message(RTM_NEWLINK, 0, 5, &odd_stats)).contains("196 bytes"));
        let mut stray = link_payload(&[(IFLA_IFNAME, name)]);
        stray.extend_from_slice(&[1, 2]);
        assert!(malformed(&message(RTM_NEWLINK, 0, 5, &stray)).contains("2 stray bytes"));
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
    fn statistics_of_older_kernels_lack_rx_nohandler() {
        let mut old = Vec::new();
        for i in 0..23u64 {
            old.extend_from_slice(&(i + 1).to_ne_bytes());
        }
        let p = link_payload(&[(IFLA_IFNAME, b"eth9\0"), (IFLA_STATS64, &old)]);
        let mut dgram = message(RTM_NEWLINK, 0, 5, &p);
        dgram.extend(message(NLMSG_DONE, 0, 5, &0i32.to_ne_bytes()));
        let stats = feed(&dgram).unwrap().into_links()[0].stats.unwrap();
        assert_eq!(stats.get("rx_packets"), Some(1));
        assert_eq!(stats.get("tx_compressed"), Some(23));
        assert_eq!(stats.nth(22), Some(23));
        assert_eq!(stats.get("rx_nohandler"), None);
        assert_eq!(stats.iter().count(), 23);
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

    #[test]
    fn hardware_addresses_format_like_sysfs() {
        assert_eq!(format_hardware_address(None), "");
        assert_eq!(format_hardware_address(Some(&[])), "");
        assert_eq!(
            format_hardware_address(Some(&[0x02, 0xfc, 0, 0xab])),
            "02:fc:00:ab"
        );
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
