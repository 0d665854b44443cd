// Package clickhouse is weave-server's scale-out store: store.Store on
// ClickHouse (a single node or a cluster) through clickhouse-go/v2.
//
// Layout (README.md beside this file has the schema, sizing, retention and
// cluster notes):
//   - spans holds the canonical rows, a ReplacingMergeTree partitioned by
//     month and ordered by (project_id, started_at, span_id, trace_id); its
//     version column encodes the upsert rule ("a finished span beats an
//     in-progress copy, else the newest write wins") so that background
//     merges and FINAL reads keep the right copy. A span whose started_at
//     changed is removed from its old sort key with an is_deleted row.
//   - span_state is the narrow per-span state the derived figures need
//     (effective agent and conversation, whether usage counts), a
//     VersionedCollapsingMergeTree: every change is written as a cancel row
//     for the old state and a row for the new one, in one insert, so the
//     materialized views that feed the agents, agent_versions and
//     agent_minutes rollups (AggregatingMergeTree) add exactly the
//     difference and never count a re-sent span twice.
//   - conv_traces holds one row per (conversation, trace) with the trace's
//     figures, replaced as the trace changes; the conversations list is
//     one grouped read of it.
//   - message_content stores each message body once per (project, digest)
//     with a token bloom index over its normalized words;
//     message_occurrences records where each body was said.
//
// Writes go through one batching writer per Store: WriteSpans validates,
// queues its spans (a bounded queue; callers wait when it is full) and
// returns once the insert batch holding them has been written. The writer
// reads the current state of the touched traces, applies the upsert rule,
// recomputes the traces' derived columns and writes every table; it never
// inserts one span at a time.
package clickhouse
