// The node:http twin of the reference's echo example
// (reference/examples/echo.rs): the same calls, in the same order, so that
// the two answer every request with the same bytes (Date aside). Node
// built-ins only. Prints `LISTENING <port>` once it listens on 127.0.0.1.
//
//   node fuzz/differential/echo.mjs [--port N]
import http from 'node:http';

const portArg = process.argv.indexOf('--port');
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 0;

function bigBody(n) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = 97 + (i % 26);
  return b;
}

const server = http.createServer({}, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const path = req.url.split('?')[0];
    let m;
    if ((m = /^\/status\/(\d+)$/.exec(path)) && m[1] >= 200 && m[1] <= 999) {
      res.statusCode = Number(m[1]);
      res.end();
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

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
const stop = () => {
  server.close();
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
