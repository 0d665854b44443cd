package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/weavetrace/weave/daemon"
	"github.com/weavetrace/weave/daemon/export"
	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/daemon/spool"
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
			printNotRunning(stdout, p, time.Now())
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
	printStatus(stdout, st, p, time.Now())
	homeWarning(stdout, p, "  WARNING     ")
	return 0
}

// homeWarning says so when weave-hook would refuse WEAVE_HOME (another
// user's, or writable by others): every hook event is then dropped.
func homeWarning(w io.Writer, p hookproto.Paths, prefix string) {
	if err := p.CheckHome(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(w, "%sweave-hook refuses this home and drops every event: %v\n", prefix, err)
	}
}

// printNotRunning is `status` with no daemon: what waits for one (spans
// in the spool, events in the inbox), what was lost, and the log's end.
func printNotRunning(w io.Writer, p hookproto.Paths, now time.Time) {
	fmt.Fprintf(w, "weave-agentd is not running (home %s).\n", p.Home)
	homeWarning(w, p, "WARNING: ")
	spans := 0
	sst, err := spool.Inspect(p.Spool, func(rec []byte) { spans += export.CountSpans(rec) })
	switch {
	case err != nil:
		fmt.Fprintf(w, "The spool cannot be read: %v\n", err)
	case sst.Records > 0:
		fmt.Fprintf(w, "%d spans pending in the spool (%d batches, %s), no daemon running: they are sent when one runs.\n"+
			"  Start one now: weave-agentd run (or the next Claude Code hook starts it).\n"+
			"  To keep one running, so spans never wait for a hook: weave-hook install --service\n",
			spans, sst.Records, humanBytes(sst.Bytes))
	}
	if hookproto.InboxPending(p) {
		fmt.Fprintf(w, "Hook events are waiting in %s; the next hook event starts the daemon.\n", p.Inbox)
	}
	if l, err := export.ReadLosses(p.Losses); err == nil && (l.Lost != export.Count{} || len(l.Pending) > 0) {
		pending := 0
		for _, d := range l.Pending {
			pending += d.Spans()
		}
		fmt.Fprintf(w, "Lost: %s\n", lossLine(l, pending, now))
	}
	fmt.Fprintf(w, "Logs: %s\n", p.AgentdLog)
	for _, l := range lastLines(p.AgentdLog, 3) {
		fmt.Fprintf(w, "  %s\n", l)
	}
}

// lossLine says what was lost for good, since when and why, and what of
// the damaged records was rebuilt or waits to be.
func lossLine(l export.Losses, pending int, now time.Time) string {
	var b strings.Builder
	b.WriteString(countText(l.Lost))
	if !l.Since.IsZero() {
		fmt.Fprintf(&b, " since %s (%s ago)", l.Since.Local().Format("2006-01-02 15:04:05"), ago(now, l.Since))
	}
	var why []string
	for _, r := range slices.Sorted(maps.Keys(l.ByReason)) {
		why = append(why, r+": "+countText(l.ByReason[r]))
	}
	if len(why) > 0 {
		fmt.Fprintf(&b, "; %s", strings.Join(why, ", "))
	}
	if l.Lost.Batches > 0 {
		b.WriteString(" (a batch holds up to 512 spans)")
	}
	if l.Rebuilt > 0 {
		fmt.Fprintf(&b, "; %s of damaged spool records rebuilt and sent again", plural(l.Rebuilt, "span"))
	}
	if pending > 0 {
		fmt.Fprintf(&b, "; %s of damaged spool records waiting to be rebuilt", plural(int64(pending), "span"))
	}
	return b.String()
}

func countText(c export.Count) string {
	switch {
	case c.Batches == 0:
		return plural(c.Spans, "span")
	case c.Spans == 0:
		return plural(c.Batches, "batch")
	}
	return plural(c.Spans, "span") + " and " + plural(c.Batches, "batch")
}

func plural(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "ch") {
		return fmt.Sprintf("%d %ses", n, what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func ago(now, t time.Time) time.Duration { return now.Sub(t).Round(time.Second) }

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

func printStatus(w io.Writer, st daemon.Status, p hookproto.Paths, now time.Time) {
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
	fmt.Fprintf(w, "  spans       %d sent, %d spooled, %d rejected by the server, %s lost\n",
		e.SpansSent, e.SpansSpooled, e.SpansRejected, lostShort(e.Losses.Lost))
	fmt.Fprintf(w, "  spool       %d batches, %s waiting; %d batches dropped (spool full)\n",
		e.SpoolRecords, humanBytes(e.SpoolBytes), e.SpoolDropped)
	if e.Losses.Lost != (export.Count{}) || e.PendingRebuild > 0 || e.Losses.Rebuilt > 0 {
		fmt.Fprintf(w, "  lost        %s\n", lossLine(e.Losses, e.PendingRebuild, now))
	}
	switch {
	case e.LastError == "":
		fmt.Fprintf(w, "  last error  none\n")
	case !e.OutageSince.IsZero():
		fmt.Fprintf(w, "  last error  %s (%s ago; failing for %s)\n", e.LastError, ago(now, e.LastErrorAt), ago(now, e.OutageSince))
	case !e.ResolvedAt.IsZero() && !e.ResolvedAt.Before(e.LastErrorAt):
		fmt.Fprintf(w, "  last error  %s (resolved %s ago after an outage of %s)\n", e.LastError, ago(now, e.ResolvedAt),
			e.ResolvedAt.Sub(e.LastOutageStart).Round(time.Second))
	default:
		fmt.Fprintf(w, "  last error  %s (%s ago)\n", e.LastError, ago(now, e.LastErrorAt))
	}
	if !e.LastSuccessAt.IsZero() {
		fmt.Fprintf(w, "  last sent   %s ago\n", ago(now, e.LastSuccessAt))
	}
	if e.RetryIn != "" {
		fmt.Fprintf(w, "  next retry  in %s\n", e.RetryIn)
	}
	if pr := st.Core.Processor; pr.TranscriptsRefused > 0 {
		fmt.Fprintf(w, "  WARNING     %s refused, outside the Claude Code projects directories (last: %s);\n"+
			"              if it is yours, add its projects directory to transcript_dirs in %s\n", plural(pr.TranscriptsRefused, "transcript path"), pr.LastRefused, p.Config)
	}
	if st.Journal.InboxOverflow > 0 {
		fmt.Fprintf(w, "  WARNING     %d hook events were dropped because the inbox was full\n", st.Journal.InboxOverflow)
	}
	if st.Journal.InboxFailed > 0 {
		fmt.Fprintf(w, "  WARNING     %s dropped: the hook could not append to %s (not writable? disk full?)\n",
			plural(st.Journal.InboxFailed, "hook event"), p.Inbox)
	}
	fmt.Fprintf(w, "  logs        %s\n", p.AgentdLog)
}

// lostShort is the lost figure of the spans line.
func lostShort(c export.Count) string {
	if c.Batches == 0 {
		return fmt.Sprint(c.Spans)
	}
	return fmt.Sprintf("%d (and %s)", c.Spans, plural(c.Batches, "batch"))
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
