package normalize

import (
	"encoding/json"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/weavetrace/weave/server/store"
)

// nativeLogs is one resource of Claude Code's with one record per
// attribute map (JSON objects, any value shape).
func nativeLogs(tb testing.TB, ts uint64, records ...string) plog.ResourceLogs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "claude-code")
	rl.Resource().Attributes().PutStr("service.version", "2.1.197")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(ClaudeCodeEventsScope)
	for _, r := range records {
		var m map[string]any
		if err := json.Unmarshal([]byte(r), &m); err != nil {
			tb.Skip()
		}
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.Timestamp(ts))
		if err := lr.Attributes().FromRaw(m); err != nil {
			tb.Skip()
		}
	}
	return rl
}

// FuzzClaudeCodeNative feeds arbitrary native event attributes (and
// times) to ClaudeCodeNativeSpans and Normalize: no panic, and every span
// built is one the store accepts, with a time inside its range.
func FuzzClaudeCodeNative(f *testing.F) {
	base := `"session.id":"s1","prompt.id":"p1"`
	for _, s := range [][2]string{
		{`{"event.name":"user_prompt",` + base + `,"prompt":"hi"}`, `{"event.name":"api_request",` + base + `,"request_id":"r1","model":"m","input_tokens":"3","cache_read_tokens":5,"cost_usd":0.1,"duration_ms":"40"}`},
		{`{"event.name":"tool_result",` + base + `,"tool_name":"Agent","tool_use_id":"t1","tool_input":"{\"subagent_type\":\"x\",\"prompt\":\"p\"}","duration_ms":"99999999999999"}`, `{"event.name":"api_request",` + base + `,"agent.name":"x","duration_ms":-5,"output_tokens":"9223372036854775807"}`},
		{`{"event.name":"tool_result",` + base + `,"tool_name":"Bash","tool_use_id":"t2","success":"false","tool_parameters":[1,{}]}`, `{"event.name":"api_error",` + base + `,"error":"boom","status_code":529}`},
		{`{"event.name":{"k":[]},"session.id":"","prompt.id":"p"}`, `{"event.timestamp":"2026-12-06T21:34:37.253Z",` + base + `}`},
	} {
		f.Add(s[0], s[1], uint64(1_796_592_877_000_000_000))
		f.Add(s[0], s[1], uint64(0))
	}
	f.Fuzz(func(t *testing.T, a, b string, ts uint64) {
		rl := nativeLogs(t, ts, a, b)
		td, _ := ClaudeCodeNativeSpans(rl)
		out, _ := Normalize(td.ResourceSpans().At(0), Options{DefaultProject: "p/x"})
		for i := range out {
			if err := store.ValidateSpan(&out[i]); err != nil {
				t.Fatalf("span %d not storable: %v", i, err)
			}
			if out[i].StartedAt.Before(time.Unix(0, 0)) || out[i].EndedAt.Before(out[i].StartedAt) && !out[i].EndedAt.IsZero() {
				t.Fatalf("span %d times %v..%v", i, out[i].StartedAt, out[i].EndedAt)
			}
		}
	})
}

// TestClaudeCodeNativeUnrelatedScope: records outside Claude Code's
// events scope, and native records without a prompt id (hooks at
// startup), make no span.
func TestClaudeCodeNativeUnrelatedScope(t *testing.T) {
	rl := nativeLogs(t, 1_796_592_877_000_000_000, `{"event.name":"hook_registered","session.id":"s"}`)
	other := rl.ScopeLogs().AppendEmpty()
	other.Scope().SetName("my.app")
	lr := other.LogRecords().AppendEmpty()
	lr.SetTimestamp(1)
	lr.Attributes().PutStr("event.name", "api_request")
	lr.Attributes().PutStr("prompt.id", "p")
	lr.Attributes().PutStr("session.id", "s")
	if td, used := ClaudeCodeNativeSpans(rl); used != 0 || td.SpanCount() != 0 {
		t.Errorf("used %d records, %d spans; want none", used, td.SpanCount())
	}
}
