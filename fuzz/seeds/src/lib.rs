//! `nodehttp-fuzz-seeds`: the fixtures as a fuzzing corpus (`just fuzz`
//! seeds its targets with it; the runner itself does not depend on the
//! reference, this crate joins them).
//!
//! Every scenario gives the raw bytes the client sends and those the
//! server sends, on its first connection: for a server scenario the `>`
//! lines of its `wire` block and the `<` lines (with `{{date}}` replaced by
//! a fixed IMF-fixdate), for a client scenario the `<` lines (with
//! `{{port}}` replaced by a fixed port) and the `>` lines. The minimised
//! finds kept in `fuzz/regressions/<target>/` come along. Layout of the
//! output directory:
//!
//! ```text
//! requests/<id>                 raw request bytes, one file per scenario
//! responses/<id>                raw response bytes, one file per scenario
//! regressions/<target>/<f>      the finds, in each fuzz target's input format
//! differential/<f>              request streams on which the reference once
//!                               differed from Node (`fuzz/differential`)
//! differential/<f>.node         Node 23.5.0's answer to each: the bytes with
//!                               `Date` masked, then `<eof>` or `<open>`
//! seeds/connection/<id>         requests in the `connection` target's format
//! seeds/client_connection/<id>  responses, with the methods of the requests
//!                               they answer, in `client_connection`'s format
//! seeds/websocket_frames/<id>   WebSocket scenarios: what the server sends
//!                               after its `101` answer (the `> frame` lines
//!                               and raw bytes), `websocket_frames`' format
//! ```
//!
//! In WebSocket scenarios, `{{ws-key}}` stands for [`FIXED_WS_KEY`] and
//! `{{ws-accept}}` for its accept value; the client's expected frames are
//! masked with a fixed key.
//!
//! `<id>` is the scenario id with `/` replaced by `__`
//! (`server__messageheaders__duplicates`).

use std::io;
use std::path::{Path, PathBuf};

use nodehttp_proto::chunked::ChunkedDecoder;
use nodehttp_proto::parse::{parse_request, BodyKind, ParseOptions, Status};

use nodehttp_conformance::fixture::{Expected, Scenario, SendPiece, Side, Step, Suite};
use nodehttp_conformance::wsframe;

/// The date that stands for `{{date}}` in exported responses.
pub const FIXED_DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

/// The port that stands for `{{port}}` in exported requests.
pub const FIXED_PORT: &str = "8000";

/// The key that stands for `{{ws-key}}` (RFC 6455's example).
pub const FIXED_WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// One scenario's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The file name: the id with `/` as `__`.
    pub name: String,
    /// What the client sends.
    pub request: Vec<u8>,
    /// What the server sends (for a server scenario, what it must answer).
    pub response: Vec<u8>,
    /// The methods of the requests in `request`, in order (as far as they
    /// parse): how the client reads `response`.
    pub methods: Vec<String>,
    /// WebSocket scenarios answered `101`: what the server sends after the
    /// head (frames, as the `websocket_frames` target takes them).
    pub frames: Vec<u8>,
}

/// The bytes of a scenario's first connection: for a server scenario the
/// steps before any `! connect` / `! use`, for a client scenario those of
/// the connection of the first `! accept` (also when `! use` comes back to
/// it).
pub fn exchange(s: &Scenario) -> Exchange {
    let mut sent = Vec::new();
    let mut expected = Vec::new();
    let mut first: Option<&str> = None;
    let mut current = s.side == Side::Server;
    let mut websocket: Option<&str> = None;
    for w in &s.wire {
        match (&w.step, s.side) {
            (Step::WebSocket(n), _) => websocket = Some(n),
            (Step::WsRequest, _) if current => expected.extend(ws_request(s, websocket)),
            (Step::Connect(_) | Step::Use(_), Side::Server) => current = false,
            (Step::Accept(n) | Step::Use(n), Side::Client) => {
                current = *first.get_or_insert(n) == n.as_str();
            }
            (Step::Send(b), _) if current => sent.extend(wsframe::fill_accept(b, FIXED_WS_KEY)),
            (Step::SendFrames(pieces), _) if current => {
                for p in pieces {
                    match p {
                        SendPiece::Bytes(b) => sent.extend(wsframe::fill_accept(b, FIXED_WS_KEY)),
                        SendPiece::Frame(f) => sent.extend(f.encode()),
                    }
                }
            }
            (Step::ExpectFrame(f), _) if current => expected.extend(f.encode()),
            (Step::Expect(parts), _) if current => {
                for p in parts {
                    match p {
                        Expected::Bytes(b) => expected.extend_from_slice(b),
                        Expected::Date => expected.extend_from_slice(FIXED_DATE.as_bytes()),
                        Expected::Port => expected.extend_from_slice(FIXED_PORT.as_bytes()),
                        Expected::WsKey => expected.extend_from_slice(FIXED_WS_KEY.as_bytes()),
                    }
                }
            }
            _ => {}
        }
    }
    let (request, response) = match s.side {
        Side::Server => (sent, expected),
        Side::Client => (expected, sent),
    };
    let frames = if s.websockets.is_empty() {
        Vec::new()
    } else {
        after_101(&response)
    };
    Exchange {
        name: s.id.replace('/', "__"),
        methods: methods(&request),
        request,
        response,
        frames,
    }
}

