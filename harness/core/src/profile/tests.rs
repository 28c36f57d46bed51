use chrono::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::campaign_item::ItemError;
use crate::domain::{Campaign, Entity, Session, Summary, TranscriptPointer, User};
use crate::item_size::{AttrValue, Item};
use crate::keys::{Id, ItemKey};

fn id(text: &str) -> Id {
    Id::parse(text).unwrap()
}

fn at(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc.timestamp_millis_opt(ms).unwrap()
}

fn s(text: &str) -> AttrValue {
    AttrValue::S(text.to_owned())
}

fn reference() -> Arc<Profile> {
    Profile::reference()
}

fn electrodb() -> Profile {
    Profile::parse(ELECTRODB_TOML, "profiles/electrodb.toml").unwrap()
}

/// The ElectroDB profile with one textual edit (a variant a test needs).
fn electrodb_with(from: &str, to: &str) -> Profile {
    assert!(ELECTRODB_TOML.contains(from), "{from}");
    Profile::parse(&ELECTRODB_TOML.replace(from, to), "variant.toml").unwrap()
}

const SHA: &str = "ab12";

fn session() -> Session {
    Session {
        id: id("s1"),
        campaign_id: id("c1"),
        user_id: id("u1"),
        name: "The Dragon's Lair".into(),
        summary: "Party meets a DRAGON".into(),
        metadata: serde_json::json!({"tags": ["boss", "fire"], "round": 3, "ratio": 1.5, "ok": true, "none": null}),
        share_token: Some("tok".into()),
        transcript: TranscriptPointer {
            storage_key: format!("transcripts/u1/s1/{SHA}"),
            bytes: 42,
            sha256: SHA.into(),
        },
        created_at: at(1_700_000_000_123),
        updated_at: at(1_700_000_000_456),
        version: 7,
    }
}

fn entities() -> Vec<Entity> {
    vec![
        Entity::User(User {
            id: id("u1"),
            email: "a@b.c".into(),
            display_name: "Ä".into(),
            created_at: at(1),
            updated_at: at(2),
            version: 1,
        }),
        Entity::Campaign(Campaign {
            id: id("c1"),
            user_id: id("u1"),
            name: "".into(),
            description: "d".into(),
            created_at: at(1),
            updated_at: at(2),
            version: 2,
        }),
        Entity::Session(session()),
        Entity::Session(Session {
            share_token: None,
            metadata: serde_json::json!({}),
            ..session()
        }),
        Entity::Summary(Summary {
            id: id("m1"),
            session_id: id("s1"),
            user_id: id("u1"),
            kind: "recap".into(),
            body: "b".into(),
            created_at: at(1),
            updated_at: at(2),
            version: 3,
        }),
    ]
}

/// What an entity reads back as under a profile that orders by `updated_at`.
fn versioned_by_updated_at(entity: &Entity) -> Entity {
    let version = entity.timestamps().1.timestamp_millis();
    let mut entity = entity.clone();
    match &mut entity {
        Entity::User(e) => e.version = version,
        Entity::Campaign(e) => e.version = version,
        Entity::Session(e) => e.version = version,
        Entity::Summary(e) => e.version = version,
    }
    entity
}

#[test]
fn the_shipped_profiles_parse() {
    assert_eq!(reference().name, "reference");
    assert!(reference().outbox);
    let electrodb = electrodb();
    assert!(!electrodb.outbox);
    assert_eq!(electrodb.entity(EntityKind::Session).table, "Session");
    assert_eq!(
        electrodb.entity(EntityKind::Session).versions,
        VersionSource::UpdatedAt
    );
}

