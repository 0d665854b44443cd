package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/auth"
	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

const (
	traceHex = "0123456789abcdef0123456789abcdef"
	spanHex  = "0123456789abcdef"
)

// do sends one request to h and returns the status and decoded JSON body.
func do(t *testing.T, h http.Handler, method, path, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			r.Header.Del(hdr[i])
			continue
		}
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %v: %q", method, path, err, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") && (path != "/genai/export" || w.Code != http.StatusOK) {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return w.Code, out
}

// errOf returns the envelope's code and field, failing if the body is not
// an error envelope.
func errOf(t *testing.T, body map[string]any) (code, field, msg string) {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	if !ok {
		t.Fatalf("body %v is not an error envelope", body)
	}
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	msg, _ = e["message"].(string)
	if code == "" || msg == "" {
		t.Fatalf("envelope %v lacks code or message", e)
	}
	return code, field, msg
}

// goodBodies is a valid body for every POST endpoint.
var goodBodies = map[string]string{
	"/genai/spans/query":          `{"project_id":"p/x"}`,
	"/genai/spans/trace":          `{"project_id":"p/x","trace_id":"` + traceHex + `"}`,
	"/genai/spans/aggregate":      `{"project_id":"p/x","group_by":["agent_name"]}`,
	"/genai/spans/active":         `{"project_id":"p/x"}`,
	"/genai/traces/chat":          `{"project_id":"p/x","trace_id":"` + traceHex + `"}`,
	"/genai/traces/query":         `{"project_id":"p/x"}`,
	"/genai/conversations/query":  `{"project_id":"p/x"}`,
	"/genai/conversations/chat":   `{"project_id":"p/x","conversation_id":"c1"}`,
	"/genai/agents/query":         `{"project_id":"p/x"}`,
	"/genai/agents/versions":      `{"project_id":"p/x","agent_name":"claude-code"}`,
	"/genai/agents/metrics":       `{"project_id":"p/x"}`,
	"/genai/messages/search":      `{"project_id":"p/x","query":"hello"}`,
	"/genai/metrics/list":         `{"project_id":"p/x"}`,
	"/genai/metrics/query":        `{"project_id":"p/x","name":"cost"}`,
	"/genai/annotations/upsert":   `{"project_id":"p/x","ref":"agent_span/` + spanHex + `","kind":"thumbs","value":"up"}`,
	"/genai/annotations/delete":   `{"project_id":"p/x","id":"ann1"}`,
	"/genai/annotations/query":    `{"project_id":"p/x"}`,
	"/genai/traces/delete":        `{"project_id":"p/x","trace_ids":["` + traceHex + `"]}`,
	"/genai/conversations/delete": `{"project_id":"p/x","conversation_ids":["c1"]}`,
	"/genai/export":               `{"project_id":"p/x","trace_ids":["` + traceHex + `"]}`,
}

func seededFake() *fakeBackend {
	f := newFake()
	s := model.Span{
		ProjectID: "p/x", TraceID: traceHex, SpanID: spanHex, SpanName: "invoke_agent claude-code",
		OperationName: model.OpInvokeAgent, AgentName: "claude-code", ConversationID: "c1",
		StartedAt: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC), StatusCode: model.StatusOK,
		InputMessages: []model.Message{{Role: "user", Parts: []model.Part{{Type: model.PartText, Content: "hi"}}}},
	}
	f.traceSpans[traceHex] = []model.Span{s}
	f.convSpans["c1"] = []model.Span{s}
	f.annotations["p/x\x00ann1"] = store.Annotation{ID: "ann1", ProjectID: "p/x", Ref: "agent_span/" + spanHex, Kind: "thumbs", Value: "up"}
	return f
}

