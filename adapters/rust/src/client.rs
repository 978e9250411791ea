//! The client half of the embedded adapter: scenarios with
//! `"side":"client"` (conformance/PROTOCOL.md, "Client scenarios") on the
//! reference client, `nodehttp::client`. The twin of `startClient`,
//! `clientRequest`, `observeClient` and `agentState` in
//! adapters/node/adapter.mjs.
//!
//! One task reports the events of every request and response of the
//! scenario, merged in the order the client emitted them (each event's
//! place in `nodehttp`'s process-wide order), as one Node event loop
//! would. A request's script runs its steps at once, as the Node adapter
//! does, until a control step suspends it.

use std::future::Future;
use std::task::{Context, Poll, Waker};

use nodehttp::client::{
    self as http, AbortController, Agent, AgentChoice, AgentOptions, CallbackArg, ClientError,
    ClientEvent, ClientRequest, ClientSocket, IncomingMessage, MessageEvent, NameOptions,
    RequestHeaders, RequestOptions, Scheduling, UpgradedSocket,
};

use super::*;

/// A running client scenario.
pub(super) struct Client {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    sc: Arc<Scenario>,
    msg: Map<String, Value>,
    agents: HashMap<String, Agent>,
    requests: Mutex<Vec<ClientRequest>>,
    streams: Mutex<Vec<Stream>>,
    /// The reporter's waker, woken when a request is added.
    reporter: Mutex<Option<Waker>>,
    /// Sockets of 'upgrade' and 'connect', kept until the scenario stops.
    detached: Mutex<Vec<UpgradedSocket>>,
    /// Sockets of `agent.createConnection()`, destroyed at `stop`.
    created: Mutex<Vec<ClientSocket>>,
    /// The request being issued (`http.request()` runs): the one a
    /// `reuseSocket` hook reports.
    issuing: Mutex<Option<String>>,
    /// The scenario's WebSockets.
    websockets: super::ws::Sockets,
}

/// What a request's script can see of it.
struct ReqCtx {
    name: String,
    req: ClientRequest,
    res: Mutex<Option<IncomingMessage>>,
    seen: Mutex<HashSet<String>>,
    seen_changed: Notify,
    controller: Option<AbortController>,
    /// The listeners not installed (`without`).
    without: HashSet<String>,
    /// `body = "none"`: the response listener reads nothing.
    body_none: bool,
    /// Callbacks given to `setTimeout()`: once, after `'timeout'`.
    timeout_callbacks: Mutex<Vec<String>>,
    /// The names of the `{"$callback"}` arguments given to `write()` and
    /// `end()`, by the id the request reports them with.
    callbacks: Mutex<HashMap<u64, String>>,
}

enum Stream {
    Req {
        name: String,
        ctx: Arc<ReqCtx>,
    },
    Res {
        name: String,
        res: IncomingMessage,
        body: Vec<u8>,
        /// Nobody listens (`without` "response"): the response is dumped,
        /// its events are not reported.
        silent: bool,
        /// `body = "none"`: not read until the script resumes it.
        paused: bool,
        /// `body = "none"`: no 'data' listener, nothing kept.
        unread: bool,
    },
}

pub(super) async fn start(msg: &Map<String, Value>, out: &Out) -> Option<Running> {
    let id = msg.get("id").map(as_string).unwrap_or_default();
    let mut agents = HashMap::new();
    // Where the hooks find the scenario, once it exists.
    let slot: Slot = Arc::new(std::sync::OnceLock::new());
    if let Some(Value::Object(list)) = msg.get("agents") {
        for (name, agent) in list {
            let hooks = match agent_hooks(&slot, name, agent.get("hooks")) {
                Ok(h) => h,
                Err(reason) => {
                    out.send(json!({"type": "unsupported", "reason": reason}));
                    return None;
                }
            };
            match new_agent(agent.get("options").unwrap_or(&Value::Null)) {
                Ok(a) => {
                    a.set_hooks(hooks);
                    agents.insert(name.clone(), a);
                }
                Err(OptErr::Thrown(t)) => {
                    out.error(format!("start {id}: new Agent: {}", t.message));
                    return None;
                }
                Err(OptErr::Unsupported(reason)) => {
                    out.send(json!({"type": "unsupported", "reason": reason}));
                    return None;
                }
            }
        }
    }
    agents.insert("global".to_owned(), nodehttp::client::global_agent());
    if let Some(Value::Object(list)) = msg.get("requests") {
        for spec in list.values() {
            if let Some(b) = spec
                .get("body")
                .filter(|b| !matches!(b.as_str(), Some("read" | "none")))
            {
                out.send(json!({"type": "unsupported",
                    "reason": format!("the embedded adapter has no request body = {b}")}));
                return None;
            }
            if let Some(Value::Array(w)) = spec.get("without") {
                if let Some(l) = w
                    .iter()
                    .map(as_string)
                    .find(|l| matches!(l.as_str(), "upgrade" | "connect"))
                {
                    out.send(json!({"type": "unsupported",
                        "reason": format!("the embedded adapter always listens to '{l}'")}));
                    return None;
                }
            }
            if let Some(Value::Object(o)) = spec.get("options") {
                for key in o.keys() {
                    if !KNOWN_OPTIONS.contains(&key.as_str()) {
                        out.send(json!({"type": "unsupported",
                            "reason": format!("the reference client has no option '{key}'")}));
                        return None;
                    }
                }
            }
        }
    }
    let sc = Arc::new(Scenario::new(out.clone(), false));
    let inner = Arc::new(ClientInner {
        sc: sc.clone(),
        msg: msg.clone(),
        agents,
        requests: Mutex::new(Vec::new()),
        streams: Mutex::new(Vec::new()),
        reporter: Mutex::new(None),
        detached: Mutex::new(Vec::new()),
        created: Mutex::new(Vec::new()),
        issuing: Mutex::new(None),
        websockets: super::ws::Sockets::new(sc.clone(), msg),
    });
    let _ = slot.set(Arc::downgrade(&inner));
    let reporter = inner.clone();
    sc.spawn(async move { reporter.report().await });
    out.send(json!({"type": "started"}));
    Some(Running {
        sc,
        server: None,
        client: Some(Client { inner }),
    })
}

const KNOWN_OPTIONS: &[&str] = &[
    "method",
    "path",
    "host",
    "hostname",
    "port",
    "defaultPort",
    "headers",
    "setHost",
    "setDefaultHeaders",
    "auth",
    "agent",
    "timeout",
    "signal",
    "uniqueHeaders",
    "joinDuplicateHeaders",
    "maxHeaderSize",
    "insecureHTTPParser",
    "socketPath",
    "localAddress",
    "family",
    "protocol",
];

/// The running scenario, for the agents' hooks (made before it).
type Slot = Arc<std::sync::OnceLock<std::sync::Weak<ClientInner>>>;

/// Report an event from a hook, after what the client already emitted.
fn hook_emit(slot: &Slot, event: &str, fields: Value) {
    if let Some(inner) = slot.get().and_then(std::sync::Weak::upgrade) {
        inner.flush();
        inner.sc.emit(event, fields);
    }
}

