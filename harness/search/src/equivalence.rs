//! Runs a corpus through both stores: loads its sessions through the
//! dual-write path into one campaign, asks every query of every search, and
//! classifies each difference. The comparison and classification are
//! `cutover_core::search`; this module only fetches.

use std::collections::{BTreeSet, HashMap};

use cutover_app::dynamo::SearchResult;
use cutover_app::{App, AppError, Command, Mode};
use cutover_backends::Sandbox;
use cutover_core::capacity::{Consistency, query_rcu};
use cutover_core::domain::session_search_fields;
use cutover_core::item_size::item_bytes;
use cutover_core::keys::Id;
use cutover_core::normalize::{normalize, search_text};
use cutover_core::search::classify::{
    Explanation, GapClass, PgToken, explain_substring_gap, explain_token_gap, websearch_syntax,
};
use cutover_core::search::corpus::{Corpus, CorpusSession};
use cutover_core::search::equivalence::{EquivalenceReport, Pairing, SearchCost, compare};
use cutover_core::search::expression::SearchFilter;
use cutover_core::search::lexemes::lexemes;

use crate::oracles::{self, FullText};

const USER: &str = "search-owner";
const CAMPAIGN: &str = "search-campaign";

fn fixed_id(text: &str) -> Id {
    Id::parse(text).expect("fixed ids are valid")
}

/// The whole equivalence check in `sandbox`: the campaign app installed, the
/// corpus loaded through its dual-write path, every query compared. The one
/// call behind `cutover search-equivalence`.
pub async fn check_corpus(
    sandbox: &Sandbox,
    corpus: &Corpus,
) -> Result<EquivalenceReport, AppError> {
    let app = App::install(sandbox, Mode::Dual).await?;
    let campaign = load(&app, corpus).await?;
    compare_corpus(&app, corpus, &campaign).await
}

/// Creates the corpus's user, campaign and sessions through the dual-write
/// path, so both stores hold exactly what the app would have written.
/// Returns the campaign's id.
pub async fn load(app: &App, corpus: &Corpus) -> Result<Id, AppError> {
    let campaign = fixed_id(CAMPAIGN);
    app.execute(&Command::CreateUser {
        user: fixed_id(USER),
        email: "owner@example.com".into(),
        display_name: "Search owner".into(),
    })
    .await?;
    app.execute(&Command::CreateCampaign {
        campaign: campaign.clone(),
        user: fixed_id(USER),
        name: corpus.name.clone(),
        description: String::new(),
    })
    .await?;
    for session in &corpus.sessions {
        app.execute(&Command::CreateSession {
            session: session.id.clone(),
            campaign: campaign.clone(),
            name: session.name.clone(),
            summary: session.summary.clone(),
            metadata: session.metadata.clone(),
            transcript: format!("transcript of {}", session.id),
        })
        .await?;
    }
    Ok(campaign)
}

/// What the sessions look like to each side's classifier.
struct Documents<'a> {
    by_id: HashMap<&'a str, &'a CorpusSession>,
    pg_tokens: HashMap<String, Vec<PgToken>>,
}

impl<'a> Documents<'a> {
    fn raw_text(session: &CorpusSession) -> String {
        session_search_fields(&session.name, &session.summary, &session.metadata).join("\n")
    }

    fn normalized_text(session: &CorpusSession) -> String {
        let fields = session_search_fields(&session.name, &session.summary, &session.metadata);
        search_text(fields.iter().map(String::as_str))
    }

    async fn pg_tokens(&mut self, app: &App, id: &str) -> Result<&[PgToken], AppError> {
        if !self.pg_tokens.contains_key(id) {
            let text = self
                .by_id
                .get(id)
                .map(|s| Self::raw_text(s))
                .unwrap_or_default();
            let tokens = oracles::ts_debug(&app.pg, &text).await?;
            self.pg_tokens.insert(id.to_owned(), tokens);
        }
        Ok(&self.pg_tokens[id])
    }
}

/// What a search cost: the engine's figures, and the model's for the items
/// the search read (every session item of the campaign, in key order).
fn cost(result: &SearchResult, session_item_sizes: &[u64]) -> SearchCost {
    let rcu_modeled = if result.pages.is_empty() {
        0.0
    } else {
        query_rcu(session_item_sizes, None, Consistency::Strong).rcu
    };
    SearchCost {
        items_scanned: result.scanned(),
        items_returned: result.items.len() as u64,
        pages: result.pages.len(),
        rcu_reported: result.rcu_reported(),
        rcu_modeled,
    }
}

fn session_ids(result: &SearchResult) -> BTreeSet<String> {
    result
        .items
        .iter()
        .filter_map(
            |item| match item.get(cutover_core::campaign_item::attr::SESSION_ID) {
                Some(cutover_core::item_size::AttrValue::S(id)) => Some(id.clone()),
                _ => None,
            },
        )
        .collect()
}

