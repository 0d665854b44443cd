// Package journal is weave-agentd's write-ahead log of hook events. Every
// event is appended (and fsynced, by the caller's group commit) before the
// hook gets its answer; on start the daemon replays the events of sessions
// that are not closed, so a daemon killed with SIGKILL mid-turn resumes
// where it was. Session-closed markers record which sessions are done, and
// Compact drops closed sessions once they are older than a retention.
//
// Files: <dir>/wal-<generation>.log, one live generation. Compaction writes
// the survivors to the next generation (temp file, fsync, rename, fsync of
// the directory) and then deletes the old one; Open deletes any older
// generation an interrupted compaction left behind. Records are
// package frame's CRC-framed records (magic "WVJL"):
//
//	payload[0] = kind
//	kind 1, event:  u16 len | session id | the event's encoded form
//	kind 2, closed: i64 unix nanos | session id
//
// The journal does not know what an event holds: the caller hands it an
// Event that encodes itself, and Settings.EventTime, which reads when an
// encoded event was received (weave-agentd's events are hookproto
// Envelopes in their binary form).
//
// A torn tail (a crash mid-append) is cut off on Open; damage elsewhere is
// skipped and counted by readers. Journal has no goroutines and is not safe
// for concurrent use: the daemon calls it from one goroutine.
package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/weavetrace/weave/daemon/frame"
)

// syncFile makes a file durable. Fuzz tests replace it with a no-op: an
// fsync costs milliseconds, a fuzzing run wants thousands of inputs a second.
var syncFile = (*os.File).Sync

// Magic marks journal records.
var Magic = frame.Magic{'W', 'V', 'J', 'L'}

// maxRecord bounds one record's payload: 16 MiB for the event (a hook
// payload at hookproto.MaxPayload; the daemon's TestJournalHoldsLargestEvent
// checks that one fits) plus 64 KiB for its headers and session id. A
// longer record is refused by the appends and read as damage.
const maxRecord = 16<<20 + 64<<10

// Kind is a record kind.
type Kind uint8

// Record kinds.
const (
	KindEvent  Kind = 1
	KindClosed Kind = 2
)

// Event is an event to journal. The journal stores its encoded form as
// opaque bytes (Record.Event) and learns when it was received through
// Settings.EventTime.
type Event interface {
	// AppendBinary appends the event's encoded form to b.
	AppendBinary(b []byte) []byte
}

// Record is one journal entry.
type Record struct {
	Kind      Kind
	SessionID string
	// Event is set for KindEvent: the encoded form the event appended. It
	// is only valid during a Replay callback (copy it to keep it).
	Event []byte
	// At is when the record was made: an event's receipt (as
	// Settings.EventTime reads it), a session's closure.
	At time.Time
}

// encoded is an event already in its encoded form (a record rewritten by
// Compact).
type encoded []byte

func (e encoded) AppendBinary(b []byte) []byte { return append(b, e...) }

// appendRecord appends the framed record to b: an event record holding
// ev's encoded form, or a closed marker at at.
func appendRecord(b []byte, kind Kind, sessionID string, ev Event, at time.Time) ([]byte, error) {
	if len(sessionID) > 0xffff {
		return nil, fmt.Errorf("journal: session id of %d bytes", len(sessionID))
	}
	p := []byte{byte(kind)}
	switch kind {
	case KindEvent:
		p = binary.LittleEndian.AppendUint16(p, uint16(len(sessionID)))
		p = append(p, sessionID...)
		p = ev.AppendBinary(p)
	case KindClosed:
		p = binary.LittleEndian.AppendUint64(p, uint64(at.UnixNano()))
		p = append(p, sessionID...)
	default:
		return nil, fmt.Errorf("journal: unknown record kind %d", kind)
	}
	return frame.Append(b, Magic, p), nil
}

// ErrBadRecord wraps errors decoding an intact frame's payload.
var ErrBadRecord = errors.New("journal: bad record")