#[test]
fn reference_keys_have_the_documented_shape() {
    let profile = reference();
    let cases = [
        (ItemKey::User { user: id("u1") }, "USER#u1", "METADATA"),
        (
            ItemKey::Campaign {
                user: id("u1"),
                campaign: id("c1"),
            },
            "USER#u1",
            "CAMP#c1",
        ),
        (
            ItemKey::Session {
                campaign: id("c1"),
                session: id("s1"),
            },
            "CAMP#c1",
            "SESS#s1",
        ),
        (
            ItemKey::Summary {
                session: id("s1"),
                summary: id("m1"),
            },
            "SESS#s1",
            "SUMMARY#m1",
        ),
    ];
    for (key, pk, sk) in cases {
        let stored = profile.key(&key);
        assert_eq!((stored.pk.as_str(), stored.sk.as_str()), (pk, sk));
    }
}

#[test]
fn electrodb_lowercases_whole_keys_by_default() {
    let profile = electrodb();
    let stored = profile.key(&ItemKey::Session {
        campaign: id("Camp1"),
        session: id("S1"),
    });
    assert_eq!(
        (stored.pk.as_str(), stored.sk.as_str()),
        ("camp#camp1", "sess#s1")
    );
    let user = profile.key(&ItemKey::User { user: id("UsrA") });
    assert_eq!(
        (user.pk.as_str(), user.sk.as_str()),
        ("user#usra", "metadata")
    );
    let none = electrodb_with("key_casing = \"default\"", "key_casing = \"none\"");
    assert_eq!(
        none.key(&ItemKey::User { user: id("UsrA") }).pk,
        "USER#UsrA"
    );
    let query = profile.campaigns_of(&id("UsrA"));
    assert_eq!(query.partition_key, "user#usra");
    assert_eq!(query.sort_key_prefix.as_deref(), Some("camp#"));
    let reverse = profile.session_by_id(&id("S1"));
    assert_eq!(reverse.index.as_deref(), Some("gsi1"));
    assert_eq!(
        (
            reverse.partition_key.as_str(),
            reverse.sort_key_prefix.as_deref()
        ),
        ("sess#s1", Some("camp#"))
    );
}

#[test]
fn reference_items_are_exactly_what_the_reference_app_wrote() {
    let item = reference().to_item(&Entity::Session(session()));
    let names: Vec<&str> = item.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "campaignId",
            "createdAt",
            "entity",
            "gsi1pk",
            "gsi1sk",
            "metadata",
            "name",
            "pk",
            "searchLexemes",
            "searchText",
            "sessionId",
            "shareToken",
            "sk",
            "summary",
            "transcriptBytes",
            "transcriptSha256",
            "transcriptStorageKey",
            "updatedAt",
            "userId",
            "version",
        ]
    );
    assert_eq!(item["pk"], s("CAMP#c1"));
    assert_eq!(item["sk"], s("SESS#s1"));
    assert_eq!(item["gsi1pk"], s("SESS#s1"));
    assert_eq!(item["gsi1sk"], s("CAMP#c1"));
    assert_eq!(item["entity"], s("session"));
    assert_eq!(item["version"], AttrValue::N("7".into()));
    assert_eq!(item["createdAt"], s("2023-11-14T22:13:20.123Z"));
    let AttrValue::S(search) = &item["searchText"] else {
        panic!()
    };
    assert!(search.contains("dragon's lair") && search.contains("boss"));
    let AttrValue::Ss(lexemes) = &item["searchLexemes"] else {
        panic!("{:?}", item.get("searchLexemes"))
    };
    assert!(lexemes.contains(&"dragon".to_owned()) && lexemes.contains(&"lair".to_owned()));
    assert!(
        lexemes.is_sorted(),
        "sets are stored sorted so items compare stably"
    );
    // The reference profile's names are the ones `campaign_item::attr` lists.
    use crate::campaign_item::attr;
    for name in [
        attr::PK,
        attr::SK,
        attr::GSI1PK,
        attr::GSI1SK,
        attr::ENTITY,
        attr::VERSION,
        attr::SEARCH_TEXT,
        attr::SEARCH_LEXEMES,
        attr::TRANSCRIPT_KEY,
        attr::SESSION_ID,
        attr::SHARE_TOKEN,
    ] {
        assert!(item.contains_key(name), "{name}");
    }
}

