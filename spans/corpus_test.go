package spans

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

// corpusCase is one case of testdata/secrets (see its README.md).
type corpusCase struct {
	file, kind, name string // kind: secret, same or miss
	json             bool   // redact as a JSON value (tool arguments)
	in, want, why    string
}

func (c corpusCase) String() string { return c.file + ": " + c.kind + " " + c.name }

// loadCorpus reads every case of testdata/secrets/*.txtar.
func loadCorpus(tb testing.TB) []corpusCase {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "secrets", "*.txtar"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no corpus files: %v", err)
	}
	var out []corpusCase
	for _, f := range files {
		ar, err := txtar.ParseFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for i := 0; i < len(ar.Files); i++ {
			kind, name, _ := strings.Cut(ar.Files[i].Name, " ")
			c := corpusCase{file: filepath.Base(f), kind: kind, in: string(ar.Files[i].Data)}
			if rest, ok := strings.CutPrefix(name, "json "); ok {
				c.json, name = true, rest
			}
			c.name = name
			next := func(want string) string {
				if i+1 >= len(ar.Files) || ar.Files[i+1].Name != want {
					tb.Fatalf("%s: %s %q: want a %q file after it", f, kind, name, want)
				}
				i++
				return string(ar.Files[i].Data)
			}
			switch kind {
			case "secret":
				c.want = next("want")
			case "miss":
				c.why = next("why")
				c.want = c.in
			case "same":
				c.want = c.in
			default:
				tb.Fatalf("%s: file %q: want secret, same or miss", f, ar.Files[i].Name)
			}
			out = append(out, c)
		}
	}
	return out
}

// redactCase redacts c's input as the daemon would: as text, or as a JSON
// value (tool arguments, re-encoded when something was replaced).
func redactCase(c corpusCase, p Privacy) (string, int64) {
	r := redactor{p: p}
	if c.json {
		in := strings.TrimSuffix(c.in, "\n")
		return string(r.json(json.RawMessage(in))) + "\n", r.count
	}
	return r.text(c.in), r.count
}

var anyMark = regexp.MustCompile(`\[REDACTED:[^\]]*\]`)

// corpusRates runs the corpus and returns the figures the test reports.
// A secret counts as a hit when its output equals want, whatever kind each
// mark names (so older rules, with other kind names, can be measured).
type corpusRates struct {
	secrets, hits, misses, same, changed int
}

func (r corpusRates) String() string {
	return fmt.Sprintf("hit rate %d/%d = %.1f%% (known misses %d); false positives %d/%d = %.1f%%",
		r.hits, r.secrets, 100*float64(r.hits)/float64(r.secrets), r.misses,
		r.changed, r.same, 100*float64(r.changed)/float64(r.same))
}

func measureCorpus(cases []corpusCase, p Privacy) corpusRates {
	var r corpusRates
	for _, c := range cases {
		got, _ := redactCase(c, p)
		switch c.kind {
		case "secret":
			r.secrets++
			if anyMark.ReplaceAllString(got, "[REDACTED]") == anyMark.ReplaceAllString(c.want, "[REDACTED]") {
				r.hits++
			}
		case "miss":
			r.secrets++
			r.misses++
		case "same":
			r.same++
			if got != c.in {
				r.changed++
			}
		}
	}
	return r
}

// TestRedactCorpus: every secret of the corpus is redacted exactly as its
// want says, every look-alike comes out unchanged, every known miss is
// still missed; redacting twice changes nothing. It logs the hit rate and
// the false-positive rate (-v). With -update it rewrites the wants.
func TestRedactCorpus(t *testing.T) {
	cases := loadCorpus(t)
	rates := measureCorpus(cases, Privacy{})
	t.Logf("corpus: %d secret shapes (%d known misses), %d look-alikes", rates.secrets, rates.misses, rates.same)
	t.Logf("redaction: %s", rates)
	if updating() {
		updateCorpus(t, cases)
		return
	}
	for _, c := range cases {
		t.Run(c.String(), func(t *testing.T) {
			got, n := redactCase(c, Privacy{})
			if got != c.want {
				t.Fatalf("redact(%q)\n got %q\nwant %q", c.in, got, c.want)
			}
			if (c.kind == "secret") != (n > 0) {
				t.Errorf("count = %d for a %s case", n, c.kind)
			}
			if again, _ := redactCase(corpusCase{json: c.json, in: got}, Privacy{}); again != got {
				t.Errorf("redacting twice changed\n%q\nto\n%q", got, again)
			}
		})
	}
	if rates.secrets < 60 || rates.same < 60 {
		t.Errorf("corpus: %d secrets, %d look-alikes: want at least 60 of each", rates.secrets, rates.same)
	}
}

