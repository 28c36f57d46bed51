//! Key templates as ElectroDB writes them: `USER#${userId}` is the literal
//! `USER#` followed by the attribute `userId`'s value, and the whole key is then
//! cased by the index's `casing` (ElectroDB's default for keys is lowercase,
//! template text and values alike).
//!
//! This is the one place where a key string of the campaign table is built or
//! matched; the templates themselves are data, in the app profile.

use std::fmt;

use serde::{Deserialize, Serialize};

/// ElectroDB's key casing (`casing` on an index key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Casing {
    /// ElectroDB's default for keys: lowercase.
    Default,
    Lower,
    Upper,
    /// As written.
    None,
}

impl Casing {
    pub const NAMES: &'static str = "default, lower, upper or none";

    pub fn parse(name: &str) -> Option<Casing> {
        Some(match name {
            "default" => Casing::Default,
            "lower" => Casing::Lower,
            "upper" => Casing::Upper,
            "none" => Casing::None,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Casing::Default => "default",
            Casing::Lower => "lower",
            Casing::Upper => "upper",
            Casing::None => "none",
        }
    }

    pub fn apply(self, text: &str) -> String {
        match self {
            Casing::Default | Casing::Lower => text.to_lowercase(),
            Casing::Upper => text.to_uppercase(),
            Casing::None => text.to_owned(),
        }
    }

    /// Whether two different ids can be written as the same key.
    pub fn folds(self) -> bool {
        self != Casing::None
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Attribute(String),
}

/// A parsed key template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    segments: Vec<Segment>,
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Template {
    /// Parses `text`; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Template, String> {
        if text.is_empty() {
            return Err("a key template cannot be empty (DynamoDB refuses empty keys)".into());
        }
        let mut segments = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            match rest.find("${") {
                Some(0) => {
                    let end = rest
                        .find('}')
                        .ok_or_else(|| format!("`${{` without a closing `}}` in {text:?}"))?;
                    let name = &rest[2..end];
                    let valid = !name.is_empty()
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
                    if !valid {
                        return Err(format!("{:?} is not an attribute name", &rest[..=end]));
                    }
                    if matches!(segments.last(), Some(Segment::Attribute(_))) {
                        return Err(format!(
                            "two attributes with nothing between them in {text:?} cannot be told apart"
                        ));
                    }
                    segments.push(Segment::Attribute(name.to_owned()));
                    rest = &rest[end + 1..];
                }
                found => {
                    let end = found.unwrap_or(rest.len());
                    let literal = &rest[..end];
                    if literal.contains('}') || literal.contains('{') && literal.contains('$') {
                        return Err(format!("stray brace in {text:?}"));
                    }
                    segments.push(Segment::Literal(literal.to_owned()));
                    rest = &rest[end..];
                }
            }
        }
        Ok(Template {
            text: text.to_owned(),
            segments,
        })
    }

    /// The attributes the template reads, in order.
    pub fn attributes(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Attribute(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// `Some(name)` when the template is exactly one attribute (`${shareToken}`):
    /// ElectroDB then uses the attribute itself as the index key.
    pub fn sole_attribute(&self) -> Option<&str> {
        match self.segments.as_slice() {
            [Segment::Attribute(name)] => Some(name),
            _ => None,
        }
    }

    /// The bytes of the template's own text once cased: the key's length
    /// without its attributes' values.
    pub fn literal_bytes(&self, casing: Casing) -> usize {
        self.segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(text) => casing.apply(text).len(),
                Segment::Attribute(_) => 0,
            })
            .sum()
    }