#[test]
fn electrodb_items_carry_its_identifiers_and_no_version() {
    let item = electrodb().to_item(&Entity::Session(session()));
    assert_eq!(item["__edb_e__"], s("session"));
    assert_eq!(item["__edb_v__"], s("1"));
    assert_eq!(item["pk"], s("camp#c1"));
    assert_eq!(item["gsi1sk"], s("camp#c1"));
    assert_eq!(
        item["shareToken"],
        s("tok"),
        "an attribute index is the attribute itself"
    );
    assert!(!item.contains_key("version") && !item.contains_key("entity"));
    assert!(
        !item.contains_key("searchLexemes"),
        "not declared by this profile"
    );
}

#[test]
fn every_entity_round_trips_through_every_profile() {
    let profiles = [
        (reference().as_ref().clone(), false),
        (electrodb(), true),
        (
            electrodb_with("key_casing = \"default\"", "key_casing = \"none\""),
            true,
        ),
        (
            Profile::parse(
                &ELECTRODB_TOML.replace("encoding = \"iso-8601\"", "encoding = \"epoch-ms\""),
                "epoch-ms.toml",
            )
            .unwrap(),
            true,
        ),
        (
            electrodb_with(
                "attribute = \"metadata\", encoding = \"map\"",
                "attribute = \"metadata\", encoding = \"json-text\"",
            ),
            true,
        ),
    ];
    for (profile, by_updated_at) in profiles {
        for entity in entities() {
            let expected = if by_updated_at {
                versioned_by_updated_at(&entity)
            } else {
                entity.clone()
            };
            assert_eq!(
                profile.from_item(&profile.to_item(&entity)),
                Ok(expected),
                "{}",
                profile.name
            );
        }
    }
}

#[test]
fn dates_are_written_in_the_declared_encoding() {
    let epoch_ms = Profile::parse(
        &ELECTRODB_TOML.replace("encoding = \"iso-8601\"", "encoding = \"epoch-ms\""),
        "epoch-ms.toml",
    )
    .unwrap();
    let item = epoch_ms.to_item(&Entity::Session(session()));
    assert_eq!(item["createdAt"], AttrValue::N("1700000000123".into()));
    let (attribute, value) = epoch_ms.version_condition(EntityKind::Session, 1_700_000_000_456);
    assert_eq!(
        (attribute.as_str(), value),
        ("updatedAt", AttrValue::N("1700000000456".into()))
    );
    let epoch_s = Profile::parse(
        &ELECTRODB_TOML.replace("encoding = \"iso-8601\"", "encoding = \"epoch-s\""),
        "epoch-s.toml",
    )
    .unwrap();
    let stored = epoch_s.as_stored(&Entity::Session(session()));
    assert_eq!(
        stored.timestamps().0,
        at(1_700_000_000_000),
        "whole seconds are kept"
    );
    // The ISO profile refuses a number where it declared a string.
    let error = electrodb().from_item(&item).unwrap_err();
    assert_eq!(
        error,
        ItemError::WrongType {
            name: "createdAt".into(),
            expected: "S".into(),
            found: "N".into()
        }
    );
}

#[test]
fn items_without_electrodb_identifiers_are_named_as_unreadable_by_the_app() {
    let profile = electrodb();
    let mut item = profile.to_item(&Entity::Session(session()));
    item.remove("__edb_e__");
    let error = profile.from_item(&item).unwrap_err();
    assert!(
        matches!(&error, ItemError::Marker { name, entity: EntityKind::Session, .. } if name == "__edb_e__"),
        "{error}"
    );
    // A reference item read with the ElectroDB profile: its keys are not lowercase.
    let reference_item = reference().to_item(&Entity::Session(session()));
    assert!(matches!(
        profile.from_item(&reference_item),
        Err(ItemError::Unrecognized { .. })
    ));
}

