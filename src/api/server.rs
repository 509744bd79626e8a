//! The HTTP server: routes, shared state, and a shutdown that does not wait
//! forever on open event streams.

use super::auth::{self, Auth, LoginCode};
use super::config::ResolvedApi;
use super::error::ApiError;
use super::feed::Hub;
use super::port::{Desk, DeskPort};
use super::token::Token;
use super::{sse, web, ws};
use agentphone_desk::{AgentCommand, Reply, Status};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The largest request body and WebSocket message: commands are small, and
/// a bound keeps a client from making the server buffer without limit.
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// How long open connections get to finish once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What every handler sees.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) desk: Desk,
    pub(crate) auth: Arc<Auth>,
    pub(crate) hub: Arc<Hub>,
}

/// Loads (or on the first run creates) the token and binds the listen
/// address: what `run` does before it starts the desk, so a busy port or a
/// bad token file stops it before any SIP.
pub async fn bind(api: &ResolvedApi) -> anyhow::Result<(TcpListener, Token)> {
    use anyhow::Context;
    let token = Token::load_or_create(&api.token_file)?;
    let listener = TcpListener::bind(api.listen).await.with_context(|| {
        format!(
            "cannot listen on {} for the control API ([api] key 'listen')",
            api.listen
        )
    })?;
    Ok((listener, token))
}

/// Serves the API and the web desk on `listener` until `shutdown` completes,
/// then closes the event streams and returns (after at most a short grace
/// period for open connections). `login` is the one-time code of the desk
/// URL `run` prints.
pub async fn serve(
    listener: TcpListener,
    token: Token,
    login: Option<LoginCode>,
    port: DeskPort,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut stopped = stop_rx.clone();
    let app = router(token, login, port, stop_rx);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "control API listening");
    }
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let grace_over = async move {
        let _ = stopped.wait_for(|s| *s).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        r = server => r?,
        () = grace_over => tracing::debug!("control API: connections still open at shutdown, closed"),
    }
    Ok(())
}

pub(crate) fn router(
    token: Token,
    login: Option<LoginCode>,
    port: DeskPort,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Router {
    let state = AppState {
        desk: Desk::new(port.requests),
        auth: Arc::new(Auth::new(token, login)),
        hub: Arc::new(Hub::new(port.events.subscribe(), stop)),
    };
    let protected = Router::new()
        .route("/api/v1/command", post(command))
        .route("/api/v1/status", get(status))
        .route("/api/v1/wrapup-reasons", get(wrapup_reasons))
        .route("/api/v1/events", get(sse::events))
        .route("/api/v1/ws", get(ws::upgrade))
        .route_layer(middleware::from_fn_with_state(
            state.auth.clone(),
            auth::require_auth,
        ));
    Router::new()
        .route("/", get(web::index))
        .route("/assets/:name", get(web::asset))
        .route("/api/v1/session", post(sign_in).delete(sign_out))
        .merge(protected)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// The body as bytes, with the extractor's own failures (too large, broken
/// upload) as JSON errors like every other.
fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        let kind = if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            "too-large"
        } else {
            "bad-request"
        };
        ApiError::new(r.status(), kind, r.body_text())
    })
}

async fn command(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Reply>, ApiError> {
    let body = body_bytes(body)?;
    // Parsed here rather than with the Json extractor: any content type is
    // taken (curl -d), and the error is serde's message in our JSON shape.
    let cmd: AgentCommand = serde_json::from_slice(&body).map_err(ApiError::bad_request)?;
    tracing::debug!(?cmd, "command from the API");
    let reply = state.desk.command(cmd).await??;
    Ok(Json(reply))
}

async fn status(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    Ok(Json(state.desk.status().await?))
}

#[derive(serde::Deserialize)]
struct ReasonsQuery {
    #[serde(default)]
    q: String,
}

async fn wrapup_reasons(
    State(state): State<AppState>,
    query: Result<Query<ReasonsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<String>>, ApiError> {
    let Query(q) = query.map_err(|r| ApiError::bad_request(r.body_text()))?;
    Ok(Json(state.desk.wrapup_reasons(q.q).await?))
}

/// A sign-in: the token, or the one-time login code of the desk URL.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

async fn sign_in(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    let sign_in: SignIn = serde_json::from_slice(&body).map_err(ApiError::bad_request)?;
    let id = match sign_in {
        SignIn {
            token: Some(token),
            code: None,
        } => state
            .auth
            .sign_in(&token)
            .ok_or_else(|| ApiError::unauthorized("wrong token"))?,
        SignIn {
            token: None,
            code: Some(code),
        } => state.auth.sign_in_with_code(&code).ok_or_else(|| {
            ApiError::unauthorized(
                "this login link was already used or is from an earlier run: \
                 sign in with the token",
            )
        })?,
        _ => return Err(ApiError::bad_request("give either \"token\" or \"code\"")),
    };
    tracing::info!("a browser signed in to the control API");
    Ok((
        [(SET_COOKIE, auth::session_set_cookie(&id))],
        Json(serde_json::json!({"result": "ok"})),
    )
        .into_response())
}

async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = auth::session_cookie(&headers) {
        state.auth.sign_out(id);
    }
    (
        [auth::session_clear_cookie()],
        Json(serde_json::json!({"result": "ok"})),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "no such route; see docs/api.md",
    )
}
