//! Response heads as `ServerResponse` serialises them, and the `Date`
//! header value.
//!
//! [`encode_response_head`] is `writeHead` + `_storeHeader`
//! (lib/_http_server.js, lib/_http_outgoing.js) as a pure function: it takes
//! every piece of state those functions read and returns the head bytes and
//! the state they leave behind (`_last`, `chunkedEncoding`, `_hasBody`).
//! The bytes were checked against Node 23.5.0 (probe resp.js: a
//! `node:http` server answering raw-socket requests, `Date` redacted).
//!
//! The order Node writes a head in:
//!
//! 1. `HTTP/1.1 {statusCode} {statusMessage}\r\n` (always `HTTP/1.1`).
//! 2. The user's headers, in the order set, with the case given; array
//!    values as one line each, except `Cookie` arrays joined with `"; "`.
//! 3. `Date`, unless `sendDate` is false or the user set one.
//! 4. `Connection: keep-alive` (+ `Keep-Alive: timeout=N[, max=M]`) or
//!    `Connection: close`, unless the user set `Connection` (or removed it).
//! 5. `Content-Length: n` when the length is known, else
//!    `Transfer-Encoding: chunked`, unless the user set either, the
//!    response has no body, or the request was HTTP/1.0 without `TE: chunked`.
//! 6. The empty line.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::Error;
use crate::validate::{has_invalid_header_char, validate_header_name, validate_header_value};

/// A header value as `setHeader` accepts it: a string, a number or an
/// array.
///
/// Node equivalent: the `value` argument of `res.setHeader(name, value)`.
/// Strings are latin-1 (one char per byte), as Node's header strings are.
/// A number is kept as a number (`getHeader()` returns it as such) and is
/// written the way JavaScript's `String(n)` renders it.
///
/// Equality compares numbers by value, with `NaN` equal to itself (so that
/// `Eq` holds).
#[derive(Debug, Clone)]
pub enum OutValue {
    /// One value.
    One(String),
    /// Several values (`setHeader('Set-Cookie', [...])`).
    Many(Vec<String>),
    /// A number (`setHeader('Content-Length', 5)`).
    Number(f64),
}

impl PartialEq for OutValue {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (OutValue::One(a), OutValue::One(b)) => a == b,
            (OutValue::Many(a), OutValue::Many(b)) => a == b,
            (OutValue::Number(a), OutValue::Number(b)) => a == b || a.to_bits() == b.to_bits(),
            _ => false,
        }
    }
}

impl Eq for OutValue {}

impl OutValue {
    /// The value as JavaScript's `String(value)` renders it: a string as
    /// is, a number as [`js_number_to_string`], an array joined with `","`.
    pub fn to_js_string(&self) -> String {
        match self {
            OutValue::One(s) => s.clone(),
            OutValue::Many(v) => v.join(","),
            OutValue::Number(n) => js_number_to_string(*n),
        }
    }

    /// The field values `processHeader` writes one line each for: an array
    /// gives its elements, a string or number one value.
    fn line_values(&self) -> Vec<String> {
        self.clone().into_line_values()
    }

    /// [`OutValue::line_values`], taking the value.
    fn into_line_values(self) -> Vec<String> {
        match self {
            OutValue::Many(v) => v,
            other => vec![other.to_js_string()],
        }
    }

    /// The value `appendHeader()` leaves queued: an array of this value's
    /// elements then `more`'s (a number becomes its string).
    pub fn appended(self, more: OutValue) -> OutValue {
        let mut values = self.into_line_values();
        values.extend(more.into_line_values());
        OutValue::Many(values)
    }
}

/// `setHeaders(headers)` on either side, through that side's `setHeader`:
/// each entry in order, except the entries named exactly `set-cookie` (as
/// a `Headers` yields them), collected and set together last as one array.
/// A failing entry stops it with the earlier ones set.
pub fn set_headers_with(
    headers: &[(String, OutValue)],
    mut set_header: impl FnMut(&str, OutValue) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut cookies = Vec::new();
    for (name, value) in headers {
        if name == "set-cookie" {
            cookies.extend(value.clone().into_line_values());
            continue;
        }
        set_header(name, value.clone())?;
    }
    if !cookies.is_empty() {
        set_header("set-cookie", OutValue::Many(cookies))?;
    }
    Ok(())
}

impl From<&str> for OutValue {
    fn from(s: &str) -> Self {
        OutValue::One(s.to_owned())
    }
}

impl From<String> for OutValue {
    fn from(s: String) -> Self {
        OutValue::One(s)
    }
}

impl From<Vec<String>> for OutValue {
    fn from(v: Vec<String>) -> Self {
        OutValue::Many(v)
    }
}

