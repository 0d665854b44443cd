package hookproto

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/frame"
)

func testPaths(t *testing.T) Paths {
	t.Helper()
	p := NewPaths(t.TempDir())
	if err := p.EnsureHome(); err != nil {
		t.Fatal(err)
	}
	return p
}

func env(i int) *Envelope {
	e := &Envelope{Proto: Version, ID: NewEventID(), ReceivedAt: time.Unix(int64(i), 0).UTC(), TranscriptSize: int64(i),
		Body: []byte(fmt.Sprintf(`{"hook_event_name":"Stop","n":%d}`, i))}
	return e
}

func farDeadline() time.Time { return time.Now().Add(time.Minute) }

func drainAll(t *testing.T, p Paths) ([]Envelope, InboxStats) {
	t.Helper()
	var got []Envelope
	commits := 0
	st, err := DrainInbox(p, func(e Envelope) error { got = append(got, e); return nil }, func() error { commits++; return nil })
	if err != nil {
		t.Fatalf("DrainInbox: %v", err)
	}
	if len(got) > 0 && commits == 0 {
		t.Errorf("DrainInbox handed over %d records without calling commit", len(got))
	}
	return got, st
}

func TestInboxAppendDrain(t *testing.T) {
	p := NewPaths(t.TempDir() + "/home-not-yet-created")
	var want []*Envelope
	for i := range 3 {
		e := env(i)
		want = append(want, e)
		if err := AppendInbox(p, e, farDeadline()); err != nil {
			t.Fatalf("AppendInbox: %v", err)
		}
	}
	fi, err := os.Stat(p.Inbox)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("inbox file: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}
	if !InboxPending(p) {
		t.Errorf("InboxPending: got false, want true")
	}
	got, st := drainAll(t, p)
	if len(got) != 3 || st.Records != 3 || st.Corrupt != 0 {
		t.Fatalf("drained %d (stats %+v), want 3 intact", len(got), st)
	}
	for i, e := range got {
		if e.ID != want[i].ID || string(e.Body) != string(want[i].Body) || e.TranscriptSize != int64(i) {
			t.Errorf("record %d: got %+v, want %+v", i, e, want[i])
		}
	}
	if InboxPending(p) {
		t.Errorf("InboxPending after drain: got true, want false")
	}
	for _, f := range []string{p.Inbox, p.InboxDraining} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after drain: got %v, want it removed", f, err)
		}
	}
	if got, _ := drainAll(t, p); len(got) != 0 {
		t.Errorf("second drain: got %d records, want 0", len(got))
	}
}

func TestInboxDrainFailureKeepsFile(t *testing.T) {
	for _, tc := range []struct {
		name            string
		fnErr, commitEr error
	}{
		{"callback fails", errors.New("journal full"), nil},
		{"commit fails", nil, errors.New("fsync failed")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPaths(t)
			for i := range 2 {
				if err := AppendInbox(p, env(i), farDeadline()); err != nil {
					t.Fatal(err)
				}
			}
			_, err := DrainInbox(p, func(Envelope) error { return tc.fnErr }, func() error { return tc.commitEr })
			if err == nil {
				t.Fatalf("DrainInbox: got nil, want the injected error")
			}
			// A hook appends meanwhile; the next drain gets the old file first, then the new one.
			if err := AppendInbox(p, env(2), farDeadline()); err != nil {
				t.Fatal(err)
			}
			got, _ := drainAll(t, p)
			if len(got) != 3 || got[0].TranscriptSize != 0 || got[2].TranscriptSize != 2 {
				t.Errorf("retry drain: got %d records, want 3 in order", len(got))
			}
		})
	}
}

func TestInboxSkipsDamage(t *testing.T) {
	p := testPaths(t)
	if err := AppendInbox(p, env(0), farDeadline()); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p.Inbox, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	// a torn record (a crash mid-write) and a frame that is not an envelope
	rec := frame.Append(nil, MagicInbox, env(1).AppendBinary(nil))
	f.Write(rec[:len(rec)-5])
	f.Write(frame.Append(nil, MagicInbox, []byte("short")))
	f.Close()
	if err := AppendInbox(p, env(2), farDeadline()); err != nil {
		t.Fatal(err)
	}
	got, st := drainAll(t, p)
	if len(got) != 2 || st.Corrupt != 1 || st.BadRecords != 1 {
		t.Errorf("got %d records, stats %+v, want 2 records, 1 corrupt region, 1 bad record", len(got), st)
	}
}

func TestInboxFull(t *testing.T) {
	p := testPaths(t)
	old := maxInbox
	maxInbox = 100
	t.Cleanup(func() { maxInbox = old })
	if err := AppendInbox(p, env(0), farDeadline()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := AppendInbox(p, env(1), farDeadline()); !errors.Is(err, ErrInboxFull) {
			t.Fatalf("AppendInbox past the cap: got %v, want ErrInboxFull", err)
		}
	}
	got, st := drainAll(t, p)
	if len(got) != 1 || st.Overflow != 3 || st.AppendFailed != 0 {
		t.Errorf("got %d records, overflow %d, append failed %d, want 1, 3, 0", len(got), st.Overflow, st.AppendFailed)
	}
	if _, st := drainAll(t, p); st.Overflow != 0 {
		t.Errorf("overflow counted twice: got %d, want 0", st.Overflow)
	}
}

