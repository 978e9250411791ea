//! One outgoing request as a sans-IO state machine: the `OutgoingMessage`
//! half of Node's `ClientRequest` (lib/_http_outgoing.js and the
//! constructor of lib/_http_client.js, Node 23.5.0), without sockets.
//!
//! [`RequestState`] holds the queued headers (`kOutHeaders`), renders the
//! head as `_storeHeader` does (header order and case as given, `Host`
//! first when Node adds it, `Connection: keep-alive` / `close`,
//! `Content-Length` or `Transfer-Encoding: chunked` by
//! `useChunkedEncodingByDefault`), and frames body writes. Every byte it
//! produces is appended to an output buffer (Node's `outputData`), which
//! the connection takes with [`RequestState::take_output`].

use std::time::SystemTime;

use crate::chunked::{encode_chunk, encode_last_chunk};
use crate::encode::{encode_head, set_headers_with, Chunk, OutValue, ResponseHeadInput, StartLine};
use crate::error::Error;
use crate::validate::{validate_header_name, validate_header_value};

pub use crate::defaults::HIGH_WATER_MARK;

/// What the head rendering needs to know of the request.
///
/// Node equivalent: the fields the `ClientRequest` constructor sets before
/// any header is stored (`method`, `path`, `shouldKeepAlive`, `agent`,
/// `useChunkedEncodingByDefault`, `kUniqueHeaders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// `req.method`, upper-cased.
    pub method: String,
    /// `req.path`.
    pub path: String,
    /// `req.shouldKeepAlive` as the constructor sets it: true with an agent
    /// that keeps sockets alive or has a finite `maxSockets`.
    pub should_keep_alive: bool,
    /// Whether the request goes through an agent (`this.agent` truthy).
    pub has_agent: bool,
    /// The option `uniqueHeaders`: array values of these names go on one
    /// line joined with `"; "`.
    pub unique_headers: Vec<String>,
}

impl RequestContext {
    /// A context for `method path` through a keep-alive agent.
    pub fn new(method: &str, path: &str) -> RequestContext {
        RequestContext {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            should_keep_alive: true,
            has_agent: true,
            unique_headers: Vec::new(),
        }
    }

    /// `useChunkedEncodingByDefault`: false for GET, HEAD, DELETE, OPTIONS,
    /// TRACE and CONNECT.
    pub fn use_chunked_encoding_by_default(&self) -> bool {
        !matches!(
            self.method.as_str(),
            "GET" | "HEAD" | "DELETE" | "OPTIONS" | "TRACE" | "CONNECT"
        )
    }
}

#[derive(Debug, Clone)]
struct Entry {
    key: String,
    name: String,
    value: OutValue,
}

/// The state of one `ClientRequest` as an outgoing message.
///
/// ```
/// use nodehttp_proto::client::request::{RequestContext, RequestState};
/// let mut req = RequestState::new(RequestContext::new("POST", "/x"));
/// req.set_header("Host", "a".into()).unwrap();
/// req.write(b"abc").unwrap();
/// req.end(None).unwrap();
/// assert_eq!(
///     req.take_output(),
///     b"POST /x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
/// );
/// ```
#[derive(Debug, Clone)]
pub struct RequestState {
    ctx: RequestContext,
    headers: Vec<Entry>,
    header: Option<Vec<u8>>,
    /// The head in UTF-8 when it has text outside ASCII: sent instead of
    /// `header` with a [`Chunk::Text`].
    header_utf8: Option<Vec<u8>>,
    header_sent: bool,
    should_keep_alive: bool,
    chunked: bool,
    last: bool,
    removed_connection: bool,
    removed_content_length: bool,
    removed_transfer_encoding: bool,
    content_length: Option<u64>,
    trailer: String,
    finished: bool,
    destroyed: bool,
    output: Vec<u8>,
    /// `kCorked`: `cork()` minus `uncork()` calls (it may go negative).
    corked: i64,
    /// The request has its socket (the `socket` setter ran).
    has_socket: bool,
    /// The socket's own cork count: while above 0 nothing leaves.
    socket_corked: u32,
    /// `kChunkedBuffer`: chunks written while corked after the head,
    /// sent as one chunk by the `uncork()` that brings `corked` to 0.
    chunk_buffer: Vec<u8>,
    /// `strictContentLength`.
    strict_content_length: bool,
    /// `kBytesWritten`: body bytes counted while `strictContentLength`.
    bytes_written: u64,
    /// A `Transfer-Encoding` header was written.
    te_header: bool,
}

