//! Playing one server scenario against an adapter: the runner is the client.
//!
//! The runner owns the wire and the clock. Every step is recorded twice, as
//! the fixture expects it and as it happened, so a failure shows as a diff of
//! two transcripts that read like the fixture itself.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::adapter::{Adapter, Incoming};
use crate::fixture::{Scenario, SendPiece, Side, Step};
use crate::matching::{self, describe, expected_text_with, mask_dates, transcript_lines};
use crate::protocol::{FromAdapter, ToAdapter};
use crate::result::{Outcome, ScenarioResult};
use crate::wsframe::{self, Decoded};

/// How long an adapter may take to answer `start` or `stop`.
const ADAPTER_ANSWER: Duration = Duration::from_secs(5);
/// After the expected events arrived, how long to keep listening for extra ones.
const SETTLE: Duration = Duration::from_millis(25);
/// After a mismatch, how long to keep reading to show what else came.
const CONTEXT_READ: Duration = Duration::from_millis(50);
/// Between the pieces of a split send.
const SPLIT_PAUSE: Duration = Duration::from_millis(2);
/// Recording: an answer is over once nothing came for this long.
const RECORD_IDLE: Duration = Duration::from_millis(40);

/// How the runner cuts what it sends, to check that the server's answer
/// does not depend on how bytes arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Every send in pieces of this many bytes (1: byte by byte).
    Pieces(usize),
    /// Every send longer than this cut in two at this offset.
    At(usize),
}

impl Split {
    /// The pieces of `bytes`.
    fn cut(self, bytes: &[u8]) -> Vec<&[u8]> {
        match self {
            Split::Pieces(n) => bytes.chunks(n.max(1)).collect(),
            Split::At(k) if k > 0 && k < bytes.len() => vec![&bytes[..k], &bytes[k..]],
            Split::At(_) => vec![bytes],
        }
    }
}

/// What became of the adapter after a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterState {
    /// It can run the next scenario.
    Usable,
    /// It must be replaced (died, hung or broke the protocol).
    Broken,
}

/// A connection from the runner to the server under test.
struct Conn {
    stream: Option<TcpStream>,
    /// Received, not yet consumed by an expectation.
    buf: Vec<u8>,
    /// The server closed (EOF or reset).
    closed: Option<&'static str>,
    /// The `Sec-WebSocket-Key` the client sent on this connection, for
    /// `{{ws-accept}}`.
    ws_key: Option<String>,
}

impl Conn {
    /// Reads once into `buf`, until `deadline`. Returns false on timeout.
    async fn fill(&mut self, deadline: Instant) -> bool {
        let Some(stream) = self.stream.as_mut() else {
            self.closed.get_or_insert("closed by us");
            return true;
        };
        if self.closed.is_some() {
            return true;
        }
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => false,
            Ok(Ok(0)) => {
                self.closed = Some("closed");
                true
            }
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Ok(Err(_)) => {
                self.closed = Some("reset");
                true
            }
        }
    }

    /// Reads whatever arrives until `deadline`, or until the connection closes.
    async fn drain_until(&mut self, deadline: Instant) {
        while self.closed.is_none() && self.fill(deadline).await {}
    }
}

/// The state of one scenario run.
struct Play<'a> {
    adapter: &'a mut Adapter,
    scenario: &'a Scenario,
    port: u16,
    conns: HashMap<String, Conn>,
    current: String,
    events: Vec<Map<String, Value>>,
    awaited: HashMap<String, usize>,
    expected: Vec<String>,
    actual: Vec<String>,
    failure: Option<String>,
    broken: Option<String>,
    split: Option<Split>,
    /// Client scenarios: the runner's scripted server.
    listener: Option<TcpListener>,
    /// The ports of this run, and how fixtures write them.
    ports: PortNames,
    /// Recording (`record`): what each wire step saw, as fixture lines
    /// (`None`: the step's lines stay as written).
    recording: Option<Vec<Option<Vec<String>>>>,
    /// The index of the wire step being played.
    step_index: usize,
}

/// The ports of a run (the server's, each connection's client end...) and
/// their names in fixtures (`{{port}}`, `{{c1.port}}`): events report real
/// numbers, which are masked back to the names before comparison.
#[derive(Debug, Default)]
pub struct PortNames(Vec<(u16, String)>, std::collections::HashSet<String>);

impl PortNames {
    /// The `get` calls of `scenario` that read a port (`["req.get",
    /// "socket.remotePort"]`, `! call server.get ["address.port"]`): their
    /// `return` events carry a port, masked like a `remotePort` field.
    pub fn port_reads(scenario: &Scenario) -> std::collections::HashSet<String> {
        fn scan(v: &Value, out: &mut std::collections::HashSet<String>) {
            match v {
                Value::Array(a) => {
                    if let (Some(Value::String(call)), Some(Value::String(path))) =
                        (a.first(), a.get(1))
                    {
                        let call = call.trim_end_matches('?');
                        if (call == "get" || call.ends_with(".get"))
                            && is_port_key(path.rsplit('.').next().unwrap_or(path))
                        {
                            out.insert(call.to_owned());
                        }
                    }
                    a.iter().for_each(|x| scan(x, out));
                }
                Value::Object(o) => o.values().for_each(|x| scan(x, out)),
                _ => {}
            }
        }
        let mut out = std::collections::HashSet::new();
        for v in [&scenario.handler, &None]
            .into_iter()
            .flatten()
            .chain(scenario.listeners.values())
            .chain(scenario.requests.values())
            .chain(scenario.websockets.values())
        {
            scan(v, &mut out);
        }
        for w in &scenario.wire {
            if let Step::Call {
                target,
                name,
                method,
                args,
                ..
            } = &w.step
            {
                let path = args.first().and_then(Value::as_str).unwrap_or("");
                if method == "get" && is_port_key(path.rsplit('.').next().unwrap_or(path)) {
                    let name = name.as_ref().map(|n| format!("{n}.")).unwrap_or_default();
                    out.insert(format!("{target}.{name}get"));
                }
            }
        }
        out
    }

