//! `http.WebSocket`'s protocol, sans-IO: undici's WebSocket client as
//! state machines (the tokio driver is `nodehttp::websocket::WebSocket`).
//!
//! - [`frame`]: the frame parser (incremental, constant memory) and the
//!   encoder;
//! - [`receiver`]: undici's `ByteParser`: checks, message assembly,
//!   control frames, close bodies, inflate ([`deflate`]);
//! - [`handshake`]: the constructor's checks, the request, the checks of
//!   the answer;
//! - [`conn`]: one `WebSocket` as a state machine, with the close
//!   handshake, `send()`, `close()`, `readyState`, `bufferedAmount` and the
//!   events (the types below).

pub mod conn;
pub mod deflate;
pub mod frame;
pub mod handshake;
pub mod receiver;

use std::fmt;

// ---------------------------------------------------------------- types

/// `ws.readyState`: `WebSocket.CONNECTING` (0), `OPEN` (1), `CLOSING` (2),
/// `CLOSED` (3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadyState {
    /// 0: the handshake is under way (and stays so after a failed
    /// handshake, as in Node 23.5.0).
    Connecting = 0,
    /// 1: open.
    Open = 1,
    /// 2: `close()` was called, or a close frame arrived.
    Closing = 2,
    /// 3: the connection is closed (`close` was dispatched).
    Closed = 3,
}

impl ReadyState {
    /// The number JavaScript sees.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

/// `ws.binaryType`: what binary messages are delivered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BinaryType {
    /// `"blob"` (the default): a `Blob`.
    #[default]
    Blob,
    /// `"arraybuffer"`: an `ArrayBuffer`.
    ArrayBuffer,
}

impl BinaryType {
    /// The value of the setter: `"arraybuffer"` and `"blob"` as named,
    /// anything else `"blob"` (undici does not ignore a bad value as the
    /// WHATWG spec says, it sets `"blob"`).
    pub fn from_js(value: &str) -> BinaryType {
        match value {
            "arraybuffer" => BinaryType::ArrayBuffer,
            _ => BinaryType::Blob,
        }
    }

    /// `"blob"` or `"arraybuffer"`.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryType::Blob => "blob",
            BinaryType::ArrayBuffer => "arraybuffer",
        }
    }
}

/// A `DOMException` thrown by the constructor, `send()` or `close()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomException {
    name: &'static str,
    message: String,
}

impl DomException {
    pub(crate) fn syntax(message: impl Into<String>) -> DomException {
        DomException {
            name: "SyntaxError",
            message: message.into(),
        }
    }

    pub(crate) fn invalid_access(message: impl Into<String>) -> DomException {
        DomException {
            name: "InvalidAccessError",
            message: message.into(),
        }
    }

    pub(crate) fn invalid_state(message: impl Into<String>) -> DomException {
        DomException {
            name: "InvalidStateError",
            message: message.into(),
        }
    }

    /// `e.name`: `"SyntaxError"`, `"InvalidAccessError"` or
    /// `"InvalidStateError"`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// `e.message`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// `e.code`, the legacy code of the name: 12, 15 or 11.
    pub fn code(&self) -> u16 {
        match self.name {
            "SyntaxError" => 12,
            "InvalidAccessError" => 15,
            "InvalidStateError" => 11,
            _ => 0,
        }
    }
}

impl fmt::Display for DomException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl std::error::Error for DomException {}

/// The data of a `message` event, as JavaScript types it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageData {
    /// A text message: a string (UTF-8 checked, one leading BOM removed).
    Text(String),
    /// A binary message while `binaryType` is `"blob"`: a `Blob`.
    Blob(Vec<u8>),
    /// A binary message while `binaryType` is `"arraybuffer"`.
    ArrayBuffer(Vec<u8>),
}

/// A `message` event (`MessageEvent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEvent {
    /// `event.data`.
    pub data: MessageData,
    /// `event.origin`: the origin of the URL (`ws://host:port`).
    pub origin: String,
}

/// An `error` event (`ErrorEvent`): `event.message` is also
/// `event.error.message` (an `Error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorEvent {
    /// `event.message`.
    pub message: String,
    /// `ws.readyState` while the event is dispatched.
    pub ready_state: ReadyState,
}

/// A `close` event (`CloseEvent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseEvent {
    /// `event.code`: the server's close code; 1005 for a close frame
    /// without one; 1006 when no close frame arrived.
    pub code: u16,
    /// `event.reason`.
    pub reason: String,
    /// `event.wasClean`: a close frame was both sent and received.
    pub was_clean: bool,
}

/// An event of a `WebSocket`, in the order undici dispatches them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `open`.
    Open,
    /// `message`.
    Message(MessageEvent),
    /// `error`.
    Error(ErrorEvent),
    /// `close`: the last event of an opened connection.
    Close(CloseEvent),
}
