//! One whole shelf run, as `cutover migrate media` does it: the source (an
//! existing table, a generated one in the run's sandbox, or a backup), the
//! migration into the target, its verification and, when the old table is
//! here to ask, the old app's access patterns against the new SQL. Returns
//! one report; the caller decides where it goes.

use std::collections::HashMap;
use std::path::PathBuf;

use cutover_app::AppError;
use cutover_app::dynamo::DynamoStore;
use cutover_backends::{BackendError, Sandbox};
use cutover_core::media::parity::MediaParityReport;
use serde::Serialize;
use sqlx::PgPool;

use crate::migrate::{Checkpoint, MigrateError, MigrateOptions, Source};
use crate::queries::QueryEquivalence;

/// Items per page when the two apps' answers are compared.
pub const QUERY_PAGE_SIZE: usize = 25;

/// Where a run's items come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ShelfSource {
    /// The old app's existing table; it is read, never written.
    Table(String),
    /// A table created in the run's sandbox, filled with `items` generated from `seed`.
    Generated { items: usize, seed: u64 },
    /// A backup directory: one `<Type>.json` per type.
    Backup(PathBuf),
}

pub struct ShelfRun {
    pub source: ShelfSource,
    /// An existing target database; `None`: the sandbox's own database.
    pub target_url: Option<String>,
    pub options: MigrateOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum ShelfError {
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error(transparent)]
    Store(#[from] AppError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("connecting to the target database: {0}")]
    Target(#[source] sqlx::Error),
}

/// What a run did and found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShelfReport {
    pub migration: Checkpoint,
    pub parity: MediaParityReport,
    /// Empty when the source is a backup: there is no old app to ask.
    pub query_equivalence: Vec<QueryEquivalence>,
}

impl ShelfReport {
    /// Access patterns where the old app, the new SQL and the oracle do not all agree.
    pub fn queries_differing(&self) -> usize {
        self.query_equivalence
            .iter()
            .filter(|q| q.old_equals_new == Some(false) || !q.new_equals_oracle)
            .count()
    }

    pub fn passed(&self) -> bool {
        self.parity.passed() && self.queries_differing() == 0
    }

    pub fn to_json(&self, generated_at: &str) -> serde_json::Value {
        serde_json::json!({
            "report": "media-parity",
            "generated_at": generated_at,
            "migration": self.migration,
            "parity": self.parity,
            "query_equivalence": self.query_equivalence,
        })
    }

    pub fn to_markdown(&self) -> String {
        let done = &self.migration;
        let mut markdown = format!(
            "{}\nMigration: {} pages, {} rows written, {} unchanged, {} rejected, {} conflict retries.\n",
            self.parity.to_markdown(),
            done.pages,
            done.written,
            done.unchanged,
            done.rejected.len(),
            done.conflict_retries
        );
        if self.query_equivalence.is_empty() {
            return markdown;
        }
        markdown.push_str(&format!(
            "\n## Query equivalence (pages of {QUERY_PAGE_SIZE})\n\n{} of {} access patterns give the same items in the same order, page by page.\n\n\
             | query | pages | items | old app = new SQL | new SQL = oracle | first difference |\n| --- | ---: | ---: | --- | --- | --- |\n",
            self.query_equivalence.len() - self.queries_differing(),
            self.query_equivalence.len()
        ));
        for q in &self.query_equivalence {
            markdown.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                q.query,
                q.pages,
                q.items,
                q.old_equals_new
                    .map_or("(new query)".to_owned(), |same| same.to_string()),
                q.new_equals_oracle,
                q.first_difference
                    .as_deref()
                    .unwrap_or_default()
                    .replace('|', "\\|")
            ));
        }
        markdown
    }
}

