//! `http.Agent`: connection pools keyed by `getName()`.
//!
//! Node equivalent: lib/_http_agent.js (Node 23.5.0). The pools hold
//! socket handles; each socket is one task (module `socket`) that asks
//! the agent what to do when its request is done (Node's `'free'`
//! handler) and tells it when it closes (`removeSocket`).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;

use super::socket::{self, Target};
use super::{ClientError, ReqInner};
use crate::error::Error;
use nodehttp_proto::defaults;

/// Which free socket a request gets.
///
/// Node equivalent: the `scheduling` option of `new Agent()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheduling {
    /// `'lifo'` (the default): the most recently freed socket.
    #[default]
    Lifo,
    /// `'fifo'`: the socket freed longest ago.
    Fifo,
}

/// The options of `new http.Agent([options])`, with Node's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentOptions {
    /// `keepAlive`: keep sockets in a pool after their request (default
    /// false).
    pub keep_alive: bool,
    /// `keepAliveMsecs`: the TCP keep-alive initial delay of pooled
    /// sockets (default 1000 ms).
    pub keep_alive_msecs: Duration,
    /// `maxSockets` per pool name; `None` is `Infinity` (the default).
    pub max_sockets: Option<usize>,
    /// `maxTotalSockets` over all names; `None` is `Infinity`.
    pub max_total_sockets: Option<usize>,
    /// `maxFreeSockets` per name (default 256).
    pub max_free_sockets: usize,
    /// `scheduling` (default lifo).
    pub scheduling: Scheduling,
    /// `timeout`: the socket timeout of the agent's sockets, in use and
    /// free (a free socket that times out is closed). `None`: none.
    pub timeout: Option<Duration>,
    /// `localAddress` (a `socket.connect()` option): the agent's sockets
    /// are bound to it, whatever the request says.
    pub local_address: Option<IpAddr>,
}

impl Scheduling {
    /// `validateOneOf(scheduling, 'scheduling', ['fifo', 'lifo'])`: the
    /// option as Node reads it, `ERR_INVALID_ARG_VALUE` for another value.
    pub fn parse(value: &str) -> Result<Scheduling, ClientError> {
        match value {
            "fifo" => Ok(Scheduling::Fifo),
            "lifo" => Ok(Scheduling::Lifo),
            other => Err(ClientError::from(&Error::invalid_arg_value(
                "scheduling",
                &format!("'{other}'"),
                Some("must be one of: 'fifo', 'lifo'"),
            ))),
        }
    }

    /// `agent.scheduling`: `"fifo"` or `"lifo"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheduling::Fifo => "fifo",
            Scheduling::Lifo => "lifo",
        }
    }
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            keep_alive: false,
            keep_alive_msecs: defaults::AGENT_KEEP_ALIVE_MSECS,
            max_sockets: None,
            max_total_sockets: None,
            max_free_sockets: defaults::AGENT_MAX_FREE_SOCKETS,
            scheduling: Scheduling::Lifo,
            timeout: None,
            local_address: None,
        }
    }
}

/// What `agent.getName(options)` reads.
///
/// Node equivalent: the `host`, `port`, `localAddress`, `family` and
/// `socketPath` of the request options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameOptions {
    /// `host` (default `localhost`).
    pub host: Option<String>,
    /// `port`.
    pub port: Option<u16>,
    /// `localAddress`.
    pub local_address: Option<IpAddr>,
    /// `family` (4 or 6; other values are not part of the name).
    pub family: Option<u8>,
    /// `socketPath`.
    pub socket_path: Option<String>,
}

/// A Vec-backed map keeping insertion order, as a JavaScript object does
/// for Node's `agent.sockets`, `freeSockets` and `requests`.
#[derive(Debug)]
struct Pools<V> {
    entries: Vec<(String, V)>,
}

impl<V> Default for Pools<V> {
    fn default() -> Self {
        Pools {
            entries: Vec::new(),
        }
    }
}

impl<V: Default> Pools<V> {
    fn get_mut(&mut self, k: &str) -> Option<&mut V> {
        self.entries
            .iter_mut()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v)
    }
    fn entry(&mut self, k: &str) -> &mut V {
        let i = match self.entries.iter().position(|(n, _)| n == k) {
            Some(i) => i,
            None => {
                self.entries.push((k.to_owned(), V::default()));
                self.entries.len() - 1
            }
        };
        &mut self.entries[i].1
    }
    fn remove(&mut self, k: &str) {
        self.entries.retain(|(n, _)| n != k);
    }
}

