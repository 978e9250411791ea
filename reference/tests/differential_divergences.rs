//! Divergences from Node 23.5.0 found by the differential fuzzer
//! (fuzz/differential) that lie in the connection core, not the parser.
//! Each test states Node's behaviour, as its echo server showed it, and is
//! kept as a regression test now that the connection core follows Node.

use std::time::{Instant, SystemTime};

use nodehttp::conn::{ConnConfig, Connection, Dispatch, Event};

/// Plays `input` in one piece, answering requests the way the echo servers
/// do once their bodies are read, with Node's default `checkContinue` and
/// `checkExpectation` listeners and Node's default to client errors, in
/// the order the events come (as the driver runs listeners).
fn play(input: &[u8]) -> String {
    let now = Instant::now();
    let mut c = Connection::new(ConnConfig::default(), now);
    c.recv(input, now);
    while let Some(ev) = c.poll_event() {
        match ev {
            Event::Request { id, dispatch, .. } => {
                let now = SystemTime::UNIX_EPOCH;
                match dispatch {
                    Dispatch::CheckExpectation => {
                        let _ = c.with_response(id, |r, _| r.write_head(417, None, None, now));
                        let _ = c.end(id, None, now);
                    }
                    Dispatch::CheckContinue => {
                        let _ = c.with_response(id, |r, out| r.write_continue(out));
                        let _ = c.end(id, Some(b"ok"), now);
                    }
                    Dispatch::Request => {
                        let _ = c.end(id, Some(b"ok"), now);
                    }
                }
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
fn the_automatic_417_goes_out_before_a_later_parse_error() {
    let out =
        play(b"GET /1 HTTP/1.1\r\nExpect: nope\r\nHost: example\r\n\r\nGET /HTTP/1.1\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 417 "), "{out}");
}

#[test]
fn an_invalid_transfer_encoding_fails_after_the_head_is_dispatched() {
    let out = play(b"GET /1 HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
    assert!(
        out.contains("Date: "),
        "a response, not the bare client-error reply: {out}"
    );
}
