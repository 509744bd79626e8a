//! A leg's network half: RTP and RTCP sockets,
//! latching and SSRC tracking ([`NetReceive`]), packetising and RFC 4733
//! digits ([`NetSend`]), SRTP/SRTCP ([`NetSrtp`]), RTCP reports, the RTP
//! timeout. It moves packets and never decodes: received payloads go to the
//! audio thread with their arrival time, encoded ones come back after every
//! tick of the audio thread. The pacer (`pacer`, a thread of its own) does
//! the per-tick reads and sends for every leg at once; the leg's own task,
//! on the network thread (`net_runtime`), wakes only for RTCP, for the
//! call's controls and at its end.

use super::net_receive::NetReceive;
use super::net_send::NetSend;
use super::net_srtp::{NetSrtp, SrtpCounts};
use super::pacer::{Paced, PacedLeg, Pacer};
use super::watchdog::RtpWatchdog;
use super::Control;
use agentphone_engine::leg::LegRings;
use agentphone_media::offer_answer::NegotiatedMedia;
use agentphone_media::rtcp_stats::{CallQuality, NtpTime, RtcpSession};
use agentphone_media::rtp_stream::DropCounters;
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// Largest datagram we read.
const MAX_DATAGRAM: usize = 1_500;
/// Datagrams read from the RTP socket per read signal at most (a 10 ms
/// tick carries one or two; the rest waits for the next signal in the
/// socket's buffer).
const MAX_READS: usize = 64;

/// What the network half counted over the call.
#[derive(Default)]
pub(super) struct NetReport {
    pub(super) quality: CallQuality,
    pub(super) digits_received: String,
    pub(super) digits_sent: usize,
    pub(super) send_stale: u64,
    pub(super) dropped: DropCounters,
    pub(super) ring_overflow: u64,
    pub(super) srtp: Option<agentphone_media::srtp::SrtpSuite>,
    pub(super) srtp_counts: SrtpCounts,
}

/// A leg's network half: what the pacer reads and sends on every tick, and
/// what the leg's task needs for RTCP and renegotiation.
pub(super) struct NetHalf {
    /// Read on the pacer's signal, not on readiness (see `pacer`), so not
    /// registered with the reactor; non-blocking.
    rtp: std::net::UdpSocket,
    remote_rtcp: SocketAddr,
    rtcp_session: RtcpSession,
    rx: NetReceive,
    tx: NetSend,
    srtp: NetSrtp,
    outbound: agentphone_engine::rings::OutboundReceiver,
    watchdog: RtpWatchdog,
    /// The call's quality as of the last second, for the controls.
    quality: tokio::sync::watch::Sender<CallQuality>,
    datagram: Vec<u8>,
}

impl Paced for NetHalf {
    fn read(&mut self) {
        self.read_rtp();
    }

    fn send(&mut self) -> bool {
        self.send_encoded();
        self.check_rtp_timeout();
        !self.outbound.is_abandoned()
    }

    fn second(&mut self) {
        // The RTP timeout is checked at every packet sent; this slow backstop
        // covers a leg that sends nothing (held by the peer or by us).
        self.check_rtp_timeout();
        let now = self
            .rtcp_session
            .quality(self.tx.sender(), self.rx.receiver());
        self.quality.send_replace(now);
    }
}

/// A leg's own task: its RTCP socket, renegotiation and digits from the
/// call, its end. The per-tick work is the pacer's.
pub(super) struct NetLeg {
    half: Arc<PacedLeg<NetHalf>>,
    rtcp: UdpSocket,
    rtcp_datagram: Vec<u8>,
}

impl NetLeg {
    /// `ip` is the address the sockets are bound on, for the RTCP CNAME
    /// (given, not asked of the socket). Runs on the network thread, whose
    /// reactor the RTCP socket joins here; the rest joins `pacer`.
    pub(super) fn new(
        (rtp, rtcp, ip): (std::net::UdpSocket, std::net::UdpSocket, std::net::IpAddr),
        negotiated: &NegotiatedMedia,
        rings: LegRings,
        jitter: (Duration, Duration),
        (watchdog, quality): (RtpWatchdog, tokio::sync::watch::Sender<CallQuality>),
        pacer: &Pacer<NetHalf>,
    ) -> anyhow::Result<Self> {
        let cname = format!("agentphone@{ip}");
        let rtcp = UdpSocket::from_std(rtcp).context("register the RTCP socket")?;
        let half = NetHalf {
            rtp,
            remote_rtcp: negotiated.remote_rtcp,
            rtcp_session: RtcpSession::new(Instant::now(), &cname),
            rx: NetReceive::new(negotiated, rings.inbound, jitter),
            tx: NetSend::new(negotiated),
            srtp: NetSrtp::new(negotiated.srtp.as_ref()),
            outbound: rings.outbound,
            watchdog,
            quality,
            datagram: vec![0; MAX_DATAGRAM],
        };
        Ok(NetLeg {
            half: pacer.join(half),
            rtcp,
            rtcp_datagram: vec![0; MAX_DATAGRAM],
        })
    }