func TestEveryEndpointAnswers(t *testing.T) {
	h := New(Settings{Store: seededFake()})
	if got, want := len(h.Paths()), len(goodBodies)+1; got != want {
		t.Fatalf("routes: got %d, want %d (%v)", got, want, h.Paths())
	}
	for _, path := range h.Paths() {
		t.Run(strings.TrimPrefix(path, "/genai/"), func(t *testing.T) {
			method, body := http.MethodPost, goodBodies[path]
			if path == "/genai/projects" {
				method = http.MethodGet
			}
			code, out := do(t, h, method, path, body)
			if code != http.StatusOK {
				t.Fatalf("got %d %v, want 200", code, out)
			}
			if _, isErr := out["error"]; isErr {
				t.Errorf("got an error envelope with 200: %v", out)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	h := New(Settings{Store: seededFake(), MaxBodyBytes: 4096})
	type tc struct {
		name   string
		path   string
		method string
		body   string
		hdr    []string
		status int
		code   string
		field  string
	}
	var tests []tc
	// Common failures, for every POST endpoint.
	for path := range goodBodies {
		ep := strings.TrimPrefix(path, "/genai/")
		tests = append(tests,
			tc{ep + "/empty_body", path, "POST", "", nil, 400, CodeInvalidArgument, ""},
			tc{ep + "/not_json", path, "POST", "{project_id:", nil, 400, CodeInvalidArgument, ""},
			tc{ep + "/truncated", path, "POST", `{"project_id":"p/x"`, nil, 400, CodeInvalidArgument, ""},
			tc{ep + "/array_body", path, "POST", `[1,2]`, nil, 400, CodeInvalidArgument, ""},
			tc{ep + "/trailing_data", path, "POST", `{"project_id":"p/x"} {}`, nil, 400, CodeInvalidArgument, ""},
			tc{ep + "/unknown_field", path, "POST", `{"project_id":"p/x","bogus":1}`, nil, 400, CodeInvalidArgument, "bogus"},
			tc{ep + "/project_id_wrong_type", path, "POST", `{"project_id":7}`, nil, 400, CodeInvalidArgument, "project_id"},
			tc{ep + "/missing_project_id", path, "POST", `{}`, nil, 400, CodeInvalidArgument, "project_id"},
			tc{ep + "/control_char_project", path, "POST", `{"project_id":"a\u0001b"}`, nil, 400, CodeInvalidArgument, "project_id"},
			tc{ep + "/wrong_method", path, "GET", "", nil, 405, CodeMethodNotAllowed, ""},
			tc{ep + "/form_content_type", path, "POST", goodBodies[path], []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, CodeUnsupportedMediaType, ""},
			tc{ep + "/no_content_type", path, "POST", goodBodies[path], []string{"Content-Type", ""}, 415, CodeUnsupportedMediaType, ""},
			tc{ep + "/too_large", path, "POST", `{"project_id":"` + strings.Repeat("x", 5000) + `"}`, nil, 413, CodePayloadTooLarge, ""},
		)
	}
	tests = append(tests, []tc{
		{"unknown_path", "/genai/nope", "POST", `{}`, nil, 404, CodeNotFound, ""},
		{"projects_post", "/genai/projects", "POST", `{}`, nil, 405, CodeMethodNotAllowed, ""},
		{"project_spaces", "/genai/spans/query", "POST", `{"project_id":" p/x"}`, nil, 400, CodeInvalidArgument, "project_id"},
		{"filter_number_overflow", "/genai/spans/query", "POST", `{"project_id":"p/x","filters":[{"field":"input_tokens","op":"gt","value":1e400}]}`, nil, 400, CodeInvalidArgument, "filters[0].value"},
		{"project_too_long", "/genai/spans/query", "POST", `{"project_id":"` + strings.Repeat("p", 300) + `"}`, nil, 400, CodeInvalidArgument, "project_id"},

		{"limit_negative", "/genai/spans/query", "POST", `{"project_id":"p/x","limit":-1}`, nil, 400, CodeInvalidArgument, "limit"},
		{"limit_too_big", "/genai/spans/query", "POST", `{"project_id":"p/x","limit":10001}`, nil, 400, CodeInvalidArgument, "limit"},
		{"limit_fraction", "/genai/spans/query", "POST", `{"project_id":"p/x","limit":1.5}`, nil, 400, CodeInvalidArgument, "limit"},
		{"limit_string", "/genai/spans/query", "POST", `{"project_id":"p/x","limit":"10"}`, nil, 400, CodeInvalidArgument, "limit"},
		{"offset_negative", "/genai/spans/query", "POST", `{"project_id":"p/x","offset":-5}`, nil, 400, CodeInvalidArgument, "offset"},
		{"offset_huge", "/genai/spans/query", "POST", `{"project_id":"p/x","offset":2000000}`, nil, 400, CodeInvalidArgument, "offset"},
		{"from_not_time", "/genai/spans/query", "POST", `{"project_id":"p/x","from":"yesterday"}`, nil, 400, CodeInvalidArgument, "from"},
		{"to_before_from", "/genai/spans/query", "POST", `{"project_id":"p/x","from":"2026-05-02T00:00:00Z","to":"2026-05-01T00:00:00Z"}`, nil, 400, CodeInvalidArgument, "to"},
		{"filter_unknown_field", "/genai/spans/query", "POST", `{"project_id":"p/x","filters":[{"field":"agent_name","op":"eq","value":"a"},{"field":"nope","op":"eq","value":1}]}`, nil, 400, CodeInvalidArgument, "filters[1].field"},
		{"filter_heavy_column", "/genai/spans/query", "POST", `{"project_id":"p/x","filters":[{"field":"input_messages","op":"contains","value":"x"}]}`, nil, 400, CodeInvalidArgument, "filters[0].field"},
		{"filter_bad_op", "/genai/spans/query", "POST", `{"project_id":"p/x","filters":[{"field":"agent_name","op":"like","value":"a"}]}`, nil, 400, CodeInvalidArgument, "filters[0].op"},
		{"filter_in_not_list", "/genai/spans/query", "POST", `{"project_id":"p/x","filters":[{"field":"agent_name","op":"in","value":"a"}]}`, nil, 400, CodeInvalidArgument, "filters[0].value"},
		{"filter_in_nested", "/genai/spans/query", "POST", `{"project_id":"p/x","filters":[{"field":"agent_name","op":"in","value":["a",{"b":1}]}]}`, nil, 400, CodeInvalidArgument, "filters[0].value[1]"},
		{"filter_exists_with_value", "/genai/spans/query", "POST", `{"project_id":"p/x","filters":[{"field":"ended_at","op":"exists","value":1}]}`, nil, 400, CodeInvalidArgument, "filters[0].value"},
		{"filter_eq_without_value", "/genai/spans/query", "POST", `{"project_id":"p/x","filters":[{"field":"agent_name","op":"eq"}]}`, nil, 400, CodeInvalidArgument, "filters[0].value"},
		{"filter_object_value", "/genai/spans/query", "POST", `{"project_id":"p/x","filters":[{"field":"agent_name","op":"eq","value":{}}]}`, nil, 400, CodeInvalidArgument, "filters[0].value"},
		{"filter_attr_without_key", "/genai/spans/query", "POST", `{"project_id":"p/x","filters":[{"field":"custom_attrs_string.","op":"exists"}]}`, nil, 400, CodeInvalidArgument, "filters[0].field"},
		{"filter_unknown_key", "/genai/spans/query", "POST", `{"project_id":"p/x","filters":[{"field":"agent_name","op":"eq","value":"a","extra":1}]}`, nil, 400, CodeInvalidArgument, "extra"},
		{"filters_wrong_type", "/genai/spans/query", "POST", `{"project_id":"p/x","filters":{"field":"a"}}`, nil, 400, CodeInvalidArgument, "filters"},
		{"sort_bad_field", "/genai/spans/query", "POST", `{"project_id":"p/x","sort":[{"field":"raw_span"}]}`, nil, 400, CodeInvalidArgument, "sort[0].field"},
		{"sort_bad_direction", "/genai/spans/query", "POST", `{"project_id":"p/x","sort":[{"field":"started_at","direction":"up"}]}`, nil, 400, CodeInvalidArgument, "sort[0].direction"},
		{"include_details_string", "/genai/spans/query", "POST", `{"project_id":"p/x","include_details":"yes"}`, nil, 400, CodeInvalidArgument, "include_details"},

		{"trace_missing_id", "/genai/spans/trace", "POST", `{"project_id":"p/x"}`, nil, 400, CodeInvalidArgument, "trace_id"},
		{"trace_bad_id", "/genai/spans/trace", "POST", `{"project_id":"p/x","trace_id":"xyz"}`, nil, 400, CodeInvalidArgument, "trace_id"},
		{"trace_not_found", "/genai/spans/trace", "POST", `{"project_id":"p/x","trace_id":"ffffffffffffffffffffffffffffffff"}`, nil, 404, CodeNotFound, "trace_id"},
		{"chat_not_found", "/genai/traces/chat", "POST", `{"project_id":"p/x","trace_id":"ffffffffffffffffffffffffffffffff"}`, nil, 404, CodeNotFound, "trace_id"},
		{"chat_other_project", "/genai/traces/chat", "POST", `{"project_id":"p/y","trace_id":"ffffffffffffffffffffffffffffffff"}`, nil, 404, CodeNotFound, "trace_id"},
		{"active_bad_limit", "/genai/spans/active", "POST", `{"project_id":"p/x","limit":-2}`, nil, 400, CodeInvalidArgument, "limit"},
		{"aggregate_bad_group", "/genai/spans/aggregate", "POST", `{"project_id":"p/x","group_by":["nope"]}`, nil, 400, CodeInvalidArgument, "group_by[0]"},
		{"aggregate_list_group", "/genai/spans/aggregate", "POST", `{"project_id":"p/x","group_by":["agent_name","finish_reasons"]}`, nil, 400, CodeInvalidArgument, "group_by[1]"},
		{"aggregate_twice", "/genai/spans/aggregate", "POST", `{"project_id":"p/x","group_by":["agent_name","agent_name"]}`, nil, 400, CodeInvalidArgument, "group_by[1]"},
		{"aggregate_too_many", "/genai/spans/aggregate", "POST", `{"project_id":"p/x","group_by":["a","b","c","d","e","f"]}`, nil, 400, CodeInvalidArgument, "group_by"},
		{"aggregate_sort_not_grouped", "/genai/spans/aggregate", "POST", `{"project_id":"p/x","group_by":["agent_name"],"sort":[{"field":"span_name"}]}`, nil, 400, CodeInvalidArgument, "sort[0].field"},
		{"aggregate_bad_filter", "/genai/spans/aggregate", "POST", `{"project_id":"p/x","filters":[{"field":"events","op":"exists"}]}`, nil, 400, CodeInvalidArgument, "filters[0].field"},
		{"traces_bad_status", "/genai/traces/query", "POST", `{"project_id":"p/x","status":"failed"}`, nil, 400, CodeInvalidArgument, "status"},
		{"traces_bad_sort", "/genai/traces/query", "POST", `{"project_id":"p/x","sort":[{"field":"root_span_name"}]}`, nil, 400, CodeInvalidArgument, "sort[0].field"},
		{"traces_bad_filter", "/genai/traces/query", "POST", `{"project_id":"p/x","filters":[{"field":"raw_span","op":"exists"}]}`, nil, 400, CodeInvalidArgument, "filters[0].field"},
		{"traces_limit_too_big", "/genai/traces/query", "POST", `{"project_id":"p/x","limit":10001}`, nil, 400, CodeInvalidArgument, "limit"},
		{"traces_bad_range", "/genai/traces/query", "POST", `{"project_id":"p/x","from":"2026-05-02T00:00:00Z","to":"2026-05-01T00:00:00Z"}`, nil, 400, CodeInvalidArgument, "to"},

		{"conversations_bad_sort", "/genai/conversations/query", "POST", `{"project_id":"p/x","sort":[{"field":"agent_names"}]}`, nil, 400, CodeInvalidArgument, "sort[0].field"},
		{"conversations_agent_not_string", "/genai/conversations/query", "POST", `{"project_id":"p/x","agent_name":["a"]}`, nil, 400, CodeInvalidArgument, "agent_name"},
		{"conversation_chat_missing_id", "/genai/conversations/chat", "POST", `{"project_id":"p/x"}`, nil, 400, CodeInvalidArgument, "conversation_id"},
		{"conversation_chat_not_found", "/genai/conversations/chat", "POST", `{"project_id":"p/x","conversation_id":"nope"}`, nil, 404, CodeNotFound, "conversation_id"},

		{"agents_bad_sort", "/genai/agents/query", "POST", `{"project_id":"p/x","sort":[{"field":"nope"}]}`, nil, 400, CodeInvalidArgument, "sort[0].field"},
		{"versions_missing_agent", "/genai/agents/versions", "POST", `{"project_id":"p/x"}`, nil, 400, CodeInvalidArgument, "agent_name"},
		{"metrics_negative_bucket", "/genai/agents/metrics", "POST", `{"project_id":"p/x","bucket_seconds":-60}`, nil, 400, CodeInvalidArgument, "bucket_seconds"},
		{"metrics_too_many_buckets", "/genai/agents/metrics", "POST", `{"project_id":"p/x","bucket_seconds":1,"from":"2026-01-01T00:00:00Z","to":"2026-02-01T00:00:00Z"}`, nil, 400, CodeInvalidArgument, "bucket_seconds"},

		{"search_missing_query", "/genai/messages/search", "POST", `{"project_id":"p/x"}`, nil, 400, CodeInvalidArgument, "query"},
		{"search_blank_query", "/genai/messages/search", "POST", `{"project_id":"p/x","query":"   "}`, nil, 400, CodeInvalidArgument, "query"},
		{"search_empty_role", "/genai/messages/search", "POST", `{"project_id":"p/x","query":"a","roles":["user",""]}`, nil, 400, CodeInvalidArgument, "roles[1]"},
		{"search_roles_not_list", "/genai/messages/search", "POST", `{"project_id":"p/x","query":"a","roles":"user"}`, nil, 400, CodeInvalidArgument, "roles"},

		{"upsert_missing_ref", "/genai/annotations/upsert", "POST", `{"project_id":"p/x","kind":"note","value":"x"}`, nil, 400, CodeInvalidArgument, "ref"},
		{"upsert_bad_ref_kind", "/genai/annotations/upsert", "POST", `{"project_id":"p/x","ref":"agent_call/abc","kind":"note","value":"x"}`, nil, 400, CodeInvalidArgument, "ref"},
		{"upsert_ref_no_slash", "/genai/annotations/upsert", "POST", `{"project_id":"p/x","ref":"agent_span","kind":"note","value":"x"}`, nil, 400, CodeInvalidArgument, "ref"},
		{"upsert_bad_span_id", "/genai/annotations/upsert", "POST", `{"project_id":"p/x","ref":"agent_span/123","kind":"note","value":"x"}`, nil, 400, CodeInvalidArgument, "ref"},
		{"upsert_bad_trace_id", "/genai/annotations/upsert", "POST", `{"project_id":"p/x","ref":"agent_turn/` + spanHex + `","kind":"note","value":"x"}`, nil, 400, CodeInvalidArgument, "ref"},
		{"upsert_bad_escape", "/genai/annotations/upsert", "POST", `{"project_id":"p/x","ref":"agent_conversation/a%zz","kind":"note","value":"x"}`, nil, 400, CodeInvalidArgument, "ref"},
		{"upsert_empty_conversation", "/genai/annotations/upsert", "POST", `{"project_id":"p/x","ref":"agent_conversation/","kind":"note","value":"x"}`, nil, 400, CodeInvalidArgument, "ref"},
		{"upsert_missing_kind", "/genai/annotations/upsert", "POST", `{"project_id":"p/x","ref":"agent_turn/` + traceHex + `","value":"x"}`, nil, 400, CodeInvalidArgument, "kind"},
		{"upsert_bad_kind", "/genai/annotations/upsert", "POST", `{"project_id":"p/x","ref":"agent_turn/` + traceHex + `","kind":"Thumbs Up","value":"x"}`, nil, 400, CodeInvalidArgument, "kind"},
		{"upsert_missing_value", "/genai/annotations/upsert", "POST", `{"project_id":"p/x","ref":"agent_turn/` + traceHex + `","kind":"note"}`, nil, 400, CodeInvalidArgument, "value"},
		{"upsert_null_value", "/genai/annotations/upsert", "POST", `{"project_id":"p/x","ref":"agent_turn/` + traceHex + `","kind":"note","value":null}`, nil, 400, CodeInvalidArgument, "value"},
		{"upsert_thumbs_sideways", "/genai/annotations/upsert", "POST", `{"project_id":"p/x","ref":"agent_turn/` + traceHex + `","kind":"thumbs","value":"sideways"}`, nil, 400, CodeInvalidArgument, "value"},
		{"upsert_note_not_string", "/genai/annotations/upsert", "POST", `{"project_id":"p/x","ref":"agent_turn/` + traceHex + `","kind":"note","value":5}`, nil, 400, CodeInvalidArgument, "value"},
		{"upsert_bad_id", "/genai/annotations/upsert", "POST", `{"project_id":"p/x","id":"a b","ref":"agent_turn/` + traceHex + `","kind":"note","value":"x"}`, nil, 400, CodeInvalidArgument, "id"},
		{"delete_missing_id", "/genai/annotations/delete", "POST", `{"project_id":"p/x"}`, nil, 400, CodeInvalidArgument, "id"},
		{"delete_not_found", "/genai/annotations/delete", "POST", `{"project_id":"p/x","id":"nope"}`, nil, 404, CodeNotFound, "id"},
		{"delete_other_project", "/genai/annotations/delete", "POST", `{"project_id":"p/y","id":"ann1"}`, nil, 404, CodeNotFound, "id"},
		{"query_bad_ref", "/genai/annotations/query", "POST", `{"project_id":"p/x","refs":["agent_span/` + spanHex + `","agent_turn/x"]}`, nil, 400, CodeInvalidArgument, "refs[1]"},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := do(t, h, tt.method, tt.path, tt.body, tt.hdr...)
			code, field, msg := errOf(t, body)
			if status != tt.status || code != tt.code || field != tt.field {
				t.Errorf("got %d %s field=%q (%s), want %d %s field=%q", status, code, field, msg, tt.status, tt.code, tt.field)
			}
			if StatusOf(code) != status {
				t.Errorf("status %d does not match the table's %d for %s", status, StatusOf(code), code)
			}
		})
	}
}

func TestStoreErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"invalid", fmt.Errorf("%w: unknown field", store.ErrInvalid), 400, CodeInvalidArgument},
		{"not_found", store.ErrNotFound, 404, CodeNotFound},
		{"deadline", fmt.Errorf("sqlite: %w", context.DeadlineExceeded), 503, CodeTimeout},
		{"other", errors.New("disk on fire at /var/secret/path"), 500, CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.err = tt.err
			status, body := do(t, New(Settings{Store: f}), "POST", "/genai/spans/query", `{"project_id":"p/x"}`)
			code, _, msg := errOf(t, body)
			if status != tt.status || code != tt.code {
				t.Errorf("got %d %s, want %d %s", status, code, tt.status, tt.code)
			}
			if strings.Contains(msg, "/var/secret") {
				t.Errorf("internal error message %q leaks the cause", msg)
			}
		})
	}
}

