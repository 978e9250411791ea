//! Byte escapes used in `wire` blocks, and their inverse for transcripts.
//!
//! `\r` CR, `\n` LF, `\t` TAB, `\0` NUL, `\xNN` any byte, `\\` a backslash.
//! Any other backslash sequence is an error, so that a typo never silently
//! sends the wrong bytes.

use std::fmt::Write as _;

/// Why a line could not be unescaped; `column` is 1-based within the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct EscapeError {
    /// 1-based character column of the offending backslash.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// A line of a `wire` block, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unescaped {
    /// The bytes the text stands for.
    pub bytes: Vec<u8>,
    /// The text ended with an unescaped `\`: no CRLF follows it.
    pub no_newline: bool,
}

/// Decodes the escapes of one line of text. Text characters outside ASCII are
/// encoded as UTF-8; `\xNN` gives any single byte.
pub fn unescape(text: &str) -> Result<Unescaped, EscapeError> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    let mut column = 0;
    while let Some((_, c)) = chars.next() {
        column += 1;
        if c != '\\' {
            let mut buf = [0; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let at = column;
        let Some((_, e)) = chars.next() else {
            return Ok(Unescaped {
                bytes,
                no_newline: true,
            });
        };
        column += 1;
        match e {
            'r' => bytes.push(b'\r'),
            'n' => bytes.push(b'\n'),
            't' => bytes.push(b'\t'),
            '0' => bytes.push(0),
            '\\' => bytes.push(b'\\'),
            'x' => {
                let hi = chars.next().map(|(_, c)| c);
                let lo = chars.next().map(|(_, c)| c);
                column += 2;
                match (
                    hi.and_then(|c| c.to_digit(16)),
                    lo.and_then(|c| c.to_digit(16)),
                ) {
                    (Some(h), Some(l)) => bytes.push((h * 16 + l) as u8),
                    _ => {
                        return Err(EscapeError {
                            column: at,
                            message: "\\x must be followed by two hex digits".into(),
                        })
                    }
                }
            }
            other => {
                return Err(EscapeError {
                    column: at,
                    message: format!(
                        "unknown escape `\\{other}` (use \\r \\n \\t \\0 \\xNN or \\\\)"
                    ),
                })
            }
        }
    }
    Ok(Unescaped {
        bytes,
        no_newline: false,
    })
}

/// Renders bytes as escaped text, one entry per line of the original: each
/// line keeps its terminator as `\r\n` or `\n` stripped and recorded, so that
/// the output reads like a `wire` block. The returned strings do not include
/// the `> ` / `< ` prefix. A final piece without line ending gets a trailing
/// `\`, exactly as it would be written in a fixture.
pub fn escape_lines(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) if i > 0 && rest[i - 1] == b'\r' => {
                out.push(escape_bytes(&rest[..i - 1]));
                rest = &rest[i + 1..];
            }
            Some(i) => {
                // A bare LF is shown escaped and ends the piece without CRLF.
                let mut line = escape_bytes(&rest[..i]);
                line.push_str("\\n\\");
                out.push(line);
                rest = &rest[i + 1..];
            }
            None => {
                let mut line = escape_bytes(rest);
                line.push('\\');
                out.push(line);
                rest = &[];
            }
        }
    }
    out
}

/// Runs of one byte at least this long are shown `{{b*N}}`.
pub const RUN: usize = 32;

/// Escapes bytes so that [`unescape`] gives them back (a trailing `\` aside),
/// after `{{TEXT*N}}` is expanded: a run of [`RUN`] or more copies of one
/// byte is written `{{b*N}}`, as fixtures write long bodies.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let run = bytes[i..].iter().take_while(|&&x| x == b).count();
        if run >= RUN && !matches!(b, b'{' | b'}' | b'*') {
            let _ = write!(s, "{{{{{}*{run}}}}}", escape_one(b));
            i += run;
            continue;
        }
        s.push_str(&escape_one(b));
        i += 1;
    }
    s
}

fn escape_one(b: u8) -> String {
    match b {
        b'\r' => "\\r".into(),
        b'\n' => "\\n".into(),
        b'\t' => "\\t".into(),
        0 => "\\0".into(),
        b'\\' => "\\\\".into(),
        0x20..=0x7e => (b as char).to_string(),
        _ => format!("\\x{b:02x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::plain("GET / HTTP/1.1", b"GET / HTTP/1.1", false)]
    #[case::cr_lf("a\\r\\nb", b"a\r\nb", false)]
    #[case::tab_nul("\\t\\0", b"\t\0", false)]
    #[case::hex("\\x00\\xff\\x7F", b"\x00\xff\x7f", false)]
    #[case::backslash("a\\\\b", b"a\\b", false)]
    #[case::no_newline("hello\\", b"hello", false)]
    #[case::empty("", b"", false)]
    #[case::utf8("é", "é".as_bytes(), false)]
    fn unescapes(#[case] text: &str, #[case] bytes: &[u8], #[case] _unused: bool) {
        let u = unescape(text).unwrap();
        assert_eq!(u.bytes, bytes);
        assert_eq!(
            u.no_newline,
            text.ends_with('\\') && !text.ends_with("\\\\")
        );
    }

    #[rstest]
    #[case::unknown("a\\q", 2)]
    #[case::short_hex("\\x4", 1)]
    #[case::bad_hex("ab\\xZZ", 3)]
    fn rejects(#[case] text: &str, #[case] column: usize) {
        assert_eq!(unescape(text).unwrap_err().column, column);
    }

    #[test]
    fn escaped_bytes_round_trip() {
        let all: Vec<u8> = (0..=255).collect();
        let text = escape_bytes(&all);
        assert_eq!(unescape(&text).unwrap().bytes, all);
    }

    #[test]
    fn long_runs_are_written_as_repeats() {
        let mut bytes = b"ab".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 40));
        bytes.extend(std::iter::repeat_n(0u8, 32));
        bytes.extend(std::iter::repeat_n(b'y', 31));
        let text = escape_bytes(&bytes);
        assert_eq!(
            text,
            format!("ab{{{{x*40}}}}{{{{\\0*32}}}}{}", "y".repeat(31))
        );
        let expanded = crate::fixture::expand_repeats(&text).unwrap();
        assert_eq!(unescape(&expanded).unwrap().bytes, bytes);
    }

    #[test]
    fn lines_split_on_crlf_and_mark_bare_lf() {
        assert_eq!(
            escape_lines(b"HTTP/1.1 200 OK\r\nA: b\nrest"),
            vec!["HTTP/1.1 200 OK", "A: b\\n\\", "rest\\"]
        );
        assert_eq!(escape_lines(b"\r\n\r\n"), vec!["", ""]);
    }
}
