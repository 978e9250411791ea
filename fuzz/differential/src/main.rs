//! Differential fuzzing of the reference against real `node:http`.
//!
//! Starts the reference's echo example and its `node:http` twin
//! (`bench/echo.mjs`), generates request streams by mutating the fixtures'
//! requests (the `requests/` of `nodehttp-fuzz-seeds`, crate fuzz/seeds), sends each
//! stream to both servers on fresh connections, and compares what comes
//! back: the bytes (with `Date` masked: the echo JSON carries method, url,
//! headers, rawHeaders, body and trailers, so equal bytes mean an equal
//! parsed message) and how the connection ended (closed, reset, or still
//! open when the answer stopped). A difference seen on three replays in a
//! row is a divergence: it is printed, grouped by the status lines of both
//! sides, and the input is saved to `--finds`.
//!
//! Each stream ends with `GET /__end HTTP/1.1` and `Connection: close`, so
//! that both servers close the connection once they have answered
//! everything; a stream that leaves a message incomplete is read until the
//! answer has been quiet for `--quiet-ms`.
//!
//! ```sh
//! cargo run --release -p nodehttp-fuzz-seeds -- --out target/fuzz-seeds
//! cargo build --release -p nodehttp --example echo
//! cd fuzz/differential && cargo run --release -- --inputs 1000000
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SENTINEL: &[u8] = b"GET /__end HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

struct Args {
    node: String,
    echo: PathBuf,
    seeds: PathBuf,
    finds: PathBuf,
    inputs: u64,
    seed: u64,
    threads: usize,
    quiet_ms: u64,
    replay: Option<PathBuf>,
    record: bool,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "error: {msg}\nusage: differential [--inputs N] [--seed S] [--threads T] [--quiet-ms MS]\n\
         \x20      [--node PATH] [--echo PATH] [--seeds DIR] [--finds DIR] [--replay FILE [--record]]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut a = Args {
        node: root
            .join(".runtimes/node-23.5.0/node_modules/.bin/node")
            .to_string_lossy()
            .into_owned(),
        echo: root.join("target/release/examples/echo"),
        seeds: root.join("target/fuzz-seeds/requests"),
        finds: root.join("target/differential-finds"),
        inputs: 10_000,
        seed: 1,
        threads: 48,
        quiet_ms: 150,
        replay: None,
        record: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        let number = |v: String| -> u64 {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{flag}: not a number: {v}")))
        };
        match flag.as_str() {
            "--node" => a.node = value(),
            "--echo" => a.echo = value().into(),
            "--seeds" => a.seeds = value().into(),
            "--finds" => a.finds = value().into(),
            "--replay" => a.replay = Some(value().into()),
            "--record" => a.record = true,
            "--inputs" => a.inputs = number(value()),
            "--seed" => a.seed = number(value()),
            "--threads" => a.threads = number(value()).max(1) as usize,
            "--quiet-ms" => a.quiet_ms = number(value()),
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    a
}

// ------------------------------------------------------------------ servers

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(mut cmd: Command, what: &str) -> Server {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| usage(&format!("cannot start {what}: {e}")));
        let out = child.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(out)
            .read_line(&mut line)
            .unwrap_or_else(|e| usage(&format!("{what}: {e}")));
        let port = line
            .strip_prefix("LISTENING ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| usage(&format!("{what} said {line:?}, not LISTENING <port>")));
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------------ exchange

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The server closed it (FIN or RST).
    Closed,
    /// Still open when the answer went quiet.
    Open,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    bytes: Vec<u8>,
    end: End,
}

fn connect(port: u16) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    // Close with RST: a million connections leave no TIME_WAIT behind.
    socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO))?;
    Ok(s)
}

