//! Unit tests of the sans-IO connection core: plain bytes and made-up
//! instants, no sockets, no runtime. Expected bytes and error positions are
//! those of a `node:http` server (Node 23.5.0); the cases that were checked
//! against a live Node say so.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use rstest::rstest;

use super::*;

// ---------------------------------------------------------------- helpers

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n";

/// The bytes of the `200 OK` a keep-alive `GET` gets when the handler ends
/// it with `body` and `sendDate` is off.
fn ok_response(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// `ms` milliseconds after a fixed origin: the made-up clock.
fn t(ms: u64) -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now) + Duration::from_millis(ms)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A connection accepted at `t(0)`.
fn conn(cfg: ConnConfig) -> Connection {
    Connection::new(cfg, t(0))
}

/// The events waiting, as short strings.
/// The events, summarised. Each request's handler counts as run, as the
/// driver reports once the handler's synchronous part is over.
fn events(c: &mut Connection) -> Vec<String> {
    let mut all: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    for e in &all {
        if matches!(e, Event::Request { .. }) {
            c.handler_ran();
        }
    }
    // As the driver: once the packet's listeners ran, its bodies are
    // visible (and what a destroy left owed is aborted).
    c.publish_bodies();
    all.extend(std::iter::from_fn(|| c.poll_event()));
    all.iter().map(summary).collect()
}

fn summary(e: &Event) -> String {
    match e {
        Event::Request { id, info, dispatch } => {
            format!("request {} {} {} {dispatch:?}", id.0, info.method, info.url)
        }
        Event::Upgrade {
            id,
            info,
            connect,
            head,
        } => format!(
            "upgrade {} {} {} connect={connect} head={:?}",
            id.0,
            info.method,
            info.url,
            String::from_utf8_lossy(head)
        ),
        Event::DropRequest { id, info } => format!("dropRequest {} {}", id.0, info.url),
        Event::ClientError { error } => format!(
            "clientError {} bytesParsed={:?}",
            error.code(),
            error.bytes_parsed()
        ),
        Event::Timeout => "timeout".to_owned(),
        Event::Aborted(id) => format!("aborted {}", id.0),
        Event::Finish(id) => format!("finish {}", id.0),
    }
}

/// The next event, which must be a `clientError`: its error.
fn client_error(c: &mut Connection) -> Error {
    match c.poll_event() {
        Some(Event::ClientError { error }) => error,
        other => panic!(
            "expected a clientError, got {:?}",
            other.map(|e| summary(&e))
        ),
    }
}

/// Everything queued for the socket, marked as sent at `now`.
fn take_out(c: &mut Connection, now: Instant) -> Vec<u8> {
    let out = c.transmit().to_vec();
    c.transmitted(out.len(), now);
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `bytes` as text with the value of every `Date` header replaced by
/// `{{date}}`, as the fixtures write it. Panics on a malformed date.
fn mask_date(bytes: &[u8]) -> String {
    let s = text(bytes);
    let mut rest = s.as_str();
    let mut masked = String::new();
    while let Some(at) = rest.find("Date: ") {
        let value_start = at + "Date: ".len();
        let end = rest[value_start..].find("\r\n").expect("Date line ends") + value_start;
        let value = &rest[value_start..end];
        assert!(
            value.len() == 29 && value.ends_with(" GMT"),
            "bad Date value {value:?}"
        );
        masked.push_str(&rest[..value_start]);
        masked.push_str("{{date}}");
        rest = &rest[end..];
    }
    masked.push_str(rest);
    masked
}

/// End the response `id` with `body` (`end()` without data when empty),
/// without a `Date` header.
fn answer(c: &mut Connection, id: ReqId, body: &[u8]) {
    c.response_mut(id)
        .expect("response exists")
        .set_send_date(false);
    let data = if body.is_empty() { None } else { Some(body) };
    let outcome = c
        .end(id, data, SystemTime::UNIX_EPOCH)
        .expect("response exists")
        .expect("end succeeds");
    assert_eq!(outcome.effect, crate::response::Effect::Queued);
}

/// Read everything buffered of a body.
fn read_all(c: &mut Connection, id: ReqId) -> Vec<u8> {
    let mut all = Vec::new();
    while let Some(chunk) = c.read_body(id) {
        all.extend_from_slice(&chunk);
    }
    all
}

/// A connection that got one `GET` (request 0) and answered it; the
/// response was sent at `t(10)`.
fn served_once(cfg: ConnConfig) -> Connection {
    let mut c = conn(cfg);
    c.recv(GET, t(0));
    assert_eq!(events(&mut c), ["request 0 GET / Request"]);
    answer(&mut c, ReqId(0), b"ok");
    assert_eq!(events(&mut c), ["finish 0"]);
    let out = text(&take_out(&mut c, t(10)));
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("\r\n\r\nok"));
    c
}

// ---------------------------------------------------------------- requests and responses

#[test]
fn get_is_answered_with_exact_bytes() {
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"GET /path?q=1 HTTP/1.1\r\nHost: example\r\nX-Foo: a\r\nx-foo: b\r\n\r\n",
        t(0),
    );
    let Some(Event::Request { id, info, dispatch }) = c.poll_event() else {
        panic!("expected a request");
    };
    assert_eq!(id, ReqId(0));
    assert_eq!(dispatch, Dispatch::Request);
    assert_eq!(info.method, "GET");
    assert_eq!(info.url, "/path?q=1");
    assert_eq!(info.version, (1, 1));
    assert_eq!(
        info.raw_headers.to_vec(),
        [
            ("Host".to_owned(), "example".to_owned()),
            ("X-Foo".to_owned(), "a".to_owned()),
            ("x-foo".to_owned(), "b".to_owned()),
        ]
    );
    assert_eq!(
        info.headers().get("x-foo").and_then(|v| v.as_single()),
        Some("a, b")
    );
    assert!(c.poll_event().is_none());
    assert_eq!(c.body_status(id), BodyStatus::Complete);
    assert!(
        c.transmit().is_empty(),
        "nothing before the handler answers"
    );

    c.response_mut(id).unwrap().set_send_date(false);
    let ((), ok) = c
        .with_response(id, |r, _| {
            r.set_header("Content-Type", "text/plain".into()).unwrap();
        })
        .unwrap();
    assert!(ok);
    c.end(id, Some(b"hello"), SystemTime::UNIX_EPOCH)
        .unwrap()
        .unwrap();
    assert_eq!(events(&mut c), ["finish 0"]);
    assert_eq!(
        text(&take_out(&mut c, t(1))),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 5\r\n\r\nhello"
    );
    assert!(c.response_finished(id));
    assert_eq!(c.closing(), Closing::No);
    assert!(c.wants_read());
    assert!(!c.should_shutdown());
}

#[test]
fn writes_then_end_are_chunked_exactly() {
    let mut c = conn(ConnConfig::default());
    c.recv(GET, t(0));
    assert_eq!(events(&mut c), ["request 0 GET / Request"]);
    let id = ReqId(0);
    c.response_mut(id).unwrap().set_send_date(false);
    for piece in [&b"a"[..], b"bb", b"0123456789abcdef"] {
        let (r, ok) = c
            .with_response(id, |r, out| r.write(piece, SystemTime::UNIX_EPOCH, out))
            .unwrap();
        assert_eq!(r.unwrap().effect, crate::response::Effect::Queued);
        assert!(ok);
    }
    assert!(events(&mut c).is_empty(), "no finish before end()");
    c.end(id, None, SystemTime::UNIX_EPOCH).unwrap().unwrap();
    assert_eq!(events(&mut c), ["finish 0"]);
    assert_eq!(
        text(&take_out(&mut c, t(1))),
        "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n2\r\nbb\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"
    );
}

#[test]
fn with_response_reports_high_water_mark() {
    let mut c = conn(ConnConfig {
        high_water_mark: 64,
        ..ConnConfig::default()
    });
    c.recv(GET, t(0));
    events(&mut c);
    let id = ReqId(0);
    c.response_mut(id).unwrap().set_send_date(false);
    // The head alone is 91 bytes: over 64, so the first write already says
    // "wait for drain".
    let (_, ok) = c
        .with_response(id, |r, out| r.write(b"x", SystemTime::UNIX_EPOCH, out))
        .unwrap();
    assert!(!ok);
    assert!(!c.is_drained());
    let queued = c.transmit().len();
    assert!(queued >= 64, "{queued}");
    c.transmitted(queued, t(1));
    assert!(c.is_drained());
    let (_, ok) = c
        .with_response(id, |r, out| r.write(b"y", SystemTime::UNIX_EPOCH, out))
        .unwrap();
    assert!(ok, "below highWaterMark again once sent");
}

