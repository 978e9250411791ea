//! The reference's adapter: the adapter protocol (conformance/PROTOCOL.md)
//! implemented on the reference server and client, crate `nodehttp`.
//!
//! The runner embeds it as its default target (its `reference` feature):
//! `nodehttp-conformance adapter` runs it on stdin/stdout, and `run`
//! without `--adapter` starts the runner's own binary that way, so the
//! suite needs nothing else installed. The `nodehttp-adapter` binary runs
//! it alone. It is the Rust twin of adapters/node/adapter.mjs: same
//! messages, same scripts, same events.
//!
//! Everything runs on one current-thread runtime, as Node runs on one
//! event loop: a listener's steps run in order until a control step
//! suspends it, and listeners start in the order the server emits them.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nodehttp::encode::{Chunk, OutValue};
use nodehttp::headers::{HeaderMap, HeaderValue};
use nodehttp::http::JsArg;
use nodehttp::response::{AsyncError, Delivery, Effect, HeadHeaders, TrailersForm, WriteOutcome};
use nodehttp::server::{Handler, IncomingMessage, Server, ServerOptions, ServerResponse, Socket};
use nodehttp::Error;
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

/// The version of the adapter protocol this adapter speaks
/// (conformance/PROTOCOL.md), announced in its `ready` message.
pub const PROTOCOL_VERSION: u64 = 2;

/// The client half (scenarios with `"side":"client"`).
mod client;

/// The WebSockets of client scenarios.
mod ws;

/// Run the embedded adapter on stdin/stdout until stdin closes.
pub fn main() -> std::process::ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("embedded adapter: cannot start a runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // stdin is read on a thread: tokio's stdin is blocking underneath anyway.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rt.block_on(serve(rx, Out(None)));
    std::process::ExitCode::SUCCESS
}

/// Run the embedded adapter in this process: runner messages come in on
/// `input`, adapter messages (one JSON line each, without the newline) go
/// out on `output`. Returns when `input` closes.
pub async fn serve_in_process(
    input: tokio::sync::mpsc::UnboundedReceiver<String>,
    output: tokio::sync::mpsc::UnboundedSender<String>,
) {
    serve(input, Out(Some(output))).await;
}

/// Where adapter messages go: stdout, or a channel (in process).
#[derive(Clone)]
struct Out(Option<tokio::sync::mpsc::UnboundedSender<String>>);

impl Out {
    fn send(&self, msg: Value) {
        match &self.0 {
            Some(tx) => {
                let _ = tx.send(msg.to_string());
            }
            None => {
                let mut out = std::io::stdout().lock();
                // The runner went away: nothing left to do.
                if writeln!(out, "{msg}").and_then(|()| out.flush()).is_err() {
                    std::process::exit(0);
                }
            }
        }
    }

    fn error(&self, message: impl Into<String>) {
        self.send(json!({"type": "error", "message": message.into()}));
    }
}

async fn serve(mut rx: tokio::sync::mpsc::UnboundedReceiver<String>, out: Out) {
    let send = |v: Value| out.send(v);
    let send_error = |m: String| out.error(m);
    send(json!({
        "type": "ready",
        "protocol": PROTOCOL_VERSION,
        "implementation": "nodehttp (embedded reference)",
        "version": nodehttp::NODE_VERSION,
    }));
    let mut current: Option<Running> = None;
    while let Some(line) = rx.recv().await {
        if line.trim().is_empty() {
            continue;
        }
        let msg: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                send_error(format!("malformed JSON: {e}"));
                continue;
            }
        };
        let Some(obj) = msg.as_object() else {
            send_error("a message must be a JSON object".into());
            continue;
        };
        match obj.get("type").and_then(Value::as_str) {
            Some("start") => {
                if let Some(old) = current.take() {
                    old.teardown();
                }
                current = start(obj, &out).await;
            }
            Some("signal") => match &current {
                Some(r) => {
                    r.sc.raise(obj.get("name").map(as_string).unwrap_or_default())
                }
                None => send_error("signal outside a scenario".into()),
            },
            Some(kind @ ("request" | "agent" | "websocket")) => {
                match current.as_ref().and_then(|r| r.client.as_ref()) {
                    Some(c) => c.command(kind, obj),
                    None => send_error(format!("{kind} outside a client scenario")),
                }
            }
            Some("call") => match &current {
                Some(r) => r.call(obj).await,
                None => send_error("call outside a scenario".into()),
            },
            Some("stop") => {
                if let Some(old) = current.take() {
                    old.teardown();
                    // Let destroyed connections and aborted tasks settle
                    // before the next scenario starts.
                    tokio::task::yield_now().await;
                }
                send(json!({"type": "stopped"}));
            }
            other => send_error(format!("unknown message type {}", json!(other))),
        }
    }
}

// ---------------------------------------------------------------- scenario

/// One scenario's shared state.
struct Scenario {
    out: Out,
    /// Per connection: the next request number to give, and the next whose
    /// `end` may be reported (bodies end in request order, as on the wire).
    end_order: Mutex<HashMap<std::net::SocketAddr, (u64, u64)>>,
    end_turn: Notify,
    alive: AtomicBool,
    signals: Mutex<HashSet<String>>,
    signal_changed: Notify,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    /// How many scripts are in a synchronous run (between two control
    /// steps). Node runs a listener to its first suspension before any
    /// other event is emitted: the asynchronous events wait for zero.
    in_sync_run: std::sync::atomic::AtomicUsize,
    sync_idle: Notify,
    /// Properties a script assigned on an object (`["set", "fxMark", 1]`),
    /// by object (see [`Ctx::object_key`]) and name.
    expandos: Mutex<HashMap<String, Map<String, Value>>>,
    /// The start message's `body`: `"none"` leaves request bodies unread.
    body_none: bool,
    /// Numbers the requests, to tell their objects apart.
    next_request: std::sync::atomic::AtomicU64,
    /// The responses not closed yet, for their `'prefinish'`.
    responses: Mutex<Vec<(ServerResponse, Arc<Seen>)>>,
    /// Per connection, the events of its last response: a response
    /// reports its `'finish'` and `'close'` after the one before it.
    last_response: Mutex<HashMap<std::net::SocketAddr, Arc<Seen>>>,
}

impl Scenario {
    fn new(out: Out, body_none: bool) -> Scenario {
        Scenario {
            out,
            end_order: Mutex::new(HashMap::new()),
            end_turn: Notify::new(),
            alive: AtomicBool::new(true),
            signals: Mutex::new(HashSet::new()),
            signal_changed: Notify::new(),
            tasks: Mutex::new(Vec::new()),
            in_sync_run: Default::default(),
            sync_idle: Notify::new(),
            expandos: Mutex::new(HashMap::new()),
            body_none,
            next_request: Default::default(),
            responses: Mutex::new(Vec::new()),
            last_response: Mutex::new(HashMap::new()),
        }
    }

    /// Report the `'prefinish'` of every response that has emitted it
    /// since the last check (Node emits it synchronously, inside `end()`
    /// or as an earlier response finishes).
    fn check_prefinish(&self) {
        let due: Vec<Arc<Seen>> = self
            .responses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(res, seen)| !seen.has("res.prefinish") && res.prefinished())
            .map(|(_, seen)| seen.clone())
            .collect();
        for seen in due {
            self.report(&seen, "res.prefinish", json!({}));
        }
    }

    /// Wait until no script is in a synchronous run: an event Node emits
    /// from the event loop cannot come in the middle of one.
    async fn sync_idle(&self) {
        loop {
            let n = self.sync_idle.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.in_sync_run.load(Ordering::SeqCst) == 0 {
                return;
            }
            n.await;
        }
    }

    fn enter_sync(&self) {
        self.in_sync_run.fetch_add(1, Ordering::SeqCst);
    }

    fn leave_sync(&self) {
        if self.in_sync_run.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.sync_idle.notify_waiters();
        }
    }

    /// Report an event of one request: it is emitted, and recorded for the
    /// `awaitEvent` steps of that request's scripts.
    fn report(&self, seen: &Seen, event: &str, fields: Value) {
        self.emit(event, fields);
        *seen
            .names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(event.to_owned())
            .or_default() += 1;
        seen.changed.notify_waiters();
        let listeners: Vec<String> = seen
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(e, _)| e == event)
            .map(|(_, cb)| cb.clone())
            .collect();
        for cb in listeners {
            self.emit("return", json!({"call": cb, "valueType": "undefined"}));
        }
    }

    fn emit(&self, event: &str, fields: Value) {
        if !self.alive.load(Ordering::SeqCst) {
            return;
        }
        let mut msg = Map::new();
        msg.insert("type".into(), json!("event"));
        msg.insert("event".into(), json!(event));
        if let Value::Object(f) = fields {
            msg.extend(f);
        }
        self.out.send(Value::Object(msg));
    }

    /// The request's place among the requests of its connection.
    fn take_turn(&self, peer: std::net::SocketAddr) -> u64 {
        let mut order = self.end_order.lock().unwrap_or_else(|e| e.into_inner());
        let entry = order.entry(peer).or_insert((0, 0));
        entry.0 += 1;
        entry.0 - 1
    }

    /// Wait until the requests before `turn` on `peer` reported their end.
    async fn wait_turn(&self, peer: std::net::SocketAddr, turn: u64) {
        loop {
            let n = self.end_turn.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            let next = self
                .end_order
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&peer)
                .map_or(0, |e| e.1);
            if next >= turn {
                return;
            }
            n.await;
        }
    }

    fn end_turn_done(&self, peer: std::net::SocketAddr) {
        if let Some(e) = self
            .end_order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&peer)
        {
            e.1 += 1;
        }
        self.end_turn.notify_waiters();
    }

    fn raise(&self, name: String) {
        self.signals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name);
        self.signal_changed.notify_waiters();
    }

    async fn wait_signal(&self, name: &str) {
        loop {
            let n = self.signal_changed.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self
                .signals
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(name)
            {
                return;
            }
            n.await;
        }
    }

    fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(fut);
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle.abort_handle());
    }
}

