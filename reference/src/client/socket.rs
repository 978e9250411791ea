//! One client socket as a tokio task: it connects, then serves the
//! requests its agent hands it one after the other, moving bytes between
//! the stream, the request's [`RequestState`](super::request::RequestState)
//! and a [`ClientConn`], and emitting the events Node's socket listeners
//! (`socketOnData`, `socketOnEnd`, `socketCloseListener`,
//! `socketErrorListener`, `responseOnEnd`, `responseKeepAlive`) emit, in
//! their order.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::time::Instant;

use super::agent::{lock, Agent, Free, Sock};
use super::conn::{ClientConn, ResponseEvent};
use super::{
    BoxStream, CallbackArg, ClientError, ClientEvent, ConnectFuture, CreateConnection,
    IncomingMessage, Information, Lookup, MessageEvent, ReqInner, UpgradedSocket,
};
use crate::headers::{HeaderMap, HeaderOptions};

impl Target {
    /// The host and port `createConnection` gets.
    pub(crate) fn host_port(&self) -> (String, u16) {
        match &self.kind {
            TargetKind::Tcp { host, port, .. } | TargetKind::Custom(_, host, port) => {
                (host.clone(), *port)
            }
            TargetKind::Unix(_) | TargetKind::Failed(_) => (String::new(), 0),
        }
    }
}

/// Where a socket connects.
#[derive(Clone)]
pub(crate) enum TargetKind {
    Tcp {
        host: String,
        port: u16,
        local: Option<IpAddr>,
        family: Option<u8>,
        lookup: Option<Lookup>,
    },
    Unix(PathBuf),
    Custom(CreateConnection, String, u16),
    /// `createConnection` failed: the request gets this error.
    Failed(ClientError),
}

/// A socket to open for a request: its pool name, where, and the socket
/// timeout it starts with.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) kind: TargetKind,
    pub(crate) timeout: Option<Duration>,
}

/// The local and remote addresses of a TCP connection.
type Ends = (SocketAddr, SocketAddr);

/// A connection being made.
type Connecting = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(BoxStream, Option<Ends>), ClientError>> + Send>,
>;

/// Start the task of a new socket whose first request is `first`.
pub(crate) fn spawn(sock: Arc<Sock>, agent: Option<Agent>, target: Target, first: Arc<ReqInner>) {
    {
        let mut st = lock(&first.st);
        st.socket_pending = true;
        if !matches!(target.kind, TargetKind::Failed(_)) {
            st.handed = Some((sock.clone(), false));
        }
    }
    let pre = prebind(&target.kind);
    if let Some((s, _)) = &pre {
        *lock(&sock.local) = s.local_addr().ok();
    }
    tokio::spawn(run(sock, agent, target, first, pre));
}

/// A TCP socket to an address given as an IP, bound (to `localAddress`
/// or any address, port 0) before it connects, as `connect()` binds it
/// in Node: `socket.localPort` is known while it is connecting.
fn prebind(kind: &TargetKind) -> Option<(tokio::net::TcpSocket, SocketAddr)> {
    let TargetKind::Tcp {
        host,
        port,
        local,
        family,
        lookup: None,
    } = kind
    else {
        return None;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = bare.parse().ok()?;
    match family {
        Some(4) if !ip.is_ipv4() => return None,
        Some(6) if !ip.is_ipv6() => return None,
        _ => {}
    }
    let socket = if ip.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .ok()?;
    let any: IpAddr = if ip.is_ipv4() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    socket.bind(SocketAddr::new(local.unwrap_or(any), 0)).ok()?;
    Some((socket, SocketAddr::new(ip, *port)))
}

async fn resolve(
    host: &str,
    port: u16,
    family: Option<u8>,
    lookup: &Option<Lookup>,
) -> Result<Vec<SocketAddr>, ClientError> {
    let not_found = || ClientError::coded("ENOTFOUND", &format!("getaddrinfo ENOTFOUND {host}"));
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let mut addrs: Vec<SocketAddr> = if let Ok(ip) = bare.parse::<IpAddr>() {
        vec![SocketAddr::new(ip, port)]
    } else if let Some(l) = lookup {
        l(host, family)
            .map_err(|_| not_found())?
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect()
    } else {
        tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| not_found())?
            .collect()
    };
    match family {
        Some(4) => addrs.retain(SocketAddr::is_ipv4),
        Some(6) => addrs.retain(SocketAddr::is_ipv6),
        _ => {}
    }
    if addrs.is_empty() {
        return Err(not_found());
    }
    Ok(addrs)
}