/// Runs `run` in `sandbox`: anything it creates (the generated table) is the
/// sandbox's to remove. `progress` hears about every committed page.
pub async fn migrate_shelf(
    sandbox: &Sandbox,
    run: &ShelfRun,
    progress: &(dyn Fn(&Checkpoint) + Sync),
) -> Result<ShelfReport, ShelfError> {
    let target = match &run.target_url {
        Some(url) => sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(url)
            .await
            .map_err(ShelfError::Target)?,
        None => sandbox.pg.clone(),
    };
    crate::schema::install_target(&target).await?;
    let source = open_source(sandbox, &run.source).await?;
    let migration = crate::migrate::migrate(&source, &target, &run.options, progress).await?;
    // The source is read once, for the parity check and the query comparison.
    let (items, unreadable) = crate::verify::read_source(&source).await?;
    let parity = crate::verify::verify_items(&items, &unreadable, &target).await?;
    let query_equivalence = match &source {
        Source::DynamoDb(store) => query_equivalence(store, &target, &items).await?,
        Source::Backup(_) => Vec::new(),
    };
    Ok(ShelfReport {
        migration,
        parity,
        query_equivalence,
    })
}

async fn open_source(sandbox: &Sandbox, source: &ShelfSource) -> Result<Source, ShelfError> {
    Ok(match source {
        ShelfSource::Table(table) => {
            Source::DynamoDb(DynamoStore::new(sandbox.dynamodb.clone(), table.clone()))
        }
        ShelfSource::Generated { items, seed } => {
            let table = sandbox.table_name("media");
            crate::schema::create_source_table(&sandbox.dynamodb, &table).await?;
            sandbox.claim_table(&table).await?;
            let generated: Vec<_> = cutover_core::media::generator::generate(*seed, *items)
                .iter()
                .map(cutover_core::media::source::to_source_item)
                .collect();
            let store = DynamoStore::new(sandbox.dynamodb.clone(), table);
            store.batch_put(&generated).await?;
            Source::DynamoDb(store)
        }
        ShelfSource::Backup(dir) => Source::Backup(dir.clone()),
    })
}

/// The old app's access patterns against the new SQL and the oracle.
async fn query_equivalence(
    store: &DynamoStore,
    target: &PgPool,
    items: &[cutover_core::media::MediaItem],
) -> Result<Vec<QueryEquivalence>, AppError> {
    let by_id: HashMap<_, _> = items.iter().map(|i| (i.id.clone(), i.clone())).collect();
    let mut answers = Vec::new();
    for query in crate::queries::queries_for(items) {
        answers.push(
            crate::queries::check(store, target, &query, items, &by_id, QUERY_PAGE_SIZE).await?,
        );
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn equivalence(
        query: &str,
        old_equals_new: Option<bool>,
        new_equals_oracle: bool,
    ) -> QueryEquivalence {
        QueryEquivalence {
            query: query.to_owned(),
            pages: 2,
            items: 30,
            old_equals_new,
            new_equals_oracle,
            first_difference: (!new_equals_oracle || old_equals_new == Some(false))
                .then(|| "old app vs new app: page 1 differs (a|b)".to_owned()),
        }
    }

    fn report(query_equivalence: Vec<QueryEquivalence>) -> ShelfReport {
        ShelfReport {
            migration: Checkpoint {
                source: "dynamodb:media".to_owned(),
                phase: 2,
                after: None,
                pages: 3,
                written: 40,
                unchanged: 2,
                rejected: Vec::new(),
                conflict_retries: 1,
            },
            parity: MediaParityReport {
                source_counts: Default::default(),
                target_counts: Default::default(),
                compared: 42,
                mismatched: 0,
                parity_percent: 100.0,
                findings: Vec::new(),
            },
            query_equivalence,
        }
    }

    #[test]
    fn a_query_that_differs_anywhere_fails_the_run() {
        assert!(report(vec![equivalence("a", Some(true), true)]).passed());
        assert!(report(vec![equivalence("new only", None, true)]).passed());
        assert!(!report(vec![equivalence("a", Some(false), true)]).passed());
        assert!(!report(vec![equivalence("a", None, false)]).passed());
    }

    #[test]
    fn the_markdown_states_the_migration_and_every_query() {
        insta::assert_snapshot!(
            "shelf_report",
            report(vec![
                equivalence("type movie by movedAt", Some(true), true),
                equivalence("shelf watching", Some(false), true),
                equivalence("series and shelf", None, true),
            ])
            .to_markdown()
        );
        // A backup has no old app to ask: no query section at all.
        assert!(
            !report(Vec::new())
                .to_markdown()
                .contains("Query equivalence")
        );
    }
}
