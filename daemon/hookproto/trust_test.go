//go:build unix

package hookproto

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// otherUID owns the files "another local user" made in these tests.
const otherUID = 65534

// needRoot skips a test that must create files owned by another uid.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root: it creates files owned by another uid (chown to 65534) to play the other local user")
	}
}

func chown(t *testing.T, path string, uid int) {
	t.Helper()
	if err := os.Lchown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, path string, mode uint32) string {
	t.Helper()
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Chmod(path, mode); err != nil { // past the umask, sticky bit included
		t.Fatal(err)
	}
	return path
}

func TestCheckHome(t *testing.T) {
	for _, tc := range []struct {
		name  string
		root  bool
		setup func(t *testing.T, dir string) string // returns Home
		want  error                                 // nil, fs.ErrNotExist or ErrUntrusted
	}{
		{"own 0700", false, func(t *testing.T, d string) string { return mkdir(t, d+"/w", 0o700) }, nil},
		{"own 0755 (readable is not writable)", false, func(t *testing.T, d string) string { return mkdir(t, d+"/w", 0o755) }, nil},
		{"missing", false, func(t *testing.T, d string) string { return d + "/w" }, fs.ErrNotExist},
		{"own 0777", false, func(t *testing.T, d string) string { return mkdir(t, d+"/w", 0o777) }, ErrUntrusted},
		{"own 0770", false, func(t *testing.T, d string) string { return mkdir(t, d+"/w", 0o770) }, ErrUntrusted},
		{"a file", false, func(t *testing.T, d string) string {
			os.WriteFile(d+"/w", nil, 0o600)
			return d + "/w"
		}, ErrUntrusted},
		{"a symlink to an own directory", false, func(t *testing.T, d string) string {
			mkdir(t, d+"/real", 0o700)
			os.Symlink(d+"/real", d+"/w")
			return d + "/w"
		}, ErrUntrusted},
		{"under an own world-writable directory", false, func(t *testing.T, d string) string {
			return mkdir(t, mkdir(t, d+"/open", 0o777)+"/w", 0o700)
		}, ErrUntrusted},
		{"under a sticky world-writable directory (/tmp)", false, func(t *testing.T, d string) string {
			return mkdir(t, mkdir(t, d+"/tmp", 0o1777)+"/w", 0o700)
		}, nil},
		{"under a symlink to a world-writable directory", false, func(t *testing.T, d string) string {
			mkdir(t, d+"/open", 0o777)
			mkdir(t, d+"/open/sub", 0o700)
			os.Symlink(d+"/open/sub", d+"/link")
			return mkdir(t, d+"/link/w", 0o700)
		}, ErrUntrusted},
		{"made by another user", true, func(t *testing.T, d string) string {
			h := mkdir(t, d+"/w", 0o700)
			chown(t, h, otherUID)
			return h
		}, ErrUntrusted},
		{"under another user's directory", true, func(t *testing.T, d string) string {
			parent := mkdir(t, d+"/theirs", 0o755)
			h := mkdir(t, parent+"/w", 0o700)
			chown(t, parent, otherUID)
			return h
		}, ErrUntrusted},
		{"under another user's symlink", true, func(t *testing.T, d string) string {
			mkdir(t, d+"/real", 0o755)
			os.Symlink(d+"/real", d+"/link")
			chown(t, d+"/link", otherUID)
			return mkdir(t, d+"/link/w", 0o700)
		}, ErrUntrusted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				needRoot(t)
			}
			home := tc.setup(t, t.TempDir())
			err := NewPaths(home).CheckHome()
			switch {
			case tc.want == nil && err != nil:
				t.Errorf("CheckHome(%s): got %v, want nil", home, err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Errorf("CheckHome(%s): got %v, want %v", home, err, tc.want)
			}
		})
	}
}

