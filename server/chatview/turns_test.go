package chatview

import (
	"slices"
	"testing"

	"github.com/weavetrace/weave/server/model"
)

func (b *sb) turn() *sb { b.s.IsTurn = true; return b }

// TestBuildConversationTurns: the store contract's turn rule in the
// conversation view. Each case lists the spans, the expected turns (turn
// span name, span count) in order and the background entries (root name,
// span count).
func TestBuildConversationTurns(t *testing.T) {
	type entry struct {
		name  string
		spans int
	}
	cases := []struct {
		name       string
		spans      []model.Span
		turns      []entry
		background []entry
		turnSpan   bool // turns carry their turn span id
	}{
		{
			name: "no is_turn: one turn per trace",
			spans: build(span(1, 1, 0, "a").times(0, 10), span(1, 2, 1, "a.child").times(1, 5),
				span(2, 3, 0, "b").times(20, 30)),
			turns: []entry{{"a", 2}, {"b", 1}},
		},
		{
			name: "seed example 4: a background trace and a turn",
			spans: build(span(1, 1, 0, "background_indexing").times(0, 10),
				span(2, 2, 0, "user_query").turn().times(20, 30)),
			turns: []entry{{"user_query", 1}}, background: []entry{{"background_indexing", 1}}, turnSpan: true,
		},
		{
			name: "a turn span under a session root takes the whole trace",
			spans: build(span(1, 1, 0, "session").times(0, 100), span(1, 2, 1, "turn").turn().times(1, 50),
				span(1, 3, 2, "nested turn").turn().times(2, 40), span(1, 4, 1, "after").times(60, 70)),
			turns: []entry{{"session", 4}}, turnSpan: true,
		},
		{
			name: "several turn spans in one trace split it; the rest is background",
			spans: build(span(1, 1, 0, "session").times(0, 100),
				span(1, 2, 1, "turn-a").turn().times(10, 20), span(1, 3, 2, "tool-a").times(11, 12),
				span(1, 4, 1, "turn-b").turn().times(30, 40), span(1, 5, 1, "housekeeping").times(50, 60)),
			turns:      []entry{{"turn-a", 2}, {"turn-b", 1}},
			background: []entry{{"session", 2}}, turnSpan: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := BuildConversation("c", tc.spans)
			var turns, bg []entry
			for _, x := range c.Turns {
				turns = append(turns, entry{x.RootSpanName, x.SpanCount})
				if (x.TurnSpanID != "") != tc.turnSpan {
					t.Errorf("turn %q: got turn span %q, want one: %v", x.RootSpanName, x.TurnSpanID, tc.turnSpan)
				}
			}
			for _, x := range c.Background {
				bg = append(bg, entry{x.RootSpanName, x.SpanCount})
			}
			if !slices.Equal(turns, tc.turns) || !slices.Equal(bg, tc.background) {
				t.Errorf("got turns %v background %v, want %v %v", turns, bg, tc.turns, tc.background)
			}
			if c.TurnCount != len(tc.turns) || c.BackgroundCount != len(tc.background) {
				t.Errorf("got counts %d/%d, want %d/%d", c.TurnCount, c.BackgroundCount, len(tc.turns), len(tc.background))
			}
		})
	}
}
