//! Fixture files: Markdown pages holding scenarios (`fixtures/README.md`).
//!
//! Parsing never panics: every problem is a [`FixtureError`] naming the file
//! and the line, so a broken fixture is reported like a compiler error.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::escape::{self, unescape};
use crate::sections::Sections;
use crate::wsframe::{self, Frame};

/// A problem in a fixture file, with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line number (0 when the problem is the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

impl std::error::Error for FixtureError {}

/// Which side of `node:http` a scenario checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The implementation is the server; the runner plays the client.
    Server,
    /// The implementation is the client; the runner plays the server.
    Client,
}

impl Side {
    /// `server` or `client`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Server => "server",
            Side::Client => "client",
        }
    }
}

/// A Node version `major.minor.patch`, for `since` / `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// Parses `23`, `23.5` or `23.5.0`, with an optional leading `v`.
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim().trim_start_matches('v');
        let mut parts = s.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().map_or(Some(0), |p| p.parse().ok())?;
        let patch = parts
            .next()
            .map_or(Some(0), |p| p.split(['-', '+']).next()?.parse().ok())?;
        if parts.next().is_some() {
            return None;
        }
        Some(Version(major, minor, patch))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// One piece of an expected byte string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// These exact bytes.
    Bytes(Vec<u8>),
    /// An IMF-fixdate, written `{{date}}`.
    Date,
    /// The port the runner listens on, written `{{port}}` (client
    /// scenarios: `Host: 127.0.0.1:{{port}}`); replaced, not masked.
    Port,
    /// A WebSocket client's `Sec-WebSocket-Key`, written `{{ws-key}}`: any
    /// valid key (16 bytes in base64), remembered for `{{ws-accept}}`.
    WsKey,
}

/// The placeholder for the runner's port in client scenarios.
pub const PORT_MARK: &str = "{{port}}";

/// The placeholder for a masked date in expected text and masked transcripts.
pub const DATE_MASK: &str = "{{date}}";
/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const DATE_LEN: usize = 29;

/// One step of a `wire` block.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `>` lines: send these bytes.
    Send(Vec<u8>),
    /// `<` lines: expect these bytes.
    Expect(Vec<Expected>),
    /// `! pause MS`.
    Pause(Duration),
    /// `! shutdown`: half-close.
    Shutdown,
    /// `! close`.
    Close,
    /// `! reset`: close with RST.
    Reset,
    /// `! closed within MS`.
    ClosedWithin(Duration),
    /// `! open for MS`.
    OpenFor(Duration),
    /// `! connect NAME`.
    Connect(String),
    /// `! connect NAME refused`: opening a connection must be refused.
    ConnectRefused(String),
    /// `! use NAME`.
    Use(String),
    /// `! signal NAME`.
    Signal(String),
    /// `! event NAME`.
    Event(String),
    /// `! accept NAME` (client scenarios): wait for the client's next
    /// connection and make it current.
    Accept(String),
    /// `! request NAME` (client scenarios): the adapter issues that request.
    Request(String),
    /// `! agent NAME` (client scenarios): the adapter reports that agent's
    /// state (an `agent` event).
    Agent(String),
    /// `> frame ...` lines (WebSocket scenarios), with the `>` lines around
    /// them: sent in one write.
    SendFrames(Vec<SendPiece>),
    /// `< frame ...` (WebSocket scenarios): expect one frame from the client.
    ExpectFrame(Frame),
    /// `! websocket NAME` (client scenarios): the adapter constructs that
    /// WebSocket now.
    WebSocket(String),
    /// `! ws-request` (WebSocket scenarios): expect the client's opening
    /// handshake, any request head that is one (RFC 6455, section 4.1), and
    /// remember its key.
    WsRequest,
    /// `! call TARGET.METHOD[?] [ARGS]`: `server.close`, `http.get`,
    /// `agent.NAME.destroy`, `request.NAME.destroy`, `websocket.NAME.send`.
    Call {
        /// The object: `server`, `http`, `agent`, `request` or `websocket`.
        target: String,
        /// The agent's or request's name.
        name: Option<String>,
        /// The method (`get`, `set` and `[Symbol.asyncDispose]` included).
        method: String,
        /// The arguments.
        args: Vec<Value>,
        /// `?`: report the result as a `return` event.
        report: bool,
    },
}

/// A piece of a [`Step::SendFrames`].
#[derive(Debug, Clone, PartialEq)]
pub enum SendPiece {
    /// Raw bytes (`>` lines).
    Bytes(Vec<u8>),
    /// A frame (`> frame ...`).
    Frame(Frame),
}

/// A wire step with the fixture line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct WireStep {
    /// 1-based line in the fixture file.
    pub line: usize,
    /// The step.
    pub step: Step,
}

/// One scenario of a fixture file.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Stable id `<side>/<anchor>/<slug>`.
    pub id: String,
    /// Server or client.
    pub side: Side,
    /// Cited section anchors, the file's own first.
    pub anchors: Vec<String>,
    /// The rule, in one sentence.
    pub rule: String,
    /// The `##` heading.
    pub title: String,
    /// Applies from this Node version on.
    pub since: Option<Version>,
    /// Applies before this Node version.
    pub until: Option<Version>,
    /// Only run with `--strict`.
    pub strict: bool,
    /// How Node contradicts its docs here, if it does.
    pub deviation: Option<String>,
    /// How long an expectation may take.
    pub timeout: Duration,
    /// Whether the transcript holds however the sent bytes are split
    /// (`split = false`: it depends on the chunking, e.g. `bytesParsed`).
    pub split: bool,
    /// `createServer` options.
    pub options: Map<String, Value>,
    /// Server properties assigned before `listen`.
    pub properties: Map<String, Value>,
    /// The request handler script (`None`: the default `[["end"]]`).
    pub handler: Option<Value>,
    /// How the adapter consumes request bodies: `read` (`None`, the
    /// default) or `none`.
    pub body: Option<String>,
    /// Optional listeners and their scripts.
    pub listeners: Map<String, Value>,
    /// Client scenarios: the agents to create, by name, with their options.
    pub agents: Map<String, Value>,
    /// Client scenarios: the requests, by name: `options` for
    /// `http.request()` and the `script` run on the `ClientRequest`.
    pub requests: Map<String, Value>,
    /// Client scenarios: the WebSockets, by name: `url`, `protocols` for
    /// `new WebSocket(url, protocols)` and the `script` run on it.
    pub websockets: Map<String, Value>,
    /// The exchange on the wire.
    pub wire: Vec<WireStep>,
    /// The expected events, in order.
    pub events: Vec<Map<String, Value>>,
    /// The line of each expected event; past the end, the `events` block's
    /// fence (or the heading when there is no block).
    pub event_lines: Vec<usize>,
    /// The file it comes from.
    pub file: PathBuf,
    /// The line of its heading.
    pub line: usize,
    /// Its Markdown source, heading included.
    pub source: String,
}

