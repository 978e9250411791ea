//! What a client makes of the server's frames: undici's `ByteParser`.
//!
//! Bytes in (in any cuts), [`Incoming`] items out: whole messages (the
//! fragments of a message joined, control frames between them handled on
//! the way), pings, pongs, the close frame, and the failures. The checks
//! run in undici's order, each with undici's message, as soon as a frame's
//! first two bytes are in:
//!
//! 1. opcode not 0, 1, 2, 8, 9, 10: "Invalid opcode received"
//! 2. MASK set: "Frame cannot be masked"
//! 3. RSV1 set without permessage-deflate: "Expected RSV1 to be clear."
//! 4. RSV2 or RSV3 set: "RSV1, RSV2, RSV3 must be clear"
//! 5. FIN clear on a frame that is neither text, binary nor continuation:
//!    "Invalid frame type was fragmented."
//! 6. text or binary while a fragmented message is open: "Expected
//!    continuation frame"
//! 7. the previous frame began a fragmented message and this one does too:
//!    "Fragmented frame exceeded 125 bytes." (unreachable after 6, kept
//!    for the order)
//! 8. a control frame with a 7-bit length above 125: "Control frame either
//!    too large or fragmented"
//! 9. a continuation with no message open, unless the last data frame was
//!    compressed: "Unexpected continuation frame"
//!
//! then, once the extended length is in, a 64-bit length whose upper half
//! is above `2^31 - 1`: "Received payload length > 2^31 bytes."
//!
//! After a failure, or after a close frame (valid or not), nothing more is
//! read: undici's parser stops for good there.
//!
//! UTF-8 is not checked here: undici checks a text message when it
//! dispatches it, and only while the socket is open (see
//! [`super::conn`]).

use super::deflate::Inflater;
use super::frame::{
    FrameError, FrameEvent, FrameHead, FrameParser, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING,
    OP_PONG, OP_TEXT,
};
use super::handshake::Extensions;

/// What the receiver found, in wire order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A whole message: `opcode` is the type (`OP_TEXT` or `OP_BINARY`) of
    /// its first frame, `data` the payloads joined (inflated when
    /// compressed).
    Message {
        /// `OP_TEXT` or `OP_BINARY`.
        opcode: u8,
        /// The payload.
        data: Vec<u8>,
    },
    /// A ping with its payload.
    Ping(Vec<u8>),
    /// A pong with its payload.
    Pong(Vec<u8>),
    /// A valid close frame: its code (`None` for an empty body) and its
    /// reason (a leading BOM removed, twice over: undici strips one, its
    /// `TextDecoder` another).
    Close {
        /// The status code.
        code: Option<u16>,
        /// The reason.
        reason: String,
    },
    /// A close frame whose code is not valid (1002, "Invalid status code")
    /// or whose reason is not UTF-8 (1007, "Invalid UTF-8"): undici
    /// answers with a close frame of that code and reason, then fails the
    /// connection with the reason.
    BadClose {
        /// 1002 or 1007.
        code: u16,
        /// "Invalid status code" or "Invalid UTF-8".
        reason: &'static str,
    },
    /// A frame that fails the connection, with the message of the `error`
    /// event.
    Fail(&'static str),
    /// A compressed message that does not inflate: undici closes the
    /// connection with code 1007 and this message, without an `error`
    /// event.
    InflateError(String),
}

/// Whether `code` may be sent in a close frame (undici's
/// `isValidStatusCode`): 1000 to 1014 but 1004, 1005, 1006; 3000 to 4999.
pub fn is_valid_close_code(code: u16) -> bool {
    match code {
        1000..=1014 => !matches!(code, 1004..=1006),
        3000..=4999 => true,
        _ => false,
    }
}

/// The reason of a close frame, or of a text message, as undici decodes
/// it: `TextDecoder('utf-8', { fatal: true })`, which removes one leading
/// BOM.
pub fn decode_utf8(bytes: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(bytes).ok()?;
    Some(s.strip_prefix('\u{feff}').unwrap_or(s).to_owned())
}

