package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/weavetrace/weave/daemon/atomicfile"
)

// Why spans are lost. Each has its own line in `status`.
const (
	// LossDamaged: a damaged spool record (disk corruption, a crash in the
	// middle of a write) whose spans could not be rebuilt.
	LossDamaged = "spool damaged"
	// LossSpoolFull: the spool's byte cap dropped the oldest batches.
	LossSpoolFull = "spool full"
	// LossNotSpooled: a batch that could not be written to the spool.
	LossNotSpooled = "could not spool"
)

// SpanRef names a span of a damaged spool record: enough to rebuild it
// (the session) and to tell which of the rebuilt spans it was (the ids).
// Any field may be empty when the damage reached it.
type SpanRef struct {
	TraceID   string `json:"trace_id,omitempty"`
	SpanID    string `json:"span_id,omitempty"`
	SessionID string `json:"session_id,omitempty"`
}

// Damaged is what one damaged spool region held: the spans named in it,
// and how many more spans its bytes show whose ids the damage took.
// The daemon rebuilds the named spans' sessions and sends again every
// span of their traces, which covers the unnamed ones when they belong to
// the same traces, as the spans of one batch mostly do.
type Damaged struct {
	ID      int64     `json:"id"` // in Losses.Pending, for Rebuilt
	Refs    []SpanRef `json:"refs,omitempty"`
	Unnamed int       `json:"unnamed,omitempty"`
}

// Spans is the number of spans d held, named or not.
func (d Damaged) Spans() int { return len(d.Refs) + d.Unnamed }

// Count is spans (when they could be counted) and batches (when not).
type Count struct {
	Spans   int64 `json:"spans,omitempty"`
	Batches int64 `json:"batches,omitempty"`
}

// Losses is the record of what the exporter lost for good, kept in a file
// across restarts (until it is deleted by hand): `status` shows it as
// "lost N (since <time>)" with the reasons. Spans of damaged records wait
// in Pending until the daemon has tried to rebuild them from the journal
// or their transcript; those rebuilt count in Rebuilt, the others as lost.
type Losses struct {
	Since    time.Time        `json:"since,omitzero"` // first loss recorded
	Last     time.Time        `json:"last,omitzero"`  // latest
	Lost     Count            `json:"lost"`
	ByReason map[string]Count `json:"by_reason,omitempty"`
	// Rebuilt counts spans of damaged records sent again, rebuilt.
	Rebuilt int64 `json:"rebuilt,omitempty"`
	// DamagedRegions and DamagedBytes count the damage found in the spool.
	DamagedRegions int64 `json:"damaged_regions,omitempty"`
	DamagedBytes   int64 `json:"damaged_bytes,omitempty"`
	// Pending are damaged regions whose spans are not rebuilt yet.
	Pending []Damaged `json:"pending,omitempty"`
	NextID  int64     `json:"next_id,omitempty"`
}

// maxPending bounds the damaged regions waiting to be rebuilt; past it,
// their spans are counted lost at once.
const maxPending = 1024

// add counts a loss.
func (l *Losses) add(now time.Time, reason string, c Count) {
	if c == (Count{}) {
		return
	}
	if l.Since.IsZero() {
		l.Since = now
	}
	l.Last = now
	l.Lost.Spans += c.Spans
	l.Lost.Batches += c.Batches
	if l.ByReason == nil {
		l.ByReason = map[string]Count{}
	}
	r := l.ByReason[reason]
	r.Spans += c.Spans
	r.Batches += c.Batches
	l.ByReason[reason] = r
}

// ReadLosses reads the losses file at path; a missing file is no losses.
func ReadLosses(path string) (Losses, error) {
	var l Losses
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("export: %w", err)
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("export: %s: %w", path, err)
	}
	return l, nil
}

// write replaces the losses file (temp file, fsync, rename).
func (l *Losses) write(path string) error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o600)
}
