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
use crate::fixture::{Scenario, Side, Step};
use crate::matching::{self, describe, expected_text_with, mask_dates, transcript_lines};
use crate::protocol::{FromAdapter, ToAdapter};
use crate::result::{Outcome, ScenarioResult};

/// How long an adapter may take to answer `start` or `stop`.
const ADAPTER_ANSWER: Duration = Duration::from_secs(5);
/// After the expected events arrived, how long to keep listening for extra ones.
const SETTLE: Duration = Duration::from_millis(25);
/// After a mismatch, how long to keep reading to show what else came.
const CONTEXT_READ: Duration = Duration::from_millis(50);
/// Between the pieces of a split send.
const SPLIT_PAUSE: Duration = Duration::from_millis(2);

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
        let masked = mask_dates(got);
        match self.runner_port() {
            Some(port) => {
                let needle = format!("127.0.0.1:{port}");
                let text = String::from_utf8_lossy(&masked).into_owned();
                if text.contains(&needle) && std::str::from_utf8(&masked).is_ok() {
                    text.replace(&needle, &format!("127.0.0.1:{}", crate::fixture::PORT_MARK))
                        .into_bytes()
                } else {
                    masked
                }
            }
            None => masked,
        }
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
            self.conns.insert(
                name.clone(),
                Conn {
                    stream: Some(stream),
                    buf: Vec::new(),
                    closed: None,
                },
            );
        }
        Ok(self.conns.get_mut(&name).expect("inserted"))
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
                let split = self.split.filter(|_| self.scenario.split);
                self.both_lines(transcript_lines('>', bytes));
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
                let masked = mask_dates(&got);
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
                    Ok(Ok((stream, _))) => {
                        let _ = stream.set_nodelay(true);
                        self.conns.insert(
                            name.clone(),
                            Conn {
                                stream: Some(stream),
                                buf: Vec::new(),
                                closed: None,
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
                self.call(ToAdapter::Call {
                    target: "client".into(),
                    method: "request".into(),
                    args: vec![Value::String(name.clone())],
                })
                .await;
            }
            Step::Agent(name) => {
                self.both_lines(describe(step));
                self.call(ToAdapter::Call {
                    target: "agent".into(),
                    method: "state".into(),
                    args: vec![Value::String(name.clone())],
                })
                .await;
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
                method,
                args,
            } => {
                self.both_lines(describe(step));
                self.call(ToAdapter::Call {
                    target: target.clone(),
                    method: method.clone(),
                    args: args.clone(),
                })
                .await;
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
    let started = Instant::now();
    let mut result = ScenarioResult::bare(scenario, Outcome::Pass);
    let _ = adapter.take_stderr();
    let start = ToAdapter::Start {
        id: scenario.id.clone(),
        side: scenario.side.as_str().to_owned(),
        options: scenario.options.clone(),
        properties: scenario.properties.clone(),
        handler: scenario
            .handler
            .clone()
            .unwrap_or_else(|| serde_json::json!([["end"]])),
        listeners: scenario.listeners.clone(),
        port: None,
        closed_port: None,
        agents: scenario.agents.clone(),
        requests: scenario.requests.clone(),
    };
    // Client scenarios: the runner is the server.
    let (start, listener) = match (scenario.side, start) {
        (
            Side::Client,
            ToAdapter::Start {
                id,
                side,
                options,
                properties,
                handler,
                listeners,
                agents,
                requests,
                ..
            },
        ) => {
            let listener = match TcpListener::bind(("127.0.0.1", 0)).await {
                Ok(l) => l,
                Err(e) => {
                    result.outcome = Outcome::Error(format!("the runner cannot listen: {e}"));
                    return (result, AdapterState::Usable);
                }
            };
            let port = listener.local_addr().ok().map(|a| a.port());
            // A port nothing listens on: bound, then closed.
            let closed_port = match TcpListener::bind(("127.0.0.1", 0)).await {
                Ok(l) => l.local_addr().ok().map(|a| a.port()),
                Err(_) => None,
            };
            (
                ToAdapter::Start {
                    id,
                    side,
                    options,
                    properties,
                    handler,
                    listeners,
                    port,
                    closed_port,
                    agents,
                    requests,
                },
                Some(listener),
            )
        }
        (_, start) => (start, None),
    };
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
        );
    }
    let deadline = Instant::now() + ADAPTER_ANSWER;
    let port = loop {
        match adapter.recv(deadline).await {
            Some(Incoming::Message(FromAdapter::Listening { port })) => break port,
            Some(Incoming::Message(FromAdapter::Started)) if listener.is_some() => break 0,
            Some(Incoming::Message(FromAdapter::Unsupported { reason })) => {
                return (
                    fail_setup(result, Outcome::Unsupported(reason), adapter),
                    AdapterState::Usable,
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
                return (r, stop(adapter, HashMap::new()).await);
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
    };
    for (i, ws) in scenario.wire.iter().enumerate() {
        play.step(ws.line, &ws.step).await;
        play.pump();
        if play.failure.is_some() || play.broken.is_some() {
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

    // Wait for the expected events, then a little more for unexpected ones.
    let deadline = Instant::now()
        + if play.failure.is_some() {
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
        ..
    } = play;
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
    (result, state)
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
