//! The `o=` line across a dialog and re-offers for hold/resume (RFC 3264 §8).

use std::net::IpAddr;

use super::answer::negotiate_offer;
use super::render::{offer_mline, render_body, render_full};
use super::{Answer, Direction, LocalMedia, NegotiatedMedia, OfferAnswerError};

/// The values of our `o=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `<username>`; `-` as RFC 4566 suggests when there is none.
    pub username: String,
    /// `<sess-id>`.
    pub session_id: u64,
    /// `<sess-version>`.
    pub version: u64,
    /// `<unicast-address>`.
    pub addr: IpAddr,
}

impl Origin {
    /// A fresh origin with a random session id; the version starts equal to it,
    /// as RFC 4566 §5.2 suggests, but kept below 2^31 so it never overflows.
    pub fn new(addr: IpAddr) -> Self {
        let id = u64::from(rand::random::<u32>() >> 1);
        Origin {
            username: "-".to_owned(),
            session_id: id,
            version: id,
            addr,
        }
    }
}

/// Our SDP state for one dialog: keeps the session id and bumps the version exactly
/// when the body we send changes.
#[derive(Debug, Clone)]
pub struct SdpSession {
    origin: Origin,
    local: LocalMedia,
    last_body: Option<String>,
    last_offer: Option<String>,
    remote_direction: Direction,
}

impl SdpSession {
    /// A session for `local` with a random session id.
    pub fn new(local: LocalMedia) -> Self {
        Self::with_origin(Origin::new(local.addr), local)
    }

    /// A session with a given origin (tests, or resuming a persisted dialog).
    pub fn with_origin(origin: Origin, local: LocalMedia) -> Self {
        SdpSession {
            origin,
            local,
            last_body: None,
            last_offer: None,
            remote_direction: Direction::SendRecv,
        }
    }

    /// Our current `o=` values.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// What we currently offer.
    pub fn local(&self) -> &LocalMedia {
        &self.local
    }

    /// The peer's last stated direction (`SendOnly`/`Inactive`: the peer holds us).
    pub fn remote_direction(&self) -> Direction {
        self.remote_direction
    }

    /// Replaces what we offer (new port, codecs); takes effect at the next SDP.
    pub fn set_local(&mut self, local: LocalMedia) {
        self.local = local;
    }

    /// New SRTP keys for our next offer or answer (RFC 4568 §7.1.4); the
    /// send context changes once that exchange completes.
    pub fn rekey(&mut self) {
        self.local.rekey();
    }

    /// An offer for the current local media (initial INVITE or re-INVITE).
    pub fn offer(&mut self) -> String {
        let body = render_body(self.local.addr, &[offer_mline(&self.local)]);
        let sdp = self.stamp(body);
        self.last_offer = Some(sdp.clone());
        sdp
    }

    /// Same as [`offer`](Self::offer): the version changes only if the body did.
    pub fn re_offer(&mut self) -> String {
        self.offer()
    }

    /// Re-offer putting the peer on hold: `a=sendonly`, or `a=inactive` when the
    /// peer already holds us (R-HOLD-1).
    pub fn hold(&mut self) -> String {
        // The peer holds us when it no longer wants to receive (sendonly/inactive).
        self.local.direction = if self.remote_direction.receives() {
            Direction::SendOnly
        } else {
            Direction::Inactive
        };
        self.offer()
    }

    /// Re-offer taking the call back: `a=sendrecv`.
    pub fn resume(&mut self) -> String {
        self.local.direction = Direction::SendRecv;
        self.offer()
    }

    /// Answers the peer's offer (initial or re-INVITE) with our `o=` line.
    pub fn answer(&mut self, remote_offer: &str) -> Result<Answer, OfferAnswerError> {
        let (mlines, media) = negotiate_offer(remote_offer, &self.local)?;
        let sdp = self.stamp(render_body(self.local.addr, &mlines));
        self.remote_direction = media.remote_direction;
        Ok(Answer { sdp, media })
    }

    /// Reads the peer's answer to our last offer.
    pub fn process_answer(&mut self, answer: &str) -> Result<NegotiatedMedia, OfferAnswerError> {
        let offer = self.last_offer.as_deref().ok_or_else(|| {
            OfferAnswerError::AnswerMismatch("an answer arrived but no offer was sent".into())
        })?;
        let media = super::process_answer(offer, answer)?;
        self.remote_direction = media.remote_direction;
        Ok(media)
    }

    /// Prepends `v=`/`o=`, bumping the version if the body changed since last time.
    fn stamp(&mut self, body: String) -> String {
        if let Some(last) = &self.last_body {
            if *last != body {
                self.origin.version = self.origin.version.wrapping_add(1);
            }
        }
        let sdp = render_full(&self.origin, &body);
        self.last_body = Some(body);
        sdp
    }
}
