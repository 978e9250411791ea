// A WebSocket server on node:http ('upgrade' and hand-made frames), for
// reference/tests/websocket.rs: it prints its port, answers the handshake
// (with the first protocol asked for), echoes every message with its type,
// answers a ping, and on the text message "close" sends a close frame
// (4001, "asked") and closes the socket once the client's close frame is
// in. It exits when its connection ends.

import http from 'node:http';
import crypto from 'node:crypto';

function frame(opcode, payload) {
  const n = payload.length;
  let head;
  if (n < 126) head = Buffer.from([0x80 | opcode, n]);
  else if (n < 65536) {
    head = Buffer.from([0x80 | opcode, 126, 0, 0]);
    head.writeUInt16BE(n, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

const server = http.createServer((req, res) => res.writeHead(426).end());
server.on('upgrade', (req, socket, head) => {
  const accept = crypto
    .createHash('sha1')
    .update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
    .digest('base64');
  const protocol = (req.headers['sec-websocket-protocol'] ?? '').split(',')[0].trim();
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n` +
      (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') +
      '\r\n',
  );
  let buf = head;
  let message = [];
  let type = 0;
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (buf.length < 2) return;
      let n = buf[1] & 127;
      let p = 2;
      if (n === 126) {
        if (buf.length < 4) return;
        n = buf.readUInt16BE(2);
        p = 4;
      } else if (n === 127) {
        if (buf.length < 10) return;
        n = Number(buf.readBigUInt64BE(2));
        p = 10;
      }
      if (buf.length < p + 4 + n) return;
      const key = buf.subarray(p, p + 4);
      const payload = Buffer.from(buf.subarray(p + 4, p + 4 + n));
      for (let i = 0; i < n; i++) payload[i] ^= key[i & 3];
      const fin = (buf[0] & 0x80) !== 0;
      const opcode = buf[0] & 15;
      buf = buf.subarray(p + 4 + n);
      if (opcode === 8) {
        socket.end();
        return;
      }
      if (opcode === 9) {
        socket.write(frame(10, payload));
        continue;
      }
      if (opcode !== 0) type = opcode;
      message.push(payload);
      if (!fin) continue;
      const whole = Buffer.concat(message);
      message = [];
      if (type === 1 && whole.toString() === 'close') {
        socket.write(frame(8, Buffer.concat([Buffer.from([0x0f, 0xa1]), Buffer.from('asked')])));
      } else {
        socket.write(frame(type, whole));
      }
    }
  });
  socket.on('close', () => server.close());
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