impl From<Vec<&str>> for OutValue {
    fn from(v: Vec<&str>) -> Self {
        OutValue::Many(v.into_iter().map(str::to_owned).collect())
    }
}

impl From<f64> for OutValue {
    fn from(n: f64) -> Self {
        OutValue::Number(n)
    }
}

impl From<i32> for OutValue {
    fn from(n: i32) -> Self {
        OutValue::Number(f64::from(n))
    }
}

impl From<u32> for OutValue {
    fn from(n: u32) -> Self {
        OutValue::Number(f64::from(n))
    }
}

impl From<u64> for OutValue {
    fn from(n: u64) -> Self {
        OutValue::Number(n as f64)
    }
}

impl From<usize> for OutValue {
    fn from(n: usize) -> Self {
        OutValue::Number(n as f64)
    }
}

/// Render a number as JavaScript's `String(n)` / `Number.prototype.toString()`
/// does: the shortest digits that round-trip, positional notation for
/// exponents from -7 to 20, scientific (`1e+21`, `1.5e-7`) outside.
///
/// Node equivalent: the implicit string conversion of a number header value
/// (`key + ': ' + value`).
///
/// ```
/// use nodehttp_proto::encode::js_number_to_string as s;
/// assert_eq!(s(42.0), "42");
/// assert_eq!(s(-0.0), "0");
/// assert_eq!(s(0.1), "0.1");
/// assert_eq!(s(1e21), "1e+21");
/// assert_eq!(s(1.5e-7), "1.5e-7");
/// assert_eq!(s(f64::NAN), "NaN");
/// ```
pub fn js_number_to_string(n: f64) -> String {
    if n.is_nan() {
        return "NaN".to_owned();
    }
    if n == 0.0 {
        return "0".to_owned();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if n < 0.0 {
        return format!("-{}", js_number_to_string(-n));
    }
    // `{:e}` gives the shortest round-trip digits: "1.2345e3", "5e-7".
    let sci = format!("{n:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i64;
    let e: i64 = exp.parse().unwrap_or(0);
    let n_pos = e + 1; // value = 0.digits * 10^n_pos
    if k <= n_pos && n_pos <= 21 {
        let mut s = digits;
        s.extend(std::iter::repeat_n('0', (n_pos - k) as usize));
        s
    } else if 0 < n_pos && n_pos <= 21 {
        let (a, b) = digits.split_at(n_pos as usize);
        format!("{a}.{b}")
    } else if -6 < n_pos && n_pos <= 0 {
        format!("0.{}{digits}", "0".repeat((-n_pos) as usize))
    } else {
        let sign = if e < 0 { '-' } else { '+' };
        let (first, rest) = digits.split_at(1);
        if rest.is_empty() {
            format!("{first}e{sign}{}", e.abs())
        } else {
            format!("{first}.{rest}e{sign}{}", e.abs())
        }
    }
}

/// Everything `writeHead`/`_storeHeader` depend on. `_storeHeader` is
/// `OutgoingMessage`'s, shared by `ServerResponse` and `ClientRequest`: a
/// request renders its head through the same code with the server-only
/// fields left inert (no status, no `Date`, no `Keep-Alive`).
///
/// Node equivalent: the fields of an `OutgoingMessage` at the moment its
/// head is rendered (`statusCode`, `statusMessage`, `sendDate`,
/// `shouldKeepAlive`, `_keepAliveTimeout`, `_contentLength`, `_removed*`,
/// `agent`...). [`ResponseHeadInput::new`] gives Node's defaults for a
/// fresh response to an HTTP/1.1 GET on a default `http.Server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHeadInput {
    /// `statusCode` (100..=999).
    pub status: u16,
    /// `statusMessage`; `None` uses `STATUS_CODES[status] || 'unknown'`.
    pub status_message: Option<String>,
    /// The headers, in order, names with the user's case.
    pub headers: Vec<(String, OutValue)>,
    /// Whether `headers` came from `writeHead(status, obj)` alone, in which
    /// case Node validates them here (`setHeader` validated them already).
    pub validate: bool,
    /// `res.sendDate` (default true for a server response).
    pub send_date: bool,
    /// The time for the `Date` header (a sans-IO caller passes "now").
    pub now: SystemTime,
    /// `res.shouldKeepAlive`: the parser's keep-alive decision for the
    /// request.
    pub should_keep_alive: bool,
    /// `useChunkedEncodingByDefault`: true, except for a request of HTTP
    /// version below 1.1 without `TE: chunked`.
    pub use_chunked_encoding_by_default: bool,
    /// `server.keepAliveTimeout` in milliseconds (default 5000; 0 disables
    /// the `Keep-Alive` header).
    pub keep_alive_timeout_ms: u64,
    /// `server.maxRequestsPerSocket` (0 = none); adds `, max=N`.
    pub max_requests_per_socket: u32,
    /// `maxRequestsOnConnectionReached`: turns `keep-alive` into `close`.
    pub max_requests_reached: bool,
    /// The request method was `HEAD` (no body).
    pub request_is_head: bool,
    /// `_contentLength`: the body length when known before the head is sent
    /// (`res.end(data)` without an earlier `write`).
    pub content_length: Option<u64>,
    /// `_removedConnection`: `removeHeader('Connection')` was called.
    pub removed_connection: bool,
    /// `_removedContLen`: `removeHeader('Content-Length')` was called.
    pub removed_content_length: bool,
    /// `_removedTE`: `removeHeader('Transfer-Encoding')` was called.
    pub removed_transfer_encoding: bool,
    /// The request had `Expect: 100-continue` and no `100 Continue` was
    /// sent: Node then refuses to keep the connection alive.
    pub expect_continue_unanswered: bool,
    /// The server option `uniqueHeaders`, lower-cased: array values of
    /// these names are joined with `"; "` on one line instead of one line
    /// each (Node's `kUniqueHeaders`).
    pub unique_headers: Vec<String>,
    /// `_last` before the head is rendered (a client request without a
    /// keep-alive agent starts with it set).
    pub last: bool,
    /// A client request's `agent` is set: `_storeHeader` then announces
    /// keep-alive whatever the framing (`|| this.agent`).
    pub has_agent: bool,
}

impl ResponseHeadInput {
    /// Node's defaults for a response to an HTTP/1.1 request on a default
    /// server (`keepAliveTimeout` 5000 ms), with `status` and no headers.
    pub fn new(status: u16, now: SystemTime) -> ResponseHeadInput {
        ResponseHeadInput {
            status,
            status_message: None,
            headers: Vec::new(),
            validate: false,
            send_date: true,
            now,
            should_keep_alive: true,
            use_chunked_encoding_by_default: true,
            keep_alive_timeout_ms: 5000,
            max_requests_per_socket: 0,
            max_requests_reached: false,
            request_is_head: false,
            content_length: None,
            removed_connection: false,
            removed_content_length: false,
            removed_transfer_encoding: false,
            expect_continue_unanswered: false,
            unique_headers: Vec::new(),
            last: false,
            has_agent: false,
        }
    }
}

/// A chunk given to `write()` / `end()`.
///
/// Node's `_send()` writes a head still unsent together with the first
/// chunk: with a string chunk in UTF-8 (the default encoding), as one
/// string in UTF-8, so the head's own text (a latin-1 header value, the
/// U+FFFD of a re-read `Content-Disposition`) goes out as UTF-8 too;
/// otherwise (a `Buffer`, another encoding, a chunked body whose size line
/// goes first) the head goes as latin-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// A `Buffer`, or a string already encoded in an encoding other than
    /// `'utf8'`.
    Bytes(&'a [u8]),
    /// A string in the default encoding, `'utf8'`.
    Text(&'a str),
}

impl<'a> Chunk<'a> {
    /// The chunk's bytes.
    pub fn bytes(self) -> &'a [u8] {
        match self {
            Chunk::Bytes(b) => b,
            Chunk::Text(t) => t.as_bytes(),
        }
    }

    /// Whether it is a UTF-8 string (the head goes with it as UTF-8).
    pub fn is_text(self) -> bool {
        matches!(self, Chunk::Text(_))
    }
}

impl<'a> From<&'a [u8]> for Chunk<'a> {
    fn from(b: &'a [u8]) -> Chunk<'a> {
        Chunk::Bytes(b)
    }
}

impl<'a> From<&'a str> for Chunk<'a> {
    fn from(t: &'a str) -> Chunk<'a> {
        Chunk::Text(t)
    }
}

/// The rendered head and the state `_storeHeader` leaves behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The head bytes, latin-1 encoded, ending with the empty line.
    pub bytes: Vec<u8>,
    /// The head in UTF-8 when that differs from `bytes` (a head with text
    /// outside ASCII): what goes out with a [`Chunk::Text`].
    pub utf8: Option<Vec<u8>>,
    /// `_last`: close the connection after this response.
    pub last: bool,
    /// `chunkedEncoding`: frame body writes as chunks.
    pub chunked: bool,
    /// `_hasBody`: body writes are sent at all.
    pub has_body: bool,
    /// The value of the last `Content-Length` line written, if any: Node's
    /// `_contentLength` after `_storeHeader` (a string or a number, as the
    /// header value was given; `matchHeader` does not convert it).
    pub content_length_header: Option<OutValue>,
    /// `_contentLength` as a number once the head is rendered: the input's,
    /// or that of the last `Content-Length` line (`+value`).
    pub content_length: Option<u64>,
    /// `shouldKeepAlive` once the head is rendered (a `Connection` line
    /// without `close` sets it).
    pub should_keep_alive: bool,
}

