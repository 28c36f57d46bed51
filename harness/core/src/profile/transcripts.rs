//! Where the app keeps its transcripts in S3: the session's `transcript_key`
//! template is the one statement of the layout. Every object key cutover
//! lists, sweeps or deletes is laid out and read back here, so a custom
//! layout (`tx/${userId}/${sessionId}`) is honoured and an object of another
//! shape — another app's, a file someone left — is never taken for the app's.

use crate::keys::{EntityKind, Id};

use super::fields::FieldType;
use super::{EntityProfile, Profile, Template, fields};

/// The session a transcript object belongs to, read from its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptOwner {
    /// The owner, when the layout names one.
    pub user: Option<Id>,
    pub session: Id,
}

impl Profile {
    fn transcript_template(&self) -> &Template {
        self.entity(EntityKind::Session)
            .transcript_key
            .as_ref()
            .expect("profile checked: sessions have a transcript key")
    }

    /// What every transcript object key starts with (the layout's text
    /// before its first attribute): the listing of the app's objects.
    pub fn transcript_listing_prefix(&self) -> String {
        self.transcript_template().known_prefix(|_| None)
    }

    /// What every transcript object of one session starts with, as far as
    /// its owner and id say; a listing of it holds other keys too (`s1`
    /// lists `s10`'s under some layouts): keep those whose
    /// [`Profile::transcript_owner`] is the session.
    pub fn session_transcripts_prefix(&self, user: &Id, session: &Id) -> String {
        let (user_attribute, session_attribute) = self.transcript_id_attributes();
        self.transcript_template().known_prefix(|name| {
            if name == session_attribute {
                Some(session.to_string())
            } else if name == user_attribute {
                Some(user.to_string())
            } else {
                None
            }
        })
    }

    /// The session `key` is a transcript object of, when `key` has the
    /// layout's shape exactly, each part a value its field can hold: ids
    /// valid ids, a SHA-256 64 lowercase hex digits, a size digits, anything
    /// else a plain name (letters, digits, `._-`; not `.` or `..`). `None`
    /// otherwise — such an object is never the app's to sweep or delete.
    pub fn transcript_owner(&self, key: &str) -> Option<TranscriptOwner> {
        let (user_attribute, session_attribute) = self.transcript_id_attributes();
        let session_entity = self.entity(EntityKind::Session);
        let mut user: Option<Id> = None;
        let mut session: Option<Id> = None;
        for (name, value) in self.transcript_template().values(key)? {
            let field = session_entity
                .fields
                .iter()
                .find(|f| f.attribute.as_deref() == Some(name))?;
            if !PartAlphabet::of(field.spec.name, field.spec.ty).holds(value) {
                return None;
            }
            let slot = if name == session_attribute {
                &mut session
            } else if name == user_attribute {
                &mut user
            } else {
                continue;
            };
            let id = Id::parse(value).ok()?;
            // An attribute used twice must say the same both times.
            if slot.as_ref().is_some_and(|known| known != &id) {
                return None;
            }
            *slot = Some(id);
        }
        Some(TranscriptOwner {
            user,
            session: session?,
        })
    }

    /// Whether `key` is a transcript object of this session (and owner).
    pub fn is_transcript_of(&self, key: &str, user: &Id, session: &Id) -> bool {
        self.transcript_owner(key).is_some_and(|owner| {
            &owner.session == session && owner.user.as_ref().is_none_or(|owner| owner == user)
        })
    }

    /// This profile with its sessions' transcripts laid out as `layout`'s
    /// are (the layout's attributes translated field by field to this
    /// profile's): how the reference app's database is read when its items
    /// and objects follow another profile, so the keys it writes are the
    /// layout's. Unchanged when a field of the layout has no attribute here.
    pub fn with_transcript_layout_of(&self, layout: &Profile) -> Profile {
        let (ours, theirs) = (
            self.entity(EntityKind::Session),
            layout.entity(EntityKind::Session),
        );
        let translated = layout.transcript_template().renamed(|attribute| {
            let field = theirs
                .fields
                .iter()
                .find(|f| f.attribute.as_deref() == Some(attribute))?;
            ours.field(field.spec.name)?.attribute.clone()
        });
        let template = translated.expect(
            "profile checked: every attribute of a transcript layout is a session field's, and every session field but the transcript has an attribute",
        );
        let mut relaid = self.clone();
        if let Some(session) = relaid
            .entities
            .iter_mut()
            .find(|entity| entity.kind == EntityKind::Session)
        {
            session.transcript_key = Some(template);
        }
        relaid
    }

