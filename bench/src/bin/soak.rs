//! `just soak`: the reliability harness. The reference's echo example and
//! Node 23.5.0 running `bench/echo.mjs` (the same server in `node:http`)
//! go through the same tests in the same run, each on a fresh process,
//! and every test prints its figures side by side:
//!
//! 1. slowloris: trickling connections that never finish their heads,
//!    beside a well-behaved client (its success rate and latency);
//! 2. idle connections: memory per connection, descriptors back after;
//! 3. slow readers and uploads: peak memory against what is in flight;
//! 4. a pipelining flood written without reading: bounded memory, every
//!    response in order;
//! 5. resets at every stage of an exchange under wrk load: no error in the
//!    normal traffic, checksummed bodies echoed exactly;
//! 6. malformed input on fresh connections: the answers compared with
//!    Node's;
//! 7. the descriptor limit: connections over it closed at once, no busy
//!    loop, service back once descriptors are free.
//!
//! After each test the server must be alive with its descriptors back to
//! the count before the test and its memory back near it. Everything is
//! on 127.0.0.1, bounded in count and time (`--short` for CI: under a
//! minute). The exit status is 1 when a criterion fails for the
//! reference (Node's figures are for comparison only).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use nodehttp_bench::process::{
    fd_count, machine, proc_cpu, raise_fd_limit, status_kib, version, Server,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
#[command(
    name = "soak",
    about = "Reliability tests of the reference against Node"
)]
struct Args {
    /// The short version (CI): smaller counts, shorter runs.
    #[arg(long)]
    short: bool,
    /// The reference's echo example.
    #[arg(long, default_value = "target/release/examples/echo")]
    echo: String,
    /// Node (23.5.0), to run bench/echo.mjs.
    #[arg(long, default_value = ".runtimes/node-23.5.0/node_modules/.bin/node")]
    node: String,
    /// wrk, for the load of the resets test.
    #[arg(long, default_value = "wrk")]
    wrk: String,
    /// Run only these tests (slowloris, idle, slow, pipeline, resets,
    /// malformed, fdlimit); repeatable.
    #[arg(long)]
    only: Vec<String>,
}

/// The counts and durations of one run.
struct Plan {
    slowloris: usize,
    slowloris_secs: u64,
    idle: usize,
    readers: usize,
    reader_body: usize,
    uploads: usize,
    upload_size: usize,
    pipelined: usize,
    resets_secs: u64,
    malformed: usize,
}

impl Plan {
    fn new(short: bool) -> Plan {
        if short {
            Plan {
                slowloris: 200,
                slowloris_secs: 3,
                idle: 1000,
                readers: 8,
                reader_body: 1 << 20,
                uploads: 1,
                upload_size: 32 << 20,
                pipelined: 20_000,
                resets_secs: 3,
                malformed: 600,
            }
        } else {
            Plan {
                slowloris: 2000,
                slowloris_secs: 20,
                idle: 10_000,
                readers: 50,
                reader_body: 4 << 20,
                uploads: 2,
                upload_size: 256 << 20,
                pipelined: 200_000,
                resets_secs: 20,
                malformed: 20_000,
            }
        }
    }
}

// ---------------------------------------------------------------- targets

#[derive(Clone)]
struct Target {
    name: &'static str,
    program: String,
    args: Vec<String>,
}

/// A target's server for one test, with its stderr in a file.
struct Sut {
    name: &'static str,
    server: Server,
    stderr: PathBuf,
    addr: SocketAddr,
}

impl Sut {
    fn start(t: &Target, flags: &[&str], nofile: Option<u64>, test: &str) -> Result<Sut, String> {
        let stderr = std::env::temp_dir().join(format!(
            "nodehttp-soak-{}-{}-{test}.stderr",
            std::process::id(),
            t.name
        ));
        let file = std::fs::File::create(&stderr).map_err(|e| e.to_string())?;
        let mut args = t.args.clone();
        args.extend(flags.iter().map(|f| f.to_string()));
        let server = Server::start(t.name, &t.program, &args, nofile, Stdio::from(file))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], server.port));
        Ok(Sut {
            name: t.name,
            server,
            stderr,
            addr,
        })
    }

    fn pid(&self) -> u32 {
        self.server.pid()
    }

    fn rss(&self) -> f64 {
        status_kib(self.pid(), "VmRSS:")
    }

    fn fds(&self) -> usize {
        fd_count(self.pid())
    }

    /// Alive, and no panic in what it printed.
    fn healthy(&mut self) -> bool {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        self.server.alive() && !text.contains("panicked")
    }

    /// Memory and descriptors before a test, after warm-up requests.
    fn baseline(&self, rt: &tokio::runtime::Runtime) -> Baseline {
        for path in ["/status/200", "/big/65536", "/echo"] {
            let req = format!("POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi");
            let _ = rt.block_on(exchange(self.addr, req.as_bytes()));
        }
        std::thread::sleep(Duration::from_millis(200));
        Baseline {
            rss: self.rss(),
            fds: self.fds(),
        }
    }

    /// After a test: wait (up to 5 s) for the descriptors to come back to
    /// the baseline, then read memory after two of the reference's
    /// `--malloc-trim` (every 250 ms).
    fn settle(&self, base: &Baseline) -> Baseline {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.fds() > base.fds && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(600));
        Baseline {
            rss: self.rss(),
            fds: self.fds(),
        }
    }
}

impl Drop for Sut {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.stderr);
    }
}

#[derive(Clone, Copy)]
struct Baseline {
    /// KiB.
    rss: f64,
    fds: usize,
}

/// Polls a process's RSS every 10 ms; the largest seen.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<f64>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak: f64 = 0.0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(status_kib(pid, "VmRSS:"));
                std::thread::sleep(Duration::from_millis(10));
            }
            peak.max(status_kib(pid, "VmRSS:"))
        });
        Sampler { stop, thread }
    }

    fn peak(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or(0.0)
    }
}

// ---------------------------------------------------------------- report

/// One test's figures for both targets and the reference's criteria.
struct Report {
    title: String,
    rows: Vec<(String, Vec<String>)>,
    checks: Vec<(String, bool)>,
}

