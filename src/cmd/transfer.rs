//! Being transferred, in the one-shot commands: `--refer accept|reject` decides
//! what a REFER gets (RFC 3515). Accepted, the referred call is placed (with the
//! Replaces and Referred-By the Refer-To carried, RFC 3891/3892), its progress
//! goes back to the transferor as NOTIFY sipfrag, and once it is answered it
//! takes over the old call's audio (local end, recording) and the old call
//! ends with BYE (RFC 5589).

use crate::media::{CleanAudio, MediaEngine, MediaLeg, MediaPlan, MediaSettings, Placement};
use crate::net::SipDriver;
use agentphone_sip::{CallId, CallRequest, EndReason, ReferTarget, TransferId};
use anyhow::{Context, Result};
use std::net::IpAddr;
use std::time::Instant;

/// What a REFER in one of our calls gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReferPolicy {
    /// Place the referred call and report it back (RFC 3515).
    Accept,
    /// Answer 603 Declined.
    Reject,
}

/// How long the transferor has to end the transferred call after the final
/// NOTIFY before we do.
pub const OLD_CALL_GRACE: std::time::Duration = std::time::Duration::from_secs(4);

/// A REFER we accepted: the referred call being placed for it.
pub struct Referral {
    /// The call the REFER came in.
    pub old: CallId,
    /// The REFER.
    pub transfer: TransferId,
    /// The referred call.
    pub new: CallId,
    /// The referred call's media (started on its answer).
    pub media: MediaLeg,
}

/// Where the referred call comes from and how it reaches its target.
pub struct Dialer<'a> {
    /// Our From value (no tag).
    pub from: String,
    /// The local address to bind its RTP to.
    pub ip: IpAddr,
    /// Media settings of this run.
    pub settings: &'a MediaSettings,
    /// The process's media engine.
    pub engine: &'a MediaEngine,
    /// The account's proxy, credentials and transport, when there is one.
    pub account: Option<&'a crate::config::Account>,
}

/// Answers a REFER in `old` by `policy`: rejected with 603, or accepted and the
/// referred call placed. None when rejected (or the referred call could not
/// even be placed: the transferor then hears 503 in the NOTIFY).
pub async fn on_refer(
    sip: &mut SipDriver,
    dialer: &Dialer<'_>,
    (old, transfer, policy): (CallId, TransferId, ReferPolicy),
    (target, referred_by): (&ReferTarget, Option<&str>),
) -> Result<Option<Referral>> {
    let now = Instant::now();
    if policy == ReferPolicy::Reject {
        println!("transfer to {} refused (--refer reject): 603", target.uri);
        sip.ep().reject_transfer(now, old, transfer, 603)?;
        return Ok(None);
    }
    sip.ep().accept_transfer(now, old, transfer)?;
    let attended = if target.replaces.is_some() {
        " (attended: with Replaces)"
    } else {
        ""
    };
    println!("transfer to {} accepted{attended}", target.uri);
    let placed = place(sip, dialer, target, referred_by).await;
    match placed {
        Ok((new, media)) => Ok(Some(Referral {
            old,
            transfer,
            new,
            media,
        })),
        Err(e) => {
            eprintln!("referred call not placed: {e:#}");
            sip.ep()
                .notify_transfer(Instant::now(), old, transfer, 503, "Service Unavailable")?;
            Ok(None)
        }
    }
}

async fn place(
    sip: &mut SipDriver,
    dialer: &Dialer<'_>,
    target: &ReferTarget,
    referred_by: Option<&str>,
) -> Result<(CallId, MediaLeg)> {
    let mut media = MediaLeg::bind(dialer.ip, dialer.settings, dialer.engine).await?;
    let account = dialer.account;
    media.set_signalling_secure(super::account::first_hop_tls(account, &target.uri));
    let tcp = account.is_some_and(|a| a.transport.is_reliable());
    let request = CallRequest {
        target: target.uri.clone(),
        from: dialer.from.clone(),
        via_proxy: account.map(|a| super::account::proxy_hops(a).0),
        credentials: account.and_then(super::account::credentials),
        sdp_offer: media.offer()?,
        tcp,
        extra_headers: target.invite_headers(referred_by),
        alternates: account
            .map(|a| super::account::proxy_hops(a).1)
            .unwrap_or_default(),
    };
    let new = sip
        .ep()
        .call(Instant::now(), request)
        .context("cannot place the referred call")?;
    Ok((new, media))
}

