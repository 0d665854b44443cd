package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// testScores checks named scores: one current value per (ref, name,
// author), the refusals, and the score summaries of the conversations and
// agents lists and their filters, against a brute-force model.
func testScores(h *harness) {
	o := newOracle()
	convs := convData(h, o)
	scores, midChat := upsertScores(h, convs)
	checkScoreReplaced(h, scores)
	checkScoreRefusals(h, midChat)
	wantConv, wantAgent := modelScoreValues(o, scores)
	page := h.conversations(store.ConversationQuery{ProjectID: projA, Limit: store.MaxLimit})
	for _, c := range page.Conversations {
		if want := modelScores(wantConv[c.ConversationID]); !reflect.DeepEqual(c.Scores, want) {
			h.t.Errorf("conversation %s scores: got %s, want %s", c.ConversationID, jsonOf(c.Scores), jsonOf(want))
		}
	}
	agents := h.agents(projA)
	for _, a := range agents {
		if want := modelScores(wantAgent[a.AgentName]); !reflect.DeepEqual(a.Scores, want) {
			h.t.Errorf("agent %s scores: got %s, want %s", a.AgentName, jsonOf(a.Scores), jsonOf(want))
		}
	}
	if got := modelScores(wantConv["conv-long"])["helpfulness"]; got.Mean == nil || *got.Mean != 3.5 {
		h.t.Fatalf("model: conv-long's helpfulness should average alice's 5 and bob's 2, got %s", jsonOf(got))
	}

	checkScoreFilters(h, page.Conversations, agents, wantConv, wantAgent)
	checkScoreFilterRefusals(h)
	// Scores of another project stay there, whatever its ids.
	h.write(Flatten(BuildConversation(ConversationSpec{ProjectID: projB, ConversationID: "conv-long", Start: T0, Turns: 1, CallsPerTurn: 1}))...)
	others := h.conversations(store.ConversationQuery{ProjectID: projB}).Conversations
	if len(others) != 1 {
		h.t.Fatalf("project %s: got %d conversations, want 1", projB, len(others))
	}
	for _, c := range others {
		if c.Scores != nil {
			h.t.Errorf("project %s conversation %s: got scores %s, want none", projB, c.ConversationID, jsonOf(c.Scores))
		}
	}
}

// upsertScores writes the scores of the fixtures and checks their ids; it
// returns them, and the chat span of conv-mid's second turn they score.
func upsertScores(h *harness, convs [][]Turn) ([]store.Annotation, model.Span) {
	long, mid := convs[0], convs[2]
	chatOf := func(t Turn) model.Span {
		for _, s := range t.Spans {
			if s.OperationName == model.OpChat && s.AgentName == "" && s.ParentSpanID == t.Root.SpanID {
				return s
			}
		}
		h.t.Fatalf("fixture: turn %s has no chat span", t.TraceID)
		return model.Span{}
	}
	var sub model.Span // a chat span of the Explore subagent
	for _, s := range long[0].Spans {
		if s.SpanName == "chat claude-haiku-4-5" {
			sub = s
		}
	}
	if sub.SpanID == "" {
		h.t.Fatal("fixture: conv-long's first turn has no subagent chat span")
	}
	f := func(v float64) *float64 { return &v }
	midChat := chatOf(mid[1])
	scores := []store.Annotation{
		{Ref: "agent_conversation/conv-long", Kind: store.KindScore, Name: "helpfulness", DataType: store.ScoreNumeric, Value: json.Number("4"), Min: f(1), Max: f(5), Author: "alice"},
		{Ref: "agent_conversation/conv-long", Kind: store.KindScore, Name: "helpfulness", DataType: store.ScoreNumeric, Value: 2.0, Min: f(1), Max: f(5), Author: "bob"},
		{Ref: "agent_turn/" + long[1].TraceID, Kind: store.KindScore, Name: "correct", DataType: store.ScoreBoolean, Value: true, Author: "alice"},
		{Ref: "agent_turn/" + long[2].TraceID, Kind: store.KindScore, Name: "correct", DataType: store.ScoreBoolean, Value: false, Author: "alice"},
		{Ref: "agent_span/" + midChat.SpanID, TraceID: midChat.TraceID, Kind: store.KindScore, Name: "helpfulness", DataType: store.ScoreNumeric, Value: 5.0, Author: "alice"},
		{Ref: "agent_span/" + midChat.SpanID, TraceID: midChat.TraceID, Kind: store.KindScore, Name: "correct", DataType: store.ScoreBoolean, Value: true, Author: "carol"},
		{Ref: "agent_span/" + sub.SpanID, TraceID: sub.TraceID, Kind: store.KindScore, Name: "tone", DataType: store.ScoreCategorical, Value: "curt", Author: "bob"},
		{Ref: "agent/Explore", Kind: store.KindScore, Name: "tone", DataType: store.ScoreCategorical, Value: "friendly", Author: "alice"},
		{Ref: "agent/Explore", Kind: store.KindScore, Name: "tone", DataType: store.ScoreCategorical, Value: "friendly", Author: "bob"},
		// A score on a span not stored yet counts for nothing.
		{Ref: "agent_span/" + SpanID("nowhere"), TraceID: TraceID("nowhere"), Kind: store.KindScore, Name: "helpfulness", DataType: store.ScoreNumeric, Value: 1.0, Author: "alice"},
	}
	for i := range scores {
		scores[i].ProjectID = projA
		got, err := h.s.UpsertAnnotation(h.ctx, scores[i])
		if err != nil {
			h.t.Fatalf("UpsertAnnotation(score %d): %v", i, err)
		}
		if want := store.ScoreID(scores[i].Ref, scores[i].Name, scores[i].Author); got.ID != want {
			h.t.Errorf("score %d: got id %q, want the derived %q", i, got.ID, want)
		}
	}
	return scores, midChat
}

