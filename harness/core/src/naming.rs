//! Run ids and every resource name derived from them.
//!
//! Everything a run creates on a shared engine — its PostgreSQL database, its
//! DynamoDB tables, its S3 buckets — is named here from one [`RunId`], so two runs
//! (or two tests) on the same engine never meet, and cleanup can find all of a
//! run's resources by prefix.

use std::fmt;

use thiserror::Error;

/// Length of a generated run id: 36^10 ≈ 3.7e15 ids, short enough that every
/// derived name stays inside the tightest limit (S3 buckets, 63 bytes).
const GENERATED_RUN_ID_LEN: usize = 10;
/// Upper bound for a user-chosen run id, so `cutover-<run>-<purpose>` still fits
/// in 63 bytes with the longest purpose.
const MAX_RUN_ID_LEN: usize = 20;
const MAX_PURPOSE_LEN: usize = 32;
const RESOURCE_PREFIX: &str = "cutover";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum NamingError {
    #[error("run id {value:?} is invalid: use 1 to {MAX_RUN_ID_LEN} characters from a-z and 0-9")]
    InvalidRunId { value: String },
    #[error(
        "resource purpose {value:?} is invalid: use 1 to {MAX_PURPOSE_LEN} characters from a-z, 0-9 and '-', not starting or ending with '-'"
    )]
    InvalidPurpose { value: String },
}

/// The identity of one run: lowercase ASCII letters and digits only, so it is
/// valid inside PostgreSQL identifiers, DynamoDB table names and S3 bucket names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunId(String);

impl RunId {
    /// The run id that `bits` spell in the run-id alphabet. The caller draws
    /// them (`cutover_backends::new_run_id`): core reads no OS randomness.
    pub fn from_random(mut bits: u128) -> Self {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let base = ALPHABET.len() as u128;
        let id = (0..GENERATED_RUN_ID_LEN)
            .map(|_| {
                let letter = ALPHABET[(bits % base) as usize] as char;
                bits /= base;
                letter
            })
            .collect();
        RunId(id)
    }

    /// A run id chosen by the user (for example to find a run's resources again).
    pub fn parse(value: &str) -> Result<Self, NamingError> {
        let valid = !value.is_empty()
            && value.len() <= MAX_RUN_ID_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if valid {
            Ok(RunId(value.to_owned()))
        } else {
            Err(NamingError::InvalidRunId {
                value: value.to_owned(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The PostgreSQL database of this run. Unquoted-identifier safe.
    pub fn postgres_database(&self) -> String {
        format!("{RESOURCE_PREFIX}_{}", self.0)
    }

    /// The prefix every DynamoDB table and S3 bucket of this run starts with.
    pub fn resource_prefix(&self) -> String {
        format!("{RESOURCE_PREFIX}-{}-", self.0)
    }

    /// The DynamoDB table for `purpose` (e.g. `"app"`), valid by DynamoDB's rules
    /// (3-255 characters of `[a-zA-Z0-9_.-]`).
    pub fn dynamodb_table(&self, purpose: &str) -> Result<String, NamingError> {
        Ok(format!(
            "{}{}",
            self.resource_prefix(),
            check_purpose(purpose)?
        ))
    }

    /// The S3 bucket for `purpose` (e.g. `"transcripts"`), valid by S3's bucket
    /// naming rules (3-63 characters of `[a-z0-9-]`, starting and ending with a
    /// letter or digit).
    pub fn s3_bucket(&self, purpose: &str) -> Result<String, NamingError> {
        Ok(format!(
            "{}{}",
            self.resource_prefix(),
            check_purpose(purpose)?
        ))
    }

    /// Whether a table or bucket name belongs to this run.
    pub fn owns(&self, resource_name: &str) -> bool {
        resource_name.starts_with(&self.resource_prefix())
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_purpose(purpose: &str) -> Result<&str, NamingError> {
    let valid = !purpose.is_empty()
        && purpose.len() <= MAX_PURPOSE_LEN
        && !purpose.starts_with('-')
        && !purpose.ends_with('-')
        && purpose
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(purpose)
    } else {
        Err(NamingError::InvalidPurpose {
            value: purpose.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn is_valid_s3_bucket(name: &str) -> bool {
        (3..=63).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && name.as_bytes()[0].is_ascii_alphanumeric()
            && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
    }

    fn is_valid_postgres_identifier(name: &str) -> bool {
        name.len() <= 63
            && name.as_bytes()[0].is_ascii_lowercase()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }

    #[test]
    fn generated_ids_are_distinct_and_parse_back() {
        let a = RunId::from_random(1);
        let b = RunId::from_random(u128::MAX);
        assert_ne!(a, b);
        assert_eq!(RunId::parse(a.as_str()), Ok(a));
    }

    #[test]
    fn bad_run_ids_are_rejected_with_the_value() {
        for bad in [
            "",
            "UPPER",
            "has-dash",
            "has_underscore",
            "a".repeat(21).as_str(),
            "é",
        ] {
            let err = RunId::parse(bad).unwrap_err();
            assert_eq!(
                err,
                NamingError::InvalidRunId {
                    value: bad.to_owned()
                }
            );
            assert!(err.to_string().contains(&format!("{bad:?}")));
        }
    }

    #[test]
    fn bad_purposes_are_rejected() {
        let run = RunId::parse("abc").unwrap();
        for bad in ["", "-x", "x-", "Upper", "a/b", &"p".repeat(33)] {
            assert!(run.s3_bucket(bad).is_err(), "{bad:?} accepted");
            assert!(run.dynamodb_table(bad).is_err(), "{bad:?} accepted");
        }
    }

    proptest! {
        #[test]
        fn derived_names_are_valid_and_owned(
            run in "[a-z0-9]{1,20}",
            purpose in "[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?",
        ) {
            let run = RunId::parse(&run).unwrap();
            let bucket = run.s3_bucket(&purpose).unwrap();
            let table = run.dynamodb_table(&purpose).unwrap();
            prop_assert!(is_valid_s3_bucket(&bucket), "{bucket}");
            prop_assert!(is_valid_postgres_identifier(&run.postgres_database()));
            prop_assert!(run.owns(&bucket) && run.owns(&table));
        }

        #[test]
        fn runs_never_own_each_others_resources(
            a in "[a-z0-9]{1,20}", b in "[a-z0-9]{1,20}", purpose in "[a-z0-9]{1,8}",
        ) {
            prop_assume!(a != b);
            let run_a = RunId::parse(&a).unwrap();
            let run_b = RunId::parse(&b).unwrap();
            prop_assert!(!run_a.owns(&run_b.dynamodb_table(&purpose).unwrap()));
            prop_assert_ne!(run_a.postgres_database(), run_b.postgres_database());
        }
    }
}
