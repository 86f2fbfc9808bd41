//! A real Prometheus server (Debian's `prometheus`) for tests: started on a free loopback
//! port with a given configuration in a temporary directory, queried over its HTTP API, and
//! killed on drop. Its log is kept for failure messages.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use serde_json::Value;

use crate::http::send_on;
use crate::lab::free_loopback_addr;
use crate::peers::prometheus;

/// A running Prometheus.
pub struct TestPrometheus {
    child: tokio::process::Child,
    addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for TestPrometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPrometheus")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TestPrometheus {
    /// Starts Prometheus with `config` (YAML) and waits (at most 60 s) until it is ready.
    pub async fn start(config: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("darkscrape-prometheus-")
            .tempdir()
            .expect("temporary directory for Prometheus");
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        let addr = free_loopback_addr();
        let log = dir.path().join("prometheus.log");
        let child = tokio::process::Command::new(prometheus())
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("Prometheus log file"))
            .kill_on_drop(true)
            .spawn()
            .expect("prometheus starts");
        let prometheus = TestPrometheus {
            child,
            addr,
            log,
            _dir: dir,
        };
        for _ in 0..600 {
            if let Some(200) = prometheus.try_get("/-/ready").await.map(|(s, _)| s) {
                return prometheus;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("Prometheus not ready within 60 s:\n{}", prometheus.log());
    }

    /// Its process id (for CPU and memory readings).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Its HTTP address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn try_get(&self, path_and_query: &str) -> Option<(u16, Bytes)> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.ok()?;
        let request = Request::get(path_and_query)
            .header("host", self.addr.to_string())
            .body(Empty::new())
            .expect("request");
        let response = send_on(tcp, request).await;
        Some((response.status().as_u16(), response.into_body()))
    }

    /// GETs an API path and returns its JSON `data`; panics on any failure.
    pub async fn api(&self, path_and_query: &str) -> Value {
        let (status, body) = self
            .try_get(path_and_query)
            .await
            .unwrap_or_else(|| panic!("Prometheus unreachable:\n{}", self.log()));
        let json: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "{path_and_query}: not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        });
        assert_eq!(status, 200, "{path_and_query}: {json}");
        json["data"].clone()
    }

    /// The result vector of an instant query.
    pub async fn query(&self, promql: &str) -> Vec<Value> {
        let encoded: String = promql
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        match self.api(&format!("/api/v1/query?query={encoded}")).await["result"].clone() {
            Value::Array(items) => items,
            other => panic!("query {promql:?}: result is not a vector: {other}"),
        }
    }

    /// Polls `promql` every 500 ms until `done` accepts its result; panics with the last
    /// result and `context()` after `timeout`.
    pub async fn wait_for(
        &self,
        promql: &str,
        timeout: Duration,
        done: impl Fn(&[Value]) -> bool,
        context: impl Fn() -> String,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let result = self.query(promql).await;
            if done(&result) {
                return result;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "{promql:?} did not reach the expected state within {timeout:?}; last result: {}\n{}\nPrometheus log:\n{}",
                    Value::Array(result),
                    context(),
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// `metric.<label>` of one query result item.
pub fn label<'a>(item: &'a Value, name: &str) -> Option<&'a str> {
    item["metric"][name].as_str()
}

/// The sample value of one query result item.
pub fn value(item: &Value) -> Option<f64> {
    item["value"][1].as_str()?.parse().ok()
}
