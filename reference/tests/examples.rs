//! The examples as real processes: `examples/echo.rs` and
//! `examples/hello/` are started with `--port 0`, spoken to over raw TCP
//! on 127.0.0.1, and their answers compared byte for byte (the `Date`
//! value masked as `{{date}}`) with what a `node:http` server doing the
//! same calls sends. Every expected transcript below was recorded from a
//! Node server running the JavaScript quoted in each example's docs, and is
//! the same under Node 20.20.2 and Node 23.5.0 unless a case says otherwise.
//!
//! A transcript is the response bytes, then `<open>` if the connection
//! stays open (nothing comes within [`QUIET`]) or `<eof>` if the server
//! closes it.
//!
//! `cargo test` builds the examples before the tests. When only this test
//! is selected (`cargo test --test examples`) cargo does not: the test then
//! builds them itself if they are missing, but runs whatever binaries are
//! there otherwise (possibly older than the sources; plain `cargo test`
//! rebuilds them).
#![cfg(unix)]

use std::io::{BufRead as _, BufReader, ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use rstest::rstest;

/// How long a read waits for bytes the server must send.
const READ_TIMEOUT: Duration = Duration::from_millis(500);
/// How long the connection must stay silent to count as `<open>`.
const QUIET: Duration = Duration::from_millis(100);
/// How long a process may take to print `LISTENING` or to exit.
const PROCESS_TIMEOUT: Duration = Duration::from_millis(900);

// ---------------------------------------------------------------- processes

/// The path of an example binary, next to this test's binary
/// (`target/<profile>/deps/examples-*` → `target/<profile>/examples/`).
fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        BUILT.get_or_init(|| build_examples(profile_dir));
    }
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// `cargo build --examples` with this test's profile and target directory.
fn build_examples(profile_dir: &std::path::Path) {
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let target_dir = profile_dir.parent().expect("target/<profile>");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "-q",
            "-p",
            "nodehttp",
            "--examples",
            "--profile",
            profile,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo");
    assert!(status.success(), "cargo build --examples failed");
}

/// A running example, killed when dropped.
struct Running {
    child: Child,
    port: u16,
}

