//! The server side of one HTTP/1.1 connection, sans-IO.
//!
//! [`Connection`] is what `connectionListenerInternal` in
//! lib/_http_server.js sets up around a socket — the parser, the queue of
//! pipelined responses, the keep-alive and socket timers — as a plain state
//! machine in the manner of quinn-proto: bytes and the current [`Instant`]
//! are pushed in ([`Connection::recv`], [`Connection::recv_eof`],
//! [`Connection::handle_timeout`]); bytes to send ([`Connection::transmit`]),
//! [`Event`]s and the next deadline ([`Connection::poll_timeout`]) are
//! pulled out. It never touches a socket or a clock, so every rule below is
//! tested with plain bytes and made-up instants.
//!
//! The responses are [`ResponseState`]s owned by the connection and
//! addressed by [`ReqId`]: a response that is not at the head of the
//! pipeline buffers its bytes until the ones before it finish, as Node's
//! `state.outgoing` queue does.
//!
//! What happens on the connection, in Node's order:
//!
//! 1. A request head is parsed (`parserOnHeadersComplete`). Errors become
//!    [`Event::ClientError`] and stop parsing.
//! 2. `parserOnIncoming`: the keep-alive timer is reset; an upgrade (with an
//!    `upgrade` listener) or a `CONNECT` (with a `connect` listener) takes
//!    the socket over ([`Event::Upgrade`]); a `CONNECT` without listener
//!    closes the socket; otherwise a response is created and, for HTTP/1.1
//!    only, a missing `Host` is answered 400, a request over
//!    `maxRequestsPerSocket` is answered 503 ([`Event::DropRequest`]), an
//!    `Expect` header selects `checkContinue` or `checkExpectation`.
//! 3. The body is delivered as it arrives; [`Connection::read_body`] takes
//!    it. While more than `highWaterMark` bytes wait unread, the connection
//!    asks for no more input ([`Connection::wants_read`]): backpressure, as
//!    `req.push()` returning false pauses the socket.
//! 4. `resOnFinish`: the response is done; the next pipelined one starts,
//!    or the keep-alive timer (`keepAliveTimeout` + 1 s) is armed, or the
//!    connection ends after its bytes are out (`_last`).

use std::collections::VecDeque;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use crate::body::Decoder;
use crate::error::Error;
use crate::headers::{HeaderMap, HeaderOptions, RawHeaders};
use crate::parse::{parse_request, BodyKind, HeadFilter, ParseOptions, RequestHead, Status};
use crate::response::{HeadHeaders, Recycled, ResponseContext, ResponseState};

pub use crate::defaults::KEEP_ALIVE_TIMEOUT_BUFFER;

/// How many requests of one connection may wait for their response before
/// the reference stops parsing the next ones (Node has no limit; 64 is far
/// deeper than any client pipelines).
pub const MAX_PIPELINED: usize = 64;

/// [`defaults::HIGH_WATER_MARK`](crate::defaults::HIGH_WATER_MARK).
pub const DEFAULT_HIGH_WATER_MARK: usize = crate::defaults::HIGH_WATER_MARK;

/// [`defaults::MAX_HEADERS_COUNT`](crate::defaults::MAX_HEADERS_COUNT).
pub const DEFAULT_MAX_HEADERS_COUNT: usize = crate::defaults::MAX_HEADERS_COUNT;

/// The number of header fields at which llhttp's binding in Node flushes
/// the fields parsed so far to JavaScript (`kMaxHeaderFieldsCount`): a head
/// with this many fields has a tick point (see
/// [`Connection::paused_at_tick`]).
const FLUSHED_FIELDS: usize = 32;

/// How many header names (with their colon) of the head at the start of
/// `rest` were read before offset `end`: llhttp hands a name to Node's
/// binding (`on_header_field`) once its colon is reached.
fn names_before(rest: &[u8], end: usize) -> usize {
    let end = end.min(rest.len());
    let skip = rest[..end]
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count();
    rest[skip..end]
        .split(|&b| b == b'\n')
        .skip(1)
        .filter(|l| !matches!(l.first(), Some(b' ' | b'\t')) && l.contains(&b':'))
        .count()
}

/// Identifies one request (and its response) on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReqId(pub u64);

/// Which listeners the server has: Node decides by `listenerCount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Listeners {
    /// An `'upgrade'` listener: without one, an upgrade request is served as
    /// an ordinary request.
    pub upgrade: bool,
    /// A `'connect'` listener: without one, a `CONNECT` closes the socket.
    pub connect: bool,
}

/// The server settings a connection works with.
///
/// Node equivalent: the `http.createServer` options and `Server` properties
/// that `connectionListenerInternal` and `parserOnIncoming` read.
#[derive(Debug, Clone)]
pub struct ConnConfig {
    /// `maxHeaderSize` and `insecureHTTPParser`.
    pub parse: ParseOptions,
    /// `joinDuplicateHeaders` and `maxHeadersCount`.
    pub headers: HeaderOptions,
    /// `requireHostHeader` (default true).
    pub require_host_header: bool,
    /// `keepAliveTimeout` (default 5 s; zero disables it).
    pub keep_alive_timeout: Duration,
    /// `maxRequestsPerSocket` (0 = unlimited).
    pub max_requests_per_socket: u32,
    /// `rejectNonStandardBodyWrites`.
    pub reject_non_standard_body_writes: bool,
    /// `uniqueHeaders`, lower-cased.
    pub unique_headers: Vec<String>,
    /// `server.timeout`: the socket inactivity timeout (zero = none).
    pub timeout: Duration,
    /// `highWaterMark` of the socket and the request bodies.
    pub high_water_mark: usize,
    /// Which optional listeners are installed.
    pub listeners: Listeners,
    /// Body data and ends become visible to readers only at
    /// [`Connection::publish_bodies`], which a driver calls once the
    /// listeners of a packet had their first run (Node emits `'data'` and
    /// `'end'` after them). Off by default: a plain sans-IO user sees
    /// bodies at once.
    pub defer_body_delivery: bool,
}

impl Default for ConnConfig {
    fn default() -> Self {
        ConnConfig {
            parse: ParseOptions::default(),
            headers: HeaderOptions {
                join_duplicate_headers: false,
                max_headers_count: Some(DEFAULT_MAX_HEADERS_COUNT),
            },
            require_host_header: true,
            keep_alive_timeout: crate::defaults::KEEP_ALIVE_TIMEOUT,
            max_requests_per_socket: 0,
            reject_non_standard_body_writes: false,
            unique_headers: Vec::new(),
            timeout: Duration::ZERO,
            high_water_mark: DEFAULT_HIGH_WATER_MARK,
            listeners: Listeners::default(),
            defer_body_delivery: false,
        }
    }
}

/// A received request head.
///
/// Node equivalent: the properties of an `IncomingMessage` set by
/// `parserOnHeadersComplete`, and its `headers` getter.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// `req.method`.
    pub method: &'static str,
    /// `req.url`.
    pub url: String,
    /// `(httpVersionMajor, httpVersionMinor)`.
    pub version: (u8, u8),
    /// `req.rawHeaders`.
    pub raw_headers: RawHeaders,
    /// `joinDuplicateHeaders` and `maxHeadersCount` when the head was
    /// parsed: the rules of [`headers`](Self::headers) (and of the
    /// trailers).
    pub header_options: HeaderOptions,
    /// `req.headers`, built on first use.
    headers: OnceLock<HeaderMap>,
}

impl RequestInfo {
    /// `req.headers`, built from `raw_headers` when first read, as Node's
    /// getter does (so is `req.headersDistinct`): a handler that never
    /// reads it costs no copy of each name and value.
    pub fn headers(&self) -> &HeaderMap {
        self.headers
            .get_or_init(|| HeaderMap::from_raw(self.counted_headers(), self.header_options))
    }

    /// The raw pairs `req.headers` is built from (the first
    /// `maxHeadersCount`).
    fn counted_headers(&self) -> impl Iterator<Item = (&str, &str)> {
        let limit = self.header_options.max_headers_count.unwrap_or(usize::MAX);
        self.raw_headers.iter().take(limit)
    }

    /// What the connection reads of `req.headers` before any handler, in
    /// one pass over the raw pairs, without building the object. `host`
    /// keeps its first value and `te`, `expect` join theirs with `", "`,
    /// so "some value" and "the joined value" answer alike.
    fn preread(&self) -> Preread {
        let mut p = Preread::default();
        // Names are tokens (ASCII): comparing without case is lower-casing.
        for (name, value) in self.counted_headers() {
            if name.eq_ignore_ascii_case("host") {
                p.host = true;
            } else if name.eq_ignore_ascii_case("te") {
                // `chunkExpression.test(req.headers.te)`: ", " cannot make
                // or break "chunked".
                p.te_chunked |= value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("expect") {
                // `100-continue` as a word of the joined value is one in
                // one of the values.
                p.expect = Some(p.expect == Some(true) || has_100_continue(value));
            }
        }
        p
    }
}

/// See [`RequestInfo::preread`].
#[derive(Debug, Default)]
struct Preread {
    /// `req.headers.host` is set.
    host: bool,
    /// `req.headers.te` says `chunked`.
    te_chunked: bool,
    /// `req.headers.expect` is set, and whether it holds `100-continue`.
    expect: Option<bool>,
}

/// How a request is handed to the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// `'request'`.
    Request,
    /// `Expect: 100-continue` on HTTP/1.1: `'checkContinue'`.
    CheckContinue,
    /// Any other `Expect` on HTTP/1.1: `'checkExpectation'`.
    CheckExpectation,
}

