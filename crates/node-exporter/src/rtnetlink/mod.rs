//! rtnetlink link dump: one `RTM_GETLINK` request returns every interface of the exporter's
//! network namespace, with most of what `/sys/class/net/<iface>/` shows and its counters.
//! The netclass collector uses it in place of about twenty sysfs attribute reads per
//! interface (each an open, a read and a close, most of them under the kernel's RTNL lock),
//! and netdev in place of `/proc/net/dev` and one sysfs file per interface.
//!
//! This module owns the request, the socket exchange and the decoder of the kernel's
//! answer ([`LinkDecoder`]); it knows nothing about metrics. Layouts are those of
//! `linux/netlink.h`, `linux/rtnetlink.h` and `linux/if_link.h` (native byte order).
//!
//! Files: `dump` sends the request over a `NETLINK_ROUTE` socket and reads the answer
//! ([`dump_links`]); `decode` splits the answer into netlink messages ([`LinkDecoder`]);
//! `attrs` decodes one `RTM_NEWLINK` (its `ifinfomsg` and `IFLA_*` attributes); `link`
//! holds what comes out ([`Link`], [`LinkStats`]); `error` says why a dump failed
//! ([`DumpError`]).

mod attrs;
mod decode;
mod dump;
mod error;
#[cfg(test)]
mod fixtures;
mod link;

pub use decode::LinkDecoder;
pub(crate) use dump::FallbackLog;
pub use dump::{dump_links, link_dump_request, DUMP_TIMEOUT};
pub use error::DumpError;
pub use link::{format_hardware_address, Link, LinkStats, STATS64_FIELDS};
