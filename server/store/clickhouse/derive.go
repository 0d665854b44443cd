package clickhouse

import "github.com/weavetrace/weave/server/store/derive"

// node is what the derived columns of a span depend on.
type node struct {
	spanID, parentID string
	started          int64 // ns since the Unix epoch
	agent, version   string
	conv, thread     string
	hasUsage         bool
	isTurn           bool
}

// derived are the columns of the store package doc's four rules:
// effective agent (and its version), effective conversation, whether the
// span's usage counts in totals, and whether it is a turn span.
type derived struct {
	effAgent, effVersion string
	convKey              string
	counted              bool
	turnRoot             bool
}

// deriveTrace computes the derived columns of every span of one trace with
// the one shared implementation (package derive).
func deriveTrace(traceID string, nodes []node) []derived {
	in := make([]derive.Node, len(nodes))
	for i, x := range nodes {
		in[i] = derive.Node{SpanID: x.spanID, ParentID: x.parentID, Started: x.started, Agent: x.agent,
			Version: x.version, Conv: x.conv, Thread: x.thread, HasUsage: x.hasUsage, IsTurn: x.isTurn}
	}
	res := derive.Trace(traceID, in)
	out := make([]derived, len(res))
	for i, d := range res {
		out[i] = derived{effAgent: d.EffAgent, effVersion: d.EffVersion, convKey: d.ConvKey, counted: d.Counted, turnRoot: d.TurnRoot}
	}
	return out
}