fn connect(kind: TargetKind, pre: Option<(tokio::net::TcpSocket, SocketAddr)>) -> Connecting {
    Box::pin(async move {
        if let Some((socket, addr)) = pre {
            return match socket.connect(addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    let ends = s.local_addr().ok().zip(s.peer_addr().ok());
                    Ok((Box::new(s) as BoxStream, ends))
                }
                Err(e) => Err(ClientError::io(&e, "connect", Some(&addr.to_string()))),
            };
        }
        match kind {
            TargetKind::Tcp {
                host,
                port,
                local,
                family,
                lookup,
            } => {
                let addrs = resolve(&host, port, family, &lookup).await?;
                let mut last = None;
                for addr in addrs {
                    let socket = if addr.is_ipv4() {
                        tokio::net::TcpSocket::new_v4()
                    } else {
                        tokio::net::TcpSocket::new_v6()
                    };
                    let attempt = async {
                        let socket = socket?;
                        if let Some(l) = local {
                            socket.bind(SocketAddr::new(l, 0))?;
                        }
                        socket.connect(addr).await
                    };
                    match attempt.await {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            let ends = s.local_addr().ok().zip(s.peer_addr().ok());
                            return Ok((Box::new(s) as BoxStream, ends));
                        }
                        Err(e) => {
                            last = Some(ClientError::io(&e, "connect", Some(&addr.to_string())))
                        }
                    }
                }
                Err(last.unwrap_or_else(ClientError::hang_up))
            }
            #[cfg(unix)]
            TargetKind::Unix(path) => match tokio::net::UnixStream::connect(&path).await {
                Ok(s) => Ok((Box::new(s) as BoxStream, None)),
                Err(e) => Err(ClientError::io(
                    &e,
                    "connect",
                    Some(&path.to_string_lossy()),
                )),
            },
            #[cfg(not(unix))]
            TargetKind::Unix(_) => Err(ClientError::other("Unix sockets are not supported here")),
            TargetKind::Failed(e) => Err(e),
            TargetKind::Custom(hook, host, port) => {
                let fut: ConnectFuture = hook(&host, port);
                fut.await
                    .map(|s| (s, None))
                    .map_err(|e| ClientError::io(&e, "connect", None))
            }
        }
    })
}

/// The socket timeout (`socket.setTimeout`): a deadline refreshed by
/// activity, fired once per idle period.
struct Timer {
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    /// Where `socket.timeout` is published.
    sock: Arc<Sock>,
}

impl Timer {
    fn set(&mut self, t: Option<Duration>) {
        if t.is_some() {
            *lock(&self.sock.timeout) = t;
        }
        self.timeout = t.filter(|d| !d.is_zero());
        self.touch();
    }
    fn touch(&mut self) {
        self.deadline = self.timeout.map(|t| Instant::now() + t);
    }
}

