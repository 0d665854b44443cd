package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon"
	"github.com/weavetrace/weave/daemon/export"
	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/daemon/spool"
	"github.com/weavetrace/weave/spans"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// golden compares got with testdata/<name>, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// utc makes the local time zone UTC for the test (status prints local
// times).
func utc(t *testing.T) {
	old := time.Local
	time.Local = time.UTC
	t.Cleanup(func() { time.Local = old })
}

var now = time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)

func TestPrintStatus(t *testing.T) {
	utc(t)
	p := hookproto.NewPaths("/home/u/.weave")
	base := daemon.Status{PID: 4242, Version: "1.2.3", Uptime: "1h0m0s", Home: p.Home, Socket: p.Socket, LiveSessions: 2,
		EventsReceived: 310, Export: export.Stats{Endpoint: "http://127.0.0.1:7433/agents/otel/v1/traces", SpansSent: 1200}}
	for _, tc := range []struct {
		name string
		set  func(st *daemon.Status)
	}{
		{"healthy", func(st *daemon.Status) { st.Export.LastSuccessAt = now.Add(-2 * time.Second) }},
		{"outage", func(st *daemon.Status) {
			e := &st.Export
			e.LastError, e.LastErrorAt = `Post "http://127.0.0.1:7433/agents/otel/v1/traces": connection refused`, now.Add(-4*time.Second)
			e.OutageSince, e.LastSuccessAt, e.RetryIn = now.Add(-95*time.Second), now.Add(-97*time.Second), "26s"
			e.SpansSpooled, e.SpoolRecords, e.SpoolBytes = 26, 9, 41_000
		}},
		// Issue 12: after the server came back and the spool drained, the
		// old connection error showed as "last error" beside "last sent 0s
		// ago" as if it were current.
		{"resolved", func(st *daemon.Status) {
			e := &st.Export
			e.LastError, e.LastErrorAt = `Post "http://127.0.0.1:7433/agents/otel/v1/traces": connection refused`, now.Add(-14*time.Second)
			e.LastOutageStart, e.ResolvedAt = now.Add(-12*time.Second-2*time.Minute-3*time.Second), now.Add(-12*time.Second)
			e.LastSuccessAt, e.SpansSpooled = now, 26
		}},
		{"losses", func(st *daemon.Status) {
			e := &st.Export
			e.LastSuccessAt, e.SpoolDropped = now, 3
			e.Losses = export.Losses{Since: now.Add(-26 * time.Hour), Last: now.Add(-time.Hour),
				Lost: export.Count{Spans: 3, Batches: 3}, Rebuilt: 18, DamagedRegions: 2, DamagedBytes: 13_000,
				ByReason: map[string]export.Count{export.LossDamaged: {Spans: 2}, export.LossSpoolFull: {Batches: 3}, export.LossNotSpooled: {Spans: 1}}}
			e.PendingRebuild = 4
			st.Core.Processor.TranscriptsRefused, st.Core.Processor.LastRefused = 1, "/etc/passwd"
			st.Journal.InboxOverflow, st.Journal.InboxFailed = 2, 1
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := base
			tc.set(&st)
			var b bytes.Buffer
			printStatus(&b, st, p, now)
			golden(t, "status/"+tc.name+".txt", b.String())
		})
	}
}

// Issue 12: spans left in the spool by a daemon that died wait for the
// next hook; `status` says they are pending, with no daemon, and how to
// send them.
func TestStatusNotRunningWithPendingSpans(t *testing.T) {
	utc(t)
	home := filepath.Join(t.TempDir(), "w")
	p := hookproto.NewPaths(home)
	if err := p.EnsureHome(); err != nil {
		t.Fatal(err)
	}
	q, err := spool.Open(p.Spool, spool.Settings{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // 3 batches: 2, 2 and 22 spans = 26
		n := []int{2, 2, 22}[i]
		batch := make([]spans.Span, n)
		for j := range batch {
			batch[j] = spans.Span{Name: "chat m", Kind: spans.KindClient, Start: now}
			batch[j].TraceID[0], batch[j].SpanID[0], batch[j].SpanID[1] = 1, byte(i+1), byte(j+1)
		}
		b, _ := json.Marshal(batch)
		if err := q.Put(b); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	l := export.Losses{Since: now.Add(-time.Hour), Lost: export.Count{Spans: 1}, ByReason: map[string]export.Count{export.LossDamaged: {Spans: 1}}}
	b, _ := json.Marshal(l)
	if err := os.WriteFile(p.Losses, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printNotRunning(&out, p, now)
	golden(t, "status/not-running-pending.txt", strings.ReplaceAll(out.String(), home, "$WEAVE_HOME"))
}
