// Package watch tells weave-agentd when transcript files grow: fsnotify on
// the directories holding the watched paths (transcripts and subagent
// folders are created after the hooks that announce them), plus a polling
// fallback that stats the watched paths every PollInterval, for file
// systems where inotify is silent (network mounts, some containers).
//
// A change is reported for a path that is watched, or for a file directly
// inside a watched directory. Changes are coalesced: Changes() signals that
// some are pending and Take() returns them, each path once.
package watch

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Settings configure a Watcher.
type Settings struct {
	Logger *slog.Logger
	// PollInterval is the polling fallback's period (default 500 ms).
	PollInterval time.Duration
	// PollOnly disables fsnotify.
	PollOnly bool
}

// Watcher watches a set of paths. Set, Changes and Take are safe from any
// goroutine; Run is the watcher's one goroutine.
type Watcher struct {
	set     Settings
	log     *slog.Logger
	changes chan struct{}

	syncMu  sync.Mutex // serializes syncNotify
	mu      sync.Mutex
	want    map[string]bool
	dirty   map[string]bool
	polled  map[string]state           // last stat of each wanted path
	listed  map[string]map[string]bool // entries of each wanted directory
	resync  chan struct{}              // Set asks Run to update fsnotify
	ready   chan struct{}              // closed when Run has set up
	notify  *fsnotify.Watcher
	watched map[string]bool // directories fsnotify watches
	stats   Stats
}

type state struct {
	exists bool
	dir    bool
	size   int64
	mtime  time.Time
}

// Stats are the watcher's counters.
type Stats struct {
	Watched      int   `json:"watched"`
	NotifyDirs   int   `json:"notify_dirs"`
	NotifyEvents int64 `json:"notify_events"`
	PollChanges  int64 `json:"poll_changes"` // changes only the poll saw
	NotifyErrors int64 `json:"notify_errors"`
	PollOnly     bool  `json:"poll_only"`
}

// New returns a Watcher; Run starts it.
func New(s Settings) *Watcher {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.PollInterval <= 0 {
		s.PollInterval = 500 * time.Millisecond
	}
	return &Watcher{
		set:     s,
		log:     s.Logger,
		changes: make(chan struct{}, 1),
		want:    map[string]bool{},
		dirty:   map[string]bool{},
		polled:  map[string]state{},
		listed:  map[string]map[string]bool{},
		resync:  make(chan struct{}, 1),
		ready:   make(chan struct{}),
		watched: map[string]bool{},
	}
}

// Ready is closed once Run has set fsnotify up; from then on Set updates
// the fsnotify watches before it returns.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Set replaces the watched paths. A newly watched path that exists is
// reported once (it may have grown before it was watched).
func (w *Watcher) Set(paths []string) {
	w.mu.Lock()
	next := make(map[string]bool, len(paths))
	for _, p := range paths {
		p = filepath.Clean(p)
		next[p] = true
		if w.want[p] {
			continue
		}
		st := stat(p)
		w.polled[p] = st
		if st.dir {
			w.listed[p] = list(p)
		} else if st.exists {
			w.markLocked(p)
		}
	}
	for p := range w.want {
		if !next[p] {
			delete(w.polled, p)
			delete(w.listed, p)
		}
	}
	changed := len(next) != len(w.want)
	if !changed {
		for p := range next {
			if !w.want[p] {
				changed = true
				break
			}
		}
	}
	w.want = next
	w.stats.Watched = len(next)
	w.mu.Unlock()
	if changed {
		select {
		case <-w.ready:
			w.syncNotify()
		default:
			select {
			case w.resync <- struct{}{}:
			default:
			}
		}
	}
}

// Changes is signalled when changed paths are pending.
func (w *Watcher) Changes() <-chan struct{} { return w.changes }

// Take returns the pending changed paths, sorted, and clears them.
func (w *Watcher) Take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.dirty))
	for p := range w.dirty {
		out = append(out, p)
	}
	clear(w.dirty)
	sort.Strings(out)
	return out
}

// Stats returns the counters.
func (w *Watcher) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.stats
	st.NotifyDirs = len(w.watched)
	return st
}

func (w *Watcher) markLocked(p string) {
	w.dirty[p] = true
	select {
	case w.changes <- struct{}{}:
	default:
	}
}

// relevantLocked reports whether a change to p concerns a watched path.
func (w *Watcher) relevantLocked(p string) bool {
	return w.want[p] || w.want[filepath.Dir(p)]
}

