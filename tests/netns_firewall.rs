//! A dark host that no one can reach: reflectz and the node exporter run inside a network
//! namespace whose nftables firewall drops every inbound connection, and are still echoed and
//! scraped over the overlay from outside.
//!
//! The test builds the namespace (a veth pair on a private /30, its host end carrying the
//! lab's controller and router), starts a plain TCP listener inside and connects to it from
//! outside before and after the firewall rule: the connect that worked before must fail
//! after, which shows the rule is in force (and that this test would catch a dark binary
//! needing inbound traffic). Then `darkscrape reflectz` and `darkscrape node-exporter` run in
//! the namespace with `ip netns exec`, dial out to the lab, and a Rust scraper outside dials
//! them through the lab. The node exporter must report the namespace's veth, not the host's,
//! which shows it really runs inside, and neither may hold a listening socket.
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables); scripts/install-test-deps.sh installs
//! both and CI runs as root. Without root it fails and says so.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use dark_listener::context::DialOptions;
use dark_metrics::exposition::MetricFamily;
use dark_metrics::scrape::{scrape, ScrapeRequest};
use testbed::lab::{addressed, dial_when_bound, group_config, ServiceGroup, TestLab};
use testbed::process::stop_cleanly;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Child;

const ECHO: &str = "fw.echo";
const REFLECT_METRICS: &str = "fw.echo.metrics";
const NODE: &str = "fw.node.metrics";
const REFLECTZ: &str = "fw.reflectz";
const NODE_HOST: &str = "fw.node";
const SCRAPER: &str = "fw.scraper";

/// How long a TCP connect from outside may take before it counts as dropped.
const CONNECT_LIMIT: Duration = Duration::from_secs(3);

/// Runs `program args`, panicking with its stderr and `hint` when it fails.
fn run(program: &str, args: &[&str], hint: &str) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}; {hint}"));
    assert!(
        out.status.success(),
        "{program} {} failed ({}): {}; {hint}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Fails (not skips) without root: CI runs as root, and a skipped test proves nothing.
fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .expect("an effective uid in /proc/self/status");
    assert_eq!(
        euid, "0",
        "netns_firewall needs root: it creates a network namespace, a veth pair and nftables \
         rules. Run it as root (as CI does), e.g. `sudo -E cargo test --test netns_firewall`"
    );
}

/// A namespace joined to the host by a veth pair on a /30; deleted on drop, passed or not.
struct Namespace {
    name: String,
    host_veth: String,
    ns_veth: String,
    host_addr: Ipv4Addr,
    ns_addr: Ipv4Addr,
}

impl Namespace {
    fn create() -> Namespace {
        const HINT: &str = "this test needs root and iproute2 (scripts/install-test-deps.sh)";
        let pid = std::process::id();
        // A /30 of 10.231.0.0/16 picked by the pid, so parallel runs do not collide.
        let slot = pid % 16_384;
        let base = [10, 231, (slot / 64) as u8, ((slot % 64) * 4) as u8];
        let ns = Namespace {
            name: format!("dsfw-{pid}"),
            host_veth: format!("dsfwh{pid}"),
            ns_veth: format!("dsfwn{pid}"),
            host_addr: Ipv4Addr::new(base[0], base[1], base[2], base[3] + 1),
            ns_addr: Ipv4Addr::new(base[0], base[1], base[2], base[3] + 2),
        };
        run("ip", &["netns", "add", &ns.name], HINT);
        // From here on, dropping `ns` cleans up whatever exists.
        let (host_cidr, ns_cidr) = (format!("{}/30", ns.host_addr), format!("{}/30", ns.ns_addr));
        for args in [
            vec![
                "link",
                "add",
                &ns.host_veth,
                "type",
                "veth",
                "peer",
                "name",
                &ns.ns_veth,
            ],
            vec!["link", "set", &ns.ns_veth, "netns", &ns.name],
            vec!["addr", "add", &host_cidr, "dev", &ns.host_veth],
            vec!["link", "set", &ns.host_veth, "up"],
            vec!["-n", &ns.name, "addr", "add", &ns_cidr, "dev", &ns.ns_veth],
            vec!["-n", &ns.name, "link", "set", &ns.ns_veth, "up"],
            vec!["-n", &ns.name, "link", "set", "lo", "up"],
        ] {
            run("ip", &args, HINT);
        }
        ns
    }

