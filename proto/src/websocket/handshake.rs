//! The opening handshake: the constructor's checks of the URL and the
//! protocols, the request undici sends, and its checks of the answer.
//!
//! Node equivalent: the `WebSocket` constructor and
//! `establishWebSocketConnection` (undici's `lib/web/websocket/`), the
//! request written by undici's HTTP/1.1 client (`host`, `connection`,
//! `upgrade` first, then fetch's header list in order), and
//! `processResponse`'s checks, each failing with its own message.

use url::Url;

use super::DomException;
use crate::parse::{self, ParseOptions, ResponseHead, Status};

/// RFC 6455's GUID, appended to the key for `Sec-WebSocket-Accept`.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The extension offer undici sends with every handshake.
pub const EXTENSIONS_OFFER: &str = "permessage-deflate; client_max_window_bits";

/// Every way a handshake fails, with the message of the `error` event.
pub mod messages {
    /// The connection failed, or the answer is not a 101 upgrade (any
    /// other final status, `100 Continue`, a parse error, the connection
    /// closed before the head).
    pub const NETWORK: &str = "Received network error or non-101 status code.";
    /// Protocols were requested and the answer names none.
    pub const NO_PROTOCOL: &str = "Server did not respond with sent protocols.";
    /// `Upgrade` is not `websocket` (any case).
    pub const UPGRADE: &str = "Server did not set Upgrade header to \"websocket\".";
    /// `Connection` is not `upgrade` (any case).
    pub const CONNECTION: &str = "Server did not set Connection header to \"upgrade\".";
    /// `Sec-WebSocket-Accept` is not the key's hash.
    pub const ACCEPT: &str = "Incorrect hash received in Sec-WebSocket-Accept header.";
    /// `Sec-WebSocket-Extensions` does not name `permessage-deflate`.
    pub const EXTENSIONS: &str = "Sec-WebSocket-Extensions header does not match.";
    /// `Sec-WebSocket-Protocol` is not one of those requested.
    pub const PROTOCOL: &str = "Protocol was not set in the opening handshake.";
    /// `close()` while connecting.
    pub const CLOSED_BEFORE: &str = "Connection was closed before it was established.";
}

/// The URL of a `WebSocket`, as the constructor checks it: parsed with the
/// WHATWG URL parser, `http:` turned into `ws:` and `https:` into `wss:`,
/// any other scheme but `ws:`/`wss:` refused, and a fragment (even an
/// empty one) refused.
///
/// Node equivalent: the first steps of `new WebSocket(url)`; each failure
/// is a `SyntaxError` `DOMException` with undici's message.
pub fn parse_url(input: &str) -> Result<Url, DomException> {
    // `new URL(url, baseURL)`, `baseURL` undefined in Node; the message is
    // `String(e)` of the `TypeError`.
    let mut url = Url::parse(input).map_err(|_| DomException::syntax("TypeError: Invalid URL"))?;
    let scheme = match url.scheme() {
        "http" => Some("ws"),
        "https" => Some("wss"),
        _ => None,
    };
    if let Some(s) = scheme {
        // Both are special schemes: the change cannot fail.
        let _ = url.set_scheme(s);
    }
    if url.scheme() != "ws" && url.scheme() != "wss" {
        return Err(DomException::syntax(format!(
            "Expected a ws: or wss: protocol, got {}:",
            url.scheme()
        )));
    }
    if url.fragment().is_some() {
        return Err(DomException::syntax("Got fragment"));
    }
    Ok(url)
}

/// Whether `p` is a valid subprotocol: a non-empty RFC 2616 token.
pub fn is_valid_subprotocol(p: &str) -> bool {
    !p.is_empty()
        && p.chars().all(|c| {
            let c = c as u32;
            (33..=126).contains(&c) && !b"\"(),/:;<=>?@[\\]{}".contains(&(c as u8))
        })
}

