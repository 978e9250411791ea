//! The connection state machine with plain bytes: each case is one of the
//! behaviours recorded against Node 23.5.0 in `docs/websocket-notes.md`.

use super::*;
use crate::websocket::frame::{FrameEvent, FrameParser, OP_CONTINUATION, OP_PING};
use crate::websocket::handshake::accept_for;
use rstest::rstest;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const MASK: [u8; 4] = [1, 2, 3, 4];

/// A server frame (unmasked).
fn f(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    encode(fin, opcode, payload, None)
}

fn answer(extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{extra}\r\n",
        accept_for(KEY)
    )
    .into_bytes()
}

/// A client frame as text: `text "hi"`, `close 1000 "bye"`, `pong "x"`...
fn describe_frame(bytes: &[u8]) -> String {
    let mut p = FrameParser::new();
    let mut input = bytes;
    let mut opcode = 0;
    let mut masked = false;
    let mut payload = Vec::new();
    while let Some(e) = p.next(&mut input).expect("a client frame parses") {
        match e {
            FrameEvent::Head(h) => {
                assert!(h.fin && !h.rsv1 && !h.rsv2 && !h.rsv3);
                opcode = h.opcode;
                masked = h.masked;
            }
            FrameEvent::Payload(piece) => piece.append_to(&mut payload),
            _ => {}
        }
    }
    assert!(input.is_empty() && masked, "one masked frame");
    let name = match opcode {
        OP_TEXT => "text",
        OP_BINARY => "binary",
        OP_CLOSE => "close",
        OP_PING => "ping",
        OP_PONG => "pong",
        _ => "other",
    };
    if opcode == OP_CLOSE && payload.len() >= 2 {
        let code = u16::from_be_bytes([payload[0], payload[1]]);
        return format!("close {code} {:?}", String::from_utf8_lossy(&payload[2..]));
    }
    format!("{name} {:?}", String::from_utf8_lossy(&payload))
}

/// The connection and what it did, as lines.
struct H {
    c: WebSocketConn,
    /// Writes held back (not reported written yet).
    hold_writes: bool,
    held: Vec<WriteKind>,
}

impl H {
    fn new(protocols: &[&str]) -> H {
        let c = WebSocketConn::new(
            "ws://127.0.0.1:8000/path",
            protocols,
            KEY,
            Box::new(|| MASK),
        )
        .expect("valid arguments");
        let mut h = H {
            c,
            hold_writes: false,
            held: Vec::new(),
        };
        let first = h.take();
        assert_eq!(first.len(), 1);
        assert!(first[0].starts_with("> GET /path HTTP/1.1"));
        h
    }

    /// A connection through the handshake.
    fn open(extra: &str) -> H {
        let mut h = H::new(&[]);
        h.c.receive(&answer(extra));
        assert_eq!(h.take(), vec!["open"]);
        assert_eq!(h.c.ready_state(), ReadyState::Open);
        h
    }

    /// The outputs so far, written at once unless `hold_writes`.
    fn take(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(o) = self.c.poll_output() {
            out.push(match o {
                Output::Write { bytes, kind } => {
                    let line = if kind == WriteKind::Handshake {
                        format!("> {}", String::from_utf8_lossy(&bytes))
                    } else {
                        format!("> {}", describe_frame(&bytes))
                    };
                    if self.hold_writes {
                        self.held.push(kind);
                    } else {
                        self.c.written(kind);
                    }
                    line
                }
                Output::Destroy => "destroy".to_owned(),
                Output::Event(e) => describe_event(&e),
            });
        }
        out
    }

    fn recv(&mut self, bytes: &[u8]) -> Vec<String> {
        self.c.receive(bytes);
        self.take()
    }

    fn closed(&mut self) -> Vec<String> {
        self.c.socket_closed();
        self.take()
    }
}