// An event the inbox did not take for another reason than the cap is
// counted as such, for the daemon's status.
func TestInboxAppendFailureCounted(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    func(t *testing.T, p Paths)
		deadline time.Time
	}{
		{"inbox not writable", func(t *testing.T, p Paths) {
			if err := os.Mkdir(p.Inbox, 0o700); err != nil { // open(O_WRONLY) fails
				t.Fatal(err)
			}
		}, farDeadline()},
		{"deadline passed", func(*testing.T, Paths) {}, time.Now().Add(-time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPaths(t)
			tc.setup(t, p)
			for range 2 {
				if err := AppendInbox(p, env(0), tc.deadline); err == nil {
					t.Fatal("AppendInbox: got nil error, want a failure")
				}
			}
			if !InboxPending(p) {
				t.Errorf("InboxPending with losses counted: got false, want true (a running daemon reports them)")
			}
			_, st := drainAll(t, p)
			if st.AppendFailed != 2 || st.Overflow != 0 {
				t.Errorf("got append failed %d, overflow %d, want 2, 0", st.AppendFailed, st.Overflow)
			}
		})
	}
}

func TestInboxDeadline(t *testing.T) {
	p := testPaths(t)
	err := AppendInbox(p, env(0), time.Now().Add(-time.Second))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("past deadline: got %v, want ErrDeadlineExceeded", err)
	}
}

// Hooks append while the daemon drains: every event comes out exactly once.
func TestInboxConcurrentAppendAndDrain(t *testing.T) {
	p := testPaths(t)
	const writers, each = 6, 150
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := AppendInbox(p, env(w*each+i), farDeadline()); err != nil {
					t.Errorf("AppendInbox: %v", err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[int64]int{}
	var st InboxStats
	collect := func() {
		s, err := DrainInbox(p, func(e Envelope) error { seen[e.TranscriptSize]++; return nil }, func() error { return nil })
		if err != nil {
			t.Fatalf("DrainInbox: %v", err)
		}
		st.Corrupt += s.Corrupt
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			collect()
		}
	}
	collect()
	if len(seen) != writers*each || st.Corrupt != 0 {
		t.Errorf("got %d distinct events (corrupt %d), want %d, 0", len(seen), st.Corrupt, writers*each)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("event %d drained %d times, want once", k, n)
		}
	}
}

// hangGuard turns a call that blocks for good into a failure; it is no
// speed check.
const hangGuard = 10 * time.Second

// A FIFO (or device, or symlink) planted at inbox.overflow is removed
// unread and reported, instead of blocking the daemon's drain for good in
// open(2) (it was read with os.ReadFile).
func TestInboxOverflowFIFORefused(t *testing.T) {
	p := testPaths(t)
	if err := AppendInbox(p, env(0), farDeadline()); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(p.InboxOverflow, 0o600); err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   int
		st  InboxStats
		err error
	}
	done := make(chan result, 1)
	go func() {
		n := 0
		st, err := DrainInbox(p, func(Envelope) error { n++; return nil }, func() error { return nil })
		done <- result{n, st, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(hangGuard):
		// Let a drain blocked in open(2) go: a writer comes and goes.
		if w, err := os.OpenFile(p.InboxOverflow+".taken", os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		<-done
		t.Fatalf("DrainInbox blocked on a FIFO at %s", p.InboxOverflow)
	}
	if r.err != nil || r.n != 1 {
		t.Fatalf("DrainInbox: %d records, %v; want the inbox's 1 and no error", r.n, r.err)
	}
	if r.st.Refused != 1 || !errors.Is(r.st.RefusedErr, ErrUntrusted) || !strings.Contains(fmt.Sprint(r.st.RefusedErr), "not a regular file") {
		t.Errorf("refused %d, why %v; want 1, not a regular file", r.st.Refused, r.st.RefusedErr)
	}
	if InboxPending(p) {
		t.Errorf("InboxPending after the drain: got true, want the FIFO gone")
	}
	for _, f := range []string{p.InboxOverflow, p.InboxOverflow + ".taken"} {
		if _, err := os.Lstat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want it removed", f, err)
		}
	}
}

// inbox.overflow is read up to maxOverflow bytes, counted by reason; the
// bytes past it are counted as failed appends, unread.
func TestInboxOverflowBounded(t *testing.T) {
	defer func(m int64) { maxOverflow = m }(maxOverflow)
	maxOverflow = 4
	p := testPaths(t)
	// Read: 3 full, 1 failed; past the bound: 3 more bytes of either.
	b := []byte{lossFull, lossFull, lossFailed, lossFull, lossFull, lossFull, lossFailed}
	if err := os.WriteFile(p.InboxOverflow, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, st := drainAll(t, p)
	if st.Overflow != 3 || st.AppendFailed != 4 {
		t.Errorf("counted %d (inbox full), %d (append failed); want 3, 1+3 unread", st.Overflow, st.AppendFailed)
	}
}

func TestReadOwn(t *testing.T) {
	dir := t.TempDir()
	reg := dir + "/reg"
	if err := os.WriteFile(reg, []byte("12345\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadOwn(reg, 6); err != nil || string(b) != "12345\n" {
		t.Errorf("ReadOwn(regular file): %q, %v", b, err)
	}
	if _, err := ReadOwn(reg, 5); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadOwn over the bound: got %v, want ErrTooLarge", err)
	}
	fifo := dir + "/fifo"
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadOwn(fifo, 100); !errors.Is(err, ErrUntrusted) { // without O_NONBLOCK, this blocks for good
		t.Errorf("ReadOwn(FIFO): got %v, want ErrUntrusted", err)
	}
	link := dir + "/link"
	if err := os.Symlink(reg, link); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadOwn(link, 100); !errors.Is(err, ErrUntrusted) {
		t.Errorf("ReadOwn(symlink): got %v, want ErrUntrusted", err)
	}
}