func TestRequestTranslation(t *testing.T) {
	f := seededFake()
	h := New(Settings{Store: f})

	status, _ := do(t, h, "POST", "/genai/spans/query", `{"project_id":"p/x",
		"filters":[{"field":"input_tokens","op":"gt","value":100},{"field":"custom_attrs_float.temp","op":"lte","value":0.5},
		           {"field":"agent_name","op":"in","value":["a",2]},{"field":"ended_at","op":"not_exists"}],
		"sort":[{"field":"duration_ms"},{"field":"span_id","direction":"ASC"}],
		"from":"2026-05-01T12:00:00+02:00","include_details":true,"offset":3}`)
	if status != 200 {
		t.Fatalf("spans/query: got %d, want 200", status)
	}
	q := f.spanQuery
	if q.Limit != store.DefaultLimit || q.Offset != 3 || !q.IncludeDetails {
		t.Errorf("got limit %d offset %d details %v, want %d 3 true", q.Limit, q.Offset, q.IncludeDetails, store.DefaultLimit)
	}
	if v, ok := q.Filters[0].Value.(int64); !ok || v != 100 {
		t.Errorf("filters[0].value: got %#v, want int64(100)", q.Filters[0].Value)
	}
	if v, ok := q.Filters[1].Value.(float64); !ok || v != 0.5 {
		t.Errorf("filters[1].value: got %#v, want 0.5", q.Filters[1].Value)
	}
	if l, ok := q.Filters[2].Value.([]any); !ok || l[1] != int64(2) {
		t.Errorf("filters[2].value: got %#v, want [a 2]", q.Filters[2].Value)
	}
	if q.Sort[0].Direction != "desc" || q.Sort[1].Direction != "asc" {
		t.Errorf("sort directions: got %q %q, want desc asc", q.Sort[0].Direction, q.Sort[1].Direction)
	}
	if want := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC); !q.Range.From.Equal(want) || q.Range.From.Location() != time.UTC {
		t.Errorf("range from: got %v, want %v UTC", q.Range.From, want)
	}

	// Upper-case hex ids are accepted and lowercased.
	status, body := do(t, h, "POST", "/genai/traces/chat", `{"project_id":"p/x","trace_id":"`+strings.ToUpper(traceHex)+`"}`)
	if status != 200 || body["trace_id"] != traceHex {
		t.Errorf("traces/chat: got %d trace_id %v, want 200 %s", status, body["trace_id"], traceHex)
	}

	do(t, h, "POST", "/genai/agents/metrics", `{"project_id":"p/x","from":"2026-05-01T00:00:00Z","to":"2026-05-02T00:00:00Z"}`)
	if f.metricsQ.Bucket != time.Hour {
		t.Errorf("metrics bucket over a day: got %v, want 1h", f.metricsQ.Bucket)
	}
	do(t, h, "POST", "/genai/conversations/query", `{"project_id":"p/x","agent_name":"claude-code","search":"fix bug"}`)
	if f.convQuery.Limit != 50 || f.convQuery.AgentName != "claude-code" || f.convQuery.Search != "fix bug" || f.convQuery.ExactTotal {
		t.Errorf("conversations query: got %+v", f.convQuery)
	}
	// A total that is a lower bound says so; exact_total reaches the store.
	f.convPage = store.ConversationPage{Conversations: []store.ConversationSummary{{ConversationID: "c1"}}, Total: 2, TotalIsLowerBound: true}
	status, body = do(t, h, "POST", "/genai/conversations/query", `{"project_id":"p/x","search":"fix bug","limit":1,"exact_total":true}`)
	if status != 200 || !f.convQuery.ExactTotal || body["total"] != float64(2) || body["total_is_lower_bound"] != true {
		t.Errorf("conversations query, exact_total: got %d %v (store query %+v), want total 2 as a lower bound and ExactTotal set", status, body, f.convQuery)
	}
	f.convPage.TotalIsLowerBound = false
	if _, body = do(t, h, "POST", "/genai/conversations/query", `{"project_id":"p/x","search":"fix bug","limit":1}`); body["total_is_lower_bound"] != nil {
		t.Errorf("conversations query, exact total: got total_is_lower_bound %v, want it absent", body["total_is_lower_bound"])
	}
	f.convPage = store.ConversationPage{}
	do(t, h, "POST", "/genai/traces/query", `{"project_id":"p/x","agent_name":"a","conversation_id":"c","status":"error",`+
		`"filters":[{"field":"tool_name","op":"eq","value":"Bash"}],"sort":[{"field":"duration_ms"}],"from":"2026-05-01T00:00:00Z"}`)
	if tq := f.traceQuery; tq.Limit != 100 || tq.AgentName != "a" || tq.ConversationID != "c" || tq.Status != "error" || len(tq.Filters) != 1 ||
		tq.Sort[0].Direction != "desc" || tq.Range.From.IsZero() {
		t.Errorf("traces query: got %+v", tq)
	}
	f.groups = []store.SpanGroup{{Key: []any{"claude-code", nil}, Count: 3}}
	status, body = do(t, h, "POST", "/genai/spans/aggregate", `{"project_id":"p/x","group_by":["agent_name","custom_attrs_int.turn"],`+
		`"sort":[{"field":"custom_attrs_int.turn","direction":"asc"},{"field":"duration_p95_ms"}],"filters":[{"field":"tool_name","op":"eq","value":"Bash"}]}`)
	if aq := f.aggQuery; status != 200 || aq.Limit != 100 || len(aq.GroupBy) != 2 || aq.Sort[1].Direction != "desc" || len(aq.Filters) != 1 {
		t.Errorf("aggregate query: got %d, %+v", status, aq)
	}
	if g := body["groups"].([]any)[0].(map[string]any); fmt.Sprint(g["key"]) != "map[agent_name:claude-code custom_attrs_int.turn:<nil>]" || g["count"] != float64(3) {
		t.Errorf("aggregate answer: got %v, want the key by field and the figures", g)
	}
	do(t, h, "POST", "/genai/spans/active", `{"project_id":"p/x","limit":7}`)
	if f.activeLimit != 7 {
		t.Errorf("active limit: got %d, want 7", f.activeLimit)
	}
}

