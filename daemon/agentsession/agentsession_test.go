package agentsession

import (
	"os"
	"path/filepath"
	"testing"
)

// A file under a root is allowed; one outside is refused, counted once
// however often it is asked for; nil roots allow anything.
func TestGuard(t *testing.T) {
	root := t.TempDir()
	in := filepath.Join(root, "chats", "session-x.jsonl")
	os.MkdirAll(filepath.Dir(in), 0o755)
	os.WriteFile(in, []byte("{}\n"), 0o644)
	out := filepath.Join(t.TempDir(), "elsewhere.jsonl")
	os.WriteFile(out, []byte("{}\n"), 0o644)
	var st Stats
	g := Guard{Roots: []string{root}, What: "chat file", Log: Settings{}.WithDefaults().Logger, Stats: &st}
	if !g.Allowed(in) {
		t.Errorf("%s under the root refused", in)
	}
	for range 3 {
		if g.Allowed(out) {
			t.Errorf("%s outside the roots allowed", out)
		}
	}
	if st.TranscriptsRefused != 1 || st.LastRefused != out {
		t.Errorf("refused %d, last %q; want 1, %q", st.TranscriptsRefused, st.LastRefused, out)
	}
	if !(&Guard{}).Allowed(out) {
		t.Error("nil roots refused a path")
	}
}
