package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/weavetrace/weave/server/store/storetest"
)

// BenchmarkLiveRequests measures how long weave-agentd's small requests
// (storetest.BenchLiveRequests) take to be written, the figure the
// ClickHouse store's BenchmarkLiveRequestsLive is compared with.
//
//	go test -run '^$' -bench LiveRequests -benchtime 10x ./server/store/sqlite
func BenchmarkLiveRequests(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "weave.db"), Settings{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchLiveRequests(b, s)
}
