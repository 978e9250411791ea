//! The tokio driver: `http.Server`, `IncomingMessage`, `ServerResponse`.
//!
//! This layer is thin on purpose: every protocol rule lives in the sans-IO
//! [`Connection`] (and the [`ResponseState`] it owns); this module moves
//! bytes between a `TcpStream` and it, fires its timers and hands requests
//! to a [`Handler`].
//!
//! Each connection is one task that owns the socket. The application's
//! handles ([`IncomingMessage`], [`ServerResponse`], [`Socket`]) share the
//! connection's state behind a mutex, so their calls are synchronous as in
//! Node (`setHeader` throws at once, `write` returns Node's boolean), and
//! wake the task when they queue bytes. Request bodies are read from the
//! connection as they arrive; the task stops reading the socket while
//! `highWaterMark` bytes wait unread, so nothing buffers a whole body.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::Notify;

use crate::conn::{
    BodyStatus, Closing, ConnConfig, Connection, Dispatch, Event, Listeners, ReqId, RequestInfo,
};
use crate::encode::{Chunk, OutValue};
use crate::error::Error;
use crate::headers::{HeaderMap, HeaderOptions, RawHeaders};
use crate::parse::ParseOptions;
use crate::response::{HeadHeaders, ResponseState, WriteOutcome};
use nodehttp_proto::defaults;

// ---------------------------------------------------------------- options

/// The options of `http.createServer([options])`, with Node's defaults.
///
/// Node equivalent: the `options` object of `http.createServer()`.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// `connectionsCheckingInterval`: how often `headersTimeout` and
    /// `requestTimeout` are checked. Default 30 s.
    pub connections_checking_interval: Duration,
    /// `headersTimeout`: time allowed to receive a request head. Default
    /// (`None`): the smaller of 60 s and `requestTimeout`, as Node computes
    /// it.
    pub headers_timeout: Option<Duration>,
    /// `requestTimeout`: time allowed to receive a whole request. Default 300 s.
    pub request_timeout: Duration,
    /// `keepAliveTimeout`: idle time before a kept-alive socket is closed
    /// (Node waits one more second). Default 5 s.
    pub keep_alive_timeout: Duration,
    /// `maxHeaderSize`. Default 16384.
    pub max_header_size: usize,
    /// `requireHostHeader`: answer 400 to an HTTP/1.1 request without
    /// `Host`. Default true.
    pub require_host_header: bool,
    /// `joinDuplicateHeaders`. Default false.
    pub join_duplicate_headers: bool,
    /// `noDelay`: `TCP_NODELAY` on accepted sockets. Default true.
    pub no_delay: bool,
    /// `keepAlive`: TCP keep-alive probes on accepted sockets. Default false.
    pub keep_alive: bool,
    /// `keepAliveInitialDelay`. Default 0.
    pub keep_alive_initial_delay: Duration,
    /// `insecureHTTPParser`. Default false.
    pub insecure_http_parser: bool,
    /// `uniqueHeaders`: response headers sent once, joined.
    pub unique_headers: Vec<String>,
    /// `rejectNonStandardBodyWrites`: writing a body to a response that
    /// cannot have one throws `ERR_HTTP_BODY_NOT_ALLOWED`. Default false.
    pub reject_non_standard_body_writes: bool,
    /// `highWaterMark` of sockets and messages. Default 16384.
    pub high_water_mark: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            connections_checking_interval: defaults::CONNECTIONS_CHECKING_INTERVAL,
            headers_timeout: None,
            request_timeout: defaults::REQUEST_TIMEOUT,
            keep_alive_timeout: defaults::KEEP_ALIVE_TIMEOUT,
            max_header_size: crate::parse::DEFAULT_MAX_HEADER_SIZE,
            require_host_header: true,
            join_duplicate_headers: false,
            no_delay: true,
            keep_alive: false,
            keep_alive_initial_delay: Duration::ZERO,
            insecure_http_parser: false,
            unique_headers: Vec::new(),
            reject_non_standard_body_writes: false,
            high_water_mark: crate::conn::DEFAULT_HIGH_WATER_MARK,
        }
    }
}

// ---------------------------------------------------------------- handler

/// The server's listeners. Each method is one of `http.Server`'s events;
/// the default methods do what Node does when nobody listens.
///
/// Node equivalent: `server.on('request' | 'checkContinue' | ...)`.
pub trait Handler: Send + Sync + 'static {
    /// `'request'`.
    fn request(&self, req: IncomingMessage, res: ServerResponse)
        -> impl Future<Output = ()> + Send;

    /// `'checkContinue'`: a request with `Expect: 100-continue`. Default:
    /// `res.writeContinue()`, then `'request'`.
    fn check_continue(
        &self,
        req: IncomingMessage,
        res: ServerResponse,
    ) -> impl Future<Output = ()> + Send {
        async move {
            res.write_continue();
            self.request(req, res).await
        }
    }

    /// `'checkExpectation'`: a request with another `Expect`. Default:
    /// `417 Expectation Failed`.
    fn check_expectation(
        &self,
        req: IncomingMessage,
        res: ServerResponse,
    ) -> impl Future<Output = ()> + Send {
        drop(req);
        let _ = res.write_head(417, None, None);
        let _ = res.end(None);
        async {}
    }

    /// `'clientError'`: a parse error or a request timeout. Default: 400
    /// (431 when the head is too large, 408 on a timeout) if no response
    /// head went out, then close.
    fn client_error(&self, error: Error, socket: Socket) -> impl Future<Output = ()> + Send {
        socket.default_client_error(&error);
        async {}
    }

    /// Whether `'upgrade'` has a listener: without one, upgrade requests
    /// are served as ordinary requests. Default false.
    fn handles_upgrade(&self) -> bool {
        false
    }

    /// `'upgrade'` (only when [`handles_upgrade`](Self::handles_upgrade)):
    /// the socket is the application's, `head` the bytes after the head.
    fn upgrade(
        &self,
        req: IncomingMessage,
        socket: Socket,
        head: Vec<u8>,
    ) -> impl Future<Output = ()> + Send {
        drop((req, head));
        socket.destroy();
        async {}
    }

    /// Whether `'connect'` has a listener: without one, a `CONNECT`
    /// request closes the connection. Default false.
    fn handles_connect(&self) -> bool {
        false
    }

    /// `'connect'` (only when [`handles_connect`](Self::handles_connect)).
    fn connect(
        &self,
        req: IncomingMessage,
        socket: Socket,
        head: Vec<u8>,
    ) -> impl Future<Output = ()> + Send {
        drop((req, head));
        socket.destroy();
        async {}
    }

    /// `'dropRequest'`: a request over `maxRequestsPerSocket`; the 503 is
    /// already on its way.
    fn drop_request(
        &self,
        req: IncomingMessage,
        socket: Socket,
    ) -> impl Future<Output = ()> + Send {
        drop((req, socket));
        async {}
    }

    /// `'timeout'`: a socket was idle for its timeout. Default: destroy it
    /// (Node does that when nobody listens).
    fn timeout(&self, socket: Socket) {
        socket.destroy();
    }

    /// `'timeout'` when the response holding the socket had `'timeout'`
    /// listeners of its own ([`ServerResponse::add_timeout_listener`]):
    /// the server emits it too, but the socket is not destroyed whether
    /// the server listens or not. Default: nothing.
    fn timeout_listened(&self, socket: Socket) {
        let _ = socket;
    }

    /// `'connection'`: a new socket.
    fn connection(&self, socket: &Socket) {
        let _ = socket;
    }

    /// `'close'`: the server closed and its last connection ended.
    fn close(&self) {}
}

mod props;
pub use props::Encoding;

// ---------------------------------------------------------------- shared state

