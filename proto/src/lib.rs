//! `nodehttp-proto`: the protocol core of `nodehttp`, Node.js's
//! `node:http` for both roles as sans-IO state machines.
//!
//! Like `quinn-proto` under `quinn`: bytes in, events and bytes out, the
//! time passed in by the caller. No runtime, no sockets, no clock reads:
//! `nodehttp` drives these machines with tokio and is the API programs use.
//!
//! - [`parse`]: request and response heads, with llhttp's strictness.
//! - [`body`]: a message's body as its head frames it, for both roles.
//! - [`chunked`]: chunked body decoder and encoder.
//! - [`headers`]: `IncomingMessage.headers` and friends from raw pairs.
//! - [`validate`]: `http.validateHeaderName` / `validateHeaderValue`, the
//!   token check.
//! - [`encode`]: heads as `OutgoingMessage._storeHeader` writes them; `Date`.
//! - [`response`]: one `ServerResponse` as a state machine (the header API,
//!   framing, trailers, 1xx).
//! - [`conn`]: one server connection as a state machine (parsing,
//!   pipelining, keep-alive, timeouts), and Node's server defaults.
//! - [`client`]: the client socket's response parser and the request's
//!   outgoing state.
//! - [`websocket`]: `http.WebSocket`'s handshake, frames and connection.
//! - [`defaults`]: Node's defaults, in one place.
//! - [`status`]: `http.STATUS_CODES`, `http.METHODS`.
//! - [`http`]: the module's own functions and properties
//!   (`http.maxHeaderSize`, `http.setMaxIdleHTTPParsers()`...).
//! - [`error`]: the [`Error`] type, exposing Node's codes.
#![deny(missing_docs)]

pub mod body;
pub mod chunked;
pub mod client;
pub mod conn;
pub mod defaults;
pub mod encode;
pub mod error;
pub mod headers;
pub mod http;
pub mod parse;
pub mod response;
pub mod status;
#[cfg(test)]
mod testutil;
pub mod validate;
pub mod websocket;

pub use error::Error;
