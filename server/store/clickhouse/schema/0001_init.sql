-- weave schema, version 1. Every statement is idempotent (IF NOT EXISTS).
-- Templated only for the database, the cluster (ON CLUSTER, Replicated
-- engines, Distributed tables) and the TTL; see schema.go.

-- spans: one canonical row per span (model.Span). The version column
-- encodes the upsert rule: bit 63 is set for a finished span, the rest is
-- the writer's clock, so that a finished copy beats an in-progress one and
-- otherwise the newest write wins, in merges and in FINAL reads alike. A
-- span whose started_at changed gets an is_deleted row at its old key.
CREATE TABLE IF NOT EXISTS {{local "spans"}}{{on}}
(
    project_id LowCardinality(String),
    trace_id String,
    span_id String,
    parent_span_id String,
    span_name String,
    span_kind LowCardinality(String),
    started_at DateTime64(9, 'UTC'),
    ended_at Nullable(DateTime64(9, 'UTC')),
    status_code LowCardinality(String),
    status_message String,
    operation_name LowCardinality(String),
    provider_name LowCardinality(String),
    agent_name String,
    agent_id String,
    agent_version String,
    conversation_id String,
    request_model LowCardinality(String),
    response_model LowCardinality(String),
    response_id String,
    input_tokens Nullable(Int64),
    output_tokens Nullable(Int64),
    cache_read_input_tokens Nullable(Int64),
    cache_creation_input_tokens Nullable(Int64),
    reasoning_tokens Nullable(Int64),
    finish_reasons Array(String),
    input_messages String CODEC(ZSTD(3)),
    output_messages String CODEC(ZSTD(3)),
    system_instructions Array(String) CODEC(ZSTD(3)),
    tool_name String,
    tool_type LowCardinality(String),
    tool_call_id String,
    tool_call_arguments String CODEC(ZSTD(3)),
    tool_call_result String CODEC(ZSTD(3)),
    error_type String,
    compaction_summary String CODEC(ZSTD(3)),
    compaction_items_before Int64,
    compaction_items_after Int64,
    thread_id String,
    is_turn Bool,
    custom_attrs_string Map(String, String),
    custom_attrs_int Map(String, Int64),
    custom_attrs_float Map(String, Float64),
    custom_attrs_bool Map(String, Bool),
    resource_attrs String CODEC(ZSTD(3)),
    resource_attrs_text Map(String, String),
    events String CODEC(ZSTD(3)),
    raw_span String CODEC(ZSTD(3)),
    version UInt64,
    is_deleted UInt8,
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_conversation_id conversation_id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = {{engine "spans" "ReplacingMergeTree" "version, is_deleted"}}
PARTITION BY toYYYYMM(started_at)
ORDER BY (project_id, started_at, span_id, trace_id)
{{ttl "toDateTime(started_at)"}}
{{settings "spans"}};

{{distributed "spans" "cityHash64(project_id, trace_id)"}};

-- span_state: what the derived figures need of each span, with the derived
-- columns themselves (eff_agent, eff_version, conv_key, counted: see the
-- store package doc). The writer replaces a state with a cancel row
-- (sign -1, the old row's values and version) and the new row (sign 1) in
-- one insert; the materialized views below sum sign * value, so the
-- rollups hold exactly the surviving version of every span. stale_agent /
-- stale_version mark cancel rows that take a span out of its agent or
-- version group (or move its start): the group's first/last seen may then
-- be too wide, and the read path recomputes them from this table.
CREATE TABLE IF NOT EXISTS {{local "span_state"}}{{on}}
(
    project_id LowCardinality(String),
    trace_id String,
    span_id String,
    parent_span_id String,
    started_at DateTime64(9, 'UTC'),
    ended_at Nullable(DateTime64(9, 'UTC')),
    status_code LowCardinality(String),
    operation_name LowCardinality(String),
    agent_name String,
    agent_version String,
    conversation_id String,
    thread_id String,
    model LowCardinality(String),
    input_tokens Nullable(Int64),
    output_tokens Nullable(Int64),
    cache_read_input_tokens Nullable(Int64),
    cache_creation_input_tokens Nullable(Int64),
    reasoning_tokens Nullable(Int64),
    prompt String,
    msg_keys Array(String),
    span_hash String,
    eff_agent String,
    eff_version String,
    conv_key String,
    counted UInt8,
    minute Int64,
    day Int32,
    stale_agent UInt8,
    stale_version UInt8,
    sign Int8,
    version UInt64,
    INDEX idx_conv_key conv_key TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_eff_agent eff_agent TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = {{engine "span_state" "VersionedCollapsingMergeTree" "sign, version"}}
PARTITION BY toYYYYMM(started_at)
ORDER BY (project_id, trace_id, span_id)
{{ttl "toDateTime(started_at)"}}
{{settings "span_state"}};

{{distributed "span_state" "cityHash64(project_id, trace_id)"}};

-- Rollups of the effective agents, fed from span_state. Sums are signed
-- (exact under replacement); first/last seen are min/max over state rows
-- (a cancel row carries neutral values) and are corrected on read where a
-- stale flag says a span left the group. day and minute are whole days /
-- minutes since the Unix epoch of the span's started_at. Durations count
-- only ended invoke_agent spans whose end is after their start. A row
-- expires at the end of its day (minute) plus the retention, once every
-- span it counts has (version 16 moved it there from the start).
CREATE TABLE IF NOT EXISTS {{local "agents"}}{{on}}
(
    project_id LowCardinality(String),
    agent_name String,
    day Int32,
    span_count SimpleAggregateFunction(sum, Int64),
    invocation_count SimpleAggregateFunction(sum, Int64),
    error_count SimpleAggregateFunction(sum, Int64),
    duration_ms SimpleAggregateFunction(sum, Int64),
    ended_invocations SimpleAggregateFunction(sum, Int64),
    input_tokens SimpleAggregateFunction(sum, Int64),
    output_tokens SimpleAggregateFunction(sum, Int64),
    cache_read_input_tokens SimpleAggregateFunction(sum, Int64),
    cache_creation_input_tokens SimpleAggregateFunction(sum, Int64),
    reasoning_tokens SimpleAggregateFunction(sum, Int64),
    first_seen_ns SimpleAggregateFunction(min, Int64),
    last_seen_ns SimpleAggregateFunction(max, Int64),
    stale SimpleAggregateFunction(sum, Int64)
)
ENGINE = {{engine "agents" "AggregatingMergeTree" ""}}
ORDER BY (project_id, agent_name, day)
{{ttl "toDateTime(toInt64(day) * 86400)"}};

{{distributed "agents" "rand()"}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{local "agents_mv"}}{{on}} TO {{local "agents"}} AS
SELECT
    project_id,
    eff_agent AS agent_name,
    day,
    toInt64(sign) AS span_count,
    toInt64(sign * (operation_name = 'invoke_agent')) AS invocation_count,
    toInt64(sign * (status_code = 'ERROR')) AS error_count,
    toInt64(sign * (operation_name = 'invoke_agent') * if(ifNull(ended_at > started_at, 0), intDiv(toUnixTimestamp64Nano(assumeNotNull(ended_at)) - toUnixTimestamp64Nano(started_at), 1000000), 0)) AS duration_ms,
    toInt64(sign * (operation_name = 'invoke_agent') * isNotNull(ended_at)) AS ended_invocations,
    toInt64(sign * counted * ifNull(input_tokens, 0)) AS input_tokens,
    toInt64(sign * counted * ifNull(output_tokens, 0)) AS output_tokens,
    toInt64(sign * counted * ifNull(cache_read_input_tokens, 0)) AS cache_read_input_tokens,
    toInt64(sign * counted * ifNull(cache_creation_input_tokens, 0)) AS cache_creation_input_tokens,
    toInt64(sign * counted * ifNull(reasoning_tokens, 0)) AS reasoning_tokens,
    if(sign > 0, toUnixTimestamp64Nano(started_at), toInt64(9223372036854775807)) AS first_seen_ns,
    if(sign > 0, toUnixTimestamp64Nano(started_at), toInt64(-9223372036854775807)) AS last_seen_ns,
    toInt64(sign < 0 AND stale_agent = 1) AS stale
FROM {{local "span_state"}}
WHERE eff_agent != '';

CREATE TABLE IF NOT EXISTS {{local "agent_versions"}}{{on}}
(
    project_id LowCardinality(String),
    agent_name String,
    agent_version String,
    day Int32,
    span_count SimpleAggregateFunction(sum, Int64),
    invocation_count SimpleAggregateFunction(sum, Int64),
    error_count SimpleAggregateFunction(sum, Int64),
    duration_ms SimpleAggregateFunction(sum, Int64),
    ended_invocations SimpleAggregateFunction(sum, Int64),
    input_tokens SimpleAggregateFunction(sum, Int64),
    output_tokens SimpleAggregateFunction(sum, Int64),
    cache_read_input_tokens SimpleAggregateFunction(sum, Int64),
    cache_creation_input_tokens SimpleAggregateFunction(sum, Int64),
    reasoning_tokens SimpleAggregateFunction(sum, Int64),
    first_seen_ns SimpleAggregateFunction(min, Int64),
    last_seen_ns SimpleAggregateFunction(max, Int64),
    stale SimpleAggregateFunction(sum, Int64)
)
ENGINE = {{engine "agent_versions" "AggregatingMergeTree" ""}}
ORDER BY (project_id, agent_name, agent_version, day)
{{ttl "toDateTime((toInt64(day) + 1) * 86400)"}};

{{distributed "agent_versions" "rand()"}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{local "agent_versions_mv"}}{{on}} TO {{local "agent_versions"}} AS
SELECT
    project_id,
    eff_agent AS agent_name,
    eff_version AS agent_version,
    day,
    toInt64(sign) AS span_count,
    toInt64(sign * (operation_name = 'invoke_agent')) AS invocation_count,
    toInt64(sign * (status_code = 'ERROR')) AS error_count,
    toInt64(sign * (operation_name = 'invoke_agent') * if(ifNull(ended_at > started_at, 0), intDiv(toUnixTimestamp64Nano(assumeNotNull(ended_at)) - toUnixTimestamp64Nano(started_at), 1000000), 0)) AS duration_ms,
    toInt64(sign * (operation_name = 'invoke_agent') * isNotNull(ended_at)) AS ended_invocations,
    toInt64(sign * counted * ifNull(input_tokens, 0)) AS input_tokens,
    toInt64(sign * counted * ifNull(output_tokens, 0)) AS output_tokens,
    toInt64(sign * counted * ifNull(cache_read_input_tokens, 0)) AS cache_read_input_tokens,
    toInt64(sign * counted * ifNull(cache_creation_input_tokens, 0)) AS cache_creation_input_tokens,
    toInt64(sign * counted * ifNull(reasoning_tokens, 0)) AS reasoning_tokens,
    if(sign > 0, toUnixTimestamp64Nano(started_at), toInt64(9223372036854775807)) AS first_seen_ns,
    if(sign > 0, toUnixTimestamp64Nano(started_at), toInt64(-9223372036854775807)) AS last_seen_ns,
    toInt64(sign < 0 AND stale_version = 1) AS stale
FROM {{local "span_state"}}
WHERE eff_agent != '';

-- Per-minute activity of the effective agents, for AgentMetrics.
CREATE TABLE IF NOT EXISTS {{local "agent_minutes"}}{{on}}
(
    project_id LowCardinality(String),
    agent_name String,
    minute Int64,
    span_count SimpleAggregateFunction(sum, Int64),
    invocation_count SimpleAggregateFunction(sum, Int64),
    error_count SimpleAggregateFunction(sum, Int64),
    duration_ms SimpleAggregateFunction(sum, Int64),
    ended_invocations SimpleAggregateFunction(sum, Int64),
    input_tokens SimpleAggregateFunction(sum, Int64),
    output_tokens SimpleAggregateFunction(sum, Int64),
    cache_read_input_tokens SimpleAggregateFunction(sum, Int64),
    cache_creation_input_tokens SimpleAggregateFunction(sum, Int64),
    reasoning_tokens SimpleAggregateFunction(sum, Int64)
)
ENGINE = {{engine "agent_minutes" "AggregatingMergeTree" ""}}
ORDER BY (project_id, agent_name, minute)
{{ttl "toDateTime((minute + 1) * 60)"}};

{{distributed "agent_minutes" "rand()"}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{local "agent_minutes_mv"}}{{on}} TO {{local "agent_minutes"}} AS
SELECT
    project_id,
    eff_agent AS agent_name,
    minute,
    toInt64(sign) AS span_count,
    toInt64(sign * (operation_name = 'invoke_agent')) AS invocation_count,
    toInt64(sign * (status_code = 'ERROR')) AS error_count,
    toInt64(sign * (operation_name = 'invoke_agent') * if(ifNull(ended_at > started_at, 0), intDiv(toUnixTimestamp64Nano(assumeNotNull(ended_at)) - toUnixTimestamp64Nano(started_at), 1000000), 0)) AS duration_ms,
    toInt64(sign * (operation_name = 'invoke_agent') * isNotNull(ended_at)) AS ended_invocations,
    toInt64(sign * counted * ifNull(input_tokens, 0)) AS input_tokens,
    toInt64(sign * counted * ifNull(output_tokens, 0)) AS output_tokens,
    toInt64(sign * counted * ifNull(cache_read_input_tokens, 0)) AS cache_read_input_tokens,
    toInt64(sign * counted * ifNull(cache_creation_input_tokens, 0)) AS cache_creation_input_tokens,
    toInt64(sign * counted * ifNull(reasoning_tokens, 0)) AS reasoning_tokens
FROM {{local "span_state"}}
WHERE eff_agent != '';

-- conv_traces: one row per (effective conversation, trace) with that
-- trace's figures in the conversation, replaced by the writer as the
-- trace changes (is_deleted when the trace leaves the conversation). The
-- conversations list groups it by conv_key.
CREATE TABLE IF NOT EXISTS {{local "conv_traces"}}{{on}}
(
    project_id LowCardinality(String),
    conv_key String,
    trace_id String,
    span_count Int64,
    error_count Int64,
    running_count Int64,
    input_tokens Int64,
    output_tokens Int64,
    cache_read_input_tokens Int64,
    cache_creation_input_tokens Int64,
    reasoning_tokens Int64,
    first_ns Int64,
    last_ns Int64,
    last_at DateTime64(9, 'UTC'),
    agents Array(String),
    models Array(String),
    prompt String,
    prompt_ns Int64,
    prompt_rank UInt8,
    prompt_span_id String,
    version UInt64,
    is_deleted UInt8
)
ENGINE = {{engine "conv_traces" "ReplacingMergeTree" "version, is_deleted"}}
ORDER BY (project_id, conv_key, trace_id)
{{ttl "toDateTime(last_at)"}}
{{settings "conv_traces"}};

{{distributed "conv_traces" "cityHash64(project_id, trace_id)"}};

-- message_content: every message body once per (project, digest). terms
-- holds the body's words as message search sees them (lower case, no
-- diacritics, JSON bodies by keys and values; see server/store/textsearch),
-- space-separated and space-padded, under a token bloom filter index.
-- refreshed_at is bumped when a body still in use is a day old, and the
-- TTL counts from a day after it, so that it never drops a body a stored
-- span refers to (version 16 added that day).
CREATE TABLE IF NOT EXISTS {{local "message_content"}}{{on}}
(
    project_id LowCardinality(String),
    digest String,
    content String CODEC(ZSTD(3)),
    terms String CODEC(ZSTD(3)),
    refreshed_at DateTime64(3, 'UTC'),
    INDEX idx_terms terms TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 1
)
ENGINE = {{engine "message_content" "ReplacingMergeTree" "refreshed_at"}}
ORDER BY (project_id, digest)
{{ttl "toDateTime(refreshed_at) + 86400"}}
{{settings "message_content"}};

{{distributed "message_content" "cityHash64(project_id, digest)"}};

-- message_occurrences: where each body was first said in each trace: one
-- row per (body, conversation, role, trace) naming the trace's first span
-- that says it (earliest start, then span_id), with that span's effective
-- agent. A search takes the earliest row of each (conversation, role,
-- body), so a history that every call of a conversation repeats costs one
-- row per trace, not one per call.
CREATE TABLE IF NOT EXISTS {{local "message_occurrences"}}{{on}}
(
    project_id LowCardinality(String),
    digest String,
    conv_key String,
    role LowCardinality(String),
    trace_id String,
    span_id String,
    eff_agent String,
    operation_name LowCardinality(String),
    started_at DateTime64(9, 'UTC'),
    version UInt64,
    is_deleted UInt8,
    INDEX idx_conv_key conv_key TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = {{engine "message_occurrences" "ReplacingMergeTree" "version, is_deleted"}}
ORDER BY (project_id, digest, conv_key, role, trace_id)
{{ttl "toDateTime(started_at)"}}
{{settings "message_occurrences"}};

{{distributed "message_occurrences" "cityHash64(project_id, trace_id)"}};

-- pending_events: OTLP log records that arrived before their span, taken
-- (is_deleted) when the span is stored; dropped after the configured age.
CREATE TABLE IF NOT EXISTS {{local "pending_events"}}{{on}}
(
    project_id LowCardinality(String),
    trace_id String,
    span_id String,
    seq UInt64,
    events String,
    created_at DateTime64(3, 'UTC'),
    version UInt64,
    is_deleted UInt8
)
ENGINE = {{engine "pending_events" "ReplacingMergeTree" "version, is_deleted"}}
ORDER BY (project_id, trace_id, span_id, seq)
TTL toDateTime(created_at) + INTERVAL {{.PendingTTLSeconds}} SECOND;

{{distributed "pending_events" "cityHash64(project_id, trace_id)"}};

-- annotations: feedback on spans, turns and conversations.
CREATE TABLE IF NOT EXISTS {{local "annotations"}}{{on}}
(
    project_id LowCardinality(String),
    id String,
    ref String,
    kind String,
    value String,
    author String,
    created_at DateTime64(9, 'UTC'),
    updated_at DateTime64(9, 'UTC'),
    version UInt64,
    is_deleted UInt8
)
ENGINE = {{engine "annotations" "ReplacingMergeTree" "version, is_deleted"}}
ORDER BY (project_id, id);

{{distributed "annotations" "cityHash64(project_id, id)"}};