func TestAnnotationRefsCanonical(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"agent_span/ABCDEF0123456789", "agent_span/abcdef0123456789"},
		{"agent_turn/" + strings.ToUpper(traceHex), "agent_turn/" + traceHex},
		{"agent_conversation/sess-1", "agent_conversation/sess-1"},
		{"agent_conversation/trace:abc", "agent_conversation/trace%3Aabc"},
		{"agent_conversation/trace%3aabc", "agent_conversation/trace%3Aabc"},
		{"agent_conversation/a%20b%2Fc", "agent_conversation/a%20b%2Fc"},
		{"agent_conversation/caf%C3%A9", "agent_conversation/caf%C3%A9"},
		{"agent_conversation/it's(ok)!", "agent_conversation/it's(ok)!"},
		{"agent/claude-code", "agent/claude-code"},
		{"agent/my agent", "agent/my%20agent"},
		// Weave's URI forms (seed 001): external by entity/project,
		// internal by the internal project id.
		{"weave:///p/x/agent_turn/" + strings.ToUpper(traceHex), "agent_turn/" + traceHex},
		{"weave:///p/x/agent_span/ABCDEF0123456789", "agent_span/abcdef0123456789"},
		{"weave:///p/x/agent_conversation/trace%3Aabc", "agent_conversation/trace%3Aabc"},
		{"weave:///p/x/agent/claude-code", "agent/claude-code"},
		{"weave-trace-internal:///cC94/agent_turn/" + traceHex, "agent_turn/" + traceHex},
		{"weave-trace-internal:///cC94/agent_conversation/a%2Fb", "agent_conversation/a%2Fb"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := CanonicalRef("ref", "p/x", tt.in)
			if err != nil || got != tt.want {
				t.Errorf("CanonicalRef(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{
		"weave:///other/project/agent_turn/" + traceHex,          // another project
		"weave:///p/xy/agent_turn/" + traceHex,                   // a project that only starts the same
		"weave-trace-internal:///p/x/agent_turn/" + traceHex,     // the internal form needs the internal id
		"weave-trace-internal:///b3RoZXI/agent_turn/" + traceHex, // another project's internal id
		"weave:///p/x/agent_turn/xyz", "weave:///p/x/", "weave:///p/x/object/name:v1", "agent/", "agent/%zz",
	} {
		if got, err := CanonicalRef("ref", "p/x", bad); err == nil {
			t.Errorf("CanonicalRef(%q) = %q, want an error", bad, got)
		}
	}
	if got := InternalProjectID("p/x"); got != "cC94" {
		t.Errorf("InternalProjectID(p/x) = %q, want cC94 (base64url, no padding)", got)
	}
	if got := ConversationRef("a/b c?é"); got != "agent_conversation/a%2Fb%20c%3F%C3%A9" {
		t.Errorf("ConversationRef: got %q, want the encodeURIComponent form", got)
	}
}

func TestAnnotationsRoundTrip(t *testing.T) {
	f := newFake()
	h := New(Settings{Store: f})
	status, body := do(t, h, "POST", "/genai/annotations/upsert",
		`{"project_id":"p/x","ref":"agent_conversation/trace:abc","kind":"note","value":"looks right","author":"me"}`)
	if status != 200 {
		t.Fatalf("upsert: got %d %v", status, body)
	}
	a := body["annotation"].(map[string]any)
	if a["ref"] != "agent_conversation/trace%3Aabc" || a["value"] != "looks right" || a["id"] == "" ||
		a["ref_uri"] != "weave:///p/x/agent_conversation/trace%3Aabc" || a["internal_ref"] != "weave-trace-internal:///cC94/agent_conversation/trace%3Aabc" {
		t.Errorf("upsert answer: got %v, want the short ref and both URI forms", a)
	}
	// A URI finds what the short form stored.
	status, body = do(t, h, "POST", "/genai/annotations/query", `{"project_id":"p/x","refs":["weave:///p/x/agent_conversation/trace%3Aabc"]}`)
	if status != 200 || len(body["annotations"].([]any)) != 1 || f.annQuery.Refs[0] != "agent_conversation/trace%3Aabc" {
		t.Errorf("query by URI: got %d %v (refs sent %v)", status, body, f.annQuery.Refs)
	}
	status, body = do(t, h, "POST", "/genai/annotations/upsert",
		`{"project_id":"p/x","ref":"weave:///other/p/agent_conversation/trace:abc","kind":"note","value":"x"}`)
	if status != 400 {
		t.Errorf("upsert with another project's URI: got %d %v, want 400", status, body)
	}
	status, body = do(t, h, "POST", "/genai/annotations/query", `{"project_id":"p/x","refs":["agent_conversation/trace%3aabc"]}`)
	if status != 200 || len(body["annotations"].([]any)) != 1 || f.annQuery.Refs[0] != "agent_conversation/trace%3Aabc" {
		t.Errorf("query: got %d %v (refs sent %v)", status, body, f.annQuery.Refs)
	}
	status, body = do(t, h, "POST", "/genai/annotations/delete", `{"project_id":"p/x","id":"`+a["id"].(string)+`"}`)
	if status != 200 || body["deleted"] != true {
		t.Errorf("delete: got %d %v", status, body)
	}
	// Feedback on an agent.
	status, body = do(t, h, "POST", "/genai/annotations/upsert",
		`{"project_id":"p/x","ref":"weave-trace-internal:///cC94/agent/claude-code","kind":"thumbs","value":"up"}`)
	if ag, _ := body["annotation"].(map[string]any); status != 200 || ag["ref"] != "agent/claude-code" || ag["ref_uri"] != "weave:///p/x/agent/claude-code" {
		t.Errorf("upsert on an agent: got %d %v", status, body)
	}
	status, _ = do(t, h, "POST", "/genai/annotations/delete", `{"project_id":"p/x","id":"`+a["id"].(string)+`"}`)
	if status != 404 {
		t.Errorf("second delete: got %d, want 404", status)
	}
	// A structured value keeps its numbers exact.
	status, body = do(t, h, "POST", "/genai/annotations/upsert",
		`{"project_id":"p/x","ref":"agent_span/`+spanHex+`","kind":"rating","value":{"n":12345678901234567890}}`)
	if status != 200 {
		t.Fatalf("upsert rating: got %d %v", status, body)
	}
	for _, a := range f.annotations {
		if m, ok := a.Value.(map[string]any); ok && fmt.Sprint(m["n"]) != "12345678901234567890" {
			t.Errorf("rating value: got %v, want the exact number", m["n"])
		}
	}
}

func TestDeleteRequests(t *testing.T) {
	f := newFake()
	h := New(Settings{Store: f})
	status, body := do(t, h, "POST", "/genai/traces/delete", `{"project_id":"p/x","trace_ids":["`+strings.ToUpper(traceHex)+`"]}`)
	if d, _ := body["deleted"].(map[string]any); status != 200 || d["spans"] != 1.0 || f.deletion.ProjectID != "p/x" ||
		len(f.deletion.TraceIDs) != 1 || f.deletion.TraceIDs[0] != traceHex {
		t.Errorf("traces/delete: got %d %v, store got %+v", status, body, f.deletion)
	}
	status, _ = do(t, h, "POST", "/genai/conversations/delete", `{"project_id":"p/x","conversation_ids":["trace:abc","c/2"]}`)
	if status != 200 || len(f.deletion.ConversationIDs) != 2 || f.deletion.ConversationIDs[1] != "c/2" {
		t.Errorf("conversations/delete: got %d, store got %+v", status, f.deletion)
	}
	for _, tc := range []struct{ path, body, field string }{
		{"/genai/traces/delete", `{"project_id":"p/x","trace_ids":[]}`, "trace_ids"},
		{"/genai/traces/delete", `{"project_id":"p/x","trace_ids":["xyz"]}`, "trace_ids[0]"},
		{"/genai/conversations/delete", `{"project_id":"p/x"}`, "conversation_ids"},
		{"/genai/conversations/delete", `{"project_id":"p/x","conversation_ids":["a",""]}`, "conversation_ids[1]"},
	} {
		status, body := do(t, h, "POST", tc.path, tc.body)
		if e, _ := body["error"].(map[string]any); status != 400 || e["field"] != tc.field {
			t.Errorf("%s %s: got %d %v, want 400 naming %s", tc.path, tc.body, status, body, tc.field)
		}
	}
	// A store that cannot delete says so.
	ro := New(Settings{Store: readOnly{f}})
	status, body = do(t, ro, "POST", "/genai/traces/delete", `{"project_id":"p/x","trace_ids":["`+traceHex+`"]}`)
	if e, _ := body["error"].(map[string]any); status != 501 || e["code"] != "unimplemented" {
		t.Errorf("delete on a store without Delete: got %d %v, want 501 unimplemented", status, body)
	}
}

// readOnly hides the fake's Delete.
type readOnly struct{ Backend }

func TestScoreRequests(t *testing.T) {
	h := New(Settings{Store: newFake()})
	trace := strings.Repeat("ab", 16)
	span := strings.Repeat("cd", 8)
	for _, tc := range []struct {
		name, path, body string
		status           int
		field            string
	}{
		{"numeric score", "/genai/annotations/upsert", `{"project_id":"p/x","ref":"agent_turn/` + trace + `","kind":"score","name":"helpfulness","data_type":"numeric","value":4,"min":1,"max":5,"author":"alice"}`, 200, ""},
		{"span score with its trace", "/genai/annotations/upsert", `{"project_id":"p/x","ref":"agent_span/` + span + `","trace_id":"` + strings.ToUpper(trace) + `","kind":"score","name":"correct","data_type":"boolean","value":true}`, 200, ""},
		{"no name", "/genai/annotations/upsert", `{"project_id":"p/x","ref":"agent_turn/` + trace + `","kind":"score","data_type":"numeric","value":4}`, 400, "name"},
		{"unknown type", "/genai/annotations/upsert", `{"project_id":"p/x","ref":"agent_turn/` + trace + `","kind":"score","name":"x","data_type":"stars","value":4}`, 400, "data_type"},
		{"out of bounds", "/genai/annotations/upsert", `{"project_id":"p/x","ref":"agent_turn/` + trace + `","kind":"score","name":"x","data_type":"numeric","value":9,"max":5}`, 400, "value"},
		{"span without trace", "/genai/annotations/upsert", `{"project_id":"p/x","ref":"agent_span/` + span + `","kind":"score","name":"x","data_type":"boolean","value":true}`, 400, "trace_id"},
		{"bad trace", "/genai/annotations/upsert", `{"project_id":"p/x","ref":"agent_span/` + span + `","trace_id":"xyz","kind":"note","value":"n"}`, 400, "trace_id"},
		{"filter", "/genai/conversations/query", `{"project_id":"p/x","filters":[{"field":"score.helpfulness","op":"gte","value":4}]}`, 200, ""},
		{"filter on a column", "/genai/conversations/query", `{"project_id":"p/x","filters":[{"field":"span_count","op":"gte","value":4}]}`, 400, "filters[0]"},
		{"agents filter op", "/genai/agents/query", `{"project_id":"p/x","filters":[{"field":"score.tone","op":"contains","value":"a"}]}`, 400, "filters[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, h, "POST", tc.path, tc.body)
			e, _ := body["error"].(map[string]any)
			if status != tc.status || (tc.field != "" && e["field"] != tc.field) {
				t.Errorf("%s: got %d %v, want %d naming %q", tc.path, status, body, tc.status, tc.field)
			}
		})
	}
}