#[test]
fn pipelined_requests_are_released_in_order_when_the_second_ends_first() {
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"GET /a HTTP/1.1\r\nHost: example\r\n\r\nHEAD /b HTTP/1.1\r\nHost: example\r\n\r\nGET /c HTTP/1.1\r\nHost: example\r\n\r\n",
        t(0),
    );
    assert_eq!(
        events(&mut c),
        [
            "request 0 GET /a Request",
            "request 1 HEAD /b Request",
            "request 2 GET /c Request"
        ]
    );
    // The last ends first, then the second: nothing may go out while the
    // first still holds the socket.
    answer(&mut c, ReqId(2), b"third");
    answer(&mut c, ReqId(1), b"");
    assert!(c.transmit().is_empty());
    assert!(
        events(&mut c).is_empty(),
        "no finish behind an open response"
    );
    assert!(!c.response_finished(ReqId(2)));
    assert!(!c.is_idle());

    answer(&mut c, ReqId(0), b"first");
    assert_eq!(events(&mut c), ["finish 0", "finish 1", "finish 2"]);
    assert_eq!(
        text(&take_out(&mut c, t(1))),
        format!(
            "{}HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n{}",
            ok_response("first"),
            ok_response("third")
        )
    );
    assert!(c.is_idle());
    assert_eq!(c.closing(), Closing::No);
}

#[test]
fn pipelined_response_bytes_written_before_its_turn_are_kept_back() {
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"GET /a HTTP/1.1\r\nHost: example\r\n\r\nGET /b HTTP/1.1\r\nHost: example\r\n\r\n",
        t(0),
    );
    events(&mut c);
    c.response_mut(ReqId(1)).unwrap().set_send_date(false);
    let (_, ok) = c
        .with_response(ReqId(1), |r, out| {
            r.write(b"bb", SystemTime::UNIX_EPOCH, out)
        })
        .unwrap();
    assert!(ok);
    assert!(c.transmit().is_empty());
    answer(&mut c, ReqId(0), b"a");
    assert_eq!(events(&mut c), ["finish 0"]);
    assert_eq!(
        text(&take_out(&mut c, t(1))),
        format!(
            "{}HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nbb\r\n",
            ok_response("a")
        )
    );
    c.end(ReqId(1), None, SystemTime::UNIX_EPOCH)
        .unwrap()
        .unwrap();
    assert_eq!(events(&mut c), ["finish 1"]);
    assert_eq!(text(&take_out(&mut c, t(2))), "0\r\n\r\n");
}

// ---------------------------------------------------------------- bodies

#[test]
fn content_length_body_is_delivered_as_it_arrives() {
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"POST /up HTTP/1.1\r\nHost: example\r\nContent-Length: 10\r\n\r\nabc",
        t(0),
    );
    assert_eq!(events(&mut c), ["request 0 POST /up Request"]);
    let id = ReqId(0);
    assert_eq!(c.consume_body(id), BodyStatus::Data);
    assert_eq!(c.read_body(id).as_deref(), Some(&b"abc"[..]));
    assert_eq!(c.read_body(id), None);
    assert_eq!(c.body_status(id), BodyStatus::Waiting);
    assert!(!c.body_complete(id));

    c.recv(b"defg", t(1));
    c.recv(b"hij", t(2));
    assert!(c.body_complete(id), "all 10 bytes arrived");
    assert_eq!(c.body_status(id), BodyStatus::Data, "but not all were read");
    assert_eq!(read_all(&mut c, id), b"defghij");
    assert_eq!(c.body_status(id), BodyStatus::Complete);
    assert!(c.raw_trailers(id).is_empty());
    assert!(events(&mut c).is_empty());

    // The bytes after the body are the next request.
    c.recv(b"GET /next HTTP/1.1\r\nHost: example\r\n\r\n", t(3));
    assert_eq!(events(&mut c), ["request 1 GET /next Request"]);
}

#[test]
fn content_length_body_and_next_request_in_one_chunk() {
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"POST /1 HTTP/1.1\r\nHost: example\r\nContent-Length: 2\r\n\r\nabGET /2 HTTP/1.1\r\nHost: example\r\n\r\n",
        t(0),
    );
    assert_eq!(
        events(&mut c),
        ["request 0 POST /1 Request", "request 1 GET /2 Request"]
    );
    assert_eq!(read_all(&mut c, ReqId(0)), b"ab");
    assert_eq!(c.body_status(ReqId(0)), BodyStatus::Complete);
    assert_eq!(c.body_status(ReqId(1)), BodyStatus::Complete);
    assert_eq!(c.read_body(ReqId(1)), None);
}

#[test]
fn chunked_body_with_trailers() {
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"POST / HTTP/1.1\r\nHost: example\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        t(0),
    );
    assert_eq!(events(&mut c), ["request 0 POST / Request"]);
    let id = ReqId(0);
    assert_eq!(read_all(&mut c, id), b"hello");
    assert_eq!(c.body_status(id), BodyStatus::Waiting);
    c.recv(b"6;name=value\r\n world\r\n0\r\nX-Trailer: yes\r\n", t(1));
    assert_eq!(read_all(&mut c, id), b" world");
    assert!(!c.body_complete(id), "the trailer section is not over");
    assert!(c.raw_trailers(id).is_empty());
    c.recv(b"x-other: 2\r\n\r\n", t(2));
    assert!(c.body_complete(id));
    assert_eq!(c.body_status(id), BodyStatus::Complete);
    assert_eq!(
        c.raw_trailers(id),
        [
            ("X-Trailer".to_owned(), "yes".to_owned()),
            ("x-other".to_owned(), "2".to_owned()),
        ]
    );
    assert!(!c.is_idle(), "the response is still owed");
}

#[test]
fn an_unread_body_is_dumped_when_the_response_finishes() {
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"POST / HTTP/1.1\r\nHost: example\r\nContent-Length: 6\r\n\r\nabc",
        t(0),
    );
    events(&mut c);
    let id = ReqId(0);
    answer(&mut c, id, b"early");
    assert_eq!(events(&mut c), ["finish 0"]);
    // Nobody read: what came is dropped, and what comes too.
    assert_eq!(c.read_body(id), None);
    c.recv(b"def", t(1));
    assert_eq!(c.body_status(id), BodyStatus::Gone);
    // The connection goes on with the next request.
    c.recv(GET, t(2));
    assert_eq!(events(&mut c), ["request 1 GET / Request"]);
}

#[test]
fn a_consumed_body_survives_the_response_finishing() {
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"POST / HTTP/1.1\r\nHost: example\r\nContent-Length: 6\r\n\r\nabc",
        t(0),
    );
    events(&mut c);
    let id = ReqId(0);
    assert_eq!(c.consume_body(id), BodyStatus::Data);
    answer(&mut c, id, b"early");
    assert_eq!(events(&mut c), ["finish 0"]);
    c.recv(b"def", t(1));
    assert_eq!(read_all(&mut c, id), b"abcdef");
    assert_eq!(c.body_status(id), BodyStatus::Complete);
}

#[test]
fn backpressure_follows_unread_body_bytes() {
    let mut c = conn(ConnConfig {
        high_water_mark: 16,
        ..ConnConfig::default()
    });
    c.recv(
        b"POST / HTTP/1.1\r\nHost: example\r\nContent-Length: 40\r\n\r\n0123456789",
        t(0),
    );
    events(&mut c);
    let id = ReqId(0);
    assert!(c.wants_read(), "10 unread bytes < 16");
    c.recv(b"abcdef", t(1));
    assert!(!c.wants_read(), "16 unread bytes: pause");
    assert_eq!(c.read_body(id).as_deref(), Some(&b"0123456789"[..]));
    assert!(c.wants_read(), "6 unread bytes: resume");
    c.recv(b"ghijklmnopqrst", t(2));
    assert!(!c.wants_read(), "20 unread bytes");
    assert_eq!(read_all(&mut c, id), b"abcdefghijklmnopqrst");
    assert!(c.wants_read());
    // A body that is complete no longer holds the socket back, unread or
    // not: the next request is read (as Node does, checked on 23.5.0 with
    // an unread 70000-byte body and its 64 KiB highWaterMark).
    c.recv(b"uvwxyzABCDGET /2 HTTP/1.1\r\nHost: x\r\n\r\n", t(3));
    assert!(c.body_complete(id));
    assert!(c.wants_read());
    assert_eq!(events(&mut c), ["request 1 GET /2 Request"]);
    assert_eq!(read_all(&mut c, id), b"uvwxyzABCD");
    assert_eq!(c.body_status(id), BodyStatus::Complete);
}

#[test]
fn backpressure_on_raw_bytes_after_an_upgrade() {
    let mut c = conn(ConnConfig {
        high_water_mark: 8,
        listeners: Listeners {
            upgrade: true,
            connect: false,
        },
        ..ConnConfig::default()
    });
    c.recv(
        b"GET / HTTP/1.1\r\nHost: example\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n",
        t(0),
    );
    events(&mut c);
    c.recv(b"1234", t(1));
    assert!(c.wants_read());
    c.recv(b"5678", t(2));
    assert!(!c.wants_read());
    assert_eq!(c.read_raw(), b"12345678");
    assert!(c.wants_read());
}