// checkScoreReplaced replaces alice's helpfulness of conv-long with 5
// (scores[0] follows): one current value per (ref, name, author), and her
// notes stay beside it.
func checkScoreReplaced(h *harness, scores []store.Annotation) {
	replaced := scores[0]
	replaced.Value = 5.0
	again, err := h.s.UpsertAnnotation(h.ctx, replaced)
	if err != nil {
		h.t.Fatalf("UpsertAnnotation(replace a score): %v", err)
	}
	scores[0].Value = 5.0
	if _, err := h.s.UpsertAnnotation(h.ctx, store.Annotation{ProjectID: projA, Ref: "agent_conversation/conv-long", Kind: "note", Value: "good run", Author: "alice"}); err != nil {
		h.t.Fatalf("UpsertAnnotation(note): %v", err)
	}
	stored, err := h.s.QueryAnnotations(h.ctx, store.AnnotationQuery{ProjectID: projA, Refs: []string{"agent_conversation/conv-long"}, Kind: store.KindScore})
	if err != nil {
		h.t.Fatalf("QueryAnnotations: %v", err)
	}
	var mine *store.Annotation
	for i := range stored {
		if stored[i].ID == again.ID {
			mine = &stored[i]
		}
	}
	if len(stored) != 2 || mine == nil || NormalizeAny(mine.Value) != NormalizeAny(5.0) || mine.Name != "helpfulness" ||
		mine.DataType != store.ScoreNumeric || mine.Min == nil || *mine.Min != 1 || mine.Max == nil || *mine.Max != 5 {
		h.t.Errorf("conv-long's scores: got %s, want alice's helpfulness 5 in [1, 5] and bob's", jsonOf(stored))
	}

}

