//! Shared helpers of the serving tests: a server reached over in-memory streams or over the
//! in-process lab, and a minimal HTTP/1.1 client over any stream.
#![allow(dead_code)]

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use dark_listener::context::{Context, DialOptions};
use dark_listener::listener::BindOptions;
use dark_metrics::serve::{MetricsServer, ServeSummary};
use http::{Request, Response};
use http_body_util::Empty;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use testbed::http::send_on;

pub mod lab;

/// Any byte stream a test client can speak HTTP on.
pub trait ClientIo: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> ClientIo for T {}

/// How the test client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Tokio duplex streams handed to the server through a channel.
    InMemory,
    /// The overlay: the server hosts a service on an in-process lab (terminator identity =
    /// its identity name) and the client dials it addressed to that identity.
    Lab,
}

enum Connector {
    InMemory(mpsc::Sender<DuplexStream>),
    Lab(Box<LabConnector>),
}

struct LabConnector {
    dialer: Context,
    host: Context,
    lab: testbed::lab::TestLab,
}

/// A server running on `Transport`.
pub struct TestServer {
    connector: Connector,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<ServeSummary>,
}

impl TestServer {
    pub async fn start(server: MetricsServer, transport: Transport) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = async {
            let _ = stopped.await;
        };
        match transport {
            Transport::InMemory => {
                let (connect, accept) = mpsc::channel::<DuplexStream>(16);
                let task = tokio::spawn(async move { server.serve(accept, stopped).await });
                TestServer {
                    connector: Connector::InMemory(connect),
                    stop: Some(stop),
                    task,
                }
            }
            Transport::Lab => {
                let lab = lab::start_lab().await;
                let host = lab.context(lab::HOST).await;
                let options = BindOptions {
                    bind_using_edge_identity: true,
                    ..BindOptions::default()
                };
                let listener = host.bind(lab::SERVICE, options).await.expect("bind");
                let task = tokio::spawn(async move { server.serve_dark(listener, stopped).await });
                let dialer = lab.context(lab::SCRAPER).await;
                TestServer {
                    connector: Connector::Lab(Box::new(LabConnector { dialer, host, lab })),
                    stop: Some(stop),
                    task,
                }
            }
        }
    }

    /// A new connection to the server (`None` once the server stopped accepting).
    pub async fn connect(&self) -> Option<Box<dyn ClientIo>> {
        match &self.connector {
            Connector::InMemory(connect) => {
                let (client, server) = tokio::io::duplex(256 * 1024);
                connect.send(server).await.ok()?;
                Some(Box::new(client))
            }
            Connector::Lab(lab) => {
                let options = DialOptions {
                    terminator_identity: Some(lab::HOST.to_string()),
                    timeout: Duration::from_secs(5),
                    ..DialOptions::default()
                };
                let stream = lab.dialer.dial(lab::SERVICE, options).await.ok()?;
                Some(Box::new(stream))
            }
        }
    }

    /// Sends one request on a new connection and returns the response with its body.
    pub async fn send(&self, request: Request<Empty<Bytes>>) -> Response<Bytes> {
        let io = self.connect().await.expect("server accepts connections");
        send_on(io, request).await
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response<Bytes> {
        self.send(request("GET", path, headers)).await
    }

    /// Asks the server to stop accepting (open connections are drained).
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Stops the server, waits for its loop, and tears the lab down.
    pub async fn shutdown(mut self) -> ServeSummary {
        self.stop();
        let summary = tokio::time::timeout(Duration::from_secs(20), &mut self.task)
            .await
            .expect("serve loop ends after shutdown")
            .expect("serve task does not panic");
        self.close().await;
        summary
    }

    /// Tears the lab down (after the serve loop ended).
    pub async fn close(self) {
        if let Connector::Lab(lab) = self.connector {
            lab.dialer.shutdown(Duration::from_secs(5)).await;
            lab.host.shutdown(Duration::from_secs(5)).await;
            lab.lab.stop().await;
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
