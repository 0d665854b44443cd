package hookproto

import (
	"bytes"
	"encoding/json"
)

// scanObject walks the top-level members of the JSON object that b starts
// with (after optional white space), calling fn with each member's raw key
// (between the quotes, escapes left as they are) and raw value, in order,
// until fn returns false. It stops silently at the first member that is not
// complete within b, which is what makes it useful on a prefix of a payload,
// and it checks only enough syntax to find where values end: callers
// validate values they use. It never allocates.
func scanObject(b []byte, fn func(key, val []byte) bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != '"' {
			return // '}' (end of object), cut short, or malformed
		}
		kEnd := skipString(b, i)
		if kEnd < 0 {
			return
		}
		key := b[i+1 : kEnd-1]
		i = skipSpace(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return
		}
		i = skipSpace(b, i+1)
		vEnd := skipValue(b, i)
		if vEnd < 0 {
			return
		}
		if !fn(key, b[i:vEnd]) {
			return
		}
		i = skipSpace(b, vEnd)
		if i >= len(b) || b[i] != ',' {
			return
		}
		i++
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i] ('"'),
// or -1 if it does not end within b.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index just past the value starting at b[i], or -1
// if it does not end within b or does not start like a value. A literal
// (number, true, false, null) running to the end of b counts as cut short.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end := skipString(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	case ',', '}', ']', ':':
		return -1
	default:
		for j := i; j < len(b); j++ {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if j == i {
					return -1
				}
				return j
			}
		}
		return -1
	}
}

// keyIs reports whether the raw key (as scanObject yields it) names want.
func keyIs(raw []byte, want string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == want
	}
	var s string
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	return json.Unmarshal(q, &s) == nil && s == want
}

// TranscriptPath finds the top-level "transcript_path" string among the
// first ScanWindow bytes of a hook payload without parsing the rest. It is
// what weave-hook uses to stat the transcript at receipt.
func TranscriptPath(payload []byte) (string, bool) { return TopLevelString(payload, "transcript_path") }

// TopLevelString finds the top-level string member key among the first
// ScanWindow bytes of payload, without parsing the rest. It reports false
// when the member is absent from the window, not a string, or empty.
func TopLevelString(payload []byte, key string) (string, bool) {
	if len(payload) > ScanWindow {
		payload = payload[:ScanWindow]
	}
	var v string
	found := false
	scanObject(payload, func(k, val []byte) bool {
		if !keyIs(k, key) {
			return true
		}
		found = len(val) > 0 && val[0] == '"' && json.Unmarshal(val, &v) == nil
		return false
	})
	return v, found && v != ""
}
