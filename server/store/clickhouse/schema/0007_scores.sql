-- weave schema, version 5: scores (store.Annotation of kind "score"). A
-- score keeps its name, data type, bounds, the trace of a span ref's span,
-- and what aggregates read: score (a number, 1 / 0 for a boolean, NULL for
-- a category) and label (the category).
{{addColumns "annotations" "name String DEFAULT ''" "data_type LowCardinality(String) DEFAULT ''" "min Nullable(Float64)" "max Nullable(Float64)" "trace_id String DEFAULT ''" "score Nullable(Float64)" "label String DEFAULT ''"}};
