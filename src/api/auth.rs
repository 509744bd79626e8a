//! Who may use the API: a client that sends the token (`Authorization:
//! Bearer`), or a browser that signed in with it and holds a session cookie.
//! The session id is a separate random value, so the token itself never sits
//! in a browser's cookie jar.
//!
//! A browser may also sign in with the run's one-time login code (the
//! `#login=CODE` of the desk URL `run` prints): it is good for one sign-in,
//! so a URL left in a terminal's scrollback or a browser's history is
//! useless once the agent opened it.

use super::error::ApiError;
use super::token::{random_hex, Token};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "agentphone_session";

/// Sessions kept at most; signing in again past this forgets the oldest, so
/// repeated sign-ins cannot grow memory without bound.
const MAX_SESSIONS: usize = 64;

/// A one-time login code: signs one browser in, then it is spent. Debug
/// does not show it.
#[derive(Clone)]
pub struct LoginCode(String);

impl std::fmt::Debug for LoginCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginCode(..)")
    }
}

impl LoginCode {
    /// A fresh random code (16 bytes as hex: one use, guessing is hopeless).
    pub fn generate() -> LoginCode {
        LoginCode(random_hex::<16>())
    }

    /// The code's text, for the URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    #[cfg(test)]
    pub(crate) fn new(text: &str) -> LoginCode {
        LoginCode(text.to_owned())
    }
}

/// The token, the unused login code and the signed-in browser sessions (in
/// memory: a restart signs every browser out).
#[derive(Debug)]
pub(crate) struct Auth {
    token: Token,
    login: Mutex<Option<LoginCode>>,
    sessions: Mutex<VecDeque<String>>,
}

impl Auth {
    pub(crate) fn new(token: Token, login: Option<LoginCode>) -> Self {
        Auth {
            token,
            login: Mutex::new(login),
            sessions: Mutex::new(VecDeque::new()),
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, VecDeque<String>> {
        // A panic while holding the lock cannot leave the list half-changed
        // (push/remove are atomic for it), so a poisoned lock is still usable.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks the token; on success starts a session and returns its id.
    pub(crate) fn sign_in(&self, token: &str) -> Option<String> {
        if !self.token.matches(token) {
            return None;
        }
        Some(self.new_session())
    }

    /// Spends the login code: the first sign-in with it starts a session,
    /// any later one is refused.
    pub(crate) fn sign_in_with_code(&self, code: &str) -> Option<String> {
        {
            let mut login = self
                .login
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let ok = login.as_ref().is_some_and(|l| {
                bool::from(subtle::ConstantTimeEq::ct_eq(
                    l.0.as_bytes(),
                    code.as_bytes(),
                ))
            });
            if !ok {
                return None;
            }
            *login = None;
        }
        Some(self.new_session())
    }

    fn new_session(&self) -> String {
        let id = random_hex::<32>();
        let mut sessions = self.sessions();
        if sessions.len() >= MAX_SESSIONS {
            sessions.pop_front();
        }
        sessions.push_back(id.clone());
        id
    }

    pub(crate) fn sign_out(&self, id: &str) {
        self.sessions().retain(|s| s != id);
    }

    fn has_session(&self, id: &str) -> bool {
        // Ids are 256 random bits looked up, not compared against a secret
        // the client could approach byte by byte; still, compare in constant
        // time as the token is.
        self.sessions()
            .iter()
            .any(|s| bool::from(subtle::ConstantTimeEq::ct_eq(s.as_bytes(), id.as_bytes())))
    }

    /// Whether the request may go on.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if let Some(value) = headers.get(AUTHORIZATION) {
            let bearer = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            return match bearer {
                Some(t) if self.token.matches(t) => Ok(()),
                Some(_) => Err(ApiError::unauthorized("wrong token")),
                None => Err(ApiError::unauthorized(
                    "the Authorization header must be `Bearer TOKEN`",
                )),
            };
        }
        match session_cookie(headers) {
            Some(id) if self.has_session(id) => same_origin(headers),
            Some(_) => Err(ApiError::unauthorized(
                "unknown or expired session: sign in again",
            )),
            None => Err(ApiError::unauthorized(
                "no token: send `Authorization: Bearer TOKEN` with the token from the \
                 token file, or sign in with POST /api/v1/session",
            )),
        }
    }
}

/// The value of our cookie in the request's `Cookie` headers.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// A cookie rides along on requests from any page of the same *site*, and
/// for `localhost` that includes every other local web app on any port: so a
/// cookie-authenticated request whose `Origin` is not this server is refused.
/// (Browsers send `Origin` on POST and WebSocket handshakes; a request
/// without it is not from a cross-origin page.)
fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "a signed-in session cannot be used from another origin",
        )),
    }
}

