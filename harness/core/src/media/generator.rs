//! Seeded media shelves: the same seed gives the same items. Seasons point
//! at series generated before them; some items carry no rating, image,
//! external id or notes, as real shelves do.

use chrono::{DateTime, Utc};
use fake::Fake;
use fake::faker::lorem::en::Words;
use fake::faker::name::en::Name;
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use serde_json::json;

use super::{Image, MediaItem, MediaType};

/// 2019-01-01 and 2026-01-01, in epoch milliseconds: when items were added.
const ADDED_FROM_MS: i64 = 1_546_300_800_000;
const ADDED_UNTIL_MS: i64 = 1_767_225_600_000;

fn uuid(rng: &mut StdRng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

fn title(rng: &mut StdRng) -> String {
    let words: Vec<String> = Words(1..6).fake_with_rng(rng);
    let mut title = words.join(" ");
    if let Some(first) = title.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    title
}

fn sometimes<T>(rng: &mut StdRng, percent: u32, make: impl FnOnce(&mut StdRng) -> T) -> Option<T> {
    (rng.random_range(0..100) < percent).then(|| make(rng))
}

fn one_of<'a>(rng: &mut StdRng, choices: &[&'a str]) -> &'a str {
    choices[rng.random_range(0..choices.len())]
}

fn item(rng: &mut StdRng, media_type: MediaType, series: &[MediaItem]) -> MediaItem {
    let added = rng.random_range(ADDED_FROM_MS..ADDED_UNTIL_MS);
    let moved = added + rng.random_range(0..200_000_000_000_i64.min(ADDED_UNTIL_MS - added + 1));
    let at = |ms| DateTime::<Utc>::from_timestamp_millis(ms).expect("in range");
    let year = || json!(rng_year(added));
    let (data, series_id, title_text) = match media_type {
        MediaType::Book => (
            json!({ "author": Name().fake_with_rng::<String, _>(rng), "reread": rng.random_bool(0.1) }),
            None,
            title(rng),
        ),
        MediaType::VideoGame => (
            json!({
                "platforms": [one_of(rng, &["PC", "Switch", "PlayStation 5", "Xbox Series X"])],
                "devices": [one_of(rng, &["Steam Deck", "TV", "Desktop"])],
                "hoursPlayed": rng.random_range(1..300),
                "replay": rng.random_bool(0.1),
            }),
            None,
            title(rng),
        ),
        MediaType::Feature => (
            json!({ "releaseYear": year(), "rewatch": rng.random_bool(0.2) }),
            None,
            title(rng),
        ),
        MediaType::TvSeries => (json!({ "releaseYear": year() }), None, title(rng)),
        MediaType::TvSeason => {
            let parent = &series[rng.random_range(0..series.len())];
            let number = rng.random_range(1..12);
            (
                json!({
                    "seasonNumber": number,
                    "seasonTitle": format!("Season {number}"),
                    "releaseYear": year(),
                    "rewatch": rng.random_bool(0.1),
                }),
                Some(parent.id.clone()),
                format!("{}: Season {number}", parent.title),
            )
        }
    };
    let id = uuid(rng);
    MediaItem {
        external_id: sometimes(rng, 70, |rng| format!("ext:{}", uuid(rng))),
        shelf: one_of(rng, media_type.shelves()).to_owned(),
        rating_tenths: sometimes(rng, 60, |rng| rng.random_range(2..20) * 5),
        image: sometimes(rng, 80, |rng| Image {
            url: format!("https://images.example/{}.jpg", uuid(rng)),
            width: rng.random_range(100..1000),
            height: rng.random_range(100..1500),
        }),
        notes: sometimes(rng, 30, |rng| {
            Words(3..20).fake_with_rng::<Vec<String>, _>(rng).join(" ")
        }),
        id,
        media_type,
        title: title_text,
        added_at: at(added),
        moved_at: at(moved),
        series_id,
        data: data.as_object().expect("an object").clone(),
    }
}

fn rng_year(added_ms: i64) -> String {
    // Released in the decade before it was added: deterministic from the date.
    let added_year = 1970 + added_ms / 31_556_952_000;
    (added_year - (added_ms / 1000 % 10)).to_string()
}

/// About `count` items across the five types, series before their seasons.
pub fn generate(seed: u64, count: usize) -> Vec<MediaItem> {
    let mut rng = StdRng::seed_from_u64(seed);
    // Shares per type: books and games dominate, a season per ~2 series.
    let shares = [
        (MediaType::Book, 35),
        (MediaType::VideoGame, 20),
        (MediaType::Feature, 20),
        (MediaType::TvSeries, 8),
        (MediaType::TvSeason, 17),
    ];
    let mut items = Vec::with_capacity(count);
    let mut series = Vec::new();
    for (media_type, share) in shares {
        let mut n = count * share / 100;
        if media_type == MediaType::TvSeries {
            n = n.max(1);
        }
        if media_type == MediaType::TvSeason && series.is_empty() {
            n = 0;
        }
        for _ in 0..n {
            let made = item(&mut rng, media_type, &series);
            if media_type == MediaType::TvSeries {
                series.push(made.clone());
            }
            items.push(made);
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_shelf() {
        assert_eq!(generate(3, 200), generate(3, 200));
        assert_ne!(generate(3, 200), generate(4, 200));
    }

    #[test]
    fn generated_items_are_valid_and_seasons_point_at_series() {
        let items = generate(11, 1000);
        assert!(items.len() >= 990);
        let series: std::collections::HashSet<&str> = items
            .iter()
            .filter(|i| i.media_type == MediaType::TvSeries)
            .map(|i| i.id.as_str())
            .collect();
        for item in &items {
            item.validate().unwrap();
            assert!(item.moved_at >= item.added_at);
            if item.media_type == MediaType::TvSeason {
                assert!(series.contains(item.series_id.as_deref().unwrap()));
            }
        }
        let ids: std::collections::HashSet<&str> = items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids.len(), items.len());
    }
}
