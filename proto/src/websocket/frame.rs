//! RFC 6455 frames: an incremental parser (bytes in, frame parts out) and
//! the encoder.
//!
//! The parser knows the frame syntax only (RFC 6455 section 5.2); what a
//! client accepts is [`super::receiver`]'s business. It yields a frame's
//! first two bytes as soon as they are in ([`FrameEvent::Head`]), because
//! undici checks them before it reads the extended length, then the length,
//! the payload in the pieces it arrives in, and the end of the frame. It
//! holds at most [`MAX_HELD`] bytes of its own whatever the input: payloads
//! are handed on, never buffered.
//!
//! The 64-bit length is read as undici 6.21.0 (Node 23.5.0) reads it:
//! `(upper << 8) + lower` on 32-bit halves, not `upper * 2^32 + lower`, after
//! refusing an upper half above `2^31 - 1`. So a length field of `2^32`
//! announces 256 bytes, as it does in Node.
//!
//! ```
//! use nodehttp_proto::websocket::frame::{encode, FrameEvent, FrameParser, OP_TEXT};
//! let bytes = encode(true, OP_TEXT, b"hi", None);
//! let mut p = FrameParser::new();
//! let mut input = &bytes[..];
//! assert!(matches!(p.next(&mut input), Ok(Some(FrameEvent::Head(h))) if h.opcode == OP_TEXT));
//! assert_eq!(p.next(&mut input), Ok(Some(FrameEvent::Length(2))));
//! let Ok(Some(FrameEvent::Payload(piece))) = p.next(&mut input) else { panic!() };
//! assert_eq!(piece.to_vec(), b"hi");
//! assert_eq!(p.next(&mut input), Ok(Some(FrameEvent::End)));
//! assert_eq!(p.next(&mut input), Ok(None));
//! ```

/// Opcode `0x0`: a continuation frame.
pub const OP_CONTINUATION: u8 = 0x0;
/// Opcode `0x1`: a text frame.
pub const OP_TEXT: u8 = 0x1;
/// Opcode `0x2`: a binary frame.
pub const OP_BINARY: u8 = 0x2;
/// Opcode `0x8`: a close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Opcode `0x9`: a ping.
pub const OP_PING: u8 = 0x9;
/// Opcode `0xA`: a pong.
pub const OP_PONG: u8 = 0xA;

/// The most bytes the parser holds between two calls: an 8-byte extended
/// length (the 2-byte head and the 4-byte mask key fit in the same room).
pub const MAX_HELD: usize = 8;

/// A frame's first two bytes, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    /// FIN: the last frame of its message.
    pub fin: bool,
    /// RSV1 (permessage-deflate's "compressed" bit).
    pub rsv1: bool,
    /// RSV2.
    pub rsv2: bool,
    /// RSV3.
    pub rsv3: bool,
    /// The opcode, `0x0..=0xF`.
    pub opcode: u8,
    /// MASK: a masking key follows the length.
    pub masked: bool,
    /// The 7-bit payload length: the length itself up to 125, 126 for a
    /// 16-bit length, 127 for a 64-bit one.
    pub len7: u8,
}

impl FrameHead {
    fn decode(b0: u8, b1: u8) -> FrameHead {
        FrameHead {
            fin: b0 & 0x80 != 0,
            rsv1: b0 & 0x40 != 0,
            rsv2: b0 & 0x20 != 0,
            rsv3: b0 & 0x10 != 0,
            opcode: b0 & 0x0F,
            masked: b1 & 0x80 != 0,
            len7: b1 & 0x7F,
        }
    }
}

/// One step of a frame, in wire order: `Head`, `Length`, zero or more
/// `Payload` pieces, `End`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameEvent<'a> {
    /// The first two bytes.
    Head(FrameHead),
    /// The payload length, once the extended length (if any) is in.
    Length(u64),
    /// The next piece of the payload.
    Payload(Piece<'a>),
    /// The frame is complete.
    End,
}

/// A piece of a payload: bytes of the input, and the masking key with its
/// phase when the frame is masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece<'a> {
    raw: &'a [u8],
    mask: Option<([u8; 4], u64)>,
}

impl Piece<'_> {
    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the piece is empty (it never is).
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Append the bytes, unmasked, to `out`.
    pub fn append_to(&self, out: &mut Vec<u8>) {
        match self.mask {
            None => out.extend_from_slice(self.raw),
            Some((k, offset)) => out.extend(
                self.raw
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ k[((offset + i as u64) & 3) as usize]),
            ),
        }
    }

    /// The bytes, unmasked.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.raw.len());
        self.append_to(&mut v);
        v
    }
}