/// The agent's `hooks` (PROTOCOL.md, "start, client scenarios") as
/// replaced methods of the reference agent.
fn agent_hooks(slot: &Slot, agent: &str, v: Option<&Value>) -> Result<http::AgentHooks, String> {
    let mut hooks = http::AgentHooks::default();
    let Some(Value::Object(map)) = v else {
        return Ok(hooks);
    };
    for (hook, mode) in map {
        let (slot, agent) = (slot.clone(), agent.to_owned());
        match (hook.as_str(), mode) {
            ("keepSocketAlive", Value::String(m)) if m == "observe" => {
                hooks.keep_socket_alive = Some(Arc::new(move |original: &dyn Fn() -> bool| {
                    let result = original();
                    hook_emit(
                        &slot,
                        "agent.keepSocketAlive",
                        json!({"agent": agent, "result": result}),
                    );
                    result
                }));
            }
            ("keepSocketAlive", Value::Bool(false)) => {
                hooks.keep_socket_alive = Some(Arc::new(move |_: &dyn Fn() -> bool| {
                    hook_emit(
                        &slot,
                        "agent.keepSocketAlive",
                        json!({"agent": agent, "result": false}),
                    );
                    false
                }));
            }
            ("reuseSocket", Value::String(m)) if m == "observe" => {
                hooks.reuse_socket = Some(Arc::new(move || {
                    let request = slot
                        .get()
                        .and_then(std::sync::Weak::upgrade)
                        .and_then(|i| lock(&i.issuing).clone());
                    hook_emit(
                        &slot,
                        "agent.reuseSocket",
                        json!({"agent": agent, "request": request}),
                    );
                }));
            }
            ("createConnection", Value::String(m))
                if matches!(m.as_str(), "observe" | "callback" | "error") =>
            {
                let fail = m == "error";
                hooks.create_connection = Some(Arc::new(move |host: &str, port: u16| {
                    hook_emit(
                        &slot,
                        "agent.createConnection",
                        json!({"agent": agent, "host": host, "port": port}),
                    );
                    if fail {
                        Err(ClientError::other("createConnection failed"))
                    } else {
                        Ok(())
                    }
                }));
            }
            _ => return Err(format!("the embedded adapter has no hook {hook} = {mode}")),
        }
    }
    Ok(hooks)
}

/// Why options could not become a Rust value.
enum OptErr {
    /// What Node would throw.
    Thrown(Thrown),
    /// What the reference has no equivalent of.
    Unsupported(String),
}

impl From<Thrown> for OptErr {
    fn from(t: Thrown) -> Self {
        OptErr::Thrown(t)
    }
}

/// `util.inspect`-like tail of Node's `ERR_INVALID_ARG_TYPE` messages.
fn received(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) => format!("type string ('{s}')"),
        Value::Number(n) => format!("type number ({n})"),
        Value::Bool(b) => format!("type boolean ({b})"),
        Value::Array(_) => "an instance of Array".into(),
        Value::Object(_) => "an instance of Object".into(),
    }
}

fn arg_type(what: &str, expected: &str, v: &Value) -> Thrown {
    ClientError::invalid_arg_type(format!(
        "The {what} must be of type {expected}. Received {}",
        received(v)
    ))
    .into()
}

/// `new http.Agent(options)` from JSON options, with Node's checks.
fn new_agent(v: &Value) -> Result<Agent, OptErr> {
    let o = agent_options(v)?;
    Agent::new(o).map_err(|e| OptErr::Thrown(e.into()))
}

fn agent_options(v: &Value) -> Result<AgentOptions, OptErr> {
    let mut o = AgentOptions::default();
    let Some(map) = v.as_object() else {
        return Ok(o);
    };
    for (key, value) in map {
        let bad = || OptErr::Unsupported(format!("agent option {key} = {value} is not understood"));
        let count = || -> Result<Option<usize>, OptErr> {
            match value.as_f64() {
                Some(f) if f.is_infinite() => Ok(None),
                Some(f) if f >= 0.0 => Ok(Some(f as usize)),
                _ => Err(bad()),
            }
        };
        match key.as_str() {
            "keepAlive" => o.keep_alive = truthy(value),
            "keepAliveMsecs" => o.keep_alive_msecs = millis(value).ok_or_else(bad)?,
            // 0 is falsy: Node falls back to the default.
            "maxSockets" => o.max_sockets = count()?.filter(|n| *n != 0),
            "maxTotalSockets" => {
                // validateNumber(maxTotalSockets, 'maxTotalSockets', 1)
                let Some(f) = value.as_f64() else {
                    return Err(arg_type("\"maxTotalSockets\" argument", "number", value).into());
                };
                if f < 1.0 {
                    return Err(OptErr::Thrown(
                        ClientError::out_of_range("maxTotalSockets", ">= 1", &value.to_string())
                            .into(),
                    ));
                }
                o.max_total_sockets = count()?;
            }
            "maxFreeSockets" => o.max_free_sockets = count()?.filter(|n| *n != 0).unwrap_or(256),
            "scheduling" => {
                // `options.scheduling || 'lifo'`, then validateOneOf.
                if truthy(value) {
                    o.scheduling = Scheduling::parse(&as_string(value))
                        .map_err(|e| OptErr::Thrown(e.into()))?;
                }
            }
            "timeout" => o.timeout = millis(value).filter(|d| !d.is_zero()),
            "localAddress" => o.local_address = value.as_str().and_then(|a| a.parse().ok()),
            _ => {
                return Err(OptErr::Unsupported(format!(
                    "the reference agent has no option '{key}'"
                )))
            }
        }
    }
    Ok(o)
}

