//! The connection core on hostile input: random request streams, cut at
//! random points, with time moving on. Whatever arrives, nothing panics,
//! everything the server writes parses as HTTP/1.1 responses, and after an
//! error the connection closes.

use std::time::{Duration, Instant, SystemTime};

use nodehttp::chunked::ChunkedDecoder;
use nodehttp::conn::{Closing, ConnConfig, Connection, Event};
use nodehttp::parse::{parse_response, BodyKind, ParseOptions, Status};

/// A deterministic xorshift generator: the same inputs on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Pieces that make plausible and implausible requests.
const PIECES: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\n",
    b"POST /p HTTP/1.1\r\n",
    b"GET /x HTTP/1.0\r\n",
    b"PUT /y?z HTTP/1.1\r\n",
    b"Host: a\r\n",
    b"Host: b\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 0\r\n",
    b"Content-Length: x\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip\r\n",
    b"Expect: 100-continue\r\n",
    b"Expect: other\r\n",
    b"Connection: close\r\n",
    b"Connection: keep-alive\r\n",
    b"X-A: 1\r\n",
    b" folded\r\n",
    b"\r\n",
    b"\n",
    b"hello",
    b"5\r\nhello\r\n",
    b"0\r\n\r\n",
    b"0\r\nT: v\r\n\r\n",
    b"zz\r\n",
    b"\x00\xff",
    b"GET",
    b" ",
    b"HTTP/1.1",
];

/// One to three messages, each well-formed or a soup of pieces.
fn random_stream(rng: &mut Rng) -> Vec<u8> {
    let mut s = Vec::new();
    for _ in 0..1 + rng.below(3) {
        match rng.below(4) {
            0 => s.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            1 => s.extend_from_slice(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"),
            2 => s.extend_from_slice(
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nT: v\r\n\r\n",
            ),
            _ => {
                for _ in 0..rng.below(24) {
                    if rng.below(10) == 0 {
                        s.push(rng.next() as u8);
                    } else {
                        s.extend_from_slice(PIECES[rng.below(PIECES.len())]);
                    }
                }
            }
        }
    }
    s
}

/// Plays `input` into a connection in random pieces, answering every
/// request at once; returns what the server wrote and whether a client
/// error happened.
fn play(rng: &mut Rng, input: &[u8]) -> (Vec<u8>, bool, Closing) {
    let cfg = ConnConfig {
        timeout: Duration::from_millis(50),
        ..ConnConfig::default()
    };
    let mut now = Instant::now();
    let mut c = Connection::new(cfg, now);
    let mut written = Vec::new();
    let mut errored = false;
    let mut rest = input;
    loop {
        while let Some(ev) = c.poll_event() {
            match ev {
                Event::Request { id, .. } => {
                    let body = if rng.below(2) == 0 {
                        Some(&b"ok"[..])
                    } else {
                        None
                    };
                    if rng.below(3) == 0 {
                        let _ = c.with_response(id, |r, out| {
                            r.write(b"part", SystemTime::UNIX_EPOCH, out)
                        });
                    }
                    let _ = c.end(id, body, SystemTime::UNIX_EPOCH);
                    while c.read_body(id).is_some() {}
                }
                Event::ClientError { error, .. } => {
                    errored = true;
                    c.default_client_error(&error);
                }
                Event::Timeout => c.destroy(),
                Event::Upgrade { .. } => c.destroy(),
                _ => {}
            }
        }
        let n = c.transmit().len();
        written.extend_from_slice(c.transmit());
        c.transmitted(n, now);
        if c.closing() != Closing::No || rest.is_empty() {
            break;
        }
        if c.wants_read() {
            let take = 1 + rng.below(rest.len());
            c.recv(&rest[..take], now);
            rest = &rest[take..];
        }
        now += Duration::from_millis(rng.below(30) as u64);
        c.handle_timeout(now);
        c.check_expired(now, Duration::from_millis(200), Duration::from_millis(400));
    }
    c.recv_eof(now);
    while let Some(ev) = c.poll_event() {
        if let Event::ClientError { error, .. } = ev {
            errored = true;
            c.default_client_error(&error);
        }
    }
    written.extend_from_slice(c.transmit());
    (written, errored, c.closing())
}

/// Parses `bytes` as a sequence of complete HTTP/1.1 responses to GETs.
fn parse_all(mut bytes: &[u8]) -> Result<usize, String> {
    let opts = ParseOptions::default();
    let mut count = 0;
    while !bytes.is_empty() {
        let head = match parse_response(bytes, "GET", &opts) {
            Ok(Status::Complete(h)) => h,
            Ok(Status::Partial) => {
                return Err(format!(
                    "a partial head: {:?}",
                    String::from_utf8_lossy(bytes)
                ))
            }
            Err(e) => return Err(format!("{e}: {:?}", String::from_utf8_lossy(bytes))),
        };
        bytes = &bytes[head.head_len..];
        match head.body {
            BodyKind::None => {}
            BodyKind::ContentLength(n) => {
                let n = n as usize;
                if bytes.len() < n {
                    return Err("a body shorter than its Content-Length".into());
                }
                bytes = &bytes[n..];
            }
            BodyKind::Chunked => {
                let mut d = ChunkedDecoder::new(opts);
                let mut body = Vec::new();
                let p = d.decode(bytes, &mut body).map_err(|e| e.to_string())?;
                if !p.done {
                    return Err("a chunked body without its last chunk".into());
                }
                bytes = &bytes[p.consumed..];
            }
            BodyKind::UntilEof => bytes = &[],
        }
        count += 1;
    }
    Ok(count)
}

#[test]
fn random_streams_never_panic_and_the_output_always_parses() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut errors = 0;
    for i in 0..20_000 {
        let input = random_stream(&mut rng);
        let (written, errored, closing) = play(&mut rng, &input);
        if let Err(e) = parse_all(&written) {
            panic!(
                "case {i}: {e}\ninput: {:?}",
                String::from_utf8_lossy(&input)
            );
        }
        if errored {
            errors += 1;
            assert_ne!(
                closing,
                Closing::No,
                "case {i}: still open after a client error"
            );
        }
    }
    // The generator reaches both sides.
    assert!(errors > 2000 && errors < 18_000, "{errors} errors");
}
