package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/weavetrace/weave/daemon"
	"github.com/weavetrace/weave/daemon/config"
	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/daemon/logfile"
	"github.com/weavetrace/weave/spans"
)

func runDaemon(args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("weave-agentd run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keepAlive := fs.Bool("keep-alive", false, "never exit when idle, and take over from a daemon a hook started "+
		"(what the user service runs: weave-agentd service install)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	lock := inheritedLock()
	p, err := hookproto.PathsFromEnv()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	cfg, err := config.Load(p.Config, os.Getenv)
	var privacy spans.Privacy
	if err == nil {
		privacy, err = cfg.Privacy() // validated by Load: the redact rules compile
	}
	if err != nil {
		// Fail fast, before opening anything. Started by a hook, stderr is
		// /dev/null: leave the reason where `status` points the user.
		fmt.Fprintln(stderr, err)
		logStartFailure(p, err)
		return 1
	}
	if *keepAlive {
		cfg.IdleTimeout = 0
	}
	if err := p.EnsureHome(); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	lf, err := logfile.Open(p.AgentdLog, cfg.LogMaxBytes)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer lf.Close()
	var out io.Writer = lf
	if isTerminal(os.Stderr) {
		out = io.MultiWriter(lf, os.Stderr)
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	r := runner{
		p: p, cfg: cfg, privacy: privacy, keepAlive: *keepAlive, stderr: stderr,
		log: slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level})),
	}
	return r.run(signalContext(), lock)
}

// inheritedLock is agentd.lock when weave-hook started us: fd 3, locked
// for us (nil otherwise).
func inheritedLock() *os.File {
	var lock *os.File
	if v := os.Getenv(hookproto.EnvLockFD); v != "" {
		if fd, err := strconv.Atoi(v); err == nil && fd > 2 {
			lock = os.NewFile(uintptr(fd), "agentd.lock")
		}
		os.Unsetenv(hookproto.EnvLockFD)
	}
	return lock
}

// signalContext ends at SIGTERM or SIGINT; a second signal kills at once.
// A closed terminal must not kill us, nor a write to a closed socket.
func signalContext() context.Context {
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills at once
	}()
	return ctx
}

// runner runs the daemon with a loaded configuration.
type runner struct {
	p         hookproto.Paths
	cfg       config.Config
	privacy   spans.Privacy
	keepAlive bool
	log       *slog.Logger
	stderr    io.Writer
}

// run runs the daemon until ctx ends and returns the exit code. With
// keepAlive, when another daemon holds the lock, it asks that one to hand
// over and runs once the lock is free.
func (r *runner) run(ctx context.Context, lock *os.File) int {
	asked := "" // the pid last asked to hand over
	for {
		d, err := daemon.New(daemon.Settings{
			Paths:     r.p,
			Config:    r.cfg,
			Processor: newProcessor(r.cfg, r.privacy, r.log), // processor.go
			Logger:    r.log,
			Version:   version,
			LockFile:  lock,
		})
		if err != nil {
			r.log.Error("agentd: bad settings", "err", err)
			fmt.Fprintln(r.stderr, err)
			return 1
		}
		lock = nil // handed over once
		err = d.Run(ctx)
		switch {
		case err == nil:
			return 0
		case !errors.Is(err, daemon.ErrAlreadyRunning):
			r.log.Error("agentd: exit", "err", err)
			fmt.Fprintln(r.stderr, err)
			return 1
		case !r.keepAlive:
			r.log.Info("agentd: not starting", "err", err)
			fmt.Fprintln(r.stderr, err)
			return 0 // nothing wrong: the other one does the work
		}
		asked = r.askToHandOver(ctx, asked)
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(time.Second):
		}
	}
}

// askToHandOver asks the daemon holding the lock, a hook started, to stop
// (it journals, spools and exits in order) so that the service takes
// over; unless it is the one last asked (a hook may start another
// meanwhile: that one is asked too). It returns the holder's pid.
func (r *runner) askToHandOver(ctx context.Context, asked string) string {
	holder := daemon.LockHolder(r.p)
	if holder == asked {
		return asked
	}
	r.log.Info("agentd: another daemon runs; asking it to hand over", "pid", holder)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := daemon.RequestStop(rctx, r.p); err != nil && !errors.Is(err, daemon.ErrNotRunning) {
		r.log.Warn("agentd: could not ask the running daemon to stop; waiting for it", "err", err)
	}
	return holder
}

// logStartFailure appends one line to agentd.log (best effort).
func logStartFailure(p hookproto.Paths, err error) {
	if p.EnsureHome() != nil {
		return
	}
	lf, lerr := logfile.Open(p.AgentdLog, config.NewDefaultConfig().LogMaxBytes)
	if lerr != nil {
		return
	}
	defer lf.Close()
	slog.New(slog.NewTextHandler(lf, nil)).Error("agentd: cannot start", "err", err)
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
