//! `nodehttp`: an HTTP/1.1 server and client with the exact semantics of
//! Node.js's `node:http` module.
//!
//! The crate is the reference implementation the conformance suite
//! (`nodehttp-conformance`) is checked against. This first layer is
//! *sans-IO* (like `quinn-proto` or hyper's `proto::h1`): plain bytes in,
//! values and bytes out, no sockets, no clock reads except where a caller
//! passes a time in.
//!
//! - [`status`]: `http.STATUS_CODES`, `http.METHODS`.
//! - [`validate`]: `http.validateHeaderName` / `validateHeaderValue`.
//! - [`headers`]: `IncomingMessage.headers` and friends from raw pairs.
//! - [`parse`]: request and response heads, with llhttp's strictness.
//! - [`chunked`]: chunked body decoder and encoder.
//! - [`encode`]: response heads as `ServerResponse` writes them; `Date`.
//! - [`error`]: the [`Error`] type, exposing Node's codes.
#![deny(missing_docs)]

pub mod chunked;
pub mod conn;
pub mod encode;
pub mod error;
pub mod headers;
pub mod parse;
pub mod response;
pub mod server;
pub mod status;
#[cfg(test)]
mod testutil;
pub mod validate;

pub use error::Error;

/// The Node.js version whose `node:http` documentation this crate follows.
pub const NODE_VERSION: &str = "23.5.0";
