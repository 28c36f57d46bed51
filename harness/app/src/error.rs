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
    DynamoDb { action: String, detail: String },
    #[error("s3: {action}: {detail}")]
    S3 { action: String, detail: String },
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
}

impl AppError {
    pub fn pg(action: impl Into<String>) -> impl FnOnce(sqlx::Error) -> AppError {
        let action = action.into();
        move |source| AppError::Postgres { action, source }
    }

    pub fn dynamodb(action: impl Into<String>, error: &dyn std::error::Error) -> AppError {
        AppError::DynamoDb {
            action: action.into(),
            detail: cutover_backends::error::error_chain(error),
        }
    }

    pub(crate) fn s3(action: impl Into<String>, error: &dyn std::error::Error) -> AppError {
        AppError::S3 {
            action: action.into(),
            detail: cutover_backends::error::error_chain(error),
        }
    }

    /// A store failure that may pass if the same request is tried again: the
    /// engine was unreachable, restarting, overloaded, or the transaction lost
    /// a race. DynamoDB and S3 failures count as transient because the SDK
    /// has already retried what it classifies as retryable; what reaches here
    /// after its retries is an engine that may still be coming back.
    /// Refusals, oversize items and corrupt data are not.
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
                    // connections; 40001/40P01: serialization failure, deadlock.
                    code.starts_with("08")
                        || matches!(
                            &*code,
                            "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01"
                        )
                }),
                _ => false,
            },
            AppError::DynamoDb { .. } | AppError::S3 { .. } => true,
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