    /// The session's attributes that hold its owner's id and its own.
    fn transcript_id_attributes(&self) -> (&str, &str) {
        let session = self.entity(EntityKind::Session);
        (
            session.attribute(fields::USER_ID),
            session.attribute(fields::ID),
        )
    }
}

/// What one part of a transcript key can hold, by its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartAlphabet {
    /// `[A-Za-z0-9_-]{1,128}` (`keys::Id`).
    Id,
    /// 64 lowercase hexadecimal digits.
    Sha256,
    /// Decimal digits.
    Digits,
    /// Letters, digits, `._-`; not `.` or `..`.
    PlainName,
}

impl PartAlphabet {
    fn of(field: &str, ty: FieldType) -> PartAlphabet {
        match (field, ty) {
            (_, FieldType::Id) => PartAlphabet::Id,
            (fields::TRANSCRIPT_SHA256, _) => PartAlphabet::Sha256,
            (_, FieldType::Integer) => PartAlphabet::Digits,
            _ => PartAlphabet::PlainName,
        }
    }

    /// Whether a value of this part can contain `c`.
    fn allows(self, c: char) -> bool {
        match self {
            PartAlphabet::Id => c.is_ascii_alphanumeric() || c == '_' || c == '-',
            PartAlphabet::Sha256 => c.is_ascii_digit() || ('a'..='f').contains(&c),
            PartAlphabet::Digits => c.is_ascii_digit(),
            PartAlphabet::PlainName => c.is_ascii_alphanumeric() || "._-".contains(c),
        }
    }

    fn holds(self, value: &str) -> bool {
        let shaped = match self {
            PartAlphabet::Id => Id::parse(value).is_ok(),
            PartAlphabet::Sha256 => value.len() == 64,
            PartAlphabet::Digits | PartAlphabet::PlainName => !value.is_empty(),
        };
        shaped && value != "." && value != ".." && value.chars().all(|c| self.allows(c))
    }
}

