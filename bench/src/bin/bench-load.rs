//! `just bench-load`: the reference's `hello` example against Node 23.5.0,
//! Bun and hyper, measured in one run.
//!
//! Every server answers `200`, `content-type: text/plain`, `hello world`.
//! For each round (at least 3), each scenario and each server (in an order
//! rotated every round, so that no server always runs right after the
//! same neighbour), a fresh server process is started, warmed up, then
//! driven by `wrk` on 127.0.0.1. Per run it records requests/s, p50 and p99
//! latency (wrk's), the server's peak RSS (`VmHWM`) and the server's CPU
//! time per request (utime + stime from `/proc/PID/stat` over the measured
//! run, divided by the requests wrk completed: the fair figure when wrk
//! saturates a core). It also records how much CPU the rest of the machine
//! used during the run (from `/proc/stat`, less the server's and wrk's), so
//! that a noisy neighbour shows in the figures. The table holds the
//! medians of the rounds and the ratios reference/Node, reference/hyper
//! and reference/Bun from the same run.
//!
//! Then, for each server: memory per idle keep-alive connection (N
//! connections opened, one request answered on each, all held open; the
//! server's RSS delta divided by N).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::Parser;
use nodehttp_bench::process::{
    children_cpu, clk_tck, machine, proc_cpu, raise_fd_limit, status_kib, version, Server,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Load benchmark of the reference against Node, Bun and hyper.
#[derive(Debug, Parser)]
#[command(name = "bench-load")]
struct Args {
    /// The reference's `hello` example binary.
    #[arg(long, default_value = "target/release/examples/hello")]
    reference: PathBuf,
    /// The hyper hello binary.
    #[arg(long, default_value = "target/release/hyper-hello")]
    hyper: PathBuf,
    /// Node 23.5.0 (empty: skip).
    #[arg(long, default_value = ".runtimes/node-23.5.0/node_modules/.bin/node")]
    node: String,
    /// Bun (empty: skip).
    #[arg(long, default_value = ".runtimes/bun-1.4.5/node_modules/.bin/bun")]
    bun: String,
    /// The node:http hello server, run by Node and Bun.
    #[arg(long, default_value = "bench/hello.mjs")]
    script: PathBuf,
    /// wrk.
    #[arg(long, default_value = "wrk")]
    wrk: String,
    /// Rounds (the table holds the medians).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds of each measured wrk run.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Seconds of the warm-up run before each measured run (JITs).
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// wrk connections.
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// Pipelining depth.
    #[arg(long, default_value_t = 16)]
    depth: usize,
    /// Idle keep-alive connections for the memory figure (0: skip).
    #[arg(long, default_value_t = 5000)]
    idle: usize,
    /// Another build of the `hello` example (e.g. from an earlier commit),
    /// measured as `baseline` in the same rounds, for before/after figures.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Only these servers (reference, baseline, node, bun, hyper); repeatable.
    #[arg(long)]
    only: Vec<String>,
    /// Only these scenarios (keep-alive, close, pipelined); repeatable.
    #[arg(long)]
    scenario: Vec<String>,
    /// Also write the report (Markdown) to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    KeepAlive,
    Close,
    Pipelined,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::KeepAlive => "keep-alive",
            Scenario::Close => "Connection: close",
            Scenario::Pipelined => "pipelined",
        }
    }
    fn key(self) -> &'static str {
        match self {
            Scenario::KeepAlive => "keep-alive",
            Scenario::Close => "close",
            Scenario::Pipelined => "pipelined",
        }
    }
}

#[derive(Debug, Clone)]
struct Target {
    name: &'static str,
    program: String,
    args: Vec<String>,
}

/// One measured run.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    peak_rss_kib: f64,
    cpu_us_per_req: f64,
    /// CPU the rest of the machine used during the run, in cores.
    others_cores: f64,
    errors: u64,
}

/// Busy time of the whole machine (all cores), in seconds.
fn machine_busy() -> f64 {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = s.lines().next().unwrap_or("");
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    // (guest time is counted in user already).
    let busy: f64 = v
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, x)| x)
        .sum();
    busy / clk_tck()
}

const REPORT_LUA: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"#;

fn pipeline_lua(depth: usize) -> String {
    format!(
        r#"
init = function(args)
  local r = {{}}
  for i = 1, {depth} do r[i] = wrk.format(nil) end
  req = table.concat(r)
end
request = function() return req end
{REPORT_LUA}"#
    )
}

struct Wrk {
    program: String,
    dir: PathBuf,
    connections: usize,
}

struct WrkResult {
    requests: f64,
    seconds: f64,
    p50_us: f64,
    p99_us: f64,
    errors: u64,
}

impl Wrk {
    fn script(&self, s: Scenario) -> PathBuf {
        self.dir.join(match s {
            Scenario::Pipelined => "pipeline.lua",
            _ => "report.lua",
        })
    }