type Script = Vec<Value>;

struct Running {
    sc: Arc<Scenario>,
    server: Option<Server<ScenarioHandler>>,
    client: Option<client::Client>,
}

impl Running {
    fn teardown(self) {
        self.sc.alive.store(false, Ordering::SeqCst);
        for t in self
            .sc
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
        if let Some(server) = &self.server {
            server.close_all_connections();
            server.close();
        }
        if let Some(client) = &self.client {
            client.teardown();
        }
    }

    async fn call(&self, msg: &Map<String, Value>) {
        if let Some(client) = &self.client {
            client.call(msg);
            return;
        }
        let Some(server) = &self.server else { return };
        let target = msg
            .get("target")
            .and_then(Value::as_str)
            .unwrap_or("server");
        let method = msg.get("method").map(as_string).unwrap_or_default();
        let args = msg
            .get("args")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if target == "http" {
            let call = format!("http.{method}");
            match http_step(&method, &args) {
                Err(t) => emit_thrown(&self.sc, &call, t),
                Ok(ret) if method == "get" || msg.get("report") == Some(&json!(true)) => {
                    self.sc.emit("return", return_fields(&call, ret))
                }
                Ok(_) => {}
            }
            self.sc.out.send(json!({"type": "called"}));
            return;
        }
        if target != "server" {
            self.sc
                .out
                .error(format!("call: unknown target '{target}'"));
            return;
        }
        let report = msg.get("report").and_then(Value::as_bool) == Some(true);
        let call = format!("server.{method}");
        match server_call(server, &method, &args).await {
            Err(t) => emit_thrown(&self.sc, &call, t),
            Ok(ret) if report || method == "get" => {
                self.sc.emit("return", return_fields(&call, ret))
            }
            Ok(_) => {}
        }
        self.sc.out.send(json!({"type": "called"}));
    }
}

/// A call on the scenario's server (`call` messages with target `server`).
async fn server_call(
    server: &Server<ScenarioHandler>,
    method: &str,
    args: &[Value],
) -> Result<Ret, Thrown> {
    let ms = |d: Duration| json!(d.as_millis() as u64);
    Ok(match method {
        "close" => {
            server.close();
            Ret::This
        }
        "[Symbol.asyncDispose]" => {
            server.close();
            // A promise.
            Ret::Value(json!({}))
        }
        "closeIdleConnections" => {
            server.close_idle_connections();
            Ret::Undefined
        }
        "closeAllConnections" => {
            server.close_all_connections();
            Ret::Undefined
        }
        "setTimeout" => {
            let ms = args.first().and_then(Value::as_f64).unwrap_or(0.0);
            server.set_timeout(Duration::from_millis(ms.max(0.0) as u64));
            Ret::This
        }
        "address" => match server.local_addr() {
            Some(a) if server.listening() => Ret::Value(json!({
                "address": a.ip().to_string(),
                "family": if a.is_ipv4() { "IPv4" } else { "IPv6" },
                "port": a.port(),
            })),
            _ => Ret::Value(Value::Null),
        },
        "listen" => {
            let port = args.first().and_then(Value::as_u64).unwrap_or(0);
            let host = args.get(1).and_then(Value::as_str).unwrap_or("127.0.0.1");
            if let Err(e) = server.listen((host, port as u16)).await {
                return Err(match e.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
                    Some(e) => Thrown {
                        code: Some(e.code().to_owned()),
                        name: e.name().to_owned(),
                        message: e.to_string(),
                    },
                    None => Thrown {
                        code: None,
                        name: "Error".into(),
                        message: e.to_string(),
                    },
                });
            }
            Ret::This
        }
        "get" => Ret::Value(
            match args.first().map(as_string).unwrap_or_default().as_str() {
                "headersTimeout" => ms(server.headers_timeout()),
                "requestTimeout" => ms(server.request_timeout()),
                "keepAliveTimeout" => ms(server.keep_alive_timeout()),
                "timeout" => ms(server.timeout()),
                "connectionsCheckingInterval" => ms(server.connections_checking_interval()),
                "maxHeadersCount" => json!(server.max_headers_count()),
                "maxRequestsPerSocket" => json!(server.max_requests_per_socket()),
                "listening" => json!(server.listening()),
                "maxConnections" => json!(server.max_connections()),
                _ => return Ok(Ret::Undefined),
            },
        ),
        "set" => {
            let key = args.first().map(as_string).unwrap_or_default();
            let value = args.get(1).cloned().unwrap_or(Value::Null);
            if let Err(Unsupported(reason)) = set_property(server, &key, &value) {
                return Err(type_error(reason));
            }
            Ret::Undefined
        }
        other => return Err(type_error(format!("server.{other} is not a function"))),
    })
}

const REQUEST_LISTENERS: &[&str] = &["checkContinue", "checkExpectation"];
const SOCKET_LISTENERS: &[&str] = &[
    "clientError",
    "connect",
    "upgrade",
    "dropRequest",
    "timeout",
];

async fn start(msg: &Map<String, Value>, out: &Out) -> Option<Running> {
    let send = |v: Value| out.send(v);
    let send_error = |m: String| out.error(m);
    let id = msg.get("id").map(as_string).unwrap_or_default();
    if msg.get("side").and_then(Value::as_str) == Some("client") {
        return client::start(msg, out).await;
    }
    let mut listeners: HashMap<String, Script> = HashMap::new();
    if let Some(Value::Object(l)) = msg.get("listeners") {
        for (event, script) in l {
            if !REQUEST_LISTENERS.contains(&event.as_str())
                && !SOCKET_LISTENERS.contains(&event.as_str())
            {
                send(
                    json!({"type": "unsupported", "reason": format!("the adapter has no '{event}' listener")}),
                );
                return None;
            }
            listeners.insert(
                event.clone(),
                script.as_array().cloned().unwrap_or_default(),
            );
        }
    }
    let handler_script = match msg.get("handler") {
        Some(Value::Array(s)) => s.clone(),
        _ => vec![json!(["end"])],
    };
    let options = match server_options(msg.get("options")) {
        Ok(o) => o,
        Err(Unsupported(reason)) => {
            send(json!({"type": "unsupported", "reason": reason}));
            return None;
        }
    };
    let sc = Arc::new(Scenario::new(
        out.clone(),
        msg.get("body").and_then(Value::as_str) == Some("none"),
    ));
    let handler = ScenarioHandler {
        sc: sc.clone(),
        handler: Arc::new(handler_script),
        listeners: Arc::new(listeners),
    };
    let server = match Server::new(options, handler) {
        Ok(s) => s,
        Err(e) => {
            send_error(format!("start {id}: createServer: {e}"));
            return None;
        }
    };
    if let Some(Value::Object(props)) = msg.get("properties") {
        for (key, value) in props {
            if let Err(Unsupported(reason)) = set_property(&server, key, value) {
                send(json!({"type": "unsupported", "reason": reason}));
                return None;
            }
        }
    }
    match server.listen("127.0.0.1:0").await {
        Ok(addr) => {
            send(json!({"type": "listening", "port": addr.port()}));
            Some(Running {
                sc,
                server: Some(server),
                client: None,
            })
        }
        Err(e) => {
            send_error(format!("start {id}: listen: {e}"));
            None
        }
    }
}

struct Unsupported(String);

fn millis(v: &Value) -> Option<Duration> {
    v.as_f64()
        .map(|ms| Duration::from_millis(ms.max(0.0) as u64))
}

fn server_options(v: Option<&Value>) -> Result<ServerOptions, Unsupported> {
    let mut o = ServerOptions::default();
    let Some(Value::Object(map)) = v else {
        return Ok(o);
    };
    for (key, value) in map {
        let bad = || Unsupported(format!("option {key} = {value} is not understood"));
        match key.as_str() {
            "connectionsCheckingInterval" => {
                o.connections_checking_interval = millis(value).ok_or_else(bad)?
            }
            "headersTimeout" => o.headers_timeout = Some(millis(value).ok_or_else(bad)?),
            "requestTimeout" => o.request_timeout = millis(value).ok_or_else(bad)?,
            "keepAliveTimeout" => o.keep_alive_timeout = millis(value).ok_or_else(bad)?,
            "keepAliveInitialDelay" => {
                o.keep_alive_initial_delay = millis(value).ok_or_else(bad)?
            }
            "maxHeaderSize" => o.max_header_size = value.as_u64().ok_or_else(bad)? as usize,
            "highWaterMark" => o.high_water_mark = value.as_u64().ok_or_else(bad)? as usize,
            "requireHostHeader" => o.require_host_header = value.as_bool().ok_or_else(bad)?,
            "joinDuplicateHeaders" => o.join_duplicate_headers = value.as_bool().ok_or_else(bad)?,
            "noDelay" => o.no_delay = value.as_bool().ok_or_else(bad)?,
            "keepAlive" => o.keep_alive = value.as_bool().ok_or_else(bad)?,
            "insecureHTTPParser" => o.insecure_http_parser = value.as_bool().ok_or_else(bad)?,
            "rejectNonStandardBodyWrites" => {
                o.reject_non_standard_body_writes = value.as_bool().ok_or_else(bad)?
            }
            "uniqueHeaders" => {
                o.unique_headers = value
                    .as_array()
                    .ok_or_else(bad)?
                    .iter()
                    .map(as_string)
                    .collect()
            }
            _ => return Err(Unsupported(format!("the reference has no option '{key}'"))),
        }
    }
    Ok(o)
}

