//! Captures the frames the OpenZiti Go SDK (sdk-golang v1.9.0, the `tests/peers/go-peer`
//! program) sends to an edge router, as raw bytes, and writes the first frame of each kind
//! as hex: the fixture `tests/fixtures/go_sdk_v1.9.0_frames.txt` that
//! `tests/wire_captured_go_sdk.rs` checks our decoder and encoder against. Run it through
//! `tests/fixtures/capture_go_frames.sh` (which sets `DARKSCRAPE_GO_PEER`):
//!
//! ```text
//! cargo run -p dark-listener --example capture_go_frames -- OUT.txt
//! ```
//!
//! What it runs is described in `tests/fixtures/go_capture.rs`.

#[path = "../tests/fixtures/go_capture.rs"]
mod go_capture;

use std::path::PathBuf;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .expect("usage: capture_go_frames OUT.txt");
    let date = time::OffsetDateTime::now_utc().date().to_string();
    let text = go_capture::capture_fixture(&date).await;
    std::fs::write(&out, &text).expect("cannot write the fixture");
    let frames = text.lines().filter(|l| l.starts_with("# frame")).count();
    eprintln!("capture: {frames} frames written to {}", out.display());
}
