//! The fields cutover knows of each entity, what kind of value each holds, and
//! in which store it must be: the vocabulary an app profile maps to its own
//! column and attribute names.

use crate::keys::EntityKind;

/// What a field holds, which decides the encodings and column types it can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// An entity id (`[A-Za-z0-9_-]{1,128}`).
    Id,
    Text,
    /// Text that may be absent (a NULL column, an absent attribute).
    OptionalText,
    /// A JSON object.
    Json,
    Timestamp,
    Integer,
}

impl FieldType {
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Id => "an id",
            FieldType::Text => "text",
            FieldType::OptionalText => "optional text",
            FieldType::Json => "a JSON object",
            FieldType::Timestamp => "a timestamp",
            FieldType::Integer => "an integer",
        }
    }
}

/// Whether a store must hold a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    Optional,
    Never,
}

/// One field of an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: &'static str,
    pub ty: FieldType,
    pub column: Need,
    pub attribute: Need,
}

const fn both(name: &'static str, ty: FieldType) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        column: Need::Required,
        attribute: Need::Required,
    }
}

pub const ID: &str = "id";
pub const USER_ID: &str = "user_id";
pub const CAMPAIGN_ID: &str = "campaign_id";
pub const SESSION_ID: &str = "session_id";
pub const EMAIL: &str = "email";
pub const DISPLAY_NAME: &str = "display_name";
pub const NAME: &str = "name";
pub const DESCRIPTION: &str = "description";
pub const SUMMARY: &str = "summary";
pub const METADATA: &str = "metadata";
pub const SHARE_TOKEN: &str = "share_token";
pub const KIND: &str = "kind";
pub const BODY: &str = "body";
pub const CREATED_AT: &str = "created_at";
pub const UPDATED_AT: &str = "updated_at";
pub const VERSION: &str = "version";
/// The transcript text: a PostgreSQL column only (DynamoDB holds a pointer).
pub const TRANSCRIPT: &str = "transcript";
/// The S3 key of the transcript: an attribute only, built from the profile's template.
pub const TRANSCRIPT_KEY: &str = "transcript_key";
pub const TRANSCRIPT_BYTES: &str = "transcript_bytes";
pub const TRANSCRIPT_SHA256: &str = "transcript_sha256";

/// A version number kept by the app; optional because an app may order its
/// writes by `updated_at` instead.
const VERSION_FIELD: FieldSpec = FieldSpec {
    name: VERSION,
    ty: FieldType::Integer,
    column: Need::Optional,
    attribute: Need::Optional,
};

const TIMESTAMPS: [FieldSpec; 2] = [
    both(CREATED_AT, FieldType::Timestamp),
    both(UPDATED_AT, FieldType::Timestamp),
];

/// Every field of `kind`, in the order items and reports list them.
pub fn fields_of(kind: EntityKind) -> Vec<FieldSpec> {
    use FieldType::*;
    let mut fields = match kind {
        EntityKind::User => vec![both(ID, Id), both(EMAIL, Text), both(DISPLAY_NAME, Text)],
        EntityKind::Campaign => vec![
            both(ID, Id),
            both(USER_ID, Id),
            both(NAME, Text),
            both(DESCRIPTION, Text),
        ],
        EntityKind::Session => vec![
            both(ID, Id),
            both(CAMPAIGN_ID, Id),
            both(USER_ID, Id),
            both(NAME, Text),
            both(SUMMARY, Text),
            both(METADATA, Json),
            both(SHARE_TOKEN, OptionalText),
            FieldSpec {
                name: TRANSCRIPT,
                ty: Text,
                column: Need::Required,
                attribute: Need::Never,
            },
            FieldSpec {
                name: TRANSCRIPT_KEY,
                ty: Text,
                column: Need::Never,
                attribute: Need::Required,
            },
            FieldSpec {
                name: TRANSCRIPT_BYTES,
                ty: Integer,
                column: Need::Optional,
                attribute: Need::Required,
            },
            FieldSpec {
                name: TRANSCRIPT_SHA256,
                ty: Text,
                column: Need::Optional,
                attribute: Need::Required,
            },
        ],
        EntityKind::Summary => vec![
            both(ID, Id),
            both(SESSION_ID, Id),
            both(USER_ID, Id),
            both(KIND, Text),
            both(BODY, Text),
        ],
    };
    fields.extend(TIMESTAMPS);
    fields.push(VERSION_FIELD);
    fields
}

/// The id fields an `ItemKey` of `kind` carries, so the only ones its key
/// templates may read.
pub fn key_fields_of(kind: EntityKind) -> &'static [&'static str] {
    match kind {
        EntityKind::User => &[ID],
        EntityKind::Campaign => &[ID, USER_ID],
        EntityKind::Session => &[ID, CAMPAIGN_ID],
        EntityKind::Summary => &[ID, SESSION_ID],
    }
}