    /// Drops every inbound connection the namespace did not open itself (loopback allowed).
    fn drop_inbound_connections(&self) {
        let ruleset = "table inet darkscrape_fw {\n\
             \tchain input {\n\
             \t\ttype filter hook input priority 0; policy drop;\n\
             \t\tct state established,related accept\n\
             \t\tiif lo accept\n\
             \t}\n\
             }\n";
        let path = std::env::temp_dir().join(format!("{}.nft", self.name));
        std::fs::write(&path, ruleset).unwrap();
        let path = path.to_str().unwrap();
        run(
            "ip",
            &["netns", "exec", &self.name, "nft", "-f", path],
            "this test needs nftables (`nft`, scripts/install-test-deps.sh)",
        );
        let _ = std::fs::remove_file(path);
    }

    /// `program` run inside the namespace, its stderr in `log`, killed if dropped.
    fn spawn(&self, program: &Path, args: &[&str], stdout: Stdio, log: &Path) -> Child {
        tokio::process::Command::new("ip")
            .args(["netns", "exec", &self.name])
            .arg(program)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(std::fs::File::create(log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("ip netns exec starts")
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Deleting the namespace destroys its veth end and with it the host end; the second
        // command covers a veth created before it was moved into the namespace.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_veth])
            .stderr(Stdio::null())
            .status();
    }
}

/// A plain TCP listener inside the namespace (python3 via `ip netns exec`) that greets every
/// connection with "open"; returns it and its port.
async fn plain_listener(ns: &Namespace, log: &Path) -> (Child, u16) {
    const SERVER: &str = "import socket, sys\n\
        s = socket.socket()\n\
        s.bind((sys.argv[1], 0))\n\
        s.listen(16)\n\
        print(s.getsockname()[1], flush=True)\n\
        while True:\n\
        \x20   c, _ = s.accept()\n\
        \x20   c.sendall(b'open\\n')\n\
        \x20   c.close()\n";
    let ns_addr = ns.ns_addr.to_string();
    let mut child = ns.spawn(
        Path::new("python3"),
        &["-c", SERVER, ns_addr.as_str()],
        Stdio::piped(),
        log,
    );
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(10), stdout.read_line(&mut line))
        .await
        .expect("the listener in the namespace printed no port within 10 s")
        .unwrap();
    let port = line.trim().parse().unwrap_or_else(|_| {
        panic!(
            "the listener printed {line:?}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        )
    });
    (child, port)
}

/// A TCP connect from outside to `addr` and the greeting it reads, bounded by [`CONNECT_LIMIT`].
async fn greeting_from(addr: SocketAddr) -> Result<String, String> {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let mut text = String::new();
        stream.read_to_string(&mut text).await?;
        Ok::<_, std::io::Error>(text)
    };
    match tokio::time::timeout(CONNECT_LIMIT, attempt).await {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CONNECT_LIMIT:?}")),
    }
}

fn family<'a>(families: &'a [MetricFamily], name: &str) -> &'a MetricFamily {
    families
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("{name} not served"))
}

