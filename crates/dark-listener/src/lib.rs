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
//! | [`tls`] | I/O setup | rustls client configurations built from an identity |
//! | [`controller`] | I/O | the controller's edge client REST API: certificate OIDC login or the legacy API session, refresh, fail-over across `ztAPIs` |
//! | [`enroll`] | I/O | one-time-token enrollment: JWT check, CSR, identity file |
//! | [`channel::core`] | protocol, no I/O | `ChannelCore`: conn ids, the stream and bind table, reply waiters, what each inbound frame and each reply means |
//! | [`channel`] | I/O | TLS channels to edge routers: hello, the tokio driver (reader/writer/probe tasks) around the core, reconnect |
//! | [`stream`] | I/O | `DarkStream`: one overlay connection as tokio `AsyncRead + AsyncWrite` (e2ee, FIN, close) |
//! | [`listener`] | I/O | hosting: Bind on routers, re-bind, Dial → accepted stream, Unbind |
//! | [`refusal`] | API | the words of a refused dial: the service by name, the router's codes explained |
//! | [`context`] | API | `Context`: identity → TLS → controller session → channels; `bind`, `dial`, `shutdown` |
//!
//! Nothing in the protocol layer touches a socket or a clock: tests feed it bytes (or frames,
//! for the channel core) and read bytes and actions back. To serve HTTP on a listener, use
//! `dark_metrics::serve::serve_connections` (the workspace's one HTTP accept loop; it takes
//! any tower service).
//!
//! Which peers it was tested against (OpenZiti Go SDK v1.9.0, C SDK 0.29.3, the embedded lab;
//! not yet a real 2.x controller and router) and what passed: `COMPATIBILITY.md` in this
//! crate's directory.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod channel;
pub mod context;
pub mod controller;
pub mod e2ee;
pub mod enroll;
pub mod identity;
pub mod listener;
pub mod refusal;
#[cfg(test)]
mod scripted_router;
pub mod stream;
pub mod tls;
pub mod token_update;
pub mod wire;
