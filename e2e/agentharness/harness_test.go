package agentharness

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

// RunTUI drives an interactive program in tmux: waits for its prompt,
// submits each line and waits for its answer, quits, and keeps the last
// screen.
func TestRunTUI(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("no tmux")
	}
	env := Env{Work: t.TempDir(), ExtraEnv: []string{"WEAVE_TEST_GREETING=hello"}}
	res := &Result{}
	script := `echo READY; while read l; do [ "$l" = quit ] && exit 0; echo "$WEAVE_TEST_GREETING:$l"; done`
	u := TUI{Ready: "READY", Quit: "quit", Steps: []TUIStep{{Line: "one", Wait: "hello:one"}, {Line: "two", Wait: "hello:two"}}}
	if err := RunTUI(context.Background(), env, res, nil, u, "sh", "-c", script); err != nil {
		t.Fatal(err)
	}
	if len(res.Outputs) != 1 || !strings.Contains(res.Outputs[0], "hello:two") {
		t.Fatalf("outputs %q", res.Outputs)
	}
	// A second run of the process gets a tmux server of its own.
	if err := RunTUI(context.Background(), env, res, nil, u, "sh", "-c", script); err != nil || len(res.Outputs) != 2 {
		t.Fatalf("second run: %v, %d outputs", err, len(res.Outputs))
	}
}

// Keys lists two servers' spans alike whatever their order; with times,
// a span's times count.
func TestKeys(t *testing.T) {
	end := "2026-12-07T00:00:01Z"
	a := APISpan{TraceID: "t", SpanID: "1", SpanName: "chat m", StartedAt: "2026-12-07T00:00:00Z", EndedAt: &end}
	b := APISpan{TraceID: "t", SpanID: "2", SpanName: "execute_tool x", StartedAt: "2026-12-07T00:00:00Z"}
	if Keys([]APISpan{a, b}, true) != Keys([]APISpan{b, a}, true) {
		t.Error("order matters")
	}
	c := a
	c.StartedAt = "2026-12-07T00:00:00.5Z"
	if Keys([]APISpan{a}, false) != Keys([]APISpan{c}, false) || Keys([]APISpan{a}, true) == Keys([]APISpan{c}, true) {
		t.Error("times counted without withTimes, or ignored with it")
	}
	if !strings.Contains(Keys([]APISpan{b}, true), "..open") {
		t.Errorf("an open span: %s", Keys([]APISpan{b}, true))
	}
}
