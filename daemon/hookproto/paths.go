package hookproto

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// EnvHome names the per-user weave directory; default ~/.weave.
const EnvHome = "WEAVE_HOME"

// MaxSocketPath is the longest Unix socket path the kernel accepts
// (sun_path is 108 bytes on Linux, 104 on macOS, including the NUL).
const MaxSocketPath = 103

// Paths are the per-user files, all under Home (created 0700):
//
//	agentd.sock        the daemon's socket (0600)
//	agentd.lock        flock held by the running daemon for its whole life;
//	                   whoever holds it may start or be the daemon
//	inbox              events the hook could not hand to the daemon
//	inbox.draining     the inbox while the daemon drains it
//	inbox.overflow     one byte per event a hook could not append to the inbox (full: 1, failed: 2)
//	journal/           the daemon's event journal
//	spool/             spans waiting for the trace server
//	spool/losses.json  what was lost for good, and why (kept across restarts)
//	logs/agentd.log    the daemon's log (size-bounded)
//	logs/hook.log      weave-hook's debug log (only with WEAVE_HOOK_DEBUG)
//	config.json        optional settings (env vars override them)
type Paths struct {
	Home          string
	Socket        string
	Lock          string
	Inbox         string
	InboxDraining string
	InboxOverflow string
	Journal       string
	Spool         string
	Losses        string
	Logs          string
	AgentdLog     string
	HookLog       string
	Config        string
}

// NewPaths lays the files out under home, made absolute (the hook runs in
// each project's directory; a relative WEAVE_HOME must still mean one place).
func NewPaths(home string) Paths {
	if abs, err := filepath.Abs(home); err == nil {
		home = abs
	}
	j := func(p ...string) string { return filepath.Join(append([]string{home}, p...)...) }
	return Paths{
		Home:          home,
		Socket:        j("agentd.sock"),
		Lock:          j("agentd.lock"),
		Inbox:         j("inbox"),
		InboxDraining: j("inbox.draining"),
		InboxOverflow: j("inbox.overflow"),
		Journal:       j("journal"),
		Spool:         j("spool"),
		Losses:        j("spool", "losses.json"),
		Logs:          j("logs"),
		AgentdLog:     j("logs", "agentd.log"),
		HookLog:       j("logs", "hook.log"),
		Config:        j("config.json"),
	}
}

// PathsFromEnv uses $WEAVE_HOME, else ~/.weave.
func PathsFromEnv() (Paths, error) {
	if h := os.Getenv(EnvHome); h != "" {
		return NewPaths(h), nil
	}
	u, err := os.UserHomeDir()
	if err != nil {
		return Paths{}, fmt.Errorf("hookproto: no %s and no home directory: %w", EnvHome, err)
	}
	return NewPaths(filepath.Join(u, ".weave")), nil
}

// EnsureHome creates Home (0700) if needed and refuses a Home that is not
// a directory owned by this user, or that sits under a directory another
// user could rename it out of (the rules in trust_unix.go): the socket and
// the journal in it carry prompts and tool output. A Home of its own that
// others may read or write is tightened to 0700 (weave-hook, which cannot
// know what was planted meanwhile, refuses it until then). The directories
// the daemon keeps its files in (journal, spool, logs) get the same
// check and tightening (ensureOwnDir).
func (p Paths) EnsureHome() error {
	if err := os.MkdirAll(p.Home, 0o700); err != nil {
		return fmt.Errorf("hookproto: create %s: %w", p.Home, err)
	}
	fi, err := os.Lstat(p.Home)
	if err != nil {
		return fmt.Errorf("hookproto: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 && fi.IsDir() {
		if err := checkOwner(fi); err != nil {
			return fmt.Errorf("hookproto: %s: %w", p.Home, err)
		}
		if err := os.Chmod(p.Home, 0o700); err != nil {
			return fmt.Errorf("hookproto: %s is mode %v and chmod 0700 failed: %w", p.Home, fi.Mode().Perm(), err)
		}
	}
	if err := p.CheckHome(); err != nil {
		return err
	}
	for _, dir := range []string{p.Journal, p.Spool, p.Logs} {
		if err := ensureOwnDir(dir); err != nil {
			return err
		}
	}
	return nil
}

// ErrSocketPath is returned by CheckSocket for a socket path too long for
// the kernel; set WEAVE_HOME to a shorter directory.
var ErrSocketPath = errors.New("hookproto: socket path too long")

// CheckSocket validates the socket path length.
func (p Paths) CheckSocket() error {
	if len(p.Socket) > MaxSocketPath {
		return fmt.Errorf("%w (%d bytes, max %d): %s; set %s to a shorter directory", ErrSocketPath, len(p.Socket), MaxSocketPath, p.Socket, EnvHome)
	}
	return nil
}