fn describe_event(e: &Event) -> String {
    match e {
        Event::Open => "open".into(),
        Event::Message(m) => match &m.data {
            MessageData::Text(t) => format!("message text {t:?}"),
            MessageData::Blob(b) => format!("message blob {b:?}"),
            MessageData::ArrayBuffer(b) => format!("message arraybuffer {b:?}"),
        },
        Event::Error(e) => format!("error {:?} {:?}", e.message, e.ready_state),
        Event::Close(c) => format!("close {} {:?} {}", c.code, c.reason, c.was_clean),
    }
}

#[test]
fn open_then_messages_of_each_type() {
    let mut h = H::open("");
    assert_eq!(h.c.binary_type(), BinaryType::Blob);
    let mut b = f(true, OP_TEXT, "héllo".as_bytes());
    b.extend(f(true, OP_BINARY, &[0, 255]));
    b.extend(f(true, OP_TEXT, b"\xEF\xBB\xBFhi"));
    b.extend(f(true, OP_TEXT, b"\xEF\xBB\xBF\xEF\xBB\xBFhi"));
    assert_eq!(
        h.recv(&b),
        vec![
            "message text \"héllo\"",
            "message blob [0, 255]",
            "message text \"hi\"",
            "message text \"\\u{feff}hi\"",
        ]
    );
    h.c.set_binary_type(BinaryType::ArrayBuffer);
    assert_eq!(
        h.recv(&f(true, OP_BINARY, b"")),
        vec!["message arraybuffer []"]
    );
}

#[test]
fn message_origin_and_properties() {
    let mut h = H::new(&["p1", "p2"]);
    h.c.receive(&answer(
        "Sec-WebSocket-Protocol: p2\r\nSec-WebSocket-Extensions: permessage-deflate\r\n",
    ));
    h.take();
    assert_eq!(h.c.protocol(), "p2");
    assert_eq!(h.c.extensions(), "permessage-deflate");
    assert_eq!(h.c.url(), "ws://127.0.0.1:8000/path");
    h.c.receive(&f(true, OP_TEXT, b"x"));
    let Some(Output::Event(Event::Message(m))) = h.c.poll_output() else {
        panic!("a message")
    };
    assert_eq!(m.origin, "ws://127.0.0.1:8000");
}

#[test]
fn the_first_frames_may_come_with_the_head() {
    let mut h = H::new(&[]);
    let mut b = answer("");
    b.extend(f(true, OP_TEXT, b"hi"));
    assert_eq!(h.recv(&b), vec!["open", "message text \"hi\""]);
}

#[test]
fn ping_is_answered_with_its_payload_and_pong_ignored() {
    let mut h = H::open("");
    let mut b = f(true, OP_PING, &[b'a'; 125]);
    b.extend(f(true, OP_PONG, b"x"));
    b.extend(f(true, OP_TEXT, b"after"));
    assert_eq!(
        h.recv(&b),
        vec![
            format!("> pong {:?}", "a".repeat(125)),
            "message text \"after\"".to_owned()
        ]
    );
}

#[test]
fn server_close_is_answered_with_its_code_only() {
    let mut h = H::open("");
    let mut b = f(true, OP_CLOSE, b"\x03\xe8bye");
    b.extend(f(true, OP_TEXT, b"late"));
    b.extend(f(true, OP_PING, b"p"));
    assert_eq!(h.recv(&b), vec!["> close 1000 \"\""]);
    assert_eq!(h.c.ready_state(), ReadyState::Closing);
    // No timeout: the client waits for the server to close the socket.
    assert_eq!(h.recv(&f(true, OP_TEXT, b"more")), Vec::<String>::new());
    assert_eq!(h.closed(), vec!["close 1000 \"bye\" true"]);
    assert_eq!(h.c.ready_state(), ReadyState::Closed);
}

#[rstest]
#[case::empty(b"", "> close \"\"", "close 1005 \"\" true")]
#[case::bom_reason(
    b"\x0b\xb8\xef\xbb\xbfhi",
    "> close 3000 \"\"",
    "close 3000 \"hi\" true"
)]
fn server_close_bodies(#[case] body: &[u8], #[case] echo: &str, #[case] close: &str) {
    let mut h = H::open("");
    assert_eq!(h.recv(&f(true, OP_CLOSE, body)), vec![echo]);
    assert_eq!(h.closed(), vec![close]);
}

