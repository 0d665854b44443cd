package chatview

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/weavetrace/weave/server/model"
)

// node is one span in the tree with the figures the walk needs, computed
// bottom-up before the walk.
type node struct {
	span     *model.Span
	key      string // span_id, or a synthetic key for a span without one
	parent   *node
	children []*node
	level    int // 0 for roots

	ownText    bool  // the span's output carries assistant text or reasoning
	textBelow  bool  // some descendant emits assistant text
	usageBelow bool  // some descendant reports usage
	usage      Usage // subtree usage, each span counted only if nothing below it reports usage
	hasUsage   bool  // usage holds at least one span's report
}

// tree is the span tree of one trace.
type tree struct {
	roots    []*node
	preorder []*node // every node, roots in order, each followed by its subtree
}

// lessStart orders spans by (no start time last, started_at, key).
func lessStart(a, b *node) int {
	az, bz := a.span.StartedAt.IsZero(), b.span.StartedAt.IsZero()
	if az != bz {
		if az {
			return 1
		}
		return -1
	}
	if c := a.span.StartedAt.Compare(b.span.StartedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.key, b.key)
}

// buildTree builds the span tree. Duplicate span ids keep one copy (a
// finished copy over a running one, else the later one in the slice). A
// span whose parent is absent, itself, or on a parent cycle becomes a root;
// nothing is dropped.
func buildTree(spans []model.Span) tree {
	nodes, byKey := spanNodes(spans)
	roots := linkParents(nodes, byKey)
	roots = breakCycles(nodes, roots)
	slices.SortFunc(roots, lessStart)
	for _, n := range nodes {
		slices.SortFunc(n.children, lessStart)
	}
	t := tree{roots: roots, preorder: preorder(roots, len(nodes))}
	t.sumUp()
	return t
}

// spanNodes makes one node per span id, in the spans' order: duplicate
// ids keep one copy (a finished copy over a running one, else the later
// one).
func spanNodes(spans []model.Span) ([]*node, map[string]*node) {
	byKey := make(map[string]*node, len(spans))
	nodes := make([]*node, 0, len(spans))
	for i := range spans {
		s := &spans[i]
		key := s.SpanID
		if key == "" {
			// Cannot be anyone's parent; \x00 keeps it apart from real ids.
			key = "\x00" + strconv.Itoa(i)
		}
		if old, ok := byKey[key]; ok {
			if !old.span.IsRunning() && s.IsRunning() {
				continue
			}
			old.span = s
			continue
		}
		n := &node{span: s, key: key}
		byKey[key] = n
		nodes = append(nodes, n)
	}
	return nodes, byKey
}

// linkParents hangs each node under its parent and returns the nodes
// whose parent is absent or themselves: the roots.
func linkParents(nodes []*node, byKey map[string]*node) []*node {
	var roots []*node
	for _, n := range nodes {
		p := n.span.ParentSpanID
		if parent, ok := byKey[p]; ok && p != "" && parent != n {
			n.parent = parent
			parent.children = append(parent.children, n)
		} else {
			roots = append(roots, n)
		}
	}
	return roots
}

// breakCycles returns roots with a root more for each parent cycle: nodes
// not reachable from a root sit on one. It promotes the earliest of each
// cycle to a root, cutting its parent link, until every node is reachable.
func breakCycles(nodes, roots []*node) []*node {
	visited := make(map[*node]bool, len(nodes))
	mark := func(from *node) {
		stack := []*node{from}
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if visited[n] {
				continue
			}
			visited[n] = true
			stack = append(stack, n.children...)
		}
	}
	for _, r := range roots {
		mark(r)
	}
	if len(visited) == len(nodes) {
		return roots
	}
	rest := make([]*node, 0, len(nodes)-len(visited))
	for _, n := range nodes {
		if !visited[n] {
			rest = append(rest, n)
		}
	}
	slices.SortFunc(rest, lessStart)
	for _, n := range rest {
		if visited[n] {
			continue
		}
		p := n.parent
		p.children = slices.DeleteFunc(p.children, func(c *node) bool { return c == n })
		n.parent = nil
		roots = append(roots, n)
		mark(n)
	}
	return roots
}

// preorder lists the size nodes under roots, each followed by its subtree,
// and sets their levels; iteratively (a trace can be arbitrarily deep).
func preorder(roots []*node, size int) []*node {
	out := make([]*node, 0, size)
	stack := make([]*node, 0, len(roots))
	for i := len(roots) - 1; i >= 0; i-- {
		stack = append(stack, roots[i])
	}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n.parent != nil {
			n.level = n.parent.level + 1
		}
		out = append(out, n)
		for i := len(n.children) - 1; i >= 0; i-- {
			stack = append(stack, n.children[i])
		}
	}
	return out
}

// sumUp computes the bottom-up figures (text and usage below each node):
// reverse preorder visits children before parents.
func (t *tree) sumUp() {
	for i := len(t.preorder) - 1; i >= 0; i-- {
		n := t.preorder[i]
		n.ownText = hasOwnText(n.span)
		for _, c := range n.children {
			if c.ownText || c.textBelow {
				n.textBelow = true
			}
			if c.usageBelow || c.span.HasUsage() {
				n.usageBelow = true
			}
			if c.hasUsage {
				n.usage.Add(c.usage)
				n.hasUsage = true
			}
		}
		if n.span.HasUsage() && !n.usageBelow {
			n.usage.Add(spanUsage(n.span))
			n.hasUsage = true
		}
	}
}

// hasOwnText reports whether the span itself would emit an assistant
// message with text or reasoning. Tools never do: their output is the
// tool_call's result.
func hasOwnText(s *model.Span) bool {
	if s.OperationName == model.OpExecuteTool {
		return false
	}
	for _, m := range s.OutputMessages {
		if m.Role == "user" {
			continue
		}
		for _, p := range m.Parts {
			if (p.Type == model.PartText || p.Type == model.PartReasoning) && p.Content != "" {
				return true
			}
		}
	}
	return false
}

func spanUsage(s *model.Span) Usage {
	var u Usage
	if s.InputTokens != nil {
		u.InputTokens = *s.InputTokens
	}
	if s.OutputTokens != nil {
		u.OutputTokens = *s.OutputTokens
	}
	if s.CacheReadInputTokens != nil {
		u.CacheReadInputTokens = *s.CacheReadInputTokens
	}
	if s.CacheCreationInputTokens != nil {
		u.CacheCreationInputTokens = *s.CacheCreationInputTokens
	}
	if s.ReasoningTokens != nil {
		u.ReasoningTokens = *s.ReasoningTokens
	}
	if s.CostUSD != nil {
		u.CostUSD = *s.CostUSD
	} else if s.HasTokens() {
		u.UnpricedCount = 1
	}
	return u
}