    /// The key for these attribute values, cased; `None` when a value is missing.
    pub fn format(&self, casing: Casing, value: impl Fn(&str) -> Option<String>) -> Option<String> {
        let mut key = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => key.push_str(text),
                Segment::Attribute(name) => key.push_str(&value(name)?),
            }
        }
        Some(casing.apply(&key))
    }

    /// The cased text before the first attribute: what a Query with only the
    /// partition's values narrows the sort key to (`begins_with`), as ElectroDB does.
    pub fn literal_prefix(&self, casing: Casing) -> String {
        match self.segments.first() {
            Some(Segment::Literal(text)) => casing.apply(text),
            _ => String::new(),
        }
    }

    /// Each attribute with the literal text right after it (none after the last).
    pub fn attributes_with_following_literal(&self) -> impl Iterator<Item = (&str, &str)> {
        self.segments.windows(2).filter_map(|pair| match pair {
            [Segment::Attribute(name), Segment::Literal(text)] => {
                Some((name.as_str(), text.as_str()))
            }
            _ => None,
        })
    }

    /// The same template with every attribute renamed by `rename`; `None`
    /// when an attribute has no new name.
    pub fn renamed(&self, rename: impl Fn(&str) -> Option<String>) -> Option<Template> {
        let mut text = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(literal) => text.push_str(literal),
                Segment::Attribute(name) => text.push_str(&format!("${{{}}}", rename(name)?)),
            }
        }
        Template::parse(&text).ok()
    }

    /// The attribute values `key` holds in this template's places (each
    /// runs to the first occurrence of the literal after it; none may be
    /// empty), in order; `None` when `key` does not have the template's
    /// shape. Only for keys written without a folding casing (S3 object keys):
    /// folded values are not the ids any more.
    pub fn values<'k>(&self, key: &'k str) -> Option<Vec<(&str, &'k str)>> {
        let mut values = Vec::new();
        let mut rest = key;
        let mut segments = self.segments.iter().peekable();
        while let Some(segment) = segments.next() {
            match segment {
                Segment::Literal(text) => rest = rest.strip_prefix(text.as_str())?,
                Segment::Attribute(name) => {
                    let end = match segments.peek() {
                        None => rest.len(),
                        Some(Segment::Literal(next)) => rest.find(next.as_str())?,
                        Some(Segment::Attribute(_)) => unreachable!("refused by parse"),
                    };
                    if end == 0 {
                        return None;
                    }
                    values.push((name.as_str(), &rest[..end]));
                    rest = &rest[end..];
                }
            }
        }
        rest.is_empty().then_some(values)
    }

    /// The key's text up to the first attribute `value` does not know
    /// (formatted, uncased): what every key with these known values starts
    /// with, for a listing.
    pub fn known_prefix(&self, value: impl Fn(&str) -> Option<String>) -> String {
        let mut prefix = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => prefix.push_str(text),
                Segment::Attribute(name) => match value(name) {
                    Some(known) => prefix.push_str(&known),
                    None => break,
                },
            }
        }
        prefix
    }

    /// Whether `key` has this template's shape: its literal parts (cased) in
    /// place, every attribute part non-empty. Values are not extracted: under a
    /// folding casing they are not the ids any more, so ids are read from attributes.
    pub fn matches(&self, casing: Casing, key: &str) -> bool {
        let mut rest = key;
        let mut segments = self.segments.iter().peekable();
        while let Some(segment) = segments.next() {
            match segment {
                Segment::Literal(text) => {
                    let Some(after) = rest.strip_prefix(casing.apply(text).as_str()) else {
                        return false;
                    };
                    rest = after;
                }
                Segment::Attribute(_) => match segments.peek() {
                    None => return !rest.is_empty(),
                    Some(Segment::Literal(next)) => {
                        let next = casing.apply(next);
                        match rest.find(next.as_str()) {
                            Some(at) if at > 0 => rest = &rest[at..],
                            _ => return false,
                        }
                    }
                    Some(Segment::Attribute(_)) => unreachable!("refused by parse"),
                },
            }
        }
        rest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(name: &str) -> Option<String> {
        match name {
            "userId" => Some("UsrA".into()),
            "campaignId" => Some("c1".into()),
            _ => None,
        }
    }

    #[test]
    fn formats_with_electrodb_casing() {
        let template = Template::parse("USER#${userId}").unwrap();
        assert_eq!(template.format(Casing::None, values).unwrap(), "USER#UsrA");
        assert_eq!(
            template.format(Casing::Default, values).unwrap(),
            "user#usra"
        );
        assert_eq!(template.format(Casing::Lower, values).unwrap(), "user#usra");
        assert_eq!(template.format(Casing::Upper, values).unwrap(), "USER#USRA");
        let constant = Template::parse("METADATA").unwrap();
        assert_eq!(
            constant.format(Casing::Default, values).unwrap(),
            "metadata"
        );
        let missing = Template::parse("SESS#${sessionId}").unwrap();
        assert_eq!(missing.format(Casing::None, values), None);
    }

    #[test]
    fn matches_shapes_not_values() {
        let template = Template::parse("CAMP#${campaignId}#X#${userId}").unwrap();
        assert!(template.matches(Casing::None, "CAMP#c1#X#u"));
        assert!(template.matches(Casing::Default, "camp#c1#x#u"));
        assert!(!template.matches(Casing::Default, "CAMP#c1#X#u"));
        assert!(!template.matches(Casing::None, "CAMP##X#u"));
        assert!(!template.matches(Casing::None, "CAMP#c1#X#"));
        assert!(!template.matches(Casing::None, "USER#c1"));
        let constant = Template::parse("METADATA").unwrap();
        assert!(constant.matches(Casing::None, "METADATA"));
        assert!(!constant.matches(Casing::None, "METADATA#x"));
        assert_eq!(template.literal_prefix(Casing::Default), "camp#");
    }

    #[test]
    fn values_are_read_back_from_keys_of_the_shape() {
        let template = Template::parse("tx/${userId}/${sessionId}.txt").unwrap();
        assert_eq!(
            template.values("tx/alice/s1.txt"),
            Some(vec![("userId", "alice"), ("sessionId", "s1")])
        );
        assert_eq!(
            template.values("tx/alice/notes/readme.txt"),
            Some(vec![("userId", "alice"), ("sessionId", "notes/readme")])
        );
        for other in [
            "tx//s1.txt",
            "tx/alice/.txt",
            "transcripts/alice/s1.txt",
            "tx/alice/s1",
        ] {
            assert_eq!(template.values(other), None, "{other}");
        }
        assert_eq!(
            template.known_prefix(|name| (name == "userId").then(|| "alice".to_owned())),
            "tx/alice/"
        );
        assert_eq!(template.known_prefix(|_| None), "tx/");
    }

    #[test]
    fn bad_templates_say_why() {
        for (text, reason) in [
            ("", "empty"),
            ("USER#${userId", "closing"),
            ("USER#${}", "not an attribute name"),
            ("USER#${user id}", "not an attribute name"),
            ("${a}${b}", "told apart"),
            ("USER}#${a}", "stray"),
        ] {
            let error = Template::parse(text).unwrap_err();
            assert!(error.contains(reason), "{text:?}: {error}");
        }
        assert_eq!(
            Template::parse("${shareToken}").unwrap().sole_attribute(),
            Some("shareToken")
        );
    }
}
