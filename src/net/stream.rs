//! Stream connections for SIP (RFC 3261 §18), TCP and TLS alike: a
//! listener, outgoing connections opened on demand and reused per peer
//! address (for requests and responses both ways), Content-Length framing,
//! RFC 5626 CRLF keep-alives answered.
//!
//! Nothing here blocks the SIP loop: a send only queues (bounded per
//! connection), a connection to a new peer is opened (and for TLS, its
//! handshake run) by its own task, and a failure comes back through
//! [`StreamPool::next`]. Accepted connections are capped in number and
//! closed when idle ([`TcpLimits`]). One pool serves one transport: the
//! driver has one for TCP and, when TLS is set up, one for TLS.

use super::limits::TcpLimits;
use super::tls::TlsEnds;
use agentphone_sip::transport::ConnId;
use anyhow::{anyhow, Result};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

type Inbound = (ConnId, SocketAddr, Vec<u8>);

/// RFC 5626 §3.5.1: the answer to a `CRLFCRLF` ping.
const PONG: &[u8] = b"\r\n";

/// What the connections have for the SIP loop.
#[derive(Debug)]
pub enum StreamEvent {
    /// A framed message from a peer.
    Message(ConnId, SocketAddr, Vec<u8>),
    /// A connection could not be opened or written.
    Failed(Failure),
    /// A connection we opened was closed by the peer or broke after it was
    /// up: a registration flow over it is gone (RFC 5626 §4.4) and must be
    /// set up again; what was sent on it and not yet answered never will
    /// be. With why it ended (a TLS alert such as a refused or missing
    /// client certificate, a reset), for the user.
    Closed(ConnId, SocketAddr, String),
}

/// A connection that could not be opened or written: the transactions sent
/// through it fail at once (the driver tells the endpoint).
#[derive(Debug)]
pub struct Failure {
    /// The connection, when it had been established.
    pub conn: ConnId,
    /// The peer.
    pub addr: SocketAddr,
    /// What went wrong, for the log and the user.
    pub error: String,
}

/// How connections of a pool are secured.
#[derive(Clone)]
pub enum Security {
    /// Plain TCP.
    Plain,
    /// TLS with these configurations (client side always, server side when
    /// a certificate was given).
    Tls(Arc<TlsEnds>),
}

impl Security {
    fn name(&self) -> &'static str {
        match self {
            Security::Plain => "TCP",
            Security::Tls(_) => "TLS",
        }
    }
}

struct Conn {
    peer: SocketAddr,
    writer: mpsc::Sender<Vec<u8>>,
    /// Accepted from a peer (counted against `max_inbound`, closed when idle).
    accepted: bool,
}

#[derive(Default)]
struct Conns {
    writers: HashMap<ConnId, Conn>,
    /// Writer tasks, kept so `close` can wait until what was queued is on the wire.
    flushing: Vec<JoinHandle<()>>,
}

impl Conns {
    fn accepted(&self) -> usize {
        self.writers.values().filter(|c| c.accepted).count()
    }
}

/// What every connection task shares.
#[derive(Clone)]
struct Shared {
    conns: Arc<Mutex<Conns>>,
    inbound: mpsc::Sender<Inbound>,
    events: mpsc::UnboundedSender<StreamEvent>,
    limits: TcpLimits,
    security: Security,
}

/// All connections of one stream transport of an endpoint.
pub struct StreamPool {
    local: Option<SocketAddr>,
    shared: Shared,
    next: Arc<AtomicU64>,
    inbound_rx: mpsc::Receiver<Inbound>,
    events_rx: mpsc::UnboundedReceiver<StreamEvent>,
}

impl StreamPool {
    /// The TLS ends of a TLS pool (`None` for plain TCP).
    pub fn tls_ends(&self) -> Option<&Arc<TlsEnds>> {
        match &self.shared.security {
            Security::Tls(ends) => Some(ends),
            Security::Plain => None,
        }
    }

