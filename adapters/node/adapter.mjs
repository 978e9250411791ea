// Reference adapter of the conformance suite: drives a real `node:http` server.
//
// Speaks protocol 2 (conformance/PROTOCOL.md): newline-delimited JSON, runner
// messages on stdin, adapter messages on stdout, free-form logs on stderr.
// Scripts (handler and listeners) follow fixtures/README.md, "Scripts".
// Node built-ins only; runs on Node 20 and later, and unchanged on the
// runtimes that re-implement node:http: `bun adapter.mjs`, `deno run -A
// adapter.mjs`. There it names itself after the runtime (`bun 1.4.5`) and
// claims the Node version the runtime reports (process.version).

import http from 'node:http';
import net from 'node:net';
import readline from 'node:readline';
import { Buffer } from 'node:buffer';

// ---------------------------------------------------------------- runtime

const IMPLEMENTATION = globalThis.Bun !== undefined ? `bun ${globalThis.Bun.version}`
  : globalThis.Deno !== undefined ? `deno ${globalThis.Deno.version.deno}`
  : 'node';

// The documented methods a script may call, per class. At start, the adapter
// notes which ones this runtime lacks; a scenario whose scripts call one of
// them is answered `unsupported` (a missing API), not run and failed. Node 20
// and later have them all.
const API = {
  ServerResponse: [http.ServerResponse, 'addTrailers appendHeader cork destroy end flushHeaders getHeader getHeaderNames getHeaders hasHeader removeHeader setHeader setHeaders setTimeout uncork write writeContinue writeEarlyHints writeHead writeProcessing'],
  IncomingMessage: [http.IncomingMessage, 'destroy pause read resume setEncoding setTimeout'],
  ClientRequest: [http.ClientRequest, 'abort appendHeader cork destroy end flushHeaders getHeader getHeaderNames getHeaders getRawHeaderNames hasHeader removeHeader setHeader setHeaders setNoDelay setSocketKeepAlive setTimeout uncork write'],
  Server: [http.Server, 'address close closeAllConnections closeIdleConnections listen setTimeout'],
  Agent: [http.Agent, 'createConnection destroy getName keepSocketAlive reuseSocket'],
  Socket: [net.Socket, 'destroy destroySoon end pause resume setKeepAlive setNoDelay setTimeout write'],
};
const MISSING = new Set();
for (const [name, [cls, methods]] of Object.entries(API)) {
  for (const m of methods.split(' ')) {
    if (typeof cls?.prototype?.[m] !== 'function') MISSING.add(`${name}.prototype.${m}`);
  }
}

// The first missing method a script calls, as `Class.prototype.name`, or
// null. `types` maps the script's targets (self, req, res...) to class names.
function missingCall(script, types) {
  if (MISSING.size === 0 || !Array.isArray(script)) return null;
  for (const step of script) {
    if (!Array.isArray(step) || typeof step[0] !== 'string') continue;
    const call = step[0].replace(/\?$/, '');
    const dot = call.indexOf('.');
    const type = types[dot < 0 ? 'self' : call.slice(0, dot)];
    const key = `${type}.prototype.${dot < 0 ? call : call.slice(dot + 1)}`;
    if (MISSING.has(key)) return key;
  }
  return null;
}
const unsupportedCall = (key) => send({ type: 'unsupported', reason: `${IMPLEMENTATION} has no ${key}()` });
const SERVER_TYPES = { req: 'IncomingMessage', res: 'ServerResponse', socket: 'Socket', server: 'Server' };
const CLIENT_TYPES = { self: 'ClientRequest', req: 'ClientRequest', res: 'IncomingMessage', socket: 'Socket', agent: 'Agent' };

// ---------------------------------------------------------------- output

// The single writer of stdout. On Linux, writes to a pipe are synchronous, so
// messages leave in order and nothing is lost when we exit.
function send(msg) {
  process.stdout.write(JSON.stringify(msg) + '\n');
}
const sendError = (message) => send({ type: 'error', message });
const log = (...parts) => process.stderr.write(`[node-adapter] ${parts.join(' ')}\n`);

// A `return` event carries the result's type under `valueType`: the message's
// own `type` is already "event".
const RESULT_TYPE_KEY = 'valueType';

const latin1 = (buf) => Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1');

