//! `IncomingMessage.headers`, `headersDistinct`, `trailers` and
//! `trailersDistinct`, built from raw `(name, value)` pairs with Node's
//! duplicate rules (`matchKnownFields` / `_addHeaderLine` /
//! `_addHeaderLineDistinct` in lib/_http_incoming.js).
//!
//! The rules, in the order Node applies them to each raw pair:
//!
//! 1. The name is lower-cased (JavaScript `toLowerCase`).
//! 2. `set-cookie` always collects an array, whatever the options.
//! 3. `cookie` joins duplicates with `"; "`.
//! 4. The 18 names of [`DISCARD_DUPLICATES`] keep the first value, unless
//!    `joinDuplicateHeaders` is set, in which case they join with `", "`.
//! 5. Every other name joins duplicates with `", "`.
//!
//! Verified against Node 23.5.0 with a `node:http` server receiving raw
//! duplicate headers, with and without `joinDuplicateHeaders` (probe
//! `hdrs.js`, results in the tests below).

use std::borrow::Cow;

/// Header names whose duplicates Node drops (first value wins) unless
/// `joinDuplicateHeaders` is set. Exactly the names `matchKnownFields`
/// returns without a flag byte in Node 23.5.0.
pub const DISCARD_DUPLICATES: &[&str] = &[
    "age",
    "authorization",
    "content-length",
    "content-type",
    "etag",
    "expires",
    "from",
    "host",
    "if-modified-since",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "proxy-authorization",
    "referer",
    "retry-after",
    "server",
    "user-agent",
];

/// Decode bytes as latin-1 (one char per byte), as Node turns header bytes
/// into JavaScript strings.
///
/// Node equivalent: the parser binding's one-byte strings
/// (`buffer.toString('latin1')`).
pub fn latin1(bytes: &[u8]) -> String {
    latin1_cow(bytes).into_owned()
}

/// [`latin1`], borrowing ASCII (the usual header), which is its own
/// latin-1.
pub(crate) fn latin1_cow(bytes: &[u8]) -> Cow<'_, str> {
    if bytes.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8 (checked just above; a
        // second check by `from_utf8` was a tenth of a head's parse).
        return Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect())
}

/// Header fields as received, in order: names with their case, values
/// latin-1 decoded and trimmed, all in one string.
///
/// Node equivalent: `message.rawHeaders` (as pairs rather than a flat
/// array). One allocation for every field of a head: a list of string
/// pairs was two allocations per field and one for the list.
///
/// ```
/// use nodehttp_proto::headers::RawHeaders;
/// let raw: RawHeaders = [("Host", "a"), ("X-Y", "1, 2")].into_iter().collect();
/// assert_eq!(raw.len(), 2);
/// assert_eq!(raw.iter().collect::<Vec<_>>(), [("Host", "a"), ("X-Y", "1, 2")]);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RawHeaders {
    /// `name \n value \n` for each field. Neither holds a line feed: a
    /// name is a token, and a value ends at its line's end.
    text: String,
    /// How many fields `text` holds.
    fields: usize,
}

impl RawHeaders {
    /// No fields.
    pub fn new() -> RawHeaders {
        RawHeaders::default()
    }

    /// No fields, with room for `bytes` bytes of names and values.
    pub(crate) fn with_capacity(bytes: usize) -> RawHeaders {
        RawHeaders {
            text: String::with_capacity(bytes),
            fields: 0,
        }
    }

    /// Add a field.
    ///
    /// # Panics
    ///
    /// If `name` or `value` holds a line feed (`\n`), which no header
    /// field can.
    pub fn push(&mut self, name: &str, value: &str) {
        assert!(
            !name.contains('\n') && !value.contains('\n'),
            "a header field holds no line feed"
        );
        self.push_field(name, value);
    }

    /// [`push`](Self::push) for the parser, whose names and values hold
    /// no line feed by construction.
    pub(crate) fn push_field(&mut self, name: &str, value: &str) {
        debug_assert!(!name.contains('\n') && !value.contains('\n'));
        self.text.push_str(name);
        self.text.push('\n');
        self.text.push_str(value);
        self.text.push('\n');
        self.fields += 1;
    }

    /// Replace the value of the last field (an obs-fold continuation).
    pub(crate) fn set_last_value(&mut self, value: &str) {
        let Some(name_end) = self.text[..self.text.len().saturating_sub(1)].rfind('\n') else {
            return;
        };
        self.text.truncate(name_end + 1);
        self.text.push_str(value);
        self.text.push('\n');
    }

    /// Give back room above twice what is used (a head parsed with room
    /// for what followed it in the buffer).
    pub(crate) fn shrink(&mut self) {
        if self.text.capacity() > 2 * self.text.len() + 64 {
            self.text.shrink_to_fit();
        }
    }

