package store

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestSummarizeScores(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	got := SummarizeScores([]ScoreValue{
		{Name: "h", DataType: ScoreNumeric, Num: f(5)},
		{Name: "h", DataType: ScoreNumeric, Num: f(2)},
		{Name: "h", DataType: ScoreBoolean, Num: f(1)}, // a name reused with another type: the majority wins
		{Name: "ok", DataType: ScoreBoolean, Num: f(1)},
		{Name: "ok", DataType: ScoreBoolean, Num: f(0)},
		{Name: "ok", DataType: ScoreBoolean, Num: f(1)},
		{Name: "tone", DataType: ScoreCategorical, Label: "curt"},
		{Name: "tone", DataType: ScoreCategorical, Label: "kind"},
		{Name: "tone", DataType: ScoreCategorical, Label: "kind"},
	})
	want := map[string]ScoreSummary{
		"h":    {DataType: ScoreNumeric, Count: 2, Mean: f(3.5), Min: f(2), Max: f(5)},
		"ok":   {DataType: ScoreBoolean, Count: 3, Share: f(2.0 / 3)},
		"tone": {DataType: ScoreCategorical, Count: 3, Categories: map[string]int64{"curt": 1, "kind": 2}},
	}
	if !reflect.DeepEqual(got, want) {
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(want)
		t.Errorf("SummarizeScores: got %s, want %s", a, b)
	}
	if SummarizeScores(nil) != nil {
		t.Error("SummarizeScores(nil): want nil")
	}
}

func TestScoreKeys(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	scored := map[string]map[string]ScoreSummary{
		"a": {"h": {DataType: ScoreNumeric, Count: 1, Mean: f(5)}},
		"b": {"h": {DataType: ScoreNumeric, Count: 1, Mean: f(1)}},
		"c": {"tone": {DataType: ScoreCategorical, Count: 1, Categories: map[string]int64{"kind": 1}}},
	}
	for _, tc := range []struct {
		name   string
		filter Filter
		keys   []string
		in     bool
	}{
		{"passing ones", Filter{Field: "score.h", Op: "gte", Value: 4.0}, []string{"a"}, true},
		{"unscored pass neq", Filter{Field: "score.h", Op: "neq", Value: 5.0}, []string{"a"}, false},
		{"not_exists", Filter{Field: "score.h", Op: "not_exists"}, []string{"a", "b"}, false},
		{"category", Filter{Field: "score.tone", Op: "eq", Value: "kind"}, []string{"c"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := ParseScoreFilters([]Filter{tc.filter})
			if err != nil {
				t.Fatal(err)
			}
			keys, in := ScoreKeys(fs, scored)
			if !reflect.DeepEqual(keys, tc.keys) || in != tc.in {
				t.Errorf("ScoreKeys: got %v in=%v, want %v in=%v", keys, in, tc.keys, tc.in)
			}
		})
	}
}

func TestCheckAnnotationFields(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name  string
		a     Annotation
		field string
	}{
		{"bad ref", Annotation{Ref: "x", Kind: "note", Value: "v"}, "ref"},
		{"no kind", Annotation{Ref: "agent/a", Value: "v"}, "kind"},
		{"bad trace", Annotation{Ref: "agent/a", Kind: "note", Value: "v", TraceID: "XY"}, "trace_id"},
		{"score fields on a note", Annotation{Ref: "agent/a", Kind: "note", Value: "v", Name: "n"}, "kind"},
		{"no name", Annotation{Ref: "agent/a", Kind: KindScore, DataType: ScoreBoolean, Value: true}, "name"},
		{"type", Annotation{Ref: "agent/a", Kind: KindScore, Name: "n", DataType: "x", Value: true}, "data_type"},
		{"bounds on a boolean", Annotation{Ref: "agent/a", Kind: KindScore, Name: "n", DataType: ScoreBoolean, Value: true, Max: f(1)}, "min"},
		{"outside", Annotation{Ref: "agent/a", Kind: KindScore, Name: "n", DataType: ScoreNumeric, Value: 0.5, Min: f(1)}, "value"},
		{"id", Annotation{ID: "x", Ref: "agent/a", Kind: KindScore, Name: "n", DataType: ScoreBoolean, Value: true}, "id"},
		{"long id", Annotation{ID: strings.Repeat("x", MaxIDLen+1), Ref: "agent/a", Kind: "note", Value: "v"}, "id"},
		{"value JSON cannot hold", Annotation{Ref: "agent/a", Kind: "note", Value: math.NaN()}, "value"},
		{"span score without trace", Annotation{Ref: RefSpanPrefix + "abc", Kind: KindScore, Name: "n", DataType: ScoreBoolean, Value: true}, "trace_id"},
		{"min above max", Annotation{Ref: "agent/a", Kind: KindScore, Name: "n", DataType: ScoreNumeric, Value: 1.0, Min: f(2), Max: f(1)}, "min"},
		{"infinite bound", Annotation{Ref: "agent/a", Kind: KindScore, Name: "n", DataType: ScoreNumeric, Value: 1.0, Max: f(math.Inf(1))}, "min"},
		{"numeric not a number", Annotation{Ref: "agent/a", Kind: KindScore, Name: "n", DataType: ScoreNumeric, Value: "x"}, "value"},
		{"boolean not a bool", Annotation{Ref: "agent/a", Kind: KindScore, Name: "n", DataType: ScoreBoolean, Value: "yes"}, "value"},
		{"empty category", Annotation{Ref: "agent/a", Kind: KindScore, Name: "n", DataType: ScoreCategorical, Value: " "}, "value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckAnnotation(tc.a)
			var ae *AnnotationError
			if !errors.As(err, &ae) || ae.Field != tc.field || !errors.Is(err, ErrInvalid) {
				t.Errorf("CheckAnnotation: got %v, want an ErrInvalid about %q", err, tc.field)
			}
		})
	}
	a, err := CheckAnnotation(Annotation{Ref: "agent/a", Kind: KindScore, Name: "n", DataType: ScoreNumeric, Value: json.Number("3"), Author: "me"})
	if err != nil || a.ID != ScoreID("agent/a", "n", "me") || a.Value != 3.0 {
		t.Errorf("CheckAnnotation(numeric): got %+v, %v; want the derived id and the value as a float", a, err)
	}
}