/// A socket as the pools see it: its task's mailbox.
pub(crate) struct Sock {
    pub(crate) name: String,
    /// Requests handed to this socket (by `addRequest` or `'free'`).
    pub(crate) assigned: Mutex<VecDeque<(Arc<ReqInner>, bool)>>,
    pub(crate) wake: Notify,
    pub(crate) destroyed: AtomicBool,
    /// Counted in `totalSocketCount` (until it closes).
    counted: AtomicBool,
    /// `socket.timeout`: the last `setTimeout()` value (`None`: never set).
    pub(crate) timeout: Mutex<Option<Duration>>,
    /// The local end, once connected over TCP.
    pub(crate) local: Mutex<Option<SocketAddr>>,
    /// The remote end, once connected over TCP.
    pub(crate) peer: Mutex<Option<SocketAddr>>,
    /// `socket.connecting`: the connection is not made yet.
    pub(crate) connecting: AtomicBool,
    /// `'agentRemove'` was emitted: the agent forgot the socket.
    pub(crate) removed: AtomicBool,
    /// Replacements of the socket's `setNoDelay` and `setKeepAlive`.
    pub(crate) hooks: Mutex<SocketHooks>,
}

/// A replaced `socket.setNoDelay(noDelay)`.
pub type NoDelayHook = Arc<dyn Fn(Option<bool>) + Send + Sync>;
/// A replaced `socket.setKeepAlive(enable, initialDelay)`.
pub type KeepAliveHook = Arc<dyn Fn(Option<bool>, Option<Duration>) + Send + Sync>;
/// A replaced `socket.setTimeout(msecs)`.
pub type TimeoutHook = Arc<dyn Fn(Duration) + Send + Sync>;

/// The socket methods a caller replaced (as a script assigns
/// `socket.setNoDelay = fn` in Node).
#[derive(Default)]
pub(crate) struct SocketHooks {
    pub(crate) no_delay: Option<NoDelayHook>,
    pub(crate) keep_alive: Option<KeepAliveHook>,
    pub(crate) set_timeout: Option<TimeoutHook>,
}

impl Sock {
    pub(crate) fn new(name: String) -> Arc<Sock> {
        Arc::new(Sock {
            name,
            assigned: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            destroyed: AtomicBool::new(false),
            counted: AtomicBool::new(true),
            timeout: Mutex::new(None),
            local: Mutex::new(None),
            peer: Mutex::new(None),
            connecting: AtomicBool::new(true),
            removed: AtomicBool::new(false),
            hooks: Mutex::new(SocketHooks::default()),
        })
    }

    /// Hand `req` to the socket (`reused`: through `reuseSocket`).
    pub(crate) fn assign(self: &Arc<Self>, req: Arc<ReqInner>, reused: bool) {
        {
            let mut st = lock(&req.st);
            st.socket_pending = true;
            st.handed = Some((self.clone(), reused));
        }
        lock(&self.assigned).push_back((req, reused));
        self.wake.notify_one();
    }

    pub(crate) fn take_assigned(&self) -> Option<(Arc<ReqInner>, bool)> {
        lock(&self.assigned).pop_front()
    }

    /// `socket.setNoDelay(noDelay)`: the replacement if any (TCP sockets
    /// already have no delay, Node's default).
    pub(crate) fn set_no_delay(&self, no_delay: Option<bool>) {
        let hook = lock(&self.hooks).no_delay.clone();
        if let Some(h) = hook {
            h(no_delay);
        }
    }

    /// A replaced `socket.setTimeout`, if any.
    pub(crate) fn timeout_hook(&self) -> Option<TimeoutHook> {
        lock(&self.hooks).set_timeout.clone()
    }

    /// `socket.setKeepAlive(enable, initialDelay)`: the replacement if
    /// any.
    pub(crate) fn set_keep_alive(&self, enable: Option<bool>, delay: Option<Duration>) {
        let hook = lock(&self.hooks).keep_alive.clone();
        if let Some(h) = hook {
            h(enable, delay);
        }
    }

