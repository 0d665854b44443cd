package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/weavetrace/weave/daemon"
	"github.com/weavetrace/weave/daemon/hookproto"
)

func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("weave-agentd status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print every figure as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	p, err := hookproto.PathsFromEnv()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := daemon.FetchStatus(ctx, p)
	if err != nil {
		if errors.Is(err, daemon.ErrNotRunning) {
			fmt.Fprintf(stdout, "weave-agentd is not running (home %s).\n", p.Home)
			if hookproto.InboxPending(p) {
				fmt.Fprintf(stdout, "Hook events are waiting in %s; the next hook event starts the daemon.\n", p.Inbox)
			}
			fmt.Fprintf(stdout, "Logs: %s\n", p.AgentdLog)
			for _, l := range lastLines(p.AgentdLog, 3) {
				fmt.Fprintf(stdout, "  %s\n", l)
			}
			return 3
		}
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
		return 0
	}
	printStatus(stdout, st, p)
	return 0
}

// lastLines returns up to n last lines of the file at path.
func lastLines(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	const tail = 8 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > tail {
		_, _ = f.Seek(fi.Size()-tail, 0)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	return lines
}

func printStatus(w io.Writer, st daemon.Status, p hookproto.Paths) {
	e := st.Export
	fmt.Fprintf(w, "weave-agentd %s, pid %d, up %s\n", st.Version, st.PID, st.Uptime)
	fmt.Fprintf(w, "  home        %s\n", st.Home)
	proj := st.Project
	if proj == "" {
		proj = "(server default)"
	}
	fmt.Fprintf(w, "  endpoint    %s  project %s\n", e.Endpoint, proj)
	fmt.Fprintf(w, "  sessions    %d live\n", st.LiveSessions)
	fmt.Fprintf(w, "  events      %d received, %d from the inbox, %d duplicates, %d refused\n",
		st.EventsReceived, st.Journal.FromInbox, st.Journal.Duplicates, st.BadRequests+st.TooLarge+st.BadProto+st.Browser)
	fmt.Fprintf(w, "  spans       %d sent, %d spooled, %d rejected by the server, %d lost\n",
		e.SpansSent, e.SpansSpooled, e.SpansRejected, e.SpansDropped)
	fmt.Fprintf(w, "  spool       %d batches, %s waiting; %d batches dropped (spool full)\n",
		e.SpoolRecords, humanBytes(e.SpoolBytes), e.SpoolDropped)
	switch {
	case e.LastError == "":
		fmt.Fprintf(w, "  last error  none\n")
	default:
		fmt.Fprintf(w, "  last error  %s (%s ago)\n", e.LastError, time.Since(e.LastErrorAt).Round(time.Second))
	}
	if !e.LastSuccessAt.IsZero() {
		fmt.Fprintf(w, "  last sent   %s ago\n", time.Since(e.LastSuccessAt).Round(time.Second))
	}
	if e.RetryIn != "" {
		fmt.Fprintf(w, "  next retry  in %s\n", e.RetryIn)
	}
	if pr := st.Core.Processor; pr.TranscriptsRefused > 0 {
		fmt.Fprintf(w, "  WARNING     %d transcript paths refused, outside the Claude Code projects directories (last: %s);\n"+
			"              if it is yours, add its projects directory to transcript_dirs in %s\n", pr.TranscriptsRefused, pr.LastRefused, p.Config)
	}
	if st.Journal.InboxOverflow > 0 {
		fmt.Fprintf(w, "  WARNING     %d hook events were dropped because the inbox was full\n", st.Journal.InboxOverflow)
	}
	fmt.Fprintf(w, "  logs        %s\n", p.AgentdLog)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func runStop(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("weave-agentd stop", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for the daemon to exit (0: do not wait)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	p, err := hookproto.PathsFromEnv()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := daemon.RequestStop(ctx, p); err != nil {
		if errors.Is(err, daemon.ErrNotRunning) {
			fmt.Fprintln(stdout, "weave-agentd is not running")
			return 0
		}
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *wait == 0 {
		fmt.Fprintln(stdout, "weave-agentd is stopping")
		return 0
	}
	// The daemon holds agentd.lock until its last step.
	f, err := os.OpenFile(p.Lock, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(stdout, "weave-agentd stopped")
		return 0
	}
	defer f.Close()
	deadline := time.Now().Add(*wait)
	for syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			fmt.Fprintf(stderr, "weave-agentd (pid %s) is still stopping after %s\n", daemon.LockHolder(p), *wait)
			return 1
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintln(stdout, "weave-agentd stopped")
	return 0
}
