-- weave schema, version 4: what each insert and merge costs.
--
-- ZSTD(1) instead of ZSTD(3) on the large text columns: as small on disk
-- within a few percent for this data, and about a fifth less CPU for every
-- insert and every merge that rewrites them (README, Sizing). A codec
-- change is metadata only: parts written from now on, and parts merged,
-- use it.
ALTER TABLE {{local "spans"}}{{on}}
    MODIFY COLUMN input_messages CODEC(ZSTD(1)),
    MODIFY COLUMN output_messages CODEC(ZSTD(1)),
    MODIFY COLUMN system_instructions CODEC(ZSTD(1)),
    MODIFY COLUMN tool_call_arguments CODEC(ZSTD(1)),
    MODIFY COLUMN tool_call_result CODEC(ZSTD(1)),
    MODIFY COLUMN compaction_summary CODEC(ZSTD(1)),
    MODIFY COLUMN resource_attrs CODEC(ZSTD(1)),
    MODIFY COLUMN events CODEC(ZSTD(1)),
    MODIFY COLUMN raw_span CODEC(ZSTD(1));

ALTER TABLE {{local "message_content"}}{{on}}
    MODIFY COLUMN content CODEC(ZSTD(1)),
    MODIFY COLUMN terms CODEC(ZSTD(1));

-- The agents rollup is the agent_versions rollup summed over versions:
-- one materialized view and one part per flush fewer. Its rows carried
-- nothing agent_versions does not (a span that leaves its agent also
-- leaves its version group, so the stale flags agree).
DROP VIEW IF EXISTS {{local "agents_mv"}}{{on}};
{{if .Cluster}}DROP TABLE IF EXISTS {{table "agents"}}{{on}};{{end}}
DROP TABLE IF EXISTS {{local "agents"}}{{on}};
