// Package watch tells weave-agentd when transcript files grow: fsnotify on
// the directories holding the watched paths (transcripts and subagent
// folders are created after the hooks that announce them), plus a polling
// fallback that stats the watched paths every PollInterval, for file
// systems where inotify is silent (network mounts, some containers).
//
// A change is reported for a path that is watched, or for a file directly
// inside a watched directory. Changes are coalesced: Changes() signals that
// some are pending and Take() returns them, each path once.
//
// Two races are closed so that no file is missed for good:
//
//   - inotify sees nothing in a directory before its watch is added, and a
//     directory is watched only after its creation was seen: a file made in
//     between (Claude Code writes a subagent's transcript right after
//     making subagents/) has no event. So each time a watch is added, the
//     wanted paths it covers are looked at again (stat, and a listing of
//     a wanted directory), as the poll would; a directory is reported
//     created only once its watch is in place.
//   - the poll lists a directory again only when its mtime changed, but
//     two changes within one timestamp granule (a jiffy on Linux, a second
//     or two on some file systems) leave the same mtime: a listing made
//     between them would hide the second one. So a listing is trusted only
//     when made more than racyWindow after the mtime was first seen; until
//     then every poll lists again.
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

	syncMu sync.Mutex // serializes syncNotify
	mu     sync.Mutex
	want   map[string]bool
	dirty  map[string]bool
	polled map[string]state           // last stat of each wanted path
	listed map[string]map[string]bool // entries of each wanted directory
	// unsettled holds the wanted directories whose listing cannot be
	// trusted yet: the poll lists them again until after the time held.
	unsettled map[string]time.Time
	need      map[string]bool // directories fsnotify should watch
	resync    chan struct{}   // Set asks Run to update fsnotify
	ready     chan struct{}   // closed when Run has set up
	notify    *fsnotify.Watcher
	watched   map[string]bool // directories fsnotify watches
	stats     Stats
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
		set:       s,
		log:       s.Logger,
		changes:   make(chan struct{}, 1),
		want:      map[string]bool{},
		dirty:     map[string]bool{},
		polled:    map[string]state{},
		listed:    map[string]map[string]bool{},
		unsettled: map[string]time.Time{},
		need:      map[string]bool{},
		resync:    make(chan struct{}, 1),
		ready:     make(chan struct{}),
		watched:   map[string]bool{},
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
		now := time.Now()
		w.polled[p] = st
		if st.dir {
			w.listed[p] = list(p)
			w.unsettled[p] = now.Add(racyWindow)
		} else if st.exists {
			w.markLocked(p)
		}
	}
	for p := range w.want {
		if !next[p] {
			delete(w.polled, p)
			delete(w.listed, p)
			delete(w.unsettled, p)
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
	relevant := w.relevantLocked(p) && !ev.Has(fsnotify.Remove|fsnotify.Rename)
	if ev.Has(fsnotify.Remove|fsnotify.Rename) && w.watched[p] {
		// inotify dropped the watch with the directory: watch it again
		// should it come back, and report all it then holds.
		delete(w.watched, p)
		if _, ok := w.polled[p]; ok {
			w.polled[p] = state{}
			delete(w.listed, p)
		}
	}
	created := ev.Has(fsnotify.Create) && (w.want[p] || w.need[p]) && !w.watched[p]
	if relevant && !created {
		w.markLocked(p)
	}
	w.mu.Unlock()
	if !created {
		return
	}
	// A directory to watch may have appeared (a wanted one, or the parent
	// of one): watch inside it before reporting it, so whoever reacts to
	// the report finds the watch in place.
	if isDir(p) {
		w.syncNotify()
	}
	if relevant {
		w.mu.Lock()
		w.markLocked(p)
		w.mu.Unlock()
	}
}

// syncNotify makes fsnotify watch the directories the wanted paths need:
// each wanted directory, and the parent of every wanted path (to see it
// created). Each directory newly watched is rescanned (see rescan). A
// directory that is missing is watched once its creation is seen (in a
// watched parent), the poll sees it, or the next Set.
func (w *Watcher) syncNotify() {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	for w.syncOnce() {
		// A rescan found a wanted directory made meanwhile: watch it too.
	}
}

// syncOnce is one pass of syncNotify; again: a rescan found a wanted
// directory that is not watched.
func (w *Watcher) syncOnce() (again bool) {
	w.mu.Lock()
	n := w.notify
	need := map[string]bool{}
	for p := range w.want {
		need[filepath.Dir(p)] = true
		if st := w.polled[p]; st.dir || isDir(p) {
			need[p] = true
		}
	}
	// The parent of a missing one is needed too: the missing directory's
	// creation there is what tells to watch it (and so the wanted paths in
	// it). <session>/subagents/ is wanted before <session>/ exists.
	var missing []string
	for d := range need {
		if !w.watched[d] && !isDir(d) {
			missing = append(missing, d)
		}
	}
	for _, d := range missing {
		need[filepath.Dir(d)] = true
	}
	w.need = need
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
		return false
	}
	for _, d := range remove {
		_ = n.Remove(d)
		w.mu.Lock()
		delete(w.watched, d)
		w.mu.Unlock()
	}
	sort.Strings(add) // parents first
	for _, d := range add {
		if beforeAdd != nil {
			beforeAdd(d)
		}
		if err := n.Add(d); err != nil {
			continue // not there yet: its parent's watch or the poll will see it
		}
		w.mu.Lock()
		w.watched[d] = true
		w.mu.Unlock()
		if w.rescan(d) {
			again = true
		}
	}
	return again
}

