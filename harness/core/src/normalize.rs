//! The normalized search copy stored on both sides (PostgreSQL column
//! `search_text`, DynamoDB attribute `searchText`) and applied to every query,
//! so a case-sensitive byte-wise `contains` behaves as a case-insensitive search.
//!
//! Normalization: Unicode NFKC (compatibility forms fold: `ﬁ` → `fi`, full-width
//! `Ａ` → `A`), then full Unicode lowercase, then NFKC again (lowercasing can
//! un-normalize), then every run of whitespace or control characters becomes one
//! space, trimmed. Fields are joined with U+001F (unit separator), which
//! normalization removes from any query, so a match never spans two fields.

use unicode_normalization::UnicodeNormalization;

/// Separates the normalized fields of one searchable record.
pub const FIELD_SEPARATOR: char = '\u{1F}';

/// Normalizes one piece of text (a field or a query).
pub fn normalize(text: &str) -> String {
    let folded: String = text
        .nfkc()
        .collect::<String>()
        .to_lowercase()
        .nfkc()
        .collect();
    let mut out = String::with_capacity(folded.len());
    let mut pending_space = false;
    for ch in folded.chars() {
        if ch.is_whitespace() || ch.is_control() {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(ch);
        }
    }
    out
}

/// The search copy of a record: its fields normalized and joined so that no
/// substring match spans two of them. Empty fields are skipped.
pub fn search_text<'a>(fields: impl IntoIterator<Item = &'a str>) -> String {
    let parts: Vec<String> = fields
        .into_iter()
        .map(normalize)
        .filter(|part| !part.is_empty())
        .collect();
    parts.join(&FIELD_SEPARATOR.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn folds_case_width_and_ligatures() {
        assert_eq!(normalize("The DRAGON"), "the dragon");
        assert_eq!(normalize("ＦＵＬＬ ｗｉｄｔｈ"), "full width");
        assert_eq!(normalize("ﬁre"), "fire");
        assert_eq!(normalize("ÉCOLE Straße"), "école straße");
        assert_eq!(normalize("  many \t\n spaces  "), "many spaces");
        assert_eq!(normalize("e\u{301}"), "é");
        assert_eq!(normalize("🐉 Dragon"), "🐉 dragon");
    }

    #[test]
    fn fields_never_join_into_a_match() {
        let text = search_text(["red", "", "dragon"]);
        assert_eq!(text, "red\u{1F}dragon");
        assert!(!text.contains(&normalize("red dragon")));
        assert!(!text.contains(&normalize("red\u{1F}dragon")));
    }

    proptest! {
        #[test]
        fn normalization_is_idempotent(text in "\\PC{0,40}") {
            let once = normalize(&text);
            prop_assert_eq!(normalize(&once), once.clone());
            prop_assert!(!once.contains(FIELD_SEPARATOR));
        }

        #[test]
        fn a_normalized_query_found_in_a_field_is_found_in_the_record(
            before in "\\PC{0,10}", word in "[a-zA-Z]{1,8}", after in "\\PC{0,10}", other in "\\PC{0,10}"
        ) {
            let field = format!("{before} {word} {after}");
            let record = search_text([other.as_str(), field.as_str()]);
            prop_assert!(record.contains(&normalize(&word)));
        }
    }
}
