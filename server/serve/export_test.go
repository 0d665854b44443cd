package serve

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/server/api"
	"github.com/weavetrace/weave/server/export"
)

// corpusDir is normalization's corpus of OTLP captures from other
// instrumentations (traces and log events).
const corpusDir = "../normalize/testdata/corpus"

// TestExportRoundTrip fills weave-servers with everything weave reads
// (every corpus capture of another instrumentation, traces and log
// events; every recorded session set through weave-agentd's import; the
// seed's thread examples; 1,300 spans of one project), exports each
// project as OTLP/JSON through /genai/export, sends every line to another
// weave-server's /v1/traces and requires it to answer as the first: the
// same span rows (its JSONL export), conversations, agents, traces,
// aggregates and search hits. Each source has servers of its own: the row
// a server stores can depend on what other projects it was sent before (a
// span of the Gemini CLI sessions sent after the Claude Code ones loses its
// cache_read_input_tokens 0; an OpenAI corpus span sent after the Gemini
// sessions gains one): an ingest bug this test found, not yet fixed.
func TestExportRoundTrip(t *testing.T) {
	sources := map[string]func(a *running){
		"corpus": func(a *running) { postCorpus(t, a) },
		"seeds": func(a *running) {
			for i := 1; i <= 4; i++ {
				postFile(t, a, "/otel/v1/traces", fmt.Sprintf("threads_example_%d.json", i))
			}
		},
		"many": func(a *running) {
			sendOTLP(t, a, "/v1/traces", "application/x-protobuf", manySpans(t, "export", "many", 1300))
		},
	}
	for _, set := range fixtures.Sets {
		sources[set] = func(a *running) { importInto(t, a, "export/"+strings.ReplaceAll(set, "/", "-"), fixtures.Path(t, set)) }
	}
	var lines, rows, hits int
	for _, name := range slices.Sorted(maps.Keys(sources)) {
		a, b := startEmbedded(t), startEmbedded(t)
		sources[name](a)
		for _, p := range projectsOf(t, a) {
			body := exportBody(t, a, map[string]any{"project_id": p, "format": "otlp"})
			sc := bufio.NewScanner(bytes.NewReader(body))
			sc.Buffer(nil, 256<<20)
			for sc.Scan() {
				sendOTLP(t, b, "/v1/traces", "application/json", sc.Bytes())
				lines++
			}
		}
		if got, want := projectsOf(t, b), projectsOf(t, a); !slices.Equal(got, want) {
			t.Fatalf("%s: projects after the round trip %v, want %v", name, got, want)
		}
		for _, p := range projectsOf(t, a) {
			want := exportBody(t, a, map[string]any{"project_id": p})
			got := exportBody(t, b, map[string]any{"project_id": p})
			if len(want) == 0 && p != api.DefaultProject {
				t.Errorf("%s %s: empty export", name, p)
			}
			sameLines(t, name+" "+p+": span rows", want, got)
			rows += bytes.Count(want, []byte("\n"))
			for _, q := range []struct {
				path string
				req  map[string]any
			}{
				{"/genai/conversations/query", map[string]any{"limit": 1000}},
				{"/genai/agents/query", map[string]any{"limit": 1000}},
				{"/genai/traces/query", map[string]any{"limit": 1000}},
				{"/genai/spans/aggregate", map[string]any{"group_by": []string{"request_model"}}},
				{"/genai/messages/search", map[string]any{"query": "the", "limit": 1000}},
			} {
				q.req["project_id"] = p
				want, got := readAnswer(t, a, q.path, q.req), readAnswer(t, b, q.path, q.req)
				if q.path == "/genai/messages/search" {
					// Hits that tie on the contract's order come in either order.
					want, got = sortedHits(t, want), sortedHits(t, got)
					hits += bytes.Count(want, []byte(`"snippet":`))
				}
				sameAnswer(t, name+" "+p+" "+q.path, want, got)
			}
		}
	}
	if hits == 0 || rows < 1500 {
		t.Errorf("compared %d span rows and %d search hits, want the whole corpus and some hits", rows, hits)
	}
	t.Logf("%d sources, %d spans, %d OTLP lines, %d search hits", len(sources), rows, lines, hits)
}

// postCorpus sends every capture of the corpus (traces and logs) to r.
func postCorpus(t *testing.T, r *running) {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(corpusDir, "*", "*.pb"))
	if len(paths) < 50 {
		t.Fatalf("%d corpus captures under %s, want the corpus", len(paths), corpusDir)
	}
	for _, p := range paths {
		path := "/v1/traces"
		if strings.HasSuffix(p, ".logs.pb") {
			path = "/v1/logs"
		}
		body, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sendOTLP(t, r, path, "application/x-protobuf", body)
	}
}