/// The constructor's check of the protocols: no two equal ignoring case,
/// each a valid token; else a `SyntaxError`.
pub fn check_protocols(protocols: &[&str]) -> Result<(), DomException> {
    let invalid = || DomException::syntax("Invalid Sec-WebSocket-Protocol value");
    let mut seen: Vec<String> = Vec::new();
    for p in protocols {
        let lower = p.to_lowercase();
        if seen.contains(&lower) {
            return Err(invalid());
        }
        seen.push(lower);
    }
    if !protocols.iter().all(|p| is_valid_subprotocol(p)) {
        return Err(invalid());
    }
    Ok(())
}

/// The request target undici sends: the path and the query (an empty
/// query, `?` alone, is left out, as `url.search` is `""` then).
pub fn request_target(url: &Url) -> String {
    match url.query() {
        Some(q) if !q.is_empty() => format!("{}?{q}", url.path()),
        _ => url.path().to_owned(),
    }
}

/// The `host` header: the host, and the port unless it is the scheme's
/// default (80 for `ws:`, 443 for `wss:`).
pub fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }
}

/// The opening handshake request, byte for byte as Node 23.5.0 sends it,
/// with `key` as `sec-websocket-key` (16 random bytes in base64, see
/// [`key_from_bytes`]).
///
/// ```
/// use nodehttp_proto::websocket::handshake::{parse_url, request};
/// let url = parse_url("ws://127.0.0.1:8000/chat").unwrap();
/// let req = request(&url, &["p1"], "dGhlIHNhbXBsZSBub25jZQ==");
/// assert!(req.starts_with(b"GET /chat HTTP/1.1\r\nhost: 127.0.0.1:8000\r\nconnection: upgrade\r\n"));
/// ```
pub fn request(url: &Url, protocols: &[&str], key: &str) -> Vec<u8> {
    let mut r = format!(
        "GET {} HTTP/1.1\r\nhost: {}\r\nconnection: upgrade\r\nupgrade: websocket\r\n\
         sec-websocket-key: {key}\r\nsec-websocket-version: 13\r\n",
        request_target(url),
        host_header(url)
    );
    if !protocols.is_empty() {
        r.push_str(&format!(
            "sec-websocket-protocol: {}\r\n",
            protocols.join(", ")
        ));
    }
    r.push_str(&format!(
        "sec-websocket-extensions: {EXTENSIONS_OFFER}\r\naccept: */*\r\naccept-language: *\r\n\
         sec-fetch-mode: websocket\r\nuser-agent: node\r\npragma: no-cache\r\n\
         cache-control: no-cache\r\naccept-encoding: gzip, deflate\r\n\r\n"
    ));
    r.into_bytes()
}

/// `sec-websocket-key` from 16 random bytes: their base64.
pub fn key_from_bytes(bytes: &[u8; 16]) -> String {
    crate::client::base64(bytes)
}

/// `Sec-WebSocket-Accept` for `key`: base64 of SHA-1 of the key and
/// [`GUID`].
///
/// ```
/// // RFC 6455 section 1.3's example.
/// assert_eq!(
///     nodehttp_proto::websocket::handshake::accept_for("dGhlIHNhbXBsZSBub25jZQ=="),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/// );
/// ```
pub fn accept_for(key: &str) -> String {
    let mut h = sha1_smol::Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID.as_bytes());
    crate::client::base64(&h.digest().bytes())
}

/// What an accepted handshake set: `ws.protocol`, `ws.extensions` and the
/// parameters of permessage-deflate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// `ws.protocol`: the `Sec-WebSocket-Protocol` answer (`""` without).
    pub protocol: String,
    /// `ws.extensions`: the `Sec-WebSocket-Extensions` answer as sent
    /// (`""` without).
    pub extensions: String,
    /// The extensions as undici parses them, when the answer had the
    /// header: permessage-deflate is then on.
    pub deflate: Option<Extensions>,
}

/// `Sec-WebSocket-Extensions` as undici's `parseExtensions` reads it:
/// `;`-separated `name=value` pairs (no `,` split), the name with its
/// leading whitespace removed, the value with its trailing whitespace
/// removed, the last of two equal names winning.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Extensions {
    pairs: Vec<(String, String)>,
}

