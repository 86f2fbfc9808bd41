//! The OpenZiti edge wire protocol, without any I/O.
//!
//! Everything an SDK and an edge router say to each other over one TLS connection (a
//! "channel") lives here as plain data: bytes in, typed values out, and back. Nothing in this
//! module owns a socket, a task or a clock, so tests drive it by handing it byte slices.
//!
//! | layer | module | main items | reference (`docs/reference/ziti-edge-protocol.md`) |
//! | --- | --- | --- | --- |
//! | numbers | [`consts`] | [`consts::content_type`], [`consts::header`], [`consts::flags`], [`consts::ErrorCode`] | §1.3, §2.1, §2.2 |
//! | header values | [`headers`] | [`Headers`], [`headers::HeaderError`] | §1.2 |
//! | framing | [`frame`] | [`Frame`], [`FrameCodec`], [`FrameLimits`], [`SequenceCounter`], [`frame::unknown_version_reply`] | §1.1, §1.4, §1.6, §1.8 |
//! | reading | [`recv`] | [`ReceiveBuffer`] (buffer that grows with arrived bytes and shrinks after large frames, frame deadline) | |
//! | writing | [`batch`] | [`FrameBatch`] (frames as I/O slices, large bodies not copied) | |
//! | messages | [`edge`] | [`edge::EdgeMessage`], [`edge::Connect`], [`edge::Bind`], [`edge::Dial`], [`edge::Data`], … | §1.5, §2.3, §3 |
//!
//! A channel, bottom to top:
//!
//! 1. The dialing side writes a [`edge::Hello`] (header 1002 = API session token) and the
//!    listener answers with a [`edge::HelloReply`] (a Result carrying router id, version and
//!    [`edge::RouterCapabilities`]). A listener decodes with [`FrameCodec::for_listener`] so
//!    the hello is held to the 16384/4192-byte limits, and answers a bad first magic with
//!    [`frame::unknown_version_reply`].
//! 2. Each side numbers its outgoing frames with its own [`SequenceCounter`]; a reply carries
//!    header 1 (ReplyFor, see [`Frame::reply_to`]).
//! 3. Virtual connections are opened with [`edge::Connect`] → [`edge::StateConnected`] (dial)
//!    or [`edge::Bind`] → [`edge::Dial`] → [`edge::DialSuccess`] (host), carry
//!    [`edge::Data`], and end with [`edge::StateClosed`].
//!
//! Golden byte fixtures for every message above, written by hand from the reference notes,
//! are in `tests/wire_golden.rs` (channel layer), `tests/wire_golden_dialer.rs` and
//! `tests/wire_golden_host.rs` (edge messages); the decoder is fuzzed by
//! `fuzz/fuzz_targets/frame_decode.rs` (`scripts/fuzz.sh`).

pub mod batch;
pub mod consts;
pub mod edge;
pub mod frame;
pub mod headers;
pub mod recv;

pub use batch::FrameBatch;
pub use frame::{Frame, FrameCodec, FrameError, FrameLimits, SequenceCounter};
pub use headers::Headers;
pub use recv::ReceiveBuffer;