impl Running {
    /// Start `name` with `args` and wait for its `LISTENING <port>` line.
    fn start(name: &str, args: &[&str]) -> Running {
        let child = Command::new(example(name))
            .args(["--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn example");
        let mut running = Running { child, port: 0 };
        let stdout = running.child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(PROCESS_TIMEOUT)
            .unwrap_or_else(|_| panic!("{name}: no LISTENING line"));
        let port = line
            .strip_prefix("LISTENING ")
            .and_then(|p| p.strip_suffix('\n'))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{name}: unexpected first line {line:?}"));
        running.port = port;
        running
    }

    fn connect(&self) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Send `request` on a new connection and return the transcript of
    /// `responses` responses.
    fn exchange(&self, request: &[u8], responses: usize) -> String {
        let mut conn = self.connect();
        conn.send(request);
        let head = request.starts_with(b"HEAD ");
        let mut out = Vec::new();
        for _ in 0..responses {
            out.extend(conn.response(head));
        }
        let mut s = mask_date(&out);
        s.push_str(conn.end_state());
        s
    }

    /// Send `signal` (`TERM`, `INT`) with `kill` and wait for the exit.
    fn signal(mut self, signal: &str) -> ExitStatus {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
        wait_timeout(&mut self.child).expect("the example did not exit")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait at most [`PROCESS_TIMEOUT`] for `child` to exit.
fn wait_timeout(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------- the wire

/// A client connection that reads whole responses.
struct Conn {
    stream: TcpStream,
    /// Bytes received and not yet returned.
    buf: Vec<u8>,
}

impl Conn {
    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Read more bytes; false at EOF. A timeout fails the test.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => panic!(
                "no response within {READ_TIMEOUT:?}; so far: {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
            Err(e) => panic!("read: {e}"),
        }
    }

    /// Take the first `n` buffered bytes, reading until there are that many.
    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(
                self.fill(),
                "EOF in a response: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        }
        self.buf.drain(..n).collect()
    }

    /// One whole response, 1xx interim responses included, framed as a
    /// client would frame it (`head_request`: the request was `HEAD`).
    fn response(&mut self, head_request: bool) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let (len, status, framing) = loop {
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut res = httparse::Response::new(&mut headers);
                match res.parse(&self.buf).expect("a valid response head") {
                    httparse::Status::Complete(len) => {
                        let status = res.code.expect("status");
                        break (len, status, Framing::of(res.headers));
                    }
                    httparse::Status::Partial => {
                        assert!(
                            self.fill(),
                            "EOF in a head: {:?}",
                            String::from_utf8_lossy(&self.buf)
                        );
                    }
                }
            };
            out.extend(self.take(len));
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            if head_request || status == 204 || status == 304 {
                return out;
            }
            match framing {
                Framing::Length(n) => out.extend(self.take(n)),
                Framing::Chunked => {
                    let n = loop {
                        if let Some(n) = chunked_len(&self.buf) {
                            break n;
                        }
                        assert!(self.fill(), "EOF in a chunked body");
                    };
                    out.extend(self.take(n));
                }
                Framing::UntilEof => {
                    while self.fill() {}
                    out.append(&mut self.buf);
                }
            }
            return out;
        }
    }

    /// `<eof>` if the server closes the connection, `<open>` if it stays
    /// silent for [`QUIET`]; bytes beyond the responses fail the test.
    fn end_state(&mut self) -> &'static str {
        assert!(
            self.buf.is_empty(),
            "unexpected bytes: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        self.stream.set_read_timeout(Some(QUIET)).unwrap();
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte) {
            Ok(0) => "<eof>",
            Ok(_) => panic!("unexpected bytes after the responses"),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => "<open>",
            // A reset is a close too (the server may close with bytes unread).
            Err(e) if e.kind() == ErrorKind::ConnectionReset => "<eof>",
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// How a response body is delimited.
enum Framing {
    Length(usize),
    Chunked,
    UntilEof,
}

impl Framing {
    fn of(headers: &[httparse::Header<'_>]) -> Framing {
        let get = |name: &str| {
            headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        if get("transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().ends_with("chunked")) {
            Framing::Chunked
        } else if let Some(cl) = get("content-length") {
            Framing::Length(cl.trim().parse().expect("a numeric Content-Length"))
        } else {
            Framing::UntilEof
        }
    }
}

/// The length of the complete chunked body (trailers included) at the
/// start of `buf`, or `None` if it is not all there yet.
fn chunked_len(buf: &[u8]) -> Option<usize> {
    let line_end = |from: usize| {
        buf.get(from..)?
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|i| from + i)
    };
    let mut at = 0;
    loop {
        let end = line_end(at)?;
        let line = std::str::from_utf8(&buf[at..end]).expect("chunk size line");
        let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16)
            .expect("hex chunk size");
        at = end + 2;
        if size == 0 {
            // Trailer lines up to an empty one.
            loop {
                let end = line_end(at)?;
                let empty = end == at;
                at = end + 2;
                if empty {
                    return Some(at);
                }
            }
        }
        at += size + 2;
        if buf.len() < at {
            return None;
        }
    }
}

/// The response bytes as text, each `Date` value replaced by `{{date}}`
/// after checking it is an IMF-fixdate.
fn mask_date(bytes: &[u8]) -> String {
    let text = String::from_utf8(bytes.to_vec())
        .unwrap_or_else(|_| panic!("a response that is not UTF-8: {bytes:?}"));
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("\r\nDate: ") {
        let (before, after) = rest.split_at(i + "\r\nDate: ".len());
        let end = after.find("\r\n").expect("a Date line");
        let date = &after[..end];
        assert!(
            date.len() == 29 && date.ends_with(" GMT") && date.as_bytes()[3] == b',',
            "not an IMF-fixdate: {date:?}"
        );
        out.push_str(before);
        out.push_str("{{date}}");
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------- echo

/// The routes other than the JSON echo: `/status/<code>`, `/chunked`,
/// `/trailers` (over HTTP/1.1, and over HTTP/1.0 where the write throws
/// `ERR_HTTP_TRAILER_INVALID` unless the client sent `TE: chunked`),
/// `/big/<n>`.
#[rstest]
#[case::status_404(
    b"GET /status/404?x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
    concat!(
        "HTTP/1.1 404 Not Found\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 0\r\n",
        "\r\n",
        "<open>",
    )
)]
#[case::status_200(
    b"GET /status/200 HTTP/1.1\r\nHost: h\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 0\r\n",
        "\r\n",
        "<open>",
    )
)]
#[case::status_999(
    b"GET /status/999 HTTP/1.1\r\nHost: h\r\n\r\n",
    concat!(
        "HTTP/1.1 999 unknown\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 0\r\n",
        "\r\n",
        "<open>",
    )
)]
#[case::status_0404(
    b"GET /status/0404 HTTP/1.1\r\nHost: h\r\n\r\n",
    concat!(
        "HTTP/1.1 404 Not Found\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 0\r\n",
        "\r\n",
        "<open>",
    )
)]
#[case::status_10(
    b"GET /status/404 HTTP/1.0\r\n\r\n",
    concat!(
        "HTTP/1.1 404 Not Found\r\n",
        "Date: {{date}}\r\n",
        "Connection: close\r\n",
        "\r\n",
        "<eof>",
    )
)]
#[case::chunked(
    b"GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: text/plain\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Transfer-Encoding: chunked\r\n",
        "\r\n",
        "a\r\n",
        "chunk-one;\r\n",
        "a\r\n",
        "chunk-two;\r\n",
        "b\r\n",
        "chunk-three\r\n",
        "0\r\n",
        "\r\n",
        "<open>",
    )
)]
#[case::chunked10(
    b"GET /chunked HTTP/1.0\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: text/plain\r\n",
        "Date: {{date}}\r\n",
        "Connection: close\r\n",
        "\r\n",
        "chunk-one;chunk-two;chunk-three",
        "<eof>",
    )
)]
#[case::trailers11(
    b"GET /trailers?x HTTP/1.1\r\nHost: h\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: text/plain\r\n",
        "Trailer: X-Checksum\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Transfer-Encoding: chunked\r\n",
        "\r\n",
        "12\r\n",
        "body-with-trailers\r\n",
        "0\r\n",
        "X-Checksum: abc123\r\n",
        "\r\n",
        "<open>",
    )
)]
#[case::trailers10(
    b"GET /trailers HTTP/1.0\r\n\r\n",
    concat!(
        "HTTP/1.1 500 Internal Server Error\r\n",
        "content-type: text/plain\r\n",
        "Date: {{date}}\r\n",
        "Connection: close\r\n",
        "\r\n",
        "ERR_HTTP_TRAILER_INVALID",
        "<eof>",
    )
)]
#[case::trailers10_te(
    b"GET /trailers HTTP/1.0\r\nTE: chunked\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: text/plain\r\n",
        "Trailer: X-Checksum\r\n",
        "Date: {{date}}\r\n",
        "Connection: close\r\n",
        "Transfer-Encoding: chunked\r\n",
        "\r\n",
        "12\r\n",
        "body-with-trailers\r\n",
        "0\r\n",
        "X-Checksum: abc123\r\n",
        "\r\n",
        "<eof>",
    )
)]
#[case::big100(
    b"GET /big/100 HTTP/1.1\r\nHost: h\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: application/octet-stream\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 100\r\n",
        "\r\n",
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuv",
        "<open>",
    )
)]
#[case::big0(
    b"GET /big/0 HTTP/1.1\r\nHost: h\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: application/octet-stream\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 0\r\n",
        "\r\n",
        "<open>",
    )
)]
#[case::big_over(
    b"GET /big/67108865 HTTP/1.1\r\nHost: h\r\n\r\n",
    concat!(
        "HTTP/1.1 400 Bad Request\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 0\r\n",
        "\r\n",
        "<open>",
    )
)]
#[case::big_huge(
    b"GET /big/99999999999999999999999 HTTP/1.1\r\nHost: h\r\n\r\n",
    concat!(
        "HTTP/1.1 400 Bad Request\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 0\r\n",
        "\r\n",
        "<open>",
    )
)]
#[case::discard(
    b"POST /discard?x HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: text/plain\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 2\r\n",
        "\r\n",
        "11<open>",
    )
)]
fn echo_routes(#[case] request: &[u8], #[case] expected: &str) {
    let echo = Running::start("echo", &[]);
    assert_eq!(echo.exchange(request, 1), expected);
}

