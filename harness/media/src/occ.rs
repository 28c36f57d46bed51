//! Aurora DSQL does not wait on a conflicting transaction: it rejects one of
//! them at commit with SQLSTATE 40001, and the client is expected to retry.
//! PostgreSQL at SERIALIZABLE answers conflicts the same way (40001, or
//! 40P01 for a deadlock), so the same wrapper serves both, and a test can
//! provoke a real conflict on the embedded engine.

use std::future::Future;
use std::time::Duration;

use rand::RngExt;

/// SQLSTATEs that mean "the transaction lost a conflict; run it again".
pub const RETRYABLE_SQLSTATES: [&str; 2] = ["40001", "40P01"];

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            first_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// Whether `error` is a conflict a retry can resolve.
pub fn is_retryable(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| RETRYABLE_SQLSTATES.contains(&code.as_ref()))
}

/// What a retried operation returned, and how many attempts it took.
#[derive(Debug)]
pub struct Retried<T> {
    pub value: T,
    pub attempts: u32,
}

/// Runs `operation` (one whole transaction) until it commits, retrying
/// conflicts with exponential backoff and full jitter; any other error, or a
/// conflict on the last attempt, is returned.
pub async fn with_retry<T, F, Fut>(
    policy: RetryPolicy,
    mut operation: F,
) -> Result<Retried<T>, sqlx::Error>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let mut attempt = 1;
    loop {
        match operation(attempt).await {
            Ok(value) => {
                return Ok(Retried {
                    value,
                    attempts: attempt,
                });
            }
            Err(error) if is_retryable(&error) && attempt < policy.max_attempts => {
                let ceiling = policy
                    .first_backoff
                    .saturating_mul(1 << (attempt - 1).min(16))
                    .min(policy.max_backoff);
                let wait = rand::rng().random_range(Duration::ZERO..=ceiling);
                tracing::debug!(attempt, ?wait, "serialization conflict; retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}