    /// The fields, in order, as `(name, value)`.
    pub fn iter(&self) -> RawHeadersIter<'_> {
        RawHeadersIter { rest: &self.text }
    }

    /// How many fields.
    pub fn len(&self) -> usize {
        self.fields
    }

    /// Whether there is no field.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The fields as owned pairs.
    pub fn to_vec(&self) -> Vec<(String, String)> {
        self.iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }
}

impl std::fmt::Debug for RawHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for RawHeaders {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> RawHeaders {
        let mut raw = RawHeaders::new();
        for (n, v) in iter {
            raw.push(n.as_ref(), v.as_ref());
        }
        raw
    }
}

impl<'a> IntoIterator for &'a RawHeaders {
    type Item = (&'a str, &'a str);
    type IntoIter = RawHeadersIter<'a>;

    fn into_iter(self) -> RawHeadersIter<'a> {
        self.iter()
    }
}

/// The fields of a [`RawHeaders`], in order.
#[derive(Debug, Clone)]
pub struct RawHeadersIter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for RawHeadersIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        let (name, rest) = self.rest.split_once('\n')?;
        let (value, rest) = rest.split_once('\n')?;
        self.rest = rest;
        Some((name, value))
    }
}

/// One entry of [`HeaderMap`]: a string, or (for `set-cookie` and for every
/// entry of a distinct map) an array of strings.
///
/// Node equivalent: the property values of `req.headers` (`string` or
/// `string[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// A single (possibly joined) value.
    Single(String),
    /// Several values, kept apart.
    Multi(Vec<String>),
}

impl HeaderValue {
    /// The value as Node would print it joined: `Single` as is, `Multi`
    /// joined with `", "` (what `String(array)` would give, minus the spaces).
    pub fn as_single(&self) -> Option<&str> {
        match self {
            HeaderValue::Single(s) => Some(s),
            HeaderValue::Multi(_) => None,
        }
    }

    /// All values, one for `Single`.
    pub fn values(&self) -> Vec<&str> {
        match self {
            HeaderValue::Single(s) => vec![s.as_str()],
            HeaderValue::Multi(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// Options that change how duplicates are merged.
///
/// Node equivalent: the `joinDuplicateHeaders` option of
/// `http.createServer` / `http.request`, and `server.maxHeadersCount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeaderOptions {
    /// `joinDuplicateHeaders`: join the [`DISCARD_DUPLICATES`] names with
    /// `", "` instead of dropping duplicates. `set-cookie` stays an array
    /// and `cookie` still joins with `"; "`.
    pub join_duplicate_headers: bool,
    /// Only the first `n` raw pairs are used (`maxHeadersCount`; left
    /// `null`, Node's parser keeps 1000). `None` means no limit.
    /// `rawHeaders` keeps them all.
    pub max_headers_count: Option<usize>,
}

/// An ordered map from lower-case header name to [`HeaderValue`], in order
/// of first insertion.
///
/// Node equivalent: the objects `req.headers`, `req.headersDistinct`,
/// `req.trailers`, `req.trailersDistinct`.
///
/// ```
/// use nodehttp_proto::headers::{HeaderMap, HeaderOptions, HeaderValue};
/// let raw = [("Host", "a"), ("host", "b"), ("X-A", "1"), ("x-a", "2")];
/// let h = HeaderMap::from_raw(raw, HeaderOptions::default());
/// assert_eq!(h.get("host"), Some(&HeaderValue::Single("a".into())));
/// assert_eq!(h.get("x-a"), Some(&HeaderValue::Single("1, 2".into())));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderMap {
    entries: Vec<(String, HeaderValue)>,
}

/// `name.toLowerCase()`: JavaScript's full Unicode lower-casing, with a
/// fast path for the usual ASCII name (the same result; the Unicode
/// mapping showed up in profiles of every request).
pub fn lower_case(name: &str) -> String {
    if name.is_ascii() {
        name.to_ascii_lowercase()
    } else {
        name.to_lowercase()
    }
}

/// How `_addHeaderLine` treats a (lower-cased) name.
enum Rule {
    /// Flag 0: join with `", "`.
    Join,
    /// Flag 2: join with `"; "` (cookie).
    JoinCookie,
    /// Flag 1: array (set-cookie).
    Array,
    /// No flag: first wins, or `", "` with `joinDuplicateHeaders`.
    Discard,
}

fn rule(lower: &str) -> Rule {
    match lower {
        "set-cookie" => Rule::Array,
        "cookie" => Rule::JoinCookie,
        _ if DISCARD_DUPLICATES.binary_search(&lower).is_ok() => Rule::Discard,
        _ => Rule::Join,
    }
}

impl HeaderMap {
    /// An empty map.
    pub fn new() -> HeaderMap {
        HeaderMap::default()
    }

    /// Build `req.headers` (or `req.trailers`) from raw pairs.
    ///
    /// Node equivalent: the `headers` getter, calling `_addHeaderLine` on
    /// each pair of `rawHeaders`.
    ///
    /// Difference from Node: none known, including the quirk that a header
    /// named `__proto__` (in any case) never shows up, because Node's target
    /// is a plain object whose `__proto__` setter ignores strings.
    pub fn from_raw<N, V>(raw: impl IntoIterator<Item = (N, V)>, opts: HeaderOptions) -> HeaderMap
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut map = HeaderMap::new();
        let limit = opts.max_headers_count.unwrap_or(usize::MAX);
        for (name, value) in raw.into_iter().take(limit) {
            map.add_header_line(name.as_ref(), value.as_ref(), opts.join_duplicate_headers);
        }
        map
    }

    /// Build `req.headersDistinct` (or `req.trailersDistinct`): every value
    /// kept, each entry an array.
    ///
    /// Node equivalent: the `headersDistinct` getter (`_addHeaderLineDistinct`).
    ///
    /// Difference from Node: Node 23.5.0 builds this on a plain object, so a
    /// header named like an `Object.prototype` member (`constructor`,
    /// `toString`...) throws a `TypeError` there; here it is kept like any
    /// other name.
    pub fn distinct_from_raw<N, V>(
        raw: impl IntoIterator<Item = (N, V)>,
        opts: HeaderOptions,
    ) -> HeaderMap
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut map = HeaderMap::new();
        let limit = opts.max_headers_count.unwrap_or(usize::MAX);
        for (name, value) in raw.into_iter().take(limit) {
            let key = lower_case(name.as_ref());
            let value = value.as_ref().to_owned();
            match map.get_mut(&key) {
                Some(HeaderValue::Multi(v)) => v.push(value),
                _ => map.insert(key, HeaderValue::Multi(vec![value])),
            }
        }
        map
    }

