//! Client benchmark: the reference client (`nodehttp::client`) with a
//! keep-alive agent against Node's `http` client doing the same, both
//! against the same server (the hyper hello, which is the fastest here, so
//! that the server is not what bounds either client).
//!
//! Each round (at least 3; the order of the two clients alternates) sends
//! `--requests` GETs, `--concurrency` at a time, through one keep-alive
//! agent with `maxSockets` = concurrency, reading every body. Printed per
//! client: the medians of requests/s and of the client's CPU time per
//! request (user + system of the client process over the run), and the
//! ratio reference/Node of both from the same run.
//!
//! ```sh
//! just bench-client                 # builds, installs Node 23.5.0 if needed
//! ```

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use nodehttp::client::{self, Agent, AgentOptions, ClientEvent, RequestOptions};

/// The flags.
#[derive(Debug, Parser)]
struct Args {
    /// The Node binary for the Node client.
    #[arg(long, default_value = "node")]
    node: String,
    /// The hyper hello binary (the server both clients talk to).
    #[arg(long, default_value = "target/release/hyper-hello")]
    server: String,
    /// Requests per client per round.
    #[arg(long, default_value_t = 50_000)]
    requests: usize,
    /// Requests in flight at once (and the agent's maxSockets).
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// Rounds (medians are reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// One client's measure.
#[derive(Debug, Clone, Copy)]
struct Measure {
    rps: f64,
    cpu_us_per_request: f64,
}

fn start_server(path: &str) -> Result<(Child, u16), String> {
    let mut child = Command::new(path)
        .arg("--port")
        .arg("0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!("cannot start {path}: {e} (run `just bench-client`, which builds it)")
        })?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| format!("{path}: {e}"))?;
    let port = line
        .strip_prefix("LISTENING ")
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| format!("{path} printed {line:?}, not LISTENING <port>"))?;
    Ok((child, port))
}

/// CPU time (user + system) of this process so far, in seconds.
fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we pass; RUSAGE_SELF is valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

async fn reference_round(
    port: u16,
    requests: usize,
    concurrency: usize,
) -> Result<Measure, String> {
    let agent = Agent::new(AgentOptions {
        keep_alive: true,
        max_sockets: Some(concurrency),
        ..AgentOptions::default()
    })
    .map_err(|e| e.to_string())?;
    let issued = Arc::new(AtomicUsize::new(0));
    let cpu0 = own_cpu_seconds();
    let t0 = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let agent = agent.clone();
        let issued = issued.clone();
        workers.push(tokio::spawn(async move {
            while issued.fetch_add(1, Ordering::Relaxed) < requests {
                let req = client::get(RequestOptions::new("127.0.0.1", port, "/").agent(&agent))
                    .map_err(|e| e.to_string())?;
                while let Some(event) = req.next_event().await {
                    match event {
                        ClientEvent::Response(res) => while res.read().await.is_some() {},
                        ClientEvent::Error(e) => return Err(e.to_string()),
                        _ => {}
                    }
                }
            }
            Ok::<(), String>(())
        }));
    }
    for w in workers {
        w.await.map_err(|e| e.to_string())??;
    }
    let seconds = t0.elapsed().as_secs_f64();
    let cpu = own_cpu_seconds() - cpu0;
    agent.destroy();
    Ok(Measure {
        rps: requests as f64 / seconds,
        cpu_us_per_request: cpu * 1e6 / requests as f64,
    })
}

fn node_round(
    node: &str,
    port: u16,
    requests: usize,
    concurrency: usize,
) -> Result<Measure, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/client.mjs");
    let out = Command::new(node)
        .args([
            script,
            &port.to_string(),
            &requests.to_string(),
            &concurrency.to_string(),
        ])
        .output()
        .map_err(|e| format!("cannot run {node}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the Node client failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> Option<f64> {
        let at = text.find(&format!("\"{name}\":"))? + name.len() + 3;
        text[at..].split([',', '}']).next()?.trim().parse().ok()
    };
    let (seconds, cpu) = field("seconds")
        .zip(field("cpu_seconds"))
        .ok_or_else(|| format!("the Node client printed {text:?}"))?;
    Ok(Measure {
        rps: requests as f64 / seconds,
        cpu_us_per_request: cpu * 1e6 / requests as f64,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args = Args::parse();
    if args.rounds == 0 || args.requests == 0 || args.concurrency == 0 {
        eprintln!("error: --rounds, --requests and --concurrency must be at least 1");
        std::process::exit(2);
    }
    let (mut server, port) = match start_server(&args.server) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let mut reference = Vec::new();
    let mut node = Vec::new();
    let mut failed = None;
    for round in 0..args.rounds {
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_reference in order {
            let m = if is_reference {
                reference_round(port, args.requests, args.concurrency).await
            } else {
                node_round(&args.node, port, args.requests, args.concurrency)
            };
            match m {
                Ok(m) => {
                    eprintln!(
                        "round {}: {:<9} {:>9.0} req/s {:>6.2} µs CPU/request",
                        round + 1,
                        if is_reference { "reference" } else { "node" },
                        m.rps,
                        m.cpu_us_per_request
                    );
                    if is_reference {
                        reference.push(m);
                    } else {
                        node.push(m);
                    }
                }
                Err(e) => failed = Some(e),
            }
        }
    }
    let _ = server.kill();
    if let Some(e) = failed {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    let rps = |v: &[Measure]| median(v.iter().map(|m| m.rps).collect());
    let cpu = |v: &[Measure]| median(v.iter().map(|m| m.cpu_us_per_request).collect());
    println!(
        "client (keep-alive agent, {} in flight, {} requests x {} rounds, against hyper hello)",
        args.concurrency, args.requests, args.rounds
    );
    println!("| client | requests/s | client CPU per request |");
    println!("|---|---|---|");
    println!(
        "| reference | {:.0} | {:.2} µs |",
        rps(&reference),
        cpu(&reference)
    );
    println!("| Node | {:.0} | {:.2} µs |", rps(&node), cpu(&node));
    println!(
        "ratio reference/Node: {:.2}x requests/s, {:.2}x CPU per request",
        rps(&reference) / rps(&node),
        cpu(&reference) / cpu(&node)
    );
}