impl Referral {
    /// A provisional response of the referred call: reported to the transferor.
    pub fn progress(&self, sip: &mut SipDriver, code: u16) {
        let reason = match code {
            180 => "Ringing",
            183 => "Session Progress",
            _ => "Trying",
        };
        println!("referred call: {code} {reason}");
        self.notify(sip, code, reason);
    }

    /// The referred call was answered: it takes over `old_media`'s audio (or
    /// gets silence when the old call had none), the transferor hears 200 OK,
    /// and the old call is hung up.
    pub fn answered(
        &mut self,
        sip: &mut SipDriver,
        remote_sdp: Option<&[u8]>,
        old_media: Option<&mut MediaLeg>,
        clean: CleanAudio,
    ) {
        println!("referred call answered; the transferred call ends");
        self.media.answered();
        let placement = match old_media.and_then(MediaLeg::hand_over) {
            Some(end) => Placement::TakeOver(end),
            None => match MediaPlan::open(None, None) {
                Ok(plan) => Placement::Own(plan),
                Err(e) => {
                    tracing::warn!("no audio on the referred call: {e:#}");
                    return self.finish(sip, 200, "OK");
                }
            },
        };
        let started = self
            .media
            .process_answer(remote_sdp)
            .and_then(|negotiated| self.media.start(&negotiated, placement, clean));
        if let Err(e) = started {
            tracing::warn!("no audio on the referred call: {e:#}");
        }
        self.finish(sip, 200, "OK");
    }

    /// The referred call failed: the transferor hears why.
    pub fn failed(&self, sip: &mut SipDriver, reason: &EndReason) {
        let (code, phrase) = final_status(reason);
        println!("referred call failed: {code} {phrase} ({reason})");
        self.notify(sip, code, phrase);
    }

    /// Reports the final status. The transferor ends the transferred call on
    /// it (RFC 5589 §6.1); a BYE from us now could overtake the NOTIFY and
    /// make the transfer look failed, so the caller hangs up only after
    /// [`OLD_CALL_GRACE`] if the transferor has not.
    fn finish(&self, sip: &mut SipDriver, code: u16, reason: &str) {
        self.notify(sip, code, reason);
    }

    fn notify(&self, sip: &mut SipDriver, code: u16, reason: &str) {
        if let Err(e) =
            sip.ep()
                .notify_transfer(Instant::now(), self.old, self.transfer, code, reason)
        {
            tracing::info!("transfer progress {code} not reported: {e}");
        }
    }
}

/// The status line a failed call's end maps to in a NOTIFY sipfrag.
pub(crate) fn final_status(reason: &EndReason) -> (u16, &'static str) {
    match reason {
        EndReason::Busy(c) => (*c, "Busy Here"),
        EndReason::Declined => (603, "Declined"),
        EndReason::NotFound(c) => (*c, "Not Found"),
        EndReason::NoAnswer(c) => (*c, "Request Timeout"),
        EndReason::NotAcceptable(c) => (*c, "Not Acceptable Here"),
        EndReason::Rejected(c, _) => (*c, "Request Failed"),
        EndReason::AuthFailed(_) => (403, "Forbidden"),
        EndReason::Cancelled | EndReason::RemoteCancelled => (487, "Request Terminated"),
        EndReason::TransportError | EndReason::TransportFailed(_) => (503, "Service Unavailable"),
        _ => (500, "Server Internal Error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_referred_call_is_reported_with_its_own_status() {
        assert_eq!(final_status(&EndReason::Busy(486)), (486, "Busy Here"));
        assert_eq!(final_status(&EndReason::Declined).0, 603);
        assert_eq!(final_status(&EndReason::NoAnswer(408)).0, 408);
        assert_eq!(
            final_status(&EndReason::Rejected(502, "Bad Gateway".into())).0,
            502
        );
        assert_eq!(final_status(&EndReason::TransportError).0, 503);
    }
}
