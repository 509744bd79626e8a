//! Transaction identity: the public [`TxKey`] handle and the matching keys of
//! RFC 3261 §17.1.3 (client) and §17.2.3 (server).

use std::fmt;

use crate::rsip::{typed, HeadersExt, Method, ToTypedHeader};

use super::TxError;

/// The RFC 3261 branch prefix that makes branch-based matching valid.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Which side of the exchange a transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the request.
    Client,
    /// We received the request.
    Server,
}

/// Handle of one transaction in a [`super::TransactionLayer`].
///
/// Copy, hash and compare are on a small plain value; ids are never reused
/// within one layer, so a stale key simply matches nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxKey {
    id: u64,
    method: Method,
    role: Role,
}

impl TxKey {
    pub(crate) fn new(id: u64, method: Method, role: Role) -> Self {
        TxKey { id, method, role }
    }

    /// Method of the request that created the transaction.
    pub fn method(&self) -> Method {
        self.method
    }

    /// Client or server transaction.
    pub fn role(&self) -> Role {
        self.role
    }

    /// True for a client transaction (we sent the request).
    pub fn is_client(&self) -> bool {
        self.role == Role::Client
    }

    /// True for a server transaction (we received the request).
    pub fn is_server(&self) -> bool {
        self.role == Role::Server
    }

    /// The layer-unique number of this transaction.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl fmt::Display for TxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = match self.role {
            Role::Client => "client",
            Role::Server => "server",
        };
        write!(f, "{role} {} tx#{}", self.method, self.id)
    }
}

/// What a message is matched on. Client keys leave `sent_by` empty: our own
/// branch is unique on its own (§17.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct MatchKey {
    pub(crate) branch: String,
    pub(crate) sent_by: String,
    pub(crate) method: Method,
}

impl MatchKey {
    /// The same key with another method: a CANCEL finds its INVITE this way.
    pub(crate) fn with_method(&self, method: Method) -> Self {
        MatchKey {
            method,
            ..self.clone()
        }
    }
}

/// The top Via of a message, parsed.
pub(crate) fn top_via(msg: &impl HeadersExt) -> Result<typed::Via, TxError> {
    let via = msg
        .via_header()
        .map_err(|_| TxError::MissingHeader { header: "Via" })?;
    via.first_value()
        .and_then(|v| v.typed())
        .map_err(|e| TxError::BadHeader {
            header: "Via",
            reason: e.to_string(),
        })
}

/// The CSeq of a message, parsed.
pub(crate) fn cseq(msg: &impl HeadersExt) -> Result<typed::CSeq, TxError> {
    let cseq = msg
        .cseq_header()
        .map_err(|_| TxError::MissingHeader { header: "CSeq" })?;
    cseq.typed().map_err(|e| TxError::BadHeader {
        header: "CSeq",
        reason: e.to_string(),
    })
}

fn branch_of(via: &typed::Via) -> Option<&str> {
    via.branch().map(|b| b.value()).filter(|b| !b.is_empty())
}

fn has_cookie(branch: &str) -> bool {
    branch.len() > MAGIC_COOKIE.len() && branch.starts_with(MAGIC_COOKIE)
}

/// Key of a request we are about to send. We only originate RFC 3261
/// branches, so a missing magic cookie is the caller's bug, reported as such.
pub(crate) fn client_key_for_request(req: &crate::rsip::Request) -> Result<MatchKey, TxError> {
    let via = top_via(req)?;
    let cseq = cseq(req)?;
    if cseq.method != req.method {
        return Err(TxError::MethodMismatch {
            request: req.method,
            cseq: cseq.method,
        });
    }
    let branch = branch_of(&via)
        .filter(|b| has_cookie(b))
        .ok_or(TxError::NoBranch)?;
    Ok(MatchKey {
        branch: branch.to_owned(),
        sent_by: String::new(),
        method: req.method,
    })
}