// A JSON-safe copy of any value: Buffers become latin-1 strings, objects with a
// null prototype (res.getHeaders(), headersDistinct) plain objects, class
// instances that have no JSON form (a Socket...) the string "[object Name]".
function jsonSafe(value, seen = new Set()) {
  switch (typeof value) {
    case 'string': case 'boolean': return value;
    case 'number': return Number.isFinite(value) ? value : String(value); // NaN is not JSON
    case 'bigint': case 'symbol': return String(value);
    case 'undefined': case 'function': return undefined;
  }
  if (value === null) return null;
  if (value instanceof Uint8Array) return latin1(value);
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  try {
    if (Array.isArray(value) || value instanceof Set) {
      return [...value].map((x) => jsonSafe(x, seen) ?? null);
    }
    let entries;
    if (value instanceof Map) entries = [...value].map(([k, v]) => [String(k), v]);
    else if (typeof value.constructor !== 'function' || value.constructor === Object) entries = Object.entries(value);
    else if (typeof value.toJSON === 'function') return jsonSafe(value.toJSON(), seen); // Date
    else return `[object ${value.constructor.name}]`;
    const out = {};
    for (const [k, v] of entries) {
      const copy = jsonSafe(v, seen);
      if (copy !== undefined) out[k] = copy;
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

// ---------------------------------------------------------------- scenario state

// Every scenario gets a generation number; `generation` moves on at each start
// and stop, so a listener, a timer or a script left over from an old scenario
// finds its generation stale and reports nothing.
let generation = 0;
let current = null;

const alive = (sc) => sc !== null && sc === current && sc.gen === generation && !sc.stopped;

function emit(sc, event, fields = {}) {
  if (alive(sc)) send({ type: 'event', event, ...fields });
}

function errorFields(err) {
  const fields = {};
  if (err != null && err.code !== undefined) fields.code = jsonSafe(err.code);
  fields.name = err?.name ?? typeof err;
  fields.message = err?.message ?? String(err);
  return fields;
}
const emitThrow = (sc, call, err) => emit(sc, 'throw', { call, ...errorFields(err) });

function emitReturn(sc, call, result, target) {
  const type = result === null ? 'null' : Array.isArray(result) ? 'array' : typeof result;
  const fields = { call, [RESULT_TYPE_KEY]: type };
  if (result !== undefined) fields.value = result === target ? '$this' : jsonSafe(result);
  if (fields.value === undefined) delete fields.value; // a function has no JSON form
  emit(sc, 'return', fields);
}

const requestFields = (req) => ({
  method: req.method,
  url: req.url,
  httpVersion: req.httpVersion,
  headers: jsonSafe(req.headers),
  headersDistinct: jsonSafe(req.headersDistinct),
  rawHeaders: jsonSafe(req.rawHeaders),
});

const noop = () => {};

// Script arguments are JSON; tagged forms stand for what JSON has not
// (conformance/PROTOCOL.md, "Scripts"): {"$map": [[k, v], ...]} is a Map,
// {"$headers": [[k, v], ...]} a Headers (as res.setHeaders() takes them),
// {"$error": msg} an Error, {"$repeat": [text, n]} a long string, {"$buffer":
// text} a Buffer of the latin-1 bytes, {"$callback": name} a function that
// reports each of its calls as a `return` event named `name`.
function decodeArg(arg) {
  if (arg !== null && typeof arg === 'object' && !Array.isArray(arg)) {
    const keys = Object.keys(arg);
    if (keys.length === 1 && keys[0] === '$callback') return reportingCallback(current, String(arg.$callback));
    if (keys.length === 1 && keys[0] === '$map') return new Map(arg.$map);
    if (keys.length === 1 && keys[0] === '$headers') return new Headers(arg.$headers);
    if (keys.length === 1 && keys[0] === '$error') return new Error(String(arg.$error));
    if (keys.length === 1 && keys[0] === '$repeat') return String(arg.$repeat[0]).repeat(Number(arg.$repeat[1]));
    if (keys.length === 1 && keys[0] === '$buffer') return Buffer.from(String(arg.$buffer), 'latin1');
  }
  return arg;
}
const decodeArgs = (args) => args.map(decodeArg);

// The function a {"$callback": name} argument stands for: each call reports a
// `return` event whose `call` is `name`, with `valueType` and `value` of the
// first argument the callback got (an Error's `code` added as `code`).
function reportingCallback(sc, name) {
  return function callback(...args) {
    const first = args[0];
    const type = first === null ? 'null' : Array.isArray(first) ? 'array' : typeof first;
    const fields = { call: name, [RESULT_TYPE_KEY]: type };
    const value = jsonSafe(first);
    if (value !== undefined) fields.value = value;
    if (first instanceof Error) fields.code = jsonSafe(first.code);
    emit(sc, 'return', fields);
  };
}

// Remember a socket so `stop` can destroy it, and give it an 'error' listener:
// once a socket leaves Node's HTTP machinery (connect, upgrade) or after the
// runner resets it, an 'error' with no listener would kill the process. Node's
// own socketOnError only looks at the server's 'clientError' listeners, so this
// extra listener changes nothing it does.
function track(sc, socket) {
  if (sc.sockets.has(socket)) return;
  sc.sockets.add(socket);
  socket.on('error', (err) => log(`socket error (swallowed): ${err.code ?? err.message}`));
  socket.on('close', () => sc.sockets.delete(socket));
}

// ---------------------------------------------------------------- waiting

// Suspend a script until `setup`'s `done` is called, or until the scenario
// stops: `stop` calls every pending `done`, and the script then finds its
// scenario dead and returns. `setup` returns a cleanup function.
function wait(sc, setup) {
  return new Promise((resolve) => {
    let finished = false;
    let cleanup = null;
    const done = () => {
      if (finished) return;
      finished = true;
      sc.pending.delete(done);
      cleanup?.();
      resolve();
    };
    sc.pending.add(done);
    cleanup = setup(done) ?? null;
    if (finished) cleanup?.();
  });
}

const waitEvents = (sc, emitter, events) => wait(sc, (done) => {
  for (const e of events) emitter.on(e, done);
  return () => { for (const e of events) emitter.removeListener(e, done); };
});

// The control steps. Each returns a promise to wait on (or nothing), or throws
// (reported like any throwing step).
const CONTROL = {
  await(sc, ctx, target, [name]) {
    name = String(name);
    if (sc.signals.has(name)) return undefined; // a signal stays raised
    return wait(sc, (done) => {
      if (!sc.signalWaiters.has(name)) sc.signalWaiters.set(name, new Set());
      sc.signalWaiters.get(name).add(done);
      return () => sc.signalWaiters.get(name).delete(done);
    });
  },
  sleep(sc, ctx, target, [ms]) {
    return wait(sc, (done) => {
      const timer = setTimeout(done, Number(ms));
      return () => clearTimeout(timer);
    });
  },
  awaitEnd(sc, { req, observed }) {
    if (!req) throw new TypeError('awaitEnd: this listener has no request');
    if (observed) {
      // Resumed by the observer *after* it reported `end` (or `aborted`/`close`),
      // so the `end` event always comes before what the script does next.
      if (observed.settled) return undefined;
      return wait(sc, (done) => {
        observed.waiters.add(done);
        return () => observed.waiters.delete(done);
      });
    }
    // connect/upgrade: nobody reads that request; Node marks it complete at once.
    if (req.complete || req.readableEnded || req.destroyed) return undefined;
    return waitEvents(sc, req, ['end', 'close']);
  },
  // Client scripts: wait until the request emitted NAME (now or before).
  awaitEvent(sc, ctx, target, [name]) {
    const seen = ctx.seen;
    if (!seen) throw new TypeError('awaitEvent: this script has no request');
    name = String(name);
    if (seen.has(name)) return undefined;
    return wait(sc, (done) => {
      const check = (event) => { if (event === name) done(); };
      seen.waiters.add(check);
      return () => seen.waiters.delete(check);
    });
  },
  // Client scripts: abort the request's AbortSignal (options.signal = true).
  abortSignal(sc, ctx) {
    if (!ctx.controller) throw new TypeError('abortSignal: the request has no signal (options.signal = true)');
    ctx.controller.abort();
    return undefined;
  },
  awaitDrain(sc, ctx, target) {
    if (target == null) throw new TypeError('awaitDrain: no such target in this listener');
    // Nothing buffered: a 'drain' would never come, so do not wait for it.
    if (target.writableNeedDrain === false || target.destroyed) return undefined;
    return waitEvents(sc, target, ['drain', 'close']);
  },
};

// ---------------------------------------------------------------- scripts

const PREFIXES = new Set(['req', 'res', 'socket', 'server', 'http', 'agent']);

// A dotted property path: `socket.remotePort` reads target.socket.remotePort.
function readPath(target, path) {
  let value = target;
  for (const key of String(path).split('.')) value = value?.[key];
  return value;
}
function writePath(target, path, value) {
  const keys = String(path).split('.');
  const last = keys.pop();
  const parent = keys.length === 0 ? target : readPath(target, keys.join('.'));
  if (parent == null) throw new TypeError(`cannot set '${path}': '${keys.join('.')}' is ${parent}`);
  parent[last] = value;
}

// Calls `name` on `target`: `get` / `set` access a (dotted) property,
// `[Symbol.asyncDispose]` is the symbol-named method, anything else a method.
function invoke(target, name, args, what) {
  if (target == null) throw new TypeError(`there is no ${what}`);
  if (name === 'get') return readPath(target, args[0]);
  if (name === 'set') { writePath(target, args[0], decodeArg(args[1])); return undefined; }
  const key = name === '[Symbol.asyncDispose]' ? Symbol.asyncDispose : name;
  if (typeof target[key] !== 'function') throw new TypeError(`${what}.${name} is not a function`);
  // Arguments go as they arrive: a TOML table is a plain object, even for
  // res.setHeaders(), which rejects it (it takes a Headers or a Map).
  return target[key](...decodeArgs(args));
}

// ctx: { self, req, res, socket, server, http, agent, seen }; `self` is the
// target of bare names. Runs step by step; only control steps suspend.
async function runScript(sc, script, ctx, where) {
  for (const step of script) {
    if (!alive(sc)) return;
    if (!Array.isArray(step) || typeof step[0] !== 'string') {
      sendError(`${where}: malformed step ${JSON.stringify(step)}`);
      continue;
    }
    const report = step[0].endsWith('?');
    const call = report ? step[0].slice(0, -1) : step[0];
    const args = step.slice(1);
    const dot = call.indexOf('.');
    const prefix = dot < 0 ? null : call.slice(0, dot);
    const name = dot < 0 ? call : call.slice(dot + 1);
    if (prefix !== null && !PREFIXES.has(prefix)) {
      sendError(`${where}: unknown target '${prefix}' in step ${JSON.stringify(step)}`);
      continue;
    }
    // `socket.` is read when the step runs: a client request gets its socket late.
    const target = prefix === null ? ctx.self
      : prefix === 'socket' ? (ctx.socket ?? ctx.req?.socket)
      : prefix === 'agent' ? ctx.req?.agent
      : ctx[prefix];

    const control = Object.hasOwn(CONTROL, name) && prefix === null;
    let result;
    try {
      result = control
        ? CONTROL[name](sc, ctx, target, args) // a promise, or nothing
        : invoke(target, name, args, `'${prefix ?? 'self'}' in a '${where}' listener`);
    } catch (err) {
      emitThrow(sc, call, err); // and go on with the next step
      continue;
    }
    if (control) await result;
    else {
      // A socket a script made itself (agent.createConnection()) is the
      // scenario's too: `stop` destroys it, and a reset after that cannot
      // reach the next scenario as an uncaught error.
      if (result instanceof net.Socket) track(sc, result);
      if (report || name === 'get') emitReturn(sc, call, result, target);
    }
  }
}

function startScript(sc, script, ctx, where) {
  runScript(sc, script, ctx, where).catch((err) => {
    if (alive(sc)) sendError(`${where} script: ${err?.stack ?? err}`);
  });
}

// The events reported for one request (server or client), for awaitEvent:
// `report` emits an event and wakes the scripts waiting for it.
function eventLog(sc, tag) {
  const seen = new Set();
  seen.waiters = new Set();
  seen.report = (event, fields = {}) => {
    emit(sc, event, { ...tag, ...fields });
    seen.add(event);
    for (const w of [...seen.waiters]) w(event);
  };
  return seen;
}

// ---------------------------------------------------------------- server

// Observe a request from the moment it is emitted: with body "read", read
// its body (Node would otherwise dump an unread body once the response
// finishes) and report its lifecycle. `waiters` are the awaitEnd steps,
// released once `end`, `aborted` or `req.close` has been reported.
function observe(sc, req, res, seen) {
  const observed = { settled: false, waiters: new Set() };
  const settle = () => {
    observed.settled = true;
    for (const done of [...observed.waiters]) done();
  };
  const chunks = [];
  // Strings if a script called req.setEncoding(); latin-1 is one char per byte,
  // so decoding chunk by chunk equals decoding the concatenation.
  const text = (chunk) => (typeof chunk === 'string' ? chunk : latin1(chunk));
  if (sc.body !== 'none') {
    req.on('data', (chunk) => {
      chunks.push(text(chunk));
      seen.report('req.data', { chunk: text(chunk) });
    });
  }
  req.on('end', () => {
    seen.report('end', {
      body: chunks.join(''),
      complete: req.complete,
      trailers: jsonSafe(req.trailers),
      trailersDistinct: jsonSafe(req.trailersDistinct),
      rawTrailers: jsonSafe(req.rawTrailers),
    });
    settle();
  });
  req.on('aborted', () => { seen.report('aborted', { complete: req.complete }); settle(); });
  req.on('close', () => { seen.report('req.close'); settle(); });
  // A write after end() makes the response emit 'error' on the next tick; with
  // no listener that would be an uncaught exception. Not an event of the protocol.
  res.on('error', (err) => log(`response error (swallowed): ${err.code ?? err.message}`));
  res.on('drain', () => seen.report('res.drain'));
  res.on('prefinish', () => seen.report('res.prefinish'));
  res.on('finish', () => seen.report('res.finish'));
  res.on('close', () => seen.report('res.close'));
  return observed;
}

// 'request', 'checkContinue', 'checkExpectation': (req, res), bare names -> res.
function onRequest(sc, event, script, req, res) {
  if (!alive(sc)) return;
  track(sc, req.socket);
  emit(sc, event, requestFields(req)); // reported before the script runs
  const seen = eventLog(sc, {});
  const observed = observe(sc, req, res, seen);
  const ctx = { self: res, req, res, socket: req.socket, server: sc.server, http, observed, seen };
  startScript(sc, script, ctx, event);
}

// Listeners whose natural target is the socket: their payload, the request if
// the event has one, and the socket. `res.` is undefined in all of them.
const SOCKET_EVENTS = {
  clientError: (err, socket) => ({
    socket,
    fields: {
      code: jsonSafe(err?.code),
      ...(typeof err?.bytesParsed === 'number' ? { bytesParsed: err.bytesParsed } : {}),
      ...(err?.rawPacket ? { rawPacket: latin1(err.rawPacket) } : {}),
      message: err?.message,
    },
  }),
  connect: (req, socket, head) => ({ req, socket, fields: { ...requestFields(req), head: latin1(head) } }),
  upgrade: (req, socket, head) => ({ req, socket, fields: { ...requestFields(req), head: latin1(head) } }),
  dropRequest: (req, socket) => ({ req, socket, fields: { method: req.method, url: req.url } }),
  timeout: (socket) => ({ socket, fields: {} }),
};
const REQUEST_EVENTS = new Set(['checkContinue', 'checkExpectation']);

function onSocketEvent(sc, event, script, args) {
  if (!alive(sc)) return;
  const { req, socket, fields } = SOCKET_EVENTS[event](...args);
  if (socket) track(sc, socket);
  emit(sc, event, fields);
  const ctx = { self: socket, req, res: undefined, socket, server: sc.server, http, observed: null, seen: null };
  startScript(sc, script, ctx, event);
}

function start(msg) {
  if (current) teardown(current); // a start without stop: drop the old scenario
  if (msg.side === 'client') { startClient(msg); return; }
  const listeners = msg.listeners ?? {};
  for (const event of Object.keys(listeners)) {
    if (!REQUEST_EVENTS.has(event) && !Object.hasOwn(SOCKET_EVENTS, event)) {
      send({ type: 'unsupported', reason: `the adapter has no '${event}' listener` });
      return;
    }
  }
  // An absent handler means [["end"]]; [] is a handler that does nothing.
  const handler = msg.handler ?? [['end']];
  for (const [event, script] of [['request', handler], ...Object.entries(listeners)]) {
    const self = event === 'request' || REQUEST_EVENTS.has(event) ? 'ServerResponse' : 'Socket';
    const missing = missingCall(script, { ...SERVER_TYPES, self });
    if (missing) { unsupportedCall(missing); return; }
  }

  let server;
  try {
    server = http.createServer(msg.options ?? {});
    for (const [key, value] of Object.entries(msg.properties ?? {})) server[key] = value;
  } catch (err) {
    sendError(`start ${msg.id ?? ''}: ${err?.message ?? err}`);
    return;
  }
  const sc = {
    gen: ++generation, server, stopped: false, body: msg.body ?? 'read',
    sockets: new Set(), signals: new Set(), signalWaiters: new Map(), pending: new Set(),
  };
  current = sc;

  server.on('connection', (socket) => {
    if (!alive(sc)) { socket.on('error', noop); socket.destroy(); return; }
    track(sc, socket);
    emit(sc, 'connection', { remotePort: socket.remotePort, localPort: socket.localPort });
  });
  server.on('close', () => emit(sc, 'server.close'));
  server.on('error', (err) => { if (alive(sc)) sendError(`server error: ${err.message}`); });
  server.on('request', (req, res) => onRequest(sc, 'request', handler, req, res));
  for (const [event, script] of Object.entries(listeners)) {
    if (REQUEST_EVENTS.has(event)) server.on(event, (req, res) => onRequest(sc, event, script, req, res));
    else server.on(event, (...args) => onSocketEvent(sc, event, script, args));
  }

  server.listen(0, '127.0.0.1', () => {
    // listen() resolves its host asynchronously: a stop may have come first.
    if (!alive(sc)) { server.close(); return; }
    send({ type: 'listening', port: server.address().port });
  });
}

// ---------------------------------------------------------------- client

const CLIENT_LISTENERS = ['response', 'error', 'upgrade', 'connect', 'information', 'continue', 'timeout', 'socket'];

// The events of a client request, each tagged with the request's name.
// `spec.without` names the listeners not installed; `spec.body` "none"
// leaves the response unread.
function observeClient(sc, name, req, ctx, spec) {
  const seen = eventLog(sc, { request: name });
  ctx.seen = seen;
  const report = seen.report;
  const without = new Set(spec.without ?? []);
  const on = (event, listener) => { if (!without.has(event)) req.on(event, listener); };
  const messageFields = (m) => ({
    statusCode: m.statusCode,
    statusMessage: m.statusMessage,
    httpVersion: m.httpVersion,
    headers: jsonSafe(m.headers),
    rawHeaders: jsonSafe(m.rawHeaders),
  });
  // Sockets are tracked for `stop` whatever the listeners.
  req.prependListener('socket', (socket) => track(sc, socket));
  on('socket', () => report('socket', { reusedSocket: req.reusedSocket }));
  req.on('prefinish', () => report('prefinish'));
  req.on('finish', () => report('finish'));
  req.on('drain', () => report('drain'));
  on('continue', () => report('continue'));
  on('information', (info) => report('information', {
    statusCode: info.statusCode,
    statusMessage: info.statusMessage,
    httpVersion: info.httpVersion,
    headers: jsonSafe(info.headers),
    rawHeaders: jsonSafe(info.rawHeaders),
  }));
  on('response', (res) => {
    ctx.res = res;
    report('response', { ...messageFields(res), headersDistinct: jsonSafe(res.headersDistinct) });
    const chunks = [];
    const text = (chunk) => (typeof chunk === 'string' ? chunk : latin1(chunk));
    if (spec.body !== 'none') {
      res.on('data', (chunk) => {
        chunks.push(text(chunk));
        report('response.data', { chunk: text(chunk) });
      });
    }
    res.on('end', () => report('response.end', {
      body: chunks.join(''),
      complete: res.complete,
      trailers: jsonSafe(res.trailers),
      trailersDistinct: jsonSafe(res.trailersDistinct),
      rawTrailers: jsonSafe(res.rawTrailers),
    }));
    res.on('aborted', () => report('response.aborted', { complete: res.complete }));
    res.on('error', (err) => report('response.error', { code: jsonSafe(err?.code), message: err?.message }));
    res.on('close', () => report('response.close'));
  });
  on('timeout', () => report('timeout'));
  req.on('abort', () => report('abort')); // deprecated, emitted by req.abort() only
  on('upgrade', (res, socket, head) => {
    track(sc, socket);
    report('upgrade', { ...messageFields(res), head: latin1(head) });
  });
  on('connect', (res, socket, head) => {
    track(sc, socket);
    report('connect', { ...messageFields(res), head: latin1(head) });
  });
  on('error', (err) => report('error', { code: jsonSafe(err?.code), name: err?.name, message: err?.message }));
  req.on('close', () => report('close'));
}

// An agent whose documented overridable methods report their calls
// (PROTOCOL.md, "start, client scenarios", hooks).
function makeAgent(sc, name, options, hooks) {
  const agent = new http.Agent(options);
  const h = hooks ?? {};
  if (h.keepSocketAlive !== undefined) {
    const original = agent.keepSocketAlive;
    agent.keepSocketAlive = function keepSocketAlive(socket) {
      const result = h.keepSocketAlive === false ? false : original.call(this, socket);
      emit(sc, 'agent.keepSocketAlive', { agent: name, result: jsonSafe(result) });
      return result;
    };
  }
  if (h.reuseSocket !== undefined) {
    const original = agent.reuseSocket;
    agent.reuseSocket = function reuseSocket(socket, req) {
      // A pooled socket is given to a request inside its constructor, before
      // http.request() returns: the request being issued is `sc.issuing`.
      emit(sc, 'agent.reuseSocket', { agent: name, request: sc.names.get(req) ?? sc.issuing ?? null });
      return original.call(this, socket, req);
    };
  }
  if (h.createConnection !== undefined) {
    const original = agent.createConnection;
    agent.createConnection = function createConnection(opts, callback) {
      emit(sc, 'agent.createConnection', { agent: name, host: opts?.host, port: opts?.port });
      if (h.createConnection === 'observe') return original.call(this, opts, callback);
      if (h.createConnection === 'error') {
        process.nextTick(() => callback(new Error('createConnection failed')));
        return undefined;
      }
      const socket = original.call(this, opts);
      process.nextTick(() => callback(null, socket));
      return undefined;
    };
  }
  return agent;
}

function startClient(msg) {
  const sc = {
    gen: ++generation, server: null, stopped: false, client: true,
    sockets: new Set(), signals: new Set(), signalWaiters: new Map(), pending: new Set(),
    agents: new Map(), requests: new Map(), names: new WeakMap(), msg,
  };
  for (const spec of Object.values(msg.requests ?? {})) {
    const missing = missingCall(spec?.script, CLIENT_TYPES);
    if (missing) { unsupportedCall(missing); return; }
  }
  if (websocketsUnsupported(msg)) return;
  current = sc;
  sc.agents.set('global', http.globalAgent);
  try {
    for (const [name, agent] of Object.entries(msg.agents ?? {})) {
      sc.agents.set(name, makeAgent(sc, name, agent?.options ?? {}, agent?.hooks));
    }
  } catch (err) {
    sendError(`start ${msg.id ?? ''}: new Agent: ${err?.message ?? err}`);
    return;
  }
  send({ type: 'started' });
}

// Issue the named request now: http.request(options) (or (url[, options])),
// then run its script on the ClientRequest. Options go as they came.
function clientRequest(sc, name) {
  const spec = sc.msg.requests?.[name];
  if (!spec) throw new TypeError(`no request '${name}'`);
  const options = spec.options === undefined ? undefined : { ...spec.options };
  if (typeof options?.agent === 'string') {
    const agent = sc.agents.get(options.agent);
    if (!agent) throw new TypeError(`no agent '${options.agent}'`);
    options.agent = agent;
  }
  const ctx = { self: null, req: null, res: undefined, socket: undefined, server: undefined, http, observed: null };
  if (options?.signal === true) {
    ctx.controller = new AbortController();
    options.signal = ctx.controller.signal;
  }
  // `get: true` issues http.get(), which ends the request itself.
  const issue = spec.get === true ? http.get : http.request;
  let req;
  sc.issuing = name;
  try {
    if (spec.url === undefined) req = issue(options ?? {});
    else if (options === undefined) req = issue(spec.url);
    else req = issue(spec.url, options);
  } catch (err) {
    emitThrow(sc, spec.get === true ? 'http.get' : 'http.request', err);
    return;
  } finally {
    sc.issuing = null;
  }
  sc.requests.set(name, req);
  sc.names.set(req, name);
  ctx.self = req;
  ctx.req = req;
  observeClient(sc, name, req, ctx, spec);
  startScript(sc, spec.script ?? (spec.get === true ? [] : [['end']]), ctx, `request ${name}`);
}

function agentState(sc, name) {
  const agent = sc.agents.get(name);
  if (!agent) throw new TypeError(`no agent '${name}'`);
  // An empty list is left out: Node sometimes keeps one (agent.sockets of a
  // name whose only request is queued), sometimes deletes it; either way the
  // pool is empty.
  const counts = (pools) => Object.fromEntries(Object.entries(pools)
    .filter(([, v]) => v.length > 0)
    .map(([k, v]) => [k, v.length]));
  emit(sc, 'agent', {
    agent: name,
    sockets: counts(agent.sockets),
    freeSockets: counts(agent.freeSockets),
    requests: counts(agent.requests),
  });
}

// ---------------------------------------------------------------- messages

function teardown(sc) {
  sc.stopped = true;
  generation++;
  current = null;
  for (const done of [...sc.pending]) done(); // suspended scripts wake up and end
  for (const socket of sc.sockets) socket.destroy();
  if (sc.client) {
    for (const req of sc.requests.values()) { req.on('error', noop); req.destroy(); }
    for (const [name, agent] of sc.agents) {
      if (name !== 'global') agent.destroy();
    }
    // The global agent outlives scenarios: only its sockets go.
    http.globalAgent.destroy();
    closeWebSockets(sc);
    return;
  }
  // No callback: the 'close' event may wait on connections; we never wait on it.
  try { sc.server.close(); } catch (err) { log(`close: ${err.message}`); }
}

function signal(msg) {
  const sc = current;
  if (!sc) { sendError('signal outside a scenario'); return; }
  const name = String(msg.name);
  sc.signals.add(name);
  for (const done of [...(sc.signalWaiters.get(name) ?? [])]) done();
}

// Each is made synchronously, then acknowledged with `called`: the runner
// waits for it, so a connection it opens next sees the call's effect.
function request(msg) {
  const sc = current;
  if (!sc?.client) { sendError('request outside a client scenario'); return; }
  try {
    clientRequest(sc, String(msg.name));
  } catch (err) {
    emitThrow(sc, 'http.request', err);
  }
  send({ type: 'called' });
}

function agent(msg) {
  const sc = current;
  if (!sc?.client) { sendError('agent outside a client scenario'); return; }
  try {
    agentState(sc, String(msg.name));
  } catch (err) {
    emitThrow(sc, `agent.${msg.name}`, err);
  }
  send({ type: 'called' });
}

function call(msg) {
  const sc = current;
  if (!sc) { sendError('call outside a scenario'); return; }
  const target = String(msg.target ?? 'server');
  const method = String(msg.method);
  const args = Array.isArray(msg.args) ? msg.args : [];
  let object;
  let name = `${target}.${method}`;
  switch (target) {
    case 'server': object = sc.server; break;
    case 'http': object = http; break;
    case 'agent': object = sc.agents?.get(String(msg.name)); name = `agent.${msg.name}.${method}`; break;
    case 'request': object = sc.requests?.get(String(msg.name)); name = `request.${msg.name}.${method}`; break;
    case 'websocket': object = sc.websockets?.get(String(msg.name)); name = `websocket.${msg.name}.${method}`; break;
    default: sendError(`call: unknown target '${target}'`); return;
  }
  try {
    const result = invoke(object, method, args, name.slice(0, name.lastIndexOf('.')));
    if (msg.report === true || method === 'get') emitReturn(sc, name, result, object);
  } catch (err) {
    emitThrow(sc, name, err);
  }
  send({ type: 'called' });
}

function stop() {
  if (current) teardown(current);
  send({ type: 'stopped' });
}

const HANDLERS = { start, signal, request, agent, call, stop, websocket };

function onLine(line) {
  if (line.trim() === '') return;
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (err) {
    sendError(`malformed JSON: ${err.message}`);
    return;
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
    sendError('a message must be a JSON object');
    return;
  }
  if (typeof msg.type !== 'string' || !Object.hasOwn(HANDLERS, msg.type)) {
    sendError(`unknown message type ${JSON.stringify(msg.type)}`);
    return;
  }
  try {
    HANDLERS[msg.type](msg);
  } catch (err) {
    sendError(`${msg.type}: ${err?.stack ?? err}`);
  }
}

// ---------------------------------------------------------------- websocket

// http.WebSocket (undici's client; Node 22.5.0 and later). A client scenario
// declares its WebSockets by name (`websockets` in `start`: `url`,
// `protocols`, `script`); the message `websocket` constructs one, `call`
// with target `websocket` calls it. Its events are ws.open, ws.message,
// ws.error and ws.close, each with `websocket` (its name) and `readyState`
// as a listener reads it.

// A runtime without http.WebSocket answers `unsupported`.
function websocketsUnsupported(msg) {
  if (Object.keys(msg.websockets ?? {}).length === 0) return false;
  if (typeof http.WebSocket === 'function') return false;
  send({ type: 'unsupported', reason: `${IMPLEMENTATION} ${process.version} has no http.WebSocket` });
  return true;
}

// The events of the scenario's WebSockets are reported in the order they
// were dispatched. A Blob's bytes are read asynchronously: while one is read,
// later events wait for their turn in `sc.wsQueue`. `fields` is an object or
// a promise of one.
function wsReport(sc, seen, event, fields) {
  if (sc.wsQueue === undefined && !(fields instanceof Promise)) {
    seen.report(event, fields);
    return;
  }
  const next = (sc.wsQueue ?? Promise.resolve())
    .then(() => fields)
    .then((f) => seen.report(event, f), (err) => { if (alive(sc)) sendError(`${event}: ${err?.message ?? err}`); });
  sc.wsQueue = next;
  next.then(() => { if (sc.wsQueue === next) sc.wsQueue = undefined; });
}

// event.data as a type and latin-1 bytes (a string as it is).
function messageData(data) {
  if (typeof data === 'string') return { dataType: 'text', data };
  if (data instanceof ArrayBuffer) return { dataType: 'arraybuffer', data: latin1(new Uint8Array(data)) };
  // binaryType 'nodebuffer' (Bun's default): a Buffer.
  if (data instanceof Uint8Array) return { dataType: 'nodebuffer', data: latin1(data) };
  if (typeof Blob === 'function' && data instanceof Blob) {
    return data.arrayBuffer().then((b) => ({ dataType: 'blob', data: latin1(new Uint8Array(b)) }));
  }
  return { dataType: typeof data, data: String(data) };
}

// `new WebSocket(url[, protocols])` for the named WebSocket, its listeners,
// then its script (bare names call the WebSocket).
function wsConstruct(sc, name) {
  const spec = sc.msg.websockets?.[name];
  if (!spec) throw new TypeError(`no websocket '${name}'`);
  let ws;
  try {
    ws = spec.protocols === undefined
      ? new http.WebSocket(spec.url)
      : new http.WebSocket(spec.url, spec.protocols);
  } catch (err) {
    emitThrow(sc, 'new WebSocket', err);
    return;
  }
  sc.websockets ??= new Map();
  sc.websockets.set(name, ws);
  const seen = eventLog(sc, { websocket: name });
  ws.addEventListener('open', () => wsReport(sc, seen, 'ws.open', {
    readyState: ws.readyState, protocol: ws.protocol, extensions: ws.extensions,
  }));
  ws.addEventListener('message', (e) => {
    const fields = { readyState: ws.readyState, origin: e.origin };
    const data = messageData(e.data);
    wsReport(sc, seen, 'ws.message', data instanceof Promise
      ? data.then((d) => ({ ...fields, ...d }))
      : { ...fields, ...data });
  });
  ws.addEventListener('error', (e) => wsReport(sc, seen, 'ws.error', {
    readyState: ws.readyState, message: e.message,
  }));
  ws.addEventListener('close', (e) => wsReport(sc, seen, 'ws.close', {
    readyState: ws.readyState, code: e.code, reason: e.reason, wasClean: e.wasClean,
  }));
  const ctx = { self: ws, req: null, res: undefined, socket: undefined, server: undefined, http, observed: null, seen };
  startScript(sc, spec.script ?? [], ctx, `websocket ${name}`);
}

function websocket(msg) {
  const sc = current;
  if (!sc?.client) { sendError('websocket outside a client scenario'); return; }
  try {
    wsConstruct(sc, String(msg.name));
  } catch (err) {
    emitThrow(sc, 'new WebSocket', err);
  }
  send({ type: 'called' });
}

// At `stop`: what is still connecting or open is closed (its events are no
// longer reported); the runner resets its connections anyway.
function closeWebSockets(sc) {
  for (const ws of sc.websockets?.values() ?? []) {
    try { ws.close(); } catch (err) { log(`websocket close: ${err?.message ?? err}`); }
  }
}

// ---------------------------------------------------------------- process

// Nothing inside the adapter may kill it. An exception thrown to the top
// (an 'error' event nobody listens to, which a scenario may arrange with
// `without`) is the implementation's behaviour: an `uncaught` event. Between
// scenarios a late failure is only logged, so it cannot fail the next one.
process.on('uncaughtException', (err) => {
  log(`uncaught exception: ${err?.stack ?? err}`);
  if (current) emit(current, 'uncaught', errorFields(err));
});
process.on('unhandledRejection', (reason) => {
  log(`unhandled rejection: ${reason?.stack ?? reason}`);
  if (current) sendError(`unhandled rejection: ${reason?.message ?? reason}`);
});
process.stdout.on('error', () => process.exit(0)); // the runner went away

if (MISSING.size > 0) log(`${IMPLEMENTATION} lacks ${[...MISSING].join(', ')}`);
send({ type: 'ready', protocol: 2, implementation: IMPLEMENTATION, version: process.version.slice(1) });

const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
input.on('line', onLine);
input.on('close', () => process.exit(0));
