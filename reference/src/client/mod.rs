//! The client: `http.request()`, `http.get()`, `http.ClientRequest`,
//! `http.Agent` and the response `IncomingMessage`, on tokio.
//!
//! The protocol logic is sans-IO: [`request::RequestState`] renders the
//! head and frames the body as Node's `OutgoingMessage` does, and
//! [`conn::ClientConn`] parses the answer (with [`crate::parse`] and
//! [`crate::chunked`]). The tokio layer is one task per socket (module
//! `socket`), which serves the requests an [`Agent`] hands it one after
//! the other.
//!
//! A request's events come out in Node's order from
//! [`ClientRequest::next_event`], the response's from
//! [`IncomingMessage::next_event`] (or its body from
//! [`IncomingMessage::read`]). Every event also carries its place in one
//! process-wide order ([`ClientRequest::next_event_ordered`]): merging the
//! streams of several requests by that number gives the order a single
//! Node event loop would have emitted them in.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use nodehttp::client::{self, Agent, AgentOptions, ClientEvent, RequestOptions};
//! let agent = Agent::new(AgentOptions { keep_alive: true, ..Default::default() })?;
//! let req = client::get(RequestOptions::new("127.0.0.1", 8080, "/").agent(&agent))?;
//! while let Some(event) = req.next_event().await {
//!     if let ClientEvent::Response(res) = event {
//!         println!("{} {}", res.status_code(), res.status_message());
//!         while let Some(chunk) = res.read().await {
//!             println!("{} bytes", chunk.len());
//!         }
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Requests need a tokio runtime (with I/O and time enabled): the socket
//! tasks are spawned on the current one. Timers use tokio's clock, so tests
//! can pause time.

pub mod agent;
use nodehttp_proto::client::base64;
pub use nodehttp_proto::client::{conn, request};
mod socket;

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use agent::lock;
pub use agent::{
    global_agent, Agent, AgentHooks, AgentOptions, CreateConnectionHook, KeepSocketAliveHook,
    NameOptions, ReuseSocketHook, Scheduling,
};
use request::{RequestContext, RequestState};

use crate::encode::{Chunk, OutValue};
use crate::error::Error;
use crate::headers::{HeaderMap, HeaderOptions};
use crate::parse::{ParseOptions, ResponseHead};

// ---------------------------------------------------------------- errors

/// An error a client request or its response emits.
///
/// Node equivalent: the `Error` objects of `req.on('error')` and
/// `res.on('error')`: `err.code`, `err.name`, `err.message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    code: Option<String>,
    name: String,
    message: String,
}

impl ClientError {
    /// `ECONNRESET` "socket hang up": the connection closed before a
    /// response (or the request was destroyed before it had one).
    pub fn hang_up() -> ClientError {
        ClientError::coded("ECONNRESET", "socket hang up")
    }

    /// `ECONNRESET` "aborted": the response was cut short.
    pub fn aborted() -> ClientError {
        ClientError::coded("ECONNRESET", "aborted")
    }

    /// `ABORT_ERR` (an `AbortError`): the request's `AbortSignal` fired.
    pub fn abort_error() -> ClientError {
        ClientError {
            code: Some("ABORT_ERR".into()),
            name: "AbortError".into(),
            message: "The operation was aborted".into(),
        }
    }

    /// `new Error(message)`: an error without a code, as a caller passes
    /// to `req.destroy(err)`.
    pub fn other(message: impl Into<String>) -> ClientError {
        ClientError {
            code: None,
            name: "Error".into(),
            message: message.into(),
        }
    }

    /// `ERR_INVALID_ARG_TYPE` (a `TypeError`) with Node's message, for an
    /// option of the wrong type.
    pub fn invalid_arg_type(message: impl Into<String>) -> ClientError {
        ClientError::from(&Error::invalid_arg_type(message.into()))
    }

    /// `ERR_OUT_OF_RANGE` (a `RangeError`): `The value of "{name}" is out
    /// of range. It must be {range}. Received {received}`.
    pub fn out_of_range(name: &str, range: &str, received: &str) -> ClientError {
        ClientError::from(&Error::out_of_range(name, range, received))
    }

    /// `ERR_INVALID_PROTOCOL` (a `TypeError`): a `protocol` other than
    /// the agent's.
    pub fn invalid_protocol(protocol: &str) -> ClientError {
        ClientError {
            code: Some("ERR_INVALID_PROTOCOL".into()),
            name: "TypeError".into(),
            message: format!("Protocol \"{protocol}\" not supported. Expected \"http:\""),
        }
    }

    fn coded(code: &str, message: &str) -> ClientError {
        ClientError {
            code: Some(code.into()),
            name: "Error".into(),
            message: message.into(),
        }
    }

    /// A system error as libuv names it: `"{syscall} {CODE} {address}"`,
    /// e.g. `connect ECONNREFUSED 127.0.0.1:1`.
    pub fn io(e: &std::io::Error, syscall: &str, address: Option<&str>) -> ClientError {
        use std::io::ErrorKind as K;
        let code = match e.kind() {
            K::ConnectionRefused => "ECONNREFUSED",
            K::ConnectionReset => "ECONNRESET",
            K::ConnectionAborted => "ECONNABORTED",
            K::NotFound => "ENOENT",
            K::TimedOut => "ETIMEDOUT",
            K::BrokenPipe => "EPIPE",
            K::PermissionDenied => "EACCES",
            K::AddrInUse => "EADDRINUSE",
            K::AddrNotAvailable => "EADDRNOTAVAIL",
            _ => "EIO",
        };
        let message = match address {
            Some(a) => format!("{syscall} {code} {a}"),
            None => format!("{syscall} {code}"),
        };
        ClientError::coded(code, &message)
    }