fn set_property(
    server: &Server<ScenarioHandler>,
    key: &str,
    value: &Value,
) -> Result<(), Unsupported> {
    let bad = || Unsupported(format!("property {key} = {value} is not understood"));
    match key {
        "headersTimeout" => server.set_headers_timeout(millis(value).ok_or_else(bad)?),
        "requestTimeout" => server.set_request_timeout(millis(value).ok_or_else(bad)?),
        "keepAliveTimeout" => server.set_keep_alive_timeout(millis(value).ok_or_else(bad)?),
        "timeout" => server.set_timeout(millis(value).ok_or_else(bad)?),
        "maxHeadersCount" => server.set_max_headers_count(value.as_u64().ok_or_else(bad)? as usize),
        "maxRequestsPerSocket" => {
            server.set_max_requests_per_socket(value.as_u64().ok_or_else(bad)? as u32)
        }
        "maxConnections" => match value {
            Value::Null => server.set_max_connections(None),
            v => server.set_max_connections(Some(v.as_u64().ok_or_else(bad)?)),
        },
        _ => {
            return Err(Unsupported(format!(
                "the reference has no server property '{key}'"
            )))
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- handler

#[derive(Clone)]
struct ScenarioHandler {
    sc: Arc<Scenario>,
    handler: Arc<Script>,
    listeners: Arc<HashMap<String, Script>>,
}

impl ScenarioHandler {
    fn listener(&self, event: &str) -> Option<Script> {
        self.listeners.get(event).cloned()
    }

    /// 'request', 'checkContinue', 'checkExpectation': report, observe the
    /// body, run the script (the response is the natural target).
    async fn on_request(
        &self,
        event: &str,
        script: Script,
        req: IncomingMessage,
        res: ServerResponse,
    ) {
        let sc = self.sc.clone();
        let number = sc.next_request.fetch_add(1, Ordering::SeqCst);
        sc.emit(event, request_fields(&req));
        // The observer reads the body from the start, as the Node adapter's
        // 'data' listener does (unless the scenario says `body = "none"`).
        if !sc.body_none {
            req.consume();
        }
        let req = Arc::new(req);
        let observed = Arc::new(Observed::default());
        let seen = Arc::new(Seen::default());
        watch_response(&sc, &res, &seen, &observed);
        let ctx = Ctx {
            target: Target::Res,
            req: Some(req.clone()),
            res: Some(res),
            socket: Some(req.socket()),
            observed: Some(observed.clone()),
            seen: Some(seen.clone()),
            number,
        };
        let reader = observe_body(sc.clone(), req.clone(), observed, seen);
        let script = run_script(sc.clone(), script, ctx, event.to_owned());
        tokio::join!(script, reader);
    }

    async fn on_socket_event(
        &self,
        event: &str,
        script: Script,
        fields: Value,
        req: Option<IncomingMessage>,
        socket: Socket,
    ) {
        self.sc.emit(event, fields);
        let ctx = Ctx {
            target: Target::Socket,
            req: req.map(Arc::new),
            res: None,
            socket: Some(socket),
            observed: None,
            seen: None,
            number: self.sc.next_request.fetch_add(1, Ordering::SeqCst),
        };
        run_script(self.sc.clone(), script, ctx, event.to_owned()).await;
    }
}

impl Handler for ScenarioHandler {
    async fn request(&self, req: IncomingMessage, res: ServerResponse) {
        self.on_request("request", self.handler.to_vec(), req, res)
            .await;
    }

    async fn check_continue(&self, req: IncomingMessage, res: ServerResponse) {
        match self.listener("checkContinue") {
            Some(script) => self.on_request("checkContinue", script, req, res).await,
            None => {
                res.write_continue();
                self.request(req, res).await
            }
        }
    }

    async fn check_expectation(&self, req: IncomingMessage, res: ServerResponse) {
        match self.listener("checkExpectation") {
            Some(script) => self.on_request("checkExpectation", script, req, res).await,
            None => {
                let _ = res.write_head(417, None, None);
                let _ = res.end(None);
            }
        }
    }

    async fn client_error(&self, error: Error, socket: Socket) {
        match self.listener("clientError") {
            Some(script) => {
                let mut fields = json!({"message": error.to_string()});
                if !error.code().is_empty() {
                    fields["code"] = json!(error.code());
                }
                if let Some(n) = error.bytes_parsed() {
                    fields["bytesParsed"] = json!(n);
                }
                if let Some(raw) = error.raw_packet() {
                    fields["rawPacket"] = json!(latin1(raw));
                }
                self.on_socket_event("clientError", script, fields, None, socket)
                    .await
            }
            None => socket.default_client_error(&error),
        }
    }

    fn handles_upgrade(&self) -> bool {
        self.listeners.contains_key("upgrade")
    }

    async fn upgrade(&self, req: IncomingMessage, socket: Socket, head: Vec<u8>) {
        let script = self.listener("upgrade").unwrap_or_default();
        let mut fields = request_fields(&req);
        fields["head"] = json!(latin1(&head));
        self.on_socket_event("upgrade", script, fields, Some(req), socket)
            .await
    }

    fn handles_connect(&self) -> bool {
        self.listeners.contains_key("connect")
    }

    async fn connect(&self, req: IncomingMessage, socket: Socket, head: Vec<u8>) {
        let script = self.listener("connect").unwrap_or_default();
        let mut fields = request_fields(&req);
        fields["head"] = json!(latin1(&head));
        self.on_socket_event("connect", script, fields, Some(req), socket)
            .await
    }

    async fn drop_request(&self, req: IncomingMessage, socket: Socket) {
        if let Some(script) = self.listener("dropRequest") {
            let fields = json!({"method": req.method(), "url": req.url()});
            self.on_socket_event("dropRequest", script, fields, Some(req), socket)
                .await
        }
    }

    fn timeout_listened(&self, socket: Socket) {
        if self.listeners.contains_key("timeout") {
            self.timeout(socket);
        }
    }

    fn timeout(&self, socket: Socket) {
        match self.listener("timeout") {
            Some(script) => {
                let me = self.clone();
                self.sc.emit("timeout", json!({}));
                self.sc.spawn(async move {
                    let ctx = Ctx {
                        target: Target::Socket,
                        req: None,
                        res: None,
                        socket: Some(socket),
                        observed: None,
                        seen: None,
                        number: me.sc.next_request.fetch_add(1, Ordering::SeqCst),
                    };
                    run_script(me.sc.clone(), script, ctx, "timeout".into()).await;
                });
            }
            None => socket.destroy(),
        }
    }

    fn connection(&self, socket: &Socket) {
        self.sc.emit(
            "connection",
            json!({"remotePort": socket.remote_addr().port(), "localPort": socket.local_addr().port()}),
        );
    }

    fn close(&self) {
        self.sc.emit("server.close", json!({}));
    }
}

/// Report the response's 'finish' and 'close'.
fn watch_response(
    sc: &Arc<Scenario>,
    res: &ServerResponse,
    seen: &Arc<Seen>,
    observed: &Arc<Observed>,
) {
    sc.responses
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((res.clone(), seen.clone()));
    let before = sc
        .last_response
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(res.socket().remote_addr(), seen.clone());
    let (sc2, res2, seen2) = (sc.clone(), res.clone(), seen.clone());
    sc.spawn(async move {
        while res2.drain().await {
            sc2.sync_idle().await;
            sc2.report(&seen2, "res.drain", json!({}));
        }
    });
    let (sc2, res, seen, observed) = (sc.clone(), res.clone(), seen.clone(), observed.clone());
    sc.spawn(async move {
        let finished = res.finished().await;
        if !finished {
            // The socket closed: the request's 'aborted' (socketOnClose)
            // comes before the response's 'close'.
            observed.wait().await;
        }
        if let Some(before) = before {
            before.wait("res.close").await;
        }
        sc2.sync_idle().await;
        if finished {
            sc2.check_prefinish();
            sc2.report(&seen, "res.finish", json!({}));
        }
        sc2.responses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, s)| !Arc::ptr_eq(s, &seen));
        sc2.report(&seen, "res.close", json!({}));
    });
}

/// The body observer's progress, for `awaitEnd`, and the response's
/// callbacks (the events reported, for `awaitEvent`, are in [`Seen`]).
#[derive(Default)]
struct Observed {
    settled: AtomicBool,
    changed: Notify,
    /// The `$callback`s of the response's calls, run one after the other
    /// in the order of the calls (a socket calls its write callbacks in
    /// order).
    callbacks: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Callback>>>,
    /// The `$callback`s given to `res.setTimeout()`: the response's
    /// `'timeout'` listeners, in order.
    timeout_listeners: Mutex<Vec<String>>,
}

type Callback = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

impl Observed {
    /// Run `callback` after the callbacks queued before it.
    fn queue(&self, sc: &Arc<Scenario>, callback: Callback) {
        let mut q = self.callbacks.lock().unwrap_or_else(|e| e.into_inner());
        let tx = q.get_or_insert_with(|| {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Callback>();
            sc.spawn(async move {
                while let Some(cb) = rx.recv().await {
                    cb.await;
                }
            });
            tx
        });
        let _ = tx.send(callback);
    }
}

impl Observed {
    async fn wait(&self) {
        loop {
            let n = self.changed.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.settled.load(Ordering::SeqCst) {
                return;
            }
            n.await;
        }
    }
}

/// Read the request body from the start and report `end` or `aborted`.
async fn observe_body(
    sc: Arc<Scenario>,
    req: Arc<IncomingMessage>,
    observed: Arc<Observed>,
    seen: Arc<Seen>,
) {
    let peer = req.socket().remote_addr();
    let turn = sc.take_turn(peer);
    // Node emits 'data' and 'end' after the listeners of everything parsed
    // from the same packet ('request' of pipelined requests included).
    tokio::task::yield_now().await;
    let mut body = String::new();
    let mut peer_abort = false;
    loop {
        // With `body = "none"` the observer does not make the body flow: it
        // waits for Node's 'end' (the body dumped) or 'aborted'.
        let next = if sc.body_none {
            match req.settled().await {
                Ok(true) => {
                    // Dumped at the response's 'finish': Node's 'end'
                    // comes after its 'close'.
                    seen.wait("res.close").await;
                    Ok(None)
                }
                Ok(false) => Ok(None),
                Err(e) => Err(e),
            }
        } else {
            req.read().await
        };
        if !matches!(next, Ok(Some(_))) {
            sc.wait_turn(peer, turn).await;
        }
        sc.sync_idle().await;
        match next {
            Ok(Some(chunk)) => {
                // Strings after req.setEncoding(); latin-1 is one char per
                // byte, so decoding chunk by chunk equals decoding the
                // concatenation.
                let text = req.decode(&chunk).unwrap_or_else(|| latin1(&chunk));
                sc.report(&seen, "req.data", json!({"chunk": text}));
                body.push_str(&text);
            }
            Ok(None) => {
                sc.report(
                    &seen,
                    "end",
                    json!({
                        "body": body,
                        "complete": req.complete(),
                        "trailers": header_object(&req.trailers()),
                        "trailersDistinct": header_object(&req.trailers_distinct()),
                        "rawTrailers": flat(&req.raw_trailers()),
                    }),
                );
                break;
            }
            Err(_) => {
                // Node emits 'aborted' only for a request still owed its
                // response.
                if req.aborted() && !seen.has("aborted") {
                    sc.report(&seen, "aborted", json!({"complete": req.complete()}));
                    // The connection went away: the response's 'close'
                    // comes with the socket's, the request's a tick later.
                    peer_abort = true;
                }
                break;
            }
        }
    }
    sc.end_turn_done(peer);
    observed.settled.store(true, Ordering::SeqCst);
    observed.changed.notify_waiters();
    // Node destroys a request once it ended or was aborted, and its
    // 'close' follows.
    if peer_abort {
        seen.wait("res.close").await;
    }
    if req.destroyed() {
        sc.report(&seen, "req.close", json!({}));
    }
}

// ---------------------------------------------------------------- scripts

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Res,
    Socket,
}