/// The default route: `JSON.stringify` of the request. Covers Node's
/// duplicate rules (`set-cookie` array, `cookie` joined with `; `,
/// `content-type` first wins, others joined with `, `), array-index header
/// names first, latin-1 header bytes, a chunked body with trailers, JSON
/// escapes, lossy UTF-8, HTTP/1.0, HEAD, and paths that only look like a
/// route.
#[rstest]
#[case::get_dup(
    b"GET /?a=1&b=%20 HTTP/1.1\r\nHost: example\r\nX-Dup: 1\r\nx-dup: 2\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nCookie: c=1\r\nCookie: d=2\r\nContent-Type: text/a\r\nContent-Type: text/b\r\nUser-Agent: probe\r\nX-Latin: caf\xe9 \xff\r\nX-Tab: a\tb\r\n123: num\r\n7: seven\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: application/json\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 795\r\n",
        "\r\n",
        r#"{"method":"GET","url":"/?a=1&b=%20","httpVersion":"1.1","headers":{"7":"seven","123":"num","host":"example","x-dup":"1, 2","set-cookie":["a=1","b=2"],"cookie":"c=1; d=2","content-type":"text/a","user-agent":"probe","x-latin":"café ÿ","x-tab":"a\tb"},"headersDistinct":{"7":["seven"],"123":["num"],"host":["example"],"x-dup":["1","2"],"set-cookie":["a=1","b=2"],"cookie":["c=1","d=2"],"content-type":["text/a","text/b"],"user-agent":["probe"],"x-latin":["café ÿ"],"x-tab":["a\tb"]},"rawHeaders":["Host","example","X-Dup","1","x-dup","2","Set-Cookie","a=1","set-cookie","b=2","Cookie","c=1","Cookie","d=2","Content-Type","text/a","Content-Type","text/b","User-Agent","probe","X-Latin","café ÿ","X-Tab","a\tb","123","num","7","seven"],"trailers":{},"rawTrailers":[],"complete":true,"body":""}"#,
        "<open>",
    )
)]
#[case::post_chunked(
    b"POST /echo?q HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n3\r\n\xff\xfe\xc3\r\n0\r\nX-Trailer: t1\r\nx-trailer: t2\r\nX-Sum: \"q\"\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: application/json\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 389\r\n",
        "\r\n",
        "{\"method\":\"POST\",\"url\":\"/echo?q\",\"httpVersion\":\"1.1\",\"headers\":{\"host\":\"h\",\"transfer-encoding\":\"chunked\"},\"headersDistinct\":{\"host\":[\"h\"],\"transfer-encoding\":[\"chunked\"]},\"rawHeaders\":[\"Host\",\"h\",\"Transfer-Encoding\",\"chunked\"],\"trailers\":{\"x-trailer\":\"t1, t2\",\"x-sum\":\"\\\"q\\\"\"},\"rawTrailers\":[\"X-Trailer\",\"t1\",\"x-trailer\",\"t2\",\"X-Sum\",\"\\\"q\\\"\"],\"complete\":true,\"body\":\"hello world\u{fffd}\u{fffd}\u{fffd}\"}",
        "<open>",
    )
)]
#[case::post_cl(
    b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 36\r\n\r\n\"quo\\te\"\x01\x08\x0c\n\r\t\x1f\x7f\xe2\x80\xa8\xe2\x80\xa9\xf0\x9f\x98\x80\xed\xa0\x80\xc3(\xe0\x80\xf0\x9f\x98",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: application/json\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 321\r\n",
        "\r\n",
        "{\"method\":\"POST\",\"url\":\"/p\",\"httpVersion\":\"1.1\",\"headers\":{\"host\":\"h\",\"content-length\":\"36\"},\"headersDistinct\":{\"host\":[\"h\"],\"content-length\":[\"36\"]},\"rawHeaders\":[\"Host\",\"h\",\"Content-Length\",\"36\"],\"trailers\":{},\"rawTrailers\":[],\"complete\":true,\"body\":\"\\\"quo\\\\te\\\"\\u0001\\b\\f\\n\\r\\t\\u001f\u{7f}\u{2028}\u{2029}😀\u{fffd}\u{fffd}\u{fffd}\u{fffd}(\u{fffd}\u{fffd}\u{fffd}\"}",
        "<open>",
    )
)]
#[case::http10(
    b"GET /x HTTP/1.0\r\nX-A: b\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: application/json\r\n",
        "Date: {{date}}\r\n",
        "Connection: close\r\n",
        "\r\n",
        r#"{"method":"GET","url":"/x","httpVersion":"1.0","headers":{"x-a":"b"},"headersDistinct":{"x-a":["b"]},"rawHeaders":["X-A","b"],"trailers":{},"rawTrailers":[],"complete":true,"body":""}"#,
        "<eof>",
    )
)]
#[case::http10_ka(
    b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: application/json\r\n",
        "Date: {{date}}\r\n",
        "Connection: close\r\n",
        "\r\n",
        r#"{"method":"GET","url":"/x","httpVersion":"1.0","headers":{"connection":"keep-alive"},"headersDistinct":{"connection":["keep-alive"]},"rawHeaders":["Connection","keep-alive"],"trailers":{},"rawTrailers":[],"complete":true,"body":""}"#,
        "<eof>",
    )
)]
#[case::status_199(
    b"GET /status/199 HTTP/1.1\r\nHost: h\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: application/json\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 195\r\n",
        "\r\n",
        r#"{"method":"GET","url":"/status/199","httpVersion":"1.1","headers":{"host":"h"},"headersDistinct":{"host":["h"]},"rawHeaders":["Host","h"],"trailers":{},"rawTrailers":[],"complete":true,"body":""}"#,
        "<open>",
    )
)]
#[case::status_abc(
    b"GET /status/abc HTTP/1.1\r\nHost: h\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: application/json\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 195\r\n",
        "\r\n",
        r#"{"method":"GET","url":"/status/abc","httpVersion":"1.1","headers":{"host":"h"},"headersDistinct":{"host":["h"]},"rawHeaders":["Host","h"],"trailers":{},"rawTrailers":[],"complete":true,"body":""}"#,
        "<open>",
    )
)]
#[case::big_x(
    b"GET /big/x HTTP/1.1\r\nHost: h\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: application/json\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 190\r\n",
        "\r\n",
        r#"{"method":"GET","url":"/big/x","httpVersion":"1.1","headers":{"host":"h"},"headersDistinct":{"host":["h"]},"rawHeaders":["Host","h"],"trailers":{},"rawTrailers":[],"complete":true,"body":""}"#,
        "<open>",
    )
)]
#[case::absolute(
    b"GET http://h/status/404 HTTP/1.1\r\nHost: h\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: application/json\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 203\r\n",
        "\r\n",
        r#"{"method":"GET","url":"http://h/status/404","httpVersion":"1.1","headers":{"host":"h"},"headersDistinct":{"host":["h"]},"rawHeaders":["Host","h"],"trailers":{},"rawTrailers":[],"complete":true,"body":""}"#,
        "<open>",
    )
)]
// Node 20 answers this; Node 23.5.0's `headersDistinct` getter throws a
// TypeError on a `__proto__` header (the server process dies). The crate
// keeps the name, as Node 20 does (see `HeaderMap::distinct_from_raw`).
#[case::proto(
    b"GET / HTTP/1.1\r\nHost: h\r\n__proto__: x\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: application/json\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 219\r\n",
        "\r\n",
        r#"{"method":"GET","url":"/","httpVersion":"1.1","headers":{"host":"h"},"headersDistinct":{"host":["h"],"__proto__":["x"]},"rawHeaders":["Host","h","__proto__","x"],"trailers":{},"rawTrailers":[],"complete":true,"body":""}"#,
        "<open>",
    )
)]
#[case::head(
    b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: application/json\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "\r\n",
        "<open>",
    )
)]
fn echo_json(#[case] request: &[u8], #[case] expected: &str) {
    let echo = Running::start("echo", &[]);
    assert_eq!(echo.exchange(request, 1), expected);
}

