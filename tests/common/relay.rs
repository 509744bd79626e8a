//! A SIP-aware UDP relay that puts itself into a call's media path and impairs the
//! RTP it carries: seeded random loss and random delay (which reorders packets).
//! The kernel here has no `netem`, so the impairment lives in the test process.
//!
//! How it gets into the path: the caller sends its INVITE to the relay's SIP port;
//! the relay forwards SIP datagrams between caller and callee unchanged except for
//! SDP bodies, whose `c=` and `m=audio` port it rewrites to one of its own media
//! sockets (fixing `Content-Length`). The caller is told to send RTP to the relay's
//! caller-facing socket, the callee to its callee-facing socket, and each side
//! receives RTP from the socket it sends to, so symmetric-RTP latching sees one
//! consistent remote. Responses come back through the relay because agentphone
//! answers to a request's source address; in-dialog requests (ACK, BYE) may go
//! straight to the Contact, which is fine: only media is impaired.
//! Only RTP is relayed: RTCP (port + 1) is not, and an `a=rtcp` line passes
//! unchanged (agentphone sends no RTCP from its media loop yet).
//!
//! [`Relay::set_tamper_every`] flips one payload bit in every Nth packet
//! instead (an SRTP receiver must refuse those).
//!
//! Every thread ends when the [`Relay`] drops or its lifetime runs out, whichever
//! comes first; every wait is bounded.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::relay_draws::Draws;

/// Longest SIP or RTP datagram handled.
const MAX_DATAGRAM: usize = 65_535;
/// How often blocked threads look at the stop flag.
const POLL: Duration = Duration::from_millis(20);

/// What the relay does to each RTP packet (each direction draws from its own
/// seeded generator, so a run is reproducible up to thread timing).
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    /// Probability of dropping a packet, 0.0..=1.0.
    pub loss: f64,
    /// Every packet is held at least this long...
    pub delay_min: Duration,
    /// ...and at most this long (uniformly in between).
    pub delay_max: Duration,
    /// Seed of the generator.
    pub seed: u64,
}

impl Impairment {
    /// Forwards everything at once.
    pub fn none() -> Self {
        Self {
            loss: 0.0,
            delay_min: Duration::ZERO,
            delay_max: Duration::ZERO,
            seed: 1,
        }
    }
}

/// Counts for one RTP direction.
#[derive(Debug, Clone, Copy, Default)]
pub struct DirectionStats {
    /// RTP datagrams that reached the relay.
    pub received: u64,
    /// Dropped on purpose (loss).
    pub dropped: u64,
    /// Sent on to the other side.
    pub forwarded: u64,
    /// Sent before a packet that had reached the relay earlier.
    pub reordered: u64,
    /// Received before the other side's media address was known (not sent).
    pub unroutable: u64,
    /// Forwarded with one bit flipped on purpose.
    pub tampered: u64,
    /// Smallest and largest delay drawn (ms), over forwarded packets.
    pub delay_min_ms: f64,
    /// See `delay_min_ms`.
    pub delay_max_ms: f64,
    /// Sum of the delays drawn (ms), over forwarded packets.
    pub delay_total_ms: f64,
}

impl DirectionStats {
    /// Dropped share of the packets that could be routed.
    pub fn loss_ratio(&self) -> f64 {
        let routed = self.received - self.unroutable;
        if routed == 0 {
            0.0
        } else {
            self.dropped as f64 / routed as f64
        }
    }

    /// Mean delay the relay added to a forwarded packet (ms).
    pub fn mean_delay_ms(&self) -> f64 {
        self.delay_total_ms / self.forwarded.max(1) as f64
    }
}

/// What the relay saw, per direction.
#[derive(Debug, Clone, Copy, Default)]
pub struct RelayStats {
    /// Caller's RTP on its way to the callee.
    pub to_callee: DirectionStats,
    /// Callee's RTP on its way to the caller.
    pub to_caller: DirectionStats,
    /// SIP datagrams forwarded either way.
    pub sip_forwarded: u64,
    /// SDP bodies rewritten.
    pub sdp_rewritten: u64,
}

