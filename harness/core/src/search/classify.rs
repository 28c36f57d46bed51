//! Why two searches disagree about one session. Every difference the
//! equivalence report lists carries one of these classes; `Unclassified`
//! means the harness cannot explain it, and tests treat that as a failure.
//!
//! PostgreSQL's side of the evidence is `ts_debug('english', text)`: every
//! token its parser saw, the token's type (`alias`) and the lexemes the
//! dictionaries made of it. Our side is [`super::lexemes::tokens`].

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::lexemes::{MAX_WORD_BYTES, tokens};
use crate::normalize::normalize;

/// One row of `ts_debug('english', …)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgToken {
    pub alias: String,
    pub token: String,
    /// `None`: no dictionary took the token (blanks); `Some([])`: a stop word.
    pub lexemes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GapClass {
    /// One side reduced a word to a different stem, or matched only through a stem.
    Stemming,
    /// Stop words: dropped on one side, or a query made only of them.
    StopWords,
    /// Case or Unicode folding differs (NFKC, non-ASCII lowercase under the C locale).
    CaseOrUnicodeFolding,
    /// Scripts without spaces (CJK): PostgreSQL's parser keeps a run as one word.
    CjkSegmentation,
    /// PostgreSQL indexes a hyphenated word whole and in parts, and phrases its parts.
    Hyphenation,
    /// PostgreSQL keeps e-mail addresses, URLs, hosts and paths as single tokens.
    EmailOrUrl,
    /// Decimal numbers and versions are single tokens in PostgreSQL.
    Number,
    /// PostgreSQL's parser drops XML/HTML tags and entities.
    Markup,
    /// Emoji and other symbols: letters to PostgreSQL (any non-ASCII character
    /// is one under the C locale), separators to our tokenizer.
    EmojiOrSymbol,
    /// A query with no words at all: the substring search's empty needle
    /// matches every session, full-text search matches none.
    NoWords,
    /// `websearch_to_tsquery` reads quotes as a phrase.
    Phrase,
    /// `websearch_to_tsquery` reads `-word` as NOT.
    Not,
    /// `websearch_to_tsquery` reads `or` as OR.
    Or,
    /// A substring hit inside a longer word ("cat" in "concatenate").
    SubstringInsideWord,
    /// All query words are present, but not next to each other as typed.
    WordAdjacency,
    /// DynamoDB cannot run the query: its FilterExpression would pass 4 KB.
    ExpressionLimit,
    Unclassified,
}

impl GapClass {
    pub fn label(self) -> &'static str {
        match self {
            GapClass::Stemming => "stemming",
            GapClass::StopWords => "stop-words",
            GapClass::CaseOrUnicodeFolding => "case-or-unicode-folding",
            GapClass::CjkSegmentation => "cjk-segmentation",
            GapClass::Hyphenation => "hyphenation",
            GapClass::EmailOrUrl => "email-or-url",
            GapClass::Number => "number",
            GapClass::Markup => "markup",
            GapClass::EmojiOrSymbol => "emoji-or-symbol",
            GapClass::NoWords => "no-words",
            GapClass::Phrase => "phrase",
            GapClass::Not => "not",
            GapClass::Or => "or",
            GapClass::SubstringInsideWord => "substring-inside-word",
            GapClass::WordAdjacency => "word-adjacency",
            GapClass::ExpressionLimit => "expression-limit",
            GapClass::Unclassified => "unclassified",
        }
    }
}

/// A class and the evidence for it, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub class: GapClass,
    pub detail: String,
}

fn explain(class: GapClass, detail: impl Into<String>) -> Explanation {
    Explanation {
        class,
        detail: detail.into(),
    }
}

