// Package ingest serves OTLP/HTTP for weave-server: traces at
// /otel/v1/traces, /traces/otel/v1/traces, /otel/v1/genai/traces,
// /agents/otel/v1/traces and /v1/traces, logs at /otel/v1/logs,
// /traces/otel/v1/logs and /v1/logs, in application/x-protobuf or
// application/json, optionally gzip- or deflate-compressed.
//
// Before a body is kept, the API key in the headers is checked
// (Settings.Authenticate) and the request takes room in a memory budget
// (Config.MaxInFlightBytes; 503 with Retry-After when it stays full).
// The body is then scanned on the wire (scanProto, scanJSON), without
// decoding or recursion: the scan finds the request's resources, scopes and
// items and checks that no value nests deeper than MaxValueDepth. Items are
// decoded, normalized (server/normalize) and written with
// store.Writer.WriteSpans a chunk at a time (DefaultChunkItems,
// DefaultChunkBytes), re-encoded from byte ranges of the body, so memory
// beyond the body does not grow with the request. The answer is an OTLP
// Export*ServiceResponse in the request's encoding, with a partial success
// (rejected count and reasons) when some spans could not be stored: one
// bad span — too deep, undecodable, out of the storable time range —
// never costs the rest of the request. Status codes: 200 (all or partly
// accepted), 400 (not an OTLP request, with a message naming what is
// wrong), 401 / 403 (Settings.Authenticate, Settings.Authorize), 405, 413
// (body over Config.MaxBodyBytes, compressed or not), 415 (other content
// type or encoding), 503 with Retry-After (the memory budget stayed full,
// or the store failed; retry).
//
// Log requests carry GenAI event records (gen_ai.user.message,
// gen_ai.choice, gen_ai.client.inference.operation.details, …). Each is
// attached to its span by trace and span id: a stored span is normalized
// again from its raw span with the events and written back; for a span not
// stored yet the events are parked (store.Writer.WritePendingEvents) and
// taken when the span arrives. Both orders give the same row. Each side
// checks again after writing, so a span and its records arriving at the
// same moment still meet.
package ingest