    /// `err.code` (`None` for an error without one).
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// `err.name`: `"Error"`, `"AbortError"`, `"TypeError"`...
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `err.message`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<&Error> for ClientError {
    fn from(e: &Error) -> ClientError {
        ClientError {
            code: Some(e.code().into()),
            name: e.name().into(),
            message: e.to_string(),
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ClientError {}

// ---------------------------------------------------------------- event queues

/// The process-wide order of client events (one event loop's order).
static SEQ: AtomicU64 = AtomicU64::new(0);

struct QueueInner<T> {
    items: VecDeque<(u64, T)>,
    waker: Option<Waker>,
    closed: bool,
}

/// A single-consumer event queue whose items carry their [`SEQ`] number.
struct Queue<T> {
    inner: Mutex<QueueInner<T>>,
}

impl<T> Queue<T> {
    fn new() -> Queue<T> {
        Queue {
            inner: Mutex::new(QueueInner {
                items: VecDeque::new(),
                waker: None,
                closed: false,
            }),
        }
    }

    fn push(&self, item: T) {
        let mut q = lock(&self.inner);
        if q.closed {
            return;
        }
        let seq = SEQ.fetch_add(1, Ordering::SeqCst);
        q.items.push_back((seq, item));
        if let Some(w) = q.waker.take() {
            w.wake();
        }
    }

    /// Push even after the last item.
    fn push_force(&self, item: T) {
        let mut q = lock(&self.inner);
        let seq = SEQ.fetch_add(1, Ordering::SeqCst);
        q.items.push_back((seq, item));
        if let Some(w) = q.waker.take() {
            w.wake();
        }
    }

    /// Push a last item; nothing is queued after it.
    fn push_last(&self, item: T) {
        self.push(item);
        let mut q = lock(&self.inner);
        q.closed = true;
        if let Some(w) = q.waker.take() {
            w.wake();
        }
    }

    fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<(u64, T)>> {
        let mut q = lock(&self.inner);
        if let Some(item) = q.items.pop_front() {
            return Poll::Ready(Some(item));
        }
        if q.closed {
            // An item may still be forced in ('abort' after 'close').
            q.waker = Some(cx.waker().clone());
            return Poll::Ready(None);
        }
        q.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

// ---------------------------------------------------------------- options

/// `options.headers`: an object (set one by one with `setHeader`, then
/// `Host` and `Authorization` added) or a raw array (written as given,
/// nothing added).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestHeaders {
    /// `{ name: value, ... }`, in key order.
    Object(Vec<(String, OutValue)>),
    /// `[name, value, name, value, ...]`: raw order and case kept; an odd
    /// length fails with `ERR_INVALID_ARG_VALUE`.
    Array(Vec<String>),
}

/// Which agent a request goes through.
#[derive(Clone, Default)]
pub enum AgentChoice {
    /// `agent` absent: [`global_agent`].
    #[default]
    Global,
    /// `agent: false`: a new default `Agent` for this request alone.
    Fresh,
    /// `agent: someAgent`.
    Agent(Agent),
}

/// A connected byte stream, as `createConnection` returns.
pub trait ClientStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ClientStream for T {}

/// A boxed [`ClientStream`].
pub type BoxStream = Box<dyn ClientStream>;

/// The future a [`CreateConnection`] hook returns.
pub type ConnectFuture = Pin<Box<dyn Future<Output = std::io::Result<BoxStream>> + Send>>;

/// The `createConnection` option: opens the stream of a request, given
/// its host and port.
pub type CreateConnection = Arc<dyn Fn(&str, u16) -> ConnectFuture + Send + Sync>;

/// The `lookup` option: resolves a host name (and `family`) to addresses,
/// as `dns.lookup()`.
pub type Lookup = Arc<dyn Fn(&str, Option<u8>) -> std::io::Result<Vec<IpAddr>> + Send + Sync>;

/// The options of `http.request(options)`.
///
/// Node equivalent: the `options` object, with Node's defaults for
/// absent fields.
#[derive(Clone, Default)]
pub struct RequestOptions {
    /// `method` (default `GET`); must be a token; upper-cased.
    pub method: Option<String>,
    /// `path` (default `/`).
    pub path: Option<String>,
    /// `host` (default `localhost`).
    pub host: Option<String>,
    /// `hostname`: wins over `host`.
    pub hostname: Option<String>,
    /// `port` (default `defaultPort`, 80).
    pub port: Option<u16>,
    /// `defaultPort`: the port left out of `Host` (default 80).
    pub default_port: Option<u16>,
    /// `headers`.
    pub headers: Option<RequestHeaders>,
    /// `setHost` (default: `setDefaultHeaders`).
    pub set_host: Option<bool>,
    /// `setDefaultHeaders` (default true): false leaves out `Host`,
    /// `Connection`, `Content-Length` and `Transfer-Encoding`.
    pub set_default_headers: Option<bool>,
    /// `auth`: `user:password` for `Authorization: Basic`.
    pub auth: Option<String>,
    /// `agent`.
    pub agent: AgentChoice,
    /// `timeout`: the socket timeout, connection included.
    pub timeout: Option<Duration>,
    /// `signal`.
    pub signal: Option<AbortSignal>,
    /// `uniqueHeaders`.
    pub unique_headers: Vec<String>,
    /// `joinDuplicateHeaders` of the response.
    pub join_duplicate_headers: bool,
    /// `maxHeaderSize` of the response (0 or absent: 16384).
    pub max_header_size: Option<usize>,
    /// `insecureHTTPParser`.
    pub insecure_http_parser: bool,
    /// `socketPath`: a Unix socket.
    pub socket_path: Option<String>,
    /// `localAddress`.
    pub local_address: Option<IpAddr>,
    /// `family`: 4 or 6.
    pub family: Option<u8>,
    /// `createConnection`: without an explicit agent, the request uses no
    /// agent and this hook opens its stream.
    pub create_connection: Option<CreateConnection>,
    /// `lookup`.
    pub lookup: Option<Lookup>,
    /// `protocol` (default `"http:"`): any other fails with
    /// `ERR_INVALID_PROTOCOL`.
    pub protocol: Option<String>,
}

impl RequestOptions {
    /// `{ host, port, path }`.
    pub fn new(host: &str, port: u16, path: &str) -> RequestOptions {
        RequestOptions {
            host: Some(host.into()),
            port: Some(port),
            path: Some(path.into()),
            ..RequestOptions::default()
        }
    }

    /// `method`.
    pub fn method(mut self, m: &str) -> RequestOptions {
        self.method = Some(m.into());
        self
    }

    /// `agent: agent`.
    pub fn agent(mut self, agent: &Agent) -> RequestOptions {
        self.agent = AgentChoice::Agent(agent.clone());
        self
    }

    /// Merge `http.request(url, options)`: the URL's protocol, host, port,
    /// path and credentials, then `self` wins where it sets a field.
    ///
    /// Node equivalent: `urlToHttpOptions(new URL(url))` merged with
    /// `options`: the fragment is dropped, the path and query are
    /// percent-encoded as the URL parser does (spaces, non-ASCII as UTF-8),
    /// credentials become `auth` (`user:` for a user alone). Fails with
    /// `ERR_INVALID_URL` on what does not parse as a URL with an authority;
    /// a protocol other than `http:` is kept, for [`request`] to refuse.
    pub fn with_url(mut self, url: &str) -> Result<RequestOptions, ClientError> {
        let bad = || ClientError {
            code: Some("ERR_INVALID_URL".into()),
            name: "TypeError".into(),
            message: "Invalid URL".into(),
        };
        // The URL parser strips leading and trailing C0 controls and
        // spaces, and removes tabs and newlines anywhere.
        let url: String = url
            .trim_matches(|c: char| c <= ' ')
            .chars()
            .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
            .collect();
        let (scheme, rest) = url.split_once(':').ok_or_else(bad)?;
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok {
            return Err(bad());
        }
        let scheme = scheme.to_ascii_lowercase();
        let special = matches!(scheme.as_str(), "http" | "https" | "ws" | "wss" | "ftp");
        let rest = if special {
            rest.replace('\\', "/")
        } else {
            rest.to_owned()
        };
        let rest = rest.strip_prefix("//").ok_or_else(bad)?;
        let rest = match rest.find('#') {
            Some(i) => &rest[..i],
            None => rest,
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (pathname, search) = match path.find('?') {
            Some(i) => (&path[..i], &path[i..]),
            None => (path, ""),
        };
        let pathname = if pathname.is_empty() { "/" } else { pathname };
        let mut path = percent_encode(pathname, PATH_SET);
        if search.len() > 1 {
            path.push('?');
            path.push_str(&percent_encode(&search[1..], QUERY_SET));
        }
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let auth = userinfo.and_then(|u| {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            (!user.is_empty() || !pass.is_empty())
                .then(|| format!("{}:{}", percent_decode(user), percent_decode(pass)))
        });
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            let end = h.find(']').ok_or_else(bad)?;
            let port = match &h[end + 1..] {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(bad)?),
            };
            (h[..end].to_owned(), port)
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (hostport.to_owned(), None),
            }
        };
        if host.is_empty() && special {
            return Err(bad());
        }
        let port = match port {
            Some("") | None => None,
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => {
                Some(p.parse::<u16>().map_err(|_| bad())?)
            }
            Some(_) => return Err(bad()),
        };
        let default_port = match scheme.as_str() {
            "http" | "ws" => Some(80),
            "https" | "wss" => Some(443),
            "ftp" => Some(21),
            _ => None,
        };
        self.protocol = self.protocol.or(Some(format!("{scheme}:")));
        self.hostname = self.hostname.or(Some(host.to_ascii_lowercase()));
        self.port = self.port.or(port.filter(|p| Some(*p) != default_port));
        self.path = self.path.or(Some(path));
        self.auth = self.auth.or(auth);
        Ok(self)
    }
}

/// The WHATWG URL path percent-encode set (C0 controls, space, `"`, `#`,
/// `<`, `>`, `?`, `` ` ``, `{`, `}`; non-ASCII always).
const PATH_SET: &[u8] = b" \"#<>?`{}";
/// The special-query percent-encode set (C0 controls, space, `"`, `#`,
/// `<`, `>`, `'`).
const QUERY_SET: &[u8] = b" \"#<>'";

fn percent_encode(s: &str, set: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if !(0x20..0x7f).contains(&b) || set.contains(&b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------- abort signal

struct AbortInner {
    aborted: bool,
    requests: Vec<Weak<ReqInner>>,
}

/// `AbortController`: aborting it destroys the requests given its signal
/// with an `ABORT_ERR` error.
#[derive(Clone)]
pub struct AbortController {
    inner: Arc<Mutex<AbortInner>>,
}

/// `AbortSignal`: the `signal` option of a request.
#[derive(Clone)]
pub struct AbortSignal {
    inner: Arc<Mutex<AbortInner>>,
}

impl Default for AbortController {
    fn default() -> Self {
        AbortController::new()
    }
}

impl AbortController {
    /// `new AbortController()`.
    pub fn new() -> AbortController {
        AbortController {
            inner: Arc::new(Mutex::new(AbortInner {
                aborted: false,
                requests: Vec::new(),
            })),
        }
    }

    /// `controller.signal`.
    pub fn signal(&self) -> AbortSignal {
        AbortSignal {
            inner: self.inner.clone(),
        }
    }

    /// `controller.abort()`: every request with this signal is destroyed
    /// with `ABORT_ERR`, at once (as the `'abort'` listener of
    /// `addAbortSignal` does).
    pub fn abort(&self) {
        let requests = {
            let mut a = lock(&self.inner);
            if a.aborted {
                return;
            }
            a.aborted = true;
            std::mem::take(&mut a.requests)
        };
        for r in requests.iter().filter_map(Weak::upgrade) {
            ClientRequest { inner: r }.destroy(Some(ClientError::abort_error()));
        }
    }
}

impl AbortSignal {
    /// `signal.aborted`.
    pub fn aborted(&self) -> bool {
        lock(&self.inner).aborted
    }
}

// ---------------------------------------------------------------- events

/// The `'information'` payload: a 1xx head other than 101.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Information {
    /// `info.statusCode`.
    pub status_code: u16,
    /// `info.statusMessage`.
    pub status_message: String,
    /// `(httpVersionMajor, httpVersionMinor)`.
    pub http_version: (u8, u8),
    /// `info.headers`.
    pub headers: HeaderMap,
    /// `info.rawHeaders` as pairs.
    pub raw_headers: Vec<(String, String)>,
}

/// An event of a [`ClientRequest`], in Node's order.
///
/// Node equivalent: the events of `http.ClientRequest`.
pub enum ClientEvent {
    /// `'socket'`: the request got a socket (`req.reusedSocket` when it
    /// came from the agent's free pool).
    Socket {
        /// `req.reusedSocket`.
        reused: bool,
    },
    /// `'finish'`: the whole request went to the socket.
    Finish,
    /// `'continue'`: a `100 Continue` arrived.
    Continue,
    /// `'information'`: a 1xx answer other than 101.
    Information(Information),
    /// `'response'`.
    Response(IncomingMessage),
    /// `'timeout'`: the socket was idle for the timeout (nothing else
    /// happens).
    Timeout,
    /// `'upgrade'`: a 101 answer with `Upgrade` and `Connection: upgrade`; the socket and the bytes after the head
    /// are the caller's.
    Upgrade {
        /// The response head.
        res: IncomingMessage,
        /// The socket.
        socket: UpgradedSocket,
        /// The bytes that followed the head.
        head: Vec<u8>,
    },
    /// `'connect'`: a 2xx answer to `CONNECT`.
    Connect {
        /// The response head.
        res: IncomingMessage,
        /// The socket.
        socket: UpgradedSocket,
        /// The bytes that followed the head.
        head: Vec<u8>,
    },
    /// `'abort'` (deprecated in Node): `req.abort()` was called.
    Abort,
    /// `'drain'`: after a `write()` returned false, everything written
    /// went to the socket.
    Drain,
    /// `'prefinish'`: the request is ended and its last bytes are about
    /// to go (just before `'finish'`).
    Prefinish,
    /// The callback given to `write()` or `end()` (by the id those
    /// returned) is called, with this argument.
    Callback {
        /// The id [`ClientRequest::write_with_callback`] or
        /// [`ClientRequest::end_with_callback`] returned.
        id: u64,
        /// What the callback gets.
        arg: CallbackArg,
    },
    /// `'error'`.
    Error(ClientError),
    /// `'close'`: the last event.
    Close,
}

impl fmt::Debug for ClientEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientEvent::Socket { reused } => write!(f, "Socket {{ reused: {reused} }}"),
            ClientEvent::Finish => f.write_str("Finish"),
            ClientEvent::Continue => f.write_str("Continue"),
            ClientEvent::Information(i) => write!(f, "Information({})", i.status_code),
            ClientEvent::Response(r) => write!(f, "Response({})", r.status_code()),
            ClientEvent::Timeout => f.write_str("Timeout"),
            ClientEvent::Upgrade { res, head, .. } => {
                write!(f, "Upgrade({}, {} bytes)", res.status_code(), head.len())
            }
            ClientEvent::Connect { res, head, .. } => {
                write!(f, "Connect({}, {} bytes)", res.status_code(), head.len())
            }
            ClientEvent::Abort => f.write_str("Abort"),
            ClientEvent::Prefinish => f.write_str("Prefinish"),
            ClientEvent::Drain => f.write_str("Drain"),
            ClientEvent::Callback { id, arg } => write!(f, "Callback({id}, {arg:?})"),
            ClientEvent::Error(e) => write!(f, "Error({:?}, {:?})", e.code(), e.message()),
            ClientEvent::Close => f.write_str("Close"),
        }
    }
}

/// The argument a `write()` or `end()` callback is called with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackArg {
    /// No argument (`end()`'s callback, a `'finish'` listener).
    Undefined,
    /// `null`: the chunk was written.
    Null,
    /// The error.
    Error(ClientError),
}

