//! An echo server: the crate for people trying it, and a target for
//! external probes.
//!
//! ```sh
//! cargo run -p nodehttp --example echo -- --port 8080
//! curl -s localhost:8080/anything?x=1 -H 'X-A: 1' -H 'x-a: 2'
//! ```
//!
//! Once it listens on 127.0.0.1 it prints `LISTENING <port>` on stdout
//! (`--port 0`, the default, picks a free port). It exits with status 0 on
//! SIGTERM or Ctrl-C. The flags are `http.createServer`'s options, in
//! milliseconds where they are times; a flag left out keeps Node's default.
//!
//! Every request body is read to its end (trailers included), then the path
//! (the URL without its query string) picks the answer. On the wire it is
//! exactly what this `node:http` server sends (checked byte for byte against
//! Node 20, `Date` aside; `tests/examples.rs` pins the bytes):
//!
//! ```js
//! http.createServer(options, (req, res) => {
//!   const discard = req.url.split('?')[0] === '/discard';
//!   const chunks = [];
//!   let bytes = 0;
//!   req.on('data', (c) => {
//!     bytes += c.length;
//!     if (!discard) chunks.push(c);
//!   });
//!   req.on('end', () => {
//!     const path = req.url.split('?')[0];
//!     let m;
//!     if ((m = /^\/status\/(\d+)$/.exec(path)) && m[1] >= 200 && m[1] <= 999) {
//!       res.statusCode = Number(m[1]);
//!       res.end();
//!     } else if (path === '/discard') {
//!       // The body's length; the body itself is not kept.
//!       res.setHeader('content-type', 'text/plain');
//!       res.end(String(bytes));
//!     } else if (path === '/chunked') {
//!       res.setHeader('content-type', 'text/plain');
//!       res.write('chunk-one;');
//!       res.write('chunk-two;');
//!       res.write('chunk-three');
//!       res.end();
//!     } else if (path === '/trailers') {
//!       res.setHeader('content-type', 'text/plain');
//!       res.setHeader('Trailer', 'X-Checksum');
//!       try {
//!         res.write('body-with-trailers'); // throws on HTTP/1.0: not chunked
//!       } catch (e) {
//!         if (e.code !== 'ERR_HTTP_TRAILER_INVALID') throw e;
//!         res.removeHeader('Trailer');
//!         res.writeHead(500, 'Internal Server Error');
//!         return res.end('ERR_HTTP_TRAILER_INVALID');
//!       }
//!       res.addTrailers({ 'X-Checksum': 'abc123' });
//!       res.end();
//!     } else if ((m = /^\/big\/(\d+)$/.exec(path))) {
//!       if (Number(m[1]) > 64 * 1024 * 1024) {
//!         res.statusCode = 400;
//!         res.end();
//!       } else {
//!         res.setHeader('content-type', 'application/octet-stream');
//!         res.end(Buffer.from(/* n bytes: 'abc...xyzabc...' */));
//!       }
//!     } else {
//!       res.setHeader('content-type', 'application/json');
//!       res.end(JSON.stringify({
//!         method: req.method, url: req.url, httpVersion: req.httpVersion,
//!         headers: req.headers, headersDistinct: req.headersDistinct,
//!         rawHeaders: req.rawHeaders, trailers: req.trailers,
//!         rawTrailers: req.rawTrailers, complete: req.complete,
//!         body: Buffer.concat(chunks).toString('utf8'),
//!       }));
//!     }
//!   });
//! });
//! ```
//!
//! No optional listener is installed: `Expect: 100-continue` gets Node's
//! automatic `100 Continue`, other expectations a 417, parse errors Node's
//! default 400/431.
//!
//! `bench/echo.mjs` is this JavaScript as a script, with the same flags,
//! for running Node beside the example (`tests/limits.rs`, `just soak`).

use std::io::Write as _;
use std::time::Duration;

