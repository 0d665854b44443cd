package backfill_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weavetrace/weave/daemon/backfill"
	"github.com/weavetrace/weave/daemon/export"
	"github.com/weavetrace/weave/geminichat"
	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/rollout"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spans"
)

// captures is the folder of the reference recordings of Claude Code
// 2.1.197, one scenario per subfolder.
func captures(t *testing.T) string { return fixtures.Path(t, fixtures.ClaudeCode2197) }

// receiver is an OTLP/HTTP protobuf endpoint that records what it got.
type receiver struct {
	mu      sync.Mutex
	ids     []string
	res     map[string]string
	headers http.Header
	path    string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	er := ptraceotlp.NewExportRequest()
	if err := er.UnmarshalProto(body); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.headers, r.path = req.Header.Clone(), req.URL.Path
	rss := er.Traces().ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		r.res = map[string]string{}
		rs.Resource().Attributes().Range(func(k string, v pcommon.Value) bool { r.res[k] = v.AsString(); return true })
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j).Spans()
			for k := 0; k < ss.Len(); k++ {
				s := ss.At(k)
				r.ids = append(r.ids, s.TraceID().String()+"/"+s.SpanID().String()+"/"+s.ParentSpanID().String())
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	resp, _ := ptraceotlp.NewExportResponse().MarshalProto()
	w.Write(resp)
}

func TestImportExportsWhatDryRunPrints(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	ctx := context.Background()
	target := export.Target{Endpoint: srv.URL, Project: "acme/agents", APIKey: "k-123", ServiceVersion: "test"}

	// Dry run: the JSON lines.
	var out, errOut bytes.Buffer
	cfg := backfill.Config{Paths: []string{captures(t)}, DryRun: true, JSON: true, Target: target}
	rep, err := backfill.Run(ctx, cfg, nil, &out, &errOut)
	if err != nil {
		t.Fatalf("dry run: %v (%s)", err, errOut.String())
	}
	var want []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var sp spans.Span
		if err := json.Unmarshal([]byte(line), &sp); err != nil {
			t.Fatalf("dry-run line is not a span: %v: %s", err, line)
		}
		parent := "" // pdata renders an empty parent as ""
		if !sp.ParentSpanID.IsZero() {
			parent = sp.ParentSpanID.String()
		}
		want = append(want, sp.TraceID.String()+"/"+sp.SpanID.String()+"/"+parent)
	}
	if len(want) != rep.Spans || rep.Spans == 0 {
		t.Fatalf("dry run printed %d spans, report says %d", len(want), rep.Spans)
	}

	// Real export, twice: identical ids both times.
	for run := 0; run < 2; run++ {
		rcv.mu.Lock()
		rcv.ids = nil
		rcv.mu.Unlock()
		exp, err := export.NewClient(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		cfg := backfill.Config{Paths: []string{captures(t)}, Target: target, BatchSize: 7}
		rep, err := backfill.Run(ctx, cfg, exp, io.Discard, io.Discard)
		exp.Shutdown(ctx)
		if err != nil {
			t.Fatalf("export run %d: %v", run, err)
		}
		if rep.Exported != len(want) {
			t.Errorf("run %d exported %d, want %d", run, rep.Exported, len(want))
		}
		got := append([]string(nil), rcv.ids...)
		sort.Strings(got)
		w := append([]string(nil), want...)
		sort.Strings(w)
		if strings.Join(got, ",") != strings.Join(w, ",") {
			t.Errorf("run %d: exported ids differ from the dry run (%d vs %d)", run, len(got), len(w))
		}
	}
	if rcv.path != "/agents/otel/v1/traces" {
		t.Errorf("path = %q, want /agents/otel/v1/traces", rcv.path)
	}
	if rcv.headers.Get("wandb-api-key") != "k-123" || rcv.headers.Get("Content-Type") != "application/x-protobuf" {
		t.Errorf("headers = %v", rcv.headers)
	}
	for k, v := range map[string]string{"service.name": "claude-code", "service.version": "test", "wandb.entity": "acme", "wandb.project": "agents"} {
		if rcv.res[k] != v {
			t.Errorf("resource %s = %q, want %q", k, rcv.res[k], v)
		}
	}
}