// checkScoreRefusals: scores that break the rules are refused.
func checkScoreRefusals(h *harness, midChat model.Span) {
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name string
		a    store.Annotation
	}{
		{"no name", store.Annotation{Ref: "agent/Explore", Kind: store.KindScore, DataType: store.ScoreBoolean, Value: true}},
		{"unknown type", store.Annotation{Ref: "agent/Explore", Kind: store.KindScore, Name: "x", DataType: "stars", Value: 3.0}},
		{"number for a boolean", store.Annotation{Ref: "agent/Explore", Kind: store.KindScore, Name: "x", DataType: store.ScoreBoolean, Value: 1.0}},
		{"text for a number", store.Annotation{Ref: "agent/Explore", Kind: store.KindScore, Name: "x", DataType: store.ScoreNumeric, Value: "high"}},
		{"out of bounds", store.Annotation{Ref: "agent/Explore", Kind: store.KindScore, Name: "x", DataType: store.ScoreNumeric, Value: 6.0, Max: f(5)}},
		{"min above max", store.Annotation{Ref: "agent/Explore", Kind: store.KindScore, Name: "x", DataType: store.ScoreNumeric, Value: 3.0, Min: f(5), Max: f(1)}},
		{"empty category", store.Annotation{Ref: "agent/Explore", Kind: store.KindScore, Name: "x", DataType: store.ScoreCategorical, Value: " "}},
		{"span without its trace", store.Annotation{Ref: "agent_span/" + midChat.SpanID, Kind: store.KindScore, Name: "x", DataType: store.ScoreBoolean, Value: true}},
		{"another id", store.Annotation{ID: "mine", Ref: "agent/Explore", Kind: store.KindScore, Name: "x", DataType: store.ScoreBoolean, Value: true}},
		{"bounds on a note", store.Annotation{Ref: "agent/Explore", Kind: "note", Value: "n", Min: f(1)}},
	} {
		tc.a.ProjectID = projA
		_, err := h.s.UpsertAnnotation(h.ctx, tc.a)
		h.expectInvalid("UpsertAnnotation("+tc.name+")", err)
	}

}

// modelScoreValues is the model of the scores: the values each
// conversation and each agent counts.
func modelScoreValues(o *oracle, scores []store.Annotation) (wantConv, wantAgent map[string][]store.ScoreValue) {
	der := o.derive(projA)
	wantConv, wantAgent = map[string][]store.ScoreValue{}, map[string][]store.ScoreValue{}
	for _, a := range scores {
		v := scoreValueOf(a)
		prefix, id, _ := store.RefTarget(a.Ref)
		switch prefix {
		case store.RefConversationPrefix:
			wantConv[id] = append(wantConv[id], v)
		case store.RefAgentPrefix:
			wantAgent[id] = append(wantAgent[id], v)
		case store.RefTurnPrefix:
			seen := map[string]bool{}
			for k, d := range der {
				if k.TraceID == id && !seen[d.conv] {
					seen[d.conv] = true
					wantConv[d.conv] = append(wantConv[d.conv], v)
				}
			}
		case store.RefSpanPrefix:
			if d, ok := der[store.SpanKey{ProjectID: projA, TraceID: a.TraceID, SpanID: id}]; ok {
				wantConv[d.conv] = append(wantConv[d.conv], v)
				if d.agent != "" {
					wantAgent[d.agent] = append(wantAgent[d.agent], v)
				}
			}
		}
	}
	return wantConv, wantAgent
}