/// An event of a response [`IncomingMessage`], in Node's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageEvent {
    /// `'data'`.
    Data(Vec<u8>),
    /// `'end'`: the body is complete (trailers are readable now).
    End,
    /// `'aborted'`: the connection closed before the end.
    Aborted,
    /// `'error'` (`ECONNRESET` "aborted" after `'aborted'`).
    Error(ClientError),
    /// `'close'`.
    Close,
}

// ---------------------------------------------------------------- request

pub(crate) struct ReqSt {
    pub(crate) out: RequestState,
    pub(crate) destroyed: bool,
    pub(crate) aborted: bool,
    /// `req[kError]`: the error given to `destroy()`.
    pub(crate) error: Option<ClientError>,
    pub(crate) has_socket: bool,
    pub(crate) reused: bool,
    /// `req.timeout` (the option).
    pub(crate) timeout: Option<Duration>,
    /// Whether `'timeout'` is relayed from the socket (`timeoutCb`).
    pub(crate) listens_timeout: bool,
    /// A `setTimeout()` not yet applied to the socket.
    pub(crate) pending_timeout: Option<Duration>,
    /// `req._ended`: the response ended.
    pub(crate) ended: bool,
    pub(crate) res: Option<IncomingMessage>,
    pub(crate) parse: ParseOptions,
    pub(crate) join_duplicate_headers: bool,
    pub(crate) host: String,
    /// `'finish'` was emitted (`writableFinished`).
    pub(crate) finish_emitted: bool,
    /// A socket was handed over and its `onSocketNT` has not run yet.
    pub(crate) socket_pending: bool,
    /// Events to emit once it ran.
    pub(crate) deferred: Vec<ClientEvent>,
    /// The last callback id handed out.
    pub(crate) next_callback: u64,
    /// Output bytes the socket task took so far.
    pub(crate) taken: u64,
    /// `write()` callbacks: called once `taken` minus what waits unsent
    /// reaches the offset.
    pub(crate) write_callbacks: Vec<(u64, u64)>,
    /// `end()` callbacks: called right after `'finish'`.
    pub(crate) finish_callbacks: Vec<u64>,
    /// A `write()` returned false: `'drain'` is due once the output is
    /// flushed.
    pub(crate) need_drain: bool,
    /// `req.maxHeadersCount` (`None`: `null`).
    pub(crate) max_headers_count: Option<usize>,
    /// `maxHeadersCount` as `tickOnSocket` read it for the parser.
    pub(crate) parser_max_headers: Option<usize>,
    /// The socket handed over (and whether from the free pool) whose
    /// `onSocketNT` has not run yet.
    pub(crate) handed: Option<(Arc<agent::Sock>, bool)>,
    /// [`ClientRequest::run_next_tick`] ran `onSocketNT`.
    pub(crate) socket_ticked: bool,
    /// Socket calls waiting for the socket (`_deferToConnect`).
    pub(crate) socket_calls: Vec<SocketCall>,
    /// `'close'` was emitted.
    pub(crate) closed: bool,
    /// Events due just after `'close'`.
    pub(crate) after_close: Vec<ClientEvent>,
    /// The response does not flow by itself: `'close'` waits until the
    /// consumer read its end ([`ClientRequest::set_response_paused`]).
    pub(crate) read_by_consumer: bool,
    /// `destroy()` was called.
    pub(crate) user_destroyed: bool,
    /// `req.socket`, once assigned.
    pub(crate) sock: Option<Arc<agent::Sock>>,
    /// `req.agent`.
    pub(crate) agent: Option<Agent>,
}