impl Extensions {
    /// Parse a header value.
    pub fn parse(value: &str) -> Extensions {
        let mut pieces: Vec<&str> = value.split(';').collect();
        // `while (position < length)`: nothing after a last `;`, nothing for
        // an empty header.
        if pieces.last() == Some(&"") {
            pieces.pop();
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        for pair in pieces {
            let mut parts = pair.split('=');
            let name = trim_http_whitespace(parts.next().unwrap_or_default(), true, false);
            let value = trim_http_whitespace(parts.next().unwrap_or_default(), false, true);
            pairs.retain(|(n, _)| n != name);
            pairs.push((name.to_owned(), value.to_owned()));
        }
        Extensions { pairs }
    }

    /// Whether an extension (or parameter) of that exact name is there.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }

    /// The value of a parameter (`""` for one without `=`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// undici's `removeHTTPWhitespace(str, leading, trailing)` (CR, LF, tab,
/// space), with its quirk: the trailing scan stops at index 1, so the first
/// character is never removed by it.
fn trim_http_whitespace(s: &str, leading: bool, trailing: bool) -> &str {
    let ws = |b: u8| matches!(b, b'\r' | b'\n' | b'\t' | b' ');
    let b = s.as_bytes();
    if b.is_empty() {
        return s;
    }
    let mut lead = 0;
    let mut trail = b.len() - 1;
    if leading {
        while lead < b.len() && ws(b[lead]) {
            lead += 1;
        }
    }
    if trailing {
        while trail > 0 && ws(b[trail]) {
            trail -= 1;
        }
    }
    // `str.slice(lead, trail + 1)`: empty when they crossed.
    s.get(lead..trail + 1).unwrap_or("")
}

/// A header's value as fetch's header list gives it: every field of that
/// name (any case) joined with `", "`, `None` without one. `raw` are the
/// values as undici receives them (see [`raw_header_values`]).
fn get<'a>(raw: &'a [(String, String)], name: &str) -> Option<std::borrow::Cow<'a, str>> {
    let mut values = raw.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
    let first = values.next()?;
    let rest: Vec<&str> = values.map(|(_, v)| v.as_str()).collect();
    if rest.is_empty() {
        return Some(std::borrow::Cow::Borrowed(first.1.as_str()));
    }
    let mut all = first.1.clone();
    for v in rest {
        all.push_str(", ");
        all.push_str(v);
    }
    Some(std::borrow::Cow::Owned(all))
}

/// The header fields of a head as undici's parser hands them on: the
/// value's leading spaces and tabs removed, its trailing ones kept
/// (`http.IncomingMessage` trims both, undici does not). Values are
/// latin-1.
pub fn raw_header_values(head: &[u8]) -> Vec<(String, String)> {
    let latin1 = |b: &[u8]| b.iter().map(|&c| c as char).collect::<String>();
    let mut out: Vec<(String, String)> = Vec::new();
    let text = head.strip_suffix(b"\r\n\r\n").unwrap_or(head);
    for line in text.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            // obs-fold (refused by the strict parser, kept for safety).
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1
                    .push_str(latin1(line).trim_start_matches([' ', '\t']));
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = latin1(&line[colon + 1..]);
        out.push((
            latin1(&line[..colon]),
            value.trim_start_matches([' ', '\t']).to_owned(),
        ));
    }
    out
}