/// Reads until the server closes or nothing came for `quiet`.
fn read_answer(mut s: TcpStream, quiet: Duration) -> Answer {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 65536];
    let _ = s.set_read_timeout(Some(quiet));
    let end = loop {
        match s.read(&mut buf) {
            Ok(0) => break End::Closed,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break End::Open
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break End::Closed,
        }
    };
    let _ = s.shutdown(Shutdown::Both);
    Answer {
        bytes: mask_dates(&bytes),
        end,
    }
}

/// Sends `input` to both servers at once and reads both answers.
fn exchange(ports: (u16, u16), input: &[u8], quiet: Duration) -> std::io::Result<(Answer, Answer)> {
    let mut a = connect(ports.0)?;
    let mut b = connect(ports.1)?;
    // A server may close before reading everything: a failed write is
    // part of the answer, not an error of the harness.
    let _ = a.write_all(input);
    let _ = b.write_all(input);
    Ok((read_answer(a, quiet), read_answer(b, quiet)))
}

/// An answer as the kept finds record it: the bytes (Date masked), then
/// `<eof>` if the server closed the connection or `<open>` if it went
/// quiet with the connection open.
fn transcript(a: &Answer) -> Vec<u8> {
    let mut t = a.bytes.clone();
    t.extend_from_slice(match a.end {
        End::Closed => b"<eof>",
        End::Open => b"<open>",
    });
    t
}

