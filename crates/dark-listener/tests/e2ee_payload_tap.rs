//! End-to-end encryption hides the payload from the router: the lab router's payload tap
//! records what it relays for a circuit, and a known plaintext sent through an encrypted
//! service never appears there, while through a plain service it does (so the check can fail).
//!
//! TLS protects each hop, so a loopback capture would show no plaintext either way; the tap
//! sees what a router (or whoever runs it) sees after TLS.

#[path = "sdk_support.rs"]
mod support;

use std::time::Duration;

use dark_listener::context::DialOptions;
use dark_listener::listener::BindOptions;
use support::{assert_encrypted_iff_e2ee, config, round_trip, spawn_echo, E2EE, PLAIN};
use testbed::lab::TestLab;
use ziti_lab::router::tap::PayloadTap;
use ziti_lab::router::RouterOptions;

/// The plaintext both directions carry; long and distinctive so no ciphertext holds it by chance.
const SECRET: &[u8] = b"the-known-plaintext:darkscrape-e2ee-proof-4f1c9a0b7e2d";

/// Sends `SECRET` (three times, in one write) through `service` to an echo host on a lab whose
/// router taps payloads; returns the tap once the echo came back whole.
async fn relay_through(service: &str) -> PayloadTap {
    let tap = PayloadTap::new(64, 1 << 20);
    let options = RouterOptions {
        payload_tap: Some(tap.clone()),
        ..RouterOptions::default()
    };
    let lab = TestLab::start_with_router(config(), options).await;
    let host = lab.context("host-a").await;
    let echo = spawn_echo(
        host.bind(service, BindOptions::default()).await.unwrap(),
        "",
    );
    let dialer = lab.context("dialer").await;
    let stream = dialer.dial(service, DialOptions::default()).await.unwrap();
    assert_encrypted_iff_e2ee(&stream, service);
    let message = SECRET.repeat(3);
    let back = round_trip(stream, &message).await;
    assert_eq!(back, message, "the echo through {service} differs");
    dialer.shutdown(Duration::from_secs(5)).await;
    host.shutdown(Duration::from_secs(5)).await;
    echo.await.unwrap();
    lab.stop().await;
    tap
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_relays_ciphertext_only_on_an_encrypted_service() {
    let tap = relay_through(E2EE).await;
    // Both directions crossed the router: the message twice, plus e2ee headers and tags.
    let sent = 2 * 3 * SECRET.len() as u64;
    assert!(
        tap.total_bytes() >= sent,
        "the tap saw {} bytes, fewer than the {sent} the echo carried: it is not on the data path",
        tap.total_bytes()
    );
    assert_eq!(tap.circuits().len(), 1, "{:?}", tap.circuits());
    assert!(
        !tap.saw(SECRET),
        "the router relayed the plaintext of an encrypted service"
    );
    // Not a single 16-byte window of it either.
    for window in SECRET.windows(16) {
        assert!(
            !tap.saw(window),
            "the router saw {:?}",
            String::from_utf8_lossy(window)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_sees_the_plaintext_of_a_plain_service() {
    let tap = relay_through(PLAIN).await;
    assert_eq!(tap.circuits().len(), 1, "{:?}", tap.circuits());
    assert!(
        tap.saw(SECRET),
        "the tap did not see the plaintext of an unencrypted service, so it proves nothing \
         about the encrypted one"
    );
    assert_eq!(tap.total_bytes(), 2 * 3 * SECRET.len() as u64);
}
