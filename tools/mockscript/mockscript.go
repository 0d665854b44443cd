// Package mockscript is what the scripted model mocks (tools/mockopenai,
// tools/mockgemini) share: picking the step that answers a request,
// reporting the steps no request took, the request log, durations read
// from JSON and streaming text word by word.
package mockscript

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Script picks steps for requests. A request is answered by the first
// unused step whose match occurs in the request's newest input, else by
// the first unused step without one (so the answers of parallel agents do
// not depend on their order), else by none.
type Script struct {
	mu      sync.Mutex
	matches []string
	used    []bool
	seq     int
	log     io.Writer
}

// New returns a script of steps with these match strings ("" fits any
// request); log (may be nil) gets one JSON line per request.
func New(matches []string, log io.Writer) *Script {
	return &Script{matches: matches, used: make([]bool, len(matches)), log: log}
}

// Take marks and returns the index of the step answering a request whose
// newest input is last; -1 when no step is left for it.
func (s *Script) Take(last string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, m := range s.matches {
		if !s.used[i] && m != "" && strings.Contains(last, m) {
			s.used[i] = true
			return i
		}
	}
	for i, m := range s.matches {
		if !s.used[i] && m == "" {
			s.used[i] = true
			return i
		}
	}
	return -1
}

// Unused returns the indexes of the steps no request has taken.
func (s *Script) Unused() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for i, u := range s.used {
		if !u {
			out = append(out, i)
		}
	}
	return out
}

// Record numbers a request and logs it as one JSON line: its time, method,
// path, query, the headers named, and its body (as JSON when it is).
func (s *Script) Record(r *http.Request, body []byte, headers ...string) (seq int) {
	s.mu.Lock()
	s.seq++
	seq = s.seq
	s.mu.Unlock()
	if s.log == nil {
		return seq
	}
	hdr := map[string]string{}
	for _, k := range headers {
		if v := r.Header.Get(k); v != "" {
			hdr[k] = v
		}
	}
	line := map[string]any{"seq": seq, "time": time.Now().UTC().Format(time.RFC3339Nano), "method": r.Method, "path": r.URL.Path, "headers": hdr}
	if r.URL.RawQuery != "" {
		line["query"] = r.URL.RawQuery
	}
	if json.Valid(body) {
		line["body"] = json.RawMessage(body)
	} else if len(body) > 0 {
		line["body_text"] = string(body)
	}
	b, _ := json.Marshal(line)
	s.mu.Lock()
	s.log.Write(append(b, '\n'))
	s.mu.Unlock()
	return seq
}

// Duration is a time.Duration that reads "1.5s" from JSON.
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// SplitWords cuts text into the chunks a stream sends: each word with the
// space before the next.
func SplitWords(s string) []string {
	var out []string
	for len(s) > 0 {
		i := strings.IndexByte(s[1:], ' ')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}
