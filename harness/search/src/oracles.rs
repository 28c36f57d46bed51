//! PostgreSQL's answers to a search, the oracles DynamoDB is compared with,
//! and PostgreSQL's own account of how it tokenized a text (`ts_debug`).

use std::collections::BTreeSet;

use cutover_app::AppError;
use cutover_app::pg::PgStore;
use cutover_core::keys::Id;
use cutover_core::search::classify::PgToken;
use sqlx::Row;

/// Which tsquery parser a full-text search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullText {
    /// `plainto_tsquery`: every lexeme, ANDed (phrased for hyphenated words).
    Plain,
    /// `websearch_to_tsquery`: quotes, `or`, `-word`.
    Websearch,
}

fn fail(what: &'static str) -> impl FnOnce(sqlx::Error) -> AppError {
    AppError::pg(what)
}

fn ids(rows: Vec<sqlx::postgres::PgRow>) -> Result<BTreeSet<String>, AppError> {
    rows.iter()
        .map(|row| {
            row.try_get::<String, _>("id")
                .map_err(AppError::pg("reading a session id"))
        })
        .collect()
}

/// Sessions of `campaign` whose normalized copy contains `normalized_query`.
pub async fn substring(
    pg: &PgStore,
    campaign: &Id,
    normalized_query: &str,
) -> Result<BTreeSet<String>, AppError> {
    let rows = sqlx::query(
        "SELECT id FROM sessions WHERE campaign_id = $1 AND strpos(search_text, $2) > 0",
    )
    .bind(campaign.as_str())
    .bind(normalized_query)
    .fetch_all(pg.pool())
    .await
    .map_err(fail("the substring oracle"))?;
    ids(rows)
}

/// Sessions of `campaign` the app's full-text index matches.
pub async fn full_text(
    pg: &PgStore,
    campaign: &Id,
    query: &str,
    parser: FullText,
) -> Result<BTreeSet<String>, AppError> {
    let sql = match parser {
        FullText::Plain => {
            "SELECT id FROM sessions WHERE campaign_id = $1 AND search_vector @@ plainto_tsquery('english', $2)"
        }
        FullText::Websearch => {
            "SELECT id FROM sessions WHERE campaign_id = $1 AND search_vector @@ websearch_to_tsquery('english', $2)"
        }
    };
    let rows = sqlx::query(sql)
        .bind(campaign.as_str())
        .bind(query)
        .fetch_all(pg.pool())
        .await
        .map_err(fail("the full-text oracle"))?;
    ids(rows)
}

/// How PostgreSQL's `english` configuration tokenizes `text`.
pub async fn ts_debug(pg: &PgStore, text: &str) -> Result<Vec<PgToken>, AppError> {
    let rows = sqlx::query("SELECT alias, token, lexemes FROM ts_debug('english', $1)")
        .bind(text)
        .fetch_all(pg.pool())
        .await
        .map_err(fail("ts_debug"))?;
    rows.iter()
        .map(|row| {
            Ok(PgToken {
                alias: row.try_get("alias").map_err(fail("ts_debug alias"))?,
                token: row.try_get("token").map_err(fail("ts_debug token"))?,
                lexemes: row.try_get("lexemes").map_err(fail("ts_debug lexemes"))?,
            })
        })
        .collect()
}
