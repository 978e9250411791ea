//! The crate's error type.
//!
//! Modelled on hyper's `src/error.rs`: an opaque [`Error`] wrapping a boxed
//! implementation, a public [`Kind`] to match on, and `is_*` predicates. The
//! stable contract is Node's own error code, returned by [`Error::code`]
//! (`ERR_INVALID_HTTP_TOKEN`, `HPE_HEADER_OVERFLOW`...). The `Display` wording
//! follows Node's message but is *not* a contract.

use std::fmt;

/// An error raised by this crate: a header validation failure (Node's
/// `ERR_*` errors thrown by `validateHeaderName`/`validateHeaderValue`) or an
/// HTTP parse error (Node's `HPE_*` errors from llhttp, emitted with
/// `clientError`).
///
/// Node equivalent: the `Error` objects carrying a `code` property. Compare
/// errors by [`Error::code`] or [`Error::kind`], never by their text.
pub struct Error {
    inner: Box<ErrorImpl>,
}

struct ErrorImpl {
    kind: Kind,
    /// Header name (validation errors) or llhttp reason (parse errors).
    detail: String,
    /// The header value, for `ERR_HTTP_INVALID_HEADER_VALUE` messages.
    value: Option<String>,
    /// For parse errors: how many bytes of the input were consumed before
    /// the error (Node's `err.bytesParsed`).
    bytes_parsed: Option<usize>,
    /// For parse errors: the chunk being parsed (Node's `err.rawPacket`).
    raw_packet: Option<Vec<u8>>,
}

/// What went wrong. Each variant maps to exactly one Node error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// `ERR_INVALID_HTTP_TOKEN`: a header name that is not an RFC 7230 token.
    InvalidHttpToken,
    /// `ERR_HTTP_INVALID_HEADER_VALUE`: a header value that is `undefined`.
    InvalidHeaderValue,
    /// `ERR_INVALID_CHAR`: a header value (or status message) with a char
    /// outside `[\t\x20-\x7e\x80-\xff]`.
    InvalidChar,
    /// `ERR_HTTP_TRAILER_INVALID`: a `Trailer` header on a message that is
    /// not chunked.
    TrailerInvalid,
    /// An llhttp parse error (`HPE_*`).
    Parse(Parse),
    /// `ERR_HTTP_REQUEST_TIMEOUT`: `headersTimeout` or `requestTimeout`
    /// passed before the request was received (answered with 408).
    RequestTimeout,
    /// `ECONNRESET`: the peer closed the connection while a request was in
    /// flight (Node's "aborted" / "socket hang up").
    ConnectionReset,
    /// `ERR_HTTP_HEADERS_SENT`: a header call (`setHeader`, `appendHeader`,
    /// `removeHeader`, `writeHead`...) after the response head was built.
    HeadersSent,
    /// `ERR_HTTP_CONTENT_LENGTH_MISMATCH`: with `strictContentLength`, a
    /// body whose length differs from the `Content-Length` header.
    ContentLengthMismatch,
    /// `ERR_HTTP_BODY_NOT_ALLOWED`: with `rejectNonStandardBodyWrites`, a
    /// body written to a response that cannot have one (HEAD, 1xx, 204,
    /// 304).
    BodyNotAllowed,
    /// `ERR_HTTP_INVALID_STATUS_CODE`: a status code outside 100..=999.
    InvalidStatusCode,
    /// `ERR_STREAM_WRITE_AFTER_END`: `write()` or `end(data)` after `end()`.
    StreamWriteAfterEnd,
    /// `ERR_STREAM_DESTROYED`: a write to a destroyed response.
    StreamDestroyed,
    /// `ERR_STREAM_ALREADY_FINISHED`: `end()` on a response already
    /// finished (given to the callback only).
    StreamAlreadyFinished,
    /// `ERR_INVALID_ARG_VALUE`: an argument of the right type but a bad
    /// value (an odd-length header array, a malformed early-hints link).
    InvalidArgValue,
    /// `ERR_INVALID_ARG_TYPE`: an argument of the wrong type.
    InvalidArgType,
    /// `ERR_OUT_OF_RANGE`: a number outside its range (`headersTimeout`
    /// above `requestTimeout` in `http.createServer()`).
    OutOfRange,
    /// `ERR_SERVER_ALREADY_LISTEN`: `server.listen()` on a server that
    /// listens already.
    ServerAlreadyListen,
    /// An error of the application's own (`new Error(message)`), as given
    /// to `res.destroy(error)`: it has no code.
    Application,
    /// `ERR_UNKNOWN_ENCODING`: an encoding Node's `Buffer` does not know
    /// (`message.setEncoding('bogus')`).
    UnknownEncoding,
}

