//! `nodehttp-fuzzing`: the fuzz targets on the protocol core
//! (`nodehttp-proto`) as plain functions, with the invariants they check.
//!
//! The libFuzzer binaries in `fuzz/` call these functions, and so do the
//! seed-corpus tests of `cargo test` (`fuzz/seeds`), so a find reproduces
//! without the fuzz toolchain. Every function panics when an invariant breaks; a panic is a
//! finding.
//!
//! The byte-oriented targets ([`parse_request`], [`parse_response`],
//! [`chunked_decoder`], [`websocket_frames`]) take their input as the wire bytes themselves, so
//! that raw requests (the fixtures' corpus) are good seeds; the few knobs
//! they turn (split points, a small `maxHeaderSize`, `insecureHTTPParser`)
//! come from a hash of the input. The structured targets ([`validators`],
//! [`headers`], [`connection`], [`client_connection`]) decode their input
//! with `arbitrary`; the two connection targets after a length-prefixed
//! byte stream, so that the fixtures' requests and responses are seeds.

use std::time::{Duration, Instant, SystemTime};

use arbitrary::{Arbitrary, Unstructured};

use nodehttp_proto::chunked::ChunkedDecoder;
use nodehttp_proto::client::conn::{ClientConn, ResponseEvent};
use nodehttp_proto::conn::{Closing, ConnConfig, Connection, Event, ReqId, MAX_PIPELINED};
use nodehttp_proto::headers::{HeaderMap, HeaderOptions, HeaderValue, DISCARD_DUPLICATES};
use nodehttp_proto::parse::{self, BodyKind, ParseOptions, ResponseHead, Status};
use nodehttp_proto::validate;
use nodehttp_proto::websocket::receiver as ws_receiver;

/// FNV-1a: the knobs of the byte-oriented targets, from their input.
fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The parser options a target runs with: the default, a small
/// `maxHeaderSize`, and `insecureHTTPParser`.
fn option_sets(h: u64) -> [ParseOptions; 3] {
    [
        ParseOptions::default(),
        ParseOptions {
            max_header_size: 16 + (h % 256) as usize,
            insecure: false,
        },
        ParseOptions {
            max_header_size: parse::DEFAULT_MAX_HEADER_SIZE,
            insecure: true,
        },
    ]
}

/// Checks that a head parser is restartable: on every prefix it answers
/// `Partial`, the same error, or (once the head is in) the same head.
fn check_prefixes<T: PartialEq + std::fmt::Debug>(
    data: &[u8],
    h: u64,
    parse: impl Fn(&[u8]) -> Result<Status<T>, nodehttp_proto::Error>,
    head_len: impl Fn(&T) -> usize,
) {
    let whole = parse(data);
    let cuts = [
        h as usize % (data.len() + 1),
        data.len() / 2,
        data.len().saturating_sub(1),
    ];
    for cut in cuts {
        let prefix = parse(&data[..cut]);
        match (&whole, &prefix) {
            (_, Ok(Status::Partial)) => {}
            // Which error comes first may depend on where the input is cut
            // when one is the header-size limit: llhttp counts a span when
            // it ends or when the buffer does.
            (Err(w), Err(p)) if w.is_header_overflow() || p.is_header_overflow() => {}
            (Err(w), Err(p)) => assert_eq!(w.code(), p.code(), "prefix of {cut} bytes"),
            (Ok(Status::Complete(w)), Ok(Status::Complete(p))) => {
                assert_eq!(w, p, "prefix of {cut} bytes")
            }
            (w, p) => panic!("prefix of {cut} bytes: {p:?}, whole input: {w:?}"),
        }
    }
    if let Ok(Status::Complete(head)) = &whole {
        let n = head_len(head);
        assert!(n <= data.len(), "head_len {n} beyond the input");
        match parse(&data[..n]) {
            Ok(Status::Complete(again)) => assert_eq!(&again, head, "the head alone"),
            // A head ending in a bare CR (lenient parsing) is complete only
            // once the next byte shows it is not an LF.
            Ok(Status::Partial) if data[n - 1] == b'\r' => {}
            other => panic!("the head alone ({n} bytes) parses as {other:?}"),
        }
    }
}

/// `parse_request` on any bytes: no panic, restartable, a complete head is
/// within the input, `Content-Length` bodies and `Transfer-Encoding` never
/// both, and the strict parser accepts nothing the lenient one refuses.
pub fn parse_request(data: &[u8]) {
    let h = hash(data);
    for opts in option_sets(h) {
        check_prefixes(data, h, |b| parse::parse_request(b, &opts), |r| r.head_len);
        if let Ok(Status::Complete(head)) = parse::parse_request(data, &opts) {
            assert!(!head.method.is_empty(), "an empty method");
            if !opts.insecure {
                let te = head
                    .headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"));
                let cl = head
                    .headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("content-length"));
                assert!(
                    !(te && cl),
                    "Content-Length with Transfer-Encoding accepted"
                );
                let lenient = ParseOptions {
                    insecure: true,
                    ..opts
                };
                assert!(
                    parse::parse_request(data, &lenient).is_ok(),
                    "the lenient parser refuses what the strict one accepts"
                );
            }
        }
    }
}

/// `parse_response` on any bytes, for a GET and a HEAD: no panic,
/// restartable, and a HEAD response never has a body.
pub fn parse_response(data: &[u8]) {
    let h = hash(data);
    for opts in option_sets(h) {
        for method in ["GET", "HEAD", "CONNECT"] {
            check_prefixes(
                data,
                h,
                |b| parse::parse_response(b, method, &opts),
                |r| r.head_len,
            );
            if let Ok(Status::Complete(head)) = parse::parse_response(data, method, &opts) {
                // Three digits: llhttp (and Node, as statusCode 0) takes
                // `000` too.
                assert!(head.status <= 999, "status {}", head.status);
                if method == "HEAD" {
                    assert_eq!(head.body, BodyKind::None, "a body for HEAD");
                }
            }
        }
    }
}

/// What decoding a chunked body gave.
#[derive(Debug, PartialEq)]
struct Decoded {
    body: Vec<u8>,
    outcome: Result<(usize, bool), &'static str>,
    trailers: Vec<(String, String)>,
}

/// Feeds `data` to a decoder in pieces cut at `cuts`.
fn decode_in_pieces(data: &[u8], cuts: &[usize], opts: ParseOptions) -> Decoded {
    let mut d = ChunkedDecoder::new(opts);
    let mut body = Vec::new();
    let mut start = 0;
    let mut consumed = 0;
    let mut pieces: Vec<usize> = cuts.iter().copied().filter(|&c| c < data.len()).collect();
    pieces.sort_unstable();
    pieces.push(data.len());
    for end in pieces {
        if end < start {
            continue;
        }
        let piece = &data[start..end];
        let before = body.len();
        match d.decode(piece, &mut body) {
            Err(e) => {
                return Decoded {
                    body,
                    outcome: Err(e.code()),
                    trailers: Vec::new(),
                }
            }
            Ok(p) => {
                assert!(p.consumed <= piece.len(), "consumed beyond the piece");
                assert!(
                    body.len() - before <= p.consumed,
                    "more body than bytes consumed"
                );
                assert!(
                    p.done || p.consumed == piece.len(),
                    "input left before the end"
                );
                consumed += p.consumed;
                if p.done {
                    assert!(d.is_done());
                    return Decoded {
                        body,
                        outcome: Ok((consumed, true)),
                        trailers: d.trailers().to_vec(),
                    };
                }
            }
        }
        start = end;
    }
    Decoded {
        body,
        outcome: Ok((consumed, false)),
        trailers: Vec::new(),
    }
}