/// `Date: <IMF-fixdate>` becomes `Date: {{date}}`.
fn mask_dates(bytes: &[u8]) -> Vec<u8> {
    const PREFIX: &[u8] = b"\r\nDate: ";
    const LEN: usize = 29;
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(PREFIX) && bytes.len() >= i + PREFIX.len() + LEN {
            out.extend_from_slice(PREFIX);
            out.extend_from_slice(b"{{date}}");
            i += PREFIX.len() + LEN;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The status codes of the responses in an answer, for grouping.
fn statuses(bytes: &[u8]) -> String {
    let mut codes = Vec::new();
    let mut i = 0;
    while let Some(at) = find(&bytes[i..], b"HTTP/1.1 ") {
        let start = i + at + 9;
        if let Some(code) = bytes.get(start..start + 3) {
            if code.iter().all(u8::is_ascii_digit) {
                codes.push(String::from_utf8_lossy(code).into_owned());
            }
        }
        i = start;
    }
    codes.join(",")
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ------------------------------------------------------------------ inputs

/// xorshift64*: the same inputs for the same `--seed`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INSERTS: &[&[u8]] = &[
    b"\r", b"\n", b" ", b"\t", b"\r\n", b"\r\n ", b"\r\n\t", b"\0", b"\x80", b"\xff", b"\x7f",
    b"\x0b", b"\x0c", b":", b";", b",", b"\"", b"\\", b"%", b"#", b"?", b"/", b"=",
];

const HEADERS: &[&[u8]] = &[
    b"Content-Length: 5",
    b"Content-Length: 0",
    b"Content-Length: +5",
    b"Content-Length: 5, 5",
    b"Content-Length: 05",
    b"Content-Length:  5 ",
    b"Content-Length: -1",
    b"Content-Length: 99999999999999999999",
    b"Content-Length: 0x5",
    b"Content-Length: 5 5",
    b"Content-Length:5",
    b"Content-Length : 5",
    b"content-length: 3",
    b"Content-Length: 18446744073709551615",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: Chunked",
    b"Transfer-Encoding: gzip, chunked",
    b"Transfer-Encoding: chunked, gzip",
    b"Transfer-Encoding: gzip",
    b"Transfer-Encoding: identity",
    b"Transfer-Encoding : chunked",
    b"Transfer-Encoding: \x0bchunked",
    b"Transfer-Encoding: chunked ",
    b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
    b"Transfer-Encoding:chunked",
    b"Transfer-Encoding: xchunked",
    b"Transfer-Encoding: chunkedx",
    b"Transfer-Encoding: chunked,",
    b"Connection: close",
    b"Connection: keep-alive",
    b"Connection: upgrade",
    b"Connection: Close, x",
    b"Upgrade: websocket",
    b"Expect: 100-continue",
    b"Expect: 100-Continue",
    b"Expect: nope",
    b"Host: a",
    b"Host:",
    b"host: b",
    b"Host: a\r\nHost: b",
    b"X-A: 1",
    b"x-a: 2",
    b"X-A:",
    b"Set-Cookie: a=1",
    b"Cookie: c=1",
    b"X-Folded: a\r\n b",
    b"X-Obs: a\r\n\tb",
    b"X-Latin: \xe9\xff",
    b"X-Nul: a\0b",
    b"X-Ctl: a\x01b",
    b" X-Lead: a",
    b"X-Sp : a",
    b"X\tTab: a",
    b"X-Empty:",
    b"Trailer: X-T",
    b"TE: trailers",
    b"Age: 1\r\nAge: 2",
];

const BODIES: &[&[u8]] = &[
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5;ext=1\r\nhello\r\n0\r\n\r\n",
    b"0005\r\nhello\r\n0\r\n\r\n",
    b"5 \r\nhello\r\n0\r\n\r\n",
    b"fffffffffffffffff\r\n",
    b"5\nhello\n0\n\n",
    b"5\r\nhelloXX\r\n0\r\n\r\n",
    b"0\r\nT: v\r\n\r\n",
    b"-5\r\n",
    b"5\r\nhello\r\n0\r\nT:v\r\nBad Trailer\r\n\r\n",
    b"A\r\n0123456789\r\n0\r\n\r\n",
    b"a\r\n0123456789\r\n0\r\n\r\n",
    b"5;a=\"b\"\r\nhello\r\n0\r\n\r\n",
    b"5;\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhello\r\n0\r\nT: v\r\n T2\r\n\r\n",
    b"0\r\n\r",
    b"0\r\n",
    b"5\r\nhel",
    b"hello",
    b"",
    b"5\r\nhello\r\n0;x\r\n\r\n",
    b"0x5\r\nhello\r\n0\r\n\r\n",
    b"5\r\n\xe9\xff\x80\xc3\xa9\r\n0\r\n\r\n",
    b"1\r\n\0\r\n0\r\nSet-Cookie: a\r\nset-cookie: b\r\n\r\n",
];

const METHODS: &[&[u8]] = &[
    b"GET",
    b"HEAD",
    b"POST",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"CONNECT",
    b"TRACE",
    b"PATCH",
    b"PROPFIND",
    b"SEARCH",
    b"QUERY",
    b"get",
    b"G",
    b"MKCOL",
    b"LINK",
    b"PURGE",
    b"ACL",
    b"SOURCE",
    b"PRI",
    b"GETX",
    b"M-SEARCH",
    b"UNLINK",
    b"REPORT",
    b"LOCK",
    b"BIND",
    b"HTTP/1.1",
];

const VERSIONS: &[&[u8]] = &[
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"HTTP/0.9",
    b"HTTP/2.0",
    b"HTTP/1.2",
    b"HTTP/1.10",
    b"http/1.1",
    b"HTTP/11",
    b"HTTP/1.1 ",
    b"HTTP/3.0",
    b"HTTP/1",
    b"HTTP/9.9",
    b"HTTP/1.1\r",
    b"",
];

const URLS: &[&[u8]] = &[
    b"/",
    b"*",
    b"/a?b=c#d",
    b"http://h/p",
    b"/\x80",
    b"/%00",
    b"/a b",
    b"//x",
    b"/status/204",
    b"/status/304",
    b"/status/101",
    b"/chunked",
    b"/trailers",
    b"/big/70000",
    b"/\x7f",
    b"/a\tb",
    b"h:1",
    b"/?",
    b"/;",
    b"/{}|^`",
];

/// The head of `req` ends where its first empty line is.
fn head_end(req: &[u8]) -> usize {
    find(req, b"\r\n\r\n").map_or(req.len(), |i| i + 2)
}

/// Applies one mutation to `req`.
fn mutate(rng: &mut Rng, req: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let head = head_end(req);
    match rng.below(11) {
        0 if !req.is_empty() => {
            let i = rng.below(req.len());
            req[i] ^= 1 << rng.below(8);
        }
        1 | 2 => {
            // In the head mostly: that is where the parser is.
            let at = if rng.below(4) == 0 {
                rng.below(req.len() + 1)
            } else {
                rng.below(head + 1)
            };
            let ins: &[u8] = INSERTS[rng.below(INSERTS.len())];
            req.splice(at..at, ins.iter().copied());
        }
        3 => {
            // Duplicate a header line.
            let lines: Vec<usize> = (0..head).filter(|&i| req[i] == b'\n').collect();
            if lines.len() >= 2 {
                let k = rng.below(lines.len() - 1);
                let (s, e) = (lines[k] + 1, lines[k + 1] + 1);
                let line = req[s..e].to_vec();
                req.splice(e..e, line);
            }
        }
        4 | 5 => {
            // Insert a header after the request line (or at the end of the head).
            let first = find(req, b"\r\n").map_or(req.len(), |i| i + 2);
            let at = if rng.below(2) == 0 {
                first
            } else {
                head.max(first).min(req.len())
            };
            let mut h = HEADERS[rng.below(HEADERS.len())].to_vec();
            h.extend_from_slice(b"\r\n");
            req.splice(at.min(req.len())..at.min(req.len()), h);
        }
        6 => {
            // A chunked body, with or without the header.
            let head = head_end(req);
            req.truncate(head + 2);
            if req.len() < head + 2 {
                req.extend_from_slice(b"\r\n");
            }
            if rng.below(3) != 0 {
                req.splice(
                    head..head,
                    b"Transfer-Encoding: chunked\r\n".iter().copied(),
                );
            }
            req.extend_from_slice(BODIES[rng.below(BODIES.len())]);
        }
        7 => {
            // Method, url or version.
            let line_end = find(req, b"\r\n").unwrap_or(req.len());
            let line = req[..line_end].to_vec();
            let parts: Vec<&[u8]> = line.splitn(3, |&b| b == b' ').collect();
            if parts.len() == 3 {
                let mut method = parts[0];
                let mut url = parts[1];
                let mut version = parts[2];
                match rng.below(3) {
                    0 => method = METHODS[rng.below(METHODS.len())],
                    1 => url = URLS[rng.below(URLS.len())],
                    _ => version = VERSIONS[rng.below(VERSIONS.len())],
                }
                let new = [method, url, version].join(&b' ');
                req.splice(..line_end, new);
            }
        }
        8 if !req.is_empty() => {
            let s = rng.below(req.len());
            let e = (s + 1 + rng.below(8)).min(req.len());
            req.drain(s..e);
        }
        9 => {
            // Pipeline another request behind.
            req.extend_from_slice(&seeds[rng.below(seeds.len())]);
        }
        _ => {
            // Line endings: one CRLF becomes LF or CR.
            let crlfs: Vec<usize> = (0..req.len().saturating_sub(1))
                .filter(|&i| &req[i..i + 2] == b"\r\n")
                .collect();
            if !crlfs.is_empty() {
                let i = crlfs[rng.below(crlfs.len())];
                if rng.below(2) == 0 {
                    req.remove(i);
                } else {
                    req.remove(i + 1);
                }
            }
        }
    }
}

fn generate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut req = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(3) {
        mutate(rng, &mut req, seeds);
    }
    req.extend_from_slice(SENTINEL);
    req
}

/// The fixture requests a server can answer without a handler of its
/// own: no timing and no pieces (the stream goes in one write).
fn load_seeds(dir: &Path) -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| {
            usage(&format!(
                "{}: {e} (run `cargo run -p nodehttp-fuzz-seeds -- --out DIR` first)",
                dir.display()
            ))
        })
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .filter(|r| !r.is_empty() && r.len() < 8192)
        .collect();
    seeds.sort();
    seeds.dedup();
    if seeds.is_empty() {
        usage(&format!("no seed in {}", dir.display()));
    }
    seeds
}