/// What Node does on its own, with no optional listener installed: 400 for
/// a missing `Host`, `100 Continue` then the request, 417 for another
/// expectation, 400 for a parse error.
#[rstest]
#[case::nohost(
    b"GET / HTTP/1.1\r\n\r\n",
    concat!(
        "HTTP/1.1 400 Bad Request\r\n",
        "Connection: close\r\n",
        "Date: {{date}}\r\n",
        "Transfer-Encoding: chunked\r\n",
        "\r\n",
        "0\r\n",
        "\r\n",
        "<eof>",
    )
)]
#[case::expect(
    b"POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
    concat!(
        "HTTP/1.1 100 Continue\r\n",
        "\r\n",
        "HTTP/1.1 200 OK\r\n",
        "content-type: application/json\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 328\r\n",
        "\r\n",
        r#"{"method":"POST","url":"/e","httpVersion":"1.1","headers":{"host":"h","expect":"100-continue","content-length":"2"},"headersDistinct":{"host":["h"],"expect":["100-continue"],"content-length":["2"]},"rawHeaders":["Host","h","Expect","100-continue","Content-Length","2"],"trailers":{},"rawTrailers":[],"complete":true,"body":"hi"}"#,
        "<open>",
    )
)]
#[case::expect_other(
    b"POST /e HTTP/1.1\r\nHost: h\r\nExpect: moon\r\nContent-Length: 2\r\n\r\nhi",
    concat!(
        "HTTP/1.1 417 Expectation Failed\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Transfer-Encoding: chunked\r\n",
        "\r\n",
        "0\r\n",
        "\r\n",
        "<open>",
    )
)]
#[case::bad(
    b"GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n",
    concat!(
        "HTTP/1.1 400 Bad Request\r\n",
        "Connection: close\r\n",
        "\r\n",
        "<eof>",
    )
)]
fn echo_node_defaults(#[case] request: &[u8], #[case] expected: &str) {
    let echo = Running::start("echo", &[]);
    assert_eq!(echo.exchange(request, 1), expected);
}

