package spans

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
)

// Privacy controls what content leaves the machine.
type Privacy struct {
	// OmitContent leaves message, prompt, tool argument/result, system
	// prompt and compaction summary content out of every span entirely.
	OmitContent bool
	// NoRedact turns secret redaction off (it is on by default).
	NoRedact bool
}

// secretRule is one kind of secret and how to find it. When keep > 0 the
// first keep submatches are kept and the rest replaced (assignments keep
// their key).
type secretRule struct {
	kind string
	re   *regexp.Regexp
	keep int
	// skip reports values that only look like secrets (code, types, refs).
	skip func(value string) bool
	// need lists literals of which every match holds one (in the
	// lower-cased text when fold): text holding none cannot match, and the
	// regular expression is not run. Most text holds none, and running all
	// the rules over a 20 KB system prompt took milliseconds.
	need []string
	fold bool
}

// mayMatch reports whether the rule can match s (lower: s lower-cased).
// With fold, text with non-ASCII bytes always may: case folding (?i) knows
// equivalents (ſ for s) that lower-casing does not produce.
func (r *secretRule) mayMatch(s, lower string, ascii bool) bool {
	if r.fold && !ascii {
		return true
	}
	in := s
	if r.fold {
		in = lower
	}
	for _, n := range r.need {
		if strings.Contains(in, n) {
			return true
		}
	}
	return false
}

// The rules, most specific first. Each is tested in privacy_test.go with
// real-looking secrets and look-alikes that must survive.
var secretRules = []secretRule{
	{kind: "private_key", re: regexp.MustCompile(`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----`), need: []string{"PRIVATE KEY"}},
	{kind: "anthropic_key", re: regexp.MustCompile(`\bsk-ant-[a-z0-9]{2,}-[A-Za-z0-9_\-]{20,}`), need: []string{"sk-ant-"}},
	{kind: "openai_key", re: regexp.MustCompile(`\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]*[0-9][A-Za-z0-9_\-]*[A-Za-z][A-Za-z0-9_\-]{18,}`), need: []string{"sk-"}},
	{kind: "github_token", re: regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})`), need: []string{"gho_", "ghp_", "ghu_", "ghs_", "ghr_", "github_pat_"}},
	{kind: "aws_access_key", re: regexp.MustCompile(`\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b`), need: []string{"AKIA", "ASIA", "ABIA", "ACCA"}},
	{kind: "aws_secret_key", re: regexp.MustCompile(`(?i)(\baws_?secret_?(?:access_?)?key\b["']?\s*[:=]\s*["']?)([A-Za-z0-9/+=]{40})\b`), keep: 1, need: []string{"aws"}, fold: true},
	{kind: "google_api_key", re: regexp.MustCompile(`\bAIza[0-9A-Za-z_\-]{35}\b`), need: []string{"AIza"}},
	{kind: "slack_token", re: regexp.MustCompile(`\bxox[baprs]-[A-Za-z0-9\-]{10,}`), need: []string{"xox"}},
	{kind: "stripe_key", re: regexp.MustCompile(`\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}`), need: []string{"_live_", "_test_"}},
	{kind: "huggingface_token", re: regexp.MustCompile(`\bhf_[A-Za-z0-9]{30,}\b`), need: []string{"hf_"}},
	{kind: "jwt", re: regexp.MustCompile(`\beyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}`), need: []string{"eyJ"}},
	{kind: "bearer_token", re: regexp.MustCompile(`(?i)(\bbearer\s+)([A-Za-z0-9._~+/\-]{16,}=*)`), keep: 1, need: []string{"bearer"}, fold: true},
	{kind: "basic_auth_url", re: regexp.MustCompile(`(\b[a-z][a-z0-9+.\-]*://[^\s:/@"'\[\]]+:)([^\s@/"']{3,})(@)`), keep: 1, need: []string{"://"}},
	// key = value assignments: the key survives, the value goes. A value
	// that is a reference ($VAR, ${...}, <placeholder>, {{...}}) or a
	// redaction already is left alone.
	{kind: "credential_assignment", re: regexp.MustCompile(`(?i)(\b(?:password|passwd|pwd|passphrase|secret|client_secret|token|access_token|auth_token|refresh_token|api_key|apikey|api-key|private_key|wandb_api_key|anthropic_api_key|openai_api_key)\b["']?\s*[:=]\s*["']?)([^\s"'$<{\[&;,)][^\s"'&;,)]{3,})`), keep: 1, skip: notALiteral, need: []string{"pass", "pwd", "secret", "token", "api", "private_key"}, fold: true},
}

// typeWords are values of "password: string"-style declarations.
var typeWords = map[string]bool{
	"string": true, "str": true, "int": true, "bool": true, "boolean": true, "number": true,
	"null": true, "none": true, "nil": true, "true": true, "false": true, "undefined": true,
	"any": true, "optional": true, "bytes": true, "secretstr": true, "required": true,
}

// referenceRe matches values that name where a secret comes from rather
// than the secret: calls, env lookups, config paths.
var referenceRe = regexp.MustCompile(`^(?:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*[(\[]|(?:process\.env|os\.environ|os\.getenv|env|config|settings|self|this|args|params|opts|options|req|request)\b[.\[(])`)

func notALiteral(v string) bool {
	return typeWords[strings.ToLower(strings.TrimRight(v, ".?!"))] || referenceRe.MatchString(v)
}

const redactedMark = "[REDACTED:"

// redactor applies Privacy to strings and counts what it replaced.
type redactor struct {
	p     Privacy
	count int64
}

// text redacts secrets in s.
func (r *redactor) text(s string) string {
	if r.p.NoRedact || s == "" {
		return s
	}
	if len(s) >= memoMin {
		if e, ok := redactMemo.get(s); ok {
			r.count += e.n
			return e.out
		}
		before := r.count
		out := r.scan(s, false)
		redactMemo.put(s, memoEntry{out: out, n: r.count - before})
		return out
	}
	return r.scan(s, false)
}

// scan applies every rule that may match s (every rule with all: the
// reference the tests hold the prefilter to).
func (r *redactor) scan(s string, all bool) string {
	lower, ascii := "", true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		lower = strings.ToLower(s)
	}
	for i := range secretRules {
		rule := &secretRules[i]
		if (!all && !rule.mayMatch(s, lower, ascii)) || !rule.re.MatchString(s) {
			continue
		}
		before := s
		s = rule.re.ReplaceAllStringFunc(s, func(m string) string {
			if strings.HasPrefix(m, redactedMark) {
				return m
			}
			if rule.keep == 0 {
				r.count++
				return redactedMark + rule.kind + "]"
			}
			sub := rule.re.FindStringSubmatch(m)
			if len(sub) <= rule.keep+1 {
				return m
			}
			val := sub[rule.keep+1]
			if strings.HasPrefix(val, redactedMark) || (rule.skip != nil && rule.skip(val)) {
				return m
			}
			r.count++
			rest := strings.Join(sub[rule.keep+2:], "")
			return strings.Join(sub[1:rule.keep+1], "") + redactedMark + rule.kind + "]" + rest
		})
		if ascii && s != before { // the marks are ASCII: later rules look at the new text
			lower = strings.ToLower(s)
		}
	}
	return s
}

