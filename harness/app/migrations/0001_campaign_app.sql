-- The campaign app's PostgreSQL schema: the source of truth during validation.

-- One sequence versions every write of every entity, so versions only grow,
-- even across a delete and a re-create of the same id.
CREATE SEQUENCE entity_version;

CREATE TABLE users (
    id           TEXT PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,128}$'),
    email        TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    version      BIGINT NOT NULL
);

CREATE TABLE campaigns (
    id          TEXT PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,128}$'),
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    version     BIGINT NOT NULL
);
CREATE INDEX campaigns_by_user ON campaigns (user_id, id);

CREATE TABLE sessions (
    id                TEXT PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,128}$'),
    campaign_id       TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    user_id           TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    summary           TEXT NOT NULL,
    metadata          JSONB NOT NULL CHECK (jsonb_typeof(metadata) = 'object'),
    transcript        TEXT NOT NULL,
    transcript_bytes  BIGINT NOT NULL,
    transcript_sha256 TEXT NOT NULL,
    share_token       TEXT UNIQUE,
    -- The normalized search copy, computed by the app with the same function that
    -- fills DynamoDB's searchText (cutover_core::normalize).
    search_text       TEXT NOT NULL,
    -- PostgreSQL full-text search over the same fields.
    search_vector     TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('english', name), 'A')
        || setweight(to_tsvector('english', summary), 'B')
        || jsonb_to_tsvector('english', metadata, '["string"]')
    ) STORED,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    version           BIGINT NOT NULL
);
CREATE INDEX sessions_by_campaign ON sessions (campaign_id, id);
CREATE INDEX sessions_search ON sessions USING GIN (search_vector);

CREATE TABLE session_summaries (
    id         TEXT PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,128}$'),
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    version    BIGINT NOT NULL
);
CREATE INDEX summaries_by_session ON session_summaries (session_id, id);

-- The transactional outbox: every change appends one record per entity it
-- touches, in the same transaction. A record is done once DynamoDB and S3
-- hold the entity's state as of that record (or newer).
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    entity_kind     TEXT NOT NULL CHECK (entity_kind IN ('user', 'campaign', 'session', 'summary')),
    entity_id       TEXT NOT NULL,
    operation       TEXT NOT NULL CHECK (operation IN ('upsert', 'delete')),
    -- The DynamoDB key and owner, kept so a delete can be applied after the row is gone.
    item_pk         TEXT NOT NULL,
    item_sk         TEXT NOT NULL,
    owner_id        TEXT NOT NULL,
    version         BIGINT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error      TEXT,
    done_at         TIMESTAMPTZ
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at, id) WHERE done_at IS NULL;
CREATE INDEX outbox_pending_by_entity ON outbox (entity_kind, entity_id, id) WHERE done_at IS NULL;
