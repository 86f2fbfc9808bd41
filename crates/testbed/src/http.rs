//! One HTTP/1.1 request on any byte stream (an overlay stream, a pipe, TCP), with hyper's
//! client, bounded in time: how tests talk to the servers they start.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// Sends `request` on `io` and reads the whole response; panics when there is no response
/// within 20 s.
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
