//! Generated text: names, campaign titles, session summaries and dialogue-like
//! transcripts, in English, multibyte scripts or with emoji.

use fake::Fake;
use fake::faker::lorem::raw::Words;
use fake::faker::name::raw::{FirstName, Name};
use fake::locales::{DE_DE, EN, FR_FR, JA_JP, ZH_CN};
use rand::RngExt;
use rand::rngs::StdRng;

use super::scenario::TextMix;

/// Words of the tabletop campaigns the app stores; English, so stemming and
/// stop words have something to do in search tests.
const VOCABULARY: &[&str] = &[
    "dragon",
    "dragons",
    "tavern",
    "goblin",
    "goblins",
    "sword",
    "swords",
    "castle",
    "forest",
    "dungeon",
    "wizard",
    "wizards",
    "spell",
    "spells",
    "casting",
    "cast",
    "ranger",
    "rangers",
    "treasure",
    "ambush",
    "ambushed",
    "party",
    "quest",
    "quests",
    "ancient",
    "ruins",
    "bridge",
    "village",
    "villagers",
    "necromancer",
    "the",
    "a",
    "of",
    "and",
    "into",
    "across",
    "beneath",
    "running",
    "ran",
    "runs",
    "fight",
    "fighting",
    "fought",
    "heals",
    "healing",
    "healed",
    "cleric",
    "rogue",
    "stealthy",
    "stealth",
    "map",
    "maps",
    "e-mail",
    "well-known",
    "half-orc",
    "d20",
    "initiative",
    "critical",
    "hit",
    "postgres",
    "PostgreSQL",
];
const EMOJI: &[&str] = &["🐉", "🎲", "⚔️", "🏰", "🧙", "💰", "🔥", "🛡️", "👹", "✨"];
const SPEAKERS_PER_SCENE: usize = 4;

/// What language a piece of generated text is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Language {
    English,
    Multibyte,
    Emoji,
    /// English spelled so that only the exact normalization finds it.
    Hostile,
}

pub(crate) fn pick_language(rng: &mut StdRng, mix: &TextMix) -> Language {
    let roll = rng.random_range(0..mix.total());
    if roll < mix.english {
        Language::English
    } else if roll < mix.english + mix.multibyte {
        Language::Multibyte
    } else if roll < mix.english + mix.multibyte + mix.emoji {
        Language::Emoji
    } else {
        Language::Hostile
    }
}

fn vocabulary_words(rng: &mut StdRng, count: usize) -> Vec<String> {
    (0..count)
        .map(|_| VOCABULARY[rng.random_range(0..VOCABULARY.len())].to_owned())
        .collect()
}

fn multibyte_words(rng: &mut StdRng, count: usize) -> Vec<String> {
    match rng.random_range(0..3) {
        0 => Words(ZH_CN, count..count + 1).fake_with_rng(rng),
        1 => (0..count)
            .map(|_| Name(JA_JP).fake_with_rng::<String, _>(rng))
            .collect(),
        _ => (0..count)
            .map(|i| {
                if i % 2 == 0 {
                    FirstName(FR_FR).fake_with_rng::<String, _>(rng)
                } else {
                    FirstName(DE_DE).fake_with_rng::<String, _>(rng)
                }
            })
            .map(|name| format!("{name} à l'auberge"))
            .collect(),
    }
}

/// Words whose NFKC, full-lowercase or whitespace forms differ from what
/// they look like, beside a spelling of the same word that differs only in
/// that way where one exists: a search for either must find the other.
const HOSTILE_WORDS: &[&str] = &[
    // Combining marks against precomposed letters (NFC/NFKC compose them).
    "café",
    "cafe\u{301}",
    "CAFE\u{301}",
    // ß lowercases to itself and upper-cases to SS: these two never match.
    "Straße",
    "STRASSE",
    // Greek capital sigma lowercases to final ς at the end of a word.
    "ΔΡΆΚΟΣ",
    "δράκος",
    "ΟΔΥΣΣΕΥΣ",
    // Turkish dotted capital I lowercases to i + U+0307; dotless ı stays.
    "İnitiative",
    "ınitiative",
    // Compatibility forms NFKC folds: roman numerals, circled digits, superscripts.
    "Ⅻ",
    "xii",
    "①",
    "d²⁰",
    // Emoji sequences joined by ZWJ and qualified by a variation selector.
    "🧙\u{200D}♂\u{FE0F}",
    "👨\u{200D}👩\u{200D}👧",
    "⚔\u{FE0F}",
    // A zero-width joiner and a soft hyphen inside a word (kept by NFKC).
    "drag\u{200D}on",
    "tav\u{AD}ern",
];

/// Spaces that are not U+0020: NFKC turns NBSP and the em space into one,
/// the whitespace rule folds the rest.
const HOSTILE_SPACES: &[&str] = &[" ", "\u{A0}", "\u{2003}", "\u{3000}", " \t ", "\u{202F}"];