use clap::{CommandFactory as _, Parser};
use nodehttp::headers::{HeaderMap, HeaderValue};
use nodehttp::server::{Handler, IncomingMessage, Server, ServerOptions, ServerResponse};
use nodehttp::Error;
use serde_json::{Map, Value};

/// The largest `/big/<n>`; above it the answer is 400.
const BIG_MAX: u64 = 64 * 1024 * 1024;

/// `node:http` echo server (see the example's docs for the routes).
#[derive(Debug, Parser)]
#[command(name = "echo", version)]
struct Args {
    /// Port to listen on, on 127.0.0.1; 0 picks a free one. The bound port
    /// is printed as `LISTENING <port>`.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// `headersTimeout` in ms (Node's default: min(60000, requestTimeout)).
    #[arg(long, value_name = "MS")]
    headers_timeout: Option<u64>,
    /// `requestTimeout` in ms (default 300000; 0 disables it).
    #[arg(long, value_name = "MS")]
    request_timeout: Option<u64>,
    /// `keepAliveTimeout` in ms (default 5000).
    #[arg(long, value_name = "MS")]
    keep_alive_timeout: Option<u64>,
    /// `connectionsCheckingInterval` in ms (default 30000).
    #[arg(long, value_name = "MS")]
    connections_checking_interval: Option<u64>,
    /// `maxHeaderSize` in bytes (default 16384; 0 means the default).
    #[arg(long, value_name = "BYTES")]
    max_header_size: Option<usize>,
    /// `server.maxRequestsPerSocket` (default 0: no limit).
    #[arg(long, value_name = "N")]
    max_requests_per_socket: Option<u32>,
    /// `joinDuplicateHeaders: true`.
    #[arg(long)]
    join_duplicate_headers: bool,
    /// `requireHostHeader` (default true).
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    require_host_header: Option<bool>,
    /// Not a Node option: give the memory glibc's allocator keeps free back
    /// to the system every MS milliseconds (`malloc_trim(0)`; 0, the
    /// default, never). Without it, the RSS of a server that held many
    /// connections stays near its peak after they close: the freed memory
    /// is kept for reuse, not leaked (`just soak` uses 250).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    malloc_trim: u64,
}

impl Args {
    /// The `http.createServer` options, with Node's defaults for what is
    /// not given. Exits with a usage error (status 2) where Node's
    /// `createServer` would throw.
    fn server_options(&self) -> ServerOptions {
        let mut o = ServerOptions::default();
        if let Some(ms) = self.request_timeout {
            o.request_timeout = Duration::from_millis(ms);
        }
        // Unset: Node's `MathMin(60_000, requestTimeout)`, computed by the crate.
        o.headers_timeout = self.headers_timeout.map(Duration::from_millis);
        if let Some(ms) = self.keep_alive_timeout {
            o.keep_alive_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = self.connections_checking_interval {
            o.connections_checking_interval = Duration::from_millis(ms);
        }
        // The parser binding: `maxHeaderSize || the process default`.
        if let Some(n) = self.max_header_size.filter(|&n| n > 0) {
            o.max_header_size = n;
        }
        o.join_duplicate_headers = self.join_duplicate_headers;
        if let Some(b) = self.require_host_header {
            o.require_host_header = b;
        }
        o
    }
}

// ---------------------------------------------------------------- routes

/// What a path asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// `/status/<code>`, 200..=999.
    Status(u16),
    /// `/discard`: the body's length, the body not kept.
    Discard,
    /// `/chunked`.
    Chunked,
    /// `/trailers`.
    Trailers,
    /// `/big/<n>`: `None` when n is over [`BIG_MAX`] (or over u64).
    Big(Option<usize>),
    /// Anything else: the JSON echo.
    Echo,
}

/// The digits after `prefix`, as `/^prefix(\d+)$/` would capture them.
fn digits_after<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())).then_some(rest)
}

