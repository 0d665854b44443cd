package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/weavetrace/weave/daemon/config"
	"github.com/weavetrace/weave/daemon/export"
	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/daemon/journal"
	"github.com/weavetrace/weave/daemon/spool"
	"github.com/weavetrace/weave/daemon/watch"
)

// Settings are the daemon's dependencies.
type Settings struct {
	Paths  hookproto.Paths
	Config config.Config
	// Processor turns events into spans (required; weave-agentd's is a
	// Router over the agents' session processors). The daemon calls it
	// from one goroutine.
	Processor Processor
	Logger    *slog.Logger
	// Version is weave's version (status, resource service.version).
	Version string
	// LockFile is agentd.lock inherited from the hook that started us,
	// already locked (fd 3); nil: Run takes the lock itself.
	LockFile *os.File
	// Transport carries OTLP requests (tests); nil: the default.
	Transport http.RoundTripper
	// TickInterval paces Processor.Tick, inbox checks and the idle check
	// (default 1 s).
	TickInterval time.Duration
	// PollOnly disables fsnotify (tests).
	PollOnly bool
	// ExportBackoff and ExportMaxBackoff bound the delay between delivery
	// attempts (tests; default 1 s and export.DefaultMaxBackoff).
	ExportBackoff, ExportMaxBackoff time.Duration
	// Respawn, after an idle exit that left events in the inbox, starts a
	// successor (default: hookproto.StartDaemon with this executable).
	Respawn func(hookproto.Paths) error
}

// Daemon is weave-agentd. New validates; Run does everything else.
type Daemon struct {
	set Settings
	log *slog.Logger

	started   time.Time
	counters  handlerCounters
	throttled *throttle

	// Set up by Run.
	jr   *journaler
	core *core
	exp  *export.Exporter
	w    *watch.Watcher

	ready    chan struct{} // closed once Run serves the socket
	jrDone   chan struct{} // closed when the journaler has stopped
	stopOnce sync.Once
	stopping chan struct{} // closed when shutdown begins
	stopWhy  chan string   // first reason to stop
}

