//! The hyper 1.x peer of the reference's `hello` example, for
//! `bench-load`: `200`, `content-type: text/plain`, `hello world`, with the
//! same tokio configuration (the multi-thread runtime, one worker per
//! core) and hyper's default HTTP/1 settings.
//!
//! Prints `LISTENING <port>` once it listens on 127.0.0.1.

use std::io::Write as _;

use clap::Parser;
use tokio::net::TcpListener;

/// hyper hello-world server.
#[derive(Debug, Parser)]
struct Args {
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(("127.0.0.1", args.port)).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "LISTENING {}", listener.local_addr()?.port())?;
    out.flush()?;
    drop(out);
    nodehttp_bench::hyper_hello(listener).await;
    Ok(())
}
