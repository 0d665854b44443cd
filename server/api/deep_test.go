package api

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestDeeplyNestedBodies: request bodies nesting JSON far deeper than any
// request needs, in the members decoded into interfaces (a filter's value,
// an annotation's value) and at the top, are refused with an error
// envelope or served, never crash: encoding/json stops at 10,000 levels
// and what is below that is walked within bounds.
func TestDeeplyNestedBodies(t *testing.T) {
	h := New(Settings{Store: seededFake()})
	deep := func(n int) string { return strings.Repeat("[", n) + "1" + strings.Repeat("]", n) }
	paths := slices.Sorted(func(yield func(string) bool) {
		for p := range goodBodies {
			if !yield(p) {
				return
			}
		}
	})
	for _, depth := range []int{9_990, 10_001, 500_000} {
		bodies := []string{
			deep(depth),
			`{"project_id":"p/x","filters":[{"field":"input_tokens","op":"in","value":` + deep(depth) + `}]}`,
			`{"project_id":"p/x","ref":"agent_span/` + spanHex + `","kind":"note","value":` + deep(depth) + `}`,
			`{"project_id":"p/x","x":` + deep(depth) + `}`,
		}
		for _, p := range paths {
			for i, body := range bodies {
				t.Run(fmt.Sprintf("%s/%d/%d", p, depth, i), func(t *testing.T) {
					status, out := do(t, h, "POST", p, body)
					if status < 400 || status >= 500 {
						t.Fatalf("got %d %v, want a 4xx envelope", status, out)
					}
					if code, _, msg := errOf(t, out); code == "" || msg == "" {
						t.Errorf("error envelope without code or message: %v", out)
					}
				})
			}
		}
	}
}
