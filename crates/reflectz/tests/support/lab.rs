//! Shared fixture of the reflectz lab tests: an in-process lab (controller + edge router on
//! loopback) with a reflectz host identity, a scraper identity, the echo and metrics
//! services and their policies; plus HTTP over any stream. The lab itself and the peer-tool
//! lookup live in the `testbed` crate. Included with `#[path]`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use dark_listener::context::{Context, DialOptions};
use dark_listener::stream::DarkStream;
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

/// Dials `service` every 100 ms until the host's bind is in place, for at most `attempts`
/// tries; panics with the last error after that.
pub async fn dial_when_bound(
    ctx: &Context,
    service: &str,
    options: DialOptions,
    attempts: u32,
) -> DarkStream {
    let mut last = None;
    for _ in 0..attempts {
        match ctx.dial(service, options.clone()).await {
            Ok(stream) => return stream,
            Err(error) => last = Some(error),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot dial {service}: {last:?}");
}

/// Dial options addressing the terminator hosted by `identity`.
pub fn addressed(identity: &str) -> DialOptions {
    DialOptions {
        terminator_identity: Some(identity.to_string()),
        ..DialOptions::default()
    }
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
