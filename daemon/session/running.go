package session

import (
	"bytes"
	"maps"
	"slices"
	"time"

	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/spans"
	"github.com/weavetrace/weave/transcript"
)

// turnBuilds is what the turns diff built produced, by turn key: every span
// id, the spans still running, and the latest end of the turns.
type turnBuilds map[string]*turnBuild

type turnBuild struct {
	ids     map[spanid.SpanID]bool
	running map[spanid.SpanID]spans.Span
	end     time.Time
}

func (b turnBuilds) note(t *transcript.Turn, sp spans.Span) {
	tb := b[t.Key]
	if tb == nil {
		tb = &turnBuild{ids: map[spanid.SpanID]bool{}, running: map[spanid.SpanID]spans.Span{}}
		b[t.Key] = tb
	}
	tb.ids[sp.SpanID] = true
	if sp.IsRunning() {
		tb.running[sp.SpanID] = sp
	}
	if t.End.After(tb.end) {
		tb.end = t.End
	}
}

// dropRunning closes the spans a turn exported running (a tool PreToolUse
// started, say) that its latest build no longer produces, and those of a
// turn that is gone (keys: the session's own turn keys): nothing else would
// ever end them. It happens when the transcript places a call elsewhere
// than the hooks did; each is exported once more, ended at its turn's end
// (never before its start), with orphan_reason not_in_turn.
func (s *session) dropRunning(b turnBuilds, keys map[string]int) []spans.Span {
	var out []spans.Span
	for key, was := range s.running {
		tb := b[key]
		if tb == nil && keys[key] > 0 {
			continue // not rebuilt: what it exported stands
		}
		var end time.Time
		if tb != nil {
			end = tb.end
		}
		for id, sp := range was {
			if tb != nil && tb.ids[id] {
				continue
			}
			sp.Attributes = maps.Clone(sp.Attributes)
			sp.SetAttr(semconv.KeyOrphanReason, "not_in_turn")
			sp.End = end
			if sp.End.Before(sp.Start) {
				sp.End = sp.Start
			}
			s.exported[id] = sp.Hash()
			out = append(out, sp)
		}
		delete(s.running, key)
	}
	for key, tb := range b {
		if len(tb.running) > 0 {
			s.running[key] = tb.running
		}
	}
	slices.SortFunc(out, func(x, y spans.Span) int { return bytes.Compare(x.SpanID[:], y.SpanID[:]) })
	return out
}
