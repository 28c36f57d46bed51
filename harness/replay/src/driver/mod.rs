//! Who performs a replay's operations: cutover's own dual-write path (the
//! built-in driver, the default) or the app's own code behind the driver
//! protocol (`cutover_core::driver`, docs/driver-protocol.md).
//!
//! Either way an operation ends as a [`Performed`]: done, refused by the app,
//! or failed (retryable or not). A driver that breaks the protocol — crashes,
//! hangs past the per-operation timeout, writes what is not a message — is a
//! [`DriverError`], which stops the run.

pub mod http;
pub mod process;

use std::sync::Arc;
use std::time::Duration;

use cutover_app::dynamo::DynamoStore;
use cutover_app::pg::PgStore;
use cutover_app::transcripts::TranscriptStore;
use cutover_app::{App, AppError, BUCKET_PURPOSE, Command, Mode, Read, TABLE_PURPOSE};
use cutover_backends::Sandbox;
use cutover_core::driver::{
    Credentials, DynamodbInfo, Handles, Outcome, PostgresInfo, ProfileInfo, Rejection, Request,
    RunInfo, S3Info,
};
use cutover_core::keys::Id;
use cutover_core::profile::Profile;
use serde_json::Value;
use thiserror::Error;

pub use http::HttpDriver;
pub use process::ProcessDriver;

use crate::faults::FaultProxies;

const BUILT_IN: &str = "built-in (cutover's Rust dual-write path)";

/// Per-operation timeout of an external driver, unless the run sets one.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an external driver may take to answer `hello` (it creates its
/// schema then).
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Error)]
pub enum DriverError {
    #[error("driver {command:?} did not answer {operation} (message id {id}): {reason}")]
    Unanswered {
        command: String,
        operation: String,
        id: u64,
        reason: String,
    },
    #[error("driver {command:?} cannot start: {reason}")]
    Command { command: String, reason: String },
    #[error(
        "driver {command:?} failed its handshake: {reason}{}",
        stderr_note(stderr)
    )]
    Handshake {
        command: String,
        reason: String,
        stderr: String,
    },
    #[error("driver {command:?} broke the protocol during {operation}: {reason}")]
    Protocol {
        command: String,
        operation: String,
        reason: String,
    },
    #[error(
        "driver {command:?} exited during {operation} (status {status}){}",
        stderr_note(stderr)
    )]
    Exited {
        command: String,
        operation: String,
        status: String,
        stderr: String,
    },
    #[error(
        "driver {command:?} did not answer {operation} (message id {id}) within {after:?}{}",
        stderr_note(stderr)
    )]
    Timeout {
        command: String,
        operation: String,
        id: u64,
        after: Duration,
        stderr: String,
    },
}

fn stderr_note(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; its stderr ended with:\n{stderr}")
    }
}

/// The harness's own view of a run's stores for an external driver, laid
/// out as `profile` says (PostgreSQL read as the profile's tables): the
/// table and the bucket are created and claimed here; the database is left
/// empty for the driver's own schema.
pub async fn stores_for_driver(sandbox: &Sandbox, profile: Arc<Profile>) -> Result<App, AppError> {
    let app = App::new(
        PgStore::of_app(sandbox.pg.clone(), profile.clone()),
        DynamoStore::with_profile(
            sandbox.dynamodb.clone(),
            sandbox.table_name(TABLE_PURPOSE),
            profile,
        ),
        TranscriptStore::new(sandbox.s3.clone(), sandbox.bucket_name(BUCKET_PURPOSE)),
        Mode::Dual,
    );
    app.dynamo.create_table().await?;
    sandbox.claim_table(app.dynamo.table()).await?;
    app.transcripts.create_bucket().await?;
    sandbox.claim_bucket(app.transcripts.bucket()).await?;
    Ok(app)
}