    /// Merge one raw pair into the map with Node's rules.
    ///
    /// Node equivalent: `IncomingMessage.prototype._addHeaderLine(field,
    /// value, dest)` with `this.joinDuplicateHeaders = join_duplicates`.
    pub fn add_header_line(&mut self, name: &str, value: &str, join_duplicates: bool) {
        let key = lower_case(name);
        if key == "__proto__" {
            return;
        }
        let value = value.to_owned();
        match (rule(&key), self.get_mut(&key)) {
            (Rule::Array, Some(HeaderValue::Multi(v))) => v.push(value),
            (Rule::Array, _) => self.insert(key, HeaderValue::Multi(vec![value])),
            (Rule::Join, Some(HeaderValue::Single(s))) => {
                s.push_str(", ");
                s.push_str(&value);
            }
            (Rule::JoinCookie, Some(HeaderValue::Single(s))) => {
                s.push_str("; ");
                s.push_str(&value);
            }
            (Rule::Discard, Some(HeaderValue::Single(s))) => {
                if join_duplicates {
                    s.push_str(", ");
                    s.push_str(&value);
                }
            }
            (_, _) => self.insert(key, HeaderValue::Single(value)),
        }
    }

    fn insert(&mut self, key: String, value: HeaderValue) {
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut HeaderValue> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The entry for a lower-case `name`.
    ///
    /// Node equivalent: `req.headers[name]`.
    pub fn get(&self, name: &str) -> Option<&HeaderValue> {
        self.entries.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Entries in order of first insertion.
    ///
    /// Node equivalent: `Object.entries(req.headers)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &HeaderValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn raw_headers_keep_fields_in_order_with_empty_values() {
        let mut raw: RawHeaders = [("Host", "a"), ("X-Empty", ""), ("X-B", "1")]
            .into_iter()
            .collect();
        assert_eq!(raw.len(), 3);
        raw.set_last_value("1 2");
        assert_eq!(
            raw.iter().collect::<Vec<_>>(),
            [("Host", "a"), ("X-Empty", ""), ("X-B", "1 2")]
        );
        assert_eq!(raw.to_vec()[1], ("X-Empty".to_owned(), String::new()));
        assert!(RawHeaders::new().is_empty());
        assert_eq!(RawHeaders::new().iter().next(), None);
    }

    #[test]
    #[should_panic(expected = "no line feed")]
    fn raw_headers_refuse_a_line_feed() {
        RawHeaders::new().push("X", "a\nb");
    }

    /// The raw headers of the Node probe (`hdrs.js`).
    const PROBE: &[(&str, &str)] = &[
        ("Host", "a"),
        ("HOST", "b"),
        ("Set-Cookie", "a=1"),
        ("set-cookie", "b=2"),
        ("Cookie", "x=1"),
        ("cookie", "y=2"),
        ("X-Y", "1"),
        ("x-y", "2"),
        ("Authorization", "A"),
        ("authorization", "B"),
        ("Content-Length", "0"),
        ("Date", "d1"),
        ("date", "d2"),
        ("Connection", "close"),
    ];

    fn s(v: &str) -> HeaderValue {
        HeaderValue::Single(v.into())
    }
    fn m(v: &[&str]) -> HeaderValue {
        HeaderValue::Multi(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn discard_list_is_sorted() {
        assert!(DISCARD_DUPLICATES.windows(2).all(|w| w[0] < w[1]));
    }

    #[rstest]
    #[case::default(false, vec![
        ("host", s("a")), ("set-cookie", m(&["a=1", "b=2"])), ("cookie", s("x=1; y=2")),
        ("x-y", s("1, 2")), ("authorization", s("A")), ("content-length", s("0")),
        ("date", s("d1, d2")), ("connection", s("close")),
    ])]
    #[case::join_duplicate_headers(true, vec![
        ("host", s("a, b")), ("set-cookie", m(&["a=1", "b=2"])), ("cookie", s("x=1; y=2")),
        ("x-y", s("1, 2")), ("authorization", s("A, B")), ("content-length", s("0")),
        ("date", s("d1, d2")), ("connection", s("close")),
    ])]
    fn headers_match_node_probe(#[case] join: bool, #[case] expected: Vec<(&str, HeaderValue)>) {
        let opts = HeaderOptions {
            join_duplicate_headers: join,
            ..Default::default()
        };
        let h = HeaderMap::from_raw(PROBE.iter().copied(), opts);
        let got: Vec<(&str, HeaderValue)> = h.iter().map(|(k, v)| (k, v.clone())).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn distinct_matches_node_probe() {
        let h = HeaderMap::distinct_from_raw(PROBE.iter().copied(), HeaderOptions::default());
        let got: Vec<(&str, HeaderValue)> = h.iter().map(|(k, v)| (k, v.clone())).collect();
        assert_eq!(
            got,
            vec![
                ("host", m(&["a", "b"])),
                ("set-cookie", m(&["a=1", "b=2"])),
                ("cookie", m(&["x=1", "y=2"])),
                ("x-y", m(&["1", "2"])),
                ("authorization", m(&["A", "B"])),
                ("content-length", m(&["0"])),
                ("date", m(&["d1", "d2"])),
                ("connection", m(&["close"])),
            ]
        );
    }

    #[test]
    fn proto_is_dropped_and_constructor_joins() {
        // Node 23.5.0 probe (hdrs2.js): {"host":"a","constructor":"c, d",
        // "tostring":"t","connection":"close"}
        let raw = [
            ("Host", "a"),
            ("__proto__", "p"),
            ("__Proto__", "q"),
            ("constructor", "c"),
            ("Constructor", "d"),
            ("toString", "t"),
            ("Connection", "close"),
        ];
        let h = HeaderMap::from_raw(raw, HeaderOptions::default());
        let keys: Vec<&str> = h.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["host", "constructor", "tostring", "connection"]);
        assert_eq!(h.get("constructor"), Some(&s("c, d")));
    }

    #[rstest]
    #[case::every_discarded_name_keeps_first(false)]
    #[case::every_discarded_name_joins(true)]
    fn discarded_names(#[case] join: bool) {
        for name in DISCARD_DUPLICATES {
            let upper = name.to_uppercase();
            let raw = [(upper.as_str(), "1"), (*name, "2")];
            let opts = HeaderOptions {
                join_duplicate_headers: join,
                ..Default::default()
            };
            let h = HeaderMap::from_raw(raw, opts);
            assert_eq!(
                h.get(name),
                Some(&s(if join { "1, 2" } else { "1" })),
                "{name}"
            );
        }
    }

    #[test]
    fn max_headers_count_limits_pairs() {
        let opts = HeaderOptions {
            max_headers_count: Some(2),
            ..Default::default()
        };
        let h = HeaderMap::from_raw([("a", "1"), ("b", "2"), ("c", "3")], opts);
        assert_eq!(h.len(), 2);
        assert!(h.get("c").is_none());
    }

    #[test]
    fn latin1_is_one_char_per_byte() {
        assert_eq!(latin1(b"caf\xe9\xff"), "caf\u{e9}\u{ff}");
    }
}
