//! Allocation benchmark: how many heap allocations, and how many bytes, the
//! server makes per request on the keep-alive hello path. Unlike the load
//! benchmark it is deterministic (the same figure on a busy machine), so a
//! change that saves or adds an allocation shows at once.
//!
//! The servers run in this process, on a tokio multi-thread runtime (as the
//! `hello` example and `hyper-hello`); a counting global allocator counts
//! only the calls made on the runtime's threads, so the client (plain
//! blocking sockets on the main thread) is not counted. For each server:
//! one keep-alive connection on 127.0.0.1, `--warmup` requests, then
//! `--requests` requests one after the other, each answer read whole, and
//! the counts between the two divided by the requests.
//!
//! - **reference**: the handler of the `hello` example
//!   (`reference/examples/hello/handler.rs`: `setHeader('content-type',
//!   'text/plain')`, `end('hello world')`).
//! - **hyper**: the `hyper-hello` server (`nodehttp_bench::hyper_hello`).
//!
//! ```sh
//! just bench-allocs                       # both servers, wrk's request
//! just bench-allocs --request browser     # a 785-byte, 20-header request
//! just bench-allocs --pipeline 16         # 16 requests per write
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use handler::Hello;
use nodehttp::server::{Server, ServerOptions};

thread_local! {
    /// Set on the runtime's threads: only their calls are counted.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting the calls of the server's threads.
struct Counting;

fn counted() -> bool {
    // `try_with`: a thread being torn down has no thread-locals left.
    COUNTED.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: every call is forwarded unchanged to `System`; the counting
// touches only atomics and a const-initialised thread-local (no
// allocation, no reentrancy).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counted() {
            REALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(
                new_size.saturating_sub(layout.size()) as u64,
                Ordering::Relaxed,
            );
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The counters at one moment.
#[derive(Debug, Clone, Copy)]
struct Counts {
    allocs: u64,
    reallocs: u64,
    bytes: u64,
}

fn counts() -> Counts {
    Counts {
        allocs: ALLOCS.load(Ordering::SeqCst),
        reallocs: REALLOCS.load(Ordering::SeqCst),
        bytes: BYTES.load(Ordering::SeqCst),
    }
}

/// The servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    Reference,
    Hyper,
}

/// The request sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RequestKind {
    /// What wrk sends: a request line and `Host` (40 bytes).
    Small,
    /// A browser-like request: 20 headers, duplicates included (785 bytes).
    Browser,
}

/// The flags.
#[derive(Debug, Parser)]
struct Args {
    /// The servers to measure (repeat the flag; default: both).
    #[arg(long = "only")]
    only: Vec<Which>,
    /// Measured requests per server.
    #[arg(long, default_value_t = 20_000)]
    requests: u64,
    /// Requests before the measure (buffers reach their size, the `Date`
    /// cache fills).
    #[arg(long, default_value_t = 1_000)]
    warmup: u64,
    /// The request.
    #[arg(long, value_enum, default_value_t = RequestKind::Small)]
    request: RequestKind,
    /// Requests sent in one write (pipelining, as `bench-load`'s pipelined
    /// scenario with 16); the counts stay per request.
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// Worker threads of the runtime (default: one per core, as the
    /// `hello` example). `just bench-instructions` uses 1: with an idle
    /// second worker, how often it wakes to look for work varies from run
    /// to run, and so do its instructions.
    #[arg(long)]
    workers: Option<usize>,
}

/// The `hello` example's handler, this very file.
#[path = "../../../reference/examples/hello/handler.rs"]
mod handler;

fn request_bytes(kind: RequestKind, port: u16) -> Vec<u8> {
    match kind {
        RequestKind::Small => {
            format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").into_bytes()
        }
        // The micro benchmarks' request (its Host names another server:
        // the hello answers it all the same).
        RequestKind::Browser => include_bytes!("../../requests/browser.http").to_vec(),
    }
}

/// Send `request` (one or several pipelined requests) in one write and read
/// `answers` answers whole (each with a `Content-Length` body).
fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    answers: usize,
    buf: &mut Vec<u8>,
) -> Result<(), String> {
    stream.write_all(request).map_err(|e| e.to_string())?;
    buf.clear();
    let mut chunk = [0u8; 4096];
    let (mut read, mut at) = (0, 0);
    while read < answers {
        if let Some(end) = buf[at..].windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[at..at + end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| format!("no Content-Length in {head:?}"))?;
            if buf.len() >= at + end + 4 + length {
                at += end + 4 + length;
                read += 1;
                continue;
            }
        }
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

/// Count the server's allocations over `args.requests` keep-alive requests
/// (rounded up to whole writes of `args.pipeline`).
fn measure(rt: &tokio::runtime::Runtime, which: Which, args: &Args) -> Result<Counts, String> {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
        .map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let server = match which {
        Which::Reference => {
            drop(listener);
            let server = Server::new(ServerOptions::default(), Hello).map_err(|e| e.to_string())?;
            rt.block_on(server.listen(("127.0.0.1", port)))
                .map_err(|e| e.to_string())?;
            Some(server)
        }
        Which::Hyper => {
            rt.spawn(nodehttp_bench::hyper_hello(listener));
            None
        }
    };
    let depth = args.pipeline.max(1);
    let request = request_bytes(args.request, port).repeat(depth);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    for _ in 0..args.warmup.div_ceil(depth as u64) {
        exchange(&mut stream, &request, depth, &mut buf)?;
    }
    // What the server does after its last write (dropping the handler's
    // future...) happens while the client reads: let it finish before each
    // reading of the counters.
    let settle = || std::thread::sleep(Duration::from_millis(50));
    settle();
    let before = counts();
    let rounds = args.requests.div_ceil(depth as u64);
    for _ in 0..rounds {
        exchange(&mut stream, &request, depth, &mut buf)?;
    }
    settle();
    let after = counts();
    drop(stream);
    if let Some(server) = server {
        server.close();
        server.close_all_connections();
    }
    Ok(Counts {
        allocs: after.allocs - before.allocs,
        reallocs: after.reallocs - before.reallocs,
        bytes: after.bytes - before.bytes,
    })
}

fn main() {
    let args = Args::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.workers {
        builder.worker_threads(n);
    }
    let rt = match builder
        .enable_all()
        .on_thread_start(|| COUNTED.set(true))
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-allocs: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let servers = if args.only.is_empty() {
        vec![Which::Reference, Which::Hyper]
    } else {
        args.only.clone()
    };
    // Whole writes of `--pipeline` requests.
    let depth = args.pipeline.max(1) as u64;
    let sent = args.requests.div_ceil(depth) * depth;
    println!(
        "{sent} keep-alive requests ({:?} request, {depth} per write), counted on the server's threads:",
        args.request
    );
    println!("| server | allocations/request | reallocations/request | bytes allocated/request |");
    println!("|---|---:|---:|---:|");
    for which in servers {
        match measure(&rt, which, &args) {
            Ok(c) => {
                let per = |n: u64| n as f64 / sent as f64;
                println!(
                    "| {} | {:.2} | {:.2} | {:.0} |",
                    format!("{which:?}").to_lowercase(),
                    per(c.allocs),
                    per(c.reallocs),
                    per(c.bytes)
                );
            }
            Err(e) => {
                eprintln!("bench-allocs: {which:?}: {e}");
                std::process::exit(1);
            }
        }
    }
}