#[test]
fn stale_search_copies_are_reported_with_both_values() {
    let profile = reference();
    let entity = Entity::Session(session());
    let mut item = profile.to_item(&entity);
    assert!(profile.stale_derived_attributes(&item, &entity).is_empty());
    item.insert("searchText".into(), s("old text"));
    item.remove("searchLexemes");
    let stale = profile.stale_derived_attributes(&item, &entity);
    let names: Vec<&str> = stale.iter().map(|(name, _, _)| name.as_str()).collect();
    assert_eq!(names, vec!["searchText", "searchLexemes"]);
    assert_eq!(stale[1].1, "(absent)");
}

#[test]
fn a_transcript_pointer_outside_its_own_session_is_refused() {
    let profile = reference();
    for (key, sha) in [
        ("transcripts/u2/s1/ab", "ab"),             // another user's prefix
        ("transcripts/u1/s1/../../u2/s9/ab", "ab"), // climbing out
        ("transcripts/u1/s1/cd", "ab"),             // not its own content
        ("transcripts/u1/s1/../ab", "../ab"),       // a hash that is a path
        ("/etc/passwd", "ab"),
    ] {
        let mut item = profile.to_item(&Entity::Session(session()));
        item.insert("transcriptStorageKey".into(), s(key));
        item.insert("transcriptSha256".into(), s(sha));
        let error = profile.from_item(&item).unwrap_err();
        assert!(
            matches!(&error, ItemError::Invalid { name, .. }
                if name == "transcriptStorageKey" || name == "transcriptSha256"),
            "{key}: {error}"
        );
    }
}

#[test]
fn malformed_items_name_the_attribute() {
    let profile = reference();
    let base = || profile.to_item(&Entity::Session(session()));
    let mut item = base();
    item.insert("version".into(), s("7"));
    assert_eq!(
        profile.from_item(&item),
        Err(ItemError::WrongType {
            name: "version".into(),
            expected: "N".into(),
            found: "S".into()
        })
    );
    let mut item = base();
    item.remove("transcriptSha256");
    assert_eq!(
        profile.from_item(&item),
        Err(ItemError::Missing("transcriptSha256".into()))
    );
    // An id attribute that disagrees with the key.
    let mut item = base();
    item.insert("sessionId".into(), s("s2"));
    assert!(
        matches!(profile.from_item(&item), Err(ItemError::KeyDisagrees { attribute, .. }) if attribute == "sk")
    );
    let mut item = base();
    item.insert("sk".into(), s("SESS#bad#key"));
    assert!(matches!(
        profile.from_item(&item),
        Err(ItemError::KeyDisagrees { .. })
    ));
    let mut item = base();
    item.insert("entity".into(), s("campaign"));
    assert!(
        matches!(profile.from_item(&item), Err(ItemError::KeyMismatch { name, .. }) if name == "entity")
    );
    let mut item = base();
    item.insert("gsi1pk".into(), s("SESS#other"));
    assert!(
        matches!(profile.from_item(&item), Err(ItemError::KeyDisagrees { attribute, .. }) if attribute == "gsi1pk"),
        "a wrong index key breaks the reverse lookup"
    );
    let mut item = base();
    item.insert("sessionId".into(), s("bad id"));
    assert!(matches!(profile.from_item(&item), Err(ItemError::Key(_))));
    let mut item = base();
    item.insert("transcriptBytes".into(), AttrValue::N("-1".into()));
    assert!(matches!(
        profile.from_item(&item),
        Err(ItemError::Invalid { .. })
    ));
}

#[test]
fn owned_attributes_are_what_a_rewrite_sets() {
    let profile = electrodb();
    let owned = profile.owned_attributes(EntityKind::Session);
    for name in [
        "pk",
        "sk",
        "gsi1pk",
        "gsi1sk",
        "shareToken",
        "__edb_e__",
        "__edb_v__",
        "searchText",
    ] {
        assert!(owned.iter().any(|o| o == name), "{name}");
    }
    let item = profile.to_item(&Entity::Session(session()));
    assert!(item.keys().all(|name| owned.contains(name)));
}

