//! A driver behind an HTTP endpoint: every message the harness sends is one
//! `POST` to the driver's URL, its JSON as the body, and the answer's body is
//! the driver's one message in reply (`ready` to `hello`, `result` to an
//! operation or `drain`; anything 2xx to `bye`). Operations may be in flight
//! on several connections at once, as over stdin.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cutover_core::driver::{self, Outcome, Ready, Request, Response, RunInfo};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::DriverError;

/// The longest answer read from a driver.
const MAX_ANSWER_BYTES: usize = 64 << 20;

pub struct HttpDriver {
    url: String,
    client: Client<HttpConnector, Full<Bytes>>,
    next_id: AtomicU64,
    /// What it said in `ready`.
    pub ready: Ready,
}

/// Why one exchange did not give a message.
enum Exchange {
    /// No answer at all: refused, reset, or too slow.
    Unanswered(String),
    /// An answer that is not a protocol message.
    Malformed(String),
}

impl HttpDriver {
    /// `POST`s `hello` to `url` and waits up to `start_timeout` for `ready`.
    pub async fn start(
        url: &str,
        run: &RunInfo,
        start_timeout: Duration,
    ) -> Result<HttpDriver, DriverError> {
        let uri: hyper::Uri = url.parse().map_err(|error| DriverError::Command {
            command: url.to_owned(),
            reason: format!("not a URL: {error}"),
        })?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(DriverError::Command {
                command: url.to_owned(),
                reason: "a driver URL is http://HOST:PORT/PATH".into(),
            });
        }
        let mut driver = HttpDriver {
            url: url.to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            next_id: AtomicU64::new(1),
            ready: Ready::default(),
        };
        let answer = driver
            .exchange(&Request::hello(run), start_timeout)
            .await
            .map_err(|(Exchange::Unanswered(reason) | Exchange::Malformed(reason))| reason);
        driver.ready =
            answer
                .and_then(driver::accept_ready)
                .map_err(|reason| DriverError::Handshake {
                    command: url.to_owned(),
                    reason,
                    stderr: String::new(),
                })?;
        Ok(driver)
    }

    pub fn command_line(&self) -> &str {
        &self.url
    }

    /// One `POST` and the message it got back.
    async fn exchange(&self, request: &Request, timeout: Duration) -> Result<Response, Exchange> {
        let post = hyper::Request::post(&self.url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(request.to_line())))
            .expect("a valid request");
        let answer = async {
            let response = self.client.request(post).await.map_err(|error| {
                Exchange::Unanswered(format!("{} did not answer: {error}", self.url))
            })?;
            let status = response.status();
            let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|error| Exchange::Unanswered(format!("its answer broke off: {error}")))?
                .to_bytes();
            let text = String::from_utf8_lossy(&body).into_owned();
            if !status.is_success() {
                return Err(Exchange::Malformed(format!(
                    "HTTP {status} in answer: {:.300}",
                    text
                )));
            }
            Ok(text)
        };
        let text = tokio::time::timeout(timeout, answer)
            .await
            .map_err(|_| Exchange::Unanswered(format!("no answer within {timeout:?}")))??;
        if matches!(request, Request::Bye) {
            // Whatever `bye` is answered with, the run is over.
            return Ok(Response::Result {
                id: 0,
                outcome: Outcome::Ok {
                    answer: serde_json::Value::Null,
                },
            });
        }
        serde_json::from_str(text.trim()).map_err(|error| {
            Exchange::Malformed(format!(
                "the answer is not a protocol message ({error}): {:.300}",
                text
            ))
        })
    }

    /// Sends the request `build(id)` builds; its answer must be its result.
    pub async fn call(
        &self,
        build: impl FnOnce(u64) -> Request,
        operation: &str,
        timeout: Duration,
    ) -> Result<Outcome, DriverError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let protocol = |reason: String| DriverError::Protocol {
            command: self.url.clone(),
            operation: operation.to_owned(),
            reason,
        };
        match self.exchange(&build(id), timeout).await {
            Ok(Response::Result {
                id: answered,
                outcome,
            }) if answered == id => Ok(outcome),
            Ok(Response::Result { id: answered, .. }) => Err(protocol(format!(
                "the answer to message id {id} is the result of id {answered}"
            ))),
            Ok(Response::Ready { .. }) => Err(protocol(format!(
                "message id {id} was answered with a second `ready`"
            ))),
            Err(Exchange::Malformed(reason)) => Err(protocol(format!("message id {id}: {reason}"))),
            Err(Exchange::Unanswered(reason)) => Err(DriverError::Unanswered {
                command: self.url.clone(),
                operation: operation.to_owned(),
                id,
                reason,
            }),
        }
    }

    /// `POST`s `bye`; says what went wrong, if anything.
    pub async fn close(&self) -> Option<String> {
        match self.exchange(&Request::Bye, Duration::from_secs(5)).await {
            Ok(_) => None,
            Err(Exchange::Unanswered(reason) | Exchange::Malformed(reason)) => {
                Some(format!("`bye` to {}: {reason}", self.url))
            }
        }
    }
}