/// `/(?:^|\W)close(?:$|\W)/i`.
fn has_word(value: &str, word: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    lower.match_indices(word).any(|(i, _)| {
        let before = i == 0 || !is_word(bytes[i - 1]);
        let end = i + word.len();
        let after = end == bytes.len() || !is_word(bytes[end]);
        before && after
    })
}

/// Render a response head as `res.writeHead()` followed by `_storeHeader`.
///
/// Fails as Node does: `ERR_INVALID_CHAR` for a status message with
/// invalid chars, `ERR_INVALID_HTTP_TOKEN` / `ERR_INVALID_CHAR` for headers
/// when `validate` is set, `ERR_HTTP_TRAILER_INVALID` for a `Trailer`
/// header on a non-chunked response.
///
/// ```
/// use nodehttp_proto::encode::{encode_response_head, ResponseHeadInput};
/// let mut input = ResponseHeadInput::new(200, std::time::UNIX_EPOCH);
/// input.content_length = Some(5);
/// let head = encode_response_head(&input).unwrap();
/// assert_eq!(
///     head.bytes,
///     b"HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 5\r\n\r\n"
/// );
/// assert!(!head.last);
/// ```
pub fn encode_response_head(input: &ResponseHeadInput) -> Result<ResponseHead, Error> {
    let message = match &input.status_message {
        Some(m) => m.as_str(),
        None => crate::status::reason_phrase_or_unknown(input.status),
    };
    let headers = input.headers.iter().map(|(n, v)| (n.as_str(), v));
    let start = StartLine::Status(message);
    encode_head(input, start, headers, &input.unique_headers, Vec::new()).map(|(head, _)| head)
}