/// Undici's `parseCloseBody` for a body of 0 or 2+ bytes.
fn parse_close_body(body: &[u8]) -> Incoming {
    let code = (body.len() >= 2).then(|| u16::from_be_bytes([body[0], body[1]]));
    if code.is_some_and(|c| !is_valid_close_code(c)) {
        return Incoming::BadClose {
            code: 1002,
            reason: "Invalid status code",
        };
    }
    let reason = body.get(2..).unwrap_or_default();
    let reason = reason.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(reason);
    match decode_utf8(reason) {
        Some(reason) => Incoming::Close { code, reason },
        None => Incoming::BadClose {
            code: 1007,
            reason: "Invalid UTF-8",
        },
    }
}

/// undici's `this.#info`: what the last frames set, some of it kept from
/// one frame to the next.
#[derive(Debug, Clone, Copy, Default)]
struct Info {
    opcode: u8,
    fin: bool,
    /// The last frame began a fragmented message.
    fragmented: bool,
    /// The type of the last text or binary frame.
    binary_type: u8,
    /// Whether the last text or binary frame had RSV1 set.
    compressed: bool,
}

/// The receiving side of one connection.
#[derive(Debug)]
pub struct Receiver {
    frames: FrameParser,
    info: Info,
    /// The message being assembled: its pieces joined.
    fragments: Vec<u8>,
    /// How many pieces it has (undici's `#fragments.length`; an empty
    /// piece counts).
    n_fragments: usize,
    /// The payload of the current frame, when it is read whole before use
    /// (control frames, compressed frames).
    body: Vec<u8>,
    deflate: Option<Inflater>,
    stopped: bool,
}

impl Receiver {
    /// A receiver; `extensions` are the negotiated ones (`Some` turns
    /// permessage-deflate on).
    pub fn new(extensions: Option<&Extensions>) -> Receiver {
        Receiver {
            frames: FrameParser::new(),
            info: Info::default(),
            fragments: Vec::new(),
            n_fragments: 0,
            body: Vec::new(),
            deflate: extensions.map(Inflater::new),
            stopped: false,
        }
    }

    /// Whether the receiver stopped (a failure or a close frame).
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Bytes held for messages and frames not complete yet (the frame
    /// parser's own are at most [`super::frame::MAX_HELD`]).
    pub fn held(&self) -> usize {
        self.fragments.len() + self.body.len() + self.frames.held()
    }

    fn stop(&mut self, out: &mut Vec<Incoming>, item: Incoming) {
        self.stopped = true;
        self.fragments = Vec::new();
        self.body = Vec::new();
        out.push(item);
    }

    /// The checks of a frame's first two bytes, in undici's order.
    fn check_head(&self, h: &FrameHead) -> Result<(), &'static str> {
        let op = h.opcode;
        let control = matches!(op, OP_CLOSE | OP_PING | OP_PONG);
        let data = matches!(op, OP_TEXT | OP_BINARY);
        let fragmented = !h.fin && op != OP_CONTINUATION;
        if !(control || data || op == OP_CONTINUATION) {
            return Err("Invalid opcode received");
        }
        if h.masked {
            return Err("Frame cannot be masked");
        }
        if h.rsv1 && self.deflate.is_none() {
            return Err("Expected RSV1 to be clear.");
        }
        if h.rsv2 || h.rsv3 {
            return Err("RSV1, RSV2, RSV3 must be clear");
        }
        if fragmented && !data {
            return Err("Invalid frame type was fragmented.");
        }
        if data && self.n_fragments > 0 {
            return Err("Expected continuation frame");
        }
        if self.info.fragmented && fragmented {
            return Err("Fragmented frame exceeded 125 bytes.");
        }
        if (h.len7 > 125 || fragmented) && control {
            return Err("Control frame either too large or fragmented");
        }
        if op == OP_CONTINUATION && self.n_fragments == 0 && !self.info.compressed {
            return Err("Unexpected continuation frame");
        }
        Ok(())
    }

    fn on_head(&mut self, h: FrameHead) {
        if matches!(h.opcode, OP_TEXT | OP_BINARY) {
            self.info.binary_type = h.opcode;
            self.info.compressed = h.rsv1;
        }
        self.info.opcode = h.opcode;
        self.info.fin = h.fin;
        self.info.fragmented = !h.fin && h.opcode != OP_CONTINUATION;
    }

    /// Whether the current frame's payload is read whole before use.
    fn buffers_body(&self) -> bool {
        matches!(self.info.opcode, OP_CLOSE | OP_PING | OP_PONG) || self.info.compressed
    }

