//! The stream and socket properties of [`Socket`] and [`IncomingMessage`]
//! (`bytesRead`, `readableHighWaterMark`, `destroyed`...).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use super::{Handler, IncomingMessage, Server, ServerResponse, Socket};
use crate::conn::{BodyStatus, Closing};
use crate::error::Error;

/// A character encoding of Node's `Buffer`, as `message.setEncoding()`
/// takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `'utf8'` / `'utf-8'`.
    Utf8,
    /// `'latin1'` / `'binary'`: one character per byte.
    Latin1,
    /// `'ascii'`: the low seven bits of each byte.
    Ascii,
    /// `'hex'`: two lower-case hex digits per byte.
    Hex,
    /// `'base64'`.
    Base64,
    /// `'base64url'`.
    Base64Url,
    /// `'utf16le'` / `'ucs2'`.
    Utf16Le,
}

impl Encoding {
    /// The encoding Node's `normalizeEncoding()` finds for `name` (any
    /// case); `ERR_UNKNOWN_ENCODING` for a name it does not know.
    pub fn from_name(name: &str) -> Result<Encoding, Error> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "utf8" | "utf-8" => Encoding::Utf8,
            "latin1" | "binary" => Encoding::Latin1,
            "ascii" => Encoding::Ascii,
            "hex" => Encoding::Hex,
            "base64" => Encoding::Base64,
            "base64url" => Encoding::Base64Url,
            "utf16le" | "utf-16le" | "ucs2" | "ucs-2" => Encoding::Utf16Le,
            _ => return Err(Error::unknown_encoding(name)),
        })
    }

    /// The bytes as a string in this encoding (`buf.toString(encoding)`).
    /// Node's `StringDecoder` keeps a character split across two chunks
    /// whole; decoding chunk by chunk does so only for the one-byte
    /// encodings and `'hex'`.
    pub fn decode(self, bytes: &[u8]) -> String {
        const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        match self {
            Encoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
            Encoding::Latin1 => bytes.iter().map(|&b| b as char).collect(),
            Encoding::Ascii => bytes.iter().map(|&b| (b & 0x7f) as char).collect(),
            Encoding::Hex => bytes.iter().map(|b| format!("{b:02x}")).collect(),
            Encoding::Utf16Le => {
                let units: Vec<u16> = bytes
                    .chunks_exact(2)
                    .map(|p| u16::from_le_bytes([p[0], p[1]]))
                    .collect();
                String::from_utf16_lossy(&units)
            }
            Encoding::Base64 | Encoding::Base64Url => {
                let mut out = String::new();
                for group in bytes.chunks(3) {
                    let n = group
                        .iter()
                        .enumerate()
                        .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
                    for i in 0..=group.len() {
                        let c = B64[(n >> (18 - 6 * i) & 63) as usize];
                        out.push(match (self, c) {
                            (Encoding::Base64Url, b'+') => '-',
                            (Encoding::Base64Url, b'/') => '_',
                            (_, c) => c as char,
                        });
                    }
                    if self == Encoding::Base64 {
                        out.extend(std::iter::repeat_n('=', 3 - group.len()));
                    }
                }
                out
            }
        }
    }
}

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
        self.destroy_with(None)
    }

    /// `message.destroy(error)`: as [`destroy`](Self::destroy), and the
    /// socket is destroyed with `error`, which the server passes to
    /// `'clientError'`.
    pub fn destroy_with(&self, error: Option<Error>) -> bool {
        if self.destroyed() {
            return false;
        }
        self.aborted.store(true, Ordering::SeqCst);
        match error {
            Some(e) => {
                self.shared.with(|c| c.destroy_with_error(e));
                self.shared.notify_changed();
            }
            None => self.socket().destroy(),
        }
        true
    }

    /// `message.setEncoding(encoding)`: from now on the body is read as
    /// strings in that encoding ([`decode`](Self::decode)).
    pub fn set_encoding(&self, encoding: &str) -> Result<&Self, Error> {
        let e = Encoding::from_name(encoding)?;
        *self.encoding.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
        Ok(self)
    }

    /// The encoding [`set_encoding`](Self::set_encoding) chose, if any.
    pub fn encoding(&self) -> Option<Encoding> {
        *self.encoding.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A body chunk as the `'data'` listener gets it: decoded with the
    /// encoding set by [`set_encoding`](Self::set_encoding), or `None`
    /// when none is (the listener gets the bytes).
    pub fn decode(&self, chunk: &[u8]) -> Option<String> {
        self.encoding().map(|e| e.decode(chunk))
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

    /// `response.writableNeedDrain`: a [`write`](Self::write) returned
    /// false and `'drain'` has not come since.
    pub fn writable_need_drain(&self) -> bool {
        self.shared.lock().need_drain(self.id)
    }

    /// Wait for the response's next `'drain'`: the socket's buffer written
    /// out after a [`write`](Self::write) that returned false. `false`
    /// when the response ended or closed first (no `'drain'` comes).
    pub async fn drain(&self) -> bool {
        let id = self.id;
        self.shared
            .wait_for(|c| {
                if c.take_drain(id) {
                    Some(true)
                } else if c.closing() == Closing::Now || c.response_finished(id) {
                    Some(false)
                } else {
                    None
                }
            })
            .await
    }
}

impl<H: Handler> Server<H> {
    /// `server.maxConnections`: `None` when there is no limit (the
    /// default).
    pub fn max_connections(&self) -> Option<u64> {
        match self.inner.props.max_connections.load(Ordering::SeqCst) {
            u64::MAX => None,
            n => Some(n),
        }
    }

    /// `server.maxConnections = n`: a connection accepted while `n` are
    /// open is closed at once, without a `'connection'` event (`None`
    /// lifts the limit).
    pub fn set_max_connections(&self, n: Option<u64>) {
        self.inner
            .props
            .max_connections
            .store(n.unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    /// Whether a new connection would go over `maxConnections`.
    pub(super) fn over_max_connections(&self) -> bool {
        let max = self.inner.props.max_connections.load(Ordering::SeqCst);
        max != u64::MAX
            && self
                .inner
                .conns
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .len() as u64
                >= max
    }
}

#[cfg(test)]
mod tests {
    use super::Encoding;

    #[test]
    fn decodes_as_buffer_to_string() {
        assert_eq!(Encoding::Hex.decode(b"abc"), "616263");
        assert_eq!(Encoding::Base64.decode(b"ab"), "YWI=");
        assert_eq!(Encoding::Base64.decode(b"abc"), "YWJj");
        assert_eq!(Encoding::Base64Url.decode(&[0xfb, 0xff]), "-_8");
        assert_eq!(Encoding::Latin1.decode(&[0xe9]), "\u{e9}");
        assert_eq!(Encoding::Ascii.decode(&[0xe9]), "i");
        assert_eq!(Encoding::Utf16Le.decode(&[0x61, 0]), "a");
        assert_eq!(
            Encoding::from_name("bogus").unwrap_err().code(),
            "ERR_UNKNOWN_ENCODING"
        );
    }
}
