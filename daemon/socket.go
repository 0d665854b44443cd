package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
)

// ErrAlreadyRunning is returned by Run when another daemon holds the lock
// or answers on the socket.
var ErrAlreadyRunning = errors.New("daemon: another weave-agentd is running")

// takeLock returns the locked agentd.lock: the one handed over by the hook
// that started us (inherited, already locked), or one locked here. The pid
// is written into it for diagnostics.
func takeLock(p hookproto.Paths, inherited *os.File) (*os.File, error) {
	f := inherited
	if f != nil {
		var fst, pst syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &fst); err != nil || syscall.Lstat(p.Lock, &pst) != nil || fst.Ino != pst.Ino || fst.Dev != pst.Dev {
			f.Close()
			f = nil // not our lock file after all: take it ourselves
		}
	}
	if f == nil {
		var err error
		f, err = hookproto.OpenOwn(p.Lock, os.O_RDWR|os.O_CREATE)
		if errors.Is(err, hookproto.ErrUntrusted) {
			// A symlink or another user's file in our own Home (planted
			// while it was open to others): replace it with ours.
			if rerr := os.Remove(p.Lock); rerr != nil {
				return nil, fmt.Errorf("daemon: lock: %w (and removing it: %v)", err, rerr)
			}
			f, err = hookproto.OpenOwn(p.Lock, os.O_RDWR|os.O_CREATE|os.O_EXCL)
		}
		if err != nil {
			return nil, fmt.Errorf("daemon: lock: %w", err)
		}
	}
	// On an inherited description this succeeds at once (we hold it).
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s is locked; pid %s)", ErrAlreadyRunning, p.Lock, LockHolder(p))
		}
		return nil, fmt.Errorf("daemon: lock: %w", err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// LockHolder returns the pid recorded in agentd.lock, or "?". The file is
// read as the daemon opens it (hookproto.ReadOwn): a FIFO planted there
// gives "?" rather than blocking `status` or `stop`.
func LockHolder(p hookproto.Paths) string {
	b, err := hookproto.ReadOwn(p.Lock, 64)
	if err != nil {
		return "?"
	}
	if n, err := strconv.Atoi(string(trimSpace(b))); err == nil {
		return strconv.Itoa(n)
	}
	return "?"
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// listen binds the socket (0600): a stale socket file (nobody answers), or
// a file there that is no socket, is replaced; a live one means another
// daemon. It returns the listener and the socket's inode, so shutdown
// removes only its own socket.
func listen(p hookproto.Paths) (*net.UnixListener, uint64, error) {
	if err := p.CheckSocket(); err != nil {
		return nil, 0, err
	}
	if fi, err := os.Lstat(p.Socket); err == nil {
		if fi.IsDir() {
			return nil, 0, fmt.Errorf("daemon: %s exists and is a directory, not a socket; remove it", p.Socket)
		}
		// Another user's socket in our Home is no daemon of ours (hooks
		// refuse to talk to it): replace it without asking it anything.
		// A file that is not a socket (a regular file, a FIFO, a symlink)
		// is no daemon either: hooks refuse it and start a daemon each
		// time, so it is replaced too, or no daemon could ever start.
		if hookproto.CheckSocketOwner(p.Socket) == nil {
			c, err := net.DialTimeout("unix", p.Socket, 200*time.Millisecond)
			if err == nil {
				c.Close()
				return nil, 0, fmt.Errorf("%w (it answers on %s)", ErrAlreadyRunning, p.Socket)
			}
		}
		if err := os.Remove(p.Socket); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, 0, fmt.Errorf("daemon: remove stale socket: %w", err)
		}
	}
	old := syscall.Umask(0o177) // the socket is created 0600
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p.Socket, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, 0, fmt.Errorf("daemon: listen: %w", err)
	}
	ln.SetUnlinkOnClose(false) // we unlink it ourselves, only if it is still ours
	if err := os.Chmod(p.Socket, 0o600); err != nil {
		ln.Close()
		return nil, 0, fmt.Errorf("daemon: %w", err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(p.Socket, &st); err != nil {
		ln.Close()
		return nil, 0, fmt.Errorf("daemon: %w", err)
	}
	return ln, st.Ino, nil
}

// unlinkOwnSocket removes the socket file if it is still the one we bound
// (a successor may already have replaced it).
func unlinkOwnSocket(path string, ino uint64) bool {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil || st.Ino != ino {
		return false
	}
	return os.Remove(path) == nil
}
