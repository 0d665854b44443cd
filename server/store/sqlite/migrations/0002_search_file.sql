-- Schema version 2: the search index moves to its own file (<db>-search,
-- see ../index.go), written by a background indexer from a log of the
-- span changes each write makes. The index of an existing database is
-- rebuilt there from the spans.
DROP TABLE msg_groups;
DROP TABLE groups_fts;

-- One row per write transaction that changed what search sees: n span
-- changes, encoded (searchlog.go). Rows the indexer has applied are
-- deleted by later writes. AUTOINCREMENT: a seq is never reused, so the
-- search file's position in the log stays meaningful.
CREATE TABLE search_log (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    n       INTEGER NOT NULL,
    changes BLOB NOT NULL
);

-- Store-wide values: id (a random id the search file records, so that a
-- search file of another database is never used), log_pruned (search_log
-- rows up to this seq were applied and deleted).
CREATE TABLE store_meta (
    k TEXT PRIMARY KEY,
    v ANY
) WITHOUT ROWID;
INSERT INTO store_meta (k, v) VALUES ('id', lower(hex(randomblob(16)))), ('log_pruned', 0);