    /// The port named `{{name}}` (written with its braces).
    pub fn port_of(&self, name: &str) -> Option<u16> {
        self.0.iter().find(|(_, n)| n == name).map(|(p, _)| *p)
    }

    /// Names `port` `{{name}}`.
    pub fn add(&mut self, port: u16, name: &str) {
        self.0.retain(|(p, _)| *p != port);
        self.0.push((port, format!("{{{{{name}}}}}")));
    }

    /// Masks the known ports in an event: a number under a key that names
    /// a port (`remotePort`, `port`; a `return` of a call that reads one),
    /// and `:PORT` in any string or key (`127.0.0.1:41234`, pool names).
    pub fn mask(&self, event: &mut Map<String, Value>) {
        if self.0.is_empty() {
            return;
        }
        let returns_port = event.get("event").and_then(Value::as_str) == Some("return")
            && event.get("call").and_then(Value::as_str).is_some_and(|c| {
                is_port_key(c.rsplit(['.', ' ']).next().unwrap_or(c))
                    || c.ends_with("Port")
                    || self.1.contains(c)
            });
        let taken = std::mem::take(event);
        for (k, mut v) in taken {
            let port_key = is_port_key(&k) || (k == "value" && returns_port);
            self.mask_value(&mut v, port_key);
            event.insert(self.mask_str(&k), v);
        }
    }

    fn mask_value(&self, v: &mut Value, port_key: bool) {
        match v {
            Value::Number(n) if port_key => {
                if let Some((_, name)) = self
                    .0
                    .iter()
                    .find(|(p, _)| n.as_u64() == Some(u64::from(*p)))
                {
                    *v = Value::String(name.clone());
                }
            }
            Value::String(s) => *s = self.mask_str(s),
            Value::Array(a) => a.iter_mut().for_each(|x| self.mask_value(x, port_key)),
            Value::Object(o) => {
                let taken = std::mem::take(o);
                for (k, mut x) in taken {
                    self.mask_value(&mut x, is_port_key(&k));
                    o.insert(self.mask_str(&k), x);
                }
            }
            _ => {}
        }
    }

    fn mask_str(&self, s: &str) -> String {
        if !s.contains(':') {
            return s.to_owned();
        }
        let mut out = s.to_owned();
        for (port, name) in &self.0 {
            let needle = format!(":{port}");
            let mut from = 0;
            while let Some(i) = out[from..].find(&needle).map(|i| i + from) {
                let after = i + needle.len();
                if out[after..].starts_with(|c: char| c.is_ascii_digit()) {
                    from = after;
                    continue;
                }
                out.replace_range(i + 1..after, name);
                from = i + 1 + name.len();
            }
        }
        out
    }
}

fn is_port_key(k: &str) -> bool {
    k == "port" || k.ends_with("Port")
}

/// A client scenario's `start`: the ports put in place (`{{port}}`,
/// `{{closedPort}}`, `$closedPort`), the host and port added to a request
/// with no `url` unless it says `defaults = false` or names them, and each
/// agent's `$`-keys moved to its `hooks`.
fn client_start(scenario: &Scenario, port: u16, closed_port: u16) -> ToAdapter {
    let fill = |v: &Value| fill_ports(v, port, closed_port);
    let mut agents = Map::new();
    for (name, options) in &scenario.agents {
        let mut opts = Map::new();
        let mut hooks = Map::new();
        for (k, v) in options.as_object().into_iter().flatten() {
            match k.strip_prefix('$') {
                Some(hook) => hooks.insert(hook.to_owned(), v.clone()),
                None => opts.insert(k.clone(), fill(v)),
            };
        }
        let mut agent = Map::new();
        agent.insert("options".into(), Value::Object(opts));
        if !hooks.is_empty() {
            agent.insert("hooks".into(), Value::Object(hooks));
        }
        agents.insert(name.clone(), Value::Object(agent));
    }
    let mut requests = Map::new();
    for (name, spec) in &scenario.requests {
        let mut spec = match fill(spec) {
            Value::Object(o) => o,
            _ => Map::new(),
        };
        let defaults = spec
            .remove("defaults")
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if defaults && !spec.contains_key("url") {
            let options = spec
                .entry("options")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(o) = options {
                if !["host", "hostname", "socketPath"]
                    .iter()
                    .any(|k| o.contains_key(*k))
                {
                    o.insert("host".into(), "127.0.0.1".into());
                }
                if !["port", "socketPath", "defaultPort"]
                    .iter()
                    .any(|k| o.contains_key(*k))
                {
                    o.insert("port".into(), port.into());
                }
            }
        }
        requests.insert(name.clone(), Value::Object(spec));
    }
    let websockets = scenario
        .websockets
        .iter()
        .map(|(name, spec)| (name.clone(), fill(spec)))
        .collect();
    ToAdapter::Start {
        id: scenario.id.clone(),
        side: scenario.side.as_str().to_owned(),
        options: Map::new(),
        properties: Map::new(),
        handler: Value::Null,
        listeners: Map::new(),
        body: None,
        port: Some(port),
        closed_port: Some(closed_port),
        agents,
        requests,
        websockets,
    }
}