// ---------------------------------------------------------------- headersTimeout / requestTimeout

#[rstest]
#[case::at_the_limit(100, false)]
#[case::past_the_limit(101, true)]
fn headers_timeout_on_a_fresh_connection_without_a_byte(#[case] now: u64, #[case] fires: bool) {
    let mut c = conn(ConnConfig::default());
    assert!(!c.is_idle(), "a fresh connection counts as active");
    c.check_expired(t(now), ms(100), Duration::ZERO);
    if fires {
        let e = client_error(&mut c);
        assert_eq!(e.code(), "ERR_HTTP_REQUEST_TIMEOUT");
        assert_eq!(e.bytes_parsed(), None);
        assert_eq!(e.raw_packet(), None);
        c.default_client_error(&e);
        assert_eq!(
            text(c.transmit()),
            "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(c.closing(), Closing::Now);
        assert!(!c.wants_read());
        // Reported once only.
        c.check_expired(t(now + 1000), ms(100), Duration::ZERO);
        assert!(c.poll_event().is_none());
    } else {
        assert!(c.poll_event().is_none());
        assert_eq!(c.closing(), Closing::No);
    }
}

#[test]
fn headers_timeout_on_a_partial_head() {
    let mut c = conn(ConnConfig::default());
    c.recv(b"GET / HTTP/1.1\r\nHost: exa", t(0));
    c.check_expired(t(50), ms(100), ms(5000));
    assert!(c.poll_event().is_none());
    c.recv(b"mp", t(60));
    c.check_expired(t(100), ms(100), ms(5000));
    assert!(c.poll_event().is_none());
    c.check_expired(t(120), ms(100), ms(5000));
    let e = client_error(&mut c);
    assert_eq!(e.code(), "ERR_HTTP_REQUEST_TIMEOUT");
    // No request was emitted; the connection reads no more.
    assert!(c.poll_event().is_none());
    c.recv(b"le\r\n\r\n", t(130));
    assert!(c.poll_event().is_none());
}

#[test]
fn headers_timeout_is_measured_per_request_on_a_keep_alive_connection() {
    let mut c = served_once(ConnConfig::default());
    assert!(c.is_idle());
    // Idle time is not counted.
    c.check_expired(t(10_000), ms(100), ms(5000));
    assert!(c.poll_event().is_none());
    // Empty lines between requests do not start one.
    c.recv(b"\r\n", t(10_000));
    c.check_expired(t(20_000), ms(100), ms(5000));
    assert!(c.poll_event().is_none());
    // The deadline runs from the first byte of the next request.
    c.recv(b"GET /2 HTTP/1.1\r\n", t(20_300));
    assert!(!c.is_idle());
    c.check_expired(t(20_400), ms(100), ms(5000));
    assert!(c.poll_event().is_none());
    c.check_expired(t(20_401), ms(100), ms(5000));
    assert_eq!(client_error(&mut c).code(), "ERR_HTTP_REQUEST_TIMEOUT");
}

#[test]
fn headers_timeout_does_not_apply_once_the_head_is_complete() {
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"POST / HTTP/1.1\r\nHost: example\r\nContent-Length: 4\r\n\r\n",
        t(0),
    );
    assert_eq!(events(&mut c), ["request 0 POST / Request"]);
    // Only headersTimeout set: a slow body is not its business.
    c.check_expired(t(300), ms(100), Duration::ZERO);
    c.check_expired(t(1_000_000), ms(100), Duration::ZERO);
    assert!(c.poll_event().is_none());
    c.recv(b"body", t(1_000_001));
    assert_eq!(read_all(&mut c, ReqId(0)), b"body");
    assert_eq!(c.body_status(ReqId(0)), BodyStatus::Complete);
}

#[test]
fn request_timeout_on_an_incomplete_body() {
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"POST /upload HTTP/1.1\r\nHost: example\r\nContent-Length: 10\r\n\r\nabc",
        t(0),
    );
    assert_eq!(events(&mut c), ["request 0 POST /upload Request"]);
    c.check_expired(t(200), ms(100), ms(200));
    assert!(c.poll_event().is_none(), "not past 200 ms yet");
    c.recv(b"de", t(150));
    c.check_expired(t(201), ms(100), ms(200));
    let e = client_error(&mut c);
    assert_eq!(e.code(), "ERR_HTTP_REQUEST_TIMEOUT");
    c.default_client_error(&e);
    assert_eq!(
        text(c.transmit()),
        "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(c.closing(), Closing::Now);
    // The request will not complete.
    let id = ReqId(0);
    assert_eq!(read_all(&mut c, id), b"abcde");
    assert_eq!(c.body_status(id), BodyStatus::Aborted);
}

#[test]
fn request_timeout_after_the_response_head_went_out_closes_without_a_408() {
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"POST / HTTP/1.1\r\nHost: example\r\nContent-Length: 10\r\n\r\nabc",
        t(0),
    );
    events(&mut c);
    let id = ReqId(0);
    c.response_mut(id).unwrap().set_send_date(false);
    c.with_response(id, |r, out| r.flush_headers(SystemTime::UNIX_EPOCH, out))
        .unwrap()
        .0
        .unwrap();
    let head = take_out(&mut c, t(1));
    assert!(text(&head).starts_with("HTTP/1.1 200 OK\r\n"));
    c.check_expired(t(201), ms(100), ms(200));
    let e = client_error(&mut c);
    c.default_client_error(&e);
    assert!(
        c.transmit().is_empty(),
        "no 408 in the middle of a response"
    );
    assert_eq!(c.closing(), Closing::Now);
}

#[test]
fn request_timeout_ignores_a_slow_response() {
    let mut c = conn(ConnConfig::default());
    c.recv(GET, t(0));
    events(&mut c);
    c.check_expired(t(100_000), ms(100), ms(200));
    assert!(c.poll_event().is_none());
    answer(&mut c, ReqId(0), b"late");
    assert_eq!(events(&mut c), ["finish 0"]);
    assert_eq!(text(&take_out(&mut c, t(100_001))), ok_response("late"));
}

#[test]
fn headers_timeout_restarts_at_the_first_byte_of_a_fresh_connection() {
    // Checked on Node 23.5.0: headersTimeout 300, first byte 250 ms after
    // accept, head complete 200 ms later: 200 OK. Node's Parser sets
    // last_message_start_ at accept, then again in on_message_begin.
    let mut c = conn(ConnConfig::default());
    c.recv(b"GET / HTTP/1.1\r\n", t(250));
    c.check_expired(t(320), ms(300), Duration::ZERO);
    c.check_expired(t(450), ms(300), Duration::ZERO);
    assert!(c.poll_event().is_none(), "200 ms since the request started");
    c.recv(b"Host: example\r\n\r\n", t(450));
    assert_eq!(events(&mut c), ["request 0 GET / Request"]);
}

// ---------------------------------------------------------------- socket timeout

#[test]
fn socket_timeout_fires_and_activity_restarts_it() {
    let mut c = conn(ConnConfig {
        timeout: ms(1000),
        ..ConnConfig::default()
    });
    assert_eq!(c.poll_timeout(), Some(t(1000)), "armed from accept");
    c.recv(b"GET / HTTP/1.1\r\n", t(600));
    assert_eq!(c.poll_timeout(), Some(t(1600)));
    c.handle_timeout(t(1599));
    assert!(c.poll_event().is_none());
    c.handle_timeout(t(1600));
    assert_eq!(events(&mut c), ["timeout"]);
    // Fired once; not again without activity.
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(t(9000));
    assert!(c.poll_event().is_none());
    // Activity re-arms it: received bytes...
    c.recv(b"Host: example\r\n\r\n", t(10_000));
    assert_eq!(c.poll_timeout(), Some(t(11_000)));
    assert_eq!(events(&mut c), ["request 0 GET / Request"]);
    // ...and sent bytes (not an empty write).
    c.with_response(ReqId(0), |r, out| r.write_continue(out));
    c.transmitted(0, t(10_500));
    assert_eq!(c.poll_timeout(), Some(t(11_000)));
    take_out(&mut c, t(10_700));
    assert_eq!(c.poll_timeout(), Some(t(11_700)));
    // The connection stays usable: a timeout is only reported.
    assert_eq!(c.closing(), Closing::No);
}

