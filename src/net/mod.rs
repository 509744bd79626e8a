//! The I/O shell around the sans-IO SIP endpoint: a UDP socket, a TCP
//! listener with its connections, TLS connections (and a TLS listener with a
//! certificate), and the endpoint's timer, all on one tokio task. No
//! protocol logic lives here.

pub mod dns;
mod limits;
pub mod retry;
mod route;
mod stream;
pub mod tls;
#[cfg(test)]
mod tls_pool_tests;
mod udp;

use crate::media::MediaLeg;
use agentphone_sip::message::StreamFramer;
use agentphone_sip::transport::{Destination, Transmit, Transport};
use agentphone_sip::{CallId, Endpoint, EndpointConfig, Event};
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::UdpSocket;
use tracing::debug;

pub use limits::Limits;
pub use route::listen_toward;
pub use stream::{Security, StreamEvent, StreamPool};

/// What a driver may add to plain UDP and TCP: TLS and keep-alives.
#[derive(Debug, Clone, Default)]
pub struct NetOptions {
    /// How TLS connections are checked and (with a certificate) accepted.
    pub tls: TlsOptions,
    /// Keep-alives for registrations (RFC 5626 §4.4.1).
    pub keepalive: Option<agentphone_sip::keepalive::KeepAlive>,
    /// Host names the run reaches peers by, with the address each resolved
    /// to: the SIP core maps names to addresses, TLS checks certificates
    /// against the names.
    pub hosts: Vec<(String, std::net::IpAddr)>,
}

/// TLS settings of one run.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// How servers are verified and what we present as a client.
    pub client: tls::TlsClientSettings,
    /// The certificate to accept TLS with (`answer --tls-cert/--tls-key`).
    pub server: Option<tls::TlsServerSettings>,
    /// Where to accept TLS (default: the SIP port + 1, else any free port).
    pub listen: Option<SocketAddr>,
}

/// Datagrams taken per wakeup at most, so timers and TCP still get their turn.
const UDP_BATCH: usize = 64;

/// A SIP endpoint bound to real sockets.
pub struct SipDriver {
    ep: Endpoint,
    udp: Arc<UdpSocket>,
    tcp: StreamPool,
    /// TLS connections, or why TLS cannot be used (no CA roots, a bad
    /// certificate file given for a run that does not need TLS).
    tls: Result<StreamPool, String>,
    buf: Vec<u8>,
    /// Consecutive UDP receive errors (each logged only at the first and
    /// every thousandth).
    receive_errors: u64,
}

impl SipDriver {
    /// Binds UDP and TCP on `listen` (port 0 picks a free port, the same for both
    /// when possible) and creates the endpoint.
    pub async fn bind(
        listen: SocketAddr,
        contact_user: &str,
        hosts: Vec<(String, std::net::IpAddr)>,
    ) -> Result<Self> {
        let limits = Limits::default();
        Self::bind_with(listen, contact_user, hosts, Default::default(), &limits).await
    }

    /// Like [`bind`](Self::bind), with the run's session-timer settings
    /// (`[sip]`, RFC 4028) and transport limits.
    pub async fn bind_with(
        listen: SocketAddr,
        contact_user: &str,
        hosts: Vec<(String, std::net::IpAddr)>,
        session_timer: agentphone_sip::session::SessionTimerConfig,
        limits: &Limits,
    ) -> Result<Self> {
        let net = NetOptions {
            hosts,
            ..Default::default()
        };
        Self::bind_full(listen, contact_user, session_timer, limits, net).await
    }