    /// `socket.destroy()` from outside the task.
    pub(crate) fn destroy(&self) {
        self.destroyed.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
struct State {
    sockets: Pools<Vec<Arc<Sock>>>,
    free: Pools<Vec<Arc<Sock>>>,
    requests: Pools<VecDeque<(Arc<ReqInner>, Target)>>,
    total: usize,
}

/// A replaced `agent.keepSocketAlive(socket)`: it gets the original (which
/// sets the socket's timeout and says whether the socket may be kept) and
/// returns whether the socket is kept.
pub type KeepSocketAliveHook = Arc<dyn Fn(&dyn Fn() -> bool) -> bool + Send + Sync>;
/// A replaced `agent.reuseSocket(socket, req)`, called (before the
/// original) when a request is given a free socket.
pub type ReuseSocketHook = Arc<dyn Fn() + Send + Sync>;
/// A replaced `agent.createConnection(options, callback)`, called with the
/// host and port of each new socket: `Ok` gives the default connection,
/// `Err` is the error the callback gets (the request fails with it,
/// without a `'socket'`).
pub type CreateConnectionHook = Arc<dyn Fn(&str, u16) -> Result<(), ClientError> + Send + Sync>;

/// The overridable methods of an agent that a caller replaced.
#[derive(Default, Clone)]
pub struct AgentHooks {
    /// `agent.keepSocketAlive`.
    pub keep_socket_alive: Option<KeepSocketAliveHook>,
    /// `agent.reuseSocket`.
    pub reuse_socket: Option<ReuseSocketHook>,
    /// `agent.createConnection`.
    pub create_connection: Option<CreateConnectionHook>,
}

struct AgentInner {
    opts: AgentOptions,
    state: Mutex<State>,
    hooks: Mutex<AgentHooks>,
    /// `agent.defaultPort` (80; assignable).
    default_port: AtomicU16,
}

/// `http.Agent`: keeps and reuses the sockets of client requests.
///
/// Node equivalent: `new http.Agent([options])`. Cloning gives another
/// handle to the same agent.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<AgentInner>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("options", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

/// What the `'free'` handler decided.
pub(crate) enum Free {
    /// Serve this queued request next.
    Serve(Arc<ReqInner>),
    /// The socket went to `freeSockets`, with this socket timeout
    /// (`keepSocketAlive`'s `setTimeout`; 0: none).
    Pooled(Duration),
    /// Destroy the socket.
    Destroy,
}

impl Agent {
    /// Node equivalent: `new http.Agent(options)`. Fails as Node does with
    /// `ERR_OUT_OF_RANGE` for a `maxTotalSockets` of 0.
    pub fn new(opts: AgentOptions) -> Result<Agent, Error> {
        if opts.max_total_sockets == Some(0) {
            return Err(Error::out_of_range("maxTotalSockets", "> 0", "0"));
        }
        Ok(Agent {
            inner: Arc::new(AgentInner {
                opts,
                state: Mutex::new(State::default()),
                hooks: Mutex::new(AgentHooks::default()),
                default_port: AtomicU16::new(80),
            }),
        })
    }

    /// Replace the agent's overridable methods (as assigning
    /// `agent.keepSocketAlive = fn`... does in Node).
    pub fn set_hooks(&self, hooks: AgentHooks) {
        *lock(&self.inner.hooks) = hooks;
    }

    fn hooks(&self) -> AgentHooks {
        lock(&self.inner.hooks).clone()
    }

    /// `createSocket`: a new socket for `req` (through the
    /// `createConnection` hook, if any).
    fn create_socket(&self, sock: Arc<Sock>, mut target: Target, req: Arc<ReqInner>) {
        if let Some(h) = self.hooks().create_connection {
            let (host, port) = target.host_port();
            if let Err(e) = h(&host, port) {
                target.kind = socket::TargetKind::Failed(e);
            }
        }
        socket::spawn(sock, Some(self.clone()), target, req);
    }

    /// The options the agent was created with.
    pub fn options(&self) -> &AgentOptions {
        &self.inner.opts
    }

    /// `agent.keepAlive`.
    pub fn keep_alive(&self) -> bool {
        self.inner.opts.keep_alive
    }

    /// `agent.maxSockets` (`None`: `Infinity`).
    pub fn max_sockets(&self) -> Option<usize> {
        self.inner.opts.max_sockets
    }

    /// `agent.keepAliveMsecs`.
    pub fn keep_alive_msecs(&self) -> Duration {
        self.inner.opts.keep_alive_msecs
    }

    /// `agent.maxFreeSockets`.
    pub fn max_free_sockets(&self) -> usize {
        self.inner.opts.max_free_sockets
    }

    /// `agent.maxTotalSockets` (`None`: `Infinity`).
    pub fn max_total_sockets(&self) -> Option<usize> {
        self.inner.opts.max_total_sockets
    }

    /// `agent.scheduling`.
    pub fn scheduling(&self) -> Scheduling {
        self.inner.opts.scheduling
    }

    /// `agent.options.timeout` (`None`: not set).
    pub fn timeout(&self) -> Option<Duration> {
        self.inner.opts.timeout
    }

    /// `agent.protocol`: always `"http:"`.
    pub fn protocol(&self) -> &'static str {
        "http:"
    }

    /// `agent.defaultPort`: the port of a request that names none (80).
    pub fn default_port(&self) -> u16 {
        self.inner.default_port.load(Ordering::SeqCst)
    }

    /// `agent.defaultPort = port`.
    pub fn set_default_port(&self, port: u16) {
        self.inner.default_port.store(port, Ordering::SeqCst);
    }

    /// Node equivalent: `agent.keepSocketAlive(socket)` for a socket whose
    /// response had `keep_alive_hint` as its `Keep-Alive` header: whether
    /// the socket may be pooled, and the socket timeout it gets (the
    /// agent's `timeout`, lowered to the server's `timeout=N` hint less one
    /// second; 0: none). A hint of one second or less forbids pooling.
    pub fn keep_socket_alive(&self, keep_alive_hint: Option<&str>) -> (bool, Duration) {
        let mut timeout = self.inner.opts.timeout.unwrap_or(Duration::ZERO);
        let mut keep = true;
        let hint = keep_alive_hint.and_then(|h| {
            let digits: String = h
                .strip_prefix("timeout=")?
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            (!digits.is_empty()).then_some(digits)
        });
        if let Some(digits) = hint {
            // parseInt of a long run of digits: saturate.
            let secs: u64 = digits.parse().unwrap_or(u64::MAX / 2000);
            let ms = secs.saturating_mul(1000).saturating_sub(1000);
            let hinted = Duration::from_millis(ms);
            if ms == 0 {
                keep = false;
            } else if hinted < timeout {
                timeout = hinted;
            }
        }
        (keep, timeout)
    }

    /// Node equivalent: `agent.createConnection({ host, port })` (by
    /// default `net.createConnection`): a new TCP socket to `host:port`,
    /// outside the pools, connecting in the background.
    pub fn create_connection(&self, host: &str, port: u16) -> super::ClientSocket {
        let sock = Sock::new(String::new());
        sock.counted.store(false, Ordering::SeqCst);
        socket::spawn_bare(
            sock.clone(),
            socket::TargetKind::Tcp {
                host: host.to_owned(),
                port,
                local: None,
                family: None,
                lookup: None,
            },
        );
        super::ClientSocket { sock, agent: None }
    }

    /// Whether two handles are the same agent.
    pub fn same(&self, other: &Agent) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Node equivalent: `agent.getName(options)`:
    /// `host:port:localAddress`, then `:family` for 4 or 6, then
    /// `:socketPath` when there is one.
    pub fn get_name(&self, o: &NameOptions) -> String {
        let mut name = o.host.clone().unwrap_or_else(|| "localhost".into());
        name.push(':');
        if let Some(p) = o.port.filter(|p| *p != 0) {
            name.push_str(&p.to_string());
        }
        name.push(':');
        if let Some(a) = o.local_address {
            name.push_str(&a.to_string());
        }
        if let Some(f @ (4 | 6)) = o.family {
            name.push_str(&format!(":{f}"));
        }
        if let Some(p) = &o.socket_path {
            name.push(':');
            name.push_str(p);
        }
        name
    }

    fn counts<V>(pools: &Pools<V>, len: impl Fn(&V) -> usize) -> Vec<(String, usize)> {
        pools
            .entries
            .iter()
            .map(|(k, v)| (k.clone(), len(v)))
            .collect()
    }

    /// Node equivalent: `agent.sockets`, as the number of sockets in use
    /// per name (a name stays listed with 0 until its sockets close).
    pub fn sockets(&self) -> Vec<(String, usize)> {
        Self::counts(&lock(&self.inner.state).sockets, Vec::len)
    }

    /// Node equivalent: `agent.freeSockets`, counts per name.
    pub fn free_sockets(&self) -> Vec<(String, usize)> {
        Self::counts(&lock(&self.inner.state).free, Vec::len)
    }

    /// Node equivalent: `agent.requests`: requests waiting for a socket,
    /// counts per name.
    pub fn requests(&self) -> Vec<(String, usize)> {
        Self::counts(&lock(&self.inner.state).requests, VecDeque::len)
    }

    /// Node equivalent: `agent.totalSocketCount`.
    pub fn total_socket_count(&self) -> usize {
        lock(&self.inner.state).total
    }

    /// Node equivalent: `agent.destroy()`: destroy every socket, free or in
    /// use.
    pub fn destroy(&self) {
        let st = lock(&self.inner.state);
        for (_, list) in st.free.entries.iter().chain(st.sockets.entries.iter()) {
            for s in list {
                s.destroy();
            }
        }
    }

    /// `agent.addRequest(req, options)`.
    pub(crate) fn add_request(&self, req: Arc<ReqInner>, target: Target) {
        let name = target.name.clone();
        let opts = &self.inner.opts;
        let mut st = lock(&self.inner.state);
        st.sockets.entry(&name);
        let mut reuse = None;
        if let Some(free) = st.free.get_mut(&name) {
            while free
                .first()
                .is_some_and(|s| s.destroyed.load(Ordering::SeqCst))
            {
                free.remove(0);
            }
            reuse = match opts.scheduling {
                Scheduling::Fifo if !free.is_empty() => Some(free.remove(0)),
                Scheduling::Fifo => None,
                Scheduling::Lifo => free.pop(),
            };
            if free.is_empty() {
                st.free.remove(&name);
            }
        }
        let free_len = st.free.get_mut(&name).map_or(0, |f| f.len());
        let sock_len = free_len + st.sockets.get_mut(&name).map_or(0, |s| s.len());
        if let Some(sock) = reuse {
            st.sockets.entry(&name).push(sock.clone());
            drop(st);
            if let Some(h) = self.hooks().reuse_socket {
                h();
            }
            sock.assign(req, true);
        } else if sock_len < opts.max_sockets.unwrap_or(usize::MAX)
            && st.total < opts.max_total_sockets.unwrap_or(usize::MAX)
        {
            let sock = Sock::new(name.clone());
            st.sockets.entry(&name).push(sock.clone());
            st.total += 1;
            drop(st);
            self.create_socket(sock, target, req);
        } else {
            st.requests.entry(&name).push_back((req, target));
        }
    }

    /// The `'free'` handler: `sock` finished a request (`keep` is that
    /// request's `shouldKeepAlive`; `writable` whether the socket still
    /// is).
    pub(crate) fn free(
        &self,
        sock: &Arc<Sock>,
        keep: bool,
        writable: bool,
        keep_alive_hint: Option<&str>,
    ) -> Free {
        let opts = &self.inner.opts;
        let mut st = lock(&self.inner.state);
        let name = sock.name.clone();
        if !writable || sock.destroyed.load(Ordering::SeqCst) {
            return Free::Destroy;
        }
        if let Some(q) = st.requests.get_mut(&name) {
            if let Some((req, _)) = q.pop_front() {
                if q.is_empty() {
                    st.requests.remove(&name);
                }
                lock(&req.st).socket_pending = true;
                return Free::Serve(req);
            }
        }
        if !keep || !opts.keep_alive {
            return Free::Destroy;
        }
        let free_len = st.free.get_mut(&name).map_or(0, |f| f.len());
        let count = free_len + st.sockets.get_mut(&name).map_or(0, |s| s.len());
        if st.total > opts.max_total_sockets.unwrap_or(usize::MAX)
            || count > opts.max_sockets.unwrap_or(usize::MAX)
            || free_len >= opts.max_free_sockets
        {
            return Free::Destroy;
        }
        drop(st);
        let timeout = std::cell::Cell::new(Duration::ZERO);
        let original = || {
            let (alive, t) = self.keep_socket_alive(keep_alive_hint);
            timeout.set(t);
            alive
        };
        let alive = match self.hooks().keep_socket_alive {
            Some(h) => h(&original),
            None => original(),
        };
        if !alive {
            return Free::Destroy;
        }
        let timeout = timeout.get();
        let mut st = lock(&self.inner.state);
        st.free.entry(&name).push(sock.clone());
        let pending = Self::remove_from(&mut st, sock, false);
        drop(st);
        self.serve_pending(pending);
        Free::Pooled(timeout)
    }

    /// The socket's `'agentRemove'`: the agent forgets it (out of its
    /// pools and of `totalSocketCount`) without closing it; a queued
    /// request may get a new socket.
    pub(crate) fn agent_remove(&self, sock: &Arc<Sock>) {
        if sock.removed.swap(true, Ordering::SeqCst) {
            return;
        }
        let pending = {
            let mut st = lock(&self.inner.state);
            Self::remove_from(&mut st, sock, true)
        };
        self.serve_pending(pending);
    }

    /// Take `sock` out of `sockets` (and of `freeSockets` when `closed`);
    /// returns a queued request that now may get a new socket.
    fn remove_from(
        st: &mut State,
        sock: &Arc<Sock>,
        closed: bool,
    ) -> Option<(Arc<ReqInner>, Target)> {
        let name = sock.name.clone();
        let drop_name = |pools: &mut Pools<Vec<Arc<Sock>>>| {
            if let Some(list) = pools.get_mut(&name) {
                if let Some(i) = list.iter().position(|s| Arc::ptr_eq(s, sock)) {
                    list.remove(i);
                    if list.is_empty() {
                        pools.remove(&name);
                    }
                }
            }
        };
        drop_name(&mut st.sockets);
        if closed {
            drop_name(&mut st.free);
            if sock.counted.swap(false, Ordering::SeqCst) {
                st.total = st.total.saturating_sub(1);
            }
        }
        // A queued request of this name, or of the first other name with
        // no socket in use, gets a new socket.
        let mut key = None;
        if st.requests.get_mut(&name).is_some_and(|q| !q.is_empty()) {
            key = Some(name.clone());
        } else if let Some((k, _)) = st.requests.entries.first() {
            let busy = st
                .sockets
                .entries
                .iter()
                .any(|(n, l)| n == k && !l.is_empty());
            if !busy {
                key = Some(k.clone());
            }
        }
        let key = key?;
        let q = st.requests.get_mut(&key)?;
        let next = q.pop_front();
        if q.is_empty() {
            st.requests.remove(&key);
        }
        next
    }

    fn serve_pending(&self, pending: Option<(Arc<ReqInner>, Target)>) {
        if let Some((req, target)) = pending {
            let mut st = lock(&self.inner.state);
            let sock = Sock::new(target.name.clone());
            st.sockets.entry(&target.name).push(sock.clone());
            st.total += 1;
            drop(st);
            self.create_socket(sock, target, req);
        }
    }

    /// `removeSocket`: the socket closed (or left for an upgrade).
    pub(crate) fn remove_socket(&self, sock: &Arc<Sock>) {
        let pending = Self::remove_from(&mut lock(&self.inner.state), sock, true);
        self.serve_pending(pending);
    }

    /// A free socket is being reused or closed: whether it was still in
    /// `freeSockets` (then it is removed).
    pub(crate) fn take_free(&self, sock: &Arc<Sock>) -> bool {
        let mut st = lock(&self.inner.state);
        let Some(list) = st.free.get_mut(&sock.name) else {
            return false;
        };
        let Some(i) = list.iter().position(|s| Arc::ptr_eq(s, sock)) else {
            return false;
        };
        list.remove(i);
        if list.is_empty() {
            st.free.remove(&sock.name);
        }
        true
    }
}

/// `http.globalAgent`: since Node 19, `new Agent({ keepAlive: true,
/// scheduling: 'lifo', timeout: 5000 })`.
pub fn global_agent() -> Agent {
    static GLOBAL: OnceLock<Agent> = OnceLock::new();
    GLOBAL
        .get_or_init(|| Agent {
            inner: Arc::new(AgentInner {
                opts: AgentOptions {
                    keep_alive: true,
                    timeout: Some(defaults::GLOBAL_AGENT_TIMEOUT),
                    ..AgentOptions::default()
                },
                state: Mutex::new(State::default()),
                hooks: Mutex::new(AgentHooks::default()),
                default_port: AtomicU16::new(80),
            }),
        })
        .clone()
}