/// Each flag reaches the server as the `http.createServer` option it is
/// named after.
#[rstest]
#[case::dup_ct(
    &["--join-duplicate-headers"],
    b"GET / HTTP/1.1\r\nHost: h\r\nContent-Type: a\r\ncontent-type: b\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: application/json\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 270\r\n",
        "\r\n",
        r#"{"method":"GET","url":"/","httpVersion":"1.1","headers":{"host":"h","content-type":"a, b"},"headersDistinct":{"host":["h"],"content-type":["a","b"]},"rawHeaders":["Host","h","Content-Type","a","content-type","b"],"trailers":{},"rawTrailers":[],"complete":true,"body":""}"#,
        "<open>",
    )
)]
#[case::nohost_require_host_header(
    &["--require-host-header", "false"],
    b"GET / HTTP/1.1\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: application/json\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 153\r\n",
        "\r\n",
        r#"{"method":"GET","url":"/","httpVersion":"1.1","headers":{},"headersDistinct":{},"rawHeaders":[],"trailers":{},"rawTrailers":[],"complete":true,"body":""}"#,
        "<open>",
    )
)]
#[case::long(
    &["--max-header-size", "100"],
    b"GET / HTTP/1.1\r\nHost: h\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
    concat!(
        "HTTP/1.1 431 Request Header Fields Too Large\r\n",
        "Connection: close\r\n",
        "\r\n",
        "<eof>",
    )
)]
#[case::ka(
    &["--keep-alive-timeout", "2000"],
    b"GET /status/200 HTTP/1.1\r\nHost: h\r\n\r\n",
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=2\r\n",
        "Content-Length: 0\r\n",
        "\r\n",
        "<open>",
    )
)]
#[case::partial_headers_timeout(
    &["--headers-timeout", "100", "--request-timeout", "100", "--connections-checking-interval", "20"],
    b"GET / HTTP/1.1\r\nHost: h\r\n",
    concat!(
        "HTTP/1.1 408 Request Timeout\r\n",
        "Connection: close\r\n",
        "\r\n",
        "<eof>",
    )
)]
fn echo_flags(#[case] flags: &[&str], #[case] request: &[u8], #[case] expected: &str) {
    let echo = Running::start("echo", flags);
    assert_eq!(echo.exchange(request, 1), expected);
}