struct Ctx {
    target: Target,
    req: Option<Arc<IncomingMessage>>,
    res: Option<ServerResponse>,
    socket: Option<Socket>,
    observed: Option<Arc<Observed>>,
    /// The events of this script's request (request listeners only).
    seen: Option<Arc<Seen>>,
    /// The request's number in the scenario.
    number: u64,
}

/// The events reported for one request: what `awaitEvent` waits for, and
/// the listeners a script added with `on`.
#[derive(Default)]
struct Seen {
    /// How many times each event was reported.
    names: Mutex<HashMap<String, usize>>,
    changed: Notify,
    /// (event, callback name): `["on", EVENT, {"$callback": NAME}]`.
    listeners: Mutex<Vec<(String, String)>>,
}

impl Seen {
    fn has(&self, name: &str) -> bool {
        self.count(name) > 0
    }

    fn count(&self, name: &str) -> usize {
        self.names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .copied()
            .unwrap_or(0)
    }

    async fn wait(&self, name: &str) {
        self.wait_any(&[(name, 0)]).await;
    }

    /// Wait until one of the events was reported more times than said.
    async fn wait_any(&self, events: &[(&str, usize)]) {
        loop {
            let n = self.changed.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if events.iter().any(|(e, c)| self.count(e) > *c) {
                return;
            }
            n.await;
        }
    }
}

/// What a step returned, for `?` steps and `get`.
enum Ret {
    Undefined,
    This,
    Value(Value),
    /// An object with no JSON form, by its text (`[object Socket]`).
    Object(String),
}

/// A failed step: a thrown error (reported as `throw`).
struct Thrown {
    code: Option<String>,
    name: String,
    message: String,
}

impl From<Error> for Thrown {
    fn from(e: Error) -> Self {
        Thrown {
            code: Some(e.code().to_owned()),
            name: e.name().to_owned(),
            message: e.to_string(),
        }
    }
}

fn type_error(message: String) -> Thrown {
    Thrown {
        code: None,
        name: "TypeError".into(),
        message,
    }
}

/// Report a thrown error as a `throw` event.
fn emit_thrown(sc: &Scenario, call: &str, t: Thrown) {
    let mut fields = json!({"call": call, "name": t.name, "message": t.message});
    if let Some(code) = t.code {
        fields["code"] = json!(code);
    }
    sc.emit("throw", fields);
}

/// `["name?", args...]`: whether the result is reported, the call
/// without `?`, the arguments.
fn parse_step(step: &Value) -> Option<(bool, String, Vec<Value>)> {
    let (first, args) = step.as_array()?.split_first()?;
    let name = first.as_str()?;
    Some((
        name.ends_with('?'),
        name.trim_end_matches('?').to_owned(),
        args.to_vec(),
    ))
}

/// A script's synchronous run, counted in [`Scenario::in_sync_run`]:
/// paused while a control step waits.
struct SyncRun {
    sc: Arc<Scenario>,
    active: bool,
}

impl SyncRun {
    fn new(sc: Arc<Scenario>) -> SyncRun {
        sc.enter_sync();
        SyncRun { sc, active: true }
    }

    fn pause(&mut self) {
        if std::mem::take(&mut self.active) {
            self.sc.leave_sync();
        }
    }

    fn resume(&mut self) {
        if !std::mem::replace(&mut self.active, true) {
            self.sc.enter_sync();
        }
    }
}

impl Drop for SyncRun {
    fn drop(&mut self) {
        self.pause();
    }
}

const CONTROL_STEPS: &[&str] = &["await", "sleep", "awaitEnd", "awaitDrain", "awaitEvent"];

async fn run_script(sc: Arc<Scenario>, script: Script, ctx: Ctx, place: String) {
    let mut sync = SyncRun::new(sc.clone());
    for step in script {
        sync.resume();
        if !sc.alive.load(Ordering::SeqCst) {
            return;
        }
        let Some((report, call, args)) = parse_step(&step) else {
            sc.out.error(format!("{place}: malformed step {step}"));
            continue;
        };
        let args = args.as_slice();
        let (prefix, method) = match call.split_once('.') {
            Some((p, m)) => (Some(p), m),
            None => (None, call.as_str()),
        };
        if let Some(p) = prefix {
            if !["req", "res", "socket", "server", "http"].contains(&p) {
                sc.out
                    .error(format!("{place}: unknown target '{p}' in step {step}"));
                continue;
            }
        }
        // Control steps.
        if CONTROL_STEPS.contains(&method) {
            sync.pause();
        }
        match method {
            "awaitEvent" => {
                let name = args.first().map(as_string).unwrap_or_default();
                match &ctx.seen {
                    Some(seen) => seen.wait(&name).await,
                    None => sc.emit(
                        "throw",
                        json!({"call": call, "name": "TypeError", "message": "awaitEvent: this script has no request"}),
                    ),
                }
                continue;
            }
            "await" => {
                let signal = args.first().map(as_string).unwrap_or_default();
                sc.wait_signal(&signal).await;
                continue;
            }
            "sleep" => {
                let ms = args.first().and_then(Value::as_f64).unwrap_or(0.0);
                tokio::time::sleep(Duration::from_millis(ms.max(0.0) as u64)).await;
                continue;
            }
            "awaitEnd" => {
                match &ctx.observed {
                    Some(o) => o.wait().await,
                    None if ctx.req.is_some() => {}
                    None => sc.emit(
                        "throw",
                        json!({"call": call, "name": "TypeError", "message": "awaitEnd: this listener has no request"}),
                    ),
                }
                continue;
            }
            "awaitDrain" => {
                match (prefix, ctx.target) {
                    (Some("res"), _) | (None, Target::Res) => match (&ctx.res, &ctx.seen) {
                        // The response's next 'drain' (or 'close'), if it
                        // needs one.
                        (Some(res), Some(seen)) if res.writable_need_drain() => {
                            let (d, c) = (seen.count("res.drain"), seen.count("res.close"));
                            seen.wait_any(&[("res.drain", d), ("res.close", c)]).await;
                        }
                        (Some(_), Some(_)) => {}
                        (Some(res), None) => res.drained().await,
                        _ => {}
                    },
                    _ => {
                        if let Some(s) = &ctx.socket {
                            s.drained().await;
                        }
                    }
                }
                continue;
            }
            _ => {}
        }
        let target = match prefix {
            Some("req") => "req",
            Some("res") => "res",
            Some("socket") => "socket",
            Some("server") => "server",
            Some("http") => "http",
            _ => match ctx.target {
                Target::Res => "res",
                Target::Socket => "socket",
            },
        };
        let result = match (target, method) {
            (_, "on") if target == "res" || target == "req" => add_listener(&ctx, target, args),
            ("req", "destroy") => match (&ctx.req, &ctx.seen) {
                (Some(req), Some(seen)) => {
                    let error = args
                        .first()
                        .and_then(|a| a.get("$error"))
                        .map(|m| Error::application(as_string(m)));
                    if req.destroy_with(error) {
                        sc.report(seen, "aborted", json!({"complete": req.complete()}));
                    }
                    Ok(Ret::This)
                }
                _ => step_on(&sc, &ctx, target, method, args, &place),
            },
            ("req" | "res" | "socket", "get") => get_path(&sc, &ctx, target, args),
            ("req" | "res" | "socket", "set") => set_path(&sc, &ctx, target, args),
            _ => step_on(&sc, &ctx, target, method, args, &place),
        };
        sc.check_prefinish();
        match result {
            Err(t) => emit_thrown(&sc, &call, t),
            Ok(ret) if report || method == "get" => sc.emit("return", return_fields(&call, ret)),
            Ok(_) => {}
        }
        // The script goes on in the same tick, as Node runs a listener's
        // steps synchronously until a control step suspends it.
    }
}

