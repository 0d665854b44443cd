package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/frame"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// event is the tests' Event: a number, a receipt time and a body, encoded
// as i64 unix nanos | i64 number | body.
type event struct {
	n    int
	at   time.Time
	body []byte
}

func (e *event) AppendBinary(b []byte) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(e.at.UnixNano()))
	b = binary.LittleEndian.AppendUint64(b, uint64(e.n))
	return append(b, e.body...)
}

func decodeEvent(b []byte) (event, error) {
	if len(b) < 16 {
		return event{}, fmt.Errorf("event of %d bytes", len(b))
	}
	return event{
		at:   time.Unix(0, int64(binary.LittleEndian.Uint64(b))).UTC(),
		n:    int(binary.LittleEndian.Uint64(b[8:])),
		body: b[16:],
	}, nil
}

func eventTime(b []byte) (time.Time, error) {
	e, err := decodeEvent(b)
	return e.at, err
}

var settings = Settings{EventTime: eventTime}

// number is the number of the event r holds.
func number(r *Record) int {
	e, err := decodeEvent(r.Event)
	if err != nil {
		panic(err) // decodeRecord checked it with eventTime
	}
	return e.n
}

func ev(session string, n int, at time.Time) *event {
	return &event{n: n, at: at, body: []byte(fmt.Sprintf(`{"session_id":%q,"hook_event_name":"Stop","n":%d}`, session, n))}
}

func open(t *testing.T, dir string) (*Journal, Stats) {
	t.Helper()
	j, st, err := Open(dir, settings)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	return j, st
}