/// Two decodings of the same bytes agree, except that which error comes
/// first may depend on the pieces when one is the size limit of trailers
/// or extensions (llhttp counts a span when it ends or when the buffer does).
fn same_decoding(a: &Decoded, b: &Decoded, how: &str) {
    let limit = |d: &Decoded| {
        matches!(
            d.outcome,
            Err("HPE_HEADER_OVERFLOW" | "HPE_CHUNK_EXTENSIONS_OVERFLOW")
        )
    };
    if a.outcome.is_err() && b.outcome.is_err() && (limit(a) || limit(b)) {
        return;
    }
    assert_eq!(a, b, "{how}");
}

/// The chunked decoder on any bytes: no panic, the same body, trailers and
/// outcome however the input is split (whole, at two hashed points, byte by
/// byte), and never more body than input.
pub fn chunked_decoder(data: &[u8]) {
    let h = hash(data);
    for opts in option_sets(h) {
        let whole = decode_in_pieces(data, &[], opts);
        assert!(whole.body.len() <= data.len());
        let n = data.len() + 1;
        let two = decode_in_pieces(data, &[h as usize % n, (h >> 32) as usize % n], opts);
        same_decoding(&whole, &two, "split in three");
        if data.len() <= 512 {
            let every: Vec<usize> = (1..data.len()).collect();
            same_decoding(
                &whole,
                &decode_in_pieces(data, &every, opts),
                "byte by byte",
            );
        }
    }
}

/// Input of [`validators`].
#[derive(Debug, Arbitrary)]
struct ValidatorInput {
    name: String,
    value: Option<String>,
}

/// `validateHeaderName` / `validateHeaderValue` on any strings: no panic,
/// and the answer is RFC 9110's token rule for names and Node's
/// `/[^\t\x20-\x7e\x80-\xff]/` for values, with Node's error codes.
pub fn validators(data: &[u8]) {
    let Ok(input) = ValidatorInput::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let name_ok = !input.name.is_empty() && input.name.chars().all(tchar);
    match validate::validate_header_name(&input.name) {
        Ok(()) => assert!(name_ok, "name {:?} accepted", input.name),
        Err(e) => {
            assert!(!name_ok, "name {:?} refused", input.name);
            assert_eq!(e.code(), "ERR_INVALID_HTTP_TOKEN");
        }
    }
    let value_ok = |v: &str| {
        v.chars()
            .all(|c| matches!(c as u32, 0x09 | 0x20..=0x7e | 0x80..=0xff))
    };
    match (
        validate::validate_header_value(&input.name, input.value.as_deref()),
        &input.value,
    ) {
        (Ok(()), Some(v)) => assert!(value_ok(v), "value {v:?} accepted"),
        (Ok(()), None) => panic!("an undefined value accepted"),
        (Err(e), None) => assert_eq!(e.code(), "ERR_HTTP_INVALID_HEADER_VALUE"),
        (Err(e), Some(v)) => {
            assert!(!value_ok(v), "value {v:?} refused");
            assert_eq!(e.code(), "ERR_INVALID_CHAR");
        }
    }
}

/// Input of [`headers`].
#[derive(Debug, Arbitrary)]
struct HeadersInput {
    join_duplicate_headers: bool,
    max_headers_count: Option<u8>,
    /// Names drawn from a small set (so that duplicates happen) or free.
    raw: Vec<(NameChoice, String)>,
}

#[derive(Debug, Arbitrary)]
enum NameChoice {
    Known(u8),
    Free(String),
}

/// Names with a rule of their own, in several cases.
const KNOWN_NAMES: &[&str] = &[
    "Set-Cookie",
    "set-cookie",
    "Cookie",
    "COOKIE",
    "Host",
    "host",
    "Content-Length",
    "User-Agent",
    "X-A",
    "x-a",
    "__proto__",
    "__PROTO__",
    "Accept",
    "accept",
];

