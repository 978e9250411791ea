//! WebSocket frames in `wire` blocks (RFC 6455, section 5.2): the `frame`
//! notation of `> frame ...` and `< frame ...` lines, the frames the runner
//! encodes and those it decodes from what the client sent, and the
//! handshake's random parts (`{{ws-key}}`, `{{ws-accept}}`).
//!
//! A frame is written `frame OPCODE [PAYLOAD] [FLAGS]`:
//!
//! - `OPCODE`: `text`, `binary`, `cont`, `close`, `ping`, `pong`, or a
//!   number `0x0` to `0xf` (`0x3`: a reserved opcode);
//! - `PAYLOAD`: quoted strings, joined (`"h\xc3" "\xa9"`), with the
//!   escapes of wire lines, `\"` for a quote and `{{TEXT*N}}` repeats; a
//!   close frame takes its code first, then its reason: `close 1000 "bye"`
//!   (a 1-byte body is a string: `close "\x03"`);
//! - `FLAGS`: `fin=0` (FIN clear), `rsv1`, `rsv2`, `rsv3`, `len=16` or
//!   `len=64` (a length encoded longer than it needs), `mask=0a0b0c0d` (a
//!   server frame masked with that key) and `unmasked` (a client frame sent
//!   without a mask).
//!
//! A client's frame is compared without its masking key, which is random:
//! `< frame text "hi"` matches any masked text frame carrying `hi`, and the
//! transcript of an unmasked one says `unmasked`.

use std::fmt::Write as _;
use std::sync::OnceLock;

use regex::bytes::Regex;

use crate::escape::{escape_bytes, unescape};
use crate::fixture::expand_repeats;

/// The placeholder of the client's `Sec-WebSocket-Key` in expected lines.
pub const WS_KEY: &str = "{{ws-key}}";
/// The placeholder of the right `Sec-WebSocket-Accept` in sent lines.
pub const WS_ACCEPT: &str = "{{ws-accept}}";
/// Length of a key: 16 bytes in base64.
pub const WS_KEY_LEN: usize = 24;

/// The largest client frame the runner reads whole.
const MAX_PAYLOAD: u64 = 64 << 20;

/// How a frame's payload length is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LenForm {
    /// As short as possible (7 bits, 16 bits above 125, 64 bits above 65535).
    Minimal,
    /// In 16 bits (126) even if 7 would do.
    Len16,
    /// In 64 bits (127) even if fewer would do.
    Len64,
}

/// A frame's mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// No mask (a server's frame; a client's with `unmasked`).
    None,
    /// Masked with some key: how a client's frame is compared.
    Any,
    /// Masked with this key (`mask=0a0b0c0d`).
    Key([u8; 4]),
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// FIN.
    pub fin: bool,
    /// RSV1, RSV2, RSV3 as the three bits `0b100`, `0b010`, `0b001`.
    pub rsv: u8,
    /// The opcode, 0 to 15.
    pub opcode: u8,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
    /// How the length is written.
    pub len: LenForm,
    /// The mask.
    pub mask: Mask,
}

const OPCODES: &[(u8, &str)] = &[
    (0x0, "cont"),
    (0x1, "text"),
    (0x2, "binary"),
    (0x8, "close"),
    (0x9, "ping"),
    (0xA, "pong"),
];

const CLOSE: u8 = 0x8;

