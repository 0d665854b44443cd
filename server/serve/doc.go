// Package serve assembles weave-server: configuration and its validation,
// the store factory, the HTTP server with its routes (OTLP ingest, the read
// API under /genai/, /healthz, /readyz, /metrics, and the web UI at /), and
// the ordered start and graceful shutdown.
//
// Zero configuration works: NewDefaultConfig listens on 127.0.0.1:7433 with
// the embedded SQLite store under ~/.weave/server and no API keys. Without
// keys the server is open, so it refuses a non-loopback address and answers
// only requests addressed to a loopback host (server/auth).
//
// Shutdown (Run's context cancelled): stop accepting connections, let every
// in-flight request finish — an ingest batch is answered only after it is
// durable — within Config.ShutdownTimeout (past it, cancel them and wait for
// their handlers to return), stop the retention loop (a round under way
// finishes), then close the store. Requests run on a context that is
// cancelled only if that timeout passes, so a signal never aborts a batch
// half-way. Every store call a handler or the retention loop makes honours
// its context, so what was cancelled returns at once; one that does not is
// waited for Settings.CutoffWait (DefaultCutoffWait, 15 s), then given up on
// with an error logged, and Run returns ErrShutdownAbandoned with the store
// left open, rather than hanging.
package serve
