//! `nodehttp`: an HTTP/1.1 server and client with the exact semantics of
//! Node.js's `node:http` module.
//!
//! The crate is the reference implementation the conformance suite
//! (`nodehttp-conformance`) is checked against. Its protocol logic is
//! *sans-IO*, in its own crate `nodehttp-proto` (like `quinn-proto` under
//! `quinn`): plain bytes in, values and bytes out, no runtime, no sockets,
//! no clock reads. This crate is the tokio driver on top, and the API an
//! application uses; the core's modules are re-exported under their names.
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

pub mod client;
pub mod server;
pub mod websocket;

pub use nodehttp_proto::{
    chunked, conn, encode, error, headers, http, parse, response, status, validate,
};

pub use error::Error;
pub use parse::DEFAULT_MAX_HEADER_SIZE as MAX_HEADER_SIZE;
pub use server::{Handler, IncomingMessage, Server, ServerOptions, ServerResponse, Socket};
pub use status::{METHODS, STATUS_CODES};
pub use validate::{validate_header_name, validate_header_value};

/// The Node.js version whose `node:http` documentation this crate follows.
pub const NODE_VERSION: &str = "23.5.0";
