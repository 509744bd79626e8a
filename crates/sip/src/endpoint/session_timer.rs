//! Session timers (RFC 4028): the headers on our INVITEs, re-INVITEs and
//! UPDATEs, the negotiation on every 2xx sent or received, the refresh at
//! half the interval when we are the refresher (UPDATE when the peer allows
//! it, else re-INVITE with the current SDP), the BYE when the session
//! expires, and the one retry of an INVITE refused with 422.

use super::build::{supported, ALLOW};
use super::require::lists;
use super::uac::bump_for_retry;
use super::{Endpoint, Owner};
use crate::message;
use crate::rsip::{Header, Headers, Request, Response};
use crate::session::timer::{parse_delta, Refresher, SessionExpires, SessionTimer};
use crate::session::{CallExtensions, CallId, CallState, EndReason};
use std::time::Instant;

const TIMER_HEADERS: [&str; 3] = ["Supported", "Session-Expires", "Min-SE"];

impl Endpoint {
    /// Supported, and with session timers on Session-Expires and Min-SE,
    /// for a request we send in (or to start) a session (§7.1), from the
    /// call's extension state (`None` for a new INVITE): a running timer
    /// keeps its interval and names us refresher (`uac`) or the peer
    /// (`uas`); a 422's Min-SE raises what we ask for.
    pub(super) fn set_timer_headers(&self, ext: Option<&CallExtensions>, headers: &mut Headers) {
        let (floor, timer) = ext.map_or((None, None), |e| (e.se_floor, e.timer));
        self.put_timer_headers(floor, timer, headers);
    }

    fn put_timer_headers(
        &self,
        floor: Option<u32>,
        timer: Option<SessionTimer>,
        headers: &mut Headers,
    ) {
        let cfg = self.cfg.session_timer;
        headers.retain(|h| {
            !TIMER_HEADERS
                .iter()
                .any(|n| h.name().eq_ignore_ascii_case(n))
        });
        headers.push(Header::Supported(supported(cfg.enabled).into()));
        if !cfg.enabled {
            return;
        }
        let floor = floor.unwrap_or(0);
        let secs = timer
            .map_or(cfg.session_expires_secs(), |t| {
                u32::try_from(t.interval.as_secs()).unwrap_or(u32::MAX)
            })
            .max(floor);
        let value = match timer {
            Some(t) if t.we_refresh => format!("{secs};refresher=uac"),
            Some(_) => format!("{secs};refresher=uas"),
            None => secs.to_string(),
        };
        headers.push(Header::SessionExpires(value.into()));
        let min = cfg.min_se_secs().max(floor);
        headers.push(Header::Other("Min-SE".into(), min.to_string()));
    }

    /// We answer `req` (INVITE, re-INVITE, UPDATE) with the 2xx `resp`:
    /// settle the session timer as its UAS (§9) and say so in `resp`
    /// (Session-Expires with the refresher, Require: timer when the peer
    /// supports it), and advertise what we support and allow (RFC 3261
    /// §20.5, §20.37), so the peer knows it may refresh by UPDATE.
    pub(super) fn timer_on_2xx_sent(
        &mut self,
        now: Instant,
        call: CallId,
        req: &Request,
        resp: &mut Response,
    ) {
        let cfg = self.cfg.session_timer;
        resp.headers
            .push(Header::Supported(supported(cfg.enabled).into()));
        resp.headers.push(Header::Allow(ALLOW.into()));
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if message::header(req, "Allow").is_some() {
            c.ext.peer_allows_update = lists(req, "Allow", "update");
        }
        if !cfg.enabled {
            return;
        }
        let uac_supports = lists(req, "Supported", "timer") || lists(req, "Require", "timer");
        let asked = message::header(req, "Session-Expires").and_then(SessionExpires::parse);
        let peer_min = message::header(req, "Min-SE")
            .and_then(parse_delta)
            .unwrap_or(90);
        let floor = peer_min.max(cfg.min_se_secs());
        let (secs, refresher) = match asked {
            // §9: the UAS may shorten the interval, not below either Min-SE.
            Some(se) => (
                se.secs.min(cfg.session_expires_secs()).max(floor),
                match se.refresher {
                    Some(r) if uac_supports => r,
                    _ if uac_supports => Refresher::Uac,
                    _ => Refresher::Uas,
                },
            ),
            // The UAC supports timers without asking: we set them (§9).
            None if uac_supports => (cfg.session_expires_secs().max(floor), Refresher::Uac),
            None => {
                c.ext.timer = None;
                return;
            }
        };
        c.ext.timer = Some(SessionTimer::new(now, secs, refresher == Refresher::Uas));
        resp.headers.push(Header::SessionExpires(
            format!("{secs};refresher={}", refresher.as_str()).into(),
        ));
        if uac_supports {
            resp.headers.push(Header::Require("timer".into()));
        }
    }