/// A frame the parser cannot read on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The upper half of a 64-bit length is above `2^31 - 1`: undici's
    /// "Received payload length > 2^31 bytes.".
    LengthOverflow,
    /// The length undici computes, `(upper << 8) + lower` with a 32-bit
    /// shift, is negative (an upper half of `0x0080_0000` or more). Node
    /// 23.5.0 then throws a `TypeError` out of its parser (the process
    /// dies) or stalls; the reference fails the connection instead, with the
    /// message of [`FrameError::LengthOverflow`].
    NegativeLength,
}

impl FrameError {
    /// The message undici fails the connection with.
    pub fn message(self) -> &'static str {
        "Received payload length > 2^31 bytes."
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the first two bytes.
    Head,
    /// The head was yielded; the length comes next (from `len7` or from the
    /// extended length).
    Length { len7: u8, masked: bool },
    /// Waiting for the mask key (masked frames).
    Mask { len: u64 },
    /// Reading the payload; `left` bytes to go.
    Payload { left: u64 },
    /// The payload is complete; `End` comes next.
    End,
}

/// An incremental frame parser: feed it the input with [`FrameParser::next`]
/// until it answers `Ok(None)` (it needs more bytes), whatever the cuts.
#[derive(Debug, Clone)]
pub struct FrameParser {
    state: State,
    held: [u8; MAX_HELD],
    n_held: usize,
    /// The masking key of the current frame, if it is masked.
    mask: Option<[u8; 4]>,
    /// Payload bytes already handed out in this frame (the key's phase).
    offset: u64,
    failed: Option<FrameError>,
}

impl Default for FrameParser {
    fn default() -> Self {
        FrameParser::new()
    }
}

impl FrameParser {
    /// A parser at the start of a frame.
    pub fn new() -> FrameParser {
        FrameParser {
            state: State::Head,
            held: [0; MAX_HELD],
            n_held: 0,
            mask: None,
            offset: 0,
            failed: None,
        }
    }

    /// How many bytes the parser holds (at most [`MAX_HELD`]; payload bytes
    /// are never held).
    pub fn held(&self) -> usize {
        self.n_held
    }

    /// Whether the parser is between two frames (nothing of a next frame
    /// read yet).
    pub fn at_frame_start(&self) -> bool {
        self.state == State::Head && self.n_held == 0
    }

    /// Take `n` bytes, from what is held first, then from `input`; `None`
    /// (with what there was held) when there are fewer.
    fn take(&mut self, input: &mut &[u8], n: usize) -> Option<[u8; MAX_HELD]> {
        let want = n - self.n_held;
        if input.len() < want {
            self.held[self.n_held..self.n_held + input.len()].copy_from_slice(input);
            self.n_held += input.len();
            *input = &input[input.len()..];
            return None;
        }
        self.held[self.n_held..n].copy_from_slice(&input[..want]);
        *input = &input[want..];
        self.n_held = 0;
        Some(self.held)
    }

    /// The next step of the current frame, consuming from `input`;
    /// `Ok(None)` when `input` is used up before the next step. After an
    /// error every call answers the same error.
    pub fn next<'a>(&mut self, input: &mut &'a [u8]) -> Result<Option<FrameEvent<'a>>, FrameError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        loop {
            match self.state {
                State::Head => {
                    let Some(b) = self.take(input, 2) else {
                        return Ok(None);
                    };
                    let head = FrameHead::decode(b[0], b[1]);
                    self.state = State::Length {
                        len7: head.len7,
                        masked: head.masked,
                    };
                    return Ok(Some(FrameEvent::Head(head)));
                }
                State::Length { len7, masked } => {
                    let len = match len7 {
                        126 => {
                            let Some(b) = self.take(input, 2) else {
                                return Ok(None);
                            };
                            u64::from(u16::from_be_bytes([b[0], b[1]]))
                        }
                        127 => {
                            let Some(b) = self.take(input, 8) else {
                                return Ok(None);
                            };
                            let upper = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                            let lower = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                            match undici_length(upper, lower) {
                                Ok(n) => n,
                                Err(e) => {
                                    self.failed = Some(e);
                                    return Err(e);
                                }
                            }
                        }
                        n => u64::from(n),
                    };
                    self.state = if masked {
                        State::Mask { len }
                    } else {
                        State::Payload { left: len }
                    };
                    self.offset = 0;
                    self.mask = None;
                    return Ok(Some(FrameEvent::Length(len)));
                }
                State::Mask { len } => {
                    let Some(b) = self.take(input, 4) else {
                        return Ok(None);
                    };
                    self.mask = Some([b[0], b[1], b[2], b[3]]);
                    self.state = State::Payload { left: len };
                }
                State::Payload { left: 0 } => self.state = State::End,
                State::Payload { left } => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let n = usize::try_from(left).map_or(input.len(), |l| l.min(input.len()));
                    let (piece, rest) = input.split_at(n);
                    *input = rest;
                    self.state = State::Payload {
                        left: left - n as u64,
                    };
                    let piece = Piece {
                        raw: piece,
                        mask: self.mask.map(|k| (k, self.offset)),
                    };
                    self.offset += n as u64;
                    return Ok(Some(FrameEvent::Payload(piece)));
                }
                State::End => {
                    self.state = State::Head;
                    return Ok(Some(FrameEvent::End));
                }
            }
        }
    }
}

