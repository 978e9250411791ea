//! `nodehttp`: an HTTP/1.1 server and client with the exact semantics of
//! Node.js's `node:http` module.
//!
//! The crate is the reference implementation the conformance suite
//! (`nodehttp-conformance`) is checked against. Its protocol logic is
//! *sans-IO* (like `quinn-proto` or hyper's `proto::h1`): plain bytes in,
//! values and bytes out, no sockets, no clock reads except where a caller
//! passes a time in. [`server`] is the thin tokio layer on top, and the API
//! an application uses.
//!
//! - [`client`]: `http.request()`, `http.get()`, `http.Agent`,
//!   `ClientRequest` and the response `IncomingMessage`, on tokio.
//! - [`server`]: `http.createServer()`, `http.Server`, `IncomingMessage`,
//!   `ServerResponse`: the public server API, on tokio.
//! - [`conn`]: one server connection as a state machine (parsing,
//!   pipelining, keep-alive, timeouts).
//! - [`response`]: one `ServerResponse` as a state machine (the header API,
//!   framing, trailers, 1xx).
//! - [`status`]: `http.STATUS_CODES`, `http.METHODS`.
//! - [`http`]: the module's own functions and properties
//!   (`http.maxHeaderSize`, `http.setMaxIdleHTTPParsers()`...).
//! - [`validate`]: `http.validateHeaderName` / `validateHeaderValue`.
//! - [`headers`]: `IncomingMessage.headers` and friends from raw pairs.
//! - [`parse`]: request and response heads, with llhttp's strictness.
//! - [`chunked`]: chunked body decoder and encoder.
//! - [`encode`]: response heads as `ServerResponse` writes them; `Date`.
//! - [`websocket`]: `http.WebSocket`, undici's WebSocket client, on
//!   tokio (a sans-IO handshake, frame parser and connection under it).
//! - [`error`]: the [`Error`] type, exposing Node's codes.
#![deny(missing_docs)]

pub mod chunked;
pub mod client;
pub mod conn;
pub mod encode;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod headers;
pub mod http;
pub mod parse;
pub mod response;
pub mod server;
pub mod status;
#[cfg(test)]
mod testutil;
pub mod validate;
pub mod websocket;

pub use error::Error;
pub use parse::DEFAULT_MAX_HEADER_SIZE as MAX_HEADER_SIZE;
pub use server::{Handler, IncomingMessage, Server, ServerOptions, ServerResponse, Socket};
pub use status::{METHODS, STATUS_CODES};
pub use validate::{validate_header_name, validate_header_value};

/// The Node.js version whose `node:http` documentation this crate follows.
pub const NODE_VERSION: &str = "23.5.0";