// Run watches until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	var events chan fsnotify.Event
	var errs chan error
	if !w.set.PollOnly {
		n, err := fsnotify.NewWatcher()
		if err != nil {
			w.log.Warn("watch: fsnotify unavailable, polling only", "err", err)
		} else {
			w.mu.Lock()
			w.notify = n
			w.mu.Unlock()
			defer n.Close()
			events, errs = n.Events, n.Errors
		}
	}
	w.mu.Lock()
	w.stats.PollOnly = w.notify == nil
	w.mu.Unlock()
	w.syncNotify()
	close(w.ready)
	tick := time.NewTicker(w.set.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.resync:
			w.syncNotify()
		case <-tick.C:
			w.poll()
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			w.onEvent(ev)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			w.mu.Lock()
			w.stats.NotifyErrors++
			w.mu.Unlock()
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.poll() // events were lost: look at everything
			}
		}
	}
}

func (w *Watcher) onEvent(ev fsnotify.Event) {
	p := filepath.Clean(ev.Name)
	w.mu.Lock()
	w.stats.NotifyEvents++
	relevant := w.relevantLocked(p)
	if relevant && !ev.Has(fsnotify.Remove|fsnotify.Rename) {
		w.markLocked(p)
	}
	created := ev.Has(fsnotify.Create) && w.want[p]
	w.mu.Unlock()
	if created {
		w.syncNotify() // a watched directory appeared: watch inside it
	}
}

// syncNotify makes fsnotify watch the directories the wanted paths need:
// each wanted directory, and the parent of every wanted path (to see it
// created).
func (w *Watcher) syncNotify() {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	w.mu.Lock()
	n := w.notify
	need := map[string]bool{}
	for p := range w.want {
		need[filepath.Dir(p)] = true
		if st := w.polled[p]; st.dir || isDir(p) {
			need[p] = true
		}
	}
	var add, remove []string
	for d := range need {
		if !w.watched[d] {
			add = append(add, d)
		}
	}
	for d := range w.watched {
		if !need[d] {
			remove = append(remove, d)
		}
	}
	w.mu.Unlock()
	if n == nil {
		return
	}
	for _, d := range remove {
		_ = n.Remove(d)
		w.mu.Lock()
		delete(w.watched, d)
		w.mu.Unlock()
	}
	for _, d := range add {
		if err := n.Add(d); err != nil {
			continue // not there yet: its parent's watch or the poll will see it
		}
		w.mu.Lock()
		w.watched[d] = true
		w.mu.Unlock()
	}
}

// poll stats every wanted path and lists wanted directories whose mtime
// changed, marking what differs since the last poll.
func (w *Watcher) poll() {
	w.mu.Lock()
	paths := make([]string, 0, len(w.want))
	for p := range w.want {
		paths = append(paths, p)
	}
	w.mu.Unlock()
	newDirs := false
	for _, p := range paths {
		st := stat(p)
		var entries map[string]bool
		w.mu.Lock()
		old, ok := w.polled[p]
		w.mu.Unlock()
		if !ok {
			continue // removed meanwhile
		}
		if st.dir && (!old.dir || !st.mtime.Equal(old.mtime)) {
			entries = list(p)
		}
		w.mu.Lock()
		if _, still := w.polled[p]; !still {
			w.mu.Unlock()
			continue
		}
		w.polled[p] = st
		if !st.dir && st != old && st.exists {
			if !w.dirty[p] {
				w.stats.PollChanges++
			}
			w.markLocked(p)
		}
		if st.dir && !old.dir {
			newDirs = true
		}
		if entries != nil {
			prev := w.listed[p]
			for name := range entries {
				if !prev[name] {
					w.markLocked(filepath.Join(p, name))
				}
			}
			w.listed[p] = entries
		}
		w.mu.Unlock()
	}
	if newDirs {
		w.syncNotify()
	}
}

func stat(p string) state {
	fi, err := os.Stat(p)
	if err != nil {
		return state{}
	}
	return state{exists: true, dir: fi.IsDir(), size: fi.Size(), mtime: fi.ModTime()}
}

func isDir(p string) bool { return stat(p).dir }

func list(dir string) map[string]bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := make(map[string]bool, len(ents))
	for _, e := range ents {
		if !e.IsDir() {
			out[e.Name()] = true
		}
	}
	return out
}
