//! REGISTER flows: initial registration, digest challenges (one answer per
//! nonce: a refused answer is an error, never a loop), refresh, 423 Interval
//! Too Brief, unregister.

use super::build::finish_request;
use super::Credentials;
use super::{Endpoint, EndpointError, Event, Owner};
use crate::auth::{self, Algorithm, Challenge, ChallengeOrigin, DigestInput};
use crate::register::{
    granted_expires, RegId, RegState, RegisterError, RegisterRequest, Registration,
};
use crate::rsip::{Header, HeadersExt, Method, Request, Response, Uri};
use std::time::{Duration, Instant};

/// Why a challenge was not answered.
#[derive(Debug)]
pub(super) enum ChallengeError {
    /// The server challenged a request that already carried our answer.
    Refused,
    /// The challenge cannot be answered (bad header, unsupported algorithm).
    Unusable(String),
}

impl Endpoint {
    /// Starts registering. Events follow: `Registered` (and again on every
    /// refresh), `RegistrationFailed`, `Unregistered`.
    pub fn register(&mut self, now: Instant, req: RegisterRequest) -> RegId {
        let id = RegId(self.alloc_id());
        let call_id = self.new_call_id();
        let tag = self.token(10);
        let contact = self.cfg.contact(req.registrar.transport);
        self.regs
            .insert(id, Registration::new(req, call_id, tag, contact));
        self.send_register(now, id, None);
        id
    }

    /// Removes the binding (Expires: 0). `Unregistered` follows.
    pub fn unregister(&mut self, now: Instant, reg: RegId) -> Result<(), EndpointError> {
        let r = self
            .regs
            .get_mut(&reg)
            .ok_or(EndpointError::NoSuchRegistration(reg))?;
        r.state = RegState::Unregistering;
        r.refresh_at = None;
        r.answered_nonces.clear();
        self.send_register(now, reg, None);
        Ok(())
    }

    /// Whether any registration is still in progress or bound.
    pub fn has_registrations(&self) -> bool {
        !self.regs.is_empty()
    }

    fn register_request(&mut self, reg: RegId) -> Option<(Request, crate::transport::Destination)> {
        let transport = self.regs.get(&reg)?.req.registrar.transport;
        let via = self.via(transport);
        let r = self.regs.get_mut(&reg)?;
        r.cseq += 1;
        let aor = format!("<sip:{}@{}>", r.req.user, r.req.domain);
        let expires = if r.state == RegState::Unregistering {
            0
        } else {
            r.req.expires
        };
        let uri: Uri = crate::rsip::parse_uri(&format!("sip:{}", r.req.domain)).ok()?;
        let headers: Vec<Header> = vec![
            Header::Via(via.into()),
            Header::MaxForwards("70".into()),
            Header::From(format!("{aor};tag={}", r.from_tag).into()),
            Header::To(aor.into()),
            Header::CallId(r.call_id.clone().into()),
            Header::CSeq(format!("{} REGISTER", r.cseq).into()),
            Header::Contact(r.contact.clone().into()),
            Header::Expires(expires.to_string().into()),
            Header::UserAgent(self.cfg.user_agent.clone().into()),
            Header::Allow(super::build::ALLOW.into()),
        ];
        let mut req = Request {
            method: Method::Register,
            uri,
            version: crate::rsip::Version::V2,
            headers: headers.into(),
            body: Vec::new(),
        };
        finish_request(&mut req);
        Some((req, r.req.registrar))
    }

    fn send_register(&mut self, now: Instant, reg: RegId, challenge: Option<&Response>) {
        let Some((mut req, dest)) = self.register_request(reg) else {
            return;
        };
        if let Some(resp) = challenge {
            let r = &self.regs[&reg];
            let Some(creds) = r.req.credentials.clone() else {
                let code = u16::from(resp.status_code.clone());
                return self.reg_failed(reg, RegisterError::NoCredentials { code });
            };
            let answered = r.answered_nonces.clone();
            match self.answer_challenge(&mut req, resp, &creds, &answered) {
                Ok(nonce) => {
                    if let Some(r) = self.regs.get_mut(&reg) {
                        r.answered_nonces.push(nonce);
                    }
                }
                Err(ChallengeError::Refused) => {
                    let err = RegisterError::AuthRejected {
                        user: creds.user.clone(),
                        code: u16::from(resp.status_code.clone()),
                        phrase: resp.reason_phrase().unwrap_or("").to_string(),
                    };
                    return self.reg_failed(reg, err);
                }
                Err(ChallengeError::Unusable(why)) => {
                    return self.reg_failed(reg, RegisterError::Challenge(why));
                }
            }
        }
        match self.tx.send_request(now, req, dest) {
            Ok(key) => {
                self.owners.insert(key, Owner::Reg(reg));
            }
            Err(e) => self.reg_failed(reg, RegisterError::Challenge(e.to_string())),
        }
    }

