//! Writing reports to `reports/`: a JSON document for machines and Markdown for people.

use std::path::Path;

use anyhow::Context;

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

pub fn machine() -> serde_json::Value {
    serde_json::json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "cutover_version": env!("CARGO_PKG_VERSION"),
        "build_profile": cutover_core::build_profile(),
    })
}

pub fn machine_line() -> String {
    format!(
        "{} cores, {}/{}, {} build of cutover",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        std::env::consts::OS,
        std::env::consts::ARCH,
        cutover_core::build_profile()
    )
}

/// Writes `<dir>/<name>.json` and `<dir>/<name>.md`; returns their paths.
pub fn write_pair(
    dir: &Path,
    name: &str,
    json: &serde_json::Value,
    markdown: &str,
) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating report directory {}", dir.display()))?;
    let json_path = dir.join(format!("{name}.json"));
    let markdown_path = dir.join(format!("{name}.md"));
    // Written beside itself and renamed over: a reader (the next run's
    // overwrite check) never sees half a report.
    let staging = dir.join(format!(".{name}.json.partial"));
    std::fs::write(&staging, serde_json::to_string_pretty(json)? + "\n")
        .with_context(|| format!("writing {}", staging.display()))?;
    std::fs::rename(&staging, &json_path)
        .with_context(|| format!("writing {}", json_path.display()))?;
    std::fs::write(&markdown_path, markdown)
        .with_context(|| format!("writing {}", markdown_path.display()))?;
    Ok(vec![
        json_path.display().to_string(),
        markdown_path.display().to_string(),
    ])
}

/// The stores a report is about, secrets masked: recorded in the report
/// (`stores` in the JSON, a line in the Markdown) and what decides whether
/// an earlier report in the same directory may be replaced.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoresCompared {
    /// The PostgreSQL URL, its password masked.
    pub postgres: String,
    pub dynamodb_endpoint: String,
    pub table: String,
    pub s3_endpoint: String,
    pub bucket: String,
    /// The app profile they were read as (`None`: the reference app's).
    pub profile: Option<String>,
}

impl StoresCompared {
    pub fn line(&self) -> String {
        format!(
            "Stores: PostgreSQL `{}`; DynamoDB table `{}` at {}; S3 bucket `{}` at {}; profile {}.",
            self.postgres,
            self.table,
            self.dynamodb_endpoint,
            self.bucket,
            self.s3_endpoint,
            self.profile.as_deref().unwrap_or("reference")
        )
    }
}

/// The app's stores of a run's own sandbox (removed when the run ends): a
/// report of them replaces an earlier one of the same name, since each run's
/// stores are new.
pub fn sandbox_stores(
    sandbox: &cutover_backends::Sandbox,
    profile: Option<&Path>,
) -> StoresCompared {
    let endpoint = |url: &Option<String>| url.clone().unwrap_or_else(|| "AWS".to_owned());
    StoresCompared {
        postgres: cutover_backends::postgres::redact_password(&sandbox.pg_url),
        dynamodb_endpoint: endpoint(&sandbox.dynamodb_endpoint.url),
        table: sandbox.table_name(cutover_app::TABLE_PURPOSE),
        s3_endpoint: endpoint(&sandbox.s3_endpoint.url),
        bucket: sandbox.bucket_name(cutover_app::BUCKET_PURPOSE),
        profile: profile.map(|path| path.display().to_string()),
    }
}

/// Where a command over the user's stores writes its reports: `dir`, for
/// `stores`. A report there of other stores (or of stores it does not name)
/// is another run's: it is not replaced unless `force`.
pub struct ReportsFor<'a> {
    pub dir: &'a Path,
    pub stores: StoresCompared,
    pub force: bool,
}

impl ReportsFor<'_> {
    /// Refuses, before any work, to replace another run's report `name`.
    pub fn check(&self, name: &str) -> anyhow::Result<()> {
        let path = self.dir.join(format!("{name}.json"));
        let existing = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => {
                return Err(error).with_context(|| format!("reading {}", path.display()));
            }
        };
        if self.force {
            return Ok(());
        }
        let theirs = serde_json::from_slice::<serde_json::Value>(&existing)
            .ok()
            .and_then(|document| {
                serde_json::from_value::<StoresCompared>(document["stores"].clone()).ok()
            });
        match theirs {
            Some(theirs) if theirs == self.stores => Ok(()),
            Some(theirs) => anyhow::bail!(
                "{} is the report of other stores ({}); pass --force to replace it, or --out another directory",
                path.display(),
                theirs.line()
            ),
            None => anyhow::bail!(
                "{} is a report that names no stores (another run's, or not cutover's); pass --force to replace it, or --out another directory",
                path.display()
            ),
        }
    }

    /// Writes `<dir>/<name>.json` (with `stores`) and `.md` (with the
    /// stores' line under its title), after [`ReportsFor::check`].
    pub fn write(
        &self,
        name: &str,
        json: serde_json::Value,
        markdown: &str,
    ) -> anyhow::Result<Vec<String>> {
        self.check(name)?;
        let mut json = json;
        if let serde_json::Value::Object(document) = &mut json {
            document.insert("stores".into(), serde_json::to_value(&self.stores)?);
        }
        let markdown = with_line_under_title(markdown, &self.stores.line());
        write_pair(self.dir, name, &json, &markdown)
    }
}