func TestMakeHomeRefusesAnotherUsersDirectory(t *testing.T) {
	needRoot(t)
	p := NewPaths(filepath.Join(t.TempDir(), "w"))
	if err := p.MakeHome(); err != nil {
		t.Fatalf("MakeHome of a fresh path: %v", err)
	}
	chown(t, p.Home, otherUID) // as if they had made it first
	if err := p.MakeHome(); !errors.Is(err, ErrUntrusted) {
		t.Errorf("MakeHome over another user's directory: got %v, want ErrUntrusted", err)
	}
	if err := p.EnsureHome(); !errors.Is(err, ErrUntrusted) {
		t.Errorf("EnsureHome over another user's directory: got %v, want ErrUntrusted", err)
	}
}

func TestEnsureHomeTightensButChecks(t *testing.T) {
	d := t.TempDir()
	p := NewPaths(mkdir(t, d+"/w", 0o777))
	if err := p.CheckHome(); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("CheckHome of an own 0777 home: got %v, want ErrUntrusted", err)
	}
	if err := p.EnsureHome(); err != nil { // the daemon repairs its own
		t.Fatalf("EnsureHome: %v", err)
	}
	if err := p.CheckHome(); err != nil {
		t.Errorf("CheckHome after EnsureHome: got %v, want nil", err)
	}
	q := NewPaths(mkdir(t, mkdir(t, d+"/open", 0o777)+"/w", 0o700))
	if err := q.EnsureHome(); !errors.Is(err, ErrUntrusted) {
		t.Errorf("EnsureHome under a world-writable parent: got %v, want ErrUntrusted", err)
	}
}

