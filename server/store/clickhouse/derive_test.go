package clickhouse

import (
	"reflect"
	"testing"
)

func TestDeriveTrace(t *testing.T) {
	n := func(id, parent string, started int64, agent, conv, thread string, usage bool) node {
		return node{spanID: id, parentID: parent, started: started, agent: agent, version: agent + "-v", conv: conv, thread: thread, hasUsage: usage}
	}
	d := func(agent, conv string, counted bool) derived {
		v := ""
		if agent != "" {
			v = agent + "-v"
		}
		return derived{effAgent: agent, effVersion: v, convKey: conv, counted: counted}
	}
	tests := []struct {
		name  string
		nodes []node
		want  []derived
	}{
		{"child inherits agent and conversation", []node{
			n("r", "", 0, "outer", "C", "", false), n("c", "r", 1, "", "", "", true)},
			[]derived{d("outer", "C", false), d("outer", "C", true)}},
		{"nearest agent wins", []node{
			n("r", "", 0, "outer", "C", "", true), n("s", "r", 1, "inner", "", "", true), n("g", "s", 2, "", "", "", true)},
			[]derived{d("outer", "C", false), d("inner", "C", false), d("inner", "C", true)}},
		{"missing parent: trace's earliest conversation, no agent", []node{
			n("o", "gone", 5, "", "", "", false), n("a", "", 1, "", "late", "", false), n("b", "", 0, "", "early", "", false)},
			[]derived{d("", "early", false), d("", "late", false), d("", "early", false)}},
		{"thread when no conversation", []node{
			n("r", "", 0, "", "", "th", false), n("k", "r", 1, "", "", "", false)},
			[]derived{d("", "th", false), d("", "th", false)}},
		{"nothing: one-turn conversation", []node{n("x", "", 0, "", "", "", true)},
			[]derived{d("", "trace:T", true)}},
		{"self parent is no parent", []node{n("x", "x", 0, "", "", "", true)},
			[]derived{d("", "trace:T", true)}},
		{"parent cycle: every span sees the cycle's agent", []node{
			n("p", "q", 0, "", "", "", true), n("q", "p", 1, "looper", "", "", false)},
			[]derived{d("looper", "trace:T", true), d("looper", "trace:T", false)}},
		{"usage above usage counts once", []node{
			n("R", "", 0, "orch", "C", "", true), n("A", "R", 1, "", "", "", true), n("S", "R", 2, "worker", "", "", true),
			n("B", "S", 3, "", "", "", true), n("T", "R", 4, "", "", "", false)},
			[]derived{d("orch", "C", false), d("orch", "C", true), d("worker", "C", false), d("worker", "C", true), d("orch", "C", false)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := deriveTrace("T", tc.nodes)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("deriveTrace:\ngot  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