/// Names of `Object.prototype` members: as a request header they make
/// Node 23.5.0's `req.headersDistinct` throw (`dest[field].push is not a
/// function`), an uncaught exception that ends the Node process. The
/// reference keeps them as ordinary names (a documented difference, see
/// `nodehttp::headers::HeaderMap::distinct_from_raw`); such inputs are
/// skipped.
const PROTOTYPE_NAMES: &[&str] = &[
    "__proto__",
    "constructor",
    "__definegetter__",
    "__definesetter__",
    "hasownproperty",
    "__lookupgetter__",
    "__lookupsetter__",
    "isprototypeof",
    "propertyisenumerable",
    "tostring",
    "valueof",
    "tolocalestring",
];

fn crashes_node(input: &[u8]) -> bool {
    let lower = input.to_ascii_lowercase();
    lower.split(|&b| b == b'\n').any(|line| {
        let line = line.strip_prefix(b"\r").unwrap_or(line);
        PROTOTYPE_NAMES.iter().any(|n| {
            line.starts_with(n.as_bytes())
                && line[n.len()..].iter().find(|&&b| b != b' ' && b != b'\t') == Some(&b':')
        })
    })
}

// ------------------------------------------------------------------ main

struct Divergence {
    count: u64,
    example: Vec<u8>,
    reference: Answer,
    node: Answer,
}

