//! Search corpora: sessions to search and queries to ask, hand-written in
//! `fixtures/*.toml` or generated from a seed. Parsing reports the file,
//! line, column and field of any error.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Deserialize;
use toml::Spanned;

use crate::input::{FileError, error_at, from_toml};
use crate::keys::Id;
use crate::workload::TextMix;
use crate::workload::text;

/// Generated sessions: mostly English (stems, stop words, hyphens), some
/// multibyte scripts and emoji.
const GENERATED_TEXT: TextMix = TextMix {
    english: 80,
    multibyte: 15,
    emoji: 5,
    hostile: 0,
};

#[derive(Debug, Clone, PartialEq)]
pub struct CorpusSession {
    pub id: Id,
    pub name: String,
    pub summary: String,
    pub metadata: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CorpusQuery {
    pub text: String,
    /// Why the query is in the corpus (shown in reports).
    pub note: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Corpus {
    pub name: String,
    pub sessions: Vec<CorpusSession>,
    pub queries: Vec<CorpusQuery>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCorpus {
    name: String,
    #[serde(default)]
    session: Vec<RawSession>,
    #[serde(default)]
    query: Vec<RawQuery>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSession {
    id: Spanned<String>,
    name: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    metadata: Option<Spanned<toml::Value>>,
    /// Appended to the summary: "word1 word2 … wordN".
    #[serde(default)]
    numbered: Option<Numbered>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    #[serde(default)]
    text: Option<Spanned<String>>,
    /// `numbered = { word = "lair", count = 130 }` stands for
    /// "lair1 lair2 … lair130": many distinct lexemes without a 4 KB line.
    #[serde(default)]
    numbered: Option<Spanned<Numbered>>,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Numbered {
    word: String,
    count: u32,
}

impl Numbered {
    fn expand(&self) -> String {
        (1..=self.count)
            .map(|n| format!("{}{n}", self.word))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Corpus {
    pub fn parse(text: &str, file: &str) -> Result<Corpus, FileError> {
        let raw: RawCorpus = from_toml(text, file)?;
        let fail = |offset: usize, field: &str, message: String| {
            error_at(text, file, offset, field, message)
        };
        let mut sessions = Vec::with_capacity(raw.session.len());
        let mut seen = std::collections::BTreeSet::new();
        for (index, session) in raw.session.into_iter().enumerate() {
            let field = format!("session[{index}].id");
            let id = Id::parse(session.id.get_ref())
                .map_err(|e| fail(session.id.span().start, &field, e.to_string()))?;
            if !seen.insert(id.clone()) {
                return Err(fail(
                    session.id.span().start,
                    &field,
                    format!("{id} appears twice"),
                ));
            }
            let metadata = match session.metadata {
                None => serde_json::json!({}),
                Some(value) => {
                    let span = value.span();
                    match serde_json::to_value(value.into_inner()) {
                        Ok(json @ serde_json::Value::Object(_)) => json,
                        _ => {
                            return Err(fail(
                                span.start,
                                &format!("session[{index}].metadata"),
                                "must be a table".into(),
                            ));
                        }
                    }
                }
            };
            let summary = match &session.numbered {
                Some(numbered) => [session.summary.clone(), numbered.expand()].join(" "),
                None => session.summary,
            };
            sessions.push(CorpusSession {
                id,
                name: session.name,
                summary,
                metadata,
            });
        }
        let mut queries = Vec::with_capacity(raw.query.len());
        for (index, query) in raw.query.into_iter().enumerate() {
            let text = match (query.text, query.numbered) {
                (Some(text), None) => text.into_inner(),
                (None, Some(numbered)) => numbered.get_ref().expand(),
                (Some(text), Some(_)) => {
                    return Err(fail(
                        text.span().start,
                        &format!("query[{index}]"),
                        "give either `text` or `numbered`, not both".into(),
                    ));
                }
                (None, None) => {
                    return Err(fail(
                        0,
                        &format!("query[{index}]"),
                        "needs `text` or `numbered`".into(),
                    ));
                }
            };
            queries.push(CorpusQuery {
                text,
                note: query.note,
            });
        }
        Ok(Corpus {
            name: raw.name,
            sessions,
            queries,
        })
    }

    /// A campaign of `sessions` generated sessions and `queries` queries drawn
    /// from their words (whole words, word parts, two-word runs, misses), all
    /// from `seed`.
    pub fn generated(seed: u64, sessions: usize, queries: usize) -> Corpus {
        let mut rng = StdRng::seed_from_u64(seed);
        let generated: Vec<CorpusSession> = (0..sessions)
            .map(|i| {
                let language = text::pick_language(&mut rng, &GENERATED_TEXT);
                let name = text::words(&mut rng, language, 4);
                let summary = text::words(&mut rng, language, 24);
                let note = text::words(&mut rng, language, 6);
                CorpusSession {
                    id: Id::parse(&format!("gen-{i:05}")).expect("generated ids are valid"),
                    name,
                    summary,
                    metadata: serde_json::json!({ "notes": note, "level": (i % 20) + 1 }),
                }
            })
            .collect();
        let words: Vec<String> = generated
            .iter()
            .flat_map(|s| {
                s.summary
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut drawn = Vec::with_capacity(queries);
        for _ in 0..queries {
            if words.is_empty() {
                break;
            }
            let word = &words[rng.random_range(0..words.len())];
            let (text, note) = match rng.random_range(0..4) {
                0 => (word.clone(), "generated: a word"),
                1 => {
                    let chars: Vec<char> = word.chars().collect();
                    let end = rng.random_range(1..=chars.len());
                    (chars[..end].iter().collect(), "generated: a word's start")
                }
                2 => {
                    let other = &words[rng.random_range(0..words.len())];
                    (format!("{word} {other}"), "generated: two words")
                }
                _ => (format!("{word}zq"), "generated: a miss"),
            };
            drawn.push(CorpusQuery {
                text,
                note: note.to_owned(),
            });
        }
        Corpus {
            name: format!("generated (seed {seed})"),
            sessions: generated,
            queries: drawn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sessions_and_queries() {
        let corpus = Corpus::parse(
            r#"
name = "tiny"
[[session]]
id = "s1"
name = "The rats"
metadata = { tags = ["cave"] }
[[query]]
text = "rat"
note = "stem"
[[query]]
numbered = { word = "w", count = 3 }
"#,
            "tiny.toml",
        )
        .unwrap();
        assert_eq!(corpus.sessions[0].metadata["tags"][0], "cave");
        assert_eq!(corpus.queries[1].text, "w1 w2 w3");
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let err = Corpus::parse(
            "name = \"x\"\n[[session]]\nid = \"a#b\"\nname = \"n\"\n",
            "c.toml",
        )
        .unwrap_err();
        assert_eq!(
            (err.file.as_str(), err.line, err.field.as_str()),
            ("c.toml", 3, "session[0].id")
        );
        let err = Corpus::parse("name = \"x\"\n[[query]]\nnote = \"n\"\n", "c.toml").unwrap_err();
        assert_eq!(err.field, "query[0]");
        let err = Corpus::parse(
            "name = \"x\"\n[[query]]\ntext = \"a\"\nbogus = 1\n",
            "c.toml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(Corpus::generated(7, 20, 30), Corpus::generated(7, 20, 30));
        assert_ne!(Corpus::generated(7, 20, 30), Corpus::generated(8, 20, 30));
        assert_eq!(Corpus::generated(7, 20, 30).queries.len(), 30);
    }
}
