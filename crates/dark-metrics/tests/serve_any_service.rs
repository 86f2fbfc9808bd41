//! `serve_connections` with a service of the caller's own (not the metrics service) on a
//! dark listener: HTTP/1.1 with keep-alive over the overlay, then a graceful shutdown that
//! closes the idle kept-alive connection.

mod serve_common;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use dark_listener::context::DialOptions;
use dark_listener::listener::BindOptions;
use dark_metrics::serve::{serve_connections, ConnectionLimits};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serve_common::lab::{start_lab, HOST, SCRAPER, SERVICE};

/// Answers `<method> <path> #<n>` where n counts requests served.
#[derive(Clone)]
struct Counter(Arc<AtomicUsize>);

impl tower::Service<http::Request<Incoming>> for Counter {
    type Response = http::Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Incoming>) -> Self::Future {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        Box::pin(async move {
            let text = format!("{} {} #{n}", req.method(), req.uri().path());
            Ok(http::Response::new(Full::new(Bytes::from(text))))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_tower_service_keeps_alive_over_the_overlay_and_drains() {
    let lab = start_lab().await;
    let host = lab.context(HOST).await;
    let listener = host.bind(SERVICE, BindOptions::default()).await.unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_connections(
        listener,
        Counter(Arc::new(AtomicUsize::new(0))),
        ConnectionLimits::default(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let dialer = lab.context(SCRAPER).await;
    let stream = dialer.dial(SERVICE, DialOptions::default()).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let client_conn = tokio::spawn(conn);
    // Three requests on one connection: keep-alive works over a DarkStream.
    for (i, path) in ["/metrics", "/a", "/b"].iter().enumerate() {
        let req = http::Request::get(*path)
            .header("host", SERVICE)
            .body(Full::new(Bytes::new()))
            .unwrap();
        sender.ready().await.expect("connection not kept alive");
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, format!("GET {path} #{}", i + 1));
    }
    // Shutdown: the server stops accepting and closes the idle keep-alive connection.
    stop_tx.send(()).unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(15), server)
        .await
        .expect("serve_connections did not stop")
        .unwrap();
    assert_eq!(summary.connections, 1);
    assert!(summary.drained);
    tokio::time::timeout(Duration::from_secs(10), client_conn)
        .await
        .expect("client connection not closed by the graceful shutdown")
        .unwrap()
        .unwrap();
    dialer.shutdown(Duration::from_secs(5)).await;
    host.shutdown(Duration::from_secs(5)).await;
    lab.stop().await;
}
