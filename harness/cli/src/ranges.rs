//! Value parsers that check every numeric flag's range when it is parsed, so
//! a bad number is refused with the flag's name before anything runs (a page
//! size of 0 would loop, one of `u64::MAX` would wrap to `LIMIT 0`).

use clap::builder::TypedValueParser;

/// A count in `1..=max`, as a `usize`.
pub fn count(max: u64) -> impl TypedValueParser<Value = usize> {
    clap::value_parser!(u64)
        .range(1..=max)
        .map(|n| usize::try_from(n).expect("a usize holds every count up to the ranges used here"))
}

/// A number of operations or writes: `1..=1e9`.
pub fn operations() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(1..=1_000_000_000)
}

/// `text` as a number `accept` takes, else why not (naming the range `wanted`).
fn number(text: &str, accept: impl Fn(f64) -> bool, wanted: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if accept(value) => Ok(value),
        Ok(value) => Err(format!("{value} is not {wanted}")),
        Err(error) => Err(format!("{text:?} is not a number: {error}")),
    }
}

/// A finite number above zero.
pub fn positive(text: &str) -> Result<f64, String> {
    number(
        text,
        |v| v.is_finite() && v > 0.0,
        "a finite number above 0",
    )
}

/// A percentage: a finite number in `0..=100`.
pub fn percent(text: &str) -> Result<f64, String> {
    number(text, |v| (0.0..=100.0).contains(&v), "in 0..=100")
}

/// Seconds to wait: a finite number in `0..=3600`.
pub fn seconds(text: &str) -> Result<f64, String> {
    number(text, |v| (0.0..=3600.0).contains(&v), "in 0..=3600")
}

/// A duration above zero, as humantime writes it (`30s`, `2m`, `500ms`).
pub fn duration(text: &str) -> Result<std::time::Duration, String> {
    match humantime::parse_duration(text) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        Ok(_) => Err("a duration above 0 (e.g. 30s)".to_owned()),
        Err(error) => Err(format!(
            "{text:?} is not a duration such as 30s or 500ms: {error}"
        )),
    }
}
