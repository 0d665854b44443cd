package hookproto

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type payloadCase struct {
	Name    string          `json:"name"`
	Payload json.RawMessage `json:"payload"`
}

// realPayloads returns the captured Claude Code payloads in testdata.
func realPayloads(tb testing.TB) []payloadCase {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", "payloads.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []payloadCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c payloadCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			tb.Fatalf("payloads.jsonl: %v", err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(out) < 40 {
		tb.Fatalf("payloads.jsonl: got %d payloads, want the full capture set (>= 40)", len(out))
	}
	return out
}

func envelopeOf(body []byte) Envelope {
	return Envelope{Proto: Version, ID: EventID{9}, ReceivedAt: time.Unix(1700000000, 0).UTC(), TranscriptSize: -1, Body: body}
}

// TestDecodeRealPayloads decodes every captured payload and compares with
// the golden file; it also checks the fields every payload must have.
func TestDecodeRealPayloads(t *testing.T) {
	type row struct {
		Name  string
		Event map[string]any // the non-zero fields
	}
	var rows []row
	for _, c := range realPayloads(t) {
		ev, err := Decode(envelopeOf(c.Payload))
		if err != nil {
			t.Errorf("%s: Decode: %v", c.Name, err)
			continue
		}
		if ev.SessionID == "" || ev.HookEventName == "" || ev.Cwd == "" || ev.TranscriptPath == "" {
			t.Errorf("%s: got session %q event %q cwd %q transcript %q, want all set", c.Name, ev.SessionID, ev.HookEventName, ev.Cwd, ev.TranscriptPath)
		}
		if !strings.Contains(c.Name, "/"+ev.HookEventName) {
			t.Errorf("%s: got hook_event_name %q, want the captured one", c.Name, ev.HookEventName)
		}
		if p, ok := TranscriptPath(c.Payload); !ok || p != ev.TranscriptPath {
			t.Errorf("%s: TranscriptPath=%q,%v, want %q (the decoded one)", c.Name, p, ok, ev.TranscriptPath)
		}
		ev.Raw = nil
		rows = append(rows, row{c.Name, nonZero(t, ev)})
	}
	got, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "decode.golden.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
		t.Errorf("decoded events differ from %s; got:\n%.2000s\n(run go test -update and review the diff)", golden, got)
	}
}

func TestDecodeFields(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  string
		check func(ev Event) (got, want any)
	}{
		{"tool input kept raw", `{"hook_event_name":"PreToolUse","tool_input":{"command":"echo hi"}}`,
			func(ev Event) (any, any) { return string(ev.ToolInput), `{"command":"echo hi"}` }},
		{"null raw field is nil", `{"hook_event_name":"PreCompact","custom_instructions":null,"tool_response":null}`,
			func(ev Event) (any, any) { return ev.ToolResponse == nil && ev.CustomInstructions == "", true }},
		{"effort level", `{"hook_event_name":"Stop","effort":{"level":"high"}}`,
			func(ev Event) (any, any) { return ev.EffortLevel, "high" }},
		{"error as object keeps its JSON", `{"hook_event_name":"StopFailure","error":{"type":"x"}}`,
			func(ev Event) (any, any) { return ev.Error, `{"type":"x"}` }},
		{"number where a string is expected", `{"hook_event_name":"SessionStart","session_id":42}`,
			func(ev Event) (any, any) { return ev.SessionID, "42" }},
		{"bool as string", `{"hook_event_name":"PostToolUseFailure","is_interrupt":"true"}`,
			func(ev Event) (any, any) { return ev.IsInterrupt, true }},
		{"duration as float", `{"hook_event_name":"PostToolUse","duration_ms":12.9}`,
			func(ev Event) (any, any) { return ev.DurationMS, int64(12) }},
		{"duration as string", `{"hook_event_name":"PostToolUse","duration_ms":"77"}`,
			func(ev Event) (any, any) { return ev.DurationMS, int64(77) }},
		{"duration absurd", `{"hook_event_name":"PostToolUse","duration_ms":1e300}`,
			func(ev Event) (any, any) { return ev.DurationMS, int64(0) }},
		{"unknown event and fields", `{"hook_event_name":"FutureThing","brand_new":{"a":1}}`,
			func(ev Event) (any, any) {
				return ev.HookEventName + string(ev.Field("brand_new")), `FutureThing{"a":1}`
			}},
		{"Field of absent member", `{"hook_event_name":"Stop"}`,
			func(ev Event) (any, any) { return ev.Field("background_tasks") == nil, true }},
		{"receipt metadata copied", `{"hook_event_name":"Stop"}`,
			func(ev Event) (any, any) {
				return ev.ID == EventID{9} && ev.Proto == Version && ev.TranscriptSize == -1, true
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := Decode(envelopeOf([]byte(tc.body)))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got, want := tc.check(ev); got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"empty", ``},
		{"not json", `hello`},
		{"array", `[{"hook_event_name":"Stop"}]`},
		{"null", `null`},
		{"string", `"Stop"`},
		{"no event name", `{"session_id":"s"}`},
		{"event name not a string but empty", `{"hook_event_name":null}`},
		{"trailing garbage", `{"hook_event_name":"Stop"} x`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(envelopeOf([]byte(tc.body)))
			if !errors.Is(err, ErrNotEvent) {
				t.Errorf("Decode(%q): got %v, want ErrNotEvent", tc.body, err)
			}
		})
	}
}

