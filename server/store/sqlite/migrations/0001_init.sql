-- weave-server embedded store, schema version 1. See ../README.md for the
-- meaning of every table. Times are int64 nanoseconds since the Unix epoch;
-- ended_at 0 means the span is still running.

-- Projects, with their span count (Projects, Stats). Other tables refer to
-- a project by its integer id.
CREATE TABLE projects (
    id         INTEGER PRIMARY KEY,
    project_id TEXT NOT NULL UNIQUE,
    span_count INTEGER NOT NULL
);

-- Content-addressed bodies: each distinct value is stored once, keyed by
-- the first 16 bytes of its SHA-256, and referenced by id.
CREATE TABLE resources (
    id     INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    attrs  TEXT NOT NULL -- resource_attrs as JSON
);

-- The custom attribute maps of a span, as one JSON object
-- {"s": {...}, "i": {...}, "f": {...}, "b": {...}}: spans of one session
-- mostly share them.
CREATE TABLE attrsets (
    id     INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    attrs  TEXT NOT NULL
);

CREATE TABLE texts (
    id     INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    body   TEXT NOT NULL
);

-- Fixed-size pages of input messages (their shapes: role, parts, texts
-- ids): the input_messages list of a span is its full pages plus a short
-- tail, so calls that repeat a growing history share every full page.
CREATE TABLE pages (
    id     INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    refs   BLOB NOT NULL
);

-- One row per span: the scalar columns of model.Span, references to the
-- content-addressed values, the derived columns the rollups were computed
-- with, and the heavy columns as a details blob (references to messages,
-- pages and texts, events, raw span) read only with include_details.
CREATE TABLE spans (
    pk                          INTEGER PRIMARY KEY,
    proj                        INTEGER NOT NULL, -- projects.id
    trace_id                    TEXT NOT NULL,
    span_id                     TEXT NOT NULL,
    parent_span_id              TEXT NOT NULL,
    span_name                   TEXT NOT NULL,
    span_kind                   TEXT NOT NULL,
    started_at                  INTEGER NOT NULL,
    ended_at                    INTEGER NOT NULL,
    status_code                 TEXT NOT NULL,
    status_message              TEXT NOT NULL,
    operation_name              TEXT NOT NULL,
    provider_name               TEXT NOT NULL,
    agent_name                  TEXT NOT NULL,
    agent_id                    TEXT NOT NULL,
    agent_version               TEXT NOT NULL,
    conversation_id             TEXT NOT NULL,
    request_model               TEXT NOT NULL,
    response_model              TEXT NOT NULL,
    response_id                 TEXT NOT NULL,
    input_tokens                INTEGER,
    output_tokens               INTEGER,
    cache_read_input_tokens     INTEGER,
    cache_creation_input_tokens INTEGER,
    reasoning_tokens            INTEGER,
    finish_reasons              TEXT, -- JSON array, NULL when empty
    tool_name                   TEXT NOT NULL,
    tool_type                   TEXT NOT NULL,
    tool_call_id                TEXT NOT NULL,
    error_type                  TEXT NOT NULL,
    compaction_summary          TEXT NOT NULL,
    compaction_items_before     INTEGER NOT NULL,
    compaction_items_after      INTEGER NOT NULL,
    thread_id                   TEXT NOT NULL,
    is_turn                     INTEGER NOT NULL,
    attrs_id                    INTEGER, -- attrsets.id
    resource_id                 INTEGER, -- resources.id
    -- derived (store package doc): effective agent and version, effective
    -- conversation, whether the usage counts, whether input_messages holds
    -- a user message.
    eff_agent                   TEXT NOT NULL,
    eff_version                 TEXT NOT NULL,
    conv_id                     INTEGER NOT NULL, -- conversations.id
    counted                     INTEGER NOT NULL,
    has_prompt                  INTEGER NOT NULL,
    details                     BLOB NOT NULL
);
CREATE UNIQUE INDEX spans_key ON spans (proj, trace_id, span_id);
CREATE INDEX spans_started ON spans (proj, started_at);
CREATE INDEX spans_conv ON spans (conv_id, started_at);
CREATE INDEX spans_running ON spans (proj, started_at) WHERE ended_at = 0;

-- Rollups, maintained incrementally by every write.
CREATE TABLE agent_versions (
    proj                INTEGER NOT NULL,
    agent_name          TEXT NOT NULL,
    agent_version       TEXT NOT NULL,
    span_count          INTEGER NOT NULL,
    invocation_count    INTEGER NOT NULL,
    error_count         INTEGER NOT NULL,
    duration_ms         INTEGER NOT NULL,
    ended_invocations   INTEGER NOT NULL,
    first_seen          INTEGER NOT NULL,
    last_seen           INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cache_read_tokens   INTEGER NOT NULL,
    cache_create_tokens INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    PRIMARY KEY (proj, agent_name, agent_version)
) WITHOUT ROWID;