/// Which headers a rendered head had a line for, as `writeHead` reads them
/// back (`Connection`, `Transfer-Encoding`, `Expect`: a name with any value
/// but an empty array).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HeadLines {
    pub(crate) connection: bool,
    pub(crate) transfer_encoding: bool,
    pub(crate) expect: bool,
}

/// The first line of a head.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StartLine<'a> {
    /// A response's: `HTTP/1.1 {input.status} {message}`.
    Status(&'a str),
    /// A request's: `{method} {path} HTTP/1.1`.
    Request {
        /// The method.
        method: &'a str,
        /// The path.
        path: &'a str,
    },
}

/// `_storeHeader` (and, for a response, what `writeHead` checks first),
/// over borrowed parts: `start` (the status message or the request line),
/// `headers` and `unique_headers` (in any case) stand for the fields of
/// `input` of those names, which are not read. A response renders its queued headers with
/// this without copying them (the copies were five allocations per
/// response). The head is written into `buf` (its contents dropped, its
/// room reused: the head buffer of the connection's previous response).
pub(crate) fn encode_head<'a>(
    input: &ResponseHeadInput,
    start: StartLine<'_>,
    headers: impl Iterator<Item = (&'a str, &'a OutValue)>,
    unique_headers: &[String],
    mut buf: Vec<u8>,
) -> Result<(ResponseHead, HeadLines), Error> {
    // writeHead
    if let StartLine::Status(message) = start {
        if has_invalid_header_char(message) {
            return Err(Error::invalid_char("statusMessage", ""));
        }
    }
    // At most one allocation, of the usual size of a head (formatting into
    // a growing String cost several reallocations per response).
    buf.clear();
    buf.reserve(256);
    let mut header = String::from_utf8(buf).unwrap_or_default();
    match start {
        StartLine::Status(message) => {
            header.push_str("HTTP/1.1 ");
            push_decimal(&mut header, u64::from(input.status));
            header.push(' ');
            header.push_str(message);
        }
        StartLine::Request { method, path } => {
            header.push_str(method);
            header.push(' ');
            header.push_str(path);
            header.push_str(" HTTP/1.1");
        }
    }
    header.push_str("\r\n");
    let mut has_body = !input.request_is_head;
    if input.status == 204 || input.status == 304 || (100..=199).contains(&input.status) {
        has_body = false;
    }
    let mut should_keep_alive = input.should_keep_alive && !input.expect_continue_unanswered;

    // _storeHeader: processHeader / storeHeader / matchHeader
    let mut last = input.last;
    let mut chunked = false;
    let mut content_length = input.content_length;
    let (mut removed_connection, mut removed_cl, mut removed_te) = (
        input.removed_connection,
        input.removed_content_length,
        input.removed_transfer_encoding,
    );
    let mut default_keep_alive = true;
    let (mut st_connection, mut st_cl, mut st_te, mut st_date, mut st_trailer) =
        (false, false, false, false, false);
    // `_contentLength` as `processHeader` sees it (for Content-Disposition).
    let mut cl_truthy = matches!(content_length, Some(n) if n != 0);
    let mut content_length_header: Option<OutValue> = None;
    let mut lines = HeadLines::default();
    for (name, value) in headers {
        if input.validate {
            validate_header_name(name)?;
        }
        // The names matchHeader and processHeader look at, compared without
        // a lower-cased copy of each name (the same test: they are ASCII).
        let is = |known: &str| name.eq_ignore_ascii_case(known);
        if !matches!(value, OutValue::Many(v) if v.is_empty()) {
            lines.connection |= is("connection");
            lines.transfer_encoding |= is("transfer-encoding");
            lines.expect |= is("expect");
        }
        // processHeader: a Content-Disposition value goes through
        // `Buffer.from(value, 'latin1')` when `_contentLength` is truthy;
        // the line is then built from the Buffer's UTF-8 decoding.
        let converted;
        let value = if cl_truthy && is("content-disposition") {
            converted = match value {
                OutValue::One(v) => OutValue::One(latin1_then_utf8(v)),
                OutValue::Many(v) => {
                    OutValue::Many(v.iter().map(|v| latin1_then_utf8(v)).collect())
                }
                OutValue::Number(n) => {
                    return Err(Error::buffer_from_number(&js_number_to_string(*n)))
                }
            };
            &converted
        } else {
            value
        };
        let unique = unique_headers
            .iter()
            .any(|u| u.to_lowercase() == name.to_lowercase());
        // The lines of this header, borrowed where the value already is
        // one string or one line per element.
        let owned;
        let values: &[String] = match value {
            OutValue::Many(v) if (v.len() < 2 || !is("cookie")) && !unique => v,
            OutValue::Many(v) => {
                owned = vec![v.join("; ")];
                &owned
            }
            OutValue::One(v) => std::slice::from_ref(v),
            other => {
                owned = other.line_values();
                &owned
            }
        };
        let kind = MATCHED.iter().position(|k| is(k));
        for v in values {
            if input.validate {
                validate_header_value(name, Some(v))?;
            }
            header.push_str(name);
            header.push_str(": ");
            header.push_str(v);
            header.push_str("\r\n");
            // matchHeader
            match kind.map(|i| MATCHED[i]) {
                Some("connection") => {
                    st_connection = true;
                    removed_connection = false;
                    if has_word(v, "close") {
                        last = true;
                    } else {
                        should_keep_alive = true;
                    }
                }
                Some("transfer-encoding") => {
                    st_te = true;
                    removed_te = false;
                    if has_word(v, "chunked") {
                        chunked = true;
                    }
                }
                Some("content-length") => {
                    st_cl = true;
                    // `_contentLength = value`, unconverted.
                    let this = match &value {
                        OutValue::Number(n) if values.len() == 1 => OutValue::Number(*n),
                        _ => OutValue::One(v.clone()),
                    };
                    cl_truthy = match &this {
                        OutValue::Number(n) => *n != 0.0 && !n.is_nan(),
                        other => !other.to_js_string().is_empty(),
                    };
                    content_length_header = Some(this);
                    content_length = v.trim().parse().ok();
                    removed_cl = false;
                }
                Some("date") => st_date = true,
                Some("trailer") => st_trailer = true,
                Some("keep-alive") => default_keep_alive = false,
                _ => {}
            }
        }
    }

    // Date header
    if input.send_date && !st_date {
        header.push_str("Date: ");
        push_date(&mut header, input.now);
        header.push_str("\r\n");
    }

    // 204/304 with a user `Transfer-Encoding: chunked`: no zero chunk, close.
    if chunked && (input.status == 204 || input.status == 304) {
        chunked = false;
        should_keep_alive = false;
    }

    // keep-alive logic
    if removed_connection {
        last = !should_keep_alive;
    } else if !st_connection {
        let send_keep_alive = should_keep_alive
            && (st_cl || input.use_chunked_encoding_by_default || input.has_agent);
        if send_keep_alive && input.max_requests_reached {
            header.push_str("Connection: close\r\n");
        } else if send_keep_alive {
            header.push_str("Connection: keep-alive\r\n");
            if input.keep_alive_timeout_ms != 0 && default_keep_alive {
                header.push_str("Keep-Alive: timeout=");
                push_decimal(&mut header, input.keep_alive_timeout_ms / 1000);
                if input.max_requests_per_socket > 0 {
                    header.push_str(", max=");
                    push_decimal(&mut header, u64::from(input.max_requests_per_socket));
                }
                header.push_str("\r\n");
            }
        } else {
            last = true;
            header.push_str("Connection: close\r\n");
        }
    }

    if !st_cl && !st_te {
        if !has_body {
            chunked = false;
        } else if !input.use_chunked_encoding_by_default {
            last = true;
        } else if !st_trailer && !removed_cl && content_length.is_some() {
            header.push_str("Content-Length: ");
            push_decimal(&mut header, content_length.unwrap_or_default());
            header.push_str("\r\n");
        } else if !removed_te {
            header.push_str("Transfer-Encoding: chunked\r\n");
            chunked = true;
        } else {
            last = true;
        }
    }

    if !chunked && st_trailer {
        return Err(Error::trailer_invalid());
    }
    header.push_str("\r\n");
    // An ASCII head (the usual one) is its own latin-1 and UTF-8, kept
    // without a copy; otherwise both encodings are kept (see `Chunk`).
    let (bytes, utf8) = if header.is_ascii() {
        (header.into_bytes(), None)
    } else {
        (latin1_bytes(&header), Some(header.into_bytes()))
    };
    let head = ResponseHead {
        bytes,
        utf8,
        last,
        chunked,
        has_body,
        content_length_header,
        content_length,
        should_keep_alive,
    };
    Ok((head, lines))
}

