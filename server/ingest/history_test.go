package ingest

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/spans"
	"github.com/weavetrace/weave/transcript"
)

// TestInputReferencesResolve exports recorded sessions (compaction,
// subagents, forks, failed calls, interrupts) through weave-agentd's OTLP
// exporter twice: chat inputs as references (one request per turn, so
// most references point to spans stored by an earlier request), and
// whole. The stored spans must be the same: every chat span's input the
// whole request the model saw, with the same history boundary.
func TestInputReferencesResolve(t *testing.T) {
	scenarios := []string{
		filepath.Join(fixtures.ClaudeCode2330, "compact"),
		filepath.Join(fixtures.ClaudeCode2330, "subagent"),
		filepath.Join(fixtures.ClaudeCode2197, "multiturn"),
		filepath.Join(fixtures.ClaudeCode2197, "resume"),
		filepath.Join(fixtures.E2E2197, "forktree"),
		filepath.Join(fixtures.E2E2330, "sdkfork"),
		filepath.Join(fixtures.E2E2197, "apierror"),
		filepath.Join(fixtures.E2E2330, "interrupt"),
		filepath.Join(fixtures.E2E2330, "nested"),
	}
	for _, sc := range scenarios {
		t.Run(sc, func(t *testing.T) {
			files, _ := filepath.Glob(filepath.Join(fixtures.Path(t, sc), "projects", "*", "*.jsonl"))
			if len(files) == 0 {
				t.Fatal("no transcript")
			}
			res := transcript.NewResolver()
			var sessions []*transcript.Session
			for _, f := range files {
				s, _, err := transcript.Load(f, res)
				if err != nil {
					t.Fatal(err)
				}
				sessions = append(sessions, s)
			}
			ref := exportInputs(t, sessions, spans.InputReference)
			full := exportInputs(t, sessions, spans.InputFull)
			refs, histories := 0, 0
			for k, f := range full {
				r, ok := ref[k]
				if !ok {
					t.Fatalf("span %v missing with references", k)
				}
				if _, ok := r.CustomAttrsString[keyInputPrevSpan]; ok {
					refs++
				}
				if len(f.InputMessages) > 1 {
					histories++
				}
				if a, b := mustMarshal(t, r.InputMessages), mustMarshal(t, f.InputMessages); a != b {
					t.Errorf("span %s %s: input resolved from references\n%s\nwant\n%s", k.SpanID, r.SpanName, a, b)
				}
				if f.OperationName == model.OpChat && r.CustomAttrsInt[keyInputNewFrom] != f.CustomAttrsInt[keyInputNewFrom] {
					t.Errorf("span %s: new messages from %d, want %d", k.SpanID, r.CustomAttrsInt[keyInputNewFrom], f.CustomAttrsInt[keyInputNewFrom])
				}
			}
			if refs == 0 || histories == 0 {
				t.Errorf("%d references, %d inputs with history: the scenario exercises nothing", refs, histories)
			}
		})
	}
}

// exportInputs sends the sessions' spans, one request per turn, to a
// handler over a memory store and returns what it stored.
func exportInputs(t *testing.T, sessions []*transcript.Session, mode spans.InputMode) map[spanKeyT]model.Span {
	t.Helper()
	w := newMemWriter()
	srv := httptest.NewServer(mux(mustHandler(t, w)))
	defer srv.Close()
	target := spans.Target{Endpoint: srv.URL, Project: "p", ServiceVersion: "test"}
	ctx := context.Background()
	exp, err := spans.NewExporter(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		for _, turn := range s.Turns {
			if turn.Copied {
				continue
			}
			out := spans.BuildTurn(s, turn, spans.Options{IntegrationVersion: "test", Input: mode})
			if err := exp.ExportSpans(ctx, spans.ReadOnly(target.Resource(), out)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := exp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[spanKeyT]model.Span{}
	for _, s := range w.all() {
		got[spanKeyT{s.TraceID, s.SpanID}] = s
	}
	return got
}

type spanKeyT struct{ TraceID, SpanID string }

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
