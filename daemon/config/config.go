// Package config is weave-agentd's user-facing configuration: defaults,
// the optional $WEAVE_HOME/config.json, and the environment variables that
// override it (WEAVE_ENDPOINT, WEAVE_PROJECT, WANDB_API_KEY, ...).
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/weavetrace/weave/spans"
)

// DefaultEndpoint is the local weave-server's default address (its
// default --addr): the zero-configuration target.
const DefaultEndpoint = "http://127.0.0.1:7433"

// Environment variables, each overriding its config.json field.
const (
	EnvEndpoint    = "WEAVE_ENDPOINT"     // endpoint
	EnvProject     = "WEAVE_PROJECT"      // project
	EnvAPIKey      = "WANDB_API_KEY"      // api_key
	EnvIdleTimeout = "WEAVE_IDLE_TIMEOUT" // idle_timeout (Go duration; 0 = never)
	EnvLogLevel    = "WEAVE_LOG_LEVEL"    // log_level
	// EnvOmitContent (1/true) leaves message and tool content out of every span.
	EnvOmitContent = "WEAVE_OMIT_CONTENT" // omit_content
	// EnvNoRedact (1/true) turns secret redaction off.
	EnvNoRedact = "WEAVE_NO_REDACT" // no_redact
	// EnvChatInput (reference/full) is how chat spans carry their input
	// history.
	EnvChatInput = "WEAVE_CHAT_INPUT" // chat_input
	// EnvTurnIdleTimeout closes a turn with no activity for this long.
	EnvTurnIdleTimeout = "WEAVE_TURN_IDLE_TIMEOUT" // turn_idle_timeout
)

// Config is weave-agentd's configuration. JSON names are config.json's.
type Config struct {
	// Endpoint is the trace server's base URL; the daemon appends
	// /agents/otel/v1/traces. A URL ending in /v1/traces is used as given
	// (any OTLP/HTTP backend).
	Endpoint string `json:"endpoint"`
	// Project is "entity/project" (resource wandb.entity / wandb.project);
	// empty: the server's default project.
	Project string `json:"project"`
	// APIKey is sent as the wandb-api-key header.
	APIKey string `json:"api_key"`
	// IdleTimeout: exit after this long with no hook event and nothing to
	// retry. 0: never.
	IdleTimeout Duration `json:"idle_timeout"`
	// ExportTimeout bounds one OTLP request.
	ExportTimeout Duration `json:"export_timeout"`
	// SpoolMaxBytes caps the on-disk spool of undelivered spans; past it
	// the oldest batches are dropped (and counted).
	SpoolMaxBytes int64 `json:"spool_max_bytes"`
	// JournalRetention keeps a closed session's events this long (a late
	// or resumed event still finds its history); then compaction drops them.
	JournalRetention Duration `json:"journal_retention"`
	// JournalCompactBytes: compact when the journal grows past this.
	JournalCompactBytes int64 `json:"journal_compact_bytes"`
	// PollInterval is the transcript polling fallback's period.
	PollInterval Duration `json:"poll_interval"`
	// LogMaxBytes bounds logs/agentd.log (one rotated copy is kept).
	LogMaxBytes int64 `json:"log_max_bytes"`
	// LogLevel: debug, info, warn or error.
	LogLevel string `json:"log_level"`
	// OmitContent leaves prompts, messages, tool arguments/results, system
	// prompts and compaction summaries out of every span.
	OmitContent bool `json:"omit_content"`
	// NoRedact turns off secret redaction (on by default).
	NoRedact bool `json:"no_redact"`
	// Redact extends redaction: extra secret patterns, and values never
	// to mask (spans.RedactConfig).
	Redact spans.RedactConfig `json:"redact"`
	// ChatInput is how a chat span carries the history of what the model
	// saw: "reference" (default: the messages added since the previous
	// call plus a reference to that call's span, which weave-server
	// resolves) or "full" (the whole input in every span, for OTLP
	// backends that do not resolve references).
	ChatInput string `json:"chat_input,omitempty"`
	// TurnIdleTimeout closes a turn that has seen no hook and no transcript
	// growth for this long (orphan_reason idle_timeout).
	TurnIdleTimeout Duration `json:"turn_idle_timeout"`
	// TranscriptDirs are directories transcripts may also be read from,
	// besides ~/.claude/projects and $CLAUDE_CONFIG_DIR/projects (say,
	// the projects directory of another CLAUDE_CONFIG_DIR than the one the
	// daemon started with). A hook naming a transcript anywhere else is
	// refused (daemon/session CheckTranscript). Absolute paths.
	TranscriptDirs []string `json:"transcript_dirs,omitempty"`
}

// NewDefaultConfig returns the defaults.
func NewDefaultConfig() Config {
	return Config{
		Endpoint:            DefaultEndpoint,
		IdleTimeout:         Duration(30 * time.Minute),
		ExportTimeout:       Duration(10 * time.Second),
		SpoolMaxBytes:       256 << 20,
		JournalRetention:    Duration(time.Hour),
		JournalCompactBytes: 64 << 20,
		PollInterval:        Duration(500 * time.Millisecond),
		LogMaxBytes:         10 << 20,
		LogLevel:            "info",
		TurnIdleTimeout:     Duration(time.Hour),
	}
}

