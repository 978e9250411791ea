//! The WebSockets of client scenarios (conformance/PROTOCOL.md,
//! "WebSockets") on the reference's `nodehttp::websocket::WebSocket`: the
//! twin of the websocket section of adapters/node/adapter.mjs.
//!
//! Each WebSocket has a task that reports its events as they come. A
//! script step or a `call` may make events at once (`close()` while
//! connecting dispatches `error` before it returns, in Node as here):
//! those are reported right after the step, before the next one, as a
//! listener would have run.

use std::future::Future;
use std::task::{Context, Poll, Waker};

use nodehttp::websocket::{DomException, Event, MessageData, ReadyState, WebSocket};

use super::*;

/// The scenario's WebSockets.
pub(super) struct Sockets {
    inner: Arc<Inner>,
}

struct Inner {
    sc: Arc<Scenario>,
    /// `websockets` of `start`: `url`, `protocols`, `script` by name.
    specs: Map<String, Value>,
    sockets: Mutex<HashMap<String, Arc<Ws>>>,
}

/// One constructed WebSocket.
struct Ws {
    name: String,
    ws: WebSocket,
    seen: Seen,
    /// The reporting task's waker: events taken after a step are polled
    /// with it, so that the task is still woken for the next ones.
    task: Mutex<Option<Waker>>,
}

/// The events a WebSocket reported, for `awaitEvent`.
#[derive(Default)]
struct Seen {
    names: Mutex<HashSet<String>>,
    changed: Notify,
}

impl Seen {
    fn mark(&self, name: &str) {
        lock(&self.names).insert(name.to_owned());
        self.changed.notify_waiters();
    }

    /// Until `name` was reported (now or before).
    async fn wait(&self, name: &str) {
        loop {
            let n = self.changed.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if lock(&self.names).contains(name) {
                return;
            }
            n.await;
        }
    }
}

