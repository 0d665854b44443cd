package store

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"
)

// BucketLadder are the widths AgentMetrics picks from when a query leaves
// Bucket at 0: the smallest giving at most 60 buckets; past the last rung
// (60 weeks, about 14 months), AutoBucket takes whole weeks.
var BucketLadder = []time.Duration{
	time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour,
	12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour,
}

// AutoBucket is the bucket width for the window [from, to) (Unix
// nanoseconds, from <= to) when the query leaves it to the backend: the
// smallest BucketLadder rung giving at most 60 buckets, else the smallest
// whole number of weeks that does — so any window weave stores (up to
// about 585 years, more than a time.Duration holds) fits, far below
// MaxLimit.
func AutoBucket(from, to int64) time.Duration {
	span := uint64(to) - uint64(from)
	for _, b := range BucketLadder {
		if span/uint64(b) <= 60 {
			return b
		}
	}
	week := uint64(BucketLadder[len(BucketLadder)-1])
	return time.Duration((span/60 + week - 1) / week * week)
}

// ClampNanos is t in Unix nanoseconds, clamped to [MinTime, MaxTime].
func ClampNanos(t time.Time) int64 {
	switch {
	case t.Before(MinTime):
		return MinTime.UnixNano()
	case t.After(MaxTime):
		return MaxTime.UnixNano()
	}
	return t.UnixNano()
}

// NanosRange is r in Unix nanoseconds (ClampNanos), an open end the
// smallest or largest int64.
func NanosRange(r TimeRange) (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	if !r.From.IsZero() {
		lo = ClampNanos(r.From)
	}
	if !r.To.IsZero() {
		hi = ClampNanos(r.To)
	}
	return lo, hi
}

// FloorDiv is integer division rounding toward negative infinity.
func FloorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// MetricsWindow resolves an AgentMetrics query's window in Unix
// nanoseconds: the query's range, with an open end closed by the data's
// extent [dataFrom, dataTo); the bucket width (q.Bucket, else
// AutoBucket); both ends aligned outward to the width (within int64). ok=false means an
// empty window (no buckets). More than MaxLimit buckets is ErrInvalid.
// Every backend calls it, so bucket boundaries agree.
func MetricsWindow(q MetricsQuery, dataFrom, dataTo int64) (from, to, width int64, ok bool, err error) {
	from, to = dataFrom, dataTo
	if !q.Range.From.IsZero() {
		from = ClampNanos(q.Range.From)
	}
	if !q.Range.To.IsZero() {
		to = ClampNanos(q.Range.To)
	}
	if to <= from {
		return 0, 0, 0, false, nil
	}
	width = int64(q.Bucket)
	if width == 0 {
		width = int64(AutoBucket(from, to))
	}
	// Align outward to whole buckets, but never past what int64
	// nanoseconds hold: near the ends of the storable range (within one
	// bucket of 1677 or 2262) the partial bucket is left out.
	from = max(FloorDiv(from, width), math.MinInt64/width) * width
	to = min(-FloorDiv(-to, width), math.MaxInt64/width) * width
	if to <= from {
		return 0, 0, 0, false, nil
	}
	if n := (uint64(to) - uint64(from)) / uint64(width); n > MaxLimit {
		return 0, 0, 0, false, fmt.Errorf("%w: %d buckets of %s exceed the limit of %d", ErrInvalid, n, time.Duration(width), MaxLimit)
	}
	return from, to, width, true, nil
}

// ValidRef reports whether ref names a span, a turn, a conversation or an
// agent (RefSpanPrefix, RefTurnPrefix, RefConversationPrefix,
// RefAgentPrefix, then a non-empty id).
func ValidRef(ref string) bool {
	for _, p := range []string{RefSpanPrefix, RefTurnPrefix, RefConversationPrefix, RefAgentPrefix} {
		if rest, ok := strings.CutPrefix(ref, p); ok {
			return rest != ""
		}
	}
	return false
}

// NewAnnotationID returns a random annotation id (32 hex digits).
func NewAnnotationID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
