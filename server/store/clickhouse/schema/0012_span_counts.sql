-- weave schema, version 12: span counts without reading every span.
--
-- span_counts: per project, day, operation and status, the signed number
-- of spans that start that day, fed by a materialized view on span_state
-- like the other rollups (a cancel row subtracts its span). The spans
-- page's total (as it opens, or filtered on operation_name and
-- status_code only) adds the whole days of its range here and counts
-- only the partial days at its ends from spans (read.go, spanCountSQL):
-- a few thousand rows a project-year instead of every span.
CREATE TABLE IF NOT EXISTS {{local "span_counts"}}{{on}}
(
    project_id LowCardinality(String),
    day Int32,
    operation_name LowCardinality(String),
    status_code LowCardinality(String),
    span_count SimpleAggregateFunction(sum, Int64)
)
ENGINE = {{engine "span_counts" "AggregatingMergeTree" ""}}
ORDER BY (project_id, day, operation_name, status_code)
{{ttl "toDateTime((toInt64(day) + 1) * 86400)"}};

{{distributed "span_counts" "rand()"}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{local "span_counts_mv"}}{{on}} TO {{local "span_counts"}} AS
SELECT project_id, day, operation_name, status_code, toInt64(sign) AS span_count
FROM {{local "span_state"}};

-- The spans stored before this version are counted by the version's Go
-- step (counts.go, reconcile): it adds to each row the difference between
-- span_state and what the view has counted so far, so that a run
-- interrupted after it, run again, or run by two servers at once, counts
-- every state once.