/// `{{port}}` and `{{closedPort}}` (or `"$closedPort"`) in place: a string
/// that is only the placeholder becomes the number.
fn fill_ports(v: &Value, port: u16, closed_port: u16) -> Value {
    match v {
        Value::String(s) if s == "{{port}}" => port.into(),
        Value::String(s) if s == "{{closedPort}}" || s == "$closedPort" => closed_port.into(),
        Value::String(s) if s.contains("{{") => Value::String(
            s.replace("{{port}}", &port.to_string())
                .replace("{{closedPort}}", &closed_port.to_string()),
        ),
        Value::Array(a) => {
            Value::Array(a.iter().map(|x| fill_ports(x, port, closed_port)).collect())
        }
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), fill_ports(x, port, closed_port)))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl Play<'_> {
    /// Client scenarios: the runner's own port (`{{port}}`).
    fn runner_port(&self) -> Option<u16> {
        self.listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
    }

    /// What the client sent, as shown in a transcript: dates masked, and
    /// the runner's port written `{{port}}` where the fixture has it.
    fn shown(&self, got: &[u8]) -> Vec<u8> {
        let masked = wsframe::mask_key(&mask_dates(got)).0;
        let Some(port) = self.runner_port() else {
            return masked;
        };
        let needle = format!("127.0.0.1:{port}");
        let shown = format!("127.0.0.1:{}", crate::fixture::PORT_MARK);
        let mut out = Vec::with_capacity(masked.len());
        let mut rest = &masked[..];
        while let Some(i) = rest
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
        {
            let after = &rest[i + needle.len()..];
            out.extend_from_slice(&rest[..i]);
            if after.first().is_some_and(u8::is_ascii_digit) {
                out.extend_from_slice(needle.as_bytes());
            } else {
                out.extend_from_slice(shown.as_bytes());
            }
            rest = after;
        }
        out.extend_from_slice(rest);
        out
    }

    /// Sends a `call` and waits for `called`, keeping the events that come
    /// meanwhile.
    async fn call(&mut self, msg: ToAdapter) {
        if let Err(e) = self.adapter.send(&msg).await {
            self.broken.get_or_insert(e);
            return;
        }
        let deadline = Instant::now() + ADAPTER_ANSWER;
        while self.broken.is_none() {
            match self.adapter.recv(deadline).await {
                Some(Incoming::Message(FromAdapter::Called)) => return,
                Some(item) => self.take(item),
                None => {
                    self.broken.get_or_insert(format!(
                        "the adapter did not answer `call` within {} s",
                        ADAPTER_ANSWER.as_secs()
                    ));
                }
            }
        }
    }

    /// Recording: the lines that replace the current step's.
    fn record(&mut self, lines: Vec<String>) {
        let i = self.step_index;
        if let Some(r) = self.recording.as_mut() {
            if let Some(slot) = r.get_mut(i) {
                *slot = Some(lines);
            }
        }
    }

    /// Recording `! open for` / `! closed within`: what came, then the
    /// directive that holds (the same duration).
    fn record_watch(&mut self, extra: &[u8], closed: Option<&'static str>, d: Duration) {
        let mut lines = transcript_lines('<', &self.shown(extra));
        lines.push(match closed {
            Some(_) => format!("! closed within {}", d.as_millis()),
            None => format!("! open for {}", d.as_millis()),
        });
        self.record(lines);
    }

    fn both_lines(&mut self, lines: Vec<String>) {
        self.expected.extend(lines.iter().cloned());
        self.actual.extend(lines);
    }

    fn fail(&mut self, line: usize, why: String) {
        if self.failure.is_none() {
            self.failure = Some(format!("line {line}: {why}"));
        }
    }

    /// Pulls what the adapter sent so far without waiting.
    fn pump(&mut self) {
        while let Some(item) = self.adapter.try_recv() {
            self.take(item);
        }
    }

    fn take(&mut self, item: Incoming) {
        match item {
            Incoming::Message(FromAdapter::Event(e)) => self.events.push(e),
            Incoming::Message(FromAdapter::Error { message }) => {
                self.broken
                    .get_or_insert(format!("the adapter reported an error: {message}"));
            }
            Incoming::Message(other) => {
                self.broken
                    .get_or_insert(format!("unexpected message from the adapter: {other:?}"));
            }
            Incoming::Garbage(g) => {
                self.broken
                    .get_or_insert(format!("the adapter broke the protocol: {g}"));
            }
            Incoming::Exited => {
                self.broken.get_or_insert("the adapter exited".into());
            }
        }
    }

    async fn conn(&mut self) -> Result<&mut Conn, String> {
        let name = self.current.clone();
        if !self.conns.contains_key(&name) && self.scenario.side == Side::Client {
            return Err("no connection from the client accepted yet (`! accept NAME`)".into());
        }
        if !self.conns.contains_key(&name) {
            let stream = TcpStream::connect(("127.0.0.1", self.port))
                .await
                .map_err(|e| format!("cannot connect to 127.0.0.1:{}: {e}", self.port))?;
            let _ = stream.set_nodelay(true);
            if let Ok(a) = stream.local_addr() {
                self.ports.add(a.port(), &format!("{name}.port"));
            }
            self.conns.insert(
                name.clone(),
                Conn {
                    stream: Some(stream),
                    buf: Vec::new(),
                    closed: None,
                    ws_key: None,
                },
            );
        }
        Ok(self.conns.get_mut(&name).expect("inserted"))
    }

    /// Writes `bytes` on the current connection (in pieces with `--split`),
    /// with `{{ws-accept}}` filled in from the key the client sent on it.
    async fn write(&mut self, line: usize, bytes: &[u8]) {
        let split = self.split.filter(|_| self.scenario.split);
        let filled;
        let bytes = if !self.scenario.websockets.is_empty() && wsframe::wants_accept(bytes) {
            match self.conns.get(&self.current).and_then(|c| c.ws_key.clone()) {
                Some(key) => {
                    filled = wsframe::fill_accept(bytes, &key);
                    &filled[..]
                }
                None => {
                    let e = "`{{ws-accept}}`: no valid Sec-WebSocket-Key was received on this connection".to_owned();
                    self.actual.push(format!("! {e}"));
                    return self.fail(line, e);
                }
            }
        } else {
            bytes
        };
        match self.conn().await {
            // A write to a connection the server closed is not an
            // error of the scenario: what the server did shows in
            // the following expectations.
            Ok(c) => {
                if let Some(s) = c.stream.as_mut() {
                    match split {
                        Some(split) => {
                            for piece in split.cut(bytes) {
                                if s.write_all(piece).await.is_err() {
                                    break;
                                }
                                // Long enough for the server to read
                                // each piece on its own.
                                tokio::time::sleep(SPLIT_PAUSE).await;
                            }
                        }
                        None => {
                            let _ = s.write_all(bytes).await;
                        }
                    }
                }
            }
            Err(e) => {
                self.actual.push(format!("! {e}"));
                self.fail(line, e);
            }
        }
    }

    /// `! ws-request`: reads a request head from the client and checks that
    /// it opens a WebSocket (RFC 6455, section 4.1: `GET`, `Upgrade:
    /// websocket`, `Connection: Upgrade`, `Sec-WebSocket-Version: 13` and a
    /// key of 16 bytes in base64, which is remembered for `{{ws-accept}}`).
    async fn ws_request(&mut self, line: usize) {
        let timeout = self.scenario.timeout;
        let text = "! ws-request".to_owned();
        let Some(c) = self.reading(line, &text).await else {
            return;
        };
        let deadline = Instant::now() + timeout;
        let end = loop {
            if let Some(i) = c.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break Some(i + 4);
            }
            if c.closed.is_some() || !c.fill(deadline).await {
                break None;
            }
        };
        let head: Vec<u8> = c.buf.drain(..end.unwrap_or(c.buf.len())).collect();
        let (masked, key) = wsframe::mask_key(&head);
        let problem = match (end, &key) {
            (None, _) if head.is_empty() => Some(match c.closed {
                Some(how) => format!("expected a handshake request, the connection was {how}"),
                None => format!(
                    "expected a handshake request, nothing came within {} ms",
                    timeout.as_millis()
                ),
            }),
            (None, _) => Some("expected a handshake request, got part of a head".to_owned()),
            (Some(_), None) => {
                Some("the request has no valid Sec-WebSocket-Key (16 bytes in base64)".to_owned())
            }
            (Some(_), Some(_)) => wsframe::handshake_problem(&head),
        };
        if problem.is_none() {
            c.ws_key = key;
        }
        let lines = match &problem {
            None => vec![text],
            Some(_) => transcript_lines('<', &self.shown(&masked)),
        };
        self.conclude(line, lines, problem);
    }

    /// The start of a step that reads what the client sent: its expected
    /// line noted (unless recording), and the current connection (`None`:
    /// there is none, a failure already recorded).
    async fn reading(&mut self, line: usize, expected: &str) -> Option<&mut Conn> {
        if self.recording.is_none() {
            self.expected.push(expected.to_owned());
        }
        if let Err(e) = self.conn().await {
            self.actual.push(format!("! {e}"));
            self.fail(line, e);
            return None;
        }
        self.conns.get_mut(&self.current)
    }

    /// The end of such a step: what was read as transcript `lines`, and
    /// why it differs from what was expected, if it does (recording: the
    /// lines replace the step's).
    fn conclude(&mut self, line: usize, lines: Vec<String>, why: Option<String>) {
        if self.recording.is_some() {
            return self.record(lines);
        }
        self.actual.extend(lines);
        if let Some(why) = why {
            self.fail(line, why);
        }
    }

    /// `< frame ...`: reads one frame from the client, unmasks it and
    /// compares it (its masking key aside) with `want`.
    async fn expect_frame(&mut self, line: usize, want: &wsframe::Frame) {
        let timeout = self.scenario.timeout;
        let recording = self.recording.is_some();
        let want_line = format!("< {}", want.render(false));
        let Some(c) = self.reading(line, &want_line).await else {
            return;
        };
        let deadline = Instant::now() + timeout;
        let decoded = loop {
            match wsframe::decode(&c.buf) {
                Decoded::Partial if c.closed.is_none() && c.fill(deadline).await => {}
                Decoded::Partial => break None,
                d => break Some(d),
            }
        };
        let (lines, why) = match decoded {
            Some(Decoded::Frame(f, n)) => {
                c.buf.drain(..n);
                let got = f.without_key();
                let text = format!("< {}", got.render(false));
                let why = (got != *want).then(|| "the frame received differs".to_owned());
                (vec![text], why)
            }
            Some(Decoded::TooLong(n)) => {
                let head: Vec<u8> = c.buf.drain(..10.min(c.buf.len())).collect();
                let mut lines = transcript_lines('<', &head);
                lines.push(format!("# (a frame of {n} bytes: not read)"));
                (
                    lines,
                    Some(format!("expected a frame, got one of {n} bytes")),
                )
            }
            _ => {
                let closed = c.closed;
                let got: Vec<u8> = c.buf.drain(..).collect();
                let mut lines = transcript_lines('<', &got);
                if !recording {
                    lines.push(match closed {
                        Some(how) => format!("! {how}"),
                        None => format!("! (nothing more within {} ms)", timeout.as_millis()),
                    });
                }
                let why = match (got.is_empty(), closed) {
                    (false, _) => "expected a frame, got part of one".to_owned(),
                    (true, Some(how)) => format!("expected a frame, the connection was {how}"),
                    (true, None) => {
                        format!(
                            "expected a frame, nothing came within {} ms",
                            timeout.as_millis()
                        )
                    }
                };
                (lines, Some(why))
            }
        };
        self.conclude(line, lines, why);
    }

    /// Reads the current connection for `d` or until it closes: what came,
    /// how it closed, and when. `None` if there is no connection (a failure
    /// already recorded).
    async fn watch(
        &mut self,
        line: usize,
        d: Duration,
    ) -> Option<(Vec<u8>, Option<&'static str>, Duration)> {
        let c = match self.conn().await {
            Ok(c) => c,
            Err(e) => {
                self.fail(line, e);
                return None;
            }
        };
        let start = Instant::now();
        c.drain_until(start + d).await;
        Some((c.buf.drain(..).collect(), c.closed, start.elapsed()))
    }

    async fn step(&mut self, line: usize, step: &Step) {
        let timeout = self.scenario.timeout;
        match step {
            Step::Send(bytes) => {
                self.both_lines(transcript_lines('>', bytes));
                self.write(line, bytes).await;
            }
            Step::SendFrames(pieces) => {
                self.both_lines(describe(step));
                let mut bytes = Vec::new();
                for p in pieces {
                    match p {
                        SendPiece::Bytes(b) => bytes.extend_from_slice(b),
                        SendPiece::Frame(f) => bytes.extend(f.encode()),
                    }
                }
                self.write(line, &bytes).await;
            }
            Step::ExpectFrame(want) => self.expect_frame(line, want).await,
            Step::WsRequest => self.ws_request(line).await,
            Step::WebSocket(name) => {
                self.both_lines(describe(step));
                self.call(ToAdapter::WebSocket { name: name.clone() }).await;
            }
            Step::Expect(pieces) if self.recording.is_some() => {
                let timeout = self.scenario.timeout;
                let want = mask_dates(&expected_text_with(pieces, self.runner_port()).0);
                let c = match self.conn().await {
                    Ok(c) => c,
                    Err(e) => return self.fail(line, e),
                };
                // The first byte may come late (after a timer); then what
                // follows within RECORD_IDLE belongs to the same answer,
                // unless what came is what the fixture expects already (so
                // that a recording keeps the timing of a check).
                let first = Instant::now() + timeout;
                while c.buf.is_empty() && c.closed.is_none() && c.fill(first).await {}
                loop {
                    let (masked, _) = wsframe::mask_key(&mask_dates(&c.buf));
                    if masked == want {
                        break;
                    }
                    let idle = Instant::now() + RECORD_IDLE;
                    let before = c.buf.len();
                    if c.closed.is_some() || !c.fill(idle).await || c.buf.len() == before {
                        break;
                    }
                }
                let got: Vec<u8> = c.buf.drain(..).collect();
                if let (_, Some(key)) = wsframe::mask_key(&got) {
                    c.ws_key = Some(key);
                }
                let lines = transcript_lines('<', &self.shown(&got));
                self.record(lines);
            }
            Step::Expect(pieces) => {
                let port = self.runner_port();
                let (want_raw, len) = expected_text_with(pieces, port);
                let want = mask_dates(&want_raw);
                let (want_shown, _) = expected_text_with(pieces, None);
                self.expected.extend(transcript_lines('<', &want_shown));
                let c = match self.conn().await {
                    Ok(c) => c,
                    Err(e) => {
                        self.actual.push(format!("! {e}"));
                        return self.fail(line, e);
                    }
                };
                let deadline = Instant::now() + timeout;
                while c.buf.len() < len && c.closed.is_none() {
                    if !c.fill(deadline).await {
                        break;
                    }
                }
                let n = len.min(c.buf.len());
                let got: Vec<u8> = c.buf.drain(..n).collect();
                let (masked, key) = wsframe::mask_key(&mask_dates(&got));
                if key.is_some() {
                    c.ws_key = key;
                }
                if masked == want {
                    self.actual.extend(transcript_lines('<', &want_shown));
                    return;
                }
                // Show what else comes, to make the diff telling.
                let mut shown = got;
                let more = Instant::now() + CONTEXT_READ;
                c.drain_until(more).await;
                shown.append(&mut c.buf);
                let closed = c.closed;
                let mut lines = transcript_lines('<', &self.shown(&shown));
                let why = if shown.is_empty() {
                    match closed {
                        Some(how) => format!("expected bytes, the connection was {how}"),
                        None => format!(
                            "expected bytes, nothing came within {} ms",
                            timeout.as_millis()
                        ),
                    }
                } else {
                    "the bytes received differ".to_owned()
                };
                match closed {
                    Some(how) => lines.push(format!("! {how}")),
                    None if shown.len() < len => lines.push(format!(
                        "! (nothing more within {} ms)",
                        timeout.as_millis()
                    )),
                    None => {}
                }
                self.actual.extend(lines);
                self.fail(line, why);
            }
            Step::Pause(d) => {
                self.both_lines(describe(step));
                tokio::time::sleep(*d).await;
            }
            Step::Shutdown => {
                self.both_lines(describe(step));
                if let Ok(c) = self.conn().await {
                    if let Some(s) = c.stream.as_mut() {
                        let _ = s.shutdown().await;
                    }
                }
            }
            Step::Close | Step::Reset => {
                let reset = matches!(step, Step::Reset);
                self.both_lines(describe(step));
                if let Ok(c) = self.conn().await {
                    if let Some(s) = c.stream.take() {
                        if reset {
                            // SO_LINGER 0 makes close() send RST at once; it
                            // cannot block, which is what the deprecation is about.
                            #[allow(deprecated)]
                            let _ = s.set_linger(Some(Duration::ZERO));
                        }
                        drop(s);
                    }
                }
            }
            Step::ClosedWithin(d) => {
                let expect_line = describe(step).remove(0);
                self.expected.push(expect_line.clone());
                let Some((extra, closed, _)) = self.watch(line, *d).await else {
                    return;
                };
                if self.recording.is_some() {
                    return self.record_watch(&extra, closed, *d);
                }
                let mut lines = transcript_lines('<', &mask_dates(&extra));
                match (closed, extra.is_empty()) {
                    (Some(_), true) => lines.push(expect_line),
                    (Some(how), false) => lines.push(format!("! {how}")),
                    (None, _) => lines.push(format!("! still open after {} ms", d.as_millis())),
                }
                self.actual.extend(lines);
                if closed.is_none() || !extra.is_empty() {
                    let why = if extra.is_empty() {
                        format!(
                            "expected the connection to close within {} ms",
                            d.as_millis()
                        )
                    } else {
                        "expected a close, received more bytes".into()
                    };
                    self.fail(line, why);
                }
            }
            Step::OpenFor(d) => {
                let expect_line = describe(step).remove(0);
                self.expected.push(expect_line.clone());
                let Some((extra, closed, elapsed)) = self.watch(line, *d).await else {
                    return;
                };
                if self.recording.is_some() {
                    return self.record_watch(&extra, closed, *d);
                }
                let mut lines = transcript_lines('<', &mask_dates(&extra));
                if let Some(how) = closed {
                    lines.push(format!("! {how} after {} ms", elapsed.as_millis()));
                } else if extra.is_empty() {
                    lines.push(expect_line);
                }
                self.actual.extend(lines);
                if closed.is_some() || !extra.is_empty() {
                    let why = if extra.is_empty() {
                        format!(
                            "the connection was {} before {} ms",
                            closed.unwrap_or("closed"),
                            d.as_millis()
                        )
                    } else {
                        "expected silence, received bytes".into()
                    };
                    self.fail(line, why);
                }
            }
            Step::Connect(name) => {
                self.both_lines(describe(step));
                self.current = name.clone();
                if let Err(e) = self.conn().await {
                    self.actual.push(format!("! {e}"));
                    self.fail(line, e);
                }
            }
            Step::Use(name) => {
                self.both_lines(describe(step));
                self.current = name.clone();
            }
            Step::Accept(name) => {
                let text = describe(step).remove(0);
                self.expected.push(text.clone());
                let accepted = match &self.listener {
                    Some(l) => tokio::time::timeout(timeout, l.accept()).await,
                    None => return self.fail(line, "`! accept` in a server scenario".into()),
                };
                match accepted {
                    Ok(Ok((stream, peer))) => {
                        let _ = stream.set_nodelay(true);
                        self.ports.add(peer.port(), &format!("{name}.port"));
                        self.conns.insert(
                            name.clone(),
                            Conn {
                                stream: Some(stream),
                                buf: Vec::new(),
                                closed: None,
                                ws_key: None,
                            },
                        );
                        self.current = name.clone();
                        self.actual.push(text);
                    }
                    Ok(Err(e)) => {
                        self.actual.push(format!("! accept failed: {e}"));
                        self.fail(line, format!("accept failed: {e}"));
                    }
                    Err(_) => {
                        self.actual
                            .push(format!("! no connection within {} ms", timeout.as_millis()));
                        self.fail(line, "the client opened no connection".into());
                    }
                }
            }
            Step::Request(name) => {
                self.both_lines(describe(step));
                self.call(ToAdapter::Request { name: name.clone() }).await;
            }
            Step::Agent(name) => {
                self.both_lines(describe(step));
                self.call(ToAdapter::Agent { name: name.clone() }).await;
            }
            Step::Signal(name) => {
                self.both_lines(describe(step));
                if let Err(e) = self
                    .adapter
                    .send(&ToAdapter::Signal { name: name.clone() })
                    .await
                {
                    self.broken.get_or_insert(e);
                }
            }
            Step::Call {
                target,
                name,
                method,
                args,
                report,
            } => {
                self.both_lines(describe(step));
                // Client scenarios: the runner's ports in place, as in `start`.
                let args = match (self.runner_port(), self.ports.port_of("{{closedPort}}")) {
                    (Some(p), Some(c)) => args.iter().map(|a| fill_ports(a, p, c)).collect(),
                    _ => args.clone(),
                };
                self.call(ToAdapter::Call {
                    target: target.clone(),
                    name: name.clone(),
                    method: method.clone(),
                    args,
                    report: *report,
                })
                .await;
            }
            Step::ConnectRefused(name) => {
                let text = describe(step).remove(0);
                self.expected.push(text.clone());
                match TcpStream::connect(("127.0.0.1", self.port)).await {
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        self.actual.push(text);
                    }
                    Err(e) => {
                        self.actual.push(format!("! connect {name}: {e}"));
                        self.fail(line, format!("expected the connection to be refused: {e}"));
                    }
                    Ok(stream) => {
                        self.actual.push(format!("! connect {name} (accepted)"));
                        self.fail(
                            line,
                            "expected the connection to be refused, it was accepted".into(),
                        );
                        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                    }
                }
            }
            Step::Event(name) => {
                let want = self.awaited.get(name).copied().unwrap_or(0) + 1;
                self.awaited.insert(name.clone(), want);
                let line_text = format!("! event {name}");
                self.expected.push(line_text.clone());
                let deadline = Instant::now() + timeout;
                loop {
                    self.pump();
                    let have = self
                        .events
                        .iter()
                        .filter(|e| e["event"] == name.as_str())
                        .count();
                    if have >= want {
                        self.actual.push(line_text);
                        return;
                    }
                    if self.broken.is_some() {
                        break;
                    }
                    match self.adapter.recv(deadline).await {
                        Some(item) => self.take(item),
                        None => break,
                    }
                }
                self.actual.push(format!(
                    "! no event {name} within {} ms",
                    timeout.as_millis()
                ));
                self.fail(line, format!("the implementation did not report `{name}`"));
            }
        }
    }
}

