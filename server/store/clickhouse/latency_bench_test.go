package clickhouse

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/store/clickhouse/clickhousetest"
	"github.com/weavetrace/weave/server/store/storetest"
)

// BenchmarkLiveRequestsLive measures how long weave-agentd's small
// requests (storetest.BenchLiveRequests) take to be written into a real
// ClickHouse node, with the default flush interval (100 ms) and with the
// 50 ms the e2e test uses.
//
//	WEAVE_TEST_CLICKHOUSE=local go test -run '^$' -bench LiveRequestsLive -benchtime 10x ./server/store/clickhouse
func BenchmarkLiveRequestsLive(b *testing.B) {
	c := clickhousetest.Start(b, 1)
	for _, interval := range []time.Duration{0, 50 * time.Millisecond} {
		name := "flush=default"
		if interval > 0 {
			name = fmt.Sprint("flush=", interval)
		}
		b.Run(name, func(b *testing.B) {
			cfg := testConfig(c.DSNs()[0], "")
			cfg.FlushInterval = interval
			s, err := Open(context.Background(), cfg, Settings{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			storetest.BenchLiveRequests(b, s)
		})
	}
}
