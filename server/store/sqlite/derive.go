package sqlite

// node is what the derived columns of a span depend on.
type node struct {
	spanID, parentID string
	started          int64
	agent, version   string
	conv, thread     string
	hasUsage         bool
}

// derived are the columns the rollups are computed with (store package doc:
// effective agent, effective conversation, usage rule).
type derived struct {
	effAgent, effVersion string
	convKey              string
	counted              bool
}

// deriveTrace computes the derived columns of every span of one trace.
// Parent links that leave the trace, point at the span itself or form a
// cycle are treated as absent.
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
	// Break cycles: walk up from every node with a step budget; a node
	// that revisits its own chain loses its parent link.
	state := make([]uint8, n) // 0 unvisited, 1 on the current path, 2 done
	for i := range nodes {
		var path []int
		j := i
		for j >= 0 && state[j] == 0 {
			state[j] = 1
			path = append(path, j)
			if p := parent[j]; p >= 0 && state[p] == 1 {
				parent[j] = -1 // cycle closes here
			}
			j = parent[j]
		}
		for _, k := range path {
			state[k] = 2
		}
	}

	// Nearest non-empty value up the ancestor chain (self included).
	nearest := func(get func(*node) string) []int {
		src := make([]int, n)
		done := make([]bool, n)
		for i := range nodes {
			if done[i] {
				continue
			}
			// Iterative to survive deep chains.
			var path []int
			j := i
			for j >= 0 && !done[j] && get(&nodes[j]) == "" {
				path = append(path, j)
				j = parent[j]
			}
			res := -1
			switch {
			case j < 0:
			case done[j]:
				res = src[j]
			default:
				res = j
				src[j], done[j] = j, true
			}
			for _, k := range path {
				src[k], done[k] = res, true
			}
		}
		return src
	}

	agentSrc := nearest(func(x *node) string { return x.agent })
	convSrc := nearest(func(x *node) string { return x.conv })
	threadSrc := nearest(func(x *node) string { return x.thread })

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
	traceConv := earliest(func(x *node) string { return x.conv })
	traceThread := earliest(func(x *node) string { return x.thread })

	// A node has a usage-reporting descendant if any child has usage or
	// has one itself.
	descUsage := make([]bool, n)
	for i := range nodes {
		if !nodes[i].hasUsage {
			continue
		}
		for j := parent[i]; j >= 0 && !descUsage[j]; j = parent[j] {
			descUsage[j] = true
		}
	}

	for i := range nodes {
		d := &out[i]
		if a := agentSrc[i]; a >= 0 {
			d.effAgent, d.effVersion = nodes[a].agent, nodes[a].version
		}
		switch {
		case convSrc[i] >= 0:
			d.convKey = nodes[convSrc[i]].conv
		case traceConv != "":
			d.convKey = traceConv
		case threadSrc[i] >= 0:
			d.convKey = nodes[threadSrc[i]].thread
		case traceThread != "":
			d.convKey = traceThread
		default:
			d.convKey = "trace:" + traceID
		}
		d.counted = nodes[i].hasUsage && !descUsage[i]
	}
	return out
}
