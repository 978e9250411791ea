//! The stream and socket properties of [`Socket`] and [`IncomingMessage`]
//! (`bytesRead`, `readableHighWaterMark`, `destroyed`...).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use super::{IncomingMessage, ServerResponse, Socket};
use crate::conn::BodyStatus;
use crate::error::Error;

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

    /// Wait, without reading the body, until the message ends or is
    /// aborted: Node's `'end'` or `'aborted'` for a request nobody made
    /// flow. `Ok` at `'end'`: `Ok(true)` when the body was dumped as its
    /// response finished (Node emits that `'end'` after the response's
    /// `'finish'` and `'close'`), `Ok(false)` when it was read to its end
    /// with [`read_now`](Self::read_now). `Err` with
    /// `ECONNRESET` when the connection ended first
    /// ([`aborted`](Self::aborted) tells whether `'aborted'` is emitted).
    pub async fn settled(&self) -> Result<bool, Error> {
        let id = self.id;
        let r = self
            .shared
            .wait_for(|c| match c.unread_body_status(id) {
                BodyStatus::Complete => Some(Ok((c.raw_trailers(id), !c.body_consumed(id)))),
                BodyStatus::Aborted => Some(Err(true)),
                BodyStatus::Unfinished => Some(Err(false)),
                _ => None,
            })
            .await;
        match r {
            Ok((trailers, dumped)) => {
                *self.raw_trailers.lock().unwrap_or_else(|e| e.into_inner()) = trailers;
                self.ended.store(true, Ordering::SeqCst);
                Ok(dumped)
            }
            Err(aborted) => {
                if aborted {
                    self.aborted.store(true, Ordering::SeqCst);
                }
                Err(Error::connection_reset())
            }
        }
    }

    /// `message.read()`: what the body has buffered, all of it, or `None`
    /// when nothing is. The body is being consumed from then on: a
    /// response finishing first does not dump it.
    pub fn read_now(&self) -> Option<Vec<u8>> {
        let id = self.id;
        let mut c = self.shared.lock();
        c.consume_body(id);
        let mut all: Option<Vec<u8>> = None;
        while let Some(chunk) = c.read_body(id) {
            all.get_or_insert_with(Vec::new).extend_from_slice(&chunk);
        }
        drop(c);
        self.shared.wake_io.notify_one();
        self.shared.notify_changed();
        all
    }

    /// `message.destroy()`: a request not ended yet is aborted (Node emits
    /// `'aborted'` before `destroy()` returns, and `'close'` after) and its
    /// socket destroyed; one already ended (or aborted) is destroyed
    /// already, and the call does nothing: the socket stays. Returns
    /// whether the request was aborted now.
    pub fn destroy(&self) -> bool {
        if self.destroyed() {
            return false;
        }
        self.aborted.store(true, Ordering::SeqCst);
        self.socket().destroy();
        true
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

impl ServerResponse {
    /// Whether Node has emitted the response's `'prefinish'`: `end()` was
    /// called and the response has the connection to itself. `end()` on
    /// the connection's current response emits it before returning; a
    /// response ended while queued behind an earlier one emits it when it
    /// gets the connection, as that one finishes. `'finish'`
    /// ([`finished`](Self::finished)) follows once the bytes are written.
    pub fn prefinished(&self) -> bool {
        self.shared.lock().response_finished(self.id)
    }
}