/// The objects a script reaches by name, for property paths.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Obj {
    Req,
    Res,
    Socket,
}

impl Obj {
    /// The JavaScript classes of the object, from its own to `Object`
    /// (`constructor.name`, `__proto__.constructor.name`...).
    fn classes(self) -> &'static [&'static str] {
        match self {
            Obj::Req => &[
                "IncomingMessage",
                "Readable",
                "Stream",
                "EventEmitter",
                "Object",
            ],
            Obj::Res => &[
                "ServerResponse",
                "OutgoingMessage",
                "Stream",
                "EventEmitter",
                "Object",
            ],
            Obj::Socket => &[
                "Socket",
                "Duplex",
                "Readable",
                "Stream",
                "EventEmitter",
                "Object",
            ],
        }
    }

    fn of(target: &str) -> Obj {
        match target {
            "req" => Obj::Req,
            "res" => Obj::Res,
            _ => Obj::Socket,
        }
    }

    /// The object-valued property `name` of this object.
    fn child(self, name: &str) -> Option<Obj> {
        match (self, name) {
            (Obj::Req | Obj::Res, "socket" | "connection") => Some(Obj::Socket),
            (Obj::Res, "req") => Some(Obj::Req),
            _ => None,
        }
    }

    /// Names the object among those of the scenario (for its assigned
    /// properties): a request and its response by the request's number,
    /// a socket by its peer.
    fn key(self, ctx: &Ctx) -> String {
        match self {
            Obj::Req => format!("req {}", ctx.number),
            Obj::Res => format!("res {}", ctx.number),
            Obj::Socket => match &ctx.socket {
                Some(s) => format!("socket {}", s.remote_addr()),
                None => "socket".into(),
            },
        }
    }
}

/// The rest of a property path inside a JSON value (`headers.host`,
/// `headersDistinct.x.length`).
fn walk_json(mut v: Value, rest: &[&str]) -> Ret {
    for seg in rest {
        v = match (&v, *seg) {
            (Value::Array(a), "length") => json!(a.len()),
            (Value::String(s), "length") => json!(s.encode_utf16().count()),
            (Value::Array(a), i) => match i.parse::<usize>().ok().and_then(|i| a.get(i)) {
                Some(x) => x.clone(),
                None => return Ret::Undefined,
            },
            (Value::Object(m), k) => match m.get(k) {
                Some(x) => x.clone(),
                None => return Ret::Undefined,
            },
            _ => return Ret::Undefined,
        };
    }
    Ret::Value(v)
}

/// `["get", PATH]` on the request, the response or the socket.
fn get_path(sc: &Arc<Scenario>, ctx: &Ctx, target: &str, args: &[Value]) -> Result<Ret, Thrown> {
    let path = args.first().map(as_string).unwrap_or_default();
    let segs: Vec<&str> = path.split('.').collect();
    let mut obj = Obj::of(target);
    let mut i = 0;
    while i < segs.len() {
        let seg = segs[i];
        let last = i + 1 == segs.len();
        let assigned = sc
            .expandos
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&obj.key(ctx))
            .and_then(|m| m.get(seg).cloned());
        if let Some(v) = assigned {
            return Ok(walk_json(v, &segs[i + 1..]));
        }
        if seg == "__proto__" || seg == "constructor" {
            let depth = segs[i..].iter().take_while(|s| **s == "__proto__").count();
            let rest = &segs[i + depth..];
            // obj.__proto__ is its class's prototype: its constructor is
            // the class itself; one more __proto__ reaches the parent.
            return Ok(match (rest, obj.classes().get(depth.saturating_sub(1))) {
                (["constructor", "name"], Some(name)) => Ret::Value(json!(name)),
                _ => Ret::Undefined,
            });
        }
        if let Some(child) = obj.child(seg) {
            if obj == Obj::Res && child == Obj::Socket {
                // Node sets res.socket to null once the response is done.
                if ctx.res.as_ref().is_some_and(|r| !r.has_socket()) {
                    if last {
                        return Ok(Ret::Value(Value::Null));
                    }
                    return Err(type_error(format!(
                        "Cannot read properties of null (reading '{}')",
                        segs[i + 1]
                    )));
                }
            }
            if last {
                return Ok(Ret::Object(format!("[object {}]", child.classes()[0])));
            }
            obj = child;
            i += 1;
            continue;
        }
        let value = match obj {
            Obj::Req => ctx
                .req
                .as_deref()
                .map(|r| req_step(r, "get", &[json!(seg)])),
            Obj::Res => ctx.res.as_ref().map(|r| {
                res_ext_step(sc, ctx, r, "get", &[json!(seg)])
                    .unwrap_or_else(|| res_step(r, "get", &[json!(seg)]))
            }),
            Obj::Socket => ctx
                .socket
                .as_ref()
                .map(|s| socket_step(s, "get", &[json!(seg)])),
        }
        .unwrap_or(Ok(Ret::Undefined))?;
        let value = match value {
            Ret::Undefined => more_props(ctx, obj, seg),
            v => v,
        };
        return Ok(match value {
            Ret::Value(v) => walk_json(v, &segs[i + 1..]),
            other if last => other,
            _ => Ret::Undefined,
        });
    }
    Ok(Ret::Undefined)
}

/// Properties of the request, the response and the socket that the
/// `*_step` functions do not read.
fn more_props(ctx: &Ctx, obj: Obj, name: &str) -> Ret {
    let v = match (obj, ctx.req.as_deref(), ctx.socket.as_ref()) {
        (Obj::Req, Some(req), _) => match name {
            "destroyed" => json!(req.destroyed()),
            "readableEnded" => json!(req.readable_ended()),
            "readableHighWaterMark" => json!(req.readable_high_water_mark()),
            "statusCode" => json!(req.status_code()),
            "statusMessage" => json!(req.status_message()),
            "trailersDistinct" => header_object(&req.trailers_distinct()),
            _ => return Ret::Undefined,
        },
        (Obj::Socket, _, Some(socket)) => match name {
            "bytesRead" => json!(socket.bytes_read()),
            "remoteAddress" => json!(socket.remote_addr().ip().to_string()),
            "remotePort" => json!(socket.remote_addr().port()),
            "remoteFamily" => json!(socket.remote_family()),
            "localAddress" => json!(socket.local_addr().ip().to_string()),
            "localPort" => json!(socket.local_addr().port()),
            "timeout" => json!(socket.timeout().as_millis() as u64),
            "readableHighWaterMark" => json!(socket.readable_high_water_mark()),
            "writableHighWaterMark" => json!(socket.writable_high_water_mark()),
            _ => return Ret::Undefined,
        },
        _ => return Ret::Undefined,
    };
    Ret::Value(v)
}

/// `["set", PATH, VALUE]`: a property the object has, or else a property
/// the script adds to it (JavaScript objects take any).
fn set_path(sc: &Scenario, ctx: &Ctx, target: &str, args: &[Value]) -> Result<Ret, Thrown> {
    let path = args.first().map(as_string).unwrap_or_default();
    let segs: Vec<&str> = path.split('.').collect();
    let Some((name, parents)) = segs.split_last() else {
        return Ok(Ret::Undefined);
    };
    let mut obj = Obj::of(target);
    for p in parents {
        obj = obj.child(p).ok_or_else(|| {
            type_error(format!(
                "cannot set '{path}': the embedded adapter has no '{p}'"
            ))
        })?;
    }
    if obj == Obj::Res && parents.is_empty() {
        if let Some(res) = &ctx.res {
            match res_step(res, "set", args) {
                Ok(r) => return Ok(r),
                // A property the response has, but not one to assign.
                Err(e) if !matches!(res_step(res, "get", args), Ok(Ret::Undefined)) => {
                    return Err(e)
                }
                Err(_) => {}
            }
        }
    }
    sc.expandos
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(obj.key(ctx))
        .or_default()
        .insert(
            (*name).to_owned(),
            args.get(1).cloned().unwrap_or(Value::Null),
        );
    Ok(Ret::Undefined)
}

/// `["on", EVENT, {"$callback": NAME}]` on the request or the response:
/// NAME is reported (a `return` event) each time the event is.
fn add_listener(ctx: &Ctx, target: &str, args: &[Value]) -> Result<Ret, Thrown> {
    let event = args.first().map(as_string).unwrap_or_default();
    let Some(callback) = args.get(1).and_then(|v| v.get("$callback")).map(as_string) else {
        return Err(type_error(format!(
            "{target}.on: the embedded adapter takes only a $callback listener"
        )));
    };
    let Some(seen) = &ctx.seen else {
        return Err(type_error(format!(
            "{target}.on: this listener has no request"
        )));
    };
    let reported = match (target, event.as_str()) {
        ("res", e) => format!("res.{e}"),
        ("req", "close") => "req.close".into(),
        ("req", "data") => "req.data".into(),
        (_, e) => e.to_owned(),
    };
    seen.listeners
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((reported, callback));
    Ok(Ret::This)
}

/// A method or property of the script's objects.
fn step_on(
    sc: &Arc<Scenario>,
    ctx: &Ctx,
    target: &str,
    method: &str,
    args: &[Value],
    place: &str,
) -> Result<Ret, Thrown> {
    match target {
        "res" => match &ctx.res {
            Some(res) => res_ext_step(sc, ctx, res, method, args)
                .unwrap_or_else(|| res_step(res, method, args)),
            None => Err(type_error(format!(
                "there is no 'res' in a '{place}' listener"
            ))),
        },
        "req" => match &ctx.req {
            Some(req) => req_step(req, method, args),
            None => Err(type_error(format!(
                "there is no 'req' in a '{place}' listener"
            ))),
        },
        "socket" => match &ctx.socket {
            Some(s) => socket_step(s, method, args),
            None => Err(type_error(format!(
                "there is no 'socket' in a '{place}' listener"
            ))),
        },
        "http" => http_step(method, args),
        _ => Err(type_error(format!(
            "{target}.{method} is not supported by the embedded adapter"
        ))),
    }
}

