//! RTP/RTCP port pairs bound ahead of the calls that take them.
//!
//! Binding a pair costs several system calls (a random port is odd half the
//! time, so two or three binds; registering both sockets with the reactor
//! happens later, on the network thread, see `net_runtime`). Done on the SIP loop for every incoming call, it slows every
//! other call's signalling; a thread of the pool binds instead, and the SIP
//! loop only takes a ready pair (a lock and a pop). The pool refills to its
//! size whenever it falls a batch below, so at rest it holds exactly its size
//! (the process's descriptors stay constant between calls).
//!
//! A pair leaves the pool for good: its sockets close with the call's media
//! (or when the call that took it is dropped), never back into the pool, so
//! no call ever receives a stray packet aimed at an earlier one.

use anyhow::{Context, Result};
use std::collections::VecDeque;
use std::net::UdpSocket;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// Pairs kept ready by default: 40 ms of calls at 3,000 calls/s, and 256
/// descriptors.
pub const DEFAULT_POOL_PAIRS: usize = 128;

/// Pairs taken before the thread is woken to bind more: each wakeup binds a
/// batch, and the SIP loop signals the thread once per batch, not per call.
const REFILL_BATCH: usize = 16;

/// How often an idle thread tops up a pool left less than a batch short.
const TOP_UP_EVERY: Duration = Duration::from_millis(500);

/// After a failed bind (out of descriptors, no port left) the thread waits
/// this long before trying again, rather than spinning.
const RETRY_AFTER: Duration = Duration::from_millis(200);

/// An even RTP port and the odd RTCP port above it (RFC 3550 §11), bound.
pub(super) struct PortPair {
    pub(super) rtp: UdpSocket,
    pub(super) rtcp: UdpSocket,
    pub(super) port: u16,
}

#[cfg(test)]
impl PortPair {
    /// The RTP port (RTCP is on the next one).
    fn port(&self) -> u16 {
        self.port
    }
}

/// Pairs bound ahead on one address, refilled by a thread of its own.
pub struct PortPool {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    ip: IpAddr,
    size: usize,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    ready: VecDeque<PortPair>,
    /// The thread was woken and has not yet refilled the pool.
    asked: bool,
    stop: bool,
}

impl PortPool {
    /// Binds `size` pairs on `ip` now (so a failure shows at start, and the
    /// first calls find them) and starts the thread that keeps the pool
    /// full. A pool of size 0 has no thread and is always empty.
    pub fn start(ip: IpAddr, size: usize) -> Result<PortPool> {
        let mut ready = VecDeque::with_capacity(size);
        for _ in 0..size {
            ready.push_back(bind_pair_now(ip)?);
        }
        let shared = Arc::new(Shared {
            ip,
            size,
            state: Mutex::new(State {
                ready,
                ..State::default()
            }),
            wake: Condvar::new(),
        });
        if size == 0 {
            return Ok(PortPool {
                shared,
                thread: None,
            });
        }
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("agentphone-ports".into())
                .spawn(move || refill(&shared))
                .context("cannot start the RTP port thread")?
        };
        Ok(PortPool {
            shared,
            thread: Some(thread),
        })
    }

    /// The address the pairs are bound on.
    pub fn ip(&self) -> IpAddr {
        self.shared.ip
    }

    /// A ready pair, or `None` when the pool is empty (a burst faster than
    /// the thread binds): the caller binds one itself.
    pub(super) fn take(&self) -> Option<PortPair> {
        let mut state = self.shared.lock();
        let pair = state.ready.pop_front();
        let batch = REFILL_BATCH.min(self.shared.size);
        if !state.asked && batch > 0 && state.ready.len() + batch <= self.shared.size {
            state.asked = true;
            self.shared.wake.notify_one();
        }
        pair
    }

    /// Pairs ready now.
    #[cfg(test)]
    fn ready(&self) -> usize {
        self.shared.lock().ready.len()
    }
}

