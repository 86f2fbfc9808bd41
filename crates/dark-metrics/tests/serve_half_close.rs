//! A scraper that half-closes its connection right after the request (as nc-style clients
//! and `darkscrape dial` do) still gets the answer of a slow collection.

use std::time::Duration;

use dark_metrics::exposition::{MetricFamily, MetricType};
use dark_metrics::serve::{collector_fn, MetricsServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn answer_arrives_after_the_client_half_closes() {
    let slow = collector_fn("slow", |_deadline| async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(vec![MetricFamily::new(
            "slow_value",
            "A slow collection.",
            MetricType::Gauge,
        )
        .with_sample(Vec::new(), 7.0)])
    });
    let server = MetricsServer::builder().collector(slow).build().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(async move {
        server
            .serve(rx, async {
                let _ = stop_rx.await;
            })
            .await
    });

    let (mut client, server_side) = tokio::io::duplex(64 * 1024);
    tx.send(server_side).await.unwrap();
    client
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: svc\r\n\r\n")
        .await
        .unwrap();
    client.shutdown().await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answer))
        .await
        .expect("answer within 10 s")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    assert!(answer.contains("\nslow_value 7\n"), "{answer}");

    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("server stops")
        .unwrap();
}