    /// A plain TCP pool listening on `addr` (the UDP port when free, else
    /// any port).
    pub async fn bind(addr: SocketAddr, limits: TcpLimits) -> Result<Self> {
        Self::bind_secured(Some(addr), limits, Security::Plain).await
    }

    /// A pool whose connections are secured by `security`. It listens on
    /// `listen` (that port when free, else any) when given; a TLS pool
    /// without a server certificate only connects out.
    pub async fn bind_secured(
        listen: Option<SocketAddr>,
        limits: TcpLimits,
        security: Security,
    ) -> Result<Self> {
        let listener = match listen {
            Some(addr) => Some(match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(_) => TcpListener::bind(SocketAddr::new(addr.ip(), 0)).await?,
            }),
            None => None,
        };
        let local = listener.as_ref().map(|l| l.local_addr()).transpose()?;
        let (inbound, inbound_rx) = mpsc::channel(limits.inbound_queue.max(1));
        let (events, events_rx) = mpsc::unbounded_channel();
        let pool = StreamPool {
            local,
            shared: Shared {
                conns: Arc::default(),
                inbound,
                events,
                limits,
                security,
            },
            next: Arc::new(AtomicU64::new(1)),
            inbound_rx,
            events_rx,
        };
        if let Some(listener) = listener {
            tokio::spawn(accept_loop(
                listener,
                pool.shared.clone(),
                pool.next.clone(),
            ));
        }
        Ok(pool)
    }

    /// The listening address, when the pool listens.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    /// The next framed message from any connection, or the next connection
    /// that failed or closed.
    pub async fn next(&mut self) -> StreamEvent {
        tokio::select! {
            Some((conn, from, msg)) = self.inbound_rx.recv() => StreamEvent::Message(conn, from, msg),
            Some(ev) = self.events_rx.recv() => ev,
            // The pool holds a sender of each: never both closed.
            else => std::future::pending().await,
        }
    }

    /// Queues `bytes` on `conn`, or on a connection to `addr`, opened by a
    /// task of its own when there is none (its failure comes from
    /// [`next`](Self::next)). Fails at once when the connection is gone
    /// or its queue is full.
    pub fn send(&mut self, conn: Option<ConnId>, addr: SocketAddr, bytes: Vec<u8>) -> Result<()> {
        let kind = self.shared.security.name();
        let mut conns = self
            .shared
            .conns
            .lock()
            .map_err(|_| anyhow!("connection table poisoned"))?;
        let existing = match conn {
            Some(id) => conns.writers.get(&id),
            None => conns.writers.values().find(|c| c.peer == addr),
        };
        let writer = match existing {
            Some(c) => c.writer.clone(),
            None if conn.is_some() => return Err(anyhow!("{kind} connection to {addr} closed")),
            None => {
                let id = ConnId(self.next.fetch_add(1, Ordering::Relaxed));
                let (tx, rx) = mpsc::channel(self.shared.limits.queue_messages.max(1));
                conns.writers.insert(
                    id,
                    Conn {
                        peer: addr,
                        writer: tx.clone(),
                        accepted: false,
                    },
                );
                let task = tokio::spawn(connect(id, addr, rx, self.shared.clone()));
                conns.flushing.retain(|h| !h.is_finished());
                conns.flushing.push(task);
                tx
            }
        };
        drop(conns);
        writer.try_send(bytes).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => anyhow!(
                "{kind} queue to {addr} full ({} messages): the peer does not read",
                self.shared.limits.queue_messages
            ),
            mpsc::error::TrySendError::Closed(_) => anyhow!("{kind} connection to {addr} closed"),
        })
    }

    /// Writes out what is queued on every connection and closes them, waiting
    /// at most `limit`. `send` only queues: a process that exits right after
    /// answering a BYE would otherwise lose the 200 (the peer then counts the
    /// call as failed).
    pub async fn close(&mut self, limit: Duration) {
        let flushing = match self.shared.conns.lock() {
            Ok(mut c) => {
                // Dropping the senders ends each writer once its queue is empty.
                c.writers.clear();
                std::mem::take(&mut c.flushing)
            }
            Err(_) => return,
        };
        let all = async {
            for h in flushing {
                let _ = h.await;
            }
        };
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!(
                "{} connections not flushed within {limit:?}; closing anyway",
                self.shared.security.name()
            );
        }
    }
}

