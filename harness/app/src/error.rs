use cutover_core::command::InvalidField;
use cutover_core::keys::{EntityKind, KeyError};
use thiserror::Error;

/// What can go wrong in the app's data layer. The first four are the app saying
/// no (bad input, missing entity); the rest are a store failing.
#[derive(Debug, Error)]
pub enum AppError {
    #[error(transparent)]
    InvalidId(#[from] KeyError),
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{kind} {id:?} does not exist")]
    NotFound { kind: EntityKind, id: String },
    #[error("{kind} {id:?} already exists")]
    AlreadyExists { kind: EntityKind, id: String },
    #[error("{kind} {id:?} would be a {bytes}-byte DynamoDB item; the limit is 409,600 bytes")]
    ItemTooLarge {
        kind: EntityKind,
        id: String,
        bytes: usize,
    },
    #[error("writes are in postgres-only mode; DynamoDB and S3 are not written")]
    DualWriteDisabled,

    #[error("postgres: {action}: {source}")]
    Postgres {
        action: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("dynamodb: {action}: {detail}")]
    DynamoDb {
        action: String,
        detail: String,
        /// Whether the same request may pass if tried again (`StoreFailure::retryable`).
        retryable: bool,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    #[error("s3: {action}: {detail}")]
    S3 {
        action: String,
        detail: String,
        retryable: bool,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    #[error(
        "transcript of session {session:?} is corrupt: expected {expected_bytes} bytes sha256 {expected_sha256}, read {actual_bytes} bytes sha256 {actual_sha256}"
    )]
    TranscriptCorrupt {
        session: String,
        expected_bytes: u64,
        expected_sha256: String,
        actual_bytes: u64,
        actual_sha256: String,
    },
    #[error("postgres row does not hold what the profile says: {detail}")]
    MalformedRow { detail: String },
    #[error("dynamodb item {key} is malformed: {detail}")]
    MalformedItem { key: String, detail: String },
    #[error("harness task {action} died: {source}")]
    Task {
        action: String,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error(transparent)]
    Sandbox(#[from] cutover_backends::BackendError),
    #[error("local scratch file: {action}: {source}")]
    Scratch {
        action: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<InvalidField> for AppError {
    fn from(invalid: InvalidField) -> AppError {
        AppError::Invalid {
            field: invalid.field,
            reason: invalid.reason,
        }
    }
}

impl AppError {
    pub fn pg(action: impl Into<String>) -> impl FnOnce(sqlx::Error) -> AppError {
        let action = action.into();
        move |source| AppError::Postgres { action, source }
    }

    /// A DynamoDB request that failed, classified and with its cause kept.
    pub fn dynamodb(action: impl Into<String>, error: impl StoreFailure) -> AppError {
        AppError::DynamoDb {
            action: action.into(),
            detail: cutover_backends::error::error_chain(&error),
            retryable: error.retryable(),
            source: Some(Box::new(error)),
        }
    }

    /// An S3 request that failed, classified and with its cause kept.
    pub fn s3(action: impl Into<String>, error: impl StoreFailure) -> AppError {
        AppError::S3 {
            action: action.into(),
            detail: cutover_backends::error::error_chain(&error),
            retryable: error.retryable(),
            source: Some(Box::new(error)),
        }
    }

    /// A harness task that died (a panic or cancellation): not worth retrying.
    pub fn task(action: impl Into<String>, error: tokio::task::JoinError) -> AppError {
        AppError::Task {
            action: action.into(),
            source: error,
        }
    }

    /// A harness-local file (a spill run, say) that could not be written or read.
    pub fn scratch(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> AppError {
        let action = action.into();
        move |source| AppError::Scratch { action, source }
    }

    /// A store failure that may pass if the same request is tried again: the
    /// engine was unreachable, restarting, overloaded, or the transaction lost
    /// a race. For DynamoDB and S3: throttling, 5xx answers, timeouts and
    /// connection failures (`StoreFailure::retryable`); a `ValidationException`
    /// or a missing table is not. Refusals, oversize items and corrupt data are not.
    pub fn is_transient(&self) -> bool {
        match self {
            AppError::Postgres { source, .. } => match source {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(error) => error.code().is_some_and(|code| {
                    // Class 08: connection exception; 57P01-57P03: the server is
                    // shutting down, crashed or starting; 53300: too many
                    // connections; 40001/40P01: serialization failure, deadlock;
                    // 55P03/57014: a lock or statement timeout (the relay's bounds).
                    code.starts_with("08")
                        || matches!(
                            &*code,
                            "57P01"
                                | "57P02"
                                | "57P03"
                                | "53300"
                                | "40001"
                                | "40P01"
                                | "55P03"
                                | "57014"
                        )
                }),
                _ => false,
            },
            AppError::DynamoDb { retryable, .. } | AppError::S3 { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// True when the request itself was refused, as opposed to a store failing.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            AppError::InvalidId(_)
                | AppError::Invalid { .. }
                | AppError::NotFound { .. }
                | AppError::AlreadyExists { .. }
                | AppError::ItemTooLarge { .. }
        )
    }
}

/// Error codes that mean "try again later" whatever the HTTP status says.
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "InternalServerError",
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// A failed DynamoDB or S3 call: which ones may pass when tried again.
pub trait StoreFailure: std::error::Error + Send + Sync + 'static {
    /// Throttling, 5xx answers, timeouts and connection failures.
    fn retryable(&self) -> bool;
}

type HttpResponse = aws_sdk_dynamodb::config::http::HttpResponse;

impl<E> StoreFailure for aws_sdk_dynamodb::error::SdkError<E, HttpResponse>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn retryable(&self) -> bool {
        use aws_sdk_dynamodb::error::SdkError;
        match self {
            SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
            SdkError::DispatchFailure(failure) => !failure.is_user(),
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                status >= 500
                    || status == 429
                    || service
                        .err()
                        .code()
                        .is_some_and(|code| RETRYABLE_CODES.contains(&code))
            }
            _ => false,
        }
    }
}

/// A request that could not even be built.
impl StoreFailure for aws_sdk_dynamodb::error::BuildError {
    fn retryable(&self) -> bool {
        false
    }
}

/// An object body cut off while it was read: the connection, not the request.
impl StoreFailure for aws_sdk_s3::primitives::ByteStreamError {
    fn retryable(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::config::http::HttpResponse;
    use aws_sdk_dynamodb::error::{ErrorMetadata, SdkError};
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_smithy_types::body::SdkBody;

    fn answered(status: u16, code: &str) -> AppError {
        let error = GetItemError::generic(ErrorMetadata::builder().code(code).message("m").build());
        let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        AppError::dynamodb("GetItem", SdkError::service_error(error, raw))
    }

    #[test]
    fn only_throttling_5xx_timeouts_and_connections_are_retried() {
        assert!(answered(400, "ThrottlingException").is_transient());
        assert!(answered(400, "ProvisionedThroughputExceededException").is_transient());
        assert!(answered(500, "InternalServerError").is_transient());
        assert!(answered(503, "SlowDown").is_transient());
        assert!(!answered(400, "ValidationException").is_transient());
        assert!(!answered(400, "ResourceNotFoundException").is_transient());
        assert!(!answered(400, "ConditionalCheckFailedException").is_transient());
        let timeout: SdkError<GetItemError, HttpResponse> =
            SdkError::timeout_error("took too long");
        assert!(AppError::dynamodb("GetItem", timeout).is_transient());
    }

    #[test]
    fn the_cause_is_kept() {
        let error = answered(400, "ValidationException");
        let source = std::error::Error::source(&error).expect("a source");
        assert!(source.to_string().contains("service error"), "{source}");
    }
}