pub(crate) struct ReqInner {
    pub(crate) st: Mutex<ReqSt>,
    /// Wakes the socket task serving the request.
    pub(crate) wake: Notify,
    /// Wakes writers waiting for `'drain'`.
    pub(crate) drain: Notify,
    events: Queue<ClientEvent>,
}

impl ReqInner {
    pub(crate) fn emit(&self, e: ClientEvent) {
        if matches!(e, ClientEvent::Close) {
            self.events.push_last(e);
            let after = {
                let mut st = lock(&self.st);
                st.closed = true;
                std::mem::take(&mut st.after_close)
            };
            for e in after {
                self.events.push_force(e);
            }
        } else {
            self.events.push(e);
        }
    }

    /// An event that may follow `'close'` (`'abort'` does in Node).
    pub(crate) fn emit_after_close(&self, e: ClientEvent) {
        self.events.push_force(e);
    }

    /// Emit `e` on the next tick: after the pending `onSocketNT`, if any.
    fn emit_next_tick(&self, e: ClientEvent) {
        let mut st = lock(&self.st);
        if st.socket_pending {
            st.deferred.push(e);
        } else {
            drop(st);
            // 'abort' comes even after 'close'.
            if matches!(e, ClientEvent::Abort) {
                self.emit_after_close(e);
            } else {
                self.emit(e);
            }
        }
    }
}

/// `http.ClientRequest`: the request in flight, its header API, its body
/// stream and its events.
///
/// Handles are cheap clones of the same request.
#[derive(Clone)]
pub struct ClientRequest {
    inner: Arc<ReqInner>,
}

impl fmt::Debug for ClientRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.inner.st);
        f.debug_struct("ClientRequest")
            .field("method", &st.out.context().method)
            .field("path", &st.out.context().path)
            .finish_non_exhaustive()
    }
}

/// `http.request(options)`: create the request and hand it to its agent
/// (or open its connection). The head goes out with the first body bytes,
/// `end()` or `flushHeaders()` (at once when an `Expect` header is set).
///
/// Fails as Node's constructor throws: `ERR_INVALID_HTTP_TOKEN` for a bad
/// method, `ERR_UNESCAPED_CHARACTERS` for a path with a char outside
/// `\x21-\xff`, header errors of `setHeader`, `ERR_INVALID_ARG_VALUE` for
/// an odd header array.
pub fn request(options: RequestOptions) -> Result<ClientRequest, ClientError> {
    let o = options;
    let agent = match &o.agent {
        AgentChoice::Agent(a) => Some(a.clone()),
        AgentChoice::Fresh => {
            Some(Agent::new(AgentOptions::default()).map_err(|e| ClientError::from(&e))?)
        }
        AgentChoice::Global if o.create_connection.is_some() => None,
        AgentChoice::Global => Some(global_agent()),
    };
    if let Some(p) = &o.path {
        if p.chars().any(|c| !('\u{21}'..='\u{ff}').contains(&c)) {
            return Err(ClientError {
                code: Some("ERR_UNESCAPED_CHARACTERS".into()),
                name: "TypeError".into(),
                message: "Request path contains unescaped characters".into(),
            });
        }
    }
    if let Some(p) = o.protocol.as_deref() {
        if !p.is_empty() && p != "http:" {
            return Err(ClientError::invalid_protocol(p));
        }
    }
    // `options.defaultPort || agent.defaultPort || 80`.
    let default_port = o
        .default_port
        .filter(|p| *p != 0)
        .or(agent.as_ref().map(Agent::default_port).filter(|p| *p != 0))
        .unwrap_or(80);
    let port = o.port.filter(|p| *p != 0).unwrap_or(default_port);
    let host = o
        .hostname
        .clone()
        .or(o.host.clone())
        .unwrap_or_else(|| "localhost".into());
    let set_host = o.set_host.unwrap_or(o.set_default_headers != Some(false));
    let method = match o.method.as_deref() {
        Some(m) if !m.is_empty() => {
            crate::validate::validate_token(m, "Method").map_err(|e| ClientError::from(&e))?;
            m.to_ascii_uppercase()
        }
        _ => "GET".to_owned(),
    };
    let path = o
        .path
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".into());
    let should_keep_alive = match &agent {
        Some(a) => a.keep_alive() || a.max_sockets().is_some(),
        None => false,
    };
    let ctx = RequestContext {
        method: method.clone(),
        path,
        should_keep_alive,
        has_agent: agent.is_some(),
        unique_headers: Vec::new(),
    };
    let mut out = RequestState::new(ctx);
    if o.set_default_headers == Some(false) {
        // `_removedConnection`, `_removedContLen`, `_removedTE`.
        let _ = out.remove_header("connection");
        let _ = out.remove_header("content-length");
        let _ = out.remove_header("transfer-encoding");
    }
    let err = |e: Error| ClientError::from(&e);
    match &o.headers {
        Some(RequestHeaders::Array(flat)) => {
            if flat.len() % 2 != 0 {
                return Err(ClientError {
                    code: Some("ERR_INVALID_ARG_VALUE".into()),
                    name: "TypeError".into(),
                    message: "The argument 'headers' is invalid.".into(),
                });
            }
            let pairs: Vec<(String, OutValue)> = flat
                .chunks(2)
                .map(|p| (p[0].clone(), OutValue::One(p[1].clone())))
                .collect();
            out.store_raw_headers(&pairs).map_err(err)?;
        }
        other => {
            if let Some(RequestHeaders::Object(list)) = other {
                for (k, v) in list {
                    out.set_header(k, v.clone()).map_err(err)?;
                }
            }
            if !out.has_header("host") && set_host {
                let mut h = host.clone();
                if let Some(i) = h.find(':') {
                    if h[i + 1..].contains(':') && !h.starts_with('[') {
                        h = format!("[{h}]");
                    }
                }
                if port != default_port {
                    h.push_str(&format!(":{port}"));
                }
                out.set_header("Host", h.into()).map_err(err)?;
            }
            if let Some(auth) = &o.auth {
                if !auth.is_empty() && !out.has_header("authorization") {
                    let v = format!("Basic {}", base64(auth.as_bytes()));
                    out.set_header("Authorization", v.into()).map_err(err)?;
                }
            }
            if out.has_header("expect") {
                out.store_queued_headers().map_err(err)?;
            }
        }
    }
    // `kUniqueHeaders` is set after the constructor's `_storeHeader`.
    out.set_unique_headers(o.unique_headers.clone());
    let agent_timeout = agent.as_ref().and_then(|a| a.options().timeout);
    let st = ReqSt {
        out,
        destroyed: false,
        aborted: false,
        error: None,
        has_socket: false,
        reused: false,
        timeout: o.timeout,
        listens_timeout: o.timeout.is_some() || agent_timeout.is_some(),
        pending_timeout: None,
        ended: false,
        res: None,
        parse: ParseOptions {
            max_header_size: o
                .max_header_size
                .filter(|n| *n != 0)
                .unwrap_or(crate::parse::DEFAULT_MAX_HEADER_SIZE),
            insecure: o.insecure_http_parser,
        },
        join_duplicate_headers: o.join_duplicate_headers,
        host: host.clone(),
        finish_emitted: false,
        socket_pending: false,
        deferred: Vec::new(),
        next_callback: 0,
        taken: 0,
        write_callbacks: Vec::new(),
        finish_callbacks: Vec::new(),
        need_drain: false,
        max_headers_count: None,
        parser_max_headers: None,
        handed: None,
        socket_ticked: false,
        socket_calls: Vec::new(),
        closed: false,
        after_close: Vec::new(),
        read_by_consumer: false,
        user_destroyed: false,
        sock: None,
        agent: agent.clone(),
    };
    let inner = Arc::new(ReqInner {
        st: Mutex::new(st),
        wake: Notify::new(),
        drain: Notify::new(),
        events: Queue::new(),
    });
    let req = ClientRequest {
        inner: inner.clone(),
    };
    if let Some(signal) = &o.signal {
        let mut a = lock(&signal.inner);
        if a.aborted {
            drop(a);
            req.destroy(Some(ClientError::abort_error()));
        } else {
            a.requests.push(Arc::downgrade(&inner));
        }
    }
    // addRequest: the agent's own options win over the request's.
    let local_address = agent
        .as_ref()
        .and_then(|a| a.options().local_address)
        .or(o.local_address);
    let name_opts = NameOptions {
        host: Some(host.clone()),
        port: Some(port),
        local_address,
        family: o.family,
        socket_path: o.socket_path.clone(),
    };
    let kind = if let Some(cc) = &o.create_connection {
        socket::TargetKind::Custom(cc.clone(), host.clone(), port)
    } else if let Some(p) = &o.socket_path {
        socket::TargetKind::Unix(p.into())
    } else {
        socket::TargetKind::Tcp {
            host: host.clone(),
            port,
            local: local_address,
            family: o.family,
            lookup: o.lookup.clone(),
        }
    };
    let target = socket::Target {
        name: match &agent {
            Some(a) => a.get_name(&name_opts),
            None => String::new(),
        },
        kind,
        timeout: agent_timeout.or(o.timeout),
    };
    match agent {
        Some(a) => a.add_request(inner, target),
        None => socket::spawn(agent::Sock::new(String::new()), None, target, inner),
    }
    Ok(req)
}