/// Middleware for every route that needs a token or a session.
pub(crate) async fn require_auth(
    State(auth): State<Arc<Auth>>,
    request: Request,
    next: Next,
) -> Response {
    match auth.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            tracing::debug!(path = %request.uri().path(), "API request refused: {}", e.body["reason"]);
            e.into_response()
        }
    }
}

/// The `Set-Cookie` value for a new session.
pub(crate) fn session_set_cookie(id: &str) -> HeaderValue {
    // HttpOnly: page scripts cannot read it; SameSite=Strict: other sites'
    // pages do not send it. No Secure: the API is plain HTTP on loopback.
    let v = format!("{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/");
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` value that removes the cookie.
pub(crate) fn session_clear_cookie() -> (axum::http::HeaderName, HeaderValue) {
    (
        SET_COOKIE,
        HeaderValue::from_static(
            "agentphone_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_session_and_origin_rules() {
        let auth = Auth::new(Token::new("tok").unwrap(), None);
        assert!(auth
            .check(&headers(&[("authorization", "Bearer tok")]))
            .is_ok());
        let e = auth
            .check(&headers(&[("authorization", "Bearer nope")]))
            .unwrap_err();
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
        assert!(auth.check(&headers(&[("authorization", "tok")])).is_err());
        assert!(auth.check(&headers(&[])).is_err());

        assert!(auth.sign_in("nope").is_none());
        let id = auth.sign_in("tok").unwrap();
        assert_ne!(id, "tok");
        let cookie = format!("theme=dark; {SESSION_COOKIE}={id}");
        assert!(auth.check(&headers(&[("cookie", &cookie)])).is_ok());
        assert!(auth
            .check(&headers(&[
                ("cookie", &cookie),
                ("host", "127.0.0.1:7480"),
                ("origin", "http://127.0.0.1:7480")
            ]))
            .is_ok());
        let e = auth
            .check(&headers(&[
                ("cookie", &cookie),
                ("host", "127.0.0.1:7480"),
                ("origin", "http://127.0.0.1:3000"),
            ]))
            .unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert!(auth
            .check(&headers(&[("cookie", "agentphone_session=forged")]))
            .is_err());
        auth.sign_out(&id);
        assert!(auth.check(&headers(&[("cookie", &cookie)])).is_err());
    }

    #[test]
    fn the_login_code_signs_in_once() {
        let auth = Auth::new(Token::new("tok").unwrap(), Some(LoginCode::new("c0de")));
        assert!(auth.sign_in_with_code("c0dE").is_none());
        assert!(auth.sign_in_with_code("tok").is_none());
        let id = auth.sign_in_with_code("c0de").unwrap();
        assert!(auth.has_session(&id));
        assert!(auth.sign_in_with_code("c0de").is_none(), "spent");
        assert!(!format!("{:?}", LoginCode::new("c0de")).contains("c0de"));
        let none = Auth::new(Token::new("tok").unwrap(), None);
        assert!(none.sign_in_with_code("").is_none());
    }

    #[test]
    fn sessions_are_bounded() {
        let auth = Auth::new(Token::new("tok").unwrap(), None);
        let first = auth.sign_in("tok").unwrap();
        for _ in 0..MAX_SESSIONS {
            auth.sign_in("tok").unwrap();
        }
        assert_eq!(auth.sessions().len(), MAX_SESSIONS);
        assert!(!auth.has_session(&first));
    }
}
