//! Shared helpers of the serving tests: an in-memory connection source and a minimal
//! HTTP/1.1 client over any stream.
#![allow(dead_code)]

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use dark_metrics::serve::{MetricsServer, ServeSummary};
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// A server running on in-memory connections.
pub struct InMemoryServer {
    connect: mpsc::Sender<DuplexStream>,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<ServeSummary>,
}

impl InMemoryServer {
    pub fn start(server: MetricsServer) -> Self {
        let (connect, accept) = mpsc::channel::<DuplexStream>(16);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .serve(accept, async {
                    let _ = stopped.await;
                })
                .await
        });
        InMemoryServer {
            connect,
            stop: Some(stop),
            task,
        }
    }

    /// A new connection to the server (fails once the server stopped accepting).
    pub async fn connect(&self) -> Option<DuplexStream> {
        let (client, server) = tokio::io::duplex(256 * 1024);
        self.connect.send(server).await.ok()?;
        Some(client)
    }

    /// Sends one request on a new connection and returns the response with its body.
    pub async fn send(&self, request: Request<Empty<Bytes>>) -> Response<Bytes> {
        let io = self.connect().await.expect("server accepts connections");
        send_on(io, request).await
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response<Bytes> {
        self.send(request("GET", path, headers)).await
    }

    pub async fn shutdown(mut self) -> ServeSummary {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("serve loop ends after shutdown")
            .expect("serve task does not panic")
    }

    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Request<Empty<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "target");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Empty::new()).unwrap()
}

/// Sends one request on `io` with hyper's HTTP/1.1 client.
pub async fn send_on<Io>(io: Io, request: Request<Empty<Bytes>>) -> Response<Bytes>
where
    Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .expect("HTTP handshake");
    let driver = tokio::spawn(connection);
    let response = tokio::time::timeout(Duration::from_secs(20), sender.send_request(request))
        .await
        .expect("response within 20 s")
        .expect("response");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    drop(sender);
    driver.abort();
    Response::from_parts(parts, body)
}

pub fn header<'a>(response: &'a Response<Bytes>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

pub fn text(response: &Response<Bytes>) -> String {
    String::from_utf8(response.body().to_vec()).expect("UTF-8 body")
}

pub fn gunzip(body: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(body)
        .read_to_string(&mut out)
        .expect("valid gzip");
    out
}

/// The value of the sample line starting with `series` + space.
pub fn sample_value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|v| v.parse().ok())
}