// New checks the settings; it starts nothing.
func New(s Settings) (*Daemon, error) {
	if s.Paths.Home == "" {
		return nil, errors.New("daemon: no paths")
	}
	if s.Processor == nil {
		return nil, errors.New("daemon: no processor")
	}
	if err := s.Config.Validate(); err != nil {
		return nil, err
	}
	if err := s.Paths.CheckSocket(); err != nil {
		return nil, err
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.TickInterval <= 0 {
		s.TickInterval = time.Second
	}
	if s.Respawn == nil {
		s.Respawn = func(p hookproto.Paths) error {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			return hookproto.StartDaemon(p, exe)
		}
	}
	d := &Daemon{
		set:      s,
		log:      s.Logger,
		ready:    make(chan struct{}),
		stopping: make(chan struct{}),
		stopWhy:  make(chan string, 1),
	}
	d.throttled = &throttle{every: time.Minute, log: d.log.Warn}
	return d, nil
}

// Ready is closed once Run accepts hook events on the socket.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// Stop asks a running daemon to shut down (as `weave-agentd stop` does).
func (d *Daemon) Stop() { d.requestStop("stop requested") }

func (d *Daemon) requestStop(why string) {
	select {
	case d.stopWhy <- why:
	default:
	}
}

// Run runs the daemon until ctx ends (a signal), a stop request, an idle
// exit or a fatal component error. It returns ErrAlreadyRunning (wrapped)
// when another daemon owns WEAVE_HOME, nil after a clean shutdown.
func (d *Daemon) Run(ctx context.Context) (err error) {
	d.started = time.Now()
	p, cfg := d.set.Paths, d.set.Config
	if err := p.EnsureHome(); err != nil {
		return err
	}
	lock, err := takeLock(p, d.set.LockFile)
	if err != nil {
		return err
	}
	idleExit := false
	defer func() {
		lock.Close() // releases the lock
		respawnForInbox(p, idleExit, d.set.Respawn, d.log)
	}()
	d.log.Info("daemon: starting", "pid", os.Getpid(), "version", d.set.Version, "home", p.Home,
		"endpoint", export.TracesURL(cfg.Endpoint), "project", cfg.Project)

	h := &held{p: p}
	defer h.release()
	if err := d.open(ctx, h); err != nil {
		return err
	}
	t := d.start(h)
	d.log.Info("daemon: ready", "socket", p.Socket, "startup", time.Since(d.started).Round(time.Millisecond))
	close(d.ready)

	why, err := d.waitForStop(ctx, t.fatal)
	idleExit = why == "idle"
	d.stopOnce.Do(func() { close(d.stopping) })
	d.shutdown(why, h, t)
	return err
}

// held is what Run opened before starting any goroutine. release closes
// what is still held when Run returns early; the ordered shutdown releases
// each piece itself and clears its field.
type held struct {
	p   hookproto.Paths
	j   *journal.Journal
	sp  *spool.Queue
	ln  net.Listener
	ino uint64 // the socket's inode: unlink only our own
}

func (h *held) release() {
	h.unbind()
	if h.sp != nil {
		h.sp.Close()
	}
	if h.j != nil {
		h.j.Close()
	}
}

// unbind closes the listener and removes the socket file (no new
// connections from here on).
func (h *held) unbind() {
	if h.ln == nil {
		return
	}
	h.ln.Close()
	unlinkOwnSocket(h.p.Socket, h.ino)
	h.ln = nil
}

// open opens the journal, the spool, the exporter, the watcher and the
// socket, then, before serving, learns the journaled ids, drains the inbox
// and compacts.
func (d *Daemon) open(ctx context.Context, h *held) error {
	p, cfg := d.set.Paths, d.set.Config
	j, jst, err := journal.Open(p.Journal, JournalSettings(d.log))
	if err != nil {
		return err
	}
	if jst.TornTail > 0 {
		d.log.Warn("daemon: cut a torn record off the journal (unclean stop)", "bytes", jst.TornTail)
	}
	h.j = j
	if h.sp, err = spool.Open(p.Spool, spool.Settings{Logger: d.log, MaxBytes: cfg.SpoolMaxBytes}); err != nil {
		return err
	}
	d.exp, err = export.New(ctx, export.Config{
		Target: export.Target{
			Endpoint: cfg.Endpoint, Project: cfg.Project, APIKey: cfg.APIKey,
			ServiceVersion: d.set.Version, Timeout: cfg.ExportTimeout.D(),
		},
		MinBackoff: d.set.ExportBackoff, MaxBackoff: d.set.ExportMaxBackoff,
	}, export.Settings{Logger: d.log, Spool: h.sp, Transport: d.set.Transport, LossesPath: p.Losses})
	if err != nil {
		return err
	}
	d.w = watch.New(watch.Settings{Logger: d.log, PollInterval: cfg.PollInterval.D(), PollOnly: d.set.PollOnly})
	ln, ino, err := listen(p)
	if err != nil {
		return err
	}
	h.ln, h.ino = ln, ino

	d.jr = newJournaler(d.log, j, p, cfg.JournalRetention.D(), cfg.JournalCompactBytes)
	return d.jr.startup(time.Now(), jst.TornTail)
}

// newCore sets up core to replay the journal as it stands now (start-up
// has drained the inbox into it) and then follow the journaler. expCtx is
// the exporter's lifetime: spans are handed over even while core shuts down.
func (d *Daemon) newCore(j *journal.Journal, expCtx context.Context) *core {
	p := d.set.Paths
	replayPath, replaySize := j.Snapshot()
	return &core{
		log: d.log, proc: d.set.Processor, events: d.jr.out, markers: d.jr.markers,
		w: d.w, exp: d.exp, expCtx: expCtx, now: time.Now, tick: d.set.TickInterval,
		idle:         d.set.Config.IdleTimeout.D(),
		inboxPending: func() bool { return hookproto.InboxPending(p) },
		drain: func() {
			select {
			case d.jr.drain <- struct{}{}:
			default:
			}
		},
		idleExit:   func() { d.requestStop("idle") },
		replayPath: replayPath, replaySize: replaySize, replayed: make(chan struct{}),
		open:    map[string]bool{},
		lookups: d.jr.lookups, lookupReply: make(chan lookupResult, 1),
	}
}

// task is one goroutine Run starts: run starts it with ctx, stop cancels
// ctx and waits until it has returned.
type task struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

func newTask() task {
	ctx, cancel := context.WithCancel(context.Background())
	return task{ctx, cancel, make(chan struct{})}
}

func (t task) run(f func(context.Context)) {
	go func() { defer close(t.done); f(t.ctx) }()
}

func (t task) stop() { t.cancel(); <-t.done }

// running are the goroutines Run started; fatal carries the first errors
// of the exporter and the server.
type running struct {
	exp, watch, jr, core, srv task
	server                    *http.Server
	fatal                     chan error
}

// start starts the goroutines: exporter, watcher, journaler, core, server.
func (d *Daemon) start(h *held) *running {
	r := &running{
		exp: newTask(), watch: newTask(), jr: newTask(), core: newTask(), srv: newTask(),
		fatal: make(chan error, 4),
	}
	d.core = d.newCore(h.j, r.exp.ctx)
	r.exp.run(func(c context.Context) {
		if err := d.exp.Run(c); err != nil {
			r.fatal <- err
		}
	})
	r.watch.run(func(c context.Context) { _ = d.w.Run(c) })
	r.jr.run(d.jr.run)
	d.jrDone = r.jr.done
	r.core.run(d.core.run)

	r.server = &http.Server{
		Handler:           d.handler(),
		BaseContext:       func(net.Listener) context.Context { return r.srv.ctx },
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	ln := h.ln
	r.srv.run(func(context.Context) {
		if err := r.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.fatal <- fmt.Errorf("daemon: serve: %w", err)
		}
	})
	return r
}

// waitForStop waits for the first reason to stop: ctx (a signal), a stop
// request (stop, idle) or a component's fatal error, which it returns.
func (d *Daemon) waitForStop(ctx context.Context, fatal <-chan error) (why string, err error) {
	select {
	case <-ctx.Done():
		return "signal", nil
	case why = <-d.stopWhy:
		return why, nil
	case err = <-fatal:
		d.log.Error("daemon: a component failed, shutting down", "err", err)
		return "fatal error", err
	}
}

// shutdown is the ordered shutdown, each step timed: stop accepting (in-
// flight hooks get their answers), stop the journaler, core, the watcher
// and the exporter, then close the spool and the journal.
func (d *Daemon) shutdown(why string, h *held, r *running) {
	step := func(name string, f func()) {
		t := time.Now()
		f()
		d.log.Info("daemon: shutdown step", "step", name, "duration", time.Since(t).Round(time.Microsecond))
	}
	d.log.Info("daemon: shutting down", "reason", why)
	step("stop accepting", func() {
		h.unbind() // no new connections; the socket file goes at once
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = r.server.Shutdown(sctx) // in-flight hooks get their answers
		r.srv.stop()
	})
	step("journal", r.jr.stop)
	step("sessions", r.core.stop)
	step("watcher", r.watch.stop)
	step("export", r.exp.stop)
	step("spool", func() {
		if cerr := h.sp.Close(); cerr != nil {
			d.log.Error("daemon: close spool", "err", cerr)
		}
		h.sp = nil
	})
	step("journal close", func() {
		d.jr.appendLateMarkers()
		if cerr := h.j.Close(); cerr != nil {
			d.log.Error("daemon: close journal", "err", cerr)
		}
		h.j = nil
	})
	d.log.Info("daemon: stopped", "reason", why, "uptime", time.Since(d.started).Round(time.Second))
}

// respawnForInbox runs after an exit has released the lock. A hook that
// found no socket while we were exiting left its event in the inbox and
// could not start a daemon (we still held the lock): start the successor it
// could not. Only after an idle exit: `stop` and signals mean stop.
func respawnForInbox(p hookproto.Paths, idleExit bool, respawn func(hookproto.Paths) error, log *slog.Logger) bool {
	if !idleExit || !hookproto.InboxPending(p) {
		return false
	}
	if err := respawn(p); err != nil && !errors.Is(err, hookproto.ErrLocked) {
		log.Error("daemon: could not start a successor for the inbox", "err", err)
	}
	return true
}
