package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
)

// fate is what became of one event. Its value is what the debug line
// says (outcome=...).
type fate string

const (
	delivered fate = "delivered" // the daemon has it (it answered 2xx)
	toInbox   fate = "inbox"     // to keep in the inbox for the daemon to drain
	dropped   fate = "dropped"   // not kept: nothing to keep, nowhere safe, or not a hook event
	abandoned fate = "abandoned" // the deadline passed first
)

// outcome is what happened to one event, for the debug line.
type outcome struct {
	what fate
	why  string
	err  error
	// startDaemon: nobody serves the socket (or someone else does), so
	// the hook starts a daemon after keeping the event.
	startDaemon bool
}

// hookDeps are what hook mode does that tests replace: its timers, its
// exit, keeping the event in the inbox and starting the daemon.
type hookDeps struct {
	afterFunc   func(time.Duration, func()) (stop func() bool)
	exit        func()
	appendInbox func(hookproto.Paths, *hookproto.Envelope, time.Time) error
	startDaemon func(hookproto.Paths) error
}

// realDeps are hook mode's own.
var realDeps = hookDeps{
	afterFunc:   func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop },
	exit:        func() { os.Exit(0) },
	appendInbox: hookproto.AppendInbox,
	startDaemon: startDaemon,
}

// runHook is hook mode. It returns normally in every case; main exits 0.
func runHook(start time.Time, stdin io.Reader, agent string) {
	runHookWith(realDeps, start, stdin, agent)
}

// runHookWith is runHook with deps.
func runHookWith(deps hookDeps, start time.Time, stdin io.Reader, agent string) {
	// A panic would exit 2 with a stack trace on stderr: Claude Code blocks
	// the tool call on exit code 2 and hands stderr to the model.
	defer func() {
		if r := recover(); r != nil {
			debugf(start, nil, outcome{what: dropped, why: "panic", err: fmt.Errorf("%v", r)})
		}
	}()
	// The one hard deadline: whatever is still running then, exit 0 — except
	// while the event is not yet in the daemon's hands or the inbox (being
	// read from stdin, sent — bounded by NetDeadline — or appended): that
	// may finish, up to InboxCeiling, because keeping the event beats
	// returning sooner. Starting the daemon afterwards gets no grace of its
	// own; but the append gives up at InboxDeadline, so that what follows
	// an append still under way at HookDeadline (counting a loss, starting
	// the daemon) runs before the ceiling.
	var keeping atomic.Bool
	keeping.Store(true)
	abandon := func() {
		debugf(start, nil, outcome{what: abandoned, why: "deadline"})
		deps.exit()
	}
	stop := deps.afterFunc(hookproto.HookDeadline, func() {
		if keeping.Load() {
			deps.afterFunc(hookproto.InboxCeiling-hookproto.HookDeadline, abandon)
			return
		}
		abandon()
	})
	defer stop()

	paths, perr := hookproto.PathsFromEnv()
	env := &hookproto.Envelope{Proto: hookproto.Version, ID: hookproto.NewEventID(), ReceivedAt: start.UTC(), TranscriptSize: -1, Agent: agent}
	body, orig, rerr := readPayload(stdin)
	env.Body = body
	if orig > int64(len(body)) {
		env.OriginalSize = orig
	}
	if len(body) == 0 {
		debugf(start, body, outcome{what: dropped, why: "empty stdin", err: rerr})
		return
	}
	if perr != nil {
		debugf(start, body, outcome{what: dropped, why: "paths", err: perr})
		return
	}
	// A WEAVE_HOME another user could control (made by them first, or
	// writable by others) gets nothing: its socket and inbox may be theirs.
	// A missing one is made by the inbox append or the daemon start.
	if err := paths.CheckHome(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		debugf(start, body, outcome{what: dropped, why: "untrusted WEAVE_HOME", err: err})
		return
	}
	if tp, ok := hookproto.TranscriptPath(body); ok {
		if fi, err := os.Stat(tp); err == nil && fi.Mode().IsRegular() {
			env.TranscriptSize = fi.Size()
		}
	}

	out := deliver(paths, env, start.Add(hookproto.NetDeadline))
	if out.what != toInbox {
		keeping.Store(false)
	} else {
		err := deps.appendInbox(paths, env, start.Add(hookproto.InboxDeadline))
		keeping.Store(false)
		if err != nil {
			// Lost (AppendInbox counted it for the daemon's status); a
			// daemon is started all the same, so the events after it are
			// delivered and the loss is reported.
			out = outcome{what: dropped, why: out.why + "; inbox", err: err, startDaemon: out.startDaemon}
		}
		if out.startDaemon {
			if err := deps.startDaemon(paths); err != nil {
				out.why += "; start daemon"
				out.err = errors.Join(out.err, err)
			}
		}
	}
	debugf(start, body, out)
}