// decodeRecord reads a record's payload; eventTime reads an event's
// receipt time (and rejects an event it cannot read).
func decodeRecord(p []byte, eventTime func([]byte) (time.Time, error)) (Record, error) {
	var r Record
	if len(p) < 1 {
		return r, fmt.Errorf("%w: empty", ErrBadRecord)
	}
	r.Kind = Kind(p[0])
	p = p[1:]
	switch r.Kind {
	case KindEvent:
		if len(p) < 2 {
			return r, fmt.Errorf("%w: short event", ErrBadRecord)
		}
		n := int(binary.LittleEndian.Uint16(p))
		if len(p) < 2+n {
			return r, fmt.Errorf("%w: session id of %d bytes in %d", ErrBadRecord, n, len(p)-2)
		}
		r.SessionID = string(p[2 : 2+n])
		r.Event = p[2+n:]
		at, err := eventTime(r.Event)
		if err != nil {
			return r, fmt.Errorf("%w: %v", ErrBadRecord, err)
		}
		r.At = at
	case KindClosed:
		if len(p) < 8 {
			return r, fmt.Errorf("%w: short marker", ErrBadRecord)
		}
		r.At = time.Unix(0, int64(binary.LittleEndian.Uint64(p))).UTC()
		r.SessionID = string(p[8:])
	default:
		return r, fmt.Errorf("%w: kind %d", ErrBadRecord, r.Kind)
	}
	return r, nil
}

// Settings are the journal's dependencies.
type Settings struct {
	Logger *slog.Logger
	// EventTime reads when an event was received from its encoded form
	// (Compact's retention needs it); an event it cannot read makes its
	// record a bad one, skipped and counted. Required.
	EventTime func(event []byte) (time.Time, error)
}

// errNoEventTime: Settings.EventTime is required.
var errNoEventTime = errors.New("journal: Settings.EventTime is nil")

// Journal is an open journal.
type Journal struct {
	dir       string
	log       *slog.Logger
	eventTime func([]byte) (time.Time, error)
	gen       uint64
	f         *os.File
	size      int64
	buf       []byte
}

// Stats describes a read pass.
type Stats struct {
	Records    int
	Corrupt    int   // damaged regions skipped
	Skipped    int64 // their bytes
	BadRecords int   // intact frames that do not decode
	TornTail   int64 // bytes cut off the end on Open
}

func (j *Journal) path(gen uint64) string {
	return filepath.Join(j.dir, fmt.Sprintf("wal-%016x.log", gen))
}

// Open opens (creating, 0700) the journal in dir. It cuts off a torn tail
// left by a crash (reported in the returned Stats.TornTail).
func Open(dir string, s Settings) (*Journal, Stats, error) {
	var st Stats
	if s.EventTime == nil {
		return nil, st, errNoEventTime
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, st, fmt.Errorf("journal: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil { // it holds prompts and tool output
		return nil, st, fmt.Errorf("journal: %w", err)
	}
	j := &Journal{dir: dir, log: s.Logger, eventTime: s.EventTime}
	gens, err := j.generations()
	if err != nil {
		return nil, st, err
	}
	if len(gens) > 0 {
		j.gen = gens[len(gens)-1]
		for _, g := range gens[:len(gens)-1] {
			if err := os.Remove(j.path(g)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, st, fmt.Errorf("journal: remove old generation: %w", err)
			}
		}
	}
	f, err := os.OpenFile(j.path(j.gen), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, st, fmt.Errorf("journal: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, st, fmt.Errorf("journal: %w", err)
	}
	fst, err := frame.Read(f, fi.Size(), Magic, maxRecord, func(int64, []byte) error { return nil })
	if err != nil {
		f.Close()
		return nil, st, fmt.Errorf("journal: %w", err)
	}
	if fst.End < fi.Size() {
		st.TornTail = fi.Size() - fst.End
		if err := f.Truncate(fst.End); err != nil {
			f.Close()
			return nil, st, fmt.Errorf("journal: cut torn tail: %w", err)
		}
		if err := syncFile(f); err != nil {
			f.Close()
			return nil, st, fmt.Errorf("journal: %w", err)
		}
	}
	if _, err := f.Seek(fst.End, 0); err != nil {
		f.Close()
		return nil, st, fmt.Errorf("journal: %w", err)
	}
	j.f, j.size = f, fst.End
	return j, st, nil
}

func (j *Journal) generations() ([]uint64, error) {
	ents, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var gens []uint64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, "wal-") || !strings.HasSuffix(name, ".log") {
			continue
		}
		g, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, "wal-"), ".log"), 16, 64)
		if err == nil {
			gens = append(gens, g)
		}
	}
	sort.Slice(gens, func(a, b int) bool { return gens[a] < gens[b] })
	return gens, nil
}

// AppendEvent appends an event record. It is not durable until Sync.
func (j *Journal) AppendEvent(sessionID string, ev Event) error {
	return j.append(KindEvent, sessionID, ev, time.Time{})
}

// AppendClosed appends a session-closed marker. Not durable until Sync.
func (j *Journal) AppendClosed(sessionID string, at time.Time) error {
	return j.append(KindClosed, sessionID, nil, at)
}

