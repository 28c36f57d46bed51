//! The rollback drill (seed 002, task 3): while a workload runs through the
//! dual-write path, switch the app to `postgres-only` as a rollback would,
//! keep writing, and then prove two things — PostgreSQL alone holds exactly
//! what the workload's model says, and nothing lives only in DynamoDB (what
//! is there is listed: a rollback would lose it).

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use aws_sdk_dynamodb::types::AttributeValue;
use cutover_app::model_view::postgres_as_model;
use cutover_app::{App, Command, Mode, item_from_sdk};
use cutover_core::driver::Rejection;
use cutover_core::keys::EntityKind;
use cutover_core::keys::Id;
use cutover_core::model::Model;
use cutover_core::workload::{OpKind, Scenario, Workload};
use serde::Serialize;

use crate::ReplayError;
use crate::driver::{Action, Driver, Performed};

/// How long a write that fails retryably is tried again, as a client would.
const RETRY_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

/// One write, tried again after retryable failures (a restarting engine).
async fn perform_with_retries(
    driver: &Driver,
    user: &Id,
    command: &Command,
    operation: &str,
) -> Result<Performed, ReplayError> {
    let began = std::time::Instant::now();
    let mut delay = std::time::Duration::from_millis(50);
    loop {
        match driver
            .perform(user, Action::Write(command), operation)
            .await?
        {
            Performed::Failed {
                retryable: true, ..
            } if began.elapsed() < RETRY_BUDGET => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(1));
            }
            performed => return Ok(performed),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnlyInDynamodb {
    pub kind: Option<EntityKind>,
    pub id: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackReport {
    pub scenario: String,
    pub seed: u64,
    pub writes_dual: u64,
    pub writes_postgres_only: u64,
    /// Writes the app refused exactly as the model did (a generated workload has few or none).
    pub refused_as_modeled: u64,
    /// Where PostgreSQL differs from the workload's model (empty: complete).
    pub postgres_differences: Vec<String>,
    /// Items DynamoDB holds for entities PostgreSQL does not have.
    pub only_in_dynamodb: Vec<OnlyInDynamodb>,
    /// Entities written after the switch, which DynamoDB lacks or holds older: expected.
    pub stale_or_missing_in_dynamodb: u64,
    /// Items DynamoDB still holds for entities deleted (or cascaded away) in
    /// PostgreSQL after the switch: expected, not lost data.
    pub deleted_since_switch: u64,
    /// Writes whose outcome differed from the model's (accepted by one, refused by the other).
    pub disagreements: Vec<String>,
}

impl RollbackReport {
    /// PostgreSQL alone is complete and the app behaved as modeled.
    pub fn postgres_complete(&self) -> bool {
        self.postgres_differences.is_empty() && self.disagreements.is_empty()
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Rollback drill: {} (seed {})\n",
            self.scenario, self.seed
        );
        let _ = writeln!(
            out,
            "{} writes through the dual-write path, then the switch to `postgres-only`, then {} writes to PostgreSQL alone.\n",
            self.writes_dual, self.writes_postgres_only
        );
        let _ = writeln!(
            out,
            "- PostgreSQL alone against the workload's model: **{}**{}",
            if self.postgres_complete() {
                "complete"
            } else {
                "NOT complete"
            },
            if self.postgres_differences.is_empty() {
                String::new()
            } else {
                format!(" ({} differences)", self.postgres_differences.len())
            }
        );
        for line in self
            .postgres_differences
            .iter()
            .chain(&self.disagreements)
            .take(50)
        {
            let _ = writeln!(out, "  - {line}");
        }
        let _ = writeln!(
            out,
            "- Only in DynamoDB (a rollback loses these): **{}**",
            self.only_in_dynamodb.len()
        );
        for item in &self.only_in_dynamodb {
            let _ = writeln!(
                out,
                "  - {} {} ({})",
                item.kind.map_or("unparseable item", EntityKind::name),
                item.id,
                item.key
            );
        }
        let _ = writeln!(
            out,
            "- Stale or missing in DynamoDB since the switch (expected; a roll-forward re-drives them): {} written, {} deleted",
            self.stale_or_missing_in_dynamodb, self.deleted_since_switch
        );
        out
    }
}

/// Whether the model held this entity.
fn holds(model: &Model, kind: EntityKind, id: &str) -> bool {
    let Ok(id) = cutover_core::keys::Id::parse(id) else {
        return false;
    };
    match kind {
        EntityKind::User => model.users.contains_key(&id),
        EntityKind::Campaign => model.campaigns.contains_key(&id),
        EntityKind::Session => model.sessions.contains_key(&id),
        EntityKind::Summary => model.summaries.contains_key(&id),
    }
}

/// How much a drill writes, and when it switches.
#[derive(Debug, Clone, Copy)]
pub struct DrillPlan {
    /// The workload's seed.
    pub seed: u64,
    /// Writes in all (the workload's reads are skipped).
    pub writes: u64,
    /// The switch to `postgres-only` comes after this many writes.
    pub switch_after: u64,
}

/// Runs the plan's writes of the scenario's workload through `driver`,
/// switching it to `postgres-only` part-way; `stores` is the harness's view
/// of the stores the driver writes.
pub async fn drill(
    driver: &Driver,
    stores: &App,
    scenario: &Scenario,
    plan: DrillPlan,
) -> Result<RollbackReport, ReplayError> {
    let DrillPlan {
        seed,
        writes: operations,
        switch_after,
    } = plan;
    driver.set_mode(Mode::Dual).await?;
    let mut model = Model::default();
    let (mut writes_dual, mut writes_postgres_only, mut refused) = (0, 0, 0);
    let mut disagreements = Vec::new();
    let mut written_after_switch: BTreeSet<String> = BTreeSet::new();
    let mut model_at_switch: Option<Model> = None;
    let mut postgres_only = false;
    let writes = Workload::new(scenario, seed).filter_map(|op| match op.kind {
        OpKind::Write { command } => Some((op.ordinal, op.user, command)),
        _ => None,
    });
    for (index, (ordinal, user, command)) in writes.take(operations as usize).enumerate() {
        if index as u64 == switch_after {
            // What was written before the switch has reached DynamoDB (as far as it can).
            if let Err(pending) = driver.drain(std::time::Duration::from_secs(30)).await? {
                tracing::warn!(%pending, "draining before the switch");
            }
            driver.set_mode(Mode::PostgresOnly).await?;
            postgres_only = true;
            model_at_switch = Some(model.clone());
        }
        let modeled = model.apply(&command);
        let operation = format!("op {ordinal} (write by {user})");
        match (
            perform_with_retries(driver, &user, &command, &operation).await?,
            modeled,
        ) {
            (Performed::Ok { .. }, Ok(_)) => {}
            (
                Performed::Rejected {
                    reason: Rejection::NotFound | Rejection::AlreadyExists,
                    ..
                },
                Err(_),
            ) => refused += 1,
            (Performed::Rejected { reason, detail }, Ok(_)) => disagreements.push(format!(
                "{command:?}: refused ({}: {detail}), the model accepts it",
                reason.name()
            )),
            (Performed::Failed { error, .. }, _) => {
                disagreements.push(format!("{command:?}: failed: {error}"))
            }
            (Performed::Ok { .. }, Err(refusal)) => disagreements.push(format!(
                "{command:?}: accepted, the model refuses it ({refusal:?})"
            )),
            (Performed::Rejected { reason, detail }, Err(refusal)) => disagreements.push(format!(
                "{command:?}: refused ({}: {detail}), the model refuses it otherwise ({refusal:?})",
                reason.name()
            )),
        }
        if postgres_only {
            writes_postgres_only += 1;
            written_after_switch.insert(command.target().1.to_string());
        } else {
            writes_dual += 1;
        }
    }

    let postgres = postgres_as_model(&stores.pg).await?;
    let postgres_differences = model.differences(&postgres);

    // What DynamoDB holds that PostgreSQL does not.
    let mut known: HashMap<EntityKind, BTreeSet<String>> = HashMap::new();
    for id in postgres.users.keys() {
        known
            .entry(EntityKind::User)
            .or_default()
            .insert(id.to_string());
    }
    for id in postgres.campaigns.keys() {
        known
            .entry(EntityKind::Campaign)
            .or_default()
            .insert(id.to_string());
    }
    for id in postgres.sessions.keys() {
        known
            .entry(EntityKind::Session)
            .or_default()
            .insert(id.to_string());
    }
    for id in postgres.summaries.keys() {
        known
            .entry(EntityKind::Summary)
            .or_default()
            .insert(id.to_string());
    }
    let at_switch = model_at_switch.unwrap_or_else(|| model.clone());
    let mut only_in_dynamodb = Vec::new();
    let mut deleted_since_switch = 0;
    let mut start = None;
    loop {
        let page = stores.dynamo.scan_page(None, start).await?;
        for raw in page.items() {
            let profile = stores.profile();
            let key = [&profile.table.partition_key, &profile.table.sort_key]
                .iter()
                .map(|name| match raw.get(name.as_str()) {
                    Some(AttributeValue::S(text)) => text.clone(),
                    _ => "?".into(),
                })
                .collect::<Vec<_>>()
                .join("/");
            match item_from_sdk(raw)
                .and_then(|item| profile.from_item(&item).map_err(|e| e.to_string()))
            {
                Ok(entity) => {
                    let id = entity.id().to_string();
                    if known
                        .get(&entity.kind())
                        .is_some_and(|ids| ids.contains(&id))
                    {
                        continue;
                    }
                    if holds(&at_switch, entity.kind(), &id) {
                        deleted_since_switch += 1;
                    } else {
                        only_in_dynamodb.push(OnlyInDynamodb {
                            kind: Some(entity.kind()),
                            id,
                            key,
                        });
                    }
                }
                Err(_) => only_in_dynamodb.push(OnlyInDynamodb {
                    kind: None,
                    id: key.clone(),
                    key,
                }),
            }
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    Ok(RollbackReport {
        scenario: scenario.name.clone(),
        seed,
        writes_dual,
        writes_postgres_only,
        refused_as_modeled: refused,
        postgres_differences,
        only_in_dynamodb,
        stale_or_missing_in_dynamodb: written_after_switch.len() as u64,
        deleted_since_switch,
        disagreements,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_markdown_report() {
        let report = RollbackReport {
            scenario: "churn".into(),
            seed: 7,
            writes_dual: 400,
            writes_postgres_only: 200,
            refused_as_modeled: 3,
            postgres_differences: vec!["session s-12: name differs from the model's".into()],
            only_in_dynamodb: vec![
                OnlyInDynamodb {
                    kind: Some(EntityKind::User),
                    id: "ghost".into(),
                    key: "USER#ghost/METADATA".into(),
                },
                OnlyInDynamodb {
                    kind: None,
                    id: "?".into(),
                    key: "JUNK/1".into(),
                },
            ],
            stale_or_missing_in_dynamodb: 57,
            deleted_since_switch: 9,
            disagreements: Vec::new(),
        };
        insta::assert_snapshot!(report.to_markdown());
    }
}