/// The connection's state, shared by its task and the application's
/// handles.
struct Shared {
    state: Mutex<Connection>,
    /// Something changed for the connection task (bytes queued, a close).
    wake_io: Notify,
    /// Something changed for the application (body data, drain, finish).
    changed: Notify,
    /// How many [`Shared::wait_for`] calls are waiting on `changed`.
    /// `Notify::notify_waiters` takes a lock even when nobody waits, and
    /// the connection task signals a change several times per request
    /// while, in the usual handler, nobody waits: with this count it
    /// skips them.
    waiters: AtomicUsize,
    peer: SocketAddr,
    local: SocketAddr,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock is held cannot leave the connection in a
        // state worse than closed: recover the guard.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run `f` on the connection and wake the task.
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        let r = f(&mut self.lock());
        self.wake_io.notify_one();
        r
    }

    /// Wake whoever waits in [`wait_for`](Self::wait_for): something
    /// changed. Call it after the change, with the lock released.
    ///
    /// Skipping it when the count is zero loses no wake-up: a waiter counts
    /// itself (SeqCst) before it locks and checks, and a notifier reads the
    /// count (SeqCst) after it unlocked. If the notifier reads zero, the
    /// waiter's lock comes after the change, so its check sees it.
    fn notify_changed(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.changed.notify_waiters();
        }
    }

    /// Wait until `ready` returns `Some`, re-checking on every change.
    async fn wait_for<T>(&self, mut ready: impl FnMut(&mut Connection) -> Option<T>) -> T {
        struct Counted<'a>(&'a AtomicUsize);
        impl Drop for Counted<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.waiters.fetch_add(1, Ordering::SeqCst);
        // Uncounted when the wait ends, or when its future is dropped.
        let _counted = Counted(&self.waiters);
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(v) = ready(&mut self.lock()) {
                return v;
            }
            notified.await;
        }
    }
}

// ---------------------------------------------------------------- socket

/// The connection under a request, as the application sees it.
///
/// Node equivalent: `net.Socket` as `req.socket`, and the socket given to
/// `'clientError'`, `'upgrade'`, `'connect'`, `'timeout'`.
#[derive(Clone)]
pub struct Socket {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("peer", &self.shared.peer)
            .finish()
    }
}

impl Socket {
    /// `socket.write(data)`: queue bytes. Returns false above
    /// `highWaterMark` (wait for [`drained`](Self::drained)).
    pub fn write(&self, data: &[u8]) -> bool {
        self.shared.with(|c| c.write_raw(data))
    }

    /// `socket.end([data])`: send `data`, then close the write side.
    pub fn end(&self, data: Option<&[u8]>) {
        self.shared.with(|c| {
            if let Some(d) = data {
                c.write_raw(d);
            }
            c.end_socket();
        });
    }

    /// `socket.destroy()`: close now.
    pub fn destroy(&self) {
        self.shared.with(Connection::destroy);
        self.shared.notify_changed();
    }

    /// `socket.writable`.
    pub fn writable(&self) -> bool {
        self.shared.lock().is_writable()
    }

    /// `socket.destroyed`.
    pub fn destroyed(&self) -> bool {
        self.shared.lock().closing() == Closing::Now
    }

    /// `socket.setTimeout(ms)`.
    pub fn set_timeout(&self, timeout: Duration) {
        self.shared.with(|c| c.set_socket_timeout(timeout, now()));
    }

    /// `socket.timeout`: the inactivity timeout (zero: none).
    pub fn timeout(&self) -> Duration {
        self.shared.lock().socket_timeout()
    }

    /// `socket.remoteAddress` / `remotePort`.
    pub fn remote_addr(&self) -> SocketAddr {
        self.shared.peer
    }

    /// `socket.localAddress` / `localPort`.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local
    }

    /// Node's answer to a `clientError` nobody listens to: 400 (431, 408,
    /// 413 by error) unless a response head went out, then destroy.
    pub fn default_client_error(&self, error: &Error) {
        self.shared.with(|c| c.default_client_error(error));
        self.shared.notify_changed();
    }

    /// After an upgrade: the next bytes from the peer; `None` once it
    /// closed (`'data'` / `'end'`).
    pub async fn read(&self) -> Option<Vec<u8>> {
        let data = self
            .shared
            .wait_for(|c| {
                let d = c.read_raw();
                if !d.is_empty() {
                    Some(Some(d))
                } else if c.peer_closed() || c.closing() == Closing::Now {
                    Some(None)
                } else {
                    None
                }
            })
            .await;
        self.shared.wake_io.notify_one();
        data
    }

    /// Wait until everything written is sent (`'drain'`), or the socket
    /// closed.
    pub async fn drained(&self) {
        self.shared
            .wait_for(|c| (c.is_drained() || c.closing() == Closing::Now).then_some(()))
            .await;
    }
}

// ---------------------------------------------------------------- request

/// A received request.
///
/// Node equivalent: `http.IncomingMessage` on the server side. The body is
/// read with [`read`](Self::read) (`'data'` ... `'end'`); dropping the
/// message discards the rest of the body, as `req.resume()` would.
pub struct IncomingMessage {
    shared: Arc<Shared>,
    id: ReqId,
    info: RequestInfo,
    /// `headersDistinct`, built on first use as Node's getter does (most
    /// handlers never read it; building it eagerly cost an allocation per
    /// header per request).
    headers_distinct: OnceLock<HeaderMap>,
    ended: AtomicBool,
    aborted: AtomicBool,
    raw_trailers: Mutex<Vec<(String, String)>>,
    /// `trailersDistinct`, fixed at its first read as Node's getter does.
    trailers_distinct: OnceLock<HeaderMap>,
    /// `message.setEncoding()`: how body chunks are decoded to strings.
    encoding: Mutex<Option<props::Encoding>>,
}

impl std::fmt::Debug for IncomingMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingMessage")
            .field("method", &self.info.method)
            .field("url", &self.info.url)
            .finish()
    }
}

impl IncomingMessage {
    /// `message.method`.
    pub fn method(&self) -> &str {
        self.info.method
    }

    /// `message.url`: the request target as sent.
    pub fn url(&self) -> &str {
        &self.info.url
    }

    /// `message.httpVersion`, e.g. `"1.1"`.
    pub fn http_version(&self) -> String {
        format!("{}.{}", self.info.version.0, self.info.version.1)
    }

    /// `message.httpVersionMajor`.
    pub fn http_version_major(&self) -> u8 {
        self.info.version.0
    }

    /// `message.httpVersionMinor`.
    pub fn http_version_minor(&self) -> u8 {
        self.info.version.1
    }

    /// `message.headers`, with Node's rules for duplicates.
    pub fn headers(&self) -> &HeaderMap {
        self.info.headers()
    }

    /// `message.headersDistinct`.
    pub fn headers_distinct(&self) -> &HeaderMap {
        self.headers_distinct.get_or_init(|| {
            HeaderMap::distinct_from_raw(self.info.raw_headers.iter(), self.info.header_options)
        })
    }

    /// `message.rawHeaders`, as (name, value) pairs in the order received.
    pub fn raw_headers(&self) -> &RawHeaders {
        &self.info.raw_headers
    }

    /// `message.trailers` (filled once the body is read to its end).
    pub fn trailers(&self) -> HeaderMap {
        HeaderMap::from_raw(self.raw_trailers(), self.info.header_options)
    }

    /// `message.trailersDistinct`. As in Node, the object is built at the
    /// first read and not updated afterwards: read before the trailers
    /// arrived, it stays empty.
    pub fn trailers_distinct(&self) -> HeaderMap {
        self.trailers_distinct
            .get_or_init(|| {
                HeaderMap::distinct_from_raw(self.raw_trailers(), self.info.header_options)
            })
            .clone()
    }

    /// `message.rawTrailers`, as (name, value) pairs (empty until the body
    /// was read to its end).
    pub fn raw_trailers(&self) -> Vec<(String, String)> {
        self.raw_trailers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `message.complete`: the whole message was received and parsed.
    pub fn complete(&self) -> bool {
        self.ended.load(Ordering::SeqCst) || self.shared.lock().body_complete(self.id)
    }

    /// Whether the peer went away before the body ended (`'aborted'`).
    pub fn aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }

