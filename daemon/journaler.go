package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/daemon/journal"
)

// maxGroupCommit bounds the events appended in one batch.
const maxGroupCommit = 256

// journalMaxAge drops any session silent this long at compaction, closed
// or not: the backstop that keeps the journal bounded.
const journalMaxAge = 7 * 24 * time.Hour

// hookReq is one event on its way from the HTTP handler to the journal.
type hookReq struct {
	env  hookproto.Envelope
	ev   hookproto.Event
	done chan hookResult // buffered: the journaler never blocks on it
}

type hookResult struct {
	dup bool
	err error
}

type closedMarker struct {
	sessionID string
	at        time.Time
}

// journaler owns the journal: it appends hook events with group commit
// (one write per event, then every waiting handler is answered; the
// journal is fsynced at most SyncInterval later, see commit), ignores
// event ids it has already journaled, drains the inbox, writes
// session-closed markers, compacts, and forwards journaled events to core.
type journaler struct {
	log       *slog.Logger
	j         *journal.Journal
	p         hookproto.Paths
	retention time.Duration
	compactAt int64

	reqs    chan *hookReq
	markers chan closedMarker
	drain   chan struct{} // request an inbox drain
	lookups chan lookupReq
	out     chan hookproto.Event

	seen      *idSet
	throttled *throttle
	dirty     bool // appended since the last fsync (run's goroutine only)

	mu sync.Mutex
	st JournalStats
	// lastCompacted is the size right after the last compaction: compact
	// again only once the journal has grown well past it.
	lastCompacted int64
}

// JournalStats are the journal's figures for `status`.
type JournalStats struct {
	Bytes           int64  `json:"bytes"`
	EventsJournaled int64  `json:"events_journaled"`
	Duplicates      int64  `json:"duplicates"`
	FromInbox       int64  `json:"events_from_inbox"`
	InboxBad        int64  `json:"inbox_bad_records"`
	InboxCorrupt    int64  `json:"inbox_corrupt_regions"`
	InboxOverflow   int64  `json:"inbox_overflow_dropped"`
	InboxFailed     int64  `json:"inbox_append_failed_dropped"` // events hooks could not append (inbox not writable, disk full)
	InboxRefused    int64  `json:"inbox_refused_files"`         // a symlink or another user's file in place of the inbox, removed unread
	ReplayedAtStart int64  `json:"replayed_at_start"`
	TornTailAtStart int64  `json:"torn_tail_bytes_at_start"`
	CorruptAtStart  int    `json:"corrupt_regions_at_start"`
	Errors          int64  `json:"errors"`
	LastError       string `json:"last_error,omitempty"`
	// Fsyncs and their total and longest duration (background, at most
	// every SyncInterval; the hook's answer does not wait for them).
	Fsyncs           int64     `json:"fsyncs"`
	FsyncTotalMicros int64     `json:"fsync_total_us"`
	FsyncMaxMicros   int64     `json:"fsync_max_us"`
	Compactions      int64     `json:"compactions"`
	LastCompactionAt time.Time `json:"last_compaction_at,omitzero"`
}

func newJournaler(log *slog.Logger, j *journal.Journal, p hookproto.Paths, retention time.Duration, compactAt int64) *journaler {
	return &journaler{
		log:       log,
		j:         j,
		p:         p,
		retention: retention,
		compactAt: compactAt,
		reqs:      make(chan *hookReq, 1024),
		markers:   make(chan closedMarker, 1024),
		drain:     make(chan struct{}, 1),
		lookups:   make(chan lookupReq, 1),
		out:       make(chan hookproto.Event, 1024),
		seen:      newIDSet(1 << 16),
		throttled: &throttle{every: time.Minute, log: log.Error},
	}
}

