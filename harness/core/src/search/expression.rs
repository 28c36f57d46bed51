//! The FilterExpressions of the two DynamoDB search variants, built and
//! checked against DynamoDB's limits before anything is sent. User text only
//! ever travels as an expression attribute *value*, never inside the
//! expression string, so quotes, `:v` or `#n` in a query are inert.

use std::collections::BTreeSet;

use thiserror::Error;

use crate::campaign_item::attr;

/// DynamoDB rejects expression strings longer than this.
pub const MAX_EXPRESSION_BYTES: usize = 4096;

/// What a search filters on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchFilter {
    /// `contains(searchText, :q)` with the already-normalized query; an empty
    /// query filters nothing out.
    Substring(String),
    /// `contains(searchLexemes, :tN)` for every lexeme.
    AllLexemes(BTreeSet<String>),
}

/// A FilterExpression and its placeholders (every value is a string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterExpression {
    pub expression: String,
    pub names: Vec<(String, String)>,
    pub values: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SearchRefusal {
    #[error(
        "a query of {terms} lexemes needs a {expression_bytes}-byte FilterExpression; DynamoDB allows {MAX_EXPRESSION_BYTES}"
    )]
    ExpressionTooLong {
        terms: usize,
        expression_bytes: usize,
    },
}

impl SearchFilter {
    /// The expression, or `None` when the filter would let every item through.
    pub fn expression(&self) -> Result<Option<FilterExpression>, SearchRefusal> {
        match self {
            SearchFilter::Substring(query) if query.is_empty() => Ok(None),
            SearchFilter::Substring(query) => Ok(Some(FilterExpression {
                expression: "contains(#text, :q)".to_owned(),
                names: vec![("#text".into(), attr::SEARCH_TEXT.into())],
                values: vec![(":q".into(), query.clone())],
            })),
            SearchFilter::AllLexemes(lexemes) => {
                let terms: Vec<String> = (0..lexemes.len())
                    .map(|i| format!("contains(#lx, :t{i})"))
                    .collect();
                let expression = terms.join(" AND ");
                if expression.len() > MAX_EXPRESSION_BYTES {
                    return Err(SearchRefusal::ExpressionTooLong {
                        terms: lexemes.len(),
                        expression_bytes: expression.len(),
                    });
                }
                Ok(Some(FilterExpression {
                    expression,
                    names: vec![("#lx".into(), attr::SEARCH_LEXEMES.into())],
                    values: lexemes
                        .iter()
                        .enumerate()
                        .map(|(i, lexeme)| (format!(":t{i}"), lexeme.clone()))
                        .collect(),
                }))
            }
        }
    }

    /// Whether the search can match nothing without reading (a token query
    /// of no lexemes, as `plainto_tsquery` of stop words).
    pub fn matches_nothing(&self) -> bool {
        matches!(self, SearchFilter::AllLexemes(lexemes) if lexemes.is_empty())
    }
}

/// The most lexemes a token query may have before its expression passes 4 KB.
pub fn max_lexemes() -> usize {
    (1..)
        .find(|&n| {
            let lexemes = (0..n).map(|i| i.to_string()).collect();
            SearchFilter::AllLexemes(lexemes).expression().is_err()
        })
        .map_or(0, |first_too_many| first_too_many - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_stays_in_values() {
        let hostile = "a) OR attribute_exists(#text) OR contains(:q, \"#n";
        let built = SearchFilter::Substring(hostile.into())
            .expression()
            .unwrap()
            .unwrap();
        assert_eq!(built.expression, "contains(#text, :q)");
        assert_eq!(built.values, vec![(":q".to_owned(), hostile.to_owned())]);
    }

    #[test]
    fn token_queries_stop_at_the_expression_limit() {
        let most = max_lexemes();
        assert!((100..200).contains(&most), "{most}");
        let lexemes =
            |n: usize| SearchFilter::AllLexemes((0..n).map(|i| format!("w{i}")).collect());
        let fits = lexemes(most).expression().unwrap().unwrap();
        assert!(fits.expression.len() <= MAX_EXPRESSION_BYTES);
        assert_eq!(fits.values.len(), most);
        let refused = lexemes(most + 1).expression().unwrap_err();
        assert!(
            refused.to_string().contains("DynamoDB allows 4096"),
            "{refused}"
        );
    }

    #[test]
    fn empty_filters() {
        assert_eq!(
            SearchFilter::Substring(String::new()).expression(),
            Ok(None)
        );
        assert!(SearchFilter::AllLexemes(BTreeSet::new()).matches_nothing());
    }
}
