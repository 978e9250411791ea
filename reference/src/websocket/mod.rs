//! `http.WebSocket`: the browser-compatible WebSocket client `node:http`
//! exports (added in v22.5.0), which is undici's `WebSocket` in Node
//! 23.5.0.
//!
//! # Own code rather than a crate
//!
//! The protocol code here is the crate's own, not tungstenite's protocol
//! layer (or another WebSocket crate), because the point is undici's exact
//! behaviour and a general-purpose implementation differs from it in what
//! a program sees:
//!
//! - undici checks a frame in a fixed order, each check failing with its
//!   own message (the `error` event's text), some as soon as the first two
//!   bytes are in; tungstenite has its own checks, order and errors;
//! - undici has quirks a spec-conforming parser does not: a 64-bit length
//!   read as `(upper << 8) + lower`; a continuation frame accepted after a
//!   compressed message; RSV1 ignored on control and continuation frames
//!   once permessage-deflate is on; one BOM stripped from text messages
//!   and two from close reasons; a close frame answered with its code only;
//!   the rest of a read still dispatched after an invalid UTF-8 message;
//!   messages dropped once `close()` was called; no `close` event after a
//!   failed handshake;
//! - the handshake must be Node's byte for byte (fetch's header list, in
//!   its order and case), and its checks are undici's (trailing whitespace
//!   kept in header values, `Sec-WebSocket-Extensions` split on `;` only);
//! - permessage-deflate must be received the way undici does it (one
//!   inflate stream per connection whatever the server announces, never
//!   compressing what it sends), with zlib's error messages.
//!
//! Well-kept crates do the parts where Node uses a standard library: the
//! WHATWG URL parser (`url`, as `new URL()`), SHA-1 (`sha1_smol`), raw
//! inflate (`flate2` on zlib-rs, as `zlib.createInflateRaw()`), and the OS
//! random source (`getrandom`, as `crypto.randomBytes()`).
//!
//! # Layers
//!
//! Sans-IO, in crate `nodehttp-proto` (re-exported here):
//!
//! - [`frame`]: the frame parser (incremental, constant memory) and the
//!   encoder;
//! - [`receiver`]: undici's `ByteParser`: checks, message assembly,
//!   control frames, close bodies, inflate ([`deflate`]);
//! - [`handshake`]: the constructor's checks, the request, the checks of
//!   the answer;
//! - [`conn`]: one `WebSocket` as a state machine, with the close
//!   handshake, `send()`, `close()`, `readyState`, `bufferedAmount` and the
//!   events;
//!
//! and [`WebSocket`], the thin tokio driver a program uses.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use nodehttp::websocket::{Event, MessageData, WebSocket};
//! let ws = WebSocket::new("ws://127.0.0.1:8080/chat", &["chat"])?;
//! while let Some(event) = ws.next_event().await {
//!     match event {
//!         Event::Open => ws.send_text("hello")?,
//!         Event::Message(m) => {
//!             if let MessageData::Text(t) = m.data {
//!                 println!("{t}");
//!             }
//!             ws.close(Some(1000), Some("bye"))?;
//!         }
//!         Event::Error(e) => eprintln!("error: {}", e.message),
//!         Event::Close(c) => println!("closed {} {:?} {}", c.code, c.reason, c.was_clean),
//!     }
//! }
//! # Ok(()) }
//! ```

pub use nodehttp_proto::websocket::{
    conn, deflate, frame, handshake, receiver, BinaryType, CloseEvent, DomException, ErrorEvent,
    Event, MessageData, MessageEvent, ReadyState,
};

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use conn::{Output, WebSocketConn, WriteKind};

// ---------------------------------------------------------------- driver

/// Masking keys from the OS random source, 16 KiB at a time (as undici
/// draws them from `crypto.randomFillSync`).
struct Masks {
    buf: Box<[u8; 16384]>,
    at: usize,
}

impl Masks {
    fn new() -> Masks {
        Masks {
            buf: Box::new([0; 16384]),
            at: 16384,
        }
    }

