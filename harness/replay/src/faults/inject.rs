//! Faults injected into the AWS SDK's own request pipeline, so the SDK's real
//! retry logic (standard mode: backoff with jitter, retry quota, error
//! classification) runs against them:
//!
//! - an HTTP-layer wrapper answers for the engine — `ThrottlingException`,
//!   `SlowDown`, or a connection that times out — and the request never
//!   reaches it (a throttled write is not applied);
//! - an interceptor replaces the engine's real answer with an
//!   `InternalServerError` after the engine applied the request, so the SDK
//!   retries a write that already happened (`dynamodb-server-error`).
//!
//! Both count what they see, so a fault report can say how many operations,
//! attempts and injected failures each service had.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeSerializationInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use cutover_core::workload::{FaultKind, FaultTarget};

/// How long an injected timeout holds the connection before it fails, as a
/// client's read timeout would.
pub const INJECTED_TIMEOUT: Duration = Duration::from_secs(2);

/// What one service's instrumented client has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ServiceCounters {
    /// SDK operations started (one per `send()`).
    pub operations: u64,
    /// HTTP attempts, retries included.
    pub attempts: u64,
    /// Attempts answered with an injected fault.
    pub injected: u64,
}

impl ServiceCounters {
    /// Attempts beyond the first of each operation.
    pub fn retries(&self) -> u64 {
        self.attempts.saturating_sub(self.operations)
    }

    pub fn since(&self, earlier: &ServiceCounters) -> ServiceCounters {
        ServiceCounters {
            operations: self.operations - earlier.operations,
            attempts: self.attempts - earlier.attempts,
            injected: self.injected - earlier.injected,
        }
    }
}

/// A fault waiting for requests to fail.
#[derive(Debug)]
pub(crate) struct Armed {
    kind: FaultKind,
    remaining: u32,
    /// For a latency fault: how long each request waits.
    latency: Duration,
    /// Requests it has acted on, for its own record (however late).
    taken: Arc<AtomicU64>,
}

/// One failure (or delay) a request is to suffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Taken {
    pub kind: FaultKind,
    pub latency: Duration,
}

/// One service's armed faults and counters (shared by the SDK
/// instrumentation and the fault proxy).
#[derive(Debug, Default)]
pub(crate) struct ServiceFaults {
    armed: Mutex<VecDeque<Armed>>,
    pub(crate) operations: AtomicU64,
    pub(crate) attempts: AtomicU64,
    injected: AtomicU64,
    /// Cut off: every request is refused before it reaches the engine, as an
    /// unreachable endpoint would (the rollback drill, after its switch).
    cut: AtomicBool,
    /// Requests refused while cut off.
    refused_while_cut: AtomicU64,
}

/// Where in the pipeline a fault acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Instead of sending the request.
    BeforeSend,
    /// After the engine answered.
    AfterAnswer,
}

fn stage_of(kind: FaultKind) -> Stage {
    match kind {
        // (A commit's answer is lost once PostgreSQL has applied it.)
        FaultKind::DynamodbServerError
        | FaultKind::S3InternalError
        | FaultKind::PostgresCommitLost => Stage::AfterAnswer,
        _ => Stage::BeforeSend,
    }
}

impl ServiceFaults {
    /// Whether this request is refused because the service is cut off (and
    /// counts it when it is).
    pub(crate) fn refuses(&self) -> bool {
        let cut = self.cut.load(Ordering::SeqCst);
        if cut {
            self.refused_while_cut.fetch_add(1, Ordering::SeqCst);
        }
        cut
    }

    /// Takes one failure of the oldest armed fault if it acts at `stage`.
    pub(crate) fn take(&self, stage: Stage) -> Option<FaultKind> {
        self.take_with_latency(stage).map(|taken| taken.kind)
    }

    /// [`ServiceFaults::take`], with the latency a latency fault adds.
    pub(crate) fn take_with_latency(&self, stage: Stage) -> Option<Taken> {
        let mut armed = self.armed.lock().expect("armed faults lock");
        let front = armed.front_mut()?;
        if stage_of(front.kind) != stage {
            return None;
        }
        let taken = Taken {
            kind: front.kind,
            latency: front.latency,
        };
        front.remaining -= 1;
        front.taken.fetch_add(1, Ordering::Relaxed);
        if front.remaining == 0 {
            armed.pop_front();
        }
        self.injected.fetch_add(1, Ordering::Relaxed);
        Some(taken)
    }

    fn counters(&self) -> ServiceCounters {
        ServiceCounters {
            operations: self.operations.load(Ordering::Relaxed),
            attempts: self.attempts.load(Ordering::Relaxed),
            injected: self.injected.load(Ordering::Relaxed),
        }
    }
}

