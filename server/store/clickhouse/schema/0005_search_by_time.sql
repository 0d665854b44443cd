-- weave schema, version 5: message search newest first without reading
-- every match.
--
-- message_occurrences_by_time: every occurrence row the writer stores
-- (not its tombstones), sorted by start, fed by a materialized view. A
-- search for a word that many bodies contain reads it newest first and
-- stops after a few hundred matching rows: the groups whose first
-- occurrence is newer than the last row read are all among them, and are
-- then computed exactly from message_occurrences (search.go). A row of an
-- occurrence since replaced stays here: it only makes a candidate too
-- many.
CREATE TABLE IF NOT EXISTS {{local "message_occurrences_by_time"}}{{on}}
(
    project_id LowCardinality(String),
    started_at DateTime64(9, 'UTC'),
    digest String,
    conv_key String,
    role LowCardinality(String)
)
ENGINE = {{engine "message_occurrences_by_time" "MergeTree" ""}}
PARTITION BY toYYYYMM(started_at)
ORDER BY (project_id, started_at)
{{ttl "toDateTime(started_at)"}};

{{distributed "message_occurrences_by_time" "rand()"}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{local "message_occurrences_by_time_mv"}}{{on}} TO {{local "message_occurrences_by_time"}} AS
SELECT project_id, started_at, digest, conv_key, role
FROM {{local "message_occurrences"}}
WHERE is_deleted = 0;

-- The occurrences stored before this version (run again after an
-- interruption, it adds rows twice: harmless, as above). Each node copies
-- its own rows; in a replicated cluster, through the Distributed tables.
{{if .Replicated}}INSERT INTO {{table "message_occurrences_by_time"}} SELECT project_id, started_at, digest, conv_key, role FROM {{table "message_occurrences"}} FINAL WHERE is_deleted = 0;
{{else}}INSERT INTO {{local "message_occurrences_by_time"}} SELECT project_id, started_at, digest, conv_key, role FROM {{local "message_occurrences"}} FINAL WHERE is_deleted = 0;
{{end}}