impl Scenario {
    /// The section the scenario is filed under (its first anchor).
    pub fn section(&self) -> &str {
        &self.anchors[0]
    }

    /// Whether an implementation claiming `version` is concerned.
    pub fn applies_to(&self, version: Option<Version>) -> bool {
        let Some(v) = version else { return true };
        self.since.is_none_or(|s| v >= s) && self.until.is_none_or(|u| v < u)
    }
}

/// Listener keys a server scenario may install.
pub const SERVER_LISTENERS: &[&str] = &[
    "checkContinue",
    "checkExpectation",
    "clientError",
    "connect",
    "upgrade",
    "dropRequest",
    "timeout",
];

/// Events that are always compared (see `fixtures/README.md`).
pub const CORE_EVENTS: &[&str] = &[
    "uncaught",
    "request",
    "checkContinue",
    "checkExpectation",
    "end",
    "aborted",
    "clientError",
    "connect",
    "upgrade",
    "dropRequest",
    "timeout",
    "return",
    "throw",
];

/// Events compared only in scenarios that name them (see `fixtures/README.md`).
pub const OTHER_EVENTS: &[&str] = &[
    "connection",
    "req.data",
    "req.close",
    "res.drain",
    "res.prefinish",
    "res.finish",
    "res.close",
    "server.close",
];

/// The events of client scenarios that are always compared (each carries
/// `request`, the request's name, except the `agent` ones and `uncaught`):
/// the order of a request's events is what client scenarios check.
pub const CLIENT_EVENTS: &[&str] = &[
    "uncaught",
    "socket",
    "finish",
    "continue",
    "information",
    "response",
    "response.end",
    "response.aborted",
    "response.error",
    "response.close",
    "timeout",
    "abort",
    "upgrade",
    "connect",
    "error",
    "close",
    "agent",
    "agent.keepSocketAlive",
    "agent.reuseSocket",
    "agent.createConnection",
    "ws.open",
    "ws.message",
    "ws.error",
    "ws.close",
    "return",
    "throw",
];

/// Client events compared only in scenarios that name them.
pub const CLIENT_OTHER_EVENTS: &[&str] = &["prefinish", "drain", "response.data"];

/// Whether an adapter may report this event (core or other).
pub fn is_known_event(name: &str) -> bool {
    CORE_EVENTS.contains(&name)
        || OTHER_EVENTS.contains(&name)
        || CLIENT_EVENTS.contains(&name)
        || CLIENT_OTHER_EVENTS.contains(&name)
}

/// Whether a scenario of `side` may name this event.
pub fn is_event_of(side: Side, name: &str) -> bool {
    match side {
        Side::Server => CORE_EVENTS.contains(&name) || OTHER_EVENTS.contains(&name),
        Side::Client => CLIENT_EVENTS.contains(&name) || CLIENT_OTHER_EVENTS.contains(&name),
    }
}

/// Listeners a client request may go without (`without`).
pub const CLIENT_LISTENERS: &[&str] = &[
    "response",
    "error",
    "upgrade",
    "connect",
    "information",
    "continue",
    "timeout",
    "socket",
];

/// Agent methods a client scenario may override (`"$keepSocketAlive"`...),
/// with the values each takes.
pub const AGENT_HOOKS: &[(&str, &[&str])] = &[
    ("keepSocketAlive", &["observe", "false"]),
    ("reuseSocket", &["observe"]),
    ("createConnection", &["observe", "callback", "error"]),
];

/// The name of `http.globalAgent` in client scenarios.
pub const GLOBAL_AGENT: &str = "global";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    id: String,
    anchors: Vec<String>,
    rule: String,
    since: Option<String>,
    until: Option<String>,
    #[serde(default)]
    strict: bool,
    deviation: Option<String>,
    timeout: Option<u64>,
    split: Option<bool>,
    #[serde(default)]
    options: Map<String, Value>,
    #[serde(default)]
    properties: Map<String, Value>,
    handler: Option<Value>,
    body: Option<String>,
    #[serde(default)]
    listeners: Map<String, Value>,
    #[serde(default)]
    agents: Map<String, Value>,
    #[serde(default)]
    requests: Map<String, Value>,
    #[serde(default)]
    websockets: Map<String, Value>,
}

/// All the scenarios of a fixture tree.
#[derive(Debug, Default)]
pub struct Suite {
    /// Scenarios, ordered by file then position.
    pub scenarios: Vec<Scenario>,
    /// Sections declared untestable, with the reason.
    pub untestable: BTreeMap<String, String>,
}

impl Suite {
    /// Loads `dir/server/*.md`, `dir/client/*.md` and `dir/untestable.toml`.
    /// Returns every error found, not only the first.
    pub fn load(dir: &Path, sections: &Sections) -> Result<Suite, Vec<FixtureError>> {
        let mut suite = Suite::default();
        let mut errors = Vec::new();
        if !dir.is_dir() {
            return Err(vec![FixtureError {
                file: dir.to_owned(),
                line: 0,
                message: "fixture directory not found".into(),
            }]);
        }
        for side in [Side::Server, Side::Client] {
            let sub = dir.join(side.as_str());
            let Ok(entries) = std::fs::read_dir(&sub) else {
                continue;
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "md"))
                .collect();
            files.sort();
            for file in files {
                match std::fs::read_to_string(&file) {
                    Ok(text) => match parse_file(&file, &text, side, sections) {
                        Ok(mut s) => suite.scenarios.append(&mut s),
                        Err(mut e) => errors.append(&mut e),
                    },
                    Err(e) => errors.push(FixtureError {
                        file: file.clone(),
                        line: 0,
                        message: format!("cannot read: {e}"),
                    }),
                }
            }
        }
        let mut seen: HashMap<&str, &Scenario> = HashMap::new();
        for s in &suite.scenarios {
            if let Some(first) = seen.insert(&s.id, s) {
                errors.push(FixtureError {
                    file: s.file.clone(),
                    line: s.line,
                    message: format!(
                        "duplicate id `{}` (first at {}:{})",
                        s.id,
                        first.file.display(),
                        first.line
                    ),
                });
            }
        }
        let untestable = dir.join("untestable.toml");
        if untestable.exists() {
            match load_untestable(&untestable, sections) {
                Ok(u) => suite.untestable = u,
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(suite)
        } else {
            Err(errors)
        }
    }
}

