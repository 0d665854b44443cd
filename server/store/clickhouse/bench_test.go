package clickhouse

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store/clickhouse/clickhousetest"
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

// BenchmarkWriterLive writes realistic conversations (42 spans each) into
// a real ClickHouse node started for it (WEAVE_TEST_CLICKHOUSE=local) from
// 4 concurrent callers of 512 spans each, as OTLP requests arrive, with the
// default batching, and reports spans/s and the CPU each process spent per
// span: weave's writer (this process) and ClickHouse (the node).
//
//	WEAVE_TEST_CLICKHOUSE=local go test -run '^$' -bench WriterLive -benchtime 3x ./server/store/clickhouse
func BenchmarkWriterLive(b *testing.B) {
	c := clickhousetest.Start(b, 1)
	cfg := testConfig(c.DSNs()[0], "")
	cfg.FlushInterval = 0 // the default (100 ms)
	s, err := Open(context.Background(), cfg, Settings{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const convs, callers, request = 240, 4, 512
	var total int
	var wall time.Duration
	var selfCPU, nodeCPU time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		spans := benchSpansAt(convs, fmt.Sprint("r", i))
		reqs := make(chan []model.Span, len(spans)/request+1)
		for off := 0; off < len(spans); off += request {
			reqs <- spans[off:min(off+request, len(spans))]
		}
		close(reqs)
		self0, node0 := cpuSelf(), cpuOf(c.Nodes[0].PID)
		b.StartTimer()
		t0 := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range reqs {
					if err := s.WriteSpans(context.Background(), r); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		wall += time.Since(t0)
		b.StopTimer()
		selfCPU += cpuSelf() - self0
		nodeCPU += cpuOf(c.Nodes[0].PID) - node0
		total += len(spans)
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
	}
	st, err := s.Stats(context.Background())
	if err != nil || st.Spans != int64(total) {
		b.Fatalf("stored %d spans (%v), want %d", st.Spans, err, total)
	}
	b.ReportMetric(float64(total)/wall.Seconds(), "spans/s")
	b.ReportMetric(float64(selfCPU.Microseconds())/float64(total), "weave-cpu-µs/span")
	b.ReportMetric(float64(nodeCPU.Microseconds())/float64(total), "clickhouse-cpu-µs/span")
	b.ReportMetric(float64(st.Bytes)/float64(total), "disk-B/span")
}

// benchSpansAt is benchSpans under ids of their own (run tag).
func benchSpansAt(convs int, tag string) []model.Span {
	var out []model.Span
	sys := storetest.SystemPrompt()
	for c := 0; c < convs; c++ {
		turns := storetest.BuildConversation(storetest.ConversationSpec{ProjectID: "bench/p", ConversationID: fmt.Sprint("bench-", tag, "-", c),
			Start: storetest.T0.Add(time.Duration(c) * time.Minute), Turns: 6, CallsPerTurn: 3, Subagent: true,
			FullHistory: true, SystemPrompt: sys})
		for _, t := range turns {
			for _, sp := range t.Spans {
				sp.TraceID = storetest.TraceID(tag, sp.TraceID)
				out = append(out, sp)
			}
		}
	}
	return out
}

// cpuSelf is this process's CPU time (user + system).
func cpuSelf() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuOf is a process's CPU time from /proc/PID/stat (utime + stime, in
// clock ticks of 1/100 s).
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