/// What happened on the connection.
#[derive(Debug)]
pub enum Event {
    /// A request to hand to the application, with its response.
    Request {
        /// The request and response.
        id: ReqId,
        /// The head.
        info: RequestInfo,
        /// Which listener gets it.
        dispatch: Dispatch,
    },
    /// An upgrade or `CONNECT` took the connection over: from now on the
    /// connection is a raw byte stream ([`Connection::read_raw`],
    /// [`Connection::write_raw`]).
    Upgrade {
        /// The request.
        id: ReqId,
        /// The head.
        info: RequestInfo,
        /// `CONNECT` (`'connect'`) rather than `'upgrade'`.
        connect: bool,
        /// The bytes received after the head (Node's `head` argument).
        head: Vec<u8>,
    },
    /// A request over `maxRequestsPerSocket` (`'dropRequest'`); the 503
    /// is already queued.
    DropRequest {
        /// The request.
        id: ReqId,
        /// The head.
        info: RequestInfo,
    },
    /// A parse error or a request timeout (`'clientError'`). The
    /// connection reads no more; the application decides what is written
    /// ([`Connection::default_client_error`] is Node's default).
    ClientError {
        /// The error, with Node's code.
        error: Error,
    },
    /// The socket was idle for its timeout (`'timeout'`). Node's default,
    /// when nobody listens, is to destroy the socket.
    Timeout,
    /// The request body will not complete: the peer went away
    /// (`req.on('aborted')`).
    Aborted(ReqId),
    /// The response is done and its bytes are queued (`res.on('finish')`).
    Finish(ReqId),
}

/// How the connection is being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// Open.
    No,
    /// Send what is queued, then shut the write side down
    /// (`socket.destroySoon()` / `socket.end()`).
    AfterFlush,
    /// Close now (`socket.destroy()`).
    Now,
}

/// Where the reader is.
#[derive(Debug)]
enum Reading {
    /// Waiting for a request head.
    Head,
    /// Reading the body of `id`.
    Body { id: ReqId, body: Decoder },
    /// The last message said the connection closes after it: only empty
    /// lines may follow (llhttp's `closed` state).
    Closed,
    /// An upgrade took the connection: bytes are raw.
    Raw,
    /// A parse error while llhttp's `upgrade` flag is set: in the body of
    /// an upgrade request nobody listens to, or in the head of the next
    /// request on its connection (the flag is cleared only when a head
    /// completes). Node drops such errors (the binding reports an error
    /// only `if (!parser_.upgrade)`), and the parser, stuck in its error,
    /// takes no more input. Bytes are dropped without a reply; the
    /// connection stays open (a head begun still times out: 408 at
    /// `headersTimeout`).
    Discard,
    /// A parse error happened, or the connection is done: input is dropped.
    Stopped,
}

/// A request's body as received, waiting to be read.
#[derive(Debug, Default)]
struct BodyState {
    id: u64,
    chunks: VecDeque<Vec<u8>>,
    buffered: usize,
    /// The whole body arrived (`req.complete`).
    complete: bool,
    /// The peer went away before it completed.
    aborted: bool,
    /// Nobody will read it: received bytes are dropped (`req._dump()`).
    dumped: bool,
    /// A reader started (`req._consuming`).
    consuming: bool,
    /// The connection ended before the body did, after its response
    /// finished: neither `'end'` nor `'aborted'` comes.
    ended_unfinished: bool,
    /// The last `hidden` chunks, and the completion, arrived in the packet
    /// being handled: readers see them once [`Connection::publish_bodies`]
    /// runs, after the listeners of that packet, as Node emits `'data'`
    /// and `'end'` after them.
    hidden: usize,
    /// The completion is visible to readers.
    complete_visible: bool,
    raw_trailers: Vec<(String, String)>,
}

/// One response in the pipeline.
#[derive(Debug)]
struct Outgoing {
    id: u64,
    state: ResponseState,
    /// Bytes written while an earlier response still held the socket.
    pending: Vec<u8>,
    /// `end()` was called.
    ended: bool,
    /// `'finish'` was emitted.
    finished: bool,
    /// The application let go of its last handle before `'finish'`: the
    /// state is recycled when it finishes instead of being kept.
    released: bool,
}

/// The server side of one connection. See the module docs.
#[derive(Debug)]
pub struct Connection {
    cfg: ConnConfig,
    /// Every byte received from the peer (`socket.bytesRead`).
    bytes_read: u64,
    /// A read error was queued for `'clientError'`: the requests it aborts
    /// see their abort once that listener had its first run
    /// ([`listeners_ran`](Self::listeners_ran)), as in Node
    /// `socketOnError` runs before `socketOnClose` aborts them.
    abort_after_listeners: bool,
    /// The responses whose `write()` returned false and that have not
    /// emitted `'drain'` since (`kNeedDrain`).
    need_drain: Vec<u64>,
    /// Where in `out` the 503 of a dropped request starts, until the
    /// `'dropRequest'` listener had its first run: Node emits the event
    /// before it writes the 503, so what the listener writes on the socket
    /// goes before it.
    drop_reply_at: Option<usize>,
    input: Vec<u8>,
    reading: Reading,
    /// llhttp's `should_keep_alive` for the message being read.
    message_keep_alive: bool,
    next_id: u64,
    requests_count: u32,
    bodies: VecDeque<BodyState>,
    outgoing: VecDeque<Outgoing>,
    /// Responses that finished but whose handle still exists: their
    /// properties stay readable (`res.statusMessage` after `end()`).
    finished: Vec<(u64, ResponseState)>,
    /// Handles on a response beyond its first, by response (see
    /// [`Connection::retain_response`]): counted here rather than with a
    /// reference-counted allocation per response.
    extra_handles: Vec<(u64, u32)>,
    /// The buffers of the last released response, for the next one.
    recycled: Recycled,
    out: Vec<u8>,
    raw_in: Vec<u8>,
    events: VecDeque<Event>,
    closing: Closing,
    peer_eof: bool,
    // Timers.
    /// The start of the message being received (`last_message_start_` of
    /// Node's ConnectionsList), for `headersTimeout` / `requestTimeout`.
    message_start: Option<Instant>,
    headers_done: bool,
    /// Whether a message began on this connection (llhttp's
    /// `on_message_begin` ran once).
    message_begun: bool,
    socket_timeout: Duration,
    last_activity: Instant,
    timeout_armed: bool,
    keep_alive_timeout_set: bool,
    /// The last response finished but is not sent yet: the keep-alive
    /// timer starts once it is.
    keep_alive_pending: bool,
    /// Drop the rest of the chunk being parsed (after an upgrade request
    /// served as an ordinary one).
    skip_rest_of_chunk: bool,
    /// The message being read is HTTP/1.1 (llhttp's keep-alive rule).
    message_http11: bool,
    /// The message being read asked for an upgrade (served as an
    /// ordinary request): the rest of the chunk after it is dropped.
    message_upgrade: bool,
    /// llhttp's `upgrade` flag: set for each head, it stays set after the
    /// message until the next head completes; while it is, Node's binding
    /// reports no parse error (see [`Reading::Discard`]).
    parser_upgrade: bool,
    /// Request events whose handler has not run yet.
    handlers_unrun: usize,
    /// A response finished since the last [`Connection::publish_bodies`]
    /// (driver mode only).
    finished_in_packet: bool,
    /// The step just parsed reached one of Node's tick points (driver mode
    /// only): see [`Connection::paused_at_tick`].
    tick_point: bool,
    /// Parsing stopped at a tick point: where it goes on in `input`, and
    /// where the packet being parsed starts there.
    resume_at: Option<(usize, usize)>,
    /// A message whose last bytes came just before the tick point: llhttp
    /// completes it (`on_message_complete`) after the ticks ran.
    complete_after_tick: Option<(ReqId, Vec<(String, String)>)>,
    /// The head being parsed already had its tick point.
    head_flushed: bool,
    /// Node's binding flushed header fields to JavaScript once on this
    /// connection (`have_flushed_`, reset only when the parser is set up
    /// for a new connection): from then on every head completes through a
    /// flush, which is a tick point.
    have_flushed: bool,
    /// A response finished: the next one gets the socket at the next tick
    /// point (driver mode).
    assign_pending: bool,
    /// A `CONNECT` nobody listens to was parsed: the socket is destroyed
    /// once the listeners of the packet ran their synchronous part (Node
    /// destroys it when the parse returns, in `onParserExecuteCommon`).
    destroy_pending: bool,
    /// The bytes llhttp skips uncounted (CR and LF before a request line,
    /// whitespace after a field's colon beyond one byte) are dropped from
    /// an unfinished head kept in `input`, so that it takes at most
    /// [`max_buffered_head`](crate::parse::max_buffered_head) bytes: Node
    /// holds none of them, and a peer may send any number.
    head_filter: HeadFilter,
    /// How many bytes at the start of `input` went through `head_filter`.
    head_filtered: usize,
    /// The wall-clock time the driver last gave ([`Connection::set_date`]):
    /// the `Date` of the answers the connection writes itself (the
    /// automatic 400 and 503).
    date: SystemTime,
}