fn load_untestable(
    file: &Path,
    sections: &Sections,
) -> Result<BTreeMap<String, String>, FixtureError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Untestable {
        sections: BTreeMap<String, String>,
    }
    let text = std::fs::read_to_string(file).map_err(|e| FixtureError {
        file: file.to_owned(),
        line: 0,
        message: format!("cannot read: {e}"),
    })?;
    let u: Untestable = toml::from_str(&text).map_err(|e| toml_error(file, &text, 1, &e))?;
    for anchor in u.sections.keys() {
        if !sections.contains(anchor) {
            let line = text
                .lines()
                .position(|l| l.trim_start().starts_with(anchor.as_str()));
            return Err(FixtureError {
                file: file.to_owned(),
                line: line.map_or(0, |l| l + 1),
                message: format!("unknown section anchor `{anchor}`"),
            });
        }
    }
    Ok(u.sections)
}

fn toml_error(file: &Path, block: &str, first_line: usize, e: &toml::de::Error) -> FixtureError {
    let line = e.span().map_or(0, |span| {
        block[..span.start.min(block.len())].matches('\n').count()
    });
    FixtureError {
        file: file.to_owned(),
        line: first_line + line,
        message: format!("invalid toml: {}", e.message()),
    }
}

/// A fenced block found in a scenario.
struct Block<'a> {
    info: &'a str,
    /// Line number of the first line inside the fence.
    first_line: usize,
    lines: Vec<&'a str>,
    fence_line: usize,
}

/// Parses one fixture file. `side` comes from its directory; the file stem
/// must be a section anchor.
pub fn parse_file(
    file: &Path,
    text: &str,
    side: Side,
    sections: &Sections,
) -> Result<Vec<Scenario>, Vec<FixtureError>> {
    let err = |line: usize, message: String| FixtureError {
        file: file.to_owned(),
        line,
        message,
    };
    let anchor = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned();
    if !sections.contains(&anchor) {
        return Err(vec![err(
            0,
            format!("file name `{anchor}` is not a section anchor of sections.tsv"),
        )]);
    }

    // Split into scenarios at `##` headings outside fences.
    let lines: Vec<&str> = text.lines().collect();
    let mut chunks: Vec<(usize, usize)> = Vec::new(); // (heading index, end index)
    let mut fence: Option<(char, usize)> = None;
    for (i, line) in lines.iter().enumerate() {
        if let Some(f) = fence_of(line) {
            match fence {
                None => fence = Some(f),
                Some((c, n))
                    if f.0 == c && f.1 >= n && line.trim_start()[f.1..].trim().is_empty() =>
                {
                    fence = None
                }
                _ => {}
            }
            continue;
        }
        if fence.is_none() && line.starts_with("## ") {
            if let Some(last) = chunks.last_mut() {
                last.1 = i;
            }
            chunks.push((i, lines.len()));
        }
    }
    if fence.is_some() {
        return Err(vec![err(
            lines.len(),
            "unclosed code fence at end of file".into(),
        )]);
    }

    let mut scenarios = Vec::new();
    let mut errors = Vec::new();
    for (start, end) in chunks {
        match parse_scenario(file, &lines[start..end], start + 1, side, &anchor, sections) {
            Ok(s) => scenarios.push(s),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(scenarios)
    } else {
        Err(errors)
    }
}

/// Returns the fence character and length if the line opens or closes a fence.
fn fence_of(line: &str) -> Option<(char, usize)> {
    let t = line.trim_start();
    if line.len() - t.len() > 3 {
        return None;
    }
    let c = t.chars().next()?;
    if c != '`' && c != '~' {
        return None;
    }
    let n = t.chars().take_while(|&x| x == c).count();
    (n >= 3).then_some((c, n))
}

fn collect_blocks<'a>(lines: &[&'a str], first_line: usize) -> Result<Vec<Block<'a>>, usize> {
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if let Some((c, n)) = fence_of(lines[i]) {
            let info = lines[i].trim_start()[n..].trim();
            let fence_line = first_line + i;
            let mut body = Vec::new();
            i += 1;
            loop {
                if i >= lines.len() {
                    return Err(fence_line);
                }
                if let Some((c2, n2)) = fence_of(lines[i]) {
                    if c2 == c && n2 >= n && lines[i].trim_start()[n2..].trim().is_empty() {
                        break;
                    }
                }
                body.push(lines[i]);
                i += 1;
            }
            blocks.push(Block {
                info,
                first_line: fence_line + 1,
                lines: body,
                fence_line,
            });
        }
        i += 1;
    }
    Ok(blocks)
}

