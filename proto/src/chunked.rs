//! Chunked transfer coding: a decoder with llhttp's strictness and an
//! encoder writing what `OutgoingMessage` writes.
//!
//! The decoder is a state machine in the style of hyper's
//! `proto::h1::decode::ChunkedState`: one `read_*` step per state, fed any
//! slice of input, so a body split at any byte boundary decodes the same
//! (tested at every split point). Chunk extensions are validated as llhttp
//! does and then ignored; trailers are collected as raw header pairs.
//! Error codes and `bytesParsed` offsets (relative to the slice given to
//! [`ChunkedDecoder::decode`], as Node's are relative to each
//! `parser.execute` buffer) were recorded from Node 23.5.0 (probe parse.js).

use crate::error::{Error, Parse};
use crate::parse::{ConnectionFlags, HeadFilter, ParseOptions, Scanner};
use crate::validate::{has_invalid_header_char, is_token_byte, validate_token};

/// Node's limit on the chunk extensions of one chunk
/// (`kMaxChunkExtensionsSize` in src/node_http_parser.cc): 16 KiB, past
/// which the parser fails with `HPE_CHUNK_EXTENSIONS_OVERFLOW` (and the
/// server answers 413).
pub const MAX_CHUNK_EXTENSIONS_SIZE: usize = 16 * 1024;

/// The decoder's states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkedState {
    /// First hex digit of a chunk size.
    SizeStart,
    /// More hex digits.
    Size,
    /// Spaces after the size (lenient only).
    SizeWs,
    /// Right after `;`: the first byte of an extension name.
    ExtNameStart,
    /// Extension name.
    ExtName,
    /// Right after `=`.
    ExtValueStart,
    /// Unquoted extension value.
    ExtValue,
    /// Inside a quoted extension value.
    ExtQuoted,
    /// After `\` inside a quoted value.
    ExtQuotedEscape,
    /// After the closing quote.
    ExtQuotedEnd,
    /// After the CR that ends the size line.
    SizeLf,
    /// Chunk data.
    Body,
    /// The CR after chunk data.
    BodyCr,
    /// The LF after chunk data.
    BodyLf,
    /// Trailer section (after the last chunk).
    Trailers,
    /// The message is complete.
    End,
}

/// The result of one [`ChunkedDecoder::decode`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input consumed. Less than the input only when `done`
    /// (the rest belongs to the next message), or after a span of data
    /// for [`ChunkedDecoder::decode_span`].
    pub consumed: usize,
    /// Whether the last chunk and the trailers have been read.
    pub done: bool,
}

/// A chunked-body decoder.
///
/// Node equivalent: llhttp's chunk states as driven by `parserOnBody` and
/// `parserOnMessageComplete` (trailers go to `req.rawTrailers`).
///
/// ```
/// use nodehttp_proto::chunked::ChunkedDecoder;
/// use nodehttp_proto::parse::ParseOptions;
/// let mut d = ChunkedDecoder::new(ParseOptions::default());
/// let mut body = Vec::new();
/// let p = d.decode(b"3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\nNEXT", &mut body).unwrap();
/// assert!(p.done);
/// assert_eq!(p.consumed, 23);
/// assert_eq!(body, b"abc");
/// assert_eq!(d.trailers(), &[("T".to_string(), "v".to_string())]);
/// ```
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: ChunkedState,
    size: u64,
    ext_len: usize,
    /// The unfinished trailer section, through `trailer_filter`.
    trailer_buf: Vec<u8>,
    trailer_filter: HeadFilter,
    trailers: Vec<(String, String)>,
    trailer_connection: ConnectionFlags,
    opts: ParseOptions,
}

/// What a `read_*` step did.
enum Step {
    /// Consumed one byte (or more, for data) and moved on.
    Next(usize),
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub fn new(opts: ParseOptions) -> ChunkedDecoder {
        ChunkedDecoder {
            state: ChunkedState::SizeStart,
            size: 0,
            ext_len: 0,
            trailer_buf: Vec::new(),
            trailer_filter: HeadFilter::trailers(),
            trailers: Vec::new(),
            trailer_connection: ConnectionFlags::default(),
            opts,
        }
    }

