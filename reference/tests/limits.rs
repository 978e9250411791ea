//! Operating limits that need real processes: the echo example and Node
//! running `bench/echo.mjs` (the same server in `node:http`), side by
//! side, each held to what Node does.
//!
//! - The listen backlog is Node's 511: with the server stopped (SIGSTOP),
//!   the kernel completes as many handshakes as the backlog allows and
//!   drops the SYNs after them.
//! - At the process's descriptor limit, a new connection is accepted and
//!   closed at once (libuv's EMFILE trick): its client fails fast instead
//!   of waiting in the kernel's queue, and the server does not spin; once
//!   descriptors are free again, requests are served.
//!
//! Node comes from `.runtimes/node-23.5.0` when installed
//! (`scripts/runtime.sh node 23.5.0`), else `node` on the PATH; without
//! either, only the reference is checked.
#![cfg(target_os = "linux")]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server process listening on 127.0.0.1.
struct Server {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// Start `cmd` with `RLIMIT_NOFILE` at `nofile` (when given) and wait
    /// for its `LISTENING <port>` line.
    fn start(name: &'static str, mut cmd: Command, nofile: Option<u64>) -> Server {
        if let Some(n) = nofile {
            // SAFETY: setrlimit is async-signal-safe; nothing else runs
            // between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .strip_prefix("LISTENING ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} printed {line:?}"));
        Server {
            name,
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: a plain kill(2) on our own child.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as libc::pid_t, sig) },
            0
        );
    }

    /// CPU time (user + system) used so far, in seconds.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<f64> = stat[stat.rfind(')').unwrap() + 2..]
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0.0))
            .collect();
        // utime and stime, fields 14 and 15 of proc(5) (11 and 12 here).
        // SAFETY: sysconf has no preconditions.
        let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        (fields[11] + fields[12]) / tck
    }

    /// The process's state letter in /proc (`T` once stopped).
    fn state(&self) -> char {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        after.chars().next().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The echo example, built by `cargo test` next to this test's binary.
fn reference(nofile: Option<u64>) -> Server {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let echo = profile_dir.join("examples/echo");
    if !echo.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "nodehttp", "--example", "echo"])
            .current_dir(root())
            .status()
            .unwrap();
        assert!(status.success());
    }
    Server::start("reference", Command::new(echo), nofile)
}

/// Node running bench/echo.mjs, if there is a Node.
fn node(nofile: Option<u64>) -> Option<Server> {
    let pinned = root().join(".runtimes/node-23.5.0/node_modules/.bin/node");
    let bin = if pinned.exists() {
        pinned
    } else {
        PathBuf::from("node")
    };
    if Command::new(&bin).arg("--version").output().is_err() {
        eprintln!("no Node: the reference alone is checked");
        return None;
    }
    let mut cmd = Command::new(bin);
    cmd.arg(root().join("bench/echo.mjs"));
    Some(Server::start("node", cmd, nofile))
}

fn servers(nofile: Option<u64>) -> Vec<Server> {
    let mut v = vec![reference(nofile)];
    v.extend(node(nofile));
    v
}

// ---------------------------------------------------------------- backlog

/// How many connections complete their handshake while `server` accepts
/// none: connect one after the other until one is not established within
/// `wait` (its SYN was dropped: the accept queue is full).
fn queued_while_stopped(server: &Server, most: usize, wait: Duration) -> usize {
    server.signal(libc::SIGSTOP);
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.state() != 'T' {
        assert!(Instant::now() < deadline, "{} did not stop", server.name);
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut held = Vec::new();
    while held.len() < most {
        match TcpStream::connect_timeout(&server.addr, wait) {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    server.signal(libc::SIGCONT);
    held.len()
}

/// The kernel's cap on any backlog.
fn somaxconn() -> usize {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096)
}

#[test]
fn the_listen_backlog_is_nodes_511() {
    // Linux queues backlog + 1 connections.
    let want = 511.min(somaxconn()) + 1;
    for server in servers(None) {
        let queued = queued_while_stopped(&server, want + 64, Duration::from_millis(100));
        assert_eq!(
            queued, want,
            "{}: {queued} connections queued while it accepted none",
            server.name
        );
    }
}

// ---------------------------------------------------------------- fd limit

/// What became of a connection.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// A response came.
    Served,
    /// The server closed it (EOF or reset) without answering.
    Closed(Duration),
    /// Nothing within the wait: the client hangs.
    Hung,
}

/// Connect, send a request, read the start of the answer; the
/// connection too when it was served (kept alive).
fn try_request(addr: SocketAddr, wait: Duration) -> (Outcome, Option<TcpStream>) {
    let start = Instant::now();
    let Ok(mut s) = TcpStream::connect_timeout(&addr, wait) else {
        return (Outcome::Hung, None);
    };
    s.set_read_timeout(Some(wait)).unwrap();
    if s.write_all(b"GET /status/200 HTTP/1.1\r\nHost: a\r\n\r\n")
        .is_err()
    {
        return (Outcome::Closed(start.elapsed()), None);
    }
    let mut buf = [0u8; 512];
    match s.read(&mut buf) {
        Ok(n) if n > 0 && buf[..n].starts_with(b"HTTP/1.1 200") => (Outcome::Served, Some(s)),
        Ok(_) => (Outcome::Closed(start.elapsed()), None),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            (Outcome::Hung, None)
        }
        Err(_) => (Outcome::Closed(start.elapsed()), None),
    }
}

#[test]
fn at_the_fd_limit_connections_are_closed_at_once_and_service_recovers() {
    const LIMIT: u64 = 64;
    let wait = Duration::from_millis(300);
    for server in servers(Some(LIMIT)) {
        let name = server.name;
        // Fill the table with served keep-alive connections, until one is
        // not served.
        let mut held = Vec::new();
        let refused = loop {
            assert!(held.len() < LIMIT as usize + 8, "{name}: no limit reached");
            match try_request(server.addr, wait) {
                (Outcome::Served, Some(s)) => held.push(s),
                (other, _) => break other,
            }
        };
        match refused {
            Outcome::Closed(after) => assert!(
                after < Duration::from_millis(200),
                "{name}: closed after {after:?}"
            ),
            other => panic!(
                "{name}: at {} connections a new one {other:?} instead of being closed",
                held.len()
            ),
        }
        // No busy loop at the limit: accept(2) fails with EMFILE even
        // with nothing queued, so a listener left readable would spin.
        let cpu = server.cpu_seconds();
        std::thread::sleep(Duration::from_millis(300));
        let busy = server.cpu_seconds() - cpu;
        assert!(
            busy < 0.1,
            "{name}: {busy:.2} s of CPU in 300 ms at the limit"
        );
        // Still refused, not queued, while the table is full.
        assert!(
            matches!(try_request(server.addr, wait).0, Outcome::Closed(_)),
            "{name}: a second connection at the limit"
        );
        // Free half of the descriptors: new connections are served.
        held.truncate(held.len() / 2);
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match try_request(server.addr, wait).0 {
                Outcome::Served => break,
                other => assert!(
                    Instant::now() < deadline,
                    "{name}: not served after descriptors were freed: {other:?}"
                ),
            }
        }
    }
}