/// What `hello` tells a driver about the run (`stores` from
/// [`stores_for_driver`]); with `proxies`, the endpoints are the fault
/// proxies' in front of the engines.
pub fn run_info(
    sandbox: &Sandbox,
    stores: &App,
    mode: Mode,
    profile_path: Option<&std::path::Path>,
    proxies: Option<&FaultProxies>,
) -> RunInfo {
    let credentials = sandbox
        .dynamodb_endpoint
        .credentials
        .as_ref()
        .map(|credentials| Credentials {
            access_key_id: credentials.access_key_id.clone(),
            secret_access_key: credentials.secret_access_key.clone(),
            session_token: None,
        });
    RunInfo {
        run_id: sandbox.run_id.to_string(),
        mode: mode_name(mode).to_owned(),
        profile: ProfileInfo {
            name: stores.profile().name.clone(),
            path: profile_path.map(|path| {
                std::path::absolute(path)
                    .unwrap_or_else(|_| path.to_owned())
                    .display()
                    .to_string()
            }),
        },
        postgres: PostgresInfo {
            url: proxies
                .and_then(|proxies| proxies.postgres_url(&sandbox.pg_url))
                .unwrap_or_else(|| sandbox.pg_url.clone()),
        },
        dynamodb: DynamodbInfo {
            endpoint: match proxies {
                Some(proxies) => Some(proxies.dynamodb_url()),
                None => sandbox.dynamodb_endpoint.url.clone(),
            },
            region: sandbox.dynamodb_endpoint.region.clone(),
            table: stores.dynamo.table().to_owned(),
        },
        s3: S3Info {
            endpoint: match proxies {
                Some(proxies) => Some(proxies.s3_url()),
                None => sandbox.s3_endpoint.url.clone(),
            },
            region: sandbox.s3_endpoint.region.clone(),
            bucket: stores.transcripts.bucket().to_owned(),
            force_path_style: sandbox.s3_endpoint.url.is_some(),
        },
        credentials,
    }
}

/// A mode as the protocol names it.
pub fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Dual => "dual",
        Mode::PostgresOnly => "postgres-only",
        Mode::ShadowRead { .. } => "shadow-read",
    }
}

/// How one attempt at an operation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Performed {
    /// Done; a read's answer (`Value::Null` for writes), and a share
    /// session's new token.
    Ok {
        answer: Value,
        share_token: Option<String>,
    },
    Rejected {
        reason: Rejection,
        detail: String,
    },
    Failed {
        error: String,
        retryable: bool,
    },
}

/// What one operation asks.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    Write(&'a Command),
    Read(&'a Read),
}

/// The path a replay's operations take.
pub enum Driver {
    /// cutover's reference app on the run's stores.
    BuiltIn(Arc<App>),
    External(ExternalDriver),
    /// A driver that only reads (its `ready` said so): the built-in path
    /// performs the writes, in the profile's layout, and the driver answers
    /// the reads.
    ReadsOnly {
        writes: Arc<App>,
        reads: ExternalDriver,
    },
}

/// Starts the driver `command` for a run on `sandbox` whose stores are laid
/// out as `profile` says, its connections through `rig`'s fault proxies.
/// Returns the driver and the harness's view of the stores (for the checks).
pub async fn start_external(
    sandbox: &Sandbox,
    rig: &crate::faults::FaultRig<'_>,
    profile: Arc<Profile>,
    profile_path: Option<&std::path::Path>,
    mode: Mode,
    command: &str,
    operation_timeout: Duration,
) -> Result<(Arc<Driver>, Arc<App>), crate::ReplayError> {
    let stores = stores_for_driver(sandbox, profile.clone()).await?;
    let run = run_info(sandbox, &stores, mode, profile_path, Some(&rig.proxies));
    let external = ExternalDriver {
        transport: Transport::start(command, &run).await?,
        operation_timeout,
    };
    if external.transport.ready().handles.contains(&Handles::Write) {
        return Ok((Arc::new(Driver::External(external)), Arc::new(stores)));
    }
    // Reads only: cutover's own path writes, into the reference schema of the
    // run's database and the profile's item layout, through the proxies.
    let writes = Arc::new(crate::faults::instrumented_app(sandbox, mode, rig, profile));
    writes.pg.migrate().await?;
    Ok((
        Arc::new(Driver::ReadsOnly {
            writes: writes.clone(),
            reads: external,
        }),
        writes,
    ))
}

