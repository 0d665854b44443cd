package clickhouse

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/weavetrace/weave/server/store"
)

// TestLatestConversationsBound checks the page as it opens against a
// rollup whose latest activity is only an upper bound: a conversation
// whose exact last activity is below its bound must not take the place of
// one the first candidates did not include, and the page past the first
// takes its offset once.
func TestLatestConversationsBound(t *testing.T) {
	defer func(slack int) { latestSlackConvs = slack }(latestSlackConvs)
	latestSlackConvs = 0
	// conv: bound (rollup) → exact last activity; "a" left its latest
	// span (its bound is stale). By bound: a, b, c, d; exactly: b, c, a, d.
	bounds := []struct {
		key          string
		bound, exact int64
	}{{"a", 100, 50}, {"b", 90, 90}, {"c", 80, 80}, {"d", 10, 10}}
	s, f := newFakeStore(t, Config{})
	var rounds []uint64
	f.respond = func(sql string, params map[string]any) [][]any {
		switch {
		case strings.HasPrefix(sql, "SELECT conv_key, max(last_ns) AS c_bound"):
			n := params["p1"].(uint64)
			rounds = append(rounds, n)
			var out [][]any
			for _, b := range bounds[:min(int(n), len(bounds))] {
				out = append(out, []any{b.key, b.bound, int64(len(bounds))})
			}
			return out
		case strings.HasPrefix(sql, "SELECT conv_key, if(sum(turn_spans)"): // the candidates' figures, in no order
			keys := params["p1"].([]string)
			var rows [][]any
			for _, b := range bounds {
				if slices.Contains(keys, b.key) {
					rows = append(rows, []any{b.key, int64(1), int64(0), int64(1), int64(0), int64(0), int64(0), b.exact,
						int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0),
						[]string{"claude-code"}, []string{}, "prompt " + b.key, "", ""})
				}
			}
			slices.Reverse(rows)
			return rows
		}
		return nil
	}
	keys := func(p store.ConversationPage) []string {
		var out []string
		for _, c := range p.Conversations {
			out = append(out, c.ConversationID)
		}
		return out
	}
	for i, tc := range []struct {
		offset, limit int
		want          []string
		rounds        []uint64
	}{
		// Round 1 reads a and b: a (50) is not newer than the bound read
		// last (90), so a conversation not read (c) may come before it.
		{0, 2, []string{"b", "c"}, []uint64{2, 8}},
		{1, 2, []string{"c", "a"}, []uint64{3, 12}},
		{2, 1, []string{"a"}, []uint64{3, 12}},
		{3, 2, []string{"d"}, []uint64{5}},
		{4, 2, nil, []uint64{6}},
	} {
		rounds = nil
		page, err := s.QueryConversations(context.Background(), store.ConversationQuery{ProjectID: "p", Offset: tc.offset, Limit: tc.limit})
		if err != nil {
			t.Fatal(err)
		}
		if got := keys(page); !slices.Equal(got, tc.want) || page.Total != 4 || !slices.Equal(rounds, tc.rounds) {
			t.Errorf("offset %d limit %d: got %v (total %d, candidates read %v), want %v (total 4, %v)",
				tc.offset, tc.limit, got, page.Total, rounds, tc.want, tc.rounds)
		}
		if i == 0 && len(page.Conversations) > 0 {
			if c := page.Conversations[0]; c.FirstPrompt != "prompt b" || !slices.Equal(c.AgentNames, []string{"claude-code"}) || c.Models != nil {
				t.Errorf("page's details: got prompt %q agents %v models %v, want the candidates query's", c.FirstPrompt, c.AgentNames, c.Models)
			}
		}
	}
}