/// Why a session's `transcript_key` cannot be read back unambiguously, if
/// it cannot: what `Profile::parse` refuses, so that an object key names at
/// most one session and a listing is never the whole bucket.
pub(super) fn layout_problem(template: &Template, session: &EntityProfile) -> Option<String> {
    if template.known_prefix(|_| None).is_empty() {
        return Some(
            "the layout must start with text (a prefix such as \"tx/\"): with none, every object of the bucket would be listed as the app's".into(),
        );
    }
    let session_attribute = session.attribute(fields::ID);
    if !template.attributes().any(|name| name == session_attribute) {
        return Some(format!(
            "the layout must read {session_attribute:?}, the session's own id: without it an object names no session"
        ));
    }
    for (attribute, literal) in template.attributes_with_following_literal() {
        let Some(field) = session
            .fields
            .iter()
            .find(|f| f.attribute.as_deref() == Some(attribute))
        else {
            continue;
        };
        let alphabet = PartAlphabet::of(field.spec.name, field.spec.ty);
        if literal.chars().all(|c| alphabet.allows(c)) {
            return Some(format!(
                "the text {literal:?} after \"${{{attribute}}}\" can occur inside its values, so a key could be read two ways: put a character its values never hold (such as \"/\") in it"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> Id {
        Id::parse(text).unwrap()
    }

    /// The reference profile with its transcript layout replaced by `layout`.
    fn with_layout(layout: &str) -> Profile {
        let text = crate::profile::REFERENCE_TOML.replace(
            r#"transcript_key = "transcripts/${userId}/${sessionId}/${transcriptSha256}""#,
            &format!("transcript_key = {layout:?}"),
        );
        Profile::parse(&text, "custom.toml").unwrap()
    }

    #[test]
    fn only_keys_of_the_reference_layout_name_a_session() {
        let profile = Profile::reference();
        let sha = "ab".repeat(32);
        assert_eq!(
            profile.transcript_owner(&format!("transcripts/alice/s1/{sha}")),
            Some(TranscriptOwner {
                user: Some(id("alice")),
                session: id("s1")
            })
        );
        for key in [
            "transcripts/../outside".to_owned(),
            "transcripts/alice/../s1".to_owned(),
            "transcripts/alice/s1/..".to_owned(),
            "transcripts/alice/s1/".to_owned(),
            format!("transcripts/alice/s1/{sha}/extra"),
            format!("other/alice/s1/{sha}"),
            "transcripts/al ice/s1/x".to_owned(),
            "transcripts/alice/notes/readme.txt/x".to_owned(),
            // The issue's foreign object: "readme.txt" is no SHA-256.
            "transcripts/alice/notes/readme.txt".to_owned(),
            format!("transcripts/alice/s1/{}", "AB".repeat(32)),
            format!("transcripts/alice/s1/{}", "ab".repeat(31)),
        ] {
            assert_eq!(profile.transcript_owner(&key), None, "{key}");
        }
        assert_eq!(profile.transcript_listing_prefix(), "transcripts/");
        assert_eq!(
            profile.session_transcripts_prefix(&id("alice"), &id("s1")),
            "transcripts/alice/s1/"
        );
    }

    #[test]
    fn a_custom_layout_is_read_from_the_profile() {
        let profile = with_layout("tx/${userId}/${sessionId}");
        assert_eq!(profile.transcript_listing_prefix(), "tx/");
        assert_eq!(
            profile.transcript_owner("tx/alice/s1"),
            Some(TranscriptOwner {
                user: Some(id("alice")),
                session: id("s1")
            })
        );
        // Beside the layout: another shape, or ids that are not ids.
        for key in [
            "transcripts/alice/notes/readme.txt",
            "tx/alice/notes/readme.txt",
            "tx/alice",
            "tx/alice/s1/extra",
        ] {
            assert_eq!(profile.transcript_owner(key), None, "{key}");
        }
        // A session's listing covers `s10` too; the owner check tells them apart.
        let prefix = profile.session_transcripts_prefix(&id("alice"), &id("s1"));
        assert_eq!(prefix, "tx/alice/s1");
        assert!(profile.is_transcript_of("tx/alice/s1", &id("alice"), &id("s1")));
        assert!(!profile.is_transcript_of("tx/alice/s10", &id("alice"), &id("s1")));
        assert!(!profile.is_transcript_of("tx/bob/s1", &id("alice"), &id("s1")));
        // The reference database read for this layout writes its keys.
        let relaid = Profile::reference().with_transcript_layout_of(&profile);
        assert_eq!(relaid.transcript_listing_prefix(), "tx/");
        assert_eq!(
            relaid.session_transcripts_prefix(&id("alice"), &id("s1")),
            "tx/alice/s1"
        );
    }

    #[test]
    fn layouts_that_cannot_be_read_back_are_refused_at_load() {
        let refused = |layout: &str| {
            let text = crate::profile::REFERENCE_TOML.replace(
                r#"transcript_key = "transcripts/${userId}/${sessionId}/${transcriptSha256}""#,
                &format!("transcript_key = {layout:?}"),
            );
            Profile::parse(&text, "custom.toml")
                .err()
                .map(|error| error.to_string())
        };
        let no_prefix = refused("${userId}/${sessionId}").expect("refused");
        assert!(no_prefix.contains("must start with text"), "{no_prefix}");
        assert!(no_prefix.contains("transcript_key"), "{no_prefix}");
        let no_session = refused("tx/${userId}/${transcriptSha256}").expect("refused");
        assert!(
            no_session.contains("must read \"sessionId\""),
            "{no_session}"
        );
        let ambiguous = refused("tx/${userId}-${sessionId}").expect("refused");
        assert!(ambiguous.contains("after \"${userId}\""), "{ambiguous}");
        for fine in [
            "tx/${userId}/${sessionId}",
            "tx/${sessionId}.txt",
            "transcripts/${userId}/${sessionId}/${transcriptSha256}",
        ] {
            assert_eq!(refused(fine), None, "{fine}");
        }
    }
}