    fn next(&mut self) -> [u8; 4] {
        if self.at == self.buf.len() {
            random_fill(&mut self.buf[..]);
            self.at = 0;
        }
        let k = [
            self.buf[self.at],
            self.buf[self.at + 1],
            self.buf[self.at + 2],
            self.buf[self.at + 3],
        ];
        self.at += 4;
        k
    }
}

fn random_fill(buf: &mut [u8]) {
    if getrandom::fill(buf).is_err() {
        // No OS source: a clock-seeded xorshift (masks and keys need not
        // be secret here, only varied).
        let mut x = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
            | 1;
        for b in buf {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
}

struct State {
    conn: WebSocketConn,
    events: VecDeque<Event>,
    waker: Option<Waker>,
    /// Writes and the destroy, for the driver.
    to_driver: VecDeque<Output>,
    /// The driver task runs (the socket is not gone).
    driving: bool,
}

struct Shared {
    st: Mutex<State>,
    wake: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    /// Move the conn's outputs on: events to the queue (in order), writes
    /// and the destroy to the driver, or, once the socket is gone, writes
    /// dropped.
    fn pump(&mut self) {
        while let Some(o) = self.conn.poll_output() {
            match o {
                Output::Event(e) => {
                    self.events.push_back(e);
                    if let Some(w) = self.waker.take() {
                        w.wake();
                    }
                }
                Output::Write { kind, .. } if !self.driving => self.conn.dropped(kind),
                Output::Destroy if !self.driving => {}
                other => self.to_driver.push_back(other),
            }
        }
    }

    /// The driver is done: the socket is gone.
    fn stop_driving(&mut self) {
        self.driving = false;
        for o in std::mem::take(&mut self.to_driver) {
            if let Output::Write { kind, .. } = o {
                self.conn.dropped(kind);
            }
        }
        self.pump();
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// `http.WebSocket`: a WebSocket client with undici's behaviour (Node
/// 23.5.0).
///
/// [`WebSocket::new`] is `new WebSocket(url, protocols)`: it checks its
/// arguments, then connects and sends the handshake on a tokio task (it
/// needs a runtime with I/O enabled). The events come out of
/// [`WebSocket::next_event`] in undici's order. Handles are cheap clones of
/// the same socket.
///
/// Differences from Node: `wss:` URLs are accepted but not connected (no
/// TLS here: they fail as a network error); `send()` takes strings and
/// bytes (a `Blob` or typed array is bytes); the `headers` and
/// `dispatcher` options are not there.
#[derive(Clone)]
pub struct WebSocket {
    inner: Arc<Shared>,
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.lock();
        f.debug_struct("WebSocket")
            .field("url", &st.conn.url())
            .field("ready_state", &st.conn.ready_state())
            .finish_non_exhaustive()
    }
}

impl WebSocket {
    /// `WebSocket.CONNECTING`.
    pub const CONNECTING: ReadyState = ReadyState::Connecting;
    /// `WebSocket.OPEN`.
    pub const OPEN: ReadyState = ReadyState::Open;
    /// `WebSocket.CLOSING`.
    pub const CLOSING: ReadyState = ReadyState::Closing;
    /// `WebSocket.CLOSED`.
    pub const CLOSED: ReadyState = ReadyState::Closed;

    /// `new WebSocket(url, protocols)`: a `SyntaxError` for a URL that
    /// does not parse ("TypeError: Invalid URL"), a scheme other than
    /// `ws:`, `wss:`, `http:`, `https:` ("Expected a ws: or wss: protocol,
    /// got ftp:"), a fragment ("Got fragment"), or protocols repeated
    /// (ignoring case) or not tokens ("Invalid Sec-WebSocket-Protocol
    /// value"); else the connection starts.
    pub fn new(url: &str, protocols: &[&str]) -> Result<WebSocket, DomException> {
        let mut key = [0u8; 16];
        random_fill(&mut key);
        let mut masks = Masks::new();
        let conn = WebSocketConn::new(
            url,
            protocols,
            &handshake::key_from_bytes(&key),
            Box::new(move || masks.next()),
        )?;
        let inner = Arc::new(Shared {
            st: Mutex::new(State {
                conn,
                events: VecDeque::new(),
                waker: None,
                to_driver: VecDeque::new(),
                driving: true,
            }),
            wake: Notify::new(),
        });
        tokio::spawn(drive(inner.clone()));
        Ok(WebSocket { inner })
    }

    /// `ws.url`.
    pub fn url(&self) -> String {
        self.inner.lock().conn.url().to_owned()
    }

    /// `ws.readyState`.
    pub fn ready_state(&self) -> ReadyState {
        self.inner.lock().conn.ready_state()
    }

    /// `ws.bufferedAmount`: bytes passed to `send()` and not yet written
    /// to the socket.
    pub fn buffered_amount(&self) -> u64 {
        self.inner.lock().conn.buffered_amount()
    }

    /// `ws.protocol`: the subprotocol the server chose (`""` before
    /// `open`, or without one).
    pub fn protocol(&self) -> String {
        self.inner.lock().conn.protocol().to_owned()
    }

    /// `ws.extensions`: the server's `Sec-WebSocket-Extensions`, as sent
    /// (`""` before `open`, or without one).
    pub fn extensions(&self) -> String {
        self.inner.lock().conn.extensions().to_owned()
    }

    /// `ws.binaryType`.
    pub fn binary_type(&self) -> BinaryType {
        self.inner.lock().conn.binary_type()
    }

    /// `ws.binaryType = value` (see [`BinaryType::from_js`]).
    pub fn set_binary_type(&self, value: &str) {
        self.inner
            .lock()
            .conn
            .set_binary_type(BinaryType::from_js(value));
    }

    fn call<T>(&self, f: impl FnOnce(&mut WebSocketConn) -> T) -> T {
        let r = {
            let mut st = self.inner.lock();
            let r = f(&mut st.conn);
            // Events a call makes (an `error` from `close()` while
            // connecting) are queued before it returns, as Node dispatches
            // them before it returns.
            st.pump();
            r
        };
        self.inner.wake.notify_one();
        r
    }

    /// `ws.send(string)`: an `InvalidStateError` ("Sent before
    /// connected.") while connecting; ignored once closing or closed.
    pub fn send_text(&self, data: &str) -> Result<(), DomException> {
        self.call(|c| c.send_text(data))
    }

    /// `ws.send(bytes)` (an `ArrayBuffer`, a typed array or a `Blob`).
    pub fn send_binary(&self, data: &[u8]) -> Result<(), DomException> {
        self.call(|c| c.send_binary(data))
    }

    /// `ws.close(code, reason)`: an `InvalidAccessError` ("invalid code")
    /// for a code other than 1000 or 3000 to 4999, a `SyntaxError`
    /// ("Reason must be less than 123 bytes; received N") for a longer
    /// reason; then the closing handshake. While connecting: the `error`
    /// "Connection was closed before it was established.", the handshake
    /// aborted, `readyState` `CLOSING` for good, and no `close` event.
    pub fn close(&self, code: Option<u16>, reason: Option<&str>) -> Result<(), DomException> {
        self.call(|c| c.close(code, reason))
    }

    /// Poll for the next event; `Ready(None)` once the socket is gone and
    /// every event was taken (a later `close()` may still bring an `error`).
    pub fn poll_next_event(&self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let mut st = self.inner.lock();
        if let Some(e) = st.events.pop_front() {
            return Poll::Ready(Some(e));
        }
        if !st.driving {
            return Poll::Ready(None);
        }
        st.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The next event, in undici's order; `None` when nothing more will
    /// happen unless the program acts (after `close`, or after a failed
    /// handshake, which Node follows with no `close` event).
    pub async fn next_event(&self) -> Option<Event> {
        std::future::poll_fn(|cx| self.poll_next_event(cx)).await
    }
}

/// Where to connect: the URL's host and port (`wss:` has no TLS here).
async fn resolve(url: &url::Url) -> std::io::Result<Vec<SocketAddr>> {
    use std::io::{Error, ErrorKind};
    if url.scheme() != "ws" {
        return Err(Error::new(ErrorKind::Unsupported, "no TLS"));
    }
    let port = url.port_or_known_default().unwrap_or(80);
    match url.host() {
        Some(url::Host::Ipv4(a)) => Ok(vec![SocketAddr::from((a, port))]),
        Some(url::Host::Ipv6(a)) => Ok(vec![SocketAddr::from((a, port))]),
        Some(url::Host::Domain(d)) => Ok(tokio::net::lookup_host((d, port)).await?.collect()),
        None => Err(Error::new(ErrorKind::InvalidInput, "no host")),
    }
}

async fn connect(url: &url::Url) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for a in resolve(url).await? {
        match TcpStream::connect(a).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The socket's task: connect, then read and write until the socket is
/// gone.
async fn drive(shared: Arc<Shared>) {
    let url = shared.lock().conn.parsed_url().clone();
    // Connect, unless `close()` aborts first (other calls wake the task
    // too: the connection attempt goes on through them).
    let connecting = connect(&url);
    tokio::pin!(connecting);
    let stream = loop {
        let woken = shared.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if shared.lock().conn.destroyed() {
            break None;
        }
        tokio::select! {
            r = &mut connecting => break r.ok(),
            _ = &mut woken => {}
        }
    };
    let Some(stream) = stream else {
        let mut st = shared.lock();
        st.conn.connect_failed();
        st.stop_driving();
        return;
    };
    let _ = stream.set_nodelay(true);
    run(&shared, stream).await;
    let mut st = shared.lock();
    st.conn.socket_closed();
    st.stop_driving();
}

/// Read and write on an open socket until it is gone.
async fn run(shared: &Shared, stream: TcpStream) {
    let (mut rd, mut wr) = stream.into_split();
    let mut pending: VecDeque<(Vec<u8>, usize, WriteKind)> = VecDeque::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut eof = false;
    loop {
        let wake = shared.wake.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        let mut destroy = false;
        {
            let mut st = shared.lock();
            st.pump();
            for o in std::mem::take(&mut st.to_driver) {
                match o {
                    Output::Write { bytes, kind } => pending.push_back((bytes, 0, kind)),
                    Output::Destroy => destroy = true,
                    Output::Event(_) => {}
                }
            }
        }
        if destroy {
            // `socket.destroy()`: what the socket takes at once goes out,
            // the rest is dropped.
            while let Some((bytes, off, kind)) = pending.front_mut() {
                match wr.try_write(&bytes[*off..]) {
                    Ok(n) if *off + n == bytes.len() => {
                        let kind = *kind;
                        pending.pop_front();
                        shared.lock().conn.written(kind);
                    }
                    Ok(n) => *off += n,
                    Err(_) => break,
                }
            }
            let mut st = shared.lock();
            for (_, _, kind) in pending.drain(..) {
                st.conn.dropped(kind);
            }
            return;
        }
        if eof && pending.is_empty() {
            // allowHalfOpen is false: the socket ends its side once its
            // writes are out, then closes.
            let _ = wr.shutdown().await;
            return;
        }
        tokio::select! {
            r = rd.read(&mut buf), if !eof => match r {
                Ok(0) => eof = true,
                Ok(n) => shared.lock().conn.receive(&buf[..n]),
                // A reset: undici's `onSocketError` destroys the socket.
                Err(_) => return,
            },
            r = async {
                let (bytes, off, _) = pending.front().expect("a pending write");
                wr.write(&bytes[*off..]).await
            }, if !pending.is_empty() => match r {
                Ok(n) => {
                    let front = pending.front_mut().expect("a pending write");
                    front.1 += n;
                    if front.1 == front.0.len() {
                        let kind = front.2;
                        pending.pop_front();
                        shared.lock().conn.written(kind);
                    }
                }
                Err(_) => return,
            },
            _ = &mut wake => {}
        }
    }
}