// sendOTLP posts an OTLP body and requires every item accepted.
func sendOTLP(t *testing.T, r *running, path, ctype string, body []byte) {
	t.Helper()
	resp, err := http.Post(r.url+path, ctype, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte("rejected")) {
		t.Fatalf("POST %s: got %d %q, want 200 with everything accepted", path, resp.StatusCode, out)
	}
}

func projectsOf(t *testing.T, r *running) []string {
	t.Helper()
	var out struct {
		Projects []string `json:"projects"`
	}
	resp, err := http.Get(r.url + "/genai/projects")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Projects
}

// exportBody runs /genai/export.
func exportBody(t *testing.T, r *running, req map[string]any) []byte {
	t.Helper()
	b, _ := json.Marshal(req)
	resp, err := http.Post(r.url+"/genai/export", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /genai/export %s: %d %v %.500s", b, resp.StatusCode, err, body)
	}
	return body
}

func readAnswer(t *testing.T, r *running, path string, req any) []byte {
	t.Helper()
	var raw json.RawMessage
	apiPost(t, r, path, req, &raw)
	return raw
}

// sameAnswer compares two JSON answers as values.
func sameAnswer(t *testing.T, what string, want, got []byte) {
	t.Helper()
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	wj, _ := json.Marshal(w)
	gj, _ := json.Marshal(g)
	if !bytes.Equal(wj, gj) {
		t.Errorf("%s: answers differ after the round trip:\n%s", what, partAt(string(wj), string(gj)))
	}
}

// sameLines compares two exports line by line.
func sameLines(t *testing.T, what string, want, got []byte) {
	t.Helper()
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := range min(len(w), len(g)) {
		if w[i] != g[i] {
			t.Errorf("%s: line %d differs after the round trip:\n%s", what, i+1, partAt(w[i], g[i]))
			return
		}
	}
	if len(w) != len(g) {
		t.Errorf("%s: %d lines after the round trip, want %d", what, len(g), len(w))
	}
}

// sortedHits orders a search answer's hits by their JSON.
func sortedHits(t *testing.T, answer []byte) []byte {
	t.Helper()
	var a map[string]json.RawMessage
	var hits []json.RawMessage
	if err := json.Unmarshal(answer, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(a["hits"], &hits); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(hits, func(x, y json.RawMessage) int { return bytes.Compare(x, y) })
	a["hits"], _ = json.Marshal(hits)
	out, _ := json.Marshal(a)
	return out
}

// partAt shows where two texts part.
func partAt(want, got string) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	from := max(0, i-200)
	return fmt.Sprintf("at byte %d:\n  want …%.400s\n  got  …%.400s", i, want[from:], got[from:])
}