impl Shared {
    fn forget(&self, id: ConnId) {
        if let Ok(mut c) = self.conns.lock() {
            c.writers.remove(&id);
        }
    }

    fn fail(&self, conn: ConnId, addr: SocketAddr, error: String) {
        self.forget(conn);
        let _ = self
            .events
            .send(StreamEvent::Failed(Failure { conn, addr, error }));
    }

    /// Queues a pong on `id` (dropped when its queue is full: the peer then
    /// sends its next ping).
    fn pong(&self, id: ConnId) {
        let writer = self
            .conns
            .lock()
            .ok()
            .and_then(|c| c.writers.get(&id).map(|c| c.writer.clone()));
        if let Some(w) = writer {
            let _ = w.try_send(PONG.to_vec());
        }
    }
}

/// Opens the connection (TCP connect, then the TLS handshake for a TLS
/// pool, both within the connect timeout) and runs it.
async fn connect(id: ConnId, addr: SocketAddr, rx: mpsc::Receiver<Vec<u8>>, shared: Shared) {
    let timeout = shared.limits.connect_timeout;
    let tcp = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return shared.fail(id, addr, format!("connect: {e}")),
        Err(_) => {
            return shared.fail(id, addr, format!("connect timed out after {timeout:?}"));
        }
    };
    let _ = tcp.set_nodelay(true);
    match shared.security.clone() {
        Security::Plain => run_conn(id, tcp, addr, rx, shared, false).await,
        Security::Tls(ends) => match tokio::time::timeout(timeout, ends.connect(addr, tcp)).await {
            Ok(Ok(tls)) => run_conn(id, tls, addr, rx, shared, false).await,
            Ok(Err(e)) => shared.fail(id, addr, e),
            Err(_) => shared.fail(
                id,
                addr,
                format!("TLS handshake with {addr} timed out after {timeout:?}"),
            ),
        },
    }
}

async fn accept_loop(listener: TcpListener, shared: Shared, next: Arc<AtomicU64>) {
    let mut refused = 0u64;
    let mut logged: Option<Instant> = None;
    let kind = shared.security.name();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors, mostly: wait for some to come back
                // rather than spin.
                tracing::warn!(error = %e, "{kind} accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let full = shared
            .conns
            .lock()
            .map(|c| c.accepted() >= shared.limits.max_inbound)
            .unwrap_or(true);
        if full {
            refused += 1;
            if logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                logged = Some(Instant::now());
                tracing::warn!(
                    %peer,
                    refused,
                    max = shared.limits.max_inbound,
                    "{kind} connection refused: tcp_max_connections reached (logged once a minute)"
                );
            }
            drop(stream);
            continue;
        }
        let id = ConnId(next.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = mpsc::channel(shared.limits.queue_messages.max(1));
        if let Ok(mut c) = shared.conns.lock() {
            c.writers.insert(
                id,
                Conn {
                    peer,
                    writer: tx,
                    accepted: true,
                },
            );
        }
        let task = tokio::spawn(serve_accepted(id, stream, peer, rx, shared.clone()));
        if let Ok(mut c) = shared.conns.lock() {
            c.flushing.retain(|h| !h.is_finished());
            c.flushing.push(task);
        }
    }
}

/// An accepted connection: for TLS the handshake first, in this task so a
/// slow or hostile client holds up no one else (bounded by the connect
/// timeout).
async fn serve_accepted(
    id: ConnId,
    stream: TcpStream,
    peer: SocketAddr,
    rx: mpsc::Receiver<Vec<u8>>,
    shared: Shared,
) {
    let _ = stream.set_nodelay(true);
    match shared.security.clone() {
        Security::Plain => run_conn(id, stream, peer, rx, shared, true).await,
        Security::Tls(ends) => {
            let timeout = shared.limits.connect_timeout;
            match tokio::time::timeout(timeout, ends.accept(stream)).await {
                Ok(Ok(tls)) => run_conn(id, tls, peer, rx, shared, true).await,
                Ok(Err(e)) => {
                    tracing::info!(%peer, "TLS connection refused: {e}");
                    shared.forget(id);
                }
                Err(_) => {
                    tracing::info!(%peer, "TLS handshake not done within {timeout:?}");
                    shared.forget(id);
                }
            }
        }
    }
}