#[test]
fn ids_that_differ_only_by_case_collide_under_folding_casing() {
    let ids = [id("usrA"), id("usra"), id("b"), id("usrA")];
    let collisions = electrodb().colliding_ids(EntityKind::User, &ids);
    assert_eq!(collisions, vec![(id("usrA"), id("usra"))]);
    assert!(reference().colliding_ids(EntityKind::User, &ids).is_empty());
}

#[test]
fn profile_errors_name_file_line_and_field() {
    let cases = [
        (
            (
                "type = \"timestamp(3)\", attribute = \"createdAt\"",
                "type = \"datetime\", attribute = \"createdAt\"",
            ),
            "entities.user.fields.created_at.type",
            "unknown column type \"datetime\"",
        ),
        (
            ("sk = \"SESS#${sessionId}\"", "sk = \"SESS#${sessionId\""),
            "entities.session.sk",
            "closing",
        ),
        (
            ("sk = \"SESS#${sessionId}\"", "sk = \"SESS#${userId}\""),
            "entities.session.sk",
            "may only use its id attributes",
        ),
        (
            ("body       = { column", "bodie      = { column"),
            "entities.summary.fields.bodie",
            "unknown field \"bodie\"",
        ),
        (
            (
                "attribute = \"metadata\", encoding = \"map\"",
                "attribute = \"metadata\", encoding = \"epoch-ms\"",
            ),
            "entities.session.fields.metadata.encoding",
            "epoch-ms cannot hold a JSON object",
        ),
        (
            ("type = \"jsonb\"", "type = \"bigint\""),
            "entities.session.fields.metadata.type",
            "bigint column cannot hold a JSON object",
        ),
        (
            ("key_casing = \"default\"", "key_casing = \"title\""),
            "dynamodb.key_casing",
            "unknown casing",
        ),
        (
            (
                "versions = \"updated_at\"\nelectrodb = { service = \"rpg\", entity = \"user\"",
                "versions = \"version\"\nelectrodb = { service = \"rpg\", entity = \"user\"",
            ),
            "entities.user.versions",
            "needs a `version` field",
        ),
        (
            (
                "indexes.gsi1 = { pk = \"CAMP#${campaignId}\"",
                "indexes.gsi2 = { pk = \"CAMP#${campaignId}\"",
            ),
            "entities.campaign.indexes.gsi2",
            "no index \"gsi2\"",
        ),
        (
            (
                "derived = { search_text = \"searchText\" }",
                "derived = { search_text = \"summary\" }",
            ),
            "entities.session",
            "attribute \"summary\" is both",
        ),
    ];
    for ((from, to), field, message) in cases {
        assert!(ELECTRODB_TOML.contains(from), "{from}");
        let text = ELECTRODB_TOML.replacen(from, to, 1);
        let error = Profile::parse(&text, "profiles/mine.toml").unwrap_err();
        assert_eq!(error.file, "profiles/mine.toml");
        assert_eq!(error.field, field, "{error}");
        assert!(error.message.contains(message), "{error}");
        // The line is the offending entry's (or its table header's).
        let line = text.lines().nth(error.line - 1).unwrap_or_default();
        assert!(
            line.contains('=') || line.starts_with('['),
            "line {} of the file: {line:?} ({error})",
            error.line
        );
    }
    let error = Profile::parse("name = \"x\"\nbogus = 1\n", "p.toml").unwrap_err();
    assert_eq!((error.line, error.field.as_str()), (2, "bogus"), "{error}");
}

/// Why the ElectroDB profile, with each edit's first `from` replaced by its
/// `to` and read as `profiles/mine.toml`, is refused (as printed); `None` if it parses.
fn refusal(edits: &[(&str, &str)]) -> Option<String> {
    let mut text = ELECTRODB_TOML.to_owned();
    for (from, to) in edits {
        assert!(text.contains(from), "{from}");
        text = text.replacen(from, to, 1);
    }
    Profile::parse(&text, "profiles/mine.toml")
        .err()
        .map(|error| error.to_string())
}

