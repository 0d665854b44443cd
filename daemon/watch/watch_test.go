package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, s Settings) (*Watcher, func()) {
	t.Helper()
	w := New(s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	return w, func() { cancel(); <-done }
}

func appendTo(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(s)
	f.Close()
}

func TestPollFallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		transcript := filepath.Join(dir, "s.jsonl")
		subagents := filepath.Join(dir, "s", "subagents")
		w, stop := start(t, Settings{PollOnly: true, PollInterval: 500 * time.Millisecond})
		defer stop()
		w.Set([]string{transcript, subagents})
		step := func() []string {
			time.Sleep(600 * time.Millisecond)
			synctest.Wait()
			return w.Take()
		}
		for _, tc := range []struct {
			name string
			act  func()
			want []string
		}{
			{"nothing yet", func() {}, nil},
			{"transcript created", func() { appendTo(t, transcript, "{}\n") }, []string{transcript}},
			{"transcript grows", func() { appendTo(t, transcript, "{}\n") }, []string{transcript}},
			{"quiet", func() {}, nil},
			{"subagents dir created", func() { os.MkdirAll(subagents, 0o700) }, nil},
			{"subagent transcript created", func() { appendTo(t, filepath.Join(subagents, "agent-a1.jsonl"), "{}\n") },
				[]string{filepath.Join(subagents, "agent-a1.jsonl")}},
		} {
			tc.act()
			if got := step(); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			}
		}
		// Unwatched: no longer reported.
		w.Set([]string{subagents})
		appendTo(t, transcript, "{}\n")
		if got := step(); len(got) != 0 {
			t.Errorf("after unwatching: got %v, want nothing", got)
		}
		if st := w.Stats(); !st.PollOnly || st.Watched != 1 || st.PollChanges == 0 {
			t.Errorf("stats: got %+v, want poll only, 1 watched, poll changes counted", st)
		}
	})
}

func TestNewWatchReportsExistingFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "s.jsonl")
		appendTo(t, p, "{}\n")
		w, stop := start(t, Settings{PollOnly: true})
		defer stop()
		w.Set([]string{p})
		select {
		case <-w.Changes():
		default:
			t.Fatalf("Changes not signalled for a newly watched existing file")
		}
		if got := w.Take(); len(got) != 1 || got[0] != p {
			t.Errorf("Take: got %v, want [%s]", got, p)
		}
		w.Set([]string{p}) // same set again: not reported again
		if got := w.Take(); len(got) != 0 {
			t.Errorf("re-Set: got %v, want nothing", got)
		}
	})
}

// fsnotify alone (the poll is an hour away) reports growth and creation.
func TestNotify(t *testing.T) {
	dir := t.TempDir()
	transcript := filepath.Join(dir, "s.jsonl")
	sub := filepath.Join(dir, "s", "subagents")
	w, stop := start(t, Settings{PollInterval: time.Hour})
	defer stop()
	<-w.Ready()
	w.Set([]string{transcript, filepath.Join(dir, "s"), sub})
	if err := os.MkdirAll(filepath.Join(dir, "s"), 0o700); err != nil {
		t.Fatal(err)
	}
	wait := func(want string) { t.Helper(); waitFor(t, w, want) }
	wait(filepath.Join(dir, "s"))
	appendTo(t, transcript, "{}\n")
	wait(transcript)
	appendTo(t, transcript, "{}\n")
	wait(transcript)
	os.MkdirAll(sub, 0o700)
	wait(sub)
	agent := filepath.Join(sub, "agent-x.jsonl")
	appendTo(t, agent, "{}\n")
	wait(agent)
	if st := w.Stats(); st.PollOnly || st.NotifyEvents == 0 {
		t.Errorf("stats: got %+v, want fsnotify events", st)
	}
}

// waitFor returns once w reports want, or fails after 10 s.
func waitFor(t *testing.T, w *Watcher, want string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-w.Changes():
			for _, p := range w.Take() {
				if p == want {
					return
				}
			}
		case <-deadline:
			t.Fatalf("no change reported for %s (stats %+v)", want, w.Stats())
		}
	}
}

