//! Node's defaults, in one place: every option and limit the docs (or
//! Node 23.5.0's sources, where the docs are silent or wrong) give a value
//! for. Both roles and the driver take them from here.

use std::time::Duration;

/// `http.maxHeaderSize` / the `maxHeaderSize` option: 16 KiB.
pub const MAX_HEADER_SIZE: usize = 16 * 1024;

/// `server.maxHeadersCount` / `request.maxHeadersCount` left `null`: Node's
/// parser then keeps its default of 2000 entries of the raw name/value
/// list, that is 1000 headers (the documented default of 2000 headers
/// applies only when the property is set to 2000).
pub const MAX_HEADERS_COUNT: usize = 1000;

/// The default `highWaterMark` of sockets and messages:
/// `stream.getDefaultHighWaterMark()`, 64 KiB since Node 22. `write()`
/// returns false once this much waits unsent.
pub const HIGH_WATER_MARK: usize = 64 * 1024;

/// `server.keepAliveTimeout`: 5 seconds.
pub const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_millis(5000);

/// Node adds this to `keepAliveTimeout` before it arms the socket timer
/// (`HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER` in lib/_http_server.js), so that
/// a client that honours `Keep-Alive: timeout=N` never races the close.
pub const KEEP_ALIVE_TIMEOUT_BUFFER: Duration = Duration::from_millis(1000);

/// `server.requestTimeout`: 300 seconds.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(300_000);

/// `server.headersTimeout`: the smaller of 60 seconds and `requestTimeout`.
pub const HEADERS_TIMEOUT: Duration = Duration::from_millis(60_000);

/// `connectionsCheckingInterval`: 30 seconds.
pub const CONNECTIONS_CHECKING_INTERVAL: Duration = Duration::from_millis(30_000);

/// `http.setMaxIdleHTTPParsers()`'s starting value: 1000.
pub const MAX_IDLE_HTTP_PARSERS: u64 = 1000;

/// `new Agent()`'s `keepAliveMsecs`: 1 second.
pub const AGENT_KEEP_ALIVE_MSECS: Duration = Duration::from_millis(1000);

/// `new Agent()`'s `maxFreeSockets`: 256.
pub const AGENT_MAX_FREE_SOCKETS: usize = 256;

/// `http.globalAgent`'s `timeout` (its free sockets' idle timeout, with
/// `keepAlive: true`, since Node 19): 5 seconds.
pub const GLOBAL_AGENT_TIMEOUT: Duration = Duration::from_millis(5000);