fn parse_scenario(
    file: &Path,
    lines: &[&str],
    heading_line: usize,
    side: Side,
    anchor: &str,
    sections: &Sections,
) -> Result<Scenario, FixtureError> {
    let err = |line: usize, message: String| FixtureError {
        file: file.to_owned(),
        line,
        message,
    };
    let title = lines[0].trim_start_matches('#').trim().to_owned();
    let blocks =
        collect_blocks(lines, heading_line).map_err(|l| err(l, "unclosed code fence".into()))?;
    let find = |info: &str| -> Result<Option<&Block>, FixtureError> {
        let mut found = blocks.iter().filter(|b| b.info == info);
        let first = found.next();
        if let Some(second) = found.next() {
            return Err(err(
                second.fence_line,
                format!("a second ```{info} block in one scenario"),
            ));
        }
        Ok(first)
    };
    let meta_block = find("toml")?.ok_or_else(|| {
        err(
            heading_line,
            format!("scenario `{title}` has no ```toml block"),
        )
    })?;
    let wire_block = find("wire")?.ok_or_else(|| {
        err(
            heading_line,
            format!("scenario `{title}` has no ```wire block"),
        )
    })?;
    let events_block = find("events")?;

    let meta_text = meta_block.lines.join("\n");
    let meta: Meta = toml::from_str(&meta_text)
        .map_err(|e| toml_error(file, &meta_text, meta_block.first_line, &e))?;
    let key_line = |key: &str| -> usize {
        meta_block
            .lines
            .iter()
            .position(|l| l.trim_start().starts_with(key))
            .map_or(meta_block.fence_line, |i| meta_block.first_line + i)
    };

    // Identity.
    let mut parts = meta.id.splitn(3, '/');
    let (id_side, id_anchor, slug) = (parts.next(), parts.next(), parts.next());
    if id_side != Some(side.as_str()) || id_anchor != Some(anchor) {
        return Err(err(
            key_line("id"),
            format!(
                "id `{}` must start with `{}/{anchor}/` (side and file anchor)",
                meta.id,
                side.as_str()
            ),
        ));
    }
    let slug_ok = slug.is_some_and(|s| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    if !slug_ok {
        return Err(err(
            key_line("id"),
            format!("id `{}`: the slug must be [a-z0-9-]+", meta.id),
        ));
    }
    if meta.anchors.first().map(String::as_str) != Some(anchor) {
        return Err(err(
            key_line("anchors"),
            format!("anchors must start with the file's anchor `{anchor}`"),
        ));
    }
    for a in &meta.anchors {
        if !sections.contains(a) {
            return Err(err(
                key_line("anchors"),
                format!("unknown section anchor `{a}`"),
            ));
        }
    }
    if meta.rule.trim().is_empty() {
        return Err(err(
            key_line("rule"),
            "rule must state the rule checked".into(),
        ));
    }
    let version = |key: &str, v: &Option<String>| -> Result<Option<Version>, FixtureError> {
        v.as_deref()
            .map(|s| {
                Version::parse(s)
                    .ok_or_else(|| err(key_line(key), format!("`{key}`: `{s}` is not a version")))
            })
            .transpose()
    };
    let since = version("since", &meta.since)?;
    let until = version("until", &meta.until)?;

    // Scripts.
    if let Some(h) = &meta.handler {
        check_script(h).map_err(|m| err(key_line("handler"), format!("handler: {m}")))?;
    }
    for (name, script) in &meta.listeners {
        if side == Side::Server && !SERVER_LISTENERS.contains(&name.as_str()) {
            return Err(err(
                key_line(name),
                format!(
                    "unknown listener `{name}` (one of {})",
                    SERVER_LISTENERS.join(", ")
                ),
            ));
        }
        check_script(script).map_err(|m| err(key_line(name), format!("listener {name}: {m}")))?;
    }

    // Side-specific fields.
    match side {
        Side::Server => {
            if let Some(b) = &meta.body {
                if b != "read" && b != "none" {
                    return Err(err(
                        key_line("body"),
                        format!("`body` is \"read\" or \"none\", not `{b}`"),
                    ));
                }
            }
            for key in ["agents", "requests", "websockets"] {
                let present = match key {
                    "agents" => !meta.agents.is_empty(),
                    "requests" => !meta.requests.is_empty(),
                    _ => !meta.websockets.is_empty(),
                };
                if present {
                    return Err(err(
                        key_line(key),
                        format!("`{key}` belongs to client scenarios"),
                    ));
                }
            }
        }
        Side::Client => {
            if meta.handler.is_some()
                || !meta.listeners.is_empty()
                || !meta.properties.is_empty()
                || meta.body.is_some()
            {
                return Err(err(
                    key_line("handler"),
                    "`handler`, `listeners`, `properties` and `body` belong to server scenarios (a client request has its own `body`)".into(),
                ));
            }
            check_agents(&meta.agents).map_err(|(name, m)| err(key_line(&name), m))?;
            if meta.requests.is_empty() && meta.websockets.is_empty() {
                return Err(err(
                    key_line("id"),
                    "a client scenario declares its `requests` (or its `websockets`)".into(),
                ));
            }
            for (name, w) in &meta.websockets {
                check_websocket(w)
                    .map_err(|m| err(key_line(name), format!("websocket `{name}`: {m}")))?;
            }
            for (name, r) in &meta.requests {
                let Value::Object(r) = r else {
                    return Err(err(
                        key_line(name),
                        format!("request `{name}` must be a table"),
                    ));
                };
                check_request(r)
                    .map_err(|m| err(key_line(name), format!("request `{name}`: {m}")))?;
                if let Some(script) = r.get("script") {
                    check_script(script)
                        .map_err(|m| err(key_line(name), format!("request {name}: {m}")))?;
                }
                if let Some(Value::String(agent)) = r.get("options").and_then(|o| o.get("agent")) {
                    if !meta.agents.contains_key(agent) && agent != GLOBAL_AGENT {
                        return Err(err(
                            key_line(name),
                            format!(
                                "request `{name}` uses agent `{agent}`, not declared in `agents`"
                            ),
                        ));
                    }
                }
            }
        }
    }

    let wire = parse_wire(
        wire_block,
        side,
        &meta.requests,
        &meta.agents,
        &meta.websockets,
    )
    .map_err(|(l, m)| err(l, m))?;

    let mut events = Vec::new();
    let mut event_lines = Vec::new();
    if let Some(b) = events_block {
        for (i, line) in b.lines.iter().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let line_no = b.first_line + i;
            let v: Value = serde_json::from_str(t)
                .map_err(|e| err(line_no, format!("invalid JSON event: {e}")))?;
            let Value::Object(mut obj) = v else {
                return Err(err(line_no, "an event must be a JSON object".into()));
            };
            for v in obj.values_mut() {
                expand_event_repeats(v).map_err(|m| err(line_no, m))?;
            }
            match obj.get("event") {
                Some(Value::String(name)) if is_event_of(side, name) => {}
                Some(Value::String(name)) => {
                    return Err(err(
                        line_no,
                        format!(
                        "unknown event `{name}` for a {} scenario (see conformance/PROTOCOL.md)",
                        side.as_str()
                    ),
                    ))
                }
                _ => return Err(err(line_no, "an event needs a string field `event`".into())),
            }
            events.push(obj);
            event_lines.push(line_no);
        }
    }
    event_lines.push(events_block.map_or(heading_line, |b| b.fence_line));

    Ok(Scenario {
        id: meta.id,
        side,
        anchors: meta.anchors,
        rule: meta.rule,
        title,
        since,
        until,
        strict: meta.strict,
        deviation: meta.deviation,
        timeout: Duration::from_millis(meta.timeout.unwrap_or(2000)),
        split: meta.split.unwrap_or(true),
        options: meta.options,
        properties: meta.properties,
        handler: meta.handler,
        body: meta.body,
        listeners: meta.listeners,
        agents: meta.agents,
        requests: meta.requests,
        websockets: meta.websockets,
        wire,
        events,
        event_lines,
        file: file.to_owned(),
        line: heading_line,
        source: lines.join("\n").trim_end().to_owned(),
    })
}

/// The keys of a client request table, and their values.
fn check_request(r: &Map<String, Value>) -> Result<(), String> {
    for (k, v) in r {
        match k.as_str() {
            "options" if !v.is_object() => return Err("`options` must be a table".into()),
            "url" if !v.is_string() => return Err("`url` must be a string".into()),
            "get" | "defaults" if !v.is_boolean() => {
                return Err(format!("`{k}` must be a boolean"))
            }
            "body" if v != "read" && v != "none" => {
                return Err("`body` is \"read\" or \"none\"".into())
            }
            "without" => {
                let Value::Array(names) = v else {
                    return Err("`without` is an array of listener names".into());
                };
                for n in names {
                    if !n.as_str().is_some_and(|n| CLIENT_LISTENERS.contains(&n)) {
                        return Err(format!(
                            "`without`: {n} is not one of {}",
                            CLIENT_LISTENERS.join(", ")
                        ));
                    }
                }
            }
            "script" => check_script(v)?,
            "options" | "url" | "get" | "defaults" | "body" => {}
            _ => {
                return Err(format!(
                    "unknown key `{k}` (options, url, get, script, without, body, defaults)"
                ))
            }
        }
    }
    Ok(())
}

