package spans

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Privacy controls what content leaves the machine.
type Privacy struct {
	// OmitContent leaves message, prompt, tool argument/result, system
	// prompt and compaction summary content out of every span entirely.
	OmitContent bool
	// NoRedact turns secret redaction off (it is on by default).
	NoRedact bool
	// Redactor holds the rules; nil: DefaultRedactor (the built-in rules).
	Redactor *Redactor
}

const redactedMark = "[REDACTED:"

// redactor applies Privacy to strings and counts what it replaced.
type redactor struct {
	p     Privacy
	count int64
}

func (r *redactor) rules() *Redactor {
	if r.p.Redactor != nil {
		return r.p.Redactor
	}
	return DefaultRedactor()
}

// text redacts secrets in s.
func (r *redactor) text(s string) string {
	if r.p.NoRedact || s == "" {
		return s
	}
	x := r.rules()
	if len(s) >= memoMin {
		if e, ok := x.memo.get(s); ok {
			r.count += e.n
			return e.out
		}
		before := r.count
		out := x.scan(r, s, false)
		x.memo.put(s, memoEntry{out: out, n: r.count - before})
		return out
	}
	return x.scan(r, s, false)
}

// scan applies every rule that may match s (every rule with all: the
// reference the tests hold the prefilter to).
func (r *redactor) scan(s string, all bool) string { return r.rules().scan(r, s, all) }

// RedactText applies the built-in rules to one string.
func RedactText(s string) string { return DefaultRedactor().Redact(s) }

// Redact applies p to one string outside span building: s unchanged with
// NoRedact, else its secrets masked.
func (p Privacy) Redact(s string) string {
	r := redactor{p: p}
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

// field redacts the string value of a JSON object member: the whole value
// when the key names a credential ({"api_key": "..."}); a header's value
// as the header line it stands for ({"Authorization": "..."}); else as
// text.
func (r *redactor) field(k, v string) string {
	if r.secretField(k, v) {
		r.count++
		return redactedMark + kindAssignment + "]"
	}
	switch strings.ToLower(k) {
	case "authorization", "proxy-authorization", "cookie", "set-cookie":
		line := k + ": "
		if out := r.text(line + v); strings.HasPrefix(out, line) {
			return out[len(line):]
		}
	}
	return r.text(v)
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
			if str, ok := e.(string); ok {
				x[k] = r.field(k, str)
				continue
			}
			x[k] = r.walk(e)
		}
		return x
	default:
		return v
	}
}
