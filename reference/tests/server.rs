//! The public server API over real sockets on 127.0.0.1, under tokio's
//! paused clock: the driver reads time from tokio, so timeouts of seconds
//! elapse at once, and the instants at which the server acts are exact.
//!
//! With paused time the runtime jumps to the next timer whenever it has
//! nothing to do; were the kernel to hold a loopback packet back, the jump
//! could come before the packet. The tests therefore read the bytes they
//! expect before they look at closure, check "still open" just before a
//! deadline (when no timer of the server can have fired), and bound
//! elapsed times with a margin.
//!
//! Expected bytes are those of a `node:http` server (Node 23.5.0), with
//! `sendDate` off where a response is built by the test.

use std::io::ErrorKind;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nodehttp::server::{Handler, IncomingMessage, Server, ServerOptions, ServerResponse, Socket};
use rstest::rstest;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_test::{assert_ok, assert_pending, assert_ready};

// ---------------------------------------------------------------- the application

/// What the tests' handler does with a request.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Answer `ok` at once (no `Date`).
    Answer,
    /// Hand the request and response to the test.
    Hand,
}

/// A handler the tests drive: requests are answered or handed over, and
/// the `'timeout'`, `'connection'` and `'close'` events are counted.
struct App {
    mode: Mode,
    requests: mpsc::UnboundedSender<(IncomingMessage, ServerResponse)>,
    /// A `'timeout'` listener is installed: the socket is kept. Otherwise
    /// Node's default (destroy) runs.
    timeout_listener: bool,
    timeouts: AtomicUsize,
    timed_out: Notify,
    connections: AtomicUsize,
    connected: Notify,
    closes: AtomicUsize,
    /// An `'upgrade'` listener that answers 101 and echoes.
    upgrade: bool,
}

impl Handler for App {
    async fn request(&self, req: IncomingMessage, res: ServerResponse) {
        match self.mode {
            Mode::Answer => {
                res.set_send_date(false);
                assert_ok!(res.end(Some(b"ok")));
            }
            Mode::Hand => {
                let _ = self.requests.send((req, res));
            }
        }
    }

    fn timeout(&self, socket: Socket) {
        self.timeouts.fetch_add(1, Ordering::SeqCst);
        self.timed_out.notify_one();
        if !self.timeout_listener {
            socket.destroy();
        }
    }

    fn connection(&self, _socket: &Socket) {
        self.connections.fetch_add(1, Ordering::SeqCst);
        self.connected.notify_one();
    }

    fn close(&self) {
        self.closes.fetch_add(1, Ordering::SeqCst);
    }

    fn handles_upgrade(&self) -> bool {
        self.upgrade
    }

    async fn upgrade(&self, _req: IncomingMessage, socket: Socket, head: Vec<u8>) {
        socket.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n",
        );
        socket.write(&head);
        while let Some(data) = socket.read().await {
            socket.write(&data);
        }
    }
}

/// A handler that only has a `'request'` listener: every other event gets
/// the trait's default, which is Node's behaviour without a listener.
struct Plain {
    requests: mpsc::UnboundedSender<(IncomingMessage, ServerResponse)>,
}

impl Handler for Plain {
    async fn request(&self, req: IncomingMessage, res: ServerResponse) {
        let _ = self.requests.send((req, res));
    }
}

struct Running {
    server: Server<App>,
    addr: SocketAddr,
    requests: mpsc::UnboundedReceiver<(IncomingMessage, ServerResponse)>,
}

impl Running {
    fn app(&self) -> &App {
        self.server.handler()
    }

    /// The next request handed to the test.
    async fn request(&mut self) -> (IncomingMessage, ServerResponse) {
        self.requests.recv().await.expect("a request")
    }

    /// Connect, and wait until the server has accepted the connection.
    async fn connect(&self) -> TcpStream {
        let before = self.app().connections.load(Ordering::SeqCst);
        let stream = assert_ok!(TcpStream::connect(self.addr).await);
        // Without it, Nagle's algorithm holds a small write back until the
        // server's delayed ACK, a real-time delay the paused clock does not
        // wait for.
        assert_ok!(stream.set_nodelay(true));
        while self.app().connections.load(Ordering::SeqCst) == before {
            self.app().connected.notified().await;
        }
        stream
    }
}

async fn start(options: ServerOptions, mode: Mode) -> Running {
    start_with(options, mode, |_| {}).await
}