fn route(url: &str) -> Route {
    let path = url.split('?').next().unwrap_or(url);
    if let Some(d) = digits_after(path, "/status/") {
        // A number too big for a u16 is far above 999: the default route.
        if let Some(code) = d.parse::<u16>().ok().filter(|c| (200..=999).contains(c)) {
            return Route::Status(code);
        }
    }
    match path {
        "/chunked" => return Route::Chunked,
        "/trailers" => return Route::Trailers,
        "/discard" => return Route::Discard,
        _ => {}
    }
    if let Some(d) = digits_after(path, "/big/") {
        let n = d.parse::<u64>().ok().filter(|&n| n <= BIG_MAX);
        return Route::Big(n.map(|n| n as usize));
    }
    Route::Echo
}

/// `n` bytes cycling `a`..`z`.
fn big_body(n: usize) -> Vec<u8> {
    (b'a'..=b'z').cycle().take(n).collect()
}

// ---------------------------------------------------------------- JSON

/// Whether `key` is a canonical array index (`"0"`..`"4294967294"`): such
/// keys come first, in numeric order, when JavaScript enumerates an object.
fn array_index(key: &str) -> Option<u32> {
    let canonical = key == "0" || (!key.starts_with('0') && !key.is_empty());
    if !canonical || !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    key.parse::<u32>().ok().filter(|&n| n != u32::MAX)
}

/// A header object as `JSON.stringify` writes it: array-index keys first
/// (ascending), then the others in insertion order; a `Multi` is an array.
/// `always_array` is for the `*Distinct` objects.
fn header_object(map: &HeaderMap, always_array: bool) -> Value {
    let mut entries: Vec<(&str, &HeaderValue)> = map.iter().collect();
    // A stable sort: the non-index keys keep their order.
    entries.sort_by_key(|(k, _)| match array_index(k) {
        Some(n) => (0, n),
        None => (1, 0),
    });
    let mut obj = Map::new();
    for (k, v) in entries {
        let v = match v {
            HeaderValue::Single(s) if always_array => Value::Array(vec![s.as_str().into()]),
            HeaderValue::Single(s) => s.as_str().into(),
            HeaderValue::Multi(vs) => vs.iter().map(|s| Value::from(s.as_str())).collect(),
        };
        obj.insert(k.to_owned(), v);
    }
    Value::Object(obj)
}

/// `rawHeaders` / `rawTrailers`: `[name, value, name, value, ...]`.
fn flat<N: AsRef<str>, V: AsRef<str>>(raw: impl IntoIterator<Item = (N, V)>) -> Value {
    raw.into_iter()
        .flat_map(|(n, v)| [Value::from(n.as_ref()), Value::from(v.as_ref())])
        .collect()
}

/// `JSON.stringify({method, url, ...})` of the default route. Header names
/// and values are latin-1 already (one char per byte), so they serialise as
/// JavaScript's strings do; serde_json escapes exactly as `JSON.stringify`
/// for them (`"`, `\`, controls as `\b \f \n \r \t` or `\u00xx`, U+2028 and
/// U+2029 raw). The body is decoded as `Buffer#toString('utf8')` does,
/// with U+FFFD for each maximal invalid subpart.
fn echo_json(req: &IncomingMessage, body: &[u8]) -> String {
    let mut o = Map::new();
    o.insert("method".into(), req.method().into());
    o.insert("url".into(), req.url().into());
    o.insert("httpVersion".into(), req.http_version().into());
    o.insert("headers".into(), header_object(req.headers(), false));
    o.insert(
        "headersDistinct".into(),
        header_object(req.headers_distinct(), true),
    );
    o.insert("rawHeaders".into(), flat(req.raw_headers()));
    o.insert("trailers".into(), header_object(&req.trailers(), false));
    o.insert("rawTrailers".into(), flat(req.raw_trailers()));
    o.insert("complete".into(), req.complete().into());
    o.insert("body".into(), String::from_utf8_lossy(body).into());
    Value::Object(o).to_string()
}

// ---------------------------------------------------------------- handler

struct Echo;

