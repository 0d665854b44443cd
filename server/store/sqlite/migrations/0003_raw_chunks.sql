-- Schema version 3: long strings of raw_span (the whole history that
-- content-capturing instrumentations repeat in every call) are stored as
-- content-defined chunks, once each (see ../raw.go); span details refer to
-- them, directly or through pages of chunk ids (in pages).
CREATE TABLE chunks (
    id     INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    data   BLOB NOT NULL
);
