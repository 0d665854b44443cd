package spanid

import "testing"

// The derivation is a wire contract: weave-agentd and weave-server derive
// the same ids, and stored spans keep them across versions.
func TestDerivedIDsPinned(t *testing.T) {
	tr := TurnTraceID("prompt-1")
	for _, c := range []struct {
		name      string
		got, want string
	}{
		{"TurnTraceID", tr.String(), "03ddb6c76625f18de7d34d059c085634"},
		{"RootSpanID", RootSpanID(tr).String(), "ce63383d7b5f600a"},
		{"ChatSpanID", ChatSpanID(tr, "msg_1").String(), "97683616bd8b6fb7"},
		{"ToolSpanID", ToolSpanID(tr, "toolu_1").String(), "db40352cf5b590c4"},
		{"AgentSpanID", AgentSpanID(tr, "toolu_2").String(), "5f153ad53c2849a5"},
		{"OrphanAgentSpanID", OrphanAgentSpanID(tr, "a1").String(), "b2caccd3d9bd16aa"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	tr := TurnTraceID("k")
	if got, err := ParseTraceID(tr.String()); err != nil || got != tr {
		t.Errorf("ParseTraceID(%s) = %s, %v, want %s", tr, got, err, tr)
	}
	s := RootSpanID(tr)
	if got, err := ParseSpanID(s.String()); err != nil || got != s {
		t.Errorf("ParseSpanID(%s) = %s, %v, want %s", s, got, err, s)
	}
	for _, bad := range []string{"", "zz", tr.String()[:30], tr.String() + "00"} {
		if _, err := ParseTraceID(bad); err == nil {
			t.Errorf("ParseTraceID(%q): no error", bad)
		}
	}
	for _, bad := range []string{"", "xyxyxyxyxyxyxyxy", s.String()[:14], tr.String()} {
		if _, err := ParseSpanID(bad); err == nil {
			t.Errorf("ParseSpanID(%q): no error", bad)
		}
	}
	if !(SpanID{}).IsZero() || s.IsZero() {
		t.Error("IsZero: want true for the zero id only")
	}
}