// maxDiscard bounds how much of a payload past MaxPayload the hook reads,
// only to learn its size: a stdin that runs on for GiBs (or never ends)
// would otherwise keep it reading until the ceiling, and the event it
// already has would be lost.
var maxDiscard int64 = 64 << 20

// readPayload reads stdin, keeping at most MaxPayload bytes and counting
// the rest (orig is the full size; at least that when stdin ran on past
// maxDiscard more).
func readPayload(r io.Reader) (body []byte, orig int64, err error) {
	body, err = io.ReadAll(io.LimitReader(r, hookproto.MaxPayload))
	orig = int64(len(body))
	if err == nil && len(body) == hookproto.MaxPayload {
		n, cerr := io.Copy(io.Discard, io.LimitReader(r, maxDiscard))
		orig += n
		err = cerr
	}
	return body, orig, err
}

// deliver hands env to the daemon: delivered, dropped (the daemon refused
// it as not a hook event) or toInbox (keep it), starting a daemon too when
// nobody, or somebody else, listens on the socket.
func deliver(p hookproto.Paths, env *hookproto.Envelope, deadline time.Time) outcome {
	code, err := exchange(p.Socket, env.AppendRequest(nil), deadline)
	switch {
	case errors.Is(err, errNoDaemon):
		return outcome{what: toInbox, why: "no daemon", err: err, startDaemon: true}
	case errors.Is(err, errForeignPeer):
		// Nothing was sent. The inbox, in a Home that passed CheckHome, is
		// ours; the daemon replaces a socket it does not own.
		return outcome{what: toInbox, why: "foreign socket", err: err, startDaemon: true}
	case err != nil:
		return outcome{what: toInbox, why: "no answer", err: err}
	case code >= 200 && code < 300:
		return outcome{what: delivered, why: strconv.Itoa(code)}
	case code == 400:
		return outcome{what: dropped, why: "daemon answered 400 (not a hook event)"}
	default:
		return outcome{what: toInbox, why: "daemon answered " + strconv.Itoa(code)}
	}
}

// debugf writes one line about this event when WEAVE_HOOK_DEBUG is set:
// "stderr" writes to stderr, anything else appends to logs/hook.log.
func debugf(start time.Time, body []byte, o outcome) {
	mode := os.Getenv("WEAVE_HOOK_DEBUG")
	if mode == "" || mode == "0" {
		return
	}
	name, _ := hookproto.TopLevelString(body, "hook_event_name")
	line := fmt.Sprintf("%s weave-hook pid=%d event=%s outcome=%s why=%q elapsed=%s", start.UTC().Format(time.RFC3339Nano),
		os.Getpid(), name, o.what, o.why, time.Since(start).Round(time.Microsecond))
	if o.err != nil {
		line += fmt.Sprintf(" err=%q", o.err.Error())
	}
	line += "\n"
	if mode == "stderr" {
		_, _ = os.Stderr.WriteString(line)
		return
	}
	p, err := hookproto.PathsFromEnv()
	if err != nil || p.MakeHome() != nil {
		return // never write into a Home another user could control
	}
	_ = os.Mkdir(p.Logs, 0o700)
	if fi, err := os.Lstat(p.Logs); err != nil || !fi.IsDir() {
		return
	}
	f, err := hookproto.OpenOwn(p.HookLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE)
	if err != nil {
		return
	}
	_, _ = f.WriteString(line)
	_ = f.Close()
}