impl Frame {
    /// The frame's bytes on the wire (payload masked with its key).
    pub fn encode(&self) -> Vec<u8> {
        let n = self.payload.len();
        let mut out = vec![(u8::from(self.fin) << 7) | ((self.rsv & 7) << 4) | (self.opcode & 15)];
        let mask_bit = if matches!(self.mask, Mask::None) {
            0
        } else {
            0x80
        };
        let form = match self.len {
            LenForm::Minimal if n > 65535 => LenForm::Len64,
            LenForm::Minimal if n > 125 => LenForm::Len16,
            LenForm::Len16 if n > 65535 => LenForm::Len64,
            f => f,
        };
        match form {
            LenForm::Minimal => out.push(mask_bit | n as u8),
            LenForm::Len16 => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            LenForm::Len64 => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let key = match self.mask {
            Mask::None => None,
            Mask::Key(k) => Some(k),
            // A mask was asked for without a key: a fixed one.
            Mask::Any => Some([0x37, 0xfa, 0x21, 0x3d]),
        };
        match key {
            None => out.extend_from_slice(&self.payload),
            Some(k) => {
                out.extend_from_slice(&k);
                out.extend(self.payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
            }
        }
        out
    }

    /// The frame as a `frame ...` line (without the `>` or `<`), as sent by
    /// the server (`server`: unmasked unless it says `mask=`) or by the
    /// client (masked unless it says `unmasked`).
    pub fn render(&self, server: bool) -> String {
        let mut s = String::from("frame ");
        match OPCODES.iter().find(|(o, _)| *o == self.opcode) {
            Some((_, name)) => s.push_str(name),
            None => {
                let _ = write!(s, "0x{:x}", self.opcode);
            }
        }
        let p = &self.payload;
        if self.opcode == CLOSE && p.len() >= 2 {
            let _ = write!(s, " {}", u16::from_be_bytes([p[0], p[1]]));
            if p.len() > 2 {
                let _ = write!(s, " {}", quote(&p[2..]));
            }
        } else if !p.is_empty() {
            let _ = write!(s, " {}", quote(p));
        } else if self.opcode != CLOSE {
            s.push_str(" \"\"");
        }
        if !self.fin {
            s.push_str(" fin=0");
        }
        for (bit, name) in [(4, "rsv1"), (2, "rsv2"), (1, "rsv3")] {
            if self.rsv & bit != 0 {
                let _ = write!(s, " {name}");
            }
        }
        match self.len {
            LenForm::Minimal => {}
            LenForm::Len16 => s.push_str(" len=16"),
            LenForm::Len64 => s.push_str(" len=64"),
        }
        match self.mask {
            Mask::None if !server => s.push_str(" unmasked"),
            Mask::Any if server => s.push_str(" mask=37fa213d"),
            Mask::None | Mask::Any => {}
            Mask::Key(k) => {
                let _ = write!(s, " mask={:02x}{:02x}{:02x}{:02x}", k[0], k[1], k[2], k[3]);
            }
        }
        s
    }

    /// A client's frame as it is compared: a masked one masked with any key.
    pub fn without_key(mut self) -> Frame {
        if let Mask::Key(_) = self.mask {
            self.mask = Mask::Any;
        }
        self
    }
}

/// Bytes as a quoted payload: wire escapes, `\"` for a quote.
fn quote(bytes: &[u8]) -> String {
    format!("\"{}\"", escape_bytes(bytes).replace('"', "\\\""))
}

/// Whether `text` (after `> ` or `< `) is a frame line.
pub fn is_frame_line(text: &str) -> bool {
    text == "frame" || text.starts_with("frame ")
}

/// Reads a `frame ...` line. `server` says who sends it: a server's frame
/// is unmasked unless it says `mask=`, a client's masked unless it says
/// `unmasked`.
pub fn parse(text: &str, server: bool) -> Result<Frame, String> {
    let tokens = tokenize(text.strip_prefix("frame").unwrap_or(text))?;
    let mut it = tokens.into_iter().peekable();
    let opcode = match it.next() {
        Some(Token::Word(w)) => match OPCODES.iter().find(|(_, n)| *n == w) {
            Some((o, _)) => *o,
            None => match w.strip_prefix("0x").map(|h| u8::from_str_radix(h, 16)) {
                Some(Ok(o)) if o < 16 => o,
                _ => {
                    return Err(format!(
                        "`{w}` is not an opcode (text, binary, cont, close, ping, pong, 0x0 to 0xf)"
                    ))
                }
            },
        },
        _ => {
            return Err(
                "`frame` takes an opcode first (text, binary, cont, close, ping, pong, 0xN)".into(),
            )
        }
    };
    let mut frame = Frame {
        fin: true,
        rsv: 0,
        opcode,
        payload: Vec::new(),
        len: LenForm::Minimal,
        mask: if server { Mask::None } else { Mask::Any },
    };
    if opcode == CLOSE {
        if let Some(Token::Word(w)) = it.peek() {
            if let Ok(code) = w.parse::<u16>() {
                frame.payload.extend_from_slice(&code.to_be_bytes());
                it.next();
            }
        }
    }
    while let Some(Token::Str(_)) = it.peek() {
        if let Some(Token::Str(b)) = it.next() {
            frame.payload.extend(b);
        }
    }
    for t in it {
        let Token::Word(w) = t else {
            return Err("the payload's strings come before the flags".into());
        };
        match w.as_str() {
            "fin=0" => frame.fin = false,
            "fin=1" => frame.fin = true,
            "rsv1" => frame.rsv |= 4,
            "rsv2" => frame.rsv |= 2,
            "rsv3" => frame.rsv |= 1,
            "len=16" => frame.len = LenForm::Len16,
            "len=64" => frame.len = LenForm::Len64,
            "unmasked" => frame.mask = Mask::None,
            m if m.starts_with("mask=") => {
                let hex = &m[5..];
                let bytes: Option<Vec<u8>> = (0..hex.len())
                    .step_by(2)
                    .map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
                    .collect();
                match bytes {
                    Some(b) if b.len() == 4 && hex.len() == 8 => {
                        frame.mask = Mask::Key([b[0], b[1], b[2], b[3]])
                    }
                    _ => return Err(format!("`{m}`: a mask is 4 bytes in hex (mask=0a0b0c0d)")),
                }
            }
            other => {
                return Err(format!(
                    "unknown frame flag `{other}` (fin=0, rsv1, rsv2, rsv3, len=16, len=64, mask=XXXXXXXX, unmasked)"
                ))
            }
        }
    }
    if frame.len == LenForm::Len16 && frame.payload.len() > 65535 {
        return Err("`len=16` with a payload over 65535 bytes".into());
    }
    Ok(frame)
}

enum Token {
    Word(String),
    Str(Vec<u8>),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '"' {
            chars.next();
            // Up to the closing quote; `\"` becomes `\x22` for `unescape`.
            let mut raw = String::new();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some('"') => raw.push_str("\\x22"),
                        Some(e) => {
                            raw.push('\\');
                            raw.push(e);
                        }
                        None => return Err("a quoted payload ends with a lone `\\`".into()),
                    },
                    c => raw.push(c),
                }
            }
            if !closed {
                return Err("a quoted payload is not closed".into());
            }
            let expanded = expand_repeats(&raw).map_err(|e| e.message)?;
            let u = unescape(&expanded).map_err(|e| e.message)?;
            out.push(Token::Str(u.bytes));
            continue;
        }
        let mut w = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c == '"' {
                break;
            }
            w.push(c);
            chars.next();
        }
        out.push(Token::Word(w));
    }
    Ok(out)
}

