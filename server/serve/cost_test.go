package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/backfill"
	"github.com/weavetrace/weave/daemon/export"
	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/server/api"
	"github.com/weavetrace/weave/server/store"
)

// ccRun is one recorded `claude -p` run: its stream-json output's model
// calls and the cost Claude Code reported for it.
type ccRun struct {
	name    string
	calls   []string // message ids of the assistant lines (the calls made)
	total   float64  // the last result line's total_cost_usd
	hasCost bool
}

func readRun(t *testing.T, path string) ccRun {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := ccRun{name: filepath.Base(path)}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var line struct {
			Type    string   `json:"type"`
			Cost    *float64 `json:"total_cost_usd"`
			Message struct {
				ID    string `json:"id"`
				Model string `json:"model"`
			} `json:"message"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch {
		case line.Type == "assistant" && line.Message.ID != "" && line.Message.Model != "<synthetic>" && !slices.Contains(r.calls, line.Message.ID):
			// (A <synthetic> message is Claude Code's record of a failed
			// call: no response, nothing billed.)
			r.calls = append(r.calls, line.Message.ID)
		case line.Type == "result" && line.Cost != nil:
			r.total, r.hasCost = *line.Cost, true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return r
}

// runNumber orders run-N.stdout.jsonl files by N.
func runNumber(path string) int {
	n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "run-"), ".stdout.jsonl"))
	return n
}

// compactionGaps are the conversations whose Claude Code cost includes
// model calls the transcript does not record (the summary call of a
// compaction), which weave cannot see: Claude Code 2.1.197 writes no
// record of them at all. The test still requires weave to price every
// call it does see exactly as Claude Code does, and requires the gap.
var compactionGaps = map[string]bool{
	"claude-code/2.1.197/compact/1366e47f-31e5-4a3b-b9e1-9bb0890943a5": true,
	"claude-code/2.1.197/compact/5569b2f2-aa32-40b4-9d7c-a0972c5f9814": true,
	"claude-code/2.1.330/compact/bff3e352-be65-4d9d-9aba-97e6a32f6fc8": true,
	"claude-code/2.1.330/compact/62f15a84-f753-49ea-9f14-1fec109e9c21": true,
	"claude-code/2.1.330/compact/3d90ed98-0d21-4ad7-b6ee-f7121ef4ae8c": true,
}

// TestCostMatchesClaudeCode imports every recorded Claude Code session
// whose CLI reported total_cost_usd the way weave-agentd does (its span
// builder, its OTLP exporter) into a weave-server with the built-in price
// table, and compares each conversation's cost_usd, read through the
// conversations API, with what Claude Code itself reported for the runs of
// that conversation: within 1%, with every call priced.
//
// Claude Code's own figures: a run's result line carries the cost of the
// process. Claude Code 2.1.330 and later restore the cost of a resumed (or
// forked) session and report the running total (their transcripts carry
// cost-state lines), so a run there adds what its total grew by since the
// conversation's previous run; earlier versions report each run alone.
func TestCostMatchesClaudeCode(t *testing.T) {
	r := startEmbedded(t)
	const project = "cost/captures"
	type conv struct {
		key       string  // set/scenario/conversation id, for the report
		claude    float64 // Claude Code's own figure
		last      float64 // the conversation's latest cumulative total
		cumulated bool
	}
	convs := map[string]*conv{}
	var order []string
	for _, set := range []string{fixtures.ClaudeCode2197, fixtures.ClaudeCode2330, fixtures.AgentSDK03197} {
		scenarios, err := filepath.Glob(filepath.Join(fixtures.Path(t, set), "*", "run-1.stdout.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		for _, first := range scenarios {
			dir := filepath.Dir(first)
			runFiles, _ := filepath.Glob(filepath.Join(dir, "run-*.stdout.jsonl"))
			sort.Slice(runFiles, func(i, j int) bool { return runNumber(runFiles[i]) < runNumber(runFiles[j]) })
			var runs []ccRun
			for _, f := range runFiles {
				if run := readRun(t, f); run.hasCost {
					runs = append(runs, run)
				}
			}
			if len(runs) == 0 {
				continue
			}
			importInto(t, r, project, filepath.Join(dir, "projects"))
			cumulative := transcriptsHold(t, dir, `"type":"cost-state"`)
			for _, run := range runs {
				var page api.SpansPage
				apiPost(t, r, "/genai/spans/query", map[string]any{"project_id": project, "limit": store.MaxLimit,
					"filters": []store.Filter{{Field: "response_id", Op: "in", Value: run.calls}}}, &page)
				ids := map[string]bool{}
				for _, s := range page.Spans {
					ids[s.ConversationID] = true
				}
				if len(page.Spans) != len(run.calls) || len(ids) != 1 {
					t.Fatalf("%s/%s: %d of the run's %d calls found, in conversations %v; want all, in one", dir, run.name, len(page.Spans), len(run.calls), ids)
				}
				id := page.Spans[0].ConversationID
				c := convs[id]
				if c == nil {
					c = &conv{key: strings.TrimPrefix(fixtures.Rel(t, dir), "testdata/") + "/" + id, cumulated: cumulative}
					convs[id] = c
					order = append(order, id)
				}
				own := run.total
				if cumulative {
					own, c.last = run.total-c.last, run.total
				}
				c.claude += own
			}
		}
	}
	var page api.ConversationsPage
	apiPost(t, r, "/genai/conversations/query", map[string]any{"project_id": project, "limit": 1000}, &page)
	byID := map[string]store.ConversationSummary{}
	for _, c := range page.Conversations {
		byID[c.ConversationID] = c
	}
	var report strings.Builder
	fmt.Fprintf(&report, "%-80s %12s %12s %8s\n", "conversation", "Claude Code", "weave", "diff")
	gaps := 0
	for _, id := range order {
		c := convs[id]
		got := byID[id]
		diff := (got.CostUSD - c.claude) / c.claude
		fmt.Fprintf(&report, "%-80s %12.7f %12.7f %+7.2f%%\n", c.key, c.claude, got.CostUSD, 100*diff)
		if got.UnpricedCount != 0 {
			t.Errorf("%s: %d calls without a price, want every call priced", c.key, got.UnpricedCount)
		}
		switch {
		case compactionGaps[c.key]:
			gaps++
			if diff > -0.01 {
				t.Errorf("%s: weave %.7f, Claude Code %.7f: the compaction call weave cannot see is priced now; drop the conversation from compactionGaps", c.key, got.CostUSD, c.claude)
			}
		case math.Abs(diff) > 0.01:
			t.Errorf("%s: weave's cost_usd %.7f, Claude Code's %.7f (%+.2f%%), want within 1%%", c.key, got.CostUSD, c.claude, 100*diff)
		}
	}
	t.Logf("cost per conversation, Claude Code's total_cost_usd against weave's cost_usd:\n%s", report.String())
	if len(order) < 20 || gaps != len(compactionGaps) {
		t.Errorf("compared %d conversations (%d with a known gap), want every recorded one (at least 20; %d gaps)", len(order), gaps, len(compactionGaps))
	}
}

// importInto runs weave-agentd's import (backfill.Run with the OTLP
// exporter) on a projects folder into project.
func importInto(t *testing.T, r *running, project, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	target := export.Target{Endpoint: r.url, Project: project, ServiceVersion: "cost-test"}
	exp, err := export.NewClient(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	var stderr bytes.Buffer
	rep, err := backfill.Run(ctx, backfill.Config{Paths: []string{dir}, Target: target}, exp, io.Discard, &stderr)
	if err != nil || len(rep.Failed) > 0 || rep.Exported != rep.Spans || rep.Spans == 0 {
		t.Fatalf("import %s: %v: %d of %d spans exported, failed %v\n%s", dir, err, rep.Exported, rep.Spans, rep.Failed, stderr.String())
	}
}

// transcriptsHold reports whether a scenario's transcripts contain s.
func transcriptsHold(t *testing.T, dir, s string) bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "projects", "*", "*.jsonl"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}