/// `processResponse`'s checks of a 101 upgrade answer, in undici's order;
/// the error is the message of the `error` event.
///
/// `protocols` are those requested. A `Sec-WebSocket-Protocol` answer when
/// none was requested makes Node 23.5.0 throw a `TypeError` out of the
/// check (`requestProtocols` is null): the process dies. The reference
/// fails the handshake as for a protocol not requested.
pub fn check_upgrade(
    raw: &[(String, String)],
    key: &str,
    protocols: &[&str],
) -> Result<Accepted, &'static str> {
    let protocol = get(raw, "sec-websocket-protocol");
    if !protocols.is_empty() && protocol.as_deref().is_none_or(str::is_empty) {
        return Err(messages::NO_PROTOCOL);
    }
    if get(raw, "upgrade").map(|v| v.to_lowercase()).as_deref() != Some("websocket") {
        return Err(messages::UPGRADE);
    }
    if get(raw, "connection").map(|v| v.to_lowercase()).as_deref() != Some("upgrade") {
        return Err(messages::CONNECTION);
    }
    if get(raw, "sec-websocket-accept").as_deref() != Some(accept_for(key).as_str()) {
        return Err(messages::ACCEPT);
    }
    let extensions = get(raw, "sec-websocket-extensions");
    let deflate = match &extensions {
        Some(v) => {
            let parsed = Extensions::parse(v);
            if !parsed.has("permessage-deflate") {
                return Err(messages::EXTENSIONS);
            }
            Some(parsed)
        }
        None => None,
    };
    if let Some(p) = &protocol {
        if !protocols.contains(&p.as_ref()) {
            return Err(messages::PROTOCOL);
        }
    }
    Ok(Accepted {
        protocol: protocol.map(|p| p.into_owned()).unwrap_or_default(),
        extensions: extensions.map(|e| e.into_owned()).unwrap_or_default(),
        deflate,
    })
}

/// How far the answer to the handshake got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// More bytes are needed.
    Partial,
    /// The upgrade is accepted; `rest` are the bytes after the head (the
    /// first frames).
    Open {
        /// What the answer set.
        accepted: Accepted,
        /// The bytes that followed the head.
        rest: Vec<u8>,
    },
    /// The handshake failed: the message of the `error` event.
    Failed(&'static str),
}

/// Reads the answer to the handshake: heads are parsed as undici's HTTP
/// client parses them (llhttp, strict), 1xx heads other than `100` and a
/// `101` without `Upgrade` and `Connection: upgrade` skipped (fetch ignores
/// informational answers), `100 Continue` and every final status failing,
/// and the upgrade checked by [`check_upgrade`].
#[derive(Debug, Clone)]
pub struct AnswerReader {
    buf: Vec<u8>,
    key: String,
    protocols: Vec<String>,
    opts: ParseOptions,
}

impl AnswerReader {
    /// A reader for the answer to a request sent with `key` and
    /// `protocols`.
    pub fn new(key: &str, protocols: &[&str]) -> AnswerReader {
        AnswerReader {
            buf: Vec::new(),
            key: key.to_owned(),
            protocols: protocols.iter().map(|p| (*p).to_owned()).collect(),
            // undici's `maxHeaderSize` is `http.maxHeaderSize`, 16 KiB.
            opts: ParseOptions::default(),
        }
    }

    /// How many bytes are held (under the header size limit, plus the
    /// last input).
    pub fn held(&self) -> usize {
        self.buf.len()
    }

