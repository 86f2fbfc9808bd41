//! Running the Go SDK peer (`tests/peers/go-peer`, on sdk-golang as pinned in its go.mod) from
//! tests and benchmarks: a hosting child process that is known to listen, and one dialer run
//! whose JSON lines are collected. The program's modes and output are described in its
//! `main.go`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::peers::go_peer;

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(go_peer());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// `go-peer host` or `go-peer metrics`, started and past its `listening` line. Its
/// terminators follow within moments: retry the first dial. Killed on drop.
pub struct GoHost {
    child: Child,
    drain: tokio::task::JoinHandle<()>,
}

impl GoHost {
    /// Starts `go-peer MODE [FLAGS] IDENTITY SERVICE` (flags first: Go's flag package stops
    /// at the first positional argument) and waits up to 60 s for it to listen; panics with
    /// the peer's stderr when it does not.
    pub async fn start(mode: &str, flags: &[&str], identity: &Path, service: &str) -> Self {
        let identity = identity.to_str().expect("identity path is UTF-8");
        let mut args = vec![mode];
        args.extend_from_slice(flags);
        args.extend([identity, service]);
        let mut child = command(&args)
            .spawn()
            .expect("cannot start the Go SDK peer");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let listening = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = stdout.next_line().await {
                if line.contains("\"listening\"") {
                    return true;
                }
            }
            false
        })
        .await;
        if listening != Ok(true) {
            let _ = child.start_kill();
            let out = child.wait_with_output().await;
            let stderr = out
                .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                .unwrap_or_default();
            panic!("the Go SDK peer did not listen on {service} within 60 s: {stderr}");
        }
        // Keep draining stdout so the peer never blocks on a full pipe.
        let drain =
            tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        GoHost { child, drain }
    }

    /// Kills the peer and waits for it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.drain.abort();
    }
}

/// What one `go-peer dial` run printed.
#[derive(Debug)]
pub struct GoDialRun {
    /// The `echoed` lines, one per size, in order.
    pub echoed: Vec<serde_json::Value>,
    /// The peer's stdout.
    pub stdout: String,
    /// The peer's stderr.
    pub stderr: String,
    /// Whether the peer exited with status 0 (every echo exact).
    pub success: bool,
}

impl GoDialRun {
    /// Panics unless every size in `sizes` was echoed back exactly and the peer succeeded.
    pub fn assert_exact(&self, sizes: &[usize], service: &str) {
        assert_eq!(
            self.echoed.len(),
            sizes.len(),
            "Go SDK dialer on {service}: {}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
        for (line, size) in self.echoed.iter().zip(sizes) {
            assert_eq!(line["size"], *size as u64, "{line}");
            assert_eq!(line["received"], *size as u64, "{line}\n{}", self.stderr);
            assert_eq!(line["ok"], true, "{line}\n{}", self.stderr);
        }
        assert!(self.success, "{}\n{}", self.stdout, self.stderr);
    }

    /// `(dial_ms, transfer_ms)` of every echo.
    pub fn timings_ms(&self) -> Vec<(f64, f64)> {
        self.echoed
            .iter()
            .map(|l| {
                (
                    l["dial_ms"].as_f64().unwrap_or(f64::NAN),
                    l["transfer_ms"].as_f64().unwrap_or(f64::NAN),
                )
            })
            .collect()
    }
}

/// Starts `go-peer pipe IDENTITY SERVICE` (one connection: stdin to it, it to stdout) with
/// stdin, stdout and stderr piped. Killed on drop.
pub fn spawn_pipe(identity: &Path, service: &str) -> Child {
    let identity = identity.to_str().expect("identity path is UTF-8");
    command(&["pipe", identity, service])
        .stdin(Stdio::piped())
        .spawn()
        .expect("cannot start the Go SDK peer")
}

/// Runs `go-peer dial [FLAGS] IDENTITY SERVICE SIZES…` to the end (at most `timeout`, then
/// panics).
pub async fn go_dial(
    flags: &[&str],
    identity: &Path,
    service: &str,
    sizes: &[usize],
    timeout: Duration,
) -> GoDialRun {
    let identity = identity.to_str().expect("identity path is UTF-8");
    let sizes_text: Vec<String> = sizes.iter().map(usize::to_string).collect();
    let mut args = vec!["dial"];
    args.extend_from_slice(flags);
    args.extend([identity, service]);
    args.extend(sizes_text.iter().map(String::as_str));
    let child = command(&args)
        .spawn()
        .expect("cannot start the Go SDK peer");
    let out = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the Go SDK dialer on {service} did not finish in {timeout:?}"))
        .expect("waiting for the Go SDK dialer");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let echoed = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["step"] == "echoed")
        .collect();
    GoDialRun {
        echoed,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        stdout,
        success: out.status.success(),
    }
}