impl Report {
    fn new(title: impl Into<String>) -> Report {
        Report {
            title: title.into(),
            rows: Vec::new(),
            checks: Vec::new(),
        }
    }

    /// A figure for each target, in the order of the targets.
    fn row(&mut self, label: &str, values: Vec<String>) {
        self.rows.push((label.to_string(), values));
    }

    /// One row per label, from each target's column of figures.
    fn columns(&mut self, labels: &[&str], cols: &[Vec<String>]) {
        for (i, label) in labels.iter().enumerate() {
            self.row(label, cols.iter().map(|c| c[i].clone()).collect());
        }
    }

    fn check(&mut self, what: impl Into<String>, ok: bool) {
        self.checks.push((what.into(), ok));
    }

    /// The checks every test makes: alive, no panic, descriptors and
    /// memory back near the baseline.
    fn back_to_baseline(&mut self, sut: &mut Sut, base: &Baseline, peak: f64, after: &Baseline) {
        self.check(format!("{}: alive, no panic", sut.name), sut.healthy());
        self.check(
            format!(
                "{}: descriptors back to the baseline ({} -> {})",
                sut.name, base.fds, after.fds
            ),
            after.fds <= base.fds,
        );
        self.check(
            format!(
                "{}: memory back near the baseline ({} -> {}, peak {})",
                sut.name,
                mib(base.rss),
                mib(after.rss),
                mib(peak)
            ),
            returned(base.rss, peak, after.rss),
        );
    }

    fn print(&self, names: &[&str]) -> bool {
        let mut out = String::new();
        let _ = writeln!(out, "\n== {}\n", self.title);
        let _ = writeln!(out, "| figure | {} |", names.join(" | "));
        let _ = writeln!(out, "|---|{}", "---:|".repeat(names.len()));
        for (label, values) in &self.rows {
            let _ = writeln!(out, "| {label} | {} |", values.join(" | "));
        }
        let mut ok = true;
        out.push('\n');
        for (what, pass) in &self.checks {
            ok &= pass;
            let _ = writeln!(out, "  {} {what}", if *pass { "ok  " } else { "FAIL" });
        }
        print!("{out}");
        ok
    }
}

/// Memory counts as back when what remains above the baseline is at most
/// 6 MiB, or a quarter of the test's growth: memory the allocator keeps
/// for reuse in pages it cannot give back. What remains after the resets
/// test does not grow with it (2.4 to 4.4 MiB after 3 s and 3,400 reset
/// connections, 4.7 MiB after 20 s and 21,300: a leak of even 200 bytes a
/// connection would show), and varies from run to run between 2.4 and
/// 4.4 MiB on the same build, so a 4 MiB bound failed one run in two.
fn returned(base: f64, peak: f64, after: f64) -> bool {
    after - base <= 6144.0_f64.max((peak - base) * 0.25)
}

/// The descriptors and the memory before and after a test, as figures.
fn before_after(base: &Baseline, after: &Baseline) -> [String; 2] {
    [
        format!("{} / {}", base.fds, after.fds),
        format!("{} / {}", mib(base.rss), mib(after.rss)),
    ]
}