#[test]
fn the_echo_counts_as_sent_only_once_written() {
    let mut h = H::open("");
    h.hold_writes = true;
    assert_eq!(
        h.recv(&f(true, OP_CLOSE, b"\x03\xe8")),
        vec!["> close 1000 \"\""]
    );
    assert_eq!(h.closed(), vec!["close 1000 \"\" false"]);
}

#[rstest]
#[case::code_999(b"\x03\xe7", 1002, "Invalid status code")]
#[case::code_1005(b"\x03\xed", 1002, "Invalid status code")]
#[case::code_1015(b"\x03\xf7", 1002, "Invalid status code")]
#[case::code_5000(b"\x13\x88", 1002, "Invalid status code")]
#[case::bad_utf8(b"\x03\xe8\xff", 1007, "Invalid UTF-8")]
fn a_bad_close_frame_is_answered_then_fails(
    #[case] body: &[u8],
    #[case] code: u16,
    #[case] reason: &str,
) {
    let mut h = H::open("");
    assert_eq!(
        h.recv(&f(true, OP_CLOSE, body)),
        vec![
            format!("> close {code} {reason:?}"),
            "destroy".to_owned(),
            format!("error {reason:?} Closing"),
        ]
    );
    assert_eq!(h.closed(), vec!["close 1006 \"\" false"]);
}

#[rstest]
#[case::one_byte_close(f(true, OP_CLOSE, b"\x03"), "Received close frame with a 1-byte body.")]
#[case::opcode(f(true, 3, b"x"), "Invalid opcode received")]
#[case::masked(encode(true, OP_TEXT, b"x", Some(MASK)), "Frame cannot be masked")]
#[case::continuation(f(true, OP_CONTINUATION, b"x"), "Unexpected continuation frame")]
#[case::big_ping(f(true, OP_PING, &[0; 126]), "Control frame either too large or fragmented")]
fn frame_failures_stop_reading(#[case] bad: Vec<u8>, #[case] message: &str) {
    let mut h = H::open("");
    let mut b = f(true, OP_TEXT, b"before");
    b.extend(bad);
    b.extend(f(true, OP_TEXT, b"after"));
    assert_eq!(
        h.recv(&b),
        vec![
            "message text \"before\"".to_owned(),
            "destroy".to_owned(),
            format!("error {message:?} Open"),
        ]
    );
    assert_eq!(h.recv(&f(true, OP_TEXT, b"later")), Vec::<String>::new());
    assert_eq!(h.closed(), vec!["close 1006 \"\" false"]);
}

#[test]
fn invalid_utf8_fails_but_the_rest_of_the_read_is_dispatched() {
    let mut h = H::open("");
    let mut b = f(true, OP_TEXT, b"ok");
    b.extend(f(true, OP_TEXT, b"h\xff"));
    b.extend(f(true, OP_TEXT, b"after"));
    b.extend(f(true, OP_PING, b"p"));
    assert_eq!(
        h.recv(&b),
        vec![
            "message text \"ok\"",
            "destroy",
            "error \"Received invalid UTF-8 in text frame.\" Open",
            "message text \"after\"",
        ]
    );
    // The next read never comes: the socket is destroyed.
    assert_eq!(h.recv(&f(true, OP_TEXT, b"later")), Vec::<String>::new());
    assert_eq!(h.closed(), vec!["close 1006 \"\" false"]);
}

