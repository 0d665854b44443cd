package store

import (
	"errors"
	"testing"
)

func TestChecksPage(t *testing.T) {
	const c = Checks("sqlite")
	for _, tc := range []struct {
		name          string
		project       string
		limit, offset int
		want          int
		err           string
	}{
		{"default limit", "p", 0, 0, DefaultLimit, ""},
		{"limit kept", "p", 7, 3, 7, ""},
		{"limit capped", "p", MaxLimit + 1, 0, MaxLimit, ""},
		{"no project first", "", -1, -1, 0, "store: invalid query: sqlite: project_id is required"},
		{"negative limit before offset", "p", -1, -1, 0, "store: invalid query: sqlite: negative limit -1"},
		{"negative offset", "p", 5, -2, 0, "store: invalid query: sqlite: negative offset -2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Page(tc.project, tc.limit, tc.offset)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err || !errors.Is(err, ErrInvalid) {
					t.Fatalf("Page: got error %v, want %q wrapping ErrInvalid", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Page: got %d, %v, want %d", got, err, tc.want)
			}
		})
	}
}
