//! Faults a scenario schedules during its replay (`[[faults]]`): what goes
//! wrong, when, and for how long. The replay injects them; this module only
//! says what they are and checks the file.

use serde::Deserialize;

/// Something that goes wrong during a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// DynamoDB answers `ThrottlingException` (HTTP 400) without applying the request.
    DynamodbThrottle,
    /// DynamoDB applies the request, then its answer is lost: the client sees
    /// `InternalServerError` (HTTP 500) and retries a write that already happened.
    DynamodbServerError,
    /// DynamoDB does not answer: the attempt runs into the SDK's attempt timeout.
    DynamodbTimeout,
    /// S3 answers `SlowDown` (HTTP 503) without applying the request.
    S3ServerError,
    /// S3 does not answer: the attempt runs into the SDK's attempt timeout.
    S3Timeout,
    /// S3 applies the request, then its answer is lost: the client sees
    /// `InternalError` (HTTP 500) and retries an upload that already happened.
    S3InternalError,
    /// The DynamoDB engine is killed and started again over the same data.
    DynamodbRestart,
    /// The PostgreSQL server crashes (immediate shutdown) and starts again.
    PostgresRestart,
    /// A statement's connection is reset before the statement reaches
    /// PostgreSQL (nothing is applied; the client sees a broken connection).
    PostgresReset,
    /// A `COMMIT` is applied by PostgreSQL, then its answer is lost and the
    /// connection cut: the client cannot tell whether its write happened.
    PostgresCommitLost,
    /// DynamoDB requests wait `latency_ms` before they reach the engine.
    DynamodbLatency,
    /// S3 requests wait `latency_ms` before they reach the store.
    S3Latency,
    /// PostgreSQL statements wait `latency_ms` before they reach the server
    /// (through the fault proxy).
    PostgresLatency,
}

/// Which service a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultTarget {
    Dynamodb,
    S3,
    Postgres,
}

impl FaultKind {
    pub const ALL: [FaultKind; 13] = [
        FaultKind::DynamodbThrottle,
        FaultKind::DynamodbServerError,
        FaultKind::DynamodbTimeout,
        FaultKind::S3ServerError,
        FaultKind::S3Timeout,
        FaultKind::S3InternalError,
        FaultKind::DynamodbRestart,
        FaultKind::PostgresRestart,
        FaultKind::PostgresReset,
        FaultKind::PostgresCommitLost,
        FaultKind::DynamodbLatency,
        FaultKind::S3Latency,
        FaultKind::PostgresLatency,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::DynamodbThrottle => "dynamodb-throttle",
            FaultKind::DynamodbServerError => "dynamodb-server-error",
            FaultKind::DynamodbTimeout => "dynamodb-timeout",
            FaultKind::S3ServerError => "s3-server-error",
            FaultKind::S3Timeout => "s3-timeout",
            FaultKind::S3InternalError => "s3-internal-error",
            FaultKind::DynamodbRestart => "dynamodb-restart",
            FaultKind::PostgresRestart => "postgres-restart",
            FaultKind::PostgresReset => "postgres-reset",
            FaultKind::PostgresCommitLost => "postgres-commit-lost",
            FaultKind::DynamodbLatency => "dynamodb-latency",
            FaultKind::S3Latency => "s3-latency",
            FaultKind::PostgresLatency => "postgres-latency",
        }
    }

    pub fn target(self) -> FaultTarget {
        match self {
            FaultKind::DynamodbThrottle
            | FaultKind::DynamodbServerError
            | FaultKind::DynamodbTimeout
            | FaultKind::DynamodbRestart
            | FaultKind::DynamodbLatency => FaultTarget::Dynamodb,
            FaultKind::S3ServerError
            | FaultKind::S3Timeout
            | FaultKind::S3InternalError
            | FaultKind::S3Latency => FaultTarget::S3,
            FaultKind::PostgresRestart
            | FaultKind::PostgresReset
            | FaultKind::PostgresCommitLost
            | FaultKind::PostgresLatency => FaultTarget::Postgres,
        }
    }

    /// Injected into requests (the rest restart an engine): DynamoDB's and
    /// S3's by cutover's SDK clients or the fault proxy, PostgreSQL's by the
    /// proxy alone.
    pub fn is_injected(self) -> bool {
        !matches!(
            self,
            FaultKind::DynamodbRestart | FaultKind::PostgresRestart
        )
    }
}