    /// A frame is complete; `false` when the receiver stopped.
    fn on_end(&mut self, out: &mut Vec<Incoming>) -> bool {
        let body = std::mem::take(&mut self.body);
        match self.info.opcode {
            OP_CLOSE => {
                if body.len() == 1 {
                    self.stop(
                        out,
                        Incoming::Fail("Received close frame with a 1-byte body."),
                    );
                } else {
                    let item = parse_close_body(&body);
                    self.stop(out, item);
                }
                return false;
            }
            OP_PING => out.push(Incoming::Ping(body)),
            OP_PONG => out.push(Incoming::Pong(body)),
            _ if self.info.compressed => {
                let fin = self.info.fin;
                let inflater = self.deflate.as_mut().expect("RSV1 passed without deflate");
                match inflater.decompress(&body, fin) {
                    Err(e) => {
                        self.stop(out, Incoming::InflateError(e));
                        return false;
                    }
                    Ok(data) => {
                        self.fragments.extend_from_slice(&data);
                        self.n_fragments += 1;
                        if fin {
                            self.deliver(out);
                        }
                    }
                }
                // Keep the buffer's room for the next frame.
                self.body = body;
                self.body.clear();
            }
            _ => {
                self.n_fragments += 1;
                if self.info.fin {
                    self.deliver(out);
                }
            }
        }
        true
    }

    fn deliver(&mut self, out: &mut Vec<Incoming>) {
        out.push(Incoming::Message {
            opcode: self.info.binary_type,
            data: std::mem::take(&mut self.fragments),
        });
        self.n_fragments = 0;
    }

