//! Header name and value validation, as `http.validateHeaderName` and
//! `http.validateHeaderValue` (lib/_http_outgoing.js, lib/_http_common.js).
//!
//! Verified against Node 23.5.0 for every char 0..=255 (probe:
//! `validateHeaderName('a' + c)` / `validateHeaderValue('a', 'x' + c)`).

pub use crate::error::Error;

/// Whether byte `b` may appear in an RFC 7230 token (`tchar`).
///
/// Node equivalent: the table behind `checkIsHttpToken` in
/// lib/_http_common.js: ``!#$%&'*+-.^_`|~``, digits and ASCII letters.
pub const fn is_token_byte(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
        | b'^' | b'_' | b'`' | b'|' | b'~'
        | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// [`is_token_byte`] of every byte, for scanners: one load per byte
/// instead of a chain of range tests.
pub(crate) const TOKEN_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = is_token_byte(b as u8);
        b += 1;
    }
    table
};

/// Whether `s` is a non-empty RFC 7230 token.
///
/// Node equivalent: `checkIsHttpToken` (`_http_common._checkIsHttpToken`).
pub fn is_token(s: &str) -> bool {
    // The table: every `setHeader` checks its name, byte by byte.
    !s.is_empty() && s.bytes().all(|b| TOKEN_BYTES[usize::from(b)])
}

/// Whether char `c` may appear in a header value: `\t`, `\x20-\x7e` or
/// `\x80-\xff`.
///
/// Node equivalent: the complement of `headerCharRegex`
/// (`/[^\t\x20-\x7e\x80-\xff]/`) used by `checkInvalidHeaderChar`.
pub const fn is_header_value_char(c: char) -> bool {
    matches!(c as u32, 0x09 | 0x20..=0x7e | 0x80..=0xff)
}

/// Whether `s` contains a char that may not appear in a header value.
///
/// Node equivalent: `checkInvalidHeaderChar` (`_http_common._checkInvalidHeaderChar`).
pub fn has_invalid_header_char(s: &str) -> bool {
    // Every header value and status message is checked: ASCII (the usual
    // value) is one test per byte; only a value with a non-ASCII byte is
    // decoded into chars (U+0080..=U+00FF are two bytes in UTF-8).
    if s.bytes()
        .all(|b| b.is_ascii() && is_header_value_char(char::from(b)))
    {
        return false;
    }
    !s.chars().all(is_header_value_char)
}

/// Check a header name as `http.validateHeaderName(name)` does.
///
/// Fails with `ERR_INVALID_HTTP_TOKEN` when `name` is empty or not a token.
///
/// ```
/// use nodehttp_proto::validate::validate_header_name;
/// assert!(validate_header_name("X-Foo").is_ok());
/// assert_eq!(validate_header_name("X Foo").unwrap_err().code(), "ERR_INVALID_HTTP_TOKEN");
/// ```
pub fn validate_header_name(name: &str) -> Result<(), Error> {
    validate_token(name, "Header name")
}

/// Check a token with the label Node puts in the message (`"Header name"`,
/// `"Trailer name"`, `"Method"`...).
///
/// Node equivalent: `validateHeaderName(name, label)`.
pub fn validate_token(name: &str, label: &str) -> Result<(), Error> {
    if is_token(name) {
        Ok(())
    } else {
        Err(Error::invalid_http_token(label, name))
    }
}

/// Check a header value as `http.validateHeaderValue(name, value)` does.
///
/// `None` stands for JavaScript `undefined` and fails with
/// `ERR_HTTP_INVALID_HEADER_VALUE`; a value with a char outside
/// `[\t\x20-\x7e\x80-\xff]` fails with `ERR_INVALID_CHAR`.
///
/// ```
/// use nodehttp_proto::validate::validate_header_value;
/// assert!(validate_header_value("a", Some("caf\u{e9}")).is_ok());
/// assert_eq!(validate_header_value("a", None).unwrap_err().code(), "ERR_HTTP_INVALID_HEADER_VALUE");
/// assert_eq!(validate_header_value("a", Some("x\ny")).unwrap_err().code(), "ERR_INVALID_CHAR");
/// ```
pub fn validate_header_value(name: &str, value: Option<&str>) -> Result<(), Error> {
    match value {
        None => Err(Error::invalid_header_value(name, None)),
        Some(v) if has_invalid_header_char(v) => Err(Error::invalid_char("header content", name)),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// Bytes `validateHeaderName('a' + String.fromCharCode(c))` rejects in
    /// Node 23.5.0 (probe output, chars 0..=255).
    const NODE_BAD_NAME: &[u32] = &[
        34, 40, 41, 44, 47, 58, 59, 60, 61, 62, 63, 64, 91, 92, 93, 123, 125, 127,
    ];

    #[test]
    fn token_table_matches_node_probe() {
        for c in 0u32..=255 {
            let expected_bad = c <= 32 || c >= 128 || NODE_BAD_NAME.contains(&c);
            let s = format!("a{}", char::from_u32(c).unwrap());
            assert_eq!(validate_header_name(&s).is_err(), expected_bad, "char {c}");
        }
    }

    #[test]
    fn value_table_matches_node_probe() {
        // Node rejects 0..=8, 10..=31 and 127 with ERR_INVALID_CHAR.
        for c in 0u32..=255 {
            let expected_bad = (c <= 31 && c != 9) || c == 127;
            let s = format!("x{}", char::from_u32(c).unwrap());
            let r = validate_header_value("a", Some(&s));
            assert_eq!(r.is_err(), expected_bad, "char {c}");
            if let Err(e) = r {
                assert_eq!(e.code(), "ERR_INVALID_CHAR");
            }
        }
    }

    #[rstest]
    #[case::empty_name("", Some("x"), "ERR_INVALID_HTTP_TOKEN")]
    #[case::undefined("a", None, "ERR_HTTP_INVALID_HEADER_VALUE")]
    #[case::above_latin1("a", Some("\u{100}"), "ERR_INVALID_CHAR")]
    #[case::astral("a", Some("\u{1F600}"), "ERR_INVALID_CHAR")]
    fn node_probe_cases(#[case] name: &str, #[case] value: Option<&str>, #[case] code: &str) {
        let r = validate_header_name(name).and_then(|_| validate_header_value(name, value));
        assert_eq!(r.unwrap_err().code(), code);
    }

    #[test]
    fn messages_match_node() {
        assert_eq!(
            validate_header_value("a", Some("\u{100}"))
                .unwrap_err()
                .to_string(),
            "Invalid character in header content [\"a\"]"
        );
    }

    #[test]
    fn latin1_is_fine() {
        assert!(validate_header_value("a", Some("\u{e9}\u{ff}\t ")).is_ok());
        assert!(validate_header_value("a", Some("")).is_ok());
    }
}