pub struct ExternalDriver {
    pub transport: Transport,
    pub operation_timeout: Duration,
}

/// How the harness reaches an external driver.
pub enum Transport {
    /// A command speaking the protocol on stdin/stdout.
    Process(ProcessDriver),
    /// An endpoint taking one `POST` per message.
    Http(HttpDriver),
}

impl Transport {
    /// Starts `driver`: an `http://` URL, else a command line.
    pub async fn start(driver: &str, run: &RunInfo) -> Result<Transport, DriverError> {
        Ok(
            if driver.starts_with("http://") || driver.starts_with("https://") {
                Transport::Http(HttpDriver::start(driver, run, DEFAULT_START_TIMEOUT).await?)
            } else {
                Transport::Process(ProcessDriver::start(driver, run, DEFAULT_START_TIMEOUT).await?)
            },
        )
    }

    /// What the driver said in `ready`.
    pub fn ready(&self) -> &cutover_core::driver::Ready {
        match self {
            Transport::Process(process) => &process.ready,
            Transport::Http(http) => &http.ready,
        }
    }

    /// The command line or URL.
    pub fn command_line(&self) -> &str {
        match self {
            Transport::Process(process) => process.command_line(),
            Transport::Http(http) => http.command_line(),
        }
    }

    pub async fn call(
        &self,
        build: impl FnOnce(u64) -> Request,
        operation: &str,
        timeout: Duration,
    ) -> Result<Outcome, DriverError> {
        match self {
            Transport::Process(process) => process.call(build, operation, timeout).await,
            Transport::Http(http) => http.call(build, operation, timeout).await,
        }
    }

    pub async fn close(&self) -> Option<String> {
        match self {
            Transport::Process(process) => process.close().await,
            Transport::Http(http) => http.close().await,
        }
    }
}

impl Driver {
    /// The driver's name and, for an external one, its command line.
    pub fn describe(&self) -> String {
        let external = |external: &ExternalDriver| {
            let ready = external.transport.ready();
            format!(
                "{}{} ({})",
                ready.driver,
                ready
                    .version
                    .as_deref()
                    .map(|v| format!(" {v}"))
                    .unwrap_or_default(),
                external.transport.command_line()
            )
        };
        match self {
            Driver::BuiltIn(_) => BUILT_IN.to_owned(),
            Driver::External(driver) => external(driver),
            Driver::ReadsOnly { reads, .. } => {
                format!("reads: {}; writes: {BUILT_IN}", external(reads))
            }
        }
    }

    /// Whether an external driver answers the reads (so the read check asks it).
    pub fn answers_reads(&self) -> bool {
        !matches!(self, Driver::BuiltIn(_))
    }

    /// One attempt at `action` on behalf of `user`; `operation` names it in errors.
    pub async fn perform(
        &self,
        user: &Id,
        action: Action<'_>,
        operation: &str,
    ) -> Result<Performed, DriverError> {
        let external = match (self, action) {
            (Driver::BuiltIn(app), _)
            | (Driver::ReadsOnly { writes: app, .. }, Action::Write(_)) => {
                return Ok(perform_built_in(app, user, action).await);
            }
            (Driver::External(external), _)
            | (
                Driver::ReadsOnly {
                    reads: external, ..
                },
                _,
            ) => external,
        };
        let outcome = external
            .transport
            .call(
                |id| match action {
                    Action::Write(command) => Request::Write {
                        id,
                        user: user.clone(),
                        command: command.clone(),
                    },
                    Action::Read(read) => Request::Read {
                        id,
                        user: user.clone(),
                        read: read.clone(),
                    },
                },
                operation,
                external.operation_timeout,
            )
            .await?;
        Ok(match outcome {
            Outcome::Ok { answer } => Performed::Ok {
                share_token: answer
                    .get("share_token")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                answer,
            },
            Outcome::Rejected { reason, detail } => Performed::Rejected { reason, detail },
            Outcome::Failed { error, retryable } => Performed::Failed { error, retryable },
        })
    }