// Load returns the defaults, overridden by the config file at path (if it
// exists; unknown fields are an error, to catch typos), overridden by the
// environment (getenv, usually os.Getenv), validated.
func Load(path string, getenv func(string) string) (Config, error) {
	c := NewDefaultConfig()
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return c, fmt.Errorf("config: %w", err)
	default:
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return c, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	if err := c.applyEnv(getenv); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

func (c *Config) applyEnv(getenv func(string) string) error {
	if v := getenv(EnvEndpoint); v != "" {
		c.Endpoint = v
	}
	if v := getenv(EnvProject); v != "" {
		c.Project = v
	}
	if v := getenv(EnvAPIKey); v != "" {
		c.APIKey = v
	}
	if v := getenv(EnvLogLevel); v != "" {
		c.LogLevel = v
	}
	if v := getenv(EnvChatInput); v != "" {
		c.ChatInput = v
	}
	for _, b := range []struct {
		env string
		dst *bool
	}{{EnvOmitContent, &c.OmitContent}, {EnvNoRedact, &c.NoRedact}} {
		if v := getenv(b.env); v != "" {
			on, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("config: %s=%q: want 1/0 or true/false", b.env, v)
			}
			*b.dst = on
		}
	}
	if v := getenv(EnvTurnIdleTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("config: %s=%q: %w", EnvTurnIdleTimeout, v, err)
		}
		c.TurnIdleTimeout = Duration(d)
	}
	if v := getenv(EnvIdleTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("config: %s=%q: %w", EnvIdleTimeout, v, err)
		}
		c.IdleTimeout = Duration(d)
	}
	return nil
}

// Validate reports the first invalid field, naming it.
func (c *Config) Validate() error {
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("config: endpoint %q: want an http(s) URL such as %s", c.Endpoint, DefaultEndpoint)
	}
	if c.Project != "" {
		ent, proj, ok := strings.Cut(c.Project, "/")
		if !ok || ent == "" || proj == "" || strings.Contains(proj, "/") {
			return fmt.Errorf("config: project %q: want entity/project", c.Project)
		}
	}
	switch {
	case c.IdleTimeout < 0:
		return fmt.Errorf("config: idle_timeout %v: want >= 0 (0 = never)", c.IdleTimeout)
	case c.ExportTimeout <= 0:
		return fmt.Errorf("config: export_timeout %v: want > 0", c.ExportTimeout)
	case c.SpoolMaxBytes < 1<<20:
		return fmt.Errorf("config: spool_max_bytes %d: want >= 1 MiB", c.SpoolMaxBytes)
	case c.JournalRetention < 0:
		return fmt.Errorf("config: journal_retention %v: want >= 0", c.JournalRetention)
	case c.JournalCompactBytes < 1<<20:
		return fmt.Errorf("config: journal_compact_bytes %d: want >= 1 MiB", c.JournalCompactBytes)
	case c.PollInterval < Duration(10*time.Millisecond):
		return fmt.Errorf("config: poll_interval %v: want >= 10ms", c.PollInterval)
	case c.LogMaxBytes < 64<<10:
		return fmt.Errorf("config: log_max_bytes %d: want >= 64 KiB", c.LogMaxBytes)
	case c.TurnIdleTimeout < Duration(time.Minute):
		return fmt.Errorf("config: turn_idle_timeout %v: want >= 1m", c.TurnIdleTimeout)
	}
	for i, d := range c.TranscriptDirs {
		if !filepath.IsAbs(d) {
			return fmt.Errorf("config: transcript_dirs[%d] %q: want an absolute path", i, d)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	if _, err := c.Privacy(); err != nil {
		return err
	}
	if _, err := c.Input(); err != nil {
		return err
	}
	return nil
}

// Input is how chat spans carry their input history (chat_input; empty
// is "reference").
func (c Config) Input() (spans.InputMode, error) {
	if c.ChatInput == "" {
		return spans.InputReference, nil
	}
	m, err := spans.ParseInputMode(c.ChatInput)
	if err != nil {
		return m, fmt.Errorf("config: chat_input: %w", err)
	}
	return m, nil
}

// TranscriptRoots are the directories transcripts may be read from:
// Claude Code's projects directories (~/.claude/projects, and
// $CLAUDE_CONFIG_DIR/projects when getenv has it) and TranscriptDirs.
func (c Config) TranscriptRoots(getenv func(string) string) []string {
	var roots []string
	if home, err := os.UserHomeDir(); err == nil {
		roots = append(roots, filepath.Join(home, ".claude", "projects"))
	}
	if d := getenv("CLAUDE_CONFIG_DIR"); d != "" && filepath.IsAbs(d) {
		roots = append(roots, filepath.Join(d, "projects"))
	}
	return append(roots, c.TranscriptDirs...)
}

// Privacy is what the daemon and `weave-agentd import` apply to content:
// omit_content, no_redact, and the built-in redaction rules extended by
// redact. The error names the bad redact entry.
func (c Config) Privacy() (spans.Privacy, error) {
	x, err := spans.NewRedactor(c.Redact)
	if err != nil {
		return spans.Privacy{}, fmt.Errorf("config: %w", err)
	}
	return spans.Privacy{OmitContent: c.OmitContent, NoRedact: c.NoRedact, Redactor: x}, nil
}

// Redacted returns c with the API key masked, for logs and status.
func (c Config) Redacted() Config {
	if c.APIKey != "" {
		c.APIKey = "***"
	}
	return c
}

// Duration is a time.Duration written as a Go duration string ("30m").
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
