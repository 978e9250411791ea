// Node's client side of `bench-client`: REQUESTS GETs to 127.0.0.1:PORT
// through one keep-alive http.Agent (maxSockets CONCURRENCY), CONCURRENCY
// at a time, each response read whole. Prints one JSON line:
// {"requests": N, "seconds": S, "cpu_seconds": C}.
import http from 'node:http';

const [port, requests, concurrency] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });

function one() {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.on('data', () => {});
      res.on('end', resolve);
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

let issued = 0;
async function worker() {
  while (issued < requests) {
    issued++;
    await one();
  }
}

const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
await Promise.all(Array.from({ length: concurrency }, worker));
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
agent.destroy();
console.log(JSON.stringify({ requests, seconds, cpu_seconds: (cpu.user + cpu.system) / 1e6 }));