fn pg_lexemes(tokens: &[PgToken]) -> BTreeSet<String> {
    tokens
        .iter()
        .filter_map(|t| t.lexemes.as_ref())
        .flatten()
        .cloned()
        .collect()
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

/// The class a token's PostgreSQL type implies.
fn class_of(token: &PgToken, side: &str) -> Explanation {
    let lexemes = token.lexemes.clone().unwrap_or_default();
    let detail = format!(
        "{side} token {:?} is PostgreSQL type {} with lexemes {:?}; ours {:?}",
        token.token,
        token.alias,
        lexemes,
        tokens(&token.token)
            .into_iter()
            .filter_map(|t| t.lexeme)
            .collect::<Vec<_>>()
    );
    let class = match token.alias.as_str() {
        "email" | "url" | "host" | "url_path" | "file" => GapClass::EmailOrUrl,
        "asciihword" | "hword" | "numhword" | "hword_part" | "hword_asciipart"
        | "hword_numpart" => GapClass::Hyphenation,
        "int" | "uint" | "float" | "sfloat" | "version" | "numword" | "scientific" => {
            GapClass::Number
        }
        "tag" | "entity" => GapClass::Markup,
        _ if token.token.len() > MAX_WORD_BYTES => GapClass::Unclassified,
        _ if token.token.chars().any(is_cjk) => GapClass::CjkSegmentation,
        _ if !token.token.chars().any(char::is_alphanumeric) => GapClass::EmojiOrSymbol,
        _ if !token.token.is_ascii() => GapClass::CaseOrUnicodeFolding,
        "asciiword" if lexemes.is_empty() => GapClass::StopWords,
        "asciiword" => {
            let ours = super::lexemes::lexeme(&token.token.to_lowercase());
            match ours {
                None => GapClass::StopWords,
                Some(_) => GapClass::Stemming,
            }
        }
        _ => GapClass::Unclassified,
    };
    explain(class, detail)
}

/// For a word of ours, the class of the PostgreSQL token it sits in.
fn class_of_surface(surface: &str, pg_tokens: &[PgToken], side: &str) -> Explanation {
    let containing = pg_tokens
        .iter()
        .filter(|t| t.alias != "blank")
        .find(|t| normalize(&t.token).contains(surface));
    match containing {
        Some(token) => class_of(token, side),
        None if surface.chars().any(is_cjk) => explain(
            GapClass::CjkSegmentation,
            format!("{side} word {surface:?} is not a PostgreSQL token"),
        ),
        None if !surface.is_ascii() => explain(
            GapClass::CaseOrUnicodeFolding,
            format!("{side} word {surface:?} is not a PostgreSQL token (folding differs)"),
        ),
        None => explain(
            GapClass::Unclassified,
            format!("{side} word {surface:?} has no PostgreSQL token"),
        ),
    }
}

/// Why our token search (stored lexemes) and `plainto_tsquery` disagree on
/// one document. `document` is the session's searchable fields as written
/// (they are normalized here, as the stored set was).
pub fn explain_token_gap(
    query: &str,
    pg_query: &[PgToken],
    document: &str,
    pg_document: &[PgToken],
) -> Explanation {
    let ours_query = tokens(query);
    let ours_query_lexemes: BTreeSet<String> =
        ours_query.iter().filter_map(|t| t.lexeme.clone()).collect();
    let pg_query_lexemes = pg_lexemes(pg_query);

    if ours_query_lexemes != pg_query_lexemes {
        if let Some(token) = pg_query.iter().find(|t| {
            t.lexemes
                .as_ref()
                .is_some_and(|ls| ls.iter().any(|l| !ours_query_lexemes.contains(l)))
        }) {
            return class_of(token, "query");
        }
        if let Some(token) = ours_query.iter().find(|t| {
            t.lexeme
                .as_ref()
                .is_some_and(|l| !pg_query_lexemes.contains(l))
        }) {
            return class_of_surface(&token.surface, pg_query, "query");
        }
    }

    let ours_document = tokens(document);
    let ours_document_lexemes: BTreeSet<String> = ours_document
        .iter()
        .filter_map(|t| t.lexeme.clone())
        .collect();
    let pg_document_lexemes = pg_lexemes(pg_document);
    for lexeme in &ours_query_lexemes {
        let ours = ours_document_lexemes.contains(lexeme);
        let theirs = pg_document_lexemes.contains(lexeme);
        if ours == theirs {
            continue;
        }
        let producer = pg_document.iter().find(|t| {
            t.lexemes
                .as_ref()
                .is_some_and(|ls| ls.iter().any(|l| l == lexeme))
        });
        if let (true, Some(token)) = (theirs, producer) {
            return class_of(token, "document");
        }
        if let Some(token) = ours_document
            .iter()
            .find(|t| t.lexeme.as_deref() == Some(lexeme.as_str()))
        {
            return class_of_surface(&token.surface, pg_document, "document");
        }
    }
    // Same lexemes on both sides, yet a different answer: the tsquery is not
    // a plain AND. plainto_tsquery phrases the parts of a hyphenated word.
    if let Some(token) = pg_query.iter().find(|t| t.alias.contains("hword")) {
        return class_of(token, "query");
    }
    explain(
        GapClass::Unclassified,
        format!(
            "query lexemes {ours_query_lexemes:?} agree with PostgreSQL's; no document lexeme differs"
        ),
    )
}

/// The `websearch_to_tsquery` syntax a query uses, if any: these change the
/// meaning relative to `plainto_tsquery`, which our token search follows.
pub fn websearch_syntax(query: &str) -> Option<Explanation> {
    if query.contains('"') {
        return Some(explain(
            GapClass::Phrase,
            "quotes make a phrase in websearch_to_tsquery",
        ));
    }
    let words: Vec<&str> = query.split_whitespace().collect();
    if words.iter().any(|w| w.starts_with('-') && w.len() > 1) {
        return Some(explain(
            GapClass::Not,
            "-word is NOT in websearch_to_tsquery",
        ));
    }
    if words.len() > 2
        && words[1..words.len() - 1]
            .iter()
            .any(|w| w.eq_ignore_ascii_case("or"))
    {
        return Some(explain(
            GapClass::Or,
            "\"or\" is OR in websearch_to_tsquery",
        ));
    }
    let joined = words.iter().find(|w| {
        w.split(|c: char| !c.is_alphanumeric())
            .filter(|part| !part.is_empty())
            .count()
            > 1
    });
    if let Some(word) = joined {
        return Some(explain(
            GapClass::Phrase,
            format!("websearch_to_tsquery makes a phrase of {word:?}, words joined by punctuation"),
        ));
    }
    None
}

/// Why the substring search (`contains` on the normalized copy) and
/// PostgreSQL full-text search disagree on one document. `substring_hit`
/// says which side found it. `search_text` is the session's normalized copy.
pub fn explain_substring_gap(
    query: &str,
    pg_query: &[PgToken],
    search_text: &str,
    pg_document: &[PgToken],
    substring_hit: bool,
) -> Explanation {
    let needle = normalize(query);
    if substring_hit {
        if pg_lexemes(pg_query).is_empty() {
            if !needle.chars().any(char::is_alphanumeric) {
                return explain(
                    GapClass::NoWords,
                    format!(
                        "{needle:?} has no words: the substring search matches every session containing it, full-text search none"
                    ),
                );
            }
            if let Some(markup) = pg_query
                .iter()
                .find(|t| t.alias == "tag" || t.alias == "entity")
            {
                return class_of(markup, "query");
            }
            return explain(
                GapClass::StopWords,
                format!("{needle:?} has no lexemes: full-text search matches nothing"),
            );
        }
        if needle.chars().any(is_cjk) {
            return explain(
                GapClass::CjkSegmentation,
                format!("{needle:?} is part of a run PostgreSQL indexes as one word"),
            );
        }
        let inside_word = search_text
            .match_indices(needle.as_str())
            .all(|(at, found)| {
                let before = search_text[..at].chars().next_back();
                let after = search_text[at + found.len()..].chars().next();
                before.is_some_and(char::is_alphanumeric)
                    || after.is_some_and(char::is_alphanumeric)
            });
        if inside_word {
            return explain(
                GapClass::SubstringInsideWord,
                format!("{needle:?} occurs only inside longer words"),
            );
        }
        // The words occur whole, yet full-text search missed them: find the
        // PostgreSQL token a word sits in.
        let whole = class_of_surface(&needle, pg_document, "document");
        if whole.class != GapClass::Unclassified {
            return whole;
        }
        let words = needle
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty());
        let mut last = None;
        for word in words {
            let why = class_of_surface(word, pg_document, "document");
            if why.class != GapClass::Unclassified {
                return why;
            }
            last = Some(why);
        }
        return last.unwrap_or(whole);
    }
    if let Some(syntax) = websearch_syntax(query) {
        return syntax;
    }
    // The words as PostgreSQL saw them (an emoji is a word to it under the
    // C locale), else as our tokenizer does.
    let pg_words: Vec<String> = pg_query
        .iter()
        .filter(|t| t.alias != "blank")
        .map(|t| normalize(&t.token))
        .filter(|w| !w.is_empty())
        .collect();
    let words: Vec<&str> = if pg_words.is_empty() {
        needle
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect()
    } else {
        pg_words.iter().map(String::as_str).collect()
    };
    if words.len() > 1 && words.iter().all(|w| search_text.contains(w)) {
        return explain(
            GapClass::WordAdjacency,
            format!("every word of {needle:?} occurs, but not as that exact text"),
        );
    }
    match words.iter().find(|w| !search_text.contains(*w)) {
        Some(missing) => explain(
            GapClass::Stemming,
            format!("{missing:?} does not occur literally; full-text search matched its stem"),
        ),
        None => explain(
            GapClass::Unclassified,
            format!("{needle:?} occurs as a word, yet the substring search missed it"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(alias: &str, text: &str, lexemes: Option<&[&str]>) -> PgToken {
        PgToken {
            alias: alias.into(),
            token: text.into(),
            lexemes: lexemes.map(|ls| ls.iter().map(|l| l.to_string()).collect()),
        }
    }

    #[test]
    fn an_email_in_the_document_is_one_postgres_token() {
        let document = [token(
            "email",
            "bob@example.com",
            Some(&["bob@example.com"]),
        )];
        let query = [token("asciiword", "example", Some(&["exampl"]))];
        let why = explain_token_gap("example", &query, "bob@example.com", &document);
        assert_eq!(why.class, GapClass::EmailOrUrl, "{}", why.detail);
    }

    #[test]
    fn a_hyphenated_query_is_hyphenation() {
        let query = [
            token("asciihword", "well-known", Some(&["well-known"])),
            token("hword_asciipart", "well", Some(&["well"])),
            token("blank", "-", None),
            token("hword_asciipart", "known", Some(&["known"])),
        ];
        let why = explain_token_gap("well-known", &query, "well known", &[]);
        assert_eq!(why.class, GapClass::Hyphenation, "{}", why.detail);
    }

    #[test]
    fn an_uppercase_accented_word_is_folding() {
        let document = [token("word", "ÉCOLE", Some(&["École"]))];
        let query = [token("word", "école", Some(&["écol"]))];
        let why = explain_token_gap("école", &query, "ÉCOLE", &document);
        assert_eq!(why.class, GapClass::CaseOrUnicodeFolding, "{}", why.detail);
    }

    #[test]
    fn an_unexplained_gap_stays_unclassified() {
        let query = [token("asciiword", "dragon", Some(&["dragon"]))];
        let document = [token("asciiword", "dragon", Some(&["dragon"]))];
        let why = explain_token_gap("dragon", &query, "dragon", &document);
        assert_eq!(why.class, GapClass::Unclassified);
    }

    #[test]
    fn substring_gaps() {
        let cat = [token("asciiword", "cat", Some(&["cat"]))];
        let why = explain_substring_gap("cat", &cat, "concatenate", &[], true);
        assert_eq!(why.class, GapClass::SubstringInsideWord);
        let the = [token("asciiword", "the", Some(&[]))];
        assert_eq!(
            explain_substring_gap("the", &the, "the end", &[], true).class,
            GapClass::StopWords
        );
        let rats = [token("asciiword", "rats", Some(&["rat"]))];
        assert_eq!(
            explain_substring_gap("rats", &rats, "one rat", &[], false).class,
            GapClass::Stemming
        );
        assert_eq!(
            explain_substring_gap("red dragon", &[], "dragon, red", &[], false).class,
            GapClass::WordAdjacency
        );
        // Found by a generated campaign: an emoji is a word to PostgreSQL.
        let ruins = [
            token("asciiword", "ruins", Some(&["ruin"])),
            token("blank", " ", None),
            token("word", "👹", Some(&["👹"])),
        ];
        assert_eq!(
            explain_substring_gap("ruins 👹", &ruins, "👹 the ruins", &[], false).class,
            GapClass::WordAdjacency
        );
    }

    #[test]
    fn websearch_syntax_is_recognized() {
        assert_eq!(
            websearch_syntax("\"red dragon\"").unwrap().class,
            GapClass::Phrase
        );
        assert_eq!(
            websearch_syntax("dragon -red").unwrap().class,
            GapClass::Not
        );
        assert_eq!(
            websearch_syntax("dragon or wyrm").unwrap().class,
            GapClass::Or
        );
        assert!(websearch_syntax("dragon or").is_none());
        // Found by a generated campaign: "l'aube" is 'l' <-> 'aube' to websearch_to_tsquery.
        assert_eq!(websearch_syntax("l'aube").unwrap().class, GapClass::Phrase);
    }
}