func TestOpenOwn(t *testing.T) {
	d := t.TempDir()
	target := filepath.Join(d, "victim")
	if err := os.WriteFile(target, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(d, "link")
	os.Symlink(target, link)
	if _, err := OpenOwn(link, os.O_WRONLY|os.O_APPEND|os.O_CREATE); !errors.Is(err, ErrUntrusted) {
		t.Errorf("OpenOwn(symlink): got %v, want ErrUntrusted", err)
	}
	dangling := filepath.Join(d, "dangling")
	os.Symlink(filepath.Join(d, "created-through-link"), dangling)
	if _, err := OpenOwn(dangling, os.O_WRONLY|os.O_CREATE); !errors.Is(err, ErrUntrusted) {
		t.Errorf("OpenOwn(dangling symlink, O_CREATE): got %v, want ErrUntrusted", err)
	}
	if _, err := os.Lstat(filepath.Join(d, "created-through-link")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file was created through the dangling symlink: %v", err)
	}
	fifo := filepath.Join(d, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := OpenOwn(fifo, os.O_RDONLY); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUntrusted) {
			t.Errorf("OpenOwn(fifo): got %v, want ErrUntrusted", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OpenOwn blocked on a FIFO")
	}
	f, err := OpenOwn(filepath.Join(d, "new"), os.O_WRONLY|os.O_CREATE)
	if err != nil {
		t.Fatalf("OpenOwn(new file): %v", err)
	}
	f.Close()
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("victim file: got %q, want it untouched", b)
	}
}

func TestOpenOwnRefusesAnotherUsersFile(t *testing.T) {
	needRoot(t)
	path := filepath.Join(t.TempDir(), "theirs")
	if err := os.WriteFile(path, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	chown(t, path, otherUID)
	if _, err := OpenOwn(path, os.O_WRONLY|os.O_APPEND); !errors.Is(err, ErrUntrusted) {
		t.Errorf("OpenOwn(another user's file): got %v, want ErrUntrusted", err)
	}
}

func TestCheckSocketOwner(t *testing.T) {
	d := t.TempDir()
	if err := CheckSocketOwner(filepath.Join(d, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing socket: got %v, want fs.ErrNotExist", err)
	}
	file := filepath.Join(d, "file")
	os.WriteFile(file, nil, 0o600)
	if err := CheckSocketOwner(file); !errors.Is(err, ErrUntrusted) {
		t.Errorf("a regular file: got %v, want ErrUntrusted", err)
	}
	sock := filepath.Join(d, "s.sock")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	if err := CheckSocketOwner(sock); err != nil {
		t.Errorf("own socket: got %v, want nil", err)
	}
	if os.Getuid() != 0 {
		return
	}
	chown(t, sock, otherUID)
	if err := CheckSocketOwner(sock); !errors.Is(err, ErrUntrusted) {
		t.Errorf("another user's socket: got %v, want ErrUntrusted", err)
	}
}

// A symlinked inbox (planted by whoever could write the directory) is
// never followed: the append fails, and the file it points at is untouched.
func TestInboxSymlinkNotFollowed(t *testing.T) {
	p := testPaths(t)
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{p.Inbox, p.InboxOverflow} {
		if err := os.Symlink(victim, name); err != nil {
			t.Fatal(err)
		}
	}
	if err := AppendInbox(p, env(1), farDeadline()); !errors.Is(err, ErrUntrusted) {
		t.Errorf("AppendInbox through a symlink: got %v, want ErrUntrusted", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("victim: got %q, want it untouched", b)
	}
	// The daemon removes such an inbox, and such an inbox.overflow,
	// unread and goes on.
	got, st := drainAll(t, p)
	if len(got) != 0 || st.Refused != 2 || st.Overflow != 0 || st.AppendFailed != 0 {
		t.Errorf("drain: got %d records, %d refused, %d+%d lost, want 0, 2 and none lost (the victim's bytes unread)",
			len(got), st.Refused, st.Overflow, st.AppendFailed)
	}
	if _, err := os.Lstat(p.Inbox); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the symlinked inbox is still there: %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("victim after drain: got %q, want it untouched", b)
	}
	if err := AppendInbox(p, env(2), farDeadline()); err != nil {
		t.Errorf("AppendInbox after the link was removed: %v", err)
	}
}

func TestInboxRefusesUntrustedHome(t *testing.T) {
	p := NewPaths(mkdir(t, filepath.Join(t.TempDir(), "w"), 0o777))
	if err := AppendInbox(p, env(1), farDeadline()); !errors.Is(err, ErrUntrusted) {
		t.Errorf("AppendInbox in a world-writable home: got %v, want ErrUntrusted", err)
	}
	if _, err := os.Lstat(p.Inbox); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an inbox was written in a world-writable home: %v", err)
	}
}

// The directories the daemon keeps its files in are checked as Home is: one
// planted while Home was open to others (a symlink to where another user
// reads, a directory of theirs) is refused; one of this user's that others
// may write is tightened.
func TestEnsureHomeChecksItsDirectories(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, p Paths, dir string)
		ok    bool
	}{
		{"symlink", func(t *testing.T, p Paths, dir string) {
			if err := os.Symlink(t.TempDir(), dir); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"regular file", func(t *testing.T, p Paths, dir string) {
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"another user's directory", func(t *testing.T, p Paths, dir string) {
			if os.Getuid() != 0 {
				t.Skip("needs root: it chowns the planted directory to uid 65534")
			}
			mkdir(t, dir, 0o755)
			if err := os.Lchown(dir, otherUID, otherUID); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"own directory open to others", func(t *testing.T, p Paths, dir string) { mkdir(t, dir, 0o777) }, true},
	} {
		for _, which := range []string{"journal", "spool", "logs"} {
			t.Run(tc.name+"/"+which, func(t *testing.T) {
				p := NewPaths(mkdir(t, t.TempDir()+"/w", 0o700))
				dir := map[string]string{"journal": p.Journal, "spool": p.Spool, "logs": p.Logs}[which]
				tc.plant(t, p, dir)
				err := p.EnsureHome()
				if !tc.ok {
					if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), dir) {
						t.Errorf("EnsureHome: got %v, want ErrUntrusted naming %s", err, dir)
					}
					return
				}
				if err != nil {
					t.Fatalf("EnsureHome: %v", err)
				}
				if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
					t.Errorf("%s: %v (%v), want it tightened to 0700", dir, fi.Mode().Perm(), err)
				}
			})
		}
	}
}
