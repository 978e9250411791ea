//! The `hello` example's handler, in a file of its own so that
//! `bench-allocs` (in `bench/`) measures this very handler.

use nodehttp::server::{Handler, IncomingMessage, ServerResponse};

/// `res.setHeader('content-type', 'text/plain'); res.end('hello world')`.
pub struct Hello;

impl Handler for Hello {
    async fn request(&self, req: IncomingMessage, res: ServerResponse) {
        drop(req);
        // Neither call can fail on a fresh response: the name and value are
        // valid and nothing was sent yet. If the connection is gone they do
        // nothing.
        let _ = res.set_header("content-type", "text/plain");
        let _ = res.end(Some(b"hello world"));
    }
}
