//! The web desk: a page and its assets compiled into the binary, so `run`
//! serves the agent's desk without a web server or a Node toolchain. The
//! page drives the desk only through the API routes beside it (HTTP and the
//! WebSocket), signed in with a session cookie.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Every asset: name under `/assets/`, content type, bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    ("desk.css", CSS, include_str!("web/desk.css")),
    ("app.js", JS, include_str!("web/app.js")),
    ("api.js", JS, include_str!("web/api.js")),
    ("dom.js", JS, include_str!("web/dom.js")),
    ("dial.js", JS, include_str!("web/dial.js")),
    ("state.js", JS, include_str!("web/state.js")),
    ("offers.js", JS, include_str!("web/offers.js")),
    ("tasks.js", JS, include_str!("web/tasks.js")),
    ("controls.js", JS, include_str!("web/controls.js")),
    ("quality.js", JS, include_str!("web/quality.js")),
    ("roster.js", JS, include_str!("web/roster.js")),
];

const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// Scripts and styles only from this server, no inline script, no framing:
/// the page shows caller names and variables that come off the wire.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

fn page(content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (CONTENT_TYPE, HeaderValue::from_static(content_type)),
        // The binary is the version: a new build must not run old scripts.
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(CSP),
        ),
        (
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ),
        (
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    (headers, body).into_response()
}

/// `GET /`: the desk page.
pub(crate) async fn index() -> Response {
    page(HTML, include_str!("web/index.html"))
}

/// `GET /assets/NAME`.
pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => page(content_type, body),
        None => super::error::ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no asset {name}"),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module the page imports is served, and nothing it does not
    /// import sits unused in the binary.
    #[test]
    fn every_imported_module_is_an_asset() {
        let mut imported = std::collections::BTreeSet::new();
        let sources = ASSETS
            .iter()
            .map(|(_, _, body)| *body)
            .chain([include_str!("web/index.html")]);
        for text in sources {
            for part in text
                .split("./")
                .skip(1)
                .chain(text.split("/assets/").skip(1))
            {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                    .collect();
                if name.ends_with(".js") || name.ends_with(".css") {
                    imported.insert(name);
                }
            }
        }
        let served: std::collections::BTreeSet<String> =
            ASSETS.iter().map(|(n, _, _)| n.to_string()).collect();
        assert_eq!(imported, served);
    }
}