/// Append `n` in decimal. `write!` through `core::fmt` cost about a
/// thousand instructions per head for its three numbers.
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

/// Encode a JavaScript string as Node's `'latin1'` encoding does: the low
/// byte of each UTF-16 code unit.
pub(crate) fn latin1_bytes(s: &str) -> Vec<u8> {
    if s.is_ascii() {
        // ASCII is its own latin-1 (the usual head: no per-char work).
        return s.as_bytes().to_vec();
    }
    s.encode_utf16().map(|u| u as u8).collect()
}

/// The header names whose values `_storeHeader`'s `matchHeader` (and
/// `processHeader`) act on.
const MATCHED: [&str; 6] = [
    "connection",
    "transfer-encoding",
    "content-length",
    "date",
    "trailer",
    "keep-alive",
];

/// Append the IMF-fixdate of `now` to `out`, formatted once per second
/// (per thread) as Node's `utcDate()` caches it: the calendar arithmetic
/// and the formatting were a measurable part of each response.
fn push_date(out: &mut String, now: SystemTime) {
    use std::cell::RefCell;
    thread_local! {
        static CACHE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            *c = (secs, imf_fixdate(now));
        }
        out.push_str(&c.1);
    });
}

/// `Buffer.from(value, 'latin1').toString()`: the latin-1 bytes of `value`
/// decoded as UTF-8, invalid sequences becoming U+FFFD.
fn latin1_then_utf8(value: &str) -> String {
    String::from_utf8_lossy(&latin1_bytes(value)).into_owned()
}

