//! Child processes of the tests: locating a binary built beside the running test, sending a
//! signal, and waiting (bounded) for a clean exit, with the child's log in the failure.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Child;

/// A binary built in the same target directory as the running test (`relative` to the
/// profile directory, e.g. `darkscrape` or `examples/custom_exporter`); panics saying how to
/// build it when it is missing.
pub fn built_binary(relative: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in <target>/<profile>/deps");
    let path = profile_dir.join(relative);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --bin darkscrape --example custom_exporter` \
         (scripts/test.sh builds it)",
        path.display()
    );
    path
}

/// A command for `program` with `RUST_LOG=info`, stdin and stdout null and stderr written to
/// `log` (created); its child is killed on drop.
pub fn logged_command(program: impl AsRef<std::ffi::OsStr>, log: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .kill_on_drop(true);
    command
}

/// Sends `signal` (a kill(1) option such as `-TERM` or `-INT`) to the running `child`.
pub fn send_signal(child: &Child, signal: &str) {
    let pid = child.id().expect("child still running");
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid} failed");
}

/// Waits at most `limit` for `child` to exit with status 0 and returns how long it took;
/// panics with the child's log (`log`) when it does not.
pub async fn exits_cleanly(mut child: Child, limit: Duration, log: &Path) -> Duration {
    let started = Instant::now();
    let exit = tokio::time::timeout(limit, child.wait())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "child did not exit within {limit:?}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        })
        .expect("waiting for the child");
    assert!(
        exit.success(),
        "child exited with {exit}:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    started.elapsed()
}

/// Sends `signal` to `child` and waits (at most 20 s) for a clean exit.
pub async fn stop_cleanly(child: Child, signal: &str, log: &Path) {
    send_signal(&child, signal);
    exits_cleanly(child, Duration::from_secs(20), log).await;
}

/// How many established TCP connections process `pid` holds to `port` on any address: its
/// socket inodes (`/proc/PID/fd`) matched against the rows of `/proc/net/tcp` and `tcp6`
/// whose remote port is `port`. A process that has exited holds none.
pub fn tcp_connections_to(pid: u32, port: u16) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    let inodes: std::collections::HashSet<String> = fds
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            let inode = target.strip_prefix("socket:[")?.strip_suffix(']')?;
            Some(inode.to_string())
        })
        .collect();
    let remote_port = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|row| {
            let columns: Vec<&str> = row.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            columns.len() > 9
                && columns[2].ends_with(&remote_port)
                && columns[3] == "01"
                && inodes.contains(columns[9])
        })
        .count()
}
