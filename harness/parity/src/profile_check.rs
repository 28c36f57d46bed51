//! `cutover profile check`: a profile linted against the live stores it
//! describes, before any parity run relies on it. Every problem is a
//! [`ProfileFinding`] naming where it is — a table and column, the DynamoDB
//! table or index, an item's key, the bucket — never an `Err`, which is kept
//! for a store that cannot be read at all.

use std::collections::{BTreeMap, HashSet};

use cutover_app::{App, AppError, item_from_sdk};
use cutover_core::profile::ColumnType;
use cutover_core::profile::fields::FieldType;
use cutover_core::profile::rows::quote;
use serde::Serialize;

/// Which store a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Store {
    Postgres,
    Dynamodb,
    S3,
}

impl Store {
    /// The store as the report names it.
    pub fn name(self) -> &'static str {
        match self {
            Store::Postgres => "PostgreSQL",
            Store::Dynamodb => "DynamoDB",
            Store::S3 => "S3",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileFinding {
    pub store: Store,
    /// `"Session"."metadata"`, `table T index gsi1`, an item's `pk/sk`, a bucket.
    pub location: String,
    pub problem: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProfileCheckReport {
    pub profile: String,
    pub passed: bool,
    /// Rows decoded per entity table (a sample of each).
    pub rows_sampled: BTreeMap<String, u64>,
    pub items_sampled: u64,
    pub findings: Vec<ProfileFinding>,
}

impl ProfileCheckReport {
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "# Profile check: {}\n\n**{}** — {} finding(s); rows sampled: {}; items sampled: {}.\n",
            self.profile,
            if self.passed { "PASSED" } else { "FAILED" },
            self.findings.len(),
            self.rows_sampled
                .iter()
                .map(|(table, n)| format!("{table} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.items_sampled,
        );
        if !self.findings.is_empty() {
            out.push_str("\n| store | where | problem |\n| --- | --- | --- |\n");
            for finding in &self.findings {
                out.push_str(&format!(
                    "| {} | `{}` | {} |\n",
                    finding.store.name(),
                    finding.location.replace('|', "\\|"),
                    finding.problem.replace('|', "\\|")
                ));
            }
        }
        out
    }
}

/// How much of each store the check reads.
#[derive(Debug, Clone, Copy)]
pub struct ProfileCheckOptions {
    /// Rows decoded per entity table, items decoded from the table.
    pub sample: u32,
}

impl Default for ProfileCheckOptions {
    fn default() -> Self {
        ProfileCheckOptions { sample: 200 }
    }
}

async fn check_postgres(
    app: &App,
    options: &ProfileCheckOptions,
    report: &mut ProfileCheckReport,
) -> Result<(), AppError> {
    let schema = app.pg.schema().clone();
    let pool = app.pg.pool();
    let finding = |location: String, problem: String| ProfileFinding {
        store: Store::Postgres,
        location,
        problem,
    };
    let mut readable = Vec::new();
    let mut with_ids = Vec::new();
    for entity in schema.entities() {
        let columns: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text, is_nullable::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(&entity.table)
        .fetch_all(pool)
        .await
        .map_err(AppError::pg(format!("reading the columns of {}", quote(&entity.table))))?;
        if columns.is_empty() {
            report.findings.push(finding(
                quote(&entity.table),
                format!(
                    "no such table in the current schema (the {} entity's)",
                    entity.kind
                ),
            ));
            continue;
        }
        let mut complete = true;
        for mapping in &entity.fields {
            let Some(column) = &mapping.column else {
                continue;
            };
            let location = format!("{}.{}", quote(&entity.table), quote(&column.name));
            let found = columns.iter().find(|(name, _, _)| *name == column.name);
            if found.is_some() && mapping.spec.name == cutover_core::profile::fields::ID {
                with_ids.push(entity.kind);
            }
            let Some((_, data_type, nullable)) = found else {
                let near: Vec<&str> = columns
                    .iter()
                    .map(|(name, _, _)| name.as_str())
                    .filter(|name| {
                        name.eq_ignore_ascii_case(&column.name)
                            || name
                                .replace('_', "")
                                .eq_ignore_ascii_case(&column.name.replace('_', ""))
                    })
                    .collect();
                let hint = match near.as_slice() {
                    [] => String::new(),
                    names => format!(" (the table has {})", names.join(", ")),
                };
                report.findings.push(finding(
                    location,
                    format!(
                        "no such column, declared for field {}{hint}",
                        mapping.spec.name
                    ),
                ));
                complete = false;
                continue;
            };
            match ColumnType::parse(data_type) {
                Some(ty) if ty == column.ty => {}
                _ => {
                    report.findings.push(finding(
                        location.clone(),
                        format!(
                            "declared {} in the profile, but the column is {data_type}",
                            column.ty.name()
                        ),
                    ));
                    complete = false;
                }
            }
            if nullable == "YES" && mapping.spec.ty != FieldType::OptionalText {
                report.findings.push(finding(
                    location,
                    format!(
                        "nullable, but field {} always has a value: a NULL row will not decode",
                        mapping.spec.name
                    ),
                ));
            }
        }
        if complete {
            readable.push(entity.kind);
        }
    }
    if schema.outbox {
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'outbox')",
        )
        .fetch_one(pool)
        .await
        .map_err(AppError::pg("looking for the outbox table"))?;
        if !exists {
            report.findings.push(finding(
                "outbox".into(),
                "the profile says the database has cutover's outbox (postgres.outbox = true), but there is no such table".into(),
            ));
        }
    }
    for kind in readable {
        let table = quote(&schema.entity(kind).table);
        let ids = app
            .pg
            .ids_after(kind, None, i64::from(options.sample))
            .await?;
        // The sample in one query; only when some row does not decode, row by
        // row to name each.
        let undecodable = match app.pg.entities_by_ids(kind, &ids).await {
            Ok(_) => Vec::new(),
            Err(AppError::MalformedRow { .. } | AppError::InvalidId(_)) => ids.clone(),
            Err(other) => return Err(other),
        };
        for id in &undecodable {
            match app.pg.entities_by_ids(kind, std::slice::from_ref(id)).await {
                Ok(_) => {}
                Err(AppError::MalformedRow { detail }) => {
                    report
                        .findings
                        .push(finding(format!("{table} id {id:?}"), detail));
                }
                Err(AppError::InvalidId(error)) => {
                    report
                        .findings
                        .push(finding(format!("{table} id {id:?}"), error.to_string()));
                }
                Err(other) => return Err(other),
            }
        }
        *report
            .rows_sampled
            .entry(schema.entity(kind).table.clone())
            .or_default() += ids.len() as u64;
    }
    for kind in with_ids {
        let table = quote(&schema.entity(kind).table);
        if let Some(sql) = schema.colliding_ids_sql(kind) {
            let groups: Vec<Vec<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_all(pool)
                .await
                .map_err(AppError::pg(format!(
                    "looking for ids of {table} that collide under the key casing"
                )))?;
            for group in groups {
                report.findings.push(finding(
                    format!("{table} ids {}", group.join(", ")),
                    format!(
                        "these {kind} ids are one DynamoDB key under key casing {:?}: their items overwrite each other",
                        schema.entity(kind).casing.name()
                    ),
                ));
            }
        }
    }
    Ok(())
}

async fn check_dynamodb(
    app: &App,
    options: &ProfileCheckOptions,
    report: &mut ProfileCheckReport,
) -> Result<(), AppError> {
    let profile = app.profile().clone();
    let table = app.dynamo.table().to_owned();
    let finding = |location: String, problem: String| ProfileFinding {
        store: Store::Dynamodb,
        location,
        problem,
    };
    let described = match app
        .dynamo
        .client()
        .describe_table()
        .table_name(&table)
        .send()
        .await
    {
        Ok(described) => described,
        Err(error) => {
            let service = error.as_service_error();
            if service.is_some_and(|e| e.is_resource_not_found_exception()) {
                report
                    .findings
                    .push(finding(format!("table {table}"), "no such table".into()));
                return Ok(());
            }
            return Err(AppError::dynamodb(
                format!("describing table {table}"),
                error,
            ));
        }
    };
    let Some(description) = described.table() else {
        report.findings.push(finding(
            format!("table {table}"),
            "DescribeTable returned no table".into(),
        ));
        return Ok(());
    };
    let key_of = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement],
                  kind: aws_sdk_dynamodb::types::KeyType| {
        schema
            .iter()
            .find(|element| *element.key_type() == kind)
            .map(|element| element.attribute_name().to_owned())
    };
    use aws_sdk_dynamodb::types::KeyType;
    let (hash, range) = (
        key_of(description.key_schema(), KeyType::Hash),
        key_of(description.key_schema(), KeyType::Range),
    );
    if hash.as_deref() != Some(profile.table.partition_key.as_str())
        || range.as_deref() != Some(profile.table.sort_key.as_str())
    {
        report.findings.push(finding(
            format!("table {table}"),
            format!(
                "keyed by {} / {}, the profile says {} / {}",
                hash.as_deref().unwrap_or("(none)"),
                range.as_deref().unwrap_or("(none)"),
                profile.table.partition_key,
                profile.table.sort_key
            ),
        ));
    }
    for index in &profile.table.indexes {
        let found = description
            .global_secondary_indexes()
            .iter()
            .find(|gsi| gsi.index_name() == Some(index.name.as_str()));
        let Some(gsi) = found else {
            report.findings.push(finding(
                format!("table {table} index {}", index.name),
                "no such global secondary index".into(),
            ));
            continue;
        };
        let (hash, range) = (
            key_of(gsi.key_schema(), KeyType::Hash),
            key_of(gsi.key_schema(), KeyType::Range),
        );
        if hash.as_deref() != Some(index.partition_key.as_str()) || range != index.sort_key {
            report.findings.push(finding(
                format!("table {table} index {}", index.name),
                format!(
                    "keyed by {} / {}, the profile says {} / {}",
                    hash.as_deref().unwrap_or("(none)"),
                    range.as_deref().unwrap_or("(none)"),
                    index.partition_key,
                    index.sort_key.as_deref().unwrap_or("(none)")
                ),
            ));
        }
    }
    // A sample of items through the profile, as the validator will read them.
    let mut start = None;
    let mut seen_problems = HashSet::new();
    while report.items_sampled < u64::from(options.sample) {
        let page = app.dynamo.scan_page(None, start).await?;
        for raw in page.items() {
            if report.items_sampled >= u64::from(options.sample) {
                break;
            }
            report.items_sampled += 1;
            let problem = match item_from_sdk(raw) {
                Ok(item) => match profile.from_item(&item) {
                    Ok(_) => continue,
                    Err(error) => error.to_string(),
                },
                Err(error) => error,
            };
            let key = |name: &str| match raw.get(name) {
                Some(aws_sdk_dynamodb::types::AttributeValue::S(text)) => text.clone(),
                Some(other) => format!("{other:?}"),
                None => "(absent)".into(),
            };
            let location = format!(
                "item {}/{}",
                key(&profile.table.partition_key),
                key(&profile.table.sort_key)
            );
            if seen_problems.insert((location.clone(), problem.clone())) {
                report.findings.push(finding(
                    location,
                    format!("does not decode through the profile: {problem}"),
                ));
            }
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    Ok(())
}

async fn check_s3(app: &App, report: &mut ProfileCheckReport) -> Result<(), AppError> {
    let bucket = app.transcripts.bucket().to_owned();
    if let Err(error) = app
        .transcripts
        .client()
        .head_bucket()
        .bucket(&bucket)
        .send()
        .await
    {
        let missing = error.as_service_error().is_some_and(|e| e.is_not_found());
        if !missing {
            return Err(AppError::s3(format!("looking up bucket {bucket}"), error));
        }
        report.findings.push(ProfileFinding {
            store: Store::S3,
            location: format!("bucket {bucket}"),
            problem: "no such bucket".into(),
        });
    }
    Ok(())
}

/// Lints `app.profile()` against the stores `app` is connected to.
pub async fn check_profile(
    app: &App,
    options: &ProfileCheckOptions,
) -> Result<ProfileCheckReport, AppError> {
    let mut report = ProfileCheckReport {
        profile: app.profile().name.clone(),
        passed: false,
        rows_sampled: BTreeMap::new(),
        items_sampled: 0,
        findings: Vec::new(),
    };
    check_postgres(app, options, &mut report).await?;
    check_dynamodb(app, options, &mut report).await?;
    check_s3(app, &mut report).await?;
    report.passed = report.findings.is_empty();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn information_schema_type_names_read_as_profile_types() {
        for (data_type, expected) in [
            ("text", ColumnType::Text),
            ("character varying", ColumnType::Varchar),
            ("timestamp without time zone", ColumnType::Timestamp),
            ("timestamp with time zone", ColumnType::Timestamptz),
            ("jsonb", ColumnType::Jsonb),
            ("bigint", ColumnType::Bigint),
            ("integer", ColumnType::Integer),
        ] {
            assert_eq!(ColumnType::parse(data_type), Some(expected), "{data_type}");
        }
        assert_eq!(ColumnType::parse("boolean"), None);
    }

    #[test]
    fn the_markdown_report() {
        let report = ProfileCheckReport {
            profile: "profiles/electrodb.toml".into(),
            passed: false,
            rows_sampled: BTreeMap::from([("\"Campaign\"".into(), 12), ("\"User\"".into(), 3)]),
            items_sampled: 15,
            findings: vec![
                ProfileFinding {
                    store: Store::Postgres,
                    location: "\"Session\".\"metadata\"".into(),
                    problem: "the profile says jsonb, the column is text".into(),
                },
                ProfileFinding {
                    store: Store::Dynamodb,
                    location: "campaign#c-1|session#s-1".into(),
                    problem: "attribute name: expected a string, found N".into(),
                },
            ],
        };
        insta::assert_snapshot!(report.to_markdown());
    }
}