fn return_fields(call: &str, ret: Ret) -> Value {
    match ret {
        Ret::Undefined => json!({"call": call, "valueType": "undefined"}),
        Ret::This => json!({"call": call, "valueType": "object", "value": "$this"}),
        Ret::Object(text) => json!({"call": call, "valueType": "object", "value": text}),
        Ret::Value(v) => {
            let t = match &v {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            json!({"call": call, "valueType": t, "value": v})
        }
    }
}

fn as_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => js_string(other),
    }
}

/// `String(value)` for JSON values.
fn js_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{}", f as i64),
            Some(f) => format!("{f}"),
            None => n.to_string(),
        },
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Array(a) => a.iter().map(js_string).collect::<Vec<_>>().join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// A header value as the script gave it.
fn out_value(name: &str, v: Option<&Value>) -> Result<OutValue, Thrown> {
    match v {
        None => Err(nodehttp::validate::validate_header_value(name, None)
            .err()
            .map(Thrown::from)
            .unwrap_or_else(|| type_error("missing value".into()))),
        Some(Value::Number(n)) => Ok(OutValue::Number(n.as_f64().unwrap_or(f64::NAN))),
        Some(Value::Array(a)) => Ok(OutValue::Many(a.iter().map(js_string).collect())),
        Some(other) => Ok(OutValue::One(js_string(other))),
    }
}

fn out_value_json(v: &OutValue) -> Value {
    match v {
        OutValue::One(s) => json!(s),
        OutValue::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => json!(*n as i64),
        OutValue::Number(n) => json!(n),
        OutValue::Many(a) => json!(a),
    }
}

/// Body data of the socket's `write()` / `end()`: as a response's chunk
/// (JavaScript strings are written as UTF-8, as Node does), other values
/// by their `String()`.
fn body_arg(v: Option<&Value>) -> Option<Vec<u8>> {
    match v {
        None | Some(Value::Null) => None,
        Some(v) => Some(chunk_bytes(v, None).unwrap_or_else(|_| js_string(v).into_bytes())),
    }
}

/// `{k: v}` (a plain object, possibly tagged `$map` / `$headers`) as pairs.
/// A `Headers` iterates lower-cased names in sorted order, duplicates
/// joined with ", " (set-cookie values kept apart), as the WHATWG class does.
fn pairs(v: &Value) -> Option<Vec<(String, Value)>> {
    if let Value::Object(m) = v {
        if m.len() == 1 {
            if let Some(Value::Array(list)) = m.get("$headers") {
                let mut sorted: Vec<(String, String)> = list
                    .iter()
                    .filter_map(|p| {
                        let p = p.as_array()?;
                        Some((
                            as_string(p.first()?).to_ascii_lowercase(),
                            js_string(p.get(1)?),
                        ))
                    })
                    .collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                let mut out: Vec<(String, Value)> = Vec::new();
                for (k, v) in sorted {
                    match out.last_mut() {
                        Some((lk, Value::String(lv))) if *lk == k && k != "set-cookie" => {
                            lv.push_str(", ");
                            lv.push_str(&v);
                        }
                        _ => out.push((k, Value::String(v))),
                    }
                }
                return Some(out);
            }
        }
    }
    match v {
        Value::Object(m)
            if m.len() == 1 && (m.contains_key("$map") || m.contains_key("$headers")) =>
        {
            let list = m.values().next()?.as_array()?;
            Some(
                list.iter()
                    .filter_map(|p| {
                        let p = p.as_array()?;
                        Some((
                            as_string(p.first()?),
                            p.get(1).cloned().unwrap_or(Value::Null),
                        ))
                    })
                    .collect(),
            )
        }
        Value::Object(m) => Some(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        _ => None,
    }
}

fn status_arg(v: Option<&Value>) -> u16 {
    v.and_then(Value::as_f64)
        .map(|f| f.clamp(0.0, u16::MAX as f64) as u16)
        .unwrap_or(0)
}

fn res_step(res: &ServerResponse, method: &str, args: &[Value]) -> Result<Ret, Thrown> {
    let arg_str = |i: usize| {
        args.get(i)
            .map(as_string)
            .unwrap_or_else(|| "undefined".into())
    };
    Ok(match method {
        "get" => Ret::Value(match arg_str(0).as_str() {
            "statusCode" => json!(res.status_code()),
            "statusMessage" => match res.status_message() {
                Some(m) => json!(m),
                None => return Ok(Ret::Undefined),
            },
            "headersSent" => json!(res.headers_sent()),
            "sendDate" => json!(res.send_date()),
            "strictContentLength" => json!(res.strict_content_length()),
            "writableEnded" | "finished" => json!(res.writable_ended()),
            "writableFinished" => json!(res.writable_finished()),
            _ => return Ok(Ret::Undefined),
        }),
        "set" => {
            let v = args.get(1);
            match arg_str(0).as_str() {
                "statusCode" => res.set_status_code(status_arg(v)),
                "statusMessage" => res.set_status_message(v.map(as_string)),
                "sendDate" => res.set_send_date(v.is_some_and(truthy)),
                "strictContentLength" => res.set_strict_content_length(v.is_some_and(truthy)),
                other => {
                    return Err(type_error(format!(
                        "set {other}: not a property of the response"
                    )))
                }
            }
            Ret::Undefined
        }
        "setHeader" => {
            let name = arg_str(0);
            res.set_header(&name, out_value(&name, args.get(1))?)?;
            Ret::This
        }
        "appendHeader" => {
            let name = arg_str(0);
            res.append_header(&name, out_value(&name, args.get(1))?)?;
            Ret::This
        }
        "setHeaders" => {
            let arg = args.first().cloned().unwrap_or(Value::Null);
            let tagged = matches!(&arg, Value::Object(m) if m.len() == 1 && (m.contains_key("$map") || m.contains_key("$headers")));
            if !tagged {
                if res.headers_sent() {
                    return Err(Thrown {
                        code: Some("ERR_HTTP_HEADERS_SENT".into()),
                        name: "Error".into(),
                        message: "Cannot set headers after they are sent to the client".into(),
                    });
                }
                return Err(Thrown {
                    code: Some("ERR_INVALID_ARG_TYPE".into()),
                    name: "TypeError".into(),
                    message: "The \"headers\" argument must be an instance of Headers or Map."
                        .into(),
                });
            }
            let mut list = Vec::new();
            for (k, v) in pairs(&arg).unwrap_or_default() {
                list.push((k.clone(), out_value(&k, Some(&v))?));
            }
            res.set_headers(&list)?;
            Ret::This
        }
        "getHeader" => match res.get_header(&arg_str(0)) {
            Some(v) => Ret::Value(out_value_json(&v)),
            None => Ret::Undefined,
        },
        "getHeaders" => {
            let mut m = Map::new();
            for (k, v) in res.get_headers() {
                m.insert(k, out_value_json(&v));
            }
            Ret::Value(Value::Object(m))
        }
        "getHeaderNames" => Ret::Value(json!(res.get_header_names())),
        "getRawHeaderNames" => Ret::Value(json!(res.get_raw_header_names())),
        "hasHeader" => Ret::Value(json!(res.has_header(&arg_str(0)))),
        "removeHeader" => {
            res.remove_header(&arg_str(0))?;
            Ret::Undefined
        }
        "writeHead" => {
            let status = status_arg(args.first());
            let (message, headers) = match args.get(1) {
                Some(Value::String(m)) => (Some(m.clone()), args.get(2)),
                other => (None, other),
            };
            let headers = match headers {
                Some(Value::Array(a)) => {
                    Some(HeadHeaders::Array(a.iter().map(js_string).collect()))
                }
                Some(v @ Value::Object(_)) => {
                    let mut list = Vec::new();
                    for (k, v) in pairs(v).unwrap_or_default() {
                        list.push((k.clone(), out_value(&k, Some(&v))?));
                    }
                    Some(HeadHeaders::Object(list))
                }
                _ => None,
            };
            res.write_head(status, message.as_deref(), headers)?;
            Ret::This
        }
        "flushHeaders" => {
            res.flush_headers()?;
            Ret::Undefined
        }
        "addTrailers" => {
            let (list, form) = match args.first() {
                Some(Value::Array(a)) => (
                    a.iter()
                        .filter_map(|p| {
                            let p = p.as_array()?;
                            Some((
                                as_string(p.first()?),
                                p.get(1).cloned().unwrap_or(Value::Null),
                            ))
                        })
                        .collect(),
                    TrailersForm::Array,
                ),
                other => (
                    other.and_then(pairs).unwrap_or_default(),
                    TrailersForm::Object,
                ),
            };
            let mut values = Vec::new();
            for (k, v) in list {
                let value = out_value(&k, Some(&v))?;
                values.push((k, value));
            }
            res.add_trailer_values(&values, form)?;
            Ret::Undefined
        }
        "writeContinue" => {
            res.write_continue();
            Ret::Undefined
        }
        "writeProcessing" => {
            res.write_processing();
            Ret::Undefined
        }
        "writeEarlyHints" => {
            let mut list = Vec::new();
            for (k, v) in args.first().and_then(pairs).unwrap_or_default() {
                list.push((k.clone(), out_value(&k, Some(&v))?));
            }
            res.write_early_hints(&list)?;
            Ret::Undefined
        }
        "setTimeout" => {
            res.set_timeout(Duration::from_millis(
                args.first().and_then(Value::as_u64).unwrap_or(0),
            ));
            Ret::This
        }
        other => return Err(type_error(format!("{other} is not a function"))),
    })
}

// ---------------------------------------------------------------- response, more

/// The name of a `{"$callback": NAME}` argument.
fn callback_arg(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Object(m) if m.len() == 1 => m.get("$callback").map(as_string),
        _ => None,
    }
}