async fn sleep_until(d: Option<Instant>) {
    match d {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The stream, split so that reads and writes wait together.
struct Io {
    rd: Option<ReadHalf<BoxStream>>,
    wr: Option<WriteHalf<BoxStream>>,
    connecting: Option<Connecting>,
    /// Bytes read just as a request took the free socket, for its parser.
    leftover: Vec<u8>,
    eof: bool,
}

impl Io {
    fn open(&self) -> bool {
        self.rd.is_some()
    }
    fn close(&mut self) {
        self.rd = None;
        self.wr = None;
        self.connecting = None;
    }
}

enum Outcome {
    /// The response ended and the socket may serve another request; the
    /// response's `'close'` comes after the `'socket'` of a queued request
    /// that gets the socket.
    KeepAlive(Option<IncomingMessage>),
    /// The socket is closed.
    Closed,
    /// The socket is closed; the request's `'close'` is still due.
    ClosedLater,
    /// As `KeepAlive`, but the request's `'close'` is still due: it comes
    /// once the consumer read the response's end.
    KeepAliveAfterRead(IncomingMessage),
    /// The socket left for an upgrade or a CONNECT tunnel.
    Detached,
}

async fn run(
    sock: Arc<Sock>,
    agent: Option<Agent>,
    target: Target,
    first: Arc<ReqInner>,
    pre: Option<(tokio::net::TcpSocket, SocketAddr)>,
) {
    if let TargetKind::Failed(e) = &target.kind {
        // onSocketNT with the error of createConnection: no 'socket'.
        lock(&first.st).destroyed = true;
        first.emit(ClientEvent::Error(e.clone()));
        first.emit(ClientEvent::Close);
        flush_deferred(&first);
        sock.destroyed.store(true, Ordering::SeqCst);
        if let Some(a) = &agent {
            a.remove_socket(&sock);
        }
        return;
    }
    let mut io = Io {
        rd: None,
        wr: None,
        connecting: Some(connect(target.kind.clone(), pre)),
        leftover: Vec::new(),
        eof: false,
    };
    let agent_timeout = agent.as_ref().and_then(|a| a.options().timeout);
    let mut timer = Timer {
        timeout: None,
        deadline: None,
        sock: sock.clone(),
    };
    timer.set(target.timeout);
    let mut next = Some((first, false));
    let mut res_close: Option<IncomingMessage> = None;
    // The request the socket served last (`socket._httpMessage`).
    let mut prev: Option<Arc<ReqInner>> = None;
    let close_res = |r: &mut Option<IncomingMessage>| {
        if let Some(res) = r.take() {
            res.push(MessageEvent::Close);
        }
    };
    while let Some((req, reused)) = next.take() {
        // onSocketNT (unless the request's next tick already ran it)
        let (destroyed, ticked) = {
            let mut st = lock(&req.st);
            st.handed = None;
            let ticked = std::mem::take(&mut st.socket_ticked);
            st.socket_pending = !ticked;
            (st.destroyed, ticked)
        };
        if !ticked && (destroyed || sock.destroyed.load(Ordering::SeqCst)) {
            destroyed_before_socket(&req);
            close_res(&mut res_close);
            if let Some(a) = &agent {
                // socket.emit('free'): the agent decides on the request the
                // socket served last (`socket._httpMessage`), if any.
                let writable = !sock.destroyed.load(Ordering::SeqCst)
                    && (io.connecting.is_some() || (io.open() && !io.eof));
                let keep = prev
                    .as_ref()
                    .is_some_and(|p| lock(&p.st).out.should_keep_alive());
                let hint = prev.as_ref().and_then(keep_alive_hint);
                match a.free(&sock, keep, writable, hint.as_deref()) {
                    Free::Serve(r) => next = Some((r, false)),
                    Free::Pooled(timeout) => {
                        timer.set(Some(timeout));
                        next = idle(&mut io, &mut timer, &sock, a).await;
                    }
                    Free::Destroy => {}
                }
            }
            continue;
        }
        {
            let mut st = lock(&req.st);
            st.has_socket = true;
            st.reused = reused;
            st.sock = Some(sock.clone());
            st.out.attach_socket();
            if !ticked {
                st.parser_max_headers = st.max_headers_count;
            }
            // setRequestSocket: a request timeout other than the agent's.
            if st.timeout.is_some() && st.timeout != agent_timeout {
                timer.set(st.timeout);
            }
        }
        if !ticked {
            req.emit(ClientEvent::Socket { reused });
            flush_deferred(&req);
            apply_socket_calls(&req, &sock);
        }
        close_res(&mut res_close);
        let mut outcome = exchange(&mut io, &mut timer, &req, &sock).await;
        if let Outcome::KeepAliveAfterRead(res) = outcome {
            // responseOnEnd runs on the response's 'end'.
            wait_end_read(&req).await;
            lock(&req.st).destroyed = true;
            req.emit(ClientEvent::Close);
            outcome = Outcome::KeepAlive(Some(res));
        }
        match outcome {
            Outcome::KeepAlive(res) => {
                res_close = res;
                prev = Some(req.clone());
                if sock.removed.load(Ordering::SeqCst) {
                    // 'free' with nobody listening: the socket stays open,
                    // the agent's no more.
                    close_res(&mut res_close);
                    detached_idle(&mut io, &sock).await;
                    break;
                }
                let Some(a) = &agent else { break };
                let hint = keep_alive_hint(&req);
                match a.free(&sock, true, io.open() && !io.eof, hint.as_deref()) {
                    Free::Serve(r) => next = Some((r, false)),
                    Free::Pooled(timeout) => {
                        // keepSocketAlive: setKeepAlive(true,
                        // keepAliveMsecs), then the agent's timeout (or
                        // the server's hint) on free sockets.
                        sock.set_keep_alive(Some(true), Some(a.keep_alive_msecs()));
                        close_res(&mut res_close);
                        match sock.timeout_hook() {
                            Some(h) => {
                                if *lock(&sock.timeout) != Some(timeout) {
                                    h(timeout);
                                }
                            }
                            None => timer.set(Some(timeout)),
                        }
                        next = idle(&mut io, &mut timer, &sock, a).await;
                    }
                    Free::Destroy => {}
                }
            }
            Outcome::ClosedLater => {
                if lock(&req.st).read_by_consumer {
                    wait_end_read(&req).await;
                }
                next_turn().await;
                req.emit(ClientEvent::Close);
            }
            Outcome::KeepAliveAfterRead(_) => {}
            Outcome::Closed | Outcome::Detached => {}
        }
    }
    close_res(&mut res_close);
    io.close();
    sock.destroyed.store(true, Ordering::SeqCst);
    if let Some(a) = agent
        .as_ref()
        .filter(|_| !sock.removed.load(Ordering::SeqCst))
    {
        a.remove_socket(&sock);
    }
    // Requests handed over while the socket was closing: it is gone.
    while let Some((req, reused)) = sock.take_assigned() {
        let ticked = {
            let mut st = lock(&req.st);
            st.handed = None;
            st.has_socket = true;
            std::mem::take(&mut st.socket_ticked)
        };
        if !ticked {
            req.emit(ClientEvent::Socket { reused });
        }
        lock(&req.st).destroyed = true;
        req.emit(ClientEvent::Error(ClientError::hang_up()));
        req.emit(ClientEvent::Close);
    }
}

/// A socket opened by `agent.createConnection()` outside any request: it
/// connects, then stays open, read by nobody, until the server closes it
/// or it is destroyed. A failed connection just closes it.
pub(crate) fn spawn_bare(sock: Arc<Sock>, kind: TargetKind) {
    tokio::spawn(async move {
        let mut io = Io {
            rd: None,
            wr: None,
            connecting: None,
            leftover: Vec::new(),
            eof: false,
        };
        let connected = tokio::select! {
            c = connect(kind, None) => c.ok(),
            _ = async {
                while !sock.destroyed.load(Ordering::SeqCst) {
                    sock.wake.notified().await;
                }
            } => None,
        };
        if let Some((stream, ends)) = connected {
            record_ends(&sock, ends);
            let (r, w) = tokio::io::split(stream);
            io.rd = Some(r);
            io.wr = Some(w);
            detached_idle(&mut io, &sock).await;
        }
        io.close();
        sock.destroyed.store(true, Ordering::SeqCst);
    });
}

/// The socket calls a request deferred until it had its socket
/// (`_deferToConnect`), made now, after its `'socket'`.
pub(crate) fn apply_socket_calls(req: &Arc<ReqInner>, sock: &Sock) {
    let calls = std::mem::take(&mut lock(&req.st).socket_calls);
    for call in calls {
        call.apply(sock);
    }
}

/// The connection is made: `socket.connecting` is false, the addresses
/// are known.
fn record_ends(sock: &Sock, ends: Option<Ends>) {
    if let Some((local, peer)) = ends {
        *lock(&sock.local) = Some(local);
        *lock(&sock.peer) = Some(peer);
    }
    sock.connecting.store(false, Ordering::SeqCst);
}

/// The `Keep-Alive` header of the request's response (`keepSocketAlive`
/// reads `socket._httpMessage.res.headers['keep-alive']`).
fn keep_alive_hint(req: &Arc<ReqInner>) -> Option<String> {
    let st = lock(&req.st);
    let res = st.res.as_ref()?;
    match res.headers().get("keep-alive")? {
        crate::headers::HeaderValue::Single(v) => Some(v.clone()),
        crate::headers::HeaderValue::Multi(v) => v.first().cloned(),
    }
}

/// A socket its agent forgot (`'agentRemove'`): open, read by nobody,
/// until the server closes it or it is destroyed.
async fn detached_idle(io: &mut Io, sock: &Arc<Sock>) {
    let mut buf = vec![0u8; 4096];
    while !sock.destroyed.load(Ordering::SeqCst) && io.open() && !io.eof {
        let Some(rd) = io.rd.as_mut() else { return };
        tokio::select! {
            _ = sock.wake.notified() => {}
            r = rd.read(&mut buf) => {
                if matches!(r, Ok(0) | Err(_)) {
                    io.eof = true;
                }
            }
        }
    }
}

/// Until the consumer read the response's `'end'`, or the request is
/// destroyed.
async fn wait_end_read(req: &Arc<ReqInner>) {
    loop {
        let n = req.wake.notified();
        tokio::pin!(n);
        n.as_mut().enable();
        {
            let st = lock(&req.st);
            if st.user_destroyed || st.res.as_ref().is_none_or(IncomingMessage::end_read) {
                return;
            }
        }
        n.await;
    }
}

/// Let the tasks already woken run first (the consumers of the events
/// just emitted), without waiting for I/O as `yield_now` may.
async fn next_turn() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await;
}

/// `onSocketNT` for a request destroyed before it had its socket.
fn destroyed_before_socket(req: &Arc<ReqInner>) {
    let (err, aborted) = {
        let mut st = lock(&req.st);
        st.destroyed = true;
        (st.error.clone(), st.aborted)
    };
    match err {
        Some(e) => req.emit(ClientEvent::Error(e)),
        None if !aborted => req.emit(ClientEvent::Error(ClientError::hang_up())),
        None => {}
    }
    req.emit(ClientEvent::Close);
    flush_deferred(req);
}

/// Events of the request's own calls (`'abort'`, a write after end) that
/// Node emits on the next tick, after the `onSocketNT` already queued.
pub(crate) fn flush_deferred(req: &Arc<ReqInner>) {
    let events = {
        let mut st = lock(&req.st);
        st.socket_pending = false;
        std::mem::take(&mut st.deferred)
    };
    for e in events {
        req.emit_after_close(e);
    }
}

/// A free socket in the pool: wait for a request, or close when the
/// server closes it, the agent's timeout passes or the agent destroys it.
async fn idle(
    io: &mut Io,
    timer: &mut Timer,
    sock: &Arc<Sock>,
    agent: &Agent,
) -> Option<(Arc<ReqInner>, bool)> {
    let mut buf = vec![0u8; 4096];
    loop {
        if let Some(next) = sock.take_assigned() {
            timer.touch();
            return Some(next);
        }
        if sock.destroyed.load(Ordering::SeqCst) {
            agent.take_free(sock);
            return None;
        }
        if io.eof || !io.open() {
            if agent.take_free(sock) {
                return None;
            }
            // Reused just as it closed: serve the request, which will
            // see the closed stream.
            continue;
        }
        let rd = io.rd.as_mut()?;
        tokio::select! {
            _ = sock.wake.notified() => {}
            r = rd.read(&mut buf) => match r {
                Ok(0) | Err(_) => {
                    io.eof = true;
                    if agent.take_free(sock) {
                        return None;
                    }
                }
                Ok(n) => {
                    // Node detaches the parser from a kept-alive socket
                    // when its response completes, and the socket flows
                    // with no 'data' listener until a request takes it:
                    // bytes a server sends meanwhile are dropped (a stray
                    // response is not the next request's). They still
                    // count as activity for the socket's timeout.
                    timer.touch();
                    if let Some(next) = sock.take_assigned() {
                        // A request took the socket as they came: they
                        // are its parser's.
                        io.leftover.extend_from_slice(&buf[..n]);
                        return Some(next);
                    }
                }
            },
            _ = sleep_until(timer.deadline) => {
                timer.deadline = None;
                if agent.take_free(sock) {
                    return None;
                }
            }
        }
    }
}

/// The response as far as it got.
struct Exchange<'a> {
    req: &'a Arc<ReqInner>,
    parser: ClientConn,
    res: Option<IncomingMessage>,
    had_error: bool,
    keep: bool,
    res_ended: bool,
    join: bool,
}

