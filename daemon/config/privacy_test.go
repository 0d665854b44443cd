package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spans"
	"github.com/weavetrace/weave/transcript"
)

// TestRedactConfigEndToEnd: config.json's redact section reaches the spans
// the daemon builds: the user's pattern is masked under its name in the
// prompt, the tool arguments and the tool result, the allow-listed value
// is left alone, the built-in rules still apply.
func TestRedactConfigEndToEnd(t *testing.T) {
	home := t.TempDir()
	cfgJSON := `{"redact": {
		"patterns": [{"name": "acme_token", "regex": "\\bacme_[A-Za-z0-9]{24}\\b"}],
		"allow": ["/dev-[a-z]+-password/"]
	}}`
	if err := os.WriteFile(filepath.Join(home, "config.json"), []byte(cfgJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(filepath.Join(home, "config.json"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	privacy, err := cfg.Privacy()
	if err != nil {
		t.Fatal(err)
	}
	const acme = "acme_0123456789abcdefABCDEFGH"
	lines := []string{
		`{"type":"user","uuid":"u1","sessionId":"s","promptId":"p","timestamp":"2026-01-01T00:00:00Z","message":{"role":"user","content":"call the API with ` + acme + `"}}`,
		`{"type":"assistant","uuid":"a1","sessionId":"s","timestamp":"2026-01-01T00:00:01Z","message":{"id":"m1","role":"assistant","model":"claude-x","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ACME_TOKEN=` + acme + ` DB_PASSWORD=dev-local-password ./sync --password Sup3rSecret"}}],"stop_reason":"tool_use"}}`,
		`{"type":"user","uuid":"u2","sessionId":"s","promptId":"p","timestamp":"2026-01-01T00:00:02Z","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"synced as ` + acme + `"}]}}`,
	}
	path := filepath.Join(t.TempDir(), "s.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _, err := transcript.Load(path, transcript.NewResolver())
	if err != nil {
		t.Fatal(err)
	}
	out := spans.Build(s, spans.Options{Privacy: privacy})
	var tool *spans.Span
	for i := range out {
		if out[i].StringAttr(semconv.KeyToolName) == "Bash" {
			tool = &out[i]
		}
	}
	if tool == nil {
		t.Fatal("no Bash span")
	}
	args := tool.StringAttr(semconv.KeyToolCallArguments)
	for _, want := range []string{"ACME_TOKEN=[REDACTED:acme_token]", "DB_PASSWORD=dev-local-password", "--password [REDACTED:credential_assignment]"} {
		if !strings.Contains(args, want) {
			t.Errorf("tool arguments %s: want %q", args, want)
		}
	}
	if got := tool.StringAttr(semconv.KeyToolCallResult); got != "synced as [REDACTED:acme_token]" {
		t.Errorf("tool result %q", got)
	}
	if all, _ := json.Marshal(out); strings.Contains(string(all), acme) || strings.Contains(string(all), "Sup3rSecret") {
		t.Errorf("a secret was exported: %s", all)
	}
	// Without the file's rules, the same transcript keeps the token and
	// masks the allowed password: the rules came from config.json.
	def := spans.Build(s, spans.Options{})
	if all, _ := json.Marshal(def); !strings.Contains(string(all), acme) || strings.Contains(string(all), "dev-local-password") {
		t.Errorf("default rules: want the acme token kept and the password masked")
	}
}