// manySpans is an OTLP/protobuf request of n chat spans in one project,
// in traces of 100 under one conversation, every tenth pair sharing a
// start time.
func manySpans(t *testing.T, entity, project string, n int) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("wandb.entity", entity)
	rs.Resource().Attributes().PutStr("wandb.project", project)
	rs.Resource().Attributes().PutStr("service.name", "export-test")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("export-test")
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{0xe, byte(i / 100), 1})
		sp.SetSpanID(pcommon.SpanID{0xf, byte(i >> 8), byte(i)})
		sp.SetName("chat claude-sonnet-4-5")
		sp.SetKind(ptrace.SpanKindClient)
		start := base.Add(time.Duration(i-i%2*(i%10/9)) * time.Second)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(800 * time.Millisecond)))
		at := sp.Attributes()
		at.PutStr("gen_ai.operation.name", "chat")
		at.PutStr("gen_ai.provider.name", "anthropic")
		at.PutStr("gen_ai.request.model", "claude-sonnet-4-5")
		at.PutStr("gen_ai.conversation.id", fmt.Sprintf("many-%d", i/400))
		at.PutInt("gen_ai.usage.input_tokens", int64(100+i))
		at.PutInt("gen_ai.usage.output_tokens", int64(10+i%7))
		at.PutStr("gen_ai.input.messages", fmt.Sprintf(`[{"role":"user","parts":[{"type":"text","content":"question %d"}]}]`, i))
		at.PutStr("gen_ai.output.messages", fmt.Sprintf(`[{"role":"assistant","parts":[{"type":"text","content":"answer %d"}],"finish_reason":"stop"}]`, i))
		at.PutDouble("custom.ratio", float64(i)/3)
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestExportATIF exports every conversation of the recorded Claude Code,
// Agent SDK and Codex sessions and of the corpus as ATIF trajectories
// (/genai/export format atif, a whole project at a time) and validates each
// against the RFC (export.ValidateATIF); it requires what the recordings
// hold to be there (tool calls with their results, subagent trajectories,
// compactions, system prompts, metrics) and each trajectory's
// total_cost_usd to be its conversation's cost_usd.
func TestExportATIF(t *testing.T) {
	r := startEmbedded(t)
	for _, set := range fixtures.Sets {
		importInto(t, r, "atif/"+strings.ReplaceAll(set, "/", "-"), fixtures.Path(t, set))
	}
	postCorpus(t, r)
	var seen struct{ trajectories, subagents, toolResults, compactions, system, metrics, reasoning int }
	for _, p := range projectsOf(t, r) {
		var convs api.ConversationsPage
		apiPost(t, r, "/genai/conversations/query", map[string]any{"project_id": p, "limit": 1000}, &convs)
		costs := map[string]float64{}
		for _, c := range convs.Conversations {
			costs[c.ConversationID] = c.CostUSD
		}
		body := exportBody(t, r, map[string]any{"project_id": p, "format": "atif"})
		n := 0
		for line := range strings.Lines(string(body)) {
			n++
			if err := export.ValidateATIF([]byte(line)); err != nil {
				t.Errorf("%s: trajectory %d is not valid ATIF:\n%v", p, n, err)
				continue
			}
			var tr export.Trajectory
			if err := json.Unmarshal([]byte(line), &tr); err != nil {
				t.Fatal(err)
			}
			seen.trajectories++
			if tr.FinalMetrics == nil || tr.FinalMetrics.TotalCostUSD == nil && costs[tr.SessionID] != 0 ||
				tr.FinalMetrics.TotalCostUSD != nil && *tr.FinalMetrics.TotalCostUSD != costs[tr.SessionID] {
				t.Errorf("%s %s: final_metrics %+v, want total_cost_usd %v (the conversation's)", p, tr.SessionID, tr.FinalMetrics, costs[tr.SessionID])
			}
			all := []export.Trajectory{tr}
			if subs, ok := tr.Extra[export.SubagentsKey].([]any); ok {
				seen.subagents += len(subs)
				b, _ := json.Marshal(subs)
				var list []export.Trajectory
				json.Unmarshal(b, &list)
				all = append(all, list...)
			}
			for _, x := range all {
				for _, st := range x.Steps {
					if st.Observation != nil && len(st.ToolCalls) > 0 {
						seen.toolResults++
					}
					if st.Source == export.SourceSystem && st.Extra["event"] == "context_compacted" {
						seen.compactions++
					} else if st.Source == export.SourceSystem && st.Message != "" {
						seen.system++
					}
					if st.Metrics != nil && st.Metrics.PromptTokens > 0 {
						seen.metrics++
					}
					if st.ReasoningContent != "" {
						seen.reasoning++
					}
				}
			}
		}
		if n != len(convs.Conversations) {
			t.Errorf("%s: %d trajectories, want one per conversation (%d)", p, n, len(convs.Conversations))
		}
	}
	t.Logf("ATIF: %+v", seen)
	if seen.trajectories < 40 || seen.subagents == 0 || seen.toolResults < 50 || seen.compactions == 0 || seen.system == 0 || seen.metrics < 100 {
		t.Errorf("ATIF export covered %+v, want trajectories with subagents, tool results, compactions, system prompts and metrics", seen)
	}
}

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestExportATIFGolden keeps the ATIF trajectories of recorded Claude Code
// sessions (a subagent, a compaction, tools, a failure) in testdata/, to
// read and to diff.
func TestExportATIFGolden(t *testing.T) {
	for _, scenario := range []string{"subagent", "compact", "tools", "failure"} {
		t.Run(scenario, func(t *testing.T) {
			r := startEmbedded(t)
			importInto(t, r, "atif/golden", fixtures.Path(t, fixtures.ClaudeCode2330, scenario))
			var out bytes.Buffer
			for line := range strings.Lines(string(exportBody(t, r, map[string]any{"project_id": "atif/golden", "format": "atif"}))) {
				if err := export.ValidateATIF([]byte(line)); err != nil {
					t.Errorf("not valid ATIF: %v", err)
				}
				json.Indent(&out, []byte(line), "", "  ")
				out.WriteByte('\n')
			}
			path := filepath.Join("testdata", "atif_"+scenario+".golden.json")
			if *update {
				os.MkdirAll("testdata", 0o755)
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if !bytes.Equal(want, out.Bytes()) {
				t.Errorf("%s differs (go test -update rewrites it):\n%s", path, partAt(string(want), out.String()))
			}
		})
	}
}