    /// A 2xx to our INVITE, re-INVITE or UPDATE arrived: it sets (or
    /// restarts, or turns off) the session timer as its Session-Expires
    /// says (§7.2); `refresher=uac` (or none) makes us the refresher.
    pub(super) fn timer_on_2xx_received(&mut self, now: Instant, call: CallId, resp: &Response) {
        let enabled = self.cfg.session_timer.enabled;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if message::header(resp, "Allow").is_some() {
            c.ext.peer_allows_update = lists(resp, "Allow", "update");
        }
        if !enabled {
            return;
        }
        c.ext.timer = message::header(resp, "Session-Expires")
            .and_then(SessionExpires::parse)
            .map(|se| SessionTimer::new(now, se.secs, se.refresher != Some(Refresher::Uas)));
    }

    /// The session timer of `call` is due: refresh, or end the call.
    pub(super) fn session_timer_due(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(timer) = c.ext.timer else {
            return;
        };
        if c.state != CallState::Confirmed {
            if c.state == CallState::Terminating {
                c.ext.timer = None;
            }
            return;
        }
        if timer.expires_at() <= now {
            c.ext.timer = None;
            tracing::info!(%call, "session expired without a refresh; hanging up");
            return self.send_bye(now, call, EndReason::SessionExpired);
        }
        if timer.refresh_at().is_some_and(|t| t <= now) {
            if let Some(t) = c.ext.timer.as_mut() {
                t.refresh_sent = true;
            }
            self.send_refresh(now, call);
        }
    }

    /// Our refresh (§10): UPDATE without SDP when the peer allows UPDATE,
    /// else a re-INVITE with the current SDP. When another exchange is in
    /// progress, its 2xx refreshes the session instead.
    fn send_refresh(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let sent = if c.ext.peer_allows_update {
            if c.ext.update_out.is_some() {
                return;
            }
            self.refresh_by_update(now, call)
        } else {
            if c.invite_in_progress() || c.reinvite_out.is_some() {
                return;
            }
            let sdp = c.local_sdp.clone();
            self.reinvite(now, call, sdp)
        };
        if let Err(e) = sent {
            tracing::warn!(%call, error = %e, "session refresh not sent");
        }
    }

    /// Timer headers for an in-dialog request of `call`.
    pub(super) fn set_call_timer_headers(&self, call: CallId, headers: &mut Headers) {
        let c = self.calls.get(&call);
        self.set_timer_headers(c.map(|c| &c.ext), headers);
    }

    /// A 422 answered our initial INVITE: send it again once, asking for
    /// the peer's Min-SE (§7.4). False when it cannot be retried.
    pub(super) fn retry_invite_after_422(
        &mut self,
        now: Instant,
        call: CallId,
        resp: &Response,
    ) -> bool {
        let Some(min) = message::header(resp, "Min-SE").and_then(parse_delta) else {
            return false;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        if c.ext.retried_422 || c.state == CallState::Terminating {
            return false;
        }
        c.ext.retried_422 = true;
        c.ext.se_floor = Some(min);
        let mut invite = c.invite.clone();
        let peer = c.peer;
        let timer = c.ext.timer;
        self.put_timer_headers(Some(min), timer, &mut invite.headers);
        let via = self.via(peer.transport);
        bump_for_retry(&mut invite, &via);
        let key = match self.tx.send_request(now, invite.clone(), peer) {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(%call, error = %e, "INVITE retry after 422 not sent");
                return false;
            }
        };
        self.owners.insert(key, Owner::Call(call));
        if let Some(c) = self.calls.get_mut(&call) {
            c.invite = invite;
            c.invite_tx = Some(key);
        }
        true
    }
}
