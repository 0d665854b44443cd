package clickhouse

// node is what the derived columns of a span depend on.
type node struct {
	spanID, parentID string
	started          int64 // ns since the Unix epoch
	agent, version   string
	conv, thread     string
	hasUsage         bool
}

// derived are the columns of the store package doc's three rules:
// effective agent (and its version), effective conversation, and whether
// the span's usage counts in totals.
type derived struct {
	effAgent, effVersion string
	convKey              string
	counted              bool
}

// deriveTrace computes the derived columns of every span of one trace,
// exactly as the contract words them: a span's ancestors are its parent,
// the parent's parent and so on while the span is in the trace, stopping
// before a span already on the chain (a parent cycle ends there). A
// parent link to a missing span or to the span itself is absent.
func deriveTrace(traceID string, nodes []node) []derived {
	n := len(nodes)
	out := make([]derived, n)
	idx := make(map[string]int, n)
	for i := range nodes {
		idx[nodes[i].spanID] = i
	}
	parent := make([]int, n)
	for i := range nodes {
		parent[i] = -1
		if p, ok := idx[nodes[i].parentID]; ok && nodes[i].parentID != "" && p != i {
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
	nearest := func(i int, get func(*node) string) int {
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
	earliest := func(get func(*node) string) string {
		best := -1
		for i := range nodes {
			if get(&nodes[i]) == "" {
				continue
			}
			if best < 0 || nodes[i].started < nodes[best].started ||
				(nodes[i].started == nodes[best].started && nodes[i].spanID < nodes[best].spanID) {
				best = i
			}
		}
		if best < 0 {
			return ""
		}
		return get(&nodes[best])
	}
	agentOf := func(x *node) string { return x.agent }
	convOf := func(x *node) string { return x.conv }
	threadOf := func(x *node) string { return x.thread }
	traceConv, traceThread := earliest(convOf), earliest(threadOf)

	// usageBelow marks the strict ancestors of every node that reports
	// usage.
	usageBelow := make([]bool, n)
	for i := range nodes {
		if !nodes[i].hasUsage {
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
			d.effAgent, d.effVersion = nodes[a].agent, nodes[a].version
		}
		if c := nearest(i, convOf); c >= 0 {
			d.convKey = nodes[c].conv
		} else if traceConv != "" {
			d.convKey = traceConv
		} else if t := nearest(i, threadOf); t >= 0 {
			d.convKey = nodes[t].thread
		} else if traceThread != "" {
			d.convKey = traceThread
		} else {
			d.convKey = "trace:" + traceID
		}
		d.counted = nodes[i].hasUsage && !usageBelow[i]
	}
	return out
}