fn mib(kib: f64) -> String {
    format!("{:.1} MiB", kib / 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

// ---------------------------------------------------------------- HTTP

/// A response read whole (Content-Length framing).
struct Response {
    status: u16,
    body: Vec<u8>,
}

/// Read one response from `s`, whose unread bytes start in `buf`.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Response, String> {
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status = head
                .get(9..12)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("bad status line: {:?}", head.lines().next()))?;
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .ok_or("no Content-Length")?;
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("closed in a body".into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            return Ok(Response { status, body });
        }
        let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before a response".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One request on a fresh connection, its response (2 s at most).
async fn exchange(addr: SocketAddr, req: &[u8]) -> Result<Response, String> {
    tokio::time::timeout(Duration::from_secs(2), async {
        let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        s.write_all(req).await.map_err(|e| e.to_string())?;
        read_response(&mut s, &mut Vec::new()).await
    })
    .await
    .map_err(|_| "timed out".to_string())?
}

/// Close with a TCP reset (SO_LINGER 0: the close does not block).
fn reset(s: TcpStream) {
    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
    drop(s);
}

/// A deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `n` bytes of `a`..`z` cycling: the echo's `/big/<n>` body.
fn big_ok(body: &[u8], n: usize) -> bool {
    body.len() == n
        && body
            .iter()
            .enumerate()
            .all(|(i, &b)| b == b'a' + (i % 26) as u8)
}

// ---------------------------------------------------------------- tests

struct Ctx {
    targets: Vec<Target>,
    plan: Plan,
    rt: tokio::runtime::Runtime,
    wrk: String,
}

impl Ctx {
    fn names(&self) -> Vec<&str> {
        self.targets.iter().map(|t| t.name).collect()
    }
}

/// 1. Slowloris.
fn slowloris(cx: &Ctx) -> Result<Report, String> {
    let p = &cx.plan;
    let mut r = Report::new(format!(
        "slowloris: {} connections trickling a head (a byte every 500 ms, reconnecting when closed) for {} s, \
         headersTimeout 3 s (checked every 500 ms); a well-behaved client beside them, a request every 20 ms on a fresh connection",
        p.slowloris, p.slowloris_secs
    ));
    let mut cols: Vec<Vec<String>> = Vec::new();
    for t in &cx.targets {
        let flags = [
            "--headers-timeout",
            "3000",
            "--connections-checking-interval",
            "500",
        ];
        let mut sut = Sut::start(t, &flags, None, "slowloris")?;
        let base = sut.baseline(&cx.rt);
        let sampler = Sampler::start(sut.pid());
        let addr = sut.addr;
        let secs = p.slowloris_secs;
        let n = p.slowloris;
        let (open_max, timeouts, mut lat, failures) = cx.rt.block_on(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
            let open = Arc::new(AtomicU64::new(0));
            let open_max = Arc::new(AtomicU64::new(0));
            let timeouts = Arc::new(AtomicU64::new(0));
            let mut tasks = Vec::new();
            for i in 0..n {
                let (open, open_max, timeouts) = (open.clone(), open_max.clone(), timeouts.clone());
                tasks.push(tokio::spawn(async move {
                    // Spread the connects over the first second.
                    tokio::time::sleep(Duration::from_micros((i as u64 * 1_000_000) / n as u64))
                        .await;
                    while tokio::time::Instant::now() < deadline {
                        let Ok(mut s) = TcpStream::connect(addr).await else {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        };
                        let now = open.fetch_add(1, Ordering::Relaxed) + 1;
                        open_max.fetch_max(now, Ordering::Relaxed);
                        let mut ok = s
                            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
                            .await
                            .is_ok();
                        let mut buf = [0u8; 256];
                        while ok && tokio::time::Instant::now() < deadline {
                            tokio::select! {
                                got = s.read(&mut buf) => {
                                    if let Ok(n) = got {
                                        if buf[..n].starts_with(b"HTTP/1.1 408") {
                                            timeouts.fetch_add(1, Ordering::Relaxed);
                                        }
                                    }
                                    ok = false;
                                }
                                _ = tokio::time::sleep(Duration::from_millis(500)) => {
                                    ok = s.write_all(b"a").await.is_ok();
                                }
                            }
                        }
                        open.fetch_sub(1, Ordering::Relaxed);
                    }
                }));
            }
            // The well-behaved client, from the second second on.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut lat = Vec::new();
            let mut failures = 0u64;
            while tokio::time::Instant::now() < deadline {
                let start = Instant::now();
                match exchange(addr, b"GET /status/200 HTTP/1.1\r\nHost: a\r\n\r\n").await {
                    Ok(resp) if resp.status == 200 => lat.push(start.elapsed()),
                    _ => failures += 1,
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            for t in tasks {
                let _ = t.await;
            }
            (
                open_max.load(Ordering::Relaxed),
                timeouts.load(Ordering::Relaxed),
                lat,
                failures,
            )
        });
        let peak = sampler.peak();
        let after = sut.settle(&base);
        let total = lat.len() as u64 + failures;
        let rate = 100.0 * lat.len() as f64 / total.max(1) as f64;
        let mut col = vec![
            open_max.to_string(),
            timeouts.to_string(),
            total.to_string(),
            format!("{rate:.2} %"),
            ms(percentile(&mut lat, 0.5)),
            ms(percentile(&mut lat, 0.99)),
            mib(peak - base.rss),
        ];
        col.extend(before_after(&base, &after));
        cols.push(col);
        if t.name == "reference" {
            r.check(
                format!(
                    "reference: every well-behaved request served ({failures} failed of {total})"
                ),
                failures == 0 && total > 0,
            );
            r.check(
                "reference: trickling heads time out (408s seen)",
                timeouts > 0,
            );
            r.back_to_baseline(&mut sut, &base, peak, &after);
        }
    }
    r.columns(
        &[
            "trickling connections open at once (most)",
            "408s the trickling connections got",
            "well-behaved requests",
            "well-behaved success",
            "well-behaved p50 (connect + request)",
            "well-behaved p99",
            "peak memory over the baseline",
            "descriptors before / after",
            "memory before / after",
        ],
        &cols,
    );
    Ok(r)
}

/// Open `n` connections with one request answered on each.
async fn open_idle(addr: SocketAddr, n: usize) -> Result<Vec<TcpStream>, String> {
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let permit = sem
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        tasks.push(tokio::spawn(async move {
            let r = async {
                let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
                s.write_all(b"GET /status/200 HTTP/1.1\r\nHost: a\r\n\r\n")
                    .await
                    .map_err(|e| e.to_string())?;
                read_response(&mut s, &mut Vec::new()).await?;
                Ok::<_, String>(s)
            }
            .await;
            drop(permit);
            r
        }));
    }
    let mut conns = Vec::with_capacity(n);
    for t in tasks {
        conns.push(t.await.map_err(|e| e.to_string())??);
    }
    Ok(conns)
}

/// 2. Idle connections.
fn idle(cx: &Ctx) -> Result<Report, String> {
    let n = cx.plan.idle;
    let mut r = Report::new(format!(
        "idle connections: {n} keep-alive connections, one request answered on each, held (keepAliveTimeout 120 s), then closed"
    ));
    let mut per: Vec<f64> = Vec::new();
    let mut cols: Vec<Vec<String>> = Vec::new();
    for t in &cx.targets {
        let mut sut = Sut::start(t, &["--keep-alive-timeout", "120000"], None, "idle")?;
        let base = sut.baseline(&cx.rt);
        let conns = cx.rt.block_on(open_idle(sut.addr, n))?;
        std::thread::sleep(Duration::from_millis(500));
        let with = sut.rss();
        let fds_with = sut.fds();
        drop(conns);
        let after = sut.settle(&base);
        let kib = (with - base.rss) / n as f64;
        per.push(kib);
        cols.push(vec![
            mib(base.rss),
            mib(with),
            format!("{kib:.2} KiB"),
            format!("{} / {} / {}", base.fds, fds_with, after.fds),
            mib(after.rss),
        ]);
        if t.name == "reference" {
            r.back_to_baseline(&mut sut, &base, with, &after);
        }
    }
    if let (Some(&refr), Some(&node)) = (per.first(), per.get(1)) {
        r.check(
            format!(
                "reference: memory per idle connection below Node's ({refr:.2} < {node:.2} KiB)"
            ),
            refr < node,
        );
    }
    r.columns(
        &[
            "memory before",
            "memory with the connections",
            "memory per connection",
            "descriptors before / with / after",
            "memory after",
        ],
        &cols,
    );
    Ok(r)
}

/// Run `n` clients made by `client` at once; how many did not end with
/// `Ok(true)`.
async fn failures<F>(n: usize, client: impl Fn() -> F) -> usize
where
    F: std::future::Future<Output = Result<bool, String>> + Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(client())).collect();
    let mut bad = 0;
    for t in tasks {
        if !matches!(t.await, Ok(Ok(true))) {
            bad += 1;
        }
    }
    bad
}

