//! Option tags (RFC 3261 §8.2.2.3, §19.2): a request that requires an
//! extension we lack gets 420 Bad Extension naming it in Unsupported, and
//! an INVITE or UPDATE asking for a session interval below our Min-SE gets
//! 422 (RFC 4028 §9).

use super::Endpoint;
use crate::dialog::tag_of;
use crate::message;
use crate::rsip::{Header, HeadersExt, Method, Request};
use crate::session::timer::SessionExpires;
use crate::transaction::TxKey;
use std::time::Instant;

/// The option tags listed in every `name` header (Require, Supported, …),
/// lowercased.
pub(super) fn option_tags(msg: &impl crate::rsip::HasHeaders, name: &str) -> Vec<String> {
    message::header_values(msg, name)
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Whether `msg` lists `tag` in header `name`.
pub(super) fn lists(msg: &impl crate::rsip::HasHeaders, name: &str, tag: &str) -> bool {
    option_tags(msg, name).iter().any(|t| t == tag)
}

impl Endpoint {
    /// Whether we implement the extension named by option tag `tag`.
    fn supports(&self, tag: &str) -> bool {
        match tag {
            "100rel" | "replaces" => true,
            "timer" => self.cfg.session_timer.enabled,
            _ => false,
        }
    }

    /// Answers a new request we cannot take because of its extensions: 420
    /// for unsupported `Require` tags, 422 for a Session-Expires below our
    /// Min-SE. True when answered (the request goes no further).
    pub(super) fn screen_request(&mut self, now: Instant, key: TxKey, req: &Request) -> bool {
        let unsupported: Vec<String> = option_tags(req, "Require")
            .into_iter()
            .filter(|t| !self.supports(t))
            .collect();
        if !unsupported.is_empty() {
            let list = unsupported.join(", ");
            self.respond_with(now, key, req, 420, vec![Header::Unsupported(list.into())]);
            return true;
        }
        let timers = self.cfg.session_timer;
        if timers.enabled && matches!(req.method, Method::Invite | Method::Update) {
            let asked = message::header(req, "Session-Expires").and_then(SessionExpires::parse);
            if asked.is_some_and(|se| se.secs < timers.min_se_secs()) {
                let min = Header::Other("Min-SE".into(), timers.min_se_secs().to_string());
                self.respond_with(now, key, req, 422, vec![min]);
                return true;
            }
        }
        false
    }

    /// Like `respond_code`, with `extra` headers.
    pub(super) fn respond_with(
        &mut self,
        now: Instant,
        key: TxKey,
        req: &Request,
        code: u16,
        extra: Vec<Header>,
    ) {
        let has_tag = req
            .to_header()
            .ok()
            .and_then(|t| tag_of(t.value()))
            .is_some();
        let tag = (!has_tag).then(|| self.token(10));
        let mut resp = self.response(
            req,
            code,
            tag.as_deref(),
            crate::transport::Transport::Udp,
            None,
        );
        resp.headers.extend(extra);
        self.respond_or_log(now, key, resp);
    }
}