    /// Read `input`: what it completes is appended to `out`. Once the
    /// receiver stopped, input is ignored.
    pub fn receive(&mut self, mut input: &[u8], out: &mut Vec<Incoming>) {
        while !self.stopped {
            match self.frames.next(&mut input) {
                Ok(None) => return,
                Err(e @ (FrameError::LengthOverflow | FrameError::NegativeLength)) => {
                    self.stop(out, Incoming::Fail(e.message()));
                }
                Ok(Some(FrameEvent::Head(h))) => match self.check_head(&h) {
                    Ok(()) => self.on_head(h),
                    Err(m) => self.stop(out, Incoming::Fail(m)),
                },
                Ok(Some(FrameEvent::Length(_))) => {}
                Ok(Some(FrameEvent::Payload(piece))) => {
                    if self.buffers_body() {
                        piece.append_to(&mut self.body);
                    } else {
                        piece.append_to(&mut self.fragments);
                    }
                }
                Ok(Some(FrameEvent::End)) => {
                    if !self.on_end(out) {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::frame::encode;
    use rstest::rstest;

    fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = encode(true, b0 & 0x0F, payload, None);
        f[0] = b0;
        f
    }

    /// Receive `bytes` whole, cut at every offset in two, and byte by byte:
    /// the items must be the same; returns them.
    fn receive_every_split(bytes: &[u8], deflate: bool) -> Vec<Incoming> {
        let ext = Extensions::parse("permessage-deflate");
        let run = |cuts: &[usize]| {
            let mut r = Receiver::new(deflate.then_some(&ext));
            let mut out = Vec::new();
            let mut start = 0;
            for &end in cuts.iter().chain([bytes.len()].iter()) {
                r.receive(&bytes[start..end], &mut out);
                assert!(r.held() <= bytes.len().max(64) + 8);
                start = end;
            }
            out
        };
        let whole = run(&[]);
        for cut in 1..bytes.len() {
            assert_eq!(run(&[cut]), whole, "cut at {cut}");
        }
        let every: Vec<usize> = (1..bytes.len()).collect();
        assert_eq!(run(&every), whole, "byte by byte");
        whole
    }

    fn text(s: &str) -> Incoming {
        Incoming::Message {
            opcode: OP_TEXT,
            data: s.as_bytes().to_vec(),
        }
    }

    #[test]
    fn messages_and_control_frames() {
        let mut b = frame(0x81, "héllo".as_bytes());
        b.extend(frame(0x82, &[0, 255, 16]));
        b.extend(frame(0x81, b""));
        b.extend(frame(0x89, b"pp"));
        b.extend(frame(0x8A, b"x"));
        assert_eq!(
            receive_every_split(&b, false),
            vec![
                text("héllo"),
                Incoming::Message {
                    opcode: OP_BINARY,
                    data: vec![0, 255, 16]
                },
                text(""),
                Incoming::Ping(b"pp".to_vec()),
                Incoming::Pong(b"x".to_vec()),
            ]
        );
    }

    #[test]
    fn fragments_join_around_a_ping_and_split_utf8_is_kept() {
        let mut b = frame(0x01, &[0x68, 0xc3]);
        b.extend(frame(0x89, b"pp"));
        b.extend(frame(0x00, &[0xa9]));
        b.extend(frame(0x80, b"!"));
        assert_eq!(
            receive_every_split(&b, false),
            vec![Incoming::Ping(b"pp".to_vec()), text("hé!")]
        );
    }

    #[rstest]
    #[case::opcode3(frame(0x83, b"x"), "Invalid opcode received")]
    #[case::opcode7(frame(0x87, b"x"), "Invalid opcode received")]
    #[case::opcode11(frame(0x8B, b"x"), "Invalid opcode received")]
    #[case::opcode15(frame(0x8F, b"x"), "Invalid opcode received")]
    #[case::masked(encode(true, OP_TEXT, b"x", Some([1, 2, 3, 4])), "Frame cannot be masked")]
    #[case::masked_bad_opcode(encode(true, 3, b"x", Some([1, 2, 3, 4])), "Invalid opcode received")]
    #[case::rsv1(frame(0xC1, b"x"), "Expected RSV1 to be clear.")]
    #[case::rsv2(frame(0xA1, b"x"), "RSV1, RSV2, RSV3 must be clear")]
    #[case::rsv3(frame(0x91, b"x"), "RSV1, RSV2, RSV3 must be clear")]
    #[case::rsv1_and_2(frame(0xE1, b"x"), "Expected RSV1 to be clear.")]
    #[case::ping_fragmented(frame(0x09, b"x"), "Invalid frame type was fragmented.")]
    #[case::close_fragmented(frame(0x08, b""), "Invalid frame type was fragmented.")]
    #[case::ping_too_long(frame(0x89, &[0xaa; 126]), "Control frame either too large or fragmented")]
    #[case::continuation_alone(frame(0x80, b"x"), "Unexpected continuation frame")]
    #[case::continuation_alone_not_fin(frame(0x00, b"x"), "Unexpected continuation frame")]
    #[case::close_one_byte(frame(0x88, &[3]), "Received close frame with a 1-byte body.")]
    #[case::length_upper_half(b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x03abc".to_vec(), "Received payload length > 2^31 bytes.")]
    fn failures(#[case] bytes: Vec<u8>, #[case] message: &'static str) {
        let mut b = frame(0x81, b"before");
        b.extend(bytes);
        b.extend(frame(0x81, b"after"));
        assert_eq!(
            receive_every_split(&b, false),
            vec![text("before"), Incoming::Fail(message)]
        );
    }

    #[rstest]
    #[case::text(0x81)]
    #[case::binary(0x82)]
    #[case::binary_not_fin(0x02)]
    fn a_new_message_inside_a_fragmented_one(#[case] b0: u8) {
        for first in [b"a".as_slice(), b""] {
            let mut b = frame(0x01, first);
            b.extend(frame(b0, b"b"));
            assert_eq!(
                receive_every_split(&b, false),
                vec![Incoming::Fail("Expected continuation frame")]
            );
        }
    }

    #[rstest]
    #[case::empty(&[], Incoming::Close { code: None, reason: String::new() })]
    #[case::code(&[0x03, 0xe8], Incoming::Close { code: Some(1000), reason: String::new() })]
    #[case::reason(b"\x03\xe8bye", Incoming::Close { code: Some(1000), reason: "bye".into() })]
    #[case::bom(b"\x0b\xb8\xef\xbb\xbfhi", Incoming::Close { code: Some(3000), reason: "hi".into() })]
    #[case::two_boms(b"\x0b\xb8\xef\xbb\xbf\xef\xbb\xbfhi", Incoming::Close { code: Some(3000), reason: "hi".into() })]
    #[case::three_boms(b"\x0b\xb8\xef\xbb\xbf\xef\xbb\xbf\xef\xbb\xbfhi", Incoming::Close { code: Some(3000), reason: "\u{feff}hi".into() })]
    #[case::code_999(&[0x03, 0xe7], Incoming::BadClose { code: 1002, reason: "Invalid status code" })]
    #[case::code_1005(&[0x03, 0xed], Incoming::BadClose { code: 1002, reason: "Invalid status code" })]
    #[case::bad_utf8(b"\x03\xe8\xff", Incoming::BadClose { code: 1007, reason: "Invalid UTF-8" })]
    #[case::bad_code_before_utf8(b"\x00\x00\xff", Incoming::BadClose { code: 1002, reason: "Invalid status code" })]
    fn close_frames_stop_the_receiver(#[case] body: &[u8], #[case] item: Incoming) {
        let mut b = frame(0x88, body);
        b.extend(frame(0x81, b"late"));
        b.extend(frame(0x89, b"p"));
        assert_eq!(receive_every_split(&b, false), vec![item]);
    }

    #[rstest]
    #[case(999, false)]
    #[case(1000, true)]
    #[case(1003, true)]
    #[case(1004, false)]
    #[case(1005, false)]
    #[case(1006, false)]
    #[case(1007, true)]
    #[case(1014, true)]
    #[case(1015, false)]
    #[case(1016, false)]
    #[case(2999, false)]
    #[case(3000, true)]
    #[case(4999, true)]
    #[case(5000, false)]
    fn close_codes(#[case] code: u16, #[case] valid: bool) {
        assert_eq!(is_valid_close_code(code), valid);
    }

    #[test]
    fn the_64_bit_length_quirk_reads_256_bytes() {
        let mut b = b"\x82\x7f\x00\x00\x00\x01\x00\x00\x00\x00".to_vec();
        let payload: Vec<u8> = (0..=255u8).collect();
        b.extend(&payload);
        b.extend(frame(0x81, b"after"));
        assert_eq!(
            receive_every_split(&b, false),
            vec![
                Incoming::Message {
                    opcode: OP_BINARY,
                    data: payload
                },
                text("after")
            ]
        );
    }

    /// "Hello" compressed (RFC 7692 section 7.2.3.1).
    const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

    #[test]
    fn compressed_messages() {
        let mut b = frame(0xC1, &HELLO);
        b.extend(frame(0x81, b"plain"));
        // Fragmented: RSV1 on the first frame only, a ping between.
        let mut first = frame(0x41, &HELLO[..3]);
        first[0] = 0x41;
        b.extend(first);
        b.extend(frame(0x89, b"p"));
        b.extend(frame(0x80, &HELLO[3..]));
        assert_eq!(
            receive_every_split(&b, true),
            vec![
                text("Hello"),
                text("plain"),
                Incoming::Ping(b"p".to_vec()),
                text("Hello")
            ]
        );
    }

    #[test]
    fn a_continuation_after_a_compressed_message_is_a_new_one() {
        // undici's `#info.compressed` outlives the message: a lone
        // continuation frame then passes and is inflated as a message of
        // the last type.
        let mut b = frame(0xC2, &HELLO);
        b.extend(frame(0x80, &HELLO));
        let hello = || Incoming::Message {
            opcode: OP_BINARY,
            data: b"Hello".to_vec(),
        };
        // The second copy refers to nothing earlier: it inflates alone.
        assert_eq!(receive_every_split(&b, true), vec![hello(), hello()]);
    }

    #[test]
    fn rsv1_on_control_and_continuation_frames_passes_with_deflate() {
        let mut b = frame(0xC9, b"x");
        b.extend(frame(0xC0, b"x"));
        assert_eq!(
            receive_every_split(&b, true),
            vec![
                Incoming::Ping(b"x".to_vec()),
                Incoming::Fail("Unexpected continuation frame")
            ]
        );
    }

    #[test]
    fn an_inflate_error_stops_the_receiver() {
        let mut b = frame(0xC1, &[0xff, 0xff, 0xff, 0xff]);
        b.extend(frame(0x81, b"after"));
        assert_eq!(
            receive_every_split(&b, true),
            vec![Incoming::InflateError("invalid block type".into())]
        );
    }
}