async fn start_with(options: ServerOptions, mode: Mode, setup: impl FnOnce(&mut App)) -> Running {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut app = App {
        mode,
        requests: tx,
        timeout_listener: false,
        timeouts: AtomicUsize::new(0),
        timed_out: Notify::new(),
        connections: AtomicUsize::new(0),
        connected: Notify::new(),
        closes: AtomicUsize::new(0),
        upgrade: false,
    };
    setup(&mut app);
    let server = assert_ok!(Server::new(options, app));
    let addr = assert_ok!(server.listen("127.0.0.1:0").await);
    Running {
        server,
        addr,
        requests: rx,
    }
}

// ---------------------------------------------------------------- the client side

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n";

const OK: &str =
    "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok";

const TIMEOUT_408: &str = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn send(stream: &mut TcpStream, bytes: &[u8]) {
    assert_ok!(stream.write_all(bytes).await);
}

/// Read exactly `expected.len()` bytes and compare them as text.
async fn expect(stream: &mut TcpStream, expected: &str) {
    let mut buf = vec![0; expected.len()];
    let read = stream.read_exact(&mut buf).await;
    assert!(
        read.is_ok(),
        "reading {expected:?}: {read:?}, got {:?}",
        text(&buf)
    );
    assert_eq!(text(&buf), expected);
}

/// Everything until the server closes (a reset counts as a close).
async fn read_until_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return all,
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Whether the server still holds the connection open, asked of the kernel
/// (not of tokio's readiness cache). Unexpected bytes are an error.
fn is_open(stream: &TcpStream) -> bool {
    let mut buf = [MaybeUninit::<u8>::uninit(); 256];
    match socket2::SockRef::from(stream).peek(&mut buf) {
        Ok(0) => false,
        Ok(n) => {
            // SAFETY: `peek` initialised the first `n` bytes.
            let bytes: Vec<u8> = buf[..n]
                .iter()
                .map(|b| unsafe { b.assume_init() })
                .collect();
            panic!("unexpected bytes from the server: {:?}", text(&bytes))
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => true,
        Err(e) if e.kind() == ErrorKind::ConnectionReset => false,
        Err(e) => panic!("peek: {e}"),
    }
}

/// Let the server's tasks run without the clock moving much.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(ms(1)).await;
}

fn elapsed_between(start: Instant, low: u64, high: u64) {
    let elapsed = start.elapsed();
    assert!(
        elapsed >= ms(low) && elapsed <= ms(high),
        "elapsed {elapsed:?}, expected {low}..={high} ms"
    );
}

fn timeouts(options: ServerOptions, headers: u64, request: u64, check: u64) -> ServerOptions {
    ServerOptions {
        headers_timeout: Some(ms(headers)),
        request_timeout: ms(request),
        connections_checking_interval: ms(check),
        ..options
    }
}

// ---------------------------------------------------------------- headersTimeout / requestTimeout

#[rstest]
#[case::partial_head(&b"GET / HTTP/1.1\r\nHost: exa"[..])]
#[case::no_byte(&b""[..])]
#[tokio::test(start_paused = true)]
async fn headers_timeout_answers_408_and_closes(#[case] sent: &[u8]) {
    let mut s = start(
        timeouts(ServerOptions::default(), 2000, 10_000, 100),
        Mode::Hand,
    )
    .await;
    let start = Instant::now();
    let mut c = s.connect().await;
    send(&mut c, sent).await;
    assert_eq!(text(&read_until_close(&mut c).await), TIMEOUT_408);
    // Checked every 100 ms: the first check past 2 s is at 2.1 s.
    elapsed_between(start, 2001, 2200);
    assert!(s.requests.try_recv().is_err(), "no request was emitted");
}

#[tokio::test(start_paused = true)]
async fn headers_timeout_lets_a_slow_body_through() {
    let mut s = start(
        timeouts(ServerOptions::default(), 1000, 10_000, 100),
        Mode::Hand,
    )
    .await;
    let mut c = s.connect().await;
    send(
        &mut c,
        b"POST / HTTP/1.1\r\nHost: example\r\nContent-Length: 4\r\n\r\n",
    )
    .await;
    let (req, res) = s.request().await;
    tokio::time::sleep(ms(3000)).await;
    assert!(is_open(&c));
    send(&mut c, b"body").await;
    assert_eq!(assert_ok!(req.body().await), b"body");
    res.set_send_date(false);
    assert_ok!(res.end(Some(b"ok")));
    expect(&mut c, OK).await;
}

