package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
