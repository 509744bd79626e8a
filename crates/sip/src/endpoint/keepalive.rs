//! Pinging registered flows (RFC 5626 §4.4.1): `CRLFCRLF` on TCP and TLS
//! connections, `CRLFCRLF` or an OPTIONS over UDP, every
//! [`KeepAlive::interval`](crate::keepalive::KeepAlive) while the
//! registration is bound.

use super::{Endpoint, Owner};
use crate::keepalive::{UdpPing, PING};
use crate::register::{RegId, RegState};
use crate::rsip::Method;
use crate::transaction::Wire;
use crate::transport::Transport;
use std::time::Instant;

impl Endpoint {
    /// Arms the first keep-alive of a registration that just succeeded.
    pub(super) fn keepalive_start(&mut self, now: Instant, reg: RegId) {
        let Some(k) = self.cfg.keepalive else {
            return;
        };
        if let Some(r) = self.regs.get_mut(&reg) {
            if r.keepalive_at.is_none() {
                r.keepalive_at = Some(now + k.interval);
            }
        }
    }

    /// Sends the keep-alives that are due and arms the next ones.
    pub(super) fn keepalive_timers(&mut self, now: Instant) {
        let Some(k) = self.cfg.keepalive else {
            return;
        };
        let due: Vec<RegId> = self
            .regs
            .iter()
            .filter(|(_, r)| r.keepalive_at.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for reg in due {
            let Some(r) = self.regs.get_mut(&reg) else {
                continue;
            };
            if !matches!(r.state, RegState::Registered { .. }) {
                r.keepalive_at = None;
                continue;
            }
            r.keepalive_at = Some(now + k.interval);
            let dest = r.req.registrar;
            match (dest.transport, k.udp) {
                (Transport::Udp, UdpPing::Options) => self.options_ping(now, reg),
                _ => self.send_wire(
                    dest,
                    Wire {
                        bytes: PING.to_vec(),
                        line: "keep-alive CRLFCRLF".into(),
                    },
                ),
            }
        }
    }

    /// An OPTIONS to the registrar's domain, outside any dialog; its answer
    /// (or its absence) matters to nobody but the NAT in between.
    fn options_ping(&mut self, now: Instant, reg: RegId) {
        let Some(r) = self.regs.get(&reg) else {
            return;
        };
        let (dest, user, domain) = (r.req.registrar, r.req.user.clone(), r.req.domain.clone());
        let Ok(uri) = crate::rsip::parse_uri(&format!("sip:{domain}")) else {
            return;
        };
        let tag = self.token(10);
        let call_id = self.new_call_id();
        let from = format!("<sip:{user}@{domain}>;tag={tag}");
        let to = format!("<sip:{domain}>");
        let mut options = self.new_request(
            Method::Options,
            uri,
            &from,
            &to,
            &call_id,
            1,
            dest.transport,
        );
        super::build::finish_request(&mut options);
        match self.tx.send_request(now, options, dest) {
            Ok(key) => {
                self.owners.insert(key, Owner::Nobody);
            }
            Err(e) => tracing::debug!(error = %e, "keep-alive OPTIONS not sent"),
        }
    }
}
