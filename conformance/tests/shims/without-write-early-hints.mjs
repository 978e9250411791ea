// Preloaded with `node --import` by the runner's tests: Node without
// res.writeEarlyHints(), as a runtime that lacks that API is. The adapter's
// feature test must answer `unsupported` for the scenarios that call it.
import http from 'node:http';

delete http.ServerResponse.prototype.writeEarlyHints;
