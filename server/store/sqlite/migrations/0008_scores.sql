-- Schema version 8: scores (store.Annotation of kind "score"). A score
-- keeps its name, data type, bounds, the trace of a span ref's span, and
-- what aggregates read: score (a number, 1 / 0 for a boolean, NULL for a
-- category) and label (the category).
ALTER TABLE annotations ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE annotations ADD COLUMN data_type TEXT NOT NULL DEFAULT '';
ALTER TABLE annotations ADD COLUMN min REAL;
ALTER TABLE annotations ADD COLUMN max REAL;
ALTER TABLE annotations ADD COLUMN trace_id TEXT NOT NULL DEFAULT '';
ALTER TABLE annotations ADD COLUMN score REAL;
ALTER TABLE annotations ADD COLUMN label TEXT NOT NULL DEFAULT '';
CREATE INDEX annotations_kind ON annotations (project_id, kind);