// checkScoreFilters filters the conversations and agents lists on scores,
// against the model's summaries.
func checkScoreFilters(h *harness, convs []store.ConversationSummary, agents []store.AgentSummary, wantConv, wantAgent map[string][]store.ScoreValue) {
	for _, tc := range [][]store.Filter{
		{{Field: "score.helpfulness", Op: "gte", Value: 4}},
		{{Field: "score.helpfulness", Op: "lt", Value: json.Number("4")}},
		{{Field: "score.correct", Op: "gte", Value: 0.5}},
		{{Field: "score.correct", Op: "eq", Value: true}},
		{{Field: "score.correct", Op: "exists"}},
		{{Field: "score.correct", Op: "not_exists"}},
		{{Field: "score.helpfulness", Op: "neq", Value: 5}},
		{{Field: "score.tone", Op: "eq", Value: "curt"}},
		{{Field: "score.tone", Op: "neq", Value: "curt"}},
		{{Field: "score.helpfulness", Op: "exists"}, {Field: "score.correct", Op: "lt", Value: 1}},
		{{Field: "score.nothing", Op: "gt", Value: 0}},
	} {
		fs, err := store.ParseScoreFilters(tc)
		if err != nil {
			h.t.Fatalf("ParseScoreFilters(%v): %v", tc, err)
		}
		var want []string
		for _, c := range convs {
			if store.MatchScores(fs, modelScores(wantConv[c.ConversationID])) {
				want = append(want, c.ConversationID)
			}
		}
		got := h.conversations(store.ConversationQuery{ProjectID: projA, ScoreFilters: tc, Limit: store.MaxLimit})
		if g := keysOfPage(got); strings.Join(g, "|") != strings.Join(want, "|") || got.Total != int64(len(want)) {
			h.t.Errorf("QueryConversations(%s): got %v (total %d), want %v", jsonOf(tc), g, got.Total, want)
		}
		var wantA []string
		for _, a := range agents {
			if store.MatchScores(fs, modelScores(wantAgent[a.AgentName])) {
				wantA = append(wantA, a.AgentName)
			}
		}
		gotA, total, err := h.s.QueryAgents(h.ctx, store.AgentQuery{ProjectID: projA, ScoreFilters: tc})
		if err != nil {
			h.t.Fatalf("QueryAgents(%s): %v", jsonOf(tc), err)
		}
		var namesA []string
		for _, a := range gotA {
			namesA = append(namesA, a.AgentName)
		}
		if strings.Join(namesA, "|") != strings.Join(wantA, "|") || total != int64(len(wantA)) {
			h.t.Errorf("QueryAgents(%s): got %v (total %d), want %v", jsonOf(tc), namesA, total, wantA)
		}
	}
}

// checkScoreFilterRefusals: malformed score filters are refused.
func checkScoreFilterRefusals(h *harness) {
	for _, bad := range [][]store.Filter{
		{{Field: "helpfulness", Op: "gt", Value: 1}},
		{{Field: "score.", Op: "gt", Value: 1}},
		{{Field: "score.x", Op: "contains", Value: "a"}},
		{{Field: "score.x", Op: "gt", Value: "high"}},
		{{Field: "score.x", Op: "exists", Value: 1}},
	} {
		_, err := h.s.QueryConversations(h.ctx, store.ConversationQuery{ProjectID: projA, ScoreFilters: bad})
		h.expectInvalid(fmt.Sprintf("QueryConversations(%s)", jsonOf(bad)), err)
		_, _, err = h.s.QueryAgents(h.ctx, store.AgentQuery{ProjectID: projA, ScoreFilters: bad})
		h.expectInvalid(fmt.Sprintf("QueryAgents(%s)", jsonOf(bad)), err)
	}
}

func scoreValueOf(a store.Annotation) store.ScoreValue {
	v := store.ScoreValue{Name: a.Name, DataType: a.DataType}
	switch x := a.Value.(type) {
	case bool:
		n := 0.0
		if x {
			n = 1
		}
		v.Num = &n
	case string:
		v.Label = x
	case float64:
		v.Num = &x
	case json.Number:
		n, _ := x.Float64()
		v.Num = &n
	}
	return v
}

// modelScores is the brute-force summary: per name, the count, and the
// mean (numeric), share of true (boolean) or counts per category.
func modelScores(vs []store.ScoreValue) map[string]store.ScoreSummary {
	if len(vs) == 0 {
		return nil
	}
	out := map[string]store.ScoreSummary{}
	names := map[string]bool{}
	for _, v := range vs {
		names[v.Name] = true
	}
	for name := range names {
		var nums []float64
		s := store.ScoreSummary{}
		for _, v := range vs {
			if v.Name != name {
				continue
			}
			s.DataType = v.DataType // the fixtures use one type per name
			s.Count++
			if v.Num != nil {
				nums = append(nums, *v.Num)
			} else {
				if s.Categories == nil {
					s.Categories = map[string]int64{}
				}
				s.Categories[v.Label]++
			}
		}
		if len(nums) > 0 {
			sort.Float64s(nums)
			total := 0.0
			for _, n := range nums {
				total += n
			}
			m := total / float64(len(nums))
			if s.DataType == store.ScoreBoolean {
				s.Share = &m
			} else {
				lo, hi := nums[0], slices.Max(nums)
				s.Mean, s.Min, s.Max = &m, &lo, &hi
			}
		}
		out[name] = s
	}
	return out
}