/// Runs one scenario on `adapter`. The adapter must be idle (between
/// scenarios); it is left idle again unless the state says it is broken.
///
/// With `split`, every send is written in pieces of that many bytes, each
/// read by the server on its own (scenarios marked `split = false` excepted):
/// a conforming server gives the same transcript for every chunking.
pub async fn run_scenario(
    adapter: &mut Adapter,
    scenario: &Scenario,
    split: Option<Split>,
) -> (ScenarioResult, AdapterState) {
    let (result, state, _) = play(adapter, scenario, split, false).await;
    (result, state)
}

/// What an implementation did in a scenario, as fixture text: the lines
/// that replace each wire step's (`None`: keep them), and the events.
#[derive(Debug, Clone)]
pub struct Recording {
    /// Per wire step, its new lines.
    pub wire: Vec<Option<Vec<String>>>,
    /// Every event reported, ports masked.
    pub events: Vec<Map<String, Value>>,
}

/// Plays `scenario` and records what the implementation did instead of
/// checking it: each expectation takes what arrives (until
/// `RECORD_IDLE` of silence), `! open for` and `! closed within` become
/// whichever held, and every event is kept. `Err` if the scenario could not
/// run (the result says why).
pub async fn record_scenario(
    adapter: &mut Adapter,
    scenario: &Scenario,
) -> (Result<Recording, ScenarioResult>, AdapterState) {
    let (result, state, recording) = play(adapter, scenario, None, true).await;
    match (recording, &result.outcome) {
        (Some(r), Outcome::Pass | Outcome::Fail(_)) => (Ok(r), state),
        _ => (Err(result), state),
    }
}

