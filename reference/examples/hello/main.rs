//! The smallest server: `hello world` to every request, as fast as the crate
//! goes (for benchmarks).
//!
//! ```sh
//! cargo run --release -p nodehttp --example hello -- --port 8080
//! wrk -c 64 -d 10 http://127.0.0.1:8080/
//! ```
//!
//! Prints `LISTENING <port>` once it listens on 127.0.0.1 (`--port 0`, the
//! default, picks a free port); exits with status 0 on SIGTERM or Ctrl-C.
//! The `node:http` equivalent:
//!
//! ```js
//! http.createServer((req, res) => {
//!   res.setHeader('content-type', 'text/plain');
//!   res.end('hello world');
//! }).listen(port, '127.0.0.1');
//! ```
//!
//! As in Node, a request body nobody reads is discarded (here: dropping the
//! `IncomingMessage`, Node's `req._dump()`), so the connection moves on to
//! the next request.

use std::io::Write as _;

use clap::Parser;
use nodehttp::server::{Server, ServerOptions};

/// `node:http` hello-world server.
#[derive(Debug, Parser)]
#[command(name = "hello", version)]
struct Args {
    /// Port to listen on, on 127.0.0.1; 0 picks a free one. The bound port
    /// is printed as `LISTENING <port>`.
    #[arg(long, default_value_t = 0)]
    port: u16,
}

mod handler;
use handler::Hello;

/// Resolves on SIGTERM or SIGINT (Ctrl-C). The handlers are installed when
/// this is called, before the server says it listens.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let server = Server::new(ServerOptions::default(), Hello).map_err(std::io::Error::other)?;
    let stop = shutdown_signal()?;
    let addr = server.listen(("127.0.0.1", args.port)).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "LISTENING {}", addr.port())?;
    out.flush()?;
    drop(out);
    stop.await;
    server.close();
    server.close_all_connections();
    Ok(())
}
