// The node:http peer of the reference's `hello` example, for bench-load:
// run by Node 23.5.0 and by Bun as it is.
//
//   node bench/hello.mjs --port 0    -> prints LISTENING <port>
import http from 'node:http';

const i = process.argv.indexOf('--port');
const port = i > 0 ? Number(process.argv[i + 1]) : 0;

const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end('hello world');
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});

process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close();
  process.exit(0);
});