// updating reports -update: the flag is defined by the external tests
// (captures_test.go), which share the test binary.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// updateCorpus rewrites each secret's want from the current rules.
func updateCorpus(t *testing.T, cases []corpusCase) {
	t.Helper()
	wants := map[string]map[string]string{} // file → case name → output
	for _, c := range cases {
		if c.kind != "secret" {
			continue
		}
		if wants[c.file] == nil {
			wants[c.file] = map[string]string{}
		}
		got, _ := redactCase(c, Privacy{})
		wants[c.file][c.name] = got
	}
	for file, byName := range wants {
		path := filepath.Join("testdata", "secrets", file)
		ar, err := txtar.ParseFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(ar.Files); i++ {
			kind, name, _ := strings.Cut(ar.Files[i].Name, " ")
			name = strings.TrimPrefix(name, "json ")
			if kind == "secret" && ar.Files[i+1].Name == "want" {
				ar.Files[i+1].Data = []byte(byName[name])
			}
		}
		if err := os.WriteFile(path, txtar.Format(ar), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkRedactCorpus reports the corpus figures as metrics (hit-% and
// fp-%) beside the time to redact the whole corpus.
func BenchmarkRedactCorpus(b *testing.B) {
	cases := loadCorpus(b)
	var size int64
	for _, c := range cases {
		size += int64(len(c.in))
	}
	b.SetBytes(size)
	var rates corpusRates
	for b.Loop() {
		rates = measureCorpus(cases, Privacy{})
	}
	b.ReportMetric(100*float64(rates.hits)/float64(rates.secrets), "hit-%")
	b.ReportMetric(100*float64(rates.changed)/float64(rates.same), "fp-%")
}

// BenchmarkRedact measures redaction without its memo on what the daemon
// really redacts: every string of the recorded Claude Code transcripts and
// hook payloads under testdata (prompts, tool inputs and results, system
// reminders), and the longest of them alone.
func BenchmarkRedact(b *testing.B) {
	texts := transcriptStrings(b)
	var size int64
	longest := ""
	for _, s := range texts {
		size += int64(len(s))
		if len(s) > len(longest) {
			longest = s
		}
	}
	b.Run("transcripts", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			r := redactor{}
			for _, s := range texts {
				r.scan(s, false)
			}
		}
	})
	b.Run("longest", func(b *testing.B) {
		b.SetBytes(int64(len(longest)))
		for b.Loop() {
			r := redactor{}
			r.scan(longest, false)
		}
	})
	b.Run("memo", func(b *testing.B) {
		b.SetBytes(int64(len(longest)))
		r := redactor{}
		r.text(longest)
		for b.Loop() {
			r.text(longest)
		}
	})
}

// transcriptStrings returns the distinct strings of at least 16 bytes in
// every JSON line under testdata.
func transcriptStrings(tb testing.TB) []string {
	tb.Helper()
	seen := map[string]bool{}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			if len(x) >= 16 && !seen[x] {
				seen[x] = true
				out = append(out, x)
			}
			// Tool inputs and results often hold JSON of their own.
			var inner any
			if len(x) > 1 && (x[0] == '{' || x[0] == '[') && json.Unmarshal([]byte(x), &inner) == nil {
				walk(inner)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	err := filepath.WalkDir("testdata", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".jsonl") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			var v any
			if json.Unmarshal(line, &v) == nil {
				walk(v)
			}
		}
		return nil
	})
	if err != nil || len(out) == 0 {
		tb.Fatalf("no transcript strings: %v", err)
	}
	return out
}
