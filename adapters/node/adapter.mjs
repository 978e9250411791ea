// Reference adapter of the conformance suite: drives a real `node:http` server.
//
// Speaks protocol 1 (conformance/PROTOCOL.md): newline-delimited JSON, runner
// messages on stdin, adapter messages on stdout, free-form logs on stderr.
// Scripts (handler and listeners) follow fixtures/README.md, "Scripts".
// Node built-ins only; runs on Node 20 and later.

import http from 'node:http';
import readline from 'node:readline';
import { Buffer } from 'node:buffer';

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

// Script arguments are JSON; two tagged forms stand for the objects JSON has
// not (fixtures/README.md, "Scripts"): {"$map": [[k, v], ...]} is a Map and
// {"$headers": [[k, v], ...]} a Headers, as res.setHeaders() takes them.
function decodeArg(arg) {
  if (arg !== null && typeof arg === 'object' && !Array.isArray(arg)) {
    const keys = Object.keys(arg);
    if (keys.length === 1 && keys[0] === '$map') return new Map(arg.$map);
    if (keys.length === 1 && keys[0] === '$headers') return new Headers(arg.$headers);
  }
  return arg;
}
const decodeArgs = (args) => args.map(decodeArg);

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
  awaitDrain(sc, ctx, target) {
    if (target == null) throw new TypeError('awaitDrain: no such target in this listener');
    // Nothing buffered: a 'drain' would never come, so do not wait for it.
    if (target.writableNeedDrain === false || target.destroyed) return undefined;
    return waitEvents(sc, target, ['drain', 'close']);
  },
};

// ---------------------------------------------------------------- scripts

const PREFIXES = new Set(['req', 'res', 'socket', 'server']);

// ctx: { self, req, res, socket, server, observed }; `self` is the target of
// bare names. Runs step by step; only control steps suspend.
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
    const target = prefix === null ? ctx.self : ctx[prefix];

    const control = Object.hasOwn(CONTROL, name);
    let result;
    try {
      if (control) {
        result = CONTROL[name](sc, ctx, target, args); // a promise, or nothing
      } else if (target == null) {
        throw new TypeError(`there is no '${prefix}' in a '${where}' listener`);
      } else if (name === 'get') {
        result = target[args[0]];
      } else if (name === 'set') {
        target[args[0]] = args[1];
      } else if (typeof target[name] !== 'function') {
        throw new TypeError(`${call} is not a function`);
      } else {
        // Arguments go as they arrive: a TOML table is a plain object, even
        // for res.setHeaders(), which rejects it (it takes a Headers or a Map).
        result = target[name](...decodeArgs(args));
      }
    } catch (err) {
      emitThrow(sc, call, err); // and go on with the next step
      continue;
    }
    if (control) await result;
    else if (report || name === 'get') emitReturn(sc, call, result, target);
  }
}

function startScript(sc, script, ctx, where) {
  runScript(sc, script, ctx, where).catch((err) => {
    if (alive(sc)) sendError(`${where} script: ${err?.stack ?? err}`);
  });
}

// ---------------------------------------------------------------- listeners

// Observe a request from the moment it is emitted: read its body (Node would
// otherwise dump an unread body once the response finishes) and report its
// lifecycle. `waiters` are the awaitEnd steps, released once `end`, `aborted`
// or `req.close` has been reported.
function observe(sc, req, res) {
  const observed = { settled: false, waiters: new Set() };
  const settle = () => {
    observed.settled = true;
    for (const done of [...observed.waiters]) done();
  };
  const chunks = [];
  // Strings if a script called req.setEncoding(); latin-1 is one char per byte,
  // so decoding chunk by chunk equals decoding the concatenation.
  req.on('data', (chunk) => chunks.push(typeof chunk === 'string' ? chunk : latin1(chunk)));
  req.on('end', () => {
    emit(sc, 'end', {
      body: chunks.join(''),
      complete: req.complete,
      trailers: jsonSafe(req.trailers),
      trailersDistinct: jsonSafe(req.trailersDistinct),
      rawTrailers: jsonSafe(req.rawTrailers),
    });
    settle();
  });
  req.on('aborted', () => { emit(sc, 'aborted', { complete: req.complete }); settle(); });
  req.on('close', () => { emit(sc, 'req.close'); settle(); });
  // A write after end() makes the response emit 'error' on the next tick; with
  // no listener that would be an uncaught exception. Not an event of the protocol.
  res.on('error', (err) => log(`response error (swallowed): ${err.code ?? err.message}`));
  res.on('finish', () => emit(sc, 'res.finish'));
  res.on('close', () => emit(sc, 'res.close'));
  return observed;
}

