//! netclass from rtnetlink against netclass from sysfs, in a network namespace this test
//! builds (tests/fixtures/netlink/make-netns.sh: a bridge port that is promiscuous because
//! the bridge holds it, a user-promiscuous interface with an alias, a down macvlan on a
//! veth). `ip netns exec` mounts the namespace's own sysfs, so both sources describe the
//! same interfaces and must print the same families. Needs root and iproute2, which the
//! test command has.

use std::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_darkscrape-node-exporter");
const MAKE_NETNS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/netlink/make-netns.sh"
);

/// Deletes the namespace when the test ends, passed or not.
struct Namespace(String);

impl Namespace {
    fn create() -> Namespace {
        let name = format!("darkscrape-netclass-{}", std::process::id());
        let status = Command::new("bash")
            .args([MAKE_NETNS, &name])
            .status()
            .expect("bash runs");
        assert!(
            status.success(),
            "{MAKE_NETNS} {name} failed: this test needs root and iproute2"
        );
        Namespace(name)
    }

    /// One `--once` scrape of the netclass collector inside the namespace, without the
    /// scrape's own timing lines.
    fn scrape(&self, source_flag: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0, BINARY, "--once"])
            .args(["--collector.disable-defaults", "--collector.netclass"])
            .arg(source_flag)
            .output()
            .expect("ip runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{source_flag}: {stderr}");
        let text = String::from_utf8(out.stdout).expect("UTF-8 exposition");
        assert!(
            text.contains("node_scrape_collector_success{collector=\"netclass\"} 1"),
            "{source_flag}: netclass failed:\n{text}\n{stderr}"
        );
        text.lines()
            .filter(|l| !l.contains("node_scrape_collector_duration_seconds"))
            .map(|l| format!("{l}\n"))
            .collect()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn netlink_and_sysfs_print_the_same_families_in_a_namespace() {
    let ns = Namespace::create();
    let netlink = ns.scrape("--collector.netclass.netlink");
    let sysfs = ns.scrape("--no-collector.netclass.netlink");
    let only_in = |a: &str, b: &str| -> Vec<String> {
        a.lines()
            .filter(|l| !b.lines().any(|m| m == *l))
            .map(str::to_string)
            .collect()
    };
    assert!(
        netlink == sysfs,
        "netlink only: {:#?}\nsysfs only: {:#?}",
        only_in(&netlink, &sysfs),
        only_in(&sysfs, &netlink)
    );

    // The cases that differ in form between the two sources are there.
    for line in [
        // Bridge port: PROMISC and ALLMULTI held by the bridge (0x1303).
        "node_network_flags{device=\"veth1\"} 4867",
        // User-promiscuous ifb (0x183) with its alias.
        "node_network_flags{device=\"ifb7\"} 387",
        "node_network_net_dev_group{device=\"ifb7\"} 3",
        "node_network_transmit_queue_length{device=\"ifb7\"} 500",
        "node_network_mtu_bytes{device=\"ifb7\"} 9000",
        "ifalias=\"uplink to rack 7\"",
        "node_network_up{device=\"mv0\"} 0",
        "address=\"02:00:00:00:00:0b\",broadcast=\"ff:ff:ff:ff:ff:ff\"",
    ] {
        assert!(netlink.contains(line), "{line} missing from:\n{netlink}");
    }
    // Down: no carrier (sysfs refuses it), and iflink names the veth it sits on.
    assert!(!netlink.contains("node_network_carrier{device=\"mv0\"}"));
    let index_of = |dev: &str| {
        let prefix = format!("node_network_iface_id{{device=\"{dev}\"}} ");
        netlink
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no iface_id for {dev}"))
            .to_string()
    };
    assert!(netlink.contains(&format!(
        "node_network_iface_link{{device=\"mv0\"}} {}",
        index_of("veth0")
    )));
}
