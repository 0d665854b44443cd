package serve

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/metrics"
	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/storetest"
)

func TestRetentionFlag(t *testing.T) {
	f := RetentionFlag{}
	for _, v := range []string{"acme/agents=30", " other/p = 0 "} {
		if err := f.Set(v); err != nil {
			t.Fatalf("Set(%q): %v", v, err)
		}
	}
	if got := f.String(); got != "acme/agents=30,other/p=0" {
		t.Errorf("String: got %q", got)
	}
	for _, bad := range []string{"acme", "=3", "a/b=-1", "a/b=x"} {
		if err := f.Set(bad); err == nil {
			t.Errorf("Set(%q): got nil error", bad)
		}
	}
}

// TestRetentionPass runs one retention pass over the embedded store: each
// project keeps what its retention keeps, and /metrics counts what went.
func TestRetentionPass(t *testing.T) {
	cfg := testConfig(t)
	st, _, err := OpenStore(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	var spans []model.Span
	for _, p := range []string{"acme/short", "acme/long", "acme/forever"} {
		for i, age := range []int{40, 10, 1} { // days old
			turns := storetest.BuildConversation(storetest.ConversationSpec{ProjectID: p, ConversationID: p + string(rune('a'+i)),
				Start: now.Add(-time.Duration(age) * 24 * time.Hour), Turns: 1, CallsPerTurn: 2})
			spans = append(spans, storetest.Flatten(turns)...)
		}
	}
	if err := st.WriteSpans(ctx, spans); err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewRegistry()
	r := &retention{st: st.(store.Deleter), projects: st.Projects, days: 30, per: map[string]int{"acme/short": 5, "acme/forever": 0},
		now: func() time.Time { return now }, log: slog.New(slog.DiscardHandler), m: newDeleteMetrics(reg)}
	if err := r.once(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"acme/short": 1, "acme/long": 2, "acme/forever": 3} // conversations left
	var deleted int64
	for p, n := range want {
		page, err := st.QueryConversations(ctx, store.ConversationQuery{ProjectID: p})
		if err != nil || page.Total != n {
			t.Errorf("%s after retention: got %d conversations (%v), want %d", p, page.Total, err, n)
		}
		deleted += 3 - n
	}
	per := int64(len(spans)) / 9 // spans per conversation
	var b strings.Builder
	if err := reg.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`weave_deleted_spans_total{reason="retention"} ` + itoa(deleted*per),
		`weave_deleted_traces_total{reason="retention"} ` + itoa(deleted),
		"weave_retention_runs_total 1",
	} {
		if !strings.Contains(b.String(), line+"\n") {
			t.Errorf("metrics: no line %q in\n%s", line, b.String())
		}
	}
	// A second pass deletes nothing more.
	if err := r.once(ctx); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	reg.WritePrometheus(&b)
	if !strings.Contains(b.String(), `weave_deleted_spans_total{reason="retention"} `+itoa(deleted*per)+"\n") {
		t.Errorf("metrics after a second pass: spans deleted changed:\n%s", b.String())
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestRetentionRunsInServer checks that weave-server with --retention-days
// runs a pass at start (seen in /metrics).
func TestRetentionRunsInServer(t *testing.T) {
	cfg := testConfig(t)
	cfg.RetentionDays = 7
	st, _, err := OpenStore(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, cfg, st)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := get(t, r.url+"/metrics")
		if strings.Contains(body, "weave_retention_runs_total 1\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no retention pass within 20 s; /metrics:\n%s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
