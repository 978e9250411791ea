//! The stream and socket properties of [`Socket`] and [`IncomingMessage`]
//! (`bytesRead`, `readableHighWaterMark`, `destroyed`...).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use super::{IncomingMessage, Socket};

/// `'IPv4'` or `'IPv6'`, as `net.Socket` names an address family.
fn family(addr: &SocketAddr) -> &'static str {
    match addr {
        SocketAddr::V4(_) => "IPv4",
        SocketAddr::V6(_) => "IPv6",
    }
}

impl Socket {
    /// `socket.bytesRead`: every byte received from the peer so far.
    pub fn bytes_read(&self) -> u64 {
        self.shared.lock().bytes_read()
    }

    /// `socket.readableHighWaterMark`: the server's `highWaterMark` option
    /// (64 KiB by default).
    pub fn readable_high_water_mark(&self) -> usize {
        self.shared.lock().config().high_water_mark
    }

    /// `socket.writableHighWaterMark`: the server's `highWaterMark` option.
    pub fn writable_high_water_mark(&self) -> usize {
        self.shared.lock().config().high_water_mark
    }

    /// `socket.remoteFamily`.
    pub fn remote_family(&self) -> &'static str {
        family(&self.shared.peer)
    }

    /// `socket.localFamily` (the `family` of `socket.address()`).
    pub fn local_family(&self) -> &'static str {
        family(&self.shared.local)
    }
}

impl IncomingMessage {
    /// `message.readableHighWaterMark`: the socket's
    /// `readableHighWaterMark` (the server's `highWaterMark` option).
    pub fn readable_high_water_mark(&self) -> usize {
        self.socket().readable_high_water_mark()
    }

    /// `message.readableEnded`: `'end'` was emitted (the body was read to
    /// its end through [`read`](Self::read)).
    pub fn readable_ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// `message.destroyed`: the message is done with, either read to its
    /// end (Node destroys a request right after `'end'`) or aborted. Node
    /// emits the request's `'close'` once it is.
    pub fn destroyed(&self) -> bool {
        self.ended.load(Ordering::SeqCst) || self.aborted.load(Ordering::SeqCst)
    }

    /// `message.statusCode`: only for responses; a server request has none
    /// (Node: `null`).
    pub fn status_code(&self) -> Option<u16> {
        None
    }

    /// `message.statusMessage`: only for responses; a server request has
    /// none (Node: `null`).
    pub fn status_message(&self) -> Option<&str> {
        None
    }
}