/// Arms faults and instruments SDK clients to suffer them.
#[derive(Debug, Default)]
pub struct Injector {
    dynamodb: Arc<ServiceFaults>,
    s3: Arc<ServiceFaults>,
    /// Armed by the scenario, suffered only through the fault proxy.
    postgres: Arc<ServiceFaults>,
}

impl Injector {
    pub fn new() -> Arc<Injector> {
        Arc::new(Injector::default())
    }

    pub(crate) fn service(&self, target: FaultTarget) -> &Arc<ServiceFaults> {
        match target {
            FaultTarget::Dynamodb => &self.dynamodb,
            FaultTarget::S3 => &self.s3,
            FaultTarget::Postgres => &self.postgres,
        }
    }

    /// The next `requests` attempts to the fault's service fail with it (or,
    /// for a latency fault, wait `latency` first). Faults armed on one service
    /// act on requests one after another. Returns the count of requests
    /// this fault has acted on so far.
    pub fn arm(&self, kind: FaultKind, requests: u32, latency: Duration) -> Arc<AtomicU64> {
        assert!(kind.is_injected(), "{kind} is not injected into requests");
        let taken = Arc::new(AtomicU64::new(0));
        if requests > 0 {
            self.service(kind.target())
                .armed
                .lock()
                .expect("armed faults lock")
                .push_back(Armed {
                    kind,
                    remaining: requests,
                    latency,
                    taken: taken.clone(),
                });
        }
        taken
    }

    /// Failures armed but not yet suffered by any request.
    pub fn unspent(&self, target: FaultTarget) -> u64 {
        self.service(target)
            .armed
            .lock()
            .expect("armed faults lock")
            .iter()
            .map(|armed| u64::from(armed.remaining))
            .sum()
    }

    pub fn counters(&self, target: FaultTarget) -> ServiceCounters {
        self.service(target).counters()
    }

    /// Cuts `target` off (or reconnects it): while cut, every request to it
    /// through an instrumented client or the fault proxy fails as if the
    /// endpoint were unreachable, and is counted.
    pub fn cut_off(&self, target: FaultTarget, cut: bool) {
        self.service(target).cut.store(cut, Ordering::SeqCst);
    }

    /// Requests to `target` refused while it was cut off.
    pub fn refused_while_cut(&self, target: FaultTarget) -> u64 {
        self.service(target)
            .refused_while_cut
            .load(Ordering::SeqCst)
    }

    /// `client` with its HTTP layer wrapped and the interceptor added.
    pub fn instrument_dynamodb(
        &self,
        client: &aws_sdk_dynamodb::Client,
    ) -> aws_sdk_dynamodb::Client {
        let config = client.config();
        let http = FaultyHttpClient {
            inner: config
                .http_client()
                .expect("SDK clients have an HTTP client"),
            service: self.dynamodb.clone(),
            target: FaultTarget::Dynamodb,
        };
        aws_sdk_dynamodb::Client::from_conf(
            config
                .to_builder()
                .http_client(http)
                .interceptor(FaultInterceptor {
                    service: self.dynamodb.clone(),
                    target: FaultTarget::Dynamodb,
                })
                .build(),
        )
    }

    pub fn instrument_s3(&self, client: &aws_sdk_s3::Client) -> aws_sdk_s3::Client {
        let config = client.config();
        let http = FaultyHttpClient {
            inner: config
                .http_client()
                .expect("SDK clients have an HTTP client"),
            service: self.s3.clone(),
            target: FaultTarget::S3,
        };
        aws_sdk_s3::Client::from_conf(
            config
                .to_builder()
                .http_client(http)
                .interceptor(FaultInterceptor {
                    service: self.s3.clone(),
                    target: FaultTarget::S3,
                })
                .build(),
        )
    }
}

/// The answer an engine gives for `kind`: status, content type and body.
pub(crate) fn fault_answer(kind: FaultKind) -> (u16, &'static str, &'static str) {
    match kind {
        FaultKind::DynamodbThrottle => (
            400,
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput (injected by cutover)"}"#,
        ),
        FaultKind::DynamodbServerError => (
            500,
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error (injected by cutover after the request was applied)"}"#,
        ),
        FaultKind::S3ServerError => (
            503,
            "application/xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate (injected by cutover)</Message></Error>",
        ),
        FaultKind::S3InternalError => (
            500,
            "application/xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again. (injected by cutover after the request was applied)</Message></Error>",
        ),
        other => unreachable!("{other} has no answer"),
    }
}

