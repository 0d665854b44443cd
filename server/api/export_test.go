package api

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/auth"
	"github.com/weavetrace/weave/server/export"
	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// exportFake is a fake with n spans in project p/x (and one in p/y).
func exportFake(n int) *fakeBackend {
	f := seededFake()
	base := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	for i := range n {
		f.scanned = append(f.scanned, model.Span{
			ProjectID: "p/x", TraceID: fmt.Sprintf("%032x", i/100+1), SpanID: fmt.Sprintf("%016x", i+1),
			SpanName: "chat m", OperationName: model.OpChat, StartedAt: base.Add(time.Duration(i) * time.Second),
			StatusCode: model.StatusUnset, SpanKind: model.KindClient,
		})
	}
	f.scanned = append(f.scanned, model.Span{ProjectID: "p/y", TraceID: traceHex, SpanID: spanHex, StartedAt: base})
	return f
}

// exportReq posts an export and returns the answer.
func exportReq(t *testing.T, h http.Handler, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/genai/export", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// lines decodes an export's JSON lines (gunzipped when it says gzip).
func lines(t *testing.T, w *httptest.ResponseRecorder) []map[string]any {
	t.Helper()
	var body io.Reader = w.Body
	if w.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(w.Body)
		if err != nil {
			t.Fatal(err)
		}
		body = zr
	}
	var out []map[string]any
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d: %v", len(out)+1, err)
		}
		out = append(out, m)
	}
	return out
}

func TestExportProject(t *testing.T) {
	f := exportFake(1234)
	h := New(Settings{Store: f})
	w := exportReq(t, h, `{"project_id":"p/x","from":"2026-05-01T00:00:00Z"}`)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/x-ndjson; charset=utf-8" {
		t.Fatalf("got %d %q, want 200 ndjson", w.Code, w.Header().Get("Content-Type"))
	}
	rows := lines(t, w)
	if len(rows) != 1234 || rows[0]["span_id"] != fmt.Sprintf("%016x", 1) || rows[1233]["project_id"] != "p/x" {
		t.Fatalf("got %d rows (first %v), want the project's 1234 span rows in order", len(rows), rows[0]["span_id"])
	}
	if f.scanQuery.ProjectID != "p/x" || !f.scanQuery.Range.From.Equal(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("scan query %+v, want p/x from the request's from", f.scanQuery)
	}

	// OTLP: one request per batch of at most store.ScanBatch spans, gzip.
	w = exportReq(t, h, `{"project_id":"p/x","format":"otlp"}`, "Accept-Encoding", "br, gzip")
	if w.Header().Get("Content-Encoding") != "gzip" {
		t.Errorf("Content-Encoding %q, want gzip", w.Header().Get("Content-Encoding"))
	}
	reqs := lines(t, w)
	if len(reqs) != 3 {
		t.Fatalf("got %d OTLP lines, want 3 (1234 spans in batches of %d)", len(reqs), store.ScanBatch)
	}
	spans := 0
	for _, r := range reqs {
		for _, rs := range r["resourceSpans"].([]any) {
			for _, ss := range rs.(map[string]any)["scopeSpans"].([]any) {
				spans += len(ss.(map[string]any)["spans"].([]any))
			}
		}
	}
	if spans != 1234 {
		t.Errorf("OTLP lines hold %d spans, want 1234", spans)
	}
}

func TestExportSelection(t *testing.T) {
	h := New(Settings{Store: seededFake()})
	for _, body := range []string{
		`{"project_id":"p/x","trace_ids":["` + strings.ToUpper(traceHex) + `","ffffffffffffffffffffffffffffffff"]}`,
		`{"project_id":"p/x","conversation_ids":["c1","nope"]}`,
	} {
		w := exportReq(t, h, body)
		rows := lines(t, w)
		if w.Code != http.StatusOK || len(rows) != 1 || rows[0]["span_id"] != spanHex {
			t.Errorf("%s: got %d %v, want the seeded span alone", body, w.Code, rows)
		}
	}
	// A conversation as an ATIF trajectory.
	w := exportReq(t, h, `{"project_id":"p/x","format":"atif","conversation_ids":["c1"]}`)
	doc := strings.TrimSpace(w.Body.String())
	if rows := lines(t, w); w.Code != http.StatusOK || len(rows) != 1 || rows[0]["schema_version"] != "ATIF-v1.4" || rows[0]["session_id"] != "c1" {
		t.Errorf("atif: got %d %v, want one trajectory of c1", w.Code, rows)
	} else if err := export.ValidateATIF([]byte(doc)); err != nil {
		t.Errorf("atif: %v", err)
	}
	// Nothing selected: 200, empty.
	if w := exportReq(t, h, `{"project_id":"p/x","conversation_ids":["nope"]}`); w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("export of nothing: got %d %q, want 200 and no line", w.Code, w.Body)
	}
}

