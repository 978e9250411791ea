//! Status codes and methods: Node's `http.STATUS_CODES` and `http.METHODS`.
//!
//! Both tables were copied from Node 23.5.0 itself
//! (`JSON.stringify(http.STATUS_CODES)`, `http.METHODS.join(',')`), not from
//! the RFCs: Node spells 418 "I'm a Teapot" and keeps 509 "Bandwidth Limit
//! Exceeded", which no RFC defines.

/// Node's `http.STATUS_CODES`: every status code Node knows, with the reason
/// phrase `ServerResponse` sends when the user gives none, sorted by code.
///
/// Node equivalent: `http.STATUS_CODES` (an object keyed by code). Codes not
/// listed here make `writeHead` fall back to the reason `"unknown"`
/// ([`reason_phrase_or_unknown`]).
pub const STATUS_CODES: &[(u16, &str)] = &[
    (100, "Continue"),
    (101, "Switching Protocols"),
    (102, "Processing"),
    (103, "Early Hints"),
    (200, "OK"),
    (201, "Created"),
    (202, "Accepted"),
    (203, "Non-Authoritative Information"),
    (204, "No Content"),
    (205, "Reset Content"),
    (206, "Partial Content"),
    (207, "Multi-Status"),
    (208, "Already Reported"),
    (226, "IM Used"),
    (300, "Multiple Choices"),
    (301, "Moved Permanently"),
    (302, "Found"),
    (303, "See Other"),
    (304, "Not Modified"),
    (305, "Use Proxy"),
    (307, "Temporary Redirect"),
    (308, "Permanent Redirect"),
    (400, "Bad Request"),
    (401, "Unauthorized"),
    (402, "Payment Required"),
    (403, "Forbidden"),
    (404, "Not Found"),
    (405, "Method Not Allowed"),
    (406, "Not Acceptable"),
    (407, "Proxy Authentication Required"),
    (408, "Request Timeout"),
    (409, "Conflict"),
    (410, "Gone"),
    (411, "Length Required"),
    (412, "Precondition Failed"),
    (413, "Payload Too Large"),
    (414, "URI Too Long"),
    (415, "Unsupported Media Type"),
    (416, "Range Not Satisfiable"),
    (417, "Expectation Failed"),
    (418, "I'm a Teapot"),
    (421, "Misdirected Request"),
    (422, "Unprocessable Entity"),
    (423, "Locked"),
    (424, "Failed Dependency"),
    (425, "Too Early"),
    (426, "Upgrade Required"),
    (428, "Precondition Required"),
    (429, "Too Many Requests"),
    (431, "Request Header Fields Too Large"),
    (451, "Unavailable For Legal Reasons"),
    (500, "Internal Server Error"),
    (501, "Not Implemented"),
    (502, "Bad Gateway"),
    (503, "Service Unavailable"),
    (504, "Gateway Timeout"),
    (505, "HTTP Version Not Supported"),
    (506, "Variant Also Negotiates"),
    (507, "Insufficient Storage"),
    (508, "Loop Detected"),
    (509, "Bandwidth Limit Exceeded"),
    (510, "Not Extended"),
    (511, "Network Authentication Required"),
];

/// Node's `http.METHODS`: the methods the request parser (llhttp 9.2.1 in
/// Node 23.5.0) accepts, in Node's (alphabetical) order.
///
/// Node equivalent: `http.METHODS`. The parser also recognises `PRI` (the
/// HTTP/2 preface), which Node does not list and whose request it refuses.
pub const METHODS: &[&str] = &[
    "ACL",
    "BIND",
    "CHECKOUT",
    "CONNECT",
    "COPY",
    "DELETE",
    "GET",
    "HEAD",
    "LINK",
    "LOCK",
    "M-SEARCH",
    "MERGE",
    "MKACTIVITY",
    "MKCALENDAR",
    "MKCOL",
    "MOVE",
    "NOTIFY",
    "OPTIONS",
    "PATCH",
    "POST",
    "PROPFIND",
    "PROPPATCH",
    "PURGE",
    "PUT",
    "QUERY",
    "REBIND",
    "REPORT",
    "SEARCH",
    "SOURCE",
    "SUBSCRIBE",
    "TRACE",
    "UNBIND",
    "UNLINK",
    "UNLOCK",
    "UNSUBSCRIBE",
];

/// The RTSP methods of llhttp's method table. They are not in
/// [`METHODS`], but llhttp's request parser recognises them as methods,
/// takes them with the protocol `RTSP/` and refuses them with `HTTP/`
/// (probed on Node 23.5:
/// `FLUSH / HTTP/1.1` → `HPE_INVALID_CONSTANT` at byte 13; `FOO` →
/// `HPE_INVALID_METHOD` at byte 1, since `F` starts `FLUSH`).
pub const RTSP_METHODS: &[&str] = &[
    "DESCRIBE",
    "ANNOUNCE",
    "SETUP",
    "PLAY",
    "PAUSE",
    "TEARDOWN",
    "GET_PARAMETER",
    "SET_PARAMETER",
    "REDIRECT",
    "RECORD",
    "FLUSH",
];

/// The reason phrase Node knows for `code`, if any.
///
/// Node equivalent: `http.STATUS_CODES[code]`.
///
/// ```
/// assert_eq!(nodehttp_proto::status::reason_phrase(418), Some("I'm a Teapot"));
/// assert_eq!(nodehttp_proto::status::reason_phrase(299), None);
/// ```
pub fn reason_phrase(code: u16) -> Option<&'static str> {
    STATUS_CODES
        .binary_search_by_key(&code, |&(c, _)| c)
        .ok()
        .map(|i| STATUS_CODES[i].1)
}

/// The reason phrase `ServerResponse.writeHead` uses when the user gives
/// none: the known phrase, or `"unknown"`.
///
/// Node equivalent: `STATUS_CODES[statusCode] || 'unknown'` in
/// `ServerResponse.prototype.writeHead`.
pub fn reason_phrase_or_unknown(code: u16) -> &'static str {
    reason_phrase(code).unwrap_or("unknown")
}

/// Whether `method` is one of Node's [`METHODS`] (case-sensitive, as llhttp).
///
/// Node equivalent: `http.METHODS.includes(method)`.
pub fn is_known_method(method: &str) -> bool {
    METHODS.binary_search(&method).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn tables_are_sorted_so_binary_search_works() {
        assert!(STATUS_CODES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(METHODS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(STATUS_CODES.len(), 63);
        assert_eq!(METHODS.len(), 35);
    }

    #[rstest]
    #[case::teapot(418, Some("I'm a Teapot"))]
    #[case::too_early(425, Some("Too Early"))]
    #[case::bandwidth(509, Some("Bandwidth Limit Exceeded"))]
    #[case::payload(413, Some("Payload Too Large"))]
    #[case::no_306(306, None)]
    #[case::no_999(999, None)]
    fn reason_phrase_matches_node(#[case] code: u16, #[case] expected: Option<&str>) {
        assert_eq!(reason_phrase(code), expected);
    }

    #[test]
    fn unknown_fallback() {
        assert_eq!(reason_phrase_or_unknown(299), "unknown");
        assert_eq!(reason_phrase_or_unknown(200), "OK");
    }

    #[rstest]
    #[case::get("GET", true)]
    #[case::query("QUERY", true)]
    #[case::msearch("M-SEARCH", true)]
    #[case::lower("get", false)]
    #[case::pri("PRI", false)]
    fn known_methods(#[case] m: &str, #[case] known: bool) {
        assert_eq!(is_known_method(m), known);
    }
}
