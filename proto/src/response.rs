//! One server response as a sans-IO state machine: Node's `OutgoingMessage`
//! and `ServerResponse` (lib/_http_outgoing.js, lib/_http_server.js, Node
//! 23.5.0) without sockets, timers or clocks.
//!
//! [`ResponseState`] holds what a `ServerResponse` holds (status, queued
//! headers, the rendered head, framing state, `strictContentLength`
//! counters, trailers, cork counts) and its methods are Node's methods.
//! Every method that puts bytes on the wire appends them to an `out`
//! buffer given by the caller, in the order Node hands them to the socket;
//! the caller (the connection) writes them. The time for the `Date` header
//! is passed in.
//!
//! What this module models of the socket, because Node's bytes depend on
//! it:
//!
//! - **Corking.** `end()` corks the socket before it frames the last data
//!   and uncorks it once done. When `end()` throws in between (a
//!   `strictContentLength` mismatch, `ERR_HTTP_BODY_NOT_ALLOWED`, a bad
//!   status message...), Node leaves the socket corked: the bytes already
//!   framed, and everything written later, stay in the socket until a
//!   later `end()` succeeds. [`ResponseState`] keeps them back the same
//!   way (they come out in the `out` of that later call). Node also corks
//!   the socket for the rest of the tick in `write()`; that cork only
//!   matters when `end()` throws in the same tick, and is modelled only
//!   when the caller opts in with [`ResponseState::set_tick_corking`].
//! - **The socket being assigned.** A response queued behind another one
//!   (pipelining) has no socket in Node, so nothing is corked; see
//!   [`ResponseState::set_socket_attached`].
//!
//! Checked against Node 23.5.0 with a `node:http` server answered by raw
//! sockets (the tests below cite the cases); the fixtures
//! `fixtures/server/response*.md` are the same checks as scenarios.

use std::borrow::Cow;
use std::time::SystemTime;

use crate::chunked::{encode_chunk, encode_last_chunk};
use crate::encode::{
    encode_head, js_number_to_string, latin1_bytes, set_headers_with, Chunk, OutValue,
    ResponseHeadInput, StartLine,
};
use crate::error::Error;
use crate::validate::{
    has_invalid_header_char, validate_header_name, validate_header_value, validate_token,
};

/// What the connection knows when it creates the response.
///
/// Node equivalent: the fields `parserOnIncoming` and the `ServerResponse`
/// constructor set from the request and the server options.
/// [`ResponseContext::default`] is an HTTP/1.1 `GET` with keep-alive on a
/// default `http.Server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseContext {
    /// The request method was `HEAD` (Node: `_hasBody = false`).
    pub request_is_head: bool,
    /// The request's HTTP version. Below 1.1 (major < 1 or minor < 1),
    /// `useChunkedEncodingByDefault` is false unless the request had
    /// `TE: chunked`.
    pub request_version: (u8, u8),
    /// The request had a `TE` header containing `chunked`
    /// (`chunkExpression.test(req.headers.te)`).
    pub request_te_chunked: bool,
    /// The parser's keep-alive decision (`res.shouldKeepAlive`).
    pub should_keep_alive: bool,
    /// The request had `Expect: 100-continue` (`res._expect_continue`):
    /// unless `writeContinue()` is called before the head, the response
    /// closes the connection.
    pub expect_continue: bool,
    /// `server.keepAliveTimeout` in milliseconds (`res._keepAliveTimeout`).
    pub keep_alive_timeout_ms: u64,
    /// `server.maxRequestsPerSocket`, 0 for none
    /// (`res._maxRequestsPerSocket`).
    pub max_requests_per_socket: u32,
    /// `res.maxRequestsOnConnectionReached`.
    pub max_requests_reached: bool,
    /// The server option `rejectNonStandardBodyWrites`.
    pub reject_non_standard_body_writes: bool,
    /// The server option `uniqueHeaders` (any case): array values of these
    /// names are sent on one line joined with `"; "`, in the head and in
    /// trailers.
    pub unique_headers: Vec<String>,
}

impl Default for ResponseContext {
    fn default() -> Self {
        ResponseContext {
            request_is_head: false,
            request_version: (1, 1),
            request_te_chunked: false,
            should_keep_alive: true,
            expect_continue: false,
            keep_alive_timeout_ms: 5000,
            max_requests_per_socket: 0,
            max_requests_reached: false,
            reject_non_standard_body_writes: false,
            unique_headers: Vec::new(),
        }
    }
}

/// The `headers` argument of `writeHead`.
///
/// Node equivalent: `res.writeHead(status, obj)` with a plain object, or
/// with a flat array `[name, value, name, value...]` (the format of
/// `rawHeaders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadHeaders {
    /// A plain object, its entries in insertion order. As in JavaScript,
    /// a repeated name keeps its first position and its last value, and
    /// names that are array indices (`"7"`, `"123"`) come first, in
    /// numeric order.
    Object(Vec<(String, OutValue)>),
    /// A flat array `[k, v, k, v...]`; an odd length throws
    /// `ERR_INVALID_ARG_VALUE`.
    Array(Vec<String>),
}

/// The form of the `addTrailers()` argument.
///
/// Node equivalent: `addTrailers(obj)` versus `addTrailers([[k, v], ...])`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrailersForm {
    /// A plain object: JavaScript key order (array-index names first, a
    /// repeated name keeps its last value).
    Object,
    /// An array of pairs, taken as given.
    Array,
}

/// What `write()` or `end()` did with its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The data was framed and its bytes appended to `out` (or kept back
    /// while the socket is corked). For `end()`: the response is ended.
    Queued,
    /// The response may not have a body (HEAD, 1xx, 204, 304): the data
    /// was dropped without error. Node's `write()` returns `true` and
    /// calls its callback on the next tick. For `end(data)`: the response
    /// is ended all the same.
    Discarded,
    /// The call did nothing; [`WriteOutcome::error`] says why and how Node
    /// reports it. Node's `write()` returns `false`.
    Refused,
    /// `end()` without data on a response already ended: nothing happens;
    /// see [`Delivery::CallbackIfFinished`].
    AlreadyFinished,
}

/// How Node reports an error it does not throw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Not at all: the callback is a no-op or is never called, no
    /// `'error'`.
    Silent,
    /// The callback gets the error on the next tick; no `'error'` event
    /// (the response is destroyed).
    Callback,
    /// The callback gets the error and `'error'` is emitted on the
    /// response, both on the next tick.
    CallbackAndErrorEvent,
    /// `ERR_STREAM_ALREADY_FINISHED`: the `end()` callback gets it at once
    /// when the response is `writableFinished` (its bytes reached the
    /// socket); otherwise the callback waits for `'finish'` and gets no
    /// error.
    CallbackIfFinished,
}

/// An error Node reports asynchronously instead of throwing.
#[derive(Debug)]
pub struct AsyncError {
    /// The error (`ERR_STREAM_WRITE_AFTER_END`, `ERR_STREAM_DESTROYED`,
    /// `ERR_STREAM_ALREADY_FINISHED`).
    pub error: Error,
    /// How Node delivers it.
    pub delivery: Delivery,
}

/// The result of [`ResponseState::write`] and [`ResponseState::end`] when
/// Node does not throw (a thrown error is the `Err` of those methods).
///
/// Node equivalent: the return value of `res.write()` plus what Node does
/// later with the callback and the `'error'` event.
#[derive(Debug)]
pub struct WriteOutcome {
    /// What happened to the data.
    pub effect: Effect,
    /// Node's return value of `write()`: `true` when queued or discarded,
    /// `false` when refused. The state machine does not know the socket's
    /// buffer: the caller lowers it with [`WriteOutcome::with_ok`] when the
    /// queued bytes are over `highWaterMark`.
    pub ok: bool,
    /// The error Node reports asynchronously, if any.
    pub error: Option<AsyncError>,
}

impl WriteOutcome {
    /// Data framed and queued.
    pub fn queued() -> WriteOutcome {
        WriteOutcome {
            effect: Effect::Queued,
            ok: true,
            error: None,
        }
    }

    /// Data dropped: the response has no body.
    pub fn discarded() -> WriteOutcome {
        WriteOutcome {
            effect: Effect::Discarded,
            ok: true,
            error: None,
        }
    }

    /// A refused call with the error Node reports later.
    pub fn refused(error: Error, delivery: Delivery) -> WriteOutcome {
        WriteOutcome {
            effect: Effect::Refused,
            ok: false,
            error: Some(AsyncError { error, delivery }),
        }
    }

    /// `write()` on a destroyed response (the connection is gone):
    /// `ERR_STREAM_DESTROYED` to the callback, `false` returned.
    pub fn destroyed() -> WriteOutcome {
        WriteOutcome::refused(Error::stream_destroyed("write"), Delivery::Callback)
    }

    /// Set Node's return value from the socket's state (false: over
    /// `highWaterMark`, wait for `'drain'`). Only a queued write takes it;
    /// a discarded write stays `true` and a refused one `false`.
    pub fn with_ok(mut self, ok: bool) -> WriteOutcome {
        if self.effect == Effect::Queued {
            self.ok = ok;
        }
        self
    }
}

/// `_contentLength`: a number (from `end(data)` or a number header value)
/// or a string (a string `Content-Length` header, which Node keeps as is).
#[derive(Debug, Clone, PartialEq)]
enum ContentLength {
    Num(f64),
    Str(String),
}

impl ContentLength {
    /// `String(value)` for error messages.
    fn render(&self) -> String {
        match self {
            ContentLength::Num(n) => js_number_to_string(*n),
            ContentLength::Str(s) => s.clone(),
        }
    }

    /// `total > _contentLength` (a string is converted to a number).
    fn exceeded_by(&self, total: u64) -> bool {
        let limit = match self {
            ContentLength::Num(n) => *n,
            ContentLength::Str(s) => js_string_to_number(s),
        };
        total as f64 > limit
    }

    /// `total !== _contentLength`: always true for a string.
    fn differs_from(&self, total: u64) -> bool {
        match self {
            ContentLength::Num(n) => total as f64 != *n,
            ContentLength::Str(_) => true,
        }
    }

    /// `typeof _contentLength === 'number'`, as the integer the head
    /// writes (other numbers are not modelled).
    fn as_header_number(&self) -> Option<u64> {
        match self {
            ContentLength::Num(n) if *n >= 0.0 && n.fract() == 0.0 && *n < 1e19 => Some(*n as u64),
            _ => None,
        }
    }
}

/// One queued header: `kOutHeaders[key] = [name, value]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// The lower-cased name; `None` when `name` is lower-case already (the
    /// usual `setHeader('content-type', ...)`: no second copy of it).
    lower: Option<String>,
    name: String,
    value: OutValue,
}

impl Entry {
    /// `kOutHeaders` key: the name lower-cased.
    fn key(&self) -> &str {
        self.lower.as_deref().unwrap_or(&self.name)
    }
}

/// The lower-cased `name` when it differs from `name` (`None`: the name
/// is its own key), as [`Entry::lower`] keeps it.
fn lower_if_needed(name: &str) -> Option<String> {
    if name.is_ascii() && !name.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    Some(crate::headers::lower_case(name)).filter(|key| key != name)
}

/// The buffers of a finished response, emptied, for the next response on
/// the connection ([`ResponseState::recycle`], [`ResponseState::reusing`]).
#[derive(Debug, Default)]
pub struct Recycled {
    headers: Vec<Entry>,
    head: Vec<u8>,
}

/// The state of one server response.
///
/// Node equivalent: a `ServerResponse` (with its `OutgoingMessage` parts).
/// Created by the connection for each request with what it knows
/// ([`ResponseContext`]); its methods are the response's methods.
///
/// ```
/// use nodehttp_proto::response::{ResponseContext, ResponseState};
/// let mut res = ResponseState::new(ResponseContext::default());
/// let mut out = Vec::new();
/// res.set_header("Content-Type", "text/plain".into()).unwrap();
/// res.end(Some(b"hi"), std::time::UNIX_EPOCH, &mut out).unwrap();
/// assert_eq!(
///     out,
///     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nhi"
/// );
/// assert!(!res.last());
/// ```
#[derive(Debug, Clone)]
pub struct ResponseState {
    ctx: ResponseContext,
    status_code: u16,
    /// Borrowed when it is a standard reason phrase (no copy per response).
    status_message: Option<Cow<'static, str>>,
    send_date: bool,
    strict_content_length: bool,
    /// `kOutHeaders` entries in insertion order (see `ordered`).
    headers: Vec<Entry>,
    /// `kOutHeaders !== null`: `setHeader`/`appendHeader` was called.
    out_headers: bool,
    /// `_header`: the rendered head.
    header: Option<Vec<u8>>,
    /// The head in UTF-8, when it has text outside ASCII: sent instead of
    /// `header` with a [`Chunk::Text`] (see [`Chunk`]).
    header_utf8: Option<Vec<u8>>,
    /// Room for the head, from the connection's previous response.
    spare_head: Vec<u8>,
    /// `_headerSent`: the head went to the socket.
    header_sent: bool,
    has_body: bool,
    should_keep_alive: bool,
    chunked: bool,
    last: bool,
    removed_connection: bool,
    removed_content_length: bool,
    removed_transfer_encoding: bool,
    content_length: Option<ContentLength>,
    /// `kBytesWritten` (counted only while `strictContentLength` is set).
    bytes_written: u64,
    /// `_trailer`, latin-1.
    trailer: String,
    finished: bool,
    destroyed: bool,
    sent_100: bool,
    /// `kCorked` (may go negative, as in Node).
    corked: i64,
    /// `kChunkedBuffer`: data written while corked.
    chunked_buffer: Vec<u8>,
    socket_attached: bool,
    /// The socket's cork count (`writableCorked`).
    socket_corked: u32,
    /// Bytes written to the corked socket.
    held: Vec<u8>,
    /// Inside `end()`: bytes written to the corked socket go to `out`
    /// (see `end`).
    held_in_out: bool,
    tick_corking: bool,
    /// `connectionCorkNT` uncorks scheduled by `write()`.
    tick_uncorks: u32,
    /// `'timeout'` listeners of the response (`res.setTimeout(ms, cb)`).
    timeout_listeners: u32,
    /// How many times the socket timed out with listeners to tell.
    timeouts: u32,
    /// Bytes produced by `write_head` (which has no `out`).
    pending: Vec<u8>,
}

impl ResponseState {
    /// A fresh response: status 200, no headers, `sendDate` true.
    ///
    /// Node equivalent: `new ServerResponse(req)` as `parserOnIncoming`
    /// sets it up.
    pub fn new(ctx: ResponseContext) -> ResponseState {
        ResponseState::reusing(ctx, Recycled::default())
    }

