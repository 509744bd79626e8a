//! The agent's calls as the binary holds them: each desk [`CallRef`] with its
//! SIP dialog and its media leg, both ways looked up.

use crate::media::MediaLeg;
use agentphone_desk::{CallRef, ReferRef, RoomRef};
use agentphone_media::offer_answer::NegotiatedMedia;
use agentphone_sip::CallId;
use std::collections::HashMap;

/// One call.
pub struct Leg {
    pub sip: CallId,
    pub media: MediaLeg,
    /// Our SDP answer to an incoming offer, until the desk answers.
    pub answer_sdp: Option<Vec<u8>>,
    /// What was agreed (incoming calls), until the media starts.
    pub negotiated: Option<NegotiatedMedia>,
    /// The room the desk put it in.
    pub room: Option<RoomRef>,
    /// We placed it.
    pub outbound: bool,
    /// Answered and ACKed.
    pub established: bool,
    /// A hold (true) or resume (false) re-INVITE of ours is under way.
    pub hold_pending: Option<bool>,
    /// It follows a REFER: its progress is reported by NOTIFY.
    pub referral: Option<ReferRef>,
    /// The far end holds us, as last reported to the desk.
    pub remote_held: bool,
}

impl Leg {
    pub fn new(sip: CallId, media: MediaLeg, outbound: bool) -> Leg {
        Leg {
            sip,
            media,
            answer_sdp: None,
            negotiated: None,
            room: None,
            outbound,
            established: false,
            hold_pending: None,
            referral: None,
            remote_held: false,
        }
    }
}

#[derive(Default)]
pub struct Legs {
    by_ref: HashMap<CallRef, Leg>,
    by_sip: HashMap<CallId, CallRef>,
}

impl Legs {
    pub fn insert(&mut self, call: CallRef, leg: Leg) {
        self.by_sip.insert(leg.sip, call);
        self.by_ref.insert(call, leg);
    }

    pub fn call_of(&self, sip: CallId) -> Option<CallRef> {
        self.by_sip.get(&sip).copied()
    }

    pub fn get(&self, call: CallRef) -> Option<&Leg> {
        self.by_ref.get(&call)
    }

    pub fn get_mut(&mut self, call: CallRef) -> Option<&mut Leg> {
        self.by_ref.get_mut(&call)
    }

    pub fn by_sip_mut(&mut self, sip: CallId) -> Option<(CallRef, &mut Leg)> {
        let call = self.call_of(sip)?;
        self.by_ref.get_mut(&call).map(|l| (call, l))
    }

    pub fn remove(&mut self, call: CallRef) -> Option<Leg> {
        let leg = self.by_ref.remove(&call)?;
        self.by_sip.remove(&leg.sip);
        Some(leg)
    }

    pub fn is_empty(&self) -> bool {
        self.by_ref.is_empty()
    }

    pub fn drain(&mut self) -> impl Iterator<Item = Leg> + '_ {
        self.by_sip.clear();
        self.by_ref.drain().map(|(_, l)| l)
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&CallRef, &mut Leg)> {
        self.by_ref.iter_mut()
    }
}
