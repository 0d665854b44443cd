// Package sqlite is weave-server's embedded store: one SQLite database file
// (pure Go, modernc.org/sqlite, no cgo) in WAL mode with FTS5 message
// search, implementing store.Store.
//
// Layout (README.md beside this file has the details and the trade-offs):
//   - spans holds one row of scalar columns per span; the heavy columns
//     live in span_details as references into content-addressed tables
//     (texts, messages, pages), so a message body repeated by every call
//     of a conversation is stored once and the input history of successive
//     calls shares its pages.
//   - Rollups (agent_versions, agent_minutes, conversations and their
//     per-trace/agent/model counts, msg_groups for search) are maintained
//     incrementally in the same transaction as the spans: each write loads
//     the touched traces, recomputes the derived columns of their spans
//     (effective agent, conversation, whether usage counts), and applies
//     the difference between the old and the new contribution of every span
//     that changed.
//   - One writer connection behind a mutex, a pool of read-only
//     connections; a lock file keeps a second process off the database.
package sqlite
