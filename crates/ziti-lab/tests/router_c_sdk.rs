//! The lab router against the real OpenZiti C SDK (PyPI openziti 0.6.0 = libziti 0.29.3), a
//! peer nobody here wrote: one C SDK process hosts a service (legacy hosting mode: the host
//! picks conn ids), another dials it, and data goes both ways through the router, with and
//! without end-to-end encryption, to plain and addressable terminators.

#[path = "support/router_lab.rs"]
mod router_lab;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use router_lab::{support_file, TestLab};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout};
use ziti_lab::test_support::peers::peer_python;

/// Debugging knobs: `ROUTER_TEST_ZITI_LOG` sets the C SDK log level of the peers (default 3,
/// 6 = trace) and `ROUTER_TEST_TAIL` how many stderr lines a failure shows (default 40).
fn debug_knob(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Longest any peer step may take (loading a context is ~0.5 s; dials time out after 10 s).
const PEER_STEP: Duration = Duration::from_secs(40);

/// One C SDK process; killed when dropped.
struct Peer {
    name: String,
    child: Child,
    lines: tokio::io::Lines<BufReader<ChildStdout>>,
    seen: Vec<serde_json::Value>,
    stderr_path: PathBuf,
}

impl Peer {
    fn spawn(name: &str, dir: &Path, args: &[&str]) -> Peer {
        let stderr_path = dir.join(format!("{name}.stderr"));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = tokio::process::Command::new(peer_python())
            .arg(support_file("router_c_sdk_peer.py"))
            .args(args)
            .env("ZITI_LOG", debug_knob("ROUTER_TEST_ZITI_LOG", "3"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .expect("cannot start the peer Python");
        let stdout = child.stdout.take().unwrap();
        Peer {
            name: name.to_owned(),
            child,
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
            stderr_path,
        }
    }

    fn diagnostics(&mut self) -> String {
        let status = self.child.try_wait();
        let stderr = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let tail: String = stderr
            .lines()
            .rev()
            .take(debug_knob("ROUTER_TEST_TAIL", "40").parse().unwrap_or(40))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        format!(
            "peer {} ({status:?}): steps {:?}\n--- stderr (tail) ---\n{tail}",
            self.name, self.seen
        )
    }

    /// Reads steps until `step` (returned); panics on EOF, an `error` step or the time limit.
    async fn wait_step(&mut self, step: &str) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + PEER_STEP;
        loop {
            let line = match tokio::time::timeout_at(deadline, self.lines.next_line()).await {
                Err(_) => panic!("no {step:?} within {PEER_STEP:?}; {}", self.diagnostics()),
                Ok(Err(e)) => panic!("reading peer output: {e}; {}", self.diagnostics()),
                Ok(Ok(None)) => panic!("peer exited before {step:?}; {}", self.diagnostics()),
                Ok(Ok(Some(line))) => line,
            };
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            self.seen.push(value.clone());
            if value["step"] == step {
                return value;
            }
            if value["step"] == "error" {
                panic!("peer failed before {step:?}; {}", self.diagnostics());
            }
        }
    }

    /// Waits for the process to end; returns whether it exited with status 0.
    async fn exit_ok(&mut self) -> bool {
        match tokio::time::timeout(PEER_STEP, self.child.wait()).await {
            Ok(Ok(status)) => status.success(),
            _ => panic!("peer did not exit; {}", self.diagnostics()),
        }
    }

    /// Asserts the process is still running and reported nothing more for `wait`.
    async fn expect_quiet(&mut self, wait: Duration) {
        if let Ok(Ok(Some(line))) = tokio::time::timeout(wait, self.lines.next_line()).await {
            panic!("expected no output, got {line}; {}", self.diagnostics());
        }
        assert!(self.child.try_wait().unwrap().is_none(), "peer exited");
    }
}

fn identity_file(lab: &TestLab, name: &str) -> String {
    let path = lab.dir.path().join(format!("{name}.json"));
    lab.lab.issue_identity_file(name, &path).unwrap();
    path.to_str().unwrap().to_owned()
}

async fn host(
    lab: &TestLab,
    identity: &str,
    service: &str,
    tag: &str,
    conns: u32,
    terminator: Option<&str>,
) -> Peer {
    let id = identity_file(lab, identity);
    let conns = conns.to_string();
    let mut args = vec!["host", id.as_str(), service, tag, conns.as_str()];
    args.extend(terminator);
    let mut peer = Peer::spawn(&format!("host-{tag}"), lab.dir.path(), &args);
    peer.wait_step("listening").await;
    peer
}

fn dial(
    lab: &TestLab,
    identity: &str,
    service: &str,
    size: usize,
    terminator: Option<&str>,
) -> Peer {
    let id = identity_file(lab, identity);
    let size = size.to_string();
    let mut args = vec!["dial", id.as_str(), service, size.as_str()];
    args.extend(terminator);
    Peer::spawn(
        &format!("dial-{service}-{}", terminator.unwrap_or("any")),
        lab.dir.path(),
        &args,
    )
}

async fn exchange(
    lab: &TestLab,
    host_peer: &mut Peer,
    service: &str,
    size: usize,
    terminator: Option<&str>,
) -> serde_json::Value {
    let mut dialer = dial(lab, "dialer", service, size, terminator);
    let answered = dialer.wait_step("answered").await;
    assert_eq!(
        answered["echo_ok"],
        true,
        "{}\n{}",
        dialer.diagnostics(),
        host_peer.diagnostics()
    );
    assert_eq!(answered["caller"], "dialer", "{answered}");
    assert!(dialer.exit_ok().await, "{}", dialer.diagnostics());
    let served = host_peer.wait_step("served").await;
    assert_eq!(served["caller"], "dialer", "{served}");
    assert_eq!(served["bytes"], size + 1, "{served}");
    assert_eq!(served["dialer_closed"], true, "{served}");
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_sdk_host_and_dialer_exchange_data_with_and_without_encryption() {
    let lab = TestLab::start().await;
    for (service, size) in [("plain", 150_000), ("secret", 150_000)] {
        let tag = format!("A-{service}");
        let mut h = host(&lab, "host-a", service, &tag, 1, None).await;
        let answered = exchange(&lab, &mut h, service, size, None).await;
        assert_eq!(answered["tag"], tag.as_str());
        assert!(h.exit_ok().await, "{}", h.diagnostics());
    }
    lab.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_sdk_dial_without_dial_policy_is_refused() {
    let lab = TestLab::start().await;
    let mut h = host(&lab, "host-a", "plain", "A", 1, None).await;
    // host-b may only Bind "plain": the C SDK lists the service but gets no Dial session.
    let mut refused = dial(&lab, "host-b", "plain", 10, None);
    let failed = refused.wait_step("dial-failed").await;
    assert!(!refused.exit_ok().await);
    assert!(failed["rc"] != 0, "{failed}");
    h.expect_quiet(Duration::from_millis(500)).await;
    // The host still serves a permitted dialer.
    exchange(&lab, &mut h, "plain", 1000, None).await;
    lab.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_sdk_dial_reaches_the_addressed_terminator() {
    let lab = TestLab::start().await;
    let mut alpha = host(&lab, "host-a", "plain", "alpha-host", 1, Some("alpha")).await;
    let mut beta = host(&lab, "host-b", "plain", "beta-host", 1, Some("beta")).await;
    let answered = exchange(&lab, &mut beta, "plain", 5000, Some("beta")).await;
    assert_eq!(answered["tag"], "beta-host");
    alpha.expect_quiet(Duration::from_millis(200)).await;
    let answered = exchange(&lab, &mut alpha, "plain", 5000, Some("alpha")).await;
    assert_eq!(answered["tag"], "alpha-host");
    assert!(alpha.exit_ok().await && beta.exit_ok().await);
    lab.running.shutdown().await;
}
