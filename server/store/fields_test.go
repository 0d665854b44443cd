package store

import (
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
)

// TestSpanFilterFieldsMatchModel: the filterable columns are exactly
// model.Span's scalar columns (strings, numbers, bools, times) and
// finish_reasons, minus the heavy tool payload columns, plus duration_ms;
// every other column is listed as heavy.
func TestSpanFilterFieldsMatchModel(t *testing.T) {
	var want, heavy []string
	typ := reflect.TypeFor[model.Span]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		scalar := ft == reflect.TypeFor[time.Time]()
		switch ft.Kind() {
		case reflect.String, reflect.Int, reflect.Int64, reflect.Bool, reflect.Float64:
			scalar = true
		}
		switch {
		case name == "finish_reasons" || scalar && name != "tool_call_arguments" && name != "tool_call_result":
			want = append(want, name)
		default:
			heavy = append(heavy, name)
		}
	}
	want = append(want, "duration_ms")
	var got, gotHeavy []string
	for f := range SpanFilterFields {
		got = append(got, f)
	}
	for f := range HeavyFields {
		gotHeavy = append(gotHeavy, f)
	}
	for _, s := range [][]string{want, heavy, got, gotHeavy} {
		sort.Strings(s)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SpanFilterFields = %v\nwant %v", got, want)
	}
	if !reflect.DeepEqual(gotHeavy, heavy) {
		t.Errorf("HeavyFields = %v\nwant %v", gotHeavy, heavy)
	}
}