fn port_value(v: &Value) -> Option<u16> {
    match v {
        Value::Number(n) => n.as_f64().map(|f| f as u16),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl Client {
    pub(super) fn teardown(&self) {
        let inner = &self.inner;
        for req in lock(&inner.requests).iter() {
            req.destroy(None);
        }
        // The global agent is shared by every scenario of this process (the
        // tests run several at once in one process): it is left alone. Its
        // sockets of this scenario are the requests' (destroyed above) and
        // free ones to the runner, which resets them at `stop`.
        for (name, agent) in &inner.agents {
            if name != "global" {
                agent.destroy();
            }
        }
        lock(&inner.detached).clear();
        for s in lock(&inner.created).drain(..) {
            s.destroy();
        }
        lock(&inner.streams).clear();
        inner.websockets.teardown();
    }

    /// `request` and `agent` messages.
    pub(super) fn command(&self, kind: &str, msg: &Map<String, Value>) {
        let inner = &self.inner;
        let name = msg.get("name").map(as_string).unwrap_or_default();
        let result = match kind {
            "request" => inner.issue(&name),
            "websocket" => {
                inner.websockets.construct(&name);
                Ok(())
            }
            _ => inner.agent_state(&name),
        };
        if let Err(t) = result {
            let call = if kind == "request" {
                "http.request".to_owned()
            } else {
                format!("agent.{name}")
            };
            emit_thrown(&inner.sc, &call, t);
        }
        inner.sc.out.send(json!({"type": "called"}));
    }

    pub(super) fn call(&self, msg: &Map<String, Value>) {
        let inner = &self.inner;
        let target = msg.get("target").and_then(Value::as_str).unwrap_or("");
        if target == "websocket" {
            return inner.websockets.call(msg);
        }
        let method = msg.get("method").map(as_string).unwrap_or_default();
        let name = msg.get("name").map(as_string).unwrap_or_default();
        let args = match msg.get("args") {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        let report = msg.get("report") == Some(&Value::Bool(true));
        let call = match target {
            "agent" | "request" => format!("{target}.{name}.{method}"),
            t => format!("{t}.{method}"),
        };
        let result = match target {
            "agent" => match inner.agents.get(&name) {
                Some(a) => agent_step(a, &method, &args, &inner.created),
                None => Err(type_error(format!("there is no agent '{name}'"))),
            },
            "request" => match inner.req_ctx(&name) {
                Some(ctx) => client_req_step(inner, &ctx, &method, &args),
                None => Err(type_error(format!("there is no request '{name}' (yet)"))),
            },
            "http" => http_step(&method, &args),
            t => Err(type_error(format!("call: unknown target '{t}'"))),
        };
        match result {
            Err(t) => emit_thrown(&inner.sc, &call, t),
            Ok(r) if report || method == "get" => emit_ret(&inner.sc, &call, r),
            Ok(_) => {}
        }
        inner.sc.out.send(json!({"type": "called"}));
    }
}

impl From<ClientError> for Thrown {
    fn from(e: ClientError) -> Self {
        Thrown {
            code: e.code().map(str::to_owned),
            name: e.name().to_owned(),
            message: e.message().to_owned(),
        }
    }
}

impl ClientInner {
    /// `res.resume()` of a response nobody reads (`body = "none"`): it
    /// flows from now on, its data to nobody.
    fn resume_response(&self, name: &str) {
        for s in lock(&self.streams).iter_mut() {
            if let Stream::Res {
                name: n, paused, ..
            } = s
            {
                if n == name {
                    *paused = false;
                }
            }
        }
        if let Some(w) = lock(&self.reporter).take() {
            w.wake();
        }
    }

    /// The context of an issued request, by name.
    fn req_ctx(&self, name: &str) -> Option<Arc<ReqCtx>> {
        lock(&self.streams).iter().find_map(|s| match s {
            Stream::Req { name: n, ctx } if n == name => Some(ctx.clone()),
            _ => None,
        })
    }

    /// Report now what the client already emitted, ahead of an event the
    /// adapter emits itself (Node's listeners would have run by then).
    /// The reporter is woken after, to wait on its own waker again.
    fn flush(&self) {
        let reporter = lock(&self.reporter).take();
        if let Poll::Ready(batch) = self.collect(&mut Context::from_waker(Waker::noop())) {
            for (_, item) in batch {
                self.process(item);
            }
        }
        *lock(&self.reporter) = None;
        if let Some(w) = reporter {
            w.wake();
        }
    }

    fn agent_state(&self, name: &str) -> Result<(), Thrown> {
        self.flush();
        let agent = self
            .agents
            .get(name)
            .ok_or_else(|| type_error(format!("no agent '{name}'")))?;
        // The global agent is shared by the scenarios this process runs
        // at once: only the pools of this scenario's ports are its own.
        let ports: Vec<String> = ["port", "closedPort"]
            .iter()
            .filter_map(|k| self.msg.get(*k).and_then(Value::as_u64))
            .map(|p| format!(":{p}:"))
            .collect();
        let mine = |k: &str| name != "global" || ports.iter().any(|p| k.contains(p.as_str()));
        let counts = |list: Vec<(String, usize)>| {
            Value::Object(
                list.into_iter()
                    .filter(|(k, n)| *n > 0 && mine(k))
                    .map(|(k, n)| (k, json!(n)))
                    .collect(),
            )
        };
        self.sc.emit(
            "agent",
            json!({
                "agent": name,
                "sockets": counts(agent.sockets()),
                "freeSockets": counts(agent.free_sockets()),
                "requests": counts(agent.requests()),
            }),
        );
        Ok(())
    }

    /// `http.request()` for the named request, then its script.
    fn issue(self: &Arc<Self>, name: &str) -> Result<(), Thrown> {
        let spec = self
            .msg
            .get("requests")
            .and_then(|r| r.get(name))
            .cloned()
            .ok_or_else(|| type_error(format!("no request '{name}'")))?;
        let options = match spec.get("options") {
            Some(Value::Object(o)) => o.clone(),
            _ => Map::new(),
        };
        let controller =
            (options.get("signal") == Some(&Value::Bool(true))).then(AbortController::new);
        let get = spec.get("get") == Some(&Value::Bool(true));
        let issuer = if get { "http.get" } else { "http.request" };
        let mut o = match self.request_options(&options, controller.as_ref()) {
            Ok(o) => o,
            Err(t) => {
                emit_thrown(&self.sc, issuer, t);
                return Ok(());
            }
        };
        if let Some(url) = spec.get("url") {
            o = match o.with_url(&as_string(url)) {
                Ok(o) => o,
                Err(e) => {
                    emit_thrown(&self.sc, issuer, e.into());
                    return Ok(());
                }
            };
        }
        *lock(&self.issuing) = Some(name.to_owned());
        let issued = if get { http::get(o) } else { http::request(o) };
        *lock(&self.issuing) = None;
        let req = match issued {
            Ok(r) => r,
            Err(e) => {
                let call = if get { "http.get" } else { "http.request" };
                emit_thrown(&self.sc, call, e.into());
                return Ok(());
            }
        };
        lock(&self.requests).push(req.clone());
        if spec.get("body").and_then(Value::as_str) == Some("none") {
            req.set_response_paused(true);
        }
        let ctx = Arc::new(ReqCtx {
            name: name.to_owned(),
            req,
            res: Mutex::new(None),
            seen: Mutex::new(HashSet::new()),
            seen_changed: Notify::new(),
            controller,
            body_none: spec.get("body").and_then(Value::as_str) == Some("none"),
            timeout_callbacks: Mutex::new(Vec::new()),
            without: match spec.get("without") {
                Some(Value::Array(a)) => a.iter().map(as_string).collect(),
                _ => HashSet::new(),
            },
            callbacks: Mutex::new(HashMap::new()),
        });
        lock(&self.streams).push(Stream::Req {
            name: name.to_owned(),
            ctx: ctx.clone(),
        });
        if let Some(w) = lock(&self.reporter).take() {
            w.wake();
        }
        let script = match spec.get("script") {
            Some(Value::Array(s)) => s.clone(),
            _ if get => Vec::new(),
            _ => vec![json!(["end"])],
        };
        let me = self.clone();
        let place = format!("request {name}");
        let fut = async move { me.run_script(ctx, script, place).await };
        // The steps before the first control step run now, as in Node.
        let mut fut = Box::pin(fut);
        let waker = std::task::Waker::noop();
        let pending = fut
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending();
        // Node's next tick: 'socket' for a socket handed over at once.
        if let Some(ctx) = self.req_ctx(name) {
            ctx.req.run_next_tick();
        }
        if pending {
            self.sc.spawn(fut);
        }
        Ok(())
    }

    fn request_options(
        &self,
        map: &Map<String, Value>,
        controller: Option<&AbortController>,
    ) -> Result<RequestOptions, Thrown> {
        let mut o = RequestOptions::default();
        let ms = |v: &Value| v.as_f64().map(|f| Duration::from_millis(f.max(0.0) as u64));
        for (key, v) in map {
            let some_str = || (!v.is_null()).then(|| as_string(v));
            match key.as_str() {
                "method" => o.method = some_str(),
                "path" => o.path = some_str(),
                "host" => o.host = some_str(),
                "hostname" => o.hostname = some_str(),
                "port" => o.port = port_value(v),
                "defaultPort" => o.default_port = port_value(v),
                "headers" => {
                    o.headers = match v {
                        Value::Array(a) => {
                            Some(RequestHeaders::Array(a.iter().map(js_string).collect()))
                        }
                        Value::Object(_) => {
                            let mut list = Vec::new();
                            for (k, x) in pairs(v).unwrap_or_default() {
                                list.push((k.clone(), out_value(&k, Some(&x))?));
                            }
                            Some(RequestHeaders::Object(list))
                        }
                        _ => None,
                    }
                }
                "setHost" => o.set_host = Some(truthy(v)),
                "setDefaultHeaders" => o.set_default_headers = v.as_bool(),
                "auth" => o.auth = some_str(),
                "agent" => {
                    o.agent = match v {
                        Value::Bool(false) => AgentChoice::Fresh,
                        Value::String(name) => AgentChoice::Agent(
                            self.agents
                                .get(name)
                                .cloned()
                                .ok_or_else(|| type_error(format!("no agent '{name}'")))?,
                        ),
                        _ => AgentChoice::Global,
                    }
                }
                "timeout" => o.timeout = ms(v),
                "signal" => o.signal = controller.map(AbortController::signal),
                "uniqueHeaders" => {
                    o.unique_headers = v
                        .as_array()
                        .map(|a| a.iter().map(as_string).collect())
                        .unwrap_or_default()
                }
                "joinDuplicateHeaders" => {
                    o.join_duplicate_headers = v.as_bool().ok_or_else(|| {
                        arg_type("\"options.joinDuplicateHeaders\" property", "boolean", v)
                    })?
                }
                "maxHeaderSize" => {
                    // validateInteger(maxHeaderSize, 'maxHeaderSize', 0)
                    let Some(f) = v.as_f64() else {
                        return Err(arg_type("\"maxHeaderSize\" argument", "number", v));
                    };
                    if f.fract() != 0.0 {
                        return Err(ClientError::out_of_range(
                            "maxHeaderSize",
                            "an integer",
                            &v.to_string(),
                        )
                        .into());
                    }
                    if f < 0.0 {
                        return Err(ClientError::out_of_range(
                            "maxHeaderSize",
                            ">= 0 && <= 9007199254740991",
                            &v.to_string(),
                        )
                        .into());
                    }
                    o.max_header_size = Some(f as usize);
                }
                "insecureHTTPParser" => {
                    o.insecure_http_parser = v.as_bool().ok_or_else(|| {
                        arg_type("\"options.insecureHTTPParser\" property", "boolean", v)
                    })?
                }
                "protocol" => o.protocol = some_str(),
                "socketPath" => o.socket_path = some_str(),
                "localAddress" => o.local_address = v.as_str().and_then(|s| s.parse().ok()),
                "family" => o.family = v.as_u64().map(|n| n as u8),
                _ => {}
            }
        }
        Ok(o)
    }

    // ------------------------------------------------------------ reporting

    /// Report every event of the scenario's requests and responses, merged
    /// in emission order.
    async fn report(self: Arc<Self>) {
        loop {
            let batch = std::future::poll_fn(|cx| self.collect(cx)).await;
            for (_, item) in batch {
                self.process(item);
            }
        }
    }

    /// Everything the streams have ready (responses found on the way are
    /// polled too), sorted by emission order.
    fn collect(&self, cx: &mut Context<'_>) -> Poll<Vec<(u64, Item)>> {
        let mut batch = Vec::new();
        let mut streams = lock(&self.streams);
        *lock(&self.reporter) = Some(cx.waker().clone());
        let mut i = 0;
        while i < streams.len() {
            loop {
                let item = match &streams[i] {
                    Stream::Req { name, ctx } => match ctx.req.poll_next_event(cx) {
                        Poll::Ready(Some((seq, e))) => {
                            Some((seq, Item::Req(name.clone(), ctx.clone(), e)))
                        }
                        _ => None,
                    },
                    Stream::Res { paused: true, .. } => None,
                    Stream::Res { name, res, .. } => match res.poll_next_event(cx) {
                        Poll::Ready(Some((seq, e))) => Some((seq, Item::Res(name.clone(), e))),
                        _ => None,
                    },
                };
                let Some((seq, item)) = item else { break };
                if let Item::Req(name, ctx, ClientEvent::Response(res)) = &item {
                    streams.push(Stream::Res {
                        name: name.clone(),
                        res: res.clone(),
                        body: Vec::new(),
                        silent: ctx.without.contains("response"),
                        paused: ctx.body_none,
                        unread: ctx.body_none,
                    });
                }
                batch.push((seq, item));
            }
            i += 1;
        }
        if batch.is_empty() {
            return Poll::Pending;
        }
        batch.sort_by_key(|(seq, _)| *seq);
        Poll::Ready(batch)
    }

    fn process(&self, item: Item) {
        let sc = &self.sc;
        match item {
            Item::Req(name, ctx, event) => {
                let (event_name, fields) = match event {
                    ClientEvent::Socket { reused } => ("socket", json!({"reusedSocket": reused})),
                    ClientEvent::Finish => ("finish", json!({})),
                    ClientEvent::Continue => ("continue", json!({})),
                    ClientEvent::Information(i) => (
                        "information",
                        json!({
                            "statusCode": i.status_code,
                            "statusMessage": i.status_message,
                            "httpVersion": format!("{}.{}", i.http_version.0, i.http_version.1),
                            "headers": header_object(&i.headers),
                            "rawHeaders": flat(&i.raw_headers),
                        }),
                    ),
                    ClientEvent::Response(res) => {
                        let mut f = message_fields(&res);
                        f["headersDistinct"] = header_object(res.headers_distinct());
                        *lock(&ctx.res) = Some(res);
                        ("response", f)
                    }
                    ClientEvent::Timeout => ("timeout", json!({})),
                    ClientEvent::Upgrade { res, socket, head } => {
                        lock(&self.detached).push(socket);
                        let mut f = message_fields(&res);
                        f["head"] = json!(latin1(&head));
                        ("upgrade", f)
                    }
                    ClientEvent::Connect { res, socket, head } => {
                        lock(&self.detached).push(socket);
                        let mut f = message_fields(&res);
                        f["head"] = json!(latin1(&head));
                        ("connect", f)
                    }
                    ClientEvent::Abort => ("abort", json!({})),
                    ClientEvent::Prefinish => ("prefinish", json!({})),
                    ClientEvent::Drain => ("drain", json!({})),
                    ClientEvent::Callback { id, arg } => {
                        let Some(call) = lock(&ctx.callbacks).get(&id).cloned() else {
                            return;
                        };
                        let mut f = json!({"call": call});
                        match arg {
                            CallbackArg::Undefined => f["valueType"] = json!("undefined"),
                            CallbackArg::Null => {
                                f["valueType"] = json!("null");
                                f["value"] = Value::Null;
                            }
                            CallbackArg::Error(e) => {
                                f["valueType"] = json!("object");
                                f["value"] = json!("[object Error]");
                                if let Some(code) = e.code() {
                                    f["code"] = json!(code);
                                }
                            }
                        }
                        sc.emit("return", f);
                        return;
                    }
                    ClientEvent::Error(e) => {
                        let mut f = json!({"name": e.name(), "message": e.message()});
                        if let Some(code) = e.code() {
                            f["code"] = json!(code);
                        }
                        ("error", f)
                    }
                    ClientEvent::Close => ("close", json!({})),
                };
                let mut fields = fields;
                if ctx.without.contains(event_name) {
                    // Nobody listens: an 'error' is thrown to the top.
                    if event_name == "error" {
                        sc.emit("uncaught", fields);
                    }
                    mark_seen(&ctx, event_name);
                    return;
                }
                fields["request"] = json!(name);
                sc.emit(event_name, fields);
                if event_name == "timeout" {
                    for cb in std::mem::take(&mut *lock(&ctx.timeout_callbacks)) {
                        sc.emit("return", return_fields(&cb, Ret::Undefined));
                    }
                }
                mark_seen(&ctx, event_name);
            }
            Item::Res(name, event) => {
                let mut streams = lock(&self.streams);
                let Some(Stream::Res {
                    res,
                    body,
                    silent,
                    unread,
                    ..
                }) = streams
                    .iter_mut()
                    .find(|s| matches!(s, Stream::Res { name: n, .. } if *n == name))
                else {
                    return;
                };
                if *silent {
                    return;
                }
                let (event_name, mut fields) = match event {
                    MessageEvent::Data(_) if *unread => return,
                    MessageEvent::Data(d) => {
                        body.extend_from_slice(&d);
                        ("response.data", json!({"chunk": latin1(&d)}))
                    }
                    MessageEvent::End => (
                        "response.end",
                        json!({
                            "body": latin1(body),
                            "complete": res.complete(),
                            "trailers": header_object(&res.trailers()),
                            "trailersDistinct": header_object(&res.trailers_distinct()),
                            "rawTrailers": flat(&res.raw_trailers()),
                        }),
                    ),
                    MessageEvent::Aborted => {
                        ("response.aborted", json!({"complete": res.complete()}))
                    }
                    MessageEvent::Error(e) => (
                        "response.error",
                        json!({"code": e.code(), "message": e.message()}),
                    ),
                    MessageEvent::Close => ("response.close", json!({})),
                };
                drop(streams);
                fields["request"] = json!(name);
                sc.emit(event_name, fields);
                if let Some(Stream::Req { ctx, .. }) = lock(&self.streams)
                    .iter()
                    .find(|s| matches!(s, Stream::Req { name: n, .. } if *n == name))
                {
                    mark_seen(ctx, event_name);
                }
            }
        }
    }

    // ------------------------------------------------------------ scripts

    async fn run_script(self: Arc<Self>, ctx: Arc<ReqCtx>, script: Script, place: String) {
        let sc = self.sc.clone();
        for step in script {
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
            match method {
                "await" => {
                    sc.wait_signal(&args.first().map(as_string).unwrap_or_default())
                        .await;
                    continue;
                }
                "sleep" => {
                    let ms = args.first().and_then(Value::as_f64).unwrap_or(0.0);
                    tokio::time::sleep(Duration::from_millis(ms.max(0.0) as u64)).await;
                    continue;
                }
                "awaitEvent" => {
                    let want = args.first().map(as_string).unwrap_or_default();
                    loop {
                        let n = ctx.seen_changed.notified();
                        tokio::pin!(n);
                        n.as_mut().enable();
                        if lock(&ctx.seen).contains(&want) {
                            break;
                        }
                        n.await;
                    }
                    continue;
                }
                "abortSignal" => {
                    match &ctx.controller {
                        Some(c) => c.abort(),
                        None => emit_thrown(
                            &sc,
                            &call,
                            type_error(
                                "abortSignal: the request has no signal (options.signal = true)"
                                    .into(),
                            ),
                        ),
                    }
                    continue;
                }
                "awaitDrain" => {
                    ctx.req.drained().await;
                    continue;
                }
                _ => {}
            }
            if prefix == Some("res") && method == "resume" {
                self.resume_response(&ctx.name);
            }
            let result = match prefix {
                None | Some("req") => client_req_step(&self, &ctx, method, args),
                Some("res") => match lock(&ctx.res).clone() {
                    Some(res) => client_res_step(&res, &ctx.req, method, args),
                    None => Err(type_error(format!("there is no 'res' in '{place}' yet"))),
                },
                Some("agent") => match ctx.req.agent() {
                    Some(a) => agent_step(&a, method, args, &self.created),
                    None => Err(type_error(format!("there is no 'agent' in '{place}'"))),
                },
                Some("socket") => socket_step(ctx.req.socket(), method, args),
                Some("http") => http_step(method, args),
                Some(p) => Err(type_error(format!("there is no '{p}' in a client script"))),
            };
            match result {
                Err(t) => emit_thrown(&sc, &call, t),
                Ok(ret) if report || method == "get" => emit_ret(&sc, &call, ret),
                Ok(_) => {}
            }
        }
    }
}

enum Item {
    Req(String, Arc<ReqCtx>, ClientEvent),
    Res(String, MessageEvent),
}

fn mark_seen(ctx: &ReqCtx, event: &str) {
    lock(&ctx.seen).insert(event.to_owned());
    ctx.seen_changed.notify_waiters();
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn message_fields(res: &IncomingMessage) -> Value {
    json!({
        "statusCode": res.status_code(),
        "statusMessage": res.status_message(),
        "httpVersion": res.http_version(),
        "headers": header_object(res.headers()),
        "rawHeaders": flat(res.raw_headers()),
    })
}

/// `Buffer.from(string, encoding)`, for the encodings Node knows (utf8
/// for an unknown one, as `write()` falls back to it only after a
/// check the adapter leaves to the scenario).
fn encode_string(s: &str, encoding: Option<&str>) -> Vec<u8> {
    let enc = encoding.unwrap_or("utf8").to_ascii_lowercase();
    match enc.as_str() {
        "latin1" | "binary" | "ascii" => s.chars().map(|c| c as u32 as u8).collect(),
        "hex" => {
            let b = s.as_bytes();
            let hex = |c: u8| (c as char).to_digit(16);
            let mut out = Vec::new();
            for pair in b.chunks(2) {
                match (
                    pair.first().and_then(|c| hex(*c)),
                    pair.get(1).and_then(|c| hex(*c)),
                ) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => break,
                }
            }
            out
        }
        "base64" | "base64url" => {
            let val = |c: char| -> Option<u32> {
                Some(match c {
                    'A'..='Z' => c as u32 - 'A' as u32,
                    'a'..='z' => c as u32 - 'a' as u32 + 26,
                    '0'..='9' => c as u32 - '0' as u32 + 52,
                    '+' | '-' => 62,
                    '/' | '_' => 63,
                    _ => return None,
                })
            };
            let mut out = Vec::new();
            let (mut acc, mut bits) = (0u32, 0u32);
            for c in s.chars() {
                if c == '=' {
                    break;
                }
                let Some(v) = val(c) else { continue };
                acc = (acc << 6) | v;
                bits += 6;
                if bits >= 8 {
                    bits -= 8;
                    out.push((acc >> bits) as u8);
                    acc &= (1 << bits) - 1;
                }
            }
            out
        }
        "ucs2" | "ucs-2" | "utf16le" | "utf-16le" => {
            s.encode_utf16().flat_map(u16::to_le_bytes).collect()
        }
        _ => s.as_bytes().to_vec(),
    }
}

/// A `write()` / `end()` chunk: a string (in `encoding`), `{"$buffer"}`
/// bytes or `{"$repeat"}` text; anything else is Node's
/// `ERR_INVALID_ARG_TYPE`.
fn chunk_arg(v: &Value, encoding: Option<&str>) -> Result<Vec<u8>, Thrown> {
    match v {
        Value::String(s) => Ok(encode_string(s, encoding)),
        Value::Object(m) if m.len() == 1 && m.contains_key("$buffer") => Ok(m
            .get("$buffer")
            .map(as_string)
            .unwrap_or_default()
            .chars()
            .map(|c| c as u32 as u8)
            .collect()),
        Value::Object(m) if m.len() == 1 && m.contains_key("$repeat") => {
            let r = m.get("$repeat").and_then(Value::as_array);
            let text = r.and_then(|r| r.first()).map(as_string).unwrap_or_default();
            let n = r
                .and_then(|r| r.get(1))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            Ok(encode_string(&text.repeat(n as usize), encoding))
        }
        other => Err(arg_type(
            "\"chunk\" argument",
            "string or an instance of Buffer or Uint8Array",
            other,
        )),
    }
}

/// Whether a script argument is a `{"$callback": name}`.
fn callback_name(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) if m.len() == 1 => m.get("$callback").map(as_string),
        _ => None,
    }
}

/// `write(chunk[, encoding][, callback])` / `end([chunk][, encoding][,
/// callback])` arguments: the bytes (`None`: no chunk), whether they are
/// a UTF-8 string, and the callback.
fn write_args(args: &[Value], end: bool) -> Result<WriteArgs, Thrown> {
    let mut rest = args;
    let mut chunk = None;
    if let Some(first) = rest.first() {
        if callback_name(first).is_none() {
            rest = &rest[1..];
            chunk = Some(first);
        }
    }
    let mut encoding = None;
    if let Some(Value::String(e)) = rest.first() {
        encoding = Some(e.as_str());
        rest = &rest[1..];
    }
    let cb = rest.first().and_then(callback_name);
    let text = chunk.is_some_and(|c| super::is_utf8_text(c, encoding));
    let data = match chunk {
        None | Some(Value::Null) if end => None,
        None => Some(chunk_arg(&Value::Null, None)?),
        Some(c) => Some(chunk_arg(c, encoding)?),
    };
    Ok((data, text, cb))
}

/// What [`write_args`] gives: the bytes, whether they are a UTF-8 string,
/// the callback's name.
type WriteArgs = (Option<Vec<u8>>, bool, Option<String>);

/// `new Error(message)` from `{"$error": message}`.
fn error_arg(v: Option<&Value>) -> Option<ClientError> {
    match v {
        Some(Value::Object(m)) if m.len() == 1 => {
            m.get("$error").map(|e| ClientError::other(as_string(e)))
        }
        _ => None,
    }
}

/// What a client step returned: a [`Ret`], or a value whose `typeof` JSON
/// does not tell (`Infinity`, an object shown as `[object Name]`).
enum CRet {
    Ret(Ret),
    Typed(&'static str, Value),
}

impl From<Ret> for CRet {
    fn from(r: Ret) -> Self {
        CRet::Ret(r)
    }
}

fn emit_ret(sc: &Scenario, call: &str, r: CRet) {
    match r {
        CRet::Ret(r) => sc.emit("return", return_fields(call, r)),
        CRet::Typed(t, v) => sc.emit("return", json!({"call": call, "valueType": t, "value": v})),
    }
}

fn infinity() -> CRet {
    CRet::Typed("number", json!("Infinity"))
}

fn count_or_infinity(n: Option<usize>) -> CRet {
    match n {
        Some(n) => Ret::Value(json!(n)).into(),
        None => infinity(),
    }
}

fn ms(d: Duration) -> Value {
    json!(d.as_millis() as u64)
}

/// A property of an agent, by (dotted) path.
fn agent_prop(agent: &Agent, path: &str) -> CRet {
    Ret::Value(match path {
        // agent.sockets, freeSockets and requests have a null prototype.
        "sockets.constructor" | "freeSockets.constructor" | "requests.constructor" => {
            return Ret::Undefined.into()
        }
        "keepAlive" => json!(agent.keep_alive()),
        "options.keepAlive" if agent.keep_alive() => json!(true),
        "keepAliveMsecs" => ms(agent.keep_alive_msecs()),
        "maxSockets" => return count_or_infinity(agent.max_sockets()),
        "maxTotalSockets" => return count_or_infinity(agent.max_total_sockets()),
        "maxFreeSockets" => json!(agent.max_free_sockets()),
        "scheduling" => json!(agent.scheduling().as_str()),
        "defaultPort" => json!(agent.default_port()),
        "protocol" => json!(agent.protocol()),
        "totalSocketCount" => json!(agent.total_socket_count()),
        "options.timeout" => match agent.timeout() {
            Some(t) => ms(t),
            None => return Ret::Undefined.into(),
        },
        "constructor.name" => json!("Agent"),
        _ => return Ret::Undefined.into(),
    })
    .into()
}

fn agent_step(
    agent: &Agent,
    method: &str,
    args: &[Value],
    created: &Mutex<Vec<ClientSocket>>,
) -> Result<CRet, Thrown> {
    let path = args.first().map(as_string).unwrap_or_default();
    Ok(match method {
        "get" => agent_prop(agent, &path),
        "set" => {
            if path == "defaultPort" {
                if let Some(p) = args.get(1).and_then(port_value) {
                    agent.set_default_port(p);
                }
            }
            Ret::Undefined.into()
        }
        "destroy" => {
            agent.destroy();
            Ret::Undefined.into()
        }
        "createConnection" => {
            let o = args.first().cloned().unwrap_or(Value::Null);
            let host = o
                .get("host")
                .filter(|v| truthy(v))
                .map(as_string)
                .unwrap_or_else(|| "localhost".into());
            let port = o.get("port").and_then(port_value).unwrap_or(0);
            lock(created).push(agent.create_connection(&host, port));
            CRet::Typed("object", json!("[object Socket]"))
        }
        "getName" => {
            let o = args.first().cloned().unwrap_or(Value::Null);
            let s = |k: &str| o.get(k).filter(|v| truthy(v)).map(as_string);
            let name = agent.get_name(&NameOptions {
                host: s("host"),
                port: o.get("port").and_then(port_value),
                local_address: s("localAddress").and_then(|a| a.parse().ok()),
                family: match o.get("family") {
                    Some(Value::Number(n)) => n.as_u64().map(|n| n as u8),
                    _ => None,
                },
                socket_path: s("socketPath"),
            });
            Ret::Value(json!(name)).into()
        }
        other => return Err(type_error(format!("agent.{other} is not a function"))),
    })
}

/// Steps on the module: `http.get` of a property, `http.Agent(options)`.
fn http_step(method: &str, args: &[Value]) -> Result<CRet, Thrown> {
    let path = args.first().map(as_string).unwrap_or_default();
    Ok(match method {
        "get" => match path.strip_prefix("globalAgent.") {
            Some(rest) => agent_prop(&http::global_agent(), rest),
            None => match path.as_str() {
                "maxHeaderSize" => {
                    Ret::Value(json!(nodehttp::parse::DEFAULT_MAX_HEADER_SIZE)).into()
                }
                _ => Ret::Undefined.into(),
            },
        },
        "Agent" => {
            match new_agent(args.first().unwrap_or(&Value::Null)) {
                Ok(_) => {}
                Err(OptErr::Thrown(t)) => return Err(t),
                Err(OptErr::Unsupported(r)) => return Err(type_error(r)),
            }
            CRet::Typed("object", json!("[object Agent]"))
        }
        other => return Err(type_error(format!("http.{other} is not a function"))),
    })
}

/// Steps on `req.socket`.
fn socket_step(sock: Option<ClientSocket>, method: &str, args: &[Value]) -> Result<CRet, Thrown> {
    let Some(sock) = sock else {
        return Err(type_error("there is no 'socket' yet".into()));
    };
    let first = args.first().map(as_string).unwrap_or_default();
    Ok(match method {
        "get" => Ret::Value(match first.as_str() {
            "timeout" => match sock.timeout() {
                Some(t) => ms(t),
                None => return Ok(Ret::Undefined.into()),
            },
            "localAddress" => match sock.local_address() {
                Some(a) => json!(a.to_string()),
                None => return Ok(Ret::Undefined.into()),
            },
            "localPort" => match sock.local_port() {
                Some(p) => json!(p),
                None => return Ok(Ret::Undefined.into()),
            },
            "remoteAddress" => match sock.remote_address() {
                Some(a) => json!(a.to_string()),
                None => return Ok(Ret::Undefined.into()),
            },
            "remotePort" => match sock.remote_port() {
                Some(p) => json!(p),
                None => return Ok(Ret::Undefined.into()),
            },
            "connecting" => json!(sock.connecting()),
            "constructor.name" => json!("Socket"),
            "destroyed" => json!(sock.destroyed()),
            _ => return Ok(Ret::Undefined.into()),
        })
        .into(),
        "emit" => match first.as_str() {
            "agentRemove" => {
                sock.emit_agent_remove();
                Ret::Value(json!(true)).into()
            }
            other => {
                return Err(type_error(format!(
                    "socket.emit('{other}') is not supported"
                )))
            }
        },
        "destroy" => {
            sock.destroy();
            Ret::This.into()
        }
        other => return Err(type_error(format!("socket.{other} is not a function"))),
    })
}

/// A `{"$callback": name}` installed as a socket method: each call
/// reports a `return` named `name` with its first argument, after what
/// the client already emitted.
fn reporting_hook(inner: &Arc<ClientInner>, name: String) -> impl Fn(Option<bool>) + Send + Sync {
    let weak = Arc::downgrade(inner);
    move |v: Option<bool>| {
        if let Some(inner) = weak.upgrade() {
            inner.flush();
            let ret = match v {
                Some(b) => Ret::Value(json!(b)),
                None => Ret::Undefined,
            };
            inner.sc.emit("return", return_fields(&name, ret));
        }
    }
}

fn client_req_step(
    inner: &Arc<ClientInner>,
    ctx: &ReqCtx,
    method: &str,
    args: &[Value],
) -> Result<CRet, Thrown> {
    let req = &ctx.req;
    let arg_str = |i: usize| {
        args.get(i)
            .map(as_string)
            .unwrap_or_else(|| "undefined".into())
    };
    if method == "get" {
        let path = arg_str(0);
        if let Some(rest) = path.strip_prefix("agent.") {
            return Ok(match req.agent() {
                Some(a) => agent_prop(&a, rest),
                None => Ret::Undefined.into(),
            });
        }
        if path == "socket" || path == "connection" {
            return Ok(match req.socket() {
                Some(_) => CRet::Typed("object", json!("[object Socket]")),
                None => Ret::Value(Value::Null).into(),
            });
        }
        if let Some(rest) = path
            .strip_prefix("socket.")
            .or_else(|| path.strip_prefix("connection."))
        {
            return socket_step(req.socket(), "get", &[json!(rest)]);
        }
    }
    if matches!(method, "getHeader" | "hasHeader" | "removeHeader") {
        // validateString(name, 'name')
        match args.first() {
            Some(Value::String(_)) => {}
            other => {
                return Err(arg_type(
                    "\"name\" argument",
                    "string",
                    other.unwrap_or(&Value::Null),
                ))
            }
        }
    }
    Ok(match method {
        "get" => Ret::Value(match arg_str(0).as_str() {
            "method" => json!(req.method()),
            "path" => json!(req.path()),
            "host" => json!(req.host()),
            "protocol" => json!("http:"),
            "reusedSocket" => json!(req.reused_socket()),
            "destroyed" => json!(req.destroyed()),
            "aborted" => json!(req.aborted()),
            "headersSent" => json!(req.headers_sent()),
            "writableEnded" | "finished" => json!(req.writable_ended()),
            "writableFinished" => json!(req.writable_finished()),
            "maxHeadersCount" => json!(req.max_headers_count()),
            "writableCorked" => json!(req.writable_corked()),
            "strictContentLength" => json!(req.strict_content_length()),
            _ => return Ok(Ret::Undefined.into()),
        }),
        "set" => {
            match arg_str(0).as_str() {
                "maxHeadersCount" => req.set_max_headers_count(
                    args.get(1)
                        .and_then(Value::as_f64)
                        .map(|f| f.max(0.0) as usize),
                ),
                "strictContentLength" => {
                    req.set_strict_content_length(args.get(1).is_some_and(truthy))
                }
                "path" => req.set_path(&args.get(1).map(as_string).unwrap_or_default()),
                "socket.setTimeout" => {
                    let Some(sock) = req.socket() else {
                        return Err(type_error(
                            "set socket.setTimeout: there is no socket".into(),
                        ));
                    };
                    let Some(name) = args.get(1).and_then(callback_name) else {
                        return Err(type_error("set socket.setTimeout: not a $callback".into()));
                    };
                    let weak = Arc::downgrade(inner);
                    sock.replace_set_timeout(Arc::new(move |t: Duration| {
                        if let Some(inner) = weak.upgrade() {
                            inner.flush();
                            inner.sc.emit(
                                "return",
                                return_fields(&name, Ret::Value(json!(t.as_millis() as u64))),
                            );
                        }
                    }));
                }
                path @ ("socket.setNoDelay" | "socket.setKeepAlive") => {
                    let Some(sock) = req.socket() else {
                        return Err(type_error(format!("set {path}: there is no socket")));
                    };
                    let Some(name) = args.get(1).and_then(callback_name) else {
                        return Err(type_error(format!("set {path}: not a $callback")));
                    };
                    let hook = reporting_hook(inner, name);
                    if path == "socket.setNoDelay" {
                        sock.replace_set_no_delay(Arc::new(hook));
                    } else {
                        sock.replace_set_keep_alive(Arc::new(move |e, _| hook(e)));
                    }
                }
                other => return Err(type_error(format!("set {other}: not supported"))),
            }
            Ret::Undefined
        }
        "setHeader" => {
            let name = arg_str(0);
            req.set_header(&name, out_value(&name, args.get(1))?)?;
            Ret::This
        }
        "appendHeader" => {
            let name = arg_str(0);
            req.append_header(&name, out_value(&name, args.get(1))?)?;
            Ret::This
        }
        "setHeaders" => {
            let arg = args.first().cloned().unwrap_or(Value::Null);
            let tagged = matches!(&arg, Value::Object(m) if m.len() == 1
                && (m.contains_key("$map") || m.contains_key("$headers")));
            if !tagged {
                return Err(ClientError::invalid_arg_type(format!(
                    "The \"headers\" argument must be an instance of Headers or Map. Received {}",
                    received(&arg)
                ))
                .into());
            }
            let mut list = Vec::new();
            for (k, v) in pairs(&arg).unwrap_or_default() {
                list.push((k.clone(), out_value(&k, Some(&v))?));
            }
            req.set_headers(&list)?;
            Ret::This
        }
        "getHeader" => match req.get_header(&arg_str(0)) {
            Some(v) => Ret::Value(out_value_json(&v)),
            None => Ret::Undefined,
        },
        "getHeaders" => Ret::Value(Value::Object(
            req.get_headers()
                .into_iter()
                .map(|(k, v)| (k, out_value_json(&v)))
                .collect(),
        )),
        "getHeaderNames" => Ret::Value(json!(req.get_header_names())),
        "getRawHeaderNames" => Ret::Value(json!(req.get_raw_header_names())),
        "hasHeader" => Ret::Value(json!(req.has_header(&arg_str(0)))),
        "removeHeader" => {
            req.remove_header(&arg_str(0))?;
            Ret::Undefined
        }
        "flushHeaders" => {
            req.flush_headers()?;
            Ret::Undefined
        }
        "write" => {
            let (data, text, cb) = write_args(args, false)?;
            let data = data.unwrap_or_default();
            let chunk = super::as_chunk(&data, text);
            match cb {
                Some(name) => {
                    // The id is registered before any event can carry it.
                    let mut cbs = lock(&ctx.callbacks);
                    let (ok, id) = req.write_chunk_with_callback(chunk)?;
                    cbs.insert(id, name);
                    Ret::Value(json!(ok))
                }
                None => Ret::Value(json!(req.write_chunk(chunk)?)),
            }
        }
        "end" => {
            let (data, text, cb) = write_args(args, true)?;
            let chunk = data.as_deref().map(|d| super::as_chunk(d, text));
            match cb {
                Some(name) => {
                    let mut cbs = lock(&ctx.callbacks);
                    let id = req.end_chunk_with_callback(chunk)?;
                    cbs.insert(id, name);
                }
                None => req.end_chunk(chunk)?,
            }
            Ret::This
        }
        "addTrailers" => {
            let list = args
                .first()
                .and_then(pairs)
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, js_string(&v)))
                .collect::<Vec<_>>();
            req.add_trailers(&list)?;
            Ret::Undefined
        }
        "setTimeout" => {
            let ms = args.first().and_then(Value::as_f64).unwrap_or(0.0);
            // req.once('timeout', callback)
            if let Some(name) = args.get(1).and_then(callback_name) {
                lock(&ctx.timeout_callbacks).push(name);
            }
            req.set_timeout(Duration::from_millis(ms.max(0.0) as u64));
            Ret::This
        }
        "setNoDelay" => {
            req.set_no_delay(args.first().and_then(Value::as_bool));
            Ret::Undefined
        }
        "setSocketKeepAlive" => {
            req.set_socket_keep_alive(
                args.first().and_then(Value::as_bool),
                args.get(1).and_then(millis),
            );
            Ret::Undefined
        }
        "cork" => {
            req.cork();
            Ret::Undefined
        }
        "uncork" => {
            req.uncork();
            Ret::Undefined
        }
        "destroy" => {
            req.destroy(error_arg(args.first()));
            Ret::This
        }
        "abort" => {
            req.abort();
            Ret::Undefined
        }
        other => return Err(type_error(format!("req.{other} is not a function"))),
    }
    .into())
}

