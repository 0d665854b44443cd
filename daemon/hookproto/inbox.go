//go:build unix

package hookproto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/weavetrace/weave/daemon/frame"
)

// The inbox is where weave-hook leaves an event it could not hand to the
// daemon (no daemon, a dead one, or one that did not answer in time). It is
// one file of framed records (MagicInbox, payload = Envelope binary form).
//
// Writers (hooks, any number at once):
//
//	open(inbox, O_WRONLY|O_APPEND|O_CREATE|O_NOFOLLOW, 0600)
//	                            a regular file of this user's, or refused
//	flock(LOCK_SH|LOCK_NB)      fails only on a file being drained: reopen
//	fstat(fd) == stat(path)?    no: the file was renamed for draining: reopen
//	write(whole record)         one write(2) with O_APPEND: records from
//	                            concurrent hooks never interleave
//	close                       releases the lock
//
// Drainer (the daemon, one at a time: it holds agentd.lock):
//
//	rename(inbox, inbox.draining)   new writers now create a fresh inbox
//	flock(LOCK_EX)                  waits for writers still in their write
//	read every record, journal them, fsync the journal
//	unlink(inbox.draining)
//
// A writer that opened the inbox before the rename either finished its write
// before the drainer got LOCK_EX (the record is drained) or takes its lock
// after the rename and sees the identity check fail (it writes to the new
// inbox). So the drainer never sees a record being written, and no record is
// written to a file after it was drained. No fsync: the inbox protects
// against a missing or hung daemon, not against power loss; a record torn by
// a crash or a full disk is skipped by the CRC check and counted.
//
// The inbox is capped at MaxInbox bytes. A hook that cannot append an
// event — past the cap, or the open or the write failed (an inbox that is
// not writable, a full disk), or its deadline passed — drops it and appends
// one byte to inbox.overflow: lossFull past the cap, lossFailed otherwise
// (best effort: on a full disk that byte may be lost too; never in a Home
// that fails CheckHome). The daemon reports both counts.

// MaxInbox caps the inbox file.
const MaxInbox = 512 << 20

// maxInbox is MaxInbox; tests lower it.
var maxInbox int64 = MaxInbox

// ErrInboxFull is returned by AppendInbox when the inbox is at MaxInbox.
var ErrInboxFull = errors.New("hookproto: inbox full")

// The bytes of inbox.overflow: why a hook dropped an event.
const (
	lossFull   byte = 1 // the inbox was at MaxInbox
	lossFailed byte = 2 // appending failed
)

// maxInboxRecord bounds one record's payload.
const maxInboxRecord = MaxPayload + envelopeHeaderSize

// AppendInbox appends env to the inbox. It gives up at deadline. It
// creates Home if missing and refuses one another user could control
// (CheckHome), and an inbox that is a symlink or not this user's file.
// When it fails in a Home of the user's, it counts the event lost in
// inbox.overflow.
func AppendInbox(p Paths, env *Envelope, deadline time.Time) (err error) {
	if err := p.CheckHome(); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("hookproto: inbox: %w", err)
		}
		if err := p.MakeHome(); err != nil {
			return fmt.Errorf("hookproto: inbox: %w", err)
		}
	}
	defer func() {
		if err != nil {
			countLoss(p, err)
		}
	}()
	rec := frame.Append(nil, MagicInbox, env.AppendBinary(nil))
	for {
		if time.Now().After(deadline) {
			return fmt.Errorf("hookproto: inbox append: %w", os.ErrDeadlineExceeded)
		}
		f, err := OpenOwn(p.Inbox, os.O_WRONLY|os.O_APPEND|os.O_CREATE)
		if err != nil {
			return fmt.Errorf("hookproto: inbox: %w", err)
		}
		done, err := appendLocked(f, p, rec)
		f.Close() // releases the lock
		if done || err != nil {
			return err
		}
	}
}

// appendLocked writes rec to f if f is still the live inbox. done=false:
// retry with a fresh open.
func appendLocked(f *os.File, p Paths, rec []byte) (done bool, err error) {
	fd := int(f.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil // being drained: it was renamed, reopen
		}
		return false, fmt.Errorf("hookproto: inbox lock: %w", err)
	}
	var fst, pst syscall.Stat_t
	if err := syscall.Fstat(fd, &fst); err != nil {
		return false, fmt.Errorf("hookproto: inbox: %w", err)
	}
	if err := syscall.Lstat(p.Inbox, &pst); err != nil || fst.Ino != pst.Ino || fst.Dev != pst.Dev {
		return false, nil // renamed away (or removed) since we opened it
	}
	if fst.Size+int64(len(rec)) > maxInbox {
		return false, ErrInboxFull
	}
	n, err := f.Write(rec)
	if err != nil {
		return false, fmt.Errorf("hookproto: inbox write (%d of %d bytes): %w", n, len(rec), err)
	}
	return true, nil
}

// countLoss appends to inbox.overflow the byte that says why an event was
// not appended (best effort).
func countLoss(p Paths, err error) {
	b := lossFailed
	if errors.Is(err, ErrInboxFull) {
		b = lossFull
	}
	if o, err := OpenOwn(p.InboxOverflow, os.O_WRONLY|os.O_APPEND|os.O_CREATE); err == nil {
		_, _ = o.Write([]byte{b})
		o.Close()
	}
}