/// Report a call of a `$callback` with its first argument: `None` for
/// none (`undefined`), `Some(None)` for `null`, `Some(Some(error))`.
fn call_back(sc: &Scenario, name: &str, arg: Option<Option<&Error>>) {
    let fields = match arg {
        None => json!({"call": name, "valueType": "undefined"}),
        Some(None) => json!({"call": name, "valueType": "null", "value": null}),
        Some(Some(e)) => json!({"call": name, "valueType": "object",
                                "value": {"code": e.code(), "message": e.to_string()},
                                "code": e.code()}),
    };
    sc.emit("return", fields);
}

/// `typeof chunk` for the error of a chunk that is neither a string nor a
/// Buffer.
fn invalid_chunk(v: &Value) -> Thrown {
    let received = match v {
        Value::Number(n) => format!("type number ({})", js_string(&Value::Number(n.clone()))),
        Value::Bool(b) => format!("type boolean ({b})"),
        Value::Null => "null".into(),
        _ => "an instance of Object".into(),
    };
    Thrown {
        code: Some("ERR_INVALID_ARG_TYPE".into()),
        name: "TypeError".into(),
        message: format!(
            "The \"chunk\" argument must be of type string or an instance of Buffer or Uint8Array. Received {received}"
        ),
    }
}

/// `Buffer.from(string, encoding)`.
fn encode_string(s: &str, encoding: Option<&str>) -> Vec<u8> {
    let enc = encoding.map(str::to_ascii_lowercase);
    match enc.as_deref() {
        Some("latin1" | "binary" | "ascii") => s.encode_utf16().map(|u| u as u8).collect(),
        Some("ucs2" | "ucs-2" | "utf16le" | "utf-16le") => {
            s.encode_utf16().flat_map(u16::to_le_bytes).collect()
        }
        Some("hex") => {
            let digits: Vec<u8> = s.bytes().collect();
            let mut out = Vec::new();
            for pair in digits.chunks_exact(2) {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(pair[0]), hex(pair[1])) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => break,
                }
            }
            out
        }
        Some("base64" | "base64url") => {
            let mut out = Vec::new();
            let (mut acc, mut bits) = (0u32, 0u32);
            for b in s.bytes() {
                let v = match b {
                    b'A'..=b'Z' => b - b'A',
                    b'a'..=b'z' => b - b'a' + 26,
                    b'0'..=b'9' => b - b'0' + 52,
                    b'+' | b'-' => 62,
                    b'/' | b'_' => 63,
                    b'=' => break,
                    _ => continue,
                };
                acc = (acc << 6) | u32::from(v);
                bits += 6;
                if bits >= 8 {
                    bits -= 8;
                    out.push((acc >> bits) as u8);
                }
            }
            out
        }
        _ => s.as_bytes().to_vec(),
    }
}

/// A `chunk` argument of `write()` / `end()`: a string (with its
/// encoding), a `$buffer` or a `$repeat`; anything else throws as Node's
/// `write_()` does.
fn chunk_bytes(v: &Value, encoding: Option<&str>) -> Result<Vec<u8>, Thrown> {
    match v {
        Value::String(s) => Ok(encode_string(s, encoding)),
        Value::Object(m) if m.len() == 1 => {
            if let Some(b) = m.get("$buffer") {
                return Ok(as_string(b).encode_utf16().map(|u| u as u8).collect());
            }
            if let Some(Value::Array(r)) = m.get("$repeat") {
                let text = r.first().map(as_string).unwrap_or_default();
                let n = r.get(1).and_then(Value::as_u64).unwrap_or(0) as usize;
                return Ok(encode_string(&text.repeat(n), encoding));
            }
            Err(invalid_chunk(v))
        }
        other => Err(invalid_chunk(other)),
    }
}

/// Whether a `write()` / `end()` chunk is a string in Node's `'utf8'`
/// (the default; `_send()` compares the name exactly, so `'utf-8'` is
/// not): the message's head then goes with it in UTF-8.
pub(crate) fn is_utf8_text(v: &Value, encoding: Option<&str>) -> bool {
    let string = match v {
        Value::String(_) => true,
        Value::Object(m) => m.len() == 1 && m.contains_key("$repeat"),
        _ => false,
    };
    string && matches!(encoding, None | Some("utf8"))
}

/// The library's view of a chunk: its bytes, as a UTF-8 string when it
/// was one (see [`is_utf8_text`]).
pub(crate) fn as_chunk(data: &[u8], text: bool) -> Chunk<'_> {
    match std::str::from_utf8(data) {
        Ok(s) if text => Chunk::Text(s),
        _ => Chunk::Bytes(data),
    }
}

/// `(chunk, encoding, callback)` of `write(chunk[, encoding][, callback])`
/// and `end([chunk][, encoding][, callback])`.
fn chunk_args(args: &[Value]) -> (Option<&Value>, Option<String>, Option<String>) {
    if let Some(cb) = callback_arg(args.first()) {
        return (None, None, Some(cb));
    }
    if let Some(cb) = callback_arg(args.get(1)) {
        return (args.first(), None, Some(cb));
    }
    let encoding = args.get(1).and_then(Value::as_str).map(str::to_owned);
    (args.first(), encoding, callback_arg(args.get(2)))
}

/// A `{"$callback"}` called on the next tick, or once `ready` resolves
/// (with its argument), after the response's earlier callbacks.
fn schedule_callback<F>(sc: &Arc<Scenario>, ctx: &Ctx, name: String, ready: F)
where
    F: std::future::Future<Output = Option<Option<Option<Error>>>> + Send + 'static,
{
    let sc2 = sc.clone();
    let cb: Callback = Box::pin(async move {
        if let Some(arg) = ready.await {
            call_back(&sc2, &name, arg.as_ref().map(Option::as_ref));
        }
    });
    match &ctx.observed {
        Some(o) => o.queue(sc, cb),
        None => sc.spawn(cb),
    }
}

/// The callback of a `write()` / `end()` that Node does not throw for.
fn write_callback(
    sc: &Arc<Scenario>,
    ctx: &Ctx,
    res: &ServerResponse,
    name: Option<String>,
    outcome: WriteOutcome,
    from_end: bool,
) {
    let Some(name) = name else { return };
    let res = res.clone();
    match outcome.error {
        Some(AsyncError {
            delivery: Delivery::Silent,
            ..
        }) => {}
        Some(AsyncError {
            delivery: Delivery::CallbackIfFinished,
            error,
        }) => {
            let finished = res.writable_finished();
            schedule_callback(sc, ctx, name, async move {
                if finished {
                    Some(Some(Some(error)))
                } else {
                    res.finished().await.then_some(None)
                }
            });
        }
        Some(AsyncError { error, .. }) => {
            schedule_callback(sc, ctx, name, async move { Some(Some(Some(error))) })
        }
        // end()'s callback is a 'finish' listener: it runs when the
        // response's 'finish' is reported (pipelined responses finish in
        // request order).
        None if from_end => match ctx.seen.clone() {
            Some(seen) => schedule_callback(sc, ctx, name, async move {
                seen.wait_any(&[("res.finish", 0), ("res.close", 0)]).await;
                seen.has("res.finish").then_some(None)
            }),
            None => schedule_callback(sc, ctx, name, async move {
                res.finished().await.then_some(None)
            }),
        },
        None if outcome.effect == Effect::Discarded => {
            schedule_callback(sc, ctx, name, async move { Some(None) })
        }
        None => schedule_callback(sc, ctx, name, async move {
            res.flushed().await.then_some(Some(None))
        }),
    }
}