/// llhttp's parse error codes, as Node exposes them in `err.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Parse {
    /// `HPE_INVALID_METHOD`: the request method is not one llhttp knows.
    InvalidMethod,
    /// `HPE_INVALID_URL`: a forbidden byte in the request target.
    InvalidUrl,
    /// `HPE_INVALID_CONSTANT`: `HTTP/` expected but something else found.
    InvalidConstant,
    /// `HPE_INVALID_VERSION`: an HTTP version other than 0.9/1.0/1.1/2.0, or
    /// a request line not ended by CRLF.
    InvalidVersion,
    /// `HPE_INVALID_HEADER_TOKEN`: bad byte in a header name or value,
    /// obs-fold, or a bad line ending.
    InvalidHeaderToken,
    /// `HPE_INVALID_CONTENT_LENGTH`: a non-numeric, empty or overflowing
    /// `Content-Length`, or one after `Transfer-Encoding`.
    InvalidContentLength,
    /// `HPE_UNEXPECTED_CONTENT_LENGTH`: a second `Content-Length` header.
    UnexpectedContentLength,
    /// `HPE_INVALID_TRANSFER_ENCODING`: `chunked` not last, or a
    /// `Transfer-Encoding` after `Content-Length`, or a request whose final
    /// coding is not `chunked`.
    InvalidTransferEncoding,
    /// `HPE_CR_EXPECTED`: a bare LF where CRLF is required.
    CrExpected,
    /// `HPE_LF_EXPECTED`: a CR not followed by LF after a header value.
    LfExpected,
    /// `HPE_STRICT`: llhttp's catch-all for strict-mode violations (a CR not
    /// followed by LF after the request line, bad chunk extensions...).
    Strict,
    /// `HPE_UNEXPECTED_SPACE`: whitespace at the start of the first header
    /// line.
    UnexpectedSpace,
    /// `HPE_HEADER_OVERFLOW`: the head (or trailers) exceeded
    /// `maxHeaderSize`.
    HeaderOverflow,
    /// `HPE_INVALID_CHUNK_SIZE`: a bad or overflowing chunk size.
    InvalidChunkSize,
    /// `HPE_CHUNK_EXTENSIONS_OVERFLOW`: chunk extensions over 16 KiB (a
    /// limit Node adds on top of llhttp).
    ChunkExtensionsOverflow,
    /// `HPE_INVALID_STATUS`: a response status code that is not 3 digits.
    InvalidStatus,
    /// `HPE_PAUSED_H2_UPGRADE`: the HTTP/2 connection preface
    /// (`PRI * HTTP/2.0`).
    PausedH2Upgrade,
    /// `HPE_INVALID_EOF_STATE`: the input ended inside a message.
    InvalidEofState,
    /// `HPE_CLOSED_CONNECTION`: bytes after a message that closes the
    /// connection (`Connection: close`, or HTTP/1.0 without keep-alive).
    ClosedConnection,
}

impl Parse {
    /// The llhttp error name, e.g. `"HPE_INVALID_METHOD"`.
    pub fn code(self) -> &'static str {
        match self {
            Parse::InvalidMethod => "HPE_INVALID_METHOD",
            Parse::InvalidUrl => "HPE_INVALID_URL",
            Parse::InvalidConstant => "HPE_INVALID_CONSTANT",
            Parse::InvalidVersion => "HPE_INVALID_VERSION",
            Parse::InvalidHeaderToken => "HPE_INVALID_HEADER_TOKEN",
            Parse::InvalidContentLength => "HPE_INVALID_CONTENT_LENGTH",
            Parse::UnexpectedContentLength => "HPE_UNEXPECTED_CONTENT_LENGTH",
            Parse::InvalidTransferEncoding => "HPE_INVALID_TRANSFER_ENCODING",
            Parse::CrExpected => "HPE_CR_EXPECTED",
            Parse::LfExpected => "HPE_LF_EXPECTED",
            Parse::Strict => "HPE_STRICT",
            Parse::UnexpectedSpace => "HPE_UNEXPECTED_SPACE",
            Parse::HeaderOverflow => "HPE_HEADER_OVERFLOW",
            Parse::InvalidChunkSize => "HPE_INVALID_CHUNK_SIZE",
            Parse::ChunkExtensionsOverflow => "HPE_CHUNK_EXTENSIONS_OVERFLOW",
            Parse::InvalidStatus => "HPE_INVALID_STATUS",
            Parse::PausedH2Upgrade => "HPE_PAUSED_H2_UPGRADE",
            Parse::InvalidEofState => "HPE_INVALID_EOF_STATE",
            Parse::ClosedConnection => "HPE_CLOSED_CONNECTION",
        }
    }
}