/// What [`decode`] found at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// More bytes are needed.
    Partial,
    /// A whole frame, and the bytes it took.
    Frame(Frame, usize),
    /// A length the runner does not read (over 64 MiB).
    TooLong(u64),
}

/// Decodes the frame at the start of `buf` (a client's: unmasked here, the
/// key kept in [`Mask::Key`]).
pub fn decode(buf: &[u8]) -> Decoded {
    if buf.len() < 2 {
        return Decoded::Partial;
    }
    let (b0, b1) = (buf[0], buf[1]);
    let masked = b1 & 0x80 != 0;
    let (n, mut at, len) = match b1 & 0x7f {
        126 => {
            let Some(b) = buf.get(2..4) else {
                return Decoded::Partial;
            };
            let n = u64::from(u16::from_be_bytes([b[0], b[1]]));
            (
                n,
                4,
                if n < 126 {
                    LenForm::Len16
                } else {
                    LenForm::Minimal
                },
            )
        }
        127 => {
            let Some(b) = buf.get(2..10) else {
                return Decoded::Partial;
            };
            let n = u64::from_be_bytes(b.try_into().expect("8 bytes"));
            (
                n,
                10,
                if n < 65536 {
                    LenForm::Len64
                } else {
                    LenForm::Minimal
                },
            )
        }
        n => (u64::from(n), 2, LenForm::Minimal),
    };
    if n > MAX_PAYLOAD {
        return Decoded::TooLong(n);
    }
    let mut mask = Mask::None;
    if masked {
        let Some(k) = buf.get(at..at + 4) else {
            return Decoded::Partial;
        };
        mask = Mask::Key([k[0], k[1], k[2], k[3]]);
        at += 4;
    }
    let end = at + n as usize;
    let Some(body) = buf.get(at..end) else {
        return Decoded::Partial;
    };
    let payload = match mask {
        Mask::Key(k) => body.iter().enumerate().map(|(i, b)| b ^ k[i % 4]).collect(),
        _ => body.to_vec(),
    };
    Decoded::Frame(
        Frame {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 7,
            opcode: b0 & 15,
            payload,
            len,
            mask,
        },
        end,
    )
}

