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
	wait := func(want string) {
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