/// The header-object builder on any raw pairs: no panic, and the objects
/// are Node's: names lower-cased in order of first appearance, `set-cookie`
/// an array, `cookie` joined with `"; "`, the discard list first-wins
/// unless joined, the rest joined with `", "`, `__proto__` absent from
/// `headers`; `headersDistinct` keeps every value.
pub fn headers(data: &[u8]) {
    let Ok(input) = HeadersInput::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let raw: Vec<(String, String)> = input
        .raw
        .into_iter()
        .map(|(n, v)| match n {
            NameChoice::Known(i) => (KNOWN_NAMES[i as usize % KNOWN_NAMES.len()].to_owned(), v),
            NameChoice::Free(n) => (n, v),
        })
        .collect();
    let opts = HeaderOptions {
        join_duplicate_headers: input.join_duplicate_headers,
        max_headers_count: input.max_headers_count.map(usize::from),
    };
    let map = HeaderMap::from_raw(raw.iter().cloned(), opts);
    let distinct = HeaderMap::distinct_from_raw(raw.iter().cloned(), opts);
    let used = &raw[..raw.len().min(opts.max_headers_count.unwrap_or(usize::MAX))];

    // The expected objects, computed independently.
    let mut keys: Vec<String> = Vec::new();
    for (n, _) in used {
        let k = n.to_lowercase();
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let distinct_keys: Vec<&str> = distinct.iter().map(|(k, _)| k).collect();
    assert_eq!(distinct_keys, keys, "headersDistinct keys");
    for k in &keys {
        let values: Vec<&str> = used
            .iter()
            .filter(|(n, _)| n.to_lowercase() == *k)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(
            distinct.get(k),
            Some(&HeaderValue::Multi(
                values.iter().map(|v| v.to_string()).collect()
            )),
            "headersDistinct[{k:?}]"
        );
        let expected = if k == "__proto__" {
            None
        } else if k == "set-cookie" {
            Some(HeaderValue::Multi(
                values.iter().map(|v| v.to_string()).collect(),
            ))
        } else if k == "cookie" {
            Some(HeaderValue::Single(values.join("; ")))
        } else if DISCARD_DUPLICATES.contains(&k.as_str()) && !opts.join_duplicate_headers {
            Some(HeaderValue::Single(values[0].to_owned()))
        } else {
            Some(HeaderValue::Single(values.join(", ")))
        };
        assert_eq!(map.get(k), expected.as_ref(), "headers[{k:?}]");
    }
    let map_keys: Vec<&str> = map.iter().map(|(k, _)| k).collect();
    let expected_keys: Vec<&str> = keys
        .iter()
        .map(String::as_str)
        .filter(|k| *k != "__proto__")
        .collect();
    assert_eq!(map_keys, expected_keys, "headers keys");
}

/// One step of the [`connection`] target.
#[derive(Debug, Clone, Arbitrary)]
pub enum Op {
    /// Receive the next `n % left + 1` bytes of the stream, if the
    /// connection wants to read.
    Recv(u16),
    /// Time passes (milliseconds); timers fire.
    Advance(u16),
    /// The peer half-closes.
    Eof,
    /// The peer resets the connection.
    Reset,
    /// The application writes to the `i`-th open response (`n` bytes).
    Write(u8, u8),
    /// The application ends the `i`-th open response, with a body or not.
    End(u8, bool),
    /// The application reads what arrived of the `i`-th request's body.
    ReadBody(u8),
    /// The bytes queued for the peer are sent (`n` of them, or all).
    Transmit(Option<u16>),
}

/// Settings of the connection under test.
#[derive(Debug, Clone, Arbitrary)]
pub struct ConnSettings {
    /// `maxHeaderSize` is small (64..=1087) rather than the default.
    pub small_header_size: Option<u16>,
    /// `insecureHTTPParser`.
    pub insecure: bool,
    /// `highWaterMark` of 1..=4096 rather than 16 KiB.
    pub small_high_water_mark: Option<u16>,
    /// `requireHostHeader`.
    pub require_host_header: bool,
    /// `maxRequestsPerSocket`.
    pub max_requests_per_socket: u8,
    /// `server.timeout` in ms (0 = none).
    pub timeout: u8,
}

impl Default for ConnSettings {
    fn default() -> Self {
        ConnSettings {
            small_header_size: None,
            insecure: false,
            small_high_water_mark: None,
            require_host_header: true,
            max_requests_per_socket: 0,
            timeout: 0,
        }
    }
}

/// A request the application was given.
struct Seen {
    id: ReqId,
    /// Its `Content-Length`, when that frames the body.
    content_length: Option<u64>,
    body: Vec<u8>,
    ended: bool,
}

/// The state of a [`connection`] run.
struct Run {
    c: Connection,
    now: Instant,
    stream: Vec<u8>,
    fed: usize,
    largest_recv: usize,
    hwm: usize,
    /// The most an unfinished head may hold.
    max_head: usize,
    seen: Vec<Seen>,
    written: Vec<u8>,
    error_replied: bool,
    reset: bool,
}

impl Run {
    fn new(settings: &ConnSettings, stream: Vec<u8>) -> Run {
        let mut cfg = ConnConfig::default();
        if let Some(n) = settings.small_header_size {
            cfg.parse.max_header_size = 64 + usize::from(n % 1024);
        }
        cfg.parse.insecure = settings.insecure;
        if let Some(n) = settings.small_high_water_mark {
            cfg.high_water_mark = 1 + usize::from(n % 4096);
        }
        cfg.require_host_header = settings.require_host_header;
        cfg.max_requests_per_socket = u32::from(settings.max_requests_per_socket % 4);
        cfg.timeout = Duration::from_millis(u64::from(settings.timeout));
        let hwm = cfg.high_water_mark;
        let max_head = parse::max_buffered_head(cfg.parse.max_header_size);
        let now = Instant::now();
        Run {
            c: Connection::new(cfg, now),
            now,
            stream,
            fed: 0,
            largest_recv: 0,
            hwm,
            max_head,
            seen: Vec::new(),
            written: Vec::new(),
            error_replied: false,
            reset: false,
        }
    }

    /// Handle the events, as a server with no optional listener does.
    fn events(&mut self) {
        while let Some(ev) = self.c.poll_event() {
            match ev {
                Event::Request { id, info, .. } => {
                    let content_length = match info.headers().get("content-length") {
                        Some(HeaderValue::Single(v))
                            if info.headers().get("transfer-encoding").is_none() =>
                        {
                            v.trim().parse().ok()
                        }
                        _ => None,
                    };
                    self.seen.push(Seen {
                        id,
                        content_length,
                        body: Vec::new(),
                        ended: false,
                    });
                }
                Event::ClientError { error, .. } => {
                    self.c.default_client_error(&error);
                    self.error_replied = true;
                }
                Event::Timeout | Event::Upgrade { .. } => self.c.destroy(),
                Event::DropRequest { .. } | Event::Aborted(_) | Event::Finish(_) => {}
            }
        }
        if self.error_replied {
            assert_ne!(
                self.c.closing(),
                Closing::No,
                "still open after a client error"
            );
        }
        // What llhttp skips uncounted is not held: an unfinished head stays
        // under its bound, plus the rest of one read at a tick point.
        assert!(
            self.c.unparsed() <= self.max_head + self.largest_recv,
            "{} bytes unparsed (largest read {})",
            self.c.unparsed(),
            self.largest_recv
        );
        // A packet is parsed to its end, as Node does, and no head is read
        // from the next while MAX_PIPELINED requests wait: beyond that, only
        // the heads of one read (16 bytes at the least each) can wait.
        let waiting = self.seen.iter().filter(|s| !s.ended).count();
        assert!(
            waiting < MAX_PIPELINED + self.largest_recv / 16 + 1,
            "{waiting} requests waiting for their response (largest read {})",
            self.largest_recv
        );
    }

    fn open(&self, i: u8) -> Option<usize> {
        let open: Vec<usize> = (0..self.seen.len())
            .filter(|&k| !self.seen[k].ended)
            .collect();
        (!open.is_empty()).then(|| open[usize::from(i) % open.len()])
    }

    fn read_body(&mut self, k: usize) {
        let id = self.seen[k].id;
        let mut unread = 0;
        while let Some(chunk) = self.c.read_body(id) {
            unread += chunk.len();
            self.seen[k].body.extend_from_slice(&chunk);
        }
        // Backpressure: unread body never exceeds highWaterMark by more
        // than one read from the socket.
        assert!(
            unread <= self.hwm + self.largest_recv,
            "{unread} body bytes buffered (highWaterMark {}, largest read {})",
            self.hwm,
            self.largest_recv
        );
        let s = &self.seen[k];
        if self.c.body_complete(id) {
            if let Some(n) = s.content_length {
                assert_eq!(s.body.len() as u64, n, "body length vs Content-Length");
            }
        }
        if s.content_length.is_some() && !s.body.is_empty() {
            assert!(
                self.stream[..self.fed]
                    .windows(s.body.len())
                    .any(|w| w == &s.body[..]),
                "a Content-Length body that is not a piece of the input"
            );
        }
        assert!(s.body.len() <= self.fed, "more body than input");
    }

    fn transmit(&mut self, n: Option<u16>) {
        let out = self.c.transmit();
        let n = n.map_or(out.len(), |n| usize::from(n).min(out.len()));
        self.written.extend_from_slice(&out[..n]);
        self.c.transmitted(n, self.now);
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Recv(n) => {
                let left = self.stream.len() - self.fed;
                if left > 0 && self.c.wants_read() {
                    let n = usize::from(n) % left + 1;
                    self.largest_recv = self.largest_recv.max(n);
                    let piece = self.stream[self.fed..self.fed + n].to_vec();
                    self.fed += n;
                    self.c.recv(&piece, self.now);
                }
            }
            Op::Advance(ms) => {
                self.now += Duration::from_millis(u64::from(ms));
                self.c.handle_timeout(self.now);
                self.c.check_expired(
                    self.now,
                    Duration::from_millis(2_000),
                    Duration::from_millis(10_000),
                );
            }
            Op::Eof => self.c.recv_eof(self.now),
            Op::Reset => {
                self.c.recv_reset();
                self.reset = true;
            }
            Op::Write(i, n) => {
                if let Some(k) = self.open(i) {
                    let data = vec![b'w'; usize::from(n)];
                    let _ = self.c.with_response(self.seen[k].id, |r, out| {
                        r.write(&data, SystemTime::UNIX_EPOCH, out)
                    });
                }
            }
            Op::End(i, body) => {
                if let Some(k) = self.open(i) {
                    let body = body.then_some(&b"done"[..]);
                    let _ = self.c.end(self.seen[k].id, body, SystemTime::UNIX_EPOCH);
                    self.seen[k].ended = true;
                }
            }
            Op::ReadBody(i) => {
                if !self.seen.is_empty() {
                    self.read_body(usize::from(i) % self.seen.len());
                }
            }
            Op::Transmit(n) => self.transmit(n),
        }
        self.events();
    }

    /// After the script: read every body, answer every request, feed what
    /// is left, then close, until nothing moves.
    fn finish(&mut self) {
        for _ in 0..(self.stream.len() + 4 * MAX_PIPELINED) {
            let before = (self.fed, self.seen.len(), self.written.len());
            for k in 0..self.seen.len() {
                self.read_body(k);
                if !self.seen[k].ended {
                    let id = self.seen[k].id;
                    let _ = self.c.end(id, Some(b"ok"), SystemTime::UNIX_EPOCH);
                    self.seen[k].ended = true;
                }
            }
            self.events();
            self.transmit(None);
            self.apply(&Op::Recv(u16::MAX));
            if (self.fed, self.seen.len(), self.written.len()) == before {
                break;
            }
        }
        self.apply(&Op::Eof);
        for k in 0..self.seen.len() {
            self.read_body(k);
        }
        self.events();
        self.transmit(None);
    }
}