    /// [`ResponseState::new`] with the buffers of a finished response
    /// ([`ResponseState::recycle`]): a connection passes them from one
    /// response to the next, so that a keep-alive response allocates
    /// neither its header list nor its head.
    pub fn reusing(ctx: ResponseContext, buffers: Recycled) -> ResponseState {
        let Recycled { mut headers, head } = buffers;
        headers.clear();
        ResponseState {
            spare_head: head,
            has_body: !ctx.request_is_head,
            should_keep_alive: ctx.should_keep_alive,
            ctx,
            status_code: 200,
            status_message: None,
            send_date: true,
            strict_content_length: false,
            headers,
            out_headers: false,
            header: None,
            header_utf8: None,
            header_sent: false,
            chunked: false,
            last: false,
            removed_connection: false,
            removed_content_length: false,
            removed_transfer_encoding: false,
            content_length: None,
            bytes_written: 0,
            trailer: String::new(),
            finished: false,
            destroyed: false,
            sent_100: false,
            corked: 0,
            chunked_buffer: Vec::new(),
            socket_attached: true,
            socket_corked: 0,
            held: Vec::new(),
            held_in_out: false,
            tick_corking: false,
            tick_uncorks: 0,
            timeout_listeners: 0,
            timeouts: 0,
            pending: Vec::new(),
        }
    }

    /// The response is done with: its emptied buffers, for
    /// [`ResponseState::reusing`].
    /// Buffers larger than a usual response needs are dropped instead, so
    /// that an idle connection does not keep the room of an exceptional
    /// one.
    pub fn recycle(mut self) -> Recycled {
        self.take_buffers()
    }

    /// [`recycle`](Self::recycle) of a response dropped where it lies
    /// (the connection's list of finished responses): moving the whole
    /// state out first cost a copy of its few hundred bytes.
    pub(crate) fn take_buffers(&mut self) -> Recycled {
        const MAX_HEAD: usize = 1024;
        const MAX_HEADERS: usize = 16;
        let mut headers = std::mem::take(&mut self.headers);
        headers.clear();
        if headers.capacity() > MAX_HEADERS {
            headers = Vec::new();
        }
        let mut head = match self.header.take() {
            Some(head) => head,
            None => std::mem::take(&mut self.spare_head),
        };
        if head.capacity() > MAX_HEAD {
            head = Vec::new();
        }
        Recycled { headers, head }
    }

    /// The context the response was created with.
    pub fn context(&self) -> &ResponseContext {
        &self.ctx
    }

    // ------------------------------------------------------------ properties

    /// `res.statusCode` (200 until set; after `writeHead`, its code).
    pub fn status_code(&self) -> u16 {
        self.status_code
    }

    /// `res.statusCode = code`. Not checked here: the head rendering
    /// throws `ERR_HTTP_INVALID_STATUS_CODE` for a code outside 100..=999.
    pub fn set_status_code(&mut self, code: u16) {
        self.status_code = code;
    }

    /// `res.statusMessage`: `None` (undefined) until set or until the head
    /// fills it with the standard phrase.
    pub fn status_message(&self) -> Option<&str> {
        self.status_message.as_deref()
    }

    /// `res.statusMessage = m`. An empty message counts as unset when the
    /// head is built implicitly (`statusMessage ||= STATUS_CODES[code]`).
    pub fn set_status_message(&mut self, m: Option<String>) {
        self.status_message = m.map(Cow::Owned);
    }

    /// `res.sendDate` (default true).
    pub fn send_date(&self) -> bool {
        self.send_date
    }

    /// `res.sendDate = v`.
    pub fn set_send_date(&mut self, v: bool) {
        self.send_date = v;
    }

    /// `res.strictContentLength` (default false).
    pub fn strict_content_length(&self) -> bool {
        self.strict_content_length
    }

    /// `res.strictContentLength = v`. Bytes are counted only while it is
    /// true.
    pub fn set_strict_content_length(&mut self, v: bool) {
        self.strict_content_length = v;
    }

    /// `res.headersSent`: the head is built (by `writeHead` or implicitly),
    /// even if not yet on the wire.
    pub fn headers_sent(&self) -> bool {
        self.header.is_some()
    }

    /// `res.writableEnded`: `end()` completed.
    pub fn writable_ended(&self) -> bool {
        self.finished
    }

    /// `res.finished` (deprecated alias of `writableEnded`).
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// `res.destroyed`.
    pub fn destroyed(&self) -> bool {
        self.destroyed
    }

    /// Mark the response destroyed: Node's `res.destroy()` (the caller
    /// destroys the socket) or the `destroyed = true` Node sets when the
    /// response closes (`emitCloseNT`). Later writes fail with
    /// `ERR_STREAM_DESTROYED` (or, after `end()`, report
    /// `ERR_STREAM_WRITE_AFTER_END` to the callback only) and no more bytes
    /// are produced.
    pub fn destroy(&mut self) {
        self.destroyed = true;
    }

    /// `_hasBody`: whether body bytes are sent at all (false for HEAD,
    /// 1xx, 204, 304).
    pub fn has_body(&self) -> bool {
        self.has_body
    }

    /// `chunkedEncoding`: the body is framed as chunks (known once the
    /// head is built).
    pub fn chunked_encoding(&self) -> bool {
        self.chunked
    }

    /// `res.writableCorked` (`kCorked`).
    pub fn writable_corked(&self) -> i64 {
        self.corked
    }

    /// After `end()`: whether the connection must close once this response
    /// is flushed.
    ///
    /// Node equivalent: `res._last`, read by `resOnFinish`
    /// (`socket.destroySoon()` when true).
    pub fn last(&self) -> bool {
        self.last
    }

    /// Whether the response holds the socket (default true).
    ///
    /// Node equivalent: `res.socket` being set. A response queued behind
    /// another one (pipelining) has no socket until `assignSocket`: call
    /// this with `false` for it, then `true` when it reaches the front.
    /// Without a socket nothing is corked, so an `end()` that throws does
    /// not keep its bytes back.
    pub fn set_socket_attached(&mut self, attached: bool) {
        self.socket_attached = attached;
    }

    /// Whether the response holds the socket: false while it is queued
    /// behind another response, and once its socket was detached at
    /// `'finish'` (see [`ResponseState::set_socket_attached`]).
    ///
    /// Node equivalent: `res.socket !== null`.
    pub fn socket_attached(&self) -> bool {
        self.socket_attached
    }

    /// The body bytes kept back by corks: written to the corked socket, or
    /// collected by `cork()` to go out as one chunk.
    ///
    /// Node equivalent: the part of `res.writableLength` the corks hold
    /// (`socket.writableLength` while corked, `kChunkedLength`).
    pub fn buffered_len(&self) -> usize {
        self.held.len() + self.chunked_buffer.len() + self.pending.len()
    }

    /// `res.on('timeout', listener)`, as `res.setTimeout(ms, callback)`
    /// adds it: a socket timeout while the response holds the socket is
    /// then the response's, and does not destroy the socket.
    pub fn add_timeout_listener(&mut self) {
        self.timeout_listeners += 1;
    }

    /// How many `'timeout'` listeners the response has.
    pub fn timeout_listeners(&self) -> u32 {
        self.timeout_listeners
    }

    /// The socket timed out while the response held it: if the response
    /// has listeners, count a `'timeout'` for them and return true.
    pub fn emit_timeout(&mut self) -> bool {
        if self.timeout_listeners == 0 {
            return false;
        }
        self.timeouts += 1;
        true
    }

    /// How many `'timeout'` events the response emitted.
    pub fn timeouts(&self) -> u32 {
        self.timeouts
    }

    /// Model the cork `write()` puts on the socket until the end of the
    /// tick (`socket.cork(); process.nextTick(connectionCorkNT)`). Off by
    /// default: the bytes of `write()` are then in its `out` at once. When
    /// on, they are kept back until [`ResponseState::tick`]; this only
    /// changes the bytes when an `end()` in the same tick throws (Node then
    /// leaves them corked).
    pub fn set_tick_corking(&mut self, on: bool) {
        self.tick_corking = on;
    }

    /// The end of the current tick: run the uncorks `write()` scheduled
    /// (see [`ResponseState::set_tick_corking`]), appending bytes that are
    /// no longer corked to `out`.
    pub fn tick(&mut self, out: &mut Vec<u8>) {
        while self.tick_uncorks > 0 {
            self.tick_uncorks -= 1;
            self.socket_uncork(out);
        }
    }