/// `! ws-request`: the handshake request the reference sends for the
/// WebSocket last constructed, with [`FIXED_PORT`] and [`FIXED_WS_KEY`].
fn ws_request(s: &Scenario, name: Option<&str>) -> Vec<u8> {
    use nodehttp_proto::websocket::handshake;
    let spec = name.and_then(|n| s.websockets.get(n));
    let url = spec
        .and_then(|w| w.get("url"))
        .and_then(|u| u.as_str())
        .unwrap_or("ws://127.0.0.1:{{port}}/")
        .replace("{{port}}", FIXED_PORT);
    let protocols: Vec<&str> = match spec.and_then(|w| w.get("protocols")) {
        Some(serde_json::Value::String(p)) => vec![p.as_str()],
        Some(serde_json::Value::Array(a)) => a.iter().filter_map(|p| p.as_str()).collect(),
        _ => Vec::new(),
    };
    match handshake::parse_url(&url) {
        Ok(u) => handshake::request(&u, &protocols, FIXED_WS_KEY),
        Err(_) => Vec::new(),
    }
}

/// What follows a `101` head at the start of `response` (nothing if it is
/// not one).
fn after_101(response: &[u8]) -> Vec<u8> {
    let is_101 = response.starts_with(b"HTTP/1.1 101") || response.starts_with(b"HTTP/1.0 101");
    match response.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) if is_101 => response[i + 4..].to_vec(),
        _ => Vec::new(),
    }
}

/// The methods of the requests in `bytes`, up to the first that does not
/// parse (leniently) or that ends HTTP on the connection (`CONNECT`, an
/// upgrade).
pub fn methods(bytes: &[u8]) -> Vec<String> {
    let opts = ParseOptions {
        insecure: true,
        ..ParseOptions::default()
    };
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let Ok(Status::Complete(head)) = parse_request(&bytes[at..], &opts) else {
            // A request Node's client sends but its server refuses (a
            // latin-1 byte in the path): its method still tells the client
            // how to read the response.
            out.extend(method_token(&bytes[at..]));
            break;
        };
        out.push(head.method.to_owned());
        if head.upgrade {
            break;
        }
        at += head.head_len;
        match head.body {
            BodyKind::ContentLength(n) => {
                at += usize::try_from(n)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len() - at);
            }
            BodyKind::Chunked => {
                let mut body = Vec::new();
                match ChunkedDecoder::new(opts).decode(&bytes[at..], &mut body) {
                    Ok(p) if p.done => at += p.consumed,
                    _ => break,
                }
            }
            BodyKind::None | BodyKind::UntilEof => {}
        }
    }
    out
}

/// The method token that starts a request line, if it is one.
fn method_token(line: &[u8]) -> Option<String> {
    let end = line.iter().position(|&b| b == b' ')?;
    let token = &line[..end];
    (!token.is_empty() && token.iter().all(u8::is_ascii_uppercase))
        .then(|| String::from_utf8_lossy(token).into_owned())
}

/// The exchanges of every scenario whose client sends something.
pub fn exchanges(suite: &Suite) -> Vec<Exchange> {
    suite
        .scenarios
        .iter()
        .map(exchange)
        .filter(|e| !e.request.is_empty())
        .collect()
}

/// The files of `fuzz/regressions/`: `(target, file name, bytes)`, sorted.
pub fn regressions(dir: &Path) -> io::Result<Vec<(String, String, Vec<u8>)>> {
    let mut out = Vec::new();
    let Ok(targets) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for t in targets {
        let t = t?;
        if !t.file_type()?.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(t.path())? {
            let f = f?;
            if f.file_type()?.is_file() {
                out.push((
                    t.file_name().to_string_lossy().into_owned(),
                    f.file_name().to_string_lossy().into_owned(),
                    std::fs::read(f.path())?,
                ));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The `regressions` directory beside a fixture directory's parent
/// (`<repo>/fuzz/regressions` for `<repo>/fixtures`).
pub fn regressions_dir(fixtures: &Path) -> PathBuf {
    fixtures.join("../fuzz/regressions")
}

/// Writes the corpus under `out`; returns how many files were written.
pub fn export(suite: &Suite, regressions_from: &Path, out: &Path) -> io::Result<usize> {
    let mut n = 0;
    let mut write = |sub: &str, name: &str, bytes: &[u8]| -> io::Result<()> {
        let dir = out.join(sub);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)?;
        n += 1;
        Ok(())
    };
    for e in exchanges(suite) {
        write("requests", &e.name, &e.request)?;
        if !e.response.is_empty() {
            write("responses", &e.name, &e.response)?;
        }
        write(
            "seeds/connection",
            &e.name,
            &nodehttp_fuzzing::connection_input(&e.request),
        )?;
        if !e.response.is_empty() {
            let methods: Vec<&str> = e.methods.iter().map(String::as_str).collect();
            write(
                "seeds/client_connection",
                &e.name,
                &nodehttp_fuzzing::client_connection_input(&e.response, &methods),
            )?;
        }
        if !e.frames.is_empty() {
            write("seeds/websocket_frames", &e.name, &e.frames)?;
        }
    }
    for (target, name, bytes) in regressions(regressions_from)? {
        write(&format!("regressions/{target}"), &name, &bytes)?;
    }
    let differential = regressions_from.join("../differential/regressions");
    if differential.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(&differential)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            write("differential", &name, &std::fs::read(&f)?)?;
        }
    }
    Ok(n)
}