func TestSnippetParts(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"plain", "[plain]"},
		{"a «b» c", "[a ]<b>[ c]"},
		{"«x»«y» z", "<xy>[ z]"},
		{"… the «<script>» tag", "[… the ]<<script>>[ tag]"},
		{"unpaired « here", "[unpaired « here]"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var b strings.Builder
			for _, p := range snippetParts(tt.in) {
				if p.Match {
					b.WriteString("<" + p.Text + ">")
				} else {
					b.WriteString("[" + p.Text + "]")
				}
			}
			if b.String() != tt.want {
				t.Errorf("snippetParts(%q) = %s, want %s", tt.in, b.String(), tt.want)
			}
		})
	}
}

func TestSearchAnswer(t *testing.T) {
	f := newFake()
	f.hits = []store.SearchHit{{TraceID: traceHex, SpanID: spanHex, Role: "user", Snippet: "please «fix» the bug"}}
	status, body := do(t, New(Settings{Store: f}), "POST", "/genai/messages/search", `{"project_id":"p/x","query":"fix","roles":["user"]}`)
	if status != 200 {
		t.Fatalf("got %d %v", status, body)
	}
	hit := body["hits"].([]any)[0].(map[string]any)
	if hit["snippet"] != "please fix the bug" || len(hit["snippet_parts"].([]any)) != 3 {
		t.Errorf("hit: got %v", hit)
	}
	if f.searchQ.Limit != 50 || f.searchQ.Roles[0] != "user" {
		t.Errorf("search query: got %+v", f.searchQ)
	}
}

