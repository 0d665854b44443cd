package store

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestAutoBucket(t *testing.T) {
	const week = 7 * 24 * time.Hour
	year := 365 * 24 * time.Hour
	tests := []struct {
		from, to int64
		want     time.Duration
	}{
		{0, int64(time.Second), time.Minute},
		{0, int64(time.Hour), time.Minute},
		{0, int64(61 * time.Minute), 5 * time.Minute},
		{0, int64(60 * 24 * time.Hour), 24 * time.Hour},
		{0, int64(60 * week), week},
		{0, int64(61 * week), 2 * week},
		{-int64(100 * year), int64(100 * year), 174 * week},
		{MinTime.UnixNano(), MaxTime.UnixNano(), 509 * week}, // longer than a time.Duration
	}
	for _, tt := range tests {
		got := AutoBucket(tt.from, tt.to)
		if got != tt.want {
			t.Errorf("AutoBucket(%d, %d) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
		if n := (uint64(tt.to) - uint64(tt.from)) / uint64(got); n > 60 {
			t.Errorf("AutoBucket(%d, %d) = %v gives %d buckets, want at most 60", tt.from, tt.to, got, n)
		}
	}
}

// TestMetricsWindowAnyRange: with the width left to the backend, every
// window weave can store fits in at most 61 buckets (60 plus alignment),
// and the aligned ends never overflow int64 nanoseconds — also at the very
// ends of the storable range. Before, 7-day buckets over more than about
// 190 years were refused (more than 10,000 buckets).
func TestMetricsWindowAnyRange(t *testing.T) {
	at := func(y int) int64 { return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano() }
	tests := []struct {
		name         string
		dataFrom, to int64
	}{
		{"one day", at(2026), at(2026) + int64(24*time.Hour)},
		{"190 years", at(1836), at(2026)},
		{"348 years (times wrapped to 1678-1970 beside 2026)", at(1678), at(2026)},
		{"the whole storable range", MinTime.UnixNano(), MaxTime.UnixNano()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to, width, ok, err := MetricsWindow(MetricsQuery{}, tt.dataFrom, tt.to)
			if err != nil || !ok {
				t.Fatalf("MetricsWindow: ok=%v err=%v, want a window", ok, err)
			}
			span := uint64(to) - uint64(from) // may exceed int64
			if width <= 0 || from >= to || span%uint64(width) != 0 || span/uint64(width) > 61 {
				t.Errorf("window [%d, %d) of width %d: want whole buckets, at most 61", from, to, width)
			}
			if from > tt.dataFrom && from-tt.dataFrom >= width || to < tt.to && tt.to-to >= width {
				t.Errorf("window [%d, %d) leaves out more than the partial end buckets of [%d, %d)", from, to, tt.dataFrom, tt.to)
			}
		})
	}
	// An explicit width still gets the limit.
	_, _, _, _, err := MetricsWindow(MetricsQuery{Bucket: 7 * 24 * time.Hour}, at(1700), at(2250))
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("explicit 7-day buckets over 550 years: got %v, want ErrInvalid", err)
	}
	if _, _, _, ok, _ := MetricsWindow(MetricsQuery{}, math.MinInt64, math.MinInt64+1); ok {
		t.Error("a window inside one unrepresentable bucket is not empty")
	}
}