#[test]
fn a_column_mapped_twice_is_refused_naming_both_fields() {
    assert_eq!(
        refusal(&[("column = \"description\"", "column = \"name\"")]).as_deref(),
        Some(
            "profiles/mine.toml:50:15: entities.campaign.fields.description.column: \
         column \"name\" is both field name and field description"
        )
    );
    // Quoted identifiers compare exactly, as PostgreSQL compares them: two columns.
    assert_eq!(
        refusal(&[("column = \"description\"", "column = \"Name\"")]),
        None
    );
}

#[test]
fn a_key_without_the_entitys_own_id_is_refused() {
    assert_eq!(
        refusal(&[("pk = \"USER#${userId}\"", "pk = \"USER\"")]).as_deref(),
        Some(
            "profiles/mine.toml:29:6: entities.user.sk: neither pk \"USER\" nor sk \"METADATA\" \
         reads \"userId\", the user's own id: two users would be written to one item"
        )
    );
    assert_eq!(
        refusal(&[("\nsk = \"CAMP#${campaignId}\"", "\nsk = \"CAMP\"")]).as_deref(),
        Some(
            "profiles/mine.toml:43:6: entities.campaign.sk: neither pk \"USER#${userId}\" nor sk \"CAMP\" \
         reads \"campaignId\", the campaign's own id: two campaigns would be written to one item"
        )
    );
    // Index keys may repeat (a GSI holds many items under one key).
    assert_eq!(
        refusal(&[(
            "sk = \"SUMMARY#${summaryId}\"",
            "sk = \"SUMMARY#${summaryId}\"\nindexes.gsi1 = { pk = \"SESS#${sessionId}\", sk = \"SUMMARIES\" }",
        )]),
        None
    );
}

#[test]
fn a_key_whose_text_alone_passes_dynamodbs_limit_is_refused() {
    let user_pk = format!("pk = \"{}USER#${{userId}}\"", "U".repeat(2044));
    assert_eq!(
        refusal(&[("pk = \"USER#${userId}\"", &user_pk)]).as_deref(),
        Some(
            "profiles/mine.toml:28:6: entities.user.pk: the key's text alone is 2049 bytes \
         under default casing; a DynamoDB partition key is at most 2048 bytes"
        )
    );
    let user_sk = format!("sk = \"{}\"", "M".repeat(1025));
    assert_eq!(
        refusal(&[("sk = \"METADATA\"", &user_sk)]).as_deref(),
        Some(
            "profiles/mine.toml:29:6: entities.user.sk: the key's text alone is 1025 bytes \
         under default casing; a DynamoDB sort key is at most 1024 bytes"
        )
    );
    // Counted as cased: 512 'İ' are 1024 bytes as written, 1536 lowercased.
    let dotted_sk = format!("sk = \"{}\"", "İ".repeat(512));
    assert_eq!(
        refusal(&[("sk = \"METADATA\"", &dotted_sk)]).as_deref(),
        Some(
            "profiles/mine.toml:29:6: entities.user.sk: the key's text alone is 1536 bytes \
         under default casing; a DynamoDB sort key is at most 1024 bytes"
        )
    );
    let as_written = ("key_casing = \"default\"", "key_casing = \"none\"");
    assert_eq!(
        refusal(&[as_written, ("sk = \"METADATA\"", &dotted_sk)]),
        None
    );
}

