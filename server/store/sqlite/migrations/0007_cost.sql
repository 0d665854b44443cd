-- Schema version 7: cost (store.Usage). spans keep the cache writes split
-- by lifetime, the call's cost in whole nano-dollars (NULL: none) and
-- where it came from; every rollup sums the cost of the spans whose usage
-- counts (cost_nanos) and counts those that reported tokens without a
-- cost (unpriced). Spans stored before this version have no cost; as
-- spans with tokens they count as unpriced.
ALTER TABLE spans ADD COLUMN cache_creation_5m_input_tokens INTEGER;
ALTER TABLE spans ADD COLUMN cache_creation_1h_input_tokens INTEGER;
ALTER TABLE spans ADD COLUMN cost_nanos INTEGER;
ALTER TABLE spans ADD COLUMN cost_source TEXT NOT NULL DEFAULT '';
ALTER TABLE agent_versions ADD COLUMN cost_nanos INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agent_versions ADD COLUMN unpriced INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agent_minutes ADD COLUMN cost_nanos INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agent_minutes ADD COLUMN unpriced INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agent_hours ADD COLUMN cost_nanos INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agent_hours ADD COLUMN unpriced INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN cost_nanos INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN unpriced INTEGER NOT NULL DEFAULT 0;

UPDATE agent_versions SET unpriced = (SELECT COUNT(*) FROM spans s WHERE s.proj = agent_versions.proj
    AND s.eff_agent = agent_versions.agent_name AND s.eff_version = agent_versions.agent_version AND s.counted = 1
    AND (s.input_tokens IS NOT NULL OR s.output_tokens IS NOT NULL OR s.cache_read_input_tokens IS NOT NULL
         OR s.cache_creation_input_tokens IS NOT NULL OR s.reasoning_tokens IS NOT NULL));
UPDATE agent_minutes SET unpriced = (SELECT COUNT(*) FROM spans s WHERE s.proj = agent_minutes.proj
    AND s.eff_agent = agent_minutes.agent_name AND s.eff_version = agent_minutes.agent_version AND s.counted = 1
    AND s.started_at >= agent_minutes.minute * 60000000000 AND s.started_at < (agent_minutes.minute + 1) * 60000000000
    AND (s.input_tokens IS NOT NULL OR s.output_tokens IS NOT NULL OR s.cache_read_input_tokens IS NOT NULL
         OR s.cache_creation_input_tokens IS NOT NULL OR s.reasoning_tokens IS NOT NULL));
UPDATE agent_hours SET unpriced = (SELECT COUNT(*) FROM spans s WHERE s.proj = agent_hours.proj
    AND s.eff_agent = agent_hours.agent_name AND s.eff_version = agent_hours.agent_version AND s.counted = 1
    AND s.started_at >= agent_hours.hour * 3600000000000 AND s.started_at < (agent_hours.hour + 1) * 3600000000000
    AND (s.input_tokens IS NOT NULL OR s.output_tokens IS NOT NULL OR s.cache_read_input_tokens IS NOT NULL
         OR s.cache_creation_input_tokens IS NOT NULL OR s.reasoning_tokens IS NOT NULL));
UPDATE conversations SET unpriced = (SELECT COUNT(*) FROM spans s WHERE s.conv_id = conversations.id AND s.counted = 1
    AND (s.input_tokens IS NOT NULL OR s.output_tokens IS NOT NULL OR s.cache_read_input_tokens IS NOT NULL
         OR s.cache_creation_input_tokens IS NOT NULL OR s.reasoning_tokens IS NOT NULL));
