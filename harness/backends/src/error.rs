use std::path::PathBuf;

use cutover_core::provision::{ConfigError, Engine, Provisioner};
use thiserror::Error;

/// Why the harness could not start or use an engine. A mismatch between engines
/// is never one of these: checks report mismatches as data.
#[derive(Debug, Error)]
pub enum BackendError {
    #[error(transparent)]
    Config(#[from] ConfigError),

    #[error("{engine} ({provisioner}) needs {what}, which was not found here.\n  remedy: {remedy}")]
    MissingPrerequisite {
        engine: Engine,
        provisioner: Provisioner,
        what: String,
        remedy: String,
    },

    #[error("no way to start {engine} on this machine: {why}.\n  remedy: {remedy}")]
    NoProvisioner {
        engine: Engine,
        why: String,
        remedy: String,
    },

    #[error("{engine} ({provisioner}) failed to start: {detail}")]
    Startup {
        engine: Engine,
        provisioner: Provisioner,
        detail: String,
    },

    #[error("run {run_id} already has resources on these engines ({}): a second run with its id would share them, and its cleanup would delete them; choose another run id, or pass --reopen to use them (they are then kept when this run ends)", existing.join(", "))]
    RunExists {
        run_id: String,
        existing: Vec<String>,
    },

    #[error("{engine}: {action} failed: {detail}")]
    Operation {
        engine: Engine,
        action: String,
        detail: String,
    },

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("fetching DynamoDB Local failed: {detail}")]
    Fetch { detail: String },

    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Several(Vec<BackendError>),
}

impl BackendError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| BackendError::Io {
            action,
            path,
            source,
        }
    }

    /// One error as itself, several as a list.
    pub(crate) fn several(mut errors: Vec<BackendError>) -> Self {
        if errors.len() == 1 {
            errors.remove(0)
        } else {
            BackendError::Several(errors)
        }
    }

    pub(crate) fn startup(engine: Engine, provisioner: Provisioner, detail: impl ToString) -> Self {
        BackendError::Startup {
            engine,
            provisioner,
            detail: detail.to_string(),
        }
    }

    pub(crate) fn operation(
        engine: Engine,
        action: impl Into<String>,
        detail: impl std::fmt::Display,
    ) -> Self {
        BackendError::Operation {
            engine,
            action: action.into(),
            detail: detail.to_string(),
        }
    }
}

/// Renders an error with its whole `source()` chain, which the AWS SDK needs:
/// its top-level `Display` is often just "service error".
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