#[test]
fn a_key_its_ids_can_take_past_dynamodbs_limit_is_refused() {
    // An id is at most 128 bytes: 1920 bytes of text leave room for it, 1921 do not.
    let user_pk = |n: usize| format!("pk = \"USER#{}${{userId}}\"", "x".repeat(n));
    assert_eq!(
        refusal(&[("pk = \"USER#${userId}\"", &user_pk(1915))]),
        None
    );
    assert_eq!(
        refusal(&[("pk = \"USER#${userId}\"", &user_pk(1916))]).as_deref(),
        Some(
            "profiles/mine.toml:28:6: entities.user.pk: the key can be 2049 bytes \
         (1921 of text, \"userId\" up to 128); a DynamoDB partition key is at most 2048 bytes"
        )
    );
    let campaign_sk = |n: usize| format!("\nsk = \"CAMP#{}${{campaignId}}\"", "x".repeat(n));
    let from = "\nsk = \"CAMP#${campaignId}\"";
    assert_eq!(refusal(&[(from, &campaign_sk(891))]), None);
    assert_eq!(
        refusal(&[(from, &campaign_sk(892))]).as_deref(),
        Some(
            "profiles/mine.toml:43:6: entities.campaign.sk: the key can be 1025 bytes \
         (897 of text, \"campaignId\" up to 128); a DynamoDB sort key is at most 1024 bytes"
        )
    );
}

#[test]
fn an_index_key_past_dynamodbs_limits_is_refused() {
    let from = "indexes.gsi1 = { pk = \"CAMP#${campaignId}\", sk = \"USER#${userId}\" }";
    let gsi1 = |pk_text: usize, sk_text: usize| {
        format!(
            "indexes.gsi1 = {{ pk = \"CAMP#{}${{campaignId}}\", sk = \"USER#{}${{userId}}\" }}",
            "x".repeat(pk_text),
            "x".repeat(sk_text)
        )
    };
    assert_eq!(refusal(&[(from, &gsi1(1915, 891))]), None);
    assert_eq!(
        refusal(&[(from, &gsi1(1916, 0))]).as_deref(),
        Some(
            "profiles/mine.toml:44:16: entities.campaign.indexes.gsi1.pk: the key can be 2049 bytes \
         (1921 of text, \"campaignId\" up to 128); a DynamoDB partition key is at most 2048 bytes"
        )
    );
    assert_eq!(
        refusal(&[(from, &gsi1(0, 892))]).as_deref(),
        Some(
            "profiles/mine.toml:44:16: entities.campaign.indexes.gsi1.sk: the key can be 1025 bytes \
         (897 of text, \"userId\" up to 128); a DynamoDB sort key is at most 1024 bytes"
        )
    );
    assert_eq!(
        refusal(&[(from, &gsi1(0, 1020))]).as_deref(),
        Some(
            "profiles/mine.toml:44:16: entities.campaign.indexes.gsi1.sk: the key's text alone is \
         1025 bytes under default casing; a DynamoDB sort key is at most 1024 bytes"
        )
    );
    // An attribute index is the attribute itself: free text (`${shareToken}`)
    // has no bound a profile can state, so only DynamoDB can refuse a long one.
    assert_eq!(refusal(&[]), None);
}

#[test]
fn key_values_are_bounded_by_their_field_type() {
    use fields::{FieldSpec, FieldType, Need};
    let longest = |ty: FieldType, encoding: Encoding| {
        let spec = FieldSpec {
            name: "f",
            ty,
            column: Need::Optional,
            attribute: Need::Optional,
        };
        codec::longest_key_bytes(&FieldMapping {
            spec,
            column: None,
            attribute: None,
            encoding,
        })
    };
    let bounds = [
        (FieldType::Id, Encoding::String, Some(128)),
        (FieldType::Integer, Encoding::String, Some(20)), // -9223372036854775808
        (FieldType::Integer, Encoding::Number, Some(20)),
        (FieldType::Timestamp, Encoding::Iso8601, Some(27)), // +262142-12-31T23:59:59.999Z
        (FieldType::Timestamp, Encoding::EpochMs, Some(17)),
        (FieldType::Timestamp, Encoding::EpochS, Some(14)),
        (FieldType::Text, Encoding::String, None),
        (FieldType::OptionalText, Encoding::String, None),
        (FieldType::Json, Encoding::JsonText, None),
    ];
    for (ty, encoding, bound) in bounds {
        assert_eq!(longest(ty, encoding), bound, "{ty:?} as {encoding:?}");
    }
}

fn id_strategy() -> impl Strategy<Value = Id> {
    "[A-Za-z0-9_-]{1,40}".prop_map(|s| Id::parse(&s).unwrap())
}

