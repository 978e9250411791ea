//! Divergences from Node 23.5.0 found by the differential fuzzer
//! (fuzz/differential) that lie in the connection core, not the parser.
//! Each test states Node's behaviour, as its echo server showed it; they
//! are ignored until the connection core follows Node.

use std::time::{Instant, SystemTime};

use nodehttp::conn::{ConnConfig, Connection, Event};

/// Plays `input` in one piece, answering requests the way the echo servers
/// do once their bodies are read, and Node's default to client errors.
fn play(input: &[u8]) -> String {
    let now = Instant::now();
    let mut c = Connection::new(ConnConfig::default(), now);
    c.recv(input, now);
    while let Some(ev) = c.poll_event() {
        match ev {
            Event::Request { id, .. } => {
                let _ = c.end(id, Some(b"ok"), SystemTime::UNIX_EPOCH);
            }
            Event::ClientError { error } => c.default_client_error(&error),
            _ => {}
        }
    }
    String::from_utf8_lossy(c.transmit()).into_owned()
}

#[test]
fn nothing_is_answered_after_the_missing_host_400() {
    let out = play(b"GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(out.matches("HTTP/1.1 ").count(), 1, "{out}");
}

#[test]
#[ignore = "divergence: Node writes the automatic 417 (and 100 Continue) while parsing, before a parse error later in the same packet; the reference writes only the 400"]
fn the_automatic_417_goes_out_before_a_later_parse_error() {
    let out =
        play(b"GET /1 HTTP/1.1\r\nExpect: nope\r\nHost: example\r\n\r\nGET /HTTP/1.1\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 417 "), "{out}");
}

#[test]
#[ignore = "divergence: llhttp checks Transfer-Encoding after on_headers_complete, so Node dispatches the request (a missing-Host 400 goes out as a response) before the parse error; the reference refuses the head first"]
fn an_invalid_transfer_encoding_fails_after_the_head_is_dispatched() {
    let out = play(b"GET /1 HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
    assert!(
        out.contains("Date: "),
        "a response, not the bare client-error reply: {out}"
    );
}