    /// `message.socket`.
    pub fn socket(&self) -> Socket {
        Socket {
            shared: self.shared.clone(),
        }
    }

    /// `message.setTimeout(ms)`: `socket.setTimeout(ms)`.
    pub fn set_timeout(&self, timeout: Duration) {
        self.socket().set_timeout(timeout);
    }

    /// The next chunk of the body (`'data'`); `Ok(None)` at its end
    /// (`'end'`); `Err` with `ECONNRESET` if the connection ended before:
    /// [`aborted`](Self::aborted) then tells whether Node would emit
    /// `'aborted'` (it does not once the response has finished).
    pub async fn read(&self) -> Result<Option<Vec<u8>>, Error> {
        if self.ended.load(Ordering::SeqCst) {
            return Ok(None);
        }
        if self.aborted.load(Ordering::SeqCst) {
            // Destroyed with an error: its 'clientError' runs first.
            self.shared
                .wait_for(|c| (!c.abort_waits_for_listeners()).then_some(()))
                .await;
            return Err(Error::connection_reset());
        }
        let id = self.id;
        let r = self
            .shared
            .wait_for(|c| match c.consume_body(id) {
                BodyStatus::Data => c.read_body(id).map(|d| Ok(Some(d))),
                BodyStatus::Complete => Some(Ok(None)),
                BodyStatus::Aborted => Some(Err(true)),
                // The connection closed after the response: no 'aborted'.
                BodyStatus::Unfinished => Some(Err(false)),
                // Dumped: what was not read is discarded; the body ends.
                BodyStatus::Gone => Some(Ok(None)),
                BodyStatus::Waiting => None,
            })
            .await;
        // Room in the buffer: the task may read the socket again.
        self.shared.wake_io.notify_one();
        match r {
            Ok(Some(d)) => Ok(Some(d)),
            Ok(None) => {
                let trailers = self.shared.lock().raw_trailers(id);
                *self.raw_trailers.lock().unwrap_or_else(|e| e.into_inner()) = trailers;
                self.ended.store(true, Ordering::SeqCst);
                Ok(None)
            }
            Err(aborted) => {
                if aborted {
                    self.aborted.store(true, Ordering::SeqCst);
                }
                Err(Error::connection_reset())
            }
        }
    }

    /// Declare that this handler reads the body (Node: attaching a
    /// `'data'` listener): finishing the response will not discard what
    /// has not been read yet. [`read`](Self::read) does this too.
    pub fn consume(&self) {
        let id = self.id;
        self.shared.lock().consume_body(id);
    }

    /// Read the whole body into memory (a convenience for small bodies).
    pub async fn body(&self) -> Result<Vec<u8>, Error> {
        let mut all = Vec::new();
        while let Some(chunk) = self.read().await? {
            all.extend_from_slice(&chunk);
        }
        Ok(all)
    }
}

impl Drop for IncomingMessage {
    fn drop(&mut self) {
        let id = self.id;
        self.shared.with(|c| c.dump_body(id));
    }
}

// ---------------------------------------------------------------- response

/// The response to a request.
///
/// Node equivalent: `http.ServerResponse` (an `OutgoingMessage`). Calls are
/// synchronous as in Node; errors carry Node's codes.
pub struct ServerResponse {
    shared: Arc<Shared>,
    id: ReqId,
}

/// The connection counts the handles on a response, and releases the
/// finished response's state when the last one goes.
impl Clone for ServerResponse {
    fn clone(&self) -> Self {
        self.shared.lock().retain_response(self.id);
        ServerResponse {
            shared: self.shared.clone(),
            id: self.id,
        }
    }
}

impl Drop for ServerResponse {
    fn drop(&mut self) {
        self.shared.lock().release_response(self.id);
    }
}

impl std::fmt::Debug for ServerResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerResponse")
            .field("id", &self.id)
            .finish()
    }
}

/// The state of a response that is gone (its connection closed).
fn gone<T: Default>() -> T {
    T::default()
}

impl ServerResponse {
    fn read<T: Default>(&self, f: impl FnOnce(&ResponseState) -> T) -> T {
        self.shared
            .lock()
            .response(self.id)
            .map(f)
            .unwrap_or_else(gone)
    }

    fn update<T: Default>(&self, f: impl FnOnce(&mut ResponseState) -> T) -> T {
        self.shared
            .lock()
            .response_mut(self.id)
            .map(f)
            .unwrap_or_else(gone)
    }

    /// `response.statusCode` (default 200).
    pub fn status_code(&self) -> u16 {
        self.read(ResponseState::status_code)
    }

    /// `response.statusCode = code`.
    pub fn set_status_code(&self, code: u16) {
        self.update(|r| r.set_status_code(code));
    }

    /// `response.statusMessage` (`None`: the standard reason phrase).
    pub fn status_message(&self) -> Option<String> {
        self.read(|r| r.status_message().map(str::to_owned))
    }

    /// `response.statusMessage = message`.
    pub fn set_status_message(&self, message: Option<String>) {
        self.update(|r| r.set_status_message(message));
    }

    /// `response.sendDate`.
    pub fn send_date(&self) -> bool {
        self.read(ResponseState::send_date)
    }

    /// `response.sendDate = value`.
    pub fn set_send_date(&self, value: bool) {
        self.update(|r| r.set_send_date(value));
    }

    /// `response.strictContentLength`.
    pub fn strict_content_length(&self) -> bool {
        self.read(ResponseState::strict_content_length)
    }

    /// `response.strictContentLength = value`.
    pub fn set_strict_content_length(&self, value: bool) {
        self.update(|r| r.set_strict_content_length(value));
    }

    /// `response.headersSent`.
    pub fn headers_sent(&self) -> bool {
        self.read(ResponseState::headers_sent)
    }

    /// `response.writableEnded`: `end()` was called.
    pub fn writable_ended(&self) -> bool {
        self.read(ResponseState::writable_ended)
    }

    /// `response.writableFinished`: all data was handed to the socket.
    pub fn writable_finished(&self) -> bool {
        self.shared.lock().response_finished(self.id)
    }

    /// `response.writableCorked`: `cork()` calls not undone by `uncork()`.
    pub fn writable_corked(&self) -> i64 {
        self.read(ResponseState::writable_corked)
    }

    /// `response.writableLength`: the bytes written but not handed to the
    /// socket yet (queued behind another response, or held by corks).
    pub fn writable_length(&self) -> usize {
        self.shared.lock().response_writable_length(self.id)
    }

    /// `response.writableHighWaterMark`: the socket's, which the server's
    /// `highWaterMark` option sets (also for a response still waiting for
    /// its socket).
    pub fn writable_high_water_mark(&self) -> usize {
        self.shared.lock().config().high_water_mark
    }

    /// `response.writableObjectMode`: always false.
    pub fn writable_object_mode(&self) -> bool {
        false
    }

    /// `response.destroyed`.
    pub fn destroyed(&self) -> bool {
        self.read(ResponseState::destroyed)
    }

    /// `response.socket !== null`: false while the response waits behind
    /// another one on its connection, and once it emitted `'finish'`.
    pub fn has_socket(&self) -> bool {
        self.shared.lock().response_has_socket(self.id)
    }

    /// `response.on('timeout', listener)` (as `setTimeout(ms, callback)`
    /// adds it): a socket timeout while the response holds the socket no
    /// longer destroys it; wait for it with
    /// [`timed_out`](Self::timed_out).
    pub fn add_timeout_listener(&self) {
        self.update(ResponseState::add_timeout_listener);
    }

    /// Wait until the response emitted more than `seen` `'timeout'`
    /// events; returns how many it emitted, or `None` once the response
    /// is done with its socket (closed or finished).
    pub async fn timed_out(&self, seen: u32) -> Option<u32> {
        let id = self.id;
        self.shared
            .wait_for(|c| match c.response(id) {
                Some(r) if r.timeouts() > seen => Some(Some(r.timeouts())),
                Some(r) if r.socket_attached() || !c.response_finished(id) => {
                    (c.closing() == Closing::Now).then_some(None)
                }
                _ => Some(None),
            })
            .await
    }

