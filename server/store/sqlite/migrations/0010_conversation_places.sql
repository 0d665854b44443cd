-- Schema version 10: where each conversation last ran (store package doc:
-- ConversationSummary.WorkingDir / GitBranch). spans.has_place marks a span
-- whose custom string attributes hold a non-empty weave.claude_code.cwd or
-- weave.claude_code.git_branch; a conversation keeps both values of its
-- latest-started such span (then greatest span_id) and which span that is
-- (place_pk 0: none). Spans stored before are read back from their
-- attribute sets.
ALTER TABLE spans ADD COLUMN has_place INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN working_dir TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN git_branch TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN place_pk INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN place_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN place_span TEXT NOT NULL DEFAULT '';

UPDATE spans SET has_place = 1 WHERE attrs_id IN (SELECT id FROM attrsets
    WHERE COALESCE(json_extract(attrs, '$.s."weave.claude_code.cwd"'), '') != ''
       OR COALESCE(json_extract(attrs, '$.s."weave.claude_code.git_branch"'), '') != '');

UPDATE conversations SET (working_dir, git_branch, place_pk, place_at, place_span) = (
    SELECT COALESCE(json_extract(a.attrs, '$.s."weave.claude_code.cwd"'), ''),
           COALESCE(json_extract(a.attrs, '$.s."weave.claude_code.git_branch"'), ''),
           s.pk, s.started_at, s.span_id
    FROM spans s JOIN attrsets a ON a.id = s.attrs_id
    WHERE s.conv_id = conversations.id AND s.has_place = 1
    ORDER BY s.started_at DESC, s.span_id DESC LIMIT 1)
WHERE EXISTS (SELECT 1 FROM spans s WHERE s.conv_id = conversations.id AND s.has_place = 1);