/// The response's steps the plain `res_step` lacks: cork/uncork, the
/// `writable*` properties, `socket` / `connection` / `req`, and the
/// encodings and callbacks of `write()`, `end()` and `writeEarlyHints()`.
fn res_ext_step(
    sc: &Arc<Scenario>,
    ctx: &Ctx,
    res: &ServerResponse,
    method: &str,
    args: &[Value],
) -> Option<Result<Ret, Thrown>> {
    let path = args.first().map(as_string).unwrap_or_default();
    Some(Ok(match (method, path.as_str()) {
        ("get", "writableCorked") => Ret::Value(json!(res.writable_corked())),
        ("get", "writableLength") => Ret::Value(json!(res.writable_length())),
        ("get", "writableHighWaterMark") => Ret::Value(json!(res.writable_high_water_mark())),
        ("get", "writableNeedDrain") => Ret::Value(json!(res.writable_need_drain())),
        ("get", "writableObjectMode") => Ret::Value(json!(res.writable_object_mode())),
        ("get", "destroyed") => Ret::Value(json!(res.destroyed())),
        ("setTimeout", _) if callback_arg(args.get(1)).is_some() => {
            let name = callback_arg(args.get(1))?;
            let observed = ctx.observed.as_ref()?;
            res.set_timeout(Duration::from_millis(
                args.first().and_then(Value::as_u64).unwrap_or(0),
            ));
            res.add_timeout_listener();
            let mut names = observed
                .timeout_listeners
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            names.push(name);
            if names.len() == 1 {
                let (sc2, res, observed) = (sc.clone(), res.clone(), observed.clone());
                sc.spawn(async move {
                    let mut seen = 0;
                    while let Some(n) = res.timed_out(seen).await {
                        for _ in seen..n {
                            let names = observed
                                .timeout_listeners
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .clone();
                            for name in names {
                                sc2.emit(
                                    "return",
                                    json!({"call": name, "valueType": "object", "value": "[object Socket]"}),
                                );
                            }
                        }
                        seen = n;
                    }
                });
            }
            Ret::This
        }
        ("cork", _) => {
            res.cork();
            Ret::Undefined
        }
        ("uncork", _) => {
            res.uncork();
            Ret::Undefined
        }
        ("pipe", _) => {
            res.pipe();
            Ret::Undefined
        }
        ("destroy", _) => {
            let error = match args.first() {
                Some(Value::Object(m)) if m.len() == 1 => {
                    m.get("$error").map(|e| Error::application(as_string(e)))
                }
                _ => None,
            };
            res.destroy_with(error);
            Ret::This
        }
        ("hasHeader" | "removeHeader", _) if !matches!(args.first(), Some(Value::String(_))) => {
            let received = match args.first() {
                Some(v @ Value::Number(_)) => format!("type number ({})", js_string(v)),
                Some(Value::Bool(b)) => format!("type boolean ({b})"),
                Some(Value::Null) => "null".into(),
                None => "undefined".into(),
                Some(_) => "an instance of Object".into(),
            };
            return Some(Err(Thrown {
                code: Some("ERR_INVALID_ARG_TYPE".into()),
                name: "TypeError".into(),
                message: format!(
                    "The \"name\" argument must be of type string. Received {received}"
                ),
            }));
        }
        ("write", _) => {
            let (chunk, encoding, cb) = chunk_args(args);
            let text = chunk.is_some_and(|v| is_utf8_text(v, encoding.as_deref()));
            let data = match chunk {
                Some(v) => match chunk_bytes(v, encoding.as_deref()) {
                    Ok(d) => d,
                    Err(t) => return Some(Err(t)),
                },
                None => Vec::new(),
            };
            let outcome = match res.write_chunk(as_chunk(&data, text)) {
                Ok(o) => o,
                Err(e) => return Some(Err(e.into())),
            };
            let ok = outcome.ok;
            write_callback(sc, ctx, res, cb, outcome, false);
            Ret::Value(json!(ok))
        }
        ("end", _) => {
            let (chunk, encoding, cb) = chunk_args(args);
            let text = chunk.is_some_and(|v| is_utf8_text(v, encoding.as_deref()));
            let data = match chunk {
                // end('') is end(): Node tests the chunk for truthiness.
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.is_empty() => None,
                Some(v) => match chunk_bytes(v, encoding.as_deref()) {
                    Ok(d) => Some(d),
                    Err(t) => return Some(Err(t)),
                },
            };
            let outcome = match res.end_chunk(data.as_deref().map(|d| as_chunk(d, text))) {
                Ok(o) => o,
                Err(e) => return Some(Err(e.into())),
            };
            write_callback(sc, ctx, res, cb, outcome, true);
            Ret::This
        }
        ("writeEarlyHints", _) => {
            let cb = callback_arg(args.get(1))?;
            let mut list = Vec::new();
            for (k, v) in args.first().and_then(pairs).unwrap_or_default() {
                match out_value(&k, Some(&v)) {
                    Ok(v) => list.push((k.clone(), v)),
                    Err(t) => return Some(Err(t)),
                }
            }
            if let Err(e) = res.write_early_hints(&list) {
                return Some(Err(e.into()));
            }
            let res = res.clone();
            schedule_callback(sc, ctx, cb, async move {
                res.flushed().await.then_some(Some(None))
            });
            Ret::Undefined
        }
        _ => return None,
    }))
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

fn req_step(req: &IncomingMessage, method: &str, args: &[Value]) -> Result<Ret, Thrown> {
    Ok(match method {
        "get" => Ret::Value(
            match args.first().map(as_string).unwrap_or_default().as_str() {
                "complete" => json!(req.complete()),
                "aborted" => json!(req.aborted()),
                "method" => json!(req.method()),
                "url" => json!(req.url()),
                "httpVersion" => json!(req.http_version()),
                "httpVersionMajor" => json!(req.http_version_major()),
                "httpVersionMinor" => json!(req.http_version_minor()),
                "headers" => header_object(req.headers()),
                "headersDistinct" => header_object(req.headers_distinct()),
                "rawHeaders" => flat(&req.raw_headers().to_vec()),
                "trailers" => header_object(&req.trailers()),
                "rawTrailers" => flat(&req.raw_trailers()),
                _ => return Ok(Ret::Undefined),
            },
        ),
        "setTimeout" => {
            req.set_timeout(Duration::from_millis(
                args.first().and_then(Value::as_u64).unwrap_or(0),
            ));
            Ret::This
        }
        "setEncoding" => {
            req.set_encoding(&args.first().map(as_string).unwrap_or_else(|| "utf8".into()))?;
            Ret::This
        }
        "read" => match req.read_now() {
            Some(chunk) => Ret::Object(latin1(&chunk)),
            None => Ret::Value(Value::Null),
        },
        "destroy" => {
            req.socket().destroy();
            Ret::This
        }
        other => return Err(type_error(format!("req.{other} is not a function"))),
    })
}

/// A JSON argument as the JavaScript value it stands for.
fn with_js_arg<R>(v: Option<&Value>, f: impl FnOnce(JsArg<'_>) -> R) -> R {
    match v {
        None => f(JsArg::Undefined),
        Some(Value::Null) => f(JsArg::Null),
        Some(Value::Bool(b)) => f(JsArg::Bool(*b)),
        Some(Value::Number(n)) => f(JsArg::Number(n.as_f64().unwrap_or(f64::NAN))),
        Some(Value::String(s)) => f(JsArg::String(s)),
        Some(other) => f(JsArg::Other(&js_string(other))),
    }
}

/// A call on the module (`http.METHOD`, or `get` / `set` of its properties).
fn http_step(method: &str, args: &[Value]) -> Result<Ret, Thrown> {
    let path = || args.first().map(as_string).unwrap_or_default();
    Ok(match method {
        "get" => {
            let path = path();
            let (head, rest) = match path.split_once('.') {
                Some((h, r)) => (h.to_owned(), Some(r.to_owned())),
                None => (path.clone(), None),
            };
            let value = match head.as_str() {
                "maxHeaderSize" => json!(nodehttp::http::max_header_size()),
                "METHODS" => json!(nodehttp::METHODS),
                "STATUS_CODES" => {
                    let table: Map<String, Value> = nodehttp::STATUS_CODES
                        .iter()
                        .map(|(code, phrase)| (code.to_string(), json!(phrase)))
                        .collect();
                    Value::Object(table)
                }
                _ => return Ok(Ret::Undefined),
            };
            match rest {
                None => Ret::Value(value),
                Some(r) => match r.split('.').try_fold(&value, |v, k| match v {
                    Value::Object(m) => m.get(k),
                    Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get(i)),
                    _ => None,
                }) {
                    Some(v) => Ret::Value(v.clone()),
                    None => Ret::Undefined,
                },
            }
        }
        "set" => {
            let path = path();
            if path == "maxHeaderSize" {
                return Err(type_error(format!(
                    "Cannot set property {path} of #<Object> which has only a getter"
                )));
            }
            return Err(type_error(format!(
                "set http.{path}: the embedded adapter cannot assign it"
            )));
        }
        "validateHeaderName" => {
            let label = args.get(1).filter(|v| !v.is_null()).map(as_string);
            with_js_arg(args.first(), |name| {
                nodehttp::http::validate_header_name(name, label.as_deref())
            })?;
            Ret::Undefined
        }
        "validateHeaderValue" => {
            let name = args
                .first()
                .map(as_string)
                .unwrap_or_else(|| "undefined".into());
            with_js_arg(args.get(1), |value| {
                nodehttp::http::validate_header_value(&name, value)
            })?;
            Ret::Undefined
        }
        "setMaxIdleHTTPParsers" => {
            with_js_arg(args.first(), nodehttp::http::set_max_idle_http_parsers)?;
            Ret::Undefined
        }
        other => return Err(type_error(format!("http.{other} is not a function"))),
    })
}

fn socket_step(socket: &Socket, method: &str, args: &[Value]) -> Result<Ret, Thrown> {
    Ok(match method {
        "write" => Ret::Value(json!(
            socket.write(&body_arg(args.first()).unwrap_or_default())
        )),
        "end" => {
            socket.end(body_arg(args.first()).as_deref());
            Ret::This
        }
        "destroy" => {
            socket.destroy();
            Ret::This
        }
        "setTimeout" => {
            socket.set_timeout(Duration::from_millis(
                args.first().and_then(Value::as_u64).unwrap_or(0),
            ));
            Ret::This
        }
        "address" => {
            let local = socket.local_addr();
            Ret::Value(json!({
                "address": local.ip().to_string(),
                "family": socket.local_family(),
                "port": local.port(),
            }))
        }
        "get" => Ret::Value(
            match args.first().map(as_string).unwrap_or_default().as_str() {
                "writable" => json!(socket.writable()),
                "destroyed" => json!(socket.destroyed()),
                _ => return Ok(Ret::Undefined),
            },
        ),
        other => return Err(type_error(format!("socket.{other} is not a function"))),
    })
}

// ---------------------------------------------------------------- JSON forms

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

fn header_object(h: &HeaderMap) -> Value {
    let mut m = Map::new();
    for (k, v) in h.iter() {
        m.insert(
            k.to_owned(),
            match v {
                HeaderValue::Single(s) => json!(s),
                HeaderValue::Multi(list) => json!(list),
            },
        );
    }
    Value::Object(m)
}

fn flat(pairs: &[(String, String)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .flat_map(|(k, v)| [json!(k), json!(v)])
            .collect(),
    )
}

fn request_fields(req: &IncomingMessage) -> Value {
    json!({
        "method": req.method(),
        "url": req.url(),
        "httpVersion": req.http_version(),
        "headers": header_object(req.headers()),
        "headersDistinct": header_object(req.headers_distinct()),
        "rawHeaders": flat(&req.raw_headers().to_vec()),
    })
}