impl Error {
    fn new(kind: Kind, detail: String) -> Error {
        Error {
            inner: Box::new(ErrorImpl {
                kind,
                detail,
                value: None,
                bytes_parsed: None,
                raw_packet: None,
            }),
        }
    }

    /// `ERR_INVALID_HTTP_TOKEN`: `label` ("Header name", "Method"...) and the value.
    pub fn invalid_http_token(label: &str, name: &str) -> Error {
        Error::new(
            Kind::InvalidHttpToken,
            format!("{label} must be a valid HTTP token [\"{name}\"]"),
        )
    }

    /// `ERR_HTTP_INVALID_HEADER_VALUE` for header `name` and its value.
    pub fn invalid_header_value(name: &str, value: Option<&str>) -> Error {
        let mut e = Error::new(Kind::InvalidHeaderValue, name.to_owned());
        e.inner.value = value.map(str::to_owned);
        e
    }

    /// `ERR_INVALID_CHAR`: an invalid character in `what` (a header's content...).
    pub fn invalid_char(what: &str, name: &str) -> Error {
        Error::new(
            Kind::InvalidChar,
            if name.is_empty() {
                format!("Invalid character in {what}")
            } else {
                format!("Invalid character in {what} [\"{name}\"]")
            },
        )
    }

    /// `ERR_HTTP_TRAILER_INVALID`: trailers on a message that cannot carry them.
    pub fn trailer_invalid() -> Error {
        Error::new(Kind::TrailerInvalid, String::new())
    }

    /// `ERR_HTTP_REQUEST_TIMEOUT`.
    pub fn request_timeout() -> Error {
        Error::new(Kind::RequestTimeout, String::new())
    }

    /// `ECONNRESET`: the connection went away under a message.
    pub fn connection_reset() -> Error {
        Error::new(Kind::ConnectionReset, String::new())
    }

    /// `ERR_HTTP_HEADERS_SENT`; `verb` is Node's argument (`"set"`,
    /// `"append"`, `"remove"`, `"write"`, `"render"`).
    pub fn headers_sent(verb: &str) -> Error {
        Error::new(
            Kind::HeadersSent,
            format!("Cannot {verb} headers after they are sent to the client"),
        )
    }

    /// `ERR_HTTP_CONTENT_LENGTH_MISMATCH(actual, expected)`, both already
    /// rendered as JavaScript would.
    pub fn content_length_mismatch(actual: &str, expected: &str) -> Error {
        Error::new(
            Kind::ContentLengthMismatch,
            format!(
                "Response body's content-length of {actual} byte(s) does not match the content-length of {expected} byte(s) set in header"
            ),
        )
    }

    /// `ERR_HTTP_BODY_NOT_ALLOWED`.
    pub fn body_not_allowed() -> Error {
        Error::new(
            Kind::BodyNotAllowed,
            "Adding content for this request method or response status is not allowed.".to_owned(),
        )
    }

    /// `ERR_HTTP_INVALID_STATUS_CODE`, `code` rendered as JavaScript would.
    pub fn invalid_status_code(code: &str) -> Error {
        Error::new(
            Kind::InvalidStatusCode,
            format!("Invalid status code: {code}"),
        )
    }

    /// `ERR_STREAM_WRITE_AFTER_END`.
    pub fn write_after_end() -> Error {
        Error::new(Kind::StreamWriteAfterEnd, "write after end".to_owned())
    }

    /// `ERR_STREAM_DESTROYED(method)`.
    pub fn stream_destroyed(method: &str) -> Error {
        Error::new(
            Kind::StreamDestroyed,
            format!("Cannot call {method} after a stream was destroyed"),
        )
    }

    /// `ERR_STREAM_ALREADY_FINISHED(method)`.
    pub fn already_finished(method: &str) -> Error {
        Error::new(
            Kind::StreamAlreadyFinished,
            format!("Cannot call {method} after a stream was finished"),
        )
    }

