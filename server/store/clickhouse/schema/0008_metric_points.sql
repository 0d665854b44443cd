-- weave schema, version 8: OTLP metric data points (store.MetricStore), one
-- row per model.MetricPoint, replaced by (project, name, series, time): the
-- newest write (version) wins, reads use FINAL. v, n, v_min and v_max are
-- what a point adds to a bucket (model.MetricPoint); queries read only
-- them. start_ns 0: none. Retention (--retention-days) drops old points
-- by their time.
CREATE TABLE IF NOT EXISTS {{local "metric_points"}}{{on}}
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
ENGINE = {{engine "metric_points" "ReplacingMergeTree" "version"}}
ORDER BY (project_id, name, series_id, time_ns)
{{ttl "toDateTime(intDiv(time_ns, 1000000000))"}};

{{distributed "metric_points" "cityHash64(project_id, series_id)"}};
