package clickhouse

import (
	"strings"
	"testing"

	"github.com/weavetrace/weave/server/store"
)

// TestScanPageBoundsTheKey: a page after the first bounds started_at on its
// own, which the primary key (project_id, started_at, …) can use; the tuple
// comparison alone made ClickHouse read every granule for every page (an
// export of 1M spans: 2,000 pages × 9,058 granules).
func TestScanPageBoundsTheKey(t *testing.T) {
	l := layout{db: "weave"}
	first := scanSQL(l, store.ScanQuery{ProjectID: "p"}, nil)
	if strings.Contains(first.sql, "started_at >=") {
		t.Errorf("the first page has no lower bound: %s", first.sql)
	}
	next := scanSQL(l, store.ScanQuery{ProjectID: "p"}, &spanRef{trace: "t", span: "s", started: 42})
	for _, want := range []string{"started_at >= fromUnixTimestamp64Nano(", "(started_at, span_id, trace_id) > ("} {
		if !strings.Contains(next.sql, want) {
			t.Errorf("page after a span lacks %q: %s", want, next.sql)
		}
	}
}
