package daemon

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/export"
	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/daemon/journal"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/spans"
)

// The journaler answers a rebuild lookup with the journaled events of the
// sessions asked for, closed ones included, and finds the session of a
// trace (whose spans' session ids were all damaged) through the prompt ids
// of its events.
func TestJournalLookup(t *testing.T) {
	j, _, err := journal.Open(t.TempDir(), JournalSettings(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	add := func(session, event, prompt string) {
		body := fmt.Sprintf(`{"session_id":%q,"hook_event_name":%q,"prompt_id":%q}`, session, event, prompt)
		env := &hookproto.Envelope{Proto: hookproto.Version, ID: hookproto.NewEventID(), ReceivedAt: t0, TranscriptSize: -1, Body: []byte(body)}
		if err := j.AppendEvent(session, env); err != nil {
			t.Fatal(err)
		}
	}
	add("a", "UserPromptSubmit", "P1")
	add("b", "UserPromptSubmit", "P2")
	add("a", "Stop", "P1")
	add("a", "SessionEnd", "")
	j.AppendClosed("a", t0)
	add("c", "UserPromptSubmit", "P3")
	jr := newJournaler(slog.New(slog.DiscardHandler), j, hookproto.Paths{}, time.Hour, 1<<30)
	reply := make(chan lookupResult, 1)
	jr.lookup(lookupReq{sessions: map[string]bool{"a": true}, traces: map[string]bool{spanid.TurnTraceID("P2").String(): true}, reply: reply})
	res := <-reply
	if res.err != nil {
		t.Fatal(res.err)
	}
	names := func(evs []hookproto.Event) string {
		var s []string
		for _, e := range evs {
			s = append(s, e.HookEventName)
		}
		return fmt.Sprint(s)
	}
	if got := names(res.events["a"]); got != "[UserPromptSubmit Stop SessionEnd]" {
		t.Errorf("events of closed session a: %s, want all three in order", got)
	}
	if got := res.traceSession[spanid.TurnTraceID("P2").String()]; got != "b" || names(res.events["b"]) != "[UserPromptSubmit]" {
		t.Errorf("trace of P2: session %q, events %s; want b and its event", got, names(res.events["b"]))
	}
	if _, ok := res.events["c"]; ok {
		t.Errorf("events of session c, not asked for")
	}
}

// A damaged region's refs keep what the damage left of their ids. Issue
// 12's spool test failed about 1 run in 10: a ref kept its session and
// span id but its trace id was damaged, and since only the spans of named
// traces were sent again, the span was counted lost although the rebuild
// had it. A span named by id is sent whatever its trace, and a ref whose
// ids match nothing rebuilt (or that kept only its session) has its whole
// session sent again.
func TestRebuiltOf(t *testing.T) {
	t1, t2 := spanid.TurnTraceID("P1"), spanid.TurnTraceID("P2")
	session := []spans.Span{
		{TraceID: t1, SpanID: spanid.RootSpanID(t1)},
		{TraceID: t1, SpanID: spanid.ToolSpanID(t1, "a")},
		{TraceID: t2, SpanID: spanid.RootSpanID(t2)},
		{TraceID: t2, SpanID: spanid.ToolSpanID(t2, "b")},
	}
	build := func(sid string) []spans.Span {
		if sid == "s1" {
			return session
		}
		return nil
	}
	garbled := "ffffffffffffffffffffffffffffffff"
	for _, tc := range []struct {
		name        string
		d           export.Damaged
		sent, built int
	}{
		{"trace named: its spans, unnamed ones covered",
			export.Damaged{Refs: []export.SpanRef{{SessionID: "s1", TraceID: t1.String(), SpanID: session[1].SpanID.String()}}, Unnamed: 1}, 2, 2},
		{"trace id damaged, span id kept",
			export.Damaged{Refs: []export.SpanRef{{SessionID: "s1", TraceID: garbled, SpanID: session[3].SpanID.String()}}}, 1, 1},
		{"span id only",
			export.Damaged{Refs: []export.SpanRef{{SessionID: "s1", SpanID: session[2].SpanID.String()}}}, 1, 1},
		{"session id only: the whole session",
			export.Damaged{Refs: []export.SpanRef{{SessionID: "s1"}}}, 4, 1},
		{"session through its trace",
			export.Damaged{Refs: []export.SpanRef{{TraceID: t2.String()}}}, 2, 1},
		{"unknown session: lost",
			export.Damaged{Refs: []export.SpanRef{{SessionID: "s9", SpanID: "0102030405060708"}}}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, rebuilt, _ := rebuiltOf(tc.d, map[string]string{t2.String(): "s1"}, build)
			if len(out) != tc.sent || rebuilt != tc.built {
				t.Errorf("sent %d spans, %d rebuilt; want %d, %d", len(out), rebuilt, tc.sent, tc.built)
			}
		})
	}
}

// A closed marker core sends once the journaler's loop has stopped (a
// SessionEnd answered just before shutdown) is journaled by the shutdown's
// last step, not lost: TestReplayOpenSessions replayed the closed session
// about 1 run in 20 under load.
func TestLateClosedMarkerJournaled(t *testing.T) {
	j, _, err := journal.Open(t.TempDir(), JournalSettings(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	jr := newJournaler(slog.New(slog.DiscardHandler), j, hookproto.Paths{}, time.Hour, 1<<30)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	jr.markers <- closedMarker{sessionID: "done", at: at}
	jr.appendLateMarkers()
	var closed []string
	if _, err := j.Replay(func(r *journal.Record) error {
		if r.Kind == journal.KindClosed {
			closed = append(closed, r.SessionID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(closed) != "[done]" {
		t.Errorf("closed markers journaled: %v, want [done]", closed)
	}
}