/// Two pipelined requests: a bodiless 204, then a chunked answer that
/// closes the connection.
#[test]
fn echo_pipelined() {
    let echo = Running::start("echo", &[]);
    let request = b"GET /status/204 HTTP/1.1\r\nHost: h\r\n\r\nGET /chunked HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let expected = concat!(
        "HTTP/1.1 204 No Content\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "\r\n",
        "HTTP/1.1 200 OK\r\n",
        "content-type: text/plain\r\n",
        "Date: {{date}}\r\n",
        "Connection: close\r\n",
        "Transfer-Encoding: chunked\r\n",
        "\r\n",
        "a\r\n",
        "chunk-one;\r\n",
        "a\r\n",
        "chunk-two;\r\n",
        "b\r\n",
        "chunk-three\r\n",
        "0\r\n",
        "\r\n",
        "<eof>",
    );
    assert_eq!(echo.exchange(request, 2), expected);
}

/// `--max-requests-per-socket 2` is `server.maxRequestsPerSocket = 2`:
/// the second response announces the end, a third request gets Node's 503
/// (after which Node does not close the socket at once; neither does the
/// crate).
#[test]
fn echo_max_requests_per_socket() {
    let echo = Running::start("echo", &["--max-requests-per-socket", "2"]);
    let request = b"GET /status/201 HTTP/1.1\r\nHost: h\r\n\r\nGET /status/202 HTTP/1.1\r\nHost: h\r\n\r\nGET /status/203 HTTP/1.1\r\nHost: h\r\n\r\n";
    let expected = concat!(
        "HTTP/1.1 201 Created\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5, max=2\r\n",
        "Content-Length: 0\r\n",
        "\r\n",
        "HTTP/1.1 202 Accepted\r\n",
        "Date: {{date}}\r\n",
        "Connection: close\r\n",
        "Content-Length: 0\r\n",
        "\r\n",
        "HTTP/1.1 503 Service Unavailable\r\n",
        "Date: {{date}}\r\n",
        "Connection: close\r\n",
        "Transfer-Encoding: chunked\r\n",
        "\r\n",
        "0\r\n",
        "\r\n",
        "<open>",
    );
    assert_eq!(echo.exchange(request, 3), expected);
}

