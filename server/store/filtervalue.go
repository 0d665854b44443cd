package store

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// The filter value converters: each reads a Filter's value (or one item of
// an "in" list) as a JSON decoder or a Go caller gives it, and returns what
// both backends bind for the field's kind (CostFilterValue is the one for
// cost_usd). Their errors are plain words for the backend to wrap with the
// field's name.

// StringFilterValue reads a string.
func StringFilterValue(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("want a string, got %T", v)
	}
	return s, nil
}

// IntFilterValue reads an integer as an int64: an int, int32 or int64, a
// float64 without fraction in the int64 range, or a json.Number.
func IntFilterValue(v any) (any, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case float64:
		if x != math.Trunc(x) || x < math.MinInt64 || x >= -math.MinInt64 { // NaN and ±Inf included
			return nil, fmt.Errorf("want an integer, got %v", x)
		}
		return int64(x), nil
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			return nil, fmt.Errorf("want an integer, got %s", x)
		}
		return i, nil
	}
	return nil, fmt.Errorf("want an integer, got %T", v)
}

// FloatFilterValue reads a finite number as a float64.
func FloatFilterValue(v any) (any, error) {
	var f float64
	switch x := v.(type) {
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case float64:
		f = x
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return nil, fmt.Errorf("want a number, got %s", x)
		}
	default:
		return nil, fmt.Errorf("want a number, got %T", v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("want a finite number, got %v", f)
	}
	return f, nil
}

// BoolFilterValue reads a boolean.
func BoolFilterValue(v any) (any, error) {
	b, ok := v.(bool)
	if !ok {
		return nil, fmt.Errorf("want a boolean, got %T", v)
	}
	return b, nil
}

// TimeFilterValue reads a time (a time.Time or an RFC 3339 string) as
// int64 ns since the Unix epoch, clamped as ClampNanos does.
func TimeFilterValue(v any) (any, error) {
	switch x := v.(type) {
	case time.Time:
		return ClampNanos(x), nil
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return nil, fmt.Errorf("want an RFC 3339 time, got %q", x)
		}
		return ClampNanos(t), nil
	}
	return nil, fmt.Errorf("want an RFC 3339 time, got %T", v)
}