impl Handler for Echo {
    async fn request(&self, req: IncomingMessage, res: ServerResponse) {
        let discard = route(req.url()) == Route::Discard;
        let mut body = Vec::new();
        let mut bytes = 0;
        loop {
            match req.read().await {
                Ok(Some(chunk)) => {
                    bytes += chunk.len();
                    if !discard {
                        body.extend_from_slice(&chunk);
                    }
                }
                Ok(None) => break,
                // 'aborted': Node never emits 'end', so nothing is answered.
                Err(_) => return,
            }
        }
        if let Err(e) = respond(&req, &res, &body, bytes) {
            // In Node this is an uncaught exception in the 'end' listener.
            eprintln!("echo: {} {}: {} ({})", req.method(), req.url(), e, e.code());
        }
    }
}

fn respond(
    req: &IncomingMessage,
    res: &ServerResponse,
    body: &[u8],
    bytes: usize,
) -> Result<(), Error> {
    match route(req.url()) {
        Route::Discard => {
            res.set_header("content-type", "text/plain")?;
            res.end(Some(bytes.to_string().as_bytes()))?;
        }
        Route::Status(code) => {
            res.set_status_code(code);
            res.end(None)?;
        }
        Route::Chunked => {
            res.set_header("content-type", "text/plain")?;
            res.write(b"chunk-one;")?;
            res.write(b"chunk-two;")?;
            res.write(b"chunk-three")?;
            res.end(None)?;
        }
        Route::Trailers => {
            res.set_header("content-type", "text/plain")?;
            res.set_header("Trailer", "X-Checksum")?;
            match res.write(b"body-with-trailers") {
                Err(e) if e.code() == "ERR_HTTP_TRAILER_INVALID" => {
                    res.remove_header("Trailer")?;
                    res.write_head(500, Some("Internal Server Error"), None)?;
                    res.end(Some(b"ERR_HTTP_TRAILER_INVALID"))?;
                }
                Err(e) => return Err(e),
                Ok(_) => {
                    res.add_trailers(&[("X-Checksum".into(), "abc123".into())])?;
                    res.end(None)?;
                }
            }
        }
        Route::Big(None) => {
            res.set_status_code(400);
            res.end(None)?;
        }
        Route::Big(Some(n)) => {
            res.set_header("content-type", "application/octet-stream")?;
            // One `end(buffer)`, as the Node server does: that is what makes
            // the head carry `Content-Length: n` where Node writes it (after
            // Date/Connection/Keep-Alive). Streaming with write() would send
            // chunked instead, and a Content-Length set by hand would sit
            // among the user's headers with the user's case. The price is up
            // to 64 MiB in memory per request in flight.
            res.end(Some(&big_body(n)))?;
        }
        Route::Echo => {
            res.set_header("content-type", "application/json")?;
            res.end(Some(echo_json(req, body).as_bytes()))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- main

/// glibc's `malloc_trim(0)`: free pages in the allocator's arenas go back
/// to the system. Elsewhere, nothing.
fn malloc_trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C). The handlers are installed when
/// this is called, before the server says it listens.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    // Node's createServer throws ERR_OUT_OF_RANGE for a headersTimeout above
    // requestTimeout: a usage error here.
    let server = match Server::new(args.server_options(), Echo) {
        Ok(server) => server,
        Err(e) => Args::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                format!("{} ({})", e, e.code()),
            )
            .exit(),
    };
    if let Some(n) = args.max_requests_per_socket {
        server.set_max_requests_per_socket(n);
    }
    if args.malloc_trim > 0 {
        let every = Duration::from_millis(args.malloc_trim);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                malloc_trim();
            }
        });
    }
    let stop = shutdown_signal()?;
    let addr = server.listen(("127.0.0.1", args.port)).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "LISTENING {}", addr.port())?;
    out.flush()?;
    drop(out);
    stop.await;
    server.close();
    server.close_all_connections();
    Ok(())
}