#[test]
fn socket_timeout_can_be_changed_and_disabled() {
    let mut c = conn(ConnConfig::default());
    assert_eq!(c.poll_timeout(), None, "server.timeout 0: no timer");
    c.handle_timeout(t(1_000_000));
    assert!(c.poll_event().is_none());
    c.set_socket_timeout(ms(250), t(100));
    assert_eq!(c.poll_timeout(), Some(t(350)));
    c.set_socket_timeout(Duration::ZERO, t(200));
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn a_destroyed_connection_has_no_timer() {
    let mut c = conn(ConnConfig {
        timeout: ms(1000),
        ..ConnConfig::default()
    });
    c.destroy();
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(t(5000));
    assert!(c.poll_event().is_none());
}

// ---------------------------------------------------------------- keep-alive

#[test]
fn keep_alive_timer_after_the_last_response() {
    let mut c = served_once(ConnConfig::default());
    // keepAliveTimeout 5 s + HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER.
    assert_eq!(c.poll_timeout(), Some(t(10 + 6000)));
    c.handle_timeout(t(6009));
    assert!(c.poll_event().is_none());
    c.handle_timeout(t(6010));
    assert_eq!(events(&mut c), ["timeout"]);
}

#[rstest]
#[case::no_server_timeout(Duration::ZERO, None)]
#[case::server_timeout(ms(30_000), Some(3000 + 30_000))]
fn new_data_replaces_the_keep_alive_timer_with_server_timeout(
    #[case] timeout: Duration,
    #[case] deadline: Option<u64>,
) {
    let mut c = conn(ConnConfig {
        timeout,
        ..ConnConfig::default()
    });
    c.recv(GET, t(0));
    events(&mut c);
    answer(&mut c, ReqId(0), b"ok");
    events(&mut c);
    take_out(&mut c, t(10));
    assert_eq!(c.poll_timeout(), Some(t(6010)));
    // A partial head is enough (Node 23: onParserExecuteCommon).
    c.recv(b"G", t(3000));
    assert_eq!(c.poll_timeout(), deadline.map(t));
    c.handle_timeout(t(6010));
    assert!(c.poll_event().is_none());
    // The next response arms the keep-alive timer again.
    c.recv(b"ET /2 HTTP/1.1\r\nHost: example\r\n\r\n", t(7000));
    assert_eq!(events(&mut c), ["request 1 GET /2 Request"]);
    answer(&mut c, ReqId(1), b"ok");
    events(&mut c);
    take_out(&mut c, t(7001));
    assert_eq!(c.poll_timeout(), Some(t(13_001)));
}

#[test]
fn keep_alive_timeout_zero_arms_nothing() {
    let mut c = served_once(ConnConfig {
        keep_alive_timeout: Duration::ZERO,
        ..ConnConfig::default()
    });
    assert_eq!(c.poll_timeout(), None);
    c.handle_timeout(t(1_000_000));
    assert!(c.poll_event().is_none());
    assert_eq!(c.closing(), Closing::No);
}

#[test]
fn keep_alive_timeout_is_read_when_the_response_finishes() {
    let mut c = conn(ConnConfig::default());
    c.recv(GET, t(0));
    events(&mut c);
    c.config_mut().keep_alive_timeout = ms(100);
    answer(&mut c, ReqId(0), b"ok");
    events(&mut c);
    take_out(&mut c, t(10));
    assert_eq!(c.poll_timeout(), Some(t(10 + 1100)));
}

#[test]
fn no_keep_alive_timer_while_a_pipelined_response_is_pending() {
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"GET /a HTTP/1.1\r\nHost: example\r\n\r\nGET /b HTTP/1.1\r\nHost: example\r\n\r\n",
        t(0),
    );
    events(&mut c);
    answer(&mut c, ReqId(0), b"a");
    take_out(&mut c, t(10));
    assert_eq!(c.poll_timeout(), None);
    answer(&mut c, ReqId(1), b"b");
    take_out(&mut c, t(20));
    assert_eq!(c.poll_timeout(), Some(t(6020)));
}

#[test]
fn keep_alive_timer_waits_until_the_response_is_sent() {
    // Checked on Node 23.5.0: keepAliveTimeout 100, a 64 MiB response, the
    // client reads nothing for 3 s: no 'timeout' and no close; 'finish'
    // and then the keep-alive timeout come once the client has read it.
    let mut c = conn(ConnConfig::default());
    c.recv(GET, t(0));
    events(&mut c);
    answer(&mut c, ReqId(0), b"ok");
    assert_eq!(events(&mut c), ["finish 0"]);
    // The peer reads nothing: the bytes stay queued.
    c.handle_timeout(t(7000));
    assert_eq!(
        events(&mut c),
        Vec::<String>::new(),
        "no keep-alive timeout while the response is unsent"
    );
    take_out(&mut c, t(8000));
    assert_eq!(c.poll_timeout(), Some(t(14_000)));
}

// ---------------------------------------------------------------- parse errors

#[rstest]
#[case::invalid_method(&[&b"FOO / HTTP/1.1\r\nHost: example\r\n\r\n"[..]], "HPE_INVALID_METHOD", 1, &[])]
#[case::invalid_version(&[&b"GET / HTTP/9.9\r\nHost: example\r\n\r\n"[..]], "HPE_INVALID_VERSION", 14, &[])]
#[case::invalid_header_token(
    &[&b"GET / HTTP/1.1\r\nHost: example\r\nBad Header: x\r\n\r\n"[..]],
    "HPE_INVALID_HEADER_TOKEN",
    34,
    &[]
)]
#[case::error_in_the_second_chunk(
    &[&b"GET / HTTP/1.1\r\nHost: x\r\n"[..], b"Bad Header: y\r\n\r\n"],
    "HPE_INVALID_HEADER_TOKEN",
    3,
    &[]
)]
#[case::after_a_pipelined_request(
    &[&b"GET / HTTP/1.1\r\nHost: x\r\n\r\nFOO / HTTP/1.1\r\n\r\n"[..]],
    "HPE_INVALID_METHOD",
    28,
    &["request 0 GET / Request"]
)]
#[case::bad_chunk_size(
    &[&b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n"[..]],
    "HPE_INVALID_CHUNK_SIZE",
    64,
    &["request 0 POST / Request"]
)]
#[case::two_content_lengths(
    &[&b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"[..]],
    "HPE_UNEXPECTED_CONTENT_LENGTH",
    61,
    &[]
)]
fn parse_errors_give_node_codes_and_positions(
    #[case] chunks: &[&[u8]],
    #[case] code: &str,
    #[case] bytes_parsed: usize,
    #[case] before: &[&str],
) {
    // Positions checked on Node 23.5.0 ('clientError' err.bytesParsed and
    // err.rawPacket).
    let mut c = conn(ConnConfig::default());
    for (i, chunk) in chunks.iter().enumerate() {
        c.recv(chunk, t(i as u64));
    }
    let mut seen = Vec::new();
    let error = loop {
        match c.poll_event() {
            Some(Event::ClientError { error }) => break error,
            Some(e) => seen.push(summary(&e)),
            None => panic!("no clientError; events {seen:?}"),
        }
    };
    assert_eq!(seen, before);
    assert_eq!(error.code(), code);
    assert!(error.is_parse());
    assert_eq!(error.bytes_parsed(), Some(bytes_parsed));
    assert_eq!(error.raw_packet(), Some(*chunks.last().unwrap()));
    assert!(c.poll_event().is_none());
    // Parsing stopped: later bytes are ignored.
    c.recv(GET, t(100));
    assert!(c.poll_event().is_none());
    assert_eq!(c.closing(), Closing::No, "the application decides");
}

#[test]
fn a_parse_error_after_the_response_head_is_not_answered_400() {
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        t(0),
    );
    events(&mut c);
    c.with_response(ReqId(0), |r, out| {
        r.flush_headers(SystemTime::UNIX_EPOCH, out)
    })
    .unwrap()
    .0
    .unwrap();
    take_out(&mut c, t(1));
    c.recv(b"zz\r\n", t(2));
    let e = client_error(&mut c);
    assert_eq!(e.code(), "HPE_INVALID_CHUNK_SIZE");
    c.default_client_error(&e);
    assert!(c.transmit().is_empty());
    assert_eq!(c.closing(), Closing::Now);
    assert_eq!(c.body_status(ReqId(0)), BodyStatus::Aborted);
}

