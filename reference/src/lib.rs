//! `nodehttp`: an HTTP/1.1 server and client with the exact semantics of
//! Node.js's `node:http` module.
//!
//! The crate is the reference implementation the conformance suite
//! (`nodehttp-conformance`) is checked against. It is being built; for now it
//! only exposes the constants shared with the suite.
#![deny(missing_docs)]

/// The Node.js version whose `node:http` documentation this crate follows.
pub const NODE_VERSION: &str = "23.5.0";
