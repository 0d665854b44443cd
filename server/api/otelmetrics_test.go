package api

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/normalize"
	"github.com/weavetrace/weave/server/store/sqlite"
)

// TestMetricsEndpointsSQLite: points written to SQLite read back through
// /genai/metrics/list and /genai/metrics/query, grouped, filtered and
// bucketed; bad queries are 400s naming the problem, an unknown metric a
// 404.
func TestMetricsEndpointsSQLite(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "weave.db"), sqlite.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	point := func(min int, model_, user string, v float64) model.MetricPoint {
		p := model.MetricPoint{ProjectID: project, Name: "claude_code.cost.usage", Unit: "USD", Kind: model.MetricSum, Monotonic: true,
			Attributes: map[string]string{"model": model_, "user.email": user}, Resource: map[string]string{"service.name": "claude-code"},
			Time: base.Add(time.Duration(min) * time.Minute), Value: v, V: v, VMin: v, VMax: v}
		p.SeriesID = normalize.SeriesID(p)
		return p
	}
	if err := st.WriteMetricPoints(ctx, []model.MetricPoint{
		point(1, "opus", "a@x", 1), point(2, "opus", "b@x", 2), point(61, "opus", "a@x", 4), point(62, "haiku", "a@x", 0.5),
	}); err != nil {
		t.Fatal(err)
	}
	h := New(Settings{Store: st})

	code, out := do(t, h, http.MethodPost, "/genai/metrics/list", `{"project_id":"local/default"}`)
	if code != http.StatusOK {
		t.Fatalf("list: %d %v", code, out)
	}
	ms := out["metrics"].([]any)
	if len(ms) != 1 || ms[0].(map[string]any)["name"] != "claude_code.cost.usage" || ms[0].(map[string]any)["series"] != 3.0 {
		t.Errorf("list: %v, want the one metric with 3 series", ms)
	}

	code, out = do(t, h, http.MethodPost, "/genai/metrics/query",
		`{"project_id":"local/default","name":"claude_code.cost.usage","group_by":["model"],"bucket_seconds":3600,
		  "filters":[{"key":"user.email","values":["a@x"]}]}`)
	if code != http.StatusOK {
		t.Fatalf("query: %d %v", code, out)
	}
	b, _ := json.Marshal(out["series"])
	want := `[{"buckets":[{"points":1,"start":"2026-05-01T10:00:00Z","value":1},{"points":1,"start":"2026-05-01T11:00:00Z","value":4}],"group":{"model":"opus"},"points":2,"total":5},` +
		`{"buckets":[{"points":1,"start":"2026-05-01T11:00:00Z","value":0.5}],"group":{"model":"haiku"},"points":1,"total":0.5}]`
	if string(b) != want {
		t.Errorf("query series:\n got %s\nwant %s", b, want)
	}
	if out["bucket_seconds"] != 3600.0 || out["aggregation"] != "sum" || out["total_series"] != 2.0 {
		t.Errorf("query answer %v: want 3600 s buckets, sum, 2 series", out)
	}

	code, out = do(t, h, http.MethodPost, "/genai/metrics/query", `{"project_id":"local/default","name":"nope"}`)
	if c, _, _ := errOf(t, out); code != http.StatusNotFound || c != CodeNotFound {
		t.Errorf("unknown metric: %d %v, want 404", code, out)
	}
	for _, body := range []string{
		`{"project_id":"local/default","name":"x","group_by":["a","b","c","d","e"]}`,
		`{"project_id":"local/default","name":"x","aggregation":"p99"}`,
		`{"project_id":"local/default","name":"x","filters":[{"key":"a","values":[]}]}`,
		`{"project_id":"local/default"}`,
		`{"project_id":"local/default","name":"x","limit":5000}`,
	} {
		code, out := do(t, h, http.MethodPost, "/genai/metrics/query", body)
		if c, _, _ := errOf(t, out); code != http.StatusBadRequest || c != CodeInvalidArgument {
			t.Errorf("%s: %d %v, want 400", body, code, out)
		}
	}
}

// TestMetricsUnimplemented: a store without metrics answers 501.
func TestMetricsUnimplemented(t *testing.T) {
	h := New(Settings{Store: struct{ Backend }{newFake()}})
	code, out := do(t, h, http.MethodPost, "/genai/metrics/list", `{"project_id":"p/x"}`)
	if c, _, _ := errOf(t, out); code != http.StatusNotImplemented || c != CodeUnimplemented {
		t.Errorf("got %d %v, want 501 unimplemented", code, out)
	}
}