/// `markdown` with `line` as the paragraph after its first line (the title).
fn with_line_under_title(markdown: &str, line: &str) -> String {
    match markdown.split_once('\n') {
        Some((title, rest)) => format!("{title}\n\n{line}\n{rest}"),
        None => format!("{markdown}\n\n{line}\n"),
    }
}

/// Which provisioner and engine served each store, for a report's header.
pub fn engines_line(engines: &cutover_backends::Engines) -> String {
    format!(
        "postgres {}, dynamodb {} ({}), s3 {} ({})",
        engines.postgres().provisioner,
        engines.dynamodb().provisioner,
        engines.dynamodb().engine_name,
        engines.s3().provisioner,
        engines.s3().engine_name
    )
}

/// A benchmark's report: `<dir>/<name>.json` and `.md` written, the Markdown
/// printed, then where both went.
pub fn publish(
    dir: &Path,
    name: &str,
    json: &serde_json::Value,
    markdown: &str,
) -> anyhow::Result<()> {
    let written = write_pair(dir, name, json, markdown)?;
    println!("{markdown}");
    println!("wrote {}", written.join(" and "));
    Ok(())
}

/// A benchmark's JSON document: which benchmark, when (the instant of the
/// Markdown's `generated_line`), on what machine and engines, then the
/// benchmark's own `fields` (an object; anything else is kept as `report`).
pub fn bench_document(
    benchmark: &str,
    generated_at: &str,
    engines: Option<&str>,
    fields: serde_json::Value,
) -> serde_json::Value {
    let mut document = serde_json::Map::new();
    document.insert("benchmark".into(), benchmark.into());
    document.insert("generated_at".into(), generated_at.into());
    document.insert("machine".into(), machine());
    if let Some(engines) = engines {
        document.insert("engines".into(), engines.into());
    }
    match fields {
        serde_json::Value::Object(fields) => document.extend(fields),
        other => {
            document.insert("report".into(), other);
        }
    }
    serde_json::Value::Object(document)
}

/// The line under a benchmark's title: when (the same instant as the JSON's
/// `generated_at`), on what machine, with which engines.
pub fn generated_line(generated_at: &str, engines: Option<&str>) -> String {
    match engines {
        Some(engines) => format!(
            "Generated {generated_at} on {}; engines: {engines}.",
            machine_line()
        ),
        None => format!("Generated {generated_at} on {}", machine_line()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stores(table: &str) -> StoresCompared {
        StoresCompared {
            postgres: "postgres://app:***@db:5432/app".into(),
            dynamodb_endpoint: "http://127.0.0.1:8000".into(),
            table: table.into(),
            s3_endpoint: "http://127.0.0.1:9000".into(),
            bucket: "transcripts".into(),
            profile: None,
        }
    }

    #[test]
    fn a_report_of_other_stores_is_not_replaced_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let first = ReportsFor {
            dir: dir.path(),
            stores: stores("campaigns"),
            force: false,
        };
        first
            .write(
                "parity",
                serde_json::json!({"passed": true}),
                "# Parity\n\nbody\n",
            )
            .unwrap();
        let written = std::fs::read_to_string(dir.path().join("parity.md")).unwrap();
        assert!(
            written.starts_with("# Parity\n\nStores: PostgreSQL `postgres://app:***@db:5432/app`; DynamoDB table `campaigns`"),
            "{written}"
        );
        // The same stores again: replaced.
        first
            .write("parity", serde_json::json!({}), "# Parity\n")
            .unwrap();
        // Other stores: refused, naming the file and the stores it holds.
        let other = ReportsFor {
            dir: dir.path(),
            stores: stores("other"),
            force: false,
        };
        let refused = other.check("parity").unwrap_err().to_string();
        assert!(
            refused.contains("parity.json is the report of other stores"),
            "{refused}"
        );
        assert!(refused.contains("table `campaigns`"), "{refused}");
        assert!(refused.contains("--force"), "{refused}");
        // A report that names no stores is not assumed to be ours.
        std::fs::write(dir.path().join("backfill.json"), "{}").unwrap();
        assert!(other.check("backfill").is_err());
        let forced = ReportsFor {
            force: true,
            ..other
        };
        forced
            .write("parity", serde_json::json!({}), "# Parity\n")
            .unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("parity.json")).unwrap())
                .unwrap();
        assert_eq!(json["stores"]["table"], "other");
    }
}