/// Key of a received response (§17.1.3: top Via branch + CSeq method).
pub(crate) fn client_key_for_response(resp: &crate::rsip::Response) -> Result<MatchKey, TxError> {
    let via = top_via(resp)?;
    let cseq = cseq(resp)?;
    let branch = branch_of(&via).ok_or(TxError::NoBranch)?;
    Ok(MatchKey {
        branch: branch.to_owned(),
        sent_by: String::new(),
        method: cseq.method,
    })
}

/// Key of a received request (§17.2.3). An ACK matches the INVITE it
/// acknowledges. Requests from RFC 2543 peers (no magic cookie) get a key
/// built from the fields §17.2.3 lists for them, minus the To tag, which
/// differs between an INVITE and its ACK.
pub(crate) fn server_key(req: &crate::rsip::Request) -> Result<MatchKey, TxError> {
    let via = top_via(req)?;
    let cseq = cseq(req)?;
    let method = match req.method {
        Method::Ack => Method::Invite,
        m => m,
    };
    let sent_by = via.sent_by().to_string().to_ascii_lowercase();
    if let Some(branch) = branch_of(&via).filter(|b| has_cookie(b)) {
        return Ok(MatchKey {
            branch: branch.to_owned(),
            sent_by,
            method,
        });
    }
    let call_id = req
        .call_id_header()
        .map_err(|_| TxError::MissingHeader { header: "Call-ID" })?;
    let from_tag = req
        .from_header()
        .ok()
        .and_then(|f| f.typed().ok())
        .and_then(|f| f.tag().map(|t| t.value().to_owned()))
        .unwrap_or_default();
    Ok(MatchKey {
        branch: format!(
            "rfc2543|{}|{}|{}|{}|{}",
            req.uri,
            call_id.value().trim(),
            cseq.seq,
            from_tag,
            branch_of(&via).unwrap_or("")
        ),
        sent_by,
        method,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rsip::Request;

    fn req(text: &str) -> Request {
        Request::try_from(text).expect("test request parses")
    }

    const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP Host.example.com:5060;branch=z9hG4bKabc\r\n\
        From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n\
        Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn ack_matches_invite_server_key() {
        let invite = req(INVITE);
        let ack = req(&INVITE.replace("INVITE", "ACK"));
        let k1 = server_key(&invite).expect("key");
        assert_eq!(k1, server_key(&ack).expect("key"));
        assert_eq!(k1.sent_by, "host.example.com:5060");
        let cancel = req(&INVITE.replace("INVITE", "CANCEL"));
        let kc = server_key(&cancel).expect("key");
        assert_ne!(kc, k1);
        assert_eq!(kc.with_method(Method::Invite), k1);
    }

    #[test]
    fn legacy_requests_match_on_dialog_fields() {
        let old = INVITE.replace("branch=z9hG4bKabc", "branch=1234");
        let k1 = server_key(&req(&old)).expect("key");
        let k2 = server_key(&req(&old.replace("INVITE", "ACK"))).expect("key");
        assert_eq!(k1, k2);
        let other = old.replace("Call-ID: c1", "Call-ID: c2");
        assert_ne!(server_key(&req(&other)).expect("key"), k1);
    }

    #[test]
    fn client_key_needs_cookie_and_consistent_cseq() {
        let no_cookie = INVITE.replace("z9hG4bKabc", "abc");
        assert!(matches!(
            client_key_for_request(&req(&no_cookie)),
            Err(TxError::NoBranch)
        ));
        let mismatch = INVITE.replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
        assert!(matches!(
            client_key_for_request(&req(&mismatch)),
            Err(TxError::MethodMismatch { .. })
        ));
        let no_via = INVITE.replace(
            "Via: SIP/2.0/UDP Host.example.com:5060;branch=z9hG4bKabc\r\n",
            "",
        );
        assert!(matches!(
            client_key_for_request(&req(&no_via)),
            Err(TxError::MissingHeader { header: "Via" })
        ));
    }
}