/// Which side a media socket faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Caller,
    Callee,
}

/// Addresses learned from the SDP, and the counters.
#[derive(Default)]
struct State {
    caller_sip: Option<SocketAddr>,
    caller_rtp: Option<SocketAddr>,
    callee_rtp: Option<SocketAddr>,
    stats: RelayStats,
}

/// One delayed packet waiting in the release queue.
struct Pending {
    due: Instant,
    /// Arrival order within its direction (for the reorder count).
    order: u64,
    to: SocketAddr,
    towards: Side,
    /// The delay drawn for it.
    delay: Duration,
    bytes: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.order) == (other.due, other.order)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.order).cmp(&(other.due, other.order))
    }
}

struct Shared {
    state: Mutex<State>,
    queue: Mutex<BinaryHeap<Reverse<Pending>>>,
    queued: Condvar,
    stop: AtomicBool,
    deadline: Instant,
    /// The loss probability now (f64 bits): [`Relay::set_loss`] changes it
    /// mid-call.
    loss: AtomicU64,
    /// Flip a bit in every Nth packet of each direction (0: never).
    tamper_every: AtomicU64,
}

impl Shared {
    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && Instant::now() < self.deadline
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking relay thread must not hide the counters from the test.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running relay. Dropping it stops and joins its threads.
pub struct Relay {
    sip_addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Relay {
    /// Starts a relay on loopback that forwards SIP to `callee_sip` and impairs
    /// RTP as `impairment` says. It stops by itself after `lifetime`.
    pub fn start(callee_sip: SocketAddr, impairment: Impairment, lifetime: Duration) -> Self {
        let bind = || {
            let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind relay socket");
            s.set_read_timeout(Some(POLL)).expect("set read timeout");
            s
        };
        let (sip, to_caller, to_callee) = (bind(), bind(), bind());
        let local = |s: &UdpSocket| s.local_addr().expect("relay socket address");
        let ports = MediaPorts {
            facing_caller: local(&to_caller),
            facing_callee: local(&to_callee),
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            queue: Mutex::new(BinaryHeap::new()),
            queued: Condvar::new(),
            stop: AtomicBool::new(false),
            deadline: Instant::now() + lifetime,
            loss: AtomicU64::new(impairment.loss.to_bits()),
            tamper_every: AtomicU64::new(0),
        });
        let sip_addr = local(&sip);
        let clone = |s: &UdpSocket| s.try_clone().expect("clone relay socket");
        let senders = Senders {
            to_caller: clone(&to_caller),
            to_callee: clone(&to_callee),
        };
        let mut threads = Vec::new();
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.to_string())
                .spawn(move || {
                    realtime();
                    f()
                })
                .expect("spawn relay thread")
        };
        let s = Arc::clone(&shared);
        threads.push(spawn(
            "relay-sip",
            Box::new(move || sip_loop(&s, &sip, callee_sip, ports)),
        ));
        // The socket facing the caller receives the caller's RTP, bound for the callee.
        for (socket, from, seed) in [
            (to_caller, Side::Caller, impairment.seed),
            (to_callee, Side::Callee, impairment.seed.wrapping_add(1)),
        ] {
            let s = Arc::clone(&shared);
            let imp = Impairment { seed, ..impairment };
            threads.push(spawn(
                "relay-rtp",
                Box::new(move || media_loop(&s, &socket, from, imp)),
            ));
        }
        let s = Arc::clone(&shared);
        threads.push(spawn(
            "relay-release",
            Box::new(move || release_loop(&s, &senders)),
        ));
        Self {
            sip_addr,
            shared,
            threads,
        }
    }

    /// Where the caller sends its INVITE.
    pub fn sip_addr(&self) -> SocketAddr {
        self.sip_addr
    }

    /// Drops this share of the RTP from now on, both ways (a link that
    /// starts degrading mid-call).
    pub fn set_loss(&self, loss: f64) {
        self.shared.loss.store(loss.to_bits(), Ordering::Relaxed);
    }

    /// Flips one bit in the middle of every `n`th packet each way from now
    /// on (0 stops it): a man in the middle changing media.
    pub fn set_tamper_every(&self, n: u64) {
        self.shared.tamper_every.store(n, Ordering::Relaxed);
    }

    /// Counters so far.
    pub fn stats(&self) -> RelayStats {
        self.shared.state().stats
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.queued.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The relay's two media addresses, written into the SDP it forwards.
#[derive(Clone, Copy)]
struct MediaPorts {
    facing_caller: SocketAddr,
    facing_callee: SocketAddr,
}

struct Senders {
    to_caller: UdpSocket,
    to_callee: UdpSocket,
}

/// Forwards SIP: from the callee to the caller (last seen), anything else to the
/// callee; SDP bodies are rewritten to the relay's media socket facing the receiver.
fn sip_loop(shared: &Shared, socket: &UdpSocket, callee: SocketAddr, ports: MediaPorts) {
    let mut buf = vec![0; MAX_DATAGRAM];
    while shared.running() {
        let Ok((len, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let from_callee = from == callee;
        let (to, media_for_peer) = if from_callee {
            let Some(caller) = shared.state().caller_sip else {
                continue;
            };
            (caller, ports.facing_caller)
        } else {
            shared.state().caller_sip = Some(from);
            (callee, ports.facing_callee)
        };
        let (out, announced) = rewrite_sdp(&buf[..len], media_for_peer);
        {
            let mut state = shared.state();
            if let Some(rtp) = announced {
                if from_callee {
                    state.callee_rtp = Some(rtp);
                } else {
                    state.caller_rtp = Some(rtp);
                }
                state.stats.sdp_rewritten += 1;
            }
            state.stats.sip_forwarded += 1;
        }
        let _ = socket.send_to(&out, to);
    }
}

/// Receives one side's RTP and queues it for the other side, impaired.
fn media_loop(shared: &Shared, socket: &UdpSocket, from_side: Side, imp: Impairment) {
    let mut draws = Draws::new(imp.seed);
    let mut buf = vec![0; MAX_DATAGRAM];
    let mut order = 0u64;
    let spread = imp.delay_max.saturating_sub(imp.delay_min);
    while shared.running() {
        let Ok((len, _from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let arrived = Instant::now();
        let (to, towards, held) = {
            let mut state = shared.state();
            let (to, towards) = match from_side {
                Side::Caller => (state.callee_rtp, Side::Callee),
                Side::Callee => (state.caller_rtp, Side::Caller),
            };
            let stats = direction(&mut state.stats, towards);
            stats.received += 1;
            let Some(to) = to else {
                stats.unroutable += 1;
                continue;
            };
            let Some(held) = draws.fate(f64::from_bits(shared.loss.load(Ordering::Relaxed))) else {
                stats.dropped += 1;
                continue;
            };
            let every = shared.tamper_every.load(Ordering::Relaxed);
            if every > 0 && stats.received.is_multiple_of(every) && len > 16 {
                buf[len / 2] ^= 0x10;
                stats.tampered += 1;
            }
            (to, towards, held)
        };
        let delay = imp.delay_min + spread.mul_f64(held);
        order += 1;
        let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.push(Reverse(Pending {
            due: arrived + delay,
            order,
            to,
            towards,
            delay,
            bytes: buf[..len].to_vec(),
        }));
        drop(queue);
        shared.queued.notify_one();
    }
}

/// Sends queued packets when they are due, counting reordering and delays.
fn release_loop(shared: &Shared, senders: &Senders) {
    let mut highest_sent = [0u64; 2];
    while shared.running() {
        let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let wait = match queue.peek() {
            Some(Reverse(p)) if p.due <= now => None,
            Some(Reverse(p)) => Some((p.due - now).min(POLL)),
            None => Some(POLL),
        };
        if let Some(wait) = wait {
            let _ = shared.queued.wait_timeout(queue, wait);
            continue;
        }
        let Some(Reverse(p)) = queue.pop() else {
            continue;
        };
        drop(queue);
        let (socket, slot) = match p.towards {
            Side::Caller => (&senders.to_caller, 0),
            Side::Callee => (&senders.to_callee, 1),
        };
        let _ = socket.send_to(&p.bytes, p.to);
        let mut state = shared.state();
        let stats = direction(&mut state.stats, p.towards);
        let ms = p.delay.as_secs_f64() * 1e3;
        if stats.forwarded == 0 {
            (stats.delay_min_ms, stats.delay_max_ms) = (ms, ms);
        }
        stats.delay_min_ms = stats.delay_min_ms.min(ms);
        stats.delay_max_ms = stats.delay_max_ms.max(ms);
        stats.delay_total_ms += ms;
        stats.forwarded += 1;
        if p.order < highest_sent[slot] {
            stats.reordered += 1;
        }
        highest_sent[slot] = highest_sent[slot].max(p.order);
    }
}

/// Puts the calling relay thread under SCHED_FIFO when allowed (root, as
/// under CI). The relay stands in for a network whose only timing is the
/// impairment configured; at normal priority on a loaded two-core machine
/// (the tests of a file run side by side, each scoring audio) its threads
/// woke several milliseconds late, so packets that the test meant to arrive
/// in time missed their play-out turn. Every relay thread blocks with a
/// bounded wait, so it cannot starve the machine. Without the privilege the
/// relay keeps normal priority and says nothing: the figures then carry the
/// scheduler's noise as well.
fn realtime() {
    let param = libc::sched_param { sched_priority: 5 };
    // SAFETY: `sched_setscheduler` only reads the live local `param` during
    // the call; pid 0 is the calling thread.
    let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
}

fn direction(stats: &mut RelayStats, towards: Side) -> &mut DirectionStats {
    match towards {
        Side::Callee => &mut stats.to_callee,
        Side::Caller => &mut stats.to_caller,
    }
}

/// Rewrites the `c=` address and `m=audio` port of an SDP body in a SIP datagram
/// to `media`, fixing `Content-Length`. Returns the datagram to send and the
/// media address the body announced (None when it has no audio SDP).
pub fn rewrite_sdp(datagram: &[u8], media: SocketAddr) -> (Vec<u8>, Option<SocketAddr>) {
    let Ok(text) = std::str::from_utf8(datagram) else {
        return (datagram.to_vec(), None);
    };
    let Some(split) = text.find("\r\n\r\n") else {
        return (datagram.to_vec(), None);
    };
    let (head, body) = (&text[..split], &text[split + 4..]);
    if !body.contains("m=audio ") {
        return (datagram.to_vec(), None);
    }
    let mut ip = None;
    let mut port = None;
    let mut new_body = String::with_capacity(body.len() + 16);
    for line in body.split_inclusive("\r\n") {
        let content = line.trim_end_matches("\r\n");
        if let Some(rest) = content.strip_prefix("c=IN IP4 ") {
            // The media-level c= (after m=) wins over the session-level one.
            if ip.is_none() || port.is_some() {
                ip = rest.split('/').next().and_then(|a| a.trim().parse().ok());
            }
            new_body.push_str(&format!("c=IN IP4 {}\r\n", media.ip()));
        } else if let Some(rest) = content.strip_prefix("m=audio ") {
            let (old_port, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            port = old_port.parse::<u16>().ok();
            new_body.push_str(&format!("m=audio {} {tail}\r\n", media.port()));
        } else {
            new_body.push_str(line);
        }
    }
    let mut out = String::with_capacity(datagram.len() + 16);
    for line in head.split("\r\n") {
        let name = line.split(':').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("Content-Length") || name.eq_ignore_ascii_case("l") {
            out.push_str(&format!("Content-Length: {}\r\n", new_body.len()));
        } else {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out.push_str(&new_body);
    let announced = match (ip, port) {
        (Some(ip), Some(port)) => Some(SocketAddr::new(ip, port)),
        _ => None,
    };
    (out.into_bytes(), announced)
}
