//! Decoding one `RTM_NEWLINK` payload: the `ifinfomsg` header and the `IFLA_*` attributes
//! read into a [`Link`] (sizes checked per attribute), `IFLA_STATS64` into [`LinkStats`], and
//! attribute strings.

use super::decode::{align4, i32_at, u16_at, u32_at};
use super::link::{Link, LinkStats};

/// Length of `struct ifinfomsg`.
const IFINFOMSG_LEN: usize = 16;
/// The attribute type bits of `nla_type` (without `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER`).
const NLA_TYPE_MASK: u16 = 0x3fff;
/// `MAX_ADDR_LEN`: the longest hardware address the kernel keeps.
const MAX_ADDR_LEN: usize = 32;

// `IFLA_*` attribute types read here (linux/if_link.h).
const IFLA_ADDRESS: u16 = 1;
const IFLA_BROADCAST: u16 = 2;
pub(super) const IFLA_IFNAME: u16 = 3;
pub(super) const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_TXQLEN: u16 = 13;
const IFLA_STATS64: u16 = 23;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKMODE: u16 = 17;
const IFLA_IFALIAS: u16 = 20;
const IFLA_GROUP: u16 = 27;
const IFLA_PROMISCUITY: u16 = 30;
const IFLA_CARRIER: u16 = 33;
const IFLA_CARRIER_CHANGES: u16 = 35;
const IFLA_CARRIER_UP_COUNT: u16 = 47;
const IFLA_CARRIER_DOWN_COUNT: u16 = 48;
const IFLA_ALLMULTI: u16 = 61;

/// The fields every kernel with `IFLA_STATS64` sends (all but `rx_nohandler`).
const STATS64_MIN_FIELDS: usize = 23;

/// Decodes the payload of one `RTM_NEWLINK`: `ifinfomsg` followed by attributes.
pub(super) fn decode_link(payload: &[u8]) -> Result<Link, String> {
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

#[cfg(test)]
mod tests {
    use super::super::decode::{NLMSG_DONE, RTM_NEWLINK};
    use super::super::fixtures::{feed, link_payload, malformed, message};
    use super::*;

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
}