#[rstest]
#[case::split_utf8(&[b"h\xc3".as_slice(), b"\xa9!"], Some("h\u{e9}!"))]
#[case::invalid_across(&[b"h\xc3".as_slice(), b"("], None)]
#[case::surrogate(&[b"\xed\xa0".as_slice(), b"\x80"], None)]
fn utf8_is_checked_on_the_whole_message(#[case] parts: &[&[u8]], #[case] text: Option<&str>) {
    let mut h = H::open("");
    let mut b = f(false, OP_TEXT, parts[0]);
    b.extend(f(true, OP_PING, b"p"));
    b.extend(f(true, OP_CONTINUATION, parts[1]));
    let got = h.recv(&b);
    match text {
        Some(t) => assert_eq!(
            got,
            vec!["> pong \"p\"".to_owned(), format!("message text {t:?}")]
        ),
        None => assert_eq!(
            got,
            vec![
                "> pong \"p\"",
                "destroy",
                "error \"Received invalid UTF-8 in text frame.\" Open"
            ]
        ),
    }
}

#[test]
fn client_close_drops_messages_and_takes_the_server_code() {
    let mut h = H::open("");
    h.c.close(Some(3000), Some("bye")).unwrap();
    assert_eq!(h.take(), vec!["> close 3000 \"bye\""]);
    assert_eq!(h.c.ready_state(), ReadyState::Closing);
    // A second close() and send() do nothing.
    h.c.close(Some(1000), None).unwrap();
    h.c.send_text("x").unwrap();
    assert_eq!(h.c.buffered_amount(), 0);
    assert_eq!(h.take(), Vec::<String>::new());
    let mut b = f(true, OP_TEXT, b"while-closing");
    b.extend(f(true, OP_PING, b"p"));
    b.extend(f(true, OP_CLOSE, b"\x0b\xb9"));
    // Pings are still answered until a close frame arrives; no echo.
    assert_eq!(h.recv(&b), vec!["> pong \"p\""]);
    assert_eq!(h.closed(), vec!["close 3001 \"\" true"]);
}

#[rstest]
#[case::none(None, None, "> close \"\"")]
#[case::code(Some(1000), None, "> close 1000 \"\"")]
#[case::reason_without_code(None, Some("x"), "> close \"\"")]
#[case::both(Some(4999), Some("ré"), "> close 4999 \"ré\"")]
fn client_close_frames(
    #[case] code: Option<u16>,
    #[case] reason: Option<&str>,
    #[case] frame: &str,
) {
    let mut h = H::open("");
    h.c.close(code, reason).unwrap();
    assert_eq!(h.take(), vec![frame]);
    // The server closes without answering.
    assert_eq!(h.closed(), vec!["close 1006 \"\" false"]);
}

#[test]
fn client_close_answered_with_an_empty_close_is_1005() {
    let mut h = H::open("");
    h.c.close(None, None).unwrap();
    h.take();
    assert_eq!(h.recv(&f(true, OP_CLOSE, b"")), Vec::<String>::new());
    assert_eq!(h.closed(), vec!["close 1005 \"\" true"]);
}

#[rstest]
#[case::c1001(Some(1001), None::<String>, "InvalidAccessError", "invalid code")]
#[case::c999(Some(999), None, "InvalidAccessError", "invalid code")]
#[case::c2999(Some(2999), None, "InvalidAccessError", "invalid code")]
#[case::c5000(Some(5000), None, "InvalidAccessError", "invalid code")]
#[case::c0(Some(0), None, "InvalidAccessError", "invalid code")]
#[case::code_before_reason(Some(1004), Some("a".repeat(124)), "InvalidAccessError", "invalid code")]
#[case::long_reason(Some(1000), Some("a".repeat(124)), "SyntaxError", "Reason must be less than 123 bytes; received 124")]
#[case::long_utf8_reason(Some(1000), Some("é".repeat(63)), "SyntaxError", "Reason must be less than 123 bytes; received 126")]
#[case::long_reason_without_code(None, Some("a".repeat(124)), "SyntaxError", "Reason must be less than 123 bytes; received 124")]
fn close_throws(
    #[case] code: Option<u16>,
    #[case] reason: Option<String>,
    #[case] name: &str,
    #[case] message: &str,
) {
    let mut h = H::open("");
    let e = h.c.close(code, reason.as_deref()).unwrap_err();
    assert_eq!((e.name(), e.message()), (name, message));
    assert_eq!(h.c.ready_state(), ReadyState::Open);
    assert_eq!(h.take(), Vec::<String>::new());
    h.c.close(Some(1000), Some(&"a".repeat(123))).unwrap();
    assert_eq!(h.take().len(), 1);
}

