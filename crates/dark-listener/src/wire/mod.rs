//! The OpenZiti edge wire protocol, without any I/O.
//!
//! * [`frame`] — channel wire format v2: the 20-byte header, the header section and the body,
//!   and a [`tokio_util::codec`] decoder/encoder with size limits.
//! * [`headers`] — typed header values with the exact widths the Go and C peers use.
//! * [`consts`] — every content type, header id, flag and error code of the protocol.
//! * [`edge`] — typed edge messages (Connect, Bind, Dial, Data, …) built from and parsed into
//!   frames.

pub mod consts;
pub mod edge;
pub mod frame;
pub mod headers;
