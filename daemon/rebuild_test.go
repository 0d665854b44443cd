package daemon

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/daemon/journal"
	"github.com/weavetrace/weave/spans"
)

// The journaler answers a rebuild lookup with the journaled events of the
// sessions asked for, closed ones included, and finds the session of a
// trace (whose spans' session ids were all damaged) through the prompt ids
// of its events.
func TestJournalLookup(t *testing.T) {
	j, _, err := journal.Open(t.TempDir(), journal.Settings{})
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
	jr.lookup(lookupReq{sessions: map[string]bool{"a": true}, traces: map[string]bool{spans.TurnTraceID("P2").String(): true}, reply: reply})
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
	if got := res.traceSession[spans.TurnTraceID("P2").String()]; got != "b" || names(res.events["b"]) != "[UserPromptSubmit]" {
		t.Errorf("trace of P2: session %q, events %s; want b and its event", got, names(res.events["b"]))
	}
	if _, ok := res.events["c"]; ok {
		t.Errorf("events of session c, not asked for")
	}
}
