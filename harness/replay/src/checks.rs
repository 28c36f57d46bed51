//! Checks run at the end of a replay.

use std::time::Duration;

use std::collections::HashMap;
use std::sync::Mutex;

use cutover_app::{App, Read};
use cutover_core::command::Subject;
use cutover_core::driver as protocol;
use cutover_core::keys::EntityKind;
use cutover_core::keys::Id;
use cutover_core::model::Model;
use cutover_core::parity::Finding;
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use crate::blame::EntityProblem;
use crate::driver::{Action, Driver, DriverError, Performed};
use crate::record::CheckResult;

const PARITY_CONCURRENCY: usize = 8;
const MISMATCH_SAMPLES: usize = 10;

/// The name of the [`drained`] check.
pub const DRAINED: &str = "relay-drained";

/// The driver finishes its background work (the relay empties the outbox)
/// within `timeout`.
pub async fn drained(driver: &Driver, timeout: Duration) -> Result<CheckResult, DriverError> {
    let pending = driver.drain(timeout).await?;
    Ok(CheckResult {
        name: DRAINED.to_owned(),
        passed: pending == Ok(0),
        detail: match pending {
            Ok(0) => "no outbox record pending".to_owned(),
            Ok(pending) => format!("{pending} outbox records still pending after {timeout:?}"),
            Err(error) => error,
        },
        entities: Vec::new(),
    })
}

/// Every access pattern, for every entity the model holds, answered by the
/// driver as the owner asks it: each answer must be the model's (the
/// protocol's answer shapes, projected to what the model holds). Share links
/// of shared sessions are opened with the tokens the driver handed out; each
/// campaign is searched for a word of its first session's name
/// (`search_probes`).
pub async fn driver_read_parity(
    driver: &Driver,
    model: &Model,
    tokens: &Mutex<HashMap<Id, String>>,
) -> Result<CheckResult, DriverError> {
    let mut reads: Vec<(Id, Read, Option<Value>)> = Vec::new();
    for user in model.users.keys() {
        reads.push((user.clone(), Read::User(user.clone()), None));
        reads.push((user.clone(), Read::CampaignsOf(user.clone()), None));
    }
    for (id, campaign) in &model.campaigns {
        reads.push((campaign.user.clone(), Read::Campaign(id.clone()), None));
        reads.push((campaign.user.clone(), Read::SessionsOf(id.clone()), None));
    }
    let tokens = tokens.lock().expect("tokens lock").clone();
    for (id, session) in &model.sessions {
        for read in [
            Read::Session(id.clone()),
            Read::SummariesOf(id.clone()),
            Read::Transcript(id.clone()),
        ] {
            reads.push((session.user.clone(), read, None));
        }
        if session.shared
            && let Some(token) = tokens.get(id)
        {
            // Whoever holds the link sees the session.
            let expected = protocol::expected_answer(model, &Read::Session(id.clone()));
            reads.push((
                session.user.clone(),
                Read::SessionByShareToken(token.clone()),
                expected,
            ));
        }
    }
    // Keyword search, judged by the model's own search over the same text.
    reads.extend(
        protocol::search_probes(model)
            .into_iter()
            .map(|(owner, read)| (owner, read, None)),
    );
    let total = reads.len();
    let outcomes: Vec<Option<(Read, protocol::AnswerDifference)>> = futures::stream::iter(reads)
        .map(|(user, read, expected)| async move {
            let operation = format!("read-parity {read:?}");
            let performed = driver
                .perform(&user, Action::Read(&read), &operation)
                .await?;
            let difference = match performed {
                Performed::Ok { answer, .. } => match &expected {
                    Some(expected) => protocol::compare_answer(&read, expected, &answer),
                    None => protocol::answer_difference(model, &read, &answer),
                },
                Performed::Rejected { reason, detail } => Some(protocol::AnswerDifference {
                    what: format!("rejected ({}): {detail}", reason.name()),
                    entities: subject_of(&read)
                        .map(|(kind, id)| vec![(kind, id.to_string())])
                        .unwrap_or_default(),
                }),
                Performed::Failed { error, .. } => Some(protocol::AnswerDifference {
                    what: format!("failed: {error}"),
                    entities: subject_of(&read)
                        .map(|(kind, id)| vec![(kind, id.to_string())])
                        .unwrap_or_default(),
                }),
            };
            Ok::<_, DriverError>(difference.map(|difference| (read, difference)))
        })
        .buffer_unordered(PARITY_CONCURRENCY)
        .try_collect()
        .await?;
    let mut mismatches = Vec::new();
    let mut entities = Vec::new();
    for (read, difference) in outcomes.into_iter().flatten() {
        mismatches.push(format!("{read:?}: {}", difference.what));
        for (kind, id) in difference.entities {
            entities.push(EntityProblem {
                kind,
                id,
                what: format!("the driver's answer to {read:?} differs from the model"),
            });
        }
    }
    Ok(read_parity_result(
        total,
        mismatches,
        "the driver's answers against the model",
        entities,
    ))
}