#[rstest]
#[case::bad_request(b"FOO / HTTP/1.1\r\n\r\n".to_vec(), "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")]
#[case::header_overflow(
    [&b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: "[..], &[b'a'; 20_000], b"\r\n\r\n"].concat(),
    "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n"
)]
#[case::bad_chunk(
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
    "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"
)]
fn default_client_error_answers_and_closes(#[case] input: Vec<u8>, #[case] reply: &str) {
    let mut c = conn(ConnConfig::default());
    c.recv(&input, t(0));
    let error = loop {
        match c.poll_event() {
            Some(Event::ClientError { error }) => break error,
            Some(_) => {}
            None => panic!("no clientError"),
        }
    };
    c.default_client_error(&error);
    assert_eq!(text(c.transmit()), reply);
    assert_eq!(c.closing(), Closing::Now);
    assert!(!c.wants_read());
    assert!(!c.is_writable());
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn client_error_response_by_code() {
    let timeout = Error::request_timeout();
    assert_eq!(
        client_error_response(&timeout),
        b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n"
    );
    let overflow = Error::parse(crate::error::Parse::HeaderOverflow, "Header overflow", 0);
    assert_eq!(
        client_error_response(&overflow),
        b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n"
    );
    let ext = Error::parse(
        crate::error::Parse::ChunkExtensionsOverflow,
        "Chunk extensions overflow",
        0,
    );
    assert_eq!(
        client_error_response(&ext),
        b"HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n\r\n"
    );
    let other = Error::parse(crate::error::Parse::InvalidUrl, "Invalid URL", 0);
    assert_eq!(
        client_error_response(&other),
        b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"
    );
}

#[rstest]
#[case::connection_close(&b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"[..])]
#[case::http_1_0(&b"GET / HTTP/1.0\r\n\r\n"[..])]
fn bytes_after_a_closing_request_are_refused(#[case] head: &[u8]) {
    let mut input = head.to_vec();
    input.extend_from_slice(b"\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
    let mut c = conn(ConnConfig::default());
    c.recv(&input, t(0));
    // The request is emitted, then the error for what follows it.
    assert_eq!(
        c.poll_event().map(|e| summary(&e)).as_deref(),
        Some("request 0 GET / Request")
    );
    c.handler_ran();
    let e = client_error(&mut c);
    assert_eq!(e.code(), "HPE_CLOSED_CONNECTION");
    assert_eq!(e.raw_packet(), Some(&input[..]));
    // The response closes the connection after it.
    answer(&mut c, ReqId(0), b"ok");
    assert_eq!(events(&mut c), ["finish 0"]);
    assert_eq!(c.closing(), Closing::AfterFlush);
    assert!(!c.should_shutdown(), "bytes still queued");
    let out = take_out(&mut c, t(1));
    assert!(
        text(&out).contains("Connection: close\r\n"),
        "{}",
        text(&out)
    );
    assert!(c.should_shutdown());
}

#[test]
fn empty_lines_after_a_closing_request_are_accepted() {
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n\r\n\r\n",
        t(0),
    );
    c.recv(b"\n\r\n", t(1));
    assert_eq!(events(&mut c), ["request 0 GET / Request"]);
    c.recv(b"G", t(2));
    let e = client_error(&mut c);
    assert_eq!(e.code(), "HPE_CLOSED_CONNECTION");
    assert_eq!(e.raw_packet(), Some(&b"G"[..]));
}

#[rstest]
#[case::connection_close(&b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"[..], 47)]
#[case::http_1_0(&b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.1\r\n"[..], 19)]
fn closed_connection_bytes_parsed_counts_the_offending_byte(
    #[case] input: &[u8],
    #[case] bytes_parsed: usize,
) {
    // Checked on Node 23.5.0: err.bytesParsed is 47 and 19.
    let mut c = conn(ConnConfig::default());
    c.recv(input, t(0));
    c.poll_event();
    let e = client_error(&mut c);
    assert_eq!(e.code(), "HPE_CLOSED_CONNECTION");
    assert_eq!(e.bytes_parsed(), Some(bytes_parsed));
}

// ---------------------------------------------------------------- automatic answers

#[test]
fn http_1_1_without_host_gets_400_and_no_request() {
    let mut c = conn(ConnConfig::default());
    c.recv(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", t(0));
    assert_eq!(events(&mut c), ["finish 0"]);
    assert_eq!(
        mask_date(&take_out(&mut c, t(1))),
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nDate: {{date}}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    );
    assert_eq!(c.closing(), Closing::AfterFlush);
    assert!(c.should_shutdown());
}

#[rstest]
#[case::http_1_0(b"GET / HTTP/1.0\r\nAccept: */*\r\n\r\n", true)]
#[case::not_required(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", false)]
fn host_is_not_required(#[case] input: &[u8], #[case] require: bool) {
    let mut c = conn(ConnConfig {
        require_host_header: require,
        ..ConnConfig::default()
    });
    c.recv(input, t(0));
    assert_eq!(events(&mut c), ["request 0 GET / Request"]);
    assert!(c.transmit().is_empty());
}

#[test]
fn max_requests_per_socket_on_sequential_requests() {
    let mut c = conn(ConnConfig {
        max_requests_per_socket: 2,
        ..ConnConfig::default()
    });
    c.recv(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n", t(0));
    assert_eq!(events(&mut c), ["request 0 GET /1 Request"]);
    answer(&mut c, ReqId(0), b"ok");
    assert_eq!(
        text(&take_out(&mut c, t(1))),
        "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5, max=2\r\nContent-Length: 2\r\n\r\nok"
    );
    c.recv(b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n", t(2));
    assert_eq!(events(&mut c), ["finish 0", "request 1 GET /2 Request"]);
    answer(&mut c, ReqId(1), b"ok");
    assert_eq!(
        text(&take_out(&mut c, t(3))),
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    );
    // "Connection: close", but the connection is not closed.
    assert_eq!(c.closing(), Closing::No);
    c.recv(b"GET /3 HTTP/1.1\r\nHost: x\r\n\r\n", t(4));
    assert_eq!(events(&mut c), ["finish 1", "dropRequest 2 /3", "finish 2"]);
    assert_eq!(
        mask_date(&take_out(&mut c, t(5))),
        "HTTP/1.1 503 Service Unavailable\r\nDate: {{date}}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    );
    assert_eq!(c.closing(), Closing::No);
}

#[test]
fn max_requests_per_socket_on_pipelined_requests() {
    let mut c = conn(ConnConfig {
        max_requests_per_socket: 1,
        ..ConnConfig::default()
    });
    c.recv(
        b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n",
        t(0),
    );
    assert_eq!(
        events(&mut c),
        [
            "request 0 GET /1 Request",
            "dropRequest 1 /2",
            "dropRequest 2 /3"
        ]
    );
    assert!(
        c.transmit().is_empty(),
        "the 503s wait for the first response"
    );
    answer(&mut c, ReqId(0), b"ok");
    assert_eq!(events(&mut c), ["finish 0", "finish 1", "finish 2"]);
    let unavailable = "HTTP/1.1 503 Service Unavailable\r\nDate: {{date}}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(
        mask_date(&take_out(&mut c, t(1))),
        format!(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok{unavailable}{unavailable}"
        )
    );
    assert_eq!(c.closing(), Closing::No);
}

#[rstest]
#[case::continue_(b"1.1", "100-continue", Dispatch::CheckContinue)]
#[case::continue_any_case(b"1.1", "100-Continue", Dispatch::CheckContinue)]
#[case::continue_among_others(b"1.1", "foo, 100-continue", Dispatch::CheckContinue)]
#[case::continue_glued(b"1.1", "x100-continue", Dispatch::CheckExpectation)]
#[case::other(b"1.1", "foo", Dispatch::CheckExpectation)]
#[case::continue_http_1_0(b"1.0", "100-continue", Dispatch::Request)]
#[case::other_http_1_0(b"1.0", "foo", Dispatch::Request)]
fn expect_selects_the_listener(
    #[case] version: &[u8],
    #[case] expect: &str,
    #[case] dispatch: Dispatch,
) {
    let input = [
        &b"GET / HTTP/"[..],
        version,
        b"\r\nHost: x\r\nExpect: ",
        expect.as_bytes(),
        b"\r\n\r\n",
    ]
    .concat();
    let mut c = conn(ConnConfig::default());
    c.recv(&input, t(0));
    assert_eq!(events(&mut c), [format!("request 0 GET / {dispatch:?}")]);
    assert_eq!(
        c.response(ReqId(0)).unwrap().context().expect_continue,
        dispatch == Dispatch::CheckContinue
    );
}

// ---------------------------------------------------------------- upgrade and CONNECT

#[test]
fn upgrade_with_a_listener_takes_the_connection() {
    let mut c = conn(ConnConfig {
        listeners: Listeners {
            upgrade: true,
            connect: false,
        },
        ..ConnConfig::default()
    });
    c.recv(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\nhello",
        t(0),
    );
    assert_eq!(
        events(&mut c),
        ["upgrade 0 GET /ws connect=false head=\"hello\""]
    );
    assert!(c.is_upgraded());
    assert!(!c.is_idle());
    // From now on the bytes are raw, even ones that look like HTTP.
    c.recv(b"FOO garbage\r\n\r\n", t(1));
    assert!(c.poll_event().is_none());
    assert_eq!(c.read_raw(), b"FOO garbage\r\n\r\n");
    assert!(c.write_raw(b"HTTP/1.1 101 Switching Protocols\r\n\r\n"));
    assert_eq!(
        text(&take_out(&mut c, t(2))),
        "HTTP/1.1 101 Switching Protocols\r\n\r\n"
    );
    // No headersTimeout on an upgraded connection.
    c.check_expired(t(1_000_000), ms(100), ms(200));
    assert!(c.poll_event().is_none());
    // EOF on the raw stream is reported, not answered.
    c.recv_eof(t(3));
    assert!(c.peer_closed());
    assert!(c.poll_event().is_none());
    assert_eq!(c.closing(), Closing::No);
}

#[test]
fn upgrade_head_holds_the_body_bytes_too() {
    // Node 23.5.0 skips the body of an upgrade request it hands over: the
    // head argument is everything after the request head.
    let mut c = conn(ConnConfig {
        listeners: Listeners {
            upgrade: true,
            connect: false,
        },
        ..ConnConfig::default()
    });
    c.recv(
        b"POST / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: foo\r\nContent-Length: 3\r\n\r\nabcGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
        t(0),
    );
    assert_eq!(
        events(&mut c),
        ["upgrade 0 POST / connect=false head=\"abcGET /2 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n\""]
    );
}

#[test]
fn upgrade_without_a_listener_is_an_ordinary_request() {
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: foo\r\n\r\n",
        t(0),
    );
    assert_eq!(events(&mut c), ["request 0 GET / Request"]);
    assert!(!c.is_upgraded());
    answer(&mut c, ReqId(0), b"ok");
    assert_eq!(events(&mut c), ["finish 0"]);
    assert_eq!(c.closing(), Closing::No);
    // The next chunk is parsed as the next request.
    c.recv(b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n", t(1));
    assert_eq!(events(&mut c), ["request 1 GET /2 Request"]);
}

#[test]
fn upgrade_without_a_listener_drops_the_rest_of_its_chunk() {
    // Checked on Node 23.5.0: llhttp stops (HPE_PAUSED_UPGRADE) after the
    // upgrade message, Node resumes the parser but drops the rest of that
    // buffer: only GET / is emitted. In a later chunk, /2 would be served.
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: foo\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
        t(0),
    );
    assert_eq!(events(&mut c), ["request 0 GET / Request"]);
}

#[test]
fn connect_with_a_listener_takes_the_connection() {
    let mut c = conn(ConnConfig {
        listeners: Listeners {
            upgrade: false,
            connect: true,
        },
        ..ConnConfig::default()
    });
    c.recv(
        b"CONNECT example:443 HTTP/1.1\r\nHost: example:443\r\n\r\n\x16\x03",
        t(0),
    );
    assert_eq!(
        events(&mut c),
        ["upgrade 0 CONNECT example:443 connect=true head=\"\\u{16}\\u{3}\""]
    );
    assert!(c.is_upgraded());
}

#[test]
fn connect_without_a_listener_closes() {
    let mut c = conn(ConnConfig {
        listeners: Listeners {
            upgrade: true,
            connect: false,
        },
        ..ConnConfig::default()
    });
    c.recv(
        b"CONNECT example:443 HTTP/1.1\r\nHost: example:443\r\n\r\nhello",
        t(0),
    );
    assert!(c.poll_event().is_none(), "no event, no response");
    assert!(c.transmit().is_empty());
    assert_eq!(c.closing(), Closing::Now);
    assert!(!c.wants_read());
}

// ---------------------------------------------------------------- end of input

#[test]
fn eof_in_the_middle_of_a_body_aborts_it() {
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
        t(0),
    );
    events(&mut c);
    c.recv_eof(t(1));
    let mut evs = Vec::new();
    let mut error = None;
    while let Some(e) = c.poll_event() {
        evs.push(summary(&e));
        if let Event::ClientError { error: e } = e {
            error = Some(e);
        }
    }
    evs.sort();
    assert_eq!(
        evs,
        [
            "aborted 0",
            "clientError HPE_INVALID_EOF_STATE bytesParsed=Some(0)"
        ]
    );
    let error = error.unwrap();
    assert_eq!(error.raw_packet(), None);
    assert_eq!(read_all(&mut c, ReqId(0)), b"abc");
    assert_eq!(c.body_status(ReqId(0)), BodyStatus::Aborted);
    assert!(c.peer_closed());
    assert!(!c.wants_read());
}

#[test]
fn eof_in_the_middle_of_a_body_reports_the_client_error_first() {
    // Checked on Node 23.5.0 with a 'clientError' listener that destroys
    // the socket: clientError HPE_INVALID_EOF_STATE, then aborted.
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
        t(0),
    );
    events(&mut c);
    c.recv_eof(t(1));
    let e = client_error(&mut c);
    c.default_client_error(&e);
    assert_eq!(events(&mut c), ["aborted 0"]);
}

#[test]
fn eof_in_the_middle_of_a_head() {
    let mut c = conn(ConnConfig::default());
    c.recv(b"GET / HTTP/1.1\r\nHo", t(0));
    c.recv_eof(t(1));
    let e = client_error(&mut c);
    assert_eq!(e.code(), "HPE_INVALID_EOF_STATE");
    assert_eq!(e.bytes_parsed(), Some(0));
    assert_eq!(e.raw_packet(), None);
    assert!(c.poll_event().is_none());
}

#[rstest]
#[case::fresh(&b""[..])]
#[case::empty_lines(&b"\r\n\r\n"[..])]
fn eof_between_requests_ends_the_connection(#[case] before: &[u8]) {
    let mut c = conn(ConnConfig::default());
    c.recv(before, t(0));
    c.recv_eof(t(1));
    assert!(c.poll_event().is_none());
    assert_eq!(c.closing(), Closing::AfterFlush);
    assert!(c.should_shutdown());
}

#[test]
fn eof_while_a_response_is_owed_ends_after_it() {
    let mut c = conn(ConnConfig::default());
    c.recv(GET, t(0));
    events(&mut c);
    c.recv_eof(t(1));
    assert!(c.poll_event().is_none());
    // socket.end(): the write side closes once what is queued is sent...
    assert_eq!(c.closing(), Closing::AfterFlush);
    assert!(!c.wants_read());
    // ...but the response is queued behind nothing and still goes out.
    answer(&mut c, ReqId(0), b"ok");
    assert_eq!(events(&mut c), ["finish 0"]);
    assert!(!c.should_shutdown());
    assert_eq!(text(&take_out(&mut c, t(2))), ok_response("ok"));
    assert!(c.should_shutdown());
}

#[test]
fn reset_aborts_every_unfinished_body() {
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
        t(0),
    );
    events(&mut c);
    c.recv_reset();
    assert_eq!(events(&mut c), ["aborted 0"]);
    assert_eq!(c.closing(), Closing::Now);
}