impl Connection {
    /// A new connection, accepted at `now`.
    pub fn new(cfg: ConnConfig, now: Instant) -> Connection {
        let timeout = cfg.timeout;
        Connection {
            cfg,
            date: SystemTime::UNIX_EPOCH,
            bytes_read: 0,
            abort_after_listeners: false,
            need_drain: Vec::new(),
            drop_reply_at: None,
            input: Vec::new(),
            reading: Reading::Head,
            message_keep_alive: true,
            next_id: 0,
            requests_count: 0,
            // Room for one request at a time, the usual case: a first push
            // would reserve four (1.3 KiB of `Outgoing`, 1.2 KiB of
            // finished responses...), kept for the life of the connection.
            // Measured: idle keep-alive connections went from 5.2 KiB to
            // under 3 KiB each. Pipelining grows them as it needs.
            bodies: VecDeque::with_capacity(1),
            outgoing: VecDeque::with_capacity(1),
            finished: Vec::with_capacity(1),
            extra_handles: Vec::new(),
            recycled: Recycled::default(),
            out: Vec::new(),
            raw_in: Vec::new(),
            events: VecDeque::with_capacity(1),
            closing: Closing::No,
            peer_eof: false,
            // Node counts a connection as active (headersTimeout runs, it is
            // not idle) from the moment it is accepted.
            message_start: Some(now),
            headers_done: false,
            message_begun: false,
            socket_timeout: timeout,
            last_activity: now,
            timeout_armed: !timeout.is_zero(),
            keep_alive_timeout_set: false,
            keep_alive_pending: false,
            skip_rest_of_chunk: false,
            message_upgrade: false,
            parser_upgrade: false,
            message_http11: true,
            handlers_unrun: 0,
            finished_in_packet: false,
            tick_point: false,
            resume_at: None,
            complete_after_tick: None,
            head_flushed: false,
            have_flushed: false,
            destroy_pending: false,
            assign_pending: false,
            head_filter: HeadFilter::head(),
            head_filtered: 0,
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &ConnConfig {
        &self.cfg
    }

    /// Change the settings that Node reads from the server at each use
    /// (`keepAliveTimeout`, `maxRequestsPerSocket`...).
    pub fn config_mut(&mut self) -> &mut ConnConfig {
        &mut self.cfg
    }

    // ------------------------------------------------------------ input

    /// Whether the connection wants more input: false once it is closing or
    /// stopped reading, or while a request body has `highWaterMark` bytes
    /// unread (backpressure).
    pub fn wants_read(&self) -> bool {
        if self.closing == Closing::Now || self.peer_eof || self.resume_at.is_some() {
            return false;
        }
        match self.reading {
            Reading::Stopped => self.closing == Closing::AfterFlush,
            Reading::Raw => self.raw_in.len() < self.cfg.high_water_mark,
            Reading::Body { id, .. } => self
                .body(id)
                .is_none_or(|b| b.buffered < self.cfg.high_water_mark),
            Reading::Head => !self.parsing_paused(),
            Reading::Closed | Reading::Discard => true,
        }
    }

    /// Bytes received from the peer.
    pub fn recv(&mut self, data: &[u8], now: Instant) {
        self.bytes_read += data.len() as u64;
        self.touch(now);
        // Node 23 (onParserExecuteCommon): any data replaces the keep-alive
        // timer with the regular server.timeout.
        if self.keep_alive_timeout_set {
            self.set_socket_timeout(self.cfg.timeout, now);
            self.keep_alive_timeout_set = false;
        }
        self.keep_alive_pending = false;
        match self.reading {
            Reading::Stopped | Reading::Discard => return,
            Reading::Raw => {
                self.raw_in.extend_from_slice(data);
                return;
            }
            _ => {}
        }
        if self.resume_at.is_some() {
            // The driver goes on with a paused packet before it reads
            // more; should it not, the new bytes simply follow.
            self.input.extend_from_slice(data);
            self.continue_packet(now);
            return;
        }
        let chunk_start = self.input.len();
        self.input.extend_from_slice(data);
        self.parse(0, chunk_start, now);
    }

    /// The wall-clock time, for the `Date` header of the answers the
    /// connection writes itself (the automatic 400 and 503): the core reads
    /// no clock, so the driver gives it before it passes bytes in. Until
    /// then it is the Unix epoch.
    pub fn set_date(&mut self, date: SystemTime) {
        self.date = date;
    }

    /// How many bytes the peer sent so far (`socket.bytesRead`).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Bytes received and not parsed yet (an unfinished head, or the rest
    /// of a packet paused at a tick point): the fuzz harness's bound on
    /// what a connection holds.
    #[cfg(feature = "fuzzing")]
    pub fn unparsed(&self) -> usize {
        self.input.len()
    }

    /// Whether parsing stopped inside a packet at one of the points where
    /// Node runs its queued ticks (driver mode only).
    ///
    /// Node's parser calls JavaScript back inside a packet in two ways:
    /// `'request'` and a message's completion run with the tick queue held
    /// (`kSkipTaskQueues`), but a span of body data (`on_body`) and a flush
    /// of header fields (after 31 fields, and for trailers) go through
    /// `MakeCallback`, which runs every queued `process.nextTick` and
    /// promise job before parsing goes on. So the requests parsed earlier
    /// in the packet get their `'data'` and `'end'` there, and their
    /// listeners answer, before a later parse error in the same packet
    /// destroys the socket. The driver runs the listeners, then calls
    /// [`continue_packet`](Self::continue_packet).
    pub fn paused_at_tick(&self) -> bool {
        self.resume_at.is_some()
    }

    /// Go on parsing the packet that stopped at a tick point. Returns
    /// false when parsing was not paused.
    pub fn continue_packet(&mut self, now: Instant) -> bool {
        let Some((pos, chunk_start)) = self.resume_at.take() else {
            return false;
        };
        if let Some((id, trailers)) = self.complete_after_tick.take() {
            if matches!(self.reading, Reading::Body { id: at, .. } if at == id) {
                self.complete_body(id, trailers);
            }
        }
        if std::mem::take(&mut self.skip_rest_of_chunk) {
            self.clear_input();
            return true;
        }
        if matches!(
            self.reading,
            Reading::Stopped | Reading::Raw | Reading::Discard
        ) {
            // Destroyed, or a closing response finished, meanwhile.
            self.clear_input();
            return true;
        }
        self.parse(pos.min(self.input.len()), chunk_start, now);
        true
    }

    /// Parse what `input` holds from `pos`; the last chunk received starts
    /// at `chunk_start` (for `bytesParsed` and `rawPacket`).
    fn parse(&mut self, mut pos: usize, chunk_start: usize, now: Instant) {
        while pos < self.input.len() {
            match self.step(pos, now) {
                Ok(Some(_)) if self.skip_rest_of_chunk => {
                    self.skip_rest_of_chunk = false;
                    pos = self.input.len();
                }
                Ok(Some(used)) => {
                    pos += used;
                    if std::mem::take(&mut self.tick_point) && pos < self.input.len() {
                        self.resume_at = Some((pos, chunk_start));
                        return;
                    }
                }
                Ok(None) => break,
                Err(_)
                    if self.parser_upgrade
                        && matches!(
                            self.reading,
                            Reading::Head | Reading::Body { .. } | Reading::Closed
                        ) =>
                {
                    self.reading = Reading::Discard;
                    self.clear_input();
                    return;
                }
                Err(mut error) => {
                    // bytesParsed counts from the start of this chunk, as
                    // llhttp's offset into the buffer it was given.
                    let at = error.bytes_parsed().unwrap_or(0) + pos;
                    error = error.with_bytes_parsed(at.saturating_sub(chunk_start));
                    let packet = self.input[chunk_start.min(self.input.len())..].to_vec();
                    self.client_error(error, Some(packet));
                    return;
                }
            }
        }
        self.tick_point = false;
        self.complete_after_tick = None;
        // A response that closes the connection may have cleared the input.
        let parsed = pos.min(self.input.len());
        self.input.drain(..parsed);
        self.filter_unfinished_head(parsed);
    }

    /// After a parse that consumed `parsed` bytes: when what is left of
    /// `input` is an unfinished head, drop from it what llhttp skips
    /// uncounted (see [`HeadFilter`]). The head parses the same; the bytes
    /// of the packet being parsed are the last ones, which the filter only
    /// shortens once the next packet came, so `bytesParsed` and
    /// `rawPacket` are the same too.
    fn filter_unfinished_head(&mut self, parsed: usize) {
        if parsed > 0 {
            // What is left starts a new head (or nothing).
            self.reset_head_filter();
        }
        if self.reading != Reading::Head || self.head_filtered == self.input.len() {
            return;
        }
        let fresh = self.input.split_off(self.head_filtered);
        self.head_filter.push(&fresh, &mut self.input);
        self.head_filtered = self.input.len();
    }

    /// Drop every byte received and not parsed: what the filter had seen
    /// goes with them.
    fn clear_input(&mut self) {
        self.input.clear();
        self.reset_head_filter();
    }

    fn reset_head_filter(&mut self) {
        self.head_filter = HeadFilter::head();
        self.head_filtered = 0;
    }

    /// Bytes written by responses and not yet sent.
    fn pending_output(&self) -> usize {
        self.out.len() + self.outgoing.iter().map(|o| o.pending.len()).sum::<usize>()
    }

    /// Whether reading waits: Node pauses the socket while `highWaterMark`
    /// bytes of responses are queued (`socket._paused` in
    /// `parserOnIncoming`); the reference also waits while
    /// [`MAX_PIPELINED`] requests are unanswered, so that a client cannot
    /// make it hold more than that plus the requests of one read. As in
    /// Node, where the parser is paused only once `execute` returns, a
    /// packet already received is parsed to its end.
    fn parsing_paused(&self) -> bool {
        self.pending_output() >= self.cfg.high_water_mark || self.outgoing.len() >= MAX_PIPELINED
    }

    /// The peer closed its write side (Node: `socketOnEnd`).
    pub fn recv_eof(&mut self, now: Instant) {
        self.touch(now);
        if self.peer_eof {
            return;
        }
        self.peer_eof = true;
        match &self.reading {
            // parser.finish() fails silently too while the upgrade flag is set.
            Reading::Head
                if !self.parser_upgrade && self.input.iter().any(|&b| b != b'\r' && b != b'\n') =>
            {
                // parser.finish() in the middle of a head.
                self.client_error(
                    Error::parse(crate::error::Parse::InvalidEofState, "Invalid EOF state", 0),
                    None,
                );
                return;
            }
            Reading::Body { id, body } => {
                let id = *id;
                if matches!(body, Decoder::UntilEof) {
                    self.complete_body(id, Vec::new());
                } else {
                    // socketOnEnd: parser.finish() fails first; the request
                    // is aborted when the socket closes.
                    self.client_error(
                        Error::parse(crate::error::Parse::InvalidEofState, "Invalid EOF state", 0),
                        None,
                    );
                    self.abort_body(id);
                    return;
                }
            }
            _ => {}
        }
        if self.reading != Reading::Raw {
            // !server.httpAllowHalfOpen: socket.end(). Node's request
            // listeners ran before this 'end' (they run inside the parse),
            // so what they answered at once is on the socket; here handlers
            // run after the parse, so the write side is shut down only once
            // every handler had its first run (`should_shutdown`).
            self.end_socket();
        }
    }

    /// Reading the socket failed (the peer reset the connection): Node's
    /// `socketOnError` passes the error (`ECONNRESET`) to `'clientError'`,
    /// then the socket closes as on [`recv_reset`](Self::recv_reset).
    pub fn recv_error(&mut self) {
        if self.closing != Closing::Now {
            self.events.push_back(Event::ClientError {
                error: Error::connection_reset(),
            });
            self.abort_after_listeners = true;
        }
        self.recv_reset();
    }

    /// `socket.destroy(error)`: the error goes to `'clientError'`
    /// (`socketOnError`) before the requests it aborts see their abort,
    /// then the socket closes.
    pub fn destroy_with_error(&mut self, error: Error) {
        if self.closing != Closing::Now {
            self.events.push_back(Event::ClientError { error });
            self.abort_after_listeners = true;
        }
        self.destroy();
    }

    /// Whether an abort waits for the listeners of the events before it
    /// (the `'clientError'` of a reset or of a destroy with an error).
    pub fn abort_waits_for_listeners(&self) -> bool {
        self.abort_after_listeners
    }

    /// The driver ran the listeners of the events it took: an abort that
    /// waited for them shows. Returns whether one did.
    pub fn listeners_ran(&mut self) -> bool {
        self.drop_reply_at = None;
        // A 'clientError' the listeners themselves caused (a destroy with
        // an error) is not dispatched yet: the abort waits for it too.
        if self
            .events
            .iter()
            .any(|e| matches!(e, Event::ClientError { .. }))
        {
            return false;
        }
        std::mem::take(&mut self.abort_after_listeners)
    }

    /// The connection failed or was reset by the peer: every request still
    /// receiving its body is aborted (`abortIncoming`).
    pub fn recv_reset(&mut self) {
        self.peer_eof = true;
        let ids: Vec<u64> = self
            .bodies
            .iter()
            .filter(|b| !b.complete && !b.aborted)
            .map(|b| b.id)
            .collect();
        for id in ids {
            self.abort_body(ReqId(id));
        }
        self.reading = Reading::Stopped;
        self.closing = Closing::Now;
    }

    /// One parsing step from `pos`: `Some(consumed)` to go on, `None` when
    /// more input is needed.
    fn step(&mut self, pos: usize, now: Instant) -> Result<Option<usize>, Error> {
        let rest = &self.input[pos..];
        match &mut self.reading {
            Reading::Head => {
                if (self.message_start.is_none() || !self.message_begun)
                    && rest.iter().any(|&b| b != b'\r' && b != b'\n')
                {
                    // on_message_begin: the timers count from the first
                    // byte of the request (on a fresh connection, they
                    // counted from accept until now).
                    self.message_start = Some(now);
                    self.message_begun = true;
                    self.headers_done = false;
                }
                let parsed = match parse_request(rest, &self.cfg.parse) {
                    Err(e)
                        if self.cfg.defer_body_delivery
                            && !self.head_flushed
                            && names_before(rest, e.bytes_parsed().unwrap_or(0))
                                >= FLUSHED_FIELDS =>
                    {
                        // The 32nd field's name was read before the error:
                        // its flush (a tick point) came first.
                        self.head_flushed = true;
                        self.have_flushed = true;
                        self.tick_point = true;
                        return Ok(Some(0));
                    }
                    r => r?,
                };
                match parsed {
                    Status::Partial => Ok(None),
                    Status::Complete(head)
                        if self.cfg.defer_body_delivery
                            && !self.head_flushed
                            && (self.have_flushed || head.headers.len() >= FLUSHED_FIELDS) =>
                    {
                        // Node's binding hands the first 31 fields to
                        // JavaScript when the 32nd begins, and every head
                        // once it has flushed on this connection (`Flush`,
                        // a MakeCallback): the ticks run before the
                        // request is emitted.
                        self.head_flushed = true;
                        self.have_flushed = true;
                        self.tick_point = true;
                        Ok(Some(0))
                    }
                    Status::Complete(head) => {
                        self.head_flushed = false;
                        let used = head.head_len;
                        self.headers_done = true;
                        let invalid_te = head.invalid_transfer_encoding;
                        let upgrade = head.upgrade;
                        let after = self.on_head(head, pos + used, now);
                        // An upgrade leaves llhttp before the check of the
                        // Transfer-Encoding (`llhttp__after_headers_complete`).
                        if invalid_te && !upgrade {
                            // llhttp fails after on_headers_complete: the
                            // request is dispatched, then the error comes.
                            return Err(crate::parse::invalid_transfer_encoding_error(used));
                        }
                        Ok(Some(after.unwrap_or(used)))
                    }
                }
            }
            Reading::Body { id, body } => {
                let id = *id;
                let mut data = Vec::new();
                // One span of data per step in driver mode: each is a
                // tick point.
                let progress = body.decode(rest, &mut data, self.cfg.defer_body_delivery)?;
                let trailers = match body.chunked() {
                    Some(dec) if progress.done => {
                        self.message_keep_alive = dec.connection_after_trailers(
                            self.message_keep_alive,
                            self.message_http11,
                        );
                        dec.trailers().to_vec()
                    }
                    _ => Vec::new(),
                };
                self.push_body(id, data);
                if progress.done {
                    if !trailers.is_empty() && self.cfg.defer_body_delivery {
                        // The trailer fields are flushed to JavaScript
                        // before the completion.
                        self.tick_point = true;
                        self.have_flushed = true;
                    }
                    self.complete(id, trailers, pos + progress.consumed);
                }
                Ok(if progress.consumed == 0 && !progress.done {
                    None
                } else {
                    Some(progress.consumed)
                })
            }
            Reading::Closed => match rest.iter().position(|&b| b != b'\r' && b != b'\n') {
                None => Ok(if rest.is_empty() {
                    None
                } else {
                    Some(rest.len())
                }),
                // llhttp counts the offending byte as parsed.
                Some(at) => Err(Error::parse(
                    crate::error::Parse::ClosedConnection,
                    "Data after `Connection: close`",
                    at + 1,
                )),
            },
            Reading::Raw | Reading::Stopped | Reading::Discard => Ok(None),
        }
    }

    /// `parserOnHeadersComplete` + `parserOnIncoming`. Returns how many
    /// input bytes were used when that is not the head length (an upgrade
    /// takes everything).
    fn on_head(&mut self, head: RequestHead, body_start: usize, now: Instant) -> Option<usize> {
        let id = ReqId(self.next_id);
        self.next_id += 1;
        self.message_keep_alive = head.should_keep_alive;
        self.message_http11 = head.version >= (1, 1);
        self.message_upgrade = head.upgrade;
        self.parser_upgrade = head.upgrade;
        // Not boxed: it moves into the `IncomingMessage` (a box was one
        // more allocation per request).
        let info = RequestInfo {
            header_options: self.cfg.headers,
            headers: OnceLock::new(),
            method: head.method,
            url: head.url,
            version: head.version,
            raw_headers: head.headers,
        };
        // resetSocketTimeout
        if self.keep_alive_timeout_set {
            self.set_socket_timeout(self.cfg.timeout, now);
            self.keep_alive_timeout_set = false;
        }

        let connect = info.method == "CONNECT";
        if head.upgrade {
            let taken = if connect {
                self.cfg.listeners.connect
            } else {
                self.cfg.listeners.upgrade
            };
            if taken {
                let rest = self.input[body_start..].to_vec();
                let used = self.input.len() - (body_start - head.head_len);
                self.reading = Reading::Raw;
                self.message_start = None;
                self.events.push_back(Event::Upgrade {
                    id,
                    info,
                    connect,
                    head: rest,
                });
                return Some(used);
            }
            if !connect && matches!(head.body, BodyKind::None | BodyKind::ContentLength(0)) {
                // llhttp stops after an upgrade message (HPE_PAUSED_UPGRADE);
                // with nobody listening, Node serves it as an ordinary
                // request and drops the rest of that chunk.
                self.skip_rest_of_chunk = true;
            }
            if connect {
                // A CONNECT nobody listens to: socket.destroy().
                self.reading = Reading::Stopped;
                if self.cfg.defer_body_delivery {
                    self.destroy_pending = true;
                } else {
                    self.closing = Closing::Now;
                }
                return Some(self.input.len() - (body_start - head.head_len));
            }
        }

        // The body reader.
        let decoder = Decoder::new(head.body, self.cfg.parse);
        self.bodies.push_back(BodyState {
            id: id.0,
            ..BodyState::default()
        });

        let Preread {
            host,
            te_chunked,
            expect,
        } = info.preread();
        let mut ctx = ResponseContext {
            request_is_head: info.method == "HEAD",
            request_version: info.version,
            request_te_chunked: te_chunked,
            should_keep_alive: head.should_keep_alive,
            expect_continue: false,
            keep_alive_timeout_ms: self.cfg.keep_alive_timeout.as_millis() as u64,
            max_requests_per_socket: self.cfg.max_requests_per_socket,
            max_requests_reached: false,
            reject_non_standard_body_writes: self.cfg.reject_non_standard_body_writes,
            unique_headers: self.cfg.unique_headers.clone(),
        };

        let mut dispatch = Some(Dispatch::Request);
        let mut auto: Option<AutoResponse> = None;
        if info.version == (1, 1) {
            if self.cfg.require_host_header && !host {
                auto = Some(AutoResponse::MissingHost);
                dispatch = None;
            } else {
                let limit = self.cfg.max_requests_per_socket;
                if limit > 0 {
                    self.requests_count += 1;
                    ctx.max_requests_reached = limit <= self.requests_count;
                }
                if limit > 0 && limit < self.requests_count {
                    auto = Some(AutoResponse::Drop);
                    dispatch = None;
                } else if let Some(continue_100) = expect {
                    if continue_100 {
                        ctx.expect_continue = true;
                        dispatch = Some(Dispatch::CheckContinue);
                    } else {
                        dispatch = Some(Dispatch::CheckExpectation);
                    }
                }
            }
        }
        let mut state = ResponseState::reusing(ctx, std::mem::take(&mut self.recycled));
        // A response behind another has no socket yet (Node's
        // state.outgoing queue).
        state.set_socket_attached(self.outgoing.is_empty());
        self.outgoing.push_back(Outgoing {
            id: id.0,
            state,
            pending: Vec::new(),
            ended: false,
            finished: false,
            released: false,
        });
        match decoder {
            Some(body) => self.reading = Reading::Body { id, body },
            // A head that fails right after dispatch (invalid
            // Transfer-Encoding) never completes.
            None if head.invalid_transfer_encoding && !head.upgrade => {}
            None => self.complete_body(id, Vec::new()),
        }
        match (dispatch, auto) {
            (Some(dispatch), _) => {
                self.handlers_unrun += 1;
                self.events.push_back(Event::Request { id, info, dispatch })
            }
            (None, Some(AutoResponse::MissingHost)) => {
                // res.writeHead(400, ['Connection', 'close']); res.end();
                let now_sys = self.date;
                let _ = self.with_response(id, |r, _| {
                    r.write_head(
                        400,
                        None,
                        Some(HeadHeaders::Array(vec![
                            "Connection".into(),
                            "close".into(),
                        ])),
                        now_sys,
                    )
                });
                let _ = self.end(id, None, now_sys);
            }
            (None, _) => {
                self.events.push_back(Event::DropRequest { id, info });
                if !self.assign_pending && self.outgoing.front().map(|o| o.id) == Some(id.0) {
                    self.drop_reply_at = Some(self.out.len());
                }
                let now_sys = self.date;
                let _ = self.with_response(id, |r, _| r.write_head(503, None, None, now_sys));
                let _ = self.end(id, None, now_sys);
            }
        }
        None
    }

    fn body(&self, id: ReqId) -> Option<&BodyState> {
        self.bodies.iter().find(|b| b.id == id.0)
    }

    fn body_mut(&mut self, id: ReqId) -> Option<&mut BodyState> {
        self.bodies.iter_mut().find(|b| b.id == id.0)
    }

    fn push_body(&mut self, id: ReqId, data: Vec<u8>) {
        if data.is_empty() {
            return;
        }
        let defer = self.cfg.defer_body_delivery;
        // on_body is a tick point even for a body nobody reads.
        self.tick_point = defer;
        if let Some(b) = self.body_mut(id) {
            if !b.dumped {
                b.buffered += data.len();
                b.chunks.push_back(data);
                if defer {
                    b.hidden += 1;
                }
            }
        }
    }

    /// Make what the last packet delivered visible to the body readers. The
    /// driver calls this once the listeners of the packet's requests had
    /// their first run (at the end of the packet, or at a tick point), and
    /// first carries out a destroy that waited for them (a `CONNECT`
    /// nobody listens to). If the connection was destroyed meanwhile (a parse
    /// error later in the same packet), a request still owed its response
    /// is aborted instead (Node's `abortIncoming`): its `'data'` and
    /// `'end'` never come. Returns whether anything changed.
    pub fn publish_bodies(&mut self) -> bool {
        if std::mem::take(&mut self.destroy_pending) {
            self.destroy();
        }
        let mut changed = false;
        if std::mem::take(&mut self.assign_pending) {
            self.assign_next();
            // The next one may have ended while it waited.
            self.advance();
            changed = true;
        }
        self.finished_in_packet = false;
        let destroyed = self.closing == Closing::Now;
        let mut aborts = Vec::new();
        for b in &mut self.bodies {
            let pending = b.hidden > 0 || (b.complete && !b.complete_visible);
            if !pending {
                continue;
            }
            changed = true;
            let owed = !self.finished.iter().any(|f| f.0 == b.id);
            if destroyed && owed && !b.aborted && !b.dumped {
                for _ in 0..b.hidden {
                    if let Some(c) = b.chunks.pop_back() {
                        b.buffered -= c.len();
                    }
                }
                b.hidden = 0;
                // req.complete stays as parsed; 'aborted' comes instead of
                // 'end' (IncomingMessage._destroy: not readableEnded).
                b.aborted = true;
                aborts.push(b.id);
            } else {
                b.hidden = 0;
                b.complete_visible = b.complete;
            }
        }
        for id in aborts {
            self.events.push_back(Event::Aborted(ReqId(id)));
        }
        changed
    }

    /// The message's last bytes end at `end` in `input`: it completes now,
    /// or after the ticks when the step was a tick point with more input
    /// behind (llhttp's `on_message_complete` follows the `on_body` or
    /// trailer flush that ran them).
    fn complete(&mut self, id: ReqId, trailers: Vec<(String, String)>, end: usize) {
        if self.tick_point && end < self.input.len() {
            self.complete_after_tick = Some((id, trailers));
        } else {
            self.complete_body(id, trailers);
        }
    }

    fn complete_body(&mut self, id: ReqId, trailers: Vec<(String, String)>) {
        // on_message_complete: the connection is no longer active.
        self.message_start = None;
        if std::mem::take(&mut self.message_upgrade) {
            // llhttp pauses after an upgrade message (HPE_PAUSED_UPGRADE)
            // and Node, with nobody listening, drops the rest of the chunk.
            self.skip_rest_of_chunk = true;
        }
        // llhttp__after_message_complete: a message that does not keep the
        // connection alive leaves the parser `closed` (lenient with
        // insecureHTTPParser).
        self.reading = if self.message_keep_alive || self.cfg.parse.insecure {
            Reading::Head
        } else {
            Reading::Closed
        };
        let defer = self.cfg.defer_body_delivery;
        if let Some(b) = self.body_mut(id) {
            b.complete = true;
            b.complete_visible = !defer;
            b.raw_trailers = trailers;
        }
        self.gc_bodies();
    }

    fn abort_body(&mut self, id: ReqId) {
        // Node aborts only the requests still in `state.incoming`: one whose
        // response finished was taken out of it (resOnFinish).
        // Finished, or finished and let go of by the application: no longer
        // in the queue of responses owed.
        let answered = self.response_finished(id) || !self.outgoing.iter().any(|o| o.id == id.0);
        if let Some(b) = self.body_mut(id) {
            if answered && !b.complete {
                b.ended_unfinished = true;
                return;
            }
            if !b.complete && !b.aborted {
                b.aborted = true;
                self.events.push_back(Event::Aborted(id));
            }
        }
    }

    /// Drop body states nobody will read any more.
    fn gc_bodies(&mut self) {
        self.bodies
            .retain(|b| !(b.dumped && (b.complete || b.aborted) && b.chunks.is_empty()));
    }

    fn client_error(&mut self, error: Error, raw_packet: Option<Vec<u8>>) {
        self.reading = Reading::Stopped;
        self.clear_input();
        self.message_start = None;
        let error = match raw_packet {
            Some(p) => error.with_raw_packet(p),
            None => error,
        };
        self.events.push_back(Event::ClientError { error });
    }

    // ------------------------------------------------------------ body reads

    /// Take the next received chunk of a request body. `Ok(None)` means the
    /// body is complete (or nothing is buffered yet: see
    /// [`body_status`](Self::body_status)).
    pub fn read_body(&mut self, id: ReqId) -> Option<Vec<u8>> {
        let b = self.body_mut(id)?;
        if b.chunks.len() <= b.hidden {
            return None;
        }
        let chunk = b.chunks.pop_front()?;
        b.buffered -= chunk.len();
        Some(chunk)
    }

    /// Where a request body stands.
    pub fn body_status(&self, id: ReqId) -> BodyStatus {
        match self.body(id) {
            None => BodyStatus::Gone,
            Some(b) if b.chunks.len() > b.hidden => BodyStatus::Data,
            Some(b) if b.complete_visible && b.chunks.is_empty() => BodyStatus::Complete,
            // The 'clientError' of the reset that aborted it runs first.
            Some(b) if b.aborted && self.abort_after_listeners => BodyStatus::Waiting,
            Some(b) if b.aborted => BodyStatus::Aborted,
            Some(b) if b.ended_unfinished => BodyStatus::Unfinished,
            // Delivered by the packet being handled: not visible yet.
            Some(b) if b.complete || b.hidden > 0 => BodyStatus::Waiting,
            Some(_) if self.closing == Closing::Now => BodyStatus::Aborted,
            Some(_) => BodyStatus::Waiting,
        }
    }

    /// Where a body stands for an observer that does not read it (Node: a
    /// request with `'end'` and `'aborted'` listeners but no `'data'`
    /// listener, never resumed): `Complete` once it ended without this
    /// observer reading it (dumped as its response finished, or read to
    /// its end by someone else), `Aborted` and `Unfinished` as
    /// [`body_status`](Self::body_status), `Waiting` otherwise.
    pub fn unread_body_status(&self, id: ReqId) -> BodyStatus {
        match self.body(id) {
            // Dumped and collected.
            None => BodyStatus::Complete,
            Some(b) if b.complete_visible && b.chunks.is_empty() && (b.dumped || b.consuming) => {
                BodyStatus::Complete
            }
            // The 'clientError' of the reset that aborted it runs first.
            Some(b) if b.aborted && self.abort_after_listeners => BodyStatus::Waiting,
            Some(b) if b.aborted => BodyStatus::Aborted,
            Some(b) if b.ended_unfinished => BodyStatus::Unfinished,
            // abortIncoming: a request still owed its response and not
            // ended is aborted when the socket closes, complete or not.
            Some(_) if self.closing == Closing::Now => {
                if self.outgoing.iter().any(|o| o.id == id.0) {
                    BodyStatus::Aborted
                } else {
                    BodyStatus::Unfinished
                }
            }
            Some(_) => BodyStatus::Waiting,
        }
    }

    /// Whether a reader started on this body (`req._consuming`); false
    /// once it is gone.
    pub fn body_consumed(&self, id: ReqId) -> bool {
        self.body(id).is_some_and(|b| b.consuming)
    }

    /// Like [`body_status`](Self::body_status), for the reader: marks the
    /// body as being consumed, so that a response finishing first does not
    /// dump it (Node's `req._consuming`).
    pub fn consume_body(&mut self, id: ReqId) -> BodyStatus {
        if let Some(b) = self.body_mut(id) {
            b.consuming = true;
        }
        self.body_status(id)
    }

    /// `req.complete`: the whole message was received (read or not).
    pub fn body_complete(&self, id: ReqId) -> bool {
        // In Node the listener of a request runs before llhttp reaches the
        // end of the message, even when it is in the same packet: its
        // synchronous part sees `complete` false. In driver mode, the end
        // parsed in the packet being handled shows from `publish_bodies` on.
        let defer = self.cfg.defer_body_delivery;
        self.body(id)
            .is_some_and(|b| b.complete && (!defer || b.complete_visible || b.aborted))
    }

    /// The trailers of a complete body (`req.rawTrailers`).
    pub fn raw_trailers(&self, id: ReqId) -> Vec<(String, String)> {
        self.body(id)
            .map(|b| b.raw_trailers.clone())
            .unwrap_or_default()
    }

    /// Nobody will read this body: drop what is buffered and what comes
    /// (`req._dump()`).
    pub fn dump_body(&mut self, id: ReqId) {
        if let Some(b) = self.body_mut(id) {
            b.dumped = true;
            b.chunks.clear();
            b.buffered = 0;
        }
        self.gc_bodies();
    }

    // ------------------------------------------------------------ responses

    /// Run `f` on the response `id` (header calls, properties); `None` if
    /// the response is gone.
    pub fn response(&self, id: ReqId) -> Option<&ResponseState> {
        self.outgoing
            .iter()
            .find(|o| o.id == id.0)
            .map(|o| &o.state)
            .or_else(|| self.finished.iter().find(|f| f.0 == id.0).map(|f| &f.1))
    }

    /// Whether the response holds the socket (Node: `res.socket !== null`):
    /// not while it waits behind another response, nor once the driver
    /// detached it at `'finish'`.
    pub fn response_has_socket(&self, id: ReqId) -> bool {
        self.response(id)
            .is_some_and(ResponseState::socket_attached)
    }

    /// `res.writableLength`: the bytes of the response not handed to the
    /// socket yet (a queued response's head and body), or held by corks.
    /// Bytes written to an uncorked socket count as handed to the kernel.
    pub fn response_writable_length(&self, id: ReqId) -> usize {
        self.outgoing
            .iter()
            .find(|o| o.id == id.0)
            .map_or(0, |o| o.pending.len() + o.state.buffered_len())
    }

    /// Whether everything the response wrote so far is sent: nothing held
    /// by corks or waiting for the socket, and the socket's buffer empty
    /// (when the callback of `write()` runs).
    pub fn response_flushed(&self, id: ReqId) -> bool {
        let held = self
            .outgoing
            .iter()
            .find(|o| o.id == id.0)
            .is_some_and(|o| {
                !o.state.socket_attached() || !o.pending.is_empty() || o.state.buffered_len() > 0
            });
        !held && self.out.is_empty()
    }

    /// The socket timed out (an [`Event::Timeout`] being handled): the
    /// response holding the socket emits `'timeout'` if it has listeners.
    /// Returns whether it had (Node's `socketOnTimeout` then does not
    /// destroy the socket).
    pub fn response_timeout(&mut self) -> bool {
        if self.assign_pending {
            return false;
        }
        match self.outgoing.front_mut() {
            Some(o) if o.state.socket_attached() => o.state.emit_timeout(),
            _ => false,
        }
    }

    /// Whether the response finished (`'finish'` was emitted).
    pub fn response_finished(&self, id: ReqId) -> bool {
        self.finished.iter().any(|f| f.0 == id.0)
    }

    /// The application made another handle on the response (a response
    /// starts with one): [`release_response`](Self::release_response)
    /// forgets it only when every handle is gone.
    pub fn retain_response(&mut self, id: ReqId) {
        match self.extra_handles.iter_mut().find(|h| h.0 == id.0) {
            Some(h) => h.1 += 1,
            None => self.extra_handles.push((id.0, 1)),
        }
    }

    /// The application dropped a handle on the response: forget it if it
    /// was the last.
    pub fn release_response(&mut self, id: ReqId) {
        if let Some(i) = self.extra_handles.iter().position(|h| h.0 == id.0) {
            self.extra_handles[i].1 -= 1;
            if self.extra_handles[i].1 == 0 {
                self.extra_handles.swap_remove(i);
            }
            return;
        }
        if let Some(i) = self.finished.iter().position(|f| f.0 == id.0) {
            // Taken and dropped in place at the end of the list (the order
            // of `finished` does not matter: it is searched by id), not
            // moved out of it.
            let last = self.finished.len() - 1;
            if i != last {
                self.finished.swap(i, last);
            }
            self.recycled = self.finished[last].1.take_buffers();
            self.finished.truncate(last);
        } else if let Some(o) = self.outgoing.iter_mut().find(|o| o.id == id.0) {
            // Not finished yet (queued, or waiting for its socket): it
            // goes when it finishes.
            o.released = true;
        }
    }

    /// Mutable access to a response's state for calls that produce no
    /// bytes (`setHeader`, `writeHead`...).
    pub fn response_mut(&mut self, id: ReqId) -> Option<&mut ResponseState> {
        match self.outgoing.iter_mut().find(|o| o.id == id.0) {
            Some(o) => Some(&mut o.state),
            None => self
                .finished
                .iter_mut()
                .find(|f| f.0 == id.0)
                .map(|f| &mut f.1),
        }
    }

    /// Whether the response may still write (its socket is alive).
    pub fn is_writable(&self) -> bool {
        self.closing == Closing::No
    }

    /// Call `f` with the response and a buffer for its bytes, then route
    /// those bytes: to the socket if the response holds it, else to the
    /// response's pending buffer. Returns `f`'s result and Node's `write()`
    /// return value (false: above `highWaterMark`, wait for drain).
    pub fn with_response<T>(
        &mut self,
        id: ReqId,
        f: impl FnOnce(&mut ResponseState, &mut Vec<u8>) -> T,
    ) -> Option<(T, bool)> {
        // The head of the pipeline holds the socket once assigned.
        let front = !self.assign_pending && self.outgoing.front().map(|o| o.id) == Some(id.0);
        let hwm = self.cfg.high_water_mark;
        let alive = self.closing != Closing::Now;
        let Some(o) = self.outgoing.iter_mut().find(|o| o.id == id.0) else {
            // A finished response: whatever it produces goes nowhere.
            let done = self.finished.iter_mut().find(|d| d.0 == id.0)?;
            let mut bytes = Vec::new();
            return Some((f(&mut done.1, &mut bytes), false));
        };
        // The response appends its bytes where they go: the socket's
        // buffer if it holds the socket, else its own pending buffer (no
        // intermediate buffer per call).
        let ok = if front {
            if alive {
                let r = f(&mut o.state, &mut self.out);
                return Some((r, self.out.len() < hwm));
            }
            let r = f(&mut o.state, &mut Vec::new());
            return Some((r, self.out.len() < hwm));
        } else {
            let r = f(&mut o.state, &mut o.pending);
            (r, o.pending.len() < hwm)
        };
        Some(ok)
    }

    /// `res.end(data)`: frame the end of the response and, if it holds the
    /// socket, finish it (`resOnFinish`).
    pub fn end(
        &mut self,
        id: ReqId,
        data: Option<&[u8]>,
        now: SystemTime,
    ) -> Option<Result<crate::response::WriteOutcome, Error>> {
        self.end_chunk(id, data.map(crate::encode::Chunk::Bytes), now)
    }

    /// [`end`](Self::end) with a chunk that may be a UTF-8 string (see
    /// [`Chunk`](crate::encode::Chunk)).
    pub fn end_chunk(
        &mut self,
        id: ReqId,
        data: Option<crate::encode::Chunk<'_>>,
        now: SystemTime,
    ) -> Option<Result<crate::response::WriteOutcome, Error>> {
        let (r, _) = self.with_response(id, |res, out| res.end_chunk(data, now, out))?;
        if r.is_ok() && self.response(id).is_some_and(ResponseState::writable_ended) {
            if let Some(o) = self.outgoing.iter_mut().find(|o| o.id == id.0) {
                o.ended = true;
            }
            self.advance();
        }
        Some(r)
    }

    /// Finish the responses at the head of the pipeline that have ended.
    fn advance(&mut self) {
        if self.assign_pending {
            // The head of the pipeline gets the socket at the next tick
            // point; it finishes after that.
            return;
        }
        while let Some(o) = self.outgoing.front_mut() {
            if !o.ended {
                return;
            }
            if !o.finished {
                o.finished = true;
                let id = ReqId(o.id);
                let last = o.state.last();
                self.events.push_back(Event::Finish(id));
                if self.cfg.defer_body_delivery {
                    self.finished_in_packet = true;
                }
                if o.released {
                    // Its buffers taken, the state is dropped where it
                    // lies (no move out of the queue).
                    self.recycled = o.state.take_buffers();
                    self.outgoing.drain(..1);
                } else if let Some(done) = self.outgoing.pop_front() {
                    self.finished.push((done.id, done.state));
                }
                // resOnFinish: a body nobody reads is dumped.
                if !self.body(id).is_some_and(|b| b.consuming) {
                    self.dump_body(id);
                }
                if last {
                    // socket.destroySoon(): nothing after this response
                    // reaches the wire, so requests behind it are not read
                    // (Node parses them but their answers never go out).
                    self.end_socket();
                    self.outgoing.clear();
                    if !matches!(self.reading, Reading::Raw) {
                        self.reading = Reading::Stopped;
                        self.clear_input();
                    }
                    return;
                }
                match self.outgoing.front_mut() {
                    None => {
                        // resOnFinish arms the keep-alive timer once the
                        // response's last write completed: here, once the
                        // queued bytes are sent (`transmitted`).
                        if !self.cfg.keep_alive_timeout.is_zero() && self.closing == Closing::No {
                            self.keep_alive_pending = true;
                            if self.out.is_empty() {
                                let at = self.last_activity;
                                self.arm_keep_alive(at);
                            }
                        }
                    }
                    Some(_) if self.cfg.defer_body_delivery => {
                        // 'finish' comes a tick after the last write: the
                        // next response gets the socket then
                        // (`publish_bodies`), one response per tick.
                        self.assign_pending = true;
                        return;
                    }
                    Some(_) => self.assign_next(),
                }
            }
        }
    }

    /// `assignSocket` for the response now at the head of the pipeline:
    /// what it wrote meanwhile goes out, unless the socket was destroyed.
    fn assign_next(&mut self) {
        if let Some(next) = self.outgoing.front_mut() {
            next.state.set_socket_attached(true);
            let mut pending = std::mem::take(&mut next.pending);
            next.state.take_pending(&mut pending);
            if self.closing != Closing::Now {
                self.out.extend_from_slice(&pending);
            }
        }
    }

    /// The response whose head is not yet sent and that holds the socket,
    /// for the default `clientError` reply: Node writes it only when no
    /// response is in flight or its headers are not sent.
    fn in_flight_headers_sent(&self) -> bool {
        // Waiting for its assignment, the next response does not hold the
        // socket yet: the one that finished still does, its head sent.
        self.assign_pending
            || self
                .outgoing
                .front()
                .is_some_and(|o| o.state.headers_sent())
    }

    /// Node's default `clientError` handling (no listener): write 400, 408,
    /// 413 or 431 if the socket is writable and no response head went out,
    /// then destroy the socket.
    pub fn default_client_error(&mut self, error: &Error) {
        // A response that finished during this packet is still the
        // socket's `_httpMessage` in Node ('finish' comes after the write):
        // its head went out, so no reply is written.
        if self.closing == Closing::No && !self.in_flight_headers_sent() && !self.finished_in_packet
        {
            let reply = client_error_response(error);
            self.out.extend_from_slice(reply);
        }
        self.destroy_soon_after_reply();
    }

    fn destroy_soon_after_reply(&mut self) {
        // socket.destroy(e) right after socket.write(): the write is
        // dispatched before the close, so the bytes go out.
        self.reading = Reading::Stopped;
        self.closing = Closing::Now;
    }

    // ------------------------------------------------------------ raw socket

    /// Write bytes on the socket directly (`socket.write()`): the raw
    /// stream after an upgrade, or a `clientError` listener's reply.
    /// Returns false above `highWaterMark`.
    pub fn write_raw(&mut self, data: &[u8]) -> bool {
        if self.closing == Closing::No {
            match &mut self.drop_reply_at {
                Some(at) if *at <= self.out.len() => {
                    self.out.splice(*at..*at, data.iter().copied());
                    *at += data.len();
                }
                _ => self.out.extend_from_slice(data),
            }
        }
        self.out.len() < self.cfg.high_water_mark
    }

    /// Take the raw bytes received after an upgrade.
    pub fn read_raw(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.raw_in)
    }

    /// Whether the peer closed its side.
    pub fn peer_closed(&self) -> bool {
        self.peer_eof
    }

    /// `socket.end()`: send what is queued, then shut down the write side.
    pub fn end_socket(&mut self) {
        if self.closing == Closing::No {
            self.closing = Closing::AfterFlush;
        }
    }

    /// `socket.destroy()`: close now, dropping what is queued.
    pub fn destroy(&mut self) {
        // What is queued gets one write attempt before the close, as Node's
        // socket.write() hands bytes to the kernel at once: a reply written
        // just before destroy() goes out.
        self.closing = Closing::Now;
        // res.destroyed: later writes are refused (ERR_STREAM_DESTROYED).
        for o in &mut self.outgoing {
            o.state.destroy();
        }
        if !matches!(self.reading, Reading::Raw) {
            self.reading = Reading::Stopped;
        }
        let ids: Vec<u64> = self
            .bodies
            .iter()
            .filter(|b| !b.complete && !b.aborted)
            .map(|b| b.id)
            .collect();
        for id in ids {
            self.abort_body(ReqId(id));
        }
    }

    /// How the connection is closing.
    pub fn closing(&self) -> Closing {
        self.closing
    }

    /// Whether an upgrade or `CONNECT` took the connection over (Node no
    /// longer counts it among the server's HTTP connections).
    pub fn is_upgraded(&self) -> bool {
        matches!(self.reading, Reading::Raw)
    }

    /// Whether the connection has no request in progress and no response
    /// in flight, for `server.closeIdleConnections()`. A fresh connection
    /// counts as receiving its first request, so it is not idle.
    pub fn is_idle(&self) -> bool {
        self.message_start.is_none()
            && self.outgoing.is_empty()
            && !matches!(self.reading, Reading::Raw)
    }

    // ------------------------------------------------------------ output

    /// The bytes waiting to be sent.
    pub fn transmit(&self) -> &[u8] {
        &self.out
    }

    /// `n` bytes of [`transmit`](Self::transmit) were sent at `now`.
    pub fn transmitted(&mut self, n: usize, now: Instant) {
        self.out.drain(..n);
        if n > 0 {
            self.touch(now);
            if self.keep_alive_pending && self.out.is_empty() && self.closing == Closing::No {
                self.arm_keep_alive(now);
            }
        }
    }

    /// Whether everything queued is sent (Node's `'drain'`).
    pub fn is_drained(&self) -> bool {
        self.out.is_empty()
    }

    /// A `write()` of response `id` returned false: it emits `'drain'` once
    /// the socket's buffer is written out (`msg[kNeedDrain] = true`).
    pub fn set_need_drain(&mut self, id: ReqId) {
        if !self.need_drain.contains(&id.0) {
            self.need_drain.push(id.0);
        }
    }

    /// `response.writableNeedDrain`: a write returned false, no `'drain'`
    /// came since, and the response is neither finished nor destroyed.
    pub fn need_drain(&self, id: ReqId) -> bool {
        self.need_drain.contains(&id.0)
            && self.closing != Closing::Now
            && self.outgoing.iter().any(|o| o.id == id.0 && !o.ended)
    }

    /// Whether response `id` emits `'drain'` now: it needed one and the
    /// socket's buffer is empty. The need is cleared (Node's `ondrain`).
    pub fn take_drain(&mut self, id: ReqId) -> bool {
        if self.need_drain(id) && self.out.is_empty() {
            self.need_drain.retain(|&n| n != id.0);
            return true;
        }
        false
    }

    /// Whether the driver should shut the write side down now: closing
    /// after flush, and everything is sent.
    pub fn should_shutdown(&self) -> bool {
        self.closing == Closing::AfterFlush && self.out.is_empty() && self.handlers_unrun == 0
    }

    /// A request handler had its first run (the driver calls this once per
    /// [`Event::Request`], after the handler's synchronous part): what it
    /// answered at once is queued before an end of input closes the
    /// connection, as in Node, where listeners run inside the parse.
    pub fn handler_ran(&mut self) {
        self.handlers_unrun = self.handlers_unrun.saturating_sub(1);
    }

    /// Whether the driver has work before it waits for the socket: events
    /// to dispatch, bodies to publish, or a packet paused at a tick point.
    /// Sending can resume parsing that waited for the output to drain
    /// (`highWaterMark`), which queues new requests.
    pub fn needs_listeners(&self) -> bool {
        !self.events.is_empty()
            || self.resume_at.is_some()
            || self
                .bodies
                .iter()
                .any(|b| b.hidden > 0 || (b.complete && !b.complete_visible))
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ------------------------------------------------------------ timers

    fn touch(&mut self, now: Instant) {
        self.last_activity = now;
        if !self.socket_timeout.is_zero() {
            self.timeout_armed = true;
        }
    }

    /// The last response is sent: the socket timeout becomes
    /// `keepAliveTimeout` + 1 s from `now`.
    fn arm_keep_alive(&mut self, now: Instant) {
        self.keep_alive_pending = false;
        self.socket_timeout = self.cfg.keep_alive_timeout + KEEP_ALIVE_TIMEOUT_BUFFER;
        self.last_activity = now;
        self.timeout_armed = true;
        self.keep_alive_timeout_set = true;
    }

    /// `socket.setTimeout(ms)` (zero disables it).
    pub fn set_socket_timeout(&mut self, timeout: Duration, now: Instant) {
        self.socket_timeout = timeout;
        self.last_activity = now;
        self.timeout_armed = !timeout.is_zero();
    }

    /// `socket.timeout`: the inactivity timeout in force (zero: none).
    pub fn socket_timeout(&self) -> Duration {
        self.socket_timeout
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.timeout_armed && self.closing != Closing::Now {
            Some(self.last_activity + self.socket_timeout)
        } else {
            None
        }
    }

    /// Fire the socket timer if it is due (`'timeout'`).
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(deadline) = self.poll_timeout() {
            if now >= deadline {
                self.timeout_armed = false;
                self.events.push_back(Event::Timeout);
            }
        }
    }

    /// Node's `checkConnections`, run every `connectionsCheckingInterval`:
    /// a message whose head is still incomplete after `headers_timeout`, or
    /// which is still incomplete after `request_timeout`, fails with
    /// `ERR_HTTP_REQUEST_TIMEOUT` (zero disables each).
    pub fn check_expired(
        &mut self,
        now: Instant,
        headers_timeout: Duration,
        request_timeout: Duration,
    ) {
        let Some(start) = self.message_start else {
            return;
        };
        let elapsed = now.saturating_duration_since(start);
        let headers = !headers_timeout.is_zero() && !self.headers_done && elapsed > headers_timeout;
        let request = !request_timeout.is_zero() && elapsed > request_timeout;
        if headers || request {
            self.client_error(crate::error::Error::request_timeout(), None);
        }
    }
}

/// Where a request body stands, for readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyStatus {
    /// A chunk is ready.
    Data,
    /// Nothing buffered yet; more will come.
    Waiting,
    /// The whole body was read.
    Complete,
    /// The peer went away before the end.
    Aborted,
    /// The connection ended before the body, but after the response: Node
    /// reports neither `'end'` nor `'aborted'`.
    Unfinished,
    /// The request is gone (dumped).
    Gone,
}

enum AutoResponse {
    MissingHost,
    Drop,
}

/// `/(?:^|\W)100-continue(?:$|\W)/i`.
fn has_100_continue(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    lower.match_indices("100-continue").any(|(i, m)| {
        (i == 0 || !word(bytes[i - 1])) && (i + m.len() == bytes.len() || !word(bytes[i + m.len()]))
    })
}

/// The bytes Node writes for a `clientError` nobody listens to.
pub fn client_error_response(error: &Error) -> &'static [u8] {
    match error.code() {
        "HPE_HEADER_OVERFLOW" => {
            b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n"
        }
        "HPE_CHUNK_EXTENSIONS_OVERFLOW" => {
            b"HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n\r\n"
        }
        "ERR_HTTP_REQUEST_TIMEOUT" => b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n",
        _ => b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n",
    }
}

impl PartialEq for Reading {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