/// Reads and writes one connection until either side ends it, it fails, or
/// (accepted ones) it sits idle past the limit.
async fn run_conn<S>(
    id: ConnId,
    stream: S,
    peer: SocketAddr,
    queue: mpsc::Receiver<Vec<u8>>,
    shared: Shared,
    accepted: bool,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (rd, wr) = tokio::io::split(stream);
    let activity = Arc::new(Mutex::new(Activity::new()));
    let writer = write_loop(wr, queue, activity.clone(), accepted);
    let reader = read_loop(id, rd, peer, shared.clone(), activity, accepted);
    tokio::pin!(writer);
    let kind = shared.security.name();
    tokio::select! {
        failed = &mut writer => {
            if let Err(e) = failed {
                shared.fail(id, peer, format!("{kind} write: {e}"));
                return;
            }
            // Every sender dropped (close): the queue is written out.
            shared.forget(id);
        }
        ended = reader => {
            // The peer closed, broke framing, or the connection idled out:
            // no new sends; what is already queued still goes out.
            shared.forget(id);
            if !accepted {
                let who = match &shared.security {
                    Security::Tls(ends) => format!("{} ({peer})", ends.name_for(peer)),
                    Security::Plain => peer.to_string(),
                };
                let why = match ended {
                    Some(e) => format!("{kind} to {who} lost: {}", super::tls::explain_read_error(&e)),
                    None => format!("{kind} connection closed by {who}"),
                };
                tracing::info!(%peer, "{why}");
                let _ = shared.events.send(StreamEvent::Closed(id, peer, why));
            }
            let _ = writer.await;
        }
    }
}

/// When a connection last carried anything, and the keep-alive ping in
/// flight on one we opened.
struct Activity {
    last: Instant,
    /// A ping written and not answered yet (by a pong or anything else).
    ping_sent: Option<Instant>,
    /// The peer answered a ping before: only then is a missing pong a
    /// dead flow (a server that never pongs is not one).
    answers_pings: bool,
}

impl Activity {
    fn new() -> Self {
        Activity {
            last: Instant::now(),
            ping_sent: None,
            answers_pings: false,
        }
    }
}

async fn write_loop<S: AsyncWrite>(
    mut wr: WriteHalf<S>,
    mut queue: mpsc::Receiver<Vec<u8>>,
    activity: Arc<Mutex<Activity>>,
    accepted: bool,
) -> std::io::Result<()> {
    while let Some(bytes) = queue.recv().await {
        wr.write_all(&bytes).await?;
        // TLS buffers records: a message must leave now, not with the next.
        wr.flush().await?;
        if let Ok(mut a) = activity.lock() {
            a.last = Instant::now();
            if !accepted && bytes == agentphone_sip::keepalive::PING && a.ping_sent.is_none() {
                a.ping_sent = Some(a.last);
            }
        }
    }
    wr.shutdown().await
}

