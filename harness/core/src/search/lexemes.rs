//! The token variant of DynamoDB search: each session stores the set of its
//! stemmed lexemes (attribute `searchLexemes`), a query is turned into lexemes
//! the same way, and a session matches when it holds all of them.
//!
//! The rules follow PostgreSQL's `english` configuration where they can, so
//! the differences that remain are few and nameable (see [`super::classify`]):
//! words are maximal runs of letters and digits of the normalized text; words
//! with a digit are kept whole (PostgreSQL's `simple` dictionary for numbers);
//! stop words are PostgreSQL's own `english.stop` list; other words go through
//! the Snowball English stemmer, which PostgreSQL's `english_stem` also uses;
//! words longer than PostgreSQL's limit are not indexed, as there.

use std::collections::{BTreeSet, HashSet};
use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};

use crate::normalize::normalize;

/// PostgreSQL ignores words longer than this many bytes ("word is too long to
/// be indexed").
pub const MAX_WORD_BYTES: usize = 2047;

/// PostgreSQL 15's `tsearch_data/english.stop`, copied verbatim.
const ENGLISH_STOP: &str = include_str!("english.stop");

static STOP_WORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    ENGLISH_STOP
        .lines()
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect()
});

static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// One word of a text and what it became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub surface: String,
    /// `None` when the word is not indexed (a stop word or too long).
    pub lexeme: Option<String>,
}

pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(word)
}

pub fn stop_words() -> impl Iterator<Item = &'static str> {
    let mut words: Vec<&str> = STOP_WORDS.iter().copied().collect();
    words.sort_unstable();
    words.into_iter()
}

/// The lexeme of one already-normalized word.
pub fn lexeme(word: &str) -> Option<String> {
    if word.is_empty() || word.len() > MAX_WORD_BYTES {
        return None;
    }
    if word.chars().any(|c| c.is_numeric()) {
        return Some(word.to_owned());
    }
    if is_stop_word(word) {
        return None;
    }
    Some(STEMMER.stem(word).into_owned())
}

/// Every word of `text` (normalized here) with its lexeme, in order.
pub fn tokens(text: &str) -> Vec<Token> {
    normalize(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| Token {
            surface: word.to_owned(),
            lexeme: lexeme(word),
        })
        .collect()
}

/// The set stored per session, or asked for by a query.
pub fn lexemes(text: &str) -> BTreeSet<String> {
    tokens(text).into_iter().filter_map(|t| t.lexeme).collect()
}

/// The token search's rule: a query of no lexemes (stop words only, or
/// punctuation) matches nothing, as `plainto_tsquery` does.
pub fn matches(document: &BTreeSet<String>, query: &BTreeSet<String>) -> bool {
    !query.is_empty() && query.is_subset(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(words: &[&str]) -> BTreeSet<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn stems_and_drops_stop_words_like_postgres() {
        // PostgreSQL: to_tsvector('english', 'The fat rats') = 'fat':2 'rat':3
        assert_eq!(lexemes("The fat rats"), set(&["fat", "rat"]));
        assert_eq!(
            lexemes("Running runners ran"),
            set(&["run", "runner", "ran"])
        );
        assert_eq!(lexemes("the and of"), set(&[]));
        assert_eq!(lexemes("dragon's lair"), set(&["dragon", "lair"]));
    }

    #[test]
    fn words_with_digits_are_kept_whole() {
        assert_eq!(lexemes("level 20 rogue3"), set(&["level", "20", "rogue3"]));
    }

    #[test]
    fn uses_the_whole_postgres_stop_list() {
        assert_eq!(stop_words().count(), 127);
        assert!(is_stop_word("ourselves") && is_stop_word("s") && !is_stop_word("dragon"));
    }

    #[test]
    fn overlong_words_are_not_indexed() {
        let long = "a".repeat(MAX_WORD_BYTES + 1);
        assert_eq!(lexemes(&format!("{long} dragon")), set(&["dragon"]));
        assert!(lexeme(&"b".repeat(MAX_WORD_BYTES)).is_some());
    }

    #[test]
    fn folds_like_the_substring_copy() {
        assert_eq!(lexemes("ＤＲＡＧＯＮＳ"), set(&["dragon"]));
        assert_eq!(lexemes("Écoles"), lexemes("écoles"));
    }

    #[test]
    fn a_query_of_no_lexemes_matches_nothing() {
        let doc = lexemes("the dragon");
        assert!(!matches(&doc, &lexemes("the")));
        assert!(!matches(&doc, &lexemes("!!!")));
        assert!(matches(&doc, &lexemes("Dragons")));
        assert!(!matches(&doc, &lexemes("dragon lair")));
    }
}
