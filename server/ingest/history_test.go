package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/export"
	"github.com/weavetrace/weave/geminichat"
	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/rollout"
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
		filepath.Join(fixtures.Codex0169, "compact"),
		filepath.Join(fixtures.Codex0169, "resume"),
		filepath.Join(fixtures.Codex0169, "subagent"),
		filepath.Join(fixtures.Gemini061, "resume"),
		filepath.Join(fixtures.Gemini061, "subagent"),
		filepath.Join(fixtures.Gemini061, "multiturn"),
	}
	for _, sc := range scenarios {
		t.Run(sc, func(t *testing.T) {
			sessions := loadSessions(t, sc)
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

// loadSessions reads a recorded scenario's sessions, whichever agent's.
func loadSessions(t *testing.T, sc string) []*transcript.Session {
	t.Helper()
	set := filepath.Dir(sc)
	files, _ := filepath.Glob(filepath.Join(fixtures.Path(t, sc), fixtures.MainGlob(set)))
	if len(files) == 0 {
		t.Fatal("no session file")
	}
	res := transcript.NewResolver()
	var sessions []*transcript.Session
	for _, f := range files {
		var s *transcript.Session
		var err error
		switch {
		case set == fixtures.Codex0169:
			if rollout.IsSubagentFile(f) {
				continue // loaded with its parent
			}
			s, err = rollout.Load(f)
		case set == fixtures.Gemini061:
			s, err = geminichat.Load(f)
		default:
			s, _, err = transcript.Load(f, res)
		}
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	return sessions
}

// exportInputs sends the sessions' spans, one request per turn, to a
// handler over a memory store and returns what it stored.
func exportInputs(t *testing.T, sessions []*transcript.Session, mode spans.InputMode) map[spanKeyT]model.Span {
	t.Helper()
	w := newMemWriter()
	srv := httptest.NewServer(mux(mustHandler(t, w)))
	defer srv.Close()
	target := export.Target{Endpoint: srv.URL, Project: "p", ServiceVersion: "test"}
	ctx := context.Background()
	exp, err := export.NewClient(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		for _, turn := range s.Turns {
			if turn.Copied {
				continue
			}
			out := spans.BuildTurn(s, turn, spans.Options{IntegrationVersion: "test", Input: mode})
			if err := exp.ExportSpans(ctx, out); err != nil {
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

// chatSpan is a chat span of trace "t" whose input is one user message
// text, answered out, referring to span ref ("" for none).
func chatSpan(id, text, out, ref string, whole bool) model.Span {
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	s := model.Span{ProjectID: testProject, TraceID: "t", SpanID: id, OperationName: model.OpChat, StartedAt: at, EndedAt: at,
		InputMessages:  []model.Message{{Role: "user", Parts: []model.Part{{Type: "text", Content: text}}}},
		OutputMessages: []model.Message{{Role: "assistant", Parts: []model.Part{{Type: "text", Content: out}}, FinishReason: "stop"}},
	}
	if ref != "" {
		s.CustomAttrsString = map[string]string{keyInputPrevTrace: "t", keyInputPrevSpan: ref}
	}
	if whole {
		s.CustomAttrsInt = map[string]int64{keyInputNewFrom: 0}
	}
	return s
}

func texts(ms []model.Message) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Role+":"+m.Parts[0].Content)
	}
	return fmt.Sprint(out)
}

// TestResolveInputs covers where the referred span is: earlier in the
// same chunk, in the store, nowhere (the reference stays, unresolved, and
// a span referring to that one stays unresolved too), and a store that
// fails the lookup (the spans are stored unresolved, not refused).
func TestResolveInputs(t *testing.T) {
	w := newMemWriter()
	h := mustHandler(t, w)
	ctx := context.Background()
	if err := w.WriteSpans(ctx, []model.Span{chatSpan("a", "one", "A", "", true)}); err != nil {
		t.Fatal(err)
	}
	batch := []model.Span{
		chatSpan("b", "two", "B", "a", false),     // in the store
		chatSpan("c", "three", "C", "b", false),   // earlier in the chunk
		chatSpan("x", "lost", "X", "gone", false), // nowhere
		chatSpan("y", "after", "Y", "x", false),   // refers to an unresolved span
		chatSpan("a", "again", "A", "a", false),   // refers to itself
	}
	h.resolveInputs(ctx, batch)
	want := map[string]struct {
		input   string
		newFrom int64
		ok      bool
	}{
		"b": {"[user:one assistant:A user:two]", 2, true},
		"c": {"[user:one assistant:A user:two assistant:B user:three]", 4, true},
		"x": {"[user:lost]", 0, false},
		"y": {"[user:after]", 0, false},
		"a": {"[user:again]", 0, false},
	}
	for _, s := range batch {
		w := want[s.SpanID]
		if got := texts(s.InputMessages); got != w.input {
			t.Errorf("span %s input %s, want %s", s.SpanID, got, w.input)
		}
		n, ok := s.CustomAttrsInt[keyInputNewFrom]
		if ok != w.ok || n != w.newFrom {
			t.Errorf("span %s new_messages_from %d (set %v), want %d (set %v)", s.SpanID, n, ok, w.newFrom, w.ok)
		}
		for _, m := range s.InputMessages {
			if m.FinishReason != "" {
				t.Errorf("span %s: an input message has finish reason %q", s.SpanID, m.FinishReason)
			}
		}
	}
	if batch[0].OutputMessages[0].FinishReason != "stop" {
		t.Error("resolving changed the span's own output")
	}

	// A failed lookup leaves the spans as sent.
	w.failNext["GetSpans"] = errors.New("disk on fire")
	failed := []model.Span{chatSpan("d", "four", "D", "a", false)}
	h.resolveInputs(ctx, failed)
	if got := texts(failed[0].InputMessages); got != "[user:four]" {
		t.Errorf("after a failed lookup: input %s, want the span's own", got)
	}
	if resolved(&failed[0]) {
		t.Error("after a failed lookup the span claims a resolved input")
	}
}
