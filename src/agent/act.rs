//! The desk's actions carried out on the SIP endpoint and the media engine.
//! A failure here is reported back to the desk as what it means for the call
//! (a failed dial, a refused transfer), never ends the run.

use super::legs::Leg;
use super::Shell;
use crate::media::MediaLeg;
use agentphone_desk::{Action, CallInput, CallRef, DialTarget, ReferRef, RoomRef};
use agentphone_sip::{rsip::Uri, CallRequest};
use anyhow::{anyhow, Context, Result};
use std::time::Instant;

impl Shell {
    pub(super) async fn act(&mut self, action: Action) {
        let now = Instant::now();
        tracing::debug!(?action, "desk action");
        let result = match action {
            Action::Ring { call } => self.with_sip(call, |ep, sip| ep.ring(now, sip)),
            Action::Answer { call, room } => self.answer(call, room),
            Action::Reject { call, code } => {
                self.with_sip(call, |ep, sip| ep.reject(now, sip, code))
            }
            Action::Hangup { call } => self.with_sip(call, |ep, sip| ep.hangup(now, sip)),
            Action::Dial { call, target, room } => {
                if let Err(e) = self.dial(call, &target, room, Vec::new()).await {
                    let reason = format!("{e:#}");
                    self.desk.handle_input(
                        now,
                        CallInput::Failed {
                            call,
                            code: None,
                            reason,
                        },
                    );
                }
                Ok(())
            }
            Action::Hold { call } => self.hold(call, true),
            Action::Resume { call } => self.hold(call, false),
            Action::TransferBlind { call, target } => {
                let sent = self.uri_of(&target).and_then(|uri| {
                    let sip = self.sip_of(call)?;
                    Ok(self.sip.ep().transfer(now, sip, uri, None)?)
                });
                self.transfer_sent(call, sent.map(|_| ()))
            }
            Action::TransferAttended { call, consult } => {
                let sent = self.sip_of(call).and_then(|a| {
                    let b = self.sip_of(consult)?;
                    Ok(self.sip.ep().attended_transfer(now, a, b)?)
                });
                self.transfer_sent(call, sent.map(|_| ()))
            }
            Action::AcceptRefer { refer } => self.accept_refer(refer),
            Action::RejectRefer { refer, code } => self.reject_refer(refer, code),
            Action::FollowRefer { refer, call, room } => {
                self.follow_refer(refer, call, room).await;
                Ok(())
            }
            Action::Dtmf { call, digits } => self
                .legs
                .get_mut(call)
                .ok_or_else(|| anyhow!("no call {call}"))
                .and_then(|l| l.media.send_digits(&digits)),
            Action::OpenRoom { room } => self.rooms.open(room),
            Action::CloseRoom { room } => self.rooms.close(room).map(|done| self.finish(done)),
            Action::MoveLeg { call, room } => self.move_leg(call, room),
            Action::AgentJoin { room } => self.rooms.agent_join(room),
            Action::AgentLeave => self.rooms.agent_leave(),
            Action::AgentMute { muted } => self.rooms.agent_mute(muted),
            Action::Denoise { target, on } => self.denoise(target, on),
            Action::RecordStart { room, name } => {
                self.rooms.start_recording(room, &name).map(|p| {
                    println!("recording to {}", p.display());
                })
            }
            Action::RecordPause { room, paused } => self.rooms.pause_recording(room, paused),
            Action::RecordStop { room } => self.rooms.stop_recording(room).map(|d| self.finish(d)),
            Action::Unregister => {
                if let Some(reg) = self.reg {
                    let _ = self.sip.ep().unregister(now, reg);
                }
                Ok(())
            }
            Action::Exit => {
                self.exit = true;
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::warn!("desk action not carried out: {e:#}");
        }
    }

    fn sip_of(&self, call: CallRef) -> Result<agentphone_sip::CallId> {
        self.legs
            .get(call)
            .map(|l| l.sip)
            .ok_or_else(|| anyhow!("no call {call}"))
    }

    fn with_sip(
        &mut self,
        call: CallRef,
        f: impl FnOnce(
            &mut agentphone_sip::Endpoint,
            agentphone_sip::CallId,
        ) -> Result<(), agentphone_sip::EndpointError>,
    ) -> Result<()> {
        let sip = self.sip_of(call)?;
        Ok(f(self.sip.ep(), sip)?)
    }

    fn answer(&mut self, call: CallRef, room: RoomRef) -> Result<()> {
        let leg = self
            .legs
            .get_mut(call)
            .ok_or_else(|| anyhow!("no call {call}"))?;
        leg.room = Some(room);
        let sdp = leg
            .answer_sdp
            .take()
            .ok_or_else(|| anyhow!("call {call} was answered already"))?;
        let sip = leg.sip;
        self.sip.ep().answer(Instant::now(), sip, sdp)?;
        Ok(())
    }

    /// Hold or resume: the re-INVITE's offer comes from the media leg, which
    /// also moves the leg in or out of music on hold.
    fn hold(&mut self, call: CallRef, hold: bool) -> Result<()> {
        let leg = self
            .legs
            .get_mut(call)
            .ok_or_else(|| anyhow!("no call {call}"))?;
        let sdp = if hold {
            leg.media.hold()
        } else {
            leg.media.resume()
        };
        if !leg.established {
            // Not answered yet: the media starts held (or not); no re-INVITE.
            return Ok(());
        }
        let sip = leg.sip;
        leg.hold_pending = Some(hold);
        if let Err(e) = self.sip.ep().reinvite(Instant::now(), sip, sdp) {
            if let Some(l) = self.legs.get_mut(call) {
                l.hold_pending = None;
            }
            tracing::info!("call {call}: hold re-INVITE not sent: {e}");
            self.desk
                .handle_input(Instant::now(), CallInput::HoldFailed { call, code: 491 });
        }
        Ok(())
    }

    fn move_leg(&mut self, call: CallRef, room: RoomRef) -> Result<()> {
        let leg = self
            .legs
            .get_mut(call)
            .ok_or_else(|| anyhow!("no call {call}"))?;
        leg.room = Some(room);
        match leg.media.part() {
            Some(part) => self.rooms.move_leg(part, room),
            None => Ok(()),
        }
    }

    fn denoise(&mut self, target: agentphone_desk::noise::NoiseTarget, on: bool) -> Result<()> {
        use agentphone_desk::noise::NoiseTarget;
        match target {
            NoiseTarget::Inbound => {
                self.clean.inbound = on;
                let parts: Vec<_> = self
                    .legs
                    .iter_mut()
                    .filter_map(|(_, l)| l.media.part())
                    .collect();
                for p in parts {
                    self.rooms.denoise(p, on)?;
                }
                Ok(())
            }
            NoiseTarget::Microphone => {
                self.clean.microphone = on;
                self.rooms.denoise(self.rooms.agent(), on)
            }
        }
    }

    fn transfer_sent(&mut self, call: CallRef, sent: Result<()>) -> Result<()> {
        if let Err(e) = sent {
            let reason = format!("{e:#}");
            self.desk
                .handle_input(Instant::now(), CallInput::TransferFailed { call, reason });
        }
        Ok(())
    }

    /// A dial target as a SIP URI: numbers go to the account's domain.
    fn uri_of(&self, target: &DialTarget) -> Result<Uri> {
        let text = match target {
            DialTarget::Uri(u) => u.clone(),
            DialTarget::Number(n) => match &self.account {
                Some(a) => format!("sip:{n}@{}", a.domain),
                None => anyhow::bail!(
                    "cannot dial {n}: numbers need an account (--account) to call through"
                ),
            },
        };
        agentphone_sip::rsip::parse_uri(&text)
            .map_err(|e| anyhow!("'{text}' is not a SIP URI: {e}"))
    }

    /// Places a call: through the account's proxy when there is one.
    async fn dial(
        &mut self,
        call: CallRef,
        target: &DialTarget,
        room: RoomRef,
        extra_headers: Vec<(String, String)>,
    ) -> Result<()> {
        let uri = self.uri_of(target)?;
        self.place(call, uri, room, extra_headers).await
    }

    async fn place(
        &mut self,
        call: CallRef,
        uri: Uri,
        room: RoomRef,
        extra_headers: Vec<(String, String)>,
    ) -> Result<()> {
        let mut media =
            MediaLeg::bind(self.sip.local_addr().ip(), &self.media, &self.engine).await?;
        media.alert_on_rtp_timeout(call.0, self.dead.clone());
        let account = self.account.as_ref();
        media.set_signalling_secure(crate::cmd::account::first_hop_tls(account, &uri));
        let tcp = account.is_some_and(|a| a.transport.is_reliable());
        let from = match account {
            Some(a) => format!("<sip:{}@{}>", a.user, a.domain),
            None => format!("<sip:agent@{}>", self.sip.local_addr()),
        };
        let request = CallRequest {
            target: uri,
            from,
            via_proxy: account.map(|a| crate::cmd::account::proxy_hops(a).0),
            credentials: account.and_then(crate::cmd::account::credentials),
            sdp_offer: media.offer()?,
            tcp,
            extra_headers,
            alternates: account
                .map(|a| crate::cmd::account::proxy_hops(a).1)
                .unwrap_or_default(),
        };
        let sip = self
            .sip
            .ep()
            .call(Instant::now(), request)
            .context("cannot place the call")?;
        let mut leg = Leg::new(sip, media, true);
        leg.room = Some(room);
        self.legs.insert(call, leg);
        Ok(())
    }

    fn accept_refer(&mut self, refer: ReferRef) -> Result<()> {
        let r = self
            .refers
            .get_mut(&refer)
            .ok_or_else(|| anyhow!("no REFER {refer}"))?;
        r.accepted = true;
        let (call, transfer) = (r.call, r.transfer);
        Ok(self
            .sip
            .ep()
            .accept_transfer(Instant::now(), call, transfer)?)
    }

    fn reject_refer(&mut self, refer: ReferRef, code: u16) -> Result<()> {
        let r = self
            .refers
            .remove(&refer)
            .ok_or_else(|| anyhow!("no REFER {refer}"))?;
        let now = Instant::now();
        if r.accepted {
            let phrase = if code == 603 {
                "Declined"
            } else {
                "Request Failed"
            };
            self.sip
                .ep()
                .notify_transfer(now, r.call, r.transfer, code, phrase)?;
        } else {
            self.sip
                .ep()
                .reject_transfer(now, r.call, r.transfer, code)?;
        }
        Ok(())
    }

    async fn follow_refer(&mut self, refer: ReferRef, call: CallRef, room: RoomRef) {
        let Some(r) = self.refers.get_mut(&refer) else {
            let reason = format!("REFER {refer} is gone");
            self.desk.handle_input(
                Instant::now(),
                CallInput::Failed {
                    call,
                    code: None,
                    reason,
                },
            );
            return;
        };
        r.placed = Some(call);
        let uri = r.target.uri.clone();
        let headers = r.target.invite_headers(r.referred_by.as_deref());
        match self.place(call, uri, room, headers).await {
            Ok(()) => {
                if let Some(l) = self.legs.get_mut(call) {
                    l.referral = Some(refer);
                }
            }
            Err(e) => {
                self.notify_refer(refer, 503, "Service Unavailable");
                let reason = format!("{e:#}");
                self.desk.handle_input(
                    Instant::now(),
                    CallInput::Failed {
                        call,
                        code: None,
                        reason,
                    },
                );
            }
        }
    }

    /// Waits beside the loop for a recording to be on disk.
    fn finish(&mut self, done: Option<tokio::sync::oneshot::Receiver<()>>) {
        if let Some(done) = done {
            self.ending.spawn(async move {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), done).await;
            });
        }
    }
}