/// `http.get(options)`: `http.request()`, then `req.end()` (the method
/// stays the one of the options, `GET` by default).
pub fn get(options: RequestOptions) -> Result<ClientRequest, ClientError> {
    let req = request(options)?;
    req.end(None).map_err(|e| ClientError::from(&e))?;
    Ok(req)
}

impl ClientRequest {
    fn st(&self) -> std::sync::MutexGuard<'_, ReqSt> {
        lock(&self.inner.st)
    }

    /// The next event, in Node's order; `None` after [`ClientEvent::Close`].
    pub async fn next_event(&self) -> Option<ClientEvent> {
        self.next_event_ordered().await.map(|(_, e)| e)
    }

    /// The next event with its place in the process-wide order of client
    /// events (see the module docs).
    pub async fn next_event_ordered(&self) -> Option<(u64, ClientEvent)> {
        std::future::poll_fn(|cx| self.poll_next_event(cx)).await
    }

    /// Poll for the next event (with its place in the order).
    pub fn poll_next_event(&self, cx: &mut Context<'_>) -> Poll<Option<(u64, ClientEvent)>> {
        self.inner.events.poll_next(cx)
    }

    /// `req.method`.
    pub fn method(&self) -> String {
        self.st().out.context().method.clone()
    }

    /// `req.path`.
    pub fn path(&self) -> String {
        self.st().out.context().path.clone()
    }

    /// `req.path = path`: the request line has it if the head was not
    /// rendered yet (no check, as in Node).
    pub fn set_path(&self, path: &str) {
        self.st().out.set_path(path.to_owned());
    }

    /// `req.host`.
    pub fn host(&self) -> String {
        self.st().host.clone()
    }

    /// `req.agent` (`None` for a request with `createConnection` and no
    /// agent).
    pub fn agent(&self) -> Option<Agent> {
        self.st().agent.clone()
    }

    /// `req.socket`, once the request has one.
    pub fn socket(&self) -> Option<ClientSocket> {
        let st = self.st();
        st.sock.clone().map(|sock| ClientSocket {
            sock,
            agent: st.agent.clone(),
        })
    }

    /// Run now what Node runs on the request's next tick: `onSocketNT`
    /// for a socket the agent handed over synchronously (a new one, or a
    /// free one reused), which emits `'socket'` and the events deferred
    /// to that tick. A caller that plays Node's event loop calls it once
    /// its synchronous work after [`request`] is done, before any I/O;
    /// otherwise the socket task does it. Nothing happens for a request
    /// destroyed meanwhile (the socket task reports that), queued, or
    /// already past it.
    pub fn run_next_tick(&self) {
        let mut st = self.st();
        if st.destroyed || st.has_socket {
            return;
        }
        let Some((sock, reused)) = st.handed.take() else {
            return;
        };
        if sock.destroyed.load(Ordering::SeqCst) {
            st.handed = Some((sock, reused));
            return;
        }
        st.has_socket = true;
        st.reused = reused;
        st.sock = Some(sock);
        st.out.attach_socket();
        st.parser_max_headers = st.max_headers_count;
        st.socket_ticked = true;
        // Emitted under the lock: the socket task, which takes it first,
        // then sees the tick done and emits nothing of its own before.
        self.inner.emit(ClientEvent::Socket { reused });
        let sock = st.sock.clone();
        drop(st);
        socket::flush_deferred(&self.inner);
        if let Some(sock) = sock {
            socket::apply_socket_calls(&self.inner, &sock);
        }
    }

    /// `req.setNoDelay([noDelay])`: `socket.setNoDelay(noDelay)` now if
    /// the request has its socket, else right after its `'socket'`.
    pub fn set_no_delay(&self, no_delay: Option<bool>) {
        self.defer_to_connect(SocketCall::NoDelay(no_delay));
    }

    /// `req.setSocketKeepAlive([enable][, initialDelay])`:
    /// `socket.setKeepAlive(enable, initialDelay)`, now or once the
    /// request has its socket.
    pub fn set_socket_keep_alive(&self, enable: Option<bool>, delay: Option<Duration>) {
        self.defer_to_connect(SocketCall::KeepAlive(enable, delay));
    }

    /// `_deferToConnect`.
    fn defer_to_connect(&self, call: SocketCall) {
        let sock = {
            let mut st = self.st();
            match st.sock.clone().filter(|_| st.has_socket) {
                Some(s) => s,
                None => {
                    st.socket_calls.push(call);
                    return;
                }
            }
        };
        call.apply(&sock);
    }

    /// Say that the response will be read only when its consumer chooses
    /// (a `'response'` listener that neither reads nor resumes it): as in
    /// Node, where `'end'` is emitted only once the body was consumed, the
    /// request's `'close'` then waits until the response's end was read
    /// ([`IncomingMessage::next_event`] returned [`MessageEvent::End`]).
    /// By default the response is taken to flow, as with a `'data'`
    /// listener.
    pub fn set_response_paused(&self, paused: bool) {
        self.st().read_by_consumer = paused;
        self.inner.wake.notify_one();
    }

    /// `req.strictContentLength`.
    pub fn strict_content_length(&self) -> bool {
        self.st().out.strict_content_length()
    }

    /// `req.strictContentLength = on`.
    pub fn set_strict_content_length(&self, on: bool) {
        self.st().out.set_strict_content_length(on);
    }

    /// `req.cork()`: writes are held (see
    /// [`RequestState::uncork`](request::RequestState::uncork)).
    pub fn cork(&self) {
        self.st().out.cork();
    }

    /// `req.uncork()`.
    pub fn uncork(&self) {
        self.st().out.uncork();
        self.inner.wake.notify_one();
    }

    /// `req.writableCorked`: `cork()` minus `uncork()` calls (negative
    /// after more `uncork()` calls, as in Node 21 and later).
    pub fn writable_corked(&self) -> i64 {
        self.st().out.writable_corked()
    }

    /// `req.maxHeadersCount` (`None`: `null`, the parser's default of
    /// 1000 headers).
    pub fn max_headers_count(&self) -> Option<usize> {
        self.st().max_headers_count
    }

    /// `req.maxHeadersCount = n`: how many headers of the response go to
    /// `res.headers` and `res.headersDistinct` (0: all); read when the
    /// response head arrives.
    pub fn set_max_headers_count(&self, n: Option<usize>) {
        self.st().max_headers_count = n;
    }

    /// `req.reusedSocket`.
    pub fn reused_socket(&self) -> bool {
        self.st().reused
    }

    /// `req.destroyed`.
    pub fn destroyed(&self) -> bool {
        self.st().destroyed
    }

    /// `req.aborted`: `abort()` was called.
    pub fn aborted(&self) -> bool {
        self.st().aborted
    }

    /// `req.headersSent`.
    pub fn headers_sent(&self) -> bool {
        self.st().out.headers_sent()
    }

    /// `req.writableEnded` (`req.finished`).
    pub fn writable_ended(&self) -> bool {
        self.st().out.finished()
    }

    /// `req.writableFinished`: `'finish'` was emitted.
    pub fn writable_finished(&self) -> bool {
        self.st().finish_emitted
    }

    /// `req.setHeader(name, value)`.
    pub fn set_header(&self, name: &str, value: impl Into<OutValue>) -> Result<(), Error> {
        self.st().out.set_header(name, value.into())
    }

    /// `req.getHeader(name)`.
    pub fn get_header(&self, name: &str) -> Option<OutValue> {
        self.st().out.get_header(name).cloned()
    }

    /// `req.appendHeader(name, value)`.
    pub fn append_header(&self, name: &str, value: impl Into<OutValue>) -> Result<(), Error> {
        self.st().out.append_header(name, value.into())
    }

    /// `req.setHeaders(headers)`.
    pub fn set_headers(&self, headers: &[(String, OutValue)]) -> Result<(), Error> {
        self.st().out.set_headers(headers)
    }

    /// `req.removeHeader(name)`.
    pub fn remove_header(&self, name: &str) -> Result<(), Error> {
        self.st().out.remove_header(name)
    }

    /// `req.hasHeader(name)`.
    pub fn has_header(&self, name: &str) -> bool {
        self.st().out.has_header(name)
    }

    /// `req.getHeaders()`.
    pub fn get_headers(&self) -> Vec<(String, OutValue)> {
        self.st().out.get_headers()
    }

    /// `req.getHeaderNames()`.
    pub fn get_header_names(&self) -> Vec<String> {
        self.st().out.get_header_names()
    }

    /// `req.getRawHeaderNames()`.
    pub fn get_raw_header_names(&self) -> Vec<String> {
        self.st().out.get_raw_header_names()
    }

    /// `req.flushHeaders()`.
    pub fn flush_headers(&self) -> Result<(), Error> {
        let r = self.st().out.flush_headers();
        self.inner.wake.notify_one();
        r
    }

    /// `req.addTrailers(headers)`.
    pub fn add_trailers(&self, trailers: &[(String, String)]) -> Result<(), Error> {
        self.st().out.add_trailers(trailers)
    }

    /// `req.write(chunk)`: Node's boolean (false: wait for
    /// [`drained`](Self::drained) before writing more). A write after
    /// `end()` returns false and emits `ERR_STREAM_WRITE_AFTER_END` as an
    /// `'error'` event; after `destroy()` it returns false.
    pub fn write(&self, data: &[u8]) -> Result<bool, Error> {
        self.write_inner(Chunk::Bytes(data), None)
    }

    /// [`write`](Self::write) with a chunk that may be a string in UTF-8,
    /// `req.write(string)`: a head still unsent then goes with it in UTF-8,
    /// as Node's does (see [`Chunk`]).
    pub fn write_chunk(&self, chunk: Chunk<'_>) -> Result<bool, Error> {
        self.write_inner(chunk, None)
    }

    /// [`write_with_callback`](Self::write_with_callback) with a chunk
    /// that may be a string in UTF-8.
    pub fn write_chunk_with_callback(&self, chunk: Chunk<'_>) -> Result<(bool, u64), Error> {
        let id = self.next_callback_id();
        self.write_inner(chunk, Some(id)).map(|ok| (ok, id))
    }

    /// `req.write(chunk, callback)`: as [`write`](Self::write); the
    /// request later emits [`ClientEvent::Callback`] with the returned id:
    /// with `null` once the chunk went to the socket, or with the error
    /// (`ERR_STREAM_WRITE_AFTER_END`, just before the `'error'`).
    pub fn write_with_callback(&self, data: &[u8]) -> Result<(bool, u64), Error> {
        self.write_chunk_with_callback(Chunk::Bytes(data))
    }

    fn next_callback_id(&self) -> u64 {
        let mut st = self.st();
        st.next_callback += 1;
        st.next_callback
    }

    fn write_inner(&self, chunk: Chunk<'_>, cb: Option<u64>) -> Result<bool, Error> {
        let r = {
            let mut st = self.st();
            if st.destroyed {
                // process.nextTick(callback, ERR_STREAM_DESTROYED)
                if let Some(id) = cb {
                    let err = ClientError::from(&Error::stream_destroyed("write"));
                    let e = ClientEvent::Callback {
                        id,
                        arg: CallbackArg::Error(err),
                    };
                    if st.closed {
                        drop(st);
                        self.inner.emit_after_close(e);
                    } else {
                        st.after_close.push(e);
                    }
                }
                return Ok(false);
            }
            let r = st.out.write_chunk(chunk);
            if let Ok(false) = r {
                st.need_drain = true;
            }
            if let (Ok(_), Some(id)) = (&r, cb) {
                let offset = st.taken + st.out.pending_len() as u64;
                st.write_callbacks.push((offset, id));
            }
            r
        };
        self.inner.wake.notify_one();
        match r {
            Ok(ok) => Ok(ok),
            Err(e) if e.code() == "ERR_STREAM_WRITE_AFTER_END" => {
                // writeAfterEndNT: the callback, then 'error'.
                let err = ClientError::from(&e);
                if let Some(id) = cb {
                    self.inner.emit_next_tick(ClientEvent::Callback {
                        id,
                        arg: CallbackArg::Error(err.clone()),
                    });
                }
                self.inner.emit_next_tick(ClientEvent::Error(err));
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Wait until the bytes written so far went to the socket (Node's
    /// `'drain'`), or the request is destroyed.
    pub async fn drained(&self) {
        loop {
            let n = self.inner.drain.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            {
                let st = self.st();
                if st.destroyed || st.out.pending_len() < request::HIGH_WATER_MARK {
                    return;
                }
            }
            n.await;
        }
    }

    /// `req.end([data])`.
    pub fn end(&self, data: Option<&[u8]>) -> Result<(), Error> {
        self.end_inner(data.map(Chunk::Bytes), None)
    }

    /// [`end`](Self::end) with a chunk that may be a string in UTF-8,
    /// `req.end(string)` (see [`Chunk`]).
    pub fn end_chunk(&self, data: Option<Chunk<'_>>) -> Result<(), Error> {
        self.end_inner(data, None)
    }

    /// [`end_with_callback`](Self::end_with_callback) with a chunk that
    /// may be a string in UTF-8.
    pub fn end_chunk_with_callback(&self, data: Option<Chunk<'_>>) -> Result<u64, Error> {
        let id = self.next_callback_id();
        self.end_inner(data, Some(id)).map(|()| id)
    }

    /// `req.end([data], callback)`: as [`end`](Self::end); the request
    /// emits [`ClientEvent::Callback`] with the returned id (and
    /// `undefined`) right after `'finish'` (at once, with
    /// `ERR_STREAM_ALREADY_FINISHED`, if `'finish'` was already emitted).
    pub fn end_with_callback(&self, data: Option<&[u8]>) -> Result<u64, Error> {
        self.end_chunk_with_callback(data.map(Chunk::Bytes))
    }

    fn end_inner(&self, data: Option<Chunk<'_>>, cb: Option<u64>) -> Result<(), Error> {
        let r = {
            let mut st = self.st();
            if st.destroyed {
                return Ok(());
            }
            let already = st.out.finished();
            let r = st.out.end_chunk(data);
            if let (Ok(()), Some(id)) = (&r, cb) {
                if already && st.finish_emitted {
                    drop(st);
                    self.inner.emit(ClientEvent::Callback {
                        id,
                        arg: CallbackArg::Error(ClientError {
                            code: Some("ERR_STREAM_ALREADY_FINISHED".into()),
                            name: "Error".into(),
                            message: "Cannot call end after a stream was finished".into(),
                        }),
                    });
                    return Ok(());
                }
                st.finish_callbacks.push(id);
            }
            r
        };
        self.inner.wake.notify_one();
        match r {
            Err(e) if e.code() == "ERR_STREAM_WRITE_AFTER_END" => {
                self.inner
                    .emit_next_tick(ClientEvent::Error(ClientError::from(&e)));
                Ok(())
            }
            other => other,
        }
    }

    /// `req.setTimeout(ms)`: `'timeout'` after `ms` of socket inactivity
    /// (0 disables); nothing else happens. Ignored once the response
    /// ended.
    pub fn set_timeout(&self, ms: Duration) {
        let mut st = self.st();
        if st.ended {
            return;
        }
        st.listens_timeout = true;
        st.pending_timeout = Some(ms);
        drop(st);
        self.inner.wake.notify_one();
    }

    /// `req.destroy([err])`: close the socket; `'error'` (`err`, or
    /// "socket hang up" without a response) then `'close'`, as the docs of
    /// `http.request` list them.
    pub fn destroy(&self, err: Option<ClientError>) {
        let mut st = self.st();
        st.user_destroyed = true;
        if st.destroyed {
            return;
        }
        st.destroyed = true;
        st.error = err;
        st.out.destroy();
        drop(st);
        self.inner.wake.notify_one();
        self.inner.drain.notify_waiters();
    }

    /// `req.abort()` (deprecated in Node): `'abort'`, then as `destroy()`
    /// without an error.
    pub fn abort(&self) {
        {
            let mut st = self.st();
            if st.aborted {
                return;
            }
            st.aborted = true;
        }
        self.inner.emit_next_tick(ClientEvent::Abort);
        self.destroy(None);
    }
}

// ---------------------------------------------------------------- response

pub(crate) struct ResSt {
    complete: bool,
    aborted: bool,
    raw_trailers: Vec<(String, String)>,
}

pub(crate) struct ResInner {
    status: u16,
    reason: String,
    version: (u8, u8),
    raw_headers: Vec<(String, String)>,
    headers: HeaderMap,
    headers_distinct: HeaderMap,
    join: bool,
    st: Mutex<ResSt>,
    events: Queue<MessageEvent>,
    unread: AtomicUsize,
    /// `'end'` was read by the consumer (`readableEnded`).
    end_read: AtomicBool,
    req: Weak<ReqInner>,
}

/// The response of a client request: `http.IncomingMessage` on the client
/// side, with a streaming body.
///
/// Handles are cheap clones of the same response.
#[derive(Clone)]
pub struct IncomingMessage {
    inner: Arc<ResInner>,
}

impl fmt::Debug for IncomingMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingMessage")
            .field("status", &self.inner.status)
            .field("raw_headers", &self.inner.raw_headers)
            .finish_non_exhaustive()
    }
}

impl IncomingMessage {
    pub(crate) fn new(head: &ResponseHead, join: bool, req: &Arc<ReqInner>) -> IncomingMessage {
        // parser.maxHeaderPairs: maxHeadersCount * 2 entries (0: no
        // limit), by default 2000 entries, that is 1000 headers. It
        // limits `headers` and `headersDistinct`, not `rawHeaders`.
        let limit = match lock(&req.st).parser_max_headers {
            None => Some(nodehttp_proto::defaults::MAX_HEADERS_COUNT),
            Some(0) => None,
            Some(n) => Some(n),
        };
        let opts = HeaderOptions {
            join_duplicate_headers: join,
            max_headers_count: limit,
        };
        IncomingMessage {
            inner: Arc::new(ResInner {
                status: head.status,
                reason: head.reason.clone(),
                version: head.version,
                raw_headers: head.headers.clone(),
                headers: HeaderMap::from_raw(head.headers.iter().cloned(), opts),
                headers_distinct: HeaderMap::distinct_from_raw(head.headers.iter().cloned(), opts),
                join,
                st: Mutex::new(ResSt {
                    complete: false,
                    aborted: false,
                    raw_trailers: Vec::new(),
                }),
                events: Queue::new(),
                unread: AtomicUsize::new(0),
                end_read: AtomicBool::new(false),
                req: Arc::downgrade(req),
            }),
        }
    }

    pub(crate) fn push(&self, e: MessageEvent) {
        match &e {
            MessageEvent::Data(d) => {
                self.inner.unread.fetch_add(d.len(), Ordering::SeqCst);
            }
            MessageEvent::Aborted => lock(&self.inner.st).aborted = true,
            _ => {}
        }
        if matches!(e, MessageEvent::Close) {
            self.inner.events.push_last(e);
        } else {
            self.inner.events.push(e);
        }
    }

    pub(crate) fn finish(&self, trailers: Vec<(String, String)>) {
        let mut st = lock(&self.inner.st);
        st.complete = true;
        st.raw_trailers = trailers;
    }

    pub(crate) fn unread(&self) -> usize {
        self.inner.unread.load(Ordering::SeqCst)
    }

    /// `res.statusCode`.
    pub fn status_code(&self) -> u16 {
        self.inner.status
    }

    /// `res.statusMessage`.
    pub fn status_message(&self) -> &str {
        &self.inner.reason
    }

    /// `res.httpVersion`, e.g. `"1.1"`.
    pub fn http_version(&self) -> String {
        format!("{}.{}", self.inner.version.0, self.inner.version.1)
    }

    /// `res.setTimeout(msecs)`: `socket.setTimeout(msecs)` on the
    /// request's socket; the request relays its `'timeout'` only if it
    /// listens for it (a `timeout` option, an agent with one, or
    /// `req.setTimeout()`).
    pub fn set_timeout(&self, ms: Duration) {
        if let Some(req) = self.inner.req.upgrade() {
            lock(&req.st).pending_timeout = Some(ms);
            req.wake.notify_one();
        }
    }

    /// `res.method`: `null` on a client response.
    pub fn method(&self) -> Option<&str> {
        None
    }

    /// `res.url`: `""` on a client response.
    pub fn url(&self) -> &str {
        ""
    }

    /// `res.httpVersionMajor`.
    pub fn http_version_major(&self) -> u8 {
        self.inner.version.0
    }

    /// `res.httpVersionMinor`.
    pub fn http_version_minor(&self) -> u8 {
        self.inner.version.1
    }

    /// `res.headers`.
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.headers
    }

    /// `res.headersDistinct`.
    pub fn headers_distinct(&self) -> &HeaderMap {
        &self.inner.headers_distinct
    }

    /// `res.rawHeaders` as pairs.
    pub fn raw_headers(&self) -> &[(String, String)] {
        &self.inner.raw_headers
    }

    /// `res.readableEnded`: `'end'` was read (from
    /// [`next_event`](Self::next_event) or [`read`](Self::read)).
    pub fn end_read(&self) -> bool {
        self.inner.end_read.load(Ordering::SeqCst)
    }

    /// `res.complete`.
    pub fn complete(&self) -> bool {
        lock(&self.inner.st).complete
    }

    /// `res.aborted`.
    pub fn aborted(&self) -> bool {
        lock(&self.inner.st).aborted
    }

    /// `res.rawTrailers` as pairs (after `'end'`).
    pub fn raw_trailers(&self) -> Vec<(String, String)> {
        lock(&self.inner.st).raw_trailers.clone()
    }

    /// `res.trailers`.
    pub fn trailers(&self) -> HeaderMap {
        HeaderMap::from_raw(
            self.raw_trailers(),
            HeaderOptions {
                join_duplicate_headers: self.inner.join,
                max_headers_count: None,
            },
        )
    }

    /// `res.trailersDistinct`.
    pub fn trailers_distinct(&self) -> HeaderMap {
        HeaderMap::distinct_from_raw(self.raw_trailers(), HeaderOptions::default())
    }

    /// Poll for the next event (with its place in the process-wide order).
    pub fn poll_next_event(&self, cx: &mut Context<'_>) -> Poll<Option<(u64, MessageEvent)>> {
        let r = self.inner.events.poll_next(cx);
        match &r {
            Poll::Ready(Some((_, MessageEvent::Data(d)))) => {
                self.inner.unread.fetch_sub(d.len(), Ordering::SeqCst);
                if let Some(req) = self.inner.req.upgrade() {
                    req.wake.notify_one();
                }
            }
            Poll::Ready(Some((_, MessageEvent::End))) => {
                self.inner.end_read.store(true, Ordering::SeqCst);
                if let Some(req) = self.inner.req.upgrade() {
                    req.wake.notify_one();
                }
            }
            _ => {}
        }
        r
    }

    /// The next event; `None` after [`MessageEvent::Close`].
    pub async fn next_event(&self) -> Option<MessageEvent> {
        std::future::poll_fn(|cx| self.poll_next_event(cx))
            .await
            .map(|(_, e)| e)
    }

    /// The next body chunk; `None` at the end of the body (or when it was
    /// cut short: see [`aborted`](Self::aborted)). Reading is what lets
    /// more of the body in: the socket is not read while 64 KiB wait here.
    pub async fn read(&self) -> Option<Vec<u8>> {
        loop {
            match self.next_event().await? {
                MessageEvent::Data(d) => return Some(d),
                MessageEvent::End | MessageEvent::Close => return None,
                _ => {}
            }
        }
    }
}

