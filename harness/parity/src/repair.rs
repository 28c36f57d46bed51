//! Repair: re-drive what a parity report found from PostgreSQL (the source of
//! truth) through the app's own write path, then re-verify. Items and objects
//! that only DynamoDB or S3 has are listed, and deleted only when asked.

use std::sync::Arc;

use cutover_app::{App, AppError};
use serde::Serialize;

use crate::report::ParityReport;
use crate::validate::{ParityOptions, validate};

#[derive(Debug, Clone, Serialize)]
pub struct RepairReport {
    /// Entities rewritten from PostgreSQL (`kind id`).
    pub rewritten: Vec<String>,
    /// DynamoDB-only items, malformed items and orphan objects that were deleted.
    pub deleted: Vec<String>,
    /// The same, when deleting was not asked for: listed for a person to decide.
    pub listed_not_deleted: Vec<String>,
    /// The validation run after the repair.
    pub after: ParityReport,
}

impl RepairReport {
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "# Repair\n\nRewrote {} entities from PostgreSQL; deleted {}; listed without deleting {}.\n\n",
            self.rewritten.len(),
            self.deleted.len(),
            self.listed_not_deleted.len()
        );
        for (title, list) in [
            ("Rewritten", &self.rewritten),
            ("Deleted", &self.deleted),
            (
                "Listed, not deleted (rerun with --delete-dynamodb-only to remove)",
                &self.listed_not_deleted,
            ),
        ] {
            if !list.is_empty() {
                out.push_str(&format!("## {title}\n\n"));
                for entry in list {
                    out.push_str(&format!("- {entry}\n"));
                }
                out.push('\n');
            }
        }
        out.push_str("## After the repair\n\n");
        out.push_str(
            &self
                .after
                .to_markdown()
                .replacen("# Parity", "### Parity", 1),
        );
        out
    }
}

/// Repairs what `report` found, then validates again.
pub async fn repair(
    app: Arc<App>,
    report: &ParityReport,
    options: &ParityOptions,
    delete_dynamodb_only: bool,
) -> Result<RepairReport, AppError> {
    let leftovers = &report.leftovers;
    let mut rewritten = Vec::new();
    for (kind, id) in &leftovers.repairable {
        if app.relay().repair_entity(*kind, id).await? {
            rewritten.push(format!("{kind} {id}"));
        }
    }
    let mut extra: Vec<String> = Vec::new();
    extra.extend(
        leftovers
            .dynamodb_only
            .iter()
            .map(|key| format!("item {} (only in DynamoDB)", app.dynamo.stored_key(key))),
    );
    extra.extend(
        leftovers
            .malformed_keys
            .iter()
            .map(|(pk, sk)| format!("item {pk}/{sk} (malformed)")),
    );
    extra.extend(
        leftovers
            .orphan_objects
            .iter()
            .map(|key| format!("object {key} (orphan)")),
    );
    if !delete_dynamodb_only {
        let after = validate(app, options).await?;
        return Ok(RepairReport {
            rewritten,
            deleted: Vec::new(),
            listed_not_deleted: extra,
            after,
        });
    }
    let delete_item = |pk: String, sk: String| {
        let app = app.clone();
        async move {
            let key = std::collections::HashMap::from([
                (
                    app.profile().table.partition_key.clone(),
                    aws_sdk_dynamodb::types::AttributeValue::S(pk.clone()),
                ),
                (
                    app.profile().table.sort_key.clone(),
                    aws_sdk_dynamodb::types::AttributeValue::S(sk.clone()),
                ),
            ]);
            app.dynamo
                .client()
                .delete_item()
                .table_name(app.dynamo.table())
                .set_key(Some(key))
                .send()
                .await
                .map_err(|e| AppError::DynamoDb {
                    action: format!("deleting {pk}/{sk}"),
                    detail: cutover_backends::error::error_chain(&e),
                })
        }
    };
    for key in &leftovers.dynamodb_only {
        let stored = app.dynamo.stored_key(key);
        delete_item(stored.pk, stored.sk).await?;
    }
    for (pk, sk) in &leftovers.malformed_keys {
        delete_item(pk.clone(), sk.clone()).await?;
    }
    for key in &leftovers.orphan_objects {
        app.transcripts.delete(key).await?;
    }
    let after = validate(app, options).await?;
    Ok(RepairReport {
        rewritten,
        deleted: extra,
        listed_not_deleted: Vec::new(),
        after,
    })
}