#[tokio::test(start_paused = true)]
async fn request_timeout_on_a_slow_body_answers_408_and_aborts_the_request() {
    let mut s = start(
        timeouts(ServerOptions::default(), 1000, 3000, 100),
        Mode::Hand,
    )
    .await;
    let start = Instant::now();
    let mut c = s.connect().await;
    send(
        &mut c,
        b"POST /upload HTTP/1.1\r\nHost: example\r\nContent-Length: 10\r\n\r\nabc",
    )
    .await;
    let (req, _res) = s.request().await;
    assert_eq!(assert_ok!(req.read().await).as_deref(), Some(&b"abc"[..]));
    let reader = tokio::spawn(async move {
        let r = req.read().await;
        (r.map_err(|e| e.code()), req.complete(), req.aborted())
    });
    // Past headersTimeout (1 s) nothing happens: the head was complete.
    assert_eq!(text(&read_until_close(&mut c).await), TIMEOUT_408);
    elapsed_between(start, 3001, 3200);
    let (read, complete, aborted) = assert_ok!(reader.await);
    assert_eq!(read, Err("ECONNRESET"));
    assert!(!complete);
    assert!(aborted);
}

#[tokio::test(start_paused = true)]
async fn request_timeout_ignores_a_slow_response() {
    let mut s = start(timeouts(ServerOptions::default(), 100, 200, 20), Mode::Hand).await;
    let mut c = s.connect().await;
    send(&mut c, GET).await;
    let (_req, res) = s.request().await;
    tokio::time::sleep(ms(10_000)).await;
    assert!(is_open(&c));
    res.set_send_date(false);
    assert_ok!(res.end(Some(b"ok")));
    expect(&mut c, OK).await;
}

#[tokio::test(start_paused = true)]
async fn close_stops_the_headers_timeout_checks() {
    // Checked on Node 23.5.0: headersTimeout 100, a partial head, close(),
    // 400 ms later the connection is open and the request is then served.
    let s = start(
        timeouts(ServerOptions::default(), 1000, 10_000, 100),
        Mode::Answer,
    )
    .await;
    let mut c = s.connect().await;
    send(&mut c, b"GET / HTTP/1.1\r\nHo").await;
    tokio::time::sleep(ms(10)).await;
    s.server.close();
    tokio::time::sleep(ms(5000)).await;
    assert!(is_open(&c), "no 408 after close()");
    send(&mut c, b"st: example\r\n\r\n").await;
    expect(&mut c, OK).await;
}

// ---------------------------------------------------------------- keepAliveTimeout