    /// `response.cork()`.
    pub fn cork(&self) {
        self.update(ResponseState::cork);
    }

    /// `response.uncork()`: at the last one, what the corks held goes out.
    pub fn uncork(&self) {
        self.produce(|r, out| r.uncork(out));
    }

    /// `response.destroy()`: mark the response destroyed and destroy its
    /// socket, if it still holds it (after `'finish'` the connection is
    /// kept). Returns false when it was destroyed already.
    pub fn destroy(&self) -> bool {
        self.destroy_with(None)
    }

    /// `response.destroy(error)`: as [`destroy`](Self::destroy), and the
    /// socket, if destroyed, emits `error` (the server's `'clientError'`).
    pub fn destroy_with(&self, error: Option<Error>) -> bool {
        let (first, attached) = {
            let mut c = self.shared.lock();
            let attached = c.response_has_socket(self.id);
            match c.response_mut(self.id) {
                Some(r) if !r.destroyed() => {
                    r.destroy();
                    (true, attached)
                }
                Some(_) => (false, false),
                None => (false, false),
            }
        };
        if attached {
            match error {
                Some(e) => {
                    self.shared.with(|c| c.destroy_with_error(e));
                    self.shared.notify_changed();
                }
                None => self.socket().destroy(),
            }
        }
        first
    }

    /// `response.pipe()`: a response is not readable. Node emits
    /// `ERR_STREAM_CANNOT_PIPE` on the response's `'error'` and returns
    /// `undefined`; the response stays usable.
    pub fn pipe(&self) {}

    /// Wait until everything the response wrote so far is sent (true), or
    /// the connection closed first (false): when the callback of `write()`
    /// runs.
    pub async fn flushed(&self) -> bool {
        let id = self.id;
        self.shared
            .wait_for(|c| {
                if c.response_flushed(id) {
                    Some(true)
                } else if c.closing() == Closing::Now {
                    Some(false)
                } else {
                    None
                }
            })
            .await
    }

    /// `response.setHeader(name, value)`.
    pub fn set_header(&self, name: &str, value: impl Into<OutValue>) -> Result<&Self, Error> {
        self.update_result(|r| r.set_header(name, value.into()))?;
        Ok(self)
    }

    /// `response.appendHeader(name, value)`.
    pub fn append_header(&self, name: &str, value: impl Into<OutValue>) -> Result<&Self, Error> {
        self.update_result(|r| r.append_header(name, value.into()))?;
        Ok(self)
    }

    /// `response.setHeaders(headers)` with a `Map` or `Headers`, in order.
    pub fn set_headers(&self, headers: &[(String, OutValue)]) -> Result<&Self, Error> {
        self.update_result(|r| r.set_headers(headers))?;
        Ok(self)
    }

    /// `response.getHeader(name)`.
    pub fn get_header(&self, name: &str) -> Option<OutValue> {
        self.read(|r| r.get_header(name).cloned())
    }

    /// `response.getHeaders()`: lower-case names, in order.
    pub fn get_headers(&self) -> Vec<(String, OutValue)> {
        self.read(ResponseState::get_headers)
    }

    /// `response.getHeaderNames()`.
    pub fn get_header_names(&self) -> Vec<String> {
        self.read(ResponseState::get_header_names)
    }

    /// `response.getRawHeaderNames()`.
    pub fn get_raw_header_names(&self) -> Vec<String> {
        self.read(ResponseState::get_raw_header_names)
    }

    /// `response.hasHeader(name)`.
    pub fn has_header(&self, name: &str) -> bool {
        self.read(|r| r.has_header(name))
    }

    /// `response.removeHeader(name)`.
    pub fn remove_header(&self, name: &str) -> Result<(), Error> {
        self.update_result(|r| r.remove_header(name))
    }

    fn update_result(
        &self,
        f: impl FnOnce(&mut ResponseState) -> Result<(), Error>,
    ) -> Result<(), Error> {
        match self.shared.lock().response_mut(self.id) {
            Some(r) => f(r),
            None => Ok(()),
        }
    }

    /// `response.writeHead(statusCode[, statusMessage][, headers])`.
    pub fn write_head(
        &self,
        status: u16,
        message: Option<&str>,
        headers: Option<HeadHeaders>,
    ) -> Result<&Self, Error> {
        let now = SystemTime::now();
        self.update_result(|r| r.write_head(status, message, headers, now))?;
        Ok(self)
    }

    /// Queue bytes through the connection and wake its task.
    fn produce<T>(
        &self,
        f: impl FnOnce(&mut ResponseState, &mut Vec<u8>) -> T,
    ) -> Option<(T, bool)> {
        let r = self.shared.with(|c| c.with_response(self.id, f));
        self.shared.notify_changed();
        r
    }

    /// `response.flushHeaders()`.
    pub fn flush_headers(&self) -> Result<(), Error> {
        let now = SystemTime::now();
        self.produce(|r, out| r.flush_headers(now, out))
            .map(|(r, _)| r)
            .unwrap_or(Ok(()))
    }

    /// `response.write(chunk)`: returns Node's boolean (false: wait for
    /// [`drained`](Self::drained)). Errors Node throws are `Err`; errors
    /// Node emits on `'error'` are in the [`WriteOutcome`].
    pub fn write(&self, data: &[u8]) -> Result<WriteOutcome, Error> {
        self.write_chunk(Chunk::Bytes(data))
    }

    /// [`write`](Self::write) with a chunk that may be a string in UTF-8,
    /// `response.write(string)`: a head still unsent then goes with it in
    /// UTF-8, as Node's does (see [`Chunk`]).
    pub fn write_chunk(&self, chunk: Chunk<'_>) -> Result<WriteOutcome, Error> {
        let now = SystemTime::now();
        match self.produce(|r, out| r.write_chunk(chunk, now, out)) {
            Some((Ok(outcome), ok)) => {
                if !ok {
                    self.shared.lock().set_need_drain(self.id);
                }
                Ok(outcome.with_ok(ok))
            }
            Some((Err(e), _)) => Err(e),
            None => Ok(WriteOutcome::destroyed()),
        }
    }

    /// `response.end([data])`.
    pub fn end(&self, data: Option<&[u8]>) -> Result<WriteOutcome, Error> {
        self.end_chunk(data.map(Chunk::Bytes))
    }

    /// [`end`](Self::end) with a chunk that may be a string in UTF-8,
    /// `response.end(string)` (see [`Chunk`]).
    pub fn end_chunk(&self, data: Option<Chunk<'_>>) -> Result<WriteOutcome, Error> {
        let now = SystemTime::now();
        let r = self.shared.with(|c| c.end_chunk(self.id, data, now));
        self.shared.notify_changed();
        r.unwrap_or_else(|| Ok(WriteOutcome::destroyed()))
    }

    /// `response.addTrailers(headers)`.
    pub fn add_trailers(&self, trailers: &[(String, String)]) -> Result<(), Error> {
        self.update_result(|r| r.add_trailers(trailers))
    }

    /// `response.addTrailers(headers)` with any value type, from an object
    /// or from an array of pairs.
    pub fn add_trailer_values(
        &self,
        trailers: &[(String, OutValue)],
        form: crate::response::TrailersForm,
    ) -> Result<(), Error> {
        self.update_result(|r| r.add_trailer_values(trailers, form))
    }

    /// `response.writeContinue()`: `HTTP/1.1 100 Continue`.
    pub fn write_continue(&self) {
        self.produce(|r, out| r.write_continue(out));
    }

    /// `response.writeProcessing()`: `HTTP/1.1 102 Processing`.
    pub fn write_processing(&self) {
        self.produce(|r, out| r.write_processing(out));
    }

