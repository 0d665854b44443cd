package storetest

import (
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/textsearch"
)

// checkModel compares every derived read of the projects with the model.
func (h *harness) checkModel(o *oracle, projects ...string) {
	h.t.Helper()
	for _, p := range projects {
		h.checkAgents(o, p)
		h.checkConversations(o, p)
		h.checkTraces(o, store.TraceQuery{ProjectID: p}, nil)
		h.checkMetrics(o, p, time.Hour)
		h.checkMetrics(o, p, 24*time.Hour)
		for _, q := range []string{"file", "token cache", `"read file"`} {
			h.checkSearch(o, store.SearchQuery{ProjectID: p, Query: q, Limit: store.MaxLimit})
		}
	}
	st, err := h.s.Stats(h.ctx)
	if err != nil {
		h.t.Fatalf("Stats: %v", err)
	}
	if st.Spans != int64(len(o.spans)) {
		h.t.Errorf("Stats.Spans: got %d, want %d", st.Spans, len(o.spans))
	}
	h.checkProjects(o)
}

func (h *harness) checkProjects(o *oracle) {
	h.t.Helper()
	want := map[string]bool{}
	for k := range o.spans {
		want[k.ProjectID] = true
	}
	got, err := h.s.Projects(h.ctx)
	if err != nil {
		h.t.Fatalf("Projects: %v", err)
	}
	if w := sortedKeys(want); !reflect.DeepEqual(got, w) && !(len(got) == 0 && len(w) == 0) {
		h.t.Errorf("Projects: got %v, want %v", got, w)
	}
}

func (h *harness) checkAgents(o *oracle, project string) {
	h.t.Helper()
	want := o.agents(project)
	got := h.agents(project)
	if len(got) != len(want) {
		h.t.Errorf("QueryAgents(%s): got %d agents, want %d:\ngot  %s\nwant %s", project, len(got), len(want), jsonOf(got), jsonOf(want))
		return
	}
	for _, g := range got {
		w := want[g.AgentName]
		if w == nil {
			h.t.Errorf("QueryAgents(%s): got unexpected agent %q", project, g.AgentName)
			continue
		}
		if !reflect.DeepEqual(g, *w) {
			h.t.Errorf("QueryAgents(%s) agent %q:\ngot  %s\nwant %s", project, g.AgentName, jsonOf(g), jsonOf(w))
		}
	}
	// default order: last_seen desc, agent_name asc
	for i := 1; i < len(got); i++ {
		a, b := got[i-1], got[i]
		if a.LastSeen.Before(b.LastSeen) || (a.LastSeen.Equal(b.LastSeen) && a.AgentName > b.AgentName) {
			h.t.Errorf("QueryAgents order: %q (last %s) before %q (last %s)", a.AgentName, a.LastSeen, b.AgentName, b.LastSeen)
		}
	}
	versions := o.versions(project)
	for name := range want {
		vs, err := h.s.AgentVersions(h.ctx, project, name)
		if err != nil {
			h.t.Fatalf("AgentVersions: %v", err)
		}
		n := 0
		for _, v := range vs {
			w := versions[[2]string{name, v.AgentVersion}]
			if w == nil {
				h.t.Errorf("AgentVersions(%s, %s): unexpected version %q", project, name, v.AgentVersion)
				continue
			}
			n++
			if !reflect.DeepEqual(v, *w) {
				h.t.Errorf("AgentVersions(%s, %s) version %q:\ngot  %s\nwant %s", project, name, v.AgentVersion, jsonOf(v), jsonOf(w))
			}
		}
		if int64(n) != want[name].VersionCount {
			h.t.Errorf("AgentVersions(%s, %s): got %d versions, want %d", project, name, n, want[name].VersionCount)
		}
		for i := 1; i < len(vs); i++ {
			a, b := vs[i-1], vs[i]
			if a.LastSeen.Before(b.LastSeen) || (a.LastSeen.Equal(b.LastSeen) && a.AgentVersion > b.AgentVersion) {
				h.t.Errorf("AgentVersions order: %q before %q", a.AgentVersion, b.AgentVersion)
			}
		}
	}
}

