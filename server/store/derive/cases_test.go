package derive

import (
	"fmt"
	"reflect"
	"testing"
)

// TestTraceCases checks Trace on hand-written traces, one rule per case.
func TestTraceCases(t *testing.T) {
	n := func(id, parent string, started int64, agent, conv, thread string, usage bool) Node {
		return Node{SpanID: id, ParentID: parent, Started: started, Agent: agent, Version: agent + "-v", Conv: conv, Thread: thread, HasUsage: usage}
	}
	d := func(agent, conv string, counted bool) Derived {
		v := ""
		if agent != "" {
			v = agent + "-v"
		}
		return Derived{EffAgent: agent, EffVersion: v, ConvKey: conv, Counted: counted}
	}
	tests := []struct {
		name  string
		nodes []Node
		want  []Derived
	}{
		{"child inherits agent and conversation", []Node{
			n("r", "", 0, "outer", "C", "", false), n("c", "r", 1, "", "", "", true)},
			[]Derived{d("outer", "C", false), d("outer", "C", true)}},
		{"nearest agent wins", []Node{
			n("r", "", 0, "outer", "C", "", true), n("s", "r", 1, "inner", "", "", true), n("g", "s", 2, "", "", "", true)},
			[]Derived{d("outer", "C", false), d("inner", "C", false), d("inner", "C", true)}},
		{"missing parent: trace's earliest conversation, no agent", []Node{
			n("o", "gone", 5, "", "", "", false), n("a", "", 1, "", "late", "", false), n("b", "", 0, "", "early", "", false)},
			[]Derived{d("", "early", false), d("", "late", false), d("", "early", false)}},
		{"thread when no conversation", []Node{
			n("r", "", 0, "", "", "th", false), n("k", "r", 1, "", "", "", false)},
			[]Derived{d("", "th", false), d("", "th", false)}},
		{"nothing: one-turn conversation", []Node{n("x", "", 0, "", "", "", true)},
			[]Derived{d("", "trace:T", true)}},
		{"self parent is no parent", []Node{n("x", "x", 0, "", "", "", true)},
			[]Derived{d("", "trace:T", true)}},
		{"parent cycle: every span sees the cycle's agent", []Node{
			n("p", "q", 0, "", "", "", true), n("q", "p", 1, "looper", "", "", false)},
			[]Derived{d("looper", "trace:T", true), d("looper", "trace:T", false)}},
		{"usage above usage counts once", []Node{
			n("R", "", 0, "orch", "C", "", true), n("A", "R", 1, "", "", "", true), n("S", "R", 2, "worker", "", "", true),
			n("B", "S", 3, "", "", "", true), n("T", "R", 4, "", "", "", false)},
			[]Derived{d("orch", "C", false), d("orch", "C", true), d("worker", "C", false), d("worker", "C", true), d("orch", "C", false)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Trace("T", tc.nodes)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Trace:\ngot  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestTraceRules checks Trace's rules, each case worded as a rule, on the
// EffAgent/EffVersion/ConvKey/Counted of every node.
func TestTraceRules(t *testing.T) {
	cases := []struct {
		name  string
		nodes []Node
		want  []string // EffAgent/EffVersion/ConvKey/Counted per Node
	}{
		{"agent and conversation inherited from the root", []Node{
			{SpanID: "r", Agent: "claude-code", Version: "1", Conv: "C"},
			{SpanID: "c", ParentID: "r", HasUsage: true},
		}, []string{"claude-code/1/C/false", "claude-code/1/C/true"}},
		{"nested agent wins below it", []Node{
			{SpanID: "r", Agent: "outer", Conv: "C"},
			{SpanID: "s", ParentID: "r", Agent: "inner", Version: "2"},
			{SpanID: "g", ParentID: "s"},
		}, []string{"outer//C/false", "inner/2/C/false", "inner/2/C/false"}},
		{"parent with usage not counted when a descendant reports usage", []Node{
			{SpanID: "r", HasUsage: true},
			{SpanID: "s", ParentID: "r"},
			{SpanID: "g", ParentID: "s", HasUsage: true},
		}, []string{"//trace:T/false", "//trace:T/false", "//trace:T/true"}},
		{"orphan: parent missing", []Node{
			{SpanID: "o", ParentID: "gone", HasUsage: true},
		}, []string{"//trace:T/true"}},
		{"conversation from the trace's earliest span that has one", []Node{
			{SpanID: "r", Started: 1},
			{SpanID: "a", ParentID: "r", Started: 3, Conv: "late"},
			{SpanID: "b", ParentID: "r", Started: 2, Conv: "early"},
		}, []string{"//early/false", "//late/false", "//early/false"}},
		{"thread when no conversation", []Node{
			{SpanID: "r", Thread: "th"},
			{SpanID: "k", ParentID: "r"},
		}, []string{"//th/false", "//th/false"}},
		{"conversation beats an ancestor's thread", []Node{
			{SpanID: "r", Thread: "th"},
			{SpanID: "k", ParentID: "r", Conv: "C"},
		}, []string{"//C/false", "//C/false"}},
		{"self parent ignored", []Node{
			{SpanID: "s", ParentID: "s", Agent: "a", HasUsage: true},
		}, []string{"a//trace:T/true"}},
		{"cycle broken, no hang", []Node{
			{SpanID: "p", ParentID: "q", HasUsage: true},
			{SpanID: "q", ParentID: "p", Agent: "looper", HasUsage: true},
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Trace("T", tc.nodes)
			if len(got) != len(tc.nodes) {
				t.Fatalf("Trace: got %d results, want %d", len(got), len(tc.nodes))
			}
			if tc.want == nil {
				return
			}
			for i, d := range got {
				s := fmt.Sprintf("%s/%s/%s/%v", d.EffAgent, d.EffVersion, d.ConvKey, d.Counted)
				if s != tc.want[i] {
					t.Errorf("Node %s: got %s, want %s", tc.nodes[i].SpanID, s, tc.want[i])
				}
			}
		})
	}
}
