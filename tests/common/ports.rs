//! Loopback ports for peers, and whether a peer has bound its port yet.
//!
//! Ports are taken from 21000-29999: below the kernel's ephemeral range
//! (32768-60999), so no socket bound to port 0 (agentphone's `--listen 127.0.0.1:0`,
//! SIPp's media sockets) can take a port between our check and the peer's bind, and
//! above the 10000-20000 range RTP stacks favour. Each process starts at an offset
//! from its pid, so two test binaries run side by side do not walk the same ports.

use std::collections::HashSet;
use std::net::{TcpListener, UdpSocket};
use std::sync::Mutex;

const FIRST: u16 = 21_000;
const COUNT: u16 = 9_000;

/// A port on 127.0.0.1 free for both UDP and TCP right now, never returned before
/// in this process (tests run on parallel threads of one process).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    // A poisoned lock only means another test panicked; the set is still valid.
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    let count = u32::from(COUNT);
    let start = std::process::id() % count;
    for i in 0..count {
        // Stride 7 is coprime with COUNT, so this visits every port once.
        let offset = u16::try_from((start + i * 7) % count).unwrap_or(0);
        let port = FIRST + offset;
        if given.contains(&port) {
            continue;
        }
        if UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port)).is_ok()
        {
            given.insert(port);
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{}", FIRST + COUNT);
}

/// Transport of a bound socket, for [`is_bound`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// A UDP socket bound to the port.
    Udp,
    /// A TCP socket listening on the port.
    Tcp,
}

/// Whether some process has bound `port` (UDP) or listens on it (TCP), read from
/// `/proc/net`. Binding the port ourselves to find out would steal it from the peer
/// that is about to bind it.
pub fn is_bound(proto: Proto, port: u16) -> bool {
    let table = match proto {
        Proto::Udp => "/proc/net/udp",
        Proto::Tcp => "/proc/net/tcp",
    };
    let Ok(text) = std::fs::read_to_string(table) else {
        return false;
    };
    text.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1).unwrap_or("");
        let state = fields.nth(1).unwrap_or("");
        let port_hex = local.rsplit(':').next().unwrap_or("");
        let port_ok = u16::from_str_radix(port_hex, 16) == Ok(port);
        // 0A is TCP_LISTEN; a UDP socket's state does not matter.
        port_ok && (proto == Proto::Udp || state == "0A")
    })
}

/// Waits until `port` is bound (see [`is_bound`]), polling for at most `limit`.
pub fn wait_bound(proto: Proto, port: u16, limit: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if is_bound(proto, port) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}
