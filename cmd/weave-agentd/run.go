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
	// Started by weave-hook: fd 3 is agentd.lock, locked for us.
	var lock *os.File
	if v := os.Getenv(hookproto.EnvLockFD); v != "" {
		if fd, err := strconv.Atoi(v); err == nil && fd > 2 {
			lock = os.NewFile(uintptr(fd), "agentd.lock")
		}
		os.Unsetenv(hookproto.EnvLockFD)
	}
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
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}))

	// A closed terminal must not kill us, nor a write to a closed socket.
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills at once
	}()

	asked := "" // the pid last asked to hand over
	for {
		d, err := daemon.New(daemon.Settings{
			Paths:     p,
			Config:    cfg,
			Processor: newProcessor(cfg, privacy, logger), // processor.go
			Logger:    logger,
			Version:   version,
			LockFile:  lock,
		})
		if err != nil {
			logger.Error("agentd: bad settings", "err", err)
			fmt.Fprintln(stderr, err)
			return 1
		}
		lock = nil // handed over once
		err = d.Run(ctx)
		switch {
		case err == nil:
			return 0
		case !errors.Is(err, daemon.ErrAlreadyRunning):
			logger.Error("agentd: exit", "err", err)
			fmt.Fprintln(stderr, err)
			return 1
		case !*keepAlive:
			logger.Info("agentd: not starting", "err", err)
			fmt.Fprintln(stderr, err)
			return 0 // nothing wrong: the other one does the work
		}
		// The service takes over from a daemon a hook started: ask it to
		// stop (it journals, spools and exits in order), then take the
		// lock once it is free. A hook may start another meanwhile: ask
		// that one too.
		if holder := daemon.LockHolder(p); holder != asked {
			asked = holder
			logger.Info("agentd: another daemon runs; asking it to hand over", "pid", holder)
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := daemon.RequestStop(rctx, p); err != nil && !errors.Is(err, daemon.ErrNotRunning) {
				logger.Warn("agentd: could not ask the running daemon to stop; waiting for it", "err", err)
			}
			cancel()
		}
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(time.Second):
		}
	}
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