// 'request', 'checkContinue', 'checkExpectation': (req, res), bare names -> res.
function onRequest(sc, event, script, req, res) {
  if (!alive(sc)) return;
  track(sc, req.socket);
  emit(sc, event, requestFields(req)); // reported before the script runs
  const observed = observe(sc, req, res);
  const ctx = { self: res, req, res, socket: req.socket, server: sc.server, observed };
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
  const ctx = { self: socket, req, res: undefined, socket, server: sc.server, observed: null };
  startScript(sc, script, ctx, event);
}

// ---------------------------------------------------------------- messages

function start(msg) {
  if (current) teardown(current); // a start without stop: drop the old scenario
  const listeners = msg.listeners ?? {};
  for (const event of Object.keys(listeners)) {
    if (!REQUEST_EVENTS.has(event) && !Object.hasOwn(SOCKET_EVENTS, event)) {
      send({ type: 'unsupported', reason: `the adapter has no '${event}' listener` });
      return;
    }
  }
  // An absent handler means [["end"]]; [] is a handler that does nothing.
  const handler = msg.handler ?? [['end']];

  let server;
  try {
    server = http.createServer(msg.options ?? {});
    for (const [key, value] of Object.entries(msg.properties ?? {})) server[key] = value;
  } catch (err) {
    sendError(`start ${msg.id ?? ''}: ${err?.message ?? err}`);
    return;
  }
  const sc = {
    gen: ++generation, server, stopped: false,
    sockets: new Set(), signals: new Set(), signalWaiters: new Map(), pending: new Set(),
  };
  current = sc;

  server.on('connection', (socket) => {
    if (!alive(sc)) { socket.on('error', noop); socket.destroy(); return; }
    track(sc, socket);
    emit(sc, 'connection');
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

function teardown(sc) {
  sc.stopped = true;
  generation++;
  current = null;
  for (const done of [...sc.pending]) done(); // suspended scripts wake up and end
  for (const socket of sc.sockets) socket.destroy();
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

// The call is made synchronously, then acknowledged with `called`: the runner
// waits for it, so a connection it opens next sees the call's effect.
function call(msg) {
  const sc = current;
  if (!sc) { sendError('call outside a scenario'); return; }
  if ((msg.target ?? 'server') !== 'server') { sendError(`call: unknown target '${msg.target}'`); return; }
  const method = String(msg.method);
  try {
    if (typeof sc.server[method] !== 'function') throw new TypeError(`server.${method} is not a function`);
    sc.server[method](...decodeArgs(Array.isArray(msg.args) ? msg.args : []));
  } catch (err) {
    emitThrow(sc, `server.${method}`, err);
  }
  send({ type: 'called' });
}

function stop() {
  if (current) teardown(current);
  send({ type: 'stopped' });
}

const HANDLERS = { start, signal, call, stop };

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

// ---------------------------------------------------------------- process

// Nothing inside the adapter may kill it. Between scenarios a late failure is
// only logged, so it cannot fail the next scenario.
function reportUncaught(kind, err) {
  log(`${kind}: ${err?.stack ?? err}`);
  if (current) sendError(`${kind}: ${err?.message ?? err}`);
}
process.on('uncaughtException', (err) => reportUncaught('uncaught exception', err));
process.on('unhandledRejection', (reason) => reportUncaught('unhandled rejection', reason));
process.stdout.on('error', () => process.exit(0)); // the runner went away

send({ type: 'ready', protocol: 1, implementation: 'node', version: process.version.slice(1) });

const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
input.on('line', onLine);
input.on('close', () => process.exit(0));
