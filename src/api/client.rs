//! A client of the API, for `agentphone ctl` and the tests: JSON in and out
//! (`serde_json::Value`, since the desk's answers are only `Serialize`), and
//! the error bodies kept whole so the caller can tell a refusal apart.

use super::token::Token;
use agentphone_desk::AgentCommand;
use futures_util::StreamExt;
use serde_json::Value;
use std::time::Duration;

/// Why a request did not give an answer.
#[derive(Debug)]
pub enum ClientError {
    /// Nothing answered at the URL.
    Connect {
        /// The API's base URL.
        url: String,
        /// What the connection attempt said.
        detail: String,
    },
    /// The API answered with an error: `body` is its JSON
    /// (`{"error":..,"reason":..}`, `"rule"` for a refusal).
    Api {
        /// The HTTP status.
        status: u16,
        /// The error JSON.
        body: Value,
    },
    /// Anything else (a broken stream, an answer that is not JSON).
    Other(String),
}

impl ClientError {
    /// The rule and reason of a refusal (409).
    pub fn refusal(&self) -> Option<(&str, &str)> {
        match self {
            ClientError::Api { body, .. } if body["error"] == "refused" => Some((
                body["rule"].as_str().unwrap_or("?"),
                body["reason"].as_str().unwrap_or(""),
            )),
            _ => None,
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Connect { url, detail } => write!(
                f,
                "cannot connect to the desk API at {url} ({detail}): is `agentphone run` running?"
            ),
            ClientError::Api { status, body } => {
                if let Some((rule, reason)) = self.refusal() {
                    return write!(f, "refused by {rule}: {reason}");
                }
                let kind = body["error"].as_str().unwrap_or("error");
                match body["reason"].as_str() {
                    Some(reason) => write!(f, "{kind}: {reason}"),
                    None => write!(f, "HTTP {status}: {body}"),
                }
            }
            ClientError::Other(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for ClientError {}

/// A connection to one API.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Token,
    http: reqwest::Client,
}

impl Client {
    /// A client of the API at `base` (`http://127.0.0.1:7480`; without a
    /// scheme, http is meant).
    pub fn new(base: &str, token: Token) -> anyhow::Result<Client> {
        let base = base.trim_end_matches('/');
        let base = if base.contains("://") {
            base.to_owned()
        } else {
            format!("http://{base}")
        };
        let http = reqwest::Client::builder()
            // The API is local: a proxy from the environment must not see
            // the token or the calls.
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Client { base, token, http })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token.as_str())
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let resp = req.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Err(ClientError::Api {
            status: status.as_u16(),
            body,
        })
    }

    fn transport_error(&self, e: reqwest::Error) -> ClientError {
        if e.is_connect() || e.is_builder() {
            let mut detail = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                detail = s.to_string();
                source = s.source();
            }
            ClientError::Connect {
                url: self.base.clone(),
                detail,
            }
        } else {
            ClientError::Other(format!("request to {} failed: {e}", self.base))
        }
    }

    async fn json(&self, req: reqwest::RequestBuilder) -> Result<Value, ClientError> {
        let resp = self.send(req).await?;
        resp.json()
            .await
            .map_err(|e| ClientError::Other(format!("the API's answer is not JSON: {e}")))
    }

    /// Sends a command; the answer is the reply JSON (`{"result":"ok"}` ...).
    pub async fn command(&self, cmd: &AgentCommand) -> Result<Value, ClientError> {
        self.json(
            self.request(reqwest::Method::POST, "/api/v1/command")
                .json(cmd),
        )
        .await
    }

    /// The desk's status JSON.
    pub async fn status(&self) -> Result<Value, ClientError> {
        self.json(self.request(reqwest::Method::GET, "/api/v1/status"))
            .await
    }

    /// The wrap-up reasons matching `query`.
    pub async fn wrapup_reasons(&self, query: &str) -> Result<Value, ClientError> {
        self.json(
            self.request(reqwest::Method::GET, "/api/v1/wrapup-reasons")
                .query(&[("q", query)]),
        )
        .await
    }

    /// Opens the event stream: the status snapshot comes first.
    pub async fn events(&self) -> Result<EventStream, ClientError> {
        let resp = self
            .send(self.request(reqwest::Method::GET, "/api/v1/events"))
            .await?;
        Ok(EventStream {
            body: Box::pin(resp.bytes_stream()),
            buf: Vec::new(),
        })
    }
}

type ByteStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>>;

/// The server-sent events of `/api/v1/events`, parsed.
pub struct EventStream {
    body: ByteStream,
    buf: Vec<u8>,
}

impl EventStream {
    /// The next event's JSON; None when the server ended the stream.
    pub async fn next(&mut self) -> Result<Option<Value>, ClientError> {
        loop {
            while let Some((block, rest)) = split_block(&self.buf) {
                let data = sse_data(block);
                self.buf = rest;
                // Blocks without data are keep-alive comments.
                if let Some(data) = data {
                    return serde_json::from_str(&data).map(Some).map_err(|e| {
                        ClientError::Other(format!("an event is not JSON ({e}): {data}"))
                    });
                }
            }
            match self.body.next().await {
                // Our server never puts a CR inside data (JSON escapes it), so
                // dropping CRs turns CRLF line ends into LF ones.
                Some(Ok(chunk)) => self.buf.extend(chunk.iter().filter(|&&b| b != b'\r')),
                Some(Err(e)) => {
                    return Err(ClientError::Other(format!("the event stream broke: {e}")))
                }
                None => return Ok(None),
            }
        }
    }
}

/// One SSE block (up to a blank line) and what follows it.
fn split_block(buf: &[u8]) -> Option<(String, Vec<u8>)> {
    let end = buf.windows(2).position(|w| w == b"\n\n")?;
    let block = String::from_utf8_lossy(&buf[..end]).into_owned();
    Some((block, buf[end + 2..].to_vec()))
}

/// The `data:` lines of a block, joined as the SSE spec says.
fn sse_data(block: String) -> Option<String> {
    let lines: Vec<&str> = block
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_blocks_are_split_and_comments_skipped() {
        let buf = b": keep-alive\n\nevent: status\ndata: {\"a\":1}\n\ndata: x\ndata: y\n\npartial";
        let (b1, rest) = split_block(buf).unwrap();
        assert_eq!(sse_data(b1), None);
        let (b2, rest) = split_block(&rest).unwrap();
        assert_eq!(sse_data(b2).as_deref(), Some("{\"a\":1}"));
        let (b3, rest) = split_block(&rest).unwrap();
        assert_eq!(sse_data(b3).as_deref(), Some("x\ny"));
        assert!(split_block(&rest).is_none());
        assert_eq!(rest, b"partial");
    }

    #[test]
    fn refusals_read_as_the_rule_says() {
        let e = ClientError::Api {
            status: 409,
            body: serde_json::json!({"error":"refused","rule":"R-HOLD-3","reason":"the call is held"}),
        };
        assert_eq!(e.refusal(), Some(("R-HOLD-3", "the call is held")));
        assert_eq!(e.to_string(), "refused by R-HOLD-3: the call is held");
        let e = ClientError::Api {
            status: 404,
            body: serde_json::json!({"error":"no-such-call","call":9,"reason":"no call 9"}),
        };
        assert_eq!(e.refusal(), None);
        assert_eq!(e.to_string(), "no-such-call: no call 9");
    }
}
