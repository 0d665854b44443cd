package spans_test

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/spans"
)

type inputMsg struct {
	Role  string `json:"role"`
	Parts []struct {
		Type    string `json:"type"`
		Content string `json:"content"`
	} `json:"parts"`
}

func inputOf(t *testing.T, sp spans.Span) []inputMsg {
	t.Helper()
	var ms []inputMsg
	if s := sp.StringAttr(semconv.KeyInputMessages); s != "" {
		if err := json.Unmarshal([]byte(s), &ms); err != nil {
			t.Fatal(err)
		}
	}
	return ms
}

// TestInputAfterCompaction: after a compaction the model sees the summary
// and what the compaction kept, not the whole conversation before it. In
// the recorded compactions, the first call after the summary starts with
// it and carries its whole input (no reference to a call before: the
// golden files show it holds only what the boundary preserved); every
// later input starts with the summary.
func TestInputAfterCompaction(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtures.Path(t, fixtures.ClaudeCode2330, "compact"), "projects", "*", "*.jsonl"))
	checked := 0
	for _, f := range files {
		s := load(t, f)
		var summary string
		for _, turn := range s.Turns {
			for _, c := range turn.Compactions {
				if c.Summary != "" {
					summary = c.Summary
				}
			}
		}
		if summary == "" {
			continue
		}
		refs := map[spanid.SpanID]string{}
		for _, r := range spans.Build(s, spans.Options{}) {
			refs[r.SpanID] = r.StringAttr(semconv.KeyInputPreviousSpanID)
		}
		after := 0
		for _, sp := range spans.Build(s, spans.Options{Input: spans.InputFull}) {
			if sp.StringAttr(semconv.KeyOperationName) != semconv.OpChat || sp.StringAttr(semconv.KeyAgentName) != "claude-code" {
				continue
			}
			in := inputOf(t, sp)
			starts := len(in) > 0 && len(in[0].Parts) > 0 && in[0].Parts[0].Content == summary
			switch {
			case after == 0 && !starts:
				continue
			case after == 0:
				if refs[sp.SpanID] != "" {
					t.Errorf("%s: the first call after the compaction refers to a call before it", filepath.Base(f))
				}
			case !starts:
				t.Errorf("%s: call %s after the compaction does not start with its summary", filepath.Base(f), sp.SpanID)
			}
			after++
		}
		if after == 0 {
			t.Errorf("%s: no call's input starts with the compaction summary", filepath.Base(f))
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no recorded compaction was checked")
	}
}

// TestSubagentInputIsItsOwn: a subagent's first call sees its own prompt,
// not the main agent's conversation; its later calls refer to its own.
func TestSubagentInputIsItsOwn(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtures.Path(t, fixtures.ClaudeCode2330, "subagent"), "projects", "*", "*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("%d transcripts", len(files))
	}
	s := load(t, files[0])
	out := spans.Build(s, spans.Options{})
	parent := map[spanid.SpanID]spans.Span{}
	for _, sp := range out {
		parent[sp.SpanID] = sp
	}
	subChats := 0
	for _, sp := range out {
		if sp.StringAttr(semconv.KeyOperationName) != semconv.OpChat {
			continue
		}
		agent := parent[sp.ParentSpanID]
		if agent.ParentSpanID.IsZero() {
			continue // the main agent's
		}
		subChats++
		in := inputOf(t, sp)
		ref := sp.StringAttr(semconv.KeyInputPreviousSpanID)
		if ref == "" {
			if len(in) != 1 || in[0].Role != "user" {
				t.Errorf("subagent's first call: input %+v, want its prompt alone", in)
			}
			continue
		}
		var id spanid.SpanID
		for _, o := range out {
			if o.SpanID.String() == ref {
				id = o.SpanID
			}
		}
		if p, ok := parent[id]; !ok || p.ParentSpanID != sp.ParentSpanID {
			t.Errorf("subagent call %s refers to %s, not a call of the same subagent", sp.SpanID, ref)
		}
	}
	if subChats < 2 {
		t.Fatalf("%d subagent calls, want at least 2", subChats)
	}
}