    fn run(&self, s: Scenario, port: u16, seconds: u64) -> Result<WrkResult, String> {
        let mut cmd = Command::new(&self.program);
        cmd.args(["-t1", "-c"])
            .arg(self.connections.to_string())
            .arg("-d")
            .arg(format!("{seconds}s"))
            .arg("-s")
            .arg(self.script(s));
        if s == Scenario::Close {
            cmd.args(["-H", "Connection: close"]);
        }
        cmd.arg(format!("http://127.0.0.1:{port}/"));
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.program))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("BENCH "))
            .ok_or_else(|| format!("wrk printed no summary:\n{text}"))?;
        let field = |k: &str| -> f64 {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        Ok(WrkResult {
            requests: field("requests"),
            seconds: field("duration_us") / 1e6,
            p50_us: field("p50_us"),
            p99_us: field("p99_us"),
            errors: field("errors") as u64,
        })
    }
}

fn measure(t: &Target, s: Scenario, wrk: &Wrk, args: &Args) -> Result<Run, String> {
    let server = Server::start(t.name, &t.program, &t.args, None, Stdio::inherit())?;
    if args.warmup > 0 {
        wrk.run(s, server.port, args.warmup)?;
    }
    // Let the TIME_WAIT and the warm-up settle a little.
    std::thread::sleep(Duration::from_millis(200));
    let cpu0 = proc_cpu(server.pid());
    let kids0 = children_cpu();
    let busy0 = machine_busy();
    let r = wrk.run(s, server.port, args.duration)?;
    let cpu1 = proc_cpu(server.pid());
    let kids1 = children_cpu();
    let busy1 = machine_busy();
    let peak = status_kib(server.pid(), "VmHWM:");
    drop(server);
    let server_cpu = cpu1 - cpu0;
    let wrk_cpu = kids1 - kids0;
    let others = ((busy1 - busy0) - server_cpu - wrk_cpu).max(0.0) / r.seconds.max(1e-9);
    Ok(Run {
        rps: r.requests / r.seconds.max(1e-9),
        p50_us: r.p50_us,
        p99_us: r.p99_us,
        peak_rss_kib: peak,
        cpu_us_per_req: server_cpu * 1e6 / r.requests.max(1.0),
        others_cores: others,
        errors: r.errors,
    })
}

/// Open `n` keep-alive connections, one request answered on each, and hold
/// them; returns the server's RSS before and after, in KiB.
fn idle_memory(t: &Target, n: usize) -> Result<(f64, f64), String> {
    let server = Server::start(t.name, &t.program, &t.args, None, Stdio::inherit())?;
    let port = server.port;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    // One connection first, so that lazily initialised state (buffers,
    // JIT of the handler) is in the baseline.
    let first = rt.block_on(open_one(port))?;
    drop(first);
    std::thread::sleep(Duration::from_millis(300));
    let before = status_kib(server.pid(), "VmRSS:");
    let conns = rt.block_on(async {
        let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(100));
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            let permit = sem.clone().acquire_owned().await.expect("open semaphore");
            tasks.push(tokio::spawn(async move {
                let r = open_one(port).await;
                drop(permit);
                r
            }));
        }
        let mut conns = Vec::with_capacity(n);
        for t in tasks {
            conns.push(t.await.map_err(|e| e.to_string())??);
        }
        Ok::<_, String>(conns)
    })?;
    // The servers close idle keep-alive sockets after 5 s (Node's
    // keepAliveTimeout + 1 s): measure well before.
    std::thread::sleep(Duration::from_millis(300));
    let after = status_kib(server.pid(), "VmRSS:");
    drop(conns);
    drop(rt);
    drop(server);
    Ok((before, after))
}

