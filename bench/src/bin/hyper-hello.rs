//! The hyper 1.x peer of the reference's `hello` example, for
//! `bench-load`: `200`, `content-type: text/plain`, `hello world`, with the
//! same tokio configuration (the multi-thread runtime, one worker per
//! core) and hyper's default HTTP/1 settings.
//!
//! Prints `LISTENING <port>` once it listens on 127.0.0.1.

use std::convert::Infallible;
use std::io::Write as _;

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// hyper hello-world server.
#[derive(Debug, Parser)]
struct Args {
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
}

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut res = Response::new(Full::new(Bytes::from_static(b"hello world")));
    res.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    Ok(res)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(("127.0.0.1", args.port)).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "LISTENING {}", listener.local_addr()?.port())?;
    out.flush()?;
    drop(out);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        // As Node's noDelay default (and the reference's).
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(hello))
                .await;
        });
    }
}