// A file made in a new directory before fsnotify watches it has no event;
// the rescan after the watch is added reports it (the poll is an hour
// away). beforeAdd makes the file at the worst moment, every time: what
// TestNotify hit once in a few hundred runs on a loaded machine.
func TestNotifyFileBeforeWatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		// made: what exists when the watch starts (under dir)
		made []string
		// mkdir: the directory made then; at: the directory whose watch is
		// about to be added when subagents/ (if missing) and the file in
		// it are made
		mkdir, at string
	}{
		// Claude Code makes <session>/subagents/ then writes agent-x.jsonl.
		{"subagents made while the session dir is watched", []string{"s"}, "s/subagents", "s/subagents"},
		// mkdir -p of both: the session dir is watched only once seen.
		{"session and subagents dirs made at once", nil, "s", "s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, d := range tc.made {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			transcript := filepath.Join(dir, "s.jsonl")
			sub := filepath.Join(dir, "s", "subagents")
			agent := filepath.Join(sub, "agent-x.jsonl")
			at := filepath.Join(dir, tc.at)
			made := make(chan struct{})
			beforeAdd = func(d string) { // on the watcher's goroutine
				if d != at || !isDir(d) { // about to be watched, and there
					return
				}
				if err := os.MkdirAll(sub, 0o700); err != nil {
					t.Error(err)
				}
				if err := os.WriteFile(agent, []byte("{}\n"), 0o600); err != nil {
					t.Error(err)
				}
				close(made)
			}
			defer func() { beforeAdd = nil }()
			w, stop := start(t, Settings{PollInterval: time.Hour})
			defer stop()
			<-w.Ready()
			// What session.Processor.Watches gives for one session.
			w.Set([]string{transcript, dir, sub})
			if err := os.Mkdir(filepath.Join(dir, tc.mkdir), 0o700); err != nil {
				t.Fatal(err)
			}
			waitFor(t, w, agent)
			<-made
			if st := w.Stats(); st.PollChanges != 0 {
				t.Errorf("stats %+v: the poll ran", st)
			}
			// The watch is in place: the file's growth has an event.
			appendTo(t, agent, "{}\n")
			waitFor(t, w, agent)
		})
	}
}

// Two changes to a directory within one timestamp granule leave its mtime
// as it was: a listing made between them must not hide the second. The
// file system's granule is simulated by putting the mtime back.
func TestPollSameMtime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sub := filepath.Join(t.TempDir(), "subagents")
		if err := os.Mkdir(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(sub)
		if err != nil {
			t.Fatal(err)
		}
		w, stop := start(t, Settings{PollOnly: true, PollInterval: 500 * time.Millisecond})
		defer stop()
		w.Set([]string{sub}) // listed (empty) at the mtime of the mkdir
		step := func() []string {
			time.Sleep(600 * time.Millisecond)
			synctest.Wait()
			return w.Take()
		}
		// made within the mkdir's granule: the listing above missed it and
		// the mtime did not move.
		agent := filepath.Join(sub, "agent-a.jsonl")
		appendTo(t, agent, "{}\n")
		if err := os.Chtimes(sub, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
		if got := step(); fmt.Sprint(got) != fmt.Sprint([]string{agent}) {
			t.Errorf("file made in the same mtime granule: got %v, want [%s]", got, agent)
		}
		// Past racyWindow the listing is trusted: the poll stops listing
		// a directory whose mtime stays.
		for range 5 {
			step()
		}
		w.mu.Lock()
		unsettled := len(w.unsettled)
		w.mu.Unlock()
		if unsettled != 0 {
			t.Errorf("%d directories still listed on every poll %v after their last change", unsettled, 6*600*time.Millisecond)
		}
		// A later change moves the mtime: seen.
		other := filepath.Join(sub, "agent-b.jsonl")
		appendTo(t, other, "{}\n")
		if got := step(); fmt.Sprint(got) != fmt.Sprint([]string{other}) {
			t.Errorf("later file: got %v, want [%s]", got, other)
		}
	})
}

// A watched directory removed and made again is watched again, and what it
// then holds is reported even under the names it held before.
func TestNotifyDirRecreated(t *testing.T) {
	for _, pollOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("poll only %v", pollOnly), func(t *testing.T) {
			dir := t.TempDir()
			sub := filepath.Join(dir, "s", "subagents")
			agent := filepath.Join(sub, "agent-x.jsonl")
			poll := time.Hour
			if pollOnly {
				poll = 20 * time.Millisecond
			}
			w, stop := start(t, Settings{PollInterval: poll, PollOnly: pollOnly})
			defer stop()
			<-w.Ready()
			w.Set([]string{dir, sub})
			for range 2 {
				if err := os.MkdirAll(sub, 0o700); err != nil {
					t.Fatal(err)
				}
				appendTo(t, agent, "{}\n")
				waitFor(t, w, agent)
				if err := os.RemoveAll(filepath.Join(dir, "s")); err != nil {
					t.Fatal(err)
				}
				if pollOnly {
					waitGone(t, w, sub)
				}
			}
			if !pollOnly {
				appendTo(t, filepath.Join(dir, "s.jsonl"), "{}\n") // still watching
				waitFor(t, w, filepath.Join(dir, "s.jsonl"))
				if st := w.Stats(); st.PollChanges != 0 {
					t.Errorf("stats %+v: the poll ran", st)
				}
			}
		})
	}
}

// waitGone returns once the poll has seen p gone.
func waitGone(t *testing.T, w *Watcher, p string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		gone := !w.polled[p].exists
		w.mu.Unlock()
		if gone {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the poll did not see %s removed", p)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
