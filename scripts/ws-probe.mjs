// Probes what `http.WebSocket` (undici's client) does against a scripted raw
// TCP server, and prints both sides: the bytes the client sends (the
// handshake as text, then its frames decoded and unmasked) and the events
// and properties the program sees, in order.
//
//   node scripts/ws-probe.mjs SCRIPT.json
//   node scripts/ws-probe.mjs - < SCRIPT.json
//
// SCRIPT is a JSON object:
//   url        the URL (default ws://127.0.0.1:{port}/path); {port} is replaced
//   protocols  the second argument of the constructor (optional)
//   response   the answer to the handshake, as text with \r\n; {accept} is
//              replaced by the right Sec-WebSocket-Accept (default: a plain 101)
//   steps      what the server does after answering, in order:
//                {"send": "hex bytes"}      raw bytes
//                {"frame": {...}}           a frame: fin (1), rsv (0), opcode,
//                                           mask (none), payload (text) or hex,
//                                           or deflate (text compressed as
//                                           permessage-deflate does, with an
//                                           optional dictionary: the previous
//                                           message, for context takeover)
//                {"wait": ms}
//                {"end": true}              half-close (FIN)
//                {"destroy": true}          close at once
//                {"reset": true}            RST
//   client     what the program does, each at the named moment:
//                {"on": "open", "do": [["send", "text"], ["sendBinary", "hex"],
//                  ["close", code, reason], ["binaryType", "arraybuffer"]]}
//                {"after": ms, "do": [...]} (ms after start)
//                {"on": "constructed", "do": [...]} (right after the constructor)
//   binaryType binaryType set right after the constructor
//   linger     ms to wait after the client's 'close' before exiting (100)
//
// Output: one line per observation, `>` for bytes from the client, `<` for
// server actions, `=` for client events. A constructor or method that throws
// prints `! name: message`.

import net from 'node:net';
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import zlib from 'node:zlib';

const script = JSON.parse(fs.readFileSync(process.argv[2] === '-' ? 0 : process.argv[2], 'utf8'));
const t0 = Date.now();
const log = (s) => console.log(s);