/// Reads until the connection ends; the read error that ended it, if one
/// did (a clean close, bad framing or an idle timeout is `None`).
async fn read_loop<S: AsyncRead>(
    id: ConnId,
    mut rd: ReadHalf<S>,
    peer: SocketAddr,
    shared: Shared,
    activity: Arc<Mutex<Activity>>,
    accepted: bool,
) -> Option<std::io::Error> {
    let mut framer = super::new_framer();
    let mut buf = vec![0u8; 16_384];
    let idle = shared.limits.idle_timeout;
    let kind = shared.security.name();
    let pong_timeout = shared.limits.pong_timeout;
    loop {
        let (since, ping) = activity
            .lock()
            .map(|a| (a.last.elapsed(), a.ping_sent.filter(|_| a.answers_pings)))
            .unwrap_or_default();
        let read = rd.read(&mut buf);
        let n = if accepted {
            if since >= idle {
                tracing::debug!(%peer, "closing {kind} connection idle for {idle:?}");
                return None;
            }
            match tokio::time::timeout(idle - since, read).await {
                Ok(r) => r,
                // Checked again at the top: a write may have happened.
                Err(_) => continue,
            }
        } else {
            if ping.is_some_and(|t| t.elapsed() >= pong_timeout) {
                return Some(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer to the keep-alive ping within {pong_timeout:?}"),
                ));
            }
            // Woken now and then to see whether a ping went out meanwhile.
            let wait = ping.map_or(Duration::from_secs(1), |t| {
                pong_timeout.saturating_sub(t.elapsed())
            });
            match tokio::time::timeout(wait.min(Duration::from_secs(1)), read).await {
                Ok(r) => r,
                Err(_) => continue,
            }
        };
        let n = match n {
            Ok(0) => return None,
            // A TLS peer that closes without close_notify (Kamailio does)
            // ends the connection as plainly as a FIN.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
            Err(e) => return Some(e),
            Ok(n) => n,
        };
        if let Ok(mut a) = activity.lock() {
            a.last = Instant::now();
            // Anything from the peer shows the flow alive; CRLFs alone
            // after a ping are its pong (a lone CRLF stays in the framer,
            // which cannot tell it from half a ping).
            if a.ping_sent.take().is_some() && buf[..n].iter().all(|b| matches!(b, b'\r' | b'\n')) {
                a.answers_pings = true;
            }
        }
        framer.push(&buf[..n]);
        while let Some(next) = framer.next_message() {
            match next {
                Ok(msg) => {
                    // Waits when the SIP loop is behind: TCP then pushes
                    // back on the peer instead of memory growing here.
                    if shared.inbound.send((id, peer, msg)).await.is_err() {
                        return None;
                    }
                }
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "closing {kind} connection: bad framing");
                    return None;
                }
            }
        }
        // Only a server answers pings (RFC 5626 §3.5.1). On our own
        // connections the framer cannot tell two pongs in a row (a lone
        // CRLF waits for what follows) from a ping: answering those would
        // echo every other pong back.
        let pings = framer.take_pings();
        if accepted {
            for _ in 0..pings {
                tracing::trace!(%peer, "keep-alive ping answered");
                shared.pong(id);
            }
        }
        if framer.take_pongs() > 0 {
            tracing::trace!(%peer, "keep-alive pong");
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// On a single-threaded runtime the writer task cannot run before `close`
    /// is awaited, so the bytes reach the peer only if `close` drains the queue.
    #[tokio::test(flavor = "current_thread")]
    async fn close_writes_out_what_was_queued_and_ends_the_connection() {
        let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer_addr = peer.local_addr().unwrap();
        let mut pool = StreamPool::bind("127.0.0.1:0".parse().unwrap(), TcpLimits::default())
            .await
            .unwrap();
        let message = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec();
        pool.send(None, peer_addr, message.clone()).unwrap();
        let (mut stream, _) = peer.accept().await.unwrap();
        pool.close(Duration::from_secs(2)).await;
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut got))
            .await
            .expect("connection closed after the flush")
            .unwrap();
        assert_eq!(got, message);
    }

    fn limits() -> TcpLimits {
        TcpLimits {
            max_inbound: 2,
            idle_timeout: Duration::from_millis(300),
            queue_messages: 4,
            inbound_queue: 16,
            connect_timeout: Duration::from_secs(2),
            pong_timeout: Duration::from_millis(300),
        }
    }

    /// RFC 5626 §4.4.1: a flow whose peer answered a ping before and leaves
    /// the next unanswered is dead; a peer that never answers pings is not
    /// judged by them.
    #[tokio::test]
    async fn a_flow_whose_peer_stops_answering_pings_is_closed_with_the_reason() {
        use agentphone_sip::keepalive::PING;
        for answers in [true, false] {
            let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = server.local_addr().unwrap();
            let mut pool = StreamPool::bind("127.0.0.1:0".parse().unwrap(), limits())
                .await
                .unwrap();
            pool.send(None, addr, PING.to_vec()).unwrap();
            let (mut peer, _) = server.accept().await.unwrap();
            let mut got = [0u8; 4];
            peer.read_exact(&mut got).await.unwrap();
            if answers {
                peer.write_all(b"\r\n").await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            // The second ping goes unanswered.
            pool.send(None, addr, PING.to_vec()).unwrap();
            peer.read_exact(&mut got).await.unwrap();
            let ev = tokio::time::timeout(Duration::from_millis(1500), pool.next()).await;
            match (answers, ev) {
                (true, Ok(StreamEvent::Closed(_, at, why))) => {
                    assert_eq!(at, addr);
                    assert!(why.contains("keep-alive ping"), "{why}");
                }
                (false, Err(_)) => {}
                (answers, other) => panic!("answers pings: {answers}, got {other:?}"),
            }
            drop(peer);
        }
    }

    /// A connection to a port nobody listens on fails in its own task; the
    /// send itself returns at once and the failure names the peer.
    #[tokio::test]
    async fn a_failed_connect_comes_back_as_a_failure_not_a_blocked_send() {
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let mut pool = StreamPool::bind("127.0.0.1:0".parse().unwrap(), limits())
            .await
            .unwrap();
        let started = Instant::now();
        pool.send(None, addr, b"OPTIONS".to_vec()).unwrap();
        assert!(started.elapsed() < Duration::from_millis(50));
        let StreamEvent::Failed(failure) =
            tokio::time::timeout(Duration::from_secs(3), pool.next())
                .await
                .expect("a failure in time")
        else {
            panic!("a failure, not a message");
        };
        assert_eq!(failure.addr, addr);
        assert!(failure.error.contains("connect"), "{}", failure.error);
    }

    /// Beyond `max_inbound` accepted connections a new one is closed at
    /// once; an idle accepted connection is closed after `idle_timeout`,
    /// which makes room again.
    #[tokio::test]
    async fn accepted_connections_are_capped_and_closed_when_idle() {
        let pool = StreamPool::bind("127.0.0.1:0".parse().unwrap(), limits())
            .await
            .unwrap();
        let at = pool.local_addr().unwrap();
        let mut a = TcpStream::connect(at).await.unwrap();
        let mut b = TcpStream::connect(at).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut c = TcpStream::connect(at).await.unwrap();
        let mut buf = [0u8; 8];
        let n = tokio::time::timeout(Duration::from_millis(200), c.read(&mut buf))
            .await
            .expect("the third connection is closed at once");
        assert!(matches!(n, Ok(0) | Err(_)));
        // The two accepted ones end when idle.
        for s in [&mut a, &mut b] {
            let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
                .await
                .expect("closed when idle");
            assert!(matches!(n, Ok(0) | Err(_)));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut d = TcpStream::connect(at).await.unwrap();
        let still_open = tokio::time::timeout(Duration::from_millis(100), d.read(&mut buf)).await;
        assert!(still_open.is_err(), "room again once the idle ones closed");
    }

    /// A peer that never reads fills its queue; sends beyond fail at once
    /// instead of piling up memory.
    #[tokio::test]
    async fn a_peer_that_does_not_read_fails_sends_beyond_the_queue() {
        let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = peer.local_addr().unwrap();
        let mut pool = StreamPool::bind("127.0.0.1:0".parse().unwrap(), limits())
            .await
            .unwrap();
        let _held = tokio::spawn(async move {
            let (s, _) = peer.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(s);
        });
        let big = vec![b'x'; 1 << 20];
        let mut refused = None;
        for n in 0..64 {
            if let Err(e) = pool.send(None, addr, big.clone()) {
                refused = Some((n, e.to_string()));
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (n, e) = refused.expect("a send is refused once the queue is full");
        assert!(e.contains("full"), "{e}");
        assert!(
            n >= 4,
            "the queue holds its {} messages first (refused at {n})",
            4
        );
    }
}