func TestExportBadRequests(t *testing.T) {
	h := New(Settings{Store: exportFake(1)})
	for _, tt := range []struct{ body, field string }{
		{`{"project_id":"p/x","format":"csv"}`, "format"},
		{`{"project_id":"p/x","format":"atif","trace_ids":["` + traceHex + `"]}`, "trace_ids"},
		{`{"project_id":"p/x","trace_ids":["` + traceHex + `"],"conversation_ids":["c1"]}`, "trace_ids"},
		{`{"project_id":"p/x","trace_ids":["xyz"]}`, "trace_ids[0]"},
		{`{"project_id":"p/x","conversation_ids":[""]}`, "conversation_ids[0]"},
		{`{"project_id":"p/x","from":"2026-05-02T00:00:00Z","to":"2026-05-01T00:00:00Z"}`, "to"},
		{`{"project_id":"p/x","conversation_ids":[` + strings.Repeat(`"c",`, maxDeleteIDs) + `"c"]}`, "conversation_ids"},
	} {
		status, body := do(t, h, "POST", "/genai/export", tt.body)
		if status != http.StatusBadRequest {
			t.Errorf("%.80s: got %d %v, want 400", tt.body, status, body)
			continue
		}
		if _, field, _ := errOf(t, body); field != tt.field {
			t.Errorf("%.80s: field %q, want %q", tt.body, field, tt.field)
		}
	}
}

func TestExportScope(t *testing.T) {
	keys, err := auth.New([]auth.Key{{Name: "a", Key: "key-for-project-a-0001", Projects: []string{"p/x"}}})
	if err != nil {
		t.Fatal(err)
	}
	h := New(Settings{Store: exportFake(3), Keys: keys})
	if w := exportReq(t, h, `{"project_id":"p/y"}`, "wandb-api-key", "key-for-project-a-0001"); w.Code != http.StatusForbidden {
		t.Errorf("other project: got %d, want 403", w.Code)
	}
	if w := exportReq(t, h, `{"project_id":"p/x"}`); w.Code != http.StatusUnauthorized {
		t.Errorf("no key: got %d, want 401", w.Code)
	}
	w := exportReq(t, h, `{"project_id":"p/x"}`, "wandb-api-key", "key-for-project-a-0001")
	if rows := lines(t, w); w.Code != http.StatusOK || len(rows) != 3 {
		t.Errorf("own project: got %d, %d rows, want 200 and 3", w.Code, len(rows))
	}
}

// TestExportFailure: a store error before the first line is an error
// envelope; after it, the response is aborted (no clean end), so a client
// cannot take a cut export for a whole one.
func TestExportFailure(t *testing.T) {
	f := exportFake(0)
	f.err = errors.New("disk on fire")
	h := New(Settings{Store: f})
	if status, body := do(t, h, "POST", "/genai/export", `{"project_id":"p/x"}`); status != http.StatusInternalServerError {
		t.Errorf("error before any line: got %d %v, want 500", status, body)
	}

	f = exportFake(store.ScanBatch + 1)
	f.err = errors.New("disk on fire")
	srv := httptest.NewServer(New(Settings{Store: f}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/genai/export", "application/json", strings.NewReader(`{"project_id":"p/x"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || err == nil {
		t.Errorf("error mid-stream: got %d, %d bytes, read error %v; want 200 and a cut body", resp.StatusCode, len(b), err)
	}
}
