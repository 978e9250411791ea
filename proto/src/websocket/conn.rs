//! One `WebSocket` as a state machine: the handshake, the frames, the
//! close handshake, `send()`, `close()`, `readyState`, `bufferedAmount`
//! and the events, with no socket.
//!
//! The tokio driver (`nodehttp::websocket::WebSocket`) writes what [`Output::Write`]
//! gives, reports each write done ([`WebSocketConn::written`]), feeds what
//! it reads ([`WebSocketConn::receive`], one call per read: undici reads on
//! through the rest of a chunk after some failures), and tells when the
//! socket is gone ([`WebSocketConn::socket_closed`]). Tests drive it the
//! same way with plain bytes.
//!
//! Node equivalent: the `WebSocket` object with undici's
//! `establishWebSocketConnection`, `failWebsocketConnection`,
//! `closeWebSocketConnection`, `websocketMessageReceived`, the
//! `ByteParser`'s control frames and `onSocketClose`.

use std::collections::VecDeque;

use url::Url;

use super::frame::{encode, OP_BINARY, OP_CLOSE, OP_PONG, OP_TEXT};
use super::handshake::{self, messages, Answer, AnswerReader};
use super::receiver::{decode_utf8, Incoming, Receiver};
use super::{
    BinaryType, CloseEvent, DomException, ErrorEvent, Event, MessageData, MessageEvent, ReadyState,
};

/// What a write is, for what its completion changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// The handshake request.
    Handshake,
    /// A message of `send()`: its payload length leaves `bufferedAmount`
    /// when written.
    Data(u64),
    /// A pong.
    Pong,
    /// A close frame sent by `close()` or on a bad close frame (counted as
    /// sent at once, as undici does).
    Close,
    /// The answer to the server's close frame: counted as sent (for
    /// `wasClean`) only once written.
    CloseEcho,
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Write these bytes; report [`WebSocketConn::written`] with `kind` once
    /// they are written.
    Write {
        /// The bytes.
        bytes: Vec<u8>,
        /// What they are.
        kind: WriteKind,
    },
    /// Dispatch this event.
    Event(Event),
    /// Close the socket (undici destroys it, or aborts the handshake):
    /// what was queued before is written first, what cannot be written at
    /// once is dropped.
    Destroy,
}

/// `kSentClose` (undici's third state, `PROCESSING`, lasts only inside
/// `closeWebSocketConnection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SentClose {
    NotSent,
    Sent,
}

/// A `WebSocket` without its socket.
pub struct WebSocketConn {
    url: Url,
    origin: String,
    state: ReadyState,
    answer: Option<AnswerReader>,
    /// The fetch is over (answered, failed or aborted): `close()` while
    /// connecting no longer brings a network error after its own.
    handshake_done: bool,
    /// `close()` aborted the fetch: its network error comes once the
    /// socket is gone (after `close()` returned, as in undici, where the
    /// abort settles asynchronously).
    abort_error: bool,
    receiver: Option<Receiver>,
    sent_close: SentClose,
    received_close: bool,
    /// The receiver's `closingInfo`: `Ok` for a valid close frame, `Err`
    /// for a bad one.
    closing_info: Option<Result<(Option<u16>, String), ()>>,
    binary_type: BinaryType,
    buffered_amount: u64,
    protocol: String,
    extensions: String,
    /// The socket was destroyed: writes are dropped, reads stop after the
    /// current one.
    destroyed: bool,
    /// The socket is gone.
    finished: bool,
    out: VecDeque<Output>,
    masks: Box<dyn FnMut() -> [u8; 4] + Send>,
}

impl std::fmt::Debug for WebSocketConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketConn")
            .field("url", &self.url.as_str())
            .field("state", &self.state)
            .field("buffered_amount", &self.buffered_amount)
            .finish_non_exhaustive()
    }
}

impl WebSocketConn {
    /// `new WebSocket(url, protocols)` with the key (16 random bytes in
    /// base64) and a source of masking keys passed in: the constructor's
    /// checks (a `SyntaxError` for a bad URL, scheme, fragment or
    /// protocols), then the handshake request queued.
    pub fn new(
        url: &str,
        protocols: &[&str],
        key: &str,
        masks: Box<dyn FnMut() -> [u8; 4] + Send>,
    ) -> Result<WebSocketConn, DomException> {
        let url = handshake::parse_url(url)?;
        handshake::check_protocols(protocols)?;
        let mut out = VecDeque::new();
        out.push_back(Output::Write {
            bytes: handshake::request(&url, protocols, key),
            kind: WriteKind::Handshake,
        });
        Ok(WebSocketConn {
            origin: url.origin().ascii_serialization(),
            url,
            state: ReadyState::Connecting,
            answer: Some(AnswerReader::new(key, protocols)),
            handshake_done: false,
            abort_error: false,
            receiver: None,
            sent_close: SentClose::NotSent,
            received_close: false,
            closing_info: None,
            binary_type: BinaryType::Blob,
            buffered_amount: 0,
            protocol: String::new(),
            extensions: String::new(),
            destroyed: false,
            finished: false,
            out,
            masks,
        })
    }

