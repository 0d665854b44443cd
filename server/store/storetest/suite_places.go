package storetest

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// withPlace returns s recording the working directory and git branch
// ("" leaves one out; both "" records none).
func withPlace(s model.Span, cwd, branch string) model.Span {
	s.CustomAttrsString = maps.Clone(s.CustomAttrsString)
	if s.CustomAttrsString == nil {
		s.CustomAttrsString = map[string]string{}
	}
	delete(s.CustomAttrsString, "weave.claude_code.cwd")
	delete(s.CustomAttrsString, "weave.claude_code.git_branch")
	if cwd != "" {
		s.CustomAttrsString["weave.claude_code.cwd"] = cwd
	}
	if branch != "" {
		s.CustomAttrsString["weave.claude_code.git_branch"] = branch
	}
	return s
}

// testConversationPlaces checks ConversationSummary.WorkingDir and
// GitBranch: those of the latest-started span that records either (the
// latest turn's root), whatever order the turns arrive in; a later turn on
// another branch moves the conversation there; upserts of the latest root
// that change or drop its place; a tie on started_at; a root that moves to
// the conversation when its trace learns it; a branch without a directory;
// sorting on both.
func testConversationPlaces(h *harness) {
	o := newOracle()
	const project = "places/a"
	turns := BuildConversation(ConversationSpec{ProjectID: project, ConversationID: "moved", Start: T0, Turns: 3, CallsPerTurn: 2})
	places := [][2]string{{"/src/weave", "main"}, {"/src/weave", "main"}, {"/src/weave", "fix-search"}}
	for i := range turns {
		*turns[i].Root = withPlace(*turns[i].Root, places[i][0], places[i][1])
	}
	expect := func(step string, want map[string]string) {
		h.t.Helper()
		h.checkConversations(o, project)
		got := map[string]string{}
		for _, c := range h.conversations(store.ConversationQuery{ProjectID: project}).Conversations {
			got[c.ConversationID] = c.WorkingDir + "@" + c.GitBranch
		}
		if !maps.Equal(got, want) {
			h.t.Errorf("%s: got places %v, want %v", step, got, want)
		}
	}

	// The latest turn first (its children before its root, the root
	// running then finished), then the older turns: the latest still wins.
	last := turns[2]
	h.writeBoth(o, last.Spans[1:]...)
	h.writeBoth(o, running(*last.Root))
	h.writeBoth(o, *last.Root)
	expect("latest turn only", map[string]string{"moved": "/src/weave@fix-search"})
	h.writeBoth(o, turns[0].Spans...)
	h.writeBoth(o, turns[1].Spans...)
	expect("older turns after the latest", map[string]string{"moved": "/src/weave@fix-search"})

	// Upserts of the latest root: another branch, then no place at all
	// (the turn before takes over), then its place back.
	h.writeBoth(o, withPlace(*last.Root, "/src/weave", "fix-search-2"))
	expect("latest root re-branched", map[string]string{"moved": "/src/weave@fix-search-2"})
	h.writeBoth(o, withPlace(*last.Root, "", ""))
	expect("latest root without a place", map[string]string{"moved": "/src/weave@main"})
	h.writeBoth(o, *last.Root)
	expect("latest root's place back", map[string]string{"moved": "/src/weave@fix-search"})

	// A tie on started_at: the greater span_id wins, in either order.
	a := BuildTurn(TurnSpec{ProjectID: project, ConversationID: "tie", Turn: 1, Start: T0, Prompt: "tie a", Calls: 1})
	b := BuildTurn(TurnSpec{ProjectID: project, ConversationID: "tie", Turn: 2, Start: T0, Prompt: "tie b", Calls: 1})
	ra, rb := withPlace(*a.Root, "/src/a", "a"), withPlace(*b.Root, "/src/b", "b")
	if ra.SpanID < rb.SpanID {
		ra, rb = rb, ra
	}
	h.writeBoth(o, ra)
	h.writeBoth(o, rb)
	tie := ra.CustomAttrsString["weave.claude_code.cwd"] + "@" + ra.CustomAttrsString["weave.claude_code.git_branch"]
	expect("tie", map[string]string{"moved": "/src/weave@fix-search", "tie": tie})

	// A later root with only a branch and no conversation of its own: alone
	// it is a one-turn conversation; its child names the conversation, and
	// the root moves there, the latest.
	loose := BuildTurn(TurnSpec{ProjectID: project, Turn: 9, Start: T0.Add(time.Hour), Prompt: "loose", Calls: 1})
	root := withPlace(*loose.Root, "", "HEAD")
	root.ConversationID = ""
	h.writeBoth(o, root)
	expect("loose root", map[string]string{"moved": "/src/weave@fix-search", "tie": tie, "trace:" + root.TraceID: "@HEAD"})
	child := loose.Spans[1]
	child.ConversationID = "moved"
	h.writeBoth(o, child)
	expect("root moved into the conversation", map[string]string{"moved": "@HEAD", "tie": tie})

	// Sorting on both.
	want := slices.Collect(maps.Values(o.conversations(project)))
	for _, field := range []string{"working_dir", "git_branch"} {
		key := func(c *store.ConversationSummary) string {
			if field == "working_dir" {
				return c.WorkingDir
			}
			return c.GitBranch
		}
		slices.SortFunc(want, func(x, y *store.ConversationSummary) int {
			if c := strings.Compare(key(x), key(y)); c != 0 {
				return -c
			}
			return strings.Compare(x.ConversationID, y.ConversationID)
		})
		var wantIDs []string
		for _, c := range want {
			wantIDs = append(wantIDs, c.ConversationID)
		}
		page := h.conversations(store.ConversationQuery{ProjectID: project, Sort: []store.Sort{{Field: field, Direction: "desc"}}})
		if got := keysOfPage(page); !slices.Equal(got, wantIDs) {
			h.t.Errorf("QueryConversations sorted on %s desc: got %v, want %v", field, got, wantIDs)
		}
	}
}