/// Parses `bytes` as the responses a server wrote: complete HTTP/1.1
/// responses, each to a GET or a HEAD, then possibly one cut short.
/// Returns whether the last one is cut short.
pub fn check_responses(bytes: &[u8]) -> Result<bool, String> {
    let opts = ParseOptions::default();
    // The offsets where a response may start, each reached by reading the
    // one before as the answer to a GET or to a HEAD.
    let mut todo = vec![0];
    let mut seen = std::collections::BTreeSet::new();
    let mut cut = false;
    let mut first_error = None;
    while let Some(at) = todo.pop() {
        if at == bytes.len() {
            return Ok(false);
        }
        if !seen.insert(at) {
            continue;
        }
        for method in ["GET", "HEAD"] {
            match one_response(&bytes[at..], method, &opts) {
                Ok(Some(n)) => todo.push(at + n),
                Ok(None) => cut = true,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    match first_error {
        Some(e) if !cut => Err(e),
        _ => Ok(true),
    }
}

/// One response: `Some(length)`, `None` if cut short.
fn one_response(bytes: &[u8], method: &str, opts: &ParseOptions) -> Result<Option<usize>, String> {
    let head = match parse::parse_response(bytes, method, opts) {
        Ok(Status::Complete(h)) => h,
        Ok(Status::Partial) => return Ok(None),
        Err(e) => {
            return Err(format!(
                "{e} ({}): {:?}",
                e.code(),
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            ))
        }
    };
    if head.version != (1, 1) {
        return Err(format!("version {:?}", head.version));
    }
    let rest = &bytes[head.head_len..];
    Ok(match head.body {
        BodyKind::None => Some(head.head_len),
        BodyKind::ContentLength(n) => {
            let n = usize::try_from(n).map_err(|e| e.to_string())?;
            (rest.len() >= n).then_some(head.head_len + n)
        }
        BodyKind::Chunked => {
            let mut d = ChunkedDecoder::new(*opts);
            let mut body = Vec::new();
            let p = d.decode(rest, &mut body).map_err(|e| e.to_string())?;
            p.done.then_some(head.head_len + p.consumed)
        }
        BodyKind::UntilEof => Some(bytes.len()),
    })
}

/// Runs `ops` against a connection receiving `stream`, then answers and
/// closes everything (see [`connection`] for what is checked).
pub fn run_connection(settings: &ConnSettings, stream: &[u8], ops: &[Op]) {
    let mut run = Run::new(settings, stream.to_vec());
    for op in ops {
        run.apply(op);
    }
    run.finish();
    let cut = check_responses(&run.written).unwrap_or_else(|e| panic!("the output: {e}"));
    if cut {
        // Only a connection destroyed mid-response leaves one cut short.
        assert_eq!(run.c.closing(), Closing::Now, "a response cut short");
    }
    if run.error_replied || run.reset {
        assert_ne!(run.c.closing(), Closing::No);
    }
}

/// The stateful target: the input is a little-endian `u16` length `L`, `L`
/// bytes of request stream, then the [`Op`]s and [`ConnSettings`] (decoded
/// with `arbitrary`; none is fine: the stream is then received in one
/// piece). Checks: no panic; every byte written parses as HTTP/1.1
/// responses; after an error reply the connection closes; a body framed by
/// `Content-Length` arrives whole and as sent; unread body bytes stay under
/// `highWaterMark` plus one read; at most [`MAX_PIPELINED`] requests plus
/// the heads of one read wait for a response.
pub fn connection(data: &[u8]) {
    let (stream, rest) = split_stream(data);
    let mut u = Unstructured::new(rest);
    let settings = ConnSettings::arbitrary(&mut u).unwrap_or_default();
    let ops = Vec::<Op>::arbitrary_take_rest(u).unwrap_or_default();
    run_connection(&settings, stream, &ops);
}

/// Splits a [`connection`] or [`client_connection`] input into its stream
/// and the rest.
fn split_stream(data: &[u8]) -> (&[u8], &[u8]) {
    if data.len() < 2 {
        return (&[], data);
    }
    let len = usize::from(u16::from_le_bytes([data[0], data[1]])).min(data.len() - 2);
    data[2..].split_at(len)
}

/// A [`connection`] input for a request stream (what the seed corpus holds).
pub fn connection_input(stream: &[u8]) -> Vec<u8> {
    let len = u16::try_from(stream.len()).unwrap_or(u16::MAX);
    let mut v = len.to_le_bytes().to_vec();
    v.extend_from_slice(&stream[..usize::from(len)]);
    v
}

/// The methods of the [`client_connection`] target's requests: those that
/// change how an answer is read (`HEAD`: no body; `CONNECT`: any answer
/// detaches the socket) and two that do not.
const CLIENT_METHODS: [&str; 4] = ["GET", "HEAD", "CONNECT", "POST"];

/// A request of the [`client_connection`] target.
///
/// A request's `Upgrade` header changes nothing in how its answer is read:
/// [`ClientConn`] takes the method only, as Node 23.5.0's parser decides
/// `upgrade` from the answer alone (llhttp: 101 with `Upgrade` and
/// `Connection: upgrade`). What such a request changes is that its
/// connection is not reused, which `close` stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ClientRequest {
    method: &'static str,
    /// The request said `Connection: close` (or asked for an upgrade): the
    /// connection is not reused after its answer.
    close: bool,
}

impl ClientRequest {
    /// The default: a `GET` on a keep-alive connection.
    const GET: ClientRequest = ClientRequest {
        method: "GET",
        close: false,
    };

    /// From one byte: the method in the low two bits, `close` in `0x80`.
    fn from_byte(b: u8) -> ClientRequest {
        ClientRequest {
            method: CLIENT_METHODS[usize::from(b & 3)],
            close: b & 0x80 != 0,
        }
    }

    /// The byte of a keep-alive request with `method` (other methods read
    /// their answers as `POST` does).
    fn byte(method: &str) -> u8 {
        CLIENT_METHODS
            .iter()
            .position(|m| m.eq_ignore_ascii_case(method))
            .unwrap_or(3) as u8
    }
}

/// Settings of the [`client_connection`] target.
#[derive(Debug, Clone, Default, Arbitrary)]
pub struct ClientSettings {
    /// `maxHeaderSize` is small (16..=1039) rather than the default.
    pub small_header_size: Option<u16>,
    /// `insecureHTTPParser`.
    pub insecure: bool,
}

/// One step of the [`client_connection`] target.
#[derive(Debug, Clone, Arbitrary)]
pub enum ClientOp {
    /// The next `n % left + 1` bytes of the stream arrive.
    Recv(u16),
    /// The server closes the connection: the rest never arrives.
    Eof,
}

/// What an answer produced ([`ResponseEvent`]s, consecutive data joined).
#[derive(Debug, Clone, PartialEq)]
enum Got {
    Information(ResponseHead),
    Head(ResponseHead),
    Data(Vec<u8>),
    End(Vec<(String, String)>),
    /// The head and every byte after it, as the socket's new owner sees them.
    Upgrade(ResponseHead, Vec<u8>),
    Error(&'static str),
}

/// The reading of one answer, following its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Head,
    Body,
    Ended,
    Stopped,
}

/// What one feeding of a stream gave: each request with what its answer
/// produced, and the reader's `is_complete`, `has_response`, `is_stopped`
/// and `keep_alive` at the end.
#[derive(Debug, Clone, PartialEq)]
struct ClientOutcome {
    answers: Vec<(ClientRequest, Vec<Got>)>,
    last_state: [bool; 4],
}

/// One feeding of a stream to the readers of successive requests on one
/// connection, checking each event as it comes against the stream itself.
struct ClientRun<'a> {
    opts: ParseOptions,
    requests: &'a [ClientRequest],
    stream: &'a [u8],
    fed: usize,
    answers: Vec<(ClientRequest, Vec<Got>)>,
    conn: ClientConn,
    phase: Phase,
    /// Where the current head starts in the stream.
    head_at: usize,
    /// Where the current body starts, how it is framed, what came of it.
    body_at: usize,
    framing: BodyKind,
    body: Vec<u8>,
    /// Where the answer ended in the stream, when it just did.
    ended_at: Option<usize>,
    eof: bool,
}

/// Streams up to this length are also fed byte by byte (each byte of a
/// head rescans it).
const CLIENT_BYTE_BY_BYTE_MAX: usize = 1024;

impl<'a> ClientRun<'a> {
    fn new(opts: ParseOptions, requests: &'a [ClientRequest], stream: &'a [u8]) -> Self {
        let first = requests.first().copied().unwrap_or(ClientRequest::GET);
        ClientRun {
            opts,
            requests,
            stream,
            fed: 0,
            answers: vec![(first, Vec::new())],
            conn: ClientConn::new(first.method, opts),
            phase: Phase::Head,
            head_at: 0,
            body_at: 0,
            framing: BodyKind::None,
            body: Vec::new(),
            ended_at: None,
            eof: false,
        }
    }

    fn request(&self) -> ClientRequest {
        self.answers.last().expect("one answer at least").0
    }

    fn got(&mut self, g: Got) {
        let got = &mut self.answers.last_mut().expect("one answer at least").1;
        match (got.last_mut(), g) {
            (Some(Got::Data(d)), Got::Data(more)) => d.extend_from_slice(&more),
            (_, g) => got.push(g),
        }
    }

    /// Feeds the stream in pieces of these lengths, then EOF if `eof`.
    fn run(mut self, pieces: &[usize], eof: bool) -> ClientOutcome {
        let mut at = 0;
        for &n in pieces {
            self.recv(&self.stream[at..at + n]);
            at += n;
        }
        assert_eq!(at, self.stream.len());
        if eof {
            self.eof = true;
            if !self.detached() {
                let mut evs = Vec::new();
                self.conn.feed_eof(&mut evs);
                self.events(evs);
            }
        }
        let c = &self.conn;
        ClientOutcome {
            last_state: [
                c.is_complete(),
                c.has_response(),
                c.is_stopped(),
                c.keep_alive(),
            ],
            answers: self.answers,
        }
    }

    /// Whether an upgrade took the socket.
    fn detached(&self) -> bool {
        matches!(
            self.answers.last().and_then(|a| a.1.last()),
            Some(Got::Upgrade(..))
        )
    }

    fn recv(&mut self, piece: &[u8]) {
        self.fed += piece.len();
        if self.detached() {
            if let Some((_, got)) = self.answers.last_mut() {
                if let Some(Got::Upgrade(_, rest)) = got.last_mut() {
                    rest.extend_from_slice(piece);
                }
            }
            return;
        }
        let mut input = piece.to_vec();
        loop {
            let mut evs = Vec::new();
            self.conn.feed(&input, &mut evs);
            let settled = matches!(self.phase, Phase::Ended | Phase::Stopped);
            assert!(
                !settled || evs.is_empty(),
                "events after the answer ended or stopped: {evs:?}"
            );
            self.events(evs);
            let Some(end) = self.ended_at.take() else {
                return;
            };
            // The bytes after the answer are handed over, as they came.
            let rest = self.conn.take_rest();
            assert_eq!(
                rest,
                &self.stream[end..self.fed],
                "the bytes after the answer"
            );
            if !self.conn.keep_alive() || self.request().close {
                return;
            }
            // Keep-alive: the next request's reader gets what followed.
            let next = self
                .requests
                .get(self.answers.len())
                .copied()
                .unwrap_or(ClientRequest::GET);
            self.answers.push((next, Vec::new()));
            self.conn = ClientConn::new(next.method, self.opts);
            self.phase = Phase::Head;
            self.head_at = end;
            if rest.is_empty() {
                return;
            }
            input = rest;
        }
    }

    fn events(&mut self, evs: Vec<ResponseEvent>) {
        for ev in evs {
            self.event(ev);
        }
        let c = &self.conn;
        assert_eq!(c.is_complete(), self.phase == Phase::Ended, "is_complete");
        assert_eq!(
            c.has_response(),
            matches!(self.phase, Phase::Body | Phase::Ended),
            "has_response"
        );
        assert_eq!(c.is_stopped(), self.phase == Phase::Stopped, "is_stopped");
        if matches!(self.phase, Phase::Head | Phase::Body) {
            assert!(
                c.buffered() <= c.max_buffered(),
                "{} bytes held (maxHeaderSize {}, bound {})",
                c.buffered(),
                self.opts.max_header_size,
                c.max_buffered()
            );
        }
    }

    /// The head as the stream has it at `head_at`.
    fn check_head(&self, h: &ResponseHead) {
        let req = self.request();
        let bytes = &self.stream[self.head_at..self.fed];
        match parse::parse_response(bytes, req.method, &self.opts) {
            Ok(Status::Complete(expected)) => assert_eq!(h, &expected, "the head"),
            other => panic!("a head the stream does not have there: {other:?}"),
        }
    }

    fn event(&mut self, ev: ResponseEvent) {
        let req = self.request();
        match ev {
            ResponseEvent::Information(h) => {
                assert_eq!(self.phase, Phase::Head, "'information' after the head");
                assert!(
                    (100..200).contains(&h.status) && h.status != 101,
                    "'information' for {}",
                    h.status
                );
                assert_ne!(req.method, "CONNECT", "'information' for CONNECT");
                self.check_head(&h);
                self.head_at += h.head_len;
                self.got(Got::Information(h));
            }
            ResponseEvent::Head(h) => {
                assert_eq!(self.phase, Phase::Head, "a second final head");
                assert!(
                    !(100..200).contains(&h.status) || h.status == 101,
                    "a final head with {}",
                    h.status
                );
                assert_ne!(req.method, "CONNECT", "'response' for CONNECT");
                self.check_head(&h);
                if req.method == "HEAD" || h.status == 204 || h.status == 304 {
                    assert_eq!(
                        h.body,
                        BodyKind::None,
                        "a body for {} {}",
                        req.method,
                        h.status
                    );
                }
                self.phase = Phase::Body;
                self.body_at = self.head_at + h.head_len;
                self.framing = h.body;
                self.body.clear();
                self.got(Got::Head(h));
            }
            ResponseEvent::Data(d) => {
                assert_eq!(self.phase, Phase::Body, "data outside a body");
                assert!(!d.is_empty(), "empty data");
                assert_ne!(self.framing, BodyKind::None, "data without a body");
                self.body.extend_from_slice(&d);
                let n = self.body.len();
                if let BodyKind::ContentLength(len) = self.framing {
                    assert!(n as u64 <= len, "{n} bytes of a {len}-byte body");
                }
                if self.framing != BodyKind::Chunked {
                    assert_eq!(
                        self.body,
                        &self.stream[self.body_at..self.body_at + n],
                        "the body as sent"
                    );
                }
                self.got(Got::Data(d));
            }
            ResponseEvent::End { trailers } => {
                assert_eq!(self.phase, Phase::Body, "'end' outside a body");
                let (body, expected_trailers, end) = self.expected_body();
                assert_eq!(self.body, body, "the body ({:?})", self.framing);
                assert_eq!(trailers, expected_trailers, "the trailers");
                assert!(
                    !(self.conn.keep_alive() && self.framing == BodyKind::UntilEof),
                    "keep-alive after a body that ran until EOF"
                );
                self.phase = Phase::Ended;
                self.ended_at = Some(end);
                self.got(Got::End(trailers));
            }
            ResponseEvent::Upgrade { head, rest } => {
                assert_eq!(self.phase, Phase::Head, "an upgrade after the head");
                assert!(
                    head.status == 101 || req.method == "CONNECT",
                    "an upgrade on {} to {}",
                    head.status,
                    req.method
                );
                self.check_head(&head);
                let after = self.head_at + head.head_len;
                assert_eq!(
                    rest,
                    &self.stream[after..self.fed],
                    "the bytes after the head"
                );
                self.phase = Phase::Stopped;
                self.got(Got::Upgrade(head, rest));
            }
            ResponseEvent::Error(e) => {
                self.check_error(&e);
                self.phase = Phase::Stopped;
                self.got(Got::Error(e.code()));
            }
        }
    }

    /// The body, trailers and end offset the stream gives for the current
    /// answer, decoded in one go.
    fn expected_body(&self) -> (Vec<u8>, Vec<(String, String)>, usize) {
        let at = self.body_at;
        match self.framing {
            BodyKind::None => (Vec::new(), Vec::new(), at),
            BodyKind::ContentLength(n) => {
                let end = at + usize::try_from(n).expect("a length within the stream");
                (self.stream[at..end].to_vec(), Vec::new(), end)
            }
            BodyKind::UntilEof => {
                assert!(self.eof, "a body without length ended before EOF");
                (self.stream[at..self.fed].to_vec(), Vec::new(), self.fed)
            }
            BodyKind::Chunked => {
                let mut d = ChunkedDecoder::new(self.opts);
                let mut body = Vec::new();
                let p = d
                    .decode(&self.stream[at..self.fed], &mut body)
                    .unwrap_or_else(|e| panic!("the chunked body, whole: {e}"));
                assert!(p.done, "the chunked body, whole, is not over");
                (body, d.trailers().to_vec(), at + p.consumed)
            }
        }
    }

    /// A parse error: the stream, parsed in one go, has one there too.
    fn check_error(&self, e: &nodehttp_proto::Error) {
        let overflow =
            |c: &str| matches!(c, "HPE_HEADER_OVERFLOW" | "HPE_CHUNK_EXTENSIONS_OVERFLOW");
        match self.phase {
            Phase::Head => {
                let bytes = &self.stream[self.head_at..self.fed];
                match parse::parse_response(bytes, self.request().method, &self.opts) {
                    Err(w) => assert_eq!(w.code(), e.code(), "the error, head whole"),
                    other => panic!("{} where the head whole gives {other:?}", e.code()),
                }
            }
            Phase::Body => {
                assert_eq!(
                    self.framing,
                    BodyKind::Chunked,
                    "an error in a {:?} body",
                    self.framing
                );
                let mut body = Vec::new();
                let whole = ChunkedDecoder::new(self.opts)
                    .decode(&self.stream[self.body_at..self.fed], &mut body);
                match whole {
                    // Which error comes first may depend on the pieces when
                    // one is a size limit (see `same_decoding`).
                    Err(w) if overflow(w.code()) || overflow(e.code()) => {}
                    Err(w) => {
                        assert_eq!(w.code(), e.code(), "the error, body whole");
                        assert_eq!(self.body, body, "the body before the error");
                    }
                    Ok(p) => panic!("{} where the body whole gives {p:?}", e.code()),
                }
            }
            Phase::Ended | Phase::Stopped => {
                panic!("{} after the answer ended or stopped", e.code())
            }
        }
    }
}

/// Two feedings of the same stream gave the same: the same answers, with
/// the same events, except which error ends the last when one is a size
/// limit (llhttp counts a span when it ends or when the buffer does).
fn same_client_outcome(a: &ClientOutcome, b: &ClientOutcome, how: &str) {
    let limit = |o: &ClientOutcome| {
        matches!(
            o.answers.last().and_then(|(_, g)| g.last()),
            Some(Got::Error(
                "HPE_HEADER_OVERFLOW" | "HPE_CHUNK_EXTENSIONS_OVERFLOW"
            ))
        )
    };
    let error = |o: &ClientOutcome| {
        matches!(
            o.answers.last().and_then(|(_, g)| g.last()),
            Some(Got::Error(_))
        )
    };
    if a != b && error(a) && error(b) && (limit(a) || limit(b)) {
        let n = a.answers.len();
        assert_eq!(n, b.answers.len(), "{how}: answers");
        assert_eq!(a.answers[..n - 1], b.answers[..n - 1], "{how}");
        assert_eq!(a.answers[n - 1].0, b.answers[n - 1].0, "{how}");
        assert_eq!(a.last_state, b.last_state, "{how}");
        return;
    }
    assert_eq!(a, b, "{how}");
}

/// Runs the [`client_connection`] target on its decoded input.
fn run_client_connection(
    settings: &ClientSettings,
    requests: &[ClientRequest],
    stream: &[u8],
    ops: &[ClientOp],
) {
    let mut opts = ParseOptions {
        insecure: settings.insecure,
        ..ParseOptions::default()
    };
    if let Some(n) = settings.small_header_size {
        opts.max_header_size = 16 + usize::from(n % 1024);
    }
    // The pieces the ops cut, and where EOF comes.
    let mut pieces = Vec::new();
    let mut fed = 0;
    let mut eof = false;
    for op in ops {
        match *op {
            ClientOp::Recv(n) => {
                let left = stream.len() - fed;
                if left > 0 {
                    let n = usize::from(n) % left + 1;
                    pieces.push(n);
                    fed += n;
                }
            }
            ClientOp::Eof => {
                eof = true;
                break;
            }
        }
    }
    if !eof && fed < stream.len() {
        pieces.push(stream.len() - fed);
        fed = stream.len();
    }
    let stream = &stream[..fed];
    let whole: &[usize] = if fed == 0 { &[] } else { &[fed] };
    let once = ClientRun::new(opts, requests, stream).run(whole, eof);
    let cut = ClientRun::new(opts, requests, stream).run(&pieces, eof);
    same_client_outcome(&once, &cut, "whole, then in the fuzzer's pieces");
    if fed <= CLIENT_BYTE_BY_BYTE_MAX {
        let bytes = ClientRun::new(opts, requests, stream).run(&vec![1; fed], eof);
        same_client_outcome(&once, &bytes, "whole, then byte by byte");
    }
}

/// The client's reading of answers ([`ClientConn`]), driven as the
/// client's socket drives it. The input is a little-endian `u16` length
/// `L`, `L` bytes of what the server sends, a byte `K` and `K` request
/// bytes (method in the low two bits: `GET`, `HEAD`, `CONNECT`, `POST`;
/// `0x80`: the connection is not reused after it; requests beyond these
/// are keep-alive `GET`s), then [`ClientSettings`] and [`ClientOp`]s
/// (decoded with `arbitrary`; none is fine: the stream then arrives in one
/// piece and the connection stays open). Each answer complete on a
/// keep-alive connection is followed by the next request's, which reads
/// the bytes after it. The stream is fed whole, in the ops' pieces and
/// (up to 1 KiB) byte by byte.
///
/// Checks: no panic; the events of each answer come in a legal order
/// (`'information'` only for 1xx other than 101 and before the head; one
/// head; data only after it; one `'end'`, after it; nothing after an
/// error, an upgrade or the end); every head is the one the stream has
/// there, parsed in one go; data of a `Content-Length` or read-until-EOF
/// body is the stream's bytes, the whole declared length at `'end'`; a
/// chunked body at `'end'` is the stream's body decoded in one go, with
/// its trailers; answers to `HEAD` and 204/304 have no body; only 101 or
/// an answer to `CONNECT` upgrades, with the bytes after the head; a parse
/// error is one the stream parsed in one go gives too, and it stops the
/// reader (not reused); the bytes after a complete answer are handed over
/// as sent; the bytes held for an unfinished head or trailers stay under
/// [`ClientConn::max_buffered`]; the outcome is the same however the
/// stream is split.
pub fn client_connection(data: &[u8]) {
    let (stream, rest) = split_stream(data);
    let (requests, rest) = match rest.split_first() {
        Some((&k, rest)) => rest.split_at(usize::from(k).min(rest.len())),
        None => (rest, rest),
    };
    let requests: Vec<ClientRequest> = requests
        .iter()
        .map(|&b| ClientRequest::from_byte(b))
        .collect();
    let mut u = Unstructured::new(rest);
    let settings = ClientSettings::arbitrary(&mut u).unwrap_or_default();
    let ops = Vec::<ClientOp>::arbitrary_take_rest(u).unwrap_or_default();
    run_client_connection(&settings, &requests, stream, &ops);
}

/// A [`client_connection`] input for what a server sends in answer to
/// requests with these methods, on one keep-alive connection (what the
/// seed corpus holds).
pub fn client_connection_input(stream: &[u8], methods: &[&str]) -> Vec<u8> {
    let mut v = connection_input(stream);
    let methods = &methods[..methods.len().min(usize::from(u8::MAX))];
    v.push(methods.len() as u8);
    v.extend(methods.iter().map(|m| ClientRequest::byte(m)));
    v
}

/// Feeds `data` to a WebSocket receiver in pieces cut at `cuts` (sorted),
/// with permessage-deflate on or off; checks the bound on held bytes as it
/// goes and returns what came out.
fn receive_in_pieces(data: &[u8], cuts: &[usize], deflate: bool) -> Vec<ws_receiver::Incoming> {
    use nodehttp_proto::websocket::frame::MAX_HELD;
    use ws_receiver::Incoming;
    let ext = nodehttp_proto::websocket::handshake::Extensions::parse("permessage-deflate");
    let mut r = ws_receiver::Receiver::new(deflate.then_some(&ext));
    let mut out = Vec::new();
    let mut start = 0;
    let mut inflated = 0;
    for &end in cuts.iter().chain(std::iter::once(&data.len())) {
        if end < start {
            continue;
        }
        let before = out.len();
        r.receive(&data[start..end], &mut out);
        for item in &out[before..] {
            if let Incoming::Message { data, .. } = item {
                inflated += data.len();
            }
        }
        start = end;
        // Uncompressed, nothing is held that did not come in; compressed,
        // no more than deflate's largest expansion (1032:1) of it.
        let bound = end + MAX_HELD + if deflate { inflated + 1032 * end } else { 0 };
        assert!(r.held() <= bound, "{} bytes held after {end}", r.held());
    }
    out
}

/// The WebSocket frame parser and receiver (undici's `ByteParser`) on any
/// bytes, with permessage-deflate off and on: no panic; the same items
/// whole, in three pieces and byte by byte (up to 4 KiB); the frame parser
/// holds at most `MAX_HELD` bytes and the receiver no more than it was
/// given (plus what it inflated); nothing after a close frame or a failure;
/// messages are text or binary; control payloads at most 125 bytes. Then
/// the whole connection (handshake answer and these bytes) runs without
/// panic, with at most one `close` event, last.
pub fn websocket_frames(data: &[u8]) {
    use nodehttp_proto::websocket::frame::{FrameEvent, FrameParser, MAX_HELD, OP_BINARY, OP_TEXT};
    use ws_receiver::Incoming;

    // The frame parser alone: the same steps whole and byte by byte.
    let steps = |cuts: &[usize]| {
        let mut p = FrameParser::new();
        let mut out: Vec<String> = Vec::new();
        let mut start = 0;
        for &end in cuts.iter().chain(std::iter::once(&data.len())) {
            let mut input = &data[start..end];
            start = end;
            loop {
                match p.next(&mut input) {
                    Ok(None) => break,
                    Ok(Some(FrameEvent::Payload(piece))) => {
                        assert!(!piece.is_empty(), "an empty payload piece");
                        let hex: String =
                            piece.to_vec().iter().map(|b| format!("{b:02x}")).collect();
                        match out.last_mut() {
                            Some(last) if last.starts_with("payload ") => last.push_str(&hex),
                            _ => out.push(format!("payload {hex}")),
                        }
                    }
                    Ok(Some(e)) => out.push(format!("{e:?}")),
                    Err(e) => {
                        out.push(format!("{e:?}"));
                        return out;
                    }
                }
                assert!(p.held() <= MAX_HELD, "the frame parser holds {}", p.held());
            }
            assert!(input.is_empty(), "input left over");
        }
        out
    };
    let h = hash(data);
    let n = data.len() + 1;
    let mut three = [h as usize % n, (h >> 32) as usize % n];
    three.sort_unstable();
    let every: Vec<usize> = (1..data.len()).collect();
    let small = data.len() <= 4096;
    if small {
        assert_eq!(steps(&[]), steps(&every), "frame steps byte by byte");
    }

    for deflate in [false, true] {
        let whole = receive_in_pieces(data, &[], deflate);
        for (i, item) in whole.iter().enumerate() {
            match item {
                Incoming::Message { opcode, .. } => {
                    assert!(
                        *opcode == OP_TEXT || *opcode == OP_BINARY,
                        "opcode {opcode}"
                    )
                }
                Incoming::Ping(p) | Incoming::Pong(p) => assert!(p.len() <= 125),
                _ => assert_eq!(i, whole.len() - 1, "an item after {item:?}"),
            }
        }
        assert_eq!(
            receive_in_pieces(data, &three, deflate),
            whole,
            "in three pieces"
        );
        if small {
            assert_eq!(
                receive_in_pieces(data, &every, deflate),
                whole,
                "byte by byte"
            );
        }
    }

    // The connection, through a handshake answered with permessage-deflate
    // or not.
    for extensions in ["", "Sec-WebSocket-Extensions: permessage-deflate\r\n"] {
        use nodehttp_proto::websocket::conn::{Output, WebSocketConn};
        use nodehttp_proto::websocket::Event;
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let mut c = WebSocketConn::new("ws://h/", &[], key, Box::new(|| [1, 2, 3, 4]))
            .expect("a valid URL");
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{extensions}\r\n",
            nodehttp_proto::websocket::handshake::accept_for(key)
        );
        c.receive(answer.as_bytes());
        let mut start = 0;
        for &end in three.iter().chain(std::iter::once(&data.len())) {
            c.receive(&data[start..end.max(start)]);
            start = end.max(start);
        }
        let _ = c.send_text("x");
        let _ = c.close(Some(1000), Some("bye"));
        c.socket_closed();
        let mut closes = 0;
        while let Some(o) = c.poll_output() {
            if closes > 0 {
                panic!("{o:?} after the close event");
            }
            if let Output::Write { kind, .. } = o {
                c.written(kind);
            }
            if matches!(o, Output::Event(Event::Close(_))) {
                closes += 1;
            }
        }
        assert_eq!(closes, 1, "one close event");
    }
}

