package daemon

import (
	"net/http"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
)

func TestRouteTablePanicsOnDuplicate(t *testing.T) {
	rt := routes{}
	rt.register(http.MethodGet, "/x", nil)
	defer func() {
		if recover() == nil {
			t.Errorf("register of a duplicate path: got no panic, want one")
		}
	}()
	rt.register(http.MethodPost, "/x", nil)
}

func TestLogProcessor(t *testing.T) {
	p := NewLogProcessor(nil)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := func(s, name string, at time.Time) hookproto.Event {
		return hookproto.Event{SessionID: s, HookEventName: name, ReceivedAt: at}
	}
	for _, e := range []hookproto.Event{ev("a", "SessionStart", t0), ev("b", "SessionStart", t0), ev("b", "SessionEnd", t0), ev("", "Setup", t0)} {
		if got := p.Event(e, false); got != nil {
			t.Errorf("Event: got %d spans, want none", len(got))
		}
	}
	for _, tc := range []struct {
		session string
		closed  bool
	}{{"a", false}, {"b", true}, {"never-seen", true}} {
		if got := p.SessionClosed(tc.session); got != tc.closed {
			t.Errorf("SessionClosed(%q)=%v, want %v", tc.session, got, tc.closed)
		}
	}
	if st := p.Stats(); st.LiveSessions != 1 {
		t.Errorf("live sessions: got %d, want 1", st.LiveSessions)
	}
	p.Tick(t0.Add(2 * time.Hour)) // an hour idle: a ends
	if !p.SessionClosed("a") || p.Stats().LiveSessions != 0 {
		t.Errorf("after an idle hour: a closed=%v live=%d, want true, 0", p.SessionClosed("a"), p.Stats().LiveSessions)
	}
	p.Tick(t0.Add(5 * time.Hour)) // ended and long idle: forgotten, still reported closed
	if len(p.sessions) != 0 || !p.SessionClosed("a") {
		t.Errorf("after 5 h: %d sessions kept, want 0 (forgotten, reported closed)", len(p.sessions))
	}
}