impl Exchange<'_> {
    /// `socketCloseListener`.
    fn close(&mut self) -> Outcome {
        lock(&self.req.st).destroyed = true;
        match &self.res {
            Some(res) if !res.complete() => {
                res.push(MessageEvent::Aborted);
                self.req.emit(ClientEvent::Close);
                res.push(MessageEvent::Error(ClientError::aborted()));
                res.push(MessageEvent::Close);
            }
            Some(_) => self.req.emit(ClientEvent::Close),
            None => {
                if !self.had_error {
                    self.had_error = true;
                    self.req.emit(ClientEvent::Error(ClientError::hang_up()));
                }
                self.req.emit(ClientEvent::Close);
            }
        }
        Outcome::Closed
    }

    /// `socketErrorListener`, then the close.
    fn fail(&mut self, e: ClientError) -> Outcome {
        self.had_error = true;
        self.req.emit(ClientEvent::Error(e));
        self.close()
    }

    /// Handle what the parser produced; `Some` ends the exchange.
    fn handle(&mut self, events: Vec<ResponseEvent>, io: &mut Io) -> Option<Outcome> {
        for ev in events {
            match ev {
                ResponseEvent::Information(h) => {
                    if h.status == 100 {
                        self.req.emit(ClientEvent::Continue);
                    }
                    self.req.emit(ClientEvent::Information(Information {
                        status_code: h.status,
                        status_message: h.reason.clone(),
                        http_version: h.version,
                        headers: HeaderMap::from_raw(
                            h.headers.iter().cloned(),
                            HeaderOptions {
                                join_duplicate_headers: self.join,
                                max_headers_count: None,
                            },
                        ),
                        raw_headers: h.headers,
                    }));
                }
                ResponseEvent::Head(h) => {
                    if !h.should_keep_alive {
                        self.keep = false;
                    }
                    let res = IncomingMessage::new(&h, self.join, self.req);
                    lock(&self.req.st).res = Some(res.clone());
                    self.res = Some(res.clone());
                    self.req.emit(ClientEvent::Response(res));
                }
                ResponseEvent::Data(d) => {
                    if let Some(res) = &self.res {
                        res.push(MessageEvent::Data(d));
                    }
                }
                ResponseEvent::End { trailers } => {
                    let Some(res) = self.res.clone() else {
                        continue;
                    };
                    res.finish(trailers);
                    let (finished, listens, sock) = {
                        let st = lock(&self.req.st);
                        (st.out.finished(), st.listens_timeout, st.sock.clone())
                    };
                    if self.keep && finished && listens {
                        // responseKeepAlive (on 'end', before the
                        // consumer's listener): socket.setTimeout(0).
                        if let Some(h) = sock.and_then(|s| s.timeout_hook()) {
                            h(Duration::ZERO);
                        }
                    }
                    res.push(MessageEvent::End);
                    self.res_ended = true;
                    lock(&self.req.st).ended = true;
                    if !self.keep {
                        // destroySoon: the response closes, then the
                        // socket, whose 'close' (the request's) comes on
                        // a later turn of the loop.
                        res.push(MessageEvent::Close);
                        io.close();
                        lock(&self.req.st).destroyed = true;
                        return Some(Outcome::ClosedLater);
                    }
                    if finished && lock(&self.req.st).read_by_consumer {
                        return Some(Outcome::KeepAliveAfterRead(res));
                    }
                    if finished {
                        // responseKeepAlive: 'close' (emitFreeNT) before
                        // the response's own 'close'.
                        lock(&self.req.st).destroyed = true;
                        self.req.emit(ClientEvent::Close);
                        return Some(Outcome::KeepAlive(Some(res)));
                    }
                    res.push(MessageEvent::Close);
                }
                ResponseEvent::Upgrade { head, rest } => {
                    let res = IncomingMessage::new(&head, self.join, self.req);
                    res.finish(Vec::new());
                    let (Some(rd), Some(wr)) = (io.rd.take(), io.wr.take()) else {
                        return Some(self.close());
                    };
                    let socket = UpgradedSocket::new(rd.unsplit(wr));
                    let connect = lock(&self.req.st).out.context().method == "CONNECT";
                    lock(&self.req.st).destroyed = true;
                    self.req.emit(if connect {
                        ClientEvent::Connect {
                            res,
                            socket,
                            head: rest,
                        }
                    } else {
                        ClientEvent::Upgrade {
                            res,
                            socket,
                            head: rest,
                        }
                    });
                    self.req.emit(ClientEvent::Close);
                    return Some(Outcome::Detached);
                }
                ResponseEvent::Error(e) => {
                    io.close();
                    return Some(self.fail(ClientError::from(&e)));
                }
            }
        }
        None
    }
}

