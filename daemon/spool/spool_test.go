package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weavetrace/weave/daemon/frame"
)

func open(t *testing.T, dir string, max, seg int64) *Queue {
	t.Helper()
	q, err := Open(dir, Settings{MaxBytes: max, SegmentBytes: seg})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func rec(i int) []byte { return []byte(fmt.Sprintf("record-%04d-%s", i, strings.Repeat("x", 40))) }

// drain Peeks and Acks everything, returning the record numbers in order.
func drain(t *testing.T, q *Queue) []int {
	t.Helper()
	var out []int
	for {
		b, err := q.Peek()
		if errors.Is(err, ErrEmpty) {
			return out
		}
		if err != nil {
			t.Fatalf("Peek: %v", err)
		}
		var n int
		fmt.Sscanf(string(b), "record-%04d", &n)
		out = append(out, n)
		if err := q.Ack(); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func TestFIFOAcrossSegmentsAndReopen(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, 1<<20, 300) // ~4 records per segment
	for i := range 20 {
		if err := q.Put(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	st := q.Stats()
	if st.Records != 20 || st.Segments < 5 {
		t.Errorf("stats: got %+v, want 20 records over >= 5 segments", st)
	}
	// Deliver 7, then "restart".
	for range 7 {
		if _, err := q.Peek(); err != nil {
			t.Fatal(err)
		}
		if err := q.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	// Peek twice without Ack returns the same record.
	a, _ := q.Peek()
	b, _ := q.Peek()
	if string(a) != string(b) || !strings.HasPrefix(string(a), "record-0007") {
		t.Errorf("Peek twice: got %q and %q, want record 7 both times", a, b)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q2 := open(t, dir, 1<<20, 300)
	if st := q2.Stats(); st.Records != 13 || st.Unclean {
		t.Errorf("after reopen: got %+v, want 13 records, clean", st)
	}
	q2.Put(rec(20))
	if got := drain(t, q2); fmt.Sprint(got) != fmt.Sprint(seq(7, 21)) {
		t.Errorf("drained %v, want %v", got, seq(7, 21))
	}
	if st := q2.Stats(); st.Records != 0 || st.Bytes != 0 || st.Segments != 1 {
		t.Errorf("empty spool: got %+v, want 0 records, 0 bytes, 1 segment", st)
	}
	if _, err := q2.Peek(); !errors.Is(err, ErrEmpty) {
		t.Errorf("Peek on empty: got %v, want ErrEmpty", err)
	}
}

func TestCapDropsOldest(t *testing.T) {
	dir := t.TempDir()
	size := int64(frame.HeaderSize + len(rec(0)))
	q := open(t, dir, 10*size, 2*size) // room for 10 records, 2 per segment
	for i := range 25 {
		if err := q.Put(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	st := q.Stats()
	if st.Bytes > 10*size || st.DroppedRecords == 0 || st.Records+st.DroppedRecords != 25 {
		t.Errorf("stats: got %+v, want <= %d bytes and kept+dropped = 25", st, 10*size)
	}
	got := drain(t, q)
	if len(got) != int(st.Records) || got[len(got)-1] != 24 || got[0] != 25-len(got) {
		t.Errorf("drained %v, want the newest %d in order", got, st.Records)
	}
	if _, err := q.Peek(); !errors.Is(err, ErrEmpty) {
		t.Errorf("after drain: %v, want ErrEmpty", err)
	}
}

// The cap drops the record being delivered: its Ack is a no-op.
func TestCapDropsPeekedRecord(t *testing.T) {
	size := int64(frame.HeaderSize + len(rec(0)))
	q := open(t, t.TempDir(), 4*size, 2*size)
	for i := range 4 {
		q.Put(rec(i))
	}
	if b, _ := q.Peek(); !strings.HasPrefix(string(b), "record-0000") {
		t.Fatalf("Peek: got %q, want record 0", b)
	}
	q.Put(rec(4)) // drops the segment with records 0 and 1
	if err := q.Ack(); err != nil {
		t.Errorf("Ack of a dropped record: got %v, want nil", err)
	}
	if got := drain(t, q); fmt.Sprint(got) != "[2 3 4]" {
		t.Errorf("drained %v, want [2 3 4]", got)
	}
}

func TestTooBig(t *testing.T) {
	q := open(t, t.TempDir(), 100, 0)
	if err := q.Put(make([]byte, 200)); !errors.Is(err, ErrTooBig) {
		t.Errorf("Put over the cap: got %v, want ErrTooBig", err)
	}
}

func TestLockAndUncleanMarker(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(dir, Settings{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Settings{MaxBytes: 1 << 20}); !errors.Is(err, ErrInUse) {
		t.Errorf("second Open: got %v, want ErrInUse", err)
	}
	q.Put(rec(1))
	q.closeFiles() // a crash: no Close
	q2 := open(t, dir, 1<<20, 0)
	if st := q2.Stats(); !st.Unclean || st.Records != 1 {
		t.Errorf("after a crash: got %+v, want unclean with the record kept", st)
	}
	q2.Close()
	q3 := open(t, dir, 1<<20, 0)
	if st := q3.Stats(); st.Unclean {
		t.Errorf("after a clean Close: got unclean, want clean")
	}
}

// A crash mid-Put leaves a torn record at the tail: cut on Open, counted.
func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, 1<<20, 0)
	q.Put(rec(0))
	q.Put(rec(1))
	q.closeFiles()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.dat"))
	f, _ := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	full := frame.Append(nil, Magic, rec(2))
	f.Write(full[:len(full)-9])
	f.Close()
	q2 := open(t, dir, 1<<20, 0)
	if st := q2.Stats(); st.Corrupt != 1 || st.Records != 2 {
		t.Errorf("stats: got %+v, want 1 corrupt, 2 records", st)
	}
	q2.Put(rec(3))
	if got := drain(t, q2); fmt.Sprint(got) != "[0 1 3]" {
		t.Errorf("drained %v, want [0 1 3]", got)
	}
}

// A damaged record in an older segment is skipped when read and counted.
func TestDamagedRecordSkipped(t *testing.T) {
	dir := t.TempDir()
	size := int64(frame.HeaderSize + len(rec(0)))
	q := open(t, dir, 1<<20, 3*size)
	for i := range 6 {
		q.Put(rec(i))
	}
	q.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.dat"))
	b, _ := os.ReadFile(segs[0])
	b[size+frame.HeaderSize+3] ^= 0xff // record 1's payload
	os.WriteFile(segs[0], b, 0o600)
	q2 := open(t, dir, 1<<20, 3*size)
	if got := drain(t, q2); fmt.Sprint(got) != "[0 2 3 4 5]" {
		t.Errorf("drained %v, want [0 2 3 4 5]", got)
	}
	if st := q2.Stats(); st.Corrupt != 1 || st.Records != 0 || st.Bytes != 0 {
		t.Errorf("stats: got %+v, want 1 corrupt region and an empty spool", st)
	}
}

// FuzzSegment: whatever a segment file holds, Open and a full drain work
// and end with an empty spool, and the spool takes new records after.
//
// Kept cheap so a fuzzing run does thousands of inputs a second (and the
// minimization of a new input takes a moment, not its 60 s budget): no
// fsync, one directory per worker (in memory where possible) emptied
// between inputs, and a small cap and segment size, which also drive Put
// through new segments and drops.
func FuzzSegment(f *testing.F) {
	var good []byte
	for i := range 3 {
		good = frame.Append(good, Magic, rec(i))
	}
	f.Add(good, []byte{})
	f.Add(good[:len(good)-4], good[3:])
	f.Add([]byte("WVSP\x05\x00\x00\x00garbage"), good)
	noFsync(f)
	dir := fuzzDir(f)
	f.Fuzz(func(t *testing.T, seg0, seg1 []byte) {
		emptyDir(t, dir)
		os.WriteFile(filepath.Join(dir, "seg-0000000000000000.dat"), seg0, 0o600)
		os.WriteFile(filepath.Join(dir, "seg-0000000000000001.dat"), seg1, 0o600)
		q, err := Open(dir, Settings{MaxBytes: 4 << 10, SegmentBytes: 512})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer q.Close()
		for i := 0; ; i++ {
			if i > 1000 {
				t.Fatalf("drain does not end")
			}
			_, err := q.Peek()
			if errors.Is(err, ErrEmpty) {
				break
			}
			if err != nil {
				t.Fatalf("Peek: %v", err)
			}
			if err := q.Ack(); err != nil {
				t.Fatalf("Ack: %v", err)
			}
		}
		if st := q.Stats(); st.Records != 0 {
			t.Fatalf("after drain: %+v", st)
		}
		for i := range 12 { // past a segment and the cap: new segments, drops
			if err := q.Put(rec(i)); err != nil {
				t.Fatalf("Put %d: %v", i, err)
			}
		}
		b, err := q.Peek()
		if err != nil || !strings.HasPrefix(string(b), "record-") {
			t.Fatalf("Peek after Put: %q, %v", b, err)
		}
	})
}

// noFsync turns fsync off for the fuzz target (and back on after it).
func noFsync(f *testing.F) {
	old := syncFile
	syncFile = func(*os.File) error { return nil }
	f.Cleanup(func() { syncFile = old })
}

// fuzzDir is a directory for one fuzz worker's inputs, in memory
// (/dev/shm) where there is one: file creation and renames cost a tenth
// there of what they cost on disk.
func fuzzDir(f *testing.F) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "weave-fuzz-"); err == nil {
			f.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return f.TempDir()
}

// emptyDir removes everything in dir, reused between fuzz inputs.
func emptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

// A damaged region Peek skips, and a torn tail cut at Open, are handed to
// the owner with their bytes (to tell which spans they held).
func TestTakeDamage(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, 1<<20, 1<<20)
	for i := range 4 {
		if err := q.Put(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	seg := filepath.Join(dir, "seg-0000000000000000.dat")
	b, _ := os.ReadFile(seg)
	size := frame.HeaderSize + len(rec(0))
	b[size+frame.HeaderSize+5] ^= 0xff                      // record 1's payload
	b = append(b, frame.Append(nil, Magic, rec(9))[:20]...) // a torn Put
	os.WriteFile(seg, b, 0o600)

	q2 := open(t, dir, 1<<20, 1<<20)
	d := q2.TakeDamage()
	if len(d) != 1 || !d[0].TornTail || d[0].Size != 20 || len(d[0].Bytes) != 20 {
		t.Fatalf("after Open: got %+v, want the 20-byte torn tail", d)
	}
	if got := drain(t, q2); fmt.Sprint(got) != "[0 2 3]" {
		t.Errorf("drained %v, want [0 2 3]", got)
	}
	d = q2.TakeDamage()
	if len(d) != 1 || d[0].TornTail || d[0].Offset != int64(size) || d[0].Size != int64(size) ||
		!strings.Contains(string(d[0].Bytes), "-0001-") {
		t.Errorf("after the drain: got %+v, want record 1's frame at %d", d, size)
	}
	if d := q2.TakeDamage(); len(d) != 0 {
		t.Errorf("TakeDamage again: got %d, want none", len(d))
	}
}

// Inspect reads a spool with or without its owner, changing nothing.
func TestInspect(t *testing.T) {
	dir := t.TempDir()
	if st, err := Inspect(filepath.Join(dir, "none"), nil); err != nil || st.Records != 0 {
		t.Errorf("Inspect(missing): %+v, %v, want empty", st, err)
	}
	q := open(t, dir, 1<<20, 300)
	for i := range 10 {
		q.Put(rec(i))
	}
	for range 3 { // delivered
		q.Peek()
		q.Ack()
	}
	var got []string
	st, err := Inspect(dir, func(b []byte) { got = append(got, string(b[:11])) })
	if err != nil || st.Records != 7 || len(got) != 7 || got[0] != "record-0003" {
		t.Errorf("Inspect with its owner: %+v, %v, records %v; want records 3..9", st, err, got)
	}
	want := q.Stats()
	q.Close()
	st, err = Inspect(dir, nil)
	if err != nil || st.Records != want.Records || st.Bytes != want.Bytes {
		t.Errorf("Inspect without an owner: %+v, %v; want %d records, %d bytes", st, err, want.Records, want.Bytes)
	}
	q2 := open(t, dir, 1<<20, 300) // and Inspect took no lock, changed nothing
	if got := drain(t, q2); fmt.Sprint(got) != fmt.Sprint(seq(3, 10)) {
		t.Errorf("drained after Inspect %v, want 3..9", got)
	}
}
