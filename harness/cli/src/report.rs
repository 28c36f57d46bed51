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
    std::fs::write(&json_path, serde_json::to_string_pretty(json)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    std::fs::write(&markdown_path, markdown)
        .with_context(|| format!("writing {}", markdown_path.display()))?;
    Ok(vec![
        json_path.display().to_string(),
        markdown_path.display().to_string(),
    ])
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