impl RequestState {
    /// A request with no header queued.
    ///
    /// Node equivalent: `OutgoingMessage` as the `ClientRequest`
    /// constructor leaves it before `options.headers` are set.
    pub fn new(ctx: RequestContext) -> RequestState {
        RequestState {
            should_keep_alive: ctx.should_keep_alive,
            last: !ctx.should_keep_alive,
            ctx,
            headers: Vec::new(),
            header: None,
            header_utf8: None,
            header_sent: false,
            chunked: false,
            removed_connection: false,
            removed_content_length: false,
            removed_transfer_encoding: false,
            content_length: None,
            trailer: String::new(),
            finished: false,
            destroyed: false,
            output: Vec::new(),
            corked: 0,
            has_socket: false,
            socket_corked: 0,
            chunk_buffer: Vec::new(),
            strict_content_length: false,
            bytes_written: 0,
            te_header: false,
        }
    }

    /// The context the request was created with.
    pub fn context(&self) -> &RequestContext {
        &self.ctx
    }

    /// `req.path = path`: the request line uses it if the head is not
    /// rendered yet.
    pub fn set_path(&mut self, path: String) {
        self.ctx.path = path;
    }

    /// Set `uniqueHeaders` (Node sets them after the constructor may have
    /// rendered the head).
    pub fn set_unique_headers(&mut self, names: Vec<String>) {
        self.ctx.unique_headers = names;
    }

    /// `req.shouldKeepAlive` after the head: a `Connection` header the
    /// user set can change it.
    pub fn should_keep_alive(&self) -> bool {
        self.should_keep_alive
    }

    /// `req.headersSent`: the head is rendered.
    pub fn headers_sent(&self) -> bool {
        self.header.is_some()
    }

    /// `req.writableEnded` / `req.finished`: `end()` was called.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Stop producing bytes (`req.destroy()`); later writes fail with
    /// `ERR_STREAM_DESTROYED`.
    pub fn destroy(&mut self) {
        self.destroyed = true;
        self.output.clear();
    }

    /// `chunkedEncoding`: body writes are framed as chunks.
    pub fn chunked_encoding(&self) -> bool {
        self.chunked
    }

    /// Bytes waiting for the socket (Node's `outputSize`).
    pub fn pending_len(&self) -> usize {
        self.output.len()
    }

    /// Take the bytes produced so far (the head once sent, framed body
    /// data, the last chunk), in wire order.
    ///
    /// Nothing while the socket is corked: the bytes stay
    /// [`pending`](Self::pending_len).
    pub fn take_output(&mut self) -> Vec<u8> {
        if self.has_socket && self.socket_corked > 0 {
            return Vec::new();
        }
        std::mem::take(&mut self.output)
    }

    /// The request got its socket (the `socket` setter): the socket is
    /// corked as many times as the request is.
    pub fn attach_socket(&mut self) {
        if self.has_socket {
            return;
        }
        self.has_socket = true;
        self.socket_corked = self.corked.max(0) as u32;
    }

    /// Node equivalent: `req.cork()` (Node 21 and later): the count goes
    /// up, and the socket, if any, is corked.
    pub fn cork(&mut self) {
        self.corked += 1;
        if self.has_socket {
            self.socket_corked += 1;
        }
    }

    /// Node equivalent: `req.uncork()` (Node 21 and later): the count
    /// goes down (below 0 too), the socket is uncorked once, and when the
    /// count reaches 0 the chunks written while corked go as one chunk.
    pub fn uncork(&mut self) {
        self.corked -= 1;
        if self.has_socket {
            self.socket_corked = self.socket_corked.saturating_sub(1);
        }
        if self.corked != 0 || self.chunk_buffer.is_empty() {
            return;
        }
        let buf = std::mem::take(&mut self.chunk_buffer);
        self.send(&encode_chunk(&buf));
    }

    /// `req.strictContentLength`.
    pub fn strict_content_length(&self) -> bool {
        self.strict_content_length
    }

    /// `req.strictContentLength = on`: body bytes past the
    /// `Content-Length` (or short of it at `end()`) throw
    /// `ERR_HTTP_CONTENT_LENGTH_MISMATCH`, once the head declares it.
    pub fn set_strict_content_length(&mut self, on: bool) {
        self.strict_content_length = on;
    }