fn key_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // 16 bytes in base64: 21 characters, one whose low four bits are zero,
    // then `==`.
    RE.get_or_init(|| {
        Regex::new(r"(?i-u)(\r\nsec-websocket-key:[ \t]*)([A-Za-z0-9+/]{21}[AQgw]==)(\r\n)")
            .expect("valid regex")
    })
}

/// Replaces the value of a valid `Sec-WebSocket-Key` header in `bytes` with
/// `{{ws-key}}`; returns the bytes and the key found (the first one).
pub fn mask_key(bytes: &[u8]) -> (Vec<u8>, Option<String>) {
    let re = key_regex();
    let key = re
        .captures(bytes)
        .and_then(|c| c.get(2))
        .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned());
    if key.is_none() {
        return (bytes.to_vec(), None);
    }
    let masked = re
        .replace_all(bytes, |c: &regex::bytes::Captures<'_>| {
            let mut v = c[1].to_vec();
            v.extend_from_slice(WS_KEY.as_bytes());
            v.extend_from_slice(&c[3]);
            v
        })
        .into_owned();
    (masked, key)
}

/// What makes `head` (a request head, up to its blank line) other than a
/// WebSocket opening handshake (RFC 6455, section 4.1), key aside: a
/// method other than `GET`, no `Upgrade: websocket`, no `Connection`
/// naming `Upgrade`, a `Sec-WebSocket-Version` other than 13.
pub fn handshake_problem(head: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    if !lines.next().is_some_and(|l| l.starts_with("GET ")) {
        return Some("the handshake request is not a GET".into());
    }
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase()))
        .collect();
    let has =
        |name: &str, ok: &dyn Fn(&str) -> bool| headers.iter().any(|(n, v)| n == name && ok(v));
    if !has("upgrade", &|v| {
        v.split(',').any(|t| t.trim() == "websocket")
    }) {
        return Some("the handshake request has no `Upgrade: websocket`".into());
    }
    if !has("connection", &|v| {
        v.split(',').any(|t| t.trim() == "upgrade")
    }) {
        return Some("the handshake request has no `Connection: Upgrade`".into());
    }
    if !has("sec-websocket-version", &|v| v == "13") {
        return Some("the handshake request has no `Sec-WebSocket-Version: 13`".into());
    }
    None
}

/// `{{ws-accept}}` in `bytes` replaced by the `Sec-WebSocket-Accept` of
/// `key` (RFC 6455, section 4.2.2: base64 of the SHA-1 of the key and the
/// GUID).
pub fn fill_accept(bytes: &[u8], key: &str) -> Vec<u8> {
    replace(bytes, WS_ACCEPT.as_bytes(), accept_for(key).as_bytes())
}

/// The `Sec-WebSocket-Accept` answering `key`, computed here rather than
/// taken from the implementation under test.
pub fn accept_for(key: &str) -> String {
    use base64::Engine as _;
    const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    let mut h = sha1_smol::Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.digest().bytes())
}

/// Whether `bytes` hold `{{ws-accept}}`.
pub fn wants_accept(bytes: &[u8]) -> bool {
    bytes
        .windows(WS_ACCEPT.len())
        .any(|w| w == WS_ACCEPT.as_bytes())
}

fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn accept_is_rfc_6455s_example() {
        // RFC 6455, section 1.3.
        assert_eq!(
            accept_for("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[rstest]
    #[case::text("frame text \"hello\"", &[0x81, 5, b'h', b'e', b'l', b'l', b'o'])]
    #[case::empty_text("frame text \"\"", &[0x81, 0])]
    #[case::fragment("frame binary \"\\x01\\x02\" fin=0", &[0x02, 2, 1, 2])]
    #[case::joined("frame cont \"h\\xc3\" \"\\xa9\"", &[0x80, 3, b'h', 0xc3, 0xa9])]
    #[case::close("frame close 1000 \"bye\"", &[0x88, 5, 3, 0xe8, b'b', b'y', b'e'])]
    #[case::close_code("frame close 1000", &[0x88, 2, 3, 0xe8])]
    #[case::close_empty("frame close", &[0x88, 0])]
    #[case::close_one_byte("frame close \"\\x03\"", &[0x88, 1, 3])]
    #[case::reserved("frame 0x3 \"x\" rsv1 rsv3", &[0xd3, 1, b'x'])]
    #[case::long_len("frame text \"\" len=16", &[0x81, 126, 0, 0])]
    #[case::longer_len("frame text \"a\" len=64", &[0x81, 127, 0, 0, 0, 0, 0, 0, 0, 1, b'a'])]
    #[case::masked("frame text \"ab\" mask=01020304", &[0x81, 0x82, 1, 2, 3, 4, b'a' ^ 1, b'b' ^ 2])]
    #[case::quote("frame ping \"\\\"\"", &[0x89, 1, b'"'])]
    fn server_frames_encode(#[case] line: &str, #[case] bytes: &[u8]) {
        let f = parse(line, true).unwrap();
        assert_eq!(f.encode(), bytes);
        // Read back, the frame renders as it was written.
        let Decoded::Frame(back, n) = decode(bytes) else {
            panic!("{line} does not decode")
        };
        assert_eq!(n, bytes.len());
        assert_eq!(back, f);
        assert_eq!(
            parse(&back.render(true), true).unwrap(),
            f,
            "{}",
            back.render(true)
        );
    }

    #[test]
    fn lengths_choose_the_shortest_form() {
        let f = parse("frame ping \"{{x*126}}\"", true).unwrap();
        assert_eq!(&f.encode()[..4], &[0x89, 126, 0, 126]);
        let f = parse("frame binary \"{{\\0*65536}}\"", true).unwrap();
        assert_eq!(&f.encode()[..10], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(f.render(true), "frame binary \"{{\\0*65536}}\"");
    }

    #[test]
    fn client_frames_compare_without_their_key() {
        let want = parse("frame text \"hi\"", false).unwrap();
        let sent = [0x81, 0x82, 9, 8, 7, 6, b'h' ^ 9, b'i' ^ 8];
        let Decoded::Frame(got, 8) = decode(&sent) else {
            panic!()
        };
        assert_eq!(got.clone().without_key(), want);
        assert_eq!(want.render(false), "frame text \"hi\"");
        let Decoded::Frame(unmasked, _) = decode(&[0x81, 2, b'h', b'i']) else {
            panic!()
        };
        assert_ne!(unmasked, want);
        assert_eq!(unmasked.render(false), "frame text \"hi\" unmasked");
        assert_eq!(
            parse("frame close 1002 \"Invalid status code\"", false)
                .unwrap()
                .render(false),
            "frame close 1002 \"Invalid status code\""
        );
    }

    #[test]
    fn partial_frames_wait_for_more() {
        let bytes = parse("frame text \"hello\" mask=01020304", true)
            .unwrap()
            .encode();
        for n in 0..bytes.len() {
            assert_eq!(decode(&bytes[..n]), Decoded::Partial, "{n}");
        }
        assert_eq!(
            decode(&[0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0]),
            Decoded::TooLong(1 << 32)
        );
    }

    #[rstest]
    #[case::no_opcode("frame", "opcode first")]
    #[case::bad_opcode("frame texte \"x\"", "not an opcode")]
    #[case::big_opcode("frame 0x10", "not an opcode")]
    #[case::bad_flag("frame text \"x\" fin=2", "unknown frame flag")]
    #[case::bad_mask("frame text \"x\" mask=0102", "4 bytes")]
    #[case::open_quote("frame text \"x", "not closed")]
    #[case::bad_escape("frame text \"\\q\"", "unknown escape")]
    #[case::late_string("frame text rsv1 \"x\"", "before the flags")]
    fn bad_lines_say_why(#[case] line: &str, #[case] why: &str) {
        let e = parse(line, true).unwrap_err();
        assert!(e.contains(why), "{line}: {e}");
    }

    #[test]
    fn keys_are_masked_and_accepts_filled() {
        let head = b"GET / HTTP/1.1\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        let (masked, key) = mask_key(head);
        assert_eq!(key.as_deref(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
        assert_eq!(
            masked,
            b"GET / HTTP/1.1\r\nsec-websocket-key: {{ws-key}}\r\n\r\n".to_vec()
        );
        // Not 16 bytes: left as it is, for the diff to show.
        let short = b"GET / HTTP/1.1\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZR==\r\n";
        assert_eq!(mask_key(short), (short.to_vec(), None));
        let answer = b"Sec-WebSocket-Accept: {{ws-accept}}\r\n";
        assert!(wants_accept(answer));
        assert_eq!(
            fill_accept(answer, "dGhlIHNhbXBsZSBub25jZQ=="),
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n".to_vec()
        );
    }
}
