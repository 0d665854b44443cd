-- weave schema, version 4: cost (store.Usage). spans keep the cache
-- writes split by lifetime, the call's cost in whole nano-dollars (NULL:
-- none) and where it came from; span_state the cost; conv_traces the cost
-- of a trace's counted spans in each conversation and how many of them
-- reported tokens without a cost (unpriced). The agents' cost figures
-- live in tables of their own fed by materialized views on span_state,
-- beside the agent rollups (the same signed sums). Rows written before
-- this version carry no cost: conversations count their spans with tokens
-- as unpriced once the trace is written again; the agents' tables start
-- empty. (The views name span_state's columns through the alias st where
-- an output column of the same name would otherwise stand for them.)
{{addColumns "spans" "cache_creation_5m_input_tokens Nullable(Int64)" "cache_creation_1h_input_tokens Nullable(Int64)" "cost_nanos Nullable(Int64)" "cost_source LowCardinality(String) DEFAULT ''"}};

{{addColumns "span_state" "cost_nanos Nullable(Int64)"}};

{{addColumns "conv_traces" "cost_nanos Int64 DEFAULT 0" "unpriced Int64 DEFAULT 0"}};

-- Cost of the effective agents by version and day (QueryAgents,
-- AgentVersions) and by minute (AgentMetrics).
CREATE TABLE IF NOT EXISTS {{local "agent_costs"}}{{on}}
(
    project_id LowCardinality(String),
    agent_name String,
    agent_version String,
    day Int32,
    cost_nanos SimpleAggregateFunction(sum, Int64),
    unpriced SimpleAggregateFunction(sum, Int64)
)
ENGINE = {{engine "agent_costs" "AggregatingMergeTree" ""}}
ORDER BY (project_id, agent_name, agent_version, day)
{{ttl "toDateTime((toInt64(day) + 1) * 86400)"}};

{{distributed "agent_costs" "rand()"}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{local "agent_costs_mv"}}{{on}} TO {{local "agent_costs"}} AS
SELECT
    project_id,
    eff_agent AS agent_name,
    eff_version AS agent_version,
    day,
    toInt64(sign * counted * ifNull(cost_nanos, 0)) AS cost_nanos,
    toInt64(sign * counted * (isNull(st.cost_nanos) AND (isNotNull(st.input_tokens) OR isNotNull(st.output_tokens)
        OR isNotNull(st.cache_read_input_tokens) OR isNotNull(st.cache_creation_input_tokens) OR isNotNull(st.reasoning_tokens)))) AS unpriced
FROM {{local "span_state"}} AS st
WHERE eff_agent != '';

CREATE TABLE IF NOT EXISTS {{local "agent_minute_costs"}}{{on}}
(
    project_id LowCardinality(String),
    agent_name String,
    minute Int64,
    cost_nanos SimpleAggregateFunction(sum, Int64),
    unpriced SimpleAggregateFunction(sum, Int64)
)
ENGINE = {{engine "agent_minute_costs" "AggregatingMergeTree" ""}}
ORDER BY (project_id, agent_name, minute)
{{ttl "toDateTime((minute + 1) * 60)"}};

{{distributed "agent_minute_costs" "rand()"}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{local "agent_minute_costs_mv"}}{{on}} TO {{local "agent_minute_costs"}} AS
SELECT
    project_id,
    eff_agent AS agent_name,
    minute,
    toInt64(sign * counted * ifNull(cost_nanos, 0)) AS cost_nanos,
    toInt64(sign * counted * (isNull(st.cost_nanos) AND (isNotNull(st.input_tokens) OR isNotNull(st.output_tokens)
        OR isNotNull(st.cache_read_input_tokens) OR isNotNull(st.cache_creation_input_tokens) OR isNotNull(st.reasoning_tokens)))) AS unpriced
FROM {{local "span_state"}} AS st
WHERE eff_agent != '';