    /// Node's `strictContentLength(msg)`: whether the check applies now.
    fn strict_applies(&self) -> bool {
        self.strict_content_length
            && self.content_length.is_some()
            && !self.removed_content_length
            && !self.chunked
            && !self.te_header
            && !self.has_header("transfer-encoding")
    }

    /// The `kBytesWritten` check of `write_()`.
    fn check_length(&mut self, len: u64, from_end: bool) -> Result<(), Error> {
        if !self.strict_content_length {
            return Ok(());
        }
        if self.strict_applies() {
            let declared = self.content_length.unwrap_or(0);
            let total = self.bytes_written + len;
            let bad = if from_end {
                total != declared
            } else {
                total > declared
            };
            if bad {
                return Err(Error::content_length_mismatch(
                    &total.to_string(),
                    &declared.to_string(),
                ));
            }
        }
        self.bytes_written += len;
        Ok(())
    }

    /// `req.writableCorked`: the request's own count.
    pub fn writable_corked(&self) -> i64 {
        self.corked
    }

    // ------------------------------------------------------------ headers

    /// Node equivalent: `req.setHeader(name, value)`: `ERR_HTTP_HEADERS_SENT`
    /// once the head is rendered, `ERR_INVALID_HTTP_TOKEN`, `ERR_INVALID_CHAR`.
    pub fn set_header(&mut self, name: &str, value: OutValue) -> Result<(), Error> {
        if self.header.is_some() {
            return Err(Error::headers_sent("set"));
        }
        validate_header_name(name)?;
        check_value(name, &value)?;
        let key = name.to_lowercase();
        match self.headers.iter_mut().find(|e| e.key == key) {
            Some(e) => {
                e.name = name.to_owned();
                e.value = value;
            }
            None => self.headers.push(Entry {
                key,
                name: name.to_owned(),
                value,
            }),
        }
        Ok(())
    }

    /// Node equivalent: `req.getHeader(name)`.
    pub fn get_header(&self, name: &str) -> Option<&OutValue> {
        let key = name.to_lowercase();
        self.headers.iter().find(|e| e.key == key).map(|e| &e.value)
    }

    /// Node equivalent: `req.hasHeader(name)`.
    pub fn has_header(&self, name: &str) -> bool {
        self.get_header(name).is_some()
    }

    /// Node equivalent: `req.getHeaders()` (names lower-cased).
    pub fn get_headers(&self) -> Vec<(String, OutValue)> {
        self.headers
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect()
    }

    /// Node equivalent: `req.getHeaderNames()`.
    pub fn get_header_names(&self) -> Vec<String> {
        self.headers.iter().map(|e| e.key.clone()).collect()
    }

    /// Node equivalent: `req.getRawHeaderNames()`.
    pub fn get_raw_header_names(&self) -> Vec<String> {
        self.headers.iter().map(|e| e.name.clone()).collect()
    }

    /// Node equivalent: `req.appendHeader(name, value)`: the value is added
    /// to those queued under the name (an array from then on), or set.
    pub fn append_header(&mut self, name: &str, value: OutValue) -> Result<(), Error> {
        if self.header.is_some() {
            return Err(Error::headers_sent("append"));
        }
        validate_header_name(name)?;
        check_value(name, &value)?;
        let key = name.to_lowercase();
        let Some(e) = self.headers.iter_mut().find(|e| e.key == key) else {
            return self.set_header(name, value);
        };
        let queued = std::mem::replace(&mut e.value, OutValue::Many(Vec::new()));
        e.value = queued.appended(value);
        Ok(())
    }

    /// Node equivalent: `req.setHeaders(headers)` (a `Map` or `Headers`):
    /// each entry as `setHeader`, `set-cookie` entries together last.
    pub fn set_headers(&mut self, headers: &[(String, OutValue)]) -> Result<(), Error> {
        if self.header.is_some() {
            return Err(Error::headers_sent("set"));
        }
        set_headers_with(headers, |name, value| self.set_header(name, value))
    }

    /// Node equivalent: `req.removeHeader(name)`; removing `Connection`,
    /// `Content-Length` or `Transfer-Encoding` stops Node from adding its
    /// own.
    pub fn remove_header(&mut self, name: &str) -> Result<(), Error> {
        if self.header.is_some() {
            return Err(Error::headers_sent("remove"));
        }
        let key = name.to_lowercase();
        match key.as_str() {
            "connection" => self.removed_connection = true,
            "content-length" => self.removed_content_length = true,
            "transfer-encoding" => self.removed_transfer_encoding = true,
            _ => {}
        }
        self.headers.retain(|e| e.key != key);
        Ok(())
    }