// ---------------------------------------------------------------- socket

/// A socket method a request calls once it has its socket.
pub(crate) enum SocketCall {
    NoDelay(Option<bool>),
    KeepAlive(Option<bool>, Option<Duration>),
}

impl SocketCall {
    fn apply(self, sock: &agent::Sock) {
        match self {
            SocketCall::NoDelay(v) => sock.set_no_delay(v),
            SocketCall::KeepAlive(e, d) => sock.set_keep_alive(e, d),
        }
    }
}

/// `req.socket`: what can be read of a client socket, and the events a
/// caller may emit on it.
#[derive(Clone)]
pub struct ClientSocket {
    sock: Arc<agent::Sock>,
    agent: Option<Agent>,
}

impl fmt::Debug for ClientSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSocket")
            .field("name", &self.sock.name)
            .finish_non_exhaustive()
    }
}

impl ClientSocket {
    /// `socket.setNoDelay = fn`: `fn` is called instead of the socket's
    /// own `setNoDelay`, with its argument.
    pub fn replace_set_no_delay(&self, f: agent::NoDelayHook) {
        lock(&self.sock.hooks).no_delay = Some(f);
    }

    /// `socket.setTimeout = fn`: `fn` is called instead of the socket's
    /// own `setTimeout` (by `req.setTimeout()` once connected, at the end
    /// of a kept-alive response, by the agent when it pools the socket),
    /// and the socket's timeout is left as it was.
    pub fn replace_set_timeout(&self, f: agent::TimeoutHook) {
        lock(&self.sock.hooks).set_timeout = Some(f);
    }

