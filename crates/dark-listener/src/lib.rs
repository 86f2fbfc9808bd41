//! # dark-listener — a wire-compatible OpenZiti SDK for Rust
//!
//! A process that uses this crate authenticates to an OpenZiti controller with an x509
//! identity and *hosts* services by dialing **out** to edge routers, so it never opens a
//! listening socket. Other processes reach those services by dialing them over the same
//! overlay.
//!
//! The crate is layered the way `quinn-proto`/`quinn` are:
//!
//! | module | layer | owns |
//! | --- | --- | --- |
//! | [`wire`] | protocol, no I/O | channel wire format v2 frames, typed headers, edge messages |
//! | [`e2ee`] | protocol, no I/O | libsodium-compatible key exchange and secretstream framing |
//! | [`identity`] | configuration | identity files (`ztAPI`, `id.cert/key/ca`) |
//!
//! Nothing in the protocol layer touches a socket or a clock: tests feed it bytes and read
//! bytes back.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod e2ee;
pub mod identity;
pub mod wire;