    /// `response.writeEarlyHints(hints)`: `HTTP/1.1 103 Early Hints`.
    pub fn write_early_hints(&self, hints: &[(String, OutValue)]) -> Result<(), Error> {
        self.produce(|r, out| r.write_early_hints(hints, out))
            .map(|(r, _)| r)
            .unwrap_or(Ok(()))
    }

    /// `response.socket`.
    pub fn socket(&self) -> Socket {
        Socket {
            shared: self.shared.clone(),
        }
    }

    /// `response.setTimeout(ms)`: `socket.setTimeout(ms)`.
    pub fn set_timeout(&self, timeout: Duration) {
        self.socket().set_timeout(timeout);
    }

    /// Wait for `'drain'`: everything written was sent, or the socket
    /// closed.
    pub async fn drained(&self) {
        self.socket().drained().await;
    }

    /// Wait for `'finish'` (the response ended, its bytes are queued on
    /// the socket and the socket was detached from it) or `'close'` (the
    /// connection closed first). Returns true for a finish.
    pub async fn finished(&self) -> bool {
        let id = self.id;
        self.shared
            .wait_for(|c| {
                if c.response_finished(id) && !c.response_has_socket(id) {
                    Some(true)
                } else if c.closing() == Closing::Now || c.response(id).is_none() {
                    Some(c.response_finished(id))
                } else {
                    None
                }
            })
            .await
    }
}

// ---------------------------------------------------------------- server

pub use nodehttp_proto::conn::DEFAULT_MAX_HEADERS_COUNT;

/// [`Props::max_headers_count`] never set (Node's `null`).
const MAX_HEADERS_COUNT_UNSET: u64 = u64::MAX;

/// Settings that can change after `listen` (Node: `server.X = value`).
struct Props {
    headers_timeout: AtomicU64,
    request_timeout: AtomicU64,
    keep_alive_timeout: AtomicU64,
    timeout: AtomicU64,
    max_headers_count: AtomicU64,
    max_requests_per_socket: AtomicU32,
    /// `server.maxConnections` (`u64::MAX`: no limit).
    max_connections: AtomicU64,
}

struct ServerInner<H> {
    handler: H,
    options: ServerOptions,
    props: Props,
    conns: Mutex<HashMap<u64, Arc<Shared>>>,
    next_conn: AtomicU64,
    listening: AtomicBool,
    closing: AtomicBool,
    close_emitted: AtomicBool,
    stop_accept: Notify,
    closed: Notify,
    local_addr: Mutex<Option<SocketAddr>>,
    /// The listening socket, for `close()` to stop listening at once.
    listener: Mutex<Option<Arc<TcpListener>>>,
}

/// An HTTP server with Node's semantics.
///
/// Node equivalent: `http.Server` (`http.createServer([options],
/// [requestListener])`).
///
/// ```no_run
/// use nodehttp::server::{Handler, IncomingMessage, Server, ServerOptions, ServerResponse};
///
/// struct Hello;
/// impl Handler for Hello {
///     async fn request(&self, _req: IncomingMessage, res: ServerResponse) {
///         res.set_header("Content-Type", "text/plain").unwrap();
///         res.end(Some(b"hello world")).unwrap();
///     }
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// let server = Server::new(ServerOptions::default(), Hello).expect("valid options");
/// let addr = server.listen("127.0.0.1:0").await?;
/// println!("listening on {addr}");
/// server.closed().await;
/// # Ok(()) }
/// ```
pub struct Server<H: Handler> {
    inner: Arc<ServerInner<H>>,
}

impl<H: Handler> Clone for Server<H> {
    fn clone(&self) -> Self {
        Server {
            inner: self.inner.clone(),
        }
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

impl<H: Handler> Server<H> {
    /// `http.createServer(options, handler)`.
    ///
    /// Fails as Node's does: `ERR_OUT_OF_RANGE` when both timeouts are set
    /// and `headersTimeout` is above `requestTimeout`.
    pub fn new(options: ServerOptions, handler: H) -> Result<Server<H>, Error> {
        let request_timeout = ms(options.request_timeout);
        let headers_timeout = options
            .headers_timeout
            .map_or(request_timeout.min(ms(defaults::HEADERS_TIMEOUT)), ms);
        if request_timeout > 0 && headers_timeout > 0 && headers_timeout > request_timeout {
            return Err(Error::out_of_range(
                "headersTimeout",
                "<= requestTimeout",
                &headers_timeout.to_string(),
            ));
        }
        let props = Props {
            headers_timeout: AtomicU64::new(headers_timeout),
            request_timeout: AtomicU64::new(ms(options.request_timeout)),
            keep_alive_timeout: AtomicU64::new(ms(options.keep_alive_timeout)),
            timeout: AtomicU64::new(0),
            max_headers_count: AtomicU64::new(MAX_HEADERS_COUNT_UNSET),
            max_requests_per_socket: AtomicU32::new(0),
            max_connections: AtomicU64::new(u64::MAX),
        };
        Ok(Server {
            inner: Arc::new(ServerInner {
                handler,
                options,
                props,
                conns: Mutex::new(HashMap::new()),
                next_conn: AtomicU64::new(0),
                listening: AtomicBool::new(false),
                closing: AtomicBool::new(false),
                close_emitted: AtomicBool::new(false),
                stop_accept: Notify::new(),
                closed: Notify::new(),
                local_addr: Mutex::new(None),
                listener: Mutex::new(None),
            }),
        })
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.inner.handler
    }

    /// `server.listen(port, host)`: bind and start accepting, with Node's
    /// default backlog ([`LISTEN_BACKLOG`]). Returns the bound address
    /// (port 0 picks a free port).
    ///
    /// On a server that listens already it fails at once, as Node's throws:
    /// the `io::Error` wraps an [`Error`] `ERR_SERVER_ALREADY_LISTEN`.
    pub async fn listen(&self, addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
        if self.listening() {
            return Err(io::Error::other(Error::server_already_listen()));
        }
        let listener = Arc::new(bind(addr).await?);
        *self
            .inner
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(listener.clone());
        let local = listener.local_addr()?;
        *self
            .inner
            .local_addr
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(local);
        self.inner.listening.store(true, Ordering::SeqCst);
        self.inner.closing.store(false, Ordering::SeqCst);
        let server = self.clone();
        tokio::spawn(async move { server.accept_loop(listener).await });
        let server = self.clone();
        tokio::spawn(async move { server.check_loop().await });
        Ok(local)
    }

    /// The address the server listens on (`server.address()`).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        *self
            .inner
            .local_addr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// `server.listening`.
    pub fn listening(&self) -> bool {
        self.inner.listening.load(Ordering::SeqCst)
    }

    /// `server.close()`: stop accepting and close idle connections; the
    /// server emits `'close'` ([`closed`](Self::closed)) once every
    /// connection ended.
    pub fn close(&self) {
        self.inner.closing.store(true, Ordering::SeqCst);
        self.inner.listening.store(false, Ordering::SeqCst);
        self.inner.stop_accept.notify_waiters();
        // Node closes the listening handle in close() itself: a connection
        // attempt right after it is refused. The accept loop drops its
        // handle only when it runs next, so the socket stops listening
        // here (on a listening socket, shutdown() ends the listen).
        let listener = self
            .inner
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(l) = listener {
            let _ = socket2::SockRef::from(&*l).shutdown(std::net::Shutdown::Both);
        }
        self.close_idle_connections();
        self.maybe_emit_close();
    }

    /// `server.closeAllConnections()`.
    pub fn close_all_connections(&self) {
        for shared in self.connections() {
            if shared.lock().is_upgraded() {
                continue;
            }
            shared.with(Connection::destroy);
            shared.notify_changed();
        }
    }

    /// `server.closeIdleConnections()`: close the connections with no
    /// request in progress and no response in flight.
    pub fn close_idle_connections(&self) {
        for shared in self.connections() {
            let idle = shared.lock().is_idle();
            if idle {
                shared.with(Connection::destroy);
                shared.notify_changed();
            }
        }
    }

    /// `server.setTimeout(msecs)` / `server.timeout = msecs`: the
    /// inactivity timeout of sockets accepted from now on (zero: none, the
    /// default).
    pub fn set_timeout(&self, timeout: Duration) {
        self.inner
            .props
            .timeout
            .store(ms(timeout), Ordering::SeqCst);
    }

    /// `server.timeout`.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.inner.props.timeout.load(Ordering::SeqCst))
    }

    /// `server.headersTimeout`.
    pub fn headers_timeout(&self) -> Duration {
        Duration::from_millis(self.inner.props.headers_timeout.load(Ordering::SeqCst))
    }

    /// `server.headersTimeout = msecs`.
    pub fn set_headers_timeout(&self, timeout: Duration) {
        self.inner
            .props
            .headers_timeout
            .store(ms(timeout), Ordering::SeqCst);
    }

    /// `server.requestTimeout`.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.inner.props.request_timeout.load(Ordering::SeqCst))
    }