func (j *Journal) append(kind Kind, sessionID string, ev Event, at time.Time) error {
	if j.f == nil {
		return fmt.Errorf("journal: %w", os.ErrClosed)
	}
	b, err := appendRecord(j.buf[:0], kind, sessionID, ev, at)
	if err != nil {
		return err
	}
	j.buf = b
	if len(b) > maxRecord+frame.HeaderSize {
		return fmt.Errorf("journal: record of %d bytes over the %d limit", len(b), maxRecord)
	}
	n, err := j.f.Write(b)
	j.size += int64(n)
	if err != nil {
		// Cut a partial record off so the next append starts clean.
		if n > 0 {
			j.size -= int64(n)
			_ = j.f.Truncate(j.size)
			_, _ = j.f.Seek(j.size, 0)
		}
		return fmt.Errorf("journal: append: %w", err)
	}
	if cap(j.buf) > 1<<20 {
		j.buf = nil // do not pin a big payload's buffer
	}
	return nil
}

// Sync makes every appended record durable (fdatasync).
func (j *Journal) Sync() error {
	if j.f == nil {
		return fmt.Errorf("journal: %w", os.ErrClosed)
	}
	if err := syncFile(j.f); err != nil {
		return fmt.Errorf("journal: sync: %w", err)
	}
	return nil
}

// Size is the live generation's size in bytes.
func (j *Journal) Size() int64 { return j.size }

// Replay calls fn for every intact record, in append order. Damaged
// regions and undecodable records are skipped and counted.
func (j *Journal) Replay(fn func(r *Record) error) (Stats, error) {
	var st Stats
	if j.f == nil {
		return st, fmt.Errorf("journal: %w", os.ErrClosed)
	}
	return st, replayFile(j.f, j.size, j.eventTime, fn, &st)
}

func replayFile(f *os.File, size int64, eventTime func([]byte) (time.Time, error), fn func(r *Record) error, st *Stats) error {
	fst, err := frame.Read(f, size, Magic, maxRecord, func(_ int64, p []byte) error {
		r, err := decodeRecord(p, eventTime)
		if err != nil {
			st.BadRecords++
			return nil
		}
		st.Records++
		return fn(&r)
	})
	st.Corrupt += fst.Corrupt
	st.Skipped += fst.SkippedBytes
	if err != nil {
		return fmt.Errorf("journal: replay: %w", err)
	}
	return nil
}

// Close closes the journal (without a Sync).
func (j *Journal) Close() error {
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// Snapshot returns the live generation's path and size: ReplayOpenFile
// over them sees the journal as it is now, while appends continue.
func (j *Journal) Snapshot() (path string, size int64) { return j.path(j.gen), j.size }

// ReplayOpen calls fn, in append order, for the events the daemon must
// replay on start: those of sessions not closed, i.e. every event after its
// session's last closed marker (a session resumed after it closed replays
// only what came after), and events with no session id.
func (j *Journal) ReplayOpen(fn func(r *Record) error) (Stats, error) {
	if j.f == nil {
		return Stats{}, fmt.Errorf("journal: %w", os.ErrClosed)
	}
	return replayOpen(j.f, j.size, j.eventTime, fn)
}

// ReplayOpenFile is ReplayOpen over the first size bytes of the journal
// file at path (from Snapshot), read through its own file handle, so it can
// run in another goroutine than the one appending; s is what the journal
// was opened with. A compaction meanwhile is harmless: the open handle
// keeps the old generation readable.
func ReplayOpenFile(path string, size int64, s Settings, fn func(r *Record) error) (Stats, error) {
	if s.EventTime == nil {
		return Stats{}, errNoEventTime
	}
	f, err := os.Open(path)
	if err != nil {
		return Stats{}, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	return replayOpen(f, size, s.EventTime, fn)
}

func replayOpen(f *os.File, size int64, eventTime func([]byte) (time.Time, error), fn func(r *Record) error) (Stats, error) {
	lastClosed := map[string]int{}
	i := 0
	var st Stats
	if err := replayFile(f, size, eventTime, func(r *Record) error {
		i++
		if r.Kind == KindClosed {
			lastClosed[r.SessionID] = i
		}
		return nil
	}, &st); err != nil {
		return st, err
	}
	st = Stats{}
	i = 0
	err := replayFile(f, size, eventTime, func(r *Record) error {
		i++
		if r.Kind != KindEvent {
			return nil
		}
		if i < lastClosed[r.SessionID] {
			return nil
		}
		return fn(r)
	}, &st)
	return st, err
}