/// Up to `limit` findings, as many from each category as fit, in turn: a
/// category with thousands does not hide one with two.
fn samples_across_categories(
    samples: &std::collections::BTreeMap<cutover_core::parity::Category, Vec<Finding>>,
    limit: usize,
) -> Vec<&Finding> {
    let mut taken = Vec::with_capacity(limit);
    for round in 0.. {
        let before = taken.len();
        for findings in samples.values() {
            if let Some(finding) = findings.get(round)
                && taken.len() < limit
            {
                taken.push(finding);
            }
        }
        if taken.len() == before || taken.len() == limit {
            break;
        }
    }
    taken
}

/// One finding in a line: category, entity, field, both values and the
/// validator's explanation (which side is newer, which fields differ…).
fn describe_finding(finding: &Finding) -> String {
    let short = |text: &str| -> String {
        let cut: String = text.chars().take(120).collect();
        if cut.len() < text.len() {
            format!("{cut:?}…")
        } else {
            format!("{cut:?}")
        }
    };
    let mut line = format!(
        "{} {} {}",
        finding.category.name(),
        finding.entity.map_or("-", |kind| kind.name()),
        finding.id
    );
    if let Some(field) = &finding.field {
        line.push_str(&format!(" field {field}"));
    }
    match (&finding.postgres, &finding.dynamodb) {
        (Some(pg), Some(ddb)) => line.push_str(&format!(
            ": postgres {}, dynamodb {}",
            short(pg),
            short(ddb)
        )),
        (Some(only), None) | (None, Some(only)) => line.push_str(&format!(": {}", short(only))),
        (None, None) => {}
    }
    if let Some(note) = &finding.note {
        line.push_str(&format!(" ({note})"));
    }
    line
}

fn read_parity_result(
    total: usize,
    mismatches: Vec<String>,
    compared: &str,
    entities: Vec<EntityProblem>,
) -> CheckResult {
    let mut detail = format!("{} of {total} reads differ ({compared})", mismatches.len());
    for sample in mismatches.iter().take(MISMATCH_SAMPLES) {
        let shortened: String = sample.chars().take(400).collect();
        detail.push_str(&format!("; {shortened}"));
    }
    CheckResult {
        name: "read-parity".to_owned(),
        passed: mismatches.is_empty(),
        detail,
        entities,
    }
}

/// The entity a read is about (a share link's session is not known by id).
fn subject_of(read: &Read) -> Option<(EntityKind, &Id)> {
    match read.subject() {
        Subject::User(id) => Some((EntityKind::User, id)),
        Subject::Campaign(id) => Some((EntityKind::Campaign, id)),
        Subject::Session(id) => Some((EntityKind::Session, id)),
        Subject::ShareLink => None,
    }
}

/// Every access pattern, for every entity PostgreSQL holds, answers the same
/// from DynamoDB and S3, and so do `searches` (PostgreSQL's `strpos` against
/// the FilterExpression). The parity validator compares items field by field;
/// this compares what the app would read.
pub async fn read_parity(
    app: &App,
    searches: Vec<Read>,
) -> Result<CheckResult, cutover_app::AppError> {
    let pool = app.pg.pool();
    let ids = |sql: &'static str| async move {
        let rows: Vec<String> =
            sqlx::query_scalar(sql)
                .fetch_all(pool)
                .await
                .map_err(|source| cutover_app::AppError::Postgres {
                    action: "listing ids for read parity".into(),
                    source,
                })?;
        rows.iter()
            .map(|id| Id::parse(id).map_err(cutover_app::AppError::from))
            .collect::<Result<Vec<_>, _>>()
    };
    let mut reads = Vec::new();
    for user in ids("SELECT id FROM users ORDER BY id").await? {
        reads.push(Read::User(user.clone()));
        reads.push(Read::CampaignsOf(user));
    }
    for campaign in ids("SELECT id FROM campaigns ORDER BY id").await? {
        reads.push(Read::Campaign(campaign.clone()));
        reads.push(Read::SessionsOf(campaign));
    }
    for session in ids("SELECT id FROM sessions ORDER BY id").await? {
        reads.push(Read::Session(session.clone()));
        reads.push(Read::SummariesOf(session.clone()));
        reads.push(Read::Transcript(session));
    }
    reads.extend(searches);
    let total = reads.len();
    let outcomes: Vec<Option<String>> = futures::stream::iter(reads)
        .map(|read| async move {
            // PostgreSQL's answer as the profile's items hold it (a version
            // from `updated_at` when they keep none).
            let postgres = app
                .profile()
                .answer_as_stored(&app.postgres_reads().read(&read).await?);
            let dynamodb = app.dynamodb_reads().read(&read).await;
            Ok::<_, cutover_app::AppError>(match dynamodb {
                Ok(answer) if answer == postgres => None,
                Ok(answer) => Some(format!(
                    "{read:?}: postgres {postgres:?} vs dynamodb {answer:?}"
                )),
                Err(error) => Some(format!("{read:?}: dynamodb/s3 read failed: {error}")),
            })
        })
        .buffer_unordered(PARITY_CONCURRENCY)
        .try_collect()
        .await?;
    let mismatches: Vec<String> = outcomes.into_iter().flatten().collect();
    Ok(read_parity_result(
        total,
        mismatches,
        "PostgreSQL against DynamoDB and S3",
        Vec::new(),
    ))
}