func TestImportSkipsBadFiles(t *testing.T) {
	dir := t.TempDir()
	good, _ := filepath.Glob(filepath.Join(captures(t), "simple/projects/*/*.jsonl"))
	if len(good) != 1 {
		t.Fatalf("simple capture not found")
	}
	data, _ := os.ReadFile(good[0])
	goodPath := filepath.Join(dir, "11111111-1111-1111-1111-111111111111.jsonl")
	os.WriteFile(goodPath, append([]byte("not json at all\n"), data...), 0o644)
	link := filepath.Join(dir, "22222222-2222-2222-2222-222222222222.jsonl")
	os.Symlink(goodPath, link)
	os.WriteFile(filepath.Join(dir, "notes.jsonl"), []byte("{}\n"), 0o644) // not a session name: not imported

	var stderr bytes.Buffer
	rep, err := backfill.Run(context.Background(), backfill.Config{Paths: []string{dir, link}, DryRun: true}, nil, io.Discard, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sessions != 1 || len(rep.Failed) != 1 || rep.Malformed != 1 {
		t.Errorf("report %+v, want 1 session, 1 failed file (the symlink), 1 malformed line", rep)
	}
	if !strings.Contains(stderr.String(), "skipping "+link) {
		t.Errorf("stderr %q does not report the skipped file", stderr.String())
	}
}

func TestDiscoverRejectsSubagentFiles(t *testing.T) {
	subs, _ := filepath.Glob(filepath.Join(captures(t), "subagent/projects/*/*/subagents/*.jsonl"))
	if len(subs) == 0 {
		t.Fatal("no subagent capture")
	}
	if _, err := backfill.Discover(subs[:1]); err == nil || !strings.Contains(err.Error(), "subagent transcript") {
		t.Errorf("Discover(subagent file) = %v, want a clear error", err)
	}
}

// TestImportCodex: a folder of Codex sessions imports every main rollout
// (subagent threads through their parents, not on their own) and gives the
// spans of rollout.Load + spans.Build; a subagent thread named on the
// command line is refused.
func TestImportCodex(t *testing.T) {
	root := fixtures.Path(t, fixtures.Codex0169)
	var out, errOut bytes.Buffer
	rep, err := backfill.Run(context.Background(), backfill.Config{Paths: []string{root}, DryRun: true, JSON: true}, nil, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	mains, _ := filepath.Glob(filepath.Join(root, "*", fixtures.MainGlob(fixtures.Codex0169)))
	var subs []string
	for _, f := range mains {
		if rollout.IsSubagentFile(f) {
			subs = append(subs, f)
		}
	}
	if rep.Files != len(mains)-len(subs) || len(subs) == 0 {
		t.Errorf("imported %d files of %d rollouts (%d subagent threads)", rep.Files, len(mains), len(subs))
	}
	agents := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var sp struct {
			ParentSpanID string         `json:"parent_span_id"`
			Attributes   map[string]any `json:"attributes"`
		}
		if err := json.Unmarshal([]byte(line), &sp); err != nil {
			t.Fatal(err)
		}
		if sp.ParentSpanID == "" {
			agents[sp.Attributes[semconv.KeyAgentName].(string)]++
		}
	}
	if agents["codex"] != rep.Turns || len(agents) != 1 {
		t.Errorf("turn roots by agent %v, want %d codex", agents, rep.Turns)
	}
	if _, err := backfill.Discover(subs[:1]); err == nil || !strings.Contains(err.Error(), "subagent transcript") {
		t.Errorf("Discover(Codex subagent thread) = %v, want a clear error", err)
	}
}

// TestImportGemini: a ~/.gemini/tmp-like folder imports every main chat
// file, leaves subagent chats (chats/<parent id>/<uuid>.jsonl, named like a
// Claude Code transcript) and other files out, and gives the spans of
// geminichat.Load + spans.Build (gemini-cli turn roots, subagents linked).
func TestImportGemini(t *testing.T) {
	root := fixtures.Path(t, fixtures.Gemini061)
	mains, _ := filepath.Glob(filepath.Join(root, "*", fixtures.MainGlob(fixtures.Gemini061)))
	if len(mains) == 0 {
		t.Fatal("no Gemini CLI chat files")
	}
	// A subagent chat and a stray file beside the recordings: not imported.
	tmp := t.TempDir()
	if err := os.CopyFS(tmp, os.DirFS(root)); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(tmp, "text", "tmp", "work", "chats", "parent-id", "0b7c4d2e-1d05-4dfa-93cf-59af66e19d58.jsonl")
	os.MkdirAll(filepath.Dir(sub), 0o755)
	os.WriteFile(sub, []byte(`{"sessionId":"child","projectHash":"h","kind":"subagent"}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(tmp, "text", "tmp", "work", "chats", "notes.jsonl"), []byte("{}\n"), 0o644)
	var out, errOut bytes.Buffer
	rep, err := backfill.Run(context.Background(), backfill.Config{Paths: []string{tmp}, DryRun: true, JSON: true}, nil, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Files != len(mains) || len(rep.Failed) != 0 {
		t.Errorf("imported %d files (%d failed), want the %d main chats; stderr: %s", rep.Files, len(rep.Failed), len(mains), errOut.String())
	}
	var want int
	for _, f := range mains {
		s, err := geminichat.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		want += len(spans.Build(s, spans.Options{}))
	}
	roots := 0
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var sp struct {
			ParentSpanID string         `json:"parent_span_id"`
			Attributes   map[string]any `json:"attributes"`
		}
		if err := json.Unmarshal([]byte(line), &sp); err != nil {
			t.Fatal(err)
		}
		if sp.ParentSpanID == "" {
			roots++
			if sp.Attributes[semconv.KeyAgentName] != geminichat.AgentName {
				t.Errorf("turn root of agent %v", sp.Attributes[semconv.KeyAgentName])
			}
		}
	}
	if rep.Spans != want || roots != rep.Turns || rep.Turns == 0 {
		t.Errorf("%d spans (%d roots, %d turns), the chat files give %d", rep.Spans, roots, rep.Turns, want)
	}
}

// TestImportForkTree: importing a fork tree (real runs: the CLI's
// `--resume --fork-session` of a fork and a second fork of the root; the
// Agent SDK's forkSession() of a fork) emits every turn once, under the
// session that wrote it, each fork naming its immediate parent and the
// root as the conversation. session-ids.txt lists the sessions in the
// order they ran: A, then B (a fork of A), C (a fork of B) and, for the
// CLI, D (another fork of A).
func TestImportForkTree(t *testing.T) {
	for _, set := range []string{fixtures.E2E2197, fixtures.E2E2330} {
		for _, sc := range []string{"forktree", "sdkfork"} {
			dir := fixtures.Path(t, set, sc)
			t.Run(fixtures.Rel(t, dir), func(t *testing.T) {
				ids, _ := os.ReadFile(filepath.Join(dir, "session-ids.txt"))
				order := strings.Fields(string(ids))
				wantParent := map[string]string{order[0]: "", order[1]: order[0], order[2]: order[1]}
				if len(order) == 4 {
					wantParent[order[3]] = order[0]
				}
				var out bytes.Buffer
				if _, err := backfill.Run(context.Background(), backfill.Config{Paths: []string{filepath.Join(dir, "projects")}, DryRun: true, JSON: true}, nil, &out, io.Discard); err != nil {
					t.Fatal(err)
				}
				seen := map[string]bool{}
				turns := map[string]int{}
				for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
					var sp struct {
						SpanID       string         `json:"span_id"`
						ParentSpanID string         `json:"parent_span_id"`
						Attributes   map[string]any `json:"attributes"`
					}
					if err := json.Unmarshal([]byte(line), &sp); err != nil {
						t.Fatal(err)
					}
					if seen[sp.SpanID] {
						t.Errorf("span %s emitted twice", sp.SpanID)
					}
					seen[sp.SpanID] = true
					if sp.ParentSpanID != "" {
						continue
					}
					session, _ := sp.Attributes[semconv.KeySessionID].(string)
					parent, _ := sp.Attributes[semconv.KeyParentSessionID].(string)
					conv, _ := sp.Attributes[semconv.KeyConversationID].(string)
					turns[session]++
					if want, ok := wantParent[session]; !ok || parent != want || conv != order[0] {
						t.Errorf("session %s: parent %q conversation %q, want parent %q conversation %q", session, parent, conv, want, order[0])
					}
				}
				for _, s := range order {
					if turns[s] != 1 {
						t.Errorf("session %s emitted %d turns, want its own one", s, turns[s])
					}
				}
			})
		}
	}
}