    /// Like [`bind_with`](Self::bind_with), with TLS and keep-alive
    /// settings. A TLS server certificate that cannot be loaded fails here;
    /// without one, TLS that cannot be set up (no CA roots) fails only the
    /// sends that need it, with the reason.
    pub async fn bind_full(
        listen: SocketAddr,
        contact_user: &str,
        session_timer: agentphone_sip::session::SessionTimerConfig,
        limits: &Limits,
        net: NetOptions,
    ) -> Result<Self> {
        let udp = udp::bind(listen, limits.udp_receive_buffer)
            .with_context(|| format!("cannot bind UDP {listen}"))?;
        let udp_addr = udp.local_addr()?;
        let tcp = StreamPool::bind(udp_addr, limits.tcp.clone())
            .await
            .with_context(|| format!("cannot listen on TCP {udp_addr}"))?;
        let tcp_addr = tcp.local_addr().unwrap_or(udp_addr);
        let tls = bind_tls(udp_addr, &net, limits).await?;
        let mut cfg = EndpointConfig::new(udp_addr);
        cfg.tcp_addr = Some(tcp_addr);
        // Without a TLS listener our TLS Via and Contact name the TCP
        // address: the registrar reaches us on our own connection (alias).
        cfg.tls_addr = Some(
            tls.as_ref()
                .ok()
                .and_then(|t| t.local_addr())
                .unwrap_or(tcp_addr),
        );
        cfg.keepalive = net.keepalive;
        cfg.contact_user = contact_user.to_string();
        cfg.hosts.extend(net.hosts);
        cfg.session_timer = session_timer;
        let seed = rand::random::<u64>();
        Ok(SipDriver {
            ep: Endpoint::new(cfg, seed),
            udp: Arc::new(udp),
            tcp,
            tls,
            buf: vec![0u8; 65_536],
            receive_errors: 0,
        })
    }