async fn play(
    adapter: &mut Adapter,
    scenario: &Scenario,
    split: Option<Split>,
    record: bool,
) -> (ScenarioResult, AdapterState, Option<Recording>) {
    let started = Instant::now();
    let mut result = ScenarioResult::bare(scenario, Outcome::Pass);
    let _ = adapter.take_stderr();
    // Client scenarios: the runner is the server, and the ports it puts in
    // the requests' options are known before the start.
    let (listener, closed_port) = match scenario.side {
        Side::Client => {
            let listener = match TcpListener::bind(("127.0.0.1", 0)).await {
                Ok(l) => l,
                Err(e) => {
                    result.outcome = Outcome::Error(format!("the runner cannot listen: {e}"));
                    return (result, AdapterState::Usable, None);
                }
            };
            // A port nothing listens on: bound, then closed.
            let closed_port = match TcpListener::bind(("127.0.0.1", 0)).await {
                Ok(l) => l.local_addr().ok().map(|a| a.port()),
                Err(_) => None,
            };
            (Some(listener), closed_port)
        }
        Side::Server => (None, None),
    };
    let runner_port = listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port());
    let start = match (runner_port, closed_port) {
        (Some(port), Some(closed)) => client_start(scenario, port, closed),
        _ => ToAdapter::Start {
            id: scenario.id.clone(),
            side: scenario.side.as_str().to_owned(),
            options: scenario.options.clone(),
            properties: scenario.properties.clone(),
            handler: scenario
                .handler
                .clone()
                .unwrap_or_else(|| serde_json::json!([["end"]])),
            listeners: scenario.listeners.clone(),
            body: scenario.body.clone(),
            port: None,
            closed_port: None,
            agents: Map::new(),
            requests: Map::new(),
            websockets: Map::new(),
        },
    };
    let mut ports = PortNames(Vec::new(), PortNames::port_reads(scenario));
    if let (Some(p), Some(c)) = (runner_port, closed_port) {
        ports.add(p, "port");
        ports.add(c, "closedPort");
    }
    let fail_setup = |mut result: ScenarioResult, outcome: Outcome, adapter: &Adapter| {
        result.outcome = outcome;
        result.stderr = adapter.take_stderr();
        result.duration = started.elapsed();
        result
    };
    if let Err(e) = adapter.send(&start).await {
        return (
            fail_setup(result, Outcome::Error(e), adapter),
            AdapterState::Broken,
            None,
        );
    }
    let deadline = Instant::now() + ADAPTER_ANSWER;
    let port = loop {
        match adapter.recv(deadline).await {
            Some(Incoming::Message(FromAdapter::Listening { port })) => {
                ports.add(port, "port");
                break port;
            }
            Some(Incoming::Message(FromAdapter::Started)) if listener.is_some() => break 0,
            Some(Incoming::Message(FromAdapter::Unsupported { reason })) => {
                return (
                    fail_setup(result, Outcome::Unsupported(reason), adapter),
                    AdapterState::Usable,
                    None,
                );
            }
            // Stray events from a previous scenario are not this one's.
            Some(Incoming::Message(FromAdapter::Event(_))) => continue,
            Some(Incoming::Message(FromAdapter::Error { message })) => {
                let r = fail_setup(
                    result,
                    Outcome::Error(format!(
                        "the adapter could not start the scenario: {message}"
                    )),
                    adapter,
                );
                return (r, stop(adapter, HashMap::new()).await, None);
            }
            other => {
                let why = match other {
                    None => format!("no `listening` within {} s", ADAPTER_ANSWER.as_secs()),
                    Some(Incoming::Exited) => "the adapter exited".into(),
                    Some(Incoming::Garbage(g)) => format!("the adapter broke the protocol: {g}"),
                    Some(Incoming::Message(m)) => format!("expected `listening`, got {m:?}"),
                };
                return (
                    fail_setup(result, Outcome::Error(why), adapter),
                    AdapterState::Broken,
                    None,
                );
            }
        }
    };

    let mut play = Play {
        adapter,
        scenario,
        port,
        conns: HashMap::new(),
        current: "c1".into(),
        events: Vec::new(),
        awaited: HashMap::new(),
        expected: Vec::new(),
        actual: Vec::new(),
        failure: None,
        broken: None,
        split,
        listener,
        ports,
        recording: record.then(|| vec![None; scenario.wire.len()]),
        step_index: 0,
    };
    for (i, ws) in scenario.wire.iter().enumerate() {
        play.step_index = i;
        play.step(ws.line, &ws.step).await;
        play.pump();
        if play.broken.is_some() || (play.failure.is_some() && !record) {
            // Later steps would only wait out their timeouts: show them as
            // expected and stop here.
            for rest in &scenario.wire[i + 1..] {
                play.expected.extend(matching::describe(&rest.step));
            }
            play.actual
                .push("# (stopped at the first difference)".into());
            break;
        }
    }

    if record {
        // Every event: until none came for SETTLE, as a check would wait
        // for the last expected one (or until the timeout).
        let deadline = Instant::now() + scenario.timeout;
        loop {
            play.pump();
            let quiet = (Instant::now() + SETTLE).min(deadline);
            match play.adapter.recv(quiet).await {
                Some(item) => play.take(item),
                None => break,
            }
        }
    }
    // Wait for the expected events, then a little more for unexpected ones.
    let deadline = Instant::now()
        + if play.failure.is_some() || record {
            SETTLE * 4
        } else {
            scenario.timeout
        };
    loop {
        play.pump();
        let relevant = matching::relevant(&scenario.events, &play.events).len();
        if relevant >= scenario.events.len() || play.broken.is_some() {
            break;
        }
        match play.adapter.recv(deadline).await {
            Some(item) => play.take(item),
            None => break,
        }
    }
    let settle = Instant::now() + SETTLE;
    while let Some(item) = play.adapter.recv(settle).await {
        play.take(item);
    }

    for e in &mut play.events {
        play.ports.mask(e);
    }
    let comparison = matching::compare_events(&scenario.events, &play.events);
    play.expected.extend(comparison.expected);
    play.actual.extend(comparison.actual);
    if let Some((i, why)) = comparison.failure {
        let line = scenario
            .event_lines
            .get(i)
            .copied()
            .unwrap_or(scenario.line);
        play.fail(line, why);
    }

    let Play {
        adapter,
        failure,
        broken,
        expected,
        actual,
        conns,
        recording,
        events,
        ..
    } = play;
    let recording = recording.map(|wire| Recording { wire, events });
    let state = stop(adapter, conns).await;
    result.expected = expected;
    result.actual = actual;
    result.outcome = match (broken, failure) {
        (Some(b), _) => Outcome::Error(b),
        (None, Some(f)) => Outcome::Fail(f),
        (None, None) => Outcome::Pass,
    };
    result.stderr = adapter.take_stderr();
    result.duration = started.elapsed();
    let state = if matches!(result.outcome, Outcome::Error(_)) {
        AdapterState::Broken
    } else {
        state
    };
    (result, state, recording)
}