/// Format a time as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the
/// form of the `Date` header. Times before 1970 are clamped to the epoch.
///
/// Node equivalent: `utcDate()` in lib/internal/http.js
/// (`new Date().toUTCString()`, cached for a second).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
/// assert_eq!(nodehttp_proto::encode::imf_fixdate(t), "Sun, 06 Nov 1994 08:49:37 GMT");
/// ```
pub fn imf_fixdate(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = WEEKDAYS[(days % 7) as usize];
    // Civil-from-days (Howard Hinnant's algorithm), for days >= 0.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{weekday}, {day:02} {} {year} {h:02}:{m:02}:{s:02} GMT",
        MONTHS[(month - 1) as usize]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::time::Duration;

    const DATE: &str = "Thu, 01 Jan 1970 00:00:00 GMT";

    #[rstest]
    #[case(0)]
    #[case(7)]
    #[case(10)]
    #[case(999)]
    #[case(1_000_000)]
    #[case(u64::MAX)]
    fn decimals_are_written_as_display_writes_them(#[case] n: u64) {
        let mut s = String::from("x=");
        push_decimal(&mut s, n);
        assert_eq!(s, format!("x={n}"));
    }

    fn base(status: u16) -> ResponseHeadInput {
        ResponseHeadInput::new(status, UNIX_EPOCH)
    }
    fn http10(mut i: ResponseHeadInput, keep_alive: bool) -> ResponseHeadInput {
        i.use_chunked_encoding_by_default = false;
        i.should_keep_alive = keep_alive;
        i
    }
    fn hdr(mut i: ResponseHeadInput, name: &str, value: OutValue) -> ResponseHeadInput {
        i.headers.push((name.to_owned(), value));
        i
    }
    fn cl(mut i: ResponseHeadInput, n: u64) -> ResponseHeadInput {
        i.content_length = Some(n);
        i
    }
    fn many(v: &[&str]) -> OutValue {
        OutValue::Many(v.iter().map(|s| s.to_string()).collect())
    }

    /// Heads recorded from Node 23.5.0 (probe resp.js; request line in the
    /// case name, `Date` set to the epoch).
    #[rstest]
    #[case::end_empty_11(cl(base(200), 0), "HTTP/1.1 200 OK\r\nDate: <DATE>\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n", false)]
    #[case::end_data_11(cl(base(200), 5), "HTTP/1.1 200 OK\r\nDate: <DATE>\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 5\r\n\r\n", false)]
    #[case::write_then_end_11(base(200), "HTTP/1.1 200 OK\r\nDate: <DATE>\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\r\n", false)]
    #[case::writehead_object_11(
        { let mut i = hdr(hdr(hdr(base(201), "X-A", "1".into()), "set-cookie", many(&["a", "b"])), "Cookie", many(&["c", "d"])); i.validate = true; i },
        "HTTP/1.1 201 Created\r\nX-A: 1\r\nset-cookie: a\r\nset-cookie: b\r\nCookie: c; d\r\nDate: <DATE>\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\r\n", false)]
    #[case::writehead_reason_array_11(
        { let mut i = hdr(hdr(base(200), "X-B", "1".into()), "x-b", "2".into()); i.status_message = Some("Fine".into()); i },
        "HTTP/1.1 200 Fine\r\nX-B: 1\r\nx-b: 2\r\nDate: <DATE>\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\r\n", false)]
    #[case::set_header_404_11(cl(hdr(hdr(base(404), "X-Z", "z".into()), "Content-Type", "text/plain".into()), 2), "HTTP/1.1 404 Not Found\r\nX-Z: z\r\nContent-Type: text/plain\r\nDate: <DATE>\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\n", false)]
    #[case::user_content_length_11(hdr(base(200), "Content-Length", "2".into()), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDate: <DATE>\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n", false)]
    #[case::user_connection_close_11(cl(hdr(base(200), "Connection", "close".into()), 1), "HTTP/1.1 200 OK\r\nConnection: close\r\nDate: <DATE>\r\nContent-Length: 1\r\n\r\n", true)]
    #[case::user_date_11(cl(hdr(base(200), "Date", "yesterday".into()), 1), "HTTP/1.1 200 OK\r\nDate: yesterday\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 1\r\n\r\n", false)]
    #[case::no_date_11({ let mut i = cl(base(200), 1); i.send_date = false; i }, "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 1\r\n\r\n", false)]
    #[case::te_on_204_11(hdr(base(204), "Transfer-Encoding", "chunked".into()), "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\nDate: <DATE>\r\nConnection: close\r\n\r\n", true)]
    #[case::not_modified_11(cl(base(304), 0), "HTTP/1.1 304 Not Modified\r\nDate: <DATE>\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n", false)]
    #[case::unknown_status_11(base(999), "HTTP/1.1 999 unknown\r\nDate: <DATE>\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\r\n", false)]
    #[case::removed_cl_and_te_11(
        { let mut i = base(200); i.removed_content_length = true; i.removed_transfer_encoding = true; i },
        "HTTP/1.1 200 OK\r\nDate: <DATE>\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n", true)]
    #[case::user_keep_alive_11(cl(hdr(base(200), "Keep-Alive", "timeout=9".into()), 1), "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=9\r\nDate: <DATE>\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", false)]
    #[case::end_empty_10(
        http10(cl(base(200), 0), false),
        "HTTP/1.1 200 OK\r\nDate: <DATE>\r\nConnection: close\r\n\r\n",
        true
    )]
    #[case::end_empty_10_keep_alive(
        http10(cl(base(200), 0), true),
        "HTTP/1.1 200 OK\r\nDate: <DATE>\r\nConnection: close\r\n\r\n",
        true
    )]
    #[case::write_10(
        http10(base(200), false),
        "HTTP/1.1 200 OK\r\nDate: <DATE>\r\nConnection: close\r\n\r\n",
        true
    )]
    #[case::user_close_10(http10(cl(hdr(base(200), "Connection", "close".into()), 1), false), "HTTP/1.1 200 OK\r\nConnection: close\r\nDate: <DATE>\r\n\r\n", true)]
    #[case::head_end_data({ let mut i = cl(base(200), 5); i.request_is_head = true; i }, "HTTP/1.1 200 OK\r\nDate: <DATE>\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n", false)]
    #[case::head_user_close({ let mut i = cl(hdr(base(200), "Connection", "close".into()), 1); i.request_is_head = true; i }, "HTTP/1.1 200 OK\r\nConnection: close\r\nDate: <DATE>\r\n\r\n", true)]
    #[case::missing_host_400(
        { let mut i = hdr(base(400), "Connection", "close".into()); i.validate = true; i },
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nDate: <DATE>\r\nTransfer-Encoding: chunked\r\n\r\n", true)]
    fn heads_match_node(
        #[case] input: ResponseHeadInput,
        #[case] expected: &str,
        #[case] last: bool,
    ) {
        let head = encode_response_head(&input).unwrap();
        let expected = expected.replace("<DATE>", DATE);
        assert_eq!(String::from_utf8_lossy(&head.bytes), expected);
        assert_eq!(head.last, last);
    }

    #[test]
    fn chunked_state_is_reported() {
        let h = encode_response_head(&base(200)).unwrap();
        assert!(h.chunked && h.has_body);
        let h = encode_response_head(&cl(base(204), 0)).unwrap();
        assert!(!h.chunked && !h.has_body);
    }

    #[test]
    fn keep_alive_max_and_limit_reached() {
        let mut i = cl(base(200), 0);
        i.max_requests_per_socket = 3;
        i.keep_alive_timeout_ms = 65_999;
        let h = encode_response_head(&i).unwrap();
        assert!(String::from_utf8_lossy(&h.bytes).contains("Keep-Alive: timeout=65, max=3\r\n"));
        i.max_requests_reached = true;
        let h = encode_response_head(&i).unwrap();
        assert!(String::from_utf8_lossy(&h.bytes).contains("Connection: close\r\n"));
    }

    #[rstest]
    #[case::bad_message({ let mut i = base(200); i.status_message = Some("a\nb".into()); i }, "ERR_INVALID_CHAR")]
    #[case::bad_name({ let mut i = hdr(base(200), "a b", "x".into()); i.validate = true; i }, "ERR_INVALID_HTTP_TOKEN")]
    #[case::bad_value({ let mut i = hdr(base(200), "a", "x\ry".into()); i.validate = true; i }, "ERR_INVALID_CHAR")]
    #[case::trailer_not_chunked(cl(hdr(hdr(base(200), "Content-Length", "1".into()), "Trailer", "X".into()), 1), "ERR_HTTP_TRAILER_INVALID")]
    fn errors_match_node(#[case] input: ResponseHeadInput, #[case] code: &str) {
        assert_eq!(encode_response_head(&input).unwrap_err().code(), code);
    }

    #[test]
    fn trailer_header_forces_chunked() {
        let h = encode_response_head(&cl(hdr(base(200), "Trailer", "X-T".into()), 1)).unwrap();
        assert!(h.chunked);
        assert!(String::from_utf8_lossy(&h.bytes).ends_with("Transfer-Encoding: chunked\r\n\r\n"));
    }

    #[test]
    fn latin1_values_are_one_byte() {
        let h = encode_response_head(&cl(hdr(base(200), "X", "caf\u{e9}".into()), 0)).unwrap();
        assert!(h.bytes.windows(6).any(|w| w == b"caf\xe9\r\n"));
    }

    /// `new Date(s * 1000).toUTCString()` in Node.
    #[rstest]
    #[case(0, "Thu, 01 Jan 1970 00:00:00 GMT")]
    #[case(784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT")]
    #[case(951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT")]
    #[case(1_709_251_199, "Thu, 29 Feb 2024 23:59:59 GMT")]
    #[case(1_735_689_599, "Tue, 31 Dec 2024 23:59:59 GMT")]
    #[case(4_102_444_799, "Thu, 31 Dec 2099 23:59:59 GMT")]
    fn dates_match_node(#[case] secs: u64, #[case] expected: &str) {
        assert_eq!(
            imf_fixdate(UNIX_EPOCH + Duration::from_secs(secs)),
            expected
        );
    }

    #[test]
    fn close_regex_needs_word_boundaries() {
        assert!(has_word("Close", "close"));
        assert!(has_word("foo, close", "close"));
        assert!(has_word("x-close", "close"));
        assert!(!has_word("closed", "close"));
        assert!(!has_word("enclose", "close"));
    }
}
