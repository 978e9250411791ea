//! What the benchmark binaries share: the hyper hello server, which
//! `hyper-hello` runs as a process (for `bench-load` and `bench-client`) and
//! `bench-allocs` runs in-process (to count its allocations beside the
//! reference's); and server processes with what /proc says about them
//! ([`process`]).

pub mod process;

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut res = Response::new(Full::new(Bytes::from_static(b"hello world")));
    res.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    Ok(res)
}

/// Serve the hyper hello on `listener` until the task is dropped: `200`,
/// `content-type: text/plain`, `hello world`, hyper's default HTTP/1
/// settings, `TCP_NODELAY` as the reference's default.
pub async fn hyper_hello(listener: TcpListener) {
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