fn key_strategy() -> impl Strategy<Value = ItemKey> {
    prop_oneof![
        id_strategy().prop_map(|user| ItemKey::User { user }),
        (id_strategy(), id_strategy())
            .prop_map(|(user, campaign)| ItemKey::Campaign { user, campaign }),
        (id_strategy(), id_strategy())
            .prop_map(|(campaign, session)| ItemKey::Session { campaign, session }),
        (id_strategy(), id_strategy())
            .prop_map(|(session, summary)| ItemKey::Summary { session, summary }),
    ]
}

proptest! {
    #[test]
    fn distinct_entities_never_share_a_reference_key(a in key_strategy(), b in key_strategy()) {
        prop_assume!(a != b);
        let profile = reference();
        prop_assert_ne!(profile.key(&a), profile.key(&b));
    }

    #[test]
    fn folded_keys_collide_exactly_when_ids_fold_alike(a in key_strategy(), b in key_strategy()) {
        let profile = electrodb();
        let folded = |key: &ItemKey| format!("{key:?}").to_lowercase();
        prop_assert_eq!(profile.key(&a) == profile.key(&b), folded(&a) == folded(&b));
    }

    #[test]
    fn sort_keys_order_like_their_ids(c in id_strategy(), s1 in id_strategy(), s2 in id_strategy()) {
        let profile = reference();
        let k1 = profile.key(&ItemKey::Session { campaign: c.clone(), session: s1.clone() });
        let k2 = profile.key(&ItemKey::Session { campaign: c, session: s2.clone() });
        prop_assert_eq!(k1.sk.cmp(&k2.sk), s1.as_str().cmp(s2.as_str()));
    }

    #[test]
    fn listings_select_exactly_their_entities(key in key_strategy(), other in id_strategy()) {
        for profile in [reference().as_ref().clone(), electrodb()] {
            let stored = profile.key(&key);
            for (query, kind) in [
                (profile.campaigns_of(&other), EntityKind::Campaign),
                (profile.sessions_of(&other), EntityKind::Session),
                (profile.summaries_of(&other), EntityKind::Summary),
            ] {
                let matches = stored.pk == query.partition_key
                    && stored.sk.starts_with(query.sort_key_prefix.as_deref().unwrap());
                prop_assert!(!matches || key.entity() == kind);
            }
        }
    }

    #[test]
    fn arbitrary_items_never_read_as_a_different_key(pk in ".{0,30}", sk in ".{0,30}") {
        let profile = reference();
        let mut item: Item = profile.to_item(&Entity::Session(session()));
        item.insert("pk".into(), AttrValue::S(pk.clone()));
        item.insert("sk".into(), AttrValue::S(sk.clone()));
        if let Ok(entity) = profile.from_item(&item) {
            let stored = profile.key(&entity.key());
            prop_assert_eq!((stored.pk, stored.sk), (pk, sk));
        }
    }
}

#[test]
fn a_malformed_item_names_the_cause_it_shares_with_others() {
    let profile = reference();
    let base = || profile.to_item(&Entity::Session(session()));
    let pattern = |item: &Item| profile.malformation_pattern(item);
    assert_eq!(pattern(&base()), None, "a good item has no malformation");
    // An app that writes its keys in another case.
    let mut item = base();
    for key in ["pk", "sk"] {
        let Some(AttrValue::S(text)) = item.get(key).cloned() else {
            panic!("{key}")
        };
        item.insert(key.into(), s(&text.to_lowercase()));
    }
    assert_eq!(
        pattern(&item).as_deref(),
        Some("the key differs from the profile's template by letter case only")
    );
    let mut item = base();
    item.remove("transcriptSha256");
    assert_eq!(
        pattern(&item).as_deref(),
        Some("the attribute \"transcriptSha256\" is absent")
    );
    let mut item = base();
    item.insert("sk".into(), s("SESS#bad#key"));
    assert_eq!(pattern(&item), None, "a wrong key is not a case");
}
