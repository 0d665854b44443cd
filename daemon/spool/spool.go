// Package spool is weave-agentd's durable FIFO of span batches the trace
// server has not accepted yet. It is a directory of segment files of
// CRC-framed records (package frame, magic "WVSP"), a head cursor, a
// byte cap with drop-oldest and counters, an flock so one process owns it,
// and an unclean-shutdown marker. The format is documented in
// docs/spool-format.md.
//
// A Queue is safe for concurrent use; it starts no goroutines (the
// exporter drives it).
package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/weavetrace/weave/daemon/frame"
)

// syncFile makes a file durable. Fuzz tests replace it with a no-op: an
// fsync costs milliseconds, a fuzzing run wants thousands of inputs a second.
var syncFile = (*os.File).Sync

// Magic marks spool records.
var Magic = frame.Magic{'W', 'V', 'S', 'P'}

// MaxRecord bounds one record's payload.
const MaxRecord = 64 << 20

// Errors.
var (
	ErrEmpty  = errors.New("spool: empty")
	ErrInUse  = errors.New("spool: in use by another process")
	ErrTooBig = errors.New("spool: record larger than the spool")
)

// Settings configure a Queue.
type Settings struct {
	Logger *slog.Logger
	// MaxBytes caps the records on disk; Put drops the oldest to make room.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment file is started
	// (default MaxBytes/16, at least 64 KiB). Dropping is per segment.
	SegmentBytes int64
}

// Stats are the queue's counters.
type Stats struct {
	Records        int64 `json:"records"`
	Bytes          int64 `json:"bytes"`
	Segments       int   `json:"segments"`
	DroppedRecords int64 `json:"dropped_records"` // removed by the byte cap
	DroppedBytes   int64 `json:"dropped_bytes"`
	Corrupt        int64 `json:"corrupt"`       // damaged regions skipped
	CorruptBytes   int64 `json:"corrupt_bytes"` // their size
	// Unclean: the previous owner did not Close (crash, SIGKILL).
	Unclean bool `json:"unclean"`
}

// Damage is a damaged region the queue skipped (Peek) or cut off (a torn
// tail at Open): the records in it are lost to the spool. Bytes is a copy
// of the region (at most MaxDamageCopy of it), for the owner to tell which
// spans it held and rebuild them elsewhere.
type Damage struct {
	Segment uint64
	Offset  int64
	Size    int64
	Bytes   []byte
	// TornTail: the end of the newest segment, cut at Open (a Put that a
	// crash interrupted), rather than damage found while reading.
	TornTail bool
}

// MaxDamageCopy bounds the bytes of one damaged region a Damage carries.
const MaxDamageCopy = 16 << 20

// maxDamageQueued bounds the Damage values kept until TakeDamage.
const maxDamageQueued = 64

// Queue is an open spool.
type Queue struct {
	mu   sync.Mutex
	dir  string
	log  *slog.Logger
	set  Settings
	lock *os.File

	segs     []uint64 // segment numbers, oldest first
	head     cursor   // next unread record
	tail     *os.File // last segment, open for append
	tailSize int64

	// pending is the record returned by the last Peek: its frame's end.
	pending    int64
	hasPending bool
	// pendingDropped: the cap dropped the peeked record before its Ack.
	pendingDropped bool

	damage []Damage // since the last TakeDamage

	st Stats
}

// noteDamage keeps a copy of the region [off, off+size) of f (q.mu held).
func (q *Queue) noteDamage(f *os.File, seg uint64, off, size int64, torn bool) {
	if len(q.damage) >= maxDamageQueued {
		return // the counters still have it
	}
	b := make([]byte, min(size, MaxDamageCopy))
	n, _ := f.ReadAt(b, off)
	q.damage = append(q.damage, Damage{Segment: seg, Offset: off, Size: size, Bytes: b[:n], TornTail: torn})
}

// TakeDamage returns the damaged regions met since the last call (at most
// 64 are kept in between; Stats counts them all) and forgets them.
func (q *Queue) TakeDamage() []Damage {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.damage
	q.damage = nil
	return d
}