CREATE TABLE agent_minutes (
    proj                INTEGER NOT NULL,
    minute              INTEGER NOT NULL, -- started_at / 60 s
    agent_name          TEXT NOT NULL,
    agent_version       TEXT NOT NULL,
    span_count          INTEGER NOT NULL,
    invocation_count    INTEGER NOT NULL,
    error_count         INTEGER NOT NULL,
    duration_ms         INTEGER NOT NULL,
    ended_invocations   INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cache_read_tokens   INTEGER NOT NULL,
    cache_create_tokens INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    PRIMARY KEY (proj, minute, agent_name, agent_version)
) WITHOUT ROWID;
CREATE INDEX agent_minutes_agent ON agent_minutes (proj, agent_name, agent_version, minute);

-- The same per hour, for metrics buckets of whole hours.
CREATE TABLE agent_hours (
    proj                INTEGER NOT NULL,
    hour                INTEGER NOT NULL, -- started_at / 3600 s
    agent_name          TEXT NOT NULL,
    agent_version       TEXT NOT NULL,
    span_count          INTEGER NOT NULL,
    invocation_count    INTEGER NOT NULL,
    error_count         INTEGER NOT NULL,
    duration_ms         INTEGER NOT NULL,
    ended_invocations   INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cache_read_tokens   INTEGER NOT NULL,
    cache_create_tokens INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    PRIMARY KEY (proj, hour, agent_name, agent_version)
) WITHOUT ROWID;

CREATE TABLE conversations (
    id                  INTEGER PRIMARY KEY,
    proj                INTEGER NOT NULL,
    conv_key            TEXT NOT NULL, -- the effective conversation id
    turn_count          INTEGER NOT NULL,
    span_count          INTEGER NOT NULL,
    error_count         INTEGER NOT NULL,
    running_count       INTEGER NOT NULL,
    first_activity      INTEGER NOT NULL,
    last_activity       INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cache_read_tokens   INTEGER NOT NULL,
    cache_create_tokens INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    -- first prompt preview and the span it came from (prompt_pk 0: none)
    prompt              TEXT NOT NULL,
    prompt_pk           INTEGER NOT NULL,
    prompt_at           INTEGER NOT NULL,
    prompt_rank         INTEGER NOT NULL,
    prompt_span         TEXT NOT NULL,
    UNIQUE (proj, conv_key)
);
CREATE INDEX conversations_last ON conversations (proj, last_activity);

CREATE TABLE conv_traces (
    conv_id    INTEGER NOT NULL,
    trace_id   TEXT NOT NULL,
    span_count INTEGER NOT NULL,
    PRIMARY KEY (conv_id, trace_id)
) WITHOUT ROWID;

CREATE TABLE conv_agents (
    conv_id    INTEGER NOT NULL,
    agent_name TEXT NOT NULL,
    span_count INTEGER NOT NULL,
    PRIMARY KEY (conv_id, agent_name)
) WITHOUT ROWID;

CREATE TABLE conv_models (
    conv_id    INTEGER NOT NULL,
    model      TEXT NOT NULL,
    span_count INTEGER NOT NULL,
    PRIMARY KEY (conv_id, model)
) WITHOUT ROWID;

-- Message search: one row per (conversation, role, text) with the number
-- of spans carrying it and its first occurrence. gid orders groups by the
-- millisecond of first_at (gid >> 20), the low 20 bits tell groups of one
-- millisecond apart; it is the rowid of the group's document in
-- groups_fts, so a search walks matches newest first.
CREATE TABLE msg_groups (
    conv_id    INTEGER NOT NULL,
    role       TEXT NOT NULL,
    text_id    INTEGER NOT NULL,
    proj       INTEGER NOT NULL,
    span_count INTEGER NOT NULL,
    first_at   INTEGER NOT NULL,
    first_pk   INTEGER NOT NULL, -- spans.pk
    gid        INTEGER NOT NULL,
    PRIMARY KEY (conv_id, role, text_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX msg_groups_gid ON msg_groups (gid);

-- Full-text index, one document per search group (rowid = gid): meta
-- holds filter tokens (p<project id> c<conversation id> r<hex role>), body
-- the indexed text (textsearch.IndexText of the text). Contentless:
-- snippets are built from texts.body.
CREATE VIRTUAL TABLE groups_fts USING fts5(
    meta,
    body,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Events that arrived before their span (OTLP logs).
CREATE TABLE pending_events (
    id          INTEGER PRIMARY KEY,
    project_id  TEXT NOT NULL,
    trace_id    TEXT NOT NULL,
    span_id     TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    events      TEXT NOT NULL -- JSON array of model.Event
);
CREATE INDEX pending_events_key ON pending_events (project_id, trace_id, span_id);
CREATE INDEX pending_events_received ON pending_events (received_at);

CREATE TABLE annotations (
    project_id TEXT NOT NULL,
    id         TEXT NOT NULL,
    ref        TEXT NOT NULL,
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL, -- JSON
    author     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, id)
) WITHOUT ROWID;
CREATE INDEX annotations_created ON annotations (project_id, created_at);
CREATE INDEX annotations_ref ON annotations (project_id, ref);