function frame({ fin = 1, rsv = 0, opcode, mask, payload, hex, len, deflate, dictionary }) {
  let body = hex !== undefined ? Buffer.from(hex.replace(/\s/g, ''), 'hex') : Buffer.from(payload ?? '');
  if (deflate !== undefined) {
    // permessage-deflate: raw deflate, sync flush, the trailing 00 00 ff ff removed.
    const opts = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
    if (dictionary !== undefined) opts.dictionary = Buffer.from(dictionary);
    const z = zlib.deflateRawSync(Buffer.from(deflate), opts);
    body = z.subarray(0, z.length - 4);
  }
  const n = len ?? body.length;
  const head = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  const m = mask ? 0x80 : 0;
  if (n < 126) head.push(m | n);
  else if (n < 65536) head.push(m | 126, n >> 8, n & 255);
  else {
    head.push(m | 127, 0, 0, 0, 0);
    head.push((n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
  }
  let data = body;
  if (mask) {
    const k = Buffer.from(mask, 'hex');
    head.push(...k);
    data = Buffer.from(body.map((b, i) => b ^ k[i & 3]));
  }
  return Buffer.concat([Buffer.from(head), data]);
}

function describeFrames(buf) {
  const out = [];
  let i = 0;
  while (i + 2 <= buf.length) {
    const b0 = buf[i], b1 = buf[i + 1];
    let n = b1 & 127, p = i + 2;
    if (n === 126) { n = buf.readUInt16BE(p); p += 2; }
    else if (n === 127) { n = Number(buf.readBigUInt64BE(p)); p += 8; }
    const masked = (b1 & 128) !== 0;
    const key = masked ? buf.subarray(p, p + 4) : null;
    if (masked) p += 4;
    if (p + n > buf.length) break;
    const payload = Buffer.from(buf.subarray(p, p + n));
    if (key) for (let j = 0; j < n; j++) payload[j] ^= key[j & 3];
    let d = `frame fin=${b0 >> 7} rsv=${(b0 >> 4) & 7} opcode=${b0 & 15} masked=${masked} len=${n}`;
    if ((b0 & 15) === 8 && n >= 2) d += ` code=${payload.readUInt16BE(0)} reason=${JSON.stringify(payload.subarray(2).toString())}`;
    else d += ` payload=${JSON.stringify(payload.toString('latin1'))}`;
    out.push(d);
    i = p + n;
  }
  return [out, buf.subarray(i)];
}

const server = net.createServer((sock) => {
  let head = Buffer.alloc(0);
  let upgraded = false;
  let rest = Buffer.alloc(0);
  sock.on('data', async (d) => {
    if (upgraded) {
      rest = Buffer.concat([rest, d]);
      const [frames, left] = describeFrames(rest);
      rest = left;
      for (const f of frames) log(`> ${f}`);
      return;
    }
    head = Buffer.concat([head, d]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    upgraded = true;
    const text = head.subarray(0, end + 4).toString('latin1');
    for (const line of text.split('\r\n').slice(0, -2)) log(`> ${line.replace(/^(sec-websocket-key: ).*/i, '$1{key}')}`);
    rest = head.subarray(end + 4);
    const key = /sec-websocket-key: (.*)/i.exec(text)?.[1] ?? '';
    const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    const response = (script.response ?? 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n')
      .replaceAll('{accept}', accept);
    sock.write(response);
    log(`< ${JSON.stringify(response.split('\r\n')[0])}`);
    for (const step of script.steps ?? []) {
      if (step.send) { sock.write(Buffer.from(step.send.replace(/\s/g, ''), 'hex')); log(`< send ${step.send}`); }
      if (step.frame) { sock.write(frame(step.frame)); log(`< frame ${JSON.stringify(step.frame)}`); }
      if (step.wait) await new Promise((r) => setTimeout(r, step.wait));
      if (step.end) { sock.end(); log('< end'); }
      if (step.destroy) { sock.destroy(); log('< destroy'); }
      if (step.reset) { sock.resetAndDestroy(); log('< reset'); }
    }
  });
  sock.on('end', () => log('> FIN'));
  sock.on('close', () => log('> closed'));
  sock.on('error', (e) => log(`> socket error ${e.code}`));
});

function act(ws, list) {
  for (const [op, ...args] of list) {
    try {
      if (op === 'send') ws.send(args[0]);
      else if (op === 'sendBinary') ws.send(Buffer.from(args[0], 'hex'));
      else if (op === 'close') ws.close(...args);
      else if (op === 'binaryType') ws.binaryType = args[0];
      log(`= ${op}(${args.map((a) => JSON.stringify(a)).join(', ')}) readyState=${ws.readyState} bufferedAmount=${ws.bufferedAmount}`);
    } catch (e) {
      log(`! ${op}: ${e.name}: ${e.message}`);
    }
  }
}

server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  const url = (script.url ?? 'ws://127.0.0.1:{port}/path').replaceAll('{port}', port);
  let ws;
  try {
    ws = script.protocols === undefined ? new http.WebSocket(url) : new http.WebSocket(url, script.protocols);
  } catch (e) {
    log(`! constructor: ${e.name}: ${e.message}`);
    server.close();
    return;
  }
  log(`= constructed readyState=${ws.readyState} url=${ws.url} binaryType=${ws.binaryType}`);
  if (script.binaryType !== undefined) ws.binaryType = script.binaryType;
  const hooks = script.client ?? [];
  for (const h of hooks) if (h.after !== undefined) setTimeout(() => act(ws, h.do), h.after);
  ws.addEventListener('open', () => {
    log(`= open readyState=${ws.readyState} protocol=${JSON.stringify(ws.protocol)} extensions=${JSON.stringify(ws.extensions)} url=${ws.url}`);
    for (const h of hooks) if (h.on === 'open') act(ws, h.do);
  });
  ws.addEventListener('message', (e) => {
    const d = e.data;
    let shown;
    if (typeof d === 'string') shown = `text ${JSON.stringify(d)}`;
    else if (d instanceof ArrayBuffer) shown = `arraybuffer ${Buffer.from(d).toString('hex')}`;
    else shown = `${d?.constructor?.name} size=${d?.size}`;
    log(`= message ${shown} origin=${e.origin} readyState=${ws.readyState}`);
    for (const h of hooks) if (h.on === 'message') act(ws, h.do);
  });
  ws.addEventListener('error', (e) => {
    log(`= error ${e.constructor.name} message=${JSON.stringify(e.message)} error=${e.error?.name}:${JSON.stringify(e.error?.message)} readyState=${ws.readyState}`);
  });
  ws.addEventListener('close', (e) => {
    log(`= close code=${e.code} reason=${JSON.stringify(e.reason)} wasClean=${e.wasClean} readyState=${ws.readyState}`);
    setTimeout(() => { server.close(); process.exit(0); }, script.linger ?? 100);
  });
  for (const h of hooks) if (h.on === 'constructed') act(ws, h.do);
  setTimeout(() => { log(`= (timeout) readyState=${ws.readyState}`); process.exit(0); }, script.timeout ?? 2000);
});
