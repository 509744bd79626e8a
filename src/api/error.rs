//! Every error the API answers with: an HTTP status and one JSON object
//! `{"error": KIND, "reason": TEXT, ...}`, the same body on the WebSocket.

use super::port::Unavailable;
use agentphone_desk::CommandError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// An error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: &str, reason: impl std::fmt::Display) -> Self {
        ApiError {
            status,
            body: json!({ "error": kind, "reason": reason.to_string() }),
        }
    }

    pub(crate) fn unauthorized(reason: &str) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", reason)
    }

    pub(crate) fn bad_request(reason: impl std::fmt::Display) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad-request", reason)
    }
}

impl From<Unavailable> for ApiError {
    fn from(u: Unavailable) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", u)
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        let reason = e.to_string();
        match e {
            CommandError::Refused(r) => ApiError {
                status: StatusCode::CONFLICT,
                body: json!({ "error": "refused", "rule": r.rule, "reason": r.reason }),
            },
            CommandError::NoSuchCall(call) => ApiError {
                status: StatusCode::NOT_FOUND,
                body: json!({ "error": "no-such-call", "call": call, "reason": reason }),
            },
            CommandError::NoCall(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "no-call", reason)
            }
            CommandError::Invalid(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", reason)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentphone_desk::{CallRef, Refused};

    #[test]
    fn each_command_error_has_its_status_and_kind() {
        let e: ApiError = CommandError::Refused(Refused {
            rule: "R-HOLD-3",
            reason: "held".into(),
        })
        .into();
        assert_eq!(e.status, StatusCode::CONFLICT);
        assert_eq!(
            e.body,
            json!({"error": "refused", "rule": "R-HOLD-3", "reason": "held"})
        );
        let e: ApiError = CommandError::NoSuchCall(CallRef(9)).into();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(
            e.body,
            json!({"error": "no-such-call", "call": 9, "reason": "no call 9"})
        );
        let e: ApiError = CommandError::NoCall("hold").into();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.body["error"], "no-call");
        let e: ApiError = CommandError::Invalid("bad digit".into()).into();
        assert_eq!(
            (e.status, &e.body["reason"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &json!("bad digit"))
        );
        let e: ApiError = Unavailable::Gone.into();
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