/// 3. Slow readers, then uploads.
fn slow(cx: &Ctx) -> Result<Report, String> {
    let p = &cx.plan;
    let (readers, body, uploads, size) = (p.readers, p.reader_body, p.uploads, p.upload_size);
    let mut r = Report::new(format!(
        "slow readers and uploads: {readers} clients each reading a {} body at 64 KiB per 20 ms; \
         then {uploads} upload(s) of {} at full speed to a handler that reads and drops them (highWaterMark 16 KiB)",
        mib((body / 1024) as f64),
        mib((size / 1024) as f64)
    ));
    let mut cols: Vec<Vec<String>> = Vec::new();
    for t in &cx.targets {
        let mut sut = Sut::start(t, &[], None, "slow")?;
        let base = sut.baseline(&cx.rt);
        let addr = sut.addr;
        // Slow readers.
        let sampler = Sampler::start(sut.pid());
        let bad_readers = cx.rt.block_on(failures(readers, move || async move {
            let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            s.set_recv_buffer_size_hint();
            let req = format!("GET /big/{body} HTTP/1.1\r\nHost: a\r\n\r\n");
            s.write_all(req.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let mut got = Vec::new();
            let mut chunk = vec![0u8; 64 * 1024];
            let head_end = loop {
                let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("closed".to_string());
                }
                got.extend_from_slice(&chunk[..n]);
                if let Some(e) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                    break e + 4;
                }
            };
            while got.len() < head_end + body {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("closed in the body".to_string());
                }
                got.extend_from_slice(&chunk[..n]);
            }
            Ok(big_ok(&got[head_end..], body))
        }));
        let reader_peak = sampler.peak();
        // Uploads.
        let sampler = Sampler::start(sut.pid());
        let start = Instant::now();
        let bad_uploads = cx.rt.block_on(failures(uploads, move || async move {
            let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            let head =
                format!("POST /discard HTTP/1.1\r\nHost: a\r\nContent-Length: {size}\r\n\r\n");
            s.write_all(head.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let block = vec![b'u'; 64 * 1024];
            let mut left = size;
            while left > 0 {
                let n = left.min(block.len());
                s.write_all(&block[..n]).await.map_err(|e| e.to_string())?;
                left -= n;
            }
            let resp = read_response(&mut s, &mut Vec::new()).await?;
            Ok(resp.status == 200 && resp.body == size.to_string().as_bytes())
        }));
        let upload_time = start.elapsed();
        let upload_peak = sampler.peak();
        let after = sut.settle(&base);
        let per_reader = (reader_peak - base.rss) / readers as f64;
        let mut col = vec![
            format!("{}", readers - bad_readers),
            mib(reader_peak - base.rss),
            format!("{:.0} KiB", per_reader),
            format!("{}", uploads - bad_uploads),
            format!(
                "{:.0} MiB/s",
                (uploads * size) as f64 / 1048576.0 / upload_time.as_secs_f64()
            ),
            mib(upload_peak - base.rss),
        ];
        col.extend(before_after(&base, &after));
        cols.push(col);
        if t.name == "reference" {
            r.check(
                format!(
                    "reference: every slow reader got its body exactly ({bad_readers} did not)"
                ),
                bad_readers == 0,
            );
            // Each response in flight holds its body (the example builds it
            // whole, as the Node server does), plus the socket's
            // highWaterMark and a read.
            let bound = 1.5 * (body as f64 / 1024.0 + 16.0 + 64.0) + 256.0;
            r.check(
                format!(
                    "reference: peak memory per slow reader within 1.5x its body in flight ({per_reader:.0} <= {bound:.0} KiB)"
                ),
                per_reader <= bound,
            );
            r.check(
                format!("reference: every upload counted exactly ({bad_uploads} not)"),
                bad_uploads == 0,
            );
            // An upload being read holds at most its highWaterMark and one
            // 64 KiB read at a time: well under a megabyte each.
            let grown = upload_peak - base.rss;
            let bound = 1024.0 * uploads as f64 + 2048.0;
            r.check(
                format!(
                    "reference: uploads do not pile up in memory (peak +{} <= {})",
                    mib(grown),
                    mib(bound)
                ),
                grown <= bound,
            );
            r.back_to_baseline(&mut sut, &base, reader_peak.max(upload_peak), &after);
        }
    }
    r.columns(
        &[
            "slow readers with their body exact",
            "peak memory over the baseline, slow readers",
            "  per reader",
            "uploads counted exactly",
            "upload throughput",
            "peak memory over the baseline, uploads",
            "descriptors before / after",
            "memory before / after",
        ],
        &cols,
    );
    Ok(r)
}

/// Socket options the slow readers want: a small receive buffer, so that
/// the server's writes back up instead of filling the kernel.
trait RecvHint {
    fn set_recv_buffer_size_hint(&self);
}

impl RecvHint for TcpStream {
    fn set_recv_buffer_size_hint(&self) {
        let _ = socket2::SockRef::from(self).set_recv_buffer_size(64 * 1024);
    }
}