// memoMin is the length from which redaction results are remembered: the
// live daemon rebuilds a session's spans at every hook event, and long
// texts (system prompts, tool results, history) come back every time.
const memoMin = 512

// redactMemo remembers the redaction of long texts, up to memoMaxBytes of
// input; when full it starts over.
var redactMemo = &memo{m: map[string]memoEntry{}}

const memoMaxBytes = 32 << 20

type memoEntry struct {
	out string
	n   int64 // replacements made
}

type memo struct {
	mu    sync.Mutex
	m     map[string]memoEntry
	bytes int
}

func (m *memo) get(s string) (memoEntry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[s]
	return e, ok
}

func (m *memo) put(s string, e memoEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bytes+len(s) > memoMaxBytes {
		m.m, m.bytes = map[string]memoEntry{}, 0
	}
	if _, ok := m.m[s]; !ok {
		m.m[s] = e
		m.bytes += len(s)
	}
}

// RedactText applies default redaction to one string (for callers outside
// span building, e.g. hook-time content).
func RedactText(s string) string {
	r := redactor{}
	return r.text(s)
}

// json redacts every string inside a JSON value. The value is re-encoded
// only when something was replaced, so untouched values keep their bytes.
func (r *redactor) json(raw json.RawMessage) json.RawMessage {
	if r.p.NoRedact || len(raw) == 0 {
		return raw
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return json.RawMessage(r.text(string(raw)))
	}
	before := r.count
	v = r.walk(v)
	if r.count == before {
		return raw
	}
	out, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return out
}

func (r *redactor) walk(v any) any {
	switch x := v.(type) {
	case string:
		return r.text(x)
	case []any:
		for i := range x {
			x[i] = r.walk(x[i])
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = r.walk(e)
		}
		return x
	default:
		return v
	}
}
