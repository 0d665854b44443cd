package ingest

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/weavetrace/weave/daemon/export"
	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/normalize"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/sqlite"
	"github.com/weavetrace/weave/spans"
	"github.com/weavetrace/weave/transcript"
)

// The fixtures under testdata/claudecode/<scenario> were recorded with
// `go run ./e2e/cmd/ccharness run -telemetry http/protobuf -out DIR
// subagent tools` (Claude Code 2.1.197 against the mock API): otlp.jsonl
// is everything the CLI exported natively, session.jsonl (and
// session/subagents/) the transcript it wrote, from which weave-agentd
// builds its spans.

// replayNative posts the recorded requests of the given signals.
func replayNative(t *testing.T, m http.Handler, dir string, signals ...string) {
	t.Helper()
	reqs, err := fixtures.ReadOTLP(filepath.Join(dir, "otlp.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		if !slices.Contains(signals, r.Signal) {
			continue
		}
		ct := ctProto
		if r.IsJSON() {
			ct = ctJSON
		}
		rec := post(t, m, "/v1/"+r.Signal, ct, "", r.Body)
		if rec.Code != http.StatusOK {
			t.Fatalf("request %d (%s): %d %s", r.Seq, r.Signal, rec.Code, rec.Body)
		}
	}
}

// transcriptSpans builds weave-agentd's spans of the recorded session.
func transcriptSpans(t *testing.T, dir string) (*transcript.Session, []spans.Span) {
	t.Helper()
	s, _, err := transcript.Load(filepath.Join(dir, "session.jsonl"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, spans.Build(s, spans.Options{})
}

// exportTranscript sends them as weave-agentd does (OTLP/HTTP protobuf).
func exportTranscript(t *testing.T, m http.Handler, ss []spans.Span) {
	t.Helper()
	srv := httptest.NewServer(m)
	defer srv.Close()
	ctx := context.Background()
	exp, err := export.NewClient(ctx, export.Target{Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.ExportSpans(ctx, ss); err != nil {
		t.Fatalf("export: %v", err)
	}
	if err := exp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// turnSummary is what a stored conversation says, for comparisons.
type turnSummary struct {
	roots, chats, tools int
	subagents           int
	input, output       int64
	toolIDs, requestIDs []string
	prompt              string
	native              int
}

func summarizeConversation(t *testing.T, st *sqlite.Store, session string) turnSummary {
	t.Helper()
	ss, err := st.ConversationSpans(context.Background(), testProject, session, store.TimeRange{})
	if err != nil {
		t.Fatal(err)
	}
	var s turnSummary
	for _, sp := range ss {
		if sp.CustomAttrsString[normalize.KeyNativeTelemetry] == "native" {
			s.native++
		}
		switch sp.OperationName {
		case model.OpInvokeAgent:
			if sp.ParentSpanID != "" {
				s.subagents++
				continue
			}
			s.roots++
			if len(sp.InputMessages) > 0 && len(sp.InputMessages[0].Parts) > 0 {
				s.prompt = sp.InputMessages[0].Parts[0].Content
			}
		case model.OpChat:
			s.chats++
			if sp.InputTokens != nil {
				s.input += *sp.InputTokens
			}
			if sp.OutputTokens != nil {
				s.output += *sp.OutputTokens
			}
			s.requestIDs = append(s.requestIDs, sp.CustomAttrsString[semconv.KeyRequestID])
		case model.OpExecuteTool:
			s.tools++
			s.toolIDs = append(s.toolIDs, sp.ToolCallID)
		}
	}
	slices.Sort(s.toolIDs)
	slices.Sort(s.requestIDs)
	return s
}

func newNativeHandler(t *testing.T) (*sqlite.Store, http.Handler) {
	st := openSQLite(t)
	h, _ := newTestHandler(t, st, nil)
	return st, mux(h)
}

// TestClaudeCodeNativeOnly: Claude Code's own telemetry alone (no hook)
// makes the turns: the root with the prompt under conversation =
// session.id, a chat span per API request with its tokens (cache
// included) and a tool span per tool call, under the ids weave-agentd
// would give them; its beta spans are not stored beside them; its
// metrics are kept.
func TestClaudeCodeNativeOnly(t *testing.T) {
	for _, sc := range []string{"subagent", "tools"} {
		t.Run(sc, func(t *testing.T) {
			dir := filepath.Join("testdata", "claudecode", sc)
			st, m := newNativeHandler(t)
			replayNative(t, m, dir, "logs", "traces", "metrics")
			sess, ts := transcriptSpans(t, dir)
			got := summarizeConversation(t, st, sess.ID)
			want := summarizeSpans(ts)
			if got.roots != 1 || got.prompt == "" || !strings.Contains(want.prompt, got.prompt) || got.native != got.roots+got.chats+got.tools+got.subagents {
				t.Errorf("native turn: %+v, want one native root with the prompt of %s", got, want.prompt)
			}
			if got.subagents != want.subagents {
				t.Errorf("%d subagents, want %d", got.subagents, want.subagents)
			}
			if !slices.Equal(got.toolIDs, want.toolIDs) {
				t.Errorf("tool calls %v, want the transcript's %v", got.toolIDs, want.toolIDs)
			}
			if !slices.Equal(got.requestIDs, want.requestIDs) || got.input != want.input || got.output != want.output {
				t.Errorf("chats: requests %v tokens %d/%d, want the transcript's %v %d/%d",
					got.requestIDs, got.input, got.output, want.requestIDs, want.input, want.output)
			}
			// Every stored span is in the turn's conversation: the beta
			// spans were not stored.
			stats, err := st.Stats(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n := int(stats.Spans); n != got.native {
				t.Errorf("%d spans stored, want %d (the beta spans left out)", n, got.native)
			}
			// The cost metric adds up to the api_request events' cost_usd.
			cost := total(t, st, testProject, "claude_code.cost.usage")[""]
			if want := eventCost(t, dir); cost == 0 || math.Abs(cost-want) > 1e-9 {
				t.Errorf("claude_code.cost.usage total %v, want the api_request events' %v", cost, want)
			}
		})
	}
}

// summarizeSpans is turnSummary of weave-agentd's spans.
func summarizeSpans(ss []spans.Span) turnSummary {
	var s turnSummary
	for _, sp := range ss {
		switch sp.StringAttr(semconv.KeyOperationName) {
		case semconv.OpInvokeAgent:
			if !sp.ParentSpanID.IsZero() {
				s.subagents++
				continue
			}
			s.roots++
			s.prompt = sp.StringAttr(semconv.KeyInputMessages)
		case semconv.OpChat:
			s.chats++
			s.input += sp.IntAttr(semconv.KeyInputTokens)
			s.output += sp.IntAttr(semconv.KeyOutputTokens)
			s.requestIDs = append(s.requestIDs, sp.StringAttr(semconv.KeyRequestID))
		case semconv.OpExecuteTool:
			s.tools++
			s.toolIDs = append(s.toolIDs, sp.StringAttr(semconv.KeyToolCallID))
		}
	}
	slices.Sort(s.toolIDs)
	slices.Sort(s.requestIDs)
	return s
}

// TestClaudeCodeNativeAndTranscript: a session traced both ways, in
// either order, is stored once — the transcript's spans, none of the
// native copies — with the transcript's counts and tokens.
func TestClaudeCodeNativeAndTranscript(t *testing.T) {
	for _, sc := range []string{"subagent", "tools"} {
		for _, nativeFirst := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/nativeFirst=%v", sc, nativeFirst), func(t *testing.T) {
				dir := filepath.Join("testdata", "claudecode", sc)
				st, m := newNativeHandler(t)
				sess, ts := transcriptSpans(t, dir)
				if nativeFirst {
					replayNative(t, m, dir, "logs", "traces")
					exportTranscript(t, m, ts)
				} else {
					exportTranscript(t, m, ts)
					replayNative(t, m, dir, "logs", "traces")
				}
				got := summarizeConversation(t, st, sess.ID)
				want := summarizeSpans(ts)
				if got.native != 0 {
					t.Errorf("%d native spans left beside the transcript's", got.native)
				}
				if got.roots != want.roots || got.chats != want.chats || got.tools != want.tools || got.subagents != want.subagents ||
					got.input != want.input || got.output != want.output || !slices.Equal(got.toolIDs, want.toolIDs) {
					t.Errorf("stored %+v\nwant the transcript's %+v", got, want)
				}
			})
		}
	}
}

// hookStore runs before once, the first time GetSpans returns while it is
// armed.
type hookStore struct {
	*sqlite.Store
	armed  chan struct{}
	before func()
}

func (s *hookStore) GetSpans(ctx context.Context, keys []store.SpanKey) ([]model.Span, error) {
	out, err := s.Store.GetSpans(ctx, keys)
	select {
	case <-s.armed:
		s.before()
	default:
	}
	return out, err
}

// TestClaudeCodeNativeDuringTranscriptWrite: native events that arrive
// while the transcript's chat spans are being written (after the look for
// native copies, before the write) are not stored beside them. Without
// the per-turn lock the native chat spans land in between and stay.
func TestClaudeCodeNativeDuringTranscriptWrite(t *testing.T) {
	dir := filepath.Join("testdata", "claudecode", "tools")
	hs := &hookStore{Store: openSQLite(t), armed: make(chan struct{}, 1)}
	h, _ := newTestHandler(t, hs, nil)
	m := mux(h)
	sess, ts := transcriptSpans(t, dir)
	done := make(chan struct{})
	hs.before = func() {
		go func() {
			defer close(done)
			replayNative(t, m, dir, "logs")
		}()
		// Give the native requests the time to go through, if nothing
		// holds them.
		select {
		case <-done:
		case <-time.After(500 * time.Millisecond):
		}
	}
	hs.armed <- struct{}{}
	exportTranscript(t, m, ts)
	<-done
	got := summarizeConversation(t, hs.Store, sess.ID)
	want := summarizeSpans(ts)
	if got.native != 0 || got.chats != want.chats || got.input != want.input {
		t.Errorf("stored %+v\nwant the transcript's %+v and no native span", got, want)
	}
}

// eventCost sums cost_usd over the recorded api_request events.
func eventCost(t *testing.T, dir string) float64 {
	t.Helper()
	reqs, err := fixtures.ReadOTLP(filepath.Join(dir, "otlp.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, r := range reqs {
		if r.Signal != "logs" {
			continue
		}
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(r.Body); err != nil {
			t.Fatal(err)
		}
		for _, rl := range req.Logs().ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					if name, _ := lr.Attributes().Get("event.name"); name.AsString() == "api_request" {
						c, _ := lr.Attributes().Get("cost_usd")
						sum += c.Double()
					}
				}
			}
		}
	}
	return sum
}