// A payload cut at MaxPayload keeps every complete leading member.
func TestDecodeTruncated(t *testing.T) {
	full := `{"session_id":"s1","transcript_path":"/t.jsonl","cwd":"/w","hook_event_name":"PostToolUse",` +
		`"tool_name":"Write","tool_use_id":"toolu_1","tool_input":{"file_path":"/w/big","content":"` +
		strings.Repeat("A", 1000) + `"},"tool_response":{"ok":true}}`
	cut := []byte(full[:600])
	env := envelopeOf(cut)
	env.OriginalSize = int64(len(full))
	ev, err := Decode(env)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !ev.Truncated || ev.OriginalSize != int64(len(full)) {
		t.Errorf("got Truncated=%v OriginalSize=%d, want true, %d", ev.Truncated, ev.OriginalSize, len(full))
	}
	if ev.SessionID != "s1" || ev.ToolUseID != "toolu_1" || ev.ToolName != "Write" || ev.HookEventName != "PostToolUse" {
		t.Errorf("got %+v, want the leading fields salvaged", ev)
	}
	if ev.ToolInput != nil || ev.ToolResponse != nil {
		t.Errorf("got tool_input %d bytes, tool_response %q, want both absent (cut)", len(ev.ToolInput), ev.ToolResponse)
	}

	// Cut before hook_event_name: not decodable.
	env = envelopeOf([]byte(full[:30]))
	env.OriginalSize = int64(len(full))
	if _, err := Decode(env); !errors.Is(err, ErrNotEvent) {
		t.Errorf("cut before hook_event_name: got %v, want ErrNotEvent", err)
	}
}

func TestObserveOnly(t *testing.T) {
	if len(Events) != 30 {
		t.Errorf("Events: got %d, want the 30 Claude Code knows", len(Events))
	}
	seen := map[string]bool{}
	n := 0
	for _, e := range Events {
		if seen[e] {
			t.Errorf("Events: %s listed twice", e)
		}
		seen[e] = true
		if IsObserveOnly(e) {
			n++
		}
	}
	if n != 28 || IsObserveOnly(EventWorktreeCreate) || IsObserveOnly(EventWorktreeRemove) {
		t.Errorf("observe-only events: got %d, want 28 (all but WorktreeCreate/Remove)", n)
	}
}

// nonZero renders ev as a map of its non-zero fields, for a readable golden.
func nonZero(t *testing.T, ev Event) map[string]any {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range m {
		switch v {
		case nil, "", false, float64(0):
			delete(m, k)
		}
	}
	return m
}