// replayed lists "session:n" (events) and "session:closed" in order.
func replayed(t *testing.T, j *Journal, openOnly bool) []string {
	t.Helper()
	var out []string
	fn := func(r *Record) error {
		if r.Kind == KindClosed {
			out = append(out, r.SessionID+":closed")
		} else {
			out = append(out, fmt.Sprintf("%s:%d", r.SessionID, number(r)))
		}
		return nil
	}
	var err error
	if openOnly {
		_, err = j.ReplayOpen(fn)
	} else {
		_, err = j.Replay(fn)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAppendReplayReopen(t *testing.T) {
	dir := t.TempDir()
	j, _ := open(t, dir)
	want := []string{"a:1", "b:2", "a:3"}
	envs := []*event{ev("a", 1, t0), ev("b", 2, t0), ev("a", 3, t0)}
	for i, e := range envs {
		if err := j.AppendEvent(strings.Split(want[i], ":")[0], e); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := replayed(t, j, false); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Replay: got %v, want %v", got, want)
	}
	var bodies [][]byte
	j.Replay(func(r *Record) error { bodies = append(bodies, append([]byte(nil), r.Event...)); return nil })
	for i := range envs {
		if want := envs[i].AppendBinary(nil); !bytes.Equal(bodies[i], want) {
			t.Errorf("record %d event: got %q, want %q", i, bodies[i], want)
		}
	}
	j.Close()
	j2, st := open(t, dir)
	if st.TornTail != 0 {
		t.Errorf("clean reopen: torn tail %d, want 0", st.TornTail)
	}
	if err := j2.AppendEvent("c", ev("c", 4, t0)); err != nil {
		t.Fatal(err)
	}
	if got := replayed(t, j2, false); fmt.Sprint(got) != fmt.Sprint(append(want, "c:4")) {
		t.Errorf("after reopen and append: got %v", got)
	}
	if info, _ := os.Stat(dir); info.Mode().Perm() != 0o700 {
		t.Errorf("journal dir mode %v, want 0700", info.Mode().Perm())
	}
}

// A crash mid-append leaves a torn record: Open cuts it off and appends
// continue cleanly after the last good record.
func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	j, _ := open(t, dir)
	j.AppendEvent("a", ev("a", 1, t0))
	j.AppendEvent("a", ev("a", 2, t0))
	j.Sync()
	good := j.Size()
	j.Close()
	rec, _ := appendRecord(nil, KindEvent, "a", ev("a", 3, t0), time.Time{})
	f, _ := os.OpenFile(filepath.Join(dir, "wal-0000000000000000.log"), os.O_WRONLY|os.O_APPEND, 0)
	f.Write(rec[:len(rec)/2])
	f.Close()

	j2, st := open(t, dir)
	if st.TornTail != int64(len(rec)/2) || j2.Size() != good {
		t.Errorf("torn tail: cut %d bytes, size %d, want %d and %d", st.TornTail, j2.Size(), len(rec)/2, good)
	}
	j2.AppendEvent("a", ev("a", 4, t0))
	if got := replayed(t, j2, false); fmt.Sprint(got) != "[a:1 a:2 a:4]" {
		t.Errorf("after torn tail: got %v, want [a:1 a:2 a:4]", got)
	}
}

// Damage in the middle costs only the records it hit.
func TestDamagedMiddle(t *testing.T) {
	dir := t.TempDir()
	j, _ := open(t, dir)
	for i := 1; i <= 3; i++ {
		j.AppendEvent("a", ev("a", i, t0))
	}
	j.Sync()
	j.Close()
	path := filepath.Join(dir, "wal-0000000000000000.log")
	b, _ := os.ReadFile(path)
	rec1, _ := appendRecord(nil, KindEvent, "a", ev("a", 1, t0), time.Time{})
	b[len(rec1)+20] ^= 0xff // inside record 2
	os.WriteFile(path, b, 0o600)
	j2, _ := open(t, dir)
	var got []string
	st, err := j2.Replay(func(r *Record) error { got = append(got, fmt.Sprint(number(r))); return nil })
	if err != nil || fmt.Sprint(got) != "[1 3]" || st.Corrupt != 1 {
		t.Errorf("got %v (stats %+v, err %v), want [1 3] with 1 damaged region", got, st, err)
	}
}

func TestReplayOpen(t *testing.T) {
	j, _ := open(t, t.TempDir())
	j.AppendEvent("a", ev("a", 1, t0))
	j.AppendEvent("b", ev("b", 2, t0))
	j.AppendClosed("a", t0)
	j.AppendEvent("c", ev("c", 3, t0))
	j.AppendEvent("b", ev("b", 4, t0))
	j.AppendClosed("c", t0)
	j.AppendEvent("c", ev("c", 5, t0)) // c resumed after closing
	j.AppendEvent("", ev("", 6, t0))   // no session id
	var got []string
	_, err := j.ReplayOpen(func(r *Record) error {
		got = append(got, fmt.Sprintf("%s:%d", r.SessionID, number(r)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "[b:2 b:4 c:5 :6]"; fmt.Sprint(got) != want {
		t.Errorf("ReplayOpen: got %v, want %v", got, want)
	}
}

func TestCompact(t *testing.T) {
	dir := t.TempDir()
	j, _ := open(t, dir)
	now := t0.Add(10 * time.Hour)
	j.AppendEvent("old-closed", ev("old-closed", 1, t0))
	j.AppendClosed("old-closed", t0.Add(time.Minute))
	j.AppendEvent("recent-closed", ev("recent-closed", 2, now.Add(-time.Minute)))
	j.AppendClosed("recent-closed", now.Add(-time.Minute))
	j.AppendEvent("open", ev("open", 3, t0))
	j.AppendEvent("reopened", ev("reopened", 4, t0))
	j.AppendClosed("reopened", t0)
	j.AppendEvent("reopened", ev("reopened", 5, now.Add(-time.Minute)))
	j.AppendEvent("", ev("", 6, t0))                    // orphan, old
	j.AppendEvent("", ev("", 7, now.Add(-time.Second))) // orphan, recent
	j.AppendEvent("ancient", ev("ancient", 8, now.Add(-48*time.Hour)))
	j.Sync()
	before := j.Size()
	cs, err := j.Compact(now, time.Hour, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want := "[recent-closed:2 recent-closed:closed open:3 reopened:4 reopened:closed reopened:5 :7]"
	if got := replayed(t, j, false); fmt.Sprint(got) != want {
		t.Errorf("after compaction: got %v, want %v", got, want)
	}
	if cs.SessionsDropped != 2 || cs.OpenSessionsAged != 1 || cs.OrphanEventsAged != 1 || cs.Dropped != 4 || cs.Kept != 7 || cs.After >= before {
		t.Errorf("stats: got %+v, want 2 sessions (1 aged open), 1 orphan, 4 dropped, 7 kept, smaller", cs)
	}
	// Appends go to the new generation; a reopen sees one generation.
	j.AppendEvent("new", ev("new", 9, now))
	j.Sync()
	j.Close()
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "wal-0000000000000001.log" {
		t.Errorf("files: got %v, want only generation 1", ents)
	}
	j2, _ := open(t, dir)
	if got := replayed(t, j2, false); len(got) != 8 || got[7] != "new:9" {
		t.Errorf("reopened after compaction: got %v", got)
	}
}

// An interrupted compaction (new generation renamed in, old one not yet
// removed) is finished by Open.
func TestOpenRemovesOldGenerations(t *testing.T) {
	dir := t.TempDir()
	j, _ := open(t, dir)
	j.AppendEvent("a", ev("a", 1, t0))
	j.Sync()
	j.Close()
	old, _ := os.ReadFile(filepath.Join(dir, "wal-0000000000000000.log"))
	os.WriteFile(filepath.Join(dir, "wal-0000000000000001.log"), old, 0o600)
	os.WriteFile(filepath.Join(dir, "compact-123.tmp"), []byte("junk"), 0o600)
	j2, _ := open(t, dir)
	if got := replayed(t, j2, false); fmt.Sprint(got) != "[a:1]" {
		t.Errorf("got %v, want [a:1]", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "wal-0000000000000000.log")); !os.IsNotExist(err) {
		t.Errorf("old generation still there (%v)", err)
	}
}

func TestClosedJournal(t *testing.T) {
	j, _ := open(t, t.TempDir())
	j.Close()
	if err := j.AppendEvent("a", ev("a", 1, t0)); err == nil {
		t.Errorf("AppendEvent after Close: got nil, want an error")
	}
	if err := j.Sync(); err == nil {
		t.Errorf("Sync after Close: got nil, want an error")
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []Record{
		{Kind: KindEvent, SessionID: "s-1", Event: ev("s-1", 7, t0).AppendBinary(nil), At: t0},
		{Kind: KindEvent, SessionID: "", Event: ev("", 0, t0.Add(time.Second)).AppendBinary(nil), At: t0.Add(time.Second)},
		{Kind: KindClosed, SessionID: "s-2", At: t0},
	} {
		b, err := appendRecord(nil, r.Kind, r.SessionID, encoded(r.Event), r.At)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeRecord(b[frame.HeaderSize:], eventTime)
		if err != nil || got.Kind != r.Kind || got.SessionID != r.SessionID || !got.At.Equal(r.At) || !bytes.Equal(got.Event, r.Event) {
			t.Errorf("round trip: got %+v, %v, want %+v", got, err, r)
		}
	}
}

// The journal needs to know when an event was received; an event its
// EventTime cannot read is a bad record, skipped and counted.
func TestEventTime(t *testing.T) {
	if _, _, err := Open(t.TempDir(), Settings{}); !errors.Is(err, errNoEventTime) {
		t.Errorf("Open without EventTime: got %v, want %v", err, errNoEventTime)
	}
	if _, err := ReplayOpenFile(filepath.Join(t.TempDir(), "wal-0000000000000000.log"), 0, Settings{}, nil); !errors.Is(err, errNoEventTime) {
		t.Errorf("ReplayOpenFile without EventTime: got %v, want %v", err, errNoEventTime)
	}
	j, _ := open(t, t.TempDir())
	j.AppendEvent("a", ev("a", 1, t0))
	j.AppendEvent("a", encoded("short")) // not an event eventTime reads
	j.AppendEvent("a", ev("a", 3, t0))
	var got []string
	st, err := j.Replay(func(r *Record) error { got = append(got, fmt.Sprint(number(r))); return nil })
	if err != nil || fmt.Sprint(got) != "[1 3]" || st.BadRecords != 1 || st.Corrupt != 0 {
		t.Errorf("got %v (stats %+v, err %v), want [1 3] with 1 bad record", got, st, err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	eventRec, _ := appendRecord(nil, KindEvent, "s", ev("s", 1, t0), time.Time{})
	closed, _ := appendRecord(nil, KindClosed, "s", nil, t0)
	f.Add(eventRec[frame.HeaderSize:])
	f.Add(closed[frame.HeaderSize:])
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := decodeRecord(p, eventTime)
		if err != nil {
			return
		}
		b, err := appendRecord(nil, r.Kind, r.SessionID, encoded(r.Event), r.At)
		if err != nil {
			t.Fatalf("re-encode of a decoded record: %v", err)
		}
		r2, err := decodeRecord(b[frame.HeaderSize:], eventTime)
		if err != nil || r2.SessionID != r.SessionID || r2.Kind != r.Kind || !r2.At.Equal(r.At) || !bytes.Equal(r2.Event, r.Event) {
			t.Fatalf("round trip: %+v vs %+v (%v)", r, r2, err)
		}
	})
}

// FuzzOpenDamaged: whatever bytes a journal file holds, Open and Replay
// work, skipping what is damaged, and a compaction keeps what replays.
// Cheap inputs (no fsync, one directory per worker reused, in memory where
// possible) keep a fuzzing run at thousands of inputs a second.
func FuzzOpenDamaged(f *testing.F) {
	var b []byte
	for i := range 3 {
		b, _ = appendRecord(b, KindEvent, "s", ev("s", i, t0), time.Time{})
	}
	f.Add(b)
	f.Add(b[:len(b)-7])
	f.Add([]byte("WVJL\xff\xff\xff\x00"))
	old := syncFile
	syncFile = func(*os.File) error { return nil }
	f.Cleanup(func() { syncFile = old })
	dir := f.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() { // in memory: file creation is 10x cheaper
		if d, err := os.MkdirTemp("/dev/shm", "weave-fuzz-"); err == nil {
			f.Cleanup(func() { os.RemoveAll(d) })
			dir = d
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
		os.WriteFile(filepath.Join(dir, "wal-0000000000000000.log"), data, 0o600)
		j, _, err := Open(dir, settings)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer j.Close()
		open := 0
		if _, err := j.ReplayOpen(func(*Record) error { open++; return nil }); err != nil {
			t.Fatalf("ReplayOpen: %v", err)
		}
		if err := j.AppendEvent("x", ev("x", 1, t0)); err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
		last := ""
		j.Replay(func(r *Record) error { last = r.SessionID; return nil })
		if last != "x" {
			t.Fatalf("the record appended after Open is not the last one read (got %q)", last)
		}
		// At the start of time nothing is old enough to drop: every open
		// event must survive.
		if _, err := j.Compact(time.Unix(0, math.MinInt64), time.Hour, time.Hour); err != nil {
			t.Fatalf("Compact: %v", err)
		}
		after := 0
		if _, err := j.ReplayOpen(func(*Record) error { after++; return nil }); err != nil {
			t.Fatalf("ReplayOpen after Compact: %v", err)
		}
		if after != open+1 {
			t.Fatalf("open events: %d before compaction (+1 appended), %d after", open, after)
		}
	})
}

// ReplayOpenFile reads a snapshot while appends continue.
func TestReplayOpenFileSnapshot(t *testing.T) {
	j, _ := open(t, t.TempDir())
	j.AppendEvent("a", ev("a", 1, t0))
	j.AppendEvent("b", ev("b", 2, t0))
	j.Sync()
	path, size := j.Snapshot()
	j.AppendEvent("a", ev("a", 3, t0)) // after the snapshot
	var got []string
	if _, err := ReplayOpenFile(path, size, settings, func(r *Record) error {
		got = append(got, fmt.Sprintf("%s:%d", r.SessionID, number(r)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[a:1 b:2]" {
		t.Errorf("snapshot replay: got %v, want [a:1 b:2]", got)
	}
}
