package clickhouse

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store/storetest"
)

// benchSpans builds realistic Claude Code-like traffic: conversations of
// several turns that send their whole history with every call, a system
// prompt, subagents in every other turn.
func benchSpans(convs int) []model.Span {
	var out []model.Span
	sys := storetest.SystemPrompt()
	for c := 0; c < convs; c++ {
		turns := storetest.BuildConversation(storetest.ConversationSpec{ProjectID: "bench/p", ConversationID: fmt.Sprint("bench-", c),
			Start: storetest.T0.Add(time.Duration(c) * time.Hour), Turns: 6, CallsPerTurn: 3, Subagent: true,
			FullHistory: true, SystemPrompt: sys})
		out = append(out, storetest.Flatten(turns)...)
	}
	return out
}

var tableRE = regexp.MustCompile("^INSERT INTO `[^`]+`\\.`([^`]+)`")

// approxBytes is the uncompressed size of a row's values.
func approxBytes(v any) int {
	switch x := v.(type) {
	case nil:
		return 1
	case string:
		return len(x) + 1
	case []string:
		n := 1
		for _, s := range x {
			n += len(s) + 1
		}
		return n
	case time.Time, *time.Time, int64, *int64, uint64:
		return 8
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		n := 1
		for _, k := range rv.MapKeys() {
			n += approxBytes(k.Interface()) + approxBytes(rv.MapIndex(k).Interface())
		}
		return n
	}
	return int(rv.Type().Size())
}

// BenchmarkWriter measures the writer's own work per span (validation,
// encoding, digests, the trace derivation, row building) against a fake
// connection that answers every read with no rows (each trace is new), and
// reports the uncompressed bytes each table receives per span.
func BenchmarkWriter(b *testing.B) {
	spans := benchSpans(24)
	perTable := map[string]int{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := &fakeConn{}
		s := New(f, Config{FlushInterval: -1}, Settings{})
		for off := 0; off < len(spans); off += 1008 { // whole conversations of 42 spans
			if err := s.WriteSpans(context.Background(), spans[off:min(off+1008, len(spans))]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		s.Close()
		if i == 0 {
			for _, c := range f.take() {
				if m := tableRE.FindStringSubmatch(c.sql); m != nil {
					for _, r := range c.rows {
						for _, v := range r {
							perTable[m[1]] += approxBytes(v)
						}
					}
				}
			}
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(spans)), "ns/span")
	b.ReportMetric(float64(b.N*len(spans))/b.Elapsed().Seconds(), "spans/s")
	for table, n := range perTable {
		b.ReportMetric(float64(n)/float64(len(spans)), table+"-B/span")
	}
}
