//! What a dump yields: one [`Link`] per interface, its counters ([`LinkStats`], named by
//! [`STATS64_FIELDS`]), and the sysfs views of them (flags, operstate, iflink, hardware
//! address text) that the collectors print.

// `IFF_*` interface flags (linux/if.h).
const IFF_UP: u32 = 0x1;
const IFF_RUNNING: u32 = 0x40;
pub(super) const IFF_PROMISC: u32 = 0x100;
pub(super) const IFF_ALLMULTI: u32 = 0x200;
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

/// An interface's counters from `IFLA_STATS64`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub(super) values: [u64; 24],
    pub(super) present: usize,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardware_addresses_format_like_sysfs() {
        assert_eq!(format_hardware_address(None), "");
        assert_eq!(format_hardware_address(Some(&[])), "");
        assert_eq!(
            format_hardware_address(Some(&[0x02, 0xfc, 0, 0xab])),
            "02:fc:00:ab"
        );
    }
}