// startup runs before any goroutine: it learns every journaled event id,
// drains the inbox into the journal (not forwarded: core's replay will read
// them from the journal) and compacts. tornTail is what journal.Open cut
// off (for `status`).
func (jr *journaler) startup(now time.Time, tornTail int64) error {
	st, err := jr.j.Replay(func(r *journal.Record) error {
		var env hookproto.Envelope
		if r.Kind == journal.KindEvent && env.UnmarshalBinary(r.Event) == nil && !env.ID.IsZero() {
			jr.seen.add(env.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	jr.mu.Lock()
	jr.st.CorruptAtStart = st.Corrupt
	jr.st.TornTailAtStart = tornTail
	jr.mu.Unlock()
	if err := jr.drainInbox(context.Background(), false); err != nil {
		jr.log.Error("daemon: drain inbox at start", "err", err)
	}
	jr.compact(now)
	return nil
}

func (jr *journaler) stats() JournalStats {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	return jr.st
}

func (jr *journaler) fail(what string, err error) {
	jr.mu.Lock()
	jr.st.Errors++
	jr.st.LastError = fmt.Sprintf("%s: %v", what, err)
	jr.mu.Unlock()
	jr.throttled.warn("daemon: journal error", "op", what, "err", err)
}

// SyncInterval bounds how long an acknowledged event may sit in the page
// cache before the journal is fsynced.
const SyncInterval = 100 * time.Millisecond

// run serves until ctx ends, then syncs what it appended.
func (jr *journaler) run(ctx context.Context) {
	defer func() {
		if err := jr.j.Sync(); err != nil {
			jr.fail("final sync", err)
		}
	}()
	tick := time.NewTicker(SyncInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if jr.dirty {
				jr.dirty = false
				if err := jr.sync(); err != nil {
					jr.fail("sync", err)
				}
			}
		case r := <-jr.reqs:
			jr.commit(ctx, r)
		case m := <-jr.markers:
			if err := jr.j.AppendClosed(m.sessionID, m.at); err != nil {
				jr.fail("closed marker", err)
			}
		case <-jr.drain:
			if err := jr.drainInbox(ctx, true); err != nil {
				jr.fail("drain inbox", err)
			}
		case r := <-jr.lookups:
			jr.lookup(r)
		}
	}
}

// appendLateMarkers journals the closed markers still in the channel: core
// runs after the journaler's loop has stopped at shutdown and may send one
// then (a SessionEnd answered just before the stop); lost, it made the next
// daemon replay a closed session. Call it once core has stopped.
func (jr *journaler) appendLateMarkers() {
	for {
		select {
		case m := <-jr.markers:
			if err := jr.j.AppendClosed(m.sessionID, m.at); err != nil {
				jr.fail("closed marker", err)
			}
		default:
			return
		}
	}
}

// commit appends r and whatever else is waiting, answers every handler,
// then forwards the new events to core.
//
// An event is answered once its record is written to the journal file:
// it is then in the kernel and survives the daemon's death (SIGKILL, a
// crash), which is what the journal is for. The fsync follows within
// SyncInterval (run's ticker), off the hook's path: waiting for it cost
// every hook ~0.4-1 ms, a third of its whole budget over a do-nothing
// process (make bench-hook). What an OS crash or power loss can take is the
// hook-only detail of the last SyncInterval; the transcripts, which the
// daemon re-reads on recovery, keep everything they recorded.
func (jr *journaler) commit(ctx context.Context, first *hookReq) {
	batch := []*hookReq{first}
collect:
	for len(batch) < maxGroupCommit {
		select {
		case r := <-jr.reqs:
			batch = append(batch, r)
		default:
			break collect
		}
	}
	const (
		fresh = iota
		dup
		failed
	)
	outcome := make([]int, len(batch))
	inBatch := map[hookproto.EventID]bool{}
	var err error
	nFresh := 0
	for i, r := range batch {
		id := r.env.ID
		if !id.IsZero() && (jr.seen.has(id) || inBatch[id]) {
			outcome[i] = dup
			continue
		}
		if err == nil {
			err = jr.j.AppendEvent(r.ev.SessionID, &r.env)
		}
		if err != nil {
			outcome[i] = failed
			continue
		}
		inBatch[id] = true
		nFresh++
	}
	if nFresh > 0 {
		jr.dirty = true
	}
	if err != nil {
		jr.fail("append", err)
	}
	var journaled, dups int64
	var toCore []hookproto.Event
	for i, r := range batch {
		switch outcome[i] {
		case dup:
			dups++
		case fresh:
			journaled++
			if !r.env.ID.IsZero() {
				jr.seen.add(r.env.ID)
			}
			toCore = append(toCore, r.ev)
		}
	}
	jr.mu.Lock()
	jr.st.EventsJournaled += journaled
	jr.st.Duplicates += dups
	jr.st.Bytes = jr.j.Size()
	jr.mu.Unlock()
	for i, r := range batch {
		switch outcome[i] {
		case dup:
			r.done <- hookResult{dup: true}
		case failed:
			r.done <- hookResult{err: err}
		default:
			r.done <- hookResult{}
		}
	}
	for _, ev := range toCore {
		if !jr.forward(ctx, ev) {
			return
		}
	}
	jr.maybeCompact(time.Now())
}

// sync fsyncs the journal, timing it.
func (jr *journaler) sync() error {
	start := time.Now()
	err := jr.j.Sync()
	us := time.Since(start).Microseconds()
	jr.mu.Lock()
	jr.st.Fsyncs++
	jr.st.FsyncTotalMicros += us
	jr.st.FsyncMaxMicros = max(jr.st.FsyncMaxMicros, us)
	jr.mu.Unlock()
	return err
}

// forward hands a journaled event to core. false: shutting down (the
// event is in the journal and will be replayed by the next daemon).
func (jr *journaler) forward(ctx context.Context, ev hookproto.Event) bool {
	select {
	case jr.out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// drainInbox journals every inbox record not journaled yet; with forward,
// also hands them to core.
func (jr *journaler) drainInbox(ctx context.Context, forward bool) error {
	var fwd []hookproto.Event
	var bad int64
	st, err := hookproto.DrainInbox(jr.p, func(env hookproto.Envelope) error {
		if !env.ID.IsZero() && jr.seen.has(env.ID) {
			jr.mu.Lock()
			jr.st.Duplicates++
			jr.mu.Unlock()
			return nil
		}
		ev, err := hookproto.Decode(env)
		if err != nil {
			bad++
			return nil
		}
		if err := jr.j.AppendEvent(ev.SessionID, &env); err != nil {
			return err
		}
		if !env.ID.IsZero() {
			jr.seen.add(env.ID)
		}
		if forward {
			fwd = append(fwd, ev)
			if len(fwd) >= maxGroupCommit { // bound memory: flush as we go
				if err := jr.j.Sync(); err != nil {
					return err
				}
				for _, e := range fwd {
					if !jr.forward(ctx, e) {
						return ctx.Err()
					}
				}
				fwd = fwd[:0]
			}
		}
		jr.mu.Lock()
		jr.st.FromInbox++
		jr.st.EventsJournaled++
		jr.mu.Unlock()
		return nil
	}, jr.j.Sync)
	jr.mu.Lock()
	jr.st.InboxBad += bad + int64(st.BadRecords)
	jr.st.InboxCorrupt += int64(st.Corrupt)
	jr.st.InboxOverflow += st.Overflow
	jr.st.InboxFailed += st.AppendFailed
	jr.st.InboxRefused += int64(st.Refused)
	jr.st.Bytes = jr.j.Size()
	jr.mu.Unlock()
	if st.Records > 0 || st.Corrupt > 0 || st.Overflow > 0 || st.AppendFailed > 0 {
		jr.log.Info("daemon: drained the inbox", "records", st.Records, "bad_records", bad+int64(st.BadRecords),
			"corrupt_regions", st.Corrupt, "overflow_dropped", st.Overflow, "append_failed_dropped", st.AppendFailed)
	}
	if st.Overflow > 0 {
		jr.log.Warn("daemon: the inbox was full, hooks dropped events", "dropped", st.Overflow)
	}
	if st.AppendFailed > 0 {
		jr.log.Warn("daemon: hooks could not append to the inbox (not writable, disk full?), they dropped events",
			"dropped", st.AppendFailed, "path", jr.p.Inbox)
	}
	if st.Refused > 0 {
		jr.log.Warn("daemon: removed inbox files that were a symlink, a FIFO or device, or not this user's file, unread", "files", st.Refused, "err", st.RefusedErr)
	}
	for _, e := range fwd {
		if !jr.forward(ctx, e) {
			break
		}
	}
	return err
}

func (jr *journaler) maybeCompact(now time.Time) {
	if jr.j.Size() < jr.compactAt || jr.j.Size() < 2*jr.lastCompacted {
		return
	}
	jr.compact(now)
}

func (jr *journaler) compact(now time.Time) {
	start := time.Now()
	cs, err := jr.j.Compact(now, jr.retention, journalMaxAge)
	if err != nil {
		jr.fail("compact", err)
		return
	}
	jr.lastCompacted = cs.After
	jr.mu.Lock()
	jr.st.Compactions++
	jr.st.LastCompactionAt = now
	jr.st.Bytes = cs.After
	jr.mu.Unlock()
	if cs.Dropped > 0 {
		jr.log.Info("daemon: compacted the journal", "bytes_before", cs.Before, "bytes_after", cs.After,
			"sessions_dropped", cs.SessionsDropped, "records_dropped", cs.Dropped, "duration", time.Since(start))
	}
}

// idSet remembers the last n event ids.
type idSet struct {
	m    map[hookproto.EventID]struct{}
	ring []hookproto.EventID
	next int
}

func newIDSet(n int) *idSet {
	return &idSet{m: make(map[hookproto.EventID]struct{}, n), ring: make([]hookproto.EventID, n)}
}

func (s *idSet) has(id hookproto.EventID) bool { _, ok := s.m[id]; return ok }

func (s *idSet) add(id hookproto.EventID) {
	if s.has(id) {
		return
	}
	if old := s.ring[s.next]; !old.IsZero() {
		delete(s.m, old)
	}
	s.ring[s.next] = id
	s.next = (s.next + 1) % len(s.ring)
	s.m[id] = struct{}{}
}
