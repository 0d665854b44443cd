// Package derive computes the derived columns of the store contract (see
// the server/store package doc) for one trace: each span's effective agent
// and agent version, its effective conversation, whether its usage counts
// in totals, and whether it is a turn span (an is_turn span under no other). Both backends use it, so they cannot disagree; the
// conformance suite checks them against its own independent model.
package derive

// Node is what the derived columns of a span depend on.
type Node struct {
	SpanID, ParentID string
	Started          int64 // ns since the Unix epoch, for "earliest in the trace"
	Agent, Version   string
	Conv, Thread     string
	HasUsage         bool
	IsTurn           bool
}

// Derived are the derived columns of one span.
type Derived struct {
	EffAgent, EffVersion string
	ConvKey              string
	Counted              bool
	// TurnRoot: the span is_turn and none of its ancestors is (a turn span,
	// one row of its conversation's thread view).
	TurnRoot bool
}

// Trace computes the derived columns of every span of one trace, in the
// order of nodes, exactly as the contract words them: a span's ancestors are
// its parent, the parent's parent and so on while the span is in the trace,
// stopping before a span already on the chain (a parent cycle ends there).
// A parent link to a missing span or to the span itself is absent.
//
// It runs in O(n) whatever the depth: parent links form a functional graph,
// so every chain is a path that may end in one cycle. Values are memoized
// along paths; a span on a cycle sees the cycle's spans once, in walk order.
func Trace(traceID string, nodes []Node) []Derived {
	n := len(nodes)
	out := make([]Derived, n)
	g := newGraph(nodes)

	agentSrc := g.nearest(func(i int) bool { return nodes[i].Agent != "" })
	convSrc := g.nearest(func(i int) bool { return nodes[i].Conv != "" })
	threadSrc := g.nearest(func(i int) bool { return nodes[i].Thread != "" })
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
	traceConv := earliest(func(x *Node) string { return x.Conv })
	traceThread := earliest(func(x *Node) string { return x.Thread })
	below := g.usageBelow(func(i int) bool { return nodes[i].HasUsage })
	turnSrc := g.nearest(func(i int) bool { return nodes[i].IsTurn })

	for i := range nodes {
		d := &out[i]
		if a := agentSrc[i]; a >= 0 {
			d.EffAgent, d.EffVersion = nodes[a].Agent, nodes[a].Version
		}
		switch {
		case convSrc[i] >= 0:
			d.ConvKey = nodes[convSrc[i]].Conv
		case traceConv != "":
			d.ConvKey = traceConv
		case threadSrc[i] >= 0:
			d.ConvKey = nodes[threadSrc[i]].Thread
		case traceThread != "":
			d.ConvKey = traceThread
		default:
			d.ConvKey = "trace:" + traceID
		}
		d.Counted = nodes[i].HasUsage && !below[i]
		// An is_turn ancestor is the nearest is_turn span along the parent's
		// chain, unless that walk came round a cycle back to the span itself.
		if nodes[i].IsTurn {
			p := g.parent[i]
			d.TurnRoot = p < 0 || turnSrc[p] < 0 || turnSrc[p] == i
		}
	}
	return out
}

// graph is the parent structure of one trace.
type graph struct {
	parent  []int   // -1: none
	cycleOf []int   // index into cycles, -1 when the node is on no cycle
	cycles  [][]int // each in walk order: c, parent(c), parent(parent(c)), ...
}

func newGraph(nodes []Node) *graph {
	n := len(nodes)
	idx := make(map[string]int, n)
	for i := range nodes {
		idx[nodes[i].SpanID] = i
	}
	g := &graph{parent: make([]int, n), cycleOf: make([]int, n)}
	for i := range nodes {
		g.parent[i], g.cycleOf[i] = -1, -1
		if p, ok := idx[nodes[i].ParentID]; ok && nodes[i].ParentID != "" && p != i {
			g.parent[i] = p
		}
	}
	// Find the cycles: walk each unvisited path; meeting a node of the
	// current path closes a cycle.
	const (
		unseen = iota
		onPath
		done
	)
	state := make([]uint8, n)
	pos := make([]int, n)
	var path []int
	for i := range nodes {
		path = path[:0]
		j := i
		for j >= 0 && state[j] == unseen {
			state[j], pos[j] = onPath, len(path)
			path = append(path, j)
			j = g.parent[j]
		}
		if j >= 0 && state[j] == onPath {
			cyc := append([]int(nil), path[pos[j]:]...)
			for _, c := range cyc {
				g.cycleOf[c] = len(g.cycles)
			}
			g.cycles = append(g.cycles, cyc)
		}
		for _, k := range path {
			state[k] = done
		}
	}
	return g
}

// nearest returns, for each node, the first node along its chain (itself
// included) for which has is true, or -1.
func (g *graph) nearest(has func(int) bool) []int {
	n := len(g.parent)
	res := make([]int, n)
	known := make([]bool, n)
	for _, cyc := range g.cycles {
		// Walking from cyc[t] visits cyc[t], cyc[t+1], ... around once:
		// scan the doubled sequence backwards.
		k, last := len(cyc), -1
		for t := 2*k - 1; t >= 0; t-- {
			if c := cyc[t%k]; has(c) {
				last = c
			}
			if t < k {
				res[cyc[t]], known[cyc[t]] = last, true
			}
		}
	}
	var path []int
	for i := range n {
		path = path[:0]
		j := i
		for j >= 0 && !known[j] && !has(j) {
			path = append(path, j)
			j = g.parent[j]
		}
		r := -1
		switch {
		case j < 0:
		case known[j]:
			r = res[j]
		default:
			r, res[j], known[j] = j, j, true
		}
		for _, p := range path {
			res[p], known[p] = r, true
		}
	}
	return res
}

// usageBelow marks every node that is on the chain (strictly above the
// start) of a node for which has is true.
func (g *graph) usageBelow(has func(int) bool) []bool {
	below := make([]bool, len(g.parent))
	full := make([]bool, len(g.cycles)) // every node of the cycle is marked
	markCycle := func(c int) {
		if full[c] {
			return
		}
		full[c] = true
		for _, x := range g.cycles[c] {
			below[x] = true
		}
	}
	// From nodes on no cycle: mark up the path; a marked node's chain is
	// already marked above it, so stop there. Entering a cycle marks all of it.
	for i := range g.parent {
		if !has(i) || g.cycleOf[i] >= 0 {
			continue
		}
		for j := g.parent[i]; j >= 0; j = g.parent[j] {
			if c := g.cycleOf[j]; c >= 0 {
				markCycle(c)
				break
			}
			if below[j] {
				break
			}
			below[j] = true
		}
	}
	// From nodes on a cycle: the walk goes round once, marking every other
	// node of the cycle.
	for c, cyc := range g.cycles {
		var users []int
		for _, x := range cyc {
			if has(x) {
				users = append(users, x)
			}
		}
		switch {
		case full[c] || len(users) == 0:
		case len(users) >= 2:
			markCycle(c)
		default:
			for _, x := range cyc {
				if x != users[0] {
					below[x] = true
				}
			}
		}
	}
	return below
}
