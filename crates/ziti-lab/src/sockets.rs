//! Proof that a process is dark: which sockets a process holds, read from Linux procfs.
//!
//! The lab's tests run a hosting process next to the lab and must show it opened no
//! listening socket. [`SocketCensus::of`] matches the socket inodes the process holds
//! (`/proc/PID/fd/*` links `socket:[INODE]`) against the rows of its network namespace's
//! `/proc/PID/net/{tcp,tcp6,udp,udp6}` tables; [`SocketCensus::check_dark`] then requires
//! TCP sockets (its outbound channels, which show the matching works) but none in LISTEN
//! state, and no UDP socket.

use std::collections::HashSet;
use std::path::Path;

/// The `st` column value of a TCP socket in LISTEN state.
const TCP_LISTEN: &str = "0A";

/// The sockets of one process, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketCensus {
    /// Socket inodes the process holds (any family, Unix sockets included).
    pub all: HashSet<u64>,
    /// `(table, inode)` of its TCP sockets not listening.
    pub tcp: Vec<(&'static str, u64)>,
    /// `(table, inode)` of its TCP sockets in LISTEN state.
    pub tcp_listening: Vec<(&'static str, u64)>,
    /// `(table, inode)` of its UDP sockets.
    pub udp: Vec<(&'static str, u64)>,
}

/// Why a process does not count as dark (or why that could not be shown).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NotDark {
    /// `/proc/PID/fd` could not be read: the process is gone or belongs to another user.
    #[error("cannot list the descriptors of process {pid}: {reason}")]
    Unreadable {
        /// The process.
        pid: u32,
        /// The I/O error.
        reason: String,
    },
    /// The process holds no TCP socket at all, so the check proves nothing (it should hold
    /// its channels to the controller and router).
    #[error(
        "process holds no TCP socket; the check proves nothing (is it connected to the overlay?)"
    )]
    NoTcp,
    /// A TCP socket of the process is listening.
    #[error("process holds a listening TCP socket ({table} inode {inode})")]
    Listening {
        /// `tcp` or `tcp6`.
        table: &'static str,
        /// The socket's inode.
        inode: u64,
    },
    /// The process holds a UDP socket (which receives without any connection).
    #[error("process holds a UDP socket ({table} inode {inode})")]
    Udp {
        /// `udp` or `udp6`.
        table: &'static str,
        /// The socket's inode.
        inode: u64,
    },
}

impl SocketCensus {
    /// Reads the sockets of process `pid` (of the caller with `std::process::id()`).
    pub fn of(pid: u32) -> Result<Self, NotDark> {
        let proc_dir = Path::new("/proc").join(pid.to_string());
        let entries = std::fs::read_dir(proc_dir.join("fd")).map_err(|e| NotDark::Unreadable {
            pid,
            reason: e.to_string(),
        })?;
        let mut census = SocketCensus::default();
        for entry in entries.flatten() {
            // A descriptor closed while we list is skipped.
            if let Ok(target) = std::fs::read_link(entry.path()) {
                if let Some(inode) = socket_inode(&target.to_string_lossy()) {
                    census.all.insert(inode);
                }
            }
        }
        for table in ["tcp", "tcp6", "udp", "udp6"] {
            // A missing table (IPv6 off) has no rows.
            let text =
                std::fs::read_to_string(proc_dir.join("net").join(table)).unwrap_or_default();
            for (state, inode) in table_rows(&text) {
                if !census.all.contains(&inode) {
                    continue;
                }
                let list = match (table.starts_with("tcp"), state == TCP_LISTEN) {
                    (true, true) => &mut census.tcp_listening,
                    (true, false) => &mut census.tcp,
                    (false, _) => &mut census.udp,
                };
                list.push((table, inode));
            }
        }
        Ok(census)
    }

    /// `Ok` when the process has TCP sockets, none listening, and no UDP socket.
    pub fn check_dark(&self) -> Result<(), NotDark> {
        if let Some(&(table, inode)) = self.tcp_listening.first() {
            return Err(NotDark::Listening { table, inode });
        }
        if let Some(&(table, inode)) = self.udp.first() {
            return Err(NotDark::Udp { table, inode });
        }
        if self.tcp.is_empty() {
            return Err(NotDark::NoTcp);
        }
        Ok(())
    }
}

/// Reads process `pid`'s sockets and checks it is dark.
pub fn check_process_dark(pid: u32) -> Result<SocketCensus, NotDark> {
    let census = SocketCensus::of(pid)?;
    census.check_dark()?;
    Ok(census)
}

/// The inode of a `/proc/PID/fd` link target `socket:[INODE]`.
fn socket_inode(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// `(st, inode)` of every row of a `/proc/net/{tcp,udp}*` table (header skipped, malformed
/// rows ignored).
fn table_rows(text: &str) -> Vec<(&str, u64)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut columns = line.split_whitespace();
            let state = columns.nth(3)?;
            let inode = columns.nth(5)?.parse().ok()?;
            Some((state, inode))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0000000000000000 20 4 30 10 -1
   2: truncated row
   3: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 notanumber
";

    #[test]
    fn rows_give_state_and_inode_and_skip_malformed_ones() {
        assert_eq!(table_rows(TCP), [("0A", 4242), ("01", 4343)]);
        assert!(table_rows("").is_empty());
        assert!(table_rows("header only\n").is_empty());
    }

    #[test]
    fn socket_links_are_recognised() {
        assert_eq!(socket_inode("socket:[12345]"), Some(12345));
        for other in [
            "pipe:[12]",
            "socket:[]",
            "socket:[x1]",
            "/dev/null",
            "socket:[1",
        ] {
            assert_eq!(socket_inode(other), None, "{other}");
        }
    }

    #[test]
    fn verdicts() {
        let dark = SocketCensus {
            tcp: vec![("tcp", 1)],
            ..SocketCensus::default()
        };
        assert_eq!(dark.check_dark(), Ok(()));
        let listening = SocketCensus {
            tcp_listening: vec![("tcp6", 2)],
            ..dark.clone()
        };
        assert_eq!(
            listening.check_dark(),
            Err(NotDark::Listening {
                table: "tcp6",
                inode: 2
            })
        );
        let udp = SocketCensus {
            udp: vec![("udp", 3)],
            ..dark.clone()
        };
        assert_eq!(
            udp.check_dark(),
            Err(NotDark::Udp {
                table: "udp",
                inode: 3
            })
        );
        assert_eq!(SocketCensus::default().check_dark(), Err(NotDark::NoTcp));
    }

    #[test]
    fn a_listener_in_this_process_is_seen() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let census = SocketCensus::of(std::process::id()).unwrap();
        assert!(!census.tcp_listening.is_empty(), "{census:?}");
        assert!(!census.tcp.is_empty(), "{census:?}");
        assert!(matches!(
            check_process_dark(std::process::id()),
            Err(NotDark::Listening { .. })
        ));
        drop((client, listener));
    }
}