/// A large `/big/<n>`: the whole body arrives, with its `Content-Length`.
#[test]
fn echo_big_body() {
    let n = 3 * 1024 * 1024 + 5;
    let echo = Running::start("echo", &[]);
    let mut conn = echo.connect();
    conn.send(format!("GET /big/{n} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
    let response = conn.response(false);
    let head_end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = mask_date(&response[..head_end]);
    assert_eq!(
        head,
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n\
             Date: {{{{date}}}}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\
             Content-Length: {n}\r\n\r\n"
        )
    );
    let body = &response[head_end..];
    assert_eq!(body.len(), n);
    assert!(body
        .iter()
        .enumerate()
        .all(|(i, &b)| b == b'a' + (i % 26) as u8));
    assert_eq!(conn.end_state(), "<open>");
}

/// Bad flags: clap's usage error on stderr, exit status 2, no listening.
#[rstest]
#[case::unknown_flag(&["--bogus"])]
#[case::port_not_a_number(&["--port", "http"])]
#[case::port_out_of_range(&["--port", "65536"])]
#[case::negative_timeout(&["--headers-timeout", "-1"])]
#[case::require_host_header_not_a_bool(&["--require-host-header", "maybe"])]
#[case::require_host_header_without_value(&["--require-host-header"])]
#[case::join_duplicate_headers_takes_no_value(&["--join-duplicate-headers=true"])]
// Node's createServer throws ERR_OUT_OF_RANGE for these.
#[case::headers_timeout_over_request_timeout(&["--headers-timeout", "2000", "--request-timeout", "1000"])]
fn echo_bad_flags(#[case] args: &[&str]) {
    let output = run_to_exit("echo", args);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("error:"),
        "{output:?}"
    );
}

/// A requestTimeout alone is fine: headersTimeout defaults to
/// `min(60000, requestTimeout)`, as in Node.
#[test]
fn echo_request_timeout_alone_is_accepted() {
    let echo = Running::start("echo", &["--request-timeout", "1000"]);
    let expected = concat!(
        "HTTP/1.1 200 OK\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 0\r\n",
        "\r\n",
        "<open>",
    );
    assert_eq!(
        echo.exchange(b"GET /status/200 HTTP/1.1\r\nHost: h\r\n\r\n", 1),
        expected
    );
}