func (h *harness) checkConversations(o *oracle, project string) {
	h.t.Helper()
	want := o.conversations(project)
	page := h.conversations(store.ConversationQuery{ProjectID: project})
	if page.Total != int64(len(want)) || len(page.Conversations) != len(want) {
		h.t.Errorf("QueryConversations(%s): got %d (total %d), want %d:\ngot  %s\nwant %s", project, len(page.Conversations), page.Total, len(want), jsonOf(page), jsonOf(want))
		return
	}
	for _, g := range page.Conversations {
		w := want[g.ConversationID]
		if w == nil {
			h.t.Errorf("QueryConversations(%s): unexpected conversation %q", project, g.ConversationID)
			continue
		}
		if len(g.AgentNames) == 0 {
			g.AgentNames = nil
		}
		if len(g.Models) == 0 {
			g.Models = nil
		}
		if !reflect.DeepEqual(g, *w) {
			h.t.Errorf("QueryConversations(%s) %q:\ngot  %s\nwant %s", project, g.ConversationID, jsonOf(g), jsonOf(w))
		}
	}
	for i := 1; i < len(page.Conversations); i++ {
		a, b := page.Conversations[i-1], page.Conversations[i]
		if a.LastActivity.Before(b.LastActivity) || (a.LastActivity.Equal(b.LastActivity) && a.ConversationID > b.ConversationID) {
			h.t.Errorf("QueryConversations order: %q (last %s) before %q (last %s)", a.ConversationID, a.LastActivity, b.ConversationID, b.LastActivity)
		}
	}
}

// checkConversationFilter compares QueryConversations with span filters
// (match is their meaning on one span) with the model: the conversations
// one of whose spans matches, in the default order, paged; want is the
// expected total, a check of the test data itself.
func (h *harness) checkConversationFilter(o *oracle, name string, q store.ConversationQuery, match func(model.Span) bool, want int) {
	h.t.Helper()
	der := o.derive(q.ProjectID)
	convs := o.conversations(q.ProjectID)
	keep := map[string]bool{}
	agentIn := map[string]bool{}
	for _, s := range o.project(q.ProjectID) {
		d := der[keyOf(&s)]
		if match(s) {
			keep[d.conv] = true
		}
		if d.agent == q.AgentName {
			agentIn[d.conv] = true
		}
	}
	var all []*store.ConversationSummary
	for id := range keep {
		if q.AgentName == "" || agentIn[id] {
			all = append(all, convs[id])
		}
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if !a.LastActivity.Equal(b.LastActivity) {
			return a.LastActivity.After(b.LastActivity)
		}
		return a.ConversationID < b.ConversationID
	})
	if len(all) != want {
		h.t.Fatalf("%s: the model keeps %d conversations, the test wants %d: fix the test data", name, len(all), want)
	}
	var wantIDs []string
	for i, c := range all {
		if i >= q.Offset && (q.Limit == 0 || i < q.Offset+q.Limit) {
			wantIDs = append(wantIDs, c.ConversationID)
		}
	}
	page := h.conversations(q)
	if got := keysOfPage(page); strings.Join(got, "|") != strings.Join(wantIDs, "|") || page.Total != int64(len(all)) {
		h.t.Errorf("QueryConversations(%s): got %v (total %d), want %v (total %d)", name, got, page.Total, wantIDs, len(all))
	}
}

func (h *harness) checkMetrics(o *oracle, project string, w time.Duration) {
	h.t.Helper()
	got, err := h.s.AgentMetrics(h.ctx, store.MetricsQuery{ProjectID: project, Bucket: w})
	if err != nil {
		h.t.Fatalf("AgentMetrics: %v", err)
	}
	want := o.metrics(project, "", store.MinTime, store.MaxTime, w)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		h.t.Errorf("AgentMetrics(%s, %s):\ngot  %s\nwant %s", project, w, jsonOf(got), jsonOf(want))
	}
}

