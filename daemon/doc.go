// Package daemon is weave-agentd's runtime: it wires the hook socket, the
// event journal, the inbox, the transcript watcher, the session Processor
// and the span exporter together, and orders their start and shutdown.
//
// Data flow (one goroutine per box; arrows are bounded channels):
//
//		weave-hook ─HTTP/unix socket─▶ handler ─▶ journaler ─▶ core ─▶ exporter ─▶ OTLP
//		                               (decode)   (append,     (Processor,  (spool on
//		inbox file ──(start, tick)──────────────▶  fsync,       watcher,     failure)
//		                                           ack, dedup)  ticks)
//
//	  - handler: validates and decodes the request, hands it to the journaler
//	    and answers 200 only once the event is fsynced in the journal.
//	  - journaler: owns the journal; group-commits appends (one fsync per
//	    batch), drops duplicate event ids (an event both delivered late and
//	    kept in the inbox by its hook), drains the inbox, writes
//	    session-closed markers and runs compaction.
//	  - core: owns the Processor (which therefore needs no locking): replays
//	    the journal at start, then feeds it live events, file changes and
//	    ticks; keeps the watcher's path set current; exits when idle.
//	  - exporter (package export): delivers spans, spooling what fails.
//
// Transcripts read. A hook payload names its transcript (transcript_path,
// agent_transcript_path), and whatever file it names would be read and
// exported. The processor (daemon/session) reads a path only when it is
// absolute, has no ".." element, names a .jsonl file and, with every
// symlink evaluated (the file's, or its nearest existing parent's), lies
// inside Claude Code's projects directories — ~/.claude/projects,
// $CLAUDE_CONFIG_DIR/projects — or a transcript_dirs entry of config.json
// (config.Config.TranscriptRoots). Anything else is refused: logged once
// per path, counted in `status`, and the session is traced from its hooks
// alone. The check is repeated before every read.
//
// Shutdown (SIGTERM, `weave-agentd stop`, idle): stop accepting and unlink
// the socket, let the journaler finish its batch, let core process what is
// queued, stop the watcher, give the exporter a bounded drain, close the
// spool and the journal, release the lock — each step logged with its
// duration. Sessions are not closed: the journal keeps them, and the next
// daemon resumes them.
package daemon