    /// Feed bytes of the answer.
    pub fn feed(&mut self, bytes: &[u8]) -> Answer {
        self.buf.extend_from_slice(bytes);
        loop {
            let head: ResponseHead = match parse::parse_response(&self.buf, "GET", &self.opts) {
                Ok(Status::Partial) => return Answer::Partial,
                Err(_) => return Answer::Failed(messages::NETWORK),
                Ok(Status::Complete(h)) => h,
            };
            if head.status == 100 {
                // undici's client: "bad response".
                return Answer::Failed(messages::NETWORK);
            }
            if head.upgrade {
                let raw = raw_header_values(&self.buf[..head.head_len]);
                let protocols: Vec<&str> = self.protocols.iter().map(String::as_str).collect();
                return match check_upgrade(&raw, &self.key, &protocols) {
                    Ok(accepted) => Answer::Open {
                        accepted,
                        rest: self.buf.split_off(head.head_len),
                    },
                    Err(m) => Answer::Failed(m),
                };
            }
            if head.status >= 200 {
                return Answer::Failed(messages::NETWORK);
            }
            self.buf.drain(..head.head_len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    #[rstest]
    #[case::plain("ws://127.0.0.1:1", "ws://127.0.0.1:1/")]
    #[case::http("http://127.0.0.1:1/x", "ws://127.0.0.1:1/x")]
    #[case::https("https://127.0.0.1:1/x", "wss://127.0.0.1:1/x")]
    #[case::default_port("ws://example.com:80", "ws://example.com/")]
    #[case::ipv6("ws://[::1]:1/", "ws://[::1]:1/")]
    #[case::credentials("ws://user:pass@127.0.0.1:1/", "ws://user:pass@127.0.0.1:1/")]
    #[case::no_slashes("ws:127.0.0.1:1/x", "ws://127.0.0.1:1/x")]
    #[case::empty_host_then_path("ws:///x", "ws://x/")]
    #[case::hex_ipv4("ws://0x7f.1:1/", "ws://127.0.0.1:1/")]
    #[case::idn("ws://ÉXAMPLE.com/", "ws://xn--xample-9ua.com/")]
    #[case::backslashes("ws://a/\\b\\c", "ws://a//b/c")]
    #[case::spaces_around("  ws://a/x  ", "ws://a/x")]
    #[case::percent_encoded("ws://a/a b/é?q=é", "ws://a/a%20b/%C3%A9?q=%C3%A9")]
    fn urls_node_accepts(#[case] input: &str, #[case] href: &str) {
        assert_eq!(parse_url(input).unwrap().as_str(), href);
    }

    #[rstest]
    #[case::empty_fragment("ws://127.0.0.1:1/a#", "Got fragment")]
    #[case::fragment("ws://127.0.0.1:1/a#f", "Got fragment")]
    #[case::fragment_after_query("ws://a/x?q=a b#", "Got fragment")]
    #[case::ftp("ftp://x/", "Expected a ws: or wss: protocol, got ftp:")]
    #[case::file("file:///x", "Expected a ws: or wss: protocol, got file:")]
    #[case::data("data:text/plain,x", "Expected a ws: or wss: protocol, got data:")]
    #[case::javascript("javascript:x", "Expected a ws: or wss: protocol, got javascript:")]
    #[case::not_a_url("not a url", "TypeError: Invalid URL")]
    #[case::no_host("ws://", "TypeError: Invalid URL")]
    #[case::relative("/relative", "TypeError: Invalid URL")]
    #[case::space_in_host("ws://exa mple.com/", "TypeError: Invalid URL")]
    #[case::port_too_big("ws://127.0.0.1:99999/", "TypeError: Invalid URL")]
    fn urls_node_refuses(#[case] input: &str, #[case] message: &str) {
        let e = parse_url(input).unwrap_err();
        assert_eq!((e.name(), e.message()), ("SyntaxError", message));
    }

    #[rstest]
    #[case::none(&[], true)]
    #[case::one(&["p1"], true)]
    #[case::two(&["p1", "P2"], true)]
    #[case::dup_case(&["a", "A"], false)]
    #[case::dup(&["a", "b", "a"], false)]
    #[case::space(&["a b"], false)]
    #[case::empty(&[""], false)]
    #[case::non_ascii(&["é"], false)]
    #[case::comma(&["a,b"], false)]
    #[case::all_separators(&["(", ")", "<", ">", "@", ",", ";", ":", "\\", "\"", "/", "[", "]", "?", "=", "{", "}"], false)]
    #[case::tchars(&["!#$%&'*+-.^_`|~09AZaz"], true)]
    fn protocols(#[case] p: &[&str], #[case] ok: bool) {
        match check_protocols(p) {
            Ok(()) => assert!(ok),
            Err(e) => {
                assert!(!ok);
                assert_eq!(e.message(), "Invalid Sec-WebSocket-Protocol value");
            }
        }
    }

    #[test]
    fn the_request_is_node_23_5_0_s_byte_for_byte() {
        let url = parse_url("ws://127.0.0.1:39375/path").unwrap();
        let req = request(&url, &["p1"], "NEYR6sl6U564N6SemWcCSw==");
        assert_eq!(
            String::from_utf8(req).unwrap(),
            "GET /path HTTP/1.1\r\nhost: 127.0.0.1:39375\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-key: NEYR6sl6U564N6SemWcCSw==\r\nsec-websocket-version: 13\r\nsec-websocket-protocol: p1\r\nsec-websocket-extensions: permessage-deflate; client_max_window_bits\r\naccept: */*\r\naccept-language: *\r\nsec-fetch-mode: websocket\r\nuser-agent: node\r\npragma: no-cache\r\ncache-control: no-cache\r\naccept-encoding: gzip, deflate\r\n\r\n"
        );
    }

    #[rstest]
    #[case::no_protocol("ws://127.0.0.1:1", &[], "GET / HTTP/1.1\r\nhost: 127.0.0.1:1\r\n", None)]
    #[case::two_protocols("ws://h:1/", &["p1", "P2"], "GET / HTTP/1.1\r\nhost: h:1\r\n", Some("p1, P2"))]
    #[case::query("ws://h/a/b?x=1&y=%20z", &[], "GET /a/b?x=1&y=%20z HTTP/1.1\r\nhost: h\r\n", None)]
    #[case::empty_query("ws://h/x?", &[], "GET /x HTTP/1.1\r\nhost: h\r\n", None)]
    #[case::http_scheme("http://localhost:44007/a", &[], "GET /a HTTP/1.1\r\nhost: localhost:44007\r\n", None)]
    #[case::credentials_not_sent("ws://u:p@h:2/a", &[], "GET /a HTTP/1.1\r\nhost: h:2\r\n", None)]
    #[case::ipv6("ws://[::1]:9/", &[], "GET / HTTP/1.1\r\nhost: [::1]:9\r\n", None)]
    #[case::wss_default_port("wss://h:443/", &[], "GET / HTTP/1.1\r\nhost: h\r\n", None)]
    #[case::encoded("ws://h:1/a b/é?q=é", &[], "GET /a%20b/%C3%A9?q=%C3%A9 HTTP/1.1\r\nhost: h:1\r\n", None)]
    fn request_lines(
        #[case] url: &str,
        #[case] protocols: &[&str],
        #[case] start: &str,
        #[case] protocol_header: Option<&str>,
    ) {
        let req = String::from_utf8(request(&parse_url(url).unwrap(), protocols, KEY)).unwrap();
        assert!(req.starts_with(start), "{req}");
        assert!(!req.contains("authorization"));
        let line = req
            .lines()
            .find_map(|l| l.strip_prefix("sec-websocket-protocol: "));
        assert_eq!(line, protocol_header);
    }

    #[test]
    fn accept_and_key() {
        assert_eq!(accept_for(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(key_from_bytes(b"the sample nonce"), KEY);
    }

    fn answer(extra: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{extra}\r\n",
            accept_for(KEY)
        )
    }

    fn feed(text: &str, protocols: &[&str]) -> Answer {
        AnswerReader::new(KEY, protocols).feed(text.as_bytes())
    }

    fn failed(text: &str, protocols: &[&str]) -> &'static str {
        match feed(text, protocols) {
            Answer::Failed(m) => m,
            other => panic!("{other:?}"),
        }
    }

    fn opened(text: &str, protocols: &[&str]) -> Accepted {
        match feed(text, protocols) {
            Answer::Open { accepted, .. } => accepted,
            other => panic!("{other:?}"),
        }
    }

    #[rstest]
    #[case::ok_200("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")]
    #[case::not_found("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")]
    #[case::continue_100("HTTP/1.1 100 Continue\r\n\r\n")]
    #[case::garbage("FOO\r\n\r\n")]
    #[case::upgrade_200("HTTP/1.1 200 OK\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n")]
    fn network_errors(#[case] text: &str) {
        assert_eq!(failed(text, &[]), messages::NETWORK);
    }

    #[rstest]
    #[case::no_upgrade_header("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n")]
    #[case::no_connection_header("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")]
    #[case::processing("HTTP/1.1 102 Processing\r\n\r\n")]
    fn informational_answers_are_skipped(#[case] first: &str) {
        assert_eq!(feed(first, &[]), Answer::Partial);
        let both = format!("{first}{}", answer(""));
        assert!(matches!(feed(&both, &[]), Answer::Open { .. }));
    }

    #[rstest]
    #[case::upgrade_foo("Upgrade: foo\r\nConnection: Upgrade\r\n{accept}", messages::UPGRADE)]
    #[case::upgrade_list(
        "Upgrade: websocket, foo\r\nConnection: Upgrade\r\n{accept}",
        messages::UPGRADE
    )]
    #[case::upgrade_twice(
        "Upgrade: websocket\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{accept}",
        messages::UPGRADE
    )]
    #[case::upgrade_trailing_space(
        "Upgrade: websocket \r\nConnection: Upgrade\r\n{accept}",
        messages::UPGRADE
    )]
    #[case::connection_list(
        "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n{accept}",
        messages::CONNECTION
    )]
    #[case::connection_trailing_spaces(
        "Upgrade: websocket\r\nConnection: Upgrade  \r\n{accept}",
        messages::CONNECTION
    )]
    #[case::bad_accept(
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: abc\r\n",
        messages::ACCEPT
    )]
    #[case::no_accept("Upgrade: websocket\r\nConnection: Upgrade\r\n", messages::ACCEPT)]
    #[case::accept_trailing_tab(
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {key}\t\r\n",
        messages::ACCEPT
    )]
    #[case::upgrade_checked_before_accept(
        "Upgrade: foo\r\nConnection: Upgrade\r\n",
        messages::UPGRADE
    )]
    fn upgrade_checks(#[case] headers: &str, #[case] message: &str) {
        let headers = headers
            .replace(
                "{accept}",
                &format!("Sec-WebSocket-Accept: {}\r\n", accept_for(KEY)),
            )
            .replace("{key}", &accept_for(KEY));
        let text = format!("HTTP/1.1 101 Switching Protocols\r\n{headers}\r\n");
        assert_eq!(failed(&text, &[]), message, "{text}");
    }

    #[test]
    fn header_names_and_upgrade_values_in_any_case() {
        let text = format!(
            "HTTP/1.1 101 X\r\nUPGRADE: WebSocket\r\nconnection: UPGRADE\r\nsec-websocket-accept: {}\r\n\r\n",
            accept_for(KEY)
        );
        assert_eq!(opened(&text, &[]).protocol, "");
        let http10 = text.replace("HTTP/1.1", "HTTP/1.0");
        assert!(matches!(feed(&http10, &[]), Answer::Open { .. }));
    }

    #[rstest]
    #[case::missing(&["p1"], "", Err(messages::NO_PROTOCOL))]
    #[case::empty(&["p1"], "Sec-WebSocket-Protocol: \r\n", Err(messages::NO_PROTOCOL))]
    #[case::other(&["p1", "p2"], "Sec-WebSocket-Protocol: p3\r\n", Err(messages::PROTOCOL))]
    #[case::case(&["p1", "p2"], "Sec-WebSocket-Protocol: P2\r\n", Err(messages::PROTOCOL))]
    #[case::second(&["p1", "p2"], "Sec-WebSocket-Protocol: p2\r\n", Ok("p2"))]
    #[case::both(&["p1", "p2"], "Sec-WebSocket-Protocol: p1, p2\r\n", Err(messages::PROTOCOL))]
    #[case::twice(&["p1", "p2"], "Sec-WebSocket-Protocol: p1\r\nSec-WebSocket-Protocol: p1\r\n", Err(messages::PROTOCOL))]
    #[case::trailing_space(&["p1"], "Sec-WebSocket-Protocol: p1 \r\n", Err(messages::PROTOCOL))]
    #[case::leading_spaces(&["p1"], "Sec-WebSocket-Protocol:    p1\r\n", Ok("p1"))]
    #[case::unrequested(&[], "Sec-WebSocket-Protocol: foo\r\n", Err(messages::PROTOCOL))]
    #[case::unrequested_empty(&[], "Sec-WebSocket-Protocol:\r\n", Err(messages::PROTOCOL))]
    fn protocol_answers(
        #[case] protocols: &[&str],
        #[case] header: &str,
        #[case] expected: Result<&str, &str>,
    ) {
        match feed(&answer(header), protocols) {
            Answer::Open { accepted, .. } => assert_eq!(Ok(accepted.protocol.as_str()), expected),
            Answer::Failed(m) => assert_eq!(Err(m), expected),
            Answer::Partial => panic!("partial"),
        }
    }

    #[rstest]
    #[case::pmd("permessage-deflate", Ok(()))]
    #[case::pmd_params("permessage-deflate; server_max_window_bits=10; client_max_window_bits=9", Ok(()))]
    #[case::other("x-foo", Err(()))]
    #[case::other_then_pmd("x-foo; permessage-deflate", Ok(()))]
    #[case::comma_list("permessage-deflate, x-foo", Err(()))]
    #[case::empty("", Err(()))]
    #[case::case("Permessage-Deflate", Err(()))]
    #[case::space_before_semicolon("permessage-deflate ; x", Err(()))]
    fn extension_answers(#[case] value: &str, #[case] ok: Result<(), ()>) {
        let text = answer(&format!("Sec-WebSocket-Extensions: {value}\r\n"));
        match feed(&text, &[]) {
            Answer::Open { accepted, .. } => {
                assert_eq!(ok, Ok(()));
                assert_eq!(accepted.extensions, value);
                assert!(accepted.deflate.is_some());
            }
            Answer::Failed(m) => {
                assert_eq!(ok, Err(()));
                assert_eq!(m, messages::EXTENSIONS);
            }
            Answer::Partial => panic!("partial"),
        }
    }

    #[rstest]
    #[case::none("", "", "")]
    #[case::inner("  a  ", "a  ", "  a")]
    #[case::one_space(" ", "", " ")]
    #[case::two_spaces("  ", "", " ")]
    #[case::tabs_crlf("\t\r\na\r\n", "a\r\n", "\t\r\na")]
    fn undici_whitespace_trimming(#[case] s: &str, #[case] leading: &str, #[case] trailing: &str) {
        assert_eq!(trim_http_whitespace(s, true, false), leading);
        assert_eq!(trim_http_whitespace(s, false, true), trailing);
    }

    #[test]
    fn extension_parameters_as_undici_trims_them() {
        let e = Extensions::parse("permessage-deflate;  server_max_window_bits= 10 ;x=a=b;y");
        assert!(e.has("permessage-deflate"));
        assert_eq!(e.get("server_max_window_bits"), Some(" 10"));
        assert_eq!(e.get("x"), Some("a"));
        assert_eq!(e.get("y"), Some(""));
        assert_eq!(e.get("z"), None);
    }

    #[test]
    fn frames_after_the_head_are_handed_on_at_every_split() {
        let mut text = answer("").into_bytes();
        text.extend_from_slice(b"\x81\x02hi");
        for cut in 0..text.len() {
            let mut r = AnswerReader::new(KEY, &[]);
            let (result, unread) = match r.feed(&text[..cut]) {
                Answer::Partial => (r.feed(&text[cut..]), &[][..]),
                first => (first, &text[cut..]),
            };
            match result {
                Answer::Open { mut rest, .. } => {
                    rest.extend_from_slice(unread);
                    assert_eq!(rest, b"\x81\x02hi", "cut {cut}");
                }
                other => panic!("cut {cut}: {other:?}"),
            }
        }
    }
}