/// 4. A pipelining flood written without reading.
fn pipeline(cx: &Ctx) -> Result<Report, String> {
    let n = cx.plan.pipelined;
    let mut r = Report::new(format!(
        "pipelining flood: {n} requests written on one connection without reading until writing stalls \
         (or ends), then every response read and checked in order"
    ));
    let mut peaks: Vec<f64> = Vec::new();
    let mut cols: Vec<Vec<String>> = Vec::new();
    for t in &cx.targets {
        let mut sut = Sut::start(t, &[], None, "pipeline")?;
        let base = sut.baseline(&cx.rt);
        let sampler = Sampler::start(sut.pid());
        let addr = sut.addr;
        let pid = sut.pid();
        let start = Instant::now();
        let (written_before_reading, rss_stalled, in_order, wrong) =
            cx.rt.block_on(async move {
                let s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
                let (mut rd, mut wr) = s.into_split();
                let written = Arc::new(AtomicU64::new(0));
                let w = written.clone();
                let writer = tokio::spawn(async move {
                    let mut i = 0;
                    while i < n {
                        let mut batch = String::new();
                        for j in i..(i + 500).min(n) {
                            let _ = write!(batch, "GET /p/{j} HTTP/1.1\r\nHost: a\r\n\r\n");
                        }
                        if wr.write_all(batch.as_bytes()).await.is_err() {
                            return;
                        }
                        i = (i + 500).min(n);
                        w.store(i as u64, Ordering::Relaxed);
                    }
                    let _ = wr.shutdown().await;
                });
                // Wait until writing stalls for 500 ms (or ends).
                let mut last = 0;
                loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let now = written.load(Ordering::Relaxed);
                    if now == last || now as usize == n {
                        break;
                    }
                    last = now;
                }
                let before = written.load(Ordering::Relaxed);
                let rss_stalled = status_kib(pid, "VmRSS:");
                // Read everything.
                let mut buf = Vec::new();
                let mut chunk = vec![0u8; 256 * 1024];
                let mut next = 0usize;
                let mut wrong = 0usize;
                let mut pos = 0usize;
                let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
                while next < n && tokio::time::Instant::now() < deadline {
                    // Parse what is buffered.
                    while let Some(end) = buf[pos..].windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = &buf[pos..pos + end];
                        let len = std::str::from_utf8(head)
                            .ok()
                            .and_then(|h| {
                                h.lines().find_map(|l| {
                                    l.strip_prefix("Content-Length: ")
                                        .and_then(|v| v.trim().parse::<usize>().ok())
                                })
                            })
                            .unwrap_or(0);
                        let body_at = pos + end + 4;
                        if buf.len() < body_at + len {
                            break;
                        }
                        let want = format!("\"url\":\"/p/{next}\"");
                        let body = &buf[body_at..body_at + len];
                        if !body.windows(want.len()).any(|w| w == want.as_bytes()) {
                            wrong += 1;
                        }
                        next += 1;
                        pos = body_at + len;
                    }
                    if pos > 1 << 20 {
                        buf.drain(..pos);
                        pos = 0;
                    }
                    match tokio::time::timeout(Duration::from_secs(5), rd.read(&mut chunk)).await {
                        Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                        Ok(Ok(k)) => buf.extend_from_slice(&chunk[..k]),
                    }
                }
                writer.abort();
                Ok::<_, String>((before, rss_stalled, next, wrong))
            })?;
        let elapsed = start.elapsed();
        let peak = sampler.peak();
        let after = sut.settle(&base);
        peaks.push(peak - base.rss);
        let mut col = vec![
            written_before_reading.to_string(),
            mib(rss_stalled - base.rss),
            mib(peak - base.rss),
            format!("{in_order} of {n}"),
            wrong.to_string(),
            format!("{:.1} s", elapsed.as_secs_f64()),
        ];
        col.extend(before_after(&base, &after));
        cols.push(col);
        if t.name == "reference" {
            r.check(
                format!("reference: every response, in order ({in_order} of {n}, {wrong} wrong)"),
                in_order == n && wrong == 0,
            );
            r.back_to_baseline(&mut sut, &base, peak, &after);
        }
    }
    if let (Some(&refr), Some(&node)) = (peaks.first(), peaks.get(1)) {
        r.check(
            format!(
                "reference: peak memory under the flood below Node's ({} < {})",
                mib(refr),
                mib(node)
            ),
            refr < node,
        );
    }
    r.columns(
        &[
            "requests written before reading began",
            "memory held while not read, over the baseline",
            "peak memory over the baseline",
            "responses in order",
            "responses with the wrong body",
            "time",
            "descriptors before / after",
            "memory before / after",
        ],
        &cols,
    );
    Ok(r)
}

const WRK_LUA: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("SOAK requests=%d connect=%d read=%d write=%d status=%d timeout=%d p99_us=%d\n",
    summary.requests, e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(99)))
end
"#;

/// One reset at stage `stage` (0..7) of an exchange.
async fn reset_at(addr: SocketAddr, stage: usize) -> Result<(), String> {
    let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let post = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n";
    match stage {
        // Right after connecting.
        0 => {}
        // In the head.
        1 => s
            .write_all(b"GET /status/200 HTT")
            .await
            .map_err(|e| e.to_string())?,
        // After the head, before the body.
        2 => s.write_all(post).await.map_err(|e| e.to_string())?,
        // In the body.
        3 => {
            s.write_all(post).await.map_err(|e| e.to_string())?;
            s.write_all(&[b'x'; 500]).await.map_err(|e| e.to_string())?;
        }
        // The whole request, the response not read.
        4 => {
            s.write_all(b"GET /big/1048576 HTTP/1.1\r\nHost: a\r\n\r\n")
                .await
                .map_err(|e| e.to_string())?;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // In the response.
        5 => {
            s.write_all(b"GET /big/1048576 HTTP/1.1\r\nHost: a\r\n\r\n")
                .await
                .map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; 8192];
            let _ = s.read(&mut buf).await;
        }
        // Between pipelined requests, one answered.
        _ => {
            s.write_all(b"GET /status/200 HTTP/1.1\r\nHost: a\r\n\r\nGET /big/65536 HTTP/1.1\r\nHost: a\r\n\r\nGET /sta")
                .await
                .map_err(|e| e.to_string())?;
            let mut buf = Vec::new();
            read_response(&mut s, &mut buf).await?;
        }
    }
    reset(s);
    Ok(())
}