// InboxStats describes one DrainInbox call.
type InboxStats struct {
	Records      int   // envelopes handed to fn
	Corrupt      int   // damaged regions skipped
	SkippedBytes int64 // their size
	BadRecords   int   // intact frames whose payload is not an envelope
	Overflow     int64 // events hooks dropped because the inbox was full
	AppendFailed int64 // events hooks dropped because appending failed (not writable, disk full, too slow)
	Refused      int   // inbox files removed unread: a symlink, a FIFO or device, or another user's file
	RefusedErr   error // why the last one was refused (names the file)
}

// DrainInbox hands every inbox record to fn, in file order: first a
// draining file left by an earlier, interrupted drain, then the live inbox.
// After the records of a file were handed over, commit is called (the
// daemon fsyncs its journal there) and only then is the file removed. If fn
// or commit fails, the file stays for the next drain and the error is
// returned; records already handed over will be handed over again then
// (callers de-duplicate by Envelope.ID). env.Body is a fresh copy fn may
// keep.
func DrainInbox(p Paths, fn func(env Envelope) error, commit func() error) (InboxStats, error) {
	var st InboxStats
	if err := drainFile(p.InboxDraining, fn, commit, &st); err != nil {
		return st, err
	}
	if err := os.Rename(p.Inbox, p.InboxDraining); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return st, takeOverflow(p, &st)
		}
		return st, fmt.Errorf("hookproto: drain inbox: %w", err)
	}
	if err := drainFile(p.InboxDraining, fn, commit, &st); err != nil {
		return st, err
	}
	return st, takeOverflow(p, &st)
}

func drainFile(path string, fn func(Envelope) error, commit func() error, st *InboxStats) error {
	f, err := OpenOwn(path, os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if errors.Is(err, ErrUntrusted) {
		// A symlink or someone else's file in place of the inbox: never
		// read it, and remove the name so draining goes on.
		st.Refused++
		st.RefusedErr = err
		if rerr := os.Remove(path); rerr != nil {
			return fmt.Errorf("hookproto: drain inbox: %w (and removing it: %v)", err, rerr)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("hookproto: drain inbox: %w", err)
	}
	defer f.Close()
	// Wait for writers that opened the file before it was renamed.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("hookproto: drain inbox: lock: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("hookproto: drain inbox: %w", err)
	}
	fst, err := frame.Read(f, fi.Size(), MagicInbox, maxInboxRecord, func(_ int64, payload []byte) error {
		var env Envelope
		if err := env.UnmarshalBinary(payload); err != nil {
			st.BadRecords++
			return nil
		}
		env.Body = append([]byte(nil), env.Body...)
		st.Records++
		return fn(env)
	})
	st.Corrupt += fst.Corrupt
	st.SkippedBytes += fst.SkippedBytes
	if err != nil {
		return err
	}
	if err := commit(); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("hookproto: drain inbox: %w", err)
	}
	return nil
}

// maxOverflow bounds how much of inbox.overflow is read: a byte per lost
// event, so 16 Mi lost events. The bytes past it (only a file planted or
// grown beyond any real loss) are counted as failed appends unread.
var maxOverflow int64 = 16 << 20

// takeOverflow counts, by reason, and clears inbox.overflow. Rename first,
// so bytes a hook appends meanwhile land in a new file and are counted next
// time. It is opened as the hook opens it (OpenOwn): a FIFO, device,
// symlink or another user's file there is removed unread (counted in
// Refused, its error in RefusedErr) instead of blocking the daemon.
func takeOverflow(p Paths, st *InboxStats) error {
	tmp := p.InboxOverflow + ".taken"
	if err := os.Rename(p.InboxOverflow, tmp); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("hookproto: inbox overflow: %w", err)
	}
	f, err := OpenOwn(tmp, os.O_RDONLY)
	switch {
	case errors.Is(err, ErrUntrusted):
		st.Refused++
		st.RefusedErr = err
	case err != nil:
		return fmt.Errorf("hookproto: inbox overflow: %w", err)
	default:
		err = countOverflow(f, st)
		f.Close()
		if err != nil {
			return fmt.Errorf("hookproto: inbox overflow: %w", err)
		}
	}
	return os.Remove(tmp)
}

// countOverflow counts the bytes of f by reason, reading at most
// maxOverflow of them.
func countOverflow(f *os.File, st *InboxStats) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	var read int64
	for read < maxOverflow {
		n, err := f.Read(buf[:min(int64(len(buf)), maxOverflow-read)])
		b := buf[:n]
		failed := int64(bytes.Count(b, []byte{lossFailed}))
		st.AppendFailed += failed
		st.Overflow += int64(n) - failed
		read += int64(n)
		if err == io.EOF || n == 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	st.AppendFailed += max(0, fi.Size()-read)
	return nil
}

// InboxPending reports whether an inbox or draining file, or events counted
// lost in inbox.overflow, exist: something for the daemon to drain (and
// report).
func InboxPending(p Paths) bool {
	for _, f := range []string{p.Inbox, p.InboxDraining, p.InboxOverflow} {
		if fi, err := os.Stat(f); err == nil && fi.Size() > 0 {
			return true
		}
	}
	return false
}