    /// The UDP address the endpoint listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.ep.config().udp_addr
    }

    /// The address TLS is accepted on, when it is.
    pub fn tls_listen_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().ok().and_then(|t| t.local_addr())
    }

    /// The call's INVITE reached us over TLS (or went out over it), so SDES
    /// keys in its SDP were not readable on that hop.
    pub fn call_over_tls(&self, call: CallId) -> bool {
        self.ep
            .call_peer(call)
            .is_some_and(|d| matches!(d.transport, Transport::Tls(_)))
    }

    /// A registrar looked up again has servers at new addresses: TLS to
    /// them checks their certificates against `name`, as for the first ones.
    pub fn learn_host(&mut self, name: &str, ips: &[std::net::IpAddr]) {
        if let Some(ends) = self.tls.as_ref().ok().and_then(|p| p.tls_ends()) {
            for ip in ips {
                ends.learn(*ip, &name.to_ascii_lowercase());
            }
        }
    }

    /// The endpoint, for commands. Their output is flushed by `next_event`.
    pub fn ep(&mut self) -> &mut Endpoint {
        &mut self.ep
    }

    /// Answers the peer's re-INVITE for `call`: the media's SDP answer (and
    /// the media moves to it), or 488 when the offer cannot be taken (the call
    /// keeps its session, RFC 3261 §14.2).
    pub fn answer_reinvite(&mut self, call: CallId, media: &mut MediaLeg, offer: Option<&[u8]>) {
        let now = Instant::now();
        let sent = match media.answer_reinvite(offer) {
            Ok(sdp) => self.ep.accept_reinvite(now, call, sdp),
            Err(e) => {
                tracing::info!(%call, "re-INVITE refused with 488: {e}");
                self.ep.reject_reinvite(now, call, 488)
            }
        };
        if let Err(e) = sent {
            tracing::warn!(%call, error = %e, "re-INVITE not answered");
        }
    }

    /// Answers an UPDATE's offer (RFC 3311) the way a re-INVITE's is answered:
    /// the media layer's answer, or 488 when it cannot take the offer.
    pub fn answer_update(&mut self, call: CallId, media: &mut MediaLeg, offer: &[u8]) {
        let now = Instant::now();
        let sent = match media.answer_reinvite(Some(offer)) {
            Ok(sdp) => self.ep.accept_update(now, call, sdp),
            Err(e) => {
                tracing::info!(%call, "UPDATE refused with 488: {e}");
                self.ep.reject_update(now, call, 488)
            }
        };
        if let Err(e) = sent {
            tracing::warn!(%call, error = %e, "UPDATE not answered");
        }
    }

    /// Runs I/O until the endpoint has an event. Cancel-safe: every await point
    /// leaves the endpoint consistent.
    pub async fn next_event(&mut self) -> Result<Event> {
        loop {
            self.flush().await;
            if let Some(ev) = self.ep.poll_event() {
                return Ok(ev);
            }
            let deadline = self.ep.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = self.udp.recv_from(&mut self.buf) => match r {
                    Ok((n, from)) => {
                        self.receive_errors = 0;
                        self.udp_input(n, from);
                        self.drain_udp();
                    }
                    Err(e) => self.receive_failed(e).await,
                },
                ev = self.tcp.next() => self.stream_event(Transport::Tcp(None), ev),
                ev = next_tls(&mut self.tls) => self.stream_event(Transport::Tls(None), ev),
                _ = sleep => self.ep.handle_timeout(Instant::now()),
            }
        }
    }

    /// A message, failure or closed flow from the TCP or TLS connections.
    fn stream_event(&mut self, kind: Transport, ev: StreamEvent) {
        let now = Instant::now();
        match ev {
            StreamEvent::Message(conn, from, msg) => {
                let dest = Destination {
                    transport: kind.with_conn(Some(conn)),
                    addr: from,
                };
                log_message(false, &dest, &msg);
                self.ep.handle_input(now, dest, &msg);
            }
            StreamEvent::Failed(f) => {
                tracing::warn!(peer = %f.addr, error = %f.error, "{} connection failed", kind.via_token());
                for conn in [None, Some(f.conn)] {
                    let dest = Destination {
                        transport: kind.with_conn(conn),
                        addr: f.addr,
                    };
                    self.ep.handle_transport_failure(now, dest, &f.error);
                }
            }
            StreamEvent::Closed(conn, addr, why) => {
                // Requests sent on it will get no answer: fail them now with
                // the reason, rather than at Timer B or F.
                for conn in [None, Some(conn)] {
                    let dest = Destination {
                        transport: kind.with_conn(conn),
                        addr,
                    };
                    self.ep.handle_transport_failure(now, dest, &why);
                }
                let dest = Destination {
                    transport: kind.with_conn(Some(conn)),
                    addr,
                };
                self.ep.handle_flow_closed(now, dest);
            }
        }
    }

    fn udp_input(&mut self, n: usize, from: SocketAddr) {
        let data = &self.buf[..n];
        log_message(false, &Destination::udp(from), data);
        self.ep
            .handle_input(Instant::now(), Destination::udp(from), data);
    }

    /// Takes what else already waits in the socket, up to a batch, before
    /// going back to the select: under a burst each wakeup then serves many
    /// datagrams, and the kernel's queue empties faster than it fills.
    fn drain_udp(&mut self) {
        for _ in 1..UDP_BATCH {
            match self.udp.try_recv_from(&mut self.buf) {
                Ok((n, from)) => self.udp_input(n, from),
                // WouldBlock: empty. Another error is seen again, and
                // handled, by the next recv_from.
                Err(_) => break,
            }
        }
    }

    /// A UDP receive error is the socket's moment, not the end of the
    /// process (nor of its calls): log it and go on, pausing briefly when it
    /// repeats so a persistent error cannot spin the loop.
    async fn receive_failed(&mut self, e: std::io::Error) {
        self.receive_errors += 1;
        if self.receive_errors % 1000 == 1 {
            tracing::warn!(error = %e, count = self.receive_errors, "UDP receive failed; going on");
        }
        if self.receive_errors > 1 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Sends what the endpoint still has queued and closes the TCP
    /// connections once their queues are written (at most 2 s): the last
    /// response of a run, such as the 200 to a BYE, must reach the peer.
    pub async fn close(&mut self) {
        self.flush().await;
        let limit = std::time::Duration::from_secs(2);
        match &mut self.tls {
            Ok(tls) => tokio::join!(self.tcp.close(limit), tls.close(limit)).0,
            Err(_) => self.tcp.close(limit).await,
        }
    }

    async fn flush(&mut self) {
        while let Some(t) = self.ep.poll_transmit() {
            self.send(t).await;
        }
    }

    async fn send(&mut self, t: Transmit) {
        log_message(true, &t.dest, &t.payload);
        match t.dest.transport {
            Transport::Udp => {
                if let Err(e) = self.udp.send_to(&t.payload, t.dest.addr).await {
                    tracing::warn!(dest = %t.dest, error = %e, "UDP send failed");
                    // Out of buffers is a moment's congestion: retransmission
                    // copes. Anything else (no route, wrong family) will fail
                    // again on every retransmission.
                    if e.raw_os_error() != Some(libc::ENOBUFS) {
                        self.ep.handle_transport_error(Instant::now(), t.dest);
                    }
                }
            }
            Transport::Tcp(conn) => {
                if let Err(e) = self.tcp.send(conn, t.dest.addr, t.payload) {
                    tracing::warn!(dest = %t.dest, error = %format_args!("{e:#}"), "TCP send failed");
                    self.ep
                        .handle_transport_failure(Instant::now(), t.dest, &format!("{e:#}"));
                }
            }
            Transport::Tls(conn) => {
                let sent = match &mut self.tls {
                    Ok(tls) => tls
                        .send(conn, t.dest.addr, t.payload)
                        .map_err(|e| format!("{e:#}")),
                    Err(why) => Err(why.clone()),
                };
                if let Err(e) = sent {
                    tracing::warn!(dest = %t.dest, error = %e, "TLS send failed");
                    self.ep.handle_transport_failure(Instant::now(), t.dest, &e);
                }
            }
        }
    }
}

