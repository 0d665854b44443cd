CREATE DATABASE IF NOT EXISTS `weave` ON CLUSTER `weave_cluster`;

CREATE TABLE IF NOT EXISTS `weave`.`weave_migrations_local` ON CLUSTER `weave_cluster`
(
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/weave/weave_migrations_local', '{replica}', applied_at)
ORDER BY version;

CREATE TABLE IF NOT EXISTS `weave`.`weave_migrations` ON CLUSTER `weave_cluster` AS `weave`.`weave_migrations_local`
ENGINE = Distributed('weave_cluster', 'weave', 'weave_migrations_local', rand());

-- migration 1 init

CREATE TABLE IF NOT EXISTS `weave`.`spans_local` ON CLUSTER `weave_cluster`
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/weave/spans_local', '{replica}', version, is_deleted)
PARTITION BY toYYYYMM(started_at)
ORDER BY (project_id, started_at, span_id, trace_id)
TTL toDateTime(started_at) + INTERVAL 90 DAY
SETTINGS index_granularity = 8192, index_granularity_bytes = 1048576;

CREATE TABLE IF NOT EXISTS `weave`.`spans` ON CLUSTER `weave_cluster` AS `weave`.`spans_local`
ENGINE = Distributed('weave_cluster', 'weave', 'spans_local', cityHash64(project_id, trace_id));

CREATE TABLE IF NOT EXISTS `weave`.`span_state_local` ON CLUSTER `weave_cluster`
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
ENGINE = ReplicatedVersionedCollapsingMergeTree('/clickhouse/tables/{shard}/weave/span_state_local', '{replica}', sign, version)
PARTITION BY toYYYYMM(started_at)
ORDER BY (project_id, trace_id, span_id)
TTL toDateTime(started_at) + INTERVAL 90 DAY
SETTINGS index_granularity = 256;

CREATE TABLE IF NOT EXISTS `weave`.`span_state` ON CLUSTER `weave_cluster` AS `weave`.`span_state_local`
ENGINE = Distributed('weave_cluster', 'weave', 'span_state_local', cityHash64(project_id, trace_id));

CREATE TABLE IF NOT EXISTS `weave`.`agents_local` ON CLUSTER `weave_cluster`
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
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/weave/agents_local', '{replica}')
ORDER BY (project_id, agent_name, day)
TTL toDateTime(toInt64(day) * 86400) + INTERVAL 90 DAY;

CREATE TABLE IF NOT EXISTS `weave`.`agents` ON CLUSTER `weave_cluster` AS `weave`.`agents_local`
ENGINE = Distributed('weave_cluster', 'weave', 'agents_local', rand());

CREATE MATERIALIZED VIEW IF NOT EXISTS `weave`.`agents_mv_local` ON CLUSTER `weave_cluster` TO `weave`.`agents_local` AS
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
FROM `weave`.`span_state_local`
WHERE eff_agent != '';

CREATE TABLE IF NOT EXISTS `weave`.`agent_versions_local` ON CLUSTER `weave_cluster`
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
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/weave/agent_versions_local', '{replica}')
ORDER BY (project_id, agent_name, agent_version, day)
TTL toDateTime((toInt64(day) + 1) * 86400) + INTERVAL 90 DAY;

CREATE TABLE IF NOT EXISTS `weave`.`agent_versions` ON CLUSTER `weave_cluster` AS `weave`.`agent_versions_local`
ENGINE = Distributed('weave_cluster', 'weave', 'agent_versions_local', rand());

CREATE MATERIALIZED VIEW IF NOT EXISTS `weave`.`agent_versions_mv_local` ON CLUSTER `weave_cluster` TO `weave`.`agent_versions_local` AS
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
FROM `weave`.`span_state_local`
WHERE eff_agent != '';

CREATE TABLE IF NOT EXISTS `weave`.`agent_minutes_local` ON CLUSTER `weave_cluster`
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
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/weave/agent_minutes_local', '{replica}')
ORDER BY (project_id, agent_name, minute)
TTL toDateTime((minute + 1) * 60) + INTERVAL 90 DAY;

CREATE TABLE IF NOT EXISTS `weave`.`agent_minutes` ON CLUSTER `weave_cluster` AS `weave`.`agent_minutes_local`
ENGINE = Distributed('weave_cluster', 'weave', 'agent_minutes_local', rand());

CREATE MATERIALIZED VIEW IF NOT EXISTS `weave`.`agent_minutes_mv_local` ON CLUSTER `weave_cluster` TO `weave`.`agent_minutes_local` AS
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
FROM `weave`.`span_state_local`
WHERE eff_agent != '';

CREATE TABLE IF NOT EXISTS `weave`.`conv_traces_local` ON CLUSTER `weave_cluster`
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/weave/conv_traces_local', '{replica}', version, is_deleted)
ORDER BY (project_id, conv_key, trace_id)
TTL toDateTime(last_at) + INTERVAL 90 DAY
SETTINGS index_granularity = 256;

CREATE TABLE IF NOT EXISTS `weave`.`conv_traces` ON CLUSTER `weave_cluster` AS `weave`.`conv_traces_local`
ENGINE = Distributed('weave_cluster', 'weave', 'conv_traces_local', cityHash64(project_id, trace_id));

CREATE TABLE IF NOT EXISTS `weave`.`message_content_local` ON CLUSTER `weave_cluster`
(
    project_id LowCardinality(String),
    digest String,
    content String CODEC(ZSTD(3)),
    terms String CODEC(ZSTD(3)),
    refreshed_at DateTime64(3, 'UTC'),
    INDEX idx_terms terms TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 1
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/weave/message_content_local', '{replica}', refreshed_at)
ORDER BY (project_id, digest)
TTL toDateTime(refreshed_at) + 86400 + INTERVAL 90 DAY
SETTINGS index_granularity = 256;

CREATE TABLE IF NOT EXISTS `weave`.`message_content` ON CLUSTER `weave_cluster` AS `weave`.`message_content_local`
ENGINE = Distributed('weave_cluster', 'weave', 'message_content_local', cityHash64(project_id, digest));

CREATE TABLE IF NOT EXISTS `weave`.`message_occurrences_local` ON CLUSTER `weave_cluster`
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/weave/message_occurrences_local', '{replica}', version, is_deleted)
ORDER BY (project_id, digest, conv_key, role, trace_id)
TTL toDateTime(started_at) + INTERVAL 90 DAY
SETTINGS index_granularity = 256;

CREATE TABLE IF NOT EXISTS `weave`.`message_occurrences` ON CLUSTER `weave_cluster` AS `weave`.`message_occurrences_local`
ENGINE = Distributed('weave_cluster', 'weave', 'message_occurrences_local', cityHash64(project_id, trace_id));

CREATE TABLE IF NOT EXISTS `weave`.`pending_events_local` ON CLUSTER `weave_cluster`
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/weave/pending_events_local', '{replica}', version, is_deleted)
ORDER BY (project_id, trace_id, span_id, seq)
TTL toDateTime(created_at) + INTERVAL 86400 SECOND;

CREATE TABLE IF NOT EXISTS `weave`.`pending_events` ON CLUSTER `weave_cluster` AS `weave`.`pending_events_local`
ENGINE = Distributed('weave_cluster', 'weave', 'pending_events_local', cityHash64(project_id, trace_id));

CREATE TABLE IF NOT EXISTS `weave`.`annotations_local` ON CLUSTER `weave_cluster`
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/weave/annotations_local', '{replica}', version, is_deleted)
ORDER BY (project_id, id);

CREATE TABLE IF NOT EXISTS `weave`.`annotations` ON CLUSTER `weave_cluster` AS `weave`.`annotations_local`
ENGINE = Distributed('weave_cluster', 'weave', 'annotations_local', cityHash64(project_id, id));

-- migration 2 turns

ALTER TABLE `weave`.`span_state_local` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS is_turn UInt8 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS turn_root UInt8 DEFAULT 0;

ALTER TABLE `weave`.`span_state` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS is_turn UInt8 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS turn_root UInt8 DEFAULT 0;

ALTER TABLE `weave`.`conv_traces_local` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS turn_spans Int64 DEFAULT 0;

ALTER TABLE `weave`.`conv_traces` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS turn_spans Int64 DEFAULT 0;

-- migration 3 mapping_columns

ALTER TABLE `weave`.`spans_local` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS total_tokens Nullable(Int64) DEFAULT if(isNull(input_tokens) AND isNull(output_tokens), NULL, ifNull(input_tokens, 0) + ifNull(output_tokens, 0)),
    ADD COLUMN IF NOT EXISTS display_name String DEFAULT '',
    ADD COLUMN IF NOT EXISTS wb_run_id String DEFAULT '',
    ADD COLUMN IF NOT EXISTS wb_run_step Nullable(Int64),
    ADD COLUMN IF NOT EXISTS model_parameters String DEFAULT '' CODEC(ZSTD(3));

ALTER TABLE `weave`.`spans` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS total_tokens Nullable(Int64) DEFAULT if(isNull(input_tokens) AND isNull(output_tokens), NULL, ifNull(input_tokens, 0) + ifNull(output_tokens, 0)),
    ADD COLUMN IF NOT EXISTS display_name String DEFAULT '',
    ADD COLUMN IF NOT EXISTS wb_run_id String DEFAULT '',
    ADD COLUMN IF NOT EXISTS wb_run_step Nullable(Int64),
    ADD COLUMN IF NOT EXISTS model_parameters String DEFAULT '' CODEC(ZSTD(3));

-- migration 4 cheaper_writes

ALTER TABLE `weave`.`spans_local` ON CLUSTER `weave_cluster`
    MODIFY COLUMN input_messages CODEC(ZSTD(1)),
    MODIFY COLUMN output_messages CODEC(ZSTD(1)),
    MODIFY COLUMN system_instructions CODEC(ZSTD(1)),
    MODIFY COLUMN tool_call_arguments CODEC(ZSTD(1)),
    MODIFY COLUMN tool_call_result CODEC(ZSTD(1)),
    MODIFY COLUMN compaction_summary CODEC(ZSTD(1)),
    MODIFY COLUMN resource_attrs CODEC(ZSTD(1)),
    MODIFY COLUMN events CODEC(ZSTD(1)),
    MODIFY COLUMN raw_span CODEC(ZSTD(1));

ALTER TABLE `weave`.`message_content_local` ON CLUSTER `weave_cluster`
    MODIFY COLUMN content CODEC(ZSTD(1)),
    MODIFY COLUMN terms CODEC(ZSTD(1));

DROP VIEW IF EXISTS `weave`.`agents_mv_local` ON CLUSTER `weave_cluster`;

DROP TABLE IF EXISTS `weave`.`agents` ON CLUSTER `weave_cluster`;

DROP TABLE IF EXISTS `weave`.`agents_local` ON CLUSTER `weave_cluster`;

-- migration 5 search_by_time

CREATE TABLE IF NOT EXISTS `weave`.`message_occurrences_by_time_local` ON CLUSTER `weave_cluster`
(
    project_id LowCardinality(String),
    started_at DateTime64(9, 'UTC'),
    digest String,
    conv_key String,
    role LowCardinality(String)
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/weave/message_occurrences_by_time_local', '{replica}')
PARTITION BY toYYYYMM(started_at)
ORDER BY (project_id, started_at)
TTL toDateTime(started_at) + INTERVAL 90 DAY;

CREATE TABLE IF NOT EXISTS `weave`.`message_occurrences_by_time` ON CLUSTER `weave_cluster` AS `weave`.`message_occurrences_by_time_local`
ENGINE = Distributed('weave_cluster', 'weave', 'message_occurrences_by_time_local', rand());

CREATE MATERIALIZED VIEW IF NOT EXISTS `weave`.`message_occurrences_by_time_mv_local` ON CLUSTER `weave_cluster` TO `weave`.`message_occurrences_by_time_local` AS
SELECT project_id, started_at, digest, conv_key, role
FROM `weave`.`message_occurrences_local`
WHERE is_deleted = 0;

INSERT INTO `weave`.`message_occurrences_by_time` SELECT project_id, started_at, digest, conv_key, role FROM `weave`.`message_occurrences` FINAL WHERE is_deleted = 0;

-- migration 6 cost

ALTER TABLE `weave`.`spans_local` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS cache_creation_5m_input_tokens Nullable(Int64),
    ADD COLUMN IF NOT EXISTS cache_creation_1h_input_tokens Nullable(Int64),
    ADD COLUMN IF NOT EXISTS cost_nanos Nullable(Int64),
    ADD COLUMN IF NOT EXISTS cost_source LowCardinality(String) DEFAULT '';

ALTER TABLE `weave`.`spans` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS cache_creation_5m_input_tokens Nullable(Int64),
    ADD COLUMN IF NOT EXISTS cache_creation_1h_input_tokens Nullable(Int64),
    ADD COLUMN IF NOT EXISTS cost_nanos Nullable(Int64),
    ADD COLUMN IF NOT EXISTS cost_source LowCardinality(String) DEFAULT '';

ALTER TABLE `weave`.`span_state_local` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS cost_nanos Nullable(Int64);

ALTER TABLE `weave`.`span_state` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS cost_nanos Nullable(Int64);

ALTER TABLE `weave`.`conv_traces_local` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS cost_nanos Int64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS unpriced Int64 DEFAULT 0;

ALTER TABLE `weave`.`conv_traces` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS cost_nanos Int64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS unpriced Int64 DEFAULT 0;

CREATE TABLE IF NOT EXISTS `weave`.`agent_costs_local` ON CLUSTER `weave_cluster`
(
    project_id LowCardinality(String),
    agent_name String,
    agent_version String,
    day Int32,
    cost_nanos SimpleAggregateFunction(sum, Int64),
    unpriced SimpleAggregateFunction(sum, Int64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/weave/agent_costs_local', '{replica}')
ORDER BY (project_id, agent_name, agent_version, day)
TTL toDateTime((toInt64(day) + 1) * 86400) + INTERVAL 90 DAY;

CREATE TABLE IF NOT EXISTS `weave`.`agent_costs` ON CLUSTER `weave_cluster` AS `weave`.`agent_costs_local`
ENGINE = Distributed('weave_cluster', 'weave', 'agent_costs_local', rand());

CREATE MATERIALIZED VIEW IF NOT EXISTS `weave`.`agent_costs_mv_local` ON CLUSTER `weave_cluster` TO `weave`.`agent_costs_local` AS
SELECT
    project_id,
    eff_agent AS agent_name,
    eff_version AS agent_version,
    day,
    toInt64(sign * counted * ifNull(cost_nanos, 0)) AS cost_nanos,
    toInt64(sign * counted * (isNull(st.cost_nanos) AND (isNotNull(st.input_tokens) OR isNotNull(st.output_tokens)
        OR isNotNull(st.cache_read_input_tokens) OR isNotNull(st.cache_creation_input_tokens) OR isNotNull(st.reasoning_tokens)))) AS unpriced
FROM `weave`.`span_state_local` AS st
WHERE eff_agent != '';

CREATE TABLE IF NOT EXISTS `weave`.`agent_minute_costs_local` ON CLUSTER `weave_cluster`
(
    project_id LowCardinality(String),
    agent_name String,
    minute Int64,
    cost_nanos SimpleAggregateFunction(sum, Int64),
    unpriced SimpleAggregateFunction(sum, Int64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/weave/agent_minute_costs_local', '{replica}')
ORDER BY (project_id, agent_name, minute)
TTL toDateTime((minute + 1) * 60) + INTERVAL 90 DAY;

CREATE TABLE IF NOT EXISTS `weave`.`agent_minute_costs` ON CLUSTER `weave_cluster` AS `weave`.`agent_minute_costs_local`
ENGINE = Distributed('weave_cluster', 'weave', 'agent_minute_costs_local', rand());

CREATE MATERIALIZED VIEW IF NOT EXISTS `weave`.`agent_minute_costs_mv_local` ON CLUSTER `weave_cluster` TO `weave`.`agent_minute_costs_local` AS
SELECT
    project_id,
    eff_agent AS agent_name,
    minute,
    toInt64(sign * counted * ifNull(cost_nanos, 0)) AS cost_nanos,
    toInt64(sign * counted * (isNull(st.cost_nanos) AND (isNotNull(st.input_tokens) OR isNotNull(st.output_tokens)
        OR isNotNull(st.cache_read_input_tokens) OR isNotNull(st.cache_creation_input_tokens) OR isNotNull(st.reasoning_tokens)))) AS unpriced
FROM `weave`.`span_state_local` AS st
WHERE eff_agent != '';

-- migration 7 scores

ALTER TABLE `weave`.`annotations_local` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS name String DEFAULT '',
    ADD COLUMN IF NOT EXISTS data_type LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS min Nullable(Float64),
    ADD COLUMN IF NOT EXISTS max Nullable(Float64),
    ADD COLUMN IF NOT EXISTS trace_id String DEFAULT '',
    ADD COLUMN IF NOT EXISTS score Nullable(Float64),
    ADD COLUMN IF NOT EXISTS label String DEFAULT '';

ALTER TABLE `weave`.`annotations` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS name String DEFAULT '',
    ADD COLUMN IF NOT EXISTS data_type LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS min Nullable(Float64),
    ADD COLUMN IF NOT EXISTS max Nullable(Float64),
    ADD COLUMN IF NOT EXISTS trace_id String DEFAULT '',
    ADD COLUMN IF NOT EXISTS score Nullable(Float64),
    ADD COLUMN IF NOT EXISTS label String DEFAULT '';

-- migration 8 metric_points

CREATE TABLE IF NOT EXISTS `weave`.`metric_points_local` ON CLUSTER `weave_cluster`
(
    project_id LowCardinality(String),
    name LowCardinality(String),
    series_id String,
    time_ns Int64,
    kind LowCardinality(String),
    unit String,
    description String,
    monotonic UInt8,
    cumulative UInt8,
    start_ns Int64,
    attrs Map(String, String),
    resource Map(String, String),
    value Float64,
    count UInt64,
    sum Float64,
    bounds Array(Float64),
    bucket_counts Array(UInt64),
    v Float64,
    n Float64,
    v_min Float64,
    v_max Float64,
    version UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/weave/metric_points_local', '{replica}', version)
ORDER BY (project_id, name, series_id, time_ns)
TTL toDateTime(intDiv(time_ns, 1000000000)) + INTERVAL 90 DAY;

CREATE TABLE IF NOT EXISTS `weave`.`metric_points` ON CLUSTER `weave_cluster` AS `weave`.`metric_points_local`
ENGINE = Distributed('weave_cluster', 'weave', 'metric_points_local', cityHash64(project_id, series_id));

-- migration 9 conversation_places

ALTER TABLE `weave`.`span_state_local` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS working_dir String DEFAULT '',
    ADD COLUMN IF NOT EXISTS git_branch String DEFAULT '';

ALTER TABLE `weave`.`span_state` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS working_dir String DEFAULT '',
    ADD COLUMN IF NOT EXISTS git_branch String DEFAULT '';

ALTER TABLE `weave`.`conv_traces_local` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS working_dir String DEFAULT '',
    ADD COLUMN IF NOT EXISTS git_branch String DEFAULT '',
    ADD COLUMN IF NOT EXISTS place_ns Int64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS place_span_id String DEFAULT '';

ALTER TABLE `weave`.`conv_traces` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS working_dir String DEFAULT '',
    ADD COLUMN IF NOT EXISTS git_branch String DEFAULT '',
    ADD COLUMN IF NOT EXISTS place_ns Int64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS place_span_id String DEFAULT '';

-- migration 10 conversations

CREATE TABLE IF NOT EXISTS `weave`.`conversations_local` ON CLUSTER `weave_cluster`
(
    project_id LowCardinality(String),
    conv_key String,
    day Int32,
    span_count SimpleAggregateFunction(sum, Int64),
    last_ns SimpleAggregateFunction(max, Int64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/weave/conversations_local', '{replica}')
ORDER BY (project_id, conv_key, day)
TTL toDateTime((toInt64(day) + 1) * 86400) + INTERVAL 90 DAY;

CREATE TABLE IF NOT EXISTS `weave`.`conversations` ON CLUSTER `weave_cluster` AS `weave`.`conversations_local`
ENGINE = Distributed('weave_cluster', 'weave', 'conversations_local', rand());

CREATE MATERIALIZED VIEW IF NOT EXISTS `weave`.`conversations_mv_local` ON CLUSTER `weave_cluster` TO `weave`.`conversations_local` AS
SELECT
    project_id,
    conv_key,
    day,
    toInt64(sign) AS span_count,
    if(sign > 0, greatest(toUnixTimestamp64Nano(started_at), ifNull(toUnixTimestamp64Nano(ended_at), 0)), toInt64(-9223372036854775807)) AS last_ns
FROM `weave`.`span_state_local`;

-- migration 12 span_counts

CREATE TABLE IF NOT EXISTS `weave`.`span_counts_local` ON CLUSTER `weave_cluster`
(
    project_id LowCardinality(String),
    day Int32,
    operation_name LowCardinality(String),
    status_code LowCardinality(String),
    span_count SimpleAggregateFunction(sum, Int64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/weave/span_counts_local', '{replica}')
ORDER BY (project_id, day, operation_name, status_code)
TTL toDateTime((toInt64(day) + 1) * 86400) + INTERVAL 90 DAY;

CREATE TABLE IF NOT EXISTS `weave`.`span_counts` ON CLUSTER `weave_cluster` AS `weave`.`span_counts_local`
ENGINE = Distributed('weave_cluster', 'weave', 'span_counts_local', rand());

CREATE MATERIALIZED VIEW IF NOT EXISTS `weave`.`span_counts_mv_local` ON CLUSTER `weave_cluster` TO `weave`.`span_counts_local` AS
SELECT project_id, day, operation_name, status_code, toInt64(sign) AS span_count
FROM `weave`.`span_state_local`;

-- migration 13 chat_row

ALTER TABLE `weave`.`spans_local` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS chat_row String DEFAULT formatRow('RowBinary', parent_span_id, span_name, ended_at, status_code, status_message, operation_name, provider_name, agent_name, agent_id, agent_version, conversation_id, request_model, response_model, input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens, reasoning_tokens, finish_reasons, tool_name, tool_type, tool_call_id, error_type, compaction_summary, compaction_items_before, compaction_items_after, is_turn, custom_attrs_string, custom_attrs_int, cost_nanos) CODEC(ZSTD(1));

ALTER TABLE `weave`.`spans` ON CLUSTER `weave_cluster`
    ADD COLUMN IF NOT EXISTS chat_row String DEFAULT formatRow('RowBinary', parent_span_id, span_name, ended_at, status_code, status_message, operation_name, provider_name, agent_name, agent_id, agent_version, conversation_id, request_model, response_model, input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens, reasoning_tokens, finish_reasons, tool_name, tool_type, tool_call_id, error_type, compaction_summary, compaction_items_before, compaction_items_after, is_turn, custom_attrs_string, custom_attrs_int, cost_nanos) CODEC(ZSTD(1));

ALTER TABLE `weave`.`spans_local` ON CLUSTER `weave_cluster` MATERIALIZE COLUMN chat_row;

-- migration 16 ttl_ends

