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

	j, jst, err := journal.Open(p.Journal, JournalSettings(d.log))
	if err != nil {
		return err
	}
	if jst.TornTail > 0 {
		d.log.Warn("daemon: cut a torn record off the journal (unclean stop)", "bytes", jst.TornTail)
	}
	journalOpen := true
	defer func() {
		if journalOpen {
			j.Close()
		}
	}()
	sp, err := spool.Open(p.Spool, spool.Settings{Logger: d.log, MaxBytes: cfg.SpoolMaxBytes})
	if err != nil {
		return err
	}
	spoolOpen := true
	defer func() {
		if spoolOpen {
			sp.Close()
		}
	}()
	d.exp, err = export.New(ctx, export.Config{
		Target: export.Target{
			Endpoint: cfg.Endpoint, Project: cfg.Project, APIKey: cfg.APIKey,
			ServiceVersion: d.set.Version, Timeout: cfg.ExportTimeout.D(),
		},
		MinBackoff: d.set.ExportBackoff, MaxBackoff: d.set.ExportMaxBackoff,
	}, export.Settings{Logger: d.log, Spool: sp, Transport: d.set.Transport, LossesPath: p.Losses})
	if err != nil {
		return err
	}
	d.w = watch.New(watch.Settings{Logger: d.log, PollInterval: cfg.PollInterval.D(), PollOnly: d.set.PollOnly})

	ln, ino, err := listen(p)
	if err != nil {
		return err
	}
	socketBound := true
	defer func() {
		if socketBound {
			ln.Close()
			unlinkOwnSocket(p.Socket, ino)
		}
	}()

	// Before serving: learn the journaled ids, drain the inbox, compact.
	d.jr = newJournaler(d.log, j, p, cfg.JournalRetention.D(), cfg.JournalCompactBytes)
	if err := d.jr.startup(time.Now()); err != nil {
		return err
	}
	d.jr.mu.Lock()
	d.jr.st.TornTailAtStart = jst.TornTail
	d.jr.mu.Unlock()
	replayPath, replaySize := j.Snapshot()

	expCtx, expCancel := context.WithCancel(context.Background())
	d.core = &core{
		log: d.log, proc: d.set.Processor, events: d.jr.out, markers: d.jr.markers,
		w: d.w, exp: d.exp, expCtx: expCtx, now: time.Now, tick: d.set.TickInterval,
		idle:         cfg.IdleTimeout.D(),
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

	// Start the goroutines: exporter, watcher, journaler, core, server.
	type task struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	start := func(parent context.Context, f func(context.Context)) task {
		c, cancel := context.WithCancel(parent)
		t := task{cancel, make(chan struct{})}
		go func() { defer close(t.done); f(c) }()
		return t
	}
	fatal := make(chan error, 4)
	expTask := task{expCancel, make(chan struct{})}
	go func() {
		defer close(expTask.done)
		if err := d.exp.Run(expCtx); err != nil {
			fatal <- err
		}
	}()
	watchTask := start(context.Background(), func(c context.Context) { _ = d.w.Run(c) })
	jrTask := start(context.Background(), d.jr.run)
	d.jrDone = jrTask.done
	coreTask := start(context.Background(), d.core.run)
	srvCtx, srvCancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:           d.handler(),
		BaseContext:       func(net.Listener) context.Context { return srvCtx },
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	srvDone := make(chan struct{})
	go func() {
		defer close(srvDone)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fatal <- fmt.Errorf("daemon: serve: %w", err)
		}
	}()
	d.log.Info("daemon: ready", "socket", p.Socket, "startup", time.Since(d.started).Round(time.Millisecond))
	close(d.ready)

	var why string
	select {
	case <-ctx.Done():
		why = "signal"
	case why = <-d.stopWhy:
	case ferr := <-fatal:
		why = "fatal error"
		err = ferr
		d.log.Error("daemon: a component failed, shutting down", "err", ferr)
	}
	idleExit = why == "idle"
	d.stopOnce.Do(func() { close(d.stopping) })

	// The ordered shutdown, each step timed.
	step := func(name string, f func()) {
		t := time.Now()
		f()
		d.log.Info("daemon: shutdown step", "step", name, "duration", time.Since(t).Round(time.Microsecond))
	}
	d.log.Info("daemon: shutting down", "reason", why)
	step("stop accepting", func() {
		ln.Close() // no new connections; the socket file goes at once
		unlinkOwnSocket(p.Socket, ino)
		socketBound = false
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx) // in-flight hooks get their answers
		srvCancel()
		<-srvDone
	})
	step("journal", func() { jrTask.cancel(); <-jrTask.done })
	step("sessions", func() { coreTask.cancel(); <-coreTask.done })
	step("watcher", func() { watchTask.cancel(); <-watchTask.done })
	step("export", func() { expTask.cancel(); <-expTask.done })
	step("spool", func() {
		if cerr := sp.Close(); cerr != nil {
			d.log.Error("daemon: close spool", "err", cerr)
		}
		spoolOpen = false
	})
	step("journal close", func() {
		d.jr.appendLateMarkers()
		if cerr := j.Close(); cerr != nil {
			d.log.Error("daemon: close journal", "err", cerr)
		}
		journalOpen = false
	})
	d.log.Info("daemon: stopped", "reason", why, "uptime", time.Since(d.started).Round(time.Second))
	return err
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