#[test]
fn close_while_connecting_fails_twice_and_never_closes() {
    let mut h = H::new(&[]);
    h.c.close(Some(1000), Some("x")).unwrap();
    assert_eq!(
        h.take(),
        vec![
            "destroy",
            "error \"Connection was closed before it was established.\" Connecting",
        ]
    );
    assert_eq!(h.c.ready_state(), ReadyState::Closing);
    assert_eq!(h.recv(&answer("")), Vec::<String>::new());
    // The aborted fetch's network error, once the socket is gone (after
    // close() returned).
    assert_eq!(
        h.closed(),
        vec!["error \"Received network error or non-101 status code.\" Closing"]
    );
    assert_eq!(h.c.ready_state(), ReadyState::Closing);
    h.c.close(None, None).unwrap();
    assert_eq!(h.take(), Vec::<String>::new());
}

#[test]
fn close_after_a_failed_handshake_fails_once_more() {
    let mut h = H::new(&[]);
    assert_eq!(
        h.recv(b"HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
        vec![
            "destroy",
            "error \"Incorrect hash received in Sec-WebSocket-Accept header.\" Connecting"
        ]
    );
    assert_eq!(h.closed(), Vec::<String>::new());
    h.c.close(None, None).unwrap();
    assert_eq!(
        h.take(),
        vec!["error \"Connection was closed before it was established.\" Connecting"]
    );
    assert_eq!(h.c.ready_state(), ReadyState::Closing);
    h.c.close(None, None).unwrap();
    h.c.send_text("x").unwrap();
    assert_eq!(h.take(), Vec::<String>::new());
}

#[rstest]
#[case::non_101(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi".as_slice(), "Received network error or non-101 status code.")]
#[case::no_protocol(b"HTTP/1.1 404 Not Found\r\n\r\n".as_slice(), "Received network error or non-101 status code.")]
fn a_failed_handshake_has_no_close_event(#[case] bytes: &[u8], #[case] message: &str) {
    let mut h = H::new(&[]);
    assert_eq!(
        h.recv(bytes),
        vec![
            "destroy".to_owned(),
            format!("error {message:?} Connecting")
        ]
    );
    assert_eq!(h.closed(), Vec::<String>::new());
    assert_eq!(h.c.ready_state(), ReadyState::Connecting);
    let e = h.c.send_text("x").unwrap_err();
    assert_eq!(
        (e.name(), e.message()),
        ("InvalidStateError", "Sent before connected.")
    );
}

#[test]
fn the_socket_closing_before_the_answer_is_a_network_error() {
    let mut h = H::new(&[]);
    assert_eq!(h.recv(b"HTTP/1.1 101 Switching"), Vec::<String>::new());
    assert_eq!(
        h.closed(),
        vec!["error \"Received network error or non-101 status code.\" Connecting"]
    );
    let mut h = H::new(&[]);
    h.c.connect_failed();
    assert_eq!(
        h.take(),
        vec!["error \"Received network error or non-101 status code.\" Connecting"]
    );
}

#[test]
fn send_and_buffered_amount() {
    let mut h = H::new(&[]);
    let e = h.c.send_binary(b"x").unwrap_err();
    assert_eq!((e.name(), e.code()), ("InvalidStateError", 11));
    h.c.receive(&answer(""));
    h.take();
    h.hold_writes = true;
    h.c.send_text("héllo").unwrap();
    assert_eq!(h.c.buffered_amount(), 6);
    h.c.send_binary(&[1, 2]).unwrap();
    h.c.send_text(&"a".repeat(200)).unwrap();
    h.c.send_text("").unwrap();
    assert_eq!(h.c.buffered_amount(), 208);
    assert_eq!(
        h.take(),
        vec![
            "> text \"héllo\"".to_owned(),
            "> binary \"\\u{1}\\u{2}\"".to_owned(),
            format!("> text {:?}", "a".repeat(200)),
            "> text \"\"".to_owned(),
        ]
    );
    for kind in std::mem::take(&mut h.held) {
        h.c.written(kind);
    }
    assert_eq!(h.c.buffered_amount(), 0);
}

#[test]
fn a_reset_while_open_is_1006() {
    let mut h = H::open("");
    assert_eq!(h.recv(&f(true, OP_TEXT, b"x")), vec!["message text \"x\""]);
    assert_eq!(h.closed(), vec!["close 1006 \"\" false"]);
    assert_eq!(h.closed(), Vec::<String>::new());
}

/// "Hello" compressed (RFC 7692 section 7.2.3.1).
const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

#[test]
fn compressed_messages_with_permessage_deflate() {
    let mut h = H::open("Sec-WebSocket-Extensions: permessage-deflate\r\n");
    let mut b = f(true, OP_TEXT, &HELLO);
    b[0] |= 0x40;
    assert_eq!(h.recv(&b), vec!["message text \"Hello\""]);
}

#[test]
fn an_inflate_error_closes_with_1007_and_no_error_event() {
    let mut h = H::open("Sec-WebSocket-Extensions: permessage-deflate\r\n");
    let mut b = f(true, OP_TEXT, &[0xff, 0xff, 0xff, 0xff]);
    b[0] |= 0x40;
    b.extend(f(true, OP_TEXT, b"after"));
    assert_eq!(h.recv(&b), vec!["> close 1007 \"invalid block type\""]);
    assert_eq!(h.c.ready_state(), ReadyState::Closing);
    assert!(!h.c.destroyed());
    assert_eq!(h.closed(), vec!["close 1006 \"\" false"]);
}

#[rstest]
#[case::letters("abc", "Invalid server_max_window_bits")]
#[case::too_big(
    "16",
    "The value of \"options.windowBits\" is out of range. It must be >= 8 and <= 15. Received 16"
)]
fn a_bad_window_size_closes_at_the_first_compressed_message(
    #[case] bits: &str,
    #[case] reason: &str,
) {
    let mut h = H::open(&format!(
        "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits={bits}\r\n"
    ));
    assert_eq!(
        h.recv(&f(true, OP_TEXT, b"plain")),
        vec!["message text \"plain\""]
    );
    let mut b = f(true, OP_TEXT, &HELLO);
    b[0] |= 0x40;
    assert_eq!(h.recv(&b), vec![format!("> close 1007 {reason:?}")]);
}