#[rstest]
#[case::default(5000, "timeout=5")]
#[case::one_and_a_half(1500, "timeout=1")]
#[tokio::test(start_paused = true)]
async fn keep_alive_timeout_closes_an_idle_connection_one_second_later(
    #[case] keep_alive: u64,
    #[case] header: &str,
) {
    let s = start(
        ServerOptions {
            keep_alive_timeout: ms(keep_alive),
            ..ServerOptions::default()
        },
        Mode::Answer,
    )
    .await;
    let mut c = s.connect().await;
    send(&mut c, GET).await;
    expect(
        &mut c,
        &format!(
            "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: {header}\r\nContent-Length: 2\r\n\r\nok"
        ),
    )
    .await;
    let start = Instant::now();
    // keepAliveTimeout + 1 s (HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER).
    let deadline = keep_alive + 1000;
    tokio::time::sleep(ms(deadline - 1)).await;
    assert!(is_open(&c), "still open 1 ms before the deadline");
    assert!(read_until_close(&mut c).await.is_empty());
    elapsed_between(start, deadline, deadline + 50);
    assert_eq!(s.app().timeouts.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn keep_alive_timeout_zero_keeps_the_connection() {
    let s = start(
        ServerOptions {
            keep_alive_timeout: Duration::ZERO,
            ..ServerOptions::default()
        },
        Mode::Answer,
    )
    .await;
    let mut c = s.connect().await;
    send(&mut c, GET).await;
    expect(
        &mut c,
        "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
    )
    .await;
    tokio::time::sleep(ms(600_000)).await;
    assert!(is_open(&c));
    send(&mut c, GET).await;
    expect(
        &mut c,
        "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn new_data_stops_the_keep_alive_timer() {
    let s = start(ServerOptions::default(), Mode::Answer).await;
    let mut c = s.connect().await;
    send(&mut c, GET).await;
    expect(&mut c, OK).await;
    tokio::time::sleep(ms(3000)).await;
    // Part of a head: server.timeout (0) replaces the keep-alive timer.
    send(&mut c, b"GET /2 HTTP/1.1\r\n").await;
    tokio::time::sleep(ms(10_000)).await;
    assert!(is_open(&c), "open well past keepAliveTimeout + 1 s");
    send(&mut c, b"Host: example\r\n\r\n").await;
    expect(&mut c, OK).await;
    assert_eq!(s.app().timeouts.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn the_keep_alive_reset_reads_the_current_server_timeout() {
    // Checked on Node 23.5.0: a connection served, then
    // server.setTimeout(200), then part of a head: destroyed 200 ms later.
    let s = start(ServerOptions::default(), Mode::Answer).await;
    let mut c = s.connect().await;
    send(&mut c, GET).await;
    expect(&mut c, OK).await;
    s.server.set_timeout(ms(2000));
    let start = Instant::now();
    send(&mut c, b"GET /2 HTTP/1.1\r\n").await;
    let closed = tokio::time::timeout(ms(5000), read_until_close(&mut c)).await;
    assert!(assert_ok!(closed).is_empty());
    elapsed_between(start, 2000, 2050);
}

// ---------------------------------------------------------------- server.timeout

#[tokio::test(start_paused = true)]
async fn set_timeout_without_a_listener_destroys_an_inactive_socket() {
    let (tx, mut requests) = mpsc::unbounded_channel();
    let server = assert_ok!(Server::new(
        ServerOptions::default(),
        Plain { requests: tx }
    ));
    server.set_timeout(ms(2000));
    assert_eq!(server.timeout(), ms(2000));
    let addr = assert_ok!(server.listen("127.0.0.1:0").await);
    let mut c = assert_ok!(TcpStream::connect(addr).await);
    assert_ok!(c.set_nodelay(true));
    let start = Instant::now();
    send(&mut c, GET).await;
    let (_req, res) = requests.recv().await.expect("a request");
    // Inactivity since the request arrived; nothing is ever answered.
    tokio::time::sleep(ms(1999)).await;
    assert!(is_open(&c));
    assert!(read_until_close(&mut c).await.is_empty(), "no bytes");
    elapsed_between(start, 2000, 2050);
    // The response learns its socket is gone.
    assert!(!res.finished().await);
}

#[tokio::test(start_paused = true)]
async fn write_after_the_socket_was_destroyed_is_refused() {
    // Checked on Node 23.5.0: after server.setTimeout destroyed the socket,
    // res.destroyed is true, res.write('late') returns false and its
    // callback gets ERR_STREAM_DESTROYED.
    let mut s = start(ServerOptions::default(), Mode::Hand).await;
    s.server.set_timeout(ms(100));
    let mut c = s.connect().await;
    send(&mut c, GET).await;
    let (_req, res) = s.request().await;
    assert!(read_until_close(&mut c).await.is_empty());
    assert!(!res.finished().await);
    let w = assert_ok!(res.write(b"late"));
    assert_eq!(w.effect, nodehttp::response::Effect::Refused);
    assert!(!w.ok);
    assert_eq!(
        w.error.map(|e| e.error.code()),
        Some("ERR_STREAM_DESTROYED")
    );
}

#[tokio::test(start_paused = true)]
async fn set_timeout_with_a_listener_keeps_the_socket() {
    let mut s = start_with(ServerOptions::default(), Mode::Hand, |app| {
        app.timeout_listener = true;
    })
    .await;
    s.server.set_timeout(ms(2000));
    let mut c = s.connect().await;
    let start = Instant::now();
    send(&mut c, GET).await;
    let (_req, res) = s.request().await;
    s.app().timed_out.notified().await;
    elapsed_between(start, 2000, 2050);
    settle().await;
    assert!(is_open(&c), "a listener keeps the socket");
    // The socket still works.
    res.set_send_date(false);
    assert_ok!(res.end(Some(b"ok")));
    expect(&mut c, OK).await;
    assert_eq!(s.app().timeouts.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn set_timeout_counts_inactivity_not_total_time() {
    let s = start(ServerOptions::default(), Mode::Answer).await;
    s.server.set_timeout(ms(400));
    let mut c = s.connect().await;
    for piece in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"Host: example\r\n",
        b"X-A: 1\r\n",
        b"X-B: 2\r\n",
    ] {
        send(&mut c, piece).await;
        tokio::time::sleep(ms(300)).await;
    }
    send(&mut c, b"\r\n").await;
    expect(&mut c, OK).await;
    assert_eq!(s.app().timeouts.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn set_timeout_applies_to_new_connections_only() {
    let s = start(ServerOptions::default(), Mode::Answer).await;
    let mut c1 = s.connect().await;
    s.server.set_timeout(ms(100));
    let mut c2 = s.connect().await;
    let start = Instant::now();
    assert!(read_until_close(&mut c2).await.is_empty());
    elapsed_between(start, 100, 150);
    assert!(is_open(&c1));
    send(&mut c1, GET).await;
    expect(&mut c1, OK).await;
}

// ---------------------------------------------------------------- closing connections

#[tokio::test(start_paused = true)]
async fn close_idle_connections_closes_only_idle_ones() {
    let mut s = start(ServerOptions::default(), Mode::Hand).await;
    // c1: answered, idle.
    let mut c1 = s.connect().await;
    send(&mut c1, GET).await;
    let (_req1, res1) = s.request().await;
    res1.set_send_date(false);
    assert_ok!(res1.end(Some(b"ok")));
    expect(&mut c1, OK).await;
    // c2: in the middle of a head.
    let mut c2 = s.connect().await;
    send(&mut c2, b"GET /2 HTTP/1.1\r\nHost: exa").await;
    // c3: waiting for its response.
    let mut c3 = s.connect().await;
    send(&mut c3, b"GET /3 HTTP/1.1\r\nHost: example\r\n\r\n").await;
    let (req3, res3) = s.request().await;
    assert_eq!(req3.url(), "/3");
    // c4: accepted, nothing sent yet.
    let mut c4 = s.connect().await;
    settle().await;

    s.server.close_idle_connections();
    assert!(read_until_close(&mut c1).await.is_empty());
    settle().await;
    assert!(is_open(&c2));
    assert!(is_open(&c3));
    assert!(is_open(&c4));
    assert!(s.server.listening(), "the server keeps listening");

    send(&mut c2, b"mple\r\n\r\n").await;
    let (req2, res2) = s.request().await;
    assert_eq!(req2.url(), "/2");
    res2.set_send_date(false);
    assert_ok!(res2.end(Some(b"ok")));
    expect(&mut c2, OK).await;
    res3.set_send_date(false);
    assert_ok!(res3.end(Some(b"ok")));
    expect(&mut c3, OK).await;
    send(&mut c4, GET).await;
    let (_req4, res4) = s.request().await;
    res4.set_send_date(false);
    assert_ok!(res4.end(Some(b"ok")));
    expect(&mut c4, OK).await;

    // Answered, they are idle in turn.
    s.server.close_idle_connections();
    for c in [&mut c2, &mut c3, &mut c4] {
        assert!(read_until_close(c).await.is_empty());
    }
    // New connections are served.
    let mut c5 = s.connect().await;
    send(&mut c5, GET).await;
    let (_req5, res5) = s.request().await;
    res5.set_send_date(false);
    assert_ok!(res5.end(Some(b"ok")));
    expect(&mut c5, OK).await;
}

#[tokio::test(start_paused = true)]
async fn close_all_connections_closes_every_http_connection_but_not_upgraded_ones() {
    let mut s = start_with(ServerOptions::default(), Mode::Hand, |app| {
        app.upgrade = true;
    })
    .await;
    let mut idle = s.connect().await;
    send(&mut idle, GET).await;
    let (_req, res) = s.request().await;
    res.set_send_date(false);
    assert_ok!(res.end(Some(b"ok")));
    expect(&mut idle, OK).await;
    let mut sending = s.connect().await;
    send(&mut sending, b"GET / HTTP/1.1\r\nHost: exa").await;
    let mut waiting = s.connect().await;
    send(&mut waiting, GET).await;
    let (_req, waiting_res) = s.request().await;
    let mut upgraded = s.connect().await;
    send(
        &mut upgraded,
        b"GET / HTTP/1.1\r\nHost: example\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\nhi",
    )
    .await;
    expect(
        &mut upgraded,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\nhi",
    )
    .await;

    s.server.close_all_connections();
    for c in [&mut idle, &mut sending, &mut waiting] {
        assert!(
            read_until_close(c).await.is_empty(),
            "closed without a byte"
        );
    }
    assert!(!waiting_res.finished().await, "the response never finished");
    settle().await;
    assert!(is_open(&upgraded));
    send(&mut upgraded, b"echo").await;
    expect(&mut upgraded, "echo").await;
    assert!(s.server.listening());
}

#[tokio::test(start_paused = true)]
async fn close_then_closed_waits_for_the_last_connection() {
    let mut s = start(ServerOptions::default(), Mode::Hand).await;
    let mut idle = s.connect().await;
    send(&mut idle, GET).await;
    let (_req, res) = s.request().await;
    res.set_send_date(false);
    assert_ok!(res.end(Some(b"ok")));
    expect(&mut idle, OK).await;
    let mut waiting = s.connect().await;
    send(&mut waiting, GET).await;
    let (_req, res) = s.request().await;

    s.server.close();
    assert!(!s.server.listening());
    assert!(read_until_close(&mut idle).await.is_empty());
    settle().await;
    // No new connection is accepted (the port may have gone to another
    // test's server meanwhile: then at least this one accepted nothing).
    let accepted = s.app().connections.load(Ordering::SeqCst);
    if let Ok(other) = TcpStream::connect(s.addr).await {
        settle().await;
        assert_eq!(s.app().connections.load(Ordering::SeqCst), accepted);
        drop(other);
    }
    // The request in flight is not cut, and 'close' waits for it.
    let server = s.server.clone();
    let mut closed = tokio_test::task::spawn(async move { server.closed().await });
    assert_pending!(closed.poll());
    assert!(is_open(&waiting));
    res.set_send_date(false);
    assert_ok!(res.end(Some(b"ok")));
    expect(&mut waiting, OK).await;
    settle().await;
    assert_pending!(closed.poll());
    assert_eq!(s.app().closes.load(Ordering::SeqCst), 0);
    // The client goes away: the last connection ends, 'close' comes.
    let start = Instant::now();
    drop(waiting);
    assert_ok!(tokio::time::timeout(ms(1000), s.server.closed()).await);
    assert!(start.elapsed() < ms(1000));
    assert_ready!(closed.poll());
    assert_eq!(s.app().closes.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn close_leaves_a_partial_request_to_finish() {
    let s = start(ServerOptions::default(), Mode::Answer).await;
    let mut c = s.connect().await;
    send(&mut c, b"GET / HTTP/1.1\r\nHost: exa").await;
    settle().await;
    s.server.close();
    settle().await;
    assert!(is_open(&c));
    send(&mut c, b"mple\r\n\r\n").await;
    expect(&mut c, OK).await;
}

// ---------------------------------------------------------------- bodies and backpressure

#[tokio::test(start_paused = true)]
async fn a_one_mebibyte_body_is_streamed_through_read() {
    let mut s = start(ServerOptions::default(), Mode::Hand).await;
    let body: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut c = s.connect().await;
    let (mut rd, mut wr) = c.split();
    let head = format!(
        "POST /big HTTP/1.1\r\nHost: example\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let upload = async {
        assert_ok!(wr.write_all(head.as_bytes()).await);
        assert_ok!(wr.write_all(&body).await);
    };
    let serve = async {
        let (req, res) = s.request().await;
        let mut got = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = assert_ok!(req.read().await) {
            assert!(!chunk.is_empty());
            got.extend_from_slice(&chunk);
            chunks += 1;
        }
        assert!(req.complete());
        assert!(chunks > 1, "delivered as it arrived, not in one piece");
        res.set_send_date(false);
        assert_ok!(res.end(Some(got.len().to_string().as_bytes())));
        got
    };
    let (_, got) = tokio::join!(upload, serve);
    assert!(got == body, "every byte, in order");
    let expected = "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 7\r\n\r\n1048576";
    let mut buf = vec![0; expected.len()];
    assert_ok!(rd.read_exact(&mut buf).await);
    assert_eq!(text(&buf), expected);
}

#[tokio::test(start_paused = true)]
async fn many_writes_then_end_are_chunked_exactly() {
    let mut s = start(ServerOptions::default(), Mode::Hand).await;
    let mut c = s.connect().await;
    send(&mut c, GET).await;
    let (_req, res) = s.request().await;
    res.set_send_date(false);
    let mut expected = String::from(
        "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    for i in 1..=20usize {
        let piece = "x".repeat(i);
        let w = assert_ok!(res.write(piece.as_bytes()));
        assert!(w.ok);
        expected.push_str(&format!("{i:x}\r\n{piece}\r\n"));
        if i % 5 == 0 {
            // Some writes go out on their own.
            tokio::task::yield_now().await;
        }
    }
    assert_ok!(res.end(None));
    expected.push_str("0\r\n\r\n");
    expect(&mut c, &expected).await;
    assert!(res.finished().await);
    assert!(res.writable_finished());
    settle().await;
    assert!(is_open(&c));
}

/// The head of a chunked `200` without `Date`.
const CHUNKED_HEAD: &str = "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\r\n";

/// Write 1000-byte chunks until `write` says to wait, checking that it says
/// so exactly when the queued bytes (head and chunk framing included)
/// reach `high_water_mark`. Returns the bytes written.
fn write_until_full(res: &ServerResponse, high_water_mark: usize) -> String {
    let chunk = "y".repeat(1000);
    let mut queued = CHUNKED_HEAD.len();
    let mut sent = String::from(CHUNKED_HEAD);
    loop {
        let w = assert_ok!(res.write(chunk.as_bytes()));
        let frame = format!("3e8\r\n{chunk}\r\n");
        queued += frame.len();
        sent.push_str(&frame);
        assert_eq!(w.ok, queued < high_water_mark, "{queued} bytes queued");
        if !w.ok {
            return sent;
        }
        assert!(queued < 200_000, "write() never returned false");
    }
}

#[tokio::test(start_paused = true)]
async fn write_returns_false_over_the_high_water_mark_and_drained_waits_for_the_socket() {
    let mut s = start(
        ServerOptions {
            high_water_mark: 16 * 1024,
            ..ServerOptions::default()
        },
        Mode::Hand,
    )
    .await;
    let mut c = s.connect().await;
    send(&mut c, GET).await;
    let (_req, res) = s.request().await;
    res.set_send_date(false);
    let sent = write_until_full(&res, 16 * 1024);
    // Nothing has been sent yet (the connection task has not run).
    let mut drained = tokio_test::task::spawn(res.drained());
    assert_pending!(drained.poll());
    drained.await;
    // Sent: below the mark again.
    let w = assert_ok!(res.write(b"z"));
    assert!(w.ok);
    assert_ok!(res.end(None));
    expect(&mut c, &format!("{sent}1\r\nz\r\n0\r\n\r\n")).await;
}

#[tokio::test(start_paused = true)]
async fn drained_waits_while_the_peer_does_not_read() {
    const CHUNK: usize = 64 * 1024;
    const TOTAL: usize = 16 * 1024 * 1024;
    let mut s = start(ServerOptions::default(), Mode::Hand).await;
    // A small receive buffer, so that the kernel cannot absorb the body.
    let socket = assert_ok!(tokio::net::TcpSocket::new_v4());
    assert_ok!(socket.set_recv_buffer_size(64 * 1024));
    let mut c = assert_ok!(socket.connect(s.addr).await);
    assert_ok!(c.set_nodelay(true));
    send(&mut c, GET).await;
    let (_req, res) = s.request().await;
    res.set_send_date(false);
    let writer = tokio::spawn(async move {
        let chunk = vec![b'q'; CHUNK];
        let mut waits = 0;
        for _ in 0..TOTAL / CHUNK {
            let w = assert_ok!(res.write(&chunk));
            if !w.ok {
                waits += 1;
                res.drained().await;
            }
        }
        assert_ok!(res.end(None));
        (waits, res)
    });
    // The client reads nothing for a while: the writer must be stuck.
    tokio::time::sleep(ms(100)).await;
    assert!(
        !writer.is_finished(),
        "drained() returned with nothing read"
    );
    // "10000\r\n" + 64 KiB + "\r\n" per chunk, then "0\r\n\r\n".
    let expected_len = CHUNKED_HEAD.len() + (TOTAL / CHUNK) * (7 + CHUNK + 2) + 5;
    let mut received = 0;
    let mut buf = vec![0u8; 256 * 1024];
    while received < expected_len {
        let n = assert_ok!(c.read(&mut buf).await);
        assert!(n > 0, "closed after {received} bytes");
        received += n;
    }
    assert_eq!(received, expected_len);
    let (waits, res) = assert_ok!(writer.await);
    assert!(waits > 0);
    assert!(res.finished().await);
}

#[tokio::test(start_paused = true)]
async fn the_default_high_water_mark_is_64_kib() {
    // Checked on Node 23.5.0: res.writableHighWaterMark is 65536 and
    // write() of 1000-byte chunks first returns false at the 65th.
    assert_eq!(ServerOptions::default().high_water_mark, 65_536);
    let mut s = start(ServerOptions::default(), Mode::Hand).await;
    let mut c = s.connect().await;
    send(&mut c, GET).await;
    let (_req, res) = s.request().await;
    res.set_send_date(false);
    write_until_full(&res, 65_536);
}

// ---------------------------------------------------------------- end of input

#[tokio::test(start_paused = true)]
async fn a_request_then_a_half_close_is_answered() {
    // Checked on Node 23.5.0: a client that sends a request and shuts its
    // write side down at once gets the response of a handler that answers
    // at once (only an answer given after the 'end' is lost), then the
    // server ends the connection. `printf 'GET / ...' | nc -N` is such a
    // client.
    let s = start(ServerOptions::default(), Mode::Answer).await;
    let mut c = s.connect().await;
    send(&mut c, GET).await;
    assert_ok!(c.shutdown().await);
    assert_eq!(text(&read_until_close(&mut c).await), OK);
}

// ---------------------------------------------------------------- properties

#[tokio::test(start_paused = true)]
async fn listen_on_a_listening_server_fails_and_it_keeps_listening() {
    // Node 23.5.0 (fixtures/server/serverlisten.md): server.listen() again
    // throws ERR_SERVER_ALREADY_LISTEN; the server still answers on its
    // port.
    let s = start(ServerOptions::default(), Mode::Answer).await;
    let e = s
        .server
        .listen("127.0.0.1:0")
        .await
        .expect_err("already listening");
    let inner = e
        .get_ref()
        .and_then(|e| e.downcast_ref::<nodehttp::Error>());
    assert_eq!(
        inner.map(nodehttp::Error::code),
        Some("ERR_SERVER_ALREADY_LISTEN")
    );
    let mut c = s.connect().await;
    send(&mut c, GET).await;
    expect(&mut c, OK).await;
}

#[tokio::test(start_paused = true)]
async fn max_headers_count_is_null_and_keeps_1000_headers() {
    // Node 23.5.0 (fixtures/server/servermaxheaderscount.md):
    // server.maxHeadersCount is null, and the parser's own limit keeps the
    // first 1000 headers.
    let mut s = start(
        ServerOptions {
            max_header_size: 65_536,
            ..ServerOptions::default()
        },
        Mode::Hand,
    )
    .await;
    assert_eq!(s.server.max_headers_count(), None);
    let mut head = b"GET / HTTP/1.1\r\nHost: example\r\n".to_vec();
    for _ in 0..2000 {
        head.extend_from_slice(b"x: v\r\n");
    }
    head.extend_from_slice(b"\r\n");
    let mut c = s.connect().await;
    send(&mut c, &head).await;
    let (req, _res) = s.request().await;
    let kept = req.headers_distinct().iter().map(|(_, v)| match v {
        nodehttp::headers::HeaderValue::Multi(l) => l.len(),
        nodehttp::headers::HeaderValue::Single(_) => 1,
    });
    assert_eq!(kept.sum::<usize>(), 1000);
}

#[tokio::test(start_paused = true)]
async fn the_socket_is_detached_at_finish() {
    // Node 23.5.0 (fixtures/server/responsesocket.md): res.socket is set
    // right after end() and null once 'finish' was emitted.
    let mut s = start(ServerOptions::default(), Mode::Hand).await;
    let mut c = s.connect().await;
    send(&mut c, GET).await;
    let (_req, res) = s.request().await;
    res.set_send_date(false);
    assert_ok!(res.end(Some(b"ok")));
    assert!(res.has_socket());
    assert!(res.finished().await);
    assert!(!res.has_socket());
    expect(&mut c, OK).await;
}

#[tokio::test(start_paused = true)]
async fn close_refuses_a_connection_at_once() {
    // Node 23.5.0 (fixtures/server/serverlistening.md): right after
    // server.close(), a new connection is refused.
    let s = start(ServerOptions::default(), Mode::Answer).await;
    s.server.close();
    assert!(!s.server.listening());
    assert!(TcpStream::connect(s.addr).await.is_err());
}

// ---------------------------------------------------------------- destroy with an error

/// Destroys each request with an error in its listener's first run, then
/// reads the body; logs what it sees, in order.
struct Destroyer {
    log: std::sync::Mutex<Vec<String>>,
    changed: Notify,
}

impl Destroyer {
    fn push(&self, entry: String) {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(entry);
        self.changed.notify_waiters();
    }
}

impl Handler for Destroyer {
    async fn request(&self, req: IncomingMessage, _res: ServerResponse) {
        assert!(req.destroy_with(Some(nodehttp::Error::application("boom"))));
        let read = req.read().await;
        self.push(format!(
            "read {}",
            if read.is_err() { "error" } else { "ok" }
        ));
    }

    async fn client_error(&self, error: nodehttp::Error, _socket: Socket) {
        self.push(format!("clientError {error} ({})", error.code()));
    }
}

/// `req.destroy(error)`: the socket's error reaches `'clientError'`
/// before the request, aborted, sees its end (Node emits the socket's
/// `'error'`, then `'close'`, whose `abortIncoming` the body reader sees).
#[tokio::test]
async fn destroy_with_an_error_goes_to_client_error_before_the_abort() {
    let app = Destroyer {
        log: std::sync::Mutex::new(Vec::new()),
        changed: Notify::new(),
    };
    let server = assert_ok!(Server::new(ServerOptions::default(), app));
    let addr = assert_ok!(server.listen("127.0.0.1:0").await);
    let mut stream = assert_ok!(TcpStream::connect(addr).await);
    send(
        &mut stream,
        b"POST / HTTP/1.1\r\nHost: example\r\nContent-Length: 10\r\n\r\nabc",
    )
    .await;
    assert_eq!(read_until_close(&mut stream).await, b"");
    let app = server.handler();
    loop {
        let n = app.changed.notified();
        tokio::pin!(n);
        n.as_mut().enable();
        let log = app.log.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if log.len() == 2 {
            assert_eq!(log, ["clientError boom ()", "read error"]);
            break;
        }
        n.await;
    }
}
