package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weavetrace/weave/server/api"
	"github.com/weavetrace/weave/server/export"
	"github.com/weavetrace/weave/server/serve"
	"github.com/weavetrace/weave/server/store/sqlite"
	"github.com/weavetrace/weave/server/store/storetest"
)

// exportData writes two conversations of project p/x into an embedded
// store under a new data directory and returns it with the span count.
func exportData(t *testing.T) (string, int) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, serve.DBFileName), sqlite.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	var spans = storetest.Flatten(storetest.BuildConversation(storetest.ConversationSpec{ProjectID: "p/x", ConversationID: "c1", Start: storetest.T0, Turns: 40, CallsPerTurn: 3, Subagent: true}))
	spans = append(spans, storetest.Flatten(storetest.BuildConversation(storetest.ConversationSpec{ProjectID: "p/x", ConversationID: "c2", Start: storetest.T0, Turns: 2, CallsPerTurn: 1}))...)
	if err := st.WriteSpans(context.Background(), spans); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, len(spans)
}

func TestExportCommand(t *testing.T) {
	dir, n := exportData(t)
	out := filepath.Join(t.TempDir(), "p.jsonl")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"export", "--data-dir", dir, "--project", "p/x", "-o", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("export: %d %s", code, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Count(b, []byte("\n")); got != n {
		t.Errorf("%d lines, want %d span rows", got, n)
	}
	if !strings.Contains(stderr.String(), "exported "+itoa(n)+" spans") {
		t.Errorf("progress: %q, want the span count", stderr.String())
	}

	// ATIF of one conversation, to stdout.
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"export", "--data-dir", dir, "--project", "p/x", "--format", "atif", "--conversation", "c2"}, &stdout, &stderr); code != 0 {
		t.Fatalf("export atif: %d %s", code, stderr.String())
	}
	if err := export.ValidateATIF(bytes.TrimSpace(stdout.Bytes())); err != nil || !strings.Contains(stdout.String(), `"session_id":"c2"`) {
		t.Errorf("atif: %v in %.200s", err, stdout.String())
	}

	// Through a running server: the same bytes as from the store.
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, serve.DBFileName), sqlite.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var direct bytes.Buffer
	x, _ := export.NewWriter(&direct, export.FormatOTLP)
	if err := x.Run(context.Background(), st, export.Selection{ProjectID: "p/x"}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Settings{Store: st}))
	defer srv.Close()
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"export", "--server", srv.URL, "--project", "p/x", "--format", "otlp"}, &stdout, &stderr); code != 0 {
		t.Fatalf("export --server: %d %s", code, stderr.String())
	}
	if !bytes.Equal(stdout.Bytes(), direct.Bytes()) {
		t.Errorf("export through the server: %d bytes, want the store's %d", stdout.Len(), direct.Len())
	}
	// The store is held by this process: reading it directly says to
	// go through the server.
	stderr.Reset()
	if code := run([]string{"export", "--data-dir", dir, "--project", "p/x"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "--server") {
		t.Errorf("export of a held store: %d %q, want 1 and a hint at --server", code, stderr.String())
	}
}

// TestExportCommandFailureLeavesNoFile: an export that fails (a server
// error, a cut stream) leaves no file behind, not even a partial one.
func TestExportCommandFailureLeavesNoFile(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.RawQuery, "fail") {
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": "permission_denied", "message": "no"}})
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("{\"a\":1}\n{\"b\":"))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	defer srv.Close()
	for _, url := range []string{srv.URL + "/?fail", srv.URL} {
		out := filepath.Join(t.TempDir(), "x.jsonl")
		var stdout, stderr bytes.Buffer
		code := run([]string{"export", "--server", url, "--project", "p/x", "-o", out}, &stdout, &stderr)
		entries, _ := os.ReadDir(filepath.Dir(out))
		if code != 1 || len(entries) != 0 {
			t.Errorf("%s: code %d, files %v, stderr %q; want 1 and no file", url, code, entries, stderr.String())
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