    // ------------------------------------------------------------ head

    /// Render the head from the queued headers (`_implicitHeader`).
    fn implicit_header(&mut self) -> Result<(), Error> {
        if self.header.is_some() {
            return Err(Error::headers_sent("render"));
        }
        let entries: Vec<(String, OutValue)> = self
            .headers
            .iter()
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect();
        self.store_header(&entries, false)
    }

    /// Render the head from a raw array of headers (`options.headers` as
    /// `[name, value, ...]`), validating each, as the constructor does:
    /// nothing is queued and no `Host` is added.
    ///
    /// Node equivalent: `this._storeHeader(firstLine, options.headers)`.
    pub fn store_raw_headers(&mut self, pairs: &[(String, OutValue)]) -> Result<(), Error> {
        if self.header.is_some() {
            return Err(Error::headers_sent("render"));
        }
        self.store_header(pairs, true)
    }

    /// Render the head now, as the constructor does when an `Expect`
    /// header is queued (the head is then sent at once).
    pub fn store_queued_headers(&mut self) -> Result<(), Error> {
        self.implicit_header()
    }

    /// `_storeHeader(firstLine, headers)`: the one `OutgoingMessage`
    /// rendering of [`encode`](crate::encode), with the request line.
    fn store_header(
        &mut self,
        entries: &[(String, OutValue)],
        validate: bool,
    ) -> Result<(), Error> {
        let mut input = ResponseHeadInput::new(0, SystemTime::UNIX_EPOCH);
        input.validate = validate;
        input.send_date = false;
        input.should_keep_alive = self.should_keep_alive;
        input.use_chunked_encoding_by_default = self.ctx.use_chunked_encoding_by_default();
        input.keep_alive_timeout_ms = 0;
        input.content_length = self.content_length;
        input.removed_connection = self.removed_connection;
        input.removed_content_length = self.removed_content_length;
        input.removed_transfer_encoding = self.removed_transfer_encoding;
        input.last = self.last;
        input.has_agent = self.ctx.has_agent;
        let start = StartLine::Request {
            method: &self.ctx.method,
            path: &self.ctx.path,
        };
        let headers = entries.iter().map(|(n, v)| (n.as_str(), v));
        let (head, lines) =
            encode_head(&input, start, headers, &self.ctx.unique_headers, Vec::new())?;
        // What matchHeader left on the request.
        if lines.connection {
            self.removed_connection = false;
        }
        if lines.transfer_encoding {
            self.removed_transfer_encoding = false;
            self.te_header = true;
        }
        if head.content_length_header.is_some() {
            self.removed_content_length = false;
        }
        self.content_length = head.content_length;
        self.should_keep_alive = head.should_keep_alive;
        self.last = head.last;
        self.chunked = head.chunked;
        self.header = Some(head.bytes);
        self.header_utf8 = head.utf8;
        self.header_sent = false;
        if lines.expect {
            self.send(&[]);
        }
        Ok(())
    }

    /// `_send(string, 'utf8')`: a head still unsent goes with the string,
    /// in UTF-8 (see [`Chunk`]).
    fn send_text(&mut self, data: &[u8]) {
        self.send_with_head(data, true);
    }

    /// `_send(data)`: the head goes out with the first bytes.
    fn send(&mut self, data: &[u8]) {
        self.send_with_head(data, false);
    }

    /// The head if not sent yet (in UTF-8 with a string chunk, when that
    /// differs from latin-1), then `data`.
    fn send_with_head(&mut self, data: &[u8], text: bool) {
        if self.destroyed {
            return;
        }
        if !self.header_sent {
            let utf8 = if text {
                self.header_utf8.as_ref()
            } else {
                None
            };
            if let Some(h) = utf8.or(self.header.as_ref()) {
                self.output.extend_from_slice(h);
                self.header_sent = true;
            }
        }
        self.output.extend_from_slice(data);
    }

    /// Whether the head went to the output (`_headerSent`).
    pub fn header_sent(&self) -> bool {
        self.header_sent
    }

    // ------------------------------------------------------------ body

    /// Node equivalent: `req.write(chunk)`. Returns Node's boolean: false
    /// once [`HIGH_WATER_MARK`] bytes wait for the socket. Fails with
    /// `ERR_STREAM_WRITE_AFTER_END` after `end()`, `ERR_STREAM_DESTROYED`
    /// after `destroy()`.
    pub fn write(&mut self, data: &[u8]) -> Result<bool, Error> {
        self.write_chunk(Chunk::Bytes(data))
    }

