//! Repair: re-drive what a parity report found from PostgreSQL (the source of
//! truth) through the app's own write path, then re-verify. Items and objects
//! that only DynamoDB or S3 has are listed, and deleted only when asked.

use std::sync::Arc;

use cutover_app::relay::Removal;
use cutover_app::{App, AppError};
use cutover_core::profile::StoredKey;
use serde::Serialize;

use crate::report::ParityReport;
use crate::validate::{ParityOptions, validate};

#[derive(Debug, Clone, Serialize)]
pub struct RepairReport {
    /// Entities rewritten from PostgreSQL (`kind id`).
    pub rewritten: Vec<String>,
    /// DynamoDB-only items, malformed items and orphan objects that were deleted.
    pub deleted: Vec<String>,
    /// The same, when deleting was not asked for, or when a re-read under the
    /// entity's lock kept it (with why): listed for a person to decide.
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
                "Listed, not deleted (without --delete-dynamodb-only, or kept for the reason given)",
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
    // Each removal re-reads what it removes under its entity's lock and is
    // conditional on what it read, so a write that landed since the scan wins.
    let relay = app.relay();
    let mut deleted = Vec::new();
    let mut kept = Vec::new();
    let mut note = |what: String, removal: Removal| match removal {
        Removal::Deleted {
            object: Some(object),
        } => deleted.push(format!("{what}, with its object {object}")),
        Removal::Deleted { .. } => deleted.push(what),
        Removal::Kept(reason) => kept.push(format!("{what}: kept, {reason}")),
    };
    for key in &leftovers.dynamodb_only {
        let what = format!("item {} (only in DynamoDB)", app.dynamo.stored_key(key));
        note(what, relay.remove_dynamodb_only(key).await?);
    }
    for (pk, sk) in &leftovers.malformed_keys {
        let key = StoredKey {
            pk: pk.clone(),
            sk: sk.clone(),
        };
        note(
            format!("item {key} (malformed)"),
            relay.remove_malformed(&key).await?,
        );
    }
    for object in &leftovers.orphan_objects {
        note(
            format!("object {object} (orphan)"),
            relay.remove_orphan(object).await?,
        );
    }
    let after = validate(app, options).await?;
    Ok(RepairReport {
        rewritten,
        deleted,
        listed_not_deleted: kept,
        after,
    })
}

#[cfg(test)]
mod tests {
    use super::RepairReport;
    use crate::report::tests::sample_report;

    #[test]
    fn the_markdown_report() {
        let report = RepairReport {
            rewritten: vec!["campaign c-2".into(), "session s-7".into()],
            deleted: Vec::new(),
            listed_not_deleted: vec![
                "object transcripts/u-1/s-9/t.txt (no item points to it)".into(),
            ],
            after: sample_report(),
        };
        insta::assert_snapshot!(report.to_markdown());
    }
}