/// Every query of `corpus` against the sessions of `campaign`, on both stores.
pub async fn compare_corpus(
    app: &App,
    corpus: &Corpus,
    campaign: &Id,
) -> Result<EquivalenceReport, AppError> {
    let mut documents = Documents {
        by_id: corpus.sessions.iter().map(|s| (s.id.as_str(), s)).collect(),
        pg_tokens: HashMap::new(),
    };
    let session_item_sizes: Vec<u64> = app
        .dynamo
        .query(&app.profile().sessions_of(campaign))
        .await?
        .iter()
        .map(|item| item_bytes(item).map(|bytes| bytes as u64))
        .collect::<Result<_, _>>()
        .map_err(|e| AppError::Invalid {
            field: "session item",
            reason: e.to_string(),
        })?;
    let mut comparisons = Vec::new();
    for query in &corpus.queries {
        let text = query.text.as_str();
        let normalized = normalize(text);
        let substring_filter = SearchFilter::Substring(normalized.clone());
        let (dynamodb_substring, substring_cost) = match app
            .dynamo
            .search_sessions(campaign, &substring_filter)
            .await?
        {
            Ok(result) => (session_ids(&result), cost(&result, &session_item_sizes)),
            Err(refusal) => unreachable!("a substring filter is never refused: {refusal}"),
        };
        let (dynamodb_tokens, token_cost, token_refusal) = match app
            .dynamo
            .search_sessions(campaign, &SearchFilter::AllLexemes(lexemes(text)))
            .await?
        {
            Ok(result) => (
                session_ids(&result),
                Some(cost(&result, &session_item_sizes)),
                None,
            ),
            Err(refusal) => (BTreeSet::new(), None, Some(refusal.to_string())),
        };
        let postgres_substring = oracles::substring(&app.pg, campaign, &normalized).await?;
        let postgres_plain = oracles::full_text(&app.pg, campaign, text, FullText::Plain).await?;
        let postgres_web = oracles::full_text(&app.pg, campaign, text, FullText::Websearch).await?;
        let pg_query = oracles::ts_debug(&app.pg, text).await?;

        // Fetch PostgreSQL's tokens of every document any comparison will ask about.
        let mut disputed: BTreeSet<String> = BTreeSet::new();
        for (a, b) in [
            (&dynamodb_tokens, &postgres_plain),
            (&dynamodb_tokens, &postgres_web),
            (&dynamodb_substring, &postgres_web),
        ] {
            disputed.extend(a.symmetric_difference(b).cloned());
        }
        for id in &disputed {
            documents.pg_tokens(app, id).await?;
        }
        let documents = &documents;
        let session = |id: &str| documents.by_id.get(id).copied();
        let tokens_of = |id: &str| {
            documents
                .pg_tokens
                .get(id)
                .map(Vec::as_slice)
                .unwrap_or(&[])
        };
        let token_gap = |id: &str| -> Explanation {
            if let Some(refusal) = &token_refusal {
                return Explanation {
                    class: GapClass::ExpressionLimit,
                    detail: refusal.clone(),
                };
            }
            match session(id) {
                Some(s) => {
                    explain_token_gap(text, &pg_query, &Documents::raw_text(s), tokens_of(id))
                }
                None => unknown_session(id),
            }
        };

        let mut substring = compare(
            text,
            &query.note,
            Pairing::Substring,
            &dynamodb_substring,
            &postgres_substring,
            |id, _| Explanation {
                class: GapClass::Unclassified,
                detail: format!(
                    "the same normalized text must give the same substring answer ({id})"
                ),
            },
        );
        substring.dynamodb_cost = Some(substring_cost.clone());
        comparisons.push(substring);
        let mut token = compare(
            text,
            &query.note,
            Pairing::TokenVsPlainFullText,
            &dynamodb_tokens,
            &postgres_plain,
            |id, _| token_gap(id),
        );
        token.dynamodb_refused = token_refusal.clone();
        token.dynamodb_cost = token_cost.clone();
        comparisons.push(token);
        let mut web = compare(
            text,
            &query.note,
            Pairing::TokenVsWebsearch,
            &dynamodb_tokens,
            &postgres_web,
            |id, _| {
                if token_refusal.is_none()
                    && postgres_plain.contains(id) != postgres_web.contains(id)
                {
                    websearch_syntax(text).unwrap_or_else(|| Explanation {
                        class: GapClass::Unclassified,
                        detail: "plainto_tsquery and websearch_to_tsquery disagree without websearch syntax".into(),
                    })
                } else {
                    token_gap(id)
                }
            },
        );
        web.dynamodb_refused = token_refusal.clone();
        web.dynamodb_cost = token_cost;
        comparisons.push(web);
        let mut migration = compare(
            text,
            &query.note,
            Pairing::SubstringVsWebsearch,
            &dynamodb_substring,
            &postgres_web,
            |id, only_dynamodb| match session(id) {
                Some(s) => explain_substring_gap(
                    text,
                    &pg_query,
                    &Documents::normalized_text(s),
                    tokens_of(id),
                    only_dynamodb,
                ),
                None => unknown_session(id),
            },
        );
        migration.dynamodb_cost = Some(substring_cost);
        comparisons.push(migration);
    }
    Ok(EquivalenceReport::new(
        &corpus.name,
        corpus.sessions.len(),
        comparisons,
    ))
}

fn unknown_session(id: &str) -> Explanation {
    Explanation {
        class: GapClass::Unclassified,
        detail: format!("session {id} is not in the corpus"),
    }
}