async fn open_one(port: u16) -> Result<tokio::net::TcpStream, String> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    // The response ends with the 11-byte body after the head.
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .map_err(|_| "idle: response timed out".to_string())?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("idle: connection closed".into());
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(h) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            if got.len() >= h + 4 + 11 {
                return Ok(s);
            }
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("bench-load: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    raise_fd_limit();
    let mut targets = vec![Target {
        name: "reference",
        program: args.reference.display().to_string(),
        args: vec![],
    }];
    if let Some(b) = &args.baseline {
        targets.push(Target {
            name: "baseline",
            program: b.display().to_string(),
            args: vec![],
        });
    }
    if !args.node.is_empty() {
        targets.push(Target {
            name: "node",
            program: args.node.clone(),
            args: vec![args.script.display().to_string()],
        });
    }
    if !args.bun.is_empty() {
        targets.push(Target {
            name: "bun",
            program: args.bun.clone(),
            args: vec![args.script.display().to_string()],
        });
    }
    targets.push(Target {
        name: "hyper",
        program: args.hyper.display().to_string(),
        args: vec![],
    });
    if !args.only.is_empty() {
        targets.retain(|t| args.only.iter().any(|o| o == t.name));
    }
    let mut scenarios = vec![Scenario::KeepAlive, Scenario::Close, Scenario::Pipelined];
    if !args.scenario.is_empty() {
        scenarios.retain(|s| args.scenario.iter().any(|o| o == s.key()));
    }

    let dir = std::env::temp_dir().join(format!("nodehttp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("report.lua"), REPORT_LUA).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("pipeline.lua"), pipeline_lua(args.depth))
        .map_err(|e| e.to_string())?;
    let wrk = Wrk {
        program: args.wrk.clone(),
        dir: dir.clone(),
        connections: args.connections,
    };

    let mut header = String::new();
    let _ = writeln!(header, "machine: {}", machine());
    for t in &targets {
        let v = match t.name {
            "node" | "bun" => version(&t.program, "--version"),
            _ => "built from this workspace".into(),
        };
        let _ = writeln!(header, "{}: {} ({v})", t.name, t.program);
    }
    let _ = writeln!(header, "load generator: {}", version(&args.wrk, "-v"));
    let _ = writeln!(
        header,
        "wrk -t1 -c{} -d{}s (after a {}s warm-up on a fresh server process), {} interleaved rounds, medians; pipelined depth {}",
        args.connections, args.duration, args.warmup, args.rounds, args.depth
    );
    eprint!("{header}");

    let mut runs: BTreeMap<(Scenario, &str), Vec<Run>> = BTreeMap::new();
    for round in 0..args.rounds {
        for &s in &scenarios {
            let n = targets.len();
            for k in 0..n {
                let t = &targets[(k + round) % n];
                let r = measure(t, s, &wrk, args)?;
                eprintln!(
                    "round {} {:<18} {:<9} {:>9.0} req/s  p50 {:>6.0} µs  p99 {:>6.0} µs  {:>6.2} µs CPU/req  peak {:>7.0} KiB  others {:.2} cores{}",
                    round + 1,
                    s.name(),
                    t.name,
                    r.rps,
                    r.p50_us,
                    r.p99_us,
                    r.cpu_us_per_req,
                    r.peak_rss_kib,
                    r.others_cores,
                    if r.errors > 0 {
                        format!("  ({} wrk errors)", r.errors)
                    } else {
                        String::new()
                    }
                );
                runs.entry((s, t.name)).or_default().push(r);
            }
        }
    }
    let med = |s: Scenario, name: &str, f: fn(&Run) -> f64| -> f64 {
        median(
            runs.get(&(s, name))
                .map(|v| v.iter().map(f).collect())
                .unwrap_or_default(),
        )
    };

    let mut out = String::new();
    let _ = writeln!(out, "```");
    out.push_str(&header);
    let _ = writeln!(out, "```");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| scenario | server | requests/s | p50 | p99 | peak RSS | server CPU/request | others' CPU |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|");
    for &s in &scenarios {
        for t in &targets {
            // wrk's Lua summary gives a p99 of 0 for some runs (seen with
            // Node under pipelining): print n/a rather than a false 0.
            let p99 = med(s, t.name, |r| r.p99_us);
            let p99 = if p99 > 0.0 {
                format!("{p99:.0} µs")
            } else {
                "n/a".to_string()
            };
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.0} µs | {} | {:.1} MiB | {:.2} µs | {:.2} cores |",
                s.name(),
                t.name,
                med(s, t.name, |r| r.rps),
                med(s, t.name, |r| r.p50_us),
                p99,
                med(s, t.name, |r| r.peak_rss_kib) / 1024.0,
                med(s, t.name, |r| r.cpu_us_per_req),
                med(s, t.name, |r| r.others_cores),
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Ratios of the medians (requests/s: higher is better for the reference; CPU/request: lower is better):"
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| scenario | ratio | requests/s | server CPU/request |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|");
    let has = |n: &str| targets.iter().any(|t| t.name == n);
    for &s in &scenarios {
        for peer in ["node", "hyper", "bun", "baseline"] {
            if !has("reference") || !has(peer) {
                continue;
            }
            let _ = writeln!(
                out,
                "| {} | reference/{} | {:.2}× | {:.2}× |",
                s.name(),
                peer,
                med(s, "reference", |r| r.rps) / med(s, peer, |r| r.rps),
                med(s, "reference", |r| r.cpu_us_per_req) / med(s, peer, |r| r.cpu_us_per_req),
            );
        }
    }

    if args.idle > 0 {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "Memory per idle keep-alive connection ({} connections, one request answered on each, held open):",
            args.idle
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| server | RSS before | RSS with the connections | per connection |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|");
        for t in &targets {
            let (before, after) = idle_memory(t, args.idle)?;
            let per = (after - before) / args.idle as f64;
            eprintln!(
                "idle {:<9} {before:.0} KiB -> {after:.0} KiB: {per:.2} KiB/connection",
                t.name
            );
            let _ = writeln!(
                out,
                "| {} | {:.1} MiB | {:.1} MiB | {:.2} KiB |",
                t.name,
                before / 1024.0,
                after / 1024.0,
                per
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);

    print!("{out}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    if let Some(path) = &args.out {
        std::fs::write(path, &out).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