    /// The next thing to do, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// `ws.url`: the URL after the constructor's changes, serialized.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// The parsed URL (host and port to connect to).
    pub fn parsed_url(&self) -> &Url {
        &self.url
    }

    /// `ws.readyState`.
    pub fn ready_state(&self) -> ReadyState {
        self.state
    }

    /// `ws.bufferedAmount`: payload bytes of `send()` not written yet.
    pub fn buffered_amount(&self) -> u64 {
        self.buffered_amount
    }

    /// `ws.protocol`.
    pub fn protocol(&self) -> &str {
        &self.protocol
    }

    /// `ws.extensions`.
    pub fn extensions(&self) -> &str {
        &self.extensions
    }

    /// `ws.binaryType`.
    pub fn binary_type(&self) -> BinaryType {
        self.binary_type
    }

    /// `ws.binaryType = value`.
    pub fn set_binary_type(&mut self, t: BinaryType) {
        self.binary_type = t;
    }

    /// Whether the socket was destroyed (nothing more is read or written).
    pub fn destroyed(&self) -> bool {
        self.destroyed
    }

    /// Whether the socket is gone and nothing more will happen unless the
    /// program acts.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Bytes held for an answer or messages not complete yet.
    pub fn held(&self) -> usize {
        self.answer.as_ref().map_or(0, AnswerReader::held)
            + self.receiver.as_ref().map_or(0, Receiver::held)
    }

    fn emit(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    fn write(&mut self, bytes: Vec<u8>, kind: WriteKind) {
        if !self.destroyed {
            self.out.push_back(Output::Write { bytes, kind });
        }
    }

    fn frame(&mut self, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = (self.masks)();
        encode(true, opcode, payload, Some(mask))
    }

    /// undici's `failWebsocketConnection(ws, reason)`: abort, destroy the
    /// socket, then `error` with the reason. `readyState` is left as it is.
    fn fail(&mut self, reason: &str) {
        if !self.destroyed {
            self.destroyed = true;
            self.out.push_back(Output::Destroy);
        }
        self.handshake_done = true;
        self.emit(Event::Error(ErrorEvent {
            message: reason.to_owned(),
            ready_state: self.state,
        }));
    }

    /// undici's `closeWebSocketConnection(ws, code, reason)`.
    fn close_connection(&mut self, code: Option<u16>, reason: Option<&str>) {
        match self.state {
            ReadyState::Closing | ReadyState::Closed => {}
            ReadyState::Connecting => {
                // The aborted fetch answers a network error, once the
                // socket is gone.
                self.abort_error = !self.handshake_done;
                self.fail(messages::CLOSED_BEFORE);
                self.state = ReadyState::Closing;
            }
            ReadyState::Open if self.sent_close == SentClose::NotSent => {
                let mut body = Vec::new();
                if let Some(c) = code {
                    body.extend_from_slice(&c.to_be_bytes());
                    if let Some(r) = reason {
                        body.extend_from_slice(r.as_bytes());
                    }
                }
                let f = self.frame(OP_CLOSE, &body);
                self.write(f, WriteKind::Close);
                self.sent_close = SentClose::Sent;
                self.state = ReadyState::Closing;
            }
            ReadyState::Open => self.state = ReadyState::Closing,
        }
    }

    /// `ws.close(code, reason)`: `InvalidAccessError` "invalid code" for a
    /// code other than 1000 or 3000 to 4999, `SyntaxError` for a reason of
    /// more than 123 UTF-8 bytes; then the closing handshake (a close frame
    /// with the code, and the reason if both are given), or, while
    /// connecting, the failure "Connection was closed before it was
    /// established.".
    pub fn close(&mut self, code: Option<u16>, reason: Option<&str>) -> Result<(), DomException> {
        if let Some(c) = code {
            if c != 1000 && !(3000..=4999).contains(&c) {
                return Err(DomException::invalid_access("invalid code"));
            }
        }
        if let Some(r) = reason {
            if r.len() > 123 {
                return Err(DomException::syntax(format!(
                    "Reason must be less than 123 bytes; received {}",
                    r.len()
                )));
            }
        }
        self.close_connection(code, reason);
        Ok(())
    }

    /// `ws.send(string)`: see [`send_binary`](Self::send_binary); the
    /// payload is the string's UTF-8.
    pub fn send_text(&mut self, data: &str) -> Result<(), DomException> {
        self.send(OP_TEXT, data.as_bytes())
    }

    /// `ws.send(bytes)`: `InvalidStateError` "Sent before connected."
    /// while connecting; nothing once closing or closed; else the frame is
    /// queued and its payload length added to `bufferedAmount` until it is
    /// written.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), DomException> {
        self.send(OP_BINARY, data)
    }

    fn send(&mut self, opcode: u8, data: &[u8]) -> Result<(), DomException> {
        match self.state {
            ReadyState::Connecting => Err(DomException::invalid_state("Sent before connected.")),
            ReadyState::Closing | ReadyState::Closed => Ok(()),
            // The socket was destroyed: the write fails at once and its
            // callback takes the length back.
            ReadyState::Open if self.destroyed => Ok(()),
            ReadyState::Open => {
                let f = self.frame(opcode, data);
                self.buffered_amount += data.len() as u64;
                self.write(f, WriteKind::Data(data.len() as u64));
                Ok(())
            }
        }
    }