    /// `server.requestTimeout = msecs`.
    pub fn set_request_timeout(&self, timeout: Duration) {
        self.inner
            .props
            .request_timeout
            .store(ms(timeout), Ordering::SeqCst);
    }

    /// `server.keepAliveTimeout`.
    pub fn keep_alive_timeout(&self) -> Duration {
        Duration::from_millis(self.inner.props.keep_alive_timeout.load(Ordering::SeqCst))
    }

    /// `server.keepAliveTimeout = msecs` (read at each response).
    pub fn set_keep_alive_timeout(&self, timeout: Duration) {
        self.inner
            .props
            .keep_alive_timeout
            .store(ms(timeout), Ordering::SeqCst);
    }

    /// `server.maxHeadersCount`: `None` (Node's `null`) until set, and
    /// then Node's parser keeps its own default of
    /// [`DEFAULT_MAX_HEADERS_COUNT`] headers; 0: no limit.
    pub fn max_headers_count(&self) -> Option<usize> {
        match self.inner.props.max_headers_count.load(Ordering::SeqCst) {
            MAX_HEADERS_COUNT_UNSET => None,
            n => Some(n as usize),
        }
    }

    /// `server.connectionsCheckingInterval` (the option; default 30000 ms).
    pub fn connections_checking_interval(&self) -> Duration {
        self.inner.options.connections_checking_interval
    }

    /// `server.maxHeadersCount = n`.
    pub fn set_max_headers_count(&self, n: usize) {
        self.inner
            .props
            .max_headers_count
            .store(n as u64, Ordering::SeqCst);
    }

    /// `server.maxRequestsPerSocket` (0: no limit, the default).
    pub fn max_requests_per_socket(&self) -> u32 {
        self.inner
            .props
            .max_requests_per_socket
            .load(Ordering::SeqCst)
    }

    /// `server.maxRequestsPerSocket = n`.
    pub fn set_max_requests_per_socket(&self, n: u32) {
        self.inner
            .props
            .max_requests_per_socket
            .store(n, Ordering::SeqCst);
    }

    /// Wait for `'close'`.
    pub async fn closed(&self) {
        loop {
            let n = self.inner.closed.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.inner.close_emitted.load(Ordering::SeqCst) {
                return;
            }
            n.await;
        }
    }