/// A fuzz target: bytes in, a panic on a broken invariant.
pub type Target = fn(&[u8]);

/// Every target by name, for the seed tests and the regression replayer.
pub const TARGETS: &[(&str, Target)] = &[
    ("parse_request", parse_request),
    ("parse_response", parse_response),
    ("chunked_decoder", chunked_decoder),
    ("validators", validators),
    ("headers", headers),
    ("connection", connection),
    ("client_connection", client_connection),
    ("websocket_frames", websocket_frames),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stream: &[u8], methods: &[u8], settings: ClientSettings, ops: &[ClientOp]) {
        let requests: Vec<ClientRequest> = methods
            .iter()
            .map(|&b| ClientRequest::from_byte(b))
            .collect();
        run_client_connection(&settings, &requests, stream, ops);
    }

    fn small(n: u16) -> ClientSettings {
        ClientSettings {
            small_header_size: Some(n),
            insecure: false,
        }
    }

    #[test]
    fn client_target_reads_answers_in_sequence() {
        let stream = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
            HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc\
            HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n\
            HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nde\r\n0\r\nT:  v\r\n\r\n\
            HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n\
            HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil eof";
        let ops = [ClientOp::Recv(7), ClientOp::Recv(50), ClientOp::Recv(3)];
        // GET, HEAD (its Content-Length: 9 frames nothing), GET, GET, GET.
        run(stream, &[0, 0, 1], ClientSettings::default(), &ops);
        run(
            stream,
            &[0, 0, 1],
            ClientSettings::default(),
            &[ClientOp::Recv(90), ClientOp::Eof],
        );
        let mut all = ops.to_vec();
        all.extend([ClientOp::Recv(u16::MAX), ClientOp::Eof]);
        run(stream, &[0, 0, 1], small(200), &all);
    }

    #[test]
    fn client_target_upgrades_and_stops_on_errors() {
        let upgrade =
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\nframes";
        run(
            upgrade,
            &[3],
            ClientSettings::default(),
            &[ClientOp::Recv(40)],
        );
        run(
            b"HTTP/1.1 407 No\r\n\r\ntunnel",
            &[2],
            ClientSettings::default(),
            &[],
        );
        run(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 2x",
            &[],
            small(0),
            &[ClientOp::Recv(3)],
        );
        let bad_chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n";
        run(
            bad_chunk,
            &[],
            ClientSettings::default(),
            &[ClientOp::Recv(50)],
        );
    }

    #[test]
    fn client_target_holds_no_more_than_the_bound() {
        // CR LF before the status line and spaces after a colon, which
        // llhttp skips without counting, with a 40-byte maxHeaderSize.
        let mut stream = b"\r\n".repeat(600);
        stream.extend_from_slice(b"HTTP/1.1 200 OK\r\nX:");
        stream.extend_from_slice(&[b' '; 1500]);
        stream.extend_from_slice(b"y\r\nContent-Length: 0\r\n\r\n");
        stream.extend_from_slice(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT:");
        stream.extend_from_slice(&[b'\t'; 1500]);
        stream.extend_from_slice(b"v\r\n\r\n");
        let ops: Vec<ClientOp> = (0..40).map(|i| ClientOp::Recv(97 + i)).collect();
        run(&stream, &[], small(24), &ops);
        run(
            &stream,
            &[],
            small(24),
            &[ClientOp::Recv(1), ClientOp::Recv(3000)],
        );
    }

    #[test]
    fn client_inputs_carry_the_methods() {
        let input =
            client_connection_input(b"HTTP/1.1 200 OK\r\n\r\n", &["HEAD", "connect", "PUT"]);
        assert_eq!(input[..2], [19, 0]);
        assert_eq!(input[21..], [3, 1, 2, 3]);
        assert_eq!(ClientRequest::from_byte(0x81).method, "HEAD");
        assert!(ClientRequest::from_byte(0x81).close);
        client_connection(&input);
    }
}