/// A WebSocket's table: `url` (required), `protocols` (a string or an
/// array of strings) and `script`.
fn check_websocket(w: &Value) -> Result<(), String> {
    let Value::Object(w) = w else {
        return Err("a websocket is a table (url, protocols, script)".into());
    };
    if !w.get("url").is_some_and(Value::is_string) {
        return Err("`url` (a string) is required".into());
    }
    for (k, v) in w {
        match k.as_str() {
            "url" => {}
            "protocols" => {
                let ok = match v {
                    Value::String(_) => true,
                    Value::Array(a) => a.iter().all(Value::is_string),
                    _ => false,
                };
                if !ok {
                    return Err("`protocols` is a string or an array of strings".into());
                }
            }
            "script" => check_script(v)?,
            _ => return Err(format!("unknown key `{k}` (url, protocols, script)")),
        }
    }
    Ok(())
}

/// Agents: tables of `new http.Agent()` options, and `$`-keys for hooks.
/// On error, the agent's name and what is wrong.
fn check_agents(agents: &Map<String, Value>) -> Result<(), (String, String)> {
    for (name, options) in agents {
        let fail = |m: String| Err((name.clone(), format!("agent `{name}`: {m}")));
        if name == GLOBAL_AGENT {
            return fail(format!(
                "`{GLOBAL_AGENT}` is http.globalAgent, which exists without being declared"
            ));
        }
        let Value::Object(options) = options else {
            return fail("an agent is a table of options".into());
        };
        for (k, v) in options {
            let Some(hook) = k.strip_prefix('$') else {
                continue;
            };
            let Some((_, values)) = AGENT_HOOKS.iter().find(|(h, _)| *h == hook) else {
                let known: Vec<String> = AGENT_HOOKS.iter().map(|(h, _)| format!("${h}")).collect();
                return fail(format!("unknown hook `{k}` (one of {})", known.join(", ")));
            };
            let shown = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if !values.contains(&shown.as_str()) || (v.is_string() && shown == "false") {
                return fail(format!("`{k}` takes one of {}", values.join(", ")));
            }
        }
    }
    Ok(())
}

fn check_script(script: &Value) -> Result<(), String> {
    let Value::Array(steps) = script else {
        return Err("a script is an array of steps".into());
    };
    for (i, step) in steps.iter().enumerate() {
        match step {
            Value::Array(a) if matches!(a.first(), Some(Value::String(s)) if !s.is_empty()) => {}
            _ => {
                return Err(format!(
                    "step {} must be an array starting with a call name",
                    i + 1
                ))
            }
        }
    }
    Ok(())
}

/// `! call TARGET.METHOD[?] [ARGS]`: `what` is `TARGET.METHOD[?]`, `rest`
/// the JSON array of arguments (or nothing).
fn parse_call(
    side: Side,
    what: &str,
    rest: &str,
    requests: &Map<String, Value>,
    agents: &Map<String, Value>,
    websockets: &Map<String, Value>,
) -> Result<Step, String> {
    let usage = || {
        format!(
            "`! call` takes server.METHOD, http.METHOD, agent.NAME.METHOD, request.NAME.METHOD or websocket.NAME.METHOD (a `?` at the end reports the result), not `{what}`"
        )
    };
    let (what, report) = match what.strip_suffix('?') {
        Some(w) => (w, true),
        None => (what, false),
    };
    let (target, tail) = what.split_once('.').ok_or_else(usage)?;
    let (name, method) = match target {
        "server" if side == Side::Server => (None, tail),
        "http" => (None, tail),
        "agent" | "request" | "websocket" if side == Side::Client => {
            let (name, method) = tail.split_once('.').ok_or_else(usage)?;
            let known = match target {
                "agent" => agents.contains_key(name) || name == GLOBAL_AGENT,
                "request" => requests.contains_key(name),
                _ => websockets.contains_key(name),
            };
            if !known {
                return Err(format!("`! call`: no {target} `{name}` in `{target}s`"));
            }
            (Some(name.to_owned()), method)
        }
        _ => return Err(usage()),
    };
    if method.is_empty() {
        return Err(usage());
    }
    let args = if rest.is_empty() {
        Vec::new()
    } else {
        match serde_json::from_str::<Value>(rest) {
            Ok(Value::Array(a)) => a,
            _ => return Err("`! call` arguments must be a JSON array".into()),
        }
    };
    Ok(Step::Call {
        target: target.to_owned(),
        name,
        method: method.to_owned(),
        args,
        report,
    })
}

/// `{{TEXT*N}}` in the strings of an expected event: N copies of TEXT, as
/// in wire lines (a WebSocket message of 65,536 bytes).
fn expand_event_repeats(v: &mut Value) -> Result<(), String> {
    match v {
        Value::String(s) if s.contains("{{") => {
            let expanded = expand_repeats(s).map_err(|e| e.message)?.into_owned();
            *s = expanded;
        }
        Value::Array(a) => a.iter_mut().try_for_each(expand_event_repeats)?,
        Value::Object(o) => o.values_mut().try_for_each(expand_event_repeats)?,
        _ => {}
    }
    Ok(())
}

/// The largest `{{TEXT*N}}` expansion, in bytes.
const MAX_REPEAT: usize = 64 << 20;

/// Expands every `{{TEXT*N}}` of a `>` or `<` line into N copies of TEXT
/// (before escapes are decoded: `{{\x00*8}}` is eight NULs).
pub fn expand_repeats(text: &str) -> Result<std::borrow::Cow<'_, str>, escape::EscapeError> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re =
        RE.get_or_init(|| regex::Regex::new(r"\{\{([^{}*]+)\*([0-9]+)\}\}").expect("valid regex"));
    if !text.contains("{{") {
        return Ok(std::borrow::Cow::Borrowed(text));
    }
    let mut out = String::new();
    let mut last = 0;
    for c in re.captures_iter(text) {
        let whole = c.get(0).expect("a match");
        let unit = &c[1];
        let n: usize = c[2].parse().unwrap_or(usize::MAX);
        if unit.ends_with('\\') && !unit.ends_with("\\\\") {
            return Err(escape::EscapeError {
                column: whole.start() + 1,
                message: "a repeated text cannot end with a lone `\\`".into(),
            });
        }
        if n.saturating_mul(unit.len()) > MAX_REPEAT {
            return Err(escape::EscapeError {
                column: whole.start() + 1,
                message: format!("`{}` is over {MAX_REPEAT} bytes", whole.as_str()),
            });
        }
        out.push_str(&text[last..whole.start()]);
        out.push_str(&unit.repeat(n));
        last = whole.end();
    }
    out.push_str(&text[last..]);
    Ok(std::borrow::Cow::Owned(out))
}