    fn connections(&self) -> Vec<Arc<Shared>> {
        self.inner
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn maybe_emit_close(&self) {
        let empty = self
            .inner
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty();
        if self.inner.closing.load(Ordering::SeqCst)
            && empty
            && !self.inner.close_emitted.swap(true, Ordering::SeqCst)
        {
            self.inner.handler.close();
            self.inner.closed.notify_waiters();
        }
    }

    async fn accept_loop(self, listener: Arc<TcpListener>) {
        let mut reserve = reserve_fd();
        loop {
            let stop = self.inner.stop_accept.notified();
            tokio::pin!(stop);
            stop.as_mut().enable();
            if self.inner.closing.load(Ordering::SeqCst) {
                return;
            }
            tokio::select! {
                _ = &mut stop => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) if self.over_max_connections() => {
                        // net.Server: a connection over maxConnections is
                        // closed at once, with no 'connection' event.
                        drop(stream);
                    }
                    Ok((stream, peer)) => {
                        let server = self.clone();
                        tokio::spawn(async move { server.serve(stream, peer).await });
                    }
                    Err(e) if out_of_fds(&e) && reserve.is_some() => {
                        // libuv's uv__emfile_trick: free the reserved
                        // descriptor, accept every pending connection and
                        // close it (its client sees the close at once,
                        // instead of waiting in the kernel's queue), then
                        // reserve a descriptor again. The accepts go
                        // through the listener until it would block, which
                        // clears its readiness: accept(2) fails with EMFILE
                        // even on an empty queue, so a readiness left set
                        // would make this loop spin.
                        drop(reserve.take());
                        loop {
                            let accepted = std::future::poll_fn(|cx| {
                                Poll::Ready(listener.poll_accept(cx))
                            })
                            .await;
                            match accepted {
                                Poll::Ready(Ok((conn, _))) => drop(conn),
                                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                                _ => break,
                            }
                        }
                        reserve = reserve_fd();
                    }
                    // Out of descriptors with none in reserve, or another
                    // failure: back off instead of spinning, and try to
                    // reserve one again.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        if reserve.is_none() {
                            reserve = reserve_fd();
                        }
                    }
                },
            }
        }
    }

    /// `checkConnections`, every `connectionsCheckingInterval`.
    async fn check_loop(self) {
        let every = self
            .inner
            .options
            .connections_checking_interval
            .max(Duration::from_millis(1));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // httpServerPreClose: close() stops the checks.
            if self.inner.closing.load(Ordering::SeqCst) {
                return;
            }
            let ht = Duration::from_millis(self.inner.props.headers_timeout.load(Ordering::SeqCst));
            let rt = Duration::from_millis(self.inner.props.request_timeout.load(Ordering::SeqCst));
            if ht.is_zero() && rt.is_zero() {
                continue;
            }
            let now = now();
            for shared in self.connections() {
                shared.with(|c| c.check_expired(now, ht, rt));
            }
        }
    }

    fn conn_config(&self) -> ConnConfig {
        let o = &self.inner.options;
        let mut cfg = ConnConfig {
            parse: ParseOptions {
                // As Node's parser: 0 means the default.
                max_header_size: match o.max_header_size {
                    0 => crate::parse::DEFAULT_MAX_HEADER_SIZE,
                    n => n,
                },
                insecure: o.insecure_http_parser,
            },
            headers: HeaderOptions {
                join_duplicate_headers: o.join_duplicate_headers,
                max_headers_count: None,
            },
            require_host_header: o.require_host_header,
            reject_non_standard_body_writes: o.reject_non_standard_body_writes,
            unique_headers: o
                .unique_headers
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            high_water_mark: o.high_water_mark,
            listeners: Listeners {
                upgrade: self.inner.handler.handles_upgrade(),
                connect: self.inner.handler.handles_connect(),
            },
            // Listeners run in this task, then `publish_bodies`.
            defer_body_delivery: true,
            ..ConnConfig::default()
        };
        self.apply_props(&mut cfg);
        cfg
    }

    /// The settings Node reads from the server's properties at each use
    /// (`keepAliveTimeout`, `maxRequestsPerSocket`, `maxHeadersCount`, and
    /// `server.timeout`, which `resetSocketTimeout` reads when the
    /// keep-alive timer is replaced).
    fn apply_props(&self, cfg: &mut ConnConfig) {
        let p = &self.inner.props;
        cfg.keep_alive_timeout = Duration::from_millis(p.keep_alive_timeout.load(Ordering::SeqCst));
        cfg.max_requests_per_socket = p.max_requests_per_socket.load(Ordering::SeqCst);
        cfg.timeout = Duration::from_millis(p.timeout.load(Ordering::SeqCst));
        cfg.headers.max_headers_count = match p.max_headers_count.load(Ordering::SeqCst) {
            MAX_HEADERS_COUNT_UNSET => Some(DEFAULT_MAX_HEADERS_COUNT),
            0 => None,
            n => Some(n as usize),
        };
    }

    /// Refresh what Node reads from the server at each request.
    fn refresh(&self, c: &mut Connection) {
        self.apply_props(c.config_mut());
    }

    async fn serve(self, stream: TcpStream, peer: SocketAddr) {
        let o = &self.inner.options;
        let _ = stream.set_nodelay(o.no_delay);
        if o.keep_alive {
            // socket.setKeepAlive(true, delay): a zero delay keeps the
            // system's.
            let sock = socket2::SockRef::from(&stream);
            let _ = if o.keep_alive_initial_delay.is_zero() {
                sock.set_keepalive(true)
            } else {
                sock.set_tcp_keepalive(
                    &socket2::TcpKeepalive::new().with_time(o.keep_alive_initial_delay),
                )
            };
        }
        let local = stream.local_addr().unwrap_or(peer);
        let id = self.inner.next_conn.fetch_add(1, Ordering::SeqCst);
        let shared = Arc::new(Shared {
            state: Mutex::new(Connection::new(self.conn_config(), now())),
            wake_io: Notify::new(),
            waiters: AtomicUsize::new(0),
            changed: Notify::new(),
            peer,
            local,
        });
        self.inner
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, shared.clone());
        self.inner.handler.connection(&Socket {
            shared: shared.clone(),
        });
        let mut handlers = Vec::new();
        let _ = self.drive(&stream, &shared, &mut handlers).await;
        // The socket closes: whatever still waits on it learns it.
        shared.with(|c| {
            if c.closing() != Closing::Now {
                c.recv_reset();
            }
        });
        self.dispatch(&shared, &mut handlers);
        // The listeners of these last events ('clientError' of a reset)
        // have their first run now, before what the close wakes.
        std::future::poll_fn(|cx| {
            handlers.retain_mut(|h| h.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        shared.lock().listeners_ran();
        shared.notify_changed();
        drop(stream);
        self.inner
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        self.maybe_emit_close();
        // Handlers still running outlive the socket, as Node's listeners
        // outlive theirs: they go on in a task of their own.
        if !handlers.is_empty() {
            tokio::spawn(async move {
                std::future::poll_fn(|cx| {
                    handlers.retain_mut(|h| h.as_mut().poll(cx).is_pending());
                    if handlers.is_empty() {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                })
                .await
            });
        }
    }

    /// Hand the connection's events to the handler: each listener call
    /// becomes a future in `handlers`, which the connection task polls.
    ///
    /// Measured (keep-alive hello, wrk -c50, 2 cores): spawning a task per
    /// request cost a cross-thread wake-up (futex, context switch) and a
    /// second pass of the connection task per request; polling the
    /// listener in the connection task, as Node calls it on the socket's
    /// thread, lets a handler that answers at once have its response
    /// written in the same pass that read the request.
    fn dispatch(&self, shared: &Arc<Shared>, handlers: &mut Vec<HandlerFuture>) {
        loop {
            let Some(event) = shared.lock().poll_event() else {
                return;
            };
            let socket = Socket {
                shared: shared.clone(),
            };
            let message = |id, info| IncomingMessage {
                shared: shared.clone(),
                id,
                info,
                headers_distinct: OnceLock::new(),
                ended: AtomicBool::new(false),
                aborted: AtomicBool::new(false),
                raw_trailers: Mutex::new(Vec::new()),
                trailers_distinct: OnceLock::new(),
                encoding: Mutex::new(None),
            };
            let server = self.clone();
            match event {
                Event::Request { id, info, dispatch } => {
                    let req = message(id, info);
                    let res = ServerResponse {
                        shared: shared.clone(),
                        id,
                    };
                    let ran = shared.clone();
                    handlers.push(Box::pin(FirstRun::new(
                        async move {
                            let h = &server.inner.handler;
                            match dispatch {
                                Dispatch::Request => h.request(req, res).await,
                                Dispatch::CheckContinue => h.check_continue(req, res).await,
                                Dispatch::CheckExpectation => h.check_expectation(req, res).await,
                            }
                        },
                        // Polled by this task: no wake-up needed, the state is
                        // checked after the listeners ran.
                        move || ran.lock().handler_ran(),
                    )));
                }
                Event::Upgrade {
                    id,
                    info,
                    connect,
                    head,
                } => {
                    let req = message(id, info);
                    handlers.push(Box::pin(async move {
                        let h = &server.inner.handler;
                        if connect {
                            h.connect(req, socket, head).await
                        } else {
                            h.upgrade(req, socket, head).await
                        }
                    }));
                }
                Event::DropRequest { id, info } => {
                    let req = message(id, info);
                    handlers.push(Box::pin(async move {
                        server.inner.handler.drop_request(req, socket).await
                    }));
                }
                Event::ClientError { error, .. } => {
                    handlers.push(Box::pin(async move {
                        server.inner.handler.client_error(error, socket).await
                    }));
                }
                Event::Timeout => {
                    // socketOnTimeout: the response's listeners, then the
                    // server's; the socket is destroyed only when nobody
                    // listened.
                    let listened = shared.lock().response_timeout();
                    if listened {
                        shared.notify_changed();
                        self.inner.handler.timeout_listened(socket);
                    } else {
                        self.inner.handler.timeout(socket);
                    }
                }
                Event::Finish(id) => {
                    // resOnFinish: res.detachSocket(socket).
                    if let Some(r) = shared.lock().response_mut(id) {
                        r.set_socket_attached(false);
                    }
                    shared.notify_changed();
                }
                Event::Aborted(_) => shared.notify_changed(),
            }
        }
    }

    /// Dispatch the connection's events and run the new listeners until
    /// they wait, until no new event comes, going on with a packet whose
    /// parsing stopped at a tick point (`Connection::paused_at_tick`).
    async fn run_listeners(&self, shared: &Arc<Shared>, handlers: &mut Vec<HandlerFuture>) {
        loop {
            let before = handlers.len();
            self.dispatch(shared, handlers);
            if handlers.len() == before {
                // The listeners of the packet ran: its body data and ends
                // become visible (Node emits 'data' and 'end' after them).
                let mut c = shared.lock();
                if !c.publish_bodies() {
                    // Quiet: the ticks ran; the parser goes on.
                    c.set_date(SystemTime::now());
                    if c.continue_packet(now()) {
                        continue;
                    }
                    return;
                }
                drop(c);
                shared.notify_changed();
            }
            std::future::poll_fn(|cx| {
                handlers.retain_mut(|h| h.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            // The listeners of the events dispatched had their first run:
            // the abort they came before is visible now.
            if shared.lock().listeners_ran() {
                shared.notify_changed();
            }
        }
    }

    /// The connection task: move bytes until the connection closes.
    async fn drive(
        &self,
        stream: &TcpStream,
        shared: &Arc<Shared>,
        handlers: &mut Vec<HandlerFuture>,
    ) -> io::Result<()> {
        let mut shut_down = false;
        // The socket timer. Re-arming a tokio timer at every pass (every
        // request moves the deadline) cost a timer-wheel removal and
        // insertion per request; the timer is armed at the earliest
        // deadline seen and, if it fires before the connection's current
        // deadline (activity pushed it back), simply re-armed. Firing
        // early is harmless: `handle_timeout` checks the deadline.
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            self.run_listeners(shared, handlers).await;
            let wake = shared.wake_io.notified();
            tokio::pin!(wake);
            if wake.as_mut().enable() {
                // A wake-up from before this pass (a listener that just ran
                // queued its response): the state is checked below anyway,
                // so it must not cost another pass.
                wake.set(shared.wake_io.notified());
                wake.as_mut().enable();
            }

            // Write what is queued.
            let (closing, want_write, want_read, deadline, shutdown_now, more) = {
                let mut c = shared.lock();
                while !c.transmit().is_empty() {
                    match stream.try_write(c.transmit()) {
                        Ok(n) => c.transmitted(n, now()),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => {
                            c.recv_reset();
                            break;
                        }
                    }
                }
                let drained = c.is_drained();
                (
                    c.closing(),
                    !drained,
                    c.wants_read(),
                    c.poll_timeout(),
                    c.should_shutdown(),
                    c.needs_listeners(),
                )
            };
            shared.notify_changed();
            match closing {
                Closing::Now => return Ok(()),
                Closing::AfterFlush if shutdown_now && !shut_down => {
                    shut_down = true;
                    // socket.end(): FIN, then wait for the peer's.
                    let std = stream_shutdown(stream);
                    if std.is_err() {
                        return Ok(());
                    }
                }
                _ => {}
            }
            if shut_down && shared.lock().peer_closed() {
                return Ok(());
            }
            if more {
                // What was sent let parsing go on: its requests are
                // dispatched before the task waits.
                continue;
            }

            let mut interest: Option<Interest> = None;
            if want_read || shut_down {
                interest = Some(Interest::READABLE);
            }
            if want_write {
                interest = Some(interest.map_or(Interest::WRITABLE, |i| i | Interest::WRITABLE));
            }
            if let Some(d) = deadline {
                if armed.is_none_or(|a| d < a) {
                    timer.as_mut().reset(d.into());
                    armed = Some(d);
                }
            }
            let listeners = std::future::poll_fn(|cx| {
                let before = handlers.len();
                handlers.retain_mut(|h| h.as_mut().poll(cx).is_pending());
                if handlers.len() < before {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            });
            tokio::select! {
                ready = async {
                    match interest {
                        Some(i) => stream.ready(i).await,
                        None => std::future::pending().await,
                    }
                } => {
                    if ready?.is_readable() {
                        if self.read_socket(stream, shared, shut_down) {
                            return Ok(());
                        }
                        shared.notify_changed();
                    }
                }
                _ = &mut wake => {}
                _ = listeners => {}
                _ = &mut timer, if armed.is_some() => {
                    armed = None;
                    shared.lock().handle_timeout(now());
                }
            }
        }
    }

    /// Read what the socket has into the connection. Returns true when the
    /// connection is done (the peer's FIN after ours).
    ///
    /// One read takes up to [`READ_SIZE`] bytes, as libuv's: what one read
    /// brings is one packet for the parser, and Node's answers depend on
    /// it (the rest of a packet after an upgrade request served as an
    /// ordinary one is dropped).
    ///
    /// The buffer is on the stack for the duration of the call, not in the
    /// connection: an idle keep-alive connection holds no read buffer (a
    /// 16 KiB buffer per connection was most of the 13.4 KiB of RSS that
    /// each idle connection cost). The connection keeps only the bytes of
    /// an incomplete head.
    ///
    /// The buffer is left uninitialised: zeroing it before each read
    /// (`[0u8; N]` for `try_read`) was the largest single cost of a
    /// keep-alive request in user space (the `memset` of 16 KiB was 60 %
    /// of the server's instructions under callgrind).
    fn read_socket(&self, stream: &TcpStream, shared: &Shared, shut_down: bool) -> bool {
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); READ_SIZE];
        let read = stream.try_io(Interest::READABLE, || {
            socket2::SockRef::from(stream).recv(&mut buf)
        });
        // SAFETY: `recv` initialised the first `n` bytes it reports.
        let buf: &[u8] = match &read {
            Ok(n) => unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), *n) },
            Err(_) => &[],
        };
        match read {
            Ok(0) => {
                let mut c = shared.lock();
                self.refresh(&mut c);
                c.recv_eof(now());
                if shut_down {
                    return true;
                }
            }
            Ok(n) => {
                let mut c = shared.lock();
                if shut_down {
                    // Draining after our FIN: discard.
                } else {
                    self.refresh(&mut c);
                    c.set_date(SystemTime::now());
                    c.recv(&buf[..n], now());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => {
                shared.lock().recv_error();
            }
        }
        false
    }
}

/// Node's default backlog for `server.listen()` (net.js: `backlog || 511`):
/// the kernel queues up to this many connections not yet accepted (capped
/// by `net.core.somaxconn`). A burst of connections larger than the queue
/// loses SYNs, which clients retry only after a second.
pub const LISTEN_BACKLOG: u32 = 511;

/// Bind a listener to the first address of `addr` that binds, as
/// `TcpListener::bind` does (`SO_REUSEADDR` set, as libuv sets it), with
/// [`LISTEN_BACKLOG`].
async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
    let mut last = None;
    for a in tokio::net::lookup_host(addr).await? {
        let socket = if a.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(a).and_then(|()| socket.listen(LISTEN_BACKLOG)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        )
    }))
}