/// What a step of a WebSocket's script threw.
enum Fail {
    /// A `DOMException` (its name, legacy code and message).
    Dom(DomException),
    /// A `TypeError`.
    Type(String),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sockets {
    pub(super) fn new(sc: Arc<Scenario>, msg: &Map<String, Value>) -> Sockets {
        let specs = match msg.get("websockets") {
            Some(Value::Object(o)) => o.clone(),
            _ => Map::new(),
        };
        Sockets {
            inner: Arc::new(Inner {
                sc,
                specs,
                sockets: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// `websocket`: `new WebSocket(url[, protocols])`, its reporter, its
    /// script. The caller answers `called`.
    pub(super) fn construct(&self, name: &str) {
        let inner = &self.inner;
        let sc = &inner.sc;
        let Some(spec) = inner.specs.get(name) else {
            return emit_fail(
                sc,
                "new WebSocket",
                Fail::Type(format!("no websocket '{name}'")),
            );
        };
        let url = spec.get("url").map(as_string).unwrap_or_default();
        let protocols: Vec<String> = match spec.get("protocols") {
            None => Vec::new(),
            Some(Value::Array(a)) => a.iter().map(as_string).collect(),
            Some(other) => vec![as_string(other)],
        };
        let refs: Vec<&str> = protocols.iter().map(String::as_str).collect();
        let ws = match WebSocket::new(&url, &refs) {
            Ok(ws) => ws,
            Err(e) => return emit_fail(sc, "new WebSocket", Fail::Dom(e)),
        };
        let w = Arc::new(Ws {
            name: name.to_owned(),
            ws,
            seen: Seen::default(),
            task: Mutex::new(None),
        });
        lock(&inner.sockets).insert(name.to_owned(), w.clone());
        let (sc2, w2) = (sc.clone(), w.clone());
        sc.spawn(async move {
            loop {
                let next = std::future::poll_fn(|cx| {
                    *lock(&w2.task) = Some(cx.waker().clone());
                    w2.ws.poll_next_event(cx)
                })
                .await;
                match next {
                    Some(e) => report(&sc2, &w2, e),
                    None => break,
                }
            }
        });
        let script = match spec.get("script") {
            Some(Value::Array(s)) => s.clone(),
            _ => Vec::new(),
        };
        let fut = Box::pin(run_script(sc.clone(), w, script));
        // The steps before the first control step run now, as in Node.
        let mut fut = fut;
        if fut
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending()
        {
            sc.spawn(fut);
        }
    }

    /// `call` with target `websocket`: the call, then `called`.
    pub(super) fn call(&self, msg: &Map<String, Value>) {
        let sc = &self.inner.sc;
        let name = msg.get("name").map(as_string).unwrap_or_default();
        let method = msg.get("method").map(as_string).unwrap_or_default();
        let args = msg
            .get("args")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let report = msg.get("report") == Some(&Value::Bool(true));
        let call = format!("websocket.{name}.{method}");
        match lock(&self.inner.sockets).get(&name).cloned() {
            Some(w) => {
                let result = step(&w.ws, &method, &args);
                take_events(sc, &w);
                match result {
                    Err(f) => emit_fail(sc, &call, f),
                    Ok(ret) if report || method == "get" => {
                        sc.emit("return", return_fields(&call, ret))
                    }
                    Ok(_) => {}
                }
            }
            None => emit_fail(
                sc,
                &call,
                Fail::Type(format!("there is no websocket '{name}' (yet)")),
            ),
        }
        sc.out.send(json!({"type": "called"}));
    }

    /// At `stop`: the sockets are dropped (their tasks are the scenario's,
    /// aborted); the runner resets its connections.
    pub(super) fn teardown(&self) {
        lock(&self.inner.sockets).clear();
    }
}

/// Reports the events a step made at once (in order, before the task
/// would).
fn take_events(sc: &Scenario, w: &Ws) {
    let waker = lock(&w.task)
        .clone()
        .unwrap_or_else(|| Waker::noop().clone());
    let mut cx = Context::from_waker(&waker);
    while let Poll::Ready(Some(e)) = w.ws.poll_next_event(&mut cx) {
        report(sc, w, e);
    }
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// One event of a WebSocket, with `readyState` as a listener reads it.
fn report(sc: &Scenario, w: &Ws, e: Event) {
    let (event, fields) = match e {
        Event::Open => (
            "ws.open",
            json!({"readyState": ReadyState::Open.as_u8(), "protocol": w.ws.protocol(),
                   "extensions": w.ws.extensions()}),
        ),
        Event::Message(m) => {
            let (data_type, data) = match m.data {
                MessageData::Text(t) => ("text", t),
                MessageData::Blob(b) => ("blob", latin1(&b)),
                MessageData::ArrayBuffer(b) => ("arraybuffer", latin1(&b)),
            };
            (
                "ws.message",
                json!({"readyState": ReadyState::Open.as_u8(), "origin": m.origin,
                       "dataType": data_type, "data": data}),
            )
        }
        Event::Error(e) => (
            "ws.error",
            json!({"readyState": e.ready_state.as_u8(), "message": e.message}),
        ),
        Event::Close(c) => (
            "ws.close",
            json!({"readyState": ReadyState::Closed.as_u8(), "code": c.code,
                   "reason": c.reason, "wasClean": c.was_clean}),
        ),
    };
    let mut fields = fields;
    fields["websocket"] = json!(w.name);
    sc.emit(event, fields);
    w.seen.mark(event);
}

fn emit_fail(sc: &Scenario, call: &str, f: Fail) {
    let fields = match f {
        Fail::Dom(e) => {
            json!({"call": call, "code": e.code(), "name": e.name(), "message": e.message()})
        }
        Fail::Type(m) => json!({"call": call, "name": "TypeError", "message": m}),
    };
    sc.emit("throw", fields);
}

/// WebIDL's `[Clamp] unsigned short` of a JavaScript value (`close()`'s
/// code): clamped to 0..=65535, halves rounded to even.
fn clamp_u16(v: &Value) -> u16 {
    let f = match v {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.trim().parse().unwrap_or(f64::NAN),
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => 0.0,
    };
    if f.is_nan() {
        return 0;
    }
    f.clamp(0.0, 65535.0).round_ties_even() as u16
}

/// A string argument: `{"$repeat": [TEXT, N]}` is TEXT N times, anything
/// else `String(value)`.
fn string_arg(v: &Value) -> String {
    match v {
        Value::Object(o) if o.len() == 1 && o.contains_key("$repeat") => {
            let r = o["$repeat"].as_array().cloned().unwrap_or_default();
            let text = r.first().map(as_string).unwrap_or_default();
            let n = r.get(1).and_then(Value::as_u64).unwrap_or(0) as usize;
            text.repeat(n)
        }
        other => as_string(other),
    }
}

/// A step on the WebSocket: `send`, `close`, `get`, `set`.
fn step(ws: &WebSocket, method: &str, args: &[Value]) -> Result<Ret, Fail> {
    Ok(match method {
        "send" => {
            match args.first() {
                None => {
                    return Err(Fail::Type(
                        "WebSocket.send: 1 argument required, but only 0 present.".into(),
                    ))
                }
                Some(Value::Object(o)) if o.len() == 1 && o.contains_key("$buffer") => {
                    let bytes: Vec<u8> = as_string(&o["$buffer"])
                        .chars()
                        .map(|c| c as u32 as u8)
                        .collect();
                    ws.send_binary(&bytes)
                }
                Some(v) => ws.send_text(&string_arg(v)),
            }
            .map_err(Fail::Dom)?;
            Ret::Undefined
        }
        "close" => {
            let code = args.first().map(clamp_u16);
            let reason = args.get(1).map(string_arg);
            ws.close(code, reason.as_deref()).map_err(Fail::Dom)?;
            Ret::Undefined
        }
        "get" => Ret::Value(
            match args.first().map(as_string).unwrap_or_default().as_str() {
                "readyState" => json!(ws.ready_state().as_u8()),
                "bufferedAmount" => json!(ws.buffered_amount()),
                "protocol" => json!(ws.protocol()),
                "extensions" => json!(ws.extensions()),
                "url" => json!(ws.url()),
                "binaryType" => json!(ws.binary_type().as_str()),
                "CONNECTING" => json!(0),
                "OPEN" => json!(1),
                "CLOSING" => json!(2),
                "CLOSED" => json!(3),
                _ => return Ok(Ret::Undefined),
            },
        ),
        "set" => {
            if args.first().map(as_string).as_deref() == Some("binaryType") {
                ws.set_binary_type(&args.get(1).map(as_string).unwrap_or_default());
            }
            Ret::Undefined
        }
        other => return Err(Fail::Type(format!("ws.{other} is not a function"))),
    })
}

/// The WebSocket's script: its steps in order; `await`, `sleep` and
/// `awaitEvent` suspend it.
async fn run_script(sc: Arc<Scenario>, w: Arc<Ws>, script: Script) {
    for s in script {
        if !sc.alive.load(Ordering::SeqCst) {
            return;
        }
        let Some((report, call, args)) = parse_step(&s).filter(|(_, c, _)| !c.contains('.')) else {
            sc.out
                .error(format!("websocket {}: malformed step {s}", w.name));
            continue;
        };
        let arg = || args.first().map(as_string).unwrap_or_default();
        match call.as_str() {
            "await" => sc.wait_signal(&arg()).await,
            "sleep" => {
                let d = args.first().and_then(millis).unwrap_or_default();
                tokio::time::sleep(d).await
            }
            "awaitEvent" => w.seen.wait(&arg()).await,
            _ => {
                let result = step(&w.ws, &call, &args);
                take_events(&sc, &w);
                match result {
                    Err(f) => emit_fail(&sc, &call, f),
                    Ok(ret) if report || call == "get" => {
                        sc.emit("return", return_fields(&call, ret))
                    }
                    Ok(_) => {}
                }
            }
        }
    }
}
