package derive

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// naive is the contract read literally: walk each span's chain.
func naive(traceID string, nodes []Node) []Derived {
	n := len(nodes)
	idx := map[string]int{}
	for i := range nodes {
		idx[nodes[i].SpanID] = i
	}
	parent := func(i int) int {
		p, ok := idx[nodes[i].ParentID]
		if !ok || nodes[i].ParentID == "" || p == i {
			return -1
		}
		return p
	}
	chain := func(i int) []int {
		seen := map[int]bool{}
		var c []int
		for j := i; j >= 0 && !seen[j]; j = parent(j) {
			seen[j] = true
			c = append(c, j)
		}
		return c
	}
	first := func(i int, get func(*Node) string) string {
		for _, j := range chain(i) {
			if v := get(&nodes[j]); v != "" {
				return v
			}
		}
		return ""
	}
	earliest := func(get func(*Node) string) string {
		best := -1
		for i := range nodes {
			if get(&nodes[i]) != "" && (best < 0 || nodes[i].Started < nodes[best].Started ||
				nodes[i].Started == nodes[best].Started && nodes[i].SpanID < nodes[best].SpanID) {
				best = i
			}
		}
		if best < 0 {
			return ""
		}
		return get(&nodes[best])
	}
	out := make([]Derived, n)
	for i := range nodes {
		c := chain(i)
		for _, j := range c {
			if nodes[j].Agent != "" {
				out[i].EffAgent, out[i].EffVersion = nodes[j].Agent, nodes[j].Version
				break
			}
		}
		switch {
		case first(i, func(x *Node) string { return x.Conv }) != "":
			out[i].ConvKey = first(i, func(x *Node) string { return x.Conv })
		case earliest(func(x *Node) string { return x.Conv }) != "":
			out[i].ConvKey = earliest(func(x *Node) string { return x.Conv })
		case first(i, func(x *Node) string { return x.Thread }) != "":
			out[i].ConvKey = first(i, func(x *Node) string { return x.Thread })
		case earliest(func(x *Node) string { return x.Thread }) != "":
			out[i].ConvKey = earliest(func(x *Node) string { return x.Thread })
		default:
			out[i].ConvKey = "trace:" + traceID
		}
		below := false
		for k := range nodes {
			if k == i || !nodes[k].HasUsage {
				continue
			}
			for _, j := range chain(k)[1:] {
				if j == i {
					below = true
				}
			}
		}
		out[i].Counted = nodes[i].HasUsage && !below
		if nodes[i].IsTurn {
			out[i].TurnRoot = true
			for _, j := range chain(i)[1:] {
				if nodes[j].IsTurn {
					out[i].TurnRoot = false
				}
			}
		}
	}
	return out
}

// TestTraceMatchesContract compares Trace with the literal reading of the
// contract on random forests with cycles, self-links and dangling parents.
func TestTraceMatchesContract(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	pick := func(vals ...string) string { return vals[r.IntN(len(vals))] }
	for iter := range 3000 {
		n := 1 + r.IntN(12)
		nodes := make([]Node, n)
		for i := range nodes {
			nodes[i] = Node{SpanID: fmt.Sprint("s", i), Started: int64(r.IntN(5)),
				Agent: pick("", "", "a", "b"), Conv: pick("", "", "", "C1", "C2"), Thread: pick("", "", "T1"),
				HasUsage: r.IntN(2) == 0, IsTurn: r.IntN(3) == 0}
			if nodes[i].Agent != "" {
				nodes[i].Version = pick("", "1", "2")
			}
			switch r.IntN(4) {
			case 0: // root
			case 1:
				nodes[i].ParentID = "missing"
			default:
				nodes[i].ParentID = fmt.Sprint("s", r.IntN(n)) // cycles and self-links included
			}
		}
		got, want := Trace("T", nodes), naive("T", nodes)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("iteration %d, nodes %+v:\ngot  %+v\nwant %+v", iter, nodes, got, want)
		}
	}
}

// TestTraceIsLinear: a 200,000-deep chain and a 200,000-node cycle are
// handled without recursion and quickly (a quadratic walk would take
// minutes).
func TestTraceIsLinear(t *testing.T) {
	const depth = 200_000
	for _, cyclic := range []bool{false, true} {
		nodes := make([]Node, depth)
		for i := range nodes {
			nodes[i] = Node{SpanID: fmt.Sprint(i)}
			if i > 0 {
				nodes[i].ParentID = fmt.Sprint(i - 1)
			}
		}
		if cyclic {
			nodes[0].ParentID = fmt.Sprint(depth - 1)
		}
		nodes[0].Agent, nodes[0].Conv = "root-agent", "C"
		nodes[depth-1].HasUsage = true
		start := time.Now()
		got := Trace("T", nodes)
		t.Logf("cyclic=%v: %d nodes in %v", cyclic, depth, time.Since(start))
		if got[depth-1].EffAgent != "root-agent" || got[depth-1].ConvKey != "C" || !got[depth-1].Counted {
			t.Errorf("cyclic=%v: deepest node got %+v, want root-agent, C, counted", cyclic, got[depth-1])
		}
	}
}