/// The parity validator finds no persistent mismatch.
pub async fn parity(app: std::sync::Arc<App>) -> Result<CheckResult, cutover_app::AppError> {
    let options = cutover_parity::ParityOptions {
        max_mismatch_percent: 0.0,
        ..Default::default()
    };
    let profile = app.profile().clone();
    let report = cutover_parity::validate(app, &options).await?;
    let mut detail = format!(
        "parity {:.3}% over {} entities ({} persistent mismatches, {} in-flight)",
        report.parity_percent,
        report.compared_entities,
        report.mismatched_entities,
        report.in_flight
    );
    // What most findings share leads; then samples of every category, each
    // with its values and the explanation the validator gave.
    for pattern in &report.patterns {
        detail.push_str(&format!("; PATTERN {pattern}"));
    }
    for finding in samples_across_categories(&report.samples, MISMATCH_SAMPLES) {
        detail.push_str(&format!("; {}", describe_finding(finding)));
    }
    // Every entity with a persistent finding (the leftovers are complete;
    // the samples, which say what is wrong, are capped per category).
    let mut sampled: HashMap<(EntityKind, &str), String> = HashMap::new();
    for finding in report.findings() {
        if let Some(kind) = finding.entity {
            let what = match &finding.field {
                Some(field) => format!("{} ({field})", finding.category.name()),
                None => finding.category.name().to_owned(),
            };
            sampled
                .entry((kind, finding.id.as_str()))
                .and_modify(|known| {
                    known.push_str(", ");
                    known.push_str(&what);
                })
                .or_insert(what);
        }
    }
    let problem = |kind: EntityKind, id: &Id| EntityProblem {
        kind,
        id: id.to_string(),
        what: sampled
            .get(&(kind, id.as_str()))
            .cloned()
            .unwrap_or_else(|| "a persistent mismatch (beyond the report's samples)".to_owned()),
    };
    // What PostgreSQL holds and DynamoDB/S3 do not hold right, then what
    // only DynamoDB holds (a delete that never reached it).
    let entities = report
        .leftovers
        .repairable
        .iter()
        .map(|(kind, id)| problem(*kind, id))
        .chain(
            report
                .leftovers
                .dynamodb_only
                .iter()
                .map(|key| problem(key.entity(), key.id())),
        )
        // An orphan object names its session by the profile's layout: a
        // sweep that never ran is that session's write's loss.
        .chain(report.leftovers.orphan_objects.iter().filter_map(|object| {
            let owner = profile.transcript_owner(object)?;
            Some(EntityProblem {
                kind: EntityKind::Session,
                id: owner.session.to_string(),
                what: format!("orphan object {object}"),
            })
        }))
        .collect();
    Ok(CheckResult {
        name: "parity".to_owned(),
        passed: report.passed,
        detail,
        entities,
    })
}

/// PostgreSQL holds exactly what the workload's model says: every write the
/// workload made is there once, and nothing else is.
pub async fn no_lost_writes(
    app: &App,
    model: &cutover_core::model::Model,
) -> Result<CheckResult, cutover_app::AppError> {
    let postgres = cutover_app::model_view::postgres_as_model(&app.pg).await?;
    let differing = model.differing(&postgres);
    let differences: Vec<String> = differing.iter().map(ToString::to_string).collect();
    let entities =
        model.users.len() + model.campaigns.len() + model.sessions.len() + model.summaries.len();
    Ok(CheckResult {
        name: "no-lost-writes".to_owned(),
        passed: differences.is_empty(),
        detail: if differences.is_empty() {
            format!("PostgreSQL holds the model's {entities} entities exactly")
        } else {
            format!(
                "{} differences from the model: {}",
                differences.len(),
                differences
                    .iter()
                    .take(MISMATCH_SAMPLES)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        },
        entities: differing
            .into_iter()
            .map(|difference| EntityProblem {
                kind: difference.kind,
                id: difference.id.to_string(),
                what: format!("PostgreSQL: {}", difference.what),
            })
            .collect(),
    })
}

/// Every scheduled fault fired and was carried out.
pub fn faults_happened(faults: &[crate::faults::FaultRecord]) -> CheckResult {
    let missed: Vec<String> = faults
        .iter()
        .filter(|fault| !fault.happened())
        .map(|fault| {
            format!(
                "{} ({}): {}",
                fault.kind,
                fault.asked,
                fault.error.as_deref().unwrap_or(&fault.how)
            )
        })
        .collect();
    CheckResult {
        name: "faults".to_owned(),
        passed: missed.is_empty(),
        detail: if missed.is_empty() {
            format!("all {} scheduled faults happened", faults.len())
        } else {
            format!("did not happen as asked: {}", missed.join("; "))
        },
        entities: Vec::new(),
    }
}
