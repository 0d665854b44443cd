package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// CompactStats describes one compaction.
type CompactStats struct {
	Kept, Dropped     int
	Before, After     int64 // bytes
	SessionsDropped   int
	OrphanEventsAged  int // events with no session id, dropped by age
	OpenSessionsAged  int // sessions never closed, dropped by maxAge
	ReadStats         Stats
	GenerationWritten uint64
}

// Compact rewrites the journal without
//   - sessions whose last record is a closed marker older than now-retention,
//   - events with no session id received before now-retention,
//   - sessions whose newest record is older than now-maxAge, closed or not
//     (maxAge > 0; a session silent that long has been ended by the
//     daemon's idle timeout, this is the backstop that keeps the journal
//     bounded whatever happens).
//
// The survivors keep their order. The new generation is durable (fsync of
// file and directory) before the old one is removed.
func (j *Journal) Compact(now time.Time, retention, maxAge time.Duration) (CompactStats, error) {
	var cs CompactStats
	if j.f == nil {
		return cs, fmt.Errorf("journal: %w", os.ErrClosed)
	}
	cs.Before = j.size
	drop, err := j.sessionsToDrop(now, retention, maxAge, &cs)
	if err != nil {
		return cs, err
	}
	next := j.gen + 1
	written, err := j.writeGeneration(next, func(r *Record) bool {
		if drop[r.SessionID] || (r.SessionID == "" && r.At.Before(now.Add(-retention))) {
			cs.Dropped++
			if r.SessionID == "" {
				cs.OrphanEventsAged++
			}
			return false
		}
		cs.Kept++
		return true
	}, &cs.ReadStats)
	if err != nil {
		return cs, fmt.Errorf("journal: compact: %w", err)
	}
	if err := j.switchTo(next, written); err != nil {
		return cs, fmt.Errorf("journal: compact: %w", err)
	}
	cs.After, cs.GenerationWritten = written, next
	return cs, nil
}

// sessionsToDrop reads the journal and returns the sessions Compact drops
// (see there), counting them in cs.
func (j *Journal) sessionsToDrop(now time.Time, retention, maxAge time.Duration, cs *CompactStats) (map[string]bool, error) {
	type sess struct {
		last       time.Time // newest record
		lastClosed bool      // newest record is a closed marker
	}
	sessions := map[string]*sess{}
	if _, err := j.Replay(func(r *Record) error {
		if r.SessionID == "" {
			return nil
		}
		s := sessions[r.SessionID]
		if s == nil {
			s = &sess{}
			sessions[r.SessionID] = s
		}
		if r.At.After(s.last) {
			s.last = r.At
		}
		s.lastClosed = r.Kind == KindClosed
		return nil
	}); err != nil {
		return nil, err
	}
	drop := map[string]bool{}
	for id, s := range sessions {
		switch {
		case s.lastClosed && s.last.Before(now.Add(-retention)):
			drop[id] = true
		case maxAge > 0 && s.last.Before(now.Add(-maxAge)):
			drop[id] = true
			if !s.lastClosed {
				cs.OpenSessionsAged++
			}
		}
	}
	cs.SessionsDropped = len(drop)
	return drop, nil
}

// writeGeneration writes the records keep accepts, in order, to
// generation next, durably (fsync of file and directory), and returns its
// size; read gets the stats of reading the current generation.
func (j *Journal) writeGeneration(next uint64, keep func(*Record) bool, read *Stats) (int64, error) {
	tmp, err := os.CreateTemp(j.dir, "compact-*.tmp")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	var written int64
	var buf []byte
	*read, err = j.Replay(func(r *Record) error {
		if !keep(r) {
			return nil
		}
		var err error
		if buf, err = appendRecord(buf[:0], r.Kind, r.SessionID, encoded(r.Event), r.At); err != nil {
			return err
		}
		n, err := tmp.Write(buf)
		written += int64(n)
		return err
	})
	if err == nil {
		err = syncFile(tmp)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), j.path(next))
	}
	if err == nil {
		err = syncDir(j.dir)
	}
	return written, err
}

// switchTo makes generation next, written bytes long, the journal's file
// and removes the current one.
func (j *Journal) switchTo(next uint64, written int64) error {
	f, err := os.OpenFile(j.path(next), os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Seek(written, 0); err != nil {
		f.Close()
		return err
	}
	old := j.path(j.gen)
	j.f.Close()
	j.f, j.gen, j.size = f, next, written
	if err := os.Remove(old); err != nil {
		j.log.Warn("journal: remove old generation", "path", old, "err", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	defer d.Close()
	return syncFile(d)
}