fn show(bytes: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned();
    format!("{s:?}{}", if bytes.len() > max { "..." } else { "" })
}

/// Compares twice more on fresh connections: a difference must hold.
fn confirmed(ports: (u16, u16), input: &[u8], quiet: Duration) -> bool {
    (0..2).all(|_| match exchange(ports, input, quiet * 2) {
        Ok((a, b)) => a != b,
        Err(_) => false,
    })
}

fn main() {
    let args = parse_args();
    let quiet = Duration::from_millis(args.quiet_ms);
    let reference = Server::start(Command::new(&args.echo), "the reference echo example");
    let echo_mjs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/echo.mjs");
    let mut node_cmd = Command::new(&args.node);
    node_cmd.arg(&echo_mjs);
    let node = Server::start(node_cmd, "node");
    let ports = (reference.port, node.port);

    if let Some(file) = &args.replay {
        let input =
            std::fs::read(file).unwrap_or_else(|e| usage(&format!("{}: {e}", file.display())));
        let (a, b) = exchange(ports, &input, quiet).unwrap_or_else(|e| usage(&e.to_string()));
        println!("input:     {}", show(&input, 4000));
        println!("reference: {:?} {}", a.end, show(&a.bytes, 4000));
        println!("node:      {:?} {}", b.end, show(&b.bytes, 4000));
        if let Some(at) = a
            .bytes
            .iter()
            .zip(&b.bytes)
            .position(|(x, y)| x != y)
            .or((a.bytes.len() != b.bytes.len()).then(|| a.bytes.len().min(b.bytes.len())))
        {
            let from = at.saturating_sub(80);
            println!("first difference at byte {at}:");
            println!(
                "  reference: {}",
                show(&a.bytes[from.min(a.bytes.len())..], 600)
            );
            println!(
                "  node:      {}",
                show(&b.bytes[from.min(b.bytes.len())..], 600)
            );
        }
        if args.record {
            let to = file.with_extension("node");
            std::fs::write(&to, transcript(&b))
                .unwrap_or_else(|e| usage(&format!("{}: {e}", to.display())));
        }
        let code = i32::from(a != b);
        drop((reference, node));
        std::process::exit(code);
    }

    let seeds = Arc::new(load_seeds(&args.seeds));
    let next = Arc::new(AtomicU64::new(0));
    let open = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let skipped = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let found: Arc<Mutex<BTreeMap<String, Divergence>>> = Arc::default();
    let started = Instant::now();
    eprintln!(
        "{} seeds; reference on {}, node on {}; {} inputs, {} threads",
        seeds.len(),
        ports.0,
        ports.1,
        args.inputs,
        args.threads
    );
    let workers: Vec<_> = (0..args.threads)
        .map(|_| {
            let (stop, skipped) = (stop.clone(), skipped.clone());
            let (seeds, next, open, errors, found) = (
                seeds.clone(),
                next.clone(),
                open.clone(),
                errors.clone(),
                found.clone(),
            );
            let (total, seed) = (args.inputs, args.seed);
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return;
                }
                if i % 50_000 == 0 && i > 0 {
                    let s = started.elapsed().as_secs_f64();
                    eprintln!(
                        "{i} inputs, {:.0}/s, {} kinds of divergence",
                        i as f64 / s,
                        found.lock().map_or(0, |f| f.len())
                    );
                }
                let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    ^ (i + 1).wrapping_mul(0xd1b5_4a32_d192_ed03));
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let input = generate(&mut rng, &seeds);
                if crashes_node(&input) {
                    skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let (a, b) = match exchange(ports, &input, quiet) {
                    Ok(x) => x,
                    Err(e) => {
                        if e.kind() == ErrorKind::ConnectionRefused {
                            // A server died: what killed it is the find.
                            if !stop.swap(true, Ordering::Relaxed) {
                                eprintln!(
                                    "a server stopped listening (input {i}: {})",
                                    show(&input, 2000)
                                );
                            }
                            return;
                        }
                        errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                };
                if a.end == End::Open {
                    open.fetch_add(1, Ordering::Relaxed);
                }
                if a == b || !confirmed(ports, &input, quiet) {
                    continue;
                }
                let key = format!(
                    "reference [{}] {:?} / node [{}] {:?}",
                    statuses(&a.bytes),
                    a.end,
                    statuses(&b.bytes),
                    b.end
                );
                let mut f = found.lock().expect("not poisoned");
                let d = f.entry(key).or_insert_with(|| Divergence {
                    count: 0,
                    example: Vec::new(),
                    reference: a.clone(),
                    node: b.clone(),
                });
                d.count += 1;
                if d.example.is_empty() || d.example.len() > input.len() {
                    (d.example, d.reference, d.node) = (input, a, b);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    if stop.load(Ordering::Relaxed) {
        drop((reference, node));
        std::process::exit(3);
    }
    let secs = started.elapsed().as_secs_f64();
    let found = found.lock().expect("not poisoned");
    let _ = std::fs::create_dir_all(&args.finds);
    for (n, (key, d)) in found.iter().enumerate() {
        let file = args.finds.join(format!("divergence-{n}"));
        let _ = std::fs::write(&file, &d.example);
        // Node's answer beside it, as the regression test reads it.
        let _ = std::fs::write(file.with_extension("node"), transcript(&d.node));
        println!(
            "DIVERGENCE x{}: {key}\n  input ({}): {}",
            d.count,
            file.display(),
            show(&d.example, 600)
        );
        println!(
            "  reference {:?}: {}",
            d.reference.end,
            show(&d.reference.bytes, 600)
        );
        println!("  node      {:?}: {}", d.node.end, show(&d.node.bytes, 600));
    }
    println!(
        "{} inputs in {secs:.1} s ({:.0}/s); {} skipped (they crash node); {} left a message open; {} connection errors; {} kinds of divergence",
        args.inputs,
        args.inputs as f64 / secs,
        skipped.load(Ordering::Relaxed),
        open.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        found.len()
    );
    let code = i32::from(!found.is_empty());
    drop((reference, node));
    std::process::exit(code);
}
