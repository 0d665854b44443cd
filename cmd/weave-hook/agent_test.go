package main

import "testing"

// Hook mode reads --agent leniently: an unknown or missing value is no
// agent (the daemon then decides from the payload), never an error.
func TestHookAgent(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"--agent", "codex"}, "codex"},
		{[]string{"--agent=gemini"}, "gemini-cli"},
		{[]string{"--agent"}, ""},
		{[]string{"--agent", "cursor"}, ""},
		{[]string{"x", "--agent", "claude"}, "claude-code"},
	} {
		if got := hookAgent(tc.args); got != tc.want {
			t.Errorf("hookAgent(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}