    /// `ERR_OUT_OF_RANGE` with Node's message.
    pub fn out_of_range(name: &str, range: &str, received: &str) -> Error {
        Error::new(
            Kind::OutOfRange,
            format!(
                "The value of \"{name}\" is out of range. It must be {range}. Received {received}"
            ),
        )
    }

    /// An error of the application's own, with `message` and no code
    /// ([`Error::code`] is empty), as `new Error(message)` in Node.
    pub fn application(message: impl Into<String>) -> Error {
        Error::new(Kind::Application, message.into())
    }

    /// `ERR_SERVER_ALREADY_LISTEN`.
    pub fn server_already_listen() -> Error {
        Error::new(Kind::ServerAlreadyListen, String::new())
    }

    /// `ERR_INVALID_ARG_VALUE(name, value[, reason])`; `received` is
    /// `util.inspect(value)`.
    pub fn invalid_arg_value(name: &str, received: &str, reason: Option<&str>) -> Error {
        Error::new(
            Kind::InvalidArgValue,
            format!(
                "The argument '{name}' {}. Received {received}",
                reason.unwrap_or("is invalid")
            ),
        )
    }

    /// `ERR_UNKNOWN_ENCODING(encoding)`.
    pub fn unknown_encoding(encoding: &str) -> Error {
        Error::new(Kind::UnknownEncoding, encoding.to_owned())
    }

    /// `ERR_INVALID_ARG_TYPE` with Node's full message.
    pub fn invalid_arg_type(message: String) -> Error {
        Error::new(Kind::InvalidArgType, message)
    }

    /// The `ERR_INVALID_ARG_TYPE` of `Buffer.from(number, 'latin1')`.
    pub fn buffer_from_number(n: &str) -> Error {
        Error::invalid_arg_type(format!(
            "The first argument must be of type string or an instance of Buffer, ArrayBuffer, or Array or an Array-like Object. Received type number ({n})"
        ))
    }

    /// A parse error: `reason` is llhttp's reason string, `at` the number of
    /// bytes consumed before the error.
    pub fn parse(kind: Parse, reason: &'static str, at: usize) -> Error {
        let mut e = Error::new(Kind::Parse(kind), reason.to_owned());
        e.inner.bytes_parsed = Some(at);
        e
    }

    /// Replace `bytes_parsed` (when a sub-parser worked on another buffer).
    pub fn with_bytes_parsed(mut self, at: usize) -> Error {
        self.inner.bytes_parsed = Some(at);
        self
    }

    /// Attach the chunk that was being parsed (Node's `err.rawPacket`).
    pub fn with_raw_packet(mut self, packet: Vec<u8>) -> Error {
        self.inner.raw_packet = Some(packet);
        self
    }

    /// For parse errors, Node's `err.rawPacket`: the chunk of input that
    /// was being parsed when the error occurred.
    pub fn raw_packet(&self) -> Option<&[u8]> {
        self.inner.raw_packet.as_deref()
    }

    /// What kind of error this is.
    pub fn kind(&self) -> Kind {
        self.inner.kind
    }

