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
            }),
        }
    }

    pub(crate) fn invalid_http_token(label: &str, name: &str) -> Error {
        Error::new(
            Kind::InvalidHttpToken,
            format!("{label} must be a valid HTTP token [\"{name}\"]"),
        )
    }

    pub(crate) fn invalid_header_value(name: &str, value: Option<&str>) -> Error {
        let mut e = Error::new(Kind::InvalidHeaderValue, name.to_owned());
        e.inner.value = value.map(str::to_owned);
        e
    }

    pub(crate) fn invalid_char(what: &str, name: &str) -> Error {
        Error::new(
            Kind::InvalidChar,
            if name.is_empty() {
                format!("Invalid character in {what}")
            } else {
                format!("Invalid character in {what} [\"{name}\"]")
            },
        )
    }

    pub(crate) fn trailer_invalid() -> Error {
        Error::new(Kind::TrailerInvalid, String::new())
    }

    pub(crate) fn request_timeout() -> Error {
        Error::new(Kind::RequestTimeout, String::new())
    }

    pub(crate) fn connection_reset() -> Error {
        Error::new(Kind::ConnectionReset, String::new())
    }

    /// A parse error: `reason` is llhttp's reason string, `at` the number of
    /// bytes consumed before the error.
    pub(crate) fn parse(kind: Parse, reason: &'static str, at: usize) -> Error {
        let mut e = Error::new(Kind::Parse(kind), reason.to_owned());
        e.inner.bytes_parsed = Some(at);
        e
    }

    /// Replace `bytes_parsed` (when a sub-parser worked on another buffer).
    pub(crate) fn with_bytes_parsed(mut self, at: usize) -> Error {
        self.inner.bytes_parsed = Some(at);
        self
    }

    /// What kind of error this is.
    pub fn kind(&self) -> Kind {
        self.inner.kind
    }

    /// Node's error code: `err.code` in Node (`"ERR_INVALID_HTTP_TOKEN"`,
    /// `"HPE_INVALID_METHOD"`...). This string is the stable contract.
    pub fn code(&self) -> &'static str {
        match self.inner.kind {
            Kind::InvalidHttpToken => "ERR_INVALID_HTTP_TOKEN",
            Kind::InvalidHeaderValue => "ERR_HTTP_INVALID_HEADER_VALUE",
            Kind::InvalidChar => "ERR_INVALID_CHAR",
            Kind::TrailerInvalid => "ERR_HTTP_TRAILER_INVALID",
            Kind::Parse(p) => p.code(),
            Kind::RequestTimeout => "ERR_HTTP_REQUEST_TIMEOUT",
            Kind::ConnectionReset => "ECONNRESET",
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