/// One vocabulary word spelled as only the exact normalization reads it.
fn hostile_word(rng: &mut StdRng) -> String {
    let word = VOCABULARY[rng.random_range(0..VOCABULARY.len())];
    match rng.random_range(0..6) {
        0 => HOSTILE_WORDS[rng.random_range(0..HOSTILE_WORDS.len())].to_owned(),
        1 => full_width(word),
        2 => word.to_uppercase(),
        3 if word.contains("fi") || word.contains("fl") || word.contains("ff") => word
            .replace("ffi", "\u{FB03}")
            .replace("ff", "\u{FB00}")
            .replace("fi", "\u{FB01}")
            .replace("fl", "\u{FB02}"),
        4 if word.starts_with('i') => format!("İ{}", &word[1..]),
        _ => word.to_owned(),
    }
}

/// ASCII letters and digits as their full-width forms (`Ａ`, `１`).
fn full_width(word: &str) -> String {
    word.chars()
        .map(|ch| match ch {
            '!'..='~' => char::from_u32(ch as u32 - 0x21 + 0xFF01).unwrap_or(ch),
            _ => ch,
        })
        .collect()
}

fn hostile_words(rng: &mut StdRng, count: usize) -> String {
    let mut text = String::new();
    for index in 0..count {
        if index > 0 {
            text.push_str(HOSTILE_SPACES[rng.random_range(0..HOSTILE_SPACES.len())]);
        }
        text.push_str(&hostile_word(rng));
    }
    text
}

/// Every hostile spelling the generator uses, and each vocabulary word in each
/// of its forms: what the drivers' normalization must agree on with cutover's.
pub fn hostile_examples() -> Vec<String> {
    let mut examples: Vec<String> = HOSTILE_WORDS.iter().map(|w| w.to_string()).collect();
    for word in VOCABULARY {
        examples.push(full_width(word));
        examples.push(word.to_uppercase());
        examples.push(format!("İ{word}"));
    }
    for space in HOSTILE_SPACES {
        examples.push(format!("the{space}dragon"));
    }
    examples
}

/// `count` words in `language`.
pub(crate) fn words(rng: &mut StdRng, language: Language, count: usize) -> String {
    if language == Language::Hostile {
        return hostile_words(rng, count);
    }
    let mut words = match language {
        Language::English | Language::Emoji | Language::Hostile => vocabulary_words(rng, count),
        Language::Multibyte => {
            let mut mixed = multibyte_words(rng, count.div_ceil(2));
            mixed.extend(vocabulary_words(rng, count / 2));
            mixed
        }
    };
    if language == Language::Emoji {
        let at = rng.random_range(0..=words.len());
        words.insert(at, EMOJI[rng.random_range(0..EMOJI.len())].to_owned());
    }
    words.join(" ")
}

/// A person's name.
pub(crate) fn person(rng: &mut StdRng, language: Language) -> String {
    match language {
        Language::Multibyte => Name(JA_JP).fake_with_rng(rng),
        Language::Hostile => {
            let name: String = Name(EN).fake_with_rng(rng);
            let space = HOSTILE_SPACES[rng.random_range(0..HOSTILE_SPACES.len())];
            full_width(&name.replace(' ', space))
        }
        _ => Name(EN).fake_with_rng(rng),
    }
}

/// A transcript of exactly `bytes` bytes: lines of dialogue between a game
/// master and a few players, cut at a character boundary and padded with spaces.
pub(crate) fn transcript(rng: &mut StdRng, language: Language, bytes: usize) -> String {
    let speakers: Vec<String> = std::iter::once("GM".to_owned())
        .chain((1..SPEAKERS_PER_SCENE).map(|_| FirstName(EN).fake_with_rng::<String, _>(rng)))
        .collect();
    // Build a few distinct lines, then repeat them: multi-MB transcripts stay cheap.
    let lines: Vec<String> = (0..16)
        .map(|_| {
            let speaker = &speakers[rng.random_range(0..speakers.len())];
            let count = rng.random_range(4..14);
            format!("{speaker}: {}\n", words(rng, language, count))
        })
        .collect();
    let mut text = String::with_capacity(bytes + 64);
    let mut index = 0;
    while text.len() < bytes {
        text.push_str(&lines[index % lines.len()]);
        index += 1;
    }
    fit_to_bytes(&text, bytes)
}

/// `text` cut to at most `bytes` at a character boundary, then padded with spaces
/// to exactly `bytes` bytes.
pub fn fit_to_bytes(text: &str, bytes: usize) -> String {
    let mut end = bytes.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut fitted = text[..end].to_owned();
    fitted.extend(std::iter::repeat_n(' ', bytes - end));
    fitted
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn transcripts_have_exactly_the_asked_size() {
        let mut rng = StdRng::seed_from_u64(1);
        for language in [Language::English, Language::Multibyte, Language::Emoji] {
            for bytes in [0, 1, 7, 409_599, 409_600, 409_601] {
                assert_eq!(
                    transcript(&mut rng, language, bytes).len(),
                    bytes,
                    "{language:?} {bytes}"
                );
            }
        }
    }

    #[test]
    fn fitting_never_splits_a_character() {
        assert_eq!(fit_to_bytes("日本", 4), "日 ");
        assert_eq!(fit_to_bytes("ab", 5), "ab   ");
    }
}