    /// Adds an Authorization (401) or Proxy-Authorization (407) header answering
    /// the challenge in `resp`. Returns the nonce answered. A challenge to a
    /// request that already carried our answer means the server refused the
    /// credentials (servers issue a fresh nonce each time, so comparing nonces
    /// alone would loop): an error, unless the server marked the old nonce
    /// `stale` (RFC 7616 §3.3), which is honoured twice at most.
    pub(super) fn answer_challenge(
        &mut self,
        req: &mut Request,
        resp: &Response,
        creds: &Credentials,
        answered: &[String],
    ) -> Result<String, ChallengeError> {
        // RFC 8760: a server may offer several algorithms; take the strongest.
        let (origin, challenge) = Challenge::from_response(resp)
            .into_iter()
            .max_by_key(|(_, c)| matches!(c.algorithm, Algorithm::Sha256 | Algorithm::Sha256Sess))
            .ok_or_else(|| {
                ChallengeError::Unusable(format!(
                    "{} without a usable Digest challenge",
                    u16::from(resp.status_code.clone())
                ))
            })?;
        let refused = match answered.last() {
            None => false,
            Some(last) => !challenge.stale || *last == challenge.nonce || answered.len() >= 3,
        };
        if refused {
            return Err(ChallengeError::Refused);
        }
        let cnonce = self.token(16);
        let uri = req.uri.to_string();
        let method = req.method.to_string();
        let input = DigestInput {
            username: &creds.user,
            password: &creds.password,
            method: &method,
            uri: &uri,
            cnonce: &cnonce,
            nc: 1,
            body: &req.body,
        };
        let header = auth::authorization(&challenge, &input)
            .map_err(|e| ChallengeError::Unusable(e.to_string()))?;
        let proxy = origin == ChallengeOrigin::Proxy;
        req.headers
            .retain(|h| !matches!(h, Header::Authorization(_) | Header::ProxyAuthorization(_)));
        req.headers.push(if proxy {
            Header::ProxyAuthorization(header.into())
        } else {
            Header::Authorization(header.into())
        });
        Ok(challenge.nonce)
    }

    pub(super) fn reg_response(&mut self, now: Instant, reg: RegId, resp: Response) {
        let code = u16::from(resp.status_code.clone());
        let phrase = resp.reason_phrase().unwrap_or("").to_string();
        match code {
            100..=199 => {}
            200..=299 => self.reg_success(now, reg, &resp),
            401 | 407 => self.send_register(now, reg, Some(&resp)),
            423 => {
                let min = resp
                    .header_value("Min-Expires")
                    .and_then(|v| v.trim().parse::<u32>().ok());
                match (min, self.regs.get_mut(&reg)) {
                    (Some(min), Some(r)) if min > r.req.expires => {
                        r.req.expires = min;
                        self.send_register(now, reg, None);
                    }
                    _ => self.reg_failed(reg, RegisterError::Refused { code, phrase }),
                }
            }
            _ => self.reg_failed(reg, RegisterError::Refused { code, phrase }),
        }
    }

    fn reg_success(&mut self, now: Instant, reg: RegId, resp: &Response) {
        let Some(r) = self.regs.get_mut(&reg) else {
            return;
        };
        if r.state == RegState::Unregistering {
            self.regs.remove(&reg);
            self.events.push_back(Event::Unregistered { reg });
            return;
        }
        let contacts: Vec<(String, Option<u32>)> = resp
            .typed_contact_headers()
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.uri.to_string(), c.expires()))
            .collect();
        let header = resp
            .expires_header()
            .and_then(|e| e.value().trim().parse().ok());
        let granted = granted_expires(&contacts, &r.contact, header, r.req.expires);
        if granted == 0 {
            self.regs.remove(&reg);
            self.events.push_back(Event::Unregistered { reg });
            return;
        }
        r.registered(now, granted);
        let contact = r.contact.clone();
        self.keepalive_start(now, reg);
        self.events.push_back(Event::Registered {
            reg,
            contact,
            expires: Duration::from_secs(u64::from(granted)),
        });
    }

    pub(super) fn reg_refresh(&mut self, now: Instant, reg: RegId) {
        if let Some(r) = self.regs.get_mut(&reg) {
            r.refresh_at = None;
            r.answered_nonces.clear();
            self.send_register(now, reg, None);
        }
    }

    /// RFC 3263 §4.3: the registrar did not answer at all (Timer F, or the
    /// transport failed), so the REGISTER goes to the next registrar of the
    /// list (a new transaction; Via and Contact for its transport). False
    /// when every one has failed since the last success.
    pub(super) fn reg_failover(&mut self, now: Instant, reg: RegId, why: &str) -> bool {
        let Some(r) = self.regs.get_mut(&reg) else {
            return false;
        };
        let old = r.req.registrar;
        let Some(next) = r.next_target() else {
            return false;
        };
        if next.transport.with_conn(None) != old.transport.with_conn(None) {
            r.contact = self.cfg.contact(next.transport);
        }
        tracing::warn!(
            ?reg,
            "REGISTER: {why} from {old}; trying the next registrar, {next}"
        );
        self.send_register(now, reg, None);
        true
    }

    pub(super) fn reg_failed(&mut self, reg: RegId, error: RegisterError) {
        if self.regs.remove(&reg).is_some() {
            self.events
                .push_back(Event::RegistrationFailed { reg, error });
        }
    }
}