func TestConversationWindow(t *testing.T) {
	f := newFake()
	for i := range 5 {
		f.convSpans["c"] = append(f.convSpans["c"], model.Span{
			ProjectID: "p/x", TraceID: fmt.Sprintf("%032x", i+1), SpanID: fmt.Sprintf("%016x", i+1),
			OperationName: model.OpInvokeAgent, AgentName: "a", StatusCode: model.StatusOK,
			StartedAt: time.Date(2026, 5, 1, 10, i, 0, 0, time.UTC),
		})
	}
	h := New(Settings{Store: f})
	tests := []struct {
		body      string
		wantFirst float64
		wantLen   int
	}{
		{`{"project_id":"p/x","conversation_id":"c"}`, 0, 5},
		{`{"project_id":"p/x","conversation_id":"c","offset":1,"limit":2}`, 1, 2},
		{`{"project_id":"p/x","conversation_id":"c","offset":4,"limit":10}`, 4, 1},
		{`{"project_id":"p/x","conversation_id":"c","offset":9}`, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			status, body := do(t, h, "POST", "/genai/conversations/chat", tt.body)
			turns := body["turns"].([]any)
			if status != 200 || len(turns) != tt.wantLen || body["turn_count"] != float64(5) {
				t.Fatalf("got %d, %d turns of %v, want 200, %d of 5", status, len(turns), body["turn_count"], tt.wantLen)
			}
			if tt.wantLen > 0 && turns[0].(map[string]any)["index"] != tt.wantFirst {
				t.Errorf("first turn index: got %v, want %v", turns[0].(map[string]any)["index"], tt.wantFirst)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	keys, err := auth.New([]auth.Key{
		{Name: "a", Key: "key-for-project-a-0001", Projects: []string{"p/a"}},
		{Name: "all", Key: "key-for-everything-0002", Projects: []string{"*"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := newFake()
	f.projects = []string{"p/a", "p/b"}
	h := New(Settings{Store: f, Keys: keys})
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		hdr    []string
		status int
	}{
		{"no_key", "POST", "/genai/spans/query", `{"project_id":"p/a"}`, nil, 401},
		{"no_key_bad_body", "POST", "/genai/spans/query", `{"nope":1}`, nil, 401},
		{"unknown_key", "POST", "/genai/spans/query", `{"project_id":"p/a"}`, []string{"wandb-api-key", "not-a-configured-key-at-all"}, 401},
		{"own_project", "POST", "/genai/spans/query", `{"project_id":"p/a"}`, []string{"wandb-api-key", "key-for-project-a-0001"}, 200},
		{"other_project", "POST", "/genai/spans/query", `{"project_id":"p/b"}`, []string{"Authorization", "Bearer key-for-project-a-0001"}, 403},
		{"other_project_annotation", "POST", "/genai/annotations/upsert", `{"project_id":"p/b","ref":"agent_span/` + spanHex + `","kind":"thumbs","value":"down"}`, []string{"wandb-api-key", "key-for-project-a-0001"}, 403},
		{"wildcard", "POST", "/genai/spans/query", `{"project_id":"p/b"}`, []string{"Authorization", "Bearer key-for-everything-0002"}, 200},
		{"projects_no_key", "GET", "/genai/projects", "", nil, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := do(t, h, tt.method, tt.path, tt.body, tt.hdr...)
			if status != tt.status {
				t.Errorf("got %d %v, want %d", status, body, tt.status)
			}
			if status >= 400 {
				code, _, _ := errOf(t, body)
				if StatusOf(code) != status {
					t.Errorf("code %s does not map to %d", code, status)
				}
			}
		})
	}

	// The project list shows only what the key may read.
	_, body := do(t, h, "GET", "/genai/projects", "", "wandb-api-key", "key-for-project-a-0001")
	if got := fmt.Sprint(body["projects"]); got != "[p/a]" || body["default_project"] != "p/a" {
		t.Errorf("projects for key a: got %v default %v, want [p/a] default p/a", got, body["default_project"])
	}
	_, body = do(t, h, "GET", "/genai/projects", "", "wandb-api-key", "key-for-everything-0002")
	if got := fmt.Sprint(body["projects"]); got != "[local/default p/a p/b]" || body["default_project"] != "local/default" {
		t.Errorf("projects for key all: got %v default %v", got, body["default_project"])
	}
}

func TestUnauthenticatedHasChallenge(t *testing.T) {
	keys, _ := auth.New([]auth.Key{{Key: "key-for-project-a-0001", Projects: []string{"*"}}})
	r := httptest.NewRequest("POST", "/genai/spans/query", strings.NewReader(`{"project_id":"p"}`))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	New(Settings{Store: newFake(), Keys: keys}).ServeHTTP(w, r)
	if w.Code != 401 || w.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("got %d, WWW-Authenticate %q; want 401 with a challenge", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

func TestDuplicateRoutePanics(t *testing.T) {
	h := New(Settings{Store: newFake()})
	defer func() {
		if recover() == nil {
			t.Error("registering a path twice did not panic")
		}
	}()
	h.register("/genai/spans/query", route{method: "POST"})
}

func TestHeadProjects(t *testing.T) {
	r := httptest.NewRequest("HEAD", "/genai/projects", nil)
	w := httptest.NewRecorder()
	New(Settings{Store: newFake()}).ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("HEAD /genai/projects: got %d, want 200", w.Code)
	}
	if _, err := io.ReadAll(w.Body); err != nil {
		t.Fatal(err)
	}
}

// The chat views read only the fields they show (store.ChatSpan); the
// spans of a trace are read whole.
func TestChatViewsReadChatFields(t *testing.T) {
	f := seededFake()
	h := New(Settings{Store: f})
	for _, tt := range []struct{ path, body, want string }{
		{"/genai/traces/chat", goodBodies["/genai/traces/chat"], "TraceChatSpans"},
		{"/genai/conversations/chat", goodBodies["/genai/conversations/chat"], "ConversationChatSpans"},
		{"/genai/spans/trace", goodBodies["/genai/spans/trace"], "TraceSpans"},
	} {
		f.spanReads = nil
		if status, body := do(t, h, "POST", tt.path, tt.body); status != 200 {
			t.Fatalf("%s: got %d %v, want 200", tt.path, status, body)
		}
		if !slices.Equal(f.spanReads, []string{tt.want}) {
			t.Errorf("%s: the store reads were %v, want [%s]", tt.path, f.spanReads, tt.want)
		}
	}
}
