//! An adapter process: spawn, speak the protocol, collect its stderr.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::fixture::Version;
use crate::protocol::{FromAdapter, ToAdapter, PROTOCOL_VERSION};

/// How long an adapter may take to say `ready`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How much of an adapter's stderr is kept (the tail).
const STDERR_KEEP: usize = 16 * 1024;

/// What a running adapter said about itself in `ready`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AdapterInfo {
    /// The adapter's free name for the implementation.
    pub implementation: String,
    /// The Node version it claims, as sent.
    pub version: String,
}

impl AdapterInfo {
    /// The claimed version, parsed.
    pub fn node_version(&self) -> Option<Version> {
        Version::parse(&self.version)
    }
}

/// Something the adapter's stdout produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A well-formed message.
    Message(FromAdapter),
    /// A line that is not a valid message.
    Garbage(String),
    /// stdout closed: the adapter exited.
    Exited,
}

/// Where runner messages go.
enum Sink {
    /// An adapter process's stdin.
    Pipe(ChildStdin),
    /// The embedded adapter running in this process.
    #[cfg(feature = "reference")]
    InProcess(mpsc::UnboundedSender<String>),
}

/// A running adapter.
pub struct Adapter {
    child: Option<Child>,
    stdin: Sink,
    rx: mpsc::UnboundedReceiver<Incoming>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// What it said in `ready`.
    pub info: AdapterInfo,
}

impl Adapter {
    /// Starts `cmd` through `sh -c` and waits for `ready`.
    pub async fn spawn(cmd: &str) -> Result<Adapter, String> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start adapter `{cmd}`: {e}"))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let mut stderr_pipe = child.stderr.take().expect("piped");
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.trim().is_empty() {
                    continue;
                }
                let item = match FromAdapter::decode(&line) {
                    Ok(m) => Incoming::Message(m),
                    Err(e) => Incoming::Garbage(e),
                };
                if tx.send(item).is_err() {
                    return;
                }
            }
            let _ = tx.send(Incoming::Exited);
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
                s.extend_from_slice(&buf[..n]);
                if s.len() > 2 * STDERR_KEEP {
                    let cut = s.len() - STDERR_KEEP;
                    s.drain(..cut);
                }
            }
        });
        let adapter = Adapter {
            child: Some(child),
            stdin: Sink::Pipe(stdin),
            rx,
            stderr,
            info: AdapterInfo {
                implementation: String::new(),
                version: String::new(),
            },
        };
        adapter.handshake(cmd).await
    }

    /// Runs the embedded adapter (the reference, crate `nodehttp-adapter`)
    /// inside this process, on the current tokio runtime: no process, no
    /// pipes. Tests use it under tokio's paused time.
    #[cfg(feature = "reference")]
    pub async fn in_process() -> Result<Adapter, String> {
        let (to_tx, to_rx) = mpsc::unbounded_channel::<String>();
        let (from_tx, mut from_rx) = mpsc::unbounded_channel::<String>();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(nodehttp_adapter::serve_in_process(to_rx, from_tx));
        tokio::spawn(async move {
            while let Some(line) = from_rx.recv().await {
                let item = match FromAdapter::decode(&line) {
                    Ok(m) => Incoming::Message(m),
                    Err(e) => Incoming::Garbage(e),
                };
                if tx.send(item).is_err() {
                    return;
                }
            }
            let _ = tx.send(Incoming::Exited);
        });
        let adapter = Adapter {
            child: None,
            stdin: Sink::InProcess(to_tx),
            rx,
            stderr: Arc::new(Mutex::new(Vec::new())),
            info: AdapterInfo {
                implementation: String::new(),
                version: String::new(),
            },
        };
        adapter.handshake("(embedded, in process)").await
    }

    /// Waits for `ready` and checks the protocol version.
    async fn handshake(mut self, cmd: &str) -> Result<Adapter, String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        match self.recv(deadline).await {
            Some(Incoming::Message(FromAdapter::Ready {
                protocol,
                implementation,
                version,
            })) => {
                if protocol != PROTOCOL_VERSION {
                    return Err(format!(
                        "adapter `{cmd}` speaks protocol {protocol}; this runner speaks {PROTOCOL_VERSION} (conformance/PROTOCOL.md, \"Changes from version 1\", says what to change)"
                    ));
                }
                self.info = AdapterInfo {
                    implementation,
                    version,
                };
                Ok(self)
            }
            other => {
                let said = match other {
                    None => format!("nothing within {} s", READY_TIMEOUT.as_secs()),
                    Some(Incoming::Exited) => "nothing: it exited".into(),
                    Some(Incoming::Garbage(g)) => g,
                    Some(Incoming::Message(m)) => format!("{m:?}"),
                };
                let stderr = self.take_stderr();
                Err(format!(
                    "adapter `{cmd}` did not start: expected a `ready` message, got {said}{}",
                    if stderr.is_empty() {
                        String::new()
                    } else {
                        format!("\nits stderr:\n{stderr}")
                    }
                ))
            }
        }
    }

    /// Sends one message.
    pub async fn send(&mut self, msg: &ToAdapter) -> Result<(), String> {
        match &mut self.stdin {
            Sink::Pipe(stdin) => {
                stdin
                    .write_all(msg.encode().as_bytes())
                    .await
                    .map_err(|e| format!("cannot write to the adapter: {e}"))?;
                stdin
                    .flush()
                    .await
                    .map_err(|e| format!("cannot write to the adapter: {e}"))
            }
            #[cfg(feature = "reference")]
            Sink::InProcess(tx) => tx
                .send(msg.encode().trim_end().to_owned())
                .map_err(|_| "the embedded adapter stopped".to_owned()),
        }
    }

    /// The next item, or `None` at the deadline.
    pub async fn recv(&mut self, deadline: Instant) -> Option<Incoming> {
        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Ok(Some(item)) => Some(item),
            Ok(None) => Some(Incoming::Exited),
            Err(_) => None,
        }
    }

    /// An item already received, without waiting.
    pub fn try_recv(&mut self) -> Option<Incoming> {
        match self.rx.try_recv() {
            Ok(item) => Some(item),
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => Some(Incoming::Exited),
        }
    }

    /// What the adapter wrote on stderr since the last call.
    pub fn take_stderr(&self) -> String {
        let mut s = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        let text = String::from_utf8_lossy(&s).into_owned();
        s.clear();
        text
    }

    /// Ends the process.
    pub async fn kill(mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill().await;
        }
    }
}