fn devices(families: &[MetricFamily], name: &str) -> Vec<String> {
    family(families, name)
        .samples
        .iter()
        .flat_map(|s| &s.labels)
        .filter(|(k, _)| k == "device")
        .map(|(_, v)| v.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflectz_and_the_node_exporter_behind_a_closed_firewall_are_scraped_over_the_overlay() {
    require_root();
    let ns = Namespace::create();

    // The lab on the host end of the veth, with a PKI naming that address.
    let mut config = group_config(&ServiceGroup {
        service_role: "fw",
        services: &[(ECHO, false), (REFLECT_METRICS, false), (NODE, true)],
        identities: &[
            (REFLECTZ, "fw-hosts"),
            (NODE_HOST, "fw-hosts"),
            (SCRAPER, "fw-scrapers"),
        ],
        binders: "fw-hosts",
        dialers: "fw-scrapers",
    });
    config.controller.address = SocketAddr::from((ns.host_addr, 0));
    config.router.address = SocketAddr::from((ns.host_addr, 0));
    let lab = TestLab::start_with_own_pki(config).await;
    let logs = lab.dir.path();

    // The firewall: a listener inside is reachable from outside until the rule is in place.
    let (_listener, port) = plain_listener(&ns, &logs.join("listener.log")).await;
    let inside = SocketAddr::from((ns.ns_addr, port));
    assert_eq!(
        greeting_from(inside).await.as_deref(),
        Ok("open\n"),
        "the namespace's listener is not reachable even without the firewall: the veth \
         setup is broken"
    );
    ns.drop_inbound_connections();
    let blocked = greeting_from(inside).await;
    assert!(
        blocked.is_err(),
        "a TCP connection into the namespace got through the firewall: {blocked:?}"
    );

    // The dark workloads inside dial out through the firewall.
    let darkscrape = Path::new(env!("CARGO_BIN_EXE_darkscrape"));
    let reflectz_identity = lab.identity_file(REFLECTZ);
    let reflectz_log = logs.join("reflectz.log");
    let reflectz = ns.spawn(
        darkscrape,
        &[
            "reflectz",
            "--identity",
            reflectz_identity.to_str().unwrap(),
            "--service",
            ECHO,
            "--metrics-service",
            REFLECT_METRICS,
        ],
        Stdio::null(),
        &reflectz_log,
    );
    let node_identity = lab.identity_file(NODE_HOST);
    let node_log = logs.join("node-exporter.log");
    let node = ns.spawn(
        darkscrape,
        &[
            "node-exporter",
            "--identity",
            node_identity.to_str().unwrap(),
            "--service",
            NODE,
        ],
        Stdio::null(),
        &node_log,
    );

    let scraper = lab.context(SCRAPER).await;

    // Echo.
    let mut echo = dial_when_bound(&scraper, ECHO, DialOptions::default(), 150).await;
    echo.write_all(b"hello through the firewall\n")
        .await
        .unwrap();
    let mut reply = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(&mut echo).read_line(&mut reply),
    )
    .await
    .expect("no echo within 10 s")
    .unwrap();
    assert_eq!(reply, "you sent me: hello through the firewall\n");
    drop(echo);

    // reflectz's metrics, addressed by its identity.
    let stream = dial_when_bound(&scraper, REFLECT_METRICS, addressed(REFLECTZ), 150).await;
    let served = scrape(stream, &ScrapeRequest::new(REFLECT_METRICS, "/metrics"))
        .await
        .unwrap_or_else(|e| panic!("scraping reflectz: {e}"));
    let lines = family(&served.families, "reflect_lines_total");
    assert!(
        lines.samples.iter().any(|s| s.value >= 1.0),
        "reflectz counted no echoed line: {lines:?}"
    );

    // The node exporter (over an encrypted service), and it describes the namespace.
    let stream = dial_when_bound(&scraper, NODE, DialOptions::default(), 150).await;
    assert!(stream.is_encrypted());
    let mut request = ScrapeRequest::new(NODE, "/metrics");
    request.accept = "*/*".to_string();
    let served = scrape(stream, &request)
        .await
        .unwrap_or_else(|e| panic!("scraping the node exporter: {e}"));
    family(&served.families, "node_load1");
    let seen = devices(&served.families, "node_network_receive_bytes_total");
    assert!(
        seen.contains(&ns.ns_veth) && !seen.contains(&ns.host_veth),
        "the node exporter does not see the namespace's interfaces ({} inside, {} outside): \
         it saw {seen:?}",
        ns.ns_veth,
        ns.host_veth
    );

    // Neither holds a listening socket (their /proc tables are the namespace's), still
    // nothing gets in, and both workloads stop cleanly.
    for (what, child) in [("reflectz", &reflectz), ("the node exporter", &node)] {
        ziti_lab::sockets::check_process_dark(child.id().expect("still running"))
            .unwrap_or_else(|not_dark| panic!("{what} in the namespace: {not_dark}"));
    }
    assert!(greeting_from(inside).await.is_err());
    stop_cleanly(reflectz, "-TERM", &reflectz_log).await;
    stop_cleanly(node, "-TERM", &node_log).await;
    scraper.shutdown(Duration::from_secs(5)).await;
    lab.stop().await;
}
