//go:build unix

package hookproto

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Trust. Hook payloads carry prompts and tool output, so weave-hook hands
// them only to a WEAVE_HOME no other local user can control (anyone can
// create /tmp/weave before the victim does). The rules, shared by the hook
// and the daemon:
//
//   - Home is a real directory (not a symlink), owned by this user, not
//     writable by group or others (CheckHome);
//   - every directory above it is owned by this user or root, and writable
//     by nobody else unless it has the sticky bit (/tmp: others cannot
//     rename what we create there); a symlink on the way is owned by this
//     user or root, and the directories it leads to pass the same test;
//   - a file the hook opens (inbox, inbox.overflow, agentd.lock, hook.log)
//     is opened with O_NOFOLLOW|O_NONBLOCK and must be a regular file owned
//     by this user (OpenOwn): a planted symlink or FIFO is refused;
//   - the socket must be owned by this user, and on Linux the process
//     listening on it too (SO_PEERCRED, checked before anything is sent).
//
// The daemon (EnsureHome) applies the same rules but tightens a Home it
// owns whose mode lets others in; the hook refuses it and drops the event.

// ErrUntrusted is wrapped by every refusal of a path another local user
// could control.
var ErrUntrusted = errors.New("hookproto: untrusted path")

// UntrustedError says which path was refused and why.
type UntrustedError struct {
	Path, Why string
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("hookproto: %s %s; refusing it (another local user could read or redirect hook events)", e.Path, e.Why)
}

func (e *UntrustedError) Unwrap() error { return ErrUntrusted }

func untrusted(path, why string, args ...any) error {
	return &UntrustedError{Path: path, Why: fmt.Sprintf(why, args...)}
}

// CheckHome reports whether Home may be trusted with hook events (see the
// rules above). A Home that does not exist yields an error wrapping
// fs.ErrNotExist (MakeHome creates it); a refused one, an error wrapping
// ErrUntrusted.
func (p Paths) CheckHome() error {
	st, err := lstat(p.Home)
	if err != nil {
		return err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return untrusted(p.Home, "is not a directory (a symlink or a file)")
	}
	if err := ownedByMe(p.Home, st); err != nil {
		return err
	}
	if st.Mode&0o022 != 0 {
		return untrusted(p.Home, "is writable by group or others (mode %04o; chmod 700 it)", st.Mode&0o7777)
	}
	return checkAncestors(filepath.Dir(p.Home))
}

// MakeHome creates Home (0700, with missing parents) unless it exists, and
// then checks it as CheckHome does: a directory someone else created first
// is refused.
func (p Paths) MakeHome() error {
	if err := os.MkdirAll(p.Home, 0o700); err != nil {
		return fmt.Errorf("hookproto: create %s: %w", p.Home, err)
	}
	return p.CheckHome()
}

// OpenOwn opens path for flag (O_CREATE creates it 0600) without following
// a symlink and without blocking on a FIFO, and returns it only if it is a
// regular file owned by this user.
func OpenOwn(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, untrusted(path, "is a symlink")
		}
		return nil, err
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("hookproto: %s: %w", path, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		f.Close()
		return nil, untrusted(path, "is not a regular file")
	}
	if err := ownedByMe(path, &st); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ensureOwnDir checks a directory of Home the daemon keeps its files in
// (journal, spool, logs), if it exists: a directory, not a symlink, owned
// by this user, which it tightens to 0700. One planted while Home was open
// to others could have the daemon write prompts where another user reads
// them (through a symlink in it), or block it on a FIFO; it is refused.
func ensureOwnDir(dir string) error {
	st, err := lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("hookproto: %w", err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return untrusted(dir, "is not a directory (a symlink or a file); remove it")
	}
	if err := ownedByMe(dir, st); err != nil {
		return err
	}
	if st.Mode&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("hookproto: %s is mode %04o and chmod 0700 failed: %w", dir, st.Mode&0o7777, err)
		}
	}
	return nil
}