// checkSearch compares hits (without snippets) with the model and checks
// that each snippet marks a match.
func (h *harness) checkSearch(o *oracle, q store.SearchQuery) {
	h.t.Helper()
	got := h.search(q)
	want := o.search(q)
	if q.Offset > 0 {
		want = want[min(q.Offset, len(want)):]
	}
	if q.Limit > 0 && len(want) > q.Limit {
		want = want[:q.Limit]
	}
	if len(got) != len(want) {
		h.t.Errorf("SearchMessages(%q): got %d hits, want %d:\ngot  %s\nwant %s", q.Query, len(got), len(want), jsonOf(hitKeys(got)), jsonOf(oHitKeys(want)))
		return
	}
	parsed, _ := textsearch.Parse(q.Query)
	for i := range got {
		g := got[i]
		snippet := g.Snippet
		g.Snippet = ""
		if !reflect.DeepEqual(g, want[i].SearchHit) {
			h.t.Errorf("SearchMessages(%q) hit %d:\ngot  %s\nwant %s", q.Query, i, jsonOf(g), jsonOf(want[i].SearchHit))
			continue
		}
		if !strings.Contains(snippet, textsearch.MarkOpen) || !strings.Contains(snippet, textsearch.MarkClose) {
			h.t.Errorf("SearchMessages(%q) hit %d snippet %q: no «match» marked", q.Query, i, snippet)
		}
		// Every marked stretch is one of the terms (or the start of one, when
		// the excerpt is cut right after it).
		marks := marked(snippet)
		for mi, m := range marks {
			cut := mi == len(marks)-1 && strings.HasSuffix(snippet, textsearch.MarkClose+textsearch.Ellipsis)
			ok := false
			for _, term := range parsed.Terms {
				var toks []string
				for _, t := range textsearch.Tokenize(m) {
					toks = append(toks, t.Norm)
				}
				got, want := strings.Join(toks, " "), strings.Join(term.Tokens, " ")
				if got == want || (cut && got != "" && strings.HasPrefix(want, got)) {
					ok = true
				}
			}
			if !ok {
				h.t.Errorf("SearchMessages(%q) hit %d snippet %q: marked %q is not a query term", q.Query, i, snippet, m)
			}
		}
	}
}

func marked(s string) []string {
	var out []string
	for {
		i := strings.Index(s, textsearch.MarkOpen)
		if i < 0 {
			return out
		}
		s = s[i+len(textsearch.MarkOpen):]
		j := strings.Index(s, textsearch.MarkClose)
		if j < 0 {
			return out
		}
		out = append(out, s[:j])
		s = s[j+len(textsearch.MarkClose):]
	}
}

type hitKey struct{ Conv, Role, Trace, Span, At string }

func hitKeys(hs []store.SearchHit) []hitKey {
	out := make([]hitKey, len(hs))
	for i, h := range hs {
		out[i] = hitKey{h.ConversationID, h.Role, h.TraceID, h.SpanID, h.StartedAt.Format(time.RFC3339Nano)}
	}
	return out
}

func oHitKeys(hs []oHit) []hitKey {
	out := make([]hitKey, len(hs))
	for i, h := range hs {
		out[i] = hitKey{h.ConversationID, h.Role, h.TraceID, h.SpanID, h.StartedAt.Format(time.RFC3339Nano)}
	}
	return out
}

// checkTraces compares QueryTraces (every page of it) with the model; match
// is the meaning of q.Filters on one span.
func (h *harness) checkTraces(o *oracle, q store.TraceQuery, match func(model.Span) bool) {
	h.t.Helper()
	want := o.queryTraces(q, match)
	q.Limit = store.MaxLimit
	got, total, err := h.s.QueryTraces(h.ctx, q)
	if err != nil {
		h.t.Fatalf("QueryTraces(%+v): %v", q, err)
	}
	if total != int64(len(want)) || len(got) != len(want) {
		h.t.Errorf("QueryTraces(%+v): got %d (total %d), want %d:\ngot  %s\nwant %s", q, len(got), total, len(want), jsonOf(got), jsonOf(want))
		return
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			h.t.Errorf("QueryTraces(%+v) row %d:\ngot  %s\nwant %s", q, i, jsonOf(got[i]), jsonOf(want[i]))
		}
	}
}
