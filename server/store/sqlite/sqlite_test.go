package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedBench != nil {
		sharedBench.s.Close()
		os.RemoveAll(filepath.Dir(sharedBench.s.Path()))
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, openFactory, storetest.Capabilities{})
}

// TestConformanceConversationWalk runs the conversations page with a
// search on the walk of the conversations newest first
// (walkConversations) for every query that matches a group: a page that
// stops before the last match has a total that is a lower bound.
func TestConformanceConversationWalk(t *testing.T) {
	defer func(n int) { walkManyGroups = n }(walkManyGroups)
	walkManyGroups = 0
	storetest.RunMatching(t, openFactory, storetest.Capabilities{}, func(name string) bool {
		return strings.HasSuffix(name, "ConversationSearchPage")
	})
}

// TestConformanceConversationWalkBounded runs the same with a walk of one
// conversation at most: a page the walk cannot fill is counted exactly.
func TestConformanceConversationWalkBounded(t *testing.T) {
	defer func(n, m int) { walkManyGroups, walkMaxConvs = n, m }(walkManyGroups, walkMaxConvs)
	walkManyGroups, walkMaxConvs = 0, 1
	storetest.RunMatching(t, openFactory, storetest.Capabilities{}, func(name string) bool {
		return strings.HasSuffix(name, "ConversationSearchPage")
	})
}

// TestConversationWalkStopsAtItsBound checks the walk checks no more than
// the page's offset plus walkMaxConvs conversations: matches only past
// them (the newest conversation has none) leave the page to the exact
// count, whose total is no lower bound.
func TestConversationWalkStopsAtItsBound(t *testing.T) {
	defer func(n, m int) { walkManyGroups, walkMaxConvs = n, m }(walkManyGroups, walkMaxConvs)
	walkManyGroups = 0
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "weave.db"), Settings{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i, prompt := range []string{"walrus one", "walrus two", "nothing here"} {
		turn := storetest.BuildTurn(storetest.TurnSpec{ProjectID: "p", ConversationID: fmt.Sprintf("c%d", i), Turn: 1,
			Start: storetest.T0.Add(time.Duration(i) * time.Hour), Prompt: prompt, Calls: 1})
		if err := st.WriteSpans(ctx, turn.Spans); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		max        int
		lowerBound bool
	}{{4096, true}, {3, true}, {2, false}, {1, false}} {
		walkMaxConvs = c.max
		page, err := st.QueryConversations(ctx, store.ConversationQuery{ProjectID: "p", Search: "walrus", Limit: 1})
		if err != nil || len(page.Conversations) != 1 || page.Conversations[0].ConversationID != "c1" || page.Total != 2 ||
			page.TotalIsLowerBound != c.lowerBound {
			t.Errorf("walk of at most %d: got %+v, %v; want c1 of 2, total a lower bound %t", c.max, page, err, c.lowerBound)
		}
	}
}

func openFactory(t *testing.T) func() (store.Store, error) {
	path := filepath.Join(t.TempDir(), "weave.db")
	return func() (store.Store, error) {
		return Open(context.Background(), path, Settings{})
	}
}

// TestConformanceOnePass runs the suite with the background indexer off:
// every search applies all the writes logged since the last one in a
// single pass, the aggregation a busy store's indexer does (several writes
// per pass) but deterministically. A pass that sees a span written and
// re-written once found its first occurrence at the copy that went.
func TestConformanceOnePass(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() (store.Store, error) {
		path := filepath.Join(t.TempDir(), "weave.db")
		return func() (store.Store, error) {
			st, err := Open(context.Background(), path, Settings{})
			if err != nil {
				return nil, err
			}
			st.ix.runMu.Lock()
			st.ix.manual = true
			st.ix.runMu.Unlock()
			return st, nil
		}
	}, storetest.Capabilities{})
}