    /// `socket.setKeepAlive = fn`: `fn` is called instead of the
    /// socket's own `setKeepAlive` (by `req.setSocketKeepAlive()` and by
    /// the agent when it keeps the socket).
    pub fn replace_set_keep_alive(&self, f: agent::KeepAliveHook) {
        lock(&self.sock.hooks).keep_alive = Some(f);
    }

    /// `socket.setNoDelay(noDelay)`.
    pub fn set_no_delay(&self, no_delay: Option<bool>) {
        self.sock.set_no_delay(no_delay);
    }

    /// `socket.setKeepAlive(enable, initialDelay)`.
    pub fn set_keep_alive(&self, enable: Option<bool>, delay: Option<Duration>) {
        self.sock.set_keep_alive(enable, delay);
    }

    /// `socket.timeout`: the last `setTimeout()` value (`None`: never
    /// set, `undefined` in Node). The agent sets it when it pools the
    /// socket (`keepSocketAlive`).
    pub fn timeout(&self) -> Option<Duration> {
        *lock(&self.sock.timeout)
    }

    /// `socket.localAddress` (a TCP socket once connected).
    pub fn local_address(&self) -> Option<IpAddr> {
        lock(&self.sock.local).map(|a| a.ip())
    }

    /// `socket.localPort`.
    pub fn local_port(&self) -> Option<u16> {
        lock(&self.sock.local).map(|a| a.port())
    }

