package normalize

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/pricing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// corpusDir holds real instrumentation output (see its README).
const corpusDir = "testdata/corpus"

const testProject = "default/corpus"

type corpusCase struct {
	lib, name string
	dir       string
}

func corpusCases(t testing.TB) []corpusCase {
	t.Helper()
	libs, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatalf("corpus missing: %v", err)
	}
	var out []corpusCase
	for _, lib := range libs {
		if !lib.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(corpusDir, lib.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			n := f.Name()
			if !strings.HasSuffix(n, ".pb") || strings.HasSuffix(n, ".logs.pb") {
				continue
			}
			out = append(out, corpusCase{lib: lib.Name(), name: strings.TrimSuffix(n, ".pb"), dir: filepath.Join(corpusDir, lib.Name())})
		}
	}
	return out
}

func readTraces(t testing.TB, path string) ptrace.Traces {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	req := ptraceotlp.NewExportRequest()
	if strings.HasSuffix(path, ".pb") {
		err = req.UnmarshalProto(body)
	} else {
		err = req.UnmarshalJSON(body)
	}
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return req.Traces()
}

// logEvents reads the case's log records, if any, as extra events.
func logEvents(t testing.TB, c corpusCase, ext string) map[SpanRef][]model.Event {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(c.dir, c.name+".logs"+ext))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	req := plogotlp.NewExportRequest()
	if ext == ".pb" {
		err = req.UnmarshalProto(body)
	} else {
		err = req.UnmarshalJSON(body)
	}
	if err != nil {
		t.Fatalf("decode logs: %v", err)
	}
	out := map[SpanRef][]model.Event{}
	for _, rl := range req.Logs().ResourceLogs().All() {
		evs, _ := EventsFromLogs(rl, testProject)
		for _, e := range evs {
			out[e.Ref] = append(out[e.Ref], e.Event)
		}
	}
	return out
}

// testPrices is the built-in price table: goldens show what it gives.
var testPrices = pricing.Default()

func normalizeAll(t testing.TB, td ptrace.Traces, extra map[SpanRef][]model.Event) ([]model.Span, []Warning) {
	t.Helper()
	var spans []model.Span
	var warns []Warning
	for _, rs := range td.ResourceSpans().All() {
		s, w := Normalize(rs, Options{DefaultProject: testProject, ExtraEvents: extra, Prices: testPrices})
		spans = append(spans, s...)
		warns = append(warns, w...)
	}
	return spans, warns
}

// goldenRow is a span as the golden files show it: everything but the raw
// span (checked by TestRawSpanRoundTrip) and the resource attributes.
func goldenRows(spans []model.Span) []model.Span {
	out := make([]model.Span, len(spans))
	for i, s := range spans {
		s.RawSpan = nil
		s.ResourceAttrs = nil
		out[i] = s
	}
	return out
}

func TestGoldenCorpus(t *testing.T) {
	for _, c := range corpusCases(t) {
		t.Run(c.lib+"/"+c.name, func(t *testing.T) {
			td := readTraces(t, filepath.Join(c.dir, c.name+".pb"))
			spans, warns := normalizeAll(t, td, logEvents(t, c, ".pb"))
			for _, w := range warns {
				if w.Rejected {
					t.Errorf("rejected span: %v", w)
				}
			}
			if len(spans) != td.SpanCount() {
				t.Errorf("got %d rows, want %d (one per span)", len(spans), td.SpanCount())
			}
			got, err := json.MarshalIndent(goldenRows(spans), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", c.lib, c.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("normalized rows differ from %s (run with -update and review the diff)", path)
			}
		})
	}
}

func TestProtobufAndJSONNormalizeIdentically(t *testing.T) {
	for _, c := range corpusCases(t) {
		t.Run(c.lib+"/"+c.name, func(t *testing.T) {
			pb, _ := normalizeAll(t, readTraces(t, filepath.Join(c.dir, c.name+".pb")), logEvents(t, c, ".pb"))
			js, _ := normalizeAll(t, readTraces(t, filepath.Join(c.dir, c.name+".json")), logEvents(t, c, ".json"))
			if len(pb) != len(js) {
				t.Fatalf("got %d rows from .pb and %d from .json, want equal", len(pb), len(js))
			}
			for i := range pb {
				a, _ := json.Marshal(pb[i])
				b, _ := json.Marshal(js[i])
				if !bytes.Equal(a, b) {
					t.Errorf("span %s: .pb and .json rows differ:\npb:   %s\njson: %s", pb[i].SpanID, a, b)
				}
			}
		})
	}
}

func TestRawSpanRoundTrip(t *testing.T) {
	for _, c := range corpusCases(t) {
		t.Run(c.lib+"/"+c.name, func(t *testing.T) {
			spans, _ := normalizeAll(t, readTraces(t, filepath.Join(c.dir, c.name+".pb")), logEvents(t, c, ".pb"))
			for _, s := range spans {
				again, _, err := Renormalize(s, nil, Options{Prices: testPrices})
				if err != nil {
					t.Fatalf("Renormalize(%s): %v", s.SpanID, err)
				}
				if !reflect.DeepEqual(jsonOf(t, again), jsonOf(t, s)) {
					t.Errorf("span %s: renormalized row differs:\ngot:  %s\nwant: %s", s.SpanID, jsonOf(t, again), jsonOf(t, s))
				}
			}
		})
	}
}

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
