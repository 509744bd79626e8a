//! SIP events into desk inputs: each dialog becomes a desk call, the media
//! follows the dialog (bound at the offer, started when established).

use super::legs::Leg;
use super::{Refer, Shell};
use crate::media::{MediaLeg, Placement};
use agentphone_desk::{CallInput, CallRef, ReferRef};
use agentphone_sip::{CallId, EndReason, Event};
use anyhow::{bail, Result};
use std::time::Instant;

impl Shell {
    pub(super) async fn on_sip(&mut self, ev: Event) -> Result<()> {
        let now = Instant::now();
        match ev {
            Event::Registered {
                contact, expires, ..
            } => {
                println!("registered {contact} for {} s", expires.as_secs());
                self.registered = true;
            }
            Event::RegistrationFailed { error, .. } => {
                self.reg = None;
                if !self.registered {
                    bail!("registration failed: {error}");
                }
                // A refresh failed (the registrar restarted, the network
                // dropped): the calls go on, and the binding is tried again.
                eprintln!(
                    "registration failed: {error}; trying again in {} s",
                    super::REREGISTER_AFTER.as_secs()
                );
                if !self.stopping {
                    self.reregister_at =
                        Some(tokio::time::Instant::now() + super::REREGISTER_AFTER);
                }
            }
            Event::Unregistered { .. } => {
                println!("unregistered");
                self.reg = None;
            }
            Event::IncomingCall {
                call,
                from,
                to,
                offer,
                headers,
                replaces,
            } => {
                self.on_offer(call, (from, to, headers), offer, replaces)
                    .await?
            }
            Event::Progress { call, code, .. } => {
                if let Some((c, leg)) = self.legs.by_sip_mut(call) {
                    if let Some(r) = leg.referral {
                        self.notify_refer(r, code, reason_phrase(code));
                    }
                    self.desk
                        .handle_input(now, CallInput::Progress { call: c, code });
                }
            }
            Event::Established { call, remote_sdp } => self.on_established(call, remote_sdp),
            Event::ReInvite { call, offer } => {
                if let Some((c, leg)) = self.legs.by_sip_mut(call) {
                    self.sip
                        .answer_reinvite(call, &mut leg.media, offer.as_deref());
                    self.remote_hold_changed(c);
                } else {
                    let _ = self.sip.ep().reject_reinvite(now, call, 481);
                }
            }
            Event::Update { call, offer } => {
                if let Some((c, leg)) = self.legs.by_sip_mut(call) {
                    self.sip.answer_update(call, &mut leg.media, &offer);
                    self.remote_hold_changed(c);
                } else {
                    let _ = self.sip.ep().reject_update(now, call, 481);
                }
            }
            Event::ReInviteAnswered { call, sdp } | Event::UpdateAnswered { call, sdp } => {
                if let Some((_, leg)) = self.legs.by_sip_mut(call) {
                    leg.media.process_reinvite_answer(sdp.as_deref());
                    leg.hold_pending = None;
                }
            }
            Event::ReInviteAckAnswer { call, answer } => {
                if let Some((c, leg)) = self.legs.by_sip_mut(call) {
                    leg.media.process_reinvite_answer(answer.as_deref());
                    self.remote_hold_changed(c);
                }
            }
            Event::ReInviteFailed { call, code } | Event::UpdateFailed { call, code } => {
                if let Some((c, leg)) = self.legs.by_sip_mut(call) {
                    if leg.hold_pending.take().is_some() {
                        self.desk
                            .handle_input(now, CallInput::HoldFailed { call: c, code });
                    }
                }
            }
            Event::Ended { call, reason } => self.on_ended(call, reason),
            Event::TransferRequested {
                call,
                transfer,
                refer_to,
                referred_by,
            } => {
                let Some(c) = self.legs.call_of(call) else {
                    let _ = self.sip.ep().reject_transfer(now, call, transfer, 481);
                    return Ok(());
                };
                let refer = ReferRef(self.next_refer);
                self.next_refer += 1;
                let target = refer_to.uri.to_string();
                let replaces = refer_to.replaces.is_some();
                self.refers.insert(
                    refer,
                    Refer {
                        call,
                        transfer,
                        target: refer_to,
                        referred_by,
                        accepted: false,
                        placed: None,
                    },
                );
                self.desk.handle_input(
                    now,
                    CallInput::ReferReceived {
                        call: c,
                        refer,
                        target,
                        replaces,
                    },
                );
            }
            Event::TransferAccepted { call, .. } => {
                if let Some(c) = self.legs.call_of(call) {
                    let status = "SIP/2.0 202 Accepted".to_string();
                    self.desk
                        .handle_input(now, CallInput::TransferProgress { call: c, status });
                }
            }
            Event::TransferProgress {
                call, status_line, ..
            } => {
                if let Some(c) = self.legs.call_of(call) {
                    self.desk.handle_input(
                        now,
                        CallInput::TransferProgress {
                            call: c,
                            status: status_line,
                        },
                    );
                }
            }
            Event::TransferSucceeded { call, .. } => {
                if let Some(c) = self.legs.call_of(call) {
                    self.desk
                        .handle_input(now, CallInput::TransferSucceeded { call: c });
                }
            }
            Event::TransferFailed { call, reason, .. } => {
                if let Some(c) = self.legs.call_of(call) {
                    self.desk.handle_input(
                        now,
                        CallInput::TransferFailed {
                            call: c,
                            reason: reason.to_string(),
                        },
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A new INVITE: its media is bound and its answer prepared at once, so an
    /// offer the agent could never take (no common codec) is refused with 488
    /// before it rings.
    async fn on_offer(
        &mut self,
        call: CallId,
        (from, to, headers): (String, String, Vec<(String, String)>),
        offer: Option<Vec<u8>>,
        replaces: Option<CallId>,
    ) -> Result<()> {
        let now = Instant::now();
        if let Some(creds) = self
            .account
            .as_ref()
            .and_then(crate::cmd::account::credentials)
        {
            let _ = self.sip.ep().set_credentials(call, creds);
        }
        let mut media =
            match MediaLeg::bind(self.sip.local_addr().ip(), &self.media, &self.engine).await {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("call from {from} refused with 503: {e:#}");
                    let _ = self.sip.ep().reject(now, call, 503);
                    return Ok(());
                }
            };
        media.set_signalling_secure(self.sip.call_over_tls(call));
        let (sdp, negotiated) = match media.answer(offer.as_deref()) {
            Ok(a) => a,
            Err(e) => {
                println!("call from {from}: rejected 488 ({e})");
                let _ = self
                    .sip
                    .ep()
                    .reject_with_warning(now, call, 488, &e.to_string());
                return Ok(());
            }
        };
        let c = self.desk.next_call_ref();
        media.alert_on_rtp_timeout(c.0, self.dead.clone());
        let mut leg = Leg::new(call, media, false);
        leg.answer_sdp = Some(sdp);
        leg.negotiated = Some(negotiated);
        self.legs.insert(c, leg);
        let replaces = replaces.and_then(|old| self.legs.call_of(old));
        let from = without_tag(&from);
        println!("call {c} from {from}");
        self.desk.handle_input(
            now,
            CallInput::Offered {
                call: c,
                from,
                to,
                headers,
                replaces,
            },
        );
        Ok(())
    }

    fn on_established(&mut self, call: CallId, remote_sdp: Option<Vec<u8>>) {
        let now = Instant::now();
        let clean = self.clean;
        let Some((c, leg)) = self.legs.by_sip_mut(call) else {
            return;
        };
        leg.established = true;
        leg.media.answered();
        let negotiated = match leg.negotiated.take() {
            Some(n) => Ok(n),
            None => leg.media.process_answer(remote_sdp.as_deref()),
        };
        let room = leg.room.and_then(|r| self.rooms.id(r));
        let started = match (negotiated, room) {
            (Ok(n), Some(room)) => leg.media.start(&n, Placement::Room(room), clean),
            (Err(e), _) => Err(e),
            (Ok(_), None) => Err(anyhow::anyhow!("the desk gave the call no room")),
        };
        if let Err(e) = started {
            tracing::warn!("no audio on call {c}: {e:#}");
        }
        if let Some(r) = leg.referral {
            self.notify_refer(r, 200, "OK");
            // RFC 5589: the transferor sends the BYE; end the old call
            // ourselves only if it does not.
            if let Some(old) = self.refers.get(&r).map(|r| r.call) {
                let at = tokio::time::Instant::now() + crate::cmd::transfer::OLD_CALL_GRACE;
                self.hangups.insert((at, old), ());
            }
        }
        self.remote_hold_changed(c);
        self.desk.handle_input(now, CallInput::Answered { call: c });
    }

    fn on_ended(&mut self, call: CallId, reason: EndReason) {
        let now = Instant::now();
        self.hangups.retain(|(_, c), _| *c != call);
        let Some(c) = self.legs.call_of(call) else {
            return;
        };
        let Some(mut leg) = self.legs.remove(c) else {
            return;
        };
        println!("call {c} ended: {reason}");
        let input = if !leg.established && leg.outbound {
            if let Some(r) = leg.referral {
                let (code, phrase) = crate::cmd::transfer::final_status(&reason);
                self.notify_refer(r, code, phrase);
            }
            CallInput::Failed {
                call: c,
                code: failure_code(&reason),
                reason: reason.to_string(),
            }
        } else {
            CallInput::Ended {
                call: c,
                reason: reason.to_string(),
            }
        };
        // Refers that came on this call can no longer be answered.
        self.refers
            .retain(|_, r| r.call != call || r.placed.is_some());
        self.ending.spawn(async move {
            if let Some(report) = leg.media.stop().await {
                println!("call {c} media: {report}");
            }
        });
        self.desk.handle_input(now, input);
    }

    /// Tells the desk when the far end's hold state changed (R-HOLD-5).
    fn remote_hold_changed(&mut self, c: CallRef) {
        let Some(leg) = self.legs.get_mut(c) else {
            return;
        };
        let held = leg.established && leg.media.remote_holds();
        if held != leg.remote_held {
            leg.remote_held = held;
            self.desk
                .handle_input(Instant::now(), CallInput::RemoteHold { call: c, held });
        }
    }

    pub(super) fn notify_refer(&mut self, refer: ReferRef, code: u16, phrase: &str) {
        let Some(r) = self.refers.get(&refer) else {
            return;
        };
        let (call, transfer) = (r.call, r.transfer);
        if let Err(e) = self
            .sip
            .ep()
            .notify_transfer(Instant::now(), call, transfer, code, phrase)
        {
            tracing::info!("transfer progress {code} not reported: {e}");
        }
        if code >= 200 {
            self.refers.remove(&refer);
        }
    }
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        180 => "Ringing",
        183 => "Session Progress",
        _ => "Trying",
    }
}

fn failure_code(reason: &EndReason) -> Option<u16> {
    match reason {
        EndReason::Busy(c)
        | EndReason::NotFound(c)
        | EndReason::NoAnswer(c)
        | EndReason::NotAcceptable(c)
        | EndReason::Rejected(c, _) => Some(*c),
        EndReason::Declined => Some(603),
        _ => None,
    }
}

/// A From or To value without its header parameters (the tag): what the
/// agent is shown as the caller.
fn without_tag(value: &str) -> String {
    let end = match value.find('<') {
        Some(_) => value.find('>').map(|i| i + 1),
        None => value.find(';'),
    };
    value[..end.unwrap_or(value.len())].trim().to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_caller_is_shown_without_its_tag() {
        use super::without_tag;
        assert_eq!(without_tag("<sip:c@h>;tag=ab"), "<sip:c@h>");
        assert_eq!(
            without_tag("\"Ann\" <sip:+4930@h;user=phone>;tag=1"),
            "\"Ann\" <sip:+4930@h;user=phone>"
        );
        assert_eq!(without_tag("sip:c@h;tag=x"), "sip:c@h");
    }
}
