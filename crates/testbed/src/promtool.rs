//! Running promtool on exposition bodies: its text-format linter and Prometheus' own
//! OpenMetrics parser (through `promtool tsdb create-blocks-from openmetrics`).

use std::io::Write;
use std::process::{Command, Stdio};

use crate::peers::promtool;

/// `promtool check metrics` on `body`: its exit code and its messages (stdout then stderr).
pub fn check_metrics(body: &[u8]) -> (Option<i32>, String) {
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body)
        .expect("promtool reads stdin");
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

/// The OpenMetrics `body` with a timestamp appended to every sample line (comment lines are
/// kept as they are): `create-blocks-from` needs one on every sample.
pub fn stamp_samples(body: &str) -> String {
    body.lines()
        .map(|line| {
            if line.starts_with('#') {
                format!("{line}\n")
            } else {
                format!("{line} 1700000000\n")
            }
        })
        .collect()
}

/// Prometheus' OpenMetrics parser on `body` (timestamps added by [`stamp_samples`]): whether
/// promtool accepted it, its messages, and the number of samples it reports having read.
pub fn parse_openmetrics(body: &str) -> (bool, String, usize) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("scrape.om");
    std::fs::write(&input, stamp_samples(body)).unwrap();
    let output = Command::new(promtool())
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(dir.path().join("blocks"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let samples = stdout
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(4))
        .filter_map(|n| n.parse::<usize>().ok())
        .sum();
    (
        output.status.success(),
        stdout + &String::from_utf8_lossy(&output.stderr),
        samples,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sample_lines_get_a_timestamp() {
        let stamped = stamp_samples("# TYPE a gauge\na 1\n# EOF\n");
        assert_eq!(stamped, "# TYPE a gauge\na 1 1700000000\n# EOF\n");
    }
}