fn client_res_step(
    res: &IncomingMessage,
    req: &ClientRequest,
    method: &str,
    args: &[Value],
) -> Result<CRet, Thrown> {
    Ok(match method {
        "get" => Ret::Value(
            match args.first().map(as_string).unwrap_or_default().as_str() {
                "statusCode" => json!(res.status_code()),
                "statusMessage" => json!(res.status_message()),
                "httpVersion" => json!(res.http_version()),
                "readableEnded" => json!(res.end_read()),
                "httpVersionMajor" => json!(res.http_version_major()),
                "httpVersionMinor" => json!(res.http_version_minor()),
                "method" => json!(res.method()),
                "url" => json!(res.url()),
                "complete" => json!(res.complete()),
                "aborted" => json!(res.aborted()),
                "headers" => header_object(res.headers()),
                "rawHeaders" => flat(res.raw_headers()),
                "trailers" => header_object(&res.trailers()),
                "rawTrailers" => flat(&res.raw_trailers()),
                path => {
                    // headers.NAME, headersDistinct.NAME[.length]
                    let value = path
                        .strip_prefix("headersDistinct.")
                        .map(|rest| (header_object(res.headers_distinct()), rest))
                        .or_else(|| {
                            path.strip_prefix("headers.")
                                .map(|rest| (header_object(res.headers()), rest))
                        });
                    let Some((obj, rest)) = value else {
                        return Ok(Ret::Undefined.into());
                    };
                    let (key, length) = match rest.strip_suffix(".length") {
                        Some(k) => (k, true),
                        None => (rest, false),
                    };
                    match obj.get(key) {
                        Some(Value::Array(a)) if length => json!(a.len()),
                        Some(Value::String(s)) if length => json!(s.chars().count()),
                        Some(v) if !length => v.clone(),
                        _ => return Ok(Ret::Undefined.into()),
                    }
                }
            },
        ),
        "destroy" => {
            req.destroy(error_arg(args.first()));
            Ret::This
        }
        // The adapter let it flow (`resume_response`).
        "resume" => Ret::This,
        "setTimeout" => {
            let ms = args.first().and_then(Value::as_f64).unwrap_or(0.0);
            res.set_timeout(Duration::from_millis(ms.max(0.0) as u64));
            Ret::This
        }
        other => return Err(type_error(format!("res.{other} is not a function"))),
    }
    .into())
}