// ---------------------------------------------------------------- idleness

#[test]
fn is_idle_follows_node_connections_list() {
    let mut c = conn(ConnConfig::default());
    assert!(!c.is_idle(), "fresh: receiving its first request");
    c.recv(b"GET / HTTP/1.1\r\n", t(0));
    assert!(!c.is_idle(), "partial head");
    c.recv(b"Host: x\r\n\r\n", t(1));
    events(&mut c);
    assert!(!c.is_idle(), "waiting for its response");
    c.response_mut(ReqId(0)).unwrap().set_send_date(false);
    c.with_response(ReqId(0), |r, out| {
        r.write(b"x", SystemTime::UNIX_EPOCH, out)
    })
    .unwrap()
    .0
    .unwrap();
    assert!(!c.is_idle(), "response in progress");
    c.end(ReqId(0), None, SystemTime::UNIX_EPOCH)
        .unwrap()
        .unwrap();
    assert!(c.is_idle(), "answered");
    c.recv(b"\r\n", t(2));
    assert!(c.is_idle(), "empty lines start no request");
    c.recv(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na",
        t(3),
    );
    assert!(!c.is_idle(), "body in progress");
    events(&mut c);
    c.recv(b"bc", t(4));
    assert!(!c.is_idle(), "complete, response owed");
    answer(&mut c, ReqId(1), b"");
    assert!(c.is_idle());
}

// ---------------------------------------------------------------- any cut of the input

/// What a connection did with a byte stream, in a form that does not
/// depend on where the stream was cut: each request is answered with
/// `url:body-length` once its body is complete.
#[derive(Debug, Default, PartialEq)]
struct Transcript {
    requests: Vec<String>,
    bodies: Vec<String>,
    finishes: Vec<u64>,
    other: Vec<String>,
    out: String,
}

