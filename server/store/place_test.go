package store

import (
	"testing"

	"github.com/weavetrace/weave/semconv"
)

// TestPlace: the keys are the ones weave-agentd writes, and a span records
// a place when either is non-empty.
func TestPlace(t *testing.T) {
	if AttrWorkingDir != semconv.KeyCwd || AttrGitBranch != semconv.KeyGitBranch {
		t.Errorf("place keys %q, %q; weave-agentd writes %q, %q", AttrWorkingDir, AttrGitBranch, semconv.KeyCwd, semconv.KeyGitBranch)
	}
	for _, tc := range []struct {
		attrs      map[string]string
		wd, branch string
		ok         bool
	}{
		{nil, "", "", false},
		{map[string]string{AttrWorkingDir: "", AttrGitBranch: ""}, "", "", false},
		{map[string]string{AttrWorkingDir: "/src/weave"}, "/src/weave", "", true},
		{map[string]string{AttrGitBranch: "main", "other": "x"}, "", "main", true},
	} {
		wd, branch, ok := Place(tc.attrs)
		if wd != tc.wd || branch != tc.branch || ok != tc.ok {
			t.Errorf("Place(%v) = %q, %q, %v; want %q, %q, %v", tc.attrs, wd, branch, ok, tc.wd, tc.branch, tc.ok)
		}
	}
}