/// 5. Resets under wrk load, with checksummed echoes.
fn resets(cx: &Ctx) -> Result<Report, String> {
    let secs = cx.plan.resets_secs;
    let mut r = Report::new(format!(
        "resets under load: wrk -t1 -c16 -d{secs}s on GET /status/200 (keep-alive); beside it 4 clients resetting \
         connections at every stage (after connect, in the head, before and in the body, before and in the response, \
         between pipelined requests) and 2 clients posting random bodies (up to 64 KiB) to the JSON echo and checking \
         each comes back exactly"
    ));
    let dir = std::env::temp_dir().join(format!("nodehttp-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let lua = dir.join("report.lua");
    std::fs::write(&lua, WRK_LUA).map_err(|e| e.to_string())?;
    let mut cols: Vec<Vec<String>> = Vec::new();
    for t in &cx.targets {
        let mut sut = Sut::start(t, &[], None, "resets")?;
        let base = sut.baseline(&cx.rt);
        let sampler = Sampler::start(sut.pid());
        let addr = sut.addr;
        let wrk = std::process::Command::new(&cx.wrk)
            .args(["-t1", "-c16", "-d"])
            .arg(format!("{secs}s"))
            .arg("-s")
            .arg(&lua)
            .arg(format!("http://{addr}/status/200"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", cx.wrk))?;
        let (resets, echoes, mismatched, failed) = cx.rt.block_on(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
            let mut resetters = Vec::new();
            for k in 0..4 {
                resetters.push(tokio::spawn(async move {
                    let mut count = 0u64;
                    let mut stage = k;
                    while tokio::time::Instant::now() < deadline {
                        if reset_at(addr, stage % 7).await.is_ok() {
                            count += 1;
                        }
                        stage += 1;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    count
                }));
            }
            let mut echoers = Vec::new();
            for k in 0..2u64 {
                echoers.push(tokio::spawn(async move {
                    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (k + 1));
                    let (mut ok, mut mismatched, mut failed) = (0u64, 0u64, 0u64);
                    let mut conn: Option<(TcpStream, Vec<u8>)> = None;
                    let mut i = 0u64;
                    while tokio::time::Instant::now() < deadline {
                        i += 1;
                        let len = rng.below(64 * 1024);
                        // Printable ASCII without `"` or `\`: JSON keeps it as is.
                        let body: Vec<u8> = (0..len)
                            .map(|_| {
                                let b = b'0' + rng.below(75) as u8;
                                if b == b'\\' { b'_' } else { b }
                            })
                            .collect();
                        let req = [
                            format!("POST /echo/{k}/{i} HTTP/1.1\r\nHost: a\r\nContent-Length: {len}\r\n\r\n").into_bytes(),
                            body.clone(),
                        ]
                        .concat();
                        let (mut s, mut buf) = match conn.take() {
                            Some(c) => c,
                            None => match TcpStream::connect(addr).await {
                                Ok(s) => (s, Vec::new()),
                                Err(_) => {
                                    failed += 1;
                                    continue;
                                }
                            },
                        };
                        let got = tokio::time::timeout(Duration::from_secs(5), async {
                            s.write_all(&req).await.map_err(|e| e.to_string())?;
                            read_response(&mut s, &mut buf).await
                        })
                        .await;
                        match got {
                            Ok(Ok(resp)) => {
                                let want_body = [b"\"body\":\"".as_slice(), &body, b"\"}"].concat();
                                let want_url = format!("\"url\":\"/echo/{k}/{i}\"");
                                let exact = resp.status == 200
                                    && resp.body.ends_with(&want_body)
                                    && resp.body.windows(want_url.len()).any(|w| w == want_url.as_bytes());
                                if exact {
                                    ok += 1;
                                } else {
                                    mismatched += 1;
                                }
                                // A new connection now and then.
                                if rng.below(8) != 0 {
                                    conn = Some((s, buf));
                                }
                            }
                            _ => failed += 1,
                        }
                    }
                    (ok, mismatched, failed)
                }));
            }
            let mut resets = 0;
            for t in resetters {
                resets += t.await.unwrap_or(0);
            }
            let (mut ok, mut mismatched, mut failed) = (0, 0, 0);
            for t in echoers {
                let (a, b, c) = t.await.unwrap_or((0, 0, 1));
                ok += a;
                mismatched += b;
                failed += c;
            }
            (resets, ok, mismatched, failed)
        });
        let out = wrk.wait_with_output().map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("SOAK "))
            .ok_or_else(|| {
                format!(
                    "wrk printed no summary:\n{text}{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
        let field = |k: &str| -> u64 {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let wrk_errors = field("connect") + field("read") + field("write") + field("timeout");
        let wrk_status = field("status");
        let peak = sampler.peak();
        let after = sut.settle(&base);
        let mut col = vec![
            field("requests").to_string(),
            format!("{} / {}", wrk_errors, wrk_status),
            format!("{:.1} ms", field("p99_us") as f64 / 1e3),
            resets.to_string(),
            echoes.to_string(),
            format!("{mismatched} / {failed}"),
            mib(peak - base.rss),
        ];
        col.extend(before_after(&base, &after));
        cols.push(col);
        if t.name == "reference" {
            r.check(
                format!("reference: no error in wrk's traffic ({wrk_errors} socket errors, {wrk_status} not 2xx)"),
                wrk_errors == 0 && wrk_status == 0 && field("requests") > 0,
            );
            r.check(
                format!("reference: every echoed body exact ({mismatched} lost or mixed, {failed} failed, of {})", echoes + mismatched + failed),
                mismatched == 0 && failed == 0 && echoes > 0,
            );
            r.back_to_baseline(&mut sut, &base, peak, &after);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    r.columns(
        &[
            "wrk requests",
            "wrk socket errors / not 2xx",
            "wrk p99",
            "connections reset",
            "bodies echoed exactly",
            "bodies lost or mixed / failed",
            "peak memory over the baseline",
            "descriptors before / after",
            "memory before / after",
        ],
        &cols,
    );
    Ok(r)
}

/// Valid requests the malformed inputs start from.
const SEEDS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /status/404?x=1 HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nT: v\r\n\r\n",
    b"GET /chunked HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /x HTTP/1.0\r\n\r\n",
    b"PUT /trailers HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
];

/// Pieces inserted by the mutations.
const PIECES: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"\t",
    b":",
    b"\x00",
    b"\x7f",
    b"\xff",
    b"Content-Length: 3\r\n",
    b"Content-Length: x\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip\r\n",
    b"Connection: close\r\n",
    b"Connection: upgrade\r\nUpgrade: x\r\n",
    b"Host: b\r\n",
    b"Expect: nope\r\n",
    b" folded\r\n",
    b"zz\r\n",
    b"0\r\n\r\n",
    b"HTTP/1.1",
    b"/",
    b"?",
    b"%",
];

/// A malformed (or at least mutated) input: a seed with 1 to 4 mutations.
fn malformed_input(rng: &mut Rng) -> Vec<u8> {
    let mut s = SEEDS[rng.below(SEEDS.len())].to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(s.len() + 1);
        match rng.below(5) {
            0 => {
                if at < s.len() {
                    s[at] = rng.next() as u8;
                }
            }
            1 => {
                let p = PIECES[rng.below(PIECES.len())];
                s.splice(at..at, p.iter().copied());
            }
            2 => {
                let end = (at + 1 + rng.below(8)).min(s.len());
                if at < end {
                    s.drain(at..end);
                }
            }
            3 => {
                let end = (at + 1 + rng.below(16)).min(s.len());
                let copy = s[at.min(end)..end].to_vec();
                s.splice(at..at, copy);
            }
            _ => s.truncate(at.max(1)),
        }
    }
    s
}

/// What a server sent for `input` on a fresh connection whose write side
/// is shut after it, up to its close (`None`: no close within 3 s).
async fn answer(addr: SocketAddr, input: Vec<u8>) -> Option<Vec<u8>> {
    tokio::time::timeout(Duration::from_secs(3), async move {
        let mut s = TcpStream::connect(addr).await.ok()?;
        let _ = s.write_all(&input).await;
        let _ = s.shutdown().await;
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got).await;
        Some(got)
    })
    .await
    .ok()
    .flatten()
}

/// The status codes of the responses in `bytes`, with `Date` masked in the
/// rest: a status line is `HTTP/1.1 NNN ` at the start of the bytes or
/// after a blank line's end.
fn masked(bytes: &[u8]) -> (Vec<u16>, Vec<u8>) {
    let mut statuses = Vec::new();
    let mut i = 0;
    while let Some(off) = bytes[i..].windows(9).position(|w| w == b"HTTP/1.1 ") {
        let at = i + off;
        if at == 0 || bytes[..at].ends_with(b"\r\n") {
            if let Some(code) = std::str::from_utf8(&bytes[at + 9..(at + 12).min(bytes.len())])
                .ok()
                .and_then(|c| c.parse().ok())
            {
                statuses.push(code);
            }
        }
        i = at + 9;
    }
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for line in text.split_inclusive("\r\n") {
        if line.starts_with("Date: ") {
            out.push_str("Date: {{date}}\r\n");
        } else {
            out.push_str(line);
        }
    }
    (statuses, out.into_bytes())
}

/// 6. Malformed input.
fn malformed(cx: &Ctx) -> Result<Report, String> {
    let n = cx.plan.malformed;
    let mut r = Report::new(format!(
        "malformed input: {n} mutated requests (seeded, the same for both), each on a fresh connection shut after it, \
         the answers read to the close and compared"
    ));
    let mut rng = Rng(0x5EED_0001);
    let inputs: Vec<Vec<u8>> = (0..n).map(|_| malformed_input(&mut rng)).collect();
    let mut answers: Vec<Vec<Option<Vec<u8>>>> = Vec::new();
    let mut cols: Vec<Vec<String>> = Vec::new();
    let mut suts = Vec::new();
    for t in &cx.targets {
        let sut = Sut::start(t, &[], None, "malformed")?;
        let base = sut.baseline(&cx.rt);
        let sampler = Sampler::start(sut.pid());
        let addr = sut.addr;
        let start = Instant::now();
        let inputs = inputs.clone();
        let got: Vec<Option<Vec<u8>>> = cx.rt.block_on(async move {
            let sem = Arc::new(tokio::sync::Semaphore::new(32));
            let mut tasks = VecDeque::new();
            for input in inputs {
                let permit = sem.clone().acquire_owned().await.expect("semaphore");
                tasks.push_back(tokio::spawn(async move {
                    let a = answer(addr, input).await;
                    drop(permit);
                    a
                }));
            }
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap_or(None));
            }
            out
        });
        let elapsed = start.elapsed();
        let peak = sampler.peak();
        let after = sut.settle(&base);
        let hung = got.iter().filter(|a| a.is_none()).count();
        let answered = got
            .iter()
            .filter(|a| a.as_ref().is_some_and(|b| !b.is_empty()))
            .count();
        cols.push(vec![
            format!("{answered}"),
            format!("{}", n - answered - hung),
            format!("{hung}"),
            format!("{:.1} s", elapsed.as_secs_f64()),
            mib(peak - base.rss),
            format!("{} / {}", base.fds, after.fds),
        ]);
        answers.push(got);
        suts.push((sut, base, peak, after));
    }
    r.columns(
        &[
            "answered",
            "closed without an answer",
            "no close within 3 s",
            "time",
            "peak memory over the baseline",
            "descriptors before / after",
        ],
        &cols,
    );
    if let Some((sut, base, peak, after)) = suts.first_mut() {
        let hung = answers[0].iter().filter(|a| a.is_none()).count();
        r.check(
            format!("reference: every connection closed ({hung} hung)"),
            hung == 0,
        );
        r.back_to_baseline(sut, base, *peak, after);
    }
    if answers.len() == 2 {
        let (mut same_status, mut same_bytes) = (0, 0);
        let mut shown = 0;
        for (k, (a, b)) in answers[0].iter().zip(&answers[1]).enumerate() {
            let ma = a.as_deref().map(masked);
            let mb = b.as_deref().map(masked);
            let status_equal = ma.as_ref().map(|m| &m.0) == mb.as_ref().map(|m| &m.0);
            same_status += usize::from(status_equal);
            same_bytes += usize::from(ma == mb);
            if !status_equal && shown < 5 {
                shown += 1;
                println!(
                    "  statuses differ on {:?}: reference {:?}, node {:?}",
                    String::from_utf8_lossy(&inputs[k]),
                    ma.map(|m| m.0),
                    mb.map(|m| m.0)
                );
            }
        }
        r.row(
            "statuses the same as Node's",
            vec![format!("{same_status} of {n}"), "-".into()],
        );
        r.row(
            "bytes the same as Node's (Date masked)",
            vec![format!("{same_bytes} of {n}"), "-".into()],
        );
        r.check(
            format!("reference: the same statuses as Node on every input ({same_status} of {n})"),
            same_status == n,
        );
    }
    Ok(r)
}

/// 7. The descriptor limit.
fn fdlimit(cx: &Ctx) -> Result<Report, String> {
    const LIMIT: u64 = 256;
    let mut r = Report::new(format!(
        "descriptor limit: each server under RLIMIT_NOFILE {LIMIT}; keep-alive connections opened until one is refused, \
         100 more tried at the limit, the server's CPU over 1 s at the limit, then the connections closed and service checked"
    ));
    let mut cols: Vec<Vec<String>> = Vec::new();
    for t in &cx.targets {
        let mut sut = Sut::start(t, &[], Some(LIMIT), "fdlimit")?;
        let base = sut.baseline(&cx.rt);
        let addr = sut.addr;
        let pid = sut.pid();
        let (held, mut refused, hung, cpu, recovery) = cx.rt.block_on(async move {
            // Fill the table.
            let mut held = Vec::new();
            loop {
                if held.len() > LIMIT as usize + 16 {
                    break;
                }
                let r = tokio::time::timeout(Duration::from_millis(500), async {
                    let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
                    s.write_all(b"GET /status/200 HTTP/1.1\r\nHost: a\r\n\r\n")
                        .await
                        .map_err(|e| e.to_string())?;
                    read_response(&mut s, &mut Vec::new()).await?;
                    Ok::<_, String>(s)
                })
                .await;
                match r {
                    Ok(Ok(s)) => held.push(s),
                    _ => break,
                }
            }
            // At the limit: each new connection must be closed at once.
            let mut refused = Vec::new();
            let mut hung = 0;
            for _ in 0..100 {
                let start = Instant::now();
                let r = tokio::time::timeout(Duration::from_millis(500), async {
                    let mut s = TcpStream::connect(addr).await.ok()?;
                    let _ = s
                        .write_all(b"GET /status/200 HTTP/1.1\r\nHost: a\r\n\r\n")
                        .await;
                    let mut buf = [0u8; 64];
                    match s.read(&mut buf).await {
                        Ok(n) if n > 0 => Some(false),
                        _ => Some(true),
                    }
                })
                .await;
                match r {
                    Ok(Some(true)) => refused.push(start.elapsed()),
                    _ => hung += 1,
                }
            }
            // No busy loop while at the limit.
            let cpu0 = proc_cpu(pid);
            tokio::time::sleep(Duration::from_secs(1)).await;
            let cpu = proc_cpu(pid) - cpu0;
            // Free the descriptors: service comes back.
            let held_n = held.len();
            drop(held);
            let start = Instant::now();
            let mut recovery = None;
            while start.elapsed() < Duration::from_secs(5) {
                if let Ok(resp) =
                    exchange(addr, b"GET /status/200 HTTP/1.1\r\nHost: a\r\n\r\n").await
                {
                    if resp.status == 200 {
                        recovery = Some(start.elapsed());
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (held_n, refused, hung, cpu, recovery)
        });
        let after = sut.settle(&base);
        let p99 = percentile(&mut refused, 0.99);
        cols.push(vec![
            held.to_string(),
            format!("{} / {hung}", refused.len()),
            ms(p99),
            format!("{:.1} %", cpu * 100.0),
            recovery.map_or("never".into(), ms),
            format!("{} / {}", base.fds, after.fds),
        ]);
        if t.name == "reference" {
            r.check(
                format!(
                    "reference: connections over the limit closed at once ({} of 100, p99 {}; {hung} hung)",
                    refused.len(),
                    ms(p99)
                ),
                hung == 0 && refused.len() == 100 && p99 < Duration::from_millis(100),
            );
            r.check(
                format!(
                    "reference: no busy loop at the limit ({:.1} % of a core)",
                    cpu * 100.0
                ),
                cpu < 0.05,
            );
            r.check(
                "reference: served again once descriptors are free",
                recovery.is_some(),
            );
            let peak = sut.rss();
            r.back_to_baseline(&mut sut, &base, peak.max(after.rss), &after);
        }
    }
    r.columns(
        &[
            "connections held at the limit",
            "closed at once / hung, of 100 over the limit",
            "p99 time to the close",
            "CPU at the limit, idle",
            "first request served after the release",
            "descriptors before / after",
        ],
        &cols,
    );
    Ok(r)
}

// ---------------------------------------------------------------- main

type Test = fn(&Ctx) -> Result<Report, String>;

fn main() {
    let args = Args::parse();
    if !std::path::Path::new("bench/echo.mjs").exists() {
        eprintln!("soak: run it from the repository's root (bench/echo.mjs not found)");
        std::process::exit(2);
    }
    raise_fd_limit();
    let targets = vec![
        Target {
            name: "reference",
            program: args.echo.clone(),
            // glibc keeps freed memory for reuse: given back every 250 ms,
            // so that RSS shows what the server holds.
            args: vec!["--malloc-trim".into(), "250".into()],
        },
        Target {
            name: "node",
            program: args.node.clone(),
            args: vec!["bench/echo.mjs".into()],
        },
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let cx = Ctx {
        targets,
        plan: Plan::new(args.short),
        rt,
        wrk: args.wrk.clone(),
    };
    let started = Instant::now();
    println!("soak ({})", if args.short { "short" } else { "full" });
    println!("machine: {}", machine());
    println!(
        "reference: {} --malloc-trim 250; node: {} running bench/echo.mjs; load: {}",
        args.echo,
        version(&args.node, "--version"),
        version(&args.wrk, "-v")
    );
    let tests: [(&str, Test); 7] = [
        ("slowloris", slowloris),
        ("idle", idle),
        ("slow", slow),
        ("pipeline", pipeline),
        ("resets", resets),
        ("malformed", malformed),
        ("fdlimit", fdlimit),
    ];
    let names = cx.names();
    let mut failed = Vec::new();
    for (name, test) in tests {
        if !args.only.is_empty() && !args.only.iter().any(|o| o == name) {
            continue;
        }
        let t0 = Instant::now();
        match test(&cx) {
            Ok(report) => {
                if !report.print(&names) {
                    failed.push(name);
                }
            }
            Err(e) => {
                println!("\n== {name}: could not run: {e}");
                failed.push(name);
            }
        }
        println!("  ({name}: {:.1} s)", t0.elapsed().as_secs_f64());
    }
    println!(
        "\nsoak: {} in {:.0} s",
        if failed.is_empty() {
            "every criterion met for the reference".to_string()
        } else {
            format!("criteria not met in {}", failed.join(", "))
        },
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