    /// Asks the driver to finish its background work within `timeout`;
    /// returns how much is still pending, or why the driver could not say.
    pub async fn drain(&self, timeout: Duration) -> Result<Result<u64, String>, DriverError> {
        match self {
            Driver::BuiltIn(app) | Driver::ReadsOnly { writes: app, .. } => Ok(app
                .relay()
                .drain(timeout)
                .await
                .map(|pending| u64::try_from(pending).unwrap_or(0))
                .map_err(|error| format!("draining the outbox failed: {error}"))),
            Driver::External(external) => {
                let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
                let outcome = external
                    .transport
                    .call(
                        |id| Request::Drain { id, timeout_ms },
                        "drain",
                        timeout + external.operation_timeout,
                    )
                    .await?;
                Ok(match outcome {
                    Outcome::Ok { answer } => answer
                        .get("pending")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| {
                            format!("`drain` answered {answer} (expected {{\"pending\": n}})")
                        }),
                    Outcome::Rejected { reason, detail } => {
                        Err(format!("`drain` rejected ({}): {detail}", reason.name()))
                    }
                    Outcome::Failed { error, .. } => Err(format!("`drain` failed: {error}")),
                })
            }
        }
    }

    /// Switches the path to `mode` (the rollback drill's switch to
    /// `postgres-only`). A reads-only driver's writes are the built-in
    /// path's, so that is what switches.
    pub async fn set_mode(&self, mode: Mode) -> Result<(), DriverError> {
        match self {
            Driver::BuiltIn(app) | Driver::ReadsOnly { writes: app, .. } => {
                app.set_mode(mode);
                Ok(())
            }
            Driver::External(external) => {
                let name = mode_name(mode);
                let operation = format!("mode {name}");
                let outcome = external
                    .transport
                    .call(
                        |id| Request::Mode {
                            id,
                            mode: name.to_owned(),
                        },
                        &operation,
                        external.operation_timeout,
                    )
                    .await?;
                match outcome {
                    Outcome::Ok { .. } => Ok(()),
                    other => Err(DriverError::Protocol {
                        command: external.transport.command_line().to_owned(),
                        operation,
                        reason: format!("the switch was not made: {other:?}"),
                    }),
                }
            }
        }
    }

    /// Ends an external driver (`bye`, then its exit); says what went wrong, if anything.
    pub async fn close(&self) -> Option<String> {
        match self {
            Driver::BuiltIn(_) => None,
            Driver::External(external)
            | Driver::ReadsOnly {
                reads: external, ..
            } => external.transport.close().await,
        }
    }
}

/// One operation on cutover's own app, on behalf of `user` (a read is
/// answered as that user may see it: `App::read_as`).
async fn perform_built_in(app: &App, user: &Id, action: Action<'_>) -> Performed {
    let result = match action {
        Action::Write(command) => app.execute(command).await.map(|outcome| Performed::Ok {
            answer: Value::Null,
            share_token: outcome.share_token,
        }),
        Action::Read(read) => app.read_as(user, read).await.map(|answer| Performed::Ok {
            answer: cutover_core::driver::answer_json(&answer),
            share_token: None,
        }),
    };
    result.unwrap_or_else(|error| performed_from_error(&error))
}

fn performed_from_error(error: &AppError) -> Performed {
    if error.is_rejection() {
        let reason = match error {
            AppError::NotFound { .. } => Rejection::NotFound,
            AppError::AlreadyExists { .. } => Rejection::AlreadyExists,
            _ => Rejection::Invalid,
        };
        Performed::Rejected {
            reason,
            detail: error.to_string(),
        }
    } else {
        Performed::Failed {
            error: error.to_string(),
            retryable: error.is_transient(),
        }
    }
}