    /// [`write`](Self::write) with a chunk that may be a UTF-8 string (see
    /// [`Chunk`]: a head still unsent then goes with it as UTF-8).
    pub fn write_chunk(&mut self, chunk: Chunk<'_>) -> Result<bool, Error> {
        self.write_inner(chunk, false)?;
        Ok(self.output.len() + self.chunk_buffer.len() < HIGH_WATER_MARK)
    }

    fn write_inner(&mut self, chunk: Chunk<'_>, from_end: bool) -> Result<(), Error> {
        let data = chunk.bytes();
        if self.finished {
            return Err(Error::write_after_end());
        }
        if self.destroyed {
            return Err(Error::stream_destroyed("write"));
        }
        self.check_length(data.len() as u64, from_end)?;
        if self.header.is_none() {
            if from_end {
                self.content_length = Some(data.len() as u64);
            }
            self.implicit_header()?;
        }
        if self.chunked && !data.is_empty() && self.corked != 0 && self.header_sent {
            // Corked after the head: held for uncork().
            self.chunk_buffer.extend_from_slice(data);
        } else if self.chunked && !data.is_empty() {
            self.send(&encode_chunk(data));
        } else if chunk.is_text() {
            self.send_text(data);
        } else {
            self.send(data);
        }
        Ok(())
    }

    /// Node equivalent: `req.end([data])`: the head if not yet rendered
    /// (`Content-Length` of `data` when the method uses chunked encoding by
    /// default), the data, and the last chunk with the trailers. A second
    /// `end()` does nothing; `end(data)` after `end()` fails with
    /// `ERR_STREAM_WRITE_AFTER_END`.
    pub fn end(&mut self, data: Option<&[u8]>) -> Result<(), Error> {
        self.end_chunk(data.map(Chunk::Bytes))
    }

    /// [`end`](Self::end) with a chunk that may be a UTF-8 string (see
    /// [`Chunk`]).
    pub fn end_chunk(&mut self, data: Option<Chunk<'_>>) -> Result<(), Error> {
        match data {
            Some(d) if !d.bytes().is_empty() => {
                if self.finished {
                    return Err(Error::write_after_end());
                }
                self.write_inner(d, true)?;
            }
            _ if self.finished => return Ok(()),
            _ => {
                if self.header.is_none() {
                    self.content_length = Some(0);
                    self.implicit_header()?;
                }
            }
        }
        if self.strict_applies() && Some(self.bytes_written) != self.content_length {
            return Err(Error::content_length_mismatch(
                &self.bytes_written.to_string(),
                &self.content_length.unwrap_or(0).to_string(),
            ));
        }
        if self.chunked {
            self.send(&encode_last_chunk(&self.trailer));
        } else {
            self.send(&[]);
        }
        // The socket is fully uncorked; the request's count is set to 1
        // and uncorked, so chunks held by cork() go now, after the last
        // chunk (Node 21 and later).
        self.socket_corked = 0;
        self.corked = 1;
        self.uncork();
        self.finished = true;
        Ok(())
    }

    /// Node equivalent: `req.flushHeaders()`: render the head if needed and
    /// send it now.
    pub fn flush_headers(&mut self) -> Result<(), Error> {
        if self.header.is_none() {
            self.implicit_header()?;
        }
        self.send(&[]);
        Ok(())
    }

    /// Node equivalent: `req.addTrailers(headers)`: sent with the last
    /// chunk of a chunked request.
    pub fn add_trailers(&mut self, trailers: &[(String, String)]) -> Result<(), Error> {
        let mut rendered = String::new();
        for (name, value) in trailers {
            crate::validate::validate_token(name, "Trailer name")?;
            validate_header_value(name, Some(value))?;
            rendered.push_str(&format!("{name}: {value}\r\n"));
        }
        self.trailer = rendered;
        Ok(())
    }
}

/// `validateHeaderValue(name, value)` for the value forms of `setHeader`.
fn check_value(name: &str, value: &OutValue) -> Result<(), Error> {
    match value {
        OutValue::One(s) => validate_header_value(name, Some(s)),
        OutValue::Many(v) => validate_header_value(name, Some(&v.join(","))),
        OutValue::Number(_) => Ok(()),
    }
}