/// Sends `stop`, resets the runner's connections, and waits for
/// `stopped`, discarding late events.
///
/// The connections end with a reset (RST), not a close: neither side then
/// keeps the connection in TIME_WAIT, so runs of thousands of scenarios do
/// not exhaust the ephemeral ports.
async fn stop(adapter: &mut Adapter, conns: HashMap<String, Conn>) -> AdapterState {
    let sent = adapter.send(&ToAdapter::Stop).await;
    for conn in conns.into_values() {
        if let Some(stream) = conn.stream {
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        }
    }
    if sent.is_err() {
        return AdapterState::Broken;
    }
    let deadline = Instant::now() + ADAPTER_ANSWER;
    loop {
        match adapter.recv(deadline).await {
            Some(Incoming::Message(FromAdapter::Stopped)) => return AdapterState::Usable,
            Some(Incoming::Message(_)) => continue,
            _ => return AdapterState::Broken,
        }
    }
}

#[cfg(test)]
mod port_tests {
    use super::*;
    use serde_json::json;

    fn event(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn known_ports_are_masked_where_a_port_is_meant() {
        let mut names = PortNames::default();
        names.add(41234, "port");
        names.add(50000, "c1.port");
        names.1.insert("req.get".into());
        let mut e = event(json!({"event": "connection", "remotePort": 50000, "localPort": 41234}));
        names.mask(&mut e);
        assert_eq!(
            Value::Object(e),
            json!({"event": "connection", "remotePort": "{{c1.port}}", "localPort": "{{port}}"})
        );
        // A port read through a dotted `get`; the same number elsewhere stays.
        let mut e = event(json!({"event": "return", "call": "req.get", "value": 50000}));
        names.mask(&mut e);
        assert_eq!(e["value"], "{{c1.port}}");
        let mut e = event(json!({"event": "return", "call": "get", "value": 50000}));
        names.mask(&mut e);
        assert_eq!(e["value"], 50000);
        let mut e = event(json!({"event": "end", "body": "41234"}));
        names.mask(&mut e);
        assert_eq!(e["body"], "41234");
        // `:PORT` in strings and keys, not a longer number.
        let mut e = event(
            json!({"event": "agent", "freeSockets": {"127.0.0.1:41234:": 1}, "x": "h:412345"}),
        );
        names.mask(&mut e);
        assert_eq!(
            Value::Object(e),
            json!({"event": "agent", "freeSockets": {"127.0.0.1:{{port}}:": 1}, "x": "h:412345"})
        );
    }
}