/// Serve one request on the socket: connect if needed, write the request
/// as it is produced, read the answer.
async fn exchange(
    io: &mut Io,
    timer: &mut Timer,
    req: &Arc<ReqInner>,
    sock: &Arc<Sock>,
) -> Outcome {
    let (method, popts, join, keep) = {
        let st = lock(&req.st);
        (
            st.out.context().method.clone(),
            st.parse,
            st.join_duplicate_headers,
            st.out.should_keep_alive(),
        )
    };
    let mut x = Exchange {
        req,
        parser: ClientConn::new(&method, popts),
        res: None,
        had_error: false,
        keep,
        res_ended: false,
        join,
    };
    let mut wbuf: Vec<u8> = Vec::new();
    let mut finish_sent = false;
    let mut pending_timeout: Option<Duration> = None;
    let mut buf = vec![0u8; 16 * 1024];
    if !io.leftover.is_empty() {
        let data = std::mem::take(&mut io.leftover);
        let mut evs = Vec::new();
        x.parser.feed(&data, &mut evs);
        if let Some(o) = x.handle(evs, io) {
            return o;
        }
    }
    loop {
        // What the request did since the last turn.
        let (destroyed, error, finished, listens, held) = {
            let mut st = lock(&req.st);
            if let Some(t) = st.pending_timeout.take() {
                pending_timeout = Some(t);
            }
            if io.open() {
                let out = st.out.take_output();
                st.taken += out.len() as u64;
                wbuf.extend(out);
                // write() callbacks of the bytes that went to the socket.
                let sent = st.taken - wbuf.len() as u64;
                let done: Vec<u64> = st
                    .write_callbacks
                    .iter()
                    .filter(|(offset, _)| *offset <= sent)
                    .map(|(_, id)| *id)
                    .collect();
                st.write_callbacks.retain(|(offset, _)| *offset > sent);
                for id in done {
                    req.emit(ClientEvent::Callback {
                        id,
                        arg: CallbackArg::Null,
                    });
                }
            }
            x.keep = x.keep && st.out.should_keep_alive();
            (
                st.destroyed,
                st.error.clone(),
                st.out.finished(),
                st.listens_timeout,
                st.out.pending_len() > 0,
            )
        };
        if destroyed || sock.destroyed.load(Ordering::SeqCst) {
            // socket.destroy(err): 'error' with err, then the close.
            io.close();
            if let Some(e) = error {
                x.had_error = true;
                req.emit(ClientEvent::Error(e));
            }
            return x.close();
        }
        if io.open() {
            if let Some(t) = pending_timeout.take() {
                // setSocketTimeout, once connected.
                match sock.timeout_hook() {
                    Some(h) => h(t),
                    None => timer.set(Some(t)),
                }
            }
        }
        if io.open() && finished && wbuf.is_empty() && !held && !finish_sent && !x.had_error {
            finish_sent = true;
            let callbacks = {
                let mut st = lock(&req.st);
                st.finish_emitted = true;
                std::mem::take(&mut st.finish_callbacks)
            };
            req.emit(ClientEvent::Prefinish);
            req.emit(ClientEvent::Finish);
            for id in callbacks {
                req.emit(ClientEvent::Callback {
                    id,
                    arg: CallbackArg::Undefined,
                });
            }
        }
        if x.res_ended && finish_sent {
            // requestOnPrefinish: the response ended before the request.
            lock(&req.st).destroyed = true;
            req.emit(ClientEvent::Close);
            return Outcome::KeepAlive(None);
        }
        let paused = x
            .res
            .as_ref()
            .is_some_and(|r| r.unread() >= super::request::HIGH_WATER_MARK);
        let can_read = io.open() && !io.eof && !paused;
        let can_write = io.open() && !wbuf.is_empty();
        let Io {
            rd, wr, connecting, ..
        } = &mut *io;
        tokio::select! {
            _ = req.wake.notified() => {}
            _ = sock.wake.notified() => {}
            c = async {
                match connecting.as_mut() {
                    Some(f) => f.await,
                    None => std::future::pending().await,
                }
            }, if connecting.is_some() => {
                *connecting = None;
                match c {
                    Ok((stream, ends)) => {
                        record_ends(sock, ends);
                        let (r, w) = tokio::io::split(stream);
                        *rd = Some(r);
                        *wr = Some(w);
                        timer.touch();
                    }
                    Err(e) => return x.fail(e),
                }
            }
            r = async {
                match rd.as_mut() {
                    Some(rd) => rd.read(&mut buf).await,
                    None => std::future::pending().await,
                }
            }, if can_read => {
                match r {
                    Ok(0) => {
                        // socketOnEnd
                        io.eof = true;
                        if x.res.is_none() && !x.had_error {
                            x.had_error = true;
                            req.emit(ClientEvent::Error(ClientError::hang_up()));
                        }
                        let mut evs = Vec::new();
                        x.parser.feed_eof(&mut evs);
                        if let Some(o) = x.handle(evs, io) {
                            return o;
                        }
                        io.close();
                        return x.close();
                    }
                    Ok(n) => {
                        timer.touch();
                        let mut evs = Vec::new();
                        x.parser.feed(&buf[..n], &mut evs);
                        if let Some(o) = x.handle(evs, io) {
                            return o;
                        }
                    }
                    Err(e) => {
                        io.close();
                        return x.fail(ClientError::io(&e, "read", None));
                    }
                }
            }
            w = async {
                match wr.as_mut() {
                    Some(wr) => wr.write(&wbuf).await,
                    None => std::future::pending().await,
                }
            }, if can_write => {
                match w {
                    Ok(n) => {
                        wbuf.drain(..n);
                        timer.touch();
                        if wbuf.is_empty() {
                            req.drain.notify_waiters();
                            let drained = {
                                let mut st = lock(&req.st);
                                let need = st.need_drain && st.out.pending_len() == 0;
                                if need {
                                    st.need_drain = false;
                                }
                                need
                            };
                            if drained {
                                req.emit(ClientEvent::Drain);
                            }
                        }
                    }
                    Err(e) => {
                        io.close();
                        return x.fail(ClientError::io(&e, "write", None));
                    }
                }
            }
            _ = sleep_until(timer.deadline) => {
                timer.deadline = None;
                if listens {
                    req.emit(ClientEvent::Timeout);
                }
            }
        }
    }
}
