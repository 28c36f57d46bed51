//! DynamoDB item size, computed exactly by the documented rules
//! (`shared/reference/dynamodb-rules.md`; source: the DynamoDB developer guide's
//! "Item sizes and formats"). The rules the guide leaves open — a negative number's
//! extra byte, sets without overhead — were verified against DynamoDB Local 1.25.1
//! and Dynoxide 3.2 by `harness/app/tests/it/item_size.rs`, which finds each engine's
//! real acceptance boundary for hand-written and generated items.
//!
//! [`AttrValue`] is the harness's own mirror of DynamoDB's `AttributeValue`, so this
//! crate stays free of the AWS SDK; the IO layer converts in one place.

use std::collections::BTreeMap;

use thiserror::Error;

/// The largest item DynamoDB accepts: exactly 409,600 bytes is accepted.
pub const MAX_ITEM_BYTES: usize = 409_600;
/// Key attribute limits.
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
pub const MAX_SORT_KEY_BYTES: usize = 1024;

/// A DynamoDB attribute value. Numbers keep DynamoDB's decimal-string form.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    S(String),
    N(String),
    B(Vec<u8>),
    Bool(bool),
    Null,
    L(Vec<AttrValue>),
    M(BTreeMap<String, AttrValue>),
    Ss(Vec<String>),
    Ns(Vec<String>),
    Bs(Vec<Vec<u8>>),
}

pub type Item = BTreeMap<String, AttrValue>;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SizeError {
    #[error("{value:?} is not a DynamoDB number")]
    NotANumber { value: String },
    #[error("number {value:?} has {digits} significant digits; DynamoDB allows 38")]
    TooPrecise { value: String, digits: usize },
}

/// Bytes the item counts toward the 400 KB limit (no per-item storage overhead).
pub fn item_bytes(item: &Item) -> Result<usize, SizeError> {
    item.iter().try_fold(0, |total, (name, value)| {
        Ok(total + name.len() + value_bytes(value)?)
    })
}

/// Bytes of one value, name excluded.
pub fn value_bytes(value: &AttrValue) -> Result<usize, SizeError> {
    Ok(match value {
        AttrValue::S(text) => text.len(),
        AttrValue::N(number) => number_bytes(number)?,
        AttrValue::B(bytes) => bytes.len(),
        AttrValue::Bool(_) | AttrValue::Null => 1,
        // 3 bytes of overhead plus 1 per element, then the elements themselves.
        AttrValue::L(values) => {
            3 + values.len() + values.iter().map(value_bytes).sum::<Result<usize, _>>()?
        }
        AttrValue::M(entries) => {
            3 + entries.len()
                + entries
                    .iter()
                    .map(|(name, value)| Ok(name.len() + value_bytes(value)?))
                    .sum::<Result<usize, _>>()?
        }
        // The sum of the elements, no overhead (verified on both engines).
        AttrValue::Ss(texts) => texts.iter().map(String::len).sum(),
        AttrValue::Ns(numbers) => numbers
            .iter()
            .map(|n| number_bytes(n))
            .sum::<Result<usize, _>>()?,
        AttrValue::Bs(blobs) => blobs.iter().map(Vec::len).sum(),
    })
}

/// DynamoDB stores a number as an exponent byte plus base-100 digits: `1 + ceil(n/2)`
/// for `n` significant digits, one more when the digit pairs are misaligned (`n`
/// even and the exponent of the leading digit even), one more when negative.
/// Zero takes 1 byte.
pub fn number_bytes(number: &str) -> Result<usize, SizeError> {
    let parsed = ParsedNumber::parse(number)?;
    let Some((digits, leading_exponent)) = parsed.significant else {
        return Ok(1);
    };
    let n = digits.len();
    if n > 38 {
        return Err(SizeError::TooPrecise {
            value: number.to_owned(),
            digits: n,
        });
    }
    let misaligned = n % 2 == 0 && leading_exponent.rem_euclid(2) == 0;
    Ok(1 + n.div_ceil(2) + usize::from(misaligned) + usize::from(parsed.negative))
}

struct ParsedNumber {
    negative: bool,
    /// Significant digits (no leading or trailing zeros) and the power of ten of the
    /// first one; `None` for zero.
    significant: Option<(Vec<u8>, i64)>,
}

