-- Schema version 5: turns (store package doc, turn rule). spans.turn_root
-- marks a turn span (is_turn, no is_turn ancestor); conv_traces counts them
-- per trace; a conversation keeps its trace count, its turn spans and the
-- traces holding one, and from them its turn and background counts.
ALTER TABLE spans ADD COLUMN turn_root INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conv_traces ADD COLUMN turn_spans INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN trace_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN turn_spans INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN turn_traces INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN background_count INTEGER NOT NULL DEFAULT 0;

-- Every is_turn span's strict ancestors (the walk stops at the span
-- itself, so a cycle through it ends; UNION ends any other cycle).
WITH RECURSIVE anc(pk, proj, trace_id, self, parent, span_id) AS (
    SELECT pk, proj, trace_id, span_id, parent_span_id, '' FROM spans WHERE is_turn = 1
    UNION
    SELECT a.pk, a.proj, a.trace_id, a.self, p.parent_span_id, p.span_id
    FROM anc a JOIN spans p ON p.proj = a.proj AND p.trace_id = a.trace_id AND p.span_id = a.parent
    WHERE a.parent != '' AND a.parent != a.self
)
UPDATE spans SET turn_root = 1 WHERE is_turn = 1 AND NOT EXISTS (
    SELECT 1 FROM anc a JOIN spans x ON x.proj = a.proj AND x.trace_id = a.trace_id AND x.span_id = a.span_id
    WHERE a.pk = spans.pk AND a.span_id != '' AND x.is_turn = 1);

UPDATE conv_traces SET turn_spans = (SELECT COUNT(*) FROM spans s
    WHERE s.conv_id = conv_traces.conv_id AND s.trace_id = conv_traces.trace_id AND s.turn_root = 1);
UPDATE conversations SET trace_count = turn_count,
    turn_spans = (SELECT COALESCE(SUM(t.turn_spans), 0) FROM conv_traces t WHERE t.conv_id = conversations.id),
    turn_traces = (SELECT COUNT(*) FROM conv_traces t WHERE t.conv_id = conversations.id AND t.turn_spans > 0);
UPDATE conversations SET
    turn_count = CASE WHEN turn_spans > 0 THEN turn_spans ELSE trace_count END,
    background_count = CASE WHEN turn_spans > 0 THEN trace_count - turn_traces ELSE 0 END;