    /// Node's error code: `err.code` in Node (`"ERR_INVALID_HTTP_TOKEN"`,
    /// `"HPE_INVALID_METHOD"`...). This string is the stable contract.
    /// Empty for an [`Error::application`] error (Node: `undefined`).
    pub fn code(&self) -> &'static str {
        match self.inner.kind {
            Kind::InvalidHttpToken => "ERR_INVALID_HTTP_TOKEN",
            Kind::InvalidHeaderValue => "ERR_HTTP_INVALID_HEADER_VALUE",
            Kind::InvalidChar => "ERR_INVALID_CHAR",
            Kind::TrailerInvalid => "ERR_HTTP_TRAILER_INVALID",
            Kind::Parse(p) => p.code(),
            Kind::RequestTimeout => "ERR_HTTP_REQUEST_TIMEOUT",
            Kind::ConnectionReset => "ECONNRESET",
            Kind::HeadersSent => "ERR_HTTP_HEADERS_SENT",
            Kind::ContentLengthMismatch => "ERR_HTTP_CONTENT_LENGTH_MISMATCH",
            Kind::BodyNotAllowed => "ERR_HTTP_BODY_NOT_ALLOWED",
            Kind::InvalidStatusCode => "ERR_HTTP_INVALID_STATUS_CODE",
            Kind::StreamWriteAfterEnd => "ERR_STREAM_WRITE_AFTER_END",
            Kind::StreamDestroyed => "ERR_STREAM_DESTROYED",
            Kind::StreamAlreadyFinished => "ERR_STREAM_ALREADY_FINISHED",
            Kind::InvalidArgValue => "ERR_INVALID_ARG_VALUE",
            Kind::InvalidArgType => "ERR_INVALID_ARG_TYPE",
            Kind::OutOfRange => "ERR_OUT_OF_RANGE",
            Kind::ServerAlreadyListen => "ERR_SERVER_ALREADY_LISTEN",
            Kind::Application => "",
            Kind::UnknownEncoding => "ERR_UNKNOWN_ENCODING",
        }
    }

    /// The JavaScript class of Node's error object (`err.name`):
    /// `"TypeError"`, `"RangeError"` or `"Error"`.
    pub fn name(&self) -> &'static str {
        match self.inner.kind {
            Kind::InvalidHttpToken
            | Kind::InvalidHeaderValue
            | Kind::InvalidChar
            | Kind::InvalidArgValue
            | Kind::InvalidArgType
            | Kind::UnknownEncoding => "TypeError",
            Kind::InvalidStatusCode | Kind::OutOfRange => "RangeError",
            _ => "Error",
        }
    }

    /// For parse errors, Node's `err.bytesParsed`: how many bytes of the
    /// input given to the parser were consumed before the error.
    pub fn bytes_parsed(&self) -> Option<usize> {
        self.inner.bytes_parsed
    }

    /// For parse errors, llhttp's reason (Node's `err.reason`), e.g.
    /// `"Invalid method encountered"`.
    pub fn reason(&self) -> Option<&str> {
        match self.inner.kind {
            Kind::Parse(_) => Some(&self.inner.detail),
            _ => None,
        }
    }

    /// Whether this is an llhttp parse error (`HPE_*`).
    pub fn is_parse(&self) -> bool {
        matches!(self.inner.kind, Kind::Parse(_))
    }

    /// Whether this is `HPE_HEADER_OVERFLOW`, the error Node answers with
    /// `431 Request Header Fields Too Large`.
    pub fn is_header_overflow(&self) -> bool {
        matches!(self.inner.kind, Kind::Parse(Parse::HeaderOverflow))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("code", &self.code())
            .field("detail", &self.inner.detail);
        if let Some(b) = self.inner.bytes_parsed {
            d.field("bytes_parsed", &b);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.kind {
            Kind::InvalidHttpToken | Kind::InvalidChar => f.write_str(&self.inner.detail),
            Kind::TrailerInvalid => f.write_str("Trailers are invalid with this transfer encoding"),
            Kind::InvalidHeaderValue => write!(
                f,
                "Invalid value \"{}\" for header \"{}\"",
                self.inner.value.as_deref().unwrap_or("undefined"),
                self.inner.detail
            ),
            Kind::Parse(_) => write!(f, "Parse Error: {}", self.inner.detail),
            Kind::RequestTimeout => f.write_str("Request timeout"),
            Kind::ConnectionReset => f.write_str("aborted"),
            Kind::HeadersSent
            | Kind::ContentLengthMismatch
            | Kind::BodyNotAllowed
            | Kind::InvalidStatusCode
            | Kind::StreamWriteAfterEnd
            | Kind::StreamDestroyed
            | Kind::StreamAlreadyFinished
            | Kind::InvalidArgValue
            | Kind::InvalidArgType
            | Kind::OutOfRange => f.write_str(&self.inner.detail),
            Kind::ServerAlreadyListen => {
                f.write_str("Listen method has been called more than once without closing.")
            }
            Kind::Application => f.write_str(&self.inner.detail),
            Kind::UnknownEncoding => write!(f, "Unknown encoding: {}", self.inner.detail),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_small_and_thread_safe() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn display_follows_node_messages() {
        assert_eq!(
            Error::invalid_http_token("Header name", "").to_string(),
            "Header name must be a valid HTTP token [\"\"]"
        );
        assert_eq!(
            Error::invalid_header_value("a", None).to_string(),
            "Invalid value \"undefined\" for header \"a\""
        );
        assert_eq!(
            Error::invalid_char("header content", "a").to_string(),
            "Invalid character in header content [\"a\"]"
        );
        let e = Error::parse(Parse::InvalidMethod, "Invalid method encountered", 0);
        assert_eq!(e.to_string(), "Parse Error: Invalid method encountered");
        assert_eq!(e.code(), "HPE_INVALID_METHOD");
        assert_eq!(e.bytes_parsed(), Some(0));
        assert!(e.is_parse());
    }
}
