//! Scenario files (`scenarios/*.toml`), parsed and checked. Every error names
//! the file, the line and column, and the field.

use serde::Deserialize;
use toml::Spanned;

/// The most sessions a campaign may get unless `stress = true` (the seeds'
/// "< 50 sessions" assumption), and the most with it.
pub const DEFAULT_MAX_SESSIONS_PER_CAMPAIGN: u32 = 50;
pub const STRESS_MAX_SESSIONS_PER_CAMPAIGN: u32 = 500;
/// The most users a population may have: the generator keeps the population in memory.
pub const MAX_USERS: u32 = 1_000_000;
/// The most campaigns per user and summaries per session.
pub const MAX_CHILDREN: u32 = 1_000;
/// A weight's ceiling: sums of weights then fit in 32 bits whatever the mix.
pub const MAX_WEIGHT: u32 = 1_000_000;
/// The largest transcript a scenario may ask for (beyond the 8-12 MiB multipart cases).
pub const MAX_TRANSCRIPT_BYTES: u64 = 64 * 1024 * 1024;

/// Scenario errors are input-file errors: file, line, column, field.
pub type ScenarioError = crate::input::FileError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub min: u32,
    pub max: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    #[serde(default)]
    description: String,
    seed: u64,
    population: RawPopulation,
    run: RawRun,
    transcripts: RawTranscripts,
    #[serde(default)]
    text: TextMix,
    mix: Spanned<OperationMix>,
    #[serde(default)]
    dual_write: RawDualWrite,
    #[serde(default)]
    checks: Vec<CheckName>,
    #[serde(default)]
    faults: Vec<Spanned<super::faults::RawFault>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPopulation {
    users: Spanned<u32>,
    campaigns_per_user: Spanned<Range>,
    sessions_per_campaign: Spanned<Range>,
    summaries_per_session: Spanned<Range>,
    #[serde(default)]
    stress: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    operations: Option<Spanned<u64>>,
    duration_seconds: Option<Spanned<u64>>,
    concurrency: Spanned<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTranscripts {
    sizes: Spanned<Vec<SizeBucket>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDualWrite {
    #[serde(default)]
    mode: Option<Spanned<DualWriteMode>>,
    #[serde(default)]
    shadow_percent: Option<Spanned<u8>>,
}

/// Transcript sizes: each bucket is chosen with its weight; `bytes` gives an exact
/// size (boundary cases), `min_bytes`..=`max_bytes` a uniform range.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeBucket {
    pub weight: u32,
    pub bytes: Option<u64>,
    pub min_bytes: Option<u64>,
    pub max_bytes: Option<u64>,
}

/// Weights of the text kinds in generated names, summaries and transcripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextMix {
    #[serde(default)]
    pub english: u32,
    /// Accented Latin, Japanese and Chinese.
    #[serde(default)]
    pub multibyte: u32,
    /// English with emoji.
    #[serde(default)]
    pub emoji: u32,
    /// English whose NFKC, case-folded and whitespace-collapsed forms differ
    /// from it (ligatures, full-width letters, combining marks, Turkish İ, ß,
    /// Greek final sigma, NBSP, zero-width joiners, emoji sequences): a search
    /// copy built by any other transformation than cutover's disagrees.
    #[serde(default)]
    pub hostile: u32,
}

impl TextMix {
    pub(crate) fn total(&self) -> u32 {
        self.english + self.multibyte + self.emoji + self.hostile
    }
}

impl Default for TextMix {
    fn default() -> Self {
        TextMix {
            english: 1,
            multibyte: 0,
            emoji: 0,
            hostile: 0,
        }
    }
}

/// Weights of the operation kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationMix {
    #[serde(default)]
    pub create: u32,
    #[serde(default)]
    pub update: u32,
    #[serde(default)]
    pub delete: u32,
    #[serde(default)]
    pub read: u32,
    #[serde(default)]
    pub search: u32,
    #[serde(default)]
    pub share: u32,
    /// Of the reads (not share links), the percent made by a user who does
    /// not own what they read: the only right answer is "nothing".
    #[serde(default = "default_stranger_reads")]
    pub stranger_reads: u32,
}

