-- Schema version 9: OTLP metric data points (store.MetricStore, one row
-- per model.MetricPoint), upserted by (project, series, time). attrs and
-- resource are JSON objects of strings; bounds and bucket_counts JSON
-- arrays ('' when not a histogram). v, n, v_min and v_max are what a
-- point adds to a bucket (model.MetricPoint); queries read only them.
CREATE TABLE IF NOT EXISTS metric_points (
    project_id    TEXT NOT NULL,
    series_id     TEXT NOT NULL,
    time_ns       INTEGER NOT NULL,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    unit          TEXT NOT NULL,
    description   TEXT NOT NULL,
    monotonic     INTEGER NOT NULL,
    cumulative    INTEGER NOT NULL,
    start_ns      INTEGER NOT NULL, -- 0: none
    attrs         TEXT NOT NULL,
    resource      TEXT NOT NULL,
    value         REAL NOT NULL,
    count         INTEGER NOT NULL,
    sum           REAL NOT NULL,
    bounds        TEXT NOT NULL,
    bucket_counts TEXT NOT NULL,
    v             REAL NOT NULL,
    n             REAL NOT NULL,
    v_min         REAL NOT NULL,
    v_max         REAL NOT NULL,
    PRIMARY KEY (project_id, series_id, time_ns)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS metric_points_by_name ON metric_points (project_id, name, time_ns);
