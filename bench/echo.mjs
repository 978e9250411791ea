// The node:http twin of the reference's echo example
// (reference/examples/echo.rs): the same calls, in the same order, so that
// the two answer every request with the same bytes (Date aside), and the
// same flags. Node built-ins only. For the soak harness (`just soak`),
// reference/tests/limits.rs and the differential fuzzer (fuzz/differential).
//
//   node bench/echo.mjs --port 0 [--headers-timeout MS] ...   -> prints LISTENING <port>
import http from 'node:http';

const flags = {
  '--headers-timeout': 'headersTimeout',
  '--request-timeout': 'requestTimeout',
  '--keep-alive-timeout': 'keepAliveTimeout',
  '--connections-checking-interval': 'connectionsCheckingInterval',
  '--max-header-size': 'maxHeaderSize',
};
const options = {};
let port = 0;
let maxRequestsPerSocket;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const [flag, value] = [argv[i], argv[i + 1]];
  if (flag === '--port') port = Number(value);
  else if (flag === '--max-requests-per-socket') maxRequestsPerSocket = Number(value);
  else if (flags[flag]) options[flags[flag]] = Number(value);
  else {
    process.stderr.write(`echo.mjs: unknown flag ${flag}\n`);
    process.exit(2);
  }
}

function bigBody(n) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = 97 + (i % 26);
  return b;
}

const server = http.createServer(options, (req, res) => {
  const discard = req.url.split('?')[0] === '/discard';
  const chunks = [];
  let bytes = 0;
  req.on('data', (c) => {
    bytes += c.length;
    if (!discard) chunks.push(c);
  });
  req.on('end', () => {
    const path = req.url.split('?')[0];
    let m;
    if ((m = /^\/status\/(\d+)$/.exec(path)) && m[1] >= 200 && m[1] <= 999) {
      res.statusCode = Number(m[1]);
      res.end();
    } else if (path === '/discard') {
      res.setHeader('content-type', 'text/plain');
      res.end(String(bytes));
    } else if (path === '/chunked') {
      res.setHeader('content-type', 'text/plain');
      res.write('chunk-one;');
      res.write('chunk-two;');
      res.write('chunk-three');
      res.end();
    } else if (path === '/trailers') {
      res.setHeader('content-type', 'text/plain');
      res.setHeader('Trailer', 'X-Checksum');
      try {
        res.write('body-with-trailers'); // throws on HTTP/1.0: not chunked
      } catch (e) {
        if (e.code !== 'ERR_HTTP_TRAILER_INVALID') throw e;
        res.removeHeader('Trailer');
        res.writeHead(500, 'Internal Server Error');
        return res.end('ERR_HTTP_TRAILER_INVALID');
      }
      res.addTrailers({ 'X-Checksum': 'abc123' });
      res.end();
    } else if ((m = /^\/big\/(\d+)$/.exec(path))) {
      if (Number(m[1]) > 64 * 1024 * 1024) {
        res.statusCode = 400;
        res.end();
      } else {
        res.setHeader('content-type', 'application/octet-stream');
        res.end(bigBody(Number(m[1])));
      }
    } else {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({
        method: req.method, url: req.url, httpVersion: req.httpVersion,
        headers: req.headers, headersDistinct: req.headersDistinct,
        rawHeaders: req.rawHeaders, trailers: req.trailers,
        rawTrailers: req.rawTrailers, complete: req.complete,
        body: Buffer.concat(chunks).toString('utf8'),
      }));
    }
  });
});
if (maxRequestsPerSocket !== undefined) server.maxRequestsPerSocket = maxRequestsPerSocket;

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