fn default_stranger_reads() -> u32 {
    10
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DualWriteMode {
    #[default]
    Dual,
    PostgresOnly,
    ShadowRead,
}

/// A check run at the end of a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckName {
    /// The relay drains: no outbox record stays pending.
    RelayDrained,
    /// Every entity reads the same from PostgreSQL and from DynamoDB/S3.
    ReadParity,
    /// The parity validator finds no persistent mismatch (threshold 0%).
    Parity,
    /// PostgreSQL holds exactly what the workload's model says: no write was
    /// lost, none applied twice, whatever failed on the way.
    NoLostWrites,
}

impl CheckName {
    pub fn name(self) -> &'static str {
        match self {
            CheckName::RelayDrained => "relay-drained",
            CheckName::ReadParity => "read-parity",
            CheckName::Parity => "parity",
            CheckName::NoLostWrites => "no-lost-writes",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Population {
    pub users: u32,
    pub campaigns_per_user: Range,
    pub sessions_per_campaign: Range,
    pub summaries_per_session: Range,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunLength {
    Operations(u64),
    Duration { seconds: u64 },
}

/// A checked scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub population: Population,
    pub length: RunLength,
    pub concurrency: u32,
    pub transcript_sizes: Vec<SizeBucket>,
    pub text: TextMix,
    pub mix: OperationMix,
    pub mode: DualWriteMode,
    pub shadow_percent: u8,
    pub checks: Vec<CheckName>,
    /// Faults injected during the replay, in firing order.
    pub faults: Vec<super::faults::Fault>,
}

impl Scenario {
    /// Parses and checks a scenario; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let error_at = |span: std::ops::Range<usize>, field: &str, message: String| {
            crate::input::error_at(text, file, span.start, field, message)
        };
        let raw: RawScenario = crate::input::from_toml(text, file)?;

        let population = &raw.population;
        let users = *population.users.get_ref();
        if !(1..=MAX_USERS).contains(&users) {
            return Err(error_at(
                population.users.span(),
                "population.users",
                format!("{users} is outside 1..={MAX_USERS}"),
            ));
        }
        for (field, range) in [
            (
                "population.campaigns_per_user",
                &population.campaigns_per_user,
            ),
            (
                "population.summaries_per_session",
                &population.summaries_per_session,
            ),
        ] {
            if range.get_ref().max > MAX_CHILDREN {
                return Err(error_at(
                    range.span(),
                    field,
                    format!("max {} is above {MAX_CHILDREN}", range.get_ref().max),
                ));
            }
        }
        for (field, range) in [
            (
                "population.campaigns_per_user",
                &population.campaigns_per_user,
            ),
            (
                "population.sessions_per_campaign",
                &population.sessions_per_campaign,
            ),
            (
                "population.summaries_per_session",
                &population.summaries_per_session,
            ),
        ] {
            let value = range.get_ref();
            if value.min > value.max {
                return Err(error_at(
                    range.span(),
                    field,
                    format!("min {} is greater than max {}", value.min, value.max),
                ));
            }
        }
        let sessions = population.sessions_per_campaign.get_ref();
        let limit = if population.stress {
            STRESS_MAX_SESSIONS_PER_CAMPAIGN
        } else {
            DEFAULT_MAX_SESSIONS_PER_CAMPAIGN
        };
        if sessions.max > limit {
            return Err(error_at(
                population.sessions_per_campaign.span(),
                "population.sessions_per_campaign",
                if population.stress {
                    format!("max {} exceeds the stress limit of {limit}", sessions.max)
                } else {
                    format!(
                        "max {} exceeds {limit}; set population.stress = true for up to {STRESS_MAX_SESSIONS_PER_CAMPAIGN}",
                        sessions.max
                    )
                },
            ));
        }

        let length = match (&raw.run.operations, &raw.run.duration_seconds) {
            (Some(operations), None) if *operations.get_ref() > 0 => {
                RunLength::Operations(*operations.get_ref())
            }
            (Some(operations), None) => {
                return Err(error_at(
                    operations.span(),
                    "run.operations",
                    "must be at least 1".into(),
                ));
            }
            (None, Some(seconds)) if *seconds.get_ref() > 0 => RunLength::Duration {
                seconds: *seconds.get_ref(),
            },
            (None, Some(seconds)) => {
                return Err(error_at(
                    seconds.span(),
                    "run.duration_seconds",
                    "must be at least 1".into(),
                ));
            }
            (Some(_), Some(seconds)) => {
                return Err(error_at(
                    seconds.span(),
                    "run.duration_seconds",
                    "give run.operations or run.duration_seconds, not both".into(),
                ));
            }
            (None, None) => {
                return Err(error_at(
                    0..0,
                    "run",
                    "give run.operations or run.duration_seconds".into(),
                ));
            }
        };
        let concurrency = *raw.run.concurrency.get_ref();
        if !(1..=256).contains(&concurrency) {
            return Err(error_at(
                raw.run.concurrency.span(),
                "run.concurrency",
                format!("{concurrency} is outside 1..=256"),
            ));
        }

        let sizes = raw.transcripts.sizes.get_ref();
        if sizes.is_empty() || sizes.iter().all(|bucket| bucket.weight == 0) {
            return Err(error_at(
                raw.transcripts.sizes.span(),
                "transcripts.sizes",
                "needs at least one bucket with a weight above 0".into(),
            ));
        }
        for (index, bucket) in sizes.iter().enumerate() {
            if bucket.weight > MAX_WEIGHT {
                return Err(error_at(
                    raw.transcripts.sizes.span(),
                    &format!("transcripts.sizes[{index}].weight"),
                    format!("{} is above {MAX_WEIGHT}", bucket.weight),
                ));
            }
            let largest = bucket.bytes.or(bucket.max_bytes).unwrap_or(0);
            if largest > MAX_TRANSCRIPT_BYTES {
                return Err(error_at(
                    raw.transcripts.sizes.span(),
                    &format!("transcripts.sizes[{index}]"),
                    format!("{largest} bytes is above the {MAX_TRANSCRIPT_BYTES}-byte limit"),
                ));
            }
            let valid = match (bucket.bytes, bucket.min_bytes, bucket.max_bytes) {
                (Some(_), None, None) => true,
                (None, Some(min), Some(max)) => min <= max,
                _ => false,
            };
            if !valid {
                return Err(error_at(
                    raw.transcripts.sizes.span(),
                    &format!("transcripts.sizes[{index}]"),
                    "give either bytes, or min_bytes <= max_bytes".into(),
                ));
            }
        }

        if sizes.len() > 1_000 {
            return Err(error_at(
                raw.transcripts.sizes.span(),
                "transcripts.sizes",
                format!("{} buckets; at most 1000", sizes.len()),
            ));
        }
        let text_mix = raw.text;
        for (name, weight) in [
            ("english", text_mix.english),
            ("multibyte", text_mix.multibyte),
            ("emoji", text_mix.emoji),
            ("hostile", text_mix.hostile),
        ] {
            if weight > MAX_WEIGHT {
                return Err(error_at(
                    0..0,
                    &format!("text.{name}"),
                    format!("{weight} is above {MAX_WEIGHT}"),
                ));
            }
        }
        if text_mix.total() == 0 {
            return Err(error_at(0..0, "text", "all text weights are 0".into()));
        }
        let mix = *raw.mix.get_ref();
        for (name, weight) in [
            ("create", mix.create),
            ("update", mix.update),
            ("delete", mix.delete),
            ("read", mix.read),
            ("search", mix.search),
            ("share", mix.share),
        ] {
            if weight > MAX_WEIGHT {
                return Err(error_at(
                    raw.mix.span(),
                    &format!("mix.{name}"),
                    format!("{weight} is above {MAX_WEIGHT}"),
                ));
            }
        }
        if mix.stranger_reads > 100 {
            return Err(error_at(
                raw.mix.span(),
                "mix.stranger_reads",
                format!(
                    "{} is above 100 (a percent of the reads)",
                    mix.stranger_reads
                ),
            ));
        }
        if mix.create + mix.update + mix.delete + mix.read + mix.search + mix.share == 0
            || mix.create == 0
        {
            return Err(error_at(
                raw.mix.span(),
                "mix",
                "needs a create weight above 0 (nothing else can happen without it)".into(),
            ));
        }
        let mode = raw
            .dual_write
            .mode
            .as_ref()
            .map(|m| *m.get_ref())
            .unwrap_or_default();
        let shadow_percent = match &raw.dual_write.shadow_percent {
            Some(percent) if *percent.get_ref() > 100 => {
                return Err(error_at(
                    percent.span(),
                    "dual_write.shadow_percent",
                    format!("{} is above 100", percent.get_ref()),
                ));
            }
            Some(percent) if mode != DualWriteMode::ShadowRead => {
                return Err(error_at(
                    percent.span(),
                    "dual_write.shadow_percent",
                    "only applies to mode = \"shadow-read\"".into(),
                ));
            }
            Some(percent) => *percent.get_ref(),
            None => 10,
        };
        if mode == DualWriteMode::PostgresOnly && raw.checks.contains(&CheckName::ReadParity) {
            return Err(error_at(
                0..0,
                "checks",
                "read-parity cannot hold in postgres-only mode, which does not write DynamoDB"
                    .into(),
            ));
        }

        let mut faults = Vec::with_capacity(raw.faults.len());
        for (index, fault) in raw.faults.iter().enumerate() {
            let checked = fault.get_ref().check().map_err(|(field, message)| {
                error_at(fault.span(), &format!("faults[{index}].{field}"), message)
            })?;
            if mode == DualWriteMode::PostgresOnly
                && checked.kind.target() != super::faults::FaultTarget::Postgres
            {
                return Err(error_at(
                    fault.span(),
                    &format!("faults[{index}].kind"),
                    format!(
                        "{} cannot happen in postgres-only mode, which does not write DynamoDB or S3",
                        checked.kind
                    ),
                ));
            }
            faults.push(checked);
        }
        faults.sort_by_key(|fault| fault.at_percent);

        Ok(Scenario {
            name: raw.name,
            description: raw.description,
            seed: raw.seed,
            population: Population {
                users,
                campaigns_per_user: *population.campaigns_per_user.get_ref(),
                sessions_per_campaign: *sessions,
                summaries_per_session: *population.summaries_per_session.get_ref(),
            },
            length,
            concurrency,
            transcript_sizes: sizes.clone(),
            text: text_mix,
            mix,
            mode,
            shadow_percent,
            checks: raw.checks,
            faults,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::workload::faults::{FaultKind, FaultSize};

    pub(crate) const VALID: &str = r#"
name = "t"
seed = 7
checks = ["relay-drained", "read-parity"]

[population]
users = 2
campaigns_per_user = { min = 1, max = 2 }
sessions_per_campaign = { min = 1, max = 5 }
summaries_per_session = { min = 0, max = 2 }

[run]
operations = 100
concurrency = 2

[transcripts]
sizes = [{ weight = 9, min_bytes = 100, max_bytes = 2000 }, { weight = 1, bytes = 409600 }]

[text]
english = 6
multibyte = 3
emoji = 1

[mix]
create = 30
update = 30
delete = 5
read = 25
search = 5
share = 5

[dual_write]
mode = "dual"
"#;

    fn error_for(edit: impl Fn(&str) -> String) -> ScenarioError {
        Scenario::parse(&edit(VALID), "scenarios/t.toml").unwrap_err()
    }

    #[test]
    fn a_valid_file_parses() {
        let scenario = Scenario::parse(VALID, "t.toml").unwrap();
        assert_eq!(scenario.length, RunLength::Operations(100));
        assert_eq!(
            scenario.population.sessions_per_campaign,
            Range { min: 1, max: 5 }
        );
        assert_eq!(
            scenario.checks,
            vec![CheckName::RelayDrained, CheckName::ReadParity]
        );
    }

    #[test]
    fn faults_parse_in_firing_order_and_bad_ones_are_named() {
        let with_faults = format!(
            "{VALID}\n[[faults]]\nkind = \"postgres-restart\"\nat_percent = 60\ndown_ms = 300\n\n[[faults]]\nkind = \"dynamodb-throttle\"\nat_percent = 20\nrequests = 15\n"
        );
        let scenario = Scenario::parse(&with_faults, "t.toml").unwrap();
        let kinds: Vec<_> = scenario.faults.iter().map(|f| (f.kind, f.size)).collect();
        assert_eq!(
            kinds,
            vec![
                (FaultKind::DynamodbThrottle, FaultSize::Requests(15)),
                (FaultKind::PostgresRestart, FaultSize::DownMs(300)),
            ]
        );

        let error = Scenario::parse(
            &with_faults.replace("requests = 15", "down_ms = 15"),
            "t.toml",
        )
        .unwrap_err();
        assert_eq!(error.field, "faults[1].down_ms", "{error}");
        // The line of the entry's `[[faults]]` header.
        let second_header = with_faults
            .lines()
            .enumerate()
            .filter(|(_, line)| *line == "[[faults]]")
            .nth(1)
            .unwrap()
            .0;
        assert_eq!(error.line, second_header + 1, "{error}");
        let error = Scenario::parse(
            &with_faults.replace("dynamodb-throttle", "dynamo-throttle"),
            "t.toml",
        )
        .unwrap_err();
        assert!(error.to_string().contains("dynamo-throttle"), "{error}");
        let postgres_only = with_faults
            .replace("mode = \"dual\"", "mode = \"postgres-only\"")
            .replace(
                "checks = [\"relay-drained\", \"read-parity\"]",
                "checks = []",
            );
        let error = Scenario::parse(&postgres_only, "t.toml").unwrap_err();
        assert_eq!(error.field, "faults[1].kind", "{error}");
    }

    #[test]
    fn a_misspelled_field_is_named_with_its_line() {
        let error = error_for(|t| t.replace("concurrency = 2", "concurency = 2"));
        assert_eq!(
            (error.file.as_str(), error.line, error.field.as_str()),
            ("scenarios/t.toml", 14, "concurency")
        );
        assert!(
            error.to_string().starts_with("scenarios/t.toml:14:"),
            "{error}"
        );
    }

    #[test]
    fn wrong_types_and_contradictions_are_named() {
        let error = error_for(|t| t.replace("users = 2", "users = \"two\""));
        assert_eq!((error.line, error.field.as_str()), (7, "users"), "{error}");
        let error = error_for(|t| {
            t.replace(
                "sessions_per_campaign = { min = 1, max = 5 }",
                "sessions_per_campaign = { min = 9, max = 5 }",
            )
        });
        assert_eq!(
            (error.line, error.field.as_str()),
            (9, "population.sessions_per_campaign")
        );
        assert!(error.message.contains("min 9 is greater than max 5"));
        let error = error_for(|t| t.replace("max = 5 }", "max = 60 }"));
        assert!(error.message.contains("stress = true"), "{error}");
        let error =
            error_for(|t| t.replace("operations = 100", "operations = 100\nduration_seconds = 5"));
        assert_eq!(error.field, "run.duration_seconds");
        let error = error_for(|t| t.replace("mode = \"dual\"", "mode = \"triple\""));
        assert!(
            error.message.contains("triple") || error.message.contains("unknown variant"),
            "{error}"
        );
        let error = error_for(|t| {
            t.replace(
                "{ weight = 1, bytes = 409600 }",
                "{ weight = 1, bytes = 409600, min_bytes = 1 }",
            )
        });
        assert_eq!(error.field, "transcripts.sizes[1]");
        let error = error_for(|t| t.replace("mode = \"dual\"", "mode = \"postgres-only\""));
        assert_eq!(error.field, "checks");
    }

    #[test]
    fn numbers_out_of_range_are_refused_at_parse_time() {
        let cases: [(&str, &str, &str, &str); 5] = [
            (
                "users = 2",
                "users = 4000000000",
                "population.users",
                "outside 1..=1000000",
            ),
            (
                "operations = 100",
                "operations = 0",
                "run.operations",
                "at least 1",
            ),
            (
                "{ weight = 1, bytes = 409600 }",
                "{ weight = 4294967295, bytes = 409600 }",
                "transcripts.sizes[1].weight",
                "above 1000000",
            ),
            (
                "{ weight = 1, bytes = 409600 }",
                "{ weight = 1, bytes = 100000000000 }",
                "transcripts.sizes[1]",
                "above the 67108864-byte limit",
            ),
            (
                "campaigns_per_user = { min = 1, max = 2 }",
                "campaigns_per_user = { min = 1, max = 4294967295 }",
                "population.campaigns_per_user",
                "above 1000",
            ),
        ];
        for (from, to, field, message) in cases {
            let error = error_for(|t| {
                assert!(t.contains(from), "{from}");
                t.replacen(from, to, 1)
            });
            assert_eq!(error.field, field, "{error}");
            assert!(error.message.contains(message), "{error}");
        }
    }
}