    /// `socket.remoteAddress` (a TCP socket once connected).
    pub fn remote_address(&self) -> Option<IpAddr> {
        lock(&self.sock.peer).map(|a| a.ip())
    }

    /// `socket.remotePort`.
    pub fn remote_port(&self) -> Option<u16> {
        lock(&self.sock.peer).map(|a| a.port())
    }

    /// `socket.connecting`: true until the connection is made.
    pub fn connecting(&self) -> bool {
        self.sock.connecting.load(Ordering::SeqCst)
    }

    /// `socket.destroyed`.
    pub fn destroyed(&self) -> bool {
        self.sock.destroyed.load(Ordering::SeqCst)
    }

    /// `socket.destroy()`.
    pub fn destroy(&self) {
        self.sock.destroy();
    }

    /// `socket.emit('agentRemove')`: the agent forgets the socket (it
    /// leaves `agent.sockets` and is never pooled) without closing it.
    pub fn emit_agent_remove(&self) {
        if let Some(a) = &self.agent {
            a.agent_remove(&self.sock);
        }
    }
}

// ---------------------------------------------------------------- upgraded socket

/// The socket of an `'upgrade'` or `'connect'` event: now the caller's.
pub struct UpgradedSocket {
    stream: BoxStream,
}

impl UpgradedSocket {
    pub(crate) fn new(stream: BoxStream) -> UpgradedSocket {
        UpgradedSocket { stream }
    }

    /// The stream.
    pub fn into_inner(self) -> BoxStream {
        self.stream
    }
}

impl fmt::Debug for UpgradedSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UpgradedSocket")
    }
}

impl AsyncRead for UpgradedSocket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for UpgradedSocket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
