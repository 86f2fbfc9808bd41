//! Shared fixture of the reflectz lab tests: an in-process lab (controller + edge router on
//! loopback) with a reflectz host identity, a scraper identity, the echo and metrics
//! services and their policies; plus HTTP over any stream. The lab itself and the peer-tool
//! lookup live in the `testbed` crate. Included with `#[path]`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::Empty;
use testbed::http::send_on;
use testbed::lab::{group_config, ServiceGroup, TestLab};
use tokio::io::{AsyncRead, AsyncWrite};
use ziti_lab::LabConfig;

/// The echo service.
pub const ECHO: &str = "reflect.svc";
/// The metrics service.
pub const METRICS: &str = "reflect.scrape.svc";
/// The custom exporter example's service.
pub const DEMO: &str = "demo.metrics.svc";
/// The identity hosting both.
pub const HOST: &str = "reflect.host";
/// The identity dialing both.
pub const SCRAPER: &str = "reflect.scraper";

fn config() -> LabConfig {
    group_config(&ServiceGroup {
        service_role: "reflect",
        services: &[(ECHO, false), (METRICS, false), (DEMO, false)],
        identities: &[(HOST, "reflect-hosts"), (SCRAPER, "reflect-clients")],
        binders: "reflect-hosts",
        dialers: "reflect-clients",
    })
}

/// A running lab with this fixture's identities, services and policies.
pub async fn start_lab() -> TestLab {
    TestLab::start_with(config()).await
}

/// One HTTP/1.1 GET on `io`: status, content type and body.
pub async fn http_get<Io>(io: Io, path: &str, accept: &str) -> (u16, String, String)
where
    Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let request = http::Request::get(path)
        .header("host", "reflectz")
        .header("accept", accept)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = send_on(io, request).await;
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (
        response.status().as_u16(),
        content_type,
        String::from_utf8_lossy(response.body()).into_owned(),
    )
}

/// The value of the sample line starting with `series` + space.
pub fn sample_value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A file under tests/support.
pub fn support_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name)
}