/// The TLS pool of a driver: listening when a certificate is given (a bad
/// one fails the start), connecting out always, unless TLS cannot be set
/// up at all (then the reason, for the sends that need it).
async fn bind_tls(
    udp_addr: SocketAddr,
    net: &NetOptions,
    limits: &Limits,
) -> Result<std::result::Result<StreamPool, String>> {
    let names = net.hosts.iter().map(|(n, ip)| (*ip, n.clone())).collect();
    let ends = match tls::TlsEnds::new(&net.tls.client, net.tls.server.as_ref(), names) {
        Ok(e) => e,
        // A certificate to serve, or settings asked for, must work.
        Err(e) if net.tls.server.is_some() || net.tls.client != Default::default() => {
            return Err(e.context("TLS"))
        }
        Err(e) => return Ok(Err(format!("TLS unavailable: {e:#}"))),
    };
    let listen = ends.serves().then(|| {
        net.tls
            .listen
            .unwrap_or_else(|| SocketAddr::new(udp_addr.ip(), udp_addr.port().wrapping_add(1)))
    });
    let pool = StreamPool::bind_secured(listen, limits.tcp.clone(), Security::Tls(Arc::new(ends)))
        .await
        .with_context(|| format!("cannot listen on TLS {listen:?}"))?;
    Ok(Ok(pool))
}

/// The next TLS event, or never when TLS is unavailable.
async fn next_tls(tls: &mut std::result::Result<StreamPool, String>) -> StreamEvent {
    match tls {
        Ok(pool) => pool.next().await,
        Err(_) => std::future::pending().await,
    }
}

/// `-v` shows every SIP message; without it only first lines at debug level.
fn log_message(sent: bool, peer: &Destination, bytes: &[u8]) {
    let arrow = if sent { "sent to" } else { "received from" };
    debug!(target: "agentphone::sip", "{arrow} {peer}:\n{}", String::from_utf8_lossy(bytes));
}

/// Frames TCP bytes into SIP messages (kept here so `tcp.rs` stays about sockets).
pub(crate) fn new_framer() -> StreamFramer {
    StreamFramer::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An injected receive error (what ENOMEM or a socket-level error would
    /// give) neither ends the driver nor stops it answering.
    #[tokio::test]
    async fn a_udp_receive_error_does_not_stop_the_driver() {
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let mut sip = SipDriver::bind(loopback, "t", Vec::new())
            .await
            .expect("bind");
        for _ in 0..3 {
            sip.receive_failed(std::io::Error::other("injected")).await;
        }
        let addr = sip.local_addr();
        let client = UdpSocket::bind(loopback).await.expect("client");
        let c = client.local_addr().expect("client address");
        let options = format!(
            "OPTIONS sip:t@{addr} SIP/2.0\r\nVia: SIP/2.0/UDP {c};branch=z9hG4bKinj1\r\n\
             Max-Forwards: 70\r\nFrom: <sip:c@{c}>;tag=1\r\nTo: <sip:t@{addr}>\r\n\
             Call-ID: injected-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        client
            .send_to(options.as_bytes(), addr)
            .await
            .expect("send");
        let mut buf = [0u8; 4096];
        let answer = tokio::time::timeout(std::time::Duration::from_secs(3), async {
            loop {
                tokio::select! {
                    // Traces of what arrives; the driver must stay up.
                    ev = sip.next_event() => { ev.expect("the driver goes on"); }
                    r = client.recv_from(&mut buf) => return r,
                }
            }
        })
        .await;
        let (n, _) = answer.expect("an answer within 3 s").expect("receive");
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("SIP/2.0 200"), "{text}");
    }
}
