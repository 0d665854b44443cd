// Package derive computes the derived columns of the store contract (see
// the server/store package doc) for one trace: each span's effective agent
// and agent version, its effective conversation, and whether its usage
// counts in totals. Both backends use it, so they cannot disagree; the
// conformance suite checks them against its own independent model.
package derive

// Node is what the derived columns of a span depend on.
type Node struct {
	SpanID, ParentID string
	Started          int64 // ns since the Unix epoch, for "earliest in the trace"
	Agent, Version   string
	Conv, Thread     string
	HasUsage         bool
}

// Derived are the derived columns of one span.
type Derived struct {
	EffAgent, EffVersion string
	ConvKey              string
	Counted              bool
}

// Trace computes the derived columns of every span of one trace, in the
// order of nodes, exactly as the contract words them: a span's ancestors are
// its parent, the parent's parent and so on while the span is in the trace,
// stopping before a span already on the chain (a parent cycle ends there).
// A parent link to a missing span or to the span itself is absent. The cost
// is O(spans × depth); Claude Code trees are a few levels deep.
func Trace(traceID string, nodes []Node) []Derived {
	n := len(nodes)
	out := make([]Derived, n)
	idx := make(map[string]int, n)
	for i := range nodes {
		idx[nodes[i].SpanID] = i
	}
	parent := make([]int, n)
	for i := range nodes {
		parent[i] = -1
		if p, ok := idx[nodes[i].ParentID]; ok && nodes[i].ParentID != "" && p != i {
			parent[i] = p
		}
	}
	seen := make([]int, n) // generation stamps of the chain being walked
	gen := 0
	// walk calls fn on i and its ancestors, nearest first, until fn
	// returns false or the chain ends.
	walk := func(i int, fn func(j int) bool) {
		gen++
		for j := i; j >= 0 && seen[j] != gen; j = parent[j] {
			seen[j] = gen
			if !fn(j) {
				return
			}
		}
	}
	nearest := func(i int, get func(*Node) string) int {
		found := -1
		walk(i, func(j int) bool {
			if get(&nodes[j]) != "" {
				found = j
				return false
			}
			return true
		})
		return found
	}
	// earliest is the value of the earliest-started node that has one
	// (ties by span_id).
	earliest := func(get func(*Node) string) string {
		best := -1
		for i := range nodes {
			if get(&nodes[i]) == "" {
				continue
			}
			if best < 0 || nodes[i].Started < nodes[best].Started ||
				(nodes[i].Started == nodes[best].Started && nodes[i].SpanID < nodes[best].SpanID) {
				best = i
			}
		}
		if best < 0 {
			return ""
		}
		return get(&nodes[best])
	}
	agentOf := func(x *Node) string { return x.Agent }
	convOf := func(x *Node) string { return x.Conv }
	threadOf := func(x *Node) string { return x.Thread }
	traceConv, traceThread := earliest(convOf), earliest(threadOf)

	// usageBelow marks the strict ancestors of every node that reports
	// usage.
	usageBelow := make([]bool, n)
	for i := range nodes {
		if !nodes[i].HasUsage {
			continue
		}
		walk(i, func(j int) bool {
			if j != i {
				usageBelow[j] = true
			}
			return true
		})
	}

	for i := range nodes {
		d := &out[i]
		if a := nearest(i, agentOf); a >= 0 {
			d.EffAgent, d.EffVersion = nodes[a].Agent, nodes[a].Version
		}
		if c := nearest(i, convOf); c >= 0 {
			d.ConvKey = nodes[c].Conv
		} else if traceConv != "" {
			d.ConvKey = traceConv
		} else if t := nearest(i, threadOf); t >= 0 {
			d.ConvKey = nodes[t].Thread
		} else if traceThread != "" {
			d.ConvKey = traceThread
		} else {
			d.ConvKey = "trace:" + traceID
		}
		d.Counted = nodes[i].HasUsage && !usageBelow[i]
	}
	return out
}