type cursor struct {
	seg uint64
	off int64
}

func (q *Queue) segPath(n uint64) string { return segPath(q.dir, n) }

func segPath(dir string, n uint64) string {
	return filepath.Join(dir, fmt.Sprintf("seg-%016x.dat", n))
}

// Open opens (creating, 0700) the spool in dir and takes its lock.
func Open(dir string, s Settings) (*Queue, error) {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.MaxBytes <= 0 {
		return nil, fmt.Errorf("spool: MaxBytes %d: want > 0", s.MaxBytes)
	}
	if s.SegmentBytes <= 0 {
		s.SegmentBytes = max(s.MaxBytes/16, 64<<10)
	}
	s.SegmentBytes = min(s.SegmentBytes, s.MaxBytes)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrInUse, dir)
		}
		return nil, fmt.Errorf("spool: lock: %w", err)
	}
	q := &Queue{dir: dir, log: s.Logger, set: s, lock: lock}
	if err := q.load(); err != nil {
		q.closeFiles()
		return nil, err
	}
	return q, nil
}

// load opens the spool found in the directory: it marks the run unclean
// until Close, finds the segments and the head, counts what is queued and
// keeps the last segment open for appends.
func (q *Queue) load() error {
	if err := q.markUnclean(); err != nil {
		return err
	}
	if err := q.findSegments(); err != nil {
		return err
	}
	q.placeHead()
	for i, n := range q.segs {
		if err := q.scanSegment(n, i == len(q.segs)-1); err != nil {
			return err
		}
	}
	q.st.Segments = len(q.segs)
	if q.st.Unclean {
		q.log.Warn("spool: previous run did not shut down cleanly", "dir", q.dir, "records", q.st.Records, "bytes", q.st.Bytes)
	}
	return nil
}

