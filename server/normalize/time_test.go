package normalize

import (
	"math"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

func TestSpanTimes(t *testing.T) {
	start := pcommon.NewTimestampFromTime(specBase)
	maxNanos := pcommon.Timestamp(store.MaxTime.UnixNano())
	tests := []struct {
		name       string
		start, end pcommon.Timestamp
		wantCode   string // rejection code, "" for kept
		wantMsg    string
		wantStart  time.Time
		wantEnd    time.Time // zero: running
		wantWarn   string
	}{
		{"normal", start, start + 1e9, "", "", specBase, specBase.Add(time.Second), ""},
		{"running", start, 0, "", "", specBase, time.Time{}, ""},
		{"no start", 0, start, CodeMissingStartTime, "no start time", time.Time{}, time.Time{}, ""},
		{"start at 2^63", 1 << 63, 0, CodeTimeOutOfRange, "startTimeUnixNano 9223372036854775808 is after 2262-04-11", time.Time{}, time.Time{}, ""},
		{"start at max uint64", pcommon.Timestamp(math.MaxUint64), 0, CodeTimeOutOfRange, "startTimeUnixNano 18446744073709551615 is after", time.Time{}, time.Time{}, ""},
		{"start at max int64", pcommon.Timestamp(math.MaxInt64), 0, CodeTimeOutOfRange, "startTimeUnixNano 9223372036854775807 is after", time.Time{}, time.Time{}, ""},
		{"start at the latest storable time", maxNanos, 0, "", "", store.MaxTime, time.Time{}, ""},
		{"end at max uint64", start, pcommon.Timestamp(math.MaxUint64), CodeTimeOutOfRange, "endTimeUnixNano 18446744073709551615 is after", time.Time{}, time.Time{}, ""},
		{"end before start", start, start - 5e9, "", "", specBase, specBase, CodeEndBeforeStart},
		{"end at 1 ns", start, 1, "", "", specBase, specBase, CodeEndBeforeStart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := ptrace.NewResourceSpans()
			sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			sp.SetTraceID(pcommon.TraceID{1})
			sp.SetSpanID(pcommon.SpanID{1})
			sp.SetName("chat x")
			sp.SetStartTimestamp(tt.start)
			sp.SetEndTimestamp(tt.end)
			out, warns := Normalize(rs, Options{DefaultProject: "p"})
			if tt.wantCode != "" {
				if len(out) != 0 || len(warns) != 1 || warns[0].Code != tt.wantCode || !warns[0].Rejected || !strings.Contains(warns[0].Message, tt.wantMsg) {
					t.Fatalf("got %d rows, warnings %v; want the span rejected with %s %q", len(out), warns, tt.wantCode, tt.wantMsg)
				}
				return
			}
			if len(out) != 1 {
				t.Fatalf("got %d rows (warnings %v), want 1", len(out), warns)
			}
			s := out[0]
			if !s.StartedAt.Equal(tt.wantStart) || !s.EndedAt.Equal(tt.wantEnd) {
				t.Errorf("started %v ended %v, want %v and %v", s.StartedAt, s.EndedAt, tt.wantStart, tt.wantEnd)
			}
			if err := store.ValidateSpan(&s); err != nil {
				t.Errorf("ValidateSpan: %v", err)
			}
			var codes []string
			for _, w := range warns {
				codes = append(codes, w.Code)
			}
			if got := strings.Join(codes, ","); got != tt.wantWarn {
				t.Errorf("warnings %q, want %q", got, tt.wantWarn)
			}
			if !strings.Contains(string(s.RawSpan), `"endTimeUnixNano"`) && tt.end != 0 {
				t.Errorf("raw span lost the end time as sent: %s", s.RawSpan)
			}
		})
	}
}

// TestEventTimes: an event without a usable time (0, past 2262, or a log
// record that had none) is placed at its span's start, never at 1970 or
// wrapped into 1677–1970.
func TestEventTimes(t *testing.T) {
	rs := oneSpan(t, "chat x", nil, nil)
	sp := rs.ScopeSpans().At(0).Spans().At(0)
	for i, ts := range []pcommon.Timestamp{0, 1 << 63, pcommon.Timestamp(math.MaxUint64), pcommon.NewTimestampFromTime(specBase.Add(time.Second))} {
		ev := sp.Events().AppendEmpty()
		ev.SetName("e" + string(rune('0'+i)))
		ev.SetTimestamp(ts)
	}
	// Log records: no time at all, and one past 2262.
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	for _, ts := range []pcommon.Timestamp{0, 1 << 63} {
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetEventName("gen_ai.user.message")
		lr.SetTraceID(sp.TraceID())
		lr.SetSpanID(sp.SpanID())
		lr.SetTimestamp(ts)
		lr.Body().SetStr("hi " + ts.String())
	}
	logEvents, _ := EventsFromLogs(rl, "p")
	extra := map[SpanRef][]model.Event{}
	for _, e := range logEvents {
		if !e.Event.Time.IsZero() {
			t.Errorf("log event time %v, want unset (no usable time)", e.Event.Time)
		}
		extra[e.Ref] = append(extra[e.Ref], e.Event)
	}
	s, warns := normalizeOne(t, rs, Options{DefaultProject: "p", ExtraEvents: extra})
	want := []time.Time{specBase, specBase, specBase, specBase.Add(time.Second), specBase, specBase}
	if len(s.Events) != len(want) {
		t.Fatalf("%d events, want %d", len(s.Events), len(want))
	}
	for i, e := range s.Events {
		if !e.Time.Equal(want[i]) {
			t.Errorf("event %d (%s) at %v, want %v", i, e.Name, e.Time, want[i])
		}
	}
	found := false
	for _, w := range warns {
		found = found || w.Code == CodeEventTime && strings.HasPrefix(w.Message, "5 events")
	}
	if !found {
		t.Errorf("warnings %v, want %s for 5 events", warns, CodeEventTime)
	}
	if err := store.ValidateSpan(&s); err != nil {
		t.Errorf("ValidateSpan: %v", err)
	}
}

func TestLangfuseTimesOutOfRangeIgnored(t *testing.T) {
	for _, v := range []string{"9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "9223372036854775807"} {
		rs := oneSpan(t, "x", nil, map[string]any{"langfuse.observation.type": "span", "langfuse.startTime": v, "langfuse.endTime": v})
		s, _ := normalizeOne(t, rs, Options{DefaultProject: "p"})
		if !s.StartedAt.Equal(specBase) || !s.EndedAt.Equal(specBase.Add(time.Second)) {
			t.Errorf("langfuse times %q: started %v ended %v, want the span's own", v, s.StartedAt, s.EndedAt)
		}
	}
}