fn parse_ms(arg: &str) -> Result<Duration, String> {
    arg.trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("`{arg}` is not a number of milliseconds"))
}

/// The pieces of a `<` line's text: `{{ws-key}}`, `{{port}}` and
/// `{{date}}` placeholders between escaped bytes; and whether it ends with
/// a `\` (no CRLF).
fn parse_expected(text: &str) -> Result<(Vec<Expected>, bool), escape::EscapeError> {
    split_on(text, crate::wsframe::WS_KEY, Expected::WsKey, parse_ports)
}

fn parse_ports(text: &str) -> Result<(Vec<Expected>, bool), escape::EscapeError> {
    split_on(text, PORT_MARK, Expected::Port, parse_dates)
}

type Pieces = Result<(Vec<Expected>, bool), escape::EscapeError>;

/// `text` cut at each `mark`, which stands for `piece`; the parts between
/// are read by `inner`.
fn split_on(text: &str, mark: &str, piece: Expected, inner: fn(&str) -> Pieces) -> Pieces {
    let mut pieces = Vec::new();
    let mut no_newline = false;
    let parts: Vec<&str> = text.split(mark).collect();
    for (j, text) in parts.iter().enumerate() {
        let (mut sub, nl) = inner(text)?;
        if j + 1 < parts.len() && nl {
            return Err(escape::EscapeError {
                column: text.len(),
                message: "stray `\\`".into(),
            });
        }
        no_newline = nl;
        pieces.append(&mut sub);
        if j + 1 < parts.len() {
            pieces.push(piece.clone());
        }
    }
    Ok((pieces, no_newline))
}

fn parse_dates(text: &str) -> Result<(Vec<Expected>, bool), escape::EscapeError> {
    let mut pieces = Vec::new();
    let mut no_newline = false;
    let parts: Vec<&str> = text.split(DATE_MASK).collect();
    for (i, part) in parts.iter().enumerate() {
        let u = unescape(part)?;
        if i + 1 < parts.len() && u.no_newline {
            // `\` right before `{{date}}` is an escape error, not a line end.
            return Err(escape::EscapeError {
                column: part.len(),
                message: "stray `\\`".into(),
            });
        }
        no_newline = u.no_newline;
        if !u.bytes.is_empty() {
            pieces.push(Expected::Bytes(u.bytes));
        }
        if i + 1 < parts.len() {
            pieces.push(Expected::Date);
        }
    }
    Ok((pieces, no_newline))
}