impl Drop for PortPool {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a queue of sockets, still
        // usable: take it over.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The thread: sleeps until asked, then binds until the pool is full again.
fn refill(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        if state.stop {
            return;
        }
        let missing = shared.size.saturating_sub(state.ready.len());
        if missing == 0 || (!state.asked && missing < REFILL_BATCH.min(shared.size)) {
            // Full, or short of less than a batch with nobody asking: the
            // SIP loop wakes us a batch short; a slow check tops the pool
            // up to its size at rest (so the descriptors come back).
            state.asked = false;
            state = shared
                .wake
                .wait_timeout(state, TOP_UP_EVERY)
                .map(|(s, timeout)| {
                    let mut s = s;
                    if timeout.timed_out() {
                        s.asked = true;
                    }
                    s
                })
                .unwrap_or_else(|e| e.into_inner().0);
            continue;
        }
        // Bind outside the lock, a batch at a time, so the SIP loop's take
        // never waits on a bind and new pairs show up early in a burst.
        drop(state);
        let mut batch = Vec::with_capacity(missing.min(REFILL_BATCH));
        let mut failed = None;
        for _ in 0..missing.min(REFILL_BATCH) {
            match bind_pair_now(shared.ip) {
                Ok(pair) => batch.push(pair),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        state = shared.lock();
        state.ready.extend(batch);
        if let Some(e) = failed {
            tracing::warn!(
                "RTP port pool: {e:#}; {} pairs ready, trying again in {} ms",
                state.ready.len(),
                RETRY_AFTER.as_millis()
            );
            state = shared
                .wake
                .wait_timeout(state, RETRY_AFTER)
                .map(|(s, _)| s)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
}

/// Binds an even RTP port and the odd one above it, with blocking system
/// calls (on the pool's thread, or at start), non-blocking for tokio.
pub(super) fn bind_pair_now(ip: IpAddr) -> Result<PortPair> {
    for _ in 0..50 {
        let rtp = UdpSocket::bind(SocketAddr::new(ip, 0)).context("bind RTP socket")?;
        let port = rtp.local_addr().context("RTP socket address")?.port();
        let (rtp, port) = if port % 2 == 0 {
            (rtp, port)
        } else {
            let Some(even) = port.checked_add(1) else {
                continue;
            };
            match UdpSocket::bind(SocketAddr::new(ip, even)) {
                Ok(s) => (s, even),
                Err(_) => continue,
            }
        };
        // An even port is at most 65534, so the RTCP port fits.
        let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(ip, port + 1)) else {
            continue;
        };
        rtp.set_nonblocking(true)
            .context("RTP socket non-blocking")?;
        rtcp.set_nonblocking(true)
            .context("RTCP socket non-blocking")?;
        return Ok(PortPair { rtp, rtcp, port });
    }
    anyhow::bail!("no free RTP/RTCP port pair on {ip}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn pairs_are_even_and_odd_and_the_pool_refills_to_its_size() {
        let pool = PortPool::start(LOOPBACK, 24).expect("pool");
        assert_eq!(pool.ready(), 24);
        let taken: Vec<PortPair> = (0..20).map(|_| pool.take().expect("a pair")).collect();
        for p in &taken {
            assert_eq!(p.port() % 2, 0, "RTP port {} is odd", p.port());
            let rtp = p.rtp.local_addr().expect("rtp address");
            let rtcp = p.rtcp.local_addr().expect("rtcp address");
            assert_eq!((rtp.ip(), rtp.port()), (LOOPBACK, p.port()));
            assert_eq!(rtcp.port(), p.port() + 1);
        }
        let mut ports: Vec<u16> = taken.iter().map(PortPair::port).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 20, "a pair was handed out twice");
        // Taken pairs stay bound by their owner; the pool binds new ones.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while pool.ready() < 24 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(pool.ready(), 24, "the pool did not refill to its size");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_pool_of_one_refills_after_each_take() {
        let pool = PortPool::start(LOOPBACK, 1).expect("pool");
        let mut held = Vec::new();
        for _ in 0..3 {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while pool.ready() == 0 && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            held.push(pool.take().expect("the pool refilled its one pair"));
        }
        assert_eq!(held.len(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn received_datagrams_reach_a_pooled_socket() {
        let pool = PortPool::start(LOOPBACK, 2).expect("pool");
        let pair = pool.take().expect("a pair");
        let sender = tokio::net::UdpSocket::bind((LOOPBACK, 0))
            .await
            .expect("sender");
        sender
            .send_to(b"rtp", (LOOPBACK, pair.port()))
            .await
            .expect("send");
        let rtp = tokio::net::UdpSocket::from_std(pair.rtp).expect("register");
        let mut buf = [0u8; 16];
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), rtp.recv_from(&mut buf))
            .await
            .expect("in time")
            .expect("receive");
        assert_eq!(&buf[..n], b"rtp");
    }
}