    /// Append to `out` the bytes `write_head` produced (only when the
    /// headers hold `Expect`, which makes Node send the head at once).
    /// Every method with an `out` does this first.
    pub fn take_pending(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.pending);
    }

    // ------------------------------------------------------------ headers

    /// `kOutHeaders` in JavaScript key order: array-index keys first in
    /// numeric order, then the others in insertion order.
    ///
    /// Allocates only when there are array-index keys to sort (collecting
    /// none allocates nothing): the usual head is rendered straight from
    /// the queued entries.
    fn ordered(&self) -> impl Iterator<Item = &Entry> {
        let mut index: Vec<&Entry> = self
            .headers
            .iter()
            .filter(|e| array_index(e.key()).is_some())
            .collect();
        index.sort_by_key(|e| array_index(e.key()));
        index.into_iter().chain(
            self.headers
                .iter()
                .filter(|e| array_index(e.key()).is_none()),
        )
    }

    /// The queued entry of `name` (any case).
    fn find(&self, name: &str) -> Option<usize> {
        if name.is_ascii() {
            // Keys are lower-case: the same test as comparing them with
            // `name` lower-cased, without the copy.
            return self
                .headers
                .iter()
                .position(|e| e.key().eq_ignore_ascii_case(name));
        }
        let key = crate::headers::lower_case(name);
        self.headers.iter().position(|e| e.key() == key)
    }

    /// Queue a header for the implicit head, replacing a queued one of the
    /// same name (any case; the entry keeps its place and takes the new
    /// spelling).
    ///
    /// Node equivalent: `res.setHeader(name, value)`. Throws
    /// `ERR_HTTP_HEADERS_SENT` once the head is built,
    /// `ERR_INVALID_HTTP_TOKEN` for a bad name, `ERR_INVALID_CHAR` for a
    /// value (or array element) with a char outside `[\t\x20-\x7e\x80-\xff]`.
    pub fn set_header(&mut self, name: &str, value: OutValue) -> Result<(), Error> {
        if self.header.is_some() {
            return Err(Error::headers_sent("set"));
        }
        validate_header_name(name)?;
        validate_out_value(name, &value)?;
        self.out_headers = true;
        // The key is computed once, and compared whole with each entry's.
        let lower = lower_if_needed(name);
        let key = lower.as_deref().unwrap_or(name);
        match self.headers.iter().position(|e| e.key() == key) {
            Some(i) => {
                let entry = &mut self.headers[i];
                name.clone_into(&mut entry.name);
                entry.lower = lower;
                entry.value = value;
            }
            None => self.headers.push(Entry {
                lower,
                name: name.to_owned(),
                value,
            }),
        }
        Ok(())
    }

    /// Add values to a queued header (an array value adds each element);
    /// without a queued one, same as [`ResponseState::set_header`]. The
    /// name keeps the spelling it was first set with.
    ///
    /// Node equivalent: `res.appendHeader(name, value)` (errors as
    /// `setHeader`, `ERR_HTTP_HEADERS_SENT` with "append"). Deviation: a
    /// number already queued becomes a string element of the array
    /// (Node keeps the number in the array; the bytes are the same).
    pub fn append_header(&mut self, name: &str, value: OutValue) -> Result<(), Error> {
        if self.header.is_some() {
            return Err(Error::headers_sent("append"));
        }
        validate_header_name(name)?;
        validate_out_value(name, &value)?;
        let Some(i) = self.find(name) else {
            return self.set_header(name, value);
        };
        let entry = &mut self.headers[i];
        let queued = std::mem::replace(&mut entry.value, OutValue::Many(Vec::new()));
        entry.value = queued.appended(value);
        Ok(())
    }

    /// Set several headers from a `Map` or `Headers`, in its iteration
    /// order, each as [`ResponseState::set_header`]. Entries named exactly
    /// `set-cookie` (as a `Headers` yields them) are collected and set
    /// together at the end as one array.
    ///
    /// Node equivalent: `res.setHeaders(headers)`. Throws
    /// `ERR_HTTP_HEADERS_SENT` first; a failing entry throws with the
    /// earlier ones already set. (A plain object is refused with
    /// `ERR_INVALID_ARG_TYPE` by Node before this point.)
    pub fn set_headers(&mut self, headers: &[(String, OutValue)]) -> Result<(), Error> {
        if self.header.is_some() {
            return Err(Error::headers_sent("set"));
        }
        set_headers_with(headers, |name, value| self.set_header(name, value))
    }

    /// A queued header's value, as it was set (string, number or array);
    /// the name in any case.
    ///
    /// Node equivalent: `res.getHeader(name)` (`undefined` is `None`).
    /// Headers given only to `writeHead()` are not queued.
    pub fn get_header(&self, name: &str) -> Option<&OutValue> {
        self.find(name).map(|i| &self.headers[i].value)
    }

    /// The queued headers, names lower-cased, in Node's key order.
    ///
    /// Node equivalent: `res.getHeaders()`.
    pub fn get_headers(&self) -> Vec<(String, OutValue)> {
        self.ordered()
            .map(|e| (e.key().to_owned(), e.value.clone()))
            .collect()
    }

    /// The queued header names, lower-cased.
    ///
    /// Node equivalent: `res.getHeaderNames()`.
    pub fn get_header_names(&self) -> Vec<String> {
        self.ordered().map(|e| e.key().to_owned()).collect()
    }

    /// The queued header names as they will be written (the spelling of the
    /// last `setHeader`).
    ///
    /// Node equivalent: `res.getRawHeaderNames()`.
    pub fn get_raw_header_names(&self) -> Vec<String> {
        self.ordered().map(|e| e.name.clone()).collect()
    }

    /// Whether a header is queued (name in any case).
    ///
    /// Node equivalent: `res.hasHeader(name)`.
    pub fn has_header(&self, name: &str) -> bool {
        self.get_header(name).is_some()
    }

    /// Drop a queued header. Removing `Connection`, `Content-Length` or
    /// `Transfer-Encoding` also stops Node from adding its own; removing
    /// `Date` sets `sendDate` to false.
    ///
    /// Node equivalent: `res.removeHeader(name)`; throws
    /// `ERR_HTTP_HEADERS_SENT` once the head is built.
    pub fn remove_header(&mut self, name: &str) -> Result<(), Error> {
        if self.header.is_some() {
            return Err(Error::headers_sent("remove"));
        }
        let key = crate::headers::lower_case(name);
        match key.as_str() {
            "connection" => self.removed_connection = true,
            "content-length" => self.removed_content_length = true,
            "transfer-encoding" => self.removed_transfer_encoding = true,
            "date" => self.send_date = false,
            _ => {}
        }
        self.headers.retain(|e| e.key() != key);
        Ok(())
    }

    // ------------------------------------------------------------ head

    /// Build the head now (it goes on the wire with the first body bytes,
    /// `end()` or `flushHeaders()`).
    ///
    /// Node equivalent: `res.writeHead(statusCode[, statusMessage][,
    /// headers])`. In order, as Node:
    ///
    /// 1. `ERR_HTTP_HEADERS_SENT` if the head is built already.
    /// 2. `ERR_HTTP_INVALID_STATUS_CODE` (a `RangeError`) outside
    ///    100..=999; nothing changes.
    /// 3. `statusMessage` becomes `message`, or, without one, keeps its
    ///    value unless empty/unset (then the standard phrase or
    ///    `"unknown"`); `statusCode` becomes `status`. These stay even if
    ///    a later step throws (a later implicit head can then read
    ///    `"201 OK"`).
    /// 4. With headers queued by `setHeader` (even all removed since), the
    ///    `headers` are merged into them: an object entry replaces the
    ///    queued one (`setHeader`); an array first removes every name it
    ///    holds, then appends its pairs in order (`removeHeader` +
    ///    `appendHeader`), so repeats are kept. Empty names are skipped.
    ///    An odd-length array throws `ERR_INVALID_ARG_VALUE`. The merged
    ///    headers are readable with `getHeader()`.
    ///    Without queued headers, the `headers` are written as given and
    ///    validated only now (`ERR_INVALID_HTTP_TOKEN`, `ERR_INVALID_CHAR`,
    ///    odd array: `ERR_INVALID_ARG_VALUE`), and `getHeader()` does not
    ///    see them.
    /// 5. `ERR_INVALID_CHAR` for a status message with a bad char.
    /// 6. 1xx/204/304 make the response bodiless (for good, even if the
    ///    head then fails); an unanswered `Expect: 100-continue` turns
    ///    keep-alive off.
    /// 7. The head is rendered (`_storeHeader`, see
    ///    [`encode_response_head`](crate::encode::encode_response_head)):
    ///    `ERR_HTTP_TRAILER_INVALID` for a `Trailer` header on a
    ///    non-chunked response.
    ///
    /// When the headers hold `Expect`, Node sends the head at once; those
    /// bytes wait in [`ResponseState::take_pending`].
    pub fn write_head(
        &mut self,
        status: u16,
        message: Option<&str>,
        headers: Option<HeadHeaders>,
        now: SystemTime,
    ) -> Result<(), Error> {
        let mut out = Vec::new();
        let r = self.write_head_inner(status, message, headers, now, &mut out);
        self.pending.extend_from_slice(&out);
        r
    }

    fn write_head_inner(
        &mut self,
        status: u16,
        message: Option<&str>,
        headers: Option<HeadHeaders>,
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        if self.header.is_some() {
            return Err(Error::headers_sent("write"));
        }
        if !(100..=999).contains(&status) {
            return Err(Error::invalid_status_code(&status.to_string()));
        }
        match message {
            Some(m) => self.status_message = Some(Cow::Owned(m.to_owned())),
            None => {
                if self.status_message.as_deref().is_none_or(str::is_empty) {
                    self.status_message = Some(Cow::Borrowed(
                        crate::status::reason_phrase_or_unknown(status),
                    ));
                }
            }
        }
        self.status_code = status;

        // The headers _storeHeader renders, and whether it validates them.
        let direct: Option<HeadHeaders> = if self.out_headers {
            match headers {
                Some(HeadHeaders::Array(a)) => {
                    if a.len() % 2 != 0 {
                        return Err(Error::invalid_arg_value(
                            "headers",
                            &inspect_array(&a),
                            None,
                        ));
                    }
                    for pair in a.chunks(2) {
                        self.remove_header(&pair[0])?;
                    }
                    for pair in a.chunks(2) {
                        if !pair[0].is_empty() {
                            self.append_header(&pair[0], OutValue::One(pair[1].clone()))?;
                        }
                    }
                }
                Some(HeadHeaders::Object(o)) => {
                    for (k, v) in js_object_entries(&o) {
                        if !k.is_empty() {
                            self.set_header(&k, v)?;
                        }
                    }
                }
                None => {}
            }
            None
        } else {
            headers
        };

        if has_invalid_header_char(self.status_message.as_deref().unwrap_or_default()) {
            return Err(Error::invalid_char("statusMessage", ""));
        }
        if status == 204 || status == 304 || (100..=199).contains(&status) {
            self.has_body = false;
        }
        if self.ctx.expect_continue && !self.sent_100 {
            self.should_keep_alive = false;
        }

        // The headers of `writeHead(status, headers)` alone, validated when
        // rendered; otherwise the queued ones (borrowed, not copied).
        let given = match direct {
            None => None,
            Some(HeadHeaders::Object(o)) => Some(js_object_entries(&o)),
            Some(HeadHeaders::Array(a)) => {
                if a.len() % 2 != 0 {
                    return Err(Error::invalid_arg_value(
                        "headers",
                        &inspect_array(&a),
                        None,
                    ));
                }
                let pairs = a
                    .chunks(2)
                    .map(|p| (p[0].clone(), OutValue::One(p[1].clone())))
                    .collect();
                Some(pairs)
            }
        };
        self.store_header(status, given, now, out)
    }

    /// `_storeHeader` through [`encode_head`], then the state it leaves.
    /// `given`: the headers of `writeHead(status, headers)` alone (Node
    /// validates them now); `None` renders the queued ones.
    fn store_header(
        &mut self,
        status: u16,
        given: Option<Vec<(String, OutValue)>>,
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let (maj, min) = self.ctx.request_version;
        // The message, the headers and `uniqueHeaders` are passed to
        // `encode_head` borrowed; these fields of the input stay empty.
        let input = ResponseHeadInput {
            status,
            status_message: None,
            headers: Vec::new(),
            validate: given.is_some(),
            send_date: self.send_date,
            now,
            should_keep_alive: self.should_keep_alive,
            use_chunked_encoding_by_default: if maj < 1 || min < 1 {
                self.ctx.request_te_chunked
            } else {
                true
            },
            keep_alive_timeout_ms: self.ctx.keep_alive_timeout_ms,
            max_requests_per_socket: self.ctx.max_requests_per_socket,
            max_requests_reached: self.ctx.max_requests_reached,
            // encode derives `_hasBody` from this and the status.
            request_is_head: !self.has_body,
            content_length: self
                .content_length
                .as_ref()
                .and_then(ContentLength::as_header_number),
            removed_connection: self.removed_connection,
            removed_content_length: self.removed_content_length,
            removed_transfer_encoding: self.removed_transfer_encoding,
            expect_continue_unanswered: false,
            unique_headers: Vec::new(),
            last: false,
            has_agent: false,
        };
        let buf = std::mem::take(&mut self.spare_head);
        let message = StartLine::Status(self.status_message.as_deref().unwrap_or_default());
        let unique = &self.ctx.unique_headers;
        let (head, lines) = match &given {
            Some(list) => {
                let list = list.iter().map(|(n, v)| (n.as_str(), v));
                encode_head(&input, message, list, unique, buf)?
            }
            None => {
                let queued = self.ordered().map(|e| (e.name.as_str(), &e.value));
                encode_head(&input, message, queued, unique, buf)?
            }
        };
        if lines.connection {
            self.removed_connection = false;
        }
        if lines.transfer_encoding {
            self.removed_transfer_encoding = false;
        }
        if let Some(v) = head.content_length_header {
            self.removed_content_length = false;
            self.content_length = Some(match v {
                OutValue::Number(n) => ContentLength::Num(n),
                other => ContentLength::Str(other.to_js_string()),
            });
        }
        self.header = Some(head.bytes);
        self.header_utf8 = head.utf8;
        self.header_sent = false;
        self.chunked = head.chunked;
        self.last = head.last;
        if lines.expect {
            self.send(b"", out);
        }
        Ok(())
    }

    /// `_implicitHeader`: `writeHead(this.statusCode)`.
    fn implicit_header(&mut self, now: SystemTime, out: &mut Vec<u8>) -> Result<(), Error> {
        self.write_head_inner(self.status_code, None, None, now, out)
    }

    /// Send the head now (building it implicitly if needed), before any
    /// body: chunked on HTTP/1.1 unless a length was set.
    ///
    /// Node equivalent: `res.flushHeaders()`. Throws what the implicit
    /// `writeHead()` throws. Does nothing more once the head is sent.
    pub fn flush_headers(&mut self, now: SystemTime, out: &mut Vec<u8>) -> Result<(), Error> {
        self.take_pending(out);
        if self.header.is_none() {
            self.implicit_header(now, out)?;
        }
        self.send(b"", out);
        Ok(())
    }

    // ------------------------------------------------------------ body

    /// Write body bytes, building and sending the head first if needed
    /// (the head and the first bytes go out in one append).
    ///
    /// Node equivalent: `res.write(chunk)`. Framing: one chunk per
    /// non-empty write when chunked (HTTP/1.1 without `Content-Length`),
    /// raw bytes otherwise (a `Content-Length` set by the caller, or
    /// HTTP/1.0, close-delimited). An empty write sends the head if it was
    /// not sent, nothing else (Node returns `true`).
    ///
    /// Thrown (`Err`): what the implicit `writeHead()` throws
    /// (`ERR_HTTP_INVALID_STATUS_CODE`, `ERR_INVALID_CHAR`,
    /// `ERR_HTTP_TRAILER_INVALID`...); `ERR_HTTP_CONTENT_LENGTH_MISMATCH`
    /// when `strictContentLength` is set and the bytes would exceed the
    /// `Content-Length` of a head already built (a write that builds the
    /// head is not checked); `ERR_HTTP_BODY_NOT_ALLOWED` on a bodiless
    /// response with `rejectNonStandardBodyWrites`.
    ///
    /// Not thrown ([`WriteOutcome`]): on a bodiless response the data is
    /// [`Effect::Discarded`]; after `end()`, `ERR_STREAM_WRITE_AFTER_END`
    /// ([`Delivery::CallbackAndErrorEvent`], or [`Delivery::Callback`] once
    /// destroyed); on a destroyed response, `ERR_STREAM_DESTROYED`
    /// ([`Delivery::Callback`]).
    pub fn write(
        &mut self,
        data: &[u8],
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> Result<WriteOutcome, Error> {
        self.write_chunk(Chunk::Bytes(data), now, out)
    }

    /// [`write`](Self::write) with a chunk that may be a UTF-8 string
    /// (see [`Chunk`]: the head then goes with it as UTF-8).
    pub fn write_chunk(
        &mut self,
        chunk: Chunk<'_>,
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> Result<WriteOutcome, Error> {
        self.take_pending(out);
        if self.finished {
            let delivery = if self.destroyed {
                Delivery::Callback
            } else {
                Delivery::CallbackAndErrorEvent
            };
            return Ok(WriteOutcome::refused(Error::write_after_end(), delivery));
        }
        if self.destroyed {
            return Ok(WriteOutcome::destroyed());
        }
        self.write_body(chunk, false, now, out)
    }

    /// `strictContentLength(msg)`.
    fn strict_applies(&self) -> bool {
        self.strict_content_length
            && self.content_length.is_some()
            && self.has_body
            && !self.removed_content_length
            && !self.chunked
            && !self.has_header("transfer-encoding")
    }

    /// `write_()` past its finished/destroyed checks.
    fn write_body(
        &mut self,
        chunk: Chunk<'_>,
        from_end: bool,
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> Result<WriteOutcome, Error> {
        let data = chunk.bytes();
        let len = data.len() as u64;
        if self.strict_content_length {
            if self.strict_applies() {
                if let Some(cl) = &self.content_length {
                    let total = self.bytes_written + len;
                    let mismatch = if from_end {
                        cl.differs_from(total)
                    } else {
                        cl.exceeded_by(total)
                    };
                    if mismatch {
                        return Err(Error::content_length_mismatch(
                            &total.to_string(),
                            &cl.render(),
                        ));
                    }
                }
            }
            self.bytes_written += len;
        }
        if self.header.is_none() {
            if from_end {
                self.content_length = Some(ContentLength::Num(len as f64));
            }
            self.implicit_header(now, out)?;
        }
        if !self.has_body {
            if self.ctx.reject_non_standard_body_writes {
                return Err(Error::body_not_allowed());
            }
            return Ok(WriteOutcome::discarded());
        }
        if !from_end && self.tick_corking && self.socket_attached && self.socket_corked == 0 {
            self.socket_corked += 1;
            self.tick_uncorks += 1;
        }
        if self.chunked && !data.is_empty() {
            if self.corked != 0 && self.header_sent {
                self.chunked_buffer.extend_from_slice(data);
            } else {
                self.send(&encode_chunk(data), out);
            }
        } else if chunk.is_text() {
            self.send_text(data, out);
        } else {
            self.send(data, out);
        }
        Ok(WriteOutcome::queued())
    }

    /// End the response: frame `data` (if any) and the end of the body.
    ///
    /// Node equivalent: `res.end([data])`. `None` is `end()` (and also
    /// `end('')`, as Node tests the chunk for truthiness); `Some(b"")` is
    /// an empty `Buffer`. Framing, as Node:
    ///
    /// - head not built yet: `end(data)` announces `Content-Length:
    ///   data.len()` (`end()`: 0), unless a `Trailer` header or a removed
    ///   `Content-Length` forces chunked, or the request is HTTP/1.0
    ///   (close-delimited);
    /// - chunked: `data` as a last chunk, then `0\r\n`, the trailers and
    ///   `\r\n`;
    /// - HEAD, 1xx, 204, 304: no body bytes at all, no length.
    ///
    /// Thrown (`Err`): what `write()` and the implicit `writeHead()`
    /// throw, and `ERR_HTTP_CONTENT_LENGTH_MISMATCH` when
    /// `strictContentLength` applies and the total differs from
    /// `Content-Length` (a string header value never equals the byte
    /// count, a Node quirk: only a number value can match). A throw after
    /// the socket was corked leaves it corked: nothing of this response
    /// reaches `out` until an `end()` succeeds.
    ///
    /// Not thrown ([`WriteOutcome`]): after `end()`, `end(data)` reports
    /// `ERR_STREAM_WRITE_AFTER_END` ([`Delivery::CallbackAndErrorEvent`];
    /// nothing at all once destroyed) and `end()` is
    /// [`Effect::AlreadyFinished`]. Bodiless responses give
    /// [`Effect::Discarded`] for `end(data)` (ended all the same).
    pub fn end(
        &mut self,
        data: Option<&[u8]>,
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> Result<WriteOutcome, Error> {
        self.end_chunk(data.map(Chunk::Bytes), now, out)
    }

    /// [`end`](Self::end) with a chunk that may be a UTF-8 string (see
    /// [`Chunk`]).
    pub fn end_chunk(
        &mut self,
        data: Option<Chunk<'_>>,
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> Result<WriteOutcome, Error> {
        self.take_pending(out);
        // The cork `end()` puts on the socket keeps its bytes back only if
        // it throws; when nothing is held yet, the bytes go straight to
        // `out` and move to `held` only on a throw. The same bytes in the
        // same order as holding them all and appending them at the uncork,
        // without a buffer per response.
        let start = out.len();
        self.held_in_out = self.socket_attached && self.held.is_empty() && self.socket_corked == 0;
        let r = self.end_corked(data, now, out);
        if self.held_in_out && r.is_err() {
            self.held.extend(out.drain(start..));
        }
        self.held_in_out = false;
        r
    }

    /// [`end`](Self::end) after the pending bytes.
    fn end_corked(
        &mut self,
        data: Option<Chunk<'_>>,
        now: SystemTime,
        out: &mut Vec<u8>,
    ) -> Result<WriteOutcome, Error> {
        let mut outcome = WriteOutcome::queued();
        if let Some(data) = data {
            if self.finished {
                let delivery = if self.destroyed {
                    Delivery::Silent
                } else {
                    Delivery::CallbackAndErrorEvent
                };
                return Ok(WriteOutcome::refused(Error::write_after_end(), delivery));
            }
            self.socket_cork();
            if self.destroyed {
                // write_() reports ERR_STREAM_DESTROYED to a no-op callback.
                outcome = WriteOutcome::refused(Error::stream_destroyed("write"), Delivery::Silent);
            } else if self.write_body(data, true, now, out)?.effect == Effect::Discarded {
                outcome = WriteOutcome::discarded();
            }
        } else if self.finished {
            return Ok(WriteOutcome {
                effect: Effect::AlreadyFinished,
                ok: false,
                error: Some(AsyncError {
                    error: Error::already_finished("end"),
                    delivery: Delivery::CallbackIfFinished,
                }),
            });
        } else if self.header.is_none() {
            self.socket_cork();
            self.content_length = Some(ContentLength::Num(0.0));
            self.implicit_header(now, out)?;
        }

        if self.strict_applies() {
            if let Some(cl) = &self.content_length {
                if cl.differs_from(self.bytes_written) {
                    return Err(Error::content_length_mismatch(
                        &self.bytes_written.to_string(),
                        &cl.render(),
                    ));
                }
            }
        }

        if self.has_body && self.chunked {
            self.send(&encode_last_chunk(&self.trailer), out);
        } else {
            // `_send('')`: the head if it was not sent, nothing else.
            self.send(b"", out);
        }

        // Fully uncork the socket, then `kCorked = 1; uncork()`: data
        // buffered by a user cork() goes out *after* the last chunk, as in
        // Node.
        if self.socket_attached && self.socket_corked > 0 {
            self.socket_corked = 1;
            self.socket_uncork(out);
        }
        self.tick_uncorks = 0;
        self.corked = 1;
        self.uncork(out);
        self.finished = true;
        Ok(outcome)
    }

    /// Set the trailers sent after the last chunk, replacing earlier ones;
    /// `trailers` as a plain object (see [`TrailersForm::Object`]).
    ///
    /// Node equivalent: `res.addTrailers(headers)`. Names are checked as
    /// tokens (`ERR_INVALID_HTTP_TOKEN`, "Trailer name"), values for
    /// invalid chars (`ERR_INVALID_CHAR`, "trailer content"); the trailers
    /// before the failing one stay set. They are written only if the
    /// response is chunked, silently dropped otherwise.
    pub fn add_trailers(&mut self, trailers: &[(String, String)]) -> Result<(), Error> {
        let pairs: Vec<(String, OutValue)> = trailers
            .iter()
            .map(|(k, v)| (k.clone(), OutValue::One(v.clone())))
            .collect();
        self.add_trailer_values(&pairs, TrailersForm::Object)
    }

    /// [`ResponseState::add_trailers`] with any value type and either
    /// argument form. An array value of two or more elements gives one line
    /// per element, unless the name is in `uniqueHeaders` (then joined
    /// with `"; "`); a one-element or empty array is joined.
    ///
    /// Node equivalent: `res.addTrailers(obj)` / `res.addTrailers([[k,
    /// v], ...])`.
    pub fn add_trailer_values(
        &mut self,
        trailers: &[(String, OutValue)],
        form: TrailersForm,
    ) -> Result<(), Error> {
        self.trailer.clear();
        let entries = match form {
            TrailersForm::Object => js_object_entries(trailers),
            TrailersForm::Array => trailers.to_vec(),
        };
        for (field, value) in entries {
            validate_token(&field, "Trailer name")?;
            let lines = match value {
                OutValue::Many(v) if v.len() > 1 && !self.is_unique(&field) => v,
                OutValue::Many(v) => vec![v.join("; ")],
                other => vec![other.to_js_string()],
            };
            for v in lines {
                if has_invalid_header_char(&v) {
                    return Err(Error::invalid_char("trailer content", &field));
                }
                self.trailer.push_str(&field);
                self.trailer.push_str(": ");
                self.trailer.push_str(&v);
                self.trailer.push_str("\r\n");
            }
        }
        Ok(())
    }

    fn is_unique(&self, name: &str) -> bool {
        let lower = name.to_lowercase();
        self.ctx
            .unique_headers
            .iter()
            .any(|u| u.to_lowercase() == lower)
    }

    /// Buffer writes instead of sending them.
    ///
    /// Node equivalent: `res.cork()`. While corked, chunked writes made
    /// after the head was sent are collected and sent as one chunk by
    /// [`ResponseState::uncork`]; `end()` sends them after the last chunk
    /// (Node's order).
    pub fn cork(&mut self) {
        self.corked += 1;
        if self.socket_attached {
            self.socket_corked += 1;
        }
    }

    /// Undo one [`ResponseState::cork`], sending the collected chunks as
    /// one chunk when the count reaches 0.
    ///
    /// Node equivalent: `res.uncork()` (the count may go below 0, which
    /// Node treats as corked).
    pub fn uncork(&mut self, out: &mut Vec<u8>) {
        self.take_pending(out);
        self.corked -= 1;
        self.socket_uncork(out);
        if self.corked != 0 || self.chunked_buffer.is_empty() {
            return;
        }
        let data = std::mem::take(&mut self.chunked_buffer);
        self.send(&encode_chunk(&data), out);
    }

    // ------------------------------------------------------------ interim

    /// Send `HTTP/1.1 100 Continue` (straight to the socket, before a head
    /// that is built but not sent) and remember it, so that the final
    /// response may keep the connection alive.
    ///
    /// Node equivalent: `res.writeContinue()`. Not tied to an `Expect`
    /// header; also written after `end()` (until the connection detaches
    /// the response).
    pub fn write_continue(&mut self, out: &mut Vec<u8>) {
        self.take_pending(out);
        self.emit(b"HTTP/1.1 100 Continue\r\n\r\n", out);
        self.sent_100 = true;
    }

    /// Send `HTTP/1.1 102 Processing`.
    ///
    /// Node equivalent: `res.writeProcessing()`.
    pub fn write_processing(&mut self, out: &mut Vec<u8>) {
        self.take_pending(out);
        self.emit(b"HTTP/1.1 102 Processing\r\n\r\n", out);
    }

    /// Send a `103 Early Hints` interim response: `Link: ` with the `link`
    /// hint (an array joined with `", "`), then every other hint as given,
    /// in JavaScript key order. Without a `link` hint (or with an empty
    /// array), nothing is sent.
    ///
    /// Node equivalent: `res.writeEarlyHints(hints)`. Each link must match
    /// `^<[^>]*>(\s*;\s*[^;"\s]+(=(")?[^;"\s]*\1)?)*$`, else
    /// `ERR_INVALID_ARG_VALUE` (a number link too). The other hints are
    /// *not* validated (Node writes them as `key + ': ' + String(value)`,
    /// an array joined with `","`), nor is the inside of `<...>`.
    pub fn write_early_hints(
        &mut self,
        hints: &[(String, OutValue)],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        self.take_pending(out);
        let entries = js_object_entries(hints);
        let Some((_, link)) = entries.iter().find(|(k, _)| k == "link") else {
            return Ok(());
        };
        const REASON: &str =
            "must be an array or string of format \"</styles.css>; rel=preload; as=style\"";
        let check = |s: &str| {
            if is_link_header_value(s) {
                Ok(())
            } else {
                Err(Error::invalid_arg_value(
                    "hints",
                    &inspect_str(s),
                    Some(REASON),
                ))
            }
        };
        let link = match link {
            OutValue::One(s) => {
                check(s)?;
                s.clone()
            }
            OutValue::Many(v) => {
                for s in v {
                    check(s)?;
                }
                v.join(", ")
            }
            OutValue::Number(n) => {
                return Err(Error::invalid_arg_value(
                    "hints",
                    &js_number_to_string(*n),
                    Some(REASON),
                ))
            }
        };
        if link.is_empty() {
            return Ok(());
        }
        let mut head = format!("HTTP/1.1 103 Early Hints\r\nLink: {link}\r\n");
        for (k, v) in &entries {
            if k != "link" {
                head.push_str(k);
                head.push_str(": ");
                head.push_str(&v.to_js_string());
                head.push_str("\r\n");
            }
        }
        head.push_str("\r\n");
        self.emit(&latin1_bytes(&head), out);
        Ok(())
    }

    // ------------------------------------------------------------ bytes

    /// `_send`: the head goes first if it was not sent.
    /// `_send(string, 'utf8')`: a head still unsent goes with the string,
    /// in UTF-8 (see [`Chunk`]).
    fn send_text(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.send_head(true, out);
        self.emit(data, out);
    }

    fn send(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.send_head(false, out);
        self.emit(data, out);
    }

    /// The head, if not sent yet, before the data of `_send()`: in UTF-8
    /// with a string chunk when that differs from latin-1. The same bytes
    /// as one write of both, without a copy of the head per response.
    fn send_head(&mut self, text: bool, out: &mut Vec<u8>) {
        if self.header_sent {
            return;
        }
        let utf8 = text && self.header_utf8.is_some();
        let slot = if utf8 {
            &mut self.header_utf8
        } else {
            &mut self.header
        };
        if let Some(h) = slot.take() {
            self.header_sent = true;
            self.emit(&h, out);
            if utf8 {
                self.header_utf8 = Some(h);
            } else {
                self.header = Some(h);
            }
        }
    }

    /// `_writeRaw` / `socket.write`: dropped once destroyed, kept back
    /// while the socket is corked.
    fn emit(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if self.destroyed || data.is_empty() {
            return;
        }
        if self.socket_attached && self.socket_corked > 0 && !self.held_in_out {
            self.held.extend_from_slice(data);
        } else {
            out.extend_from_slice(data);
        }
    }

    fn socket_cork(&mut self) {
        if self.socket_attached {
            self.socket_corked += 1;
        }
    }

    /// `socket.uncork()`: at 0, the kept-back bytes go out.
    fn socket_uncork(&mut self, out: &mut Vec<u8>) {
        if self.socket_attached && self.socket_corked > 0 {
            self.socket_corked -= 1;
            if self.socket_corked == 0 && !self.destroyed {
                out.append(&mut self.held);
            }
        }
    }
}

// ---------------------------------------------------------------- helpers

/// `validateHeaderValue(name, value)`: an array is checked as
/// `String(array)`, a number always passes.
fn validate_out_value(name: &str, value: &OutValue) -> Result<(), Error> {
    match value {
        OutValue::One(s) => validate_header_value(name, Some(s)),
        OutValue::Many(v) => validate_header_value(name, Some(&v.join(","))),
        OutValue::Number(_) => Ok(()),
    }
}

/// The array index a property key stands for (`"0"`..`"4294967294"` in
/// canonical form), which JavaScript enumerates first.
fn array_index(key: &str) -> Option<u32> {
    if key.is_empty() || key.len() > 10 || !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if key.len() > 1 && key.starts_with('0') {
        return None;
    }
    let n: u64 = key.parse().ok()?;
    (n <= 4_294_967_294).then_some(n as u32)
}

/// The entries of a JavaScript object built from `pairs`, in
/// `Object.keys` order: a repeated key keeps its first place and its last
/// value; array-index keys come first, ascending.
fn js_object_entries(pairs: &[(String, OutValue)]) -> Vec<(String, OutValue)> {
    let mut entries: Vec<(String, OutValue)> = Vec::new();
    for (k, v) in pairs {
        match entries.iter_mut().find(|(e, _)| e == k) {
            Some(e) => e.1 = v.clone(),
            None => entries.push((k.clone(), v.clone())),
        }
    }
    let (mut index, rest): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|(k, _)| array_index(k).is_some());
    index.sort_by_key(|(k, _)| array_index(k));
    index.extend(rest);
    index
}

/// JavaScript's `\s` (WhiteSpace and LineTerminator).
fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// `linkValueRegExp` of lib/internal/validators.js:
/// `/^(?:<[^>]*>)(?:\s*;\s*[^;"\s]+(?:=(")?[^;"\s]*\1)?)*$/`.
fn is_link_header_value(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    if chars.first() != Some(&'<') {
        return false;
    }
    let Some(close) = chars.iter().position(|&c| c == '>') else {
        return false;
    };
    let param = |c: char| c != ';' && c != '"' && !is_js_space(c);
    let mut i = close + 1;
    loop {
        if i == chars.len() {
            return true;
        }
        while i < chars.len() && is_js_space(chars[i]) {
            i += 1;
        }
        if chars.get(i) != Some(&';') {
            return false;
        }
        i += 1;
        while i < chars.len() && is_js_space(chars[i]) {
            i += 1;
        }
        let start = i;
        while i < chars.len() && param(chars[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if chars.get(i) == Some(&'"') {
            // Only `name="value"`: the run must end with `=` after at
            // least one char.
            if i - start < 2 || chars[i - 1] != '=' {
                return false;
            }
            i += 1;
            while i < chars.len() && param(chars[i]) {
                i += 1;
            }
            if chars.get(i) != Some(&'"') {
                return false;
            }
            i += 1;
        }
    }
}

/// JavaScript's `Number(string)` (StringToNumber).
fn js_string_to_number(s: &str) -> f64 {
    let t = s.trim_matches(is_js_space);
    if t.is_empty() {
        return 0.0;
    }
    let radix = |p: &str, r: u32| -> Option<f64> {
        let digits = t.get(2..)?;
        if !t.get(..2)?.eq_ignore_ascii_case(p) || digits.is_empty() {
            return None;
        }
        digits.chars().try_fold(0f64, |acc, c| {
            c.to_digit(r).map(|d| acc * f64::from(r) + f64::from(d))
        })
    };
    for (p, r) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if t.get(..2).is_some_and(|h| h.eq_ignore_ascii_case(p)) {
            return radix(p, r).unwrap_or(f64::NAN);
        }
    }
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    if unsigned == "Infinity" {
        return if t.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    // StrDecimalLiteral: digits [. digits] | . digits, then an exponent.
    let b = unsigned.as_bytes();
    let mut i = 0;
    let int = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int;
    let mut frac = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac;
    }
    if int + frac == 0 {
        return f64::NAN;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp == 0 {
            return f64::NAN;
        }
        i += exp;
    }
    if i != b.len() {
        return f64::NAN;
    }
    t.parse().unwrap_or(f64::NAN)
}

/// `util.inspect(string)`, close enough for error messages.
fn inspect_str(s: &str) -> String {
    let quote = if !s.contains('\'') {
        '\''
    } else if !s.contains('"') {
        '"'
    } else if !s.contains('`') && !s.contains("${") {
        '`'
    } else {
        '\''
    };
    let mut r = String::new();
    r.push(quote);
    for c in s.chars() {
        match c {
            '\n' => r.push_str("\\n"),
            '\t' => r.push_str("\\t"),
            '\r' => r.push_str("\\r"),
            '\u{8}' => r.push_str("\\b"),
            '\u{c}' => r.push_str("\\f"),
            '\u{b}' => r.push_str("\\x0B"),
            '\\' => r.push_str("\\\\"),
            c if c == quote => {
                r.push('\\');
                r.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                r.push_str(&format!("\\x{:02X}", c as u32));
            }
            c => r.push(c),
        }
    }
    r.push(quote);
    r
}

/// `util.inspect(array of strings)` on one line.
fn inspect_array(a: &[String]) -> String {
    if a.is_empty() {
        return "[]".to_owned();
    }
    let items: Vec<String> = a.iter().map(|s| inspect_str(s)).collect();
    format!("[ {} ]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::time::UNIX_EPOCH;

    const NOW: SystemTime = UNIX_EPOCH;
    /// `Date`, `Connection` and `Keep-Alive` of a default keep-alive head.
    const KA: &str =
        "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n";
    const DATE: &str = "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n";

    fn res() -> ResponseState {
        ResponseState::new(ResponseContext::default())
    }
    fn res_with(f: impl FnOnce(&mut ResponseContext)) -> ResponseState {
        let mut ctx = ResponseContext::default();
        f(&mut ctx);
        ResponseState::new(ctx)
    }
    fn head_req() -> ResponseState {
        res_with(|c| c.request_is_head = true)
    }
    fn http10(keep_alive: bool) -> ResponseState {
        res_with(|c| {
            c.request_version = (1, 0);
            c.should_keep_alive = keep_alive;
        })
    }
    fn reject() -> ResponseState {
        res_with(|c| c.reject_non_standard_body_writes = true)
    }
    fn lat(b: &[u8]) -> String {
        b.iter().map(|&c| char::from(c)).collect()
    }
    fn one(s: &str) -> OutValue {
        OutValue::One(s.to_owned())
    }
    fn many(v: &[&str]) -> OutValue {
        OutValue::Many(v.iter().map(|s| s.to_string()).collect())
    }
    fn obj(pairs: &[(&str, OutValue)]) -> Vec<(String, OutValue)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }
    fn arr(v: &[&str]) -> HeadHeaders {
        HeadHeaders::Array(v.iter().map(|s| s.to_string()).collect())
    }
    fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> &'static str {
        r.unwrap_err().code()
    }
    /// end(data) on a fresh response: the whole exchange as a string.
    fn end_with(mut r: ResponseState, data: Option<&[u8]>) -> String {
        let mut out = Vec::new();
        r.end(data, NOW, &mut out).unwrap();
        lat(&out)
    }

    // ------------------------------------------------------------ framing

    /// fixtures: responseenddata-encoding-callback/content-length-in-bytes,
    /// empty-body-content-length-0.
    #[rstest]
    #[case::utf8(Some(b"h\xc3\xa9llo".as_slice()), "Content-Length: 6\r\n\r\nh\u{c3}\u{a9}llo")]
    #[case::empty(None, "Content-Length: 0\r\n\r\n")]
    #[case::empty_buffer(Some(b"".as_slice()), "Content-Length: 0\r\n\r\n")]
    fn end_data_announces_its_length(#[case] data: Option<&[u8]>, #[case] tail: &str) {
        assert_eq!(
            end_with(res(), data),
            format!("HTTP/1.1 200 OK\r\n{KA}{tail}")
        );
    }

    /// fixtures: responseenddata-encoding-callback/data-after-write-is-last-chunk,
    /// responsewritechunk-encoding-callback/chunked-on-http11.
    #[test]
    fn write_then_end_is_chunked_and_head_goes_with_first_chunk() {
        let mut r = res();
        let mut out = Vec::new();
        let w = r.write(b"ab", NOW, &mut out).unwrap();
        assert_eq!((w.effect, w.ok), (Effect::Queued, true));
        assert_eq!(
            lat(&out),
            format!("HTTP/1.1 200 OK\r\n{KA}Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n")
        );
        out.clear();
        r.write(b"", NOW, &mut out).unwrap();
        assert!(out.is_empty());
        r.end(Some(b"cd"), NOW, &mut out).unwrap();
        assert_eq!(lat(&out), "2\r\ncd\r\n0\r\n\r\n");
        assert!(r.writable_ended() && r.finished() && !r.last());
    }

    /// An empty first write() sends the head (chunked), nothing else.
    #[test]
    fn empty_first_write_flushes_the_head() {
        let mut r = res();
        let mut out = Vec::new();
        assert_eq!(r.write(b"", NOW, &mut out).unwrap().effect, Effect::Queued);
        assert_eq!(
            lat(&out),
            format!("HTTP/1.1 200 OK\r\n{KA}Transfer-Encoding: chunked\r\n\r\n")
        );
        out.clear();
        r.end(None, NOW, &mut out).unwrap();
        assert_eq!(lat(&out), "0\r\n\r\n");
    }

    /// fixtures: responseenddata-encoding-callback/head-no-body-no-length,
    /// responsewritechunk-encoding-callback/head-write-ignored.
    #[test]
    fn head_request_has_no_body_and_no_length() {
        let mut r = head_req();
        let mut out = Vec::new();
        let w = r.write(b"hello", NOW, &mut out).unwrap();
        assert_eq!((w.effect, w.ok), (Effect::Discarded, true));
        assert!(out.is_empty() && r.headers_sent());
        let e = r.end(Some(b"hello"), NOW, &mut out).unwrap();
        assert_eq!(e.effect, Effect::Discarded);
        assert_eq!(lat(&out), format!("HTTP/1.1 200 OK\r\n{KA}\r\n"));
        assert_eq!(
            end_with(head_req(), Some(b"hello")),
            format!("HTTP/1.1 200 OK\r\n{KA}\r\n")
        );
    }

    /// fixture: responseenddata-encoding-callback/head-keeps-caller-content-length.
    #[test]
    fn head_request_keeps_a_caller_content_length() {
        let mut r = head_req();
        r.set_header("Content-Length", OutValue::Number(5.0))
            .unwrap();
        assert_eq!(
            end_with(r, None),
            format!("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n{KA}\r\n")
        );
    }

    /// fixtures: responsewritechunk-encoding-callback/no-content-204-write-ignored
    /// and the 304 of reject-body-on-304.
    #[rstest]
    #[case::no_content(204, vec![], "HTTP/1.1 204 No Content\r\n")]
    #[case::not_modified(304, vec![("ETag", "\"v1\"")], "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n")]
    fn bodiless_statuses_drop_the_body(
        #[case] status: u16,
        #[case] headers: Vec<(&str, &str)>,
        #[case] first: &str,
    ) {
        let mut r = res();
        let h = headers
            .iter()
            .map(|(k, v)| (k.to_string(), one(v)))
            .collect();
        r.write_head(status, None, Some(HeadHeaders::Object(h)), NOW)
            .unwrap();
        let mut out = Vec::new();
        assert_eq!(
            r.write(b"x", NOW, &mut out).unwrap().effect,
            Effect::Discarded
        );
        assert!(out.is_empty());
        assert_eq!(
            r.end(Some(b"y"), NOW, &mut out).unwrap().effect,
            Effect::Discarded
        );
        assert_eq!(lat(&out), format!("{first}{KA}\r\n"));
        assert!(!r.has_body() && !r.last());
    }

    /// fixtures: responsewritechunk-encoding-callback/reject-body-on-204,
    /// reject-body-on-304, reject-body-on-head.
    #[rstest]
    #[case::no_content(reject(), Some(204), "HTTP/1.1 204 No Content\r\n")]
    #[case::not_modified(reject(), Some(304), "HTTP/1.1 304 Not Modified\r\n")]
    #[case::head(res_with(|c| { c.request_is_head = true; c.reject_non_standard_body_writes = true; }), None, "HTTP/1.1 200 OK\r\n")]
    fn reject_non_standard_body_writes_throws(
        #[case] mut r: ResponseState,
        #[case] status: Option<u16>,
        #[case] first: &str,
    ) {
        if let Some(s) = status {
            r.write_head(s, None, None, NOW).unwrap();
        }
        let mut out = Vec::new();
        let e = r.write(b"x", NOW, &mut out).unwrap_err();
        assert_eq!(e.code(), "ERR_HTTP_BODY_NOT_ALLOWED");
        assert_eq!(
            e.to_string(),
            "Adding content for this request method or response status is not allowed."
        );
        assert!(out.is_empty());
        r.end(None, NOW, &mut out).unwrap();
        assert_eq!(lat(&out), format!("{first}{KA}\r\n"));
    }

    /// Node 23.5.0: end(data) on a 204 with rejectNonStandardBodyWrites
    /// throws after corking the socket; a later end() sends the head.
    #[test]
    fn rejected_end_data_leaves_the_head_for_a_later_end() {
        let mut r = reject();
        r.write_head(204, None, None, NOW).unwrap();
        let mut out = Vec::new();
        assert_eq!(
            code(r.end(Some(b"y"), NOW, &mut out)),
            "ERR_HTTP_BODY_NOT_ALLOWED"
        );
        assert!(out.is_empty() && !r.writable_ended());
        r.end(None, NOW, &mut out).unwrap();
        assert_eq!(lat(&out), format!("HTTP/1.1 204 No Content\r\n{KA}\r\n"));
    }

    /// fixtures: responsewritechunk-encoding-callback/close-delimited-on-http10,
    /// http10-keep-alive-still-closed.
    #[rstest]
    #[case::close(false)]
    #[case::keep_alive(true)]
    fn http10_body_is_close_delimited(#[case] keep_alive: bool) {
        let mut r = http10(keep_alive);
        let mut out = Vec::new();
        r.write(b"ab", NOW, &mut out).unwrap();
        r.end(Some(b"cd"), NOW, &mut out).unwrap();
        assert_eq!(
            lat(&out),
            format!("HTTP/1.1 200 OK\r\n{DATE}Connection: close\r\n\r\nabcd")
        );
        assert!(r.last());
    }

    /// Node 23.5.0: an HTTP/1.0 request with `TE: chunked` gets chunks.
    #[test]
    fn http10_with_te_chunked_gets_chunks() {
        let mut r = res_with(|c| {
            c.request_version = (1, 0);
            c.should_keep_alive = false;
            c.request_te_chunked = true;
        });
        let mut out = Vec::new();
        r.write(b"ab", NOW, &mut out).unwrap();
        r.end(None, NOW, &mut out).unwrap();
        assert_eq!(
            lat(&out),
            format!("HTTP/1.1 200 OK\r\n{DATE}Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n")
        );
        assert!(r.last());
    }

    /// Node 23.5.0: a caller `Transfer-Encoding: gzip` leaves the body raw.
    #[test]
    fn caller_transfer_encoding_other_than_chunked_sends_raw_bytes() {
        let mut r = res();
        r.set_header("Transfer-Encoding", one("gzip")).unwrap();
        let mut out = Vec::new();
        r.write(b"abc", NOW, &mut out).unwrap();
        r.end(Some(b"d"), NOW, &mut out).unwrap();
        assert_eq!(
            lat(&out),
            format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n{KA}\r\nabcd")
        );
    }

    /// Node 23.5.0: removing Content-Length makes end(data) chunked.
    #[test]
    fn removed_content_length_makes_end_data_chunked() {
        let mut r = res();
        r.remove_header("Content-Length").unwrap();
        assert_eq!(
            end_with(r, Some(b"abc")),
            format!(
                "HTTP/1.1 200 OK\r\n{KA}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            )
        );
    }

    #[test]
    fn keep_alive_max_limit_and_unanswered_continue() {
        let mut r = res_with(|c| c.max_requests_per_socket = 3);
        let mut out = Vec::new();
        r.end(None, NOW, &mut out).unwrap();
        assert!(lat(&out).contains("Keep-Alive: timeout=5, max=3\r\n"));
        let r = res_with(|c| {
            c.max_requests_per_socket = 3;
            c.max_requests_reached = true;
        });
        assert!(end_with(r, None).contains("Connection: close\r\n"));
        // Expect: 100-continue without writeContinue(): close.
        let mut r = res_with(|c| c.expect_continue = true);
        out.clear();
        r.end(None, NOW, &mut out).unwrap();
        assert_eq!(
            lat(&out),
            format!("HTTP/1.1 200 OK\r\n{DATE}Connection: close\r\nContent-Length: 0\r\n\r\n")
        );
        assert!(r.last());
        // With it: keep-alive.
        let mut r = res_with(|c| c.expect_continue = true);
        out.clear();
        r.write_continue(&mut out);
        r.end(Some(b"x"), NOW, &mut out).unwrap();
        assert_eq!(
            lat(&out),
            format!(
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n{KA}Content-Length: 1\r\n\r\nx"
            )
        );
        assert!(!r.last());
    }

    // ------------------------------------------------------------ trailers

    /// fixture: responseaddtrailersheaders/sent-after-last-chunk.
    #[test]
    fn trailers_follow_the_last_chunk() {
        let mut r = res();
        let h = obj(&[
            ("Content-Type", one("text/plain")),
            ("Trailer", one("Content-MD5")),
        ]);
        r.write_head(200, None, Some(HeadHeaders::Object(h)), NOW)
            .unwrap();
        let mut out = Vec::new();
        r.write(b"abc", NOW, &mut out).unwrap();
        r.add_trailers(&[(
            "Content-MD5".into(),
            "7895bf4b8828b55ceaf47747b4bca667".into(),
        )])
        .unwrap();
        r.end(None, NOW, &mut out).unwrap();
        assert_eq!(
            lat(&out),
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTrailer: Content-MD5\r\n{KA}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nContent-MD5: 7895bf4b8828b55ceaf47747b4bca667\r\n\r\n"
            )
        );
    }

    /// fixture: responseaddtrailersheaders/trailer-header-forces-chunked.
    #[test]
    fn trailer_header_makes_end_data_chunked() {
        let mut r = res();
        r.set_header("Trailer", one("X-T")).unwrap();
        r.add_trailers(&[("X-T".into(), "1".into())]).unwrap();
        assert_eq!(
            end_with(r, Some(b"abc")),
            format!("HTTP/1.1 200 OK\r\nTrailer: X-T\r\n{KA}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n")
        );
    }

    /// fixtures: responseaddtrailersheaders/ignored-with-content-length,
    /// ignored-on-http10.
    #[test]
    fn trailers_are_dropped_when_not_chunked() {
        let mut r = res();
        r.set_header("Content-Length", OutValue::Number(3.0))
            .unwrap();
        r.add_trailers(&[("X-T".into(), "1".into())]).unwrap();
        assert_eq!(
            end_with(r, Some(b"abc")),
            format!("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n{KA}\r\nabc")
        );
        let mut r = http10(false);
        let mut out = Vec::new();
        r.write(b"abc", NOW, &mut out).unwrap();
        r.add_trailers(&[("X-T".into(), "1".into())]).unwrap();
        r.end(None, NOW, &mut out).unwrap();
        assert_eq!(
            lat(&out),
            format!("HTTP/1.1 200 OK\r\n{DATE}Connection: close\r\n\r\nabc")
        );
    }

    /// fixture: responseaddtrailersheaders/trailer-header-on-http10-throws.
    #[test]
    fn trailer_header_on_http10_throws_from_write_and_end() {
        let mut r = http10(false);
        r.set_header("Trailer", one("X-T")).unwrap();
        let mut out = Vec::new();
        assert_eq!(
            code(r.write(b"abc", NOW, &mut out)),
            "ERR_HTTP_TRAILER_INVALID"
        );
        r.add_trailers(&[("X-T".into(), "1".into())]).unwrap();
        assert_eq!(code(r.end(None, NOW, &mut out)), "ERR_HTTP_TRAILER_INVALID");
        assert!(out.is_empty() && !r.headers_sent());
    }

    /// fixture: responseaddtrailersheaders/invalid-characters-throw.
    #[test]
    fn invalid_trailers_throw() {
        let mut r = res();
        let e = r
            .add_trailers(&[("X-T".into(), "a\r\nb".into())])
            .unwrap_err();
        assert_eq!((e.code(), e.name()), ("ERR_INVALID_CHAR", "TypeError"));
        assert_eq!(
            e.to_string(),
            "Invalid character in trailer content [\"X-T\"]"
        );
        let e = r.add_trailers(&[("X T".into(), "a".into())]).unwrap_err();
        assert_eq!(
            (e.code(), e.name()),
            ("ERR_INVALID_HTTP_TOKEN", "TypeError")
        );
        assert_eq!(
            e.to_string(),
            "Trailer name must be a valid HTTP token [\"X T\"]"
        );
        assert_eq!(
            end_with(r, None),
            format!("HTTP/1.1 200 OK\r\n{KA}Content-Length: 0\r\n\r\n")
        );
    }

    /// fixture: outgoingmessageappendheadername-value/unique-header-joined,
    /// and Node 23.5.0 for arrays in the head and the trailers.
    #[test]
    fn unique_headers_join_arrays_in_head_and_trailers() {
        let mut r = res_with(|c| c.unique_headers = vec!["X-U".into(), "set-cookie".into()]);
        r.set_header("x-u", one("a")).unwrap();
        r.append_header("x-u", one("b")).unwrap();
        r.set_header("Set-Cookie", many(&["a=1", "b=2"])).unwrap();
        r.set_header("x-n", many(&["1", "2"])).unwrap();
        let t = obj(&[
            ("x-u", many(&["t1", "t2"])),
            ("X-M", many(&["m1", "m2"])),
            ("X-E", many(&[])),
        ]);
        r.add_trailer_values(&t, TrailersForm::Object).unwrap();
        let mut out = Vec::new();
        r.write(b"a", NOW, &mut out).unwrap();
        r.end(None, NOW, &mut out).unwrap();
        assert_eq!(
            lat(&out),
            format!(
                "HTTP/1.1 200 OK\r\nx-u: a; b\r\nSet-Cookie: a=1; b=2\r\nx-n: 1\r\nx-n: 2\r\n{KA}Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nx-u: t1; t2\r\nX-M: m1\r\nX-M: m2\r\nX-E: \r\n\r\n"
            )
        );
    }

    // ------------------------------------------------------------ interim

    /// fixtures: responsewritecontinue/*, responsewriteprocessing/interim-102.
    #[test]
    fn interim_responses_are_bare_status_lines() {
        let mut r = res();
        let mut out = Vec::new();
        r.write_continue(&mut out);
        assert_eq!(out, b"HTTP/1.1 100 Continue\r\n\r\n");
        out.clear();
        r.write_processing(&mut out);
        assert_eq!(out, b"HTTP/1.1 102 Processing\r\n\r\n");
    }

    /// Node 23.5.0: writeContinue() between writeHead() and end() goes
    /// first (the head is only built), and still goes out after end().
    #[test]
    fn write_continue_bypasses_the_built_head() {
        let mut r = res();
        let h = obj(&[("Content-Length", one("2"))]);
        r.write_head(200, None, Some(HeadHeaders::Object(h)), NOW)
            .unwrap();
        let mut out = Vec::new();
        r.write_continue(&mut out);
        r.end(Some(b"ok"), NOW, &mut out).unwrap();
        r.write_continue(&mut out);
        assert_eq!(
            lat(&out),
            format!("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n{KA}\r\nokHTTP/1.1 100 Continue\r\n\r\n")
        );
        r.destroy();
        out.clear();
        r.write_continue(&mut out);
        assert!(out.is_empty());
    }

    /// fixtures: responsewriteearlyhintshints-callback/*, and Node 23.5.0
    /// for the key order and the unvalidated extra hints.
    #[rstest]
    #[case::single_link(
        obj(&[("link", one("</styles.css>; rel=preload; as=style"))]),
        "HTTP/1.1 103 Early Hints\r\nLink: </styles.css>; rel=preload; as=style\r\n\r\n")]
    #[case::array_and_extra(
        obj(&[("link", many(&["</styles.css>; rel=preload; as=style", "</scripts.js>; rel=preload; as=script"])), ("x-trace-id", one("id for diagnostics"))]),
        "HTTP/1.1 103 Early Hints\r\nLink: </styles.css>; rel=preload; as=style, </scripts.js>; rel=preload; as=script\r\nx-trace-id: id for diagnostics\r\n\r\n")]
    #[case::no_link(obj(&[("x-trace-id", one("1"))]), "")]
    #[case::empty_link_array(obj(&[("link", many(&[]))]), "")]
    #[case::key_order(
        obj(&[("x-a", one("1")), ("link", one("</a>")), ("3", one("n")), ("Link", one("dup"))]),
        "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n3: n\r\nx-a: 1\r\nLink: dup\r\n\r\n")]
    #[case::extra_not_validated(
        obj(&[("link", one("</a>; rel=preload")), ("x-a", one("b\r\nc")), ("x-arr", many(&["p", "q"])), ("x-n", OutValue::Number(5.0))]),
        "HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\nx-a: b\r\nc\r\nx-arr: p,q\r\nx-n: 5\r\n\r\n")]
    #[case::crlf_inside_brackets(obj(&[("link", one("</a\r\nX: y>"))]), "HTTP/1.1 103 Early Hints\r\nLink: </a\r\nX: y>\r\n\r\n")]
    fn early_hints_bytes(#[case] hints: Vec<(String, OutValue)>, #[case] expected: &str) {
        let mut r = res();
        let mut out = Vec::new();
        r.write_early_hints(&hints, &mut out).unwrap();
        assert_eq!(lat(&out), expected);
    }

    #[rstest]
    #[case::not_a_link(one("nope"), "The argument 'hints' must be an array or string of format \"</styles.css>; rel=preload; as=style\". Received 'nope'")]
    #[case::bad_element(many(&["</a>", "bad"]), "The argument 'hints' must be an array or string of format \"</styles.css>; rel=preload; as=style\". Received 'bad'")]
    #[case::number(OutValue::Number(5.0), "The argument 'hints' must be an array or string of format \"</styles.css>; rel=preload; as=style\". Received 5")]
    #[case::empty(one(""), "The argument 'hints' must be an array or string of format \"</styles.css>; rel=preload; as=style\". Received ''")]
    fn early_hints_bad_links(#[case] link: OutValue, #[case] message: &str) {
        let mut r = res();
        let mut out = Vec::new();
        let e = r
            .write_early_hints(&obj(&[("link", link)]), &mut out)
            .unwrap_err();
        assert_eq!((e.code(), e.name()), ("ERR_INVALID_ARG_VALUE", "TypeError"));
        assert_eq!(e.to_string(), message);
        assert!(out.is_empty());
    }

    #[rstest]
    #[case("<a>", true)]
    #[case("</a>; rel=preload; as=style", true)]
    #[case("</a>;rel=preload", true)]
    #[case("</a> ; rel=\"pre load\"", false)]
    #[case("</a>; rel=\"preload\"", true)]
    #[case("</a>; rel=\"preload\"x", false)]
    #[case("</a>; rel=x\"", false)]
    #[case("</a>; =\"x\"", false)]
    #[case("</a>; rel", true)]
    #[case("</a>;", false)]
    #[case("</a>; rel=x ", false)]
    #[case("</a>>", false)]
    #[case("a", false)]
    fn link_regex_matches_node(#[case] s: &str, #[case] ok: bool) {
        assert_eq!(is_link_header_value(s), ok, "{s}");
    }

    // ------------------------------------------------------------ header API

    /// fixtures: responsesetheadername-value/*, class-httpoutgoingmessage.
    #[test]
    fn a_reused_response_starts_fresh() {
        let mut first = res();
        first.set_header("X-Old", one("1")).unwrap();
        let first_bytes = end_with(first.clone(), Some(b"a"));
        let mut out = Vec::new();
        first.end(Some(b"a"), UNIX_EPOCH, &mut out).unwrap();
        let second = ResponseState::reusing(ResponseContext::default(), first.recycle());
        assert!(second.get_headers().is_empty());
        assert!(!second.headers_sent());
        assert_eq!(end_with(second, Some(b"a")), end_with(res(), Some(b"a")));
        assert!(first_bytes.contains("X-Old: 1"));
    }

    #[test]
    fn set_header_replaces_in_place_with_the_new_spelling() {
        let mut r = res();
        r.set_header("X-Foo", one("1")).unwrap();
        r.set_header("Set-Cookie", many(&["a", "b"])).unwrap();
        r.set_header("x-foo", one("2")).unwrap();
        r.set_header("X-Count", OutValue::Number(42.0)).unwrap();
        assert_eq!(r.get_raw_header_names(), ["x-foo", "Set-Cookie", "X-Count"]);
        assert_eq!(r.get_header_names(), ["x-foo", "set-cookie", "x-count"]);
        assert_eq!(r.get_header("X-COUNT"), Some(&OutValue::Number(42.0)));
        assert_eq!(r.get_header("set-cookie"), Some(&many(&["a", "b"])));
        assert_eq!(r.get_header("nope"), None);
        assert!(r.has_header("SET-cookie") && !r.has_header("x-nope"));
        assert_eq!(
            r.get_headers(),
            vec![
                ("x-foo".to_string(), one("2")),
                ("set-cookie".to_string(), many(&["a", "b"])),
                ("x-count".to_string(), OutValue::Number(42.0)),
            ]
        );
        assert_eq!(
            end_with(r, None),
            format!("HTTP/1.1 200 OK\r\nx-foo: 2\r\nSet-Cookie: a\r\nSet-Cookie: b\r\nX-Count: 42\r\n{KA}Content-Length: 0\r\n\r\n")
        );
    }

    /// Node 23.5.0: header names that are array indices come first, in
    /// numeric order (JavaScript object key order).
    #[test]
    fn array_index_names_come_first() {
        let mut r = res();
        for (k, v) in [
            ("X-A", "1"),
            ("123", "b"),
            ("7", "c"),
            ("01", "d"),
            ("4294967295", "e"),
            ("4294967294", "f"),
        ] {
            r.set_header(k, one(v)).unwrap();
        }
        assert_eq!(
            r.get_header_names(),
            ["7", "123", "4294967294", "x-a", "01", "4294967295"]
        );
        assert_eq!(
            end_with(r, None),
            format!("HTTP/1.1 200 OK\r\n7: c\r\n123: b\r\n4294967294: f\r\nX-A: 1\r\n01: d\r\n4294967295: e\r\n{KA}Content-Length: 0\r\n\r\n")
        );
        let mut r = res();
        let h = obj(&[("X-A", one("1")), ("5", one("x")), ("3", one("y"))]);
        r.write_head(200, None, Some(HeadHeaders::Object(h)), NOW)
            .unwrap();
        assert!(end_with(r, None).starts_with("HTTP/1.1 200 OK\r\n3: y\r\n5: x\r\nX-A: 1\r\n"));
    }

    /// fixture: outgoingmessageappendheadername-value/appends-to-existing,
    /// no-previous-value-sets.
    #[test]
    fn append_header_adds_values_under_the_first_spelling() {
        let mut r = res();
        r.set_header("X-A", one("1")).unwrap();
        r.append_header("x-a", one("2")).unwrap();
        r.append_header("X-A", many(&["3", "4"])).unwrap();
        r.append_header("X-New", one("n")).unwrap();
        assert_eq!(r.get_header("x-a"), Some(&many(&["1", "2", "3", "4"])));
        assert_eq!(r.get_header("x-new"), Some(&one("n")));
        assert_eq!(
            end_with(r, None),
            format!("HTTP/1.1 200 OK\r\nX-A: 1\r\nX-A: 2\r\nX-A: 3\r\nX-A: 4\r\nX-New: n\r\n{KA}Content-Length: 0\r\n\r\n")
        );
    }

    /// fixtures: outgoingmessagesetheadersheaders/*, and Node 23.5.0 for
    /// `set-cookie` entries of a `Headers`.
    #[test]
    fn set_headers_sets_each_and_collects_cookies() {
        let mut r = res();
        r.set_header("X-Kept", one("kept")).unwrap();
        r.set_header("X-Replaced", one("old")).unwrap();
        r.set_headers(&obj(&[
            ("X-Replaced", one("new")),
            ("X-Added", one("added")),
        ]))
        .unwrap();
        assert_eq!(r.get_header_names(), ["x-kept", "x-replaced", "x-added"]);
        // A Headers iterates sorted, lower-cased, set-cookie one by one.
        let mut r = res();
        r.set_header("set-cookie", one("old")).unwrap();
        r.set_headers(&obj(&[
            ("set-cookie", one("a=1")),
            ("set-cookie", one("b=2")),
            ("x-b", one("2")),
        ]))
        .unwrap();
        assert_eq!(
            r.get_headers(),
            vec![
                ("set-cookie".to_string(), many(&["a=1", "b=2"])),
                ("x-b".to_string(), one("2"))
            ]
        );
        assert_eq!(
            end_with(r, None),
            format!("HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nset-cookie: b=2\r\nx-b: 2\r\n{KA}Content-Length: 0\r\n\r\n")
        );
    }

    /// fixtures: responseremoveheadername/*.
    #[test]
    fn remove_header_drops_it_and_date_stops_send_date() {
        let mut r = res();
        r.set_header("Content-Encoding", one("gzip")).unwrap();
        r.set_header("X-Keep", one("1")).unwrap();
        r.remove_header("content-encoding").unwrap();
        r.remove_header("Date").unwrap();
        assert!(!r.has_header("Content-Encoding") && !r.send_date());
        assert_eq!(
            end_with(r, None),
            "HTTP/1.1 200 OK\r\nX-Keep: 1\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n"
        );
    }

    /// fixtures: responsesetheadername-value/invalid-name-throws,
    /// crlf-in-value-throws; appendHeader likewise.
    #[rstest]
    #[case::name(
        "Bad Name",
        one("x"),
        "ERR_INVALID_HTTP_TOKEN",
        "Header name must be a valid HTTP token [\"Bad Name\"]"
    )]
    #[case::empty_name(
        "",
        one("x"),
        "ERR_INVALID_HTTP_TOKEN",
        "Header name must be a valid HTTP token [\"\"]"
    )]
    #[case::crlf(
        "X-A",
        one("a\r\nInjected: 1"),
        "ERR_INVALID_CHAR",
        "Invalid character in header content [\"X-A\"]"
    )]
    #[case::array_element("X-A", many(&["ok", "a\nb"]), "ERR_INVALID_CHAR", "Invalid character in header content [\"X-A\"]")]
    fn invalid_headers_throw(
        #[case] name: &str,
        #[case] value: OutValue,
        #[case] code: &str,
        #[case] msg: &str,
    ) {
        let mut r = res();
        for e in [
            r.set_header(name, value.clone()).unwrap_err(),
            r.append_header(name, value.clone()).unwrap_err(),
        ] {
            assert_eq!((e.code(), e.name()), (code, "TypeError"));
            assert_eq!(e.to_string(), msg);
        }
        assert!(r.get_header_names().is_empty());
    }

    /// fixtures: responseflushheaders/then-setheader-throws,
    /// responsesetheadername-value/after-write-throws-headers-sent,
    /// outgoingmessagesetheadersheaders/after-headers-sent-throws, and
    /// Node 23.5.0 for each verb.
    #[test]
    fn header_calls_after_the_head_throw_headers_sent() {
        let mut r = res();
        r.write_head(200, Some("Yo"), None, NOW).unwrap();
        assert!(r.headers_sent());
        let msgs = [
            r.set_header("a", one("b")).unwrap_err(),
            r.remove_header("a").unwrap_err(),
            r.append_header("a", one("b")).unwrap_err(),
            r.write_head(201, None, None, NOW).unwrap_err(),
            r.set_headers(&[]).unwrap_err(),
        ];
        let verbs = ["set", "remove", "append", "write", "set"];
        for (e, verb) in msgs.iter().zip(verbs) {
            assert_eq!((e.code(), e.name()), ("ERR_HTTP_HEADERS_SENT", "Error"));
            assert_eq!(
                e.to_string(),
                format!("Cannot {verb} headers after they are sent to the client")
            );
        }
        assert_eq!(
            end_with(r, None),
            format!("HTTP/1.1 200 Yo\r\n{KA}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        );
    }

    // ------------------------------------------------------------ writeHead

    /// fixture: responsewriteheadstatuscode-statusmessage-headers/merge-writehead-wins.
    #[test]
    fn write_head_object_wins_over_set_header() {
        let mut r = res();
        r.set_header("Content-Type", one("text/html")).unwrap();
        r.set_header("X-Foo", one("bar")).unwrap();
        let h = obj(&[("Content-Type", one("text/plain"))]);
        r.write_head(200, None, Some(HeadHeaders::Object(h)), NOW)
            .unwrap();
        assert_eq!(
            end_with(r, Some(b"ok")),
            format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Foo: bar\r\n{KA}Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
        );
    }

    /// fixtures: .../custom-status-message, headers-as-flat-array,
    /// returns-this (empty chunked body).
    #[rstest]
    #[case::message(200, Some("Fine Thanks"), Some(HeadHeaders::Object(vec![("Content-Length".into(), one("0"))])),
        "HTTP/1.1 200 Fine Thanks\r\nContent-Length: 0\r\n<KA>\r\n")]
    #[case::flat_array(200, None, Some(arr(&["X-A", "1", "X-B", "2", "X-A", "3", "Content-Length", "0"])),
        "HTTP/1.1 200 OK\r\nX-A: 1\r\nX-B: 2\r\nX-A: 3\r\nContent-Length: 0\r\n<KA>\r\n")]
    #[case::no_headers(
        201,
        None,
        None,
        "HTTP/1.1 201 Created\r\n<KA>Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )]
    #[case::empty_message(
        200,
        Some(""),
        None,
        "HTTP/1.1 200 \r\n<KA>Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )]
    #[case::unknown(
        999,
        None,
        None,
        "HTTP/1.1 999 unknown\r\n<KA>Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )]
    fn write_head_then_end(
        #[case] status: u16,
        #[case] message: Option<&str>,
        #[case] headers: Option<HeadHeaders>,
        #[case] expected: &str,
    ) {
        let mut r = res();
        r.write_head(status, message, headers, NOW).unwrap();
        assert_eq!(r.status_code(), status);
        assert_eq!(end_with(r, None), expected.replace("<KA>", KA));
    }

    /// fixtures: .../getheader-without-setheader-undefined, getheader-after-merge.
    #[test]
    fn write_head_headers_are_readable_only_after_set_header() {
        let mut r = res();
        let h = obj(&[("X-A", one("1")), ("Content-Length", one("0"))]);
        r.write_head(200, None, Some(HeadHeaders::Object(h.clone())), NOW)
            .unwrap();
        assert_eq!(r.get_header("x-a"), None);
        let mut r = res();
        r.set_header("X-B", one("2")).unwrap();
        r.write_head(200, None, Some(HeadHeaders::Object(h)), NOW)
            .unwrap();
        assert_eq!(r.get_header("x-a"), Some(&one("1")));
        assert_eq!(r.get_header("x-b"), Some(&one("2")));
        assert_eq!(
            end_with(r, None),
            format!("HTTP/1.1 200 OK\r\nX-B: 2\r\nX-A: 1\r\nContent-Length: 0\r\n{KA}\r\n")
        );
    }

    /// Node 23.5.0: after setHeader, an array removes its names, then
    /// appends its pairs (first spelling kept, empty names skipped).
    #[test]
    fn write_head_array_merges_by_remove_then_append() {
        let mut r = res();
        r.set_header("X-A", one("0")).unwrap();
        r.set_header("X-B", one("b")).unwrap();
        r.write_head(
            200,
            None,
            Some(arr(&["x-a", "1", "X-C", "c", "X-A", "2", "", "zz"])),
            NOW,
        )
        .unwrap();
        assert_eq!(
            r.get_headers(),
            vec![
                ("x-b".to_string(), one("b")),
                ("x-a".to_string(), many(&["1", "2"])),
                ("x-c".to_string(), one("c")),
            ]
        );
        assert_eq!(
            end_with(r, None),
            format!("HTTP/1.1 200 OK\r\nX-B: b\r\nx-a: 1\r\nx-a: 2\r\nX-C: c\r\n{KA}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        );
    }

    /// fixture: .../invalid-status-code-throws; responsestatuscode/out-of-range-throws-at-flush.
    #[test]
    fn status_codes_outside_100_999_throw() {
        let mut r = res();
        for status in [99, 1000] {
            let e = r.write_head(status, None, None, NOW).unwrap_err();
            assert_eq!(
                (e.code(), e.name()),
                ("ERR_HTTP_INVALID_STATUS_CODE", "RangeError")
            );
            assert_eq!(e.to_string(), format!("Invalid status code: {status}"));
        }
        assert_eq!(r.status_code(), 200);
        assert_eq!(
            end_with(r, None),
            format!("HTTP/1.1 200 OK\r\n{KA}Content-Length: 0\r\n\r\n")
        );
        let mut r = res();
        r.set_status_code(99);
        let mut out = Vec::new();
        assert_eq!(
            code(r.end(None, NOW, &mut out)),
            "ERR_HTTP_INVALID_STATUS_CODE"
        );
        assert!(out.is_empty() && !r.headers_sent() && !r.writable_ended());
    }

    /// fixture: .../second-call-throws-headers-sent.
    #[test]
    fn second_write_head_throws_and_keeps_the_first_status() {
        let mut r = res();
        let h = obj(&[("Content-Length", one("0"))]);
        r.write_head(200, None, Some(HeadHeaders::Object(h)), NOW)
            .unwrap();
        assert_eq!(
            code(r.write_head(404, None, None, NOW)),
            "ERR_HTTP_HEADERS_SENT"
        );
        assert_eq!(r.status_code(), 200);
        assert!(end_with(r, None).starts_with("HTTP/1.1 200 OK\r\n"));
    }

    /// fixture: .../invalid-header-value-throws; Node 23.5.0 for the status
    /// code and message it leaves behind.
    #[test]
    fn invalid_write_head_header_leaves_status_but_no_head() {
        let mut r = res();
        let h = obj(&[("X", one("a\nb"))]);
        let e = r
            .write_head(404, None, Some(HeadHeaders::Object(h)), NOW)
            .unwrap_err();
        assert_eq!((e.code(), e.name()), ("ERR_INVALID_CHAR", "TypeError"));
        assert!(!r.headers_sent());
        assert_eq!(
            (r.status_code(), r.status_message()),
            (404, Some("Not Found"))
        );
        assert_eq!(
            end_with(r, None),
            format!("HTTP/1.1 404 Not Found\r\n{KA}Content-Length: 0\r\n\r\n")
        );
        // After setHeader the entries before the bad one stay set.
        let mut r = res();
        r.set_header("Y", one("1")).unwrap();
        let h = obj(&[("X1", one("ok")), ("X", one("a\nb")), ("X2", one("no"))]);
        assert_eq!(
            code(r.write_head(404, None, Some(HeadHeaders::Object(h)), NOW)),
            "ERR_INVALID_CHAR"
        );
        assert_eq!(r.get_header_names(), ["y", "x1"]);
        // Without setHeader an empty name is validated.
        let mut r = res();
        let e = r
            .write_head(201, None, Some(arr(&["", "x"])), NOW)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Header name must be a valid HTTP token [\"\"]"
        );
    }

    /// Node 23.5.0: a failed writeHead leaves statusMessage set, so the
    /// implicit head of a later end() reads `201 OK`.
    #[test]
    fn odd_header_arrays_throw_and_leave_a_stale_message() {
        let mut r = res();
        r.set_header("X-A", one("0")).unwrap();
        let e = r
            .write_head(200, None, Some(arr(&["x-a", "1", "X-C"])), NOW)
            .unwrap_err();
        assert_eq!((e.code(), e.name()), ("ERR_INVALID_ARG_VALUE", "TypeError"));
        assert_eq!(
            e.to_string(),
            "The argument 'headers' is invalid. Received [ 'x-a', '1', 'X-C' ]"
        );
        assert_eq!(
            code(r.write_head(201, None, Some(arr(&["x-a"])), NOW)),
            "ERR_INVALID_ARG_VALUE"
        );
        assert_eq!(
            end_with(r, None),
            format!("HTTP/1.1 201 OK\r\nX-A: 0\r\n{KA}Content-Length: 0\r\n\r\n")
        );
        let mut r = res();
        assert_eq!(
            code(r.write_head(201, None, Some(arr(&["x-a"])), NOW)),
            "ERR_INVALID_ARG_VALUE"
        );
        assert!(end_with(r, None).starts_with("HTTP/1.1 201 Created\r\n"));
    }

    /// Node 23.5.0: writeHead(204) that fails still makes the response
    /// bodiless, even once the status is changed back.
    #[test]
    fn failed_204_head_keeps_the_response_bodiless() {
        let mut r = res();
        let h = obj(&[("X", one("a\nb"))]);
        assert!(r
            .write_head(204, None, Some(HeadHeaders::Object(h)), NOW)
            .is_err());
        r.set_status_code(200);
        assert_eq!(
            end_with(r, Some(b"x")),
            format!("HTTP/1.1 200 No Content\r\n{KA}\r\n")
        );
    }

    /// fixtures: responsestatusmessage/*, responsestatuscode/*.
    #[test]
    fn status_message_and_code_properties() {
        let mut r = res();
        assert_eq!(r.status_message(), None);
        r.set_status_code(404);
        let mut out = Vec::new();
        r.end(None, NOW, &mut out).unwrap();
        assert!(lat(&out).starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert_eq!(r.status_message(), Some("Not Found"));
        let mut r = res();
        r.set_status_code(404);
        r.set_status_message(Some("Nothing here".into()));
        assert!(end_with(r, None).starts_with("HTTP/1.1 404 Nothing here\r\n"));
        let mut r = res();
        r.set_status_message(Some(String::new()));
        assert!(end_with(r, None).starts_with("HTTP/1.1 200 OK\r\n"));
        let mut r = res();
        r.set_status_message(Some("OK\r\nX-Injected: 1".into()));
        let mut out = Vec::new();
        let e = r.end(None, NOW, &mut out).unwrap_err();
        assert_eq!((e.code(), e.name()), ("ERR_INVALID_CHAR", "TypeError"));
        assert_eq!(e.to_string(), "Invalid character in statusMessage");
        assert!(out.is_empty());
    }

    /// fixtures: responsesenddate/*.
    #[test]
    fn send_date_and_caller_date() {
        let mut r = res();
        r.set_send_date(false);
        assert_eq!(
            end_with(r, None),
            "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n"
        );
        let mut r = res();
        r.set_header("X-A", one("1")).unwrap();
        r.set_header("Date", one("Thursday, 01-Jan-70 00:00:00 GMT"))
            .unwrap();
        assert_eq!(
            end_with(r, None),
            "HTTP/1.1 200 OK\r\nX-A: 1\r\nDate: Thursday, 01-Jan-70 00:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n"
        );
    }

    /// Node 23.5.0: an `Expect` header makes writeHead send the head.
    #[test]
    fn expect_header_sends_the_head_at_write_head() {
        let mut r = res();
        r.set_header("Expect", one("x")).unwrap();
        r.write_head(200, None, None, NOW).unwrap();
        let mut out = Vec::new();
        r.take_pending(&mut out);
        assert_eq!(
            lat(&out),
            format!("HTTP/1.1 200 OK\r\nExpect: x\r\n{KA}Transfer-Encoding: chunked\r\n\r\n")
        );
        out.clear();
        r.end(Some(b"ok"), NOW, &mut out).unwrap();
        assert_eq!(lat(&out), "2\r\nok\r\n0\r\n\r\n");
    }

    /// fixture: responseflushheaders/head-sent-before-body.
    #[test]
    fn flush_headers_sends_the_head_alone() {
        let mut r = res();
        r.set_header("X-A", one("1")).unwrap();
        let mut out = Vec::new();
        r.flush_headers(NOW, &mut out).unwrap();
        assert_eq!(
            lat(&out),
            format!("HTTP/1.1 200 OK\r\nX-A: 1\r\n{KA}Transfer-Encoding: chunked\r\n\r\n")
        );
        out.clear();
        r.flush_headers(NOW, &mut out).unwrap();
        assert!(out.is_empty());
        r.end(Some(b"ok"), NOW, &mut out).unwrap();
        assert_eq!(lat(&out), "2\r\nok\r\n0\r\n\r\n");
    }

    // ------------------------------------------------------------ async errors

    /// Node 23.5.0: what write()/end() report after end() and after the
    /// response is destroyed.
    #[test]
    fn writes_after_end_are_reported_not_thrown() {
        let mut r = res();
        let mut out = Vec::new();
        r.end(Some(b"a"), NOW, &mut out).unwrap();
        out.clear();
        let check = |w: WriteOutcome, effect: Effect, code: &str, delivery: Delivery| {
            assert_eq!(w.effect, effect);
            let e = w.error.unwrap();
            assert_eq!((e.error.code(), e.delivery), (code, delivery));
        };
        let w = r.write(b"b", NOW, &mut out).unwrap();
        assert!(!w.ok);
        assert_eq!(
            w.error.as_ref().unwrap().error.to_string(),
            "write after end"
        );
        check(
            w,
            Effect::Refused,
            "ERR_STREAM_WRITE_AFTER_END",
            Delivery::CallbackAndErrorEvent,
        );
        check(
            r.end(Some(b"c"), NOW, &mut out).unwrap(),
            Effect::Refused,
            "ERR_STREAM_WRITE_AFTER_END",
            Delivery::CallbackAndErrorEvent,
        );
        check(
            r.end(Some(b""), NOW, &mut out).unwrap(),
            Effect::Refused,
            "ERR_STREAM_WRITE_AFTER_END",
            Delivery::CallbackAndErrorEvent,
        );
        check(
            r.end(None, NOW, &mut out).unwrap(),
            Effect::AlreadyFinished,
            "ERR_STREAM_ALREADY_FINISHED",
            Delivery::CallbackIfFinished,
        );
        r.destroy();
        check(
            r.write(b"z", NOW, &mut out).unwrap(),
            Effect::Refused,
            "ERR_STREAM_WRITE_AFTER_END",
            Delivery::Callback,
        );
        check(
            r.end(Some(b"q"), NOW, &mut out).unwrap(),
            Effect::Refused,
            "ERR_STREAM_WRITE_AFTER_END",
            Delivery::Silent,
        );
        assert!(out.is_empty());
        // Destroyed before end().
        let mut r = res();
        r.destroy();
        let w = r.write(b"x", NOW, &mut out).unwrap();
        assert_eq!(
            w.error.as_ref().unwrap().error.to_string(),
            "Cannot call write after a stream was destroyed"
        );
        check(
            w,
            Effect::Refused,
            "ERR_STREAM_DESTROYED",
            Delivery::Callback,
        );
        assert!(out.is_empty());
    }

    #[test]
    fn with_ok_only_lowers_queued_writes() {
        assert!(!WriteOutcome::queued().with_ok(false).ok);
        assert!(WriteOutcome::discarded().with_ok(false).ok);
        assert!(!WriteOutcome::destroyed().with_ok(true).ok);
    }

    // ------------------------------------------------------------ strictContentLength

    /// fixture: responsestrictcontentlength/default-false-mismatch-sent.
    #[test]
    fn without_strict_a_wrong_length_is_sent() {
        let mut r = res();
        assert!(!r.strict_content_length());
        r.set_header("Content-Length", OutValue::Number(5.0))
            .unwrap();
        assert_eq!(
            end_with(r, Some(b"hi")),
            format!("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n{KA}\r\nhi")
        );
    }

    /// fixture: responsestrictcontentlength/short-body-end-throws; Node
    /// 23.5.0 for what a later successful end() flushes.
    #[test]
    fn strict_short_body_throws_at_end_and_stays_corked() {
        let mut r = res();
        r.set_strict_content_length(true);
        r.set_header("Content-Length", OutValue::Number(5.0))
            .unwrap();
        let mut out = Vec::new();
        let e = r.end(Some(b"hi"), NOW, &mut out).unwrap_err();
        assert_eq!(e.code(), "ERR_HTTP_CONTENT_LENGTH_MISMATCH");
        assert_eq!(
            e.to_string(),
            "Response body's content-length of 2 byte(s) does not match the content-length of 5 byte(s) set in header"
        );
        assert!(out.is_empty() && r.headers_sent() && !r.writable_ended());
        r.write(b"x", NOW, &mut out).unwrap();
        assert!(out.is_empty());
        r.end(Some(b"ab"), NOW, &mut out).unwrap();
        assert_eq!(
            lat(&out),
            format!("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n{KA}\r\nhixab")
        );
    }

    /// fixtures: responsestrictcontentlength/overflowing-write-throws,
    /// first-write-unchecked.
    #[test]
    fn strict_checks_writes_once_the_head_is_built() {
        let mut r = res();
        r.set_strict_content_length(true);
        r.set_header("Content-Length", OutValue::Number(2.0))
            .unwrap();
        let mut out = Vec::new();
        r.flush_headers(NOW, &mut out).unwrap();
        assert_eq!(
            code(r.write(b"hello", NOW, &mut out)),
            "ERR_HTTP_CONTENT_LENGTH_MISMATCH"
        );
        r.end(Some(b"ok"), NOW, &mut out).unwrap();
        assert_eq!(
            lat(&out),
            format!("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n{KA}\r\nok")
        );

        let mut r = res();
        r.set_strict_content_length(true);
        r.set_header("Content-Length", OutValue::Number(2.0))
            .unwrap();
        let mut out = Vec::new();
        assert_eq!(
            r.write(b"hello", NOW, &mut out).unwrap().effect,
            Effect::Queued
        );
        assert_eq!(
            code(r.end(None, NOW, &mut out)),
            "ERR_HTTP_CONTENT_LENGTH_MISMATCH"
        );
        assert_eq!(
            lat(&out),
            format!("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n{KA}\r\nhello")
        );
    }

    /// Node 23.5.0: `_contentLength` keeps a string header as a string, so
    /// `end()`'s `!==` never matches it; `>` in write() converts it.
    #[test]
    fn strict_with_a_string_content_length() {
        let mut r = res();
        r.set_strict_content_length(true);
        r.set_header("Content-Length", one(" 3 ")).unwrap();
        let mut out = Vec::new();
        r.write(b"a", NOW, &mut out).unwrap();
        let e = r.write(b"bcd", NOW, &mut out).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Response body's content-length of 4 byte(s) does not match the content-length of  3  byte(s) set in header"
        );
        let e = r.end(Some(b"bc"), NOW, &mut out).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Response body's content-length of 3 byte(s) does not match the content-length of  3  byte(s) set in header"
        );
        // NaN: write() never overflows, end() always differs.
        let mut r = res();
        r.set_strict_content_length(true);
        r.set_header("Content-Length", one("abc")).unwrap();
        let mut out = Vec::new();
        r.flush_headers(NOW, &mut out).unwrap();
        r.write(b"x", NOW, &mut out).unwrap();
        assert_eq!(
            code(r.end(None, NOW, &mut out)),
            "ERR_HTTP_CONTENT_LENGTH_MISMATCH"
        );
        assert_eq!(
            lat(&out),
            format!("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n{KA}\r\nx")
        );
    }

    /// Node 23.5.0 (probe "strict exact via writes"): with tick corking,
    /// a write() followed in the same tick by a throwing end() stays
    /// corked, head included.
    #[test]
    fn tick_corking_keeps_same_tick_writes_back() {
        let mut r = res();
        r.set_tick_corking(true);
        r.set_strict_content_length(true);
        r.set_header("Content-Length", one(" 3 ")).unwrap();
        let mut out = Vec::new();
        r.write(b"a", NOW, &mut out).unwrap();
        assert!(r.write(b"bcd", NOW, &mut out).is_err());
        assert!(r.end(Some(b"bc"), NOW, &mut out).is_err());
        r.tick(&mut out);
        assert!(out.is_empty());
        // Without the throw, the tick releases the write.
        let mut r = res();
        r.set_tick_corking(true);
        r.write(b"a", NOW, &mut out).unwrap();
        assert!(out.is_empty());
        r.tick(&mut out);
        assert!(lat(&out).ends_with("\r\n\r\n1\r\na\r\n"));
    }

    /// Node 23.5.0: end(data) that throws after setting `_contentLength`
    /// leaves it, and a later write() announces it.
    #[test]
    fn failed_end_data_leaves_its_length_behind() {
        let mut r = res();
        r.set_status_message(Some("a\nb".into()));
        let mut out = Vec::new();
        assert_eq!(code(r.end(Some(b"hi"), NOW, &mut out)), "ERR_INVALID_CHAR");
        r.set_status_message(Some("Fine".into()));
        r.write(b"abc", NOW, &mut out).unwrap();
        assert!(out.is_empty());
        r.end(None, NOW, &mut out).unwrap();
        assert_eq!(
            lat(&out),
            format!("HTTP/1.1 200 Fine\r\n{KA}Content-Length: 2\r\n\r\nabc")
        );
    }

    /// A queued response (no socket) does not stay corked.
    #[test]
    fn without_a_socket_nothing_is_kept_back() {
        let mut r = res();
        r.set_socket_attached(false);
        r.set_strict_content_length(true);
        r.set_header("Content-Length", OutValue::Number(5.0))
            .unwrap();
        let mut out = Vec::new();
        assert!(r.end(Some(b"hi"), NOW, &mut out).is_err());
        assert_eq!(
            lat(&out),
            format!("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n{KA}\r\nhi")
        );
    }

    // ------------------------------------------------------------ cork

    /// Node 23.5.0: uncork() sends the corked writes as one chunk; end()
    /// sends them after the last chunk; uncork() below 0 corks.
    #[test]
    fn cork_collects_chunks_and_end_sends_them_last() {
        let mut r = res();
        let mut out = Vec::new();
        r.write(b"a", NOW, &mut out).unwrap();
        r.cork();
        r.write(b"b", NOW, &mut out).unwrap();
        r.write(b"cc", NOW, &mut out).unwrap();
        r.uncork(&mut out);
        r.end(None, NOW, &mut out).unwrap();
        assert_eq!(
            lat(&out),
            format!("HTTP/1.1 200 OK\r\n{KA}Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n3\r\nbcc\r\n0\r\n\r\n")
        );
        let mut r = res();
        let mut out = Vec::new();
        r.write(b"a", NOW, &mut out).unwrap();
        r.cork();
        r.write(b"b", NOW, &mut out).unwrap();
        r.write(b"cc", NOW, &mut out).unwrap();
        r.end(Some(b"d"), NOW, &mut out).unwrap();
        assert!(lat(&out).ends_with("\r\n\r\n1\r\na\r\n0\r\n\r\n4\r\nbccd\r\n"));
        let mut r = res();
        let mut out = Vec::new();
        r.write(b"a", NOW, &mut out).unwrap();
        r.uncork(&mut out);
        assert_eq!(r.writable_corked(), -1);
        r.write(b"b", NOW, &mut out).unwrap();
        r.write(b"c", NOW, &mut out).unwrap();
        r.cork();
        r.write(b"d", NOW, &mut out).unwrap();
        r.end(None, NOW, &mut out).unwrap();
        assert!(lat(&out).ends_with("\r\n\r\n1\r\na\r\n1\r\nd\r\n0\r\n\r\n2\r\nbc\r\n"));
    }

    // ------------------------------------------------------------ quirks

    /// Node 23.5.0: with a truthy `_contentLength`, a Content-Disposition
    /// value is re-read as UTF-8 from its latin-1 bytes.
    #[test]
    fn content_disposition_is_reencoded_when_the_length_is_known() {
        let mut r = res();
        r.set_header(
            "Content-Disposition",
            one("attachment; filename=\"caf\u{e9} \u{c3}\u{a9}\""),
        )
        .unwrap();
        let mut out = Vec::new();
        r.end(Some(b"hi"), NOW, &mut out).unwrap();
        assert!(out.starts_with(
            b"HTTP/1.1 200 OK\r\nContent-Disposition: attachment; filename=\"caf\xfd \xe9\"\r\n"
        ));
        // Only after a Content-Length line in the same head.
        let mut r = res();
        r.set_header("Content-Length", one("2")).unwrap();
        r.set_header("Content-Disposition", one("caf\u{e9}"))
            .unwrap();
        let mut out = Vec::new();
        r.end(Some(b"hi"), NOW, &mut out).unwrap();
        assert!(out.starts_with(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Disposition: caf\xfd\r\n"
        ));
        let mut r = res();
        r.set_header("Content-Disposition", one("caf\u{e9}"))
            .unwrap();
        r.set_header("Content-Length", one("2")).unwrap();
        let mut out = Vec::new();
        r.write(b"hi", NOW, &mut out).unwrap();
        assert!(out.starts_with(b"HTTP/1.1 200 OK\r\nContent-Disposition: caf\xe9\r\n"));
        // end() without data: `_contentLength` is 0, no change.
        let mut r = res();
        r.set_header("Content-Disposition", one("caf\u{e9}"))
            .unwrap();
        let mut out = Vec::new();
        r.end(None, NOW, &mut out).unwrap();
        assert!(out.starts_with(b"HTTP/1.1 200 OK\r\nContent-Disposition: caf\xe9\r\n"));
    }

    #[rstest]
    #[case("", 0.0)]
    #[case(" 3 ", 3.0)]
    #[case("\t0x10\n", 16.0)]
    #[case("0b11", 3.0)]
    #[case("1e3", 1000.0)]
    #[case(".5", 0.5)]
    #[case("5.", 5.0)]
    #[case("-Infinity", f64::NEG_INFINITY)]
    fn js_string_to_number_matches_js(#[case] s: &str, #[case] n: f64) {
        assert_eq!(js_string_to_number(s), n);
    }

    #[rstest]
    #[case("abc")]
    #[case("inf")]
    #[case("-0x10")]
    #[case("1e")]
    #[case("0x")]
    #[case(".")]
    #[case("1 2")]
    fn js_string_to_number_nan(#[case] s: &str) {
        assert!(js_string_to_number(s).is_nan());
    }

    #[rstest]
    #[case(123.0, "123")]
    #[case(1.5, "1.5")]
    #[case(-2.25, "-2.25")]
    #[case(1e20, "100000000000000000000")]
    #[case(1.2345e21, "1.2345e+21")]
    #[case(0.000001, "0.000001")]
    #[case(1e-7, "1e-7")]
    #[case(f64::INFINITY, "Infinity")]
    #[case(4294967295.0, "4294967295")]
    fn numbers_render_as_javascript(#[case] n: f64, #[case] s: &str) {
        assert_eq!(js_number_to_string(n), s);
    }

    #[test]
    fn array_indices() {
        assert_eq!(array_index("0"), Some(0));
        assert_eq!(array_index("4294967294"), Some(4_294_967_294));
        for k in ["", "01", "4294967295", "-1", "1a", "99999999999"] {
            assert_eq!(array_index(k), None, "{k}");
        }
    }
}