// markUnclean notes a marker left by a run that did not close the spool
// (Stats.Unclean) and writes this run's.
func (q *Queue) markUnclean() error {
	marker := filepath.Join(q.dir, "unclean")
	if _, err := os.Stat(marker); err == nil {
		q.st.Unclean = true
	}
	if err := os.WriteFile(marker, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// findSegments lists the segment files (seg-<hex>.dat), oldest first.
func (q *Queue) findSegments() error {
	ents, err := os.ReadDir(q.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if n, ok := strings.CutPrefix(name, "seg-"); ok && strings.HasSuffix(n, ".dat") {
			if v, err := strconv.ParseUint(strings.TrimSuffix(n, ".dat"), 16, 64); err == nil {
				q.segs = append(q.segs, v)
			}
		}
	}
	sort.Slice(q.segs, func(a, b int) bool { return q.segs[a] < q.segs[b] })
	return nil
}

// placeHead reads the head cursor and removes the consumed segments before
// it. A head on a segment that is gone starts at the oldest one left; with
// no segment, the head's (or the first) is the one to create.
func (q *Queue) placeHead() {
	q.head = q.readHead()
	for len(q.segs) > 0 && q.segs[0] < q.head.seg {
		_ = os.Remove(q.segPath(q.segs[0]))
		q.segs = q.segs[1:]
	}
	if len(q.segs) == 0 || q.segs[0] != q.head.seg {
		q.head = cursor{}
		if len(q.segs) > 0 {
			q.head.seg = q.segs[0]
		}
	}
	if len(q.segs) == 0 {
		q.segs = []uint64{q.head.seg}
	}
}

// scanSegment counts the records of segment n queued (from the head on),
// creating the segment if missing. The last segment stays open as the
// tail, a torn tail — an interrupted Put — cut off it so appends stay
// clean.
func (q *Queue) scanSegment(n uint64, last bool) (err error) {
	f, err := os.OpenFile(q.segPath(n), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer func() {
		if err != nil || !last {
			f.Close()
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	from := int64(0)
	if n == q.head.seg {
		from = min(q.head.off, fi.Size())
		q.head.off = from
	}
	fst, err := frame.Read(io.NewSectionReader(f, from, fi.Size()-from), fi.Size()-from, Magic, MaxRecord,
		func(int64, []byte) error { return nil })
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	end := fi.Size()
	if last && from+fst.End < fi.Size() {
		end = from + fst.End
		q.noteDamage(f, n, end, fi.Size()-end, true)
		if err := f.Truncate(end); err != nil {
			return fmt.Errorf("spool: cut torn tail: %w", err)
		}
		q.st.Corrupt++
		q.st.CorruptBytes += fi.Size() - end
	}
	q.st.Records += int64(fst.Records)
	q.st.Bytes += end - from
	if !last {
		return nil
	}
	if _, err := f.Seek(end, 0); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	q.tail, q.tailSize = f, end
	return nil
}

// The head file: seg (u64) | off (i64) | crc32c of the 16 bytes.
func (q *Queue) readHead() cursor { return readHead(q.dir) }

func readHead(dir string) cursor {
	b, err := os.ReadFile(filepath.Join(dir, "head"))
	if err != nil || len(b) != 20 || frame.Checksum(b[:16]) != binary.LittleEndian.Uint32(b[16:]) {
		return cursor{}
	}
	return cursor{seg: binary.LittleEndian.Uint64(b), off: int64(binary.LittleEndian.Uint64(b[8:]))}
}

// writeHead persists the cursor (temp file + rename; not fsynced: after a
// power loss the cursor may lag, which re-sends batches the server already
// has, and the store upserts them).
func (q *Queue) writeHead() error {
	b := binary.LittleEndian.AppendUint64(nil, q.head.seg)
	b = binary.LittleEndian.AppendUint64(b, uint64(q.head.off))
	b = binary.LittleEndian.AppendUint32(b, frame.Checksum(b))
	tmp := filepath.Join(q.dir, "head.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(q.dir, "head")); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// Put appends one record durably (fsync), dropping the oldest records
// (whole segments) if the spool would exceed MaxBytes.
func (q *Queue) Put(rec []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.tail == nil {
		return fmt.Errorf("spool: %w", os.ErrClosed)
	}
	size := int64(frame.HeaderSize + len(rec))
	if len(rec) > MaxRecord || size > q.set.MaxBytes {
		return fmt.Errorf("%w: %d bytes (cap %d)", ErrTooBig, size, q.set.MaxBytes)
	}
	for q.st.Bytes+size > q.set.MaxBytes {
		if err := q.dropOldest(); err != nil {
			return err
		}
	}
	if q.tailSize > 0 && q.tailSize+size > q.set.SegmentBytes {
		if err := q.newSegment(); err != nil {
			return err
		}
	}
	b := frame.Append(nil, Magic, rec)
	n, err := q.tail.Write(b)
	if err == nil {
		err = syncFile(q.tail)
	}
	if err != nil {
		if n > 0 { // cut the partial record
			_ = q.tail.Truncate(q.tailSize)
			_, _ = q.tail.Seek(q.tailSize, 0)
		}
		return fmt.Errorf("spool: put: %w", err)
	}
	q.tailSize += size
	q.st.Records++
	q.st.Bytes += size
	return nil
}

func (q *Queue) newSegment() error {
	next := q.segs[len(q.segs)-1] + 1
	f, err := os.OpenFile(q.segPath(next), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("spool: new segment: %w", err)
	}
	q.tail.Close()
	q.tail, q.tailSize = f, 0
	q.segs = append(q.segs, next)
	q.st.Segments = len(q.segs)
	return nil
}

// dropOldest removes the head segment's unread records (the whole segment
// if there is a newer one, else the records in it).
func (q *Queue) dropOldest() error {
	if q.st.Records == 0 {
		return fmt.Errorf("%w: nothing left to drop", ErrTooBig)
	}
	if len(q.segs) == 1 {
		// Only the tail: start a new segment so the old one can go.
		if err := q.newSegment(); err != nil {
			return err
		}
	}
	seg := q.segs[0]
	recs, bytes, err := q.countFrom(seg, q.head.off)
	if err != nil {
		return err
	}
	if err := os.Remove(q.segPath(seg)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("spool: drop: %w", err)
	}
	q.segs = q.segs[1:]
	q.head = cursor{seg: q.segs[0]}
	if q.hasPending {
		q.hasPending, q.pendingDropped = false, true
	}
	q.st.Records -= recs
	q.st.Bytes -= bytes
	q.st.DroppedRecords += recs
	q.st.DroppedBytes += bytes
	q.st.Segments = len(q.segs)
	q.log.Warn("spool: full, dropped the oldest batches", "dropped_records", recs, "dropped_bytes", bytes, "max_bytes", q.set.MaxBytes)
	return q.writeHead()
}

// countFrom counts intact records and bytes in segment seg from off.
func (q *Queue) countFrom(seg uint64, off int64) (recs, bytes int64, err error) {
	f, err := os.Open(q.segPath(seg))
	if err != nil {
		return 0, 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("spool: %w", err)
	}
	off = min(off, fi.Size())
	fst, err := frame.Read(io.NewSectionReader(f, off, fi.Size()-off), fi.Size()-off, Magic, MaxRecord,
		func(int64, []byte) error { return nil })
	if err != nil {
		return 0, 0, fmt.Errorf("spool: %w", err)
	}
	return int64(fst.Records), fi.Size() - off, nil
}

// Peek returns the oldest record without removing it (ErrEmpty if none).
// Call Ack to remove it once it is delivered; Peek again returns the same
// record until then.
func (q *Queue) Peek() ([]byte, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.tail == nil {
		return nil, fmt.Errorf("spool: %w", os.ErrClosed)
	}
	for {
		if q.st.Records == 0 {
			q.hasPending = false
			return nil, ErrEmpty
		}
		f, err := os.Open(q.segPath(q.head.seg))
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("spool: %w", err)
		}
		size := fi.Size() - q.head.off
		var rec []byte
		var relEnd int64
		fst, err := frame.Read(io.NewSectionReader(f, q.head.off, size), size, Magic, MaxRecord, func(off int64, p []byte) error {
			rec = append([]byte(nil), p...)
			relEnd = off + int64(frame.HeaderSize+len(p))
			return frame.ErrStop
		})
		if err == nil && fst.Corrupt > 0 {
			q.noteDamage(f, q.head.seg, q.head.off, fst.SkippedBytes, false)
		}
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		if fst.Corrupt > 0 {
			// Damage before the record (or to the end of the segment).
			skipped := fst.SkippedBytes
			q.st.Corrupt += int64(fst.Corrupt)
			q.st.CorruptBytes += skipped
			q.st.Bytes -= skipped
			q.log.Warn("spool: skipped a damaged region", "segment", q.head.seg, "offset", q.head.off, "bytes", skipped)
			if rec == nil {
				q.head.off += skipped
			} else {
				q.head.off += relEnd - int64(frame.HeaderSize+len(rec))
				relEnd = int64(frame.HeaderSize + len(rec))
			}
		}
		if rec != nil {
			q.pending, q.hasPending, q.pendingDropped = q.head.off+relEnd, true, false
			return rec, nil
		}
		// Segment exhausted: move to the next one.
		if err := q.advanceSegment(); err != nil {
			return nil, err
		}
		if q.head.seg == q.segs[len(q.segs)-1] && q.head.off >= q.tailSize {
			// Counters say records remain but the files hold none: the
			// counts were off (damage); trust the files.
			q.st.Records, q.st.Bytes = 0, 0
		}
	}
}

// advanceSegment deletes a fully read head segment (never the tail).
func (q *Queue) advanceSegment() error {
	if len(q.segs) < 2 {
		return nil
	}
	if err := os.Remove(q.segPath(q.segs[0])); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	q.segs = q.segs[1:]
	q.head = cursor{seg: q.segs[0]}
	q.st.Segments = len(q.segs)
	return q.writeHead()
}

// Ack removes the record the last Peek returned.
func (q *Queue) Ack() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.hasPending {
		if q.pendingDropped { // already gone
			q.pendingDropped = false
			return nil
		}
		return errors.New("spool: Ack without a Peek")
	}
	q.hasPending = false
	q.st.Records--
	q.st.Bytes -= q.pending - q.head.off
	q.head.off = q.pending
	if q.head.seg != q.segs[len(q.segs)-1] {
		if fi, err := os.Stat(q.segPath(q.head.seg)); err == nil && q.head.off >= fi.Size() {
			return q.advanceSegment()
		}
	} else if q.st.Records == 0 && q.head.off == q.tailSize {
		// Everything delivered: start the tail over.
		if err := q.tail.Truncate(0); err == nil {
			_, _ = q.tail.Seek(0, 0)
			q.tailSize, q.head.off = 0, 0
			q.st.Bytes = 0
		}
	}
	return q.writeHead()
}

// Stats returns the counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.st
}

// Len is the number of queued records.
func (q *Queue) Len() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.st.Records
}

// Close persists the cursor, removes the unclean marker and releases the
// lock. It is safe to call twice.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.tail == nil {
		return nil
	}
	err := syncFile(q.tail)
	if werr := q.writeHead(); err == nil {
		err = werr
	}
	if rerr := os.Remove(filepath.Join(q.dir, "unclean")); err == nil && rerr != nil {
		err = fmt.Errorf("spool: %w", rerr)
	}
	q.closeFiles()
	return err
}

func (q *Queue) closeFiles() {
	if q.tail != nil {
		q.tail.Close()
		q.tail = nil
	}
	if q.lock != nil {
		q.lock.Close() // releases the flock
		q.lock = nil
	}
}

// Inspect reads the spool in dir without opening it: no lock, no write,
// so it works beside a running owner (whose figures may move meanwhile)
// and when there is none (`weave-agentd status` with no daemon). It calls
// fn, if not nil, with each queued record's payload (valid during the
// call) and returns the queue's Records, Bytes and Segments. A missing
// directory is an empty spool.
func Inspect(dir string, fn func(rec []byte)) (Stats, error) {
	var st Stats
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("spool: %w", err)
	}
	var segs []uint64
	for _, e := range ents {
		if n, ok := strings.CutPrefix(e.Name(), "seg-"); ok && strings.HasSuffix(n, ".dat") {
			if v, err := strconv.ParseUint(strings.TrimSuffix(n, ".dat"), 16, 64); err == nil {
				segs = append(segs, v)
			}
		}
	}
	sort.Slice(segs, func(a, b int) bool { return segs[a] < segs[b] })
	head := readHead(dir)
	for _, n := range segs {
		if n < head.seg {
			continue // consumed
		}
		f, err := os.Open(segPath(dir, n))
		if errors.Is(err, fs.ErrNotExist) {
			continue // consumed meanwhile
		}
		if err != nil {
			return st, fmt.Errorf("spool: %w", err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return st, fmt.Errorf("spool: %w", err)
		}
		from := int64(0)
		if n == head.seg {
			from = min(head.off, fi.Size())
		}
		fst, err := frame.Read(io.NewSectionReader(f, from, fi.Size()-from), fi.Size()-from, Magic, MaxRecord,
			func(_ int64, p []byte) error {
				if fn != nil {
					fn(p)
				}
				return nil
			})
		f.Close()
		if err != nil {
			return st, fmt.Errorf("spool: %w", err)
		}
		st.Segments++
		st.Records += int64(fst.Records)
		st.Bytes += fi.Size() - from
		st.Corrupt += int64(fst.Corrupt)
		st.CorruptBytes += fst.SkippedBytes
	}
	if _, err := os.Stat(filepath.Join(dir, "unclean")); err == nil {
		st.Unclean = true
	}
	return st, nil
}
