-- weave schema, version 10: the conversations list without grouping every
-- trace of the project.
--
-- conversations: per conversation and day, the signed number of spans and
-- the latest activity (a span's end, or its start while it runs or when
-- its end is not after it), fed by a materialized view on span_state like
-- the agent rollups: a cancel row subtracts its span and adds a neutral
-- activity. A conversation exists while its span count is positive; its
-- latest activity here is an upper bound of the exact one (a maximum is
-- not retracted when a span leaves or moves). The conversations page as
-- it opens (newest first) takes its candidates and the total from here and
-- computes the page's figures exactly from conv_traces (conversations.go).
-- A row expires at the end of its day plus the retention, once every span
-- it counts has (a day's span expires by its start): until then the page
-- meets a conversation whose spans are gone as a candidate without
-- figures, which it leaves out (the total counts it, for under a day).
CREATE TABLE IF NOT EXISTS {{local "conversations"}}{{on}}
(
    project_id LowCardinality(String),
    conv_key String,
    day Int32,
    span_count SimpleAggregateFunction(sum, Int64),
    last_ns SimpleAggregateFunction(max, Int64)
)
ENGINE = {{engine "conversations" "AggregatingMergeTree" ""}}
ORDER BY (project_id, conv_key, day)
{{ttl "toDateTime((toInt64(day) + 1) * 86400)"}};

{{distributed "conversations" "rand()"}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{local "conversations_mv"}}{{on}} TO {{local "conversations"}} AS
SELECT
    project_id,
    conv_key,
    day,
    toInt64(sign) AS span_count,
    if(sign > 0, greatest(toUnixTimestamp64Nano(started_at), ifNull(toUnixTimestamp64Nano(ended_at), 0)), toInt64(-9223372036854775807)) AS last_ns
FROM {{local "span_state"}};

-- The spans stored before this version are counted by the version's Go
-- step (counts.go, reconcile), as for span_counts (0012): every state
-- once, however often the step runs.