/// The answer an engine gives for `kind`, as the SDK would receive it.
fn fault_response(kind: FaultKind) -> HttpResponse {
    let (status, content_type, body) = fault_answer(kind);
    let mut response = HttpResponse::new(
        StatusCode::try_from(status).expect("a valid status"),
        SdkBody::from(body),
    );
    response.headers_mut().insert("content-type", content_type);
    response
        .headers_mut()
        .insert("x-amzn-requestid", "cutover-injected-fault");
    response
}

#[derive(Debug)]
struct FaultyHttpClient {
    inner: SharedHttpClient,
    service: Arc<ServiceFaults>,
    target: FaultTarget,
}

impl HttpClient for FaultyHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultyConnector {
            inner: self.inner.http_connector(settings, components),
            service: self.service.clone(),
            target: self.target,
        })
    }
}

#[derive(Debug)]
struct FaultyConnector {
    inner: SharedHttpConnector,
    service: Arc<ServiceFaults>,
    target: FaultTarget,
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        self.service.attempts.fetch_add(1, Ordering::Relaxed);
        if self.service.refuses() {
            let target = self.target;
            return HttpConnectorFuture::ready(Err(ConnectorError::io(
                format!("{target:?} is cut off (by cutover)").into(),
            )));
        }
        match self
            .service
            .take_with_latency(Stage::BeforeSend)
            .map(|taken| (taken.kind, taken.latency))
        {
            None => self.inner.call(request),
            Some((kind, latency)) if kind.adds_latency() => {
                let inner = self.inner.clone();
                HttpConnectorFuture::new(async move {
                    tokio::time::sleep(latency).await;
                    inner.call(request).await
                })
            }
            Some((FaultKind::DynamodbTimeout | FaultKind::S3Timeout, _)) => {
                let target = self.target;
                HttpConnectorFuture::new(async move {
                    tokio::time::sleep(INJECTED_TIMEOUT).await;
                    Err(ConnectorError::timeout(
                        format!("{target:?} did not answer within {INJECTED_TIMEOUT:?} (injected by cutover)").into(),
                    ))
                })
            }
            Some((kind, _)) => HttpConnectorFuture::ready(Ok(fault_response(kind))),
        }
    }
}

#[derive(Debug)]
struct FaultInterceptor {
    service: Arc<ServiceFaults>,
    target: FaultTarget,
}

impl Intercept for FaultInterceptor {
    fn name(&self) -> &'static str {
        match self.target {
            FaultTarget::Dynamodb => "cutover-faults-dynamodb",
            _ => "cutover-faults-s3",
        }
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.service.operations.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(kind) = self.service.take(Stage::AfterAnswer) {
            *context.response_mut() = fault_response(kind);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armed_faults_fail_the_next_requests_in_order_at_their_stage() {
        let injector = Injector::default();
        injector.arm(FaultKind::DynamodbThrottle, 2, Duration::ZERO);
        injector.arm(FaultKind::DynamodbServerError, 1, Duration::ZERO);
        let service = &injector.dynamodb;
        // The server error waits behind the throttle, and acts after the answer.
        assert_eq!(service.take(Stage::AfterAnswer), None);
        assert_eq!(
            service.take(Stage::BeforeSend),
            Some(FaultKind::DynamodbThrottle)
        );
        assert_eq!(
            service.take(Stage::BeforeSend),
            Some(FaultKind::DynamodbThrottle)
        );
        assert_eq!(injector.unspent(FaultTarget::Dynamodb), 1);
        assert_eq!(service.take(Stage::BeforeSend), None);
        assert_eq!(
            service.take(Stage::AfterAnswer),
            Some(FaultKind::DynamodbServerError)
        );
        assert_eq!(service.take(Stage::AfterAnswer), None);
        assert_eq!(injector.counters(FaultTarget::Dynamodb).injected, 3);
        assert_eq!(
            injector.counters(FaultTarget::S3),
            ServiceCounters::default()
        );
    }

    #[test]
    fn injected_answers_are_the_errors_the_sdk_classifies() {
        let throttle = fault_response(FaultKind::DynamodbThrottle);
        assert_eq!(throttle.status().as_u16(), 400);
        let body = std::str::from_utf8(throttle.body().bytes().unwrap()).unwrap();
        assert!(body.contains("#ThrottlingException"), "{body}");
        assert_eq!(
            fault_response(FaultKind::S3ServerError).status().as_u16(),
            503
        );
        assert_eq!(
            fault_response(FaultKind::DynamodbServerError)
                .status()
                .as_u16(),
            500
        );
    }
}