/// Run an example that is expected to exit by itself.
fn run_to_exit(name: &str, args: &[&str]) -> std::process::Output {
    let mut child = Command::new(example(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn example");
    if wait_timeout(&mut child).is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{name} {args:?} did not exit");
    }
    child.wait_with_output().expect("output")
}

/// SIGTERM and SIGINT end the process with status 0, also with a
/// kept-alive connection and a half-received request open.
#[rstest]
#[case::sigterm("echo", "TERM")]
#[case::sigint("echo", "INT")]
#[case::hello_sigterm("hello", "TERM")]
fn exits_on_signal(#[case] name: &str, #[case] signal: &str) {
    let server = Running::start(name, &[]);
    let mut idle = server.connect();
    idle.send(b"GET /status/200 HTTP/1.1\r\nHost: h\r\n\r\n");
    idle.response(false);
    let mut partial = server.connect();
    partial.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
    let status = server.signal(signal);
    assert!(status.success(), "{name} on SIG{signal}: {status:?}");
    assert_eq!(idle.end_state(), "<eof>");
}

// ---------------------------------------------------------------- hello

/// `hello world` to everything; a body nobody reads is discarded and the
/// connection goes on.
#[rstest]
#[case::get(
    b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    1,
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: text/plain\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 11\r\n",
        "\r\n",
        "hello world",
        "<open>",
    )
)]
#[case::post_then_get(
    b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /y HTTP/1.1\r\nHost: h\r\n\r\n",
    2,
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: text/plain\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 11\r\n",
        "\r\n",
        "hello worldHTTP/1.1 200 OK\r\n",
        "content-type: text/plain\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 11\r\n",
        "\r\n",
        "hello world",
        "<open>",
    )
)]
#[case::chunked_post(
    b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    1,
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: text/plain\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "Content-Length: 11\r\n",
        "\r\n",
        "hello world",
        "<open>",
    )
)]
#[case::http10(
    b"GET / HTTP/1.0\r\n\r\n",
    1,
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: text/plain\r\n",
        "Date: {{date}}\r\n",
        "Connection: close\r\n",
        "\r\n",
        "hello world",
        "<eof>",
    )
)]
#[case::head(
    b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n",
    1,
    concat!(
        "HTTP/1.1 200 OK\r\n",
        "content-type: text/plain\r\n",
        "Date: {{date}}\r\n",
        "Connection: keep-alive\r\n",
        "Keep-Alive: timeout=5\r\n",
        "\r\n",
        "<open>",
    )
)]
fn hello(#[case] request: &[u8], #[case] responses: usize, #[case] expected: &str) {
    let hello = Running::start("hello", &[]);
    assert_eq!(hello.exchange(request, responses), expected);
}

/// `hello` has only `--port`.
#[test]
fn hello_bad_flag() {
    let output = run_to_exit("hello", &["--join-duplicate-headers"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

// ---------------------------------------------------------------- differential finds

/// Every divergence the differential fuzzer (`fuzz/differential`) found
/// and the reference now resolves: each input in
/// `fuzz/differential/regressions/` is sent in one write to the echo
/// example, and the answer must be the one Node 23.5.0's echo twin gave,
/// kept beside it in `<input>.node` (`Date` masked as `{{date}}`, then
/// `<eof>` or `<open>`; recorded with `differential --replay FILE
/// --record`). Most are requests pipelined with a later parse error or an
/// upgrade nobody listens to, where what Node answers depends on when it
/// runs its queued callbacks inside a packet.
#[test]
fn echo_answers_the_kept_differential_finds_as_node_did() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/differential/regressions");
    let mut finds: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fuzz/differential/regressions")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_none())
        .collect();
    finds.sort();
    assert!(finds.len() >= 40, "only {} kept finds", finds.len());
    let echo = Running::start("echo", &[]);
    let port = echo.port;
    let failures: Vec<String> = std::thread::scope(|s| {
        let runs: Vec<_> = finds
            .iter()
            .map(|input| {
                s.spawn(move || {
                    let sent = std::fs::read(input).expect("input");
                    let expected = std::fs::read(input.with_extension("node")).expect(".node");
                    let got = differential_answer(port, &sent);
                    (got != expected).then(|| {
                        format!(
                            "{}:\n  node:      {:?}\n  reference: {:?}",
                            input.display(),
                            String::from_utf8_lossy(&expected),
                            String::from_utf8_lossy(&got)
                        )
                    })
                })
            })
            .collect();
        runs.into_iter()
            .filter_map(|r| r.join().expect("no panic"))
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What the differential harness records: the bytes with `Date` masked,
/// then `<eof>` when the server closes or `<open>` when it stays silent
/// for [`QUIET`] (twice that here, as the harness's confirmation does).
fn differential_answer(port: u16, input: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_nodelay(true).unwrap();
    let _ = stream.write_all(input);
    stream.set_read_timeout(Some(QUIET * 2)).unwrap();
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let end: &[u8] = loop {
        match stream.read(&mut chunk) {
            Ok(0) => break b"<eof>",
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break b"<open>"
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break b"<eof>",
        }
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\r\nDate: ") && bytes.len() >= i + 8 + 29 {
            out.extend_from_slice(b"\r\nDate: {{date}}");
            i += 8 + 29;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out.extend_from_slice(end);
    out
}