// ReadOwn reads the file at path, opened as OpenOwn opens it (a symlink,
// a FIFO or device, or another user's file is refused with an error
// wrapping ErrUntrusted, without blocking), and refuses one over max bytes
// (ErrTooLarge) without reading it.
func ReadOwn(path string, max int64) ([]byte, error) {
	f, err := OpenOwn(path, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("hookproto: %w", err)
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%w: %s is %d bytes, over %d", ErrTooLarge, path, fi.Size(), max)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("hookproto: %w", err)
	}
	if int64(len(b)) > max { // grew since the fstat
		return nil, fmt.Errorf("%w: %s grew over %d bytes", ErrTooLarge, path, max)
	}
	return b, nil
}

// ErrTooLarge is wrapped by ReadOwn's refusal of a file over its bound.
var ErrTooLarge = errors.New("hookproto: file too large")

// CheckSocketOwner refuses a socket file that is not a socket owned by
// this user (another user's listener would receive every event). A missing
// socket yields an error wrapping fs.ErrNotExist.
func CheckSocketOwner(path string) error {
	st, err := lstat(path)
	if err != nil {
		return err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		return untrusted(path, "is not a socket")
	}
	return ownedByMe(path, st)
}

func lstat(path string) (*syscall.Stat_t, error) {
	var st syscall.Stat_t
	for {
		err := syscall.Lstat(path, &st)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "lstat", Path: path, Err: err}
		}
		return &st, nil
	}
}

func ownedByMe(path string, st *syscall.Stat_t) error {
	if uid := os.Getuid(); int(st.Uid) != uid {
		return untrusted(path, "is owned by uid %d, not by this user (uid %d)", st.Uid, uid)
	}
	return nil
}

// maxAncestors bounds the walk up from Home (and through symlinks).
const maxAncestors = 64

// checkAncestors checks every directory from dir up to the root, then, if
// a symlink was on the way, the directories it resolves to.
func checkAncestors(dir string) error {
	sawLink := false
	for d, n := dir, 0; n < maxAncestors; n++ {
		st, err := lstat(d)
		if err != nil {
			return err
		}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFLNK:
			// Only whoever may write its parent (checked next) can replace
			// it; its target is checked below.
			if st.Uid != 0 && int(st.Uid) != os.Getuid() {
				return untrusted(d, "is a symlink owned by uid %d", st.Uid)
			}
			sawLink = true
		case syscall.S_IFDIR:
			if err := checkAncestor(d, st); err != nil {
				return err
			}
		default:
			return untrusted(d, "is not a directory")
		}
		up := filepath.Dir(d)
		if up == d {
			break
		}
		d = up
	}
	if !sawLink {
		return nil
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("hookproto: %w", err)
	}
	for d, n := real, 0; n < maxAncestors; n++ {
		st, err := lstat(d)
		if err != nil {
			return err
		}
		if err := checkAncestor(d, st); err != nil {
			return err
		}
		up := filepath.Dir(d)
		if up == d {
			return nil
		}
		d = up
	}
	return nil
}

// checkAncestor: a directory above Home is owned by this user (and not
// world-writable) or by root (and writable by root alone), unless sticky.
func checkAncestor(d string, st *syscall.Stat_t) error {
	sticky := st.Mode&syscall.S_ISVTX != 0
	switch {
	case int(st.Uid) == os.Getuid():
		if st.Mode&0o002 != 0 && !sticky {
			return untrusted(d, "is writable by everyone (mode %04o)", st.Mode&0o7777)
		}
	case st.Uid == 0:
		if st.Mode&0o022 != 0 && !sticky {
			return untrusted(d, "is writable by group or others (mode %04o)", st.Mode&0o7777)
		}
	default:
		return untrusted(d, "is owned by uid %d (it could rename the weave directory away)", st.Uid)
	}
	return nil
}