    /// Whether the whole body (with trailers) has been read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkedState::End
    }

    /// The trailers, as raw `(name, value)` pairs (Node's `rawTrailers`),
    /// once [`is_done`](Self::is_done).
    pub fn trailers(&self) -> &[(String, String)] {
        &self.trailers
    }

    /// The `Connection` tokens of the trailers: llhttp decides whether the
    /// connection stays open after the message with them too (a trailer
    /// `Connection: close` ends it).
    pub fn trailer_connection(&self) -> ConnectionFlags {
        self.trailer_connection
    }

    /// `llhttp_should_keep_alive` once the trailers are read, from what the
    /// head gave (`head_keep_alive`): an HTTP/1.1 message stops keeping
    /// the connection alive with a trailer `close`, an HTTP/1.0 one starts
    /// with a trailer `keep-alive`.
    pub fn connection_after_trailers(&self, head_keep_alive: bool, http11: bool) -> bool {
        let t = self.trailer_connection;
        if http11 {
            head_keep_alive && !t.close
        } else {
            head_keep_alive || t.keep_alive
        }
    }

    /// The bytes held for an unfinished trailer section (chunk data and
    /// sizes are never held): at most
    /// [`max_buffered_head`](crate::parse::max_buffered_head) of
    /// `maxHeaderSize`.
    pub fn buffered(&self) -> usize {
        self.trailer_buf.len()
    }

    /// Decode as much of `input` as possible, appending chunk data to
    /// `body`. Errors carry llhttp's code and the offset in `input`.
    pub fn decode(&mut self, input: &[u8], body: &mut Vec<u8>) -> Result<Progress, Error> {
        self.decode_until(input, body, false)
    }

    /// As [`decode`](Self::decode), but stops right after the first span
    /// of chunk data: llhttp's `on_body` callback, after which Node runs
    /// the queued ticks before it parses on (`MakeCallback`).
    pub fn decode_span(&mut self, input: &[u8], body: &mut Vec<u8>) -> Result<Progress, Error> {
        self.decode_until(input, body, true)
    }

    fn decode_until(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
        one_span: bool,
    ) -> Result<Progress, Error> {
        let mut pos = 0;
        let start = body.len();
        while pos < input.len() {
            if self.state == ChunkedState::End || (one_span && body.len() > start) {
                break;
            }
            if self.state == ChunkedState::Trailers {
                return self.read_trailers(input, pos);
            }
            let Step::Next(n) = self.step(input, pos, body)?;
            pos += n;
        }
        Ok(Progress {
            consumed: pos,
            done: self.state == ChunkedState::End,
        })
    }

    fn step(&mut self, input: &[u8], pos: usize, body: &mut Vec<u8>) -> Result<Step, Error> {
        use ChunkedState::*;
        let b = input[pos];
        match self.state {
            SizeStart => self.read_size_start(b, pos),
            Size => self.read_size(b, pos),
            SizeWs => self.read_size_ws(b, pos),
            ExtNameStart => self.read_ext_name_start(b, pos),
            ExtName => self.read_ext_name(b, pos),
            ExtValueStart => self.read_ext_value_start(b, pos),
            ExtValue => self.read_ext_value(b, pos),
            ExtQuoted => self.read_ext_quoted(b, pos),
            ExtQuotedEscape => self.read_ext_quoted_escape(b, pos),
            ExtQuotedEnd => self.read_ext_quoted_end(b, pos),
            SizeLf => self.read_size_lf(b, pos),
            Body => Ok(self.read_body(&input[pos..], body)),
            BodyCr => self.read_body_cr(b, pos),
            BodyLf => self.read_body_lf(b, pos),
            Trailers | End => Ok(Step::Next(0)),
        }
    }

    fn err(kind: Parse, reason: &'static str, at: usize) -> Result<Step, Error> {
        Err(Error::parse(kind, reason, at))
    }

    fn read_size_start(&mut self, b: u8, pos: usize) -> Result<Step, Error> {
        match hex(b) {
            Some(d) => {
                self.size = u64::from(d);
                self.ext_len = 0;
                self.state = ChunkedState::Size;
                Ok(Step::Next(1))
            }
            None => Self::err(
                Parse::InvalidChunkSize,
                "Invalid character in chunk size",
                pos,
            ),
        }
    }

    fn read_size(&mut self, b: u8, pos: usize) -> Result<Step, Error> {
        if let Some(d) = hex(b) {
            if self.size >> 60 != 0 {
                return Self::err(Parse::InvalidChunkSize, "Chunk size overflow", pos + 1);
            }
            self.size = self.size << 4 | u64::from(d);
            return Ok(Step::Next(1));
        }
        self.after_size(b, pos)
    }

    fn after_size(&mut self, b: u8, pos: usize) -> Result<Step, Error> {
        match b {
            b';' => self.state = ChunkedState::ExtNameStart,
            b'\r' => self.state = ChunkedState::SizeLf,
            b'\n' if self.opts.insecure => self.size_line_done(),
            b'\n' => {
                return Self::err(
                    Parse::CrExpected,
                    "Missing expected CR after chunk size",
                    pos + 1,
                )
            }
            b' ' | b'\t' if self.opts.insecure => self.state = ChunkedState::SizeWs,
            b' ' | b'\t' => {
                return Self::err(
                    Parse::InvalidChunkSize,
                    "Invalid character in chunk size",
                    pos + 1,
                )
            }
            _ => {
                return Self::err(
                    Parse::InvalidChunkSize,
                    "Invalid character in chunk size",
                    pos,
                )
            }
        }
        Ok(Step::Next(1))
    }

    fn read_size_ws(&mut self, b: u8, pos: usize) -> Result<Step, Error> {
        match b {
            b' ' | b'\t' => Ok(Step::Next(1)),
            _ => self.after_size(b, pos),
        }
    }

    fn count_ext(&mut self, pos: usize) -> Result<(), Error> {
        self.ext_len += 1;
        if self.ext_len > MAX_CHUNK_EXTENSIONS_SIZE {
            return Err(Error::parse(
                Parse::ChunkExtensionsOverflow,
                "Chunk extensions overflow",
                pos,
            ));
        }
        Ok(())
    }

    fn read_ext_name_start(&mut self, b: u8, pos: usize) -> Result<Step, Error> {
        // An empty name is allowed before `=` or `;` (Node 23.5.0 takes
        // `5;=1` and `5;;a`), not before the end of the line.
        match b {
            b'=' => {
                self.state = ChunkedState::ExtValueStart;
                return Ok(Step::Next(1));
            }
            b';' => return Ok(Step::Next(1)),
            _ => {}
        }
        if is_token_byte(b) {
            self.count_ext(pos)?;
            self.state = ChunkedState::ExtName;
            return Ok(Step::Next(1));
        }
        Self::err(
            Parse::Strict,
            "Invalid character in chunk extensions",
            pos + 1,
        )
    }

    fn read_ext_name(&mut self, b: u8, pos: usize) -> Result<Step, Error> {
        match b {
            b'=' => self.state = ChunkedState::ExtValueStart,
            b';' => self.state = ChunkedState::ExtNameStart,
            b'\r' => self.state = ChunkedState::SizeLf,
            b if is_token_byte(b) => self.count_ext(pos)?,
            _ => {
                return Self::err(
                    Parse::Strict,
                    "Invalid character in chunk extensions name",
                    pos + 1,
                )
            }
        }
        Ok(Step::Next(1))
    }

    fn read_ext_value_start(&mut self, b: u8, pos: usize) -> Result<Step, Error> {
        // An empty value may end the extension (`5;a=` and `5;a=;b`).
        match b {
            b';' => {
                self.state = ChunkedState::ExtNameStart;
                return Ok(Step::Next(1));
            }
            b'\r' => {
                self.state = ChunkedState::SizeLf;
                return Ok(Step::Next(1));
            }
            _ => {}
        }
        match b {
            b'"' => self.state = ChunkedState::ExtQuoted,
            b if is_token_byte(b) => self.state = ChunkedState::ExtValue,
            _ => {
                return Self::err(
                    Parse::Strict,
                    "Invalid character in chunk extensions value",
                    pos + 1,
                )
            }
        }
        self.count_ext(pos)?;
        Ok(Step::Next(1))
    }

    fn read_ext_value(&mut self, b: u8, pos: usize) -> Result<Step, Error> {
        match b {
            b';' => self.state = ChunkedState::ExtNameStart,
            b'\r' => self.state = ChunkedState::SizeLf,
            b if is_token_byte(b) => self.count_ext(pos)?,
            _ => {
                return Self::err(
                    Parse::Strict,
                    "Invalid character in chunk extensions value",
                    pos + 1,
                )
            }
        }
        Ok(Step::Next(1))
    }

    fn read_ext_quoted(&mut self, b: u8, pos: usize) -> Result<Step, Error> {
        match b {
            b'"' => self.state = ChunkedState::ExtQuotedEnd,
            b'\\' => self.state = ChunkedState::ExtQuotedEscape,
            // Node 23.5.0 takes DEL (0x7f) here, unlike after a backslash.
            b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0xff => {}
            _ => {
                return Self::err(
                    Parse::Strict,
                    "Invalid character in chunk extensions quoted value",
                    pos + 1,
                )
            }
        }
        self.count_ext(pos)?;
        Ok(Step::Next(1))
    }

    fn read_ext_quoted_escape(&mut self, b: u8, pos: usize) -> Result<Step, Error> {
        match b {
            b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff => {
                self.state = ChunkedState::ExtQuoted;
                self.count_ext(pos)?;
                Ok(Step::Next(1))
            }
            _ => Self::err(
                Parse::Strict,
                "Invalid quoted-pair in chunk extensions quoted value",
                pos + 1,
            ),
        }
    }

    fn read_ext_quoted_end(&mut self, b: u8, pos: usize) -> Result<Step, Error> {
        match b {
            b';' => self.state = ChunkedState::ExtNameStart,
            b'\r' => self.state = ChunkedState::SizeLf,
            _ => {
                return Self::err(
                    Parse::Strict,
                    "Invalid character in chunk extensions quote value",
                    pos,
                )
            }
        }
        Ok(Step::Next(1))
    }

    fn read_size_lf(&mut self, b: u8, pos: usize) -> Result<Step, Error> {
        match b {
            b'\n' => {
                self.size_line_done();
                Ok(Step::Next(1))
            }
            _ if self.opts.insecure => {
                self.size_line_done();
                Ok(Step::Next(0))
            }
            _ => Self::err(
                Parse::LfExpected,
                "Missing expected LF after chunk size",
                pos,
            ),
        }
    }

    fn size_line_done(&mut self) {
        self.state = if self.size == 0 {
            ChunkedState::Trailers
        } else {
            ChunkedState::Body
        };
    }

    fn read_body(&mut self, input: &[u8], body: &mut Vec<u8>) -> Step {
        let n = usize::try_from(self.size)
            .unwrap_or(usize::MAX)
            .min(input.len());
        body.extend_from_slice(&input[..n]);
        self.size -= n as u64;
        if self.size == 0 {
            self.state = ChunkedState::BodyCr;
        }
        Step::Next(n)
    }

    fn read_body_cr(&mut self, b: u8, pos: usize) -> Result<Step, Error> {
        match b {
            b'\r' => {
                self.state = ChunkedState::BodyLf;
                Ok(Step::Next(1))
            }
            _ if self.opts.insecure => {
                self.state = ChunkedState::BodyLf;
                Ok(Step::Next(0))
            }
            b'\n' => Self::err(
                Parse::CrExpected,
                "Missing expected CR after chunk data",
                pos + 1,
            ),
            _ => Self::err(Parse::Strict, "Expected LF after chunk data", pos),
        }
    }

    fn read_body_lf(&mut self, b: u8, pos: usize) -> Result<Step, Error> {
        match b {
            b'\n' => {
                self.state = ChunkedState::SizeStart;
                Ok(Step::Next(1))
            }
            _ if self.opts.insecure => {
                self.state = ChunkedState::SizeStart;
                Ok(Step::Next(0))
            }
            _ => Self::err(Parse::Strict, "Expected LF after chunk data", pos),
        }
    }

    /// Trailers: buffered and re-scanned with the head scanner (header
    /// rules and `maxHeaderSize` apply, the count restarting at zero).
    fn read_trailers(&mut self, input: &[u8], pos: usize) -> Result<Progress, Error> {
        let before = self.trailer_buf.len();
        self.trailer_buf.extend_from_slice(&input[pos..]);
        let to_input = |at: usize| (pos + at).saturating_sub(before);
        let mut s = Scanner::new(&self.trailer_buf, &self.opts);
        let fields: crate::parse::Fields<Vec<(String, String)>> = match s.header_lines(false, true)
        {
            Ok(Some(f)) => f,
            Ok(None) => match s.need_more::<()>(0) {
                Ok(_) => {
                    // Kept without what llhttp skips uncounted (offsets
                    // into later input stay right: only held bytes go).
                    let new = self.trailer_buf.split_off(before);
                    self.trailer_filter.push(&new, &mut self.trailer_buf);
                    return Ok(Progress {
                        consumed: input.len(),
                        done: false,
                    });
                }
                Err(e) => return Err(relocate(e, to_input)),
            },
            Err(e) => return Err(relocate(e, to_input)),
        };
        let used = s.pos;
        self.trailer_connection = fields.connection;
        self.trailers = fields.headers;
        self.trailer_buf = Vec::new();
        self.state = ChunkedState::End;
        Ok(Progress {
            consumed: to_input(used),
            done: true,
        })
    }
}

