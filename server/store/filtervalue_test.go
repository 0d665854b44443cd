package store

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestFilterValues(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	cases := []struct {
		name string
		conv func(any) (any, error)
		in   any
		want any // nil: an error
	}{
		{"string", StringFilterValue, "x", "x"},
		{"string from a number", StringFilterValue, 1.0, nil},
		{"int", IntFilterValue, 7, int64(7)},
		{"int32", IntFilterValue, int32(-7), int64(-7)},
		{"whole float", IntFilterValue, 3.0, int64(3)},
		{"fraction", IntFilterValue, 3.5, nil},
		{"smallest int64 as a float", IntFilterValue, -9223372036854775808.0, int64(math.MinInt64)},
		{"2^63 overflows", IntFilterValue, 9223372036854775808.0, nil},
		{"NaN", IntFilterValue, math.NaN(), nil},
		{"infinity", IntFilterValue, math.Inf(-1), nil},
		{"json integer", IntFilterValue, json.Number("42"), int64(42)},
		{"json fraction", IntFilterValue, json.Number("4.2"), nil},
		{"int from a string", IntFilterValue, "4", nil},
		{"float", FloatFilterValue, 0.25, 0.25},
		{"float from an int", FloatFilterValue, int64(2), 2.0},
		{"json number", FloatFilterValue, json.Number("1e3"), 1000.0},
		{"float NaN", FloatFilterValue, math.NaN(), nil},
		{"float infinity", FloatFilterValue, math.Inf(1), nil},
		{"bool", BoolFilterValue, true, true},
		{"bool from a number", BoolFilterValue, 1, nil},
		{"time", TimeFilterValue, at, at.UnixNano()},
		{"RFC 3339 text", TimeFilterValue, "2026-01-02T03:04:05.000000006Z", at.UnixNano()},
		{"bad time text", TimeFilterValue, "yesterday", nil},
		{"time from a number", TimeFilterValue, 5, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.conv(tc.in)
			if tc.want == nil {
				if err == nil {
					t.Errorf("(%v): got %v, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("(%v): got %v (%T), %v, want %v (%T)", tc.in, got, got, err, tc.want, tc.want)
			}
		})
	}
}