fn run_cut(chunks: &[&[u8]]) -> Transcript {
    let mut c = conn(ConnConfig::default());
    let mut tr = Transcript::default();
    let mut open: Vec<(ReqId, String, Vec<u8>)> = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        c.recv(chunk, t(i as u64));
        loop {
            let mut progress = false;
            while let Some(e) = c.poll_event() {
                progress = true;
                match e {
                    Event::Request { id, info, dispatch } => {
                        tr.requests
                            .push(format!("{} {} {:?}", info.method, info.url, dispatch));
                        if dispatch == Dispatch::CheckContinue {
                            // What Node does without a 'checkContinue'
                            // listener.
                            c.with_response(id, |r, out| r.write_continue(out));
                        }
                        open.push((id, info.url, Vec::new()));
                    }
                    Event::Finish(id) => tr.finishes.push(id.0),
                    // Where the error is depends on the cut; its code does not.
                    Event::ClientError { error } => tr.other.push(error.code().to_owned()),
                    other => tr.other.push(summary(&other)),
                }
            }
            let mut k = 0;
            while k < open.len() {
                let id = open[k].0;
                assert_ne!(c.consume_body(id), BodyStatus::Gone);
                let data = read_all(&mut c, id);
                open[k].2.extend_from_slice(&data);
                if c.body_status(id) == BodyStatus::Complete {
                    let (id, url, body) = open.remove(k);
                    tr.bodies.push(format!(
                        "{} {:?} {:?}",
                        id.0,
                        text(&body),
                        c.raw_trailers(id)
                    ));
                    answer(&mut c, id, format!("{url}:{}", body.len()).as_bytes());
                    progress = true;
                } else {
                    k += 1;
                }
            }
            if !progress {
                break;
            }
        }
    }
    tr.out = text(c.transmit());
    tr
}

const PIPELINED_GETS: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n";
const CHUNKED_POST: &[u8] = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n";
const LENGTH_POST: &[u8] = b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello worldGET /next HTTP/1.1\r\nHost: x\r\n\r\n";
const EXPECT_THEN_ERROR: &[u8] = b"PUT /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nokFOO / HTTP/1.1\r\n\r\n";