    /// A write is done.
    pub fn written(&mut self, kind: WriteKind) {
        match kind {
            WriteKind::Data(n) => self.buffered_amount -= n.min(self.buffered_amount),
            WriteKind::CloseEcho => self.sent_close = SentClose::Sent,
            _ => {}
        }
    }

    /// Queued writes that will not be written (the socket is gone): their
    /// callbacks still run.
    pub fn dropped(&mut self, kind: WriteKind) {
        if let WriteKind::Data(n) = kind {
            self.buffered_amount -= n.min(self.buffered_amount);
        }
    }

    /// The connection could not be opened (or its opening was aborted).
    pub fn connect_failed(&mut self) {
        self.finished = true;
        self.destroyed = true;
        self.aborted();
        if !self.handshake_done {
            self.fail(messages::NETWORK);
        }
    }

    /// The network error of a fetch that `close()` aborted.
    fn aborted(&mut self) {
        if std::mem::take(&mut self.abort_error) {
            self.emit(Event::Error(ErrorEvent {
                message: messages::NETWORK.to_owned(),
                ready_state: self.state,
            }));
        }
    }

    /// Bytes read from the socket, one read at a time.
    pub fn receive(&mut self, bytes: &[u8]) {
        if self.destroyed || self.finished {
            return;
        }
        if let Some(reader) = self.answer.as_mut() {
            match reader.feed(bytes) {
                Answer::Partial => {}
                Answer::Failed(m) => {
                    self.answer = None;
                    self.fail(m);
                }
                Answer::Open { accepted, rest } => {
                    self.answer = None;
                    self.handshake_done = true;
                    self.receiver = Some(Receiver::new(accepted.deflate.as_ref()));
                    self.protocol = accepted.protocol;
                    self.extensions = accepted.extensions;
                    self.state = ReadyState::Open;
                    self.emit(Event::Open);
                    if !rest.is_empty() {
                        self.frames(&rest);
                    }
                }
            }
            return;
        }
        self.frames(bytes);
    }

    fn frames(&mut self, bytes: &[u8]) {
        let Some(receiver) = self.receiver.as_mut() else {
            return;
        };
        let mut items = Vec::new();
        receiver.receive(bytes, &mut items);
        for item in items {
            self.incoming(item);
        }
    }

    fn incoming(&mut self, item: Incoming) {
        match item {
            Incoming::Message { opcode, data } => {
                // `websocketMessageReceived`: only while open.
                if self.state != ReadyState::Open {
                    return;
                }
                let data = if opcode == OP_TEXT {
                    match decode_utf8(&data) {
                        Some(s) => MessageData::Text(s),
                        None => return self.fail("Received invalid UTF-8 in text frame."),
                    }
                } else if self.binary_type == BinaryType::Blob {
                    MessageData::Blob(data)
                } else {
                    MessageData::ArrayBuffer(data)
                };
                let origin = self.origin.clone();
                self.emit(Event::Message(MessageEvent { data, origin }));
            }
            Incoming::Ping(payload) => {
                if !self.received_close {
                    let f = self.frame(OP_PONG, &payload);
                    self.write(f, WriteKind::Pong);
                }
            }
            Incoming::Pong(_) => {}
            Incoming::Close { code, reason } => {
                if self.sent_close != SentClose::Sent {
                    let body = code.map(|c| c.to_be_bytes().to_vec()).unwrap_or_default();
                    let f = self.frame(OP_CLOSE, &body);
                    self.write(f, WriteKind::CloseEcho);
                }
                self.closing_info = Some(Ok((code, reason)));
                self.state = ReadyState::Closing;
                self.received_close = true;
            }
            Incoming::BadClose { code, reason } => {
                self.closing_info = Some(Err(()));
                self.close_connection(Some(code), Some(reason));
                self.fail(reason);
            }
            Incoming::Fail(m) => self.fail(m),
            Incoming::InflateError(m) => self.close_connection(Some(1007), Some(&m)),
        }
    }

    /// The socket is closed (by either side, or reset): undici's
    /// `onSocketClose` once open, a network error while connecting.
    pub fn socket_closed(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.destroyed = true;
        self.aborted();
        if self.receiver.is_none() {
            // No socket listeners before the handshake is through: no
            // `close` event, ever.
            if !self.handshake_done {
                self.fail(messages::NETWORK);
            }
            return;
        }
        let was_clean = self.sent_close == SentClose::Sent && self.received_close;
        let (code, reason) = match &self.closing_info {
            Some(Ok((code, reason))) => (code.unwrap_or(1005), reason.clone()),
            _ if !self.received_close => (1006, String::new()),
            _ => (1005, String::new()),
        };
        self.state = ReadyState::Closed;
        self.emit(Event::Close(CloseEvent {
            code,
            reason,
            was_clean,
        }));
    }
}

#[cfg(test)]
mod tests;
