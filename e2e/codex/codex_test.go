package codex

import (
	"strings"
	"testing"
)

// A scenario's own config keys are top-level keys: before the first table
// (placed after [projects."…"], model_auto_compact_token_limit was that
// table's key, which Codex ignores: the compact scenario never compacted).
func TestConfigExtraKeysTopLevel(t *testing.T) {
	c := Config("127.0.0.1:1", "/w", "model_auto_compact_token_limit = 2000")
	key := strings.Index(c, "model_auto_compact_token_limit")
	table := strings.Index(c, "\n[")
	if key < 0 || table < 0 || key > table {
		t.Fatalf("the extra key is not a top-level key:\n%s", c)
	}
}

// Every scenario parses, and runs only what the harness can run.
func TestScenarios(t *testing.T) {
	scs, err := Scenarios()
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scs {
		for i, r := range sc.Runs {
			if len(r.TUI) > 0 && (!r.Resume || i == 0) {
				t.Errorf("%s: run %d is interactive but resumes no earlier run", sc.Name, i)
			}
			if len(r.TUI) == 0 && r.Prompt == "" {
				t.Errorf("%s: run %d has no prompt", sc.Name, i)
			}
		}
	}
}
