package ingest

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzTracesHandler posts arbitrary bodies in both encodings (seeded with
// the corpus' real bodies). The handler must answer with a known status,
// never panic, and store only what it acknowledged.
func FuzzTracesHandler(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join(corpusDir, "*", "*"))
	for _, p := range paths {
		switch {
		case strings.HasSuffix(p, ".decoded.json"):
		case strings.HasSuffix(p, ".pb"):
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b, false, strings.Contains(p, ".logs."))
			}
		case strings.HasSuffix(p, ".json"):
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b, true, strings.Contains(p, ".logs."))
			}
		}
	}
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","startTimeUnixNano":"1","attributes":[{"key":"gen_ai.input.messages","value":{"stringValue":"[{"}}]}]}]}]}`), true, false)
	f.Fuzz(func(t *testing.T, body []byte, isJSON, isLogs bool) {
		w := newMemWriter()
		h, _ := newTestHandler(t, w, nil)
		ct := ctProto
		if isJSON {
			ct = ctJSON
		}
		path := "/v1/traces"
		if isLogs {
			path = "/v1/logs"
		}
		rec := post(t, mux(h), path, ct, "", body)
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest:
			if len(w.all()) != 0 {
				t.Fatalf("400 but %d spans stored", len(w.all()))
			}
		default:
			t.Fatalf("status %d (%s), want 200 or 400", rec.Code, rec.Body.String())
		}
	})
}