/// undici's 64-bit length: `upper > 2 ** 31 - 1` fails, then
/// `(upper << 8) + lower` with JavaScript's 32-bit `<<`.
fn undici_length(upper: u32, lower: u32) -> Result<u64, FrameError> {
    if upper > 0x7FFF_FFFF {
        return Err(FrameError::LengthOverflow);
    }
    let shifted = i64::from((upper << 8) as i32);
    u64::try_from(shifted + i64::from(lower)).map_err(|_| FrameError::NegativeLength)
}

/// Encode one frame with RSV bits clear: `mask` given for a client's frame
/// (payload masked with it), `None` for a server's.
///
/// Node equivalent: undici's `WebsocketFrameSend.createFrame(opcode)` for a
/// masked frame with `fin` set: the shortest length encoding, a 64-bit
/// length written as its low 48 bits.
pub fn encode(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(if fin { 0x80 } else { 0 } | (opcode & 0x0F));
    let m = if mask.is_some() { 0x80 } else { 0 };
    let n = payload.len();
    if n > 0xFFFF {
        out.push(m | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    } else if n > 125 {
        out.push(m | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(m | n as u8);
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i & 3]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// Every step of every frame in `bytes`, fed in pieces cut at `cuts`,
    /// payload pieces merged; the error, if any, last.
    fn parse_in_pieces(bytes: &[u8], cuts: &[usize]) -> (Vec<String>, Option<FrameError>) {
        let mut p = FrameParser::new();
        let mut out: Vec<String> = Vec::new();
        let mut start = 0;
        let mut ends: Vec<usize> = cuts.to_vec();
        ends.push(bytes.len());
        for end in ends {
            let mut input = &bytes[start..end];
            start = end;
            loop {
                match p.next(&mut input) {
                    Ok(None) => break,
                    Ok(Some(FrameEvent::Payload(piece))) => {
                        let piece = String::from_utf8_lossy(&piece.to_vec()).into_owned();
                        match out.last_mut() {
                            Some(last) if last.starts_with("payload ") => last.push_str(&piece),
                            _ => out.push(format!("payload {piece}")),
                        }
                    }
                    Ok(Some(e)) => out.push(format!("{e:?}")),
                    Err(e) => return (out, Some(e)),
                }
                assert!(p.held() <= MAX_HELD);
            }
            assert!(input.is_empty(), "input left over");
        }
        (out, None)
    }

    fn check_every_split(bytes: &[u8]) -> (Vec<String>, Option<FrameError>) {
        let whole = parse_in_pieces(bytes, &[]);
        for cut in 1..bytes.len() {
            assert_eq!(parse_in_pieces(bytes, &[cut]), whole, "cut at {cut}");
        }
        let every: Vec<usize> = (1..bytes.len()).collect();
        assert_eq!(parse_in_pieces(bytes, &every), whole, "byte by byte");
        whole
    }

    #[rstest]
    #[case::short_text(b"\x81\x02hi".to_vec(), 2)]
    #[case::empty(b"\x82\x00".to_vec(), 0)]
    #[case::len16(b"\x81\x7e\x00\x03abc".to_vec(), 3)]
    #[case::len16_not_minimal(b"\x81\x7e\x00\x00".to_vec(), 0)]
    #[case::len64(b"\x81\x7f\x00\x00\x00\x00\x00\x00\x00\x03abc".to_vec(), 3)]
    fn lengths(#[case] bytes: Vec<u8>, #[case] len: u64) {
        let (events, err) = check_every_split(&bytes);
        assert_eq!(err, None);
        assert_eq!(events[1], format!("Length({len})"));
        assert_eq!(events.last().map(String::as_str), Some("End"));
    }

    #[test]
    fn a_masked_frame_is_unmasked_whatever_the_cuts() {
        let bytes = encode(true, OP_TEXT, b"hello, world", Some([1, 2, 3, 4]));
        let (events, err) = check_every_split(&bytes);
        assert_eq!(err, None);
        assert_eq!(events[2], "payload hello, world");
    }

    #[test]
    fn the_head_comes_before_the_extended_length() {
        let mut p = FrameParser::new();
        let mut input = &b"\x89\x7f\x00"[..];
        let Ok(Some(FrameEvent::Head(h))) = p.next(&mut input) else {
            panic!("no head")
        };
        assert_eq!(
            (h.fin, h.opcode, h.len7, h.masked),
            (true, OP_PING, 127, false)
        );
        assert_eq!(p.next(&mut input), Ok(None));
        assert_eq!(p.held(), 1);
    }

    #[rstest]
    #[case::upper_half_too_big(0x8000_0000, 3, Err(FrameError::LengthOverflow))]
    #[case::upper_max(0x7FFF_FFFF, 0, Err(FrameError::NegativeLength))]
    #[case::two_to_the_32_is_256(1, 0, Ok(256))]
    #[case::upper_one_plus(1, 5, Ok(261))]
    #[case::largest_positive(0x007F_FFFF, 0xFFFF_FFFF, Ok(0x7FFF_FF00 + 0xFFFF_FFFF))]
    #[case::upper_0x800000_negative(0x0080_0000, 0, Err(FrameError::NegativeLength))]
    fn the_64_bit_length_as_undici_reads_it(
        #[case] upper: u32,
        #[case] lower: u32,
        #[case] expected: Result<u64, FrameError>,
    ) {
        assert_eq!(undici_length(upper, lower), expected);
        let mut bytes = vec![0x82, 0x7f];
        bytes.extend_from_slice(&upper.to_be_bytes());
        bytes.extend_from_slice(&lower.to_be_bytes());
        let (events, err) = check_every_split(&bytes);
        match expected {
            Ok(n) => assert_eq!(events.get(1), Some(&format!("Length({n})"))),
            Err(e) => {
                assert_eq!(err, Some(e));
                assert_eq!(events.len(), 1, "only the head before the error");
            }
        }
    }

    #[test]
    fn errors_stick() {
        let mut p = FrameParser::new();
        let bytes = b"\x82\x7f\xff\xff\xff\xff\x00\x00\x00\x00\x81\x00";
        let mut input = &bytes[..];
        assert!(matches!(p.next(&mut input), Ok(Some(FrameEvent::Head(_)))));
        assert_eq!(p.next(&mut input), Err(FrameError::LengthOverflow));
        let mut more = &b"\x81\x00"[..];
        assert_eq!(p.next(&mut more), Err(FrameError::LengthOverflow));
    }

    #[test]
    fn several_frames_in_one_input() {
        let mut bytes = encode(false, OP_TEXT, b"a", None);
        bytes.extend(encode(true, OP_PING, b"p", None));
        bytes.extend(encode(true, OP_CONTINUATION, &[b'b'; 300], None));
        let (events, err) = check_every_split(&bytes);
        assert_eq!(err, None);
        assert_eq!(events.iter().filter(|e| *e == "End").count(), 3);
        assert!(events.contains(&format!("payload {}", "b".repeat(300))));
    }

    #[rstest]
    #[case::empty(0, 2)]
    #[case::max7(125, 2)]
    #[case::min16(126, 4)]
    #[case::max16(65535, 4)]
    #[case::min64(65536, 10)]
    fn encode_uses_the_shortest_length(#[case] n: usize, #[case] head: usize) {
        let payload = vec![7u8; n];
        let plain = encode(true, OP_BINARY, &payload, None);
        assert_eq!(plain.len(), n + head);
        assert_eq!(plain[0], 0x82);
        let masked = encode(true, OP_BINARY, &payload, Some([9, 8, 7, 6]));
        assert_eq!(masked.len(), n + head + 4);
        assert_eq!(masked[1] & 0x80, 0x80);
        let mut p = FrameParser::new();
        let mut input = &masked[..];
        let mut got = Vec::new();
        while let Some(e) = p.next(&mut input).unwrap() {
            if let FrameEvent::Payload(piece) = e {
                piece.append_to(&mut got);
            }
        }
        assert_eq!(got, payload);
    }

    #[test]
    fn encode_matches_undici_bytes() {
        // A close frame with code 1000, mask 01 02 03 04, as undici writes it.
        assert_eq!(
            encode(true, OP_CLOSE, &[0x03, 0xe8], Some([1, 2, 3, 4])),
            vec![0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2]
        );
    }
}
