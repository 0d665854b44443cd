package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/spans"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadFile(t *testing.T) {
	got, err := Load(filepath.Join("testdata", "config.json"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Endpoint:            "https://weave.example.com",
		Project:             "acme/agents",
		APIKey:              "file-key",
		IdleTimeout:         Duration(2 * time.Hour),
		ExportTimeout:       Duration(5 * time.Second),
		SpoolMaxBytes:       100 << 20,
		JournalRetention:    Duration(30 * time.Minute),
		JournalCompactBytes: 8 << 20,
		PollInterval:        Duration(250 * time.Millisecond),
		LogMaxBytes:         1 << 20,
		LogLevel:            "debug",
		OmitContent:         true,
		TurnIdleTimeout:     Duration(20 * time.Minute),
		TranscriptDirs:      []string{"/home/u/.claude-work/projects"},
		Redact: spans.RedactConfig{
			Patterns: []spans.Pattern{
				{Name: "acme_token", Regex: `\bacme_[A-Za-z0-9]{24}\b`},
				{Name: "employee_id", Regex: `employee=(E\d{6})`},
			},
			Allow: []string{"sk_test_51DemoKeyFromTheDocsAAAAAAAAAAAA", "/dev-[a-z]+-password/"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load: got %+v, want %+v", got, want)
	}
}

func TestLoadDefaults(t *testing.T) {
	got, err := Load(filepath.Join(t.TempDir(), "absent.json"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, NewDefaultConfig()) || got.Endpoint != DefaultEndpoint || got.IdleTimeout.D() != 30*time.Minute {
		t.Errorf("Load without a file: got %+v, want the defaults", got)
	}
}

func TestEnvOverrides(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   map[string]string
		check func(c Config) (got, want any)
	}{
		{"endpoint", map[string]string{EnvEndpoint: "http://10.0.0.1:9000"}, func(c Config) (any, any) { return c.Endpoint, "http://10.0.0.1:9000" }},
		{"project", map[string]string{EnvProject: "me/p"}, func(c Config) (any, any) { return c.Project, "me/p" }},
		{"api key", map[string]string{EnvAPIKey: "env-key"}, func(c Config) (any, any) { return c.APIKey, "env-key" }},
		{"idle timeout", map[string]string{EnvIdleTimeout: "0"}, func(c Config) (any, any) { return c.IdleTimeout.D(), time.Duration(0) }},
		{"log level", map[string]string{EnvLogLevel: "warn"}, func(c Config) (any, any) { return c.LogLevel, "warn" }},
		{"omit content off", map[string]string{EnvOmitContent: "0"}, func(c Config) (any, any) { return c.OmitContent, false }},
		{"no redact", map[string]string{EnvNoRedact: "true"}, func(c Config) (any, any) { return c.NoRedact, true }},
		{"turn idle timeout", map[string]string{EnvTurnIdleTimeout: "5m"}, func(c Config) (any, any) { return c.TurnIdleTimeout.D(), 5 * time.Minute }},
		{"chat input", map[string]string{EnvChatInput: "full"}, func(c Config) (any, any) { m, _ := c.Input(); return m, spans.InputFull }},
		{"chat input default", nil, func(c Config) (any, any) { m, _ := c.Input(); return m, spans.InputReference }},
		{"empty env keeps the file", map[string]string{EnvEndpoint: ""}, func(c Config) (any, any) { return c.Endpoint, "https://weave.example.com" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(filepath.Join("testdata", "config.json"), env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := tc.check(c); got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

// One bad_*.json per Validate error (and per decode error).
func TestLoadBad(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bad_*.json"))
	if len(files) < 18 {
		t.Fatalf("got %d bad_*.json files, want one per error", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "bad_"), ".json")
		t.Run(name, func(t *testing.T) {
			_, err := Load(f, env(nil))
			if err == nil {
				t.Fatalf("Load(%s): got nil, want an error", f)
			}
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Errorf("error %q: want the config: prefix", err)
			}
			// The error names the offending field (json field, or env var).
			field := name
			switch name {
			case "unknown_field":
				field = "endpont"
			case "duration":
				field = `"soon"` // the bad value
			case "json":
				field = "bad_json.json" // the file
			case "redact_regex":
				field = `redact.patterns[1] (broken): regex "acme_[A-Z"`
			case "redact_name":
				field = `redact.patterns[0]: name "has space]"`
			case "redact_empty_match":
				field = `redact.patterns[0] (everything): regex "x*" matches the empty string`
			case "redact_allow":
				field = "redact.allow[1]: regex /(unclosed/"
			}
			if !strings.Contains(err.Error(), field) {
				t.Errorf("error %q: want it to name %q", err, field)
			}
		})
	}
	if _, err := Load(filepath.Join("testdata", "config.json"), env(map[string]string{EnvIdleTimeout: "soon"})); err == nil || !strings.Contains(err.Error(), EnvIdleTimeout) {
		t.Errorf("bad %s: got %v, want an error naming it", EnvIdleTimeout, err)
	}
}

func TestUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, env(nil)); err == nil { // a directory
		t.Errorf("Load(directory): got nil, want an error")
	}
	_ = os.Remove(dir)
}

func TestTranscriptRoots(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	c := NewDefaultConfig()
	c.TranscriptDirs = []string{"/data/claude/projects"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"default", nil, []string{"/home/u/.claude/projects", "/data/claude/projects"}},
		{"CLAUDE_CONFIG_DIR", map[string]string{"CLAUDE_CONFIG_DIR": "/home/u/.claude-work"},
			[]string{"/home/u/.claude/projects", "/home/u/.claude-work/projects", "/data/claude/projects"}},
		{"relative CLAUDE_CONFIG_DIR ignored", map[string]string{"CLAUDE_CONFIG_DIR": "rel"},
			[]string{"/home/u/.claude/projects", "/data/claude/projects"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.TranscriptRoots(env(tc.env)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("TranscriptRoots: got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	c := NewDefaultConfig()
	c.APIKey = "secret"
	if r := c.Redacted(); r.APIKey == "secret" || c.APIKey != "secret" {
		t.Errorf("Redacted: got key %q (original %q), want it masked on the copy only", r.APIKey, c.APIKey)
	}
}