fn relocate(e: Error, f: impl Fn(usize) -> usize) -> Error {
    let at = e.bytes_parsed().unwrap_or(0);
    let delta = f(at);
    e.with_bytes_parsed(delta)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Frame one chunk: `{len:x}\r\n{data}\r\n`. Empty data yields nothing, as
/// Node skips zero-length writes (a zero-size chunk would end the body).
///
/// Node equivalent: `write_()` in lib/_http_outgoing.js
/// (`len.toString(16)`, CRLF, data, CRLF).
///
/// ```
/// assert_eq!(nodehttp_proto::chunked::encode_chunk(b"hello world!"), b"c\r\nhello world!\r\n");
/// ```
pub fn encode_chunk(data: &[u8]) -> Vec<u8> {
    if data.is_empty() {
        return Vec::new();
    }
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// Render trailers as `res.addTrailers(headers)` does: one
/// `name: value\r\n` line per pair, names checked as tokens
/// (`ERR_INVALID_HTTP_TOKEN`, label "Trailer name"), values checked for
/// invalid chars (`ERR_INVALID_CHAR`, "trailer content").
///
/// Node equivalent: `OutgoingMessage.prototype.addTrailers` (the
/// `this._trailer` string).
pub fn render_trailers<N: AsRef<str>, V: AsRef<str>>(trailers: &[(N, V)]) -> Result<String, Error> {
    let mut out = String::new();
    for (name, value) in trailers {
        let (name, value) = (name.as_ref(), value.as_ref());
        validate_token(name, "Trailer name")?;
        if has_invalid_header_char(value) {
            return Err(Error::invalid_char("trailer content", name));
        }
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    Ok(out)
}

/// The end of a chunked body: `0\r\n`, the rendered trailers (see
/// [`render_trailers`]), `\r\n`. Trailers are latin-1 encoded as Node
/// encodes a string (one byte per UTF-16 unit).
///
/// Node equivalent: `'0\r\n' + this._trailer + '\r\n'` in
/// `OutgoingMessage.prototype.end`.
///
/// ```
/// assert_eq!(nodehttp_proto::chunked::encode_last_chunk(""), b"0\r\n\r\n");
/// assert_eq!(nodehttp_proto::chunked::encode_last_chunk("X: y\r\n"), b"0\r\nX: y\r\n\r\n");
/// ```
pub fn encode_last_chunk(rendered_trailers: &str) -> Vec<u8> {
    let mut out = b"0\r\n".to_vec();
    out.extend(crate::encode::latin1_bytes(rendered_trailers));
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn strict() -> ParseOptions {
        ParseOptions::default()
    }
    fn lenient() -> ParseOptions {
        ParseOptions {
            insecure: true,
            ..Default::default()
        }
    }

    /// Body, trailers and bytes consumed.
    type Decoded = (Vec<u8>, Vec<(String, String)>, usize);

    /// Decode `input` fed in pieces cut at `splits`; returns (body,
    /// trailers, total consumed) or the error.
    fn decode_split(input: &[u8], splits: &[usize], opts: ParseOptions) -> Result<Decoded, Error> {
        let mut d = ChunkedDecoder::new(opts);
        let mut body = Vec::new();
        let mut consumed = 0;
        let mut start = 0;
        for &end in splits.iter().chain(std::iter::once(&input.len())) {
            let p = d.decode(&input[start..end], &mut body)?;
            consumed += p.consumed;
            if p.done {
                return Ok((body, d.trailers().to_vec(), consumed));
            }
            start = end;
        }
        Ok((body, d.trailers().to_vec(), consumed))
    }

    /// Accepted bodies (Node 23.5.0 probe: same body, same trailers).
    #[rstest]
    #[case::basic(b"3;a=b\r\nabc\r\nA\r\n0123456789\r\n0\r\nT: v\r\nT: w\r\n\r\n", strict(), b"abc0123456789", &[("T", "v"), ("T", "w")])]
    #[case::ext_no_value(b"3;a;b=c\r\nabc\r\n0\r\n\r\n", strict(), b"abc", &[])]
    #[case::ext_quoted(b"3;a=\"b c\"\r\nabc\r\n0\r\n\r\n", strict(), b"abc", &[])]
    // Node 23.5.0 takes empty extension names and values.
    #[case::ext_empty_name(b"3;=1\r\nabc\r\n0\r\n\r\n", strict(), b"abc", &[])]
    #[case::ext_quoted_del(b"3;a=\"q\x7f\"\r\nabc\r\n0\r\n\r\n", strict(), b"abc", &[])]
    #[case::ext_empty_names(b"3;;a\r\nabc\r\n0\r\n\r\n", strict(), b"abc", &[])]
    #[case::ext_empty_value(b"3;a=\r\nabc\r\n0\r\n\r\n", strict(), b"abc", &[])]
    #[case::ext_empty_value_then_more(b"3;a=;=\r\nabc\r\n0\r\n\r\n", strict(), b"abc", &[])]
    #[case::upper_and_zeros(b"0A\r\n0123456789\r\n000\r\n\r\n", strict(), b"0123456789", &[])]
    #[case::size_space_lenient(b"3 \r\nabc\r\n0\r\n\r\n", lenient(), b"abc", &[])]
    #[case::bare_lf_lenient(b"3\nabc\n0\n\n", lenient(), b"abc", &[])]
    fn decodes_at_every_split_point(
        #[case] input: &[u8],
        #[case] opts: ParseOptions,
        #[case] body: &[u8],
        #[case] trailers: &[(&str, &str)],
    ) {
        let trailers: Vec<(String, String)> = trailers
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let whole = decode_split(input, &[], opts).unwrap();
        assert_eq!(whole, (body.to_vec(), trailers.clone(), input.len()));
        // The shotgun approach: every single split, and byte-by-byte.
        for i in 0..=input.len() {
            assert_eq!(
                decode_split(input, &[i], opts).unwrap(),
                whole,
                "split at {i}"
            );
        }
        let every: Vec<usize> = (1..input.len()).collect();
        assert_eq!(decode_split(input, &every, opts).unwrap(), whole);
    }

    #[test]
    fn stops_at_the_end_of_the_message() {
        let mut d = ChunkedDecoder::new(strict());
        let mut body = Vec::new();
        let p = d
            .decode(b"1\r\na\r\n0\r\n\r\nGET / HTTP/1.1", &mut body)
            .unwrap();
        assert_eq!(
            p,
            Progress {
                consumed: 11,
                done: true
            }
        );
        assert!(d.is_done());
    }

    /// Errors: Node's `bytesParsed` minus the 47 head bytes of the probe
    /// request (`POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n`).
    #[rstest]
    #[case::bad_size(b"xyz\r\n", strict(), "HPE_INVALID_CHUNK_SIZE", 0)]
    #[case::empty_size(b"\r\n", strict(), "HPE_INVALID_CHUNK_SIZE", 0)]
    #[case::size_space(b"3 \r\nabc\r\n0\r\n\r\n", strict(), "HPE_INVALID_CHUNK_SIZE", 2)]
    #[case::space_before_ext(b"3 ;a\r\nabc\r\n0\r\n\r\n", strict(), "HPE_INVALID_CHUNK_SIZE", 2)]
    #[case::overflow(b"11111111111111111\r\n", strict(), "HPE_INVALID_CHUNK_SIZE", 17)]
    #[case::no_crlf_after_data(b"3\r\nabcX0\r\n\r\n", strict(), "HPE_STRICT", 6)]
    #[case::lf_after_data(b"3\r\nabc\n0\r\n\r\n", strict(), "HPE_CR_EXPECTED", 7)]
    #[case::lf_after_size(b"3\nabc\r\n0\r\n\r\n", strict(), "HPE_CR_EXPECTED", 2)]
    #[case::ext_bad_name(b"3;a b\r\nabc\r\n0\r\n\r\n", strict(), "HPE_STRICT", 4)]
    #[case::ext_empty(b"3;\r\nabc\r\n0\r\n\r\n", strict(), "HPE_STRICT", 3)]
    #[case::ext_empty_names_then_end(b"3;;\r\nabc\r\n0\r\n\r\n", strict(), "HPE_STRICT", 4)]
    #[case::ext_space_after_eq(b"3;a= \r\nabc\r\n0\r\n\r\n", strict(), "HPE_STRICT", 5)]
    #[case::ext_ws(b"3; a = b\r\nabc\r\n0\r\n\r\n", strict(), "HPE_STRICT", 3)]
    #[case::ext_after_quote(
        b"3;a=\"b c\";d=\"e\\\\\"f\"\r\nabc\r\n0\r\n\r\n",
        strict(),
        "HPE_STRICT",
        17
    )]
    #[case::bad_trailer(b"0\r\nT(: v\r\n\r\n", strict(), "HPE_INVALID_HEADER_TOKEN", 4)]
    // Node 23.5.0: trailers are read with the message's flags.
    #[case::content_length_trailer(
        b"0\r\nContent-Length: 5\r\n\r\n",
        strict(),
        "HPE_INVALID_CONTENT_LENGTH",
        18
    )]
    #[case::transfer_encoding_trailer(
        b"0\r\nTransfer-Encoding: chunked\r\n\r\n",
        strict(),
        "HPE_INVALID_TRANSFER_ENCODING",
        23
    )]
    #[case::trailer_bare_lf(b"0\r\n\n", strict(), "HPE_INVALID_HEADER_TOKEN", 4)]
    fn errors_match_node(
        #[case] input: &[u8],
        #[case] opts: ParseOptions,
        #[case] code: &str,
        #[case] at: usize,
    ) {
        let e = decode_split(input, &[], opts).unwrap_err();
        assert_eq!((e.code(), e.bytes_parsed()), (code, Some(at)), "{e:?}");
        // Split anywhere, the same error code comes out.
        for i in 0..=input.len() {
            let e = decode_split(input, &[i], opts).unwrap_err();
            assert_eq!(e.code(), code, "split at {i}");
        }
    }

    #[test]
    fn extension_limit() {
        let mut input = b"1;a=".to_vec();
        input.extend(std::iter::repeat_n(b'b', MAX_CHUNK_EXTENSIONS_SIZE));
        input.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        let e = decode_split(&input, &[], strict()).unwrap_err();
        assert_eq!(e.code(), "HPE_CHUNK_EXTENSIONS_OVERFLOW");
    }

    #[test]
    fn trailer_overflow() {
        let opts = ParseOptions {
            max_header_size: 8,
            ..Default::default()
        };
        let e = decode_split(b"0\r\nAbcdef: 12345\r\n\r\n", &[], opts).unwrap_err();
        assert_eq!(e.code(), "HPE_HEADER_OVERFLOW");
    }

    #[test]
    fn random_inputs_never_panic() {
        let alphabet: &[u8] = b"0123456789abcdefABCDEF;=\"\\ \t\r\n\r\nxyz:T\x00\xff";
        let mut rng = crate::testutil::XorShift(0x2545_F491_4F6C_DD1D);
        for _ in 0..20_000 {
            let input = rng.bytes(alphabet, 60);
            let len = input.len();
            let split = if len == 0 {
                0
            } else {
                (rng.next() as usize) % len
            };
            for opts in [strict(), lenient()] {
                let _ = decode_split(&input, &[split], opts);
            }
        }
    }

    /// Node 23.5.0: a trailer `Connection: close` ends the connection
    /// after the message (the next request gets HPE_CLOSED_CONNECTION).
    #[rstest]
    #[case::close_11(b"Connection: close", true, true, false)]
    #[case::other_11(b"Connection: x", true, true, true)]
    #[case::keep_alive_10(b"Connection: keep-alive", false, false, true)]
    #[case::close_10(b"Connection: close", false, true, true)]
    fn trailer_connection_tokens_count(
        #[case] trailer: &[u8],
        #[case] http11: bool,
        #[case] head_keep_alive: bool,
        #[case] keep_alive: bool,
    ) {
        let mut d = ChunkedDecoder::new(strict());
        let input = [b"0\r\n".as_slice(), trailer, b"\r\n\r\n"].concat();
        assert!(d.decode(&input, &mut Vec::new()).unwrap().done);
        assert_eq!(
            d.connection_after_trailers(head_keep_alive, http11),
            keep_alive
        );
    }

    #[rstest]
    #[case::short(b"abc", b"3\r\nabc\r\n")]
    #[case::hex_lower(b"0123456789abcdef", b"10\r\n0123456789abcdef\r\n")]
    #[case::empty(b"", b"")]
    fn encodes_chunks_as_node(#[case] data: &[u8], #[case] expected: &[u8]) {
        assert_eq!(encode_chunk(data), expected);
    }

    #[test]
    fn trailers_render_and_validate() {
        let t = render_trailers(&[("Content-MD5", "abc"), ("X", "caf\u{e9}")]).unwrap();
        assert_eq!(t, "Content-MD5: abc\r\nX: caf\u{e9}\r\n");
        assert_eq!(
            encode_last_chunk(&t),
            b"0\r\nContent-MD5: abc\r\nX: caf\xe9\r\n\r\n"
        );
        let e = render_trailers(&[("Bad Name", "x")]).unwrap_err();
        assert_eq!(e.code(), "ERR_INVALID_HTTP_TOKEN");
        assert_eq!(
            e.to_string(),
            "Trailer name must be a valid HTTP token [\"Bad Name\"]"
        );
        let e = render_trailers(&[("X", "a\nb")]).unwrap_err();
        assert_eq!(e.code(), "ERR_INVALID_CHAR");
    }

    /// The decoder reads back what the encoder writes.
    #[test]
    fn round_trip() {
        let mut wire = encode_chunk(b"hello ");
        wire.extend(encode_chunk(b"world"));
        wire.extend(encode_last_chunk("X: 1\r\n"));
        let (body, trailers, n) = decode_split(&wire, &[], strict()).unwrap();
        assert_eq!(body, b"hello world");
        assert_eq!(trailers, [("X".to_string(), "1".to_string())]);
        assert_eq!(n, wire.len());
    }
}
