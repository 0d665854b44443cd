package ui_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedDir holds the seeds' example payloads (see its README).
const seedDir = "../testdata/seeds"

const threadsProject = "seed-team/seed-threads"

// postSeeds posts the seed files as OTLP/JSON to /otel/v1/traces.
func (ws *weaveServer) postSeeds(t *testing.T, files ...string) {
	t.Helper()
	for _, f := range files {
		body, err := os.ReadFile(filepath.Join(seedDir, f))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(ws.URL+"/otel/v1/traces", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: got %d, want 200", f, resp.StatusCode)
		}
	}
}

// TestThreads shows the four thread examples of seed 004 as the seed
// describes the thread view: each wandb.is_turn span a row (turn) of its
// thread with its nested spans inside, and example 4's
// background_indexing listed as background activity, not as a turn.
func TestThreads(t *testing.T) {
	b := needBrowser(t)
	ws := startServer(t, "")
	ws.postSeeds(t, "threads_example_1.json", "threads_example_2.json", "threads_example_3.json", "threads_example_4.json")
	p := &page{tab: b.newTab(t), ws: ws}
	withProject := "?p=" + encodeURIComponent(threadsProject)

	// The list: one row per thread, turns as the seed counts them.
	p.open(t, "#/"+withProject)
	p.waitFor(t, "the four threads", `document.querySelectorAll('.conv-row').length === 4`)
	for _, c := range []struct {
		thread, turns string
	}{{"thread_example_1", "1"}, {"thread_conversation_123", "2"}, {"thread_complex_456", "1"}, {"thread_background_789", "1 +1 bg"}} {
		got := eval[string](t, p.tab, fmt.Sprintf(`(() => { const r = [...document.querySelectorAll('.conv-row')].find((r) => r.innerText.includes(%s) || r.querySelector('a[href*=%s]'));
			return r ? r.querySelectorAll('td.num')[0].innerText.trim() : 'missing'; })()`, js(c.thread), js(encodeURIComponent(c.thread))))
		if got != c.turns {
			t.Errorf("conversations list, %s: got turns %q, want %q", c.thread, got, c.turns)
		}
	}
	p.screenshot(t, "threads-list")

	for _, c := range []struct {
		thread     string
		turns      []string // turn span names, in order
		background []string
	}{
		{"thread_example_1", []string{"process_user_message"}, nil},
		{"thread_conversation_123", []string{"process_message_turn1", "process_message_turn2"}, nil},
		{"thread_complex_456", []string{"handle_complex_request"}, nil},
		{"thread_background_789", []string{"user_query"}, []string{"background_indexing"}},
	} {
		p.open(t, conversationRoute(c.thread)+withProject)
		p.waitFor(t, "the turns of "+c.thread, fmt.Sprintf(`document.querySelectorAll('.turn').length === %d && !!document.querySelector('.conv-title')`, len(c.turns)))
		got := eval[[]string](t, p.tab, `[...document.querySelectorAll('.turn .turn-span')].map((e) => e.innerText)`)
		if fmt.Sprint(got) != fmt.Sprint(c.turns) {
			t.Errorf("%s: got turn rows %q, want %q", c.thread, got, c.turns)
		}
		bg := eval[[]string](t, p.tab, `[...document.querySelectorAll('.background-item a')].map((e) => e.innerText)`)
		if fmt.Sprint(bg) != fmt.Sprint(c.background) && !(len(bg) == 0 && len(c.background) == 0) {
			t.Errorf("%s: got background %q, want %q", c.thread, bg, c.background)
		}
		stat := eval[string](t, p.tab, `(() => { const e = [...document.querySelectorAll('.conv-stats .stat')].find((s) => s.textContent.startsWith('Background'));
			return e ? e.textContent : ''; })()`)
		if want := map[bool]string{true: "Background1", false: ""}[len(c.background) > 0]; stat != want {
			t.Errorf("%s: header background stat: got %q, want %q", c.thread, stat, want)
		}
		// Each turn shows its prompt (input.value) and answer (output.value).
		if n := p.count(t, ".turn .msg.user"); n != len(c.turns) {
			t.Errorf("%s: got %d user prompts, want one per turn (%d)", c.thread, n, len(c.turns))
		}
	}
	p.screenshot(t, "thread-background")
	// The background trace opens as a trace.
	p.click(t, ".background-item a")
	p.waitFor(t, "the background trace", `location.hash.startsWith('#/t/') && document.body.innerText.includes('background_indexing')`)

	// wandb.display_name ("Custom display name for UI") names the span in
	// the trace view; its span name stays in the tooltip.
	const traceID = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
	body := `{"resourceSpans":[{"resource":{"attributes":[{"key":"wandb.entity","value":{"stringValue":"seed-team"}},
		{"key":"wandb.project","value":{"stringValue":"display"}}]},"scopeSpans":[{"scope":{"name":"__main__"},"spans":[
		{"traceId":"` + traceID + `","spanId":"5b5b5b5b5b5b5b5b","name":"process_user_message","kind":1,
		 "startTimeUnixNano":"1768471200000000000","endTimeUnixNano":"1768471201000000000",
		 "attributes":[{"key":"wandb.display_name","value":{"stringValue":"User Message"}}]}]}]}]}`
	resp, err := http.Post(ws.URL+"/otel/v1/traces", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	p.open(t, "#/t/"+traceID+"?p="+encodeURIComponent("seed-team/display"))
	p.waitFor(t, "the trace named by its display name", `document.querySelector('h1')?.innerText === 'User Message' && document.querySelector('.wf-name')?.innerText === 'User Message'`)
	if got := eval[string](t, p.tab, `document.querySelector('.wf-name').title`); got != "process_user_message" {
		t.Errorf("span name tooltip: got %q, want process_user_message", got)
	}
	p.checkConsole(t)
}