#[rstest]
#[case::pipelined_gets(
    PIPELINED_GETS,
    &["GET /a Request", "GET /b Request", "GET /c Request"],
    &["0 \"\" []", "1 \"\" []", "2 \"\" []"],
    &[],
    "",
    &["/a:0", "/b:0", "/c:0"]
)]
#[case::chunked_post_with_trailers(
    CHUNKED_POST,
    &["POST /up Request", "GET /after Request"],
    &[
        "0 \"hello world\" [(\"X-Trailer\", \"yes\"), (\"X-Other\", \"2\")]",
        "1 \"\" []"
    ],
    &[],
    "",
    &["/up:11", "/after:0"]
)]
#[case::content_length_post(
    LENGTH_POST,
    &["POST /form Request", "GET /next Request"],
    &["0 \"hello world\" []", "1 \"\" []"],
    &[],
    "",
    &["/form:11", "/next:0"]
)]
#[case::expect_then_error(
    EXPECT_THEN_ERROR,
    &["PUT /e CheckContinue"],
    &["0 \"ok\" []"],
    &["HPE_INVALID_METHOD"],
    "HTTP/1.1 100 Continue\r\n\r\n",
    &["/e:2"]
)]
fn any_cut_gives_the_same_events_and_bytes(
    #[case] stream: &[u8],
    #[case] requests: &[&str],
    #[case] bodies: &[&str],
    #[case] other: &[&str],
    #[case] first: &str,
    #[case] answers: &[&str],
) {
    let whole = run_cut(&[stream]);
    assert_eq!(whole.requests, requests);
    assert_eq!(whole.bodies, bodies);
    assert_eq!(whole.other, other);
    assert_eq!(
        whole.finishes,
        (0..answers.len() as u64).collect::<Vec<_>>()
    );
    let expected_out: String =
        first.to_owned() + &answers.iter().map(|a| ok_response(a)).collect::<String>();
    assert_eq!(whole.out, expected_out);

    for at in 0..=stream.len() {
        let (a, b) = stream.split_at(at);
        assert_eq!(run_cut(&[a, b]), whole, "cut at {at}");
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(run_cut(&bytes), whole, "byte by byte");
}

#[test]
fn a_finished_response_stays_readable_until_its_last_handle_goes() {
    let mut c = conn(ConnConfig::default());
    c.recv(GET, t(1));
    let _ = events(&mut c);
    let id = ReqId(0);
    c.end(id, Some(b"hi"), SystemTime::UNIX_EPOCH)
        .expect("a live response")
        .expect("a valid end");
    // A second handle (a cloned ServerResponse), then both dropped.
    c.retain_response(id);
    c.release_response(id);
    assert!(c.response(id).is_some_and(ResponseState::writable_ended));
    c.release_response(id);
    assert!(c.response(id).is_none());
}

// ---------------------------------------------------------------- tick points (driver mode)
//
// Inside one packet, Node's parser runs queued callbacks (ticks) after a
// span of body data and after a flush of header fields; the driver runs
// the listeners there. Checked against Node 23.5.0 by the differential
// fuzzer (fuzz/differential/regressions).

fn driver() -> Connection {
    conn(ConnConfig {
        defer_body_delivery: true,
        ..ConnConfig::default()
    })
}

/// Runs the packet as the driver does: events, then the bodies published,
/// then the packet goes on; the marker `|tick|` shows each pause.
fn play_ticks(c: &mut Connection, packet: &[u8]) -> Vec<String> {
    c.recv(packet, t(0));
    let mut log = events(c);
    while c.paused_at_tick() {
        log.push("|tick|".to_owned());
        c.continue_packet(t(0));
        log.extend(events(c));
    }
    log
}

#[test]
fn a_body_span_with_more_behind_it_is_a_tick_point() {
    let mut c = driver();
    let log = play_ticks(
        &mut c,
        b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(
        log,
        [
            "request 0 GET /1 Request",
            "request 1 POST /2 Request",
            "|tick|",
            "request 2 GET /3 Request"
        ]
    );
}

#[test]
fn a_message_ending_at_a_tick_point_completes_after_it() {
    let mut c = driver();
    c.recv(
        b"POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
        t(0),
    );
    events(&mut c);
    assert!(c.paused_at_tick());
    // The data is there ('data' ran); 'end' waits for on_message_complete.
    assert_eq!(c.read_body(ReqId(0)), Some(b"abc".to_vec()));
    assert!(!c.body_complete(ReqId(0)));
    assert!(
        !c.wants_read(),
        "a paused packet is finished before reading on"
    );
    assert!(c.continue_packet(t(0)));
    events(&mut c);
    assert!(c.body_complete(ReqId(0)));
    assert!(!c.paused_at_tick());
}

#[test]
fn the_last_span_of_a_packet_is_no_pause() {
    let mut c = driver();
    c.recv(
        b"POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
        t(0),
    );
    assert!(!c.paused_at_tick());
    assert!(!c.continue_packet(t(0)));
}

#[test]
fn after_trailers_every_head_on_the_connection_is_a_tick_point() {
    let mut c = driver();
    let log = play_ticks(
        &mut c,
        b"POST /1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nT: v\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    // The data span, the trailer flush, then a flush before each head.
    assert_eq!(
        log,
        [
            "request 0 POST /1 Request",
            "|tick|",
            "|tick|",
            "|tick|",
            "request 1 GET /2 Request",
            "|tick|",
            "request 2 GET /3 Request"
        ]
    );
}

#[test]
fn a_head_of_32_fields_is_a_tick_point_even_when_it_fails_later() {
    let mut head = String::from("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n");
    for i in 0..31 {
        head.push_str(&format!("X-{i}: v\r\n"));
    }
    let mut bad = head.clone();
    bad.push_str("X-Bad: a\x01b\r\n\r\n");
    head.push_str("\r\n");
    let mut c = driver();
    assert_eq!(
        play_ticks(&mut c, head.as_bytes()),
        [
            "request 0 GET /1 Request",
            "|tick|",
            "request 1 GET /2 Request"
        ]
    );
    // The 33rd field fails after the 32nd name was flushed: the tick comes
    // before the error.
    let mut c = driver();
    assert_eq!(
        play_ticks(&mut c, bad.as_bytes()),
        [
            "request 0 GET /1 Request",
            "|tick|",
            "clientError HPE_INVALID_HEADER_TOKEN bytesParsed=Some(331)"
        ]
    );
}

#[test]
fn a_packet_is_parsed_to_its_end_whatever_is_queued_to_send() {
    let mut c = driver();
    c.recv(GET, t(0));
    events(&mut c);
    let big = vec![b'x'; DEFAULT_HIGH_WATER_MARK + 1];
    let _ = c.end(ReqId(0), Some(&big), SystemTime::UNIX_EPOCH);
    assert!(!c.wants_read(), "highWaterMark bytes queued: no more reads");
    let mut c = driver();
    c.recv(GET, t(0));
    events(&mut c);
    let _ = c.end(ReqId(0), Some(&big), SystemTime::UNIX_EPOCH);
    // Bytes already received are parsed regardless (Node pauses the parser
    // only after `execute`).
    c.recv(&[GET, GET].concat(), t(0));
    assert_eq!(
        events(&mut c),
        [
            "finish 0",
            "request 1 GET / Request",
            "request 2 GET / Request"
        ]
    );
}

#[test]
fn an_upgrade_nobody_listens_to_drops_the_packet_after_its_body() {
    let mut c = driver();
    let log = play_ticks(
        &mut c,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: foo\r\nContent-Length: 1\r\n\r\nxGET /dropped HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(log, ["request 0 GET / Request", "|tick|"]);
    // The next packet is parsed.
    c.recv(b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n", t(0));
    assert_eq!(events(&mut c), ["request 1 GET /2 Request"]);
}

#[test]
fn a_bad_chunk_of_an_upgrade_nobody_listens_to_is_dropped_silently() {
    let mut c = driver();
    c.recv(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: foo\r\nTransfer-Encoding: chunked\r\n\r\nzz",
        t(0),
    );
    assert_eq!(events(&mut c), ["request 0 GET / Request"]);
    assert_eq!(c.closing(), Closing::No);
    assert!(c.wants_read());
    // The parser is stuck in its error: later bytes are dropped too.
    c.recv(b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n", t(0));
    assert_eq!(events(&mut c), Vec::<String>::new());
}

#[rstest]
#[case::empty_upgrade("Connection: upgrade\r\nUpgrade:")]
#[case::upgrade_then_tab("Connection: upgrade\t\r\nUpgrade: foo")]
fn not_an_upgrade_for_llhttp(#[case] lines: &str) {
    let mut c = driver();
    let packet =
        format!("GET /1 HTTP/1.1\r\nHost: a\r\n{lines}\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
    c.recv(packet.as_bytes(), t(0));
    assert_eq!(
        events(&mut c),
        ["request 0 GET /1 Request", "request 1 GET /2 Request"]
    );
}

#[test]
fn a_connect_nobody_listens_to_waits_for_the_listeners_of_its_packet() {
    let mut c = driver();
    c.recv(
        b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nCONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n",
        t(0),
    );
    let ev = c.poll_event().map(|e| summary(&e));
    assert_eq!(ev.as_deref(), Some("request 0 GET /1 Request"));
    // The listener answers at once: it goes out before the close.
    c.handler_ran();
    answer(&mut c, ReqId(0), b"ok");
    assert_eq!(c.closing(), Closing::No);
    c.publish_bodies();
    assert_eq!(c.closing(), Closing::Now);
    assert_eq!(text(c.transmit()), ok_response("ok"));
}

#[test]
fn the_next_response_gets_the_socket_a_tick_after_the_finish() {
    let mut c = driver();
    c.recv(&[GET, GET].concat(), t(0));
    let _ = std::iter::from_fn(|| c.poll_event()).count();
    answer(&mut c, ReqId(1), b"two");
    answer(&mut c, ReqId(0), b"one");
    // 'finish' of the first comes a tick later: the second waits for it.
    assert_eq!(text(c.transmit()), ok_response("one"));
    assert!(c.publish_bodies());
    assert_eq!(text(c.transmit()), ok_response("one") + &ok_response("two"));
    // Destroyed before that tick (a parse error later in the packet): the
    // second never goes out.
    let mut c = driver();
    c.recv(&[GET, GET].concat(), t(0));
    let _ = std::iter::from_fn(|| c.poll_event()).count();
    answer(&mut c, ReqId(1), b"two");
    answer(&mut c, ReqId(0), b"one");
    c.destroy();
    c.publish_bodies();
    assert_eq!(text(c.transmit()), ok_response("one"));
}

#[test]
fn a_response_let_go_before_its_finish_is_not_kept() {
    // Pipelined: the second ends while it waits for the socket, and its
    // handle is dropped then; once it finishes, nothing of it is kept (it
    // was, for every pipelined request: a leak).
    let mut c = driver();
    c.recv(&[GET, GET].concat(), t(0));
    let _ = std::iter::from_fn(|| c.poll_event()).count();
    answer(&mut c, ReqId(1), b"two");
    c.release_response(ReqId(1));
    answer(&mut c, ReqId(0), b"one");
    c.release_response(ReqId(0));
    while c.publish_bodies() {}
    assert_eq!(text(c.transmit()), ok_response("one") + &ok_response("two"));
    assert!(c.response(ReqId(0)).is_none());
    assert!(c.response(ReqId(1)).is_none(), "the second is still kept");
}

#[rstest]
#[case::whitespace_after_colon(b"GET / HTTP/1.1\r\nX:", b' ', b"a\r\nHost: h\r\n\r\n")]
#[case::line_ends_before_request(b"", b'\n', GET)]
#[case::between_requests(GET, b'\r', GET)]
fn bytes_node_skips_uncounted_are_not_held(
    #[case] start: &[u8],
    #[case] filler: u8,
    #[case] end: &[u8],
) {
    // A megabyte of what llhttp skips without counting it against
    // maxHeaderSize: Node takes the request, holding none of those bytes;
    // the reference must not hold them either.
    let bound = crate::parse::max_buffered_head(crate::parse::DEFAULT_MAX_HEADER_SIZE);
    let mut c = conn(ConnConfig::default());
    c.recv(start, t(0));
    for _ in 0..256 {
        c.recv(&[filler; 4096], t(1));
        assert!(c.input.len() <= bound, "{} bytes held", c.input.len());
    }
    c.recv(end, t(2));
    let got = events(&mut c);
    assert!(got.last().unwrap().starts_with("request"), "{got:?}");
    assert!(c.input.is_empty());
}

#[test]
fn an_error_after_dropped_whitespace_is_placed_in_its_own_packet() {
    // bytesParsed counts from the start of the packet that holds the bad
    // byte, as llhttp's offset into the buffer it was given: the spaces
    // dropped from earlier packets do not move it.
    let mut c = conn(ConnConfig::default());
    c.recv(b"GET / HTTP/1.1\r\nX:", t(0));
    c.recv(&[b' '; 1000], t(0));
    c.recv(b"ab\x01", t(0));
    let e = client_error(&mut c);
    assert_eq!(
        (e.code(), e.bytes_parsed()),
        ("HPE_INVALID_HEADER_TOKEN", Some(2))
    );
}

// ---------------------------------------------------------------- response queries

#[test]
fn a_queued_response_has_no_socket_and_counts_what_it_wrote() {
    let mut c = conn(ConnConfig::default());
    c.recv(
        b"GET /a HTTP/1.1\r\nHost: example\r\n\r\nGET /b HTTP/1.1\r\nHost: example\r\n\r\n",
        t(0),
    );
    events(&mut c);
    assert!(c.response_has_socket(ReqId(0)));
    assert!(!c.response_has_socket(ReqId(1)));
    c.response_mut(ReqId(1)).unwrap().set_send_date(false);
    c.end(ReqId(1), Some(b"b"), SystemTime::UNIX_EPOCH)
        .unwrap()
        .unwrap();
    // Its whole head and body wait for the socket.
    let queued = ok_response("b").len();
    assert_eq!(c.response_writable_length(ReqId(1)), queued);
    assert!(!c.response_flushed(ReqId(1)));
    answer(&mut c, ReqId(0), b"a");
    assert_eq!(events(&mut c), ["finish 0", "finish 1"]);
    take_out(&mut c, t(1));
    assert!(c.response_flushed(ReqId(1)));
    assert_eq!(c.response_writable_length(ReqId(1)), 0);
}

#[test]
fn corked_bytes_count_until_uncork_and_flush() {
    let mut c = conn(ConnConfig::default());
    c.recv(GET, t(0));
    events(&mut c);
    let id = ReqId(0);
    c.response_mut(id).unwrap().set_send_date(false);
    c.with_response(id, |r, out| {
        r.set_header("Content-Length", crate::encode::OutValue::Number(5.0))
            .unwrap();
        r.flush_headers(SystemTime::UNIX_EPOCH, out).unwrap();
    });
    take_out(&mut c, t(1));
    assert!(c.response_flushed(id));
    c.with_response(id, |r, out| {
        r.cork();
        r.write(b"abc", SystemTime::UNIX_EPOCH, out).unwrap();
        r.write(b"de", SystemTime::UNIX_EPOCH, out).unwrap();
    });
    assert_eq!(c.response_writable_length(id), 5);
    assert!(!c.response_flushed(id));
    c.with_response(id, |r, out| r.uncork(out));
    assert_eq!(c.response_writable_length(id), 0);
    assert!(!c.response_flushed(id), "not sent yet");
    assert_eq!(text(&take_out(&mut c, t(2))), "abcde");
    assert!(c.response_flushed(id));
}

#[test]
fn a_timeout_goes_to_the_response_listeners_first() {
    let mut c = conn(ConnConfig::default());
    c.recv(GET, t(0));
    events(&mut c);
    let id = ReqId(0);
    c.set_socket_timeout(ms(50), t(0));
    // No listener: the timeout is the server's alone.
    c.handle_timeout(t(50));
    assert_eq!(events(&mut c), ["timeout"]);
    assert!(!c.response_timeout());
    c.response_mut(id).unwrap().add_timeout_listener();
    c.set_socket_timeout(ms(50), t(100));
    c.handle_timeout(t(150));
    assert_eq!(events(&mut c), ["timeout"]);
    assert!(c.response_timeout());
    assert_eq!(c.response(id).unwrap().timeouts(), 1);
}