impl FaultKind {
    /// Delays requests (by `latency_ms`) instead of failing them.
    pub fn adds_latency(self) -> bool {
        matches!(
            self,
            FaultKind::DynamodbLatency | FaultKind::S3Latency | FaultKind::PostgresLatency
        )
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How much of a fault: a number of failed requests, or an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultSize {
    /// The next `n` requests to the service fail (SDK retries count as requests).
    Requests(u32),
    /// The engine stays down this long before it is started again.
    DownMs(u64),
    /// The next `requests` requests each wait `latency_ms` first.
    Delayed { requests: u32, latency_ms: u64 },
}

/// One scheduled fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    /// When: after this share of the run's operations (or of its duration) has
    /// been dispatched, so `--operations N` moves the faults with the run.
    pub at_percent: u8,
    pub size: FaultSize,
}

impl Fault {
    /// The operation ordinal at which the fault fires in a run of `operations`.
    pub fn at_operation(&self, operations: u64) -> u64 {
        operations * u64::from(self.at_percent) / 100
    }
}

/// The longest outage a scenario may ask for.
pub const MAX_DOWN_MS: u64 = 60_000;
/// The most failed requests one fault may ask for.
pub const MAX_REQUESTS: u32 = 10_000;
pub const DEFAULT_REQUESTS: u32 = 10;
pub const DEFAULT_DOWN_MS: u64 = 500;
/// The longest added latency a scenario may ask for.
pub const MAX_LATENCY_MS: u64 = 60_000;
pub const DEFAULT_LATENCY_MS: u64 = 250;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFault {
    kind: FaultKind,
    at_percent: u8,
    requests: Option<u32>,
    down_ms: Option<u64>,
    latency_ms: Option<u64>,
}

impl RawFault {
    /// Checks one `[[faults]]` entry; the error is (field, message).
    pub(crate) fn check(&self) -> Result<Fault, (&'static str, String)> {
        if self.at_percent >= 100 {
            return Err((
                "at_percent",
                format!(
                    "{} is not below 100 (a fault must fire while the run lasts)",
                    self.at_percent
                ),
            ));
        }
        if self.latency_ms.is_some() && !self.kind.adds_latency() {
            return Err((
                "latency_ms",
                format!(
                    "{} does not delay requests; latency_ms is for dynamodb-latency, s3-latency and postgres-latency",
                    self.kind
                ),
            ));
        }
        let size = if self.kind.is_injected() {
            if self.down_ms.is_some() {
                return Err((
                    "down_ms",
                    format!(
                        "{} fails requests; down_ms is for dynamodb-restart and postgres-restart",
                        self.kind
                    ),
                ));
            }
            match self.requests.unwrap_or(DEFAULT_REQUESTS) {
                0 => return Err(("requests", "must be at least 1".into())),
                n if n > MAX_REQUESTS => {
                    return Err((
                        "requests",
                        format!("{n} is above the limit of {MAX_REQUESTS}"),
                    ));
                }
                n if self.kind.adds_latency() => {
                    match self.latency_ms.unwrap_or(DEFAULT_LATENCY_MS) {
                        0 => return Err(("latency_ms", "must be at least 1".into())),
                        ms if ms > MAX_LATENCY_MS => {
                            return Err((
                                "latency_ms",
                                format!("{ms} is above the limit of {MAX_LATENCY_MS}"),
                            ));
                        }
                        latency_ms => FaultSize::Delayed {
                            requests: n,
                            latency_ms,
                        },
                    }
                }
                n => FaultSize::Requests(n),
            }
        } else {
            if self.requests.is_some() {
                return Err((
                    "requests",
                    format!(
                        "{} restarts an engine; requests is for the injected faults",
                        self.kind
                    ),
                ));
            }
            match self.down_ms.unwrap_or(DEFAULT_DOWN_MS) {
                ms if ms > MAX_DOWN_MS => {
                    return Err((
                        "down_ms",
                        format!("{ms} is above the limit of {MAX_DOWN_MS}"),
                    ));
                }
                ms => FaultSize::DownMs(ms),
            }
        };
        Ok(Fault {
            kind: self.kind,
            at_percent: self.at_percent,
            size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(kind: FaultKind, requests: Option<u32>, down_ms: Option<u64>) -> RawFault {
        RawFault {
            kind,
            at_percent: 10,
            requests,
            down_ms,
            latency_ms: None,
        }
    }

    #[test]
    fn latency_faults_take_requests_and_a_latency() {
        let mut latency = raw(FaultKind::PostgresLatency, Some(4), None);
        assert_eq!(
            latency.check().unwrap().size,
            FaultSize::Delayed {
                requests: 4,
                latency_ms: DEFAULT_LATENCY_MS
            }
        );
        latency.latency_ms = Some(MAX_LATENCY_MS + 1);
        assert_eq!(latency.check().unwrap_err().0, "latency_ms");
        let mut throttle = raw(FaultKind::DynamodbThrottle, None, None);
        throttle.latency_ms = Some(10);
        let (field, message) = throttle.check().unwrap_err();
        assert_eq!(field, "latency_ms");
        assert!(
            message.contains("dynamodb-throttle does not delay"),
            "{message}"
        );
    }

    #[test]
    fn injected_faults_take_requests_and_restarts_take_down_time() {
        assert_eq!(
            raw(FaultKind::DynamodbThrottle, None, None)
                .check()
                .unwrap()
                .size,
            FaultSize::Requests(DEFAULT_REQUESTS)
        );
        assert_eq!(
            raw(FaultKind::PostgresRestart, None, Some(900))
                .check()
                .unwrap()
                .size,
            FaultSize::DownMs(900)
        );
        assert_eq!(
            raw(FaultKind::S3Timeout, None, Some(5))
                .check()
                .unwrap_err()
                .0,
            "down_ms"
        );
        assert_eq!(
            raw(FaultKind::DynamodbRestart, Some(5), None)
                .check()
                .unwrap_err()
                .0,
            "requests"
        );
        assert_eq!(
            raw(FaultKind::S3ServerError, Some(0), None)
                .check()
                .unwrap_err()
                .0,
            "requests"
        );
    }

    #[test]
    fn faults_fire_at_a_share_of_the_run() {
        let fault = raw(FaultKind::DynamodbThrottle, None, None)
            .check()
            .unwrap();
        assert_eq!(fault.at_operation(3000), 300);
        assert_eq!(fault.at_operation(5), 0);
        let late = RawFault {
            at_percent: 100,
            ..raw(FaultKind::DynamodbThrottle, None, None)
        };
        assert_eq!(late.check().unwrap_err().0, "at_percent");
    }

    #[test]
    fn every_kind_has_a_distinct_name() {
        let names: std::collections::BTreeSet<_> =
            FaultKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), FaultKind::ALL.len());
    }
}