    /// Runs until `stop` fires (or its sender is dropped), or the pacer lets
    /// the leg go (its audio half or the engine is gone).
    pub(super) async fn run(
        self,
        mut control: mpsc::UnboundedReceiver<Control>,
        mut stop: oneshot::Receiver<()>,
    ) -> NetReport {
        // One timer for the RTCP reports, moved only when the report time
        // changes.
        let rtcp_due = tokio::time::sleep_until(self.half.lock().next_rtcp());
        tokio::pin!(rtcp_due);
        let released = self.half.released();
        tokio::pin!(released);
        let mut rtcp_datagram = self.rtcp_datagram;
        loop {
            let due = self.half.lock().next_rtcp();
            if rtcp_due.deadline() != due {
                rtcp_due.as_mut().reset(due);
            }
            tokio::select! {
                _ = &mut stop => break,
                () = &mut released => break,
                Some(cmd) = control.recv() => self.half.lock().on_control(cmd),
                got = self.rtcp.recv_from(&mut rtcp_datagram) => match got {
                    Ok((len, _)) => self.half.lock().on_rtcp(&rtcp_datagram[..len]),
                    Err(e) => tracing::debug!("RTCP receive: {e}"),
                },
                _ = &mut rtcp_due => {
                    let mut half = self.half.lock();
                    half.send_rtcp(&self.rtcp);
                    // Pending again even if the schedule did not move.
                    rtcp_due.as_mut().reset(half.next_rtcp());
                }
            }
        }
        let mut half = self.half.lock();
        half.send_encoded();
        half.report()
    }
}

impl NetHalf {
    fn check_rtp_timeout(&mut self) {
        self.watchdog
            .check(Instant::now(), self.rx.receiver().last_arrival());
    }

    /// Everything the RTP socket holds, up to [`MAX_READS`] datagrams.
    fn read_rtp(&mut self) {
        for _ in 0..MAX_READS {
            match self.rtp.recv_from(&mut self.datagram) {
                Ok((len, from)) => self.on_rtp(len, from),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    // ICMP errors (port unreachable) surface here; the next
                    // signal reads on.
                    tracing::debug!("RTP receive: {e}");
                    return;
                }
            }
        }
    }

    fn next_rtcp(&self) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.rtcp_session.poll_timeout())
    }

    /// One datagram from the RTP socket: SRTP first, then the receive path.
    fn on_rtp(&mut self, len: usize, from: SocketAddr) {
        let Some(plain) = self.srtp.incoming_rtp(&self.datagram[..len]) else {
            return;
        };
        if let Some(digit) = self.rx.on_datagram(Instant::now(), from, &plain) {
            tracing::info!(%digit, "DTMF received");
        }
    }

    fn on_control(&mut self, cmd: Control) {
        match cmd {
            Control::Update(negotiated) => {
                self.srtp.update(negotiated.srtp.as_ref());
                self.tx.update(&negotiated);
                self.rx.update(&negotiated);
                self.watchdog.renegotiated(&negotiated, Instant::now());
                self.remote_rtcp = negotiated.remote_rtcp;
                tracing::info!(
                    codec = %negotiated.send_codec.codec,
                    remote = %negotiated.remote_rtp,
                    direction = ?negotiated.direction,
                    "media updated"
                );
            }
            Control::Digits(digits) => self.tx.queue_digits(digits),
            Control::Answered => self.watchdog.answered(Instant::now()),
        }
    }

    /// Sends what the audio thread encoded since the last tick.
    fn send_encoded(&mut self) {
        let rtp = &self.rtp;
        let srtp = &mut self.srtp;
        let now = Instant::now();
        while let Ok(packet) = self.outbound.pop() {
            self.tx.on_packet(&packet, now, |bytes, to| {
                let Some(bytes) = srtp.outgoing_rtp(bytes) else {
                    return;
                };
                // A full socket buffer drops this packet: late audio is worse
                // than lost audio, and the next tick sends the next one.
                if let Err(e) = rtp.send_to(&bytes, to) {
                    tracing::debug!("RTP send: {e}");
                }
            });
        }
    }

    fn on_rtcp(&mut self, datagram: &[u8]) {
        let now = Instant::now();
        let ntp = NtpTime::from_system_time(SystemTime::now());
        let ssrc = self.tx.sender().ssrc();
        let before = self.rtcp_session.remote_report();
        let Some(plain) = self.srtp.incoming_rtcp(datagram) else {
            return;
        };
        if let Err(e) = self.rtcp_session.handle_packet(now, ntp, ssrc, &plain) {
            tracing::debug!("RTCP ignored: {e}");
        }
        // Each new report about our stream retunes the encoder once.
        match self.rtcp_session.remote_report() {
            Some(r) if Some(r) != before => self.rx.peer_loss(r.fraction_lost),
            _ => {}
        }
    }

    fn send_rtcp(&mut self, rtcp: &UdpSocket) {
        let now = Instant::now();
        let ntp = NtpTime::from_system_time(SystemTime::now());
        let report =
            self.rtcp_session
                .handle_timeout(now, ntp, self.tx.sender(), self.rx.receiver_mut());
        match report {
            Ok(Some(bytes)) => {
                let Some(bytes) = self.srtp.outgoing_rtcp(&bytes) else {
                    return;
                };
                if let Err(e) = rtcp.try_send_to(&bytes, self.remote_rtcp) {
                    tracing::debug!("RTCP send: {e}");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::debug!("RTCP report not built: {e}"),
        }
    }

    fn report(&self) -> NetReport {
        NetReport {
            quality: self
                .rtcp_session
                .quality(self.tx.sender(), self.rx.receiver()),
            digits_received: self.rx.digits().to_owned(),
            digits_sent: self.tx.digits_sent,
            send_stale: self.tx.stale,
            dropped: self.rx.receiver().drops(),
            ring_overflow: self.rx.ring_overflow,
            srtp: self.srtp.suite(),
            srtp_counts: self.srtp.counts,
        }
    }
}