impl ParsedNumber {
    fn parse(text: &str) -> Result<ParsedNumber, SizeError> {
        let error = || SizeError::NotANumber {
            value: text.to_owned(),
        };
        let trimmed = text.trim();
        let (negative, unsigned) = match trimmed.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
        };
        let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
            Some(at) => (
                &unsigned[..at],
                unsigned[at + 1..].parse::<i64>().map_err(|_| error())?,
            ),
            None => (unsigned, 0),
        };
        let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if integer.is_empty() && fraction.is_empty()
            || !integer
                .bytes()
                .chain(fraction.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return Err(error());
        }
        let all_digits: Vec<u8> = integer
            .bytes()
            .chain(fraction.bytes())
            .map(|b| b - b'0')
            .collect();
        let Some(first) = all_digits.iter().position(|&d| d != 0) else {
            return Ok(ParsedNumber {
                negative: false,
                significant: None,
            });
        };
        let last = all_digits
            .iter()
            .rposition(|&d| d != 0)
            .expect("a nonzero digit exists");
        // Digit i (0-based in all_digits) has power 10^(integer.len() - 1 - i + exponent).
        let leading_exponent = integer.len() as i64 - 1 - first as i64 + exponent;
        Ok(ParsedNumber {
            negative,
            significant: Some((all_digits[first..=last].to_vec(), leading_exponent)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> AttrValue {
        AttrValue::S(text.to_owned())
    }

    #[test]
    fn the_guides_worked_example_is_23_bytes() {
        let item = Item::from([
            ("shirt-color".to_owned(), s("R")),
            ("shirt-size".to_owned(), s("M")),
        ]);
        assert_eq!(item_bytes(&item), Ok(23));
    }

    #[test]
    fn strings_count_utf8_bytes_not_utf16_units() {
        assert_eq!(value_bytes(&s("é")), Ok(2));
        assert_eq!(value_bytes(&s("🐉")), Ok(4));
        assert_eq!(value_bytes(&s("日本")), Ok(6));
        assert_eq!(value_bytes(&s("")), Ok(0));
    }

    #[test]
    fn numbers_follow_the_documented_formula() {
        for (number, bytes) in [
            ("0", 1),
            ("0.000", 1),
            ("1e125", 2),
            ("12345", 4),
            ("1234567", 5),
            ("12345678901234567890123456789012345678", 20),
            ("1", 2),
            ("10", 2),
            ("100", 2),
            ("12", 2),
            ("123", 3),
            ("1.5", 3),
            ("0.5", 2),
            ("0.05", 2),
            ("99", 2),
            ("-1", 3),
            ("-12345", 5),
            ("1E+2", 2),
        ] {
            assert_eq!(number_bytes(number), Ok(bytes), "{number}");
        }
    }

    #[test]
    fn bad_numbers_are_named() {
        assert!(
            matches!(number_bytes("abc"), Err(SizeError::NotANumber { value }) if value == "abc")
        );
        assert!(number_bytes("1.2.3").is_err());
        assert!(number_bytes("").is_err());
        assert!(matches!(
            number_bytes(&"1".repeat(39)),
            Err(SizeError::TooPrecise { digits: 39, .. })
        ));
    }

    #[test]
    fn containers_add_three_plus_one_per_element() {
        assert_eq!(value_bytes(&AttrValue::L(vec![])), Ok(3));
        assert_eq!(value_bytes(&AttrValue::M(BTreeMap::new())), Ok(3));
        assert_eq!(
            value_bytes(&AttrValue::L(vec![s("ab"), AttrValue::Bool(true)])),
            Ok(3 + 2 + 2 + 1)
        );
        let map = AttrValue::M(BTreeMap::from([("key".to_owned(), s("value"))]));
        assert_eq!(value_bytes(&map), Ok(3 + 1 + 3 + 5));
        assert_eq!(value_bytes(&AttrValue::L(vec![map])), Ok(3 + 1 + 12));
    }

    #[test]
    fn sets_binary_and_scalars() {
        assert_eq!(
            value_bytes(&AttrValue::Ss(vec!["ab".into(), "c".into()])),
            Ok(3)
        );
        assert_eq!(
            value_bytes(&AttrValue::Ns(vec!["1".into(), "12345".into()])),
            Ok(6)
        );
        assert_eq!(value_bytes(&AttrValue::B(vec![0; 10])), Ok(10));
        assert_eq!(value_bytes(&AttrValue::Null), Ok(1));
    }
}