fn parse_wire(
    block: &Block,
    side: Side,
    requests: &Map<String, Value>,
    agents: &Map<String, Value>,
    websockets: &Map<String, Value>,
) -> Result<Vec<WireStep>, (usize, String)> {
    // In WebSocket scenarios, `> frame ...` and `< frame ...` are frames.
    let frames = !websockets.is_empty();
    let mut steps: Vec<WireStep> = Vec::new();
    // Server scenarios: `c1` opens by itself. Client scenarios: connections
    // exist once accepted.
    let mut connections = match side {
        Side::Server => vec!["c1".to_owned()],
        Side::Client => Vec::new(),
    };
    for (i, raw) in block.lines.iter().enumerate() {
        let line = block.first_line + i;
        let (kind, rest) = match raw.chars().next() {
            None => continue,
            Some(c) => (c, &raw[c.len_utf8()..]),
        };
        // `> text`: one space after the marker is part of the syntax.
        let text = rest.strip_prefix(' ').unwrap_or(rest);
        let esc_err = |e: escape::EscapeError| (line, format!("{}", e));
        match kind {
            '>' if frames && wsframe::is_frame_line(text) => {
                let frame = wsframe::parse(text, true).map_err(|m| (line, m))?;
                match steps.last_mut() {
                    Some(WireStep { step: Step::SendFrames(prev), .. }) => {
                        prev.push(SendPiece::Frame(frame))
                    }
                    Some(WireStep { step: step @ Step::Send(_), .. }) => {
                        let Step::Send(bytes) = std::mem::replace(step, Step::Shutdown) else {
                            unreachable!("matched above")
                        };
                        *step = Step::SendFrames(vec![SendPiece::Bytes(bytes), SendPiece::Frame(frame)]);
                    }
                    _ => steps.push(WireStep {
                        line,
                        step: Step::SendFrames(vec![SendPiece::Frame(frame)]),
                    }),
                }
            }
            '<' if frames && wsframe::is_frame_line(text) => {
                let frame = wsframe::parse(text, false).map_err(|m| (line, m))?;
                steps.push(WireStep { line, step: Step::ExpectFrame(frame) });
            }
            '>' => {
                let text = expand_repeats(text).map_err(esc_err)?;
                let u = unescape(&text).map_err(esc_err)?;
                let mut bytes = u.bytes;
                if !u.no_newline {
                    bytes.extend_from_slice(b"\r\n");
                }
                match steps.last_mut() {
                    Some(WireStep { step: Step::Send(prev), .. }) => prev.extend(bytes),
                    Some(WireStep { step: Step::SendFrames(prev), .. }) => match prev.last_mut() {
                        Some(SendPiece::Bytes(b)) => b.extend(bytes),
                        _ => prev.push(SendPiece::Bytes(bytes)),
                    },
                    _ => steps.push(WireStep { line, step: Step::Send(bytes) }),
                }
            }
            '<' => {
                let text = expand_repeats(text).map_err(esc_err)?;
                let (mut pieces, no_newline) = parse_expected(&text).map_err(esc_err)?;
                if !no_newline {
                    pieces.push(Expected::Bytes(b"\r\n".to_vec()));
                }
                let prev = match steps.last_mut() {
                    Some(WireStep { step: Step::Expect(prev), .. }) => prev,
                    _ => {
                        steps.push(WireStep { line, step: Step::Expect(Vec::new()) });
                        match steps.last_mut() {
                            Some(WireStep { step: Step::Expect(prev), .. }) => prev,
                            _ => unreachable!("just pushed"),
                        }
                    }
                };
                // Adjacent literal pieces are kept as one.
                for p in pieces {
                    match (prev.last_mut(), p) {
                        (Some(Expected::Bytes(a)), Expected::Bytes(b)) => a.extend(b),
                        (_, p) => prev.push(p),
                    }
                }
            }
            '#' => {}
            '!' => {
                let words: Vec<&str> = text.split_whitespace().collect();
                let name_arg = |what: &str| -> Result<String, (usize, String)> {
                    match words.get(1) {
                        Some(n) if words.len() == 2 => Ok((*n).to_owned()),
                        _ => Err((line, format!("`! {what}` takes one name"))),
                    }
                };
                let step = match words.as_slice() {
                    ["pause", ms] => Step::Pause(parse_ms(ms).map_err(|m| (line, m))?),
                    ["shutdown"] => Step::Shutdown,
                    ["close"] => Step::Close,
                    ["reset"] => Step::Reset,
                    ["closed", "within", ms] => Step::ClosedWithin(parse_ms(ms).map_err(|m| (line, m))?),
                    ["open", "for", ms] => Step::OpenFor(parse_ms(ms).map_err(|m| (line, m))?),
                    ["accept", ..] if side == Side::Client => {
                        let n = name_arg("accept")?;
                        if connections.contains(&n) {
                            return Err((line, format!("connection `{n}` already exists")));
                        }
                        connections.push(n.clone());
                        Step::Accept(n)
                    }
                    ["request", ..] if side == Side::Client => {
                        let n = name_arg("request")?;
                        if !requests.contains_key(&n) {
                            return Err((line, format!("no request `{n}` in `requests`")));
                        }
                        Step::Request(n)
                    }
                    ["ws-request"] if frames => Step::WsRequest,
                    ["websocket", ..] if side == Side::Client => {
                        let n = name_arg("websocket")?;
                        if !websockets.contains_key(&n) {
                            return Err((line, format!("no websocket `{n}` in `websockets`")));
                        }
                        Step::WebSocket(n)
                    }
                    ["agent", ..] if side == Side::Client => {
                        let n = name_arg("agent")?;
                        if !agents.contains_key(&n) && n != GLOBAL_AGENT {
                            return Err((line, format!("no agent `{n}` in `agents`")));
                        }
                        Step::Agent(n)
                    }
                    ["connect", n, "refused"] if side == Side::Server => {
                        if connections.iter().any(|c| c == n) {
                            return Err((line, format!("connection `{n}` already exists")));
                        }
                        Step::ConnectRefused((*n).to_owned())
                    }
                    ["connect", ..] if side == Side::Server => {
                        let n = name_arg("connect")?;
                        // `c1` opens by itself at its first use; naming it
                        // first opens it at a chosen moment.
                        let first_use = n == "c1" && steps.is_empty();
                        if connections.contains(&n) && !first_use {
                            return Err((line, format!("connection `{n}` already exists")));
                        }
                        if !first_use {
                            connections.push(n.clone());
                        }
                        Step::Connect(n)
                    }
                    ["use", ..] => {
                        let n = name_arg("use")?;
                        if !connections.contains(&n) {
                            return Err((line, format!("no connection `{n}` opened before this line")));
                        }
                        Step::Use(n)
                    }
                    ["signal", ..] => Step::Signal(name_arg("signal")?),
                    ["event", ..] => {
                        let n = name_arg("event")?;
                        if !is_event_of(side, &n) {
                            return Err((line, format!("unknown event `{n}`")));
                        }
                        Step::Event(n)
                    }
                    ["call", what, ..] => {
                        let rest = text.trim_start()["call".len()..].trim_start()[what.len()..].trim();
                        parse_call(side, what, rest, requests, agents, websockets)
                            .map_err(|m| (line, m))?
                    }
                    _ => {
                        return Err((
                            line,
                            format!("unknown directive `! {}` (see fixtures/README.md)", text.trim()),
                        ))
                    }
                };
                steps.push(WireStep { line, step });
            }
            c if c.is_whitespace() && raw.trim().is_empty() => {}
            _ => {
                return Err((
                    line,
                    "a wire line starts with `>` (send), `<` (expect), `!` (directive) or `#` (comment)".into(),
                ))
            }
        }
    }
    if steps.is_empty() {
        return Err((block.fence_line, "the wire block is empty".into()));
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching;

    fn sections() -> Sections {
        Sections::embedded()
    }

    fn parse(text: &str) -> Result<Vec<Scenario>, Vec<FixtureError>> {
        parse_file(
            Path::new("fixtures/server/event-checkexpectation.md"),
            text,
            Side::Server,
            &sections(),
        )
    }

    const GOOD: &str = r#"# Title

Some prose.

## Unknown expectation

```toml
id = "server/event-checkexpectation/default-417"
anchors = ["event-checkexpectation", "messageheaders"]
rule = "An unknown Expect gets 417."
options = { requireHostHeader = false }
handler = [["setHeader", "a", ["1", "2"]], ["end", "x"]]
[listeners]
checkExpectation = []
```

```wire
> GET / HTTP/1.1
> Expect: moon
>
< HTTP/1.1 417 Expectation Failed
< Date: {{date}}
<
! open for 50
! connect c2
! use c1
! call server.close [1, "a"]
```

```events
{"event": "checkExpectation", "method": "GET"}
# a comment
{"event": "end"}
```
"#;

    #[test]
    fn parses_a_scenario() {
        let s = &parse(GOOD).unwrap()[0];
        assert_eq!(s.id, "server/event-checkexpectation/default-417");
        assert_eq!(s.title, "Unknown expectation");
        assert_eq!(s.line, 5);
        assert_eq!(s.options["requireHostHeader"], Value::Bool(false));
        assert!(s.listeners.contains_key("checkExpectation"));
        assert!(s.split, "split defaults to true");
        let unsplit = GOOD.replace("rule = \"An", "split = false\nrule = \"An");
        assert!(!parse(&unsplit).unwrap()[0].split);
        assert_eq!(s.events.len(), 2);
        assert_eq!(
            s.wire[0].step,
            Step::Send(b"GET / HTTP/1.1\r\nExpect: moon\r\n\r\n".to_vec())
        );
        assert_eq!(
            s.wire[1].step,
            Step::Expect(vec![
                Expected::Bytes(b"HTTP/1.1 417 Expectation Failed\r\nDate: ".to_vec()),
                Expected::Date,
                Expected::Bytes(b"\r\n\r\n".to_vec()),
            ])
        );
        assert_eq!(s.wire[1].line, 21);
        assert_eq!(
            s.wire[5].step,
            Step::Call {
                target: "server".into(),
                name: None,
                method: "close".into(),
                args: vec![1.into(), "a".into()],
                report: false,
            }
        );
    }

    fn first_error(text: &str) -> (usize, String) {
        let e = parse(text).unwrap_err().remove(0);
        (e.line, e.message)
    }

    #[test]
    fn errors_carry_the_line() {
        let bad_anchor = GOOD.replace("\"messageheaders\"", "\"no-such-section\"");
        assert_eq!(
            first_error(&bad_anchor),
            (9, "unknown section anchor `no-such-section`".into())
        );

        let bad_escape = GOOD.replace("Expect: moon", "Expect: mo\\qon");
        let (line, msg) = first_error(&bad_escape);
        assert_eq!(line, 19);
        assert!(msg.contains("unknown escape"), "{msg}");

        let bad_json = GOOD.replace("{\"event\": \"end\"}", "{\"event\": end}");
        let (line, msg) = first_error(&bad_json);
        assert_eq!(line, 33);
        assert!(msg.starts_with("invalid JSON event"), "{msg}");

        let bad_toml = GOOD.replace("rule = \"An", "rule = An");
        let (line, msg) = first_error(&bad_toml);
        assert_eq!(line, 10);
        assert!(msg.starts_with("invalid toml"), "{msg}");

        let bad_directive = GOOD.replace("! open for 50", "! opne for 50");
        assert_eq!(first_error(&bad_directive).0, 24);

        let bad_id = GOOD.replace("default-417", "Default 417");
        assert_eq!(first_error(&bad_id).0, 8);

        let unknown_key = GOOD.replace("rule = ", "rulez = \"x\"\nrule = ");
        assert!(first_error(&unknown_key).1.contains("unknown field"));

        let unknown_event = GOOD.replace("\"event\": \"end\"", "\"event\": \"ending\"");
        assert_eq!(
            first_error(&unknown_event),
            (
                33,
                "unknown event `ending` for a server scenario (see conformance/PROTOCOL.md)".into()
            )
        );

        let no_wire = GOOD.replace("```wire", "```text");
        assert_eq!(first_error(&no_wire).0, 5);

        let use_unknown = GOOD.replace("! use c1", "! use c9");
        assert_eq!(first_error(&use_unknown).0, 26);
    }

    #[test]
    fn rejects_a_file_that_is_not_a_section() {
        let e = parse_file(
            Path::new("x/server/nope.md"),
            GOOD,
            Side::Server,
            &sections(),
        )
        .unwrap_err();
        assert!(e[0]
            .to_string()
            .starts_with("x/server/nope.md: file name `nope`"));
    }

    #[test]
    fn unclosed_fence_is_an_error() {
        let text = "## A\n\n```toml\nid = 1\n";
        assert!(!parse(text).unwrap_err().is_empty());
    }

    const WS: &str = r#"# T

## A WebSocket

```toml
id = "client/websocket/a"
anchors = ["websocket"]
rule = "r"
since = "22.5.0"
websockets = { w1 = { url = "ws://127.0.0.1:{{port}}/", protocols = "p1", script = [["send", "x"]] } }
```

```wire
! websocket w1
! accept c1
< GET / HTTP/1.1
< sec-websocket-key: {{ws-key}}
<
> HTTP/1.1 101 Switching Protocols
> Sec-WebSocket-Accept: {{ws-accept}}
>
> frame text "hi"
> frame ping "p" fin=0
< frame pong "p"
! ws-request
> frame\
! call websocket.w1.close [1000]
```

```events
{"event": "ws.message", "websocket": "w1", "data": "{{a*3}}"}
```
"#;

    fn parse_client(text: &str) -> Result<Vec<Scenario>, Vec<FixtureError>> {
        parse_file(
            Path::new("fixtures/client/websocket.md"),
            text,
            Side::Client,
            &sections(),
        )
    }

    #[test]
    fn parses_a_websocket_scenario() {
        let s = &parse_client(WS).unwrap()[0];
        assert!(s.requests.is_empty());
        assert_eq!(s.websockets["w1"]["protocols"], "p1");
        let steps: Vec<&Step> = s.wire.iter().map(|w| &w.step).collect();
        assert_eq!(steps[0], &Step::WebSocket("w1".into()));
        assert_eq!(
            steps[2],
            &Step::Expect(vec![
                Expected::Bytes(b"GET / HTTP/1.1\r\nsec-websocket-key: ".to_vec()),
                Expected::WsKey,
                Expected::Bytes(b"\r\n\r\n".to_vec()),
            ])
        );
        // The head and the frames after it are one write.
        let Step::SendFrames(pieces) = steps[3] else {
            panic!("{:?}", steps[3])
        };
        assert_eq!(pieces.len(), 3);
        assert_eq!(
            pieces[0],
            SendPiece::Bytes(
                b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: {{ws-accept}}\r\n\r\n"
                    .to_vec()
            )
        );
        let SendPiece::Frame(ping) = &pieces[2] else {
            panic!()
        };
        assert!(!ping.fin);
        assert_eq!(ping.encode(), b"\x09\x01p");
        let Step::ExpectFrame(pong) = steps[4] else {
            panic!()
        };
        assert_eq!(pong.mask, wsframe::Mask::Any);
        assert_eq!(steps[5], &Step::WsRequest);
        // `frame` with no space after it is raw text.
        assert_eq!(steps[6], &Step::Send(b"frame".to_vec()));
        assert!(
            matches!(steps[7], Step::Call { target, name: Some(n), .. } if target == "websocket" && n == "w1")
        );
        assert_eq!(s.events[0]["data"], "aaa");
        assert_eq!(
            matching::describe(steps[3])[3..],
            ["> frame text \"hi\"", "> frame ping \"p\" fin=0"]
        );
    }

    #[test]
    fn websocket_errors_carry_the_line() {
        let first = |text: &str| {
            let e = parse_client(text).unwrap_err().remove(0);
            (e.line, e.message)
        };
        let bad_frame = WS.replace("frame ping \"p\" fin=0", "frame ping \"p\" fin=2");
        let (line, msg) = first(&bad_frame);
        assert_eq!(line, 23);
        assert!(msg.contains("unknown frame flag `fin=2`"), "{msg}");
        let unknown = WS.replace("! websocket w1", "! websocket w2");
        assert_eq!(
            first(&unknown),
            (14, "no websocket `w2` in `websockets`".into())
        );
        let no_url = WS.replace("url = \"ws://127.0.0.1:{{port}}/\", ", "");
        assert!(first(&no_url).1.contains("`url` (a string) is required"));
        let bad_key = WS.replace("protocols = \"p1\"", "protocol = \"p1\"");
        assert!(first(&bad_key).1.contains("unknown key `protocol`"));
        // Frames are frames only in WebSocket scenarios.
        let plain = WS
            .replace("websockets = { w1 = { url = \"ws://127.0.0.1:{{port}}/\", protocols = \"p1\", script = [[\"send\", \"x\"]] } }", "requests = { r1 = {} }")
            .replace("! websocket w1\n", "")
            .replace("! ws-request\n", "")
            .replace("! call websocket.w1.close [1000]\n", "");
        let s = &parse_client(&plain).unwrap()[0];
        assert!(s
            .wire
            .iter()
            .all(|w| !matches!(w.step, Step::SendFrames(_) | Step::ExpectFrame(_))));
    }

    #[test]
    fn versions() {
        assert_eq!(Version::parse("v23.5.0"), Some(Version(23, 5, 0)));
        assert_eq!(Version::parse("20"), Some(Version(20, 0, 0)));
        assert_eq!(Version::parse("1.4.5-canary+x"), Some(Version(1, 4, 5)));
        assert_eq!(Version::parse("x"), None);
        assert!(Version(20, 19, 0) < Version(23, 5, 0));
    }
}