/// A descriptor held in reserve for the accept loop (libuv's
/// `loop->emfile_fd`: `/`, read-only), freed when the process runs out.
fn reserve_fd() -> Option<std::fs::File> {
    std::fs::File::open("/").ok()
}

/// Whether `e` says the process or the system has no descriptor left.
fn out_of_fds(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(code) if code == EMFILE || code == ENFILE)
}

/// `EMFILE` and `ENFILE` (Linux's and the BSDs' numbers).
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

/// The most one read of a socket takes: libuv's 64 KiB (`uv__read`
/// offers its `alloc_cb` 64 KiB, and Node's stream allocates that).
const READ_SIZE: usize = 64 * 1024;

/// Runs `on_first` once, right after the first poll of `fut`: the end of
/// the handler's synchronous part. `fut` is stored inline (the listener
/// future is boxed once, around this).
struct FirstRun<F, G> {
    fut: F,
    on_first: Option<G>,
}

impl<F: Future, G: FnOnce()> FirstRun<F, G> {
    fn new(fut: F, on_first: G) -> Self {
        FirstRun {
            fut,
            on_first: Some(on_first),
        }
    }
}

impl<F: Future, G: FnOnce() + Unpin> Future for FirstRun<F, G> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned: it is never moved out of
        // `self` (no method hands it out, FirstRun has no Drop and no
        // manual Unpin), so pinning `self` pins it. `on_first` is not
        // pinned and only taken.
        let this = unsafe { self.get_unchecked_mut() };
        let r = unsafe { std::pin::Pin::new_unchecked(&mut this.fut) }.poll(cx);
        if let Some(f) = this.on_first.take() {
            f();
        }
        r
    }
}

/// A listener call in progress (`'request'`, `'upgrade'`...), polled by the
/// connection task.
type HandlerFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The current time on tokio's clock (which tests may pause), for the
/// sans-IO core.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Shut the write side of a tokio stream down without taking it mutably.
fn stream_shutdown(stream: &TcpStream) -> io::Result<()> {
    socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;
    impl Handler for Nothing {
        async fn request(&self, _req: IncomingMessage, res: ServerResponse) {
            let _ = res.end(None);
        }
    }

    fn options(request_ms: u64, headers_ms: Option<u64>) -> ServerOptions {
        ServerOptions {
            request_timeout: Duration::from_millis(request_ms),
            headers_timeout: headers_ms.map(Duration::from_millis),
            ..ServerOptions::default()
        }
    }

    #[test]
    fn headers_timeout_defaults_as_node_computes_it() {
        let ms = |o| {
            Server::new(o, Nothing)
                .unwrap()
                .headers_timeout()
                .as_millis()
        };
        assert_eq!(ms(ServerOptions::default()), 60_000);
        assert_eq!(ms(options(10_000, None)), 10_000);
        assert_eq!(ms(options(0, None)), 0);
        assert_eq!(ms(options(0, Some(90_000))), 90_000);
    }

    #[test]
    fn headers_timeout_above_request_timeout_is_out_of_range() {
        let e = Server::new(options(1000, Some(2000)), Nothing)
            .err()
            .unwrap();
        assert_eq!(e.code(), "ERR_OUT_OF_RANGE");
        assert_eq!(e.name(), "RangeError");
        assert_eq!(
            e.to_string(),
            "The value of \"headersTimeout\" is out of range. It must be <= requestTimeout. Received 2000"
        );
    }
}