/// A whole exchange gives the same outputs however the server's bytes are
/// cut (nothing in it fails).
#[test]
fn the_same_outputs_at_every_split() {
    let mut b = answer("Sec-WebSocket-Extensions: permessage-deflate\r\n");
    b.extend(f(false, OP_TEXT, b"h\xc3"));
    b.extend(f(true, OP_PING, b"p"));
    b.extend(f(true, OP_CONTINUATION, b"\xa9"));
    let mut z = f(true, OP_BINARY, &HELLO);
    z[0] |= 0x40;
    b.extend(z);
    b.extend(f(true, OP_CLOSE, b"\x0f\xa0done"));
    let run = |cuts: &[usize]| {
        let mut h = H::new(&[]);
        let mut out = Vec::new();
        let mut start = 0;
        for &end in cuts.iter().chain([b.len()].iter()) {
            out.extend(h.recv(&b[start..end]));
            assert!(h.c.held() <= b.len());
            start = end;
        }
        out.extend(h.closed());
        out
    };
    let whole = run(&[]);
    assert_eq!(
        whole,
        vec![
            "open",
            "> pong \"p\"",
            "message text \"hé\"",
            "message blob [72, 101, 108, 108, 111]",
            "> close 4000 \"\"",
            "close 4000 \"done\" true",
        ]
    );
    for cut in 1..b.len() {
        assert_eq!(run(&[cut]), whole, "cut at {cut}");
    }
    let every: Vec<usize> = (1..b.len()).collect();
    assert_eq!(run(&every), whole, "byte by byte");
}