// beforeAdd, when set (tests), runs just before fsnotify is asked to watch
// dir: the moment a file made in a new directory has no event.
var beforeAdd func(dir string)

// rescan looks again at the wanted paths a watch just added on dir covers:
// dir itself and the wanted paths directly inside it. What changed before
// the watch existed had no event: report it as the poll would. newDir: a
// wanted directory inside dir is not watched yet.
func (w *Watcher) rescan(dir string) (newDir bool) {
	w.mu.Lock()
	var paths []string
	for p := range w.want {
		if p == dir || filepath.Dir(p) == dir {
			paths = append(paths, p)
		}
	}
	w.mu.Unlock()
	for _, p := range paths {
		st := stat(p)
		now := time.Now()
		if st.dir && p != dir {
			w.mu.Lock()
			unwatched := !w.watched[p]
			w.mu.Unlock()
			if unwatched {
				// Reported once it is watched and rescanned itself, so
				// what it holds is reported with its watch in place.
				newDir = true
				continue
			}
		}
		var entries map[string]bool
		if st.dir {
			entries = list(p)
		}
		w.mu.Lock()
		if old, still := w.polled[p]; still {
			w.updateLocked(p, old, st, entries, now, false)
		}
		w.mu.Unlock()
	}
	return newDir
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
		now := time.Now() // after the stat: see updateLocked
		w.mu.Lock()
		old, ok := w.polled[p]
		_, unsettled := w.unsettled[p]
		w.mu.Unlock()
		if !ok {
			continue // removed meanwhile
		}
		var entries map[string]bool
		if st.dir && (!old.dir || !st.mtime.Equal(old.mtime) || unsettled) {
			entries = list(p)
		}
		w.mu.Lock()
		if _, still := w.polled[p]; !still {
			w.mu.Unlock()
			continue
		}
		if st.dir && !old.dir {
			newDirs = true
		}
		w.updateLocked(p, old, st, entries, now, true)
		w.mu.Unlock()
	}
	if newDirs {
		w.syncNotify()
	}
}

// racyWindow is how long after a directory's mtime was first seen a
// listing of it may still miss an entry made within the same timestamp
// granule: more than the coarsest granule of the file systems we expect
// (FAT's 2 s; a jiffy on Linux, 1 s on ext3, HFS+ and some network
// mounts). It is measured on our clock from when we saw the mtime, never
// compared with the mtime itself, so a file server's skewed clock does
// not matter.
const racyWindow = 2500 * time.Millisecond

// updateLocked records st, the state of wanted path p seen at now (taken
// after the stat), over old, marking what differs: a file that appeared or
// changed, a directory that appeared, and the entries of a directory
// listing (entries, nil when not listed) that the last listing lacked. A
// listing starts a racyWindow during which the poll lists again when the
// mtime is new; the first listing after the window settles it. byPoll
// counts the file changes fsnotify had not reported in Stats.PollChanges.
func (w *Watcher) updateLocked(p string, old, st state, entries map[string]bool, now time.Time, byPoll bool) {
	w.polled[p] = st
	switch {
	case !st.dir && st != old && st.exists:
		if byPoll && !w.dirty[p] {
			w.stats.PollChanges++
		}
		w.markLocked(p)
	case st.dir && !old.dir && !byPoll:
		w.markLocked(p)
	}
	if !st.dir {
		delete(w.unsettled, p)
		delete(w.listed, p) // should it come back, all it holds is new
		return
	}
	if entries == nil {
		return
	}
	if !st.mtime.Equal(old.mtime) || !old.dir {
		w.unsettled[p] = now.Add(racyWindow)
	} else if until, ok := w.unsettled[p]; ok && now.After(until) {
		delete(w.unsettled, p)
	}
	prev := w.listed[p]
	for name := range entries {
		if !prev[name] {
			w.markLocked(filepath.Join(p, name))
		}
	}
	w.listed[p] = entries
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
