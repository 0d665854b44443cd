// Package sqlite is weave-server's embedded store: one SQLite database file
// (pure Go, modernc.org/sqlite, no cgo) in WAL mode, with FTS5 message
// search in a second file beside it, implementing store.Store.
//
// Layout (README.md beside this file has the details and the trade-offs):
//   - spans holds one row of scalar columns per span; the heavy columns
//     live in its details blob as references into content-addressed tables
//     (texts, pages), so a message body repeated by every call of a
//     conversation is stored once and the input history of successive
//     calls shares its pages.
//   - raw_span keeps its long strings (the history content-capturing
//     instrumentations repeat in every call) as content-defined chunks,
//     stored once and spliced back on read.
//   - Rollups (agent_versions, agent_minutes, conversations and their
//     per-trace/agent/model counts) are maintained incrementally in the
//     same transaction as the spans: each write loads the touched traces,
//     recomputes the derived columns of their spans (effective agent,
//     conversation, whether usage counts), and applies the difference
//     between the old and the new contribution of every span that changed.
//   - Search (msg_groups and the FTS5 index) lives in a second file,
//     <path>-search: each write logs its span changes in search_log, and an
//     indexer applies the log on its own connection, in the background and
//     before every search, so searches see every returned write.
//   - One writer connection behind a mutex, a pool of read-only
//     connections; a lock file keeps a second process off the database.
package sqlite
