package ui_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/spans"
	"github.com/weavetrace/weave/transcript"
)

const defaultProject = "local/default"

// otherProject holds one imported session, for the project switcher.
const otherProject = "acme/agents"

// js quotes a Go string as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// page is the tab on the seeded server.
type page struct {
	*tab
	ws *weaveServer
}

// open loads the UI at route (a fresh document).
func (p *page) open(t *testing.T, route string) {
	t.Helper()
	p.run(t, "navigate to "+route, chromedp.Navigate(p.ws.URL+"/"+route))
	p.waitFor(t, "the view of "+route, fmt.Sprintf(`document.getElementById('main').dataset.route === %s`, js(route)))
}

// goTo navigates inside the app (a hash change, no reload).
func (p *page) goTo(t *testing.T, route string) {
	t.Helper()
	eval[chromedp.Void](t, p.tab, fmt.Sprintf(`location.hash = %s`, js(route)))
	p.waitFor(t, "the view of "+route, fmt.Sprintf(`document.getElementById('main').dataset.route === %s`, js(route)))
}

func (p *page) count(t *testing.T, sel string) int {
	t.Helper()
	return eval[int](t, p.tab, fmt.Sprintf(`document.querySelectorAll(%s).length`, js(sel)))
}

func (p *page) has(t *testing.T, sel, text string) bool {
	t.Helper()
	return eval[bool](t, p.tab, fmt.Sprintf(`[...document.querySelectorAll(%s)].some((e) => e.innerText.includes(%s))`, js(sel), js(text)))
}

// click clicks sel once the page has no read request in flight: a view
// still filling in (filter options, a live refresh) can move or replace the
// element between the moment its box is measured and the mouse events, and
// the click is lost (CI saw the projects test's row click do nothing).
func (p *page) click(t *testing.T, sel string) {
	t.Helper()
	p.settle(t)
	p.run(t, "click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// settle waits until no read request is in flight (api.js keeps the count
// on <html data-requests>, dropped only after the view that awaited a
// request has rendered it).
func (p *page) settle(t *testing.T) {
	t.Helper()
	p.waitFor(t, "no request in flight", `(document.documentElement.dataset.requests || '0') === '0'`)
}

func (p *page) key(t *testing.T, keys string) {
	t.Helper()
	p.run(t, "press "+keys, chromedp.KeyEvent(keys))
}

func conversationRoute(id string) string { return "#/c/" + encodeURIComponent(id) }

// encodeURIComponent escapes s as the JavaScript function does (route.js
// builds links with it): everything but A-Z a-z 0-9 - _ . ! ~ * ' ( ).
func encodeURIComponent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// seeded is what TestPages works on.
type seeded struct {
	subagent, tools, failure, compactAuto, compactManual, resume, simple string // conversation ids (captures/, CLI 2.1.197)
}

func seed(t *testing.T, ws *weaveServer) seeded {
	t.Helper()
	rep := ws.importCaptures(t, "", captureProjects(t)...)
	t.Logf("imported %d sessions, %d turns, %d spans", rep.Sessions, rep.Turns, rep.Spans)
	n := ws.postCorpus(t)
	t.Logf("posted %d OTLP corpus bodies", n)
	simple := filepath.Join(captures(t), "simple", "projects")
	ws.importCaptures(t, otherProject, simple)
	return seeded{
		subagent:      sessionOf(t, "subagent"),
		tools:         sessionOf(t, "tools"),
		simple:        sessionOf(t, "simple"),
		failure:       conversationWithPrompt(t, ws, "failure", "Run a failing command and read a missing file"),
		compactAuto:   conversationWithPrompt(t, ws, "compact", "Auto-compaction test, turn one"),
		compactManual: conversationWithPrompt(t, ws, "compact", "First prompt: echo before-compact"),
		resume:        conversationWithPrompt(t, ws, "resume", "Store the number 7 in number.txt"),
	}
}

// conversationWithPrompt finds the conversation of a captures/ scenario
// whose first prompt is prompt.
func conversationWithPrompt(t *testing.T, ws *weaveServer, scenario, prompt string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(captures(t), scenario, "projects", "*", "*.jsonl"))
	var sessions []string
	for _, f := range files {
		sessions = append(sessions, strings.TrimSuffix(filepath.Base(f), ".jsonl"))
	}
	for _, c := range ws.conversations(t, defaultProject, nil).Conversations {
		if c.FirstPrompt == prompt && slices.Contains(sessions, c.ConversationID) {
			return c.ConversationID
		}
	}
	t.Fatalf("no conversation of captures/%s (sessions %s) starts with %q", scenario, fmtList(sessions), prompt)
	return ""
}

// TestPages drives the UI of a seeded weave-server in Chromium: every page,
// the content each shows, navigation by mouse and keyboard, feedback,
// projects, themes and live updates. Screenshots go to testdata/artifacts.
func TestPages(t *testing.T) {
	b := needBrowser(t)
	ws := startServer(t, "")
	data := seed(t, ws)
	p := &page{tab: b.newTab(t), ws: ws}

	t.Run("conversations_list", func(t *testing.T) {
		p.open(t, "#/")
		p.waitFor(t, "the conversations table", `document.querySelectorAll('.conv-row').length > 0`)
		want := ws.conversations(t, defaultProject, map[string]any{"limit": 50})
		ids := eval[[]string](t, p.tab, `[...document.querySelectorAll('.conv-row')].map((r) => r.dataset.conversation)`)
		var wantIDs []string
		for _, c := range want.Conversations {
			wantIDs = append(wantIDs, c.ConversationID)
		}
		if !slices.Equal(ids, wantIDs) {
			t.Errorf("rows: got %d conversations %v, want the API's newest-first page of %d %v", len(ids), ids, len(wantIDs), wantIDs)
		}
		summary := p.text(t, ".list-summary")
		if !strings.Contains(summary, fmt.Sprintf("of %d conversations", want.Total)) {
			t.Errorf("summary: got %q, want it to count %d conversations", summary, want.Total)
		}
		for _, prompt := range []string{"Use a subagent to find the first line of notes.txt", "Store the number 7 in number.txt"} {
			if !p.has(t, ".conv-row", prompt) {
				t.Errorf("no row shows the first prompt %q", prompt)
			}
		}
		p.screenshot(t, "conversations")
		p.checkConsole(t)
		// The Claude Code conversations (the OTLP corpus pushes some past the
		// first page of all of them).
		p.goTo(t, "#/?agent=claude-code")
		row := fmt.Sprintf(`.conv-row[data-conversation=%s]`, js(data.failure))
		p.waitFor(t, "the failure conversation's row", fmt.Sprintf(`!!document.querySelector(%s)`, js(row)))
		cells := eval[[]string](t, p.tab, fmt.Sprintf(`[...document.querySelector(%s).cells].map((c) => c.innerText.trim())`, js(row)))
		if len(cells) != 6 || cells[1] != "1" || cells[4] != "2" || !strings.HasPrefix(cells[3], "$") || !strings.Contains(cells[0], "claude-code") {
			t.Errorf("failure conversation row: got cells %q, want 1 turn, 2 errors, the server's cost and the agent", cells)
		}
		if len(cells) == 6 && !regexp.MustCompile(`^[\d.]+k\s+[\d.]+k cached$`).MatchString(cells[2]) {
			t.Errorf("failure conversation tokens: got %q, want the total and the cached part (issue 16 item 10)", cells[2])
		}
		p.checkConsole(t)
	})

	t.Run("conversations_filters", func(t *testing.T) {
		p.open(t, "#/")
		p.waitFor(t, "the agent filter options", `[...document.querySelectorAll('#conv-agent option')].some((o) => o.value === 'general-purpose')`)
		eval[chromedp.Void](t, p.tab, `(() => { const s = document.getElementById('conv-agent'); s.value = 'general-purpose'; s.dispatchEvent(new Event('change')); })()`)
		p.waitFor(t, "the agent filter in the route", `location.hash.includes('agent=general-purpose') && document.querySelectorAll('.conv-row').length > 0`)
		want := ws.conversations(t, defaultProject, map[string]any{"agent_name": "general-purpose"})
		if got := p.count(t, ".conv-row"); got != want.Total || got == 0 {
			t.Errorf("agent general-purpose: got %d rows, want %d (the API's count)", got, want.Total)
		}
		p.open(t, "#/")
		p.waitFor(t, "rows", `document.querySelectorAll('.conv-row').length > 0`)
		p.run(t, "type a filter", chromedp.SendKeys(chromedp.CSS("#conv-filter"), "hello\n"))
		p.waitFor(t, "the text filter", `document.getElementById('main').dataset.route.includes('q=hello') && (document.querySelectorAll('.conv-row').length > 0 || !!document.querySelector('.empty, .error-box'))`)
		want = ws.conversations(t, defaultProject, map[string]any{"search": "hello"})
		if got := p.count(t, ".conv-row"); got != want.Total || got == 0 {
			t.Errorf("text filter hello: got %d rows, want %d\n%s", got, want.Total, p.describe())
		}
		p.goTo(t, "#/?range=1h")
		p.waitFor(t, "the time filter", `document.getElementById('conv-range').value === '1h' && (document.querySelectorAll('.conv-row').length > 0 || !!document.querySelector('.empty, .error-box'))`)
		from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		want = ws.conversations(t, defaultProject, map[string]any{"from": from})
		if got := p.count(t, ".conv-row"); got != min(want.Total, 50) {
			t.Errorf("last hour: got %d rows, want %d", got, min(want.Total, 50))
		}
		p.checkConsole(t)
	})

	// Issue 16 item 9: conversations say where they ran (working directory
	// and git branch) and filter on it.
	t.Run("conversations_where", func(t *testing.T) {
		p.open(t, "#/?agent=claude-code")
		row := fmt.Sprintf(`.conv-row[data-conversation=%s]`, js(data.failure))
		p.waitFor(t, "the failure conversation's row", fmt.Sprintf(`!!document.querySelector(%s)`, js(row)))
		cwd := eval[string](t, p.tab, fmt.Sprintf(`document.querySelector(%s + ' .cwd-chip')?.title || ''`, js(row)))
		branch := eval[string](t, p.tab, fmt.Sprintf(`document.querySelector(%s + ' .branch-chip')?.innerText || ''`, js(row)))
		const dir = "/tmp/cc-harness-run-failure/work"
		if !strings.Contains(cwd, dir) || !strings.Contains(branch, "HEAD") {
			t.Errorf("failure row: got working directory %q and branch %q, want %s on HEAD", cwd, branch, dir)
		}
		// The filters list the project's working directories and branches.
		p.waitFor(t, "the working directory and branch filters", fmt.Sprintf(`!document.getElementById('conv-cwd').hidden && !document.getElementById('conv-branch').hidden &&
			[...document.querySelectorAll('#conv-cwd option')].some((o) => o.value === %s) && [...document.querySelectorAll('#conv-branch option')].some((o) => o.value === 'HEAD')`, js(dir)))
		if n := p.count(t, "#conv-cwd option"); n < 3 {
			t.Errorf("working directory filter: %d options, want All and the ≥ 2 directories of the captures", n)
		}
		p.click(t, row+" .cwd-chip")
		p.waitFor(t, "the working directory filter", fmt.Sprintf(`location.hash.includes('cwd=') && document.getElementById('conv-cwd').value === %s &&
			document.querySelectorAll('.conv-row').length > 0 && [...document.querySelectorAll('.conv-row .cwd-chip')].every((e) => e.title.includes(%s))`, js(dir), js(dir)))
		want := ws.conversations(t, defaultProject, map[string]any{"working_dir": dir, "agent_name": "claude-code"})
		dirs := eval[[]string](t, p.tab, `[...document.querySelectorAll('.conv-row .cwd-chip')].map((e) => e.title)`)
		if len(dirs) != want.Total || want.Total < 2 {
			t.Errorf("rows in %s: got %d, want the API's %d (≥ 2: the failure scenario has several sessions)", dir, len(dirs), want.Total)
		}
		for _, d := range dirs {
			if !strings.Contains(d, dir) {
				t.Errorf("a row in another working directory: %q", d)
			}
		}
		p.screenshot(t, "conversations-where")
		// The branch too, from its select; then the directory filter off.
		choose := func(id, value string) {
			eval[chromedp.Void](t, p.tab, fmt.Sprintf(`(() => { const s = document.getElementById(%s); s.value = %s; s.dispatchEvent(new Event('change')); })()`, js(id), js(value)))
		}
		choose("conv-branch", "HEAD")
		p.waitFor(t, "the branch filter", `location.hash.includes('branch=HEAD') && location.hash.includes('cwd=') && document.querySelectorAll('.conv-row').length > 0 &&
			[...document.querySelectorAll('.conv-row .branch-chip')].every((e) => e.innerText.includes('HEAD'))`)
		onHead := ws.conversations(t, defaultProject, map[string]any{"git_branch": "HEAD", "agent_name": "claude-code"})
		if onHead.Total <= len(dirs) {
			t.Errorf("conversations on HEAD: %d, want more than the %d in %s", onHead.Total, len(dirs), dir)
		}
		choose("conv-cwd", "")
		p.waitFor(t, "the directory filter removed", fmt.Sprintf(`!location.hash.includes('cwd=') && location.hash.includes('branch=HEAD') && document.getElementById('conv-cwd').value === '' &&
			document.querySelectorAll('.conv-row').length === %d`, min(onHead.Total, 50)))
		p.open(t, conversationRoute(data.failure))
		p.waitFor(t, "where the conversation ran", `!!document.querySelector('.conv-stats .where')`)
		if got := p.text(t, ".conv-stats .where"); !strings.Contains(got, dir) || !strings.Contains(got, "HEAD") {
			t.Errorf("conversation header: got %q, want %s and HEAD", got, dir)
		}
		p.checkConsole(t)
	})

	t.Run("keyboard_in_list", func(t *testing.T) {
		p.open(t, "#/")
		p.waitFor(t, "rows", `document.querySelectorAll('.conv-row').length > 2`)
		p.key(t, "j")
		p.key(t, "j")
		p.key(t, "k")
		sel := eval[string](t, p.tab, `document.activeElement.dataset.conversation || ''`)
		first := eval[string](t, p.tab, `document.querySelector('.conv-row').dataset.conversation`)
		if sel != first {
			t.Errorf("after j j k: got focus on %q, want the first row %q", sel, first)
		}
		if !eval[bool](t, p.tab, `document.activeElement.classList.contains('nav-selected')`) {
			t.Error("the focused row is not marked selected")
		}
		p.key(t, "\r")
		p.waitFor(t, "Enter to open the conversation", fmt.Sprintf(`document.getElementById('main').dataset.route === %s`, js(conversationRoute(first))))
		p.key(t, "/")
		if got := eval[string](t, p.tab, `document.activeElement.id`); got != "global-search-input" {
			t.Errorf("/ on a conversation: got focus on %q, want the message search", got)
		}
		p.key(t, "\x1b") // Escape leaves the search box
		p.goTo(t, "#/")
		p.waitFor(t, "rows", `document.querySelectorAll('.conv-row').length > 0`)
		p.key(t, "/")
		if got := eval[string](t, p.tab, `document.activeElement.id`); got != "conv-filter" {
			t.Errorf("/ on the list: got focus on %q, want the list's filter box", got)
		}
		p.key(t, "\x1b")
		p.key(t, "?")
		p.waitFor(t, "the shortcuts dialog", `!!document.querySelector('dialog[open]') && document.querySelector('dialog[open]').innerText.includes('Keyboard shortcuts')`)
		p.viewportShot(t, "help")
		p.key(t, "\x1b")
		p.waitFor(t, "the dialog to close", `!document.querySelector('dialog[open]')`)
		p.checkConsole(t)
	})

	t.Run("conversation_with_subagent", func(t *testing.T) {
		p.open(t, conversationRoute(data.subagent))
		p.waitFor(t, "the subagent section", `!!document.querySelector('.subagent[data-agent="general-purpose"]')`)
		for _, c := range []struct{ sel, text string }{
			{".msg.user", "Use a subagent to find the first line of notes.txt"},
			{".msg.assistant", "I'll delegate this to a subagent."},
			{".subagent .subagent-prompt", "cat notes.txt"},
			{".subagent .msg.assistant", "line one of notes"},
			{".msg.assistant", "The subagent says the first line is: line one of notes"},
			{".turn-head", " out"},
			{".conv-head", "general-purpose"},
		} {
			if !p.has(t, c.sel, c.text) {
				t.Errorf("%s: got no element with %q", c.sel, c.text)
			}
		}
		if n := p.count(t, `.subagent .tool[data-tool="Bash"]`); n != 1 {
			t.Errorf("Bash calls inside the subagent section: got %d, want 1", n)
		}
		// The subagent's own calls are nested in it, not in the main agent.
		outside := eval[int](t, p.tab, `[...document.querySelectorAll('.tool')].filter((e) => !e.closest('.subagent')).length`)
		if outside != 0 {
			t.Errorf("tool calls outside the subagent section: got %d, want 0", outside)
		}
		if !p.has(t, ".subagent-head", "calls") {
			t.Error("the subagent header shows no call count")
		}
		// Ranges formatted one way: same day → the end as a time of day
		// (issue 16 item 7); tokens with their cache split (item 10).
		active := eval[string](t, p.tab, `document.querySelector('.conv-stats .active-range').innerText`)
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d → \d\d:\d\d:\d\d( · .*)?$`).MatchString(active) {
			t.Errorf("active range: got %q, want the start in full and the end as a time of day", active)
		}
		for _, sel := range []string{".conv-stats .tokens", ".turn-head .tokens", ".msg.assistant .tokens", ".subagent-head .tokens"} {
			if got := p.text(t, sel); !regexp.MustCompile(`in \([\d.]+k? (cached|cache write)`).MatchString(got) {
				t.Errorf("%s: got %q, want the input's cache split, e.g. 101k in (100k cached)", sel, got)
			}
		}
		p.screenshot(t, "conversation-subagent")
		p.checkConsole(t)
	})

	t.Run("conversation_turn_tool_call", func(t *testing.T) {
		p.open(t, "#/")
		link := fmt.Sprintf(`.conv-row[data-conversation=%s] .conv-link`, js(data.tools))
		p.waitFor(t, "the tools conversation row", fmt.Sprintf(`!!document.querySelector(%s)`, js(link)))
		p.click(t, link)
		p.waitFor(t, "its turn", `!!document.querySelector('.turn .tool[data-tool="Bash"]')`)
		if !p.has(t, ".turn-head h2", "Turn 1") {
			t.Error("no Turn 1 header")
		}
		toggle := `.tool[data-tool="Bash"] .tool-toggle`
		if got := p.text(t, toggle); !strings.Contains(got, "echo hello") {
			t.Errorf("collapsed Bash call: got %q, want the command as its key argument", got)
		}
		if eval[bool](t, p.tab, `!document.querySelector('.tool[data-tool="Bash"] .tool-detail').hidden`) {
			t.Error("the tool call is expanded before a click")
		}
		p.click(t, toggle)
		p.waitFor(t, "the expanded call", `!document.querySelector('.tool[data-tool="Bash"] .tool-detail').hidden`)
		args := p.text(t, `.tool[data-tool="Bash"] .tool-args`)
		result := p.text(t, `.tool[data-tool="Bash"] .tool-result`)
		if !strings.Contains(args, `"command": "echo hello"`) || !strings.Contains(result, "hello") {
			t.Errorf("expanded Bash call: got arguments %q and result %q, want the full command and its output", args, result)
		}
		if got := eval[string](t, p.tab, `document.querySelector(`+js(toggle)+`).getAttribute('aria-expanded')`); got != "true" {
			t.Errorf("aria-expanded: got %q, want true", got)
		}
		p.screenshot(t, "conversation-tool-expanded")
		p.key(t, "\x1b")
		p.waitFor(t, "Escape to collapse the call", `document.querySelector('.tool[data-tool="Bash"] .tool-detail').hidden`)
		// Thinking and parallel calls of the same turn.
		if n := p.count(t, ".tool"); n != 5 {
			t.Errorf("tool calls in the tools turn: got %d, want 5", n)
		}
		if !p.has(t, ".reasoning summary", "Thinking") {
			t.Error("no Thinking block for the message with reasoning")
		}
		// The last two calls (cat out.txt, Read notes.txt) ran at the same
		// time: one bracket says so; the three before ran one by one
		// (issue 16 item 8).
		type par struct {
			Label string   `json:"label"`
			Tools []string `json:"tools"`
		}
		groups := eval[[]par](t, p.tab, `[...document.querySelectorAll('.turn .parallel')].map((g) => ({
			label: g.querySelector('.parallel-label').innerText,
			tools: [...g.querySelectorAll(':scope > .tool')].map((e) => e.dataset.tool)}))`)
		if len(groups) != 1 || groups[0].Label != "2 calls in parallel" || strings.Join(groups[0].Tools, ",") != "Bash,Read" {
			t.Errorf("parallel calls: got %+v, want one group of the last Bash and Read", groups)
		}
		if n := eval[int](t, p.tab, `[...document.querySelectorAll('.turn .tool')].filter((e) => !e.closest('.parallel')).length`); n != 3 {
			t.Errorf("calls outside a parallel group: got %d, want the 3 that ran in sequence", n)
		}
		// The group is what the spans say: overlapping time ranges.
		var chat struct {
			Turns []struct {
				Messages []struct {
					Type          string     `json:"type"`
					StartedAt     time.Time  `json:"started_at"`
					EndedAt       *time.Time `json:"ended_at"`
					ParallelGroup string     `json:"parallel_group"`
				} `json:"messages"`
			} `json:"turns"`
		}
		ws.api(t, "/genai/conversations/chat", map[string]any{"project_id": defaultProject, "conversation_id": data.tools}, &chat)
		var in [][2]time.Time
		for _, m := range chat.Turns[0].Messages {
			if m.ParallelGroup != "" {
				in = append(in, [2]time.Time{m.StartedAt, *m.EndedAt})
			}
		}
		if len(in) != 2 || !in[1][0].Before(in[0][1]) {
			t.Errorf("parallel_group in the chat view: got ranges %v, want the two overlapping calls", in)
		}
		p.checkConsole(t)
	})

	t.Run("errors_in_plain_sight", func(t *testing.T) {
		p.open(t, conversationRoute(data.failure))
		p.waitFor(t, "the failed calls", `document.querySelectorAll('.tool.error').length === 2`)
		lines := eval[[]string](t, p.tab, `[...document.querySelectorAll('.tool.error .tool-error-line')].map((e) => e.innerText)`)
		if len(lines) != 2 || !strings.Contains(strings.Join(lines, "\n"), "does not exist") {
			t.Errorf("error lines shown without expanding: got %q, want both failures, one saying the file does not exist", lines)
		}
		if !p.has(t, ".turn-head .badge.error", "2 errors") {
			t.Error("the turn header does not count 2 errors")
		}
		p.screenshot(t, "conversation-errors")
		// Expanded, a failed call shows its error once, as its result
		// (issue 16 item 7: it was the error line, the result and the foot).
		eval[chromedp.Void](t, p.tab, `document.querySelectorAll('.tool.error .tool-toggle').forEach((b) => b.click())`)
		p.waitFor(t, "both failures expanded", `[...document.querySelectorAll('.tool.error .tool-detail')].every((d) => !d.hidden)`)
		for _, c := range []struct{ tool, text string }{{"Bash", "Exit code 3"}, {"Read", "File does not exist"}} {
			row := fmt.Sprintf(`document.querySelector('.tool.error[data-tool=%q]')`, c.tool)
			n := eval[int](t, p.tab, fmt.Sprintf(`%s.innerText.split(%s).length - 1`, row, js(c.text)))
			if n != 1 {
				t.Errorf("expanded failed %s call: %q shown %d times, want once\n%s", c.tool, c.text, n, eval[string](t, p.tab, row+`.innerText`))
			}
			if !eval[bool](t, p.tab, row+`.querySelector('.tool-result').innerText.includes(`+js(c.text)+`)`) {
				t.Errorf("expanded failed %s call: the result does not show %q", c.tool, c.text)
			}
		}
		p.screenshot(t, "conversation-errors-expanded")
		// Collapsed again, the error line is back.
		eval[chromedp.Void](t, p.tab, `document.querySelectorAll('.tool.error .tool-toggle').forEach((b) => b.click())`)
		p.waitFor(t, "the error lines after collapsing", `[...document.querySelectorAll('.tool.error .tool-error-line')].every((e) => !e.hidden && e.innerText.length > 0)`)
		p.checkConsole(t)
	})

	t.Run("compaction_marker", func(t *testing.T) {
		p.open(t, conversationRoute(data.compactAuto))
		p.waitFor(t, "the compaction marker", `!!document.querySelector('.compaction')`)
		if got := p.text(t, ".compaction .compaction-line"); !strings.Contains(got, "Context compacted") || !strings.Contains(got, "auto") {
			t.Errorf("compaction marker: got %q, want it to say an auto compaction happened", got)
		}
		if n := p.count(t, ".turn"); n != 3 {
			t.Errorf("turns: got %d, want 3", n)
		}
		p.screenshot(t, "conversation-compaction")
		// A /compact turn reports no usage: its header says what is known
		// (the size compacted), not "— —" (issue 16 item 7).
		p.open(t, conversationRoute(data.compactManual))
		p.waitFor(t, "the manual compaction", `document.querySelectorAll('.turn').length === 3 && !!document.querySelector('.turn[data-index="1"] .compaction')`)
		head := p.text(t, `.turn[data-index="1"] .turn-head`)
		if !strings.Contains(head, "tokens compacted") || strings.Contains(head, "—") {
			t.Errorf("/compact turn header: got %q, want the tokens compacted and no blank figures", head)
		}
		p.screenshot(t, "conversation-compaction-manual")
		p.checkConsole(t)
	})

	t.Run("resume_and_fork", func(t *testing.T) {
		p.open(t, conversationRoute(data.resume))
		p.waitFor(t, "the turns", `document.querySelectorAll('.turn').length === 4`)
		div := p.text(t, ".session-divider")
		if !strings.Contains(div, "Forked session") {
			t.Errorf("session divider: got %q, want a forked session", div)
		}
		if !p.has(t, ".conv-sub .sessions", "fork of") {
			t.Error("the conversation header does not list the fork's parent session")
		}
		p.screenshot(t, "conversation-fork")
		p.checkConsole(t)
	})

	t.Run("trace_waterfall", func(t *testing.T) {
		p.open(t, conversationRoute(data.subagent))
		p.waitFor(t, "the turn", `!!document.querySelector('.turn a[data-nav-open]')`)
		p.click(t, ".turn a[data-nav-open]")
		p.waitFor(t, "the waterfall", `document.getElementById('main').dataset.view === 'trace' && document.querySelectorAll('.wf-row').length > 0`)
		traceID := ws.turnOf(t, defaultProject, data.subagent, 0)
		var tr struct {
			Spans []json.RawMessage `json:"spans"`
		}
		ws.api(t, "/genai/spans/trace", map[string]any{"project_id": defaultProject, "trace_id": traceID}, &tr)
		if got := p.count(t, ".wf-row"); got != len(tr.Spans) {
			t.Errorf("waterfall rows: got %d, want one per span (%d)", got, len(tr.Spans))
		}
		// A later call shows what the model saw: its new messages, after
		// the conversation so far, collapsed.
		eval[bool](t, p.tab, `[...document.querySelectorAll('.wf-row.op-llm')].at(-1).click(), true`)
		p.waitFor(t, "a chat span's input with its history", `!!document.querySelector('.span-details details.input-history')`)
		if eval[bool](t, p.tab, `document.querySelector('.span-details details.input-history').open`) {
			t.Error("the input history is expanded, want collapsed")
		}
		if !p.has(t, ".span-details .input-history summary", "Conversation so far") {
			t.Error("the input history has no summary line")
		}
		p.click(t, `.wf-row.op-tool`)
		p.waitFor(t, "the tool span's attributes", `!!document.querySelector('.span-details') && document.querySelector('.span-details').innerText.includes('cat notes.txt')`)
		if !p.has(t, ".span-details", "weave.claude_code.") {
			t.Error("the span details do not list the custom attributes")
		}
		if !strings.Contains(eval[string](t, p.tab, `location.hash`), "span=") {
			t.Error("selecting a span does not put it in the link")
		}
		// Keyboard: k moves the selection up the tree.
		before := eval[string](t, p.tab, `document.querySelector('.span-details').dataset.span`)
		p.key(t, "k")
		p.key(t, "\r")
		p.waitFor(t, "k + Enter to select the span above", fmt.Sprintf(`document.querySelector('.span-details').dataset.span !== %s`, js(before)))
		// The trace page uses the window's width, and names are not cut
		// (issue 16 item 7).
		if w := eval[float64](t, p.tab, `document.getElementById('main').getBoundingClientRect().width`); w < 1300 {
			t.Errorf("trace page width: got %.0f px of the 1400 px window, want ≥ 1300", w)
		}
		if cut := eval[[]string](t, p.tab, `[...document.querySelectorAll('.wf-name')].filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.innerText)`); len(cut) > 0 {
			t.Errorf("span names cut: %q", cut)
		}
		if got := p.text(t, ".trace-head .tokens"); !strings.Contains(got, "cached") {
			t.Errorf("trace tokens: got %q, want the cache split", got)
		}
		// The waterfall's rows too (issue 16 item 10): a call that read the
		// cache says how much.
		labels := eval[[]string](t, p.tab, `[...document.querySelectorAll('.wf-dur')].map((e) => e.innerText).filter((s) => s.includes('tok'))`)
		cachedRows := 0
		for _, l := range labels {
			if regexp.MustCompile(`[\d.]+k? tok, [\d.]+k? cached$`).MatchString(l) {
				cachedRows++
			}
		}
		if cachedRows == 0 {
			t.Errorf("waterfall token labels: got %q, want the cached part where a call read the cache", labels)
		}
		cutLabels := `[...document.querySelectorAll('.wf-dur')].filter((e) => {
			const r = e.getBoundingClientRect(), tr = e.parentElement.getBoundingClientRect();
			return r.left < tr.left - 1 || r.right > tr.right + 1; }).map((e) => e.innerText)`
		if out := eval[[]string](t, p.tab, cutLabels); len(out) > 0 {
			t.Errorf("waterfall labels running out of their track (cut): %q", out)
		}
		// Narrower, then as wide as before: the labels are refitted.
		for _, w := range []int64{1100, 1400} {
			if _, err := chromedp.Run(p.tab.ctx, chromedp.EmulateViewport(w, 1000)); err != nil {
				t.Fatal(err)
			}
			p.waitFor(t, fmt.Sprintf("the labels refitted at %d px", w), fmt.Sprintf(`window.innerWidth === %d && (%s).length === 0`, w, cutLabels))
		}
		p.screenshot(t, "trace")
		p.checkConsole(t)
	})

	t.Run("agents", func(t *testing.T) {
		p.open(t, "#/agents")
		p.waitFor(t, "the agents table and chart", `document.querySelectorAll('.agents-table tbody tr').length > 0 && document.querySelectorAll('svg.chart rect.bar').length > 0`)
		names := eval[[]string](t, p.tab, `[...document.querySelectorAll('.agents-table tbody tr')].map((r) => r.dataset.agent)`)
		for _, want := range []string{"claude-code", "general-purpose"} {
			if !slices.Contains(names, want) {
				t.Errorf("agents: got %q, want %s among them", names, want)
			}
		}
		p.screenshot(t, "agents")
		p.click(t, `.agents-table tr[data-agent="claude-code"] a`)
		p.waitFor(t, "the agent page", `document.getElementById('main').dataset.route.startsWith('#/agents/claude-code') && document.querySelectorAll('.chart-grid svg.chart').length === 5`)
		if !p.has(t, "table", "2.1.197") {
			t.Error("the claude-code page does not list version 2.1.197")
		}
		// Round ticks (1, 2 or 5 × 10^n, whole numbers for counts), and
		// output tokens on their own scale (issue 16 item 7); input tokens
		// split by cache use (item 10).
		type chart struct {
			Title  string   `json:"title"`
			Ticks  []string `json:"ticks"`
			Bars   int      `json:"bars"`
			Series []string `json:"series"`
		}
		charts := eval[[]chart](t, p.tab, `[...document.querySelectorAll('.chart-grid > div')].map((d) => ({
			title: d.querySelector('.section-title').innerText,
			ticks: [...d.querySelectorAll('text.axis-label[text-anchor=end]')].map((e) => e.textContent),
			bars: d.querySelectorAll('rect.bar').length,
			series: [...d.querySelectorAll('.legend li')].map((e) => e.innerText)}))`)
		byTitle := map[string]chart{}
		for _, c := range charts {
			byTitle[c.Title] = c
		}
		for _, title := range []string{"Invocations", "Errors"} {
			if ticks := byTitle[title].Ticks; !roundTicks(ticks) {
				t.Errorf("%s chart ticks: got %q, want whole numbers in steps of 1, 2 or 5 × 10^n", title, ticks)
			}
		}
		if c := byTitle["Output tokens"]; c.Bars == 0 {
			t.Errorf("output tokens chart: got %+v, want bars on a scale of their own", c)
		}
		if c := byTitle["Input tokens"]; strings.Join(c.Series, ",") != "uncached,cache read,cache write" {
			t.Errorf("input tokens chart: got series %q, want uncached, cache read, cache write", c.Series)
		}
		if got := p.text(t, ".conv-stats .tokens"); !strings.Contains(got, "cached") {
			t.Errorf("agent tokens: got %q, want the cache split", got)
		}
		// Feedback on the agent itself (ref agent/claude-code), kept across a reload.
		agentUp := `.page-head .fb-up`
		p.click(t, agentUp)
		p.waitFor(t, "thumbs up on the agent", fmt.Sprintf(`document.querySelector(%s).getAttribute('aria-pressed') === 'true'`, js(agentUp)))
		p.open(t, "#/agents/claude-code")
		p.waitFor(t, "the agent's feedback after reload", fmt.Sprintf(`document.querySelector(%s)?.getAttribute('aria-pressed') === 'true'`, js(agentUp)))
		p.screenshot(t, "agent")
		p.checkConsole(t)
	})

	t.Run("search", func(t *testing.T) {
		p.open(t, "#/")
		p.run(t, "search", chromedp.SendKeys(chromedp.CSS("#global-search-input"), "notes\n"))
		p.waitFor(t, "hits", `document.getElementById('main').dataset.view === 'search' && document.querySelectorAll('.hit').length > 0`)
		marks := eval[[]string](t, p.tab, `[...document.querySelectorAll('.hit mark')].map((m) => m.innerText.toLowerCase())`)
		if len(marks) == 0 || slices.IndexFunc(marks, func(m string) bool { return m != "notes" }) >= 0 {
			t.Errorf("highlights: got %q, want only the word searched for", marks)
		}
		p.screenshot(t, "search")
		href := eval[string](t, p.tab, `document.querySelector('.hit a[data-nav-open]').getAttribute('href')`)
		p.click(t, ".hit a[data-nav-open]")
		p.waitFor(t, "the exact turn", `document.getElementById('main').dataset.view === 'conversation' && !!document.querySelector('.turn.focused')`)
		turn := eval[string](t, p.tab, `document.querySelector('.turn.focused').dataset.trace`)
		if !strings.Contains(href, "turn="+turn) {
			t.Errorf("hit link %s opened turn %s", href, turn)
		}
		p.waitFor(t, "the words highlighted in the turn", `document.querySelectorAll('.turn.focused mark.hit').length > 0`)
		p.checkConsole(t)
	})

	// Issue 16 item 5: one text said once is one hit. A tool's output is
	// said by its execute_tool span (the next call's input repeats it), a
	// subagent's result by its invoke_agent span.
	t.Run("search_one_hit_per_occurrence", func(t *testing.T) {
		for _, c := range []struct{ q, op string }{
			{`"line two of notes"`, "execute_tool"},
			{"agentId SendMessage", "invoke_agent"},
		} {
			route := "#/search?q=" + encodeURIComponent(c.q)
			p.open(t, route)
			p.waitFor(t, "hits for "+c.q, `document.querySelectorAll('.hit').length > 0`)
			type hit struct {
				Conversation string `json:"conversation"`
				Operation    string `json:"operation"`
				Role         string `json:"role"`
			}
			hits := eval[[]hit](t, p.tab, `[...document.querySelectorAll('.hit')].map((e) => ({conversation: e.dataset.conversation, operation: e.dataset.operation, role: e.dataset.role}))`)
			per := map[string]int{}
			for _, h := range hits {
				per[h.Conversation]++
				if h.Operation != c.op || h.Role != "tool_result" {
					t.Errorf("search %s: got a hit on %s as %s, want only the %s span's tool_result", c.q, h.Operation, h.Role, c.op)
				}
			}
			for conv, n := range per {
				if n != 1 {
					t.Errorf("search %s: got %d hits in conversation %s, want 1 (one text said once)", c.q, n, conv)
				}
			}
			if len(per) < 3 {
				t.Errorf("search %s: got hits in %d conversations, want one in each of the ≥3 subagent or tools sessions", c.q, len(per))
			}
			if !p.has(t, ".list-summary", "where the text was first said") {
				t.Error("the search page does not say hits are where the text was first said")
			}
		}
		p.screenshot(t, "search-one-hit")
		p.checkConsole(t)
	})

	t.Run("feedback_persists", func(t *testing.T) {
		route := conversationRoute(data.simple)
		p.open(t, route)
		turnUp := `.turn-head .fb-up`
		p.waitFor(t, "the turn's feedback", fmt.Sprintf(`!!document.querySelector(%s)`, js(turnUp)))
		p.click(t, turnUp)
		p.waitFor(t, "thumbs up recorded", fmt.Sprintf(`document.querySelector(%s).getAttribute('aria-pressed') === 'true'`, js(turnUp)))
		p.click(t, ".conv-sub .fb-note")
		p.run(t, "write a note", chromedp.SendKeys(chromedp.CSS(".conv-sub .fb-text"), "Right answer, but slow to start"))
		p.click(t, ".conv-sub .fb-form button[type=submit]")
		p.waitFor(t, "the note shown", `!!document.querySelector('.conv-sub .fb-note-item')`)
		spanDown := `.msg.assistant .fb-down`
		p.settle(t)
		p.run(t, "thumbs down on a message", chromedp.Click(chromedp.CSS(spanDown)))
		p.waitFor(t, "thumbs down recorded", fmt.Sprintf(`document.querySelector(%s).getAttribute('aria-pressed') === 'true'`, js(spanDown)))
		// A fresh page load shows all three.
		p.open(t, route)
		p.waitFor(t, "the stored feedback after reload", fmt.Sprintf(`document.querySelector(%s)?.getAttribute('aria-pressed') === 'true' && document.querySelector(%s)?.getAttribute('aria-pressed') === 'true' && !!document.querySelector('.conv-sub .fb-note-item')`, js(turnUp), js(spanDown)))
		if got := p.text(t, ".conv-sub .fb-note-text"); got != "Right answer, but slow to start" {
			t.Errorf("note after reload: got %q", got)
		}
		var anns struct {
			Annotations []struct {
				Ref   string `json:"ref"`
				Kind  string `json:"kind"`
				Value any    `json:"value"`
			} `json:"annotations"`
		}
		ws.api(t, "/genai/annotations/query", map[string]any{"project_id": defaultProject}, &anns)
		kinds := map[string]string{}
		for _, a := range anns.Annotations {
			kinds[strings.SplitN(a.Ref, "/", 2)[0]+" "+a.Kind] = fmt.Sprint(a.Value)
		}
		want := map[string]string{
			"agent_turn thumbs":       "up",
			"agent_span thumbs":       "down",
			"agent_conversation note": "Right answer, but slow to start",
		}
		for k, v := range want {
			if kinds[k] != v {
				t.Errorf("stored annotation %s: got %q, want %q (all: %v)", k, kinds[k], v, kinds)
			}
		}
		p.screenshot(t, "feedback")
		// Clicking the pressed thumb again removes it, for good.
		p.click(t, turnUp)
		p.waitFor(t, "thumbs up removed", fmt.Sprintf(`document.querySelector(%s).getAttribute('aria-pressed') === 'false'`, js(turnUp)))
		p.open(t, route)
		p.waitFor(t, "the turn's feedback", fmt.Sprintf(`!!document.querySelector('.conv-sub .fb-note-item') && document.querySelector(%s)?.getAttribute('aria-pressed') === 'false'`, js(turnUp)))
		p.checkConsole(t)
	})

	// Issue 16 item 6: feedback is visible where its target is, one
	// thumbs per target and author, and a note on a target not stored yet
	// is kept and said to be so.
	t.Run("feedback_visible_and_one_thumbs", func(t *testing.T) {
		route := conversationRoute(data.tools)
		turn := ws.turnOf(t, defaultProject, data.tools, 0)
		var tr struct {
			Spans []struct {
				SpanID   string `json:"span_id"`
				ToolName string `json:"tool_name"`
			} `json:"spans"`
		}
		ws.api(t, "/genai/spans/trace", map[string]any{"project_id": defaultProject, "trace_id": turn}, &tr)
		bash := ""
		for _, s := range tr.Spans {
			if s.ToolName == "Bash" {
				bash = s.SpanID
			}
		}
		if bash == "" {
			t.Fatal("no Bash span in the tools turn")
		}
		ref := "agent_span/" + bash
		type upsert struct {
			Annotation struct {
				ID string `json:"id"`
			} `json:"annotation"`
			TargetFound bool `json:"target_found"`
		}
		var first, second, pending upsert
		ws.api(t, "/genai/annotations/upsert", map[string]any{"project_id": defaultProject, "ref": ref, "kind": "thumbs", "value": "up"}, &first)
		ws.api(t, "/genai/annotations/upsert", map[string]any{"project_id": defaultProject, "ref": ref, "kind": "thumbs", "value": "down"}, &second)
		ws.api(t, "/genai/annotations/upsert", map[string]any{"project_id": defaultProject, "ref": ref, "kind": "note", "value": "echo was enough here"}, &upsert{})
		if !first.TargetFound || second.Annotation.ID != first.Annotation.ID {
			t.Errorf("two thumbs on one span: got ids %s then %s (target found %v), want the second to replace the first", first.Annotation.ID, second.Annotation.ID, first.TargetFound)
		}
		ws.api(t, "/genai/annotations/upsert", map[string]any{"project_id": defaultProject, "ref": "agent_span/0123456789abcdef", "kind": "note", "value": "for a span to come"}, &pending)
		if pending.TargetFound || pending.Annotation.ID == "" {
			t.Errorf("note on a span not stored: got %+v, want it kept with target_found false", pending)
		}
		p.open(t, route)
		row := fmt.Sprintf(`.tool[data-span="%s"]`, bash)
		p.waitFor(t, "the feedback mark on the collapsed Bash call", fmt.Sprintf(`!!document.querySelector(%s) && !document.querySelector(%s + ' .fb-summary').hidden`, js(row), js(row)))
		if got := eval[string](t, p.tab, fmt.Sprintf(`document.querySelector(%s + ' .fb-summary').getAttribute('aria-label')`, js(row))); got != "Feedback: thumbs down, 1 note" {
			t.Errorf("collapsed tool call's feedback mark: got %q, want thumbs down and 1 note", got)
		}
		if eval[bool](t, p.tab, fmt.Sprintf(`!document.querySelector(%s + ' .tool-detail').hidden`, js(row))) {
			t.Error("the call is expanded: the mark must show while it is collapsed")
		}
		// The per-message feedback buttons are fully visible, not faded.
		opacity := eval[float64](t, p.tab, `(() => { let o = 1; for (let e = document.querySelector('.msg.assistant .fb-up'); e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity); return o; })()`)
		if opacity < 0.99 {
			t.Errorf("message feedback buttons: effective opacity %.2f, want 1", opacity)
		}
		p.viewportShot(t, "feedback-collapsed-tool")
		// Thumbs up in the page on the same call replaces the API's thumbs.
		p.click(t, row+" .tool-toggle")
		p.click(t, row+" .tool-foot .fb-up")
		p.waitFor(t, "thumbs up on the call", fmt.Sprintf(`document.querySelector(%s + ' .tool-foot .fb-up').getAttribute('aria-pressed') === 'true'`, js(row)))
		var anns struct {
			Annotations []struct {
				Value any `json:"value"`
			} `json:"annotations"`
		}
		ws.api(t, "/genai/annotations/query", map[string]any{"project_id": defaultProject, "refs": []string{ref}, "kind": "thumbs"}, &anns)
		if len(anns.Annotations) != 1 || anns.Annotations[0].Value != "up" {
			t.Errorf("thumbs on the call after the page's thumbs up: got %+v, want one, up", anns.Annotations)
		}
		p.checkConsole(t)
	})

	t.Run("scores", func(t *testing.T) {
		// A numeric score on the tools conversation and a yes/no score on
		// one of its messages; the list shows them and filters by them.
		route := conversationRoute(data.tools)
		p.open(t, route)
		p.waitFor(t, "the conversation's feedback", `!!document.querySelector('.conv-sub .fb-score')`)
		p.click(t, ".conv-sub .fb-score")
		p.run(t, "name the score", chromedp.SendKeys(chromedp.CSS(".conv-sub .fb-score-form .fb-score-name-input"), "helpfulness"))
		p.run(t, "give it 4", chromedp.SendKeys(chromedp.CSS(`.conv-sub .fb-score-form input[type=number][aria-label="Score value"]`), "4"))
		p.run(t, "out of 5", chromedp.SendKeys(chromedp.CSS(`.conv-sub .fb-score-form input[placeholder=max]`), "5"))
		p.click(t, ".conv-sub .fb-score-form button[type=submit]")
		p.waitFor(t, "the score shown", `document.querySelector('.conv-sub .fb-score-item')?.innerText.includes('4 / 5')`)
		msgScore := `.msg.assistant .fb-score`
		p.click(t, msgScore)
		p.run(t, "name the message's score", chromedp.SendKeys(chromedp.CSS(".msg.assistant .fb-score-form .fb-score-name-input"), "correct"))
		p.run(t, "a yes/no score", chromedp.SetValue(chromedp.CSS(".msg.assistant .fb-score-form select"), "boolean"))
		eval[chromedp.Void](t, p.tab, `document.querySelector('.msg.assistant .fb-score-form select').dispatchEvent(new Event('change'))`)
		p.click(t, ".msg.assistant .fb-score-form button[type=submit]")
		p.waitFor(t, "the message's score", `document.querySelector('.msg.assistant .fb-score-item')?.innerText.includes('yes')`)
		// The list: the conversation's summaries, and the filter.
		p.open(t, "#/?score="+url.QueryEscape("helpfulness >= 4"))
		row := fmt.Sprintf(`.conv-row[data-conversation=%s]`, js(data.tools))
		p.waitFor(t, "the scored conversation, filtered", fmt.Sprintf(`document.querySelectorAll('.conv-row').length === 1 && !!document.querySelector(%s)`, js(row)))
		chips := p.text(t, row+" .score-chips")
		if !strings.Contains(chips, "helpfulness 4 (1)") || !strings.Contains(chips, "correct 100% yes (1)") {
			t.Errorf("score chips: got %q, want helpfulness 4 (1) and correct 100%% yes (1)", chips)
		}
		p.open(t, "#/?score="+url.QueryEscape("helpfulness < 4"))
		p.waitFor(t, "no conversation below 4", `!!document.querySelector('.list-body .empty')`)
		// The message's score counts for its agent.
		p.open(t, "#/agents")
		p.waitFor(t, "the agent's scores", `[...document.querySelectorAll('.agents-table .score-chip')].some((c) => c.innerText.includes('correct'))`)
		p.screenshot(t, "scores")
		p.checkConsole(t)
	})

	t.Run("projects", func(t *testing.T) {
		p.open(t, "#/")
		p.waitFor(t, "the project list", fmt.Sprintf(`[...document.querySelectorAll('#project-select option')].some((o) => o.value === %s)`, js(otherProject)))
		if got := eval[string](t, p.tab, `document.getElementById('project-select').value`); got != defaultProject {
			t.Errorf("project on open: got %q, want the server default %q", got, defaultProject)
		}
		eval[chromedp.Void](t, p.tab, fmt.Sprintf(`(() => { const s = document.getElementById('project-select'); s.value = %s; s.dispatchEvent(new Event('change')); })()`, js(otherProject)))
		p.waitFor(t, "the other project's conversations", `location.hash.includes('p=acme') && document.querySelectorAll('.conv-row').length === 1`)
		if !p.has(t, ".conv-row", "What is the answer to everything?") {
			t.Error("acme/agents does not show its one imported conversation")
		}
		// Links inside the project keep it.
		p.click(t, ".conv-row .conv-link")
		p.waitFor(t, "the conversation in the other project", `document.getElementById('main').dataset.view === 'conversation' && location.hash.includes('p=acme') && !!document.querySelector('.turn')`)
		p.checkConsole(t)
	})

	t.Run("theme", func(t *testing.T) {
		p.open(t, "#/")
		p.waitFor(t, "rows", `document.querySelectorAll('.conv-row').length > 0`)
		bg := func() string { return eval[string](t, p.tab, `getComputedStyle(document.body).backgroundColor`) }
		light := bg()
		p.click(t, "#theme-toggle")
		theme := eval[string](t, p.tab, `document.documentElement.dataset.theme || ''`)
		dark := bg()
		if theme != "dark" || dark == light {
			t.Errorf("after the toggle: got theme %q, background %s (was %s), want dark with another background", theme, dark, light)
		}
		p.screenshot(t, "conversations-dark")
		p.open(t, conversationRoute(data.subagent))
		p.waitFor(t, "the conversation", `!!document.querySelector('.subagent')`)
		if got := eval[string](t, p.tab, `document.documentElement.dataset.theme || ''`); got != "dark" {
			t.Errorf("theme after a reload: got %q, want the stored dark", got)
		}
		p.screenshot(t, "conversation-dark")
		p.key(t, "t")
		if got := bg(); got != light {
			t.Errorf("t: got background %s, want the light one %s back", got, light)
		}
		p.checkConsole(t)
	})

	t.Run("search_roles", func(t *testing.T) {
		p.open(t, "#/search?q=notes")
		p.waitFor(t, "hits", `document.querySelectorAll('.hit').length > 0`)
		p.click(t, `.role-chips button:nth-child(4)`) // Tool results
		p.waitFor(t, "the role filter", `document.getElementById('main').dataset.route.includes('role=tool_result') && document.querySelectorAll('.hit').length > 0`)
		roles := eval[[]string](t, p.tab, `[...document.querySelectorAll('.hit .badge.role')].map((b) => b.innerText)`)
		if slices.IndexFunc(roles, func(r string) bool { return r != "tool result" }) >= 0 {
			t.Errorf("roles with the Tool results filter: got %q, want only tool result", roles)
		}
		p.checkConsole(t)
	})

	t.Run("delete", func(t *testing.T) {
		// A conversation of two turns of its own: one turn deleted from the
		// trace page, then the conversation from its page, each after a
		// confirmation.
		conv := fmt.Sprintf("doomed-%d", time.Now().UnixNano())
		src := capturedTurns(t, "simple")
		var all []spans.Span
		var traces []string
		for i := range 2 {
			turn := retarget(t, src[0], conv, fmt.Sprint(i), time.Now().Add(time.Duration(i-120)*time.Minute))
			all = append(all, turn...)
			traces = append(traces, rootOf(t, turn).TraceID.String())
		}
		ws.export(t, "", all)
		p.open(t, "#/t/"+traces[0])
		p.waitFor(t, "the trace's delete button", `!!document.getElementById('trace-delete')`)
		p.click(t, "#trace-delete")
		p.waitFor(t, "the confirmation", `!!document.querySelector('dialog .button.danger')`)
		p.screenshot(t, "delete-confirm")
		p.click(t, "dialog .button.danger")
		p.waitFor(t, "back on the conversation with one turn", fmt.Sprintf(`location.hash.startsWith(%s) && document.querySelectorAll('.turn').length === 1`,
			js(conversationRoute(conv))))
		// Export before the delete: the conversation as an ATIF trajectory,
		// downloaded (the blob the page saves is caught).
		eval[chromedp.Void](t, p.tab, `(() => { const make = URL.createObjectURL; URL.createObjectURL = (b) => { b.text().then((s) => { window.__exported = s; }); return make(b); }; })()`)
		p.click(t, "#conv-export summary")
		p.screenshot(t, "export-menu")
		p.click(t, `#conv-export .menu-item[data-format="atif"]`)
		p.waitFor(t, "the ATIF download", `typeof window.__exported === 'string'`)
		var doc struct {
			SchemaVersion string `json:"schema_version"`
			SessionID     string `json:"session_id"`
			Steps         []any  `json:"steps"`
		}
		if err := json.Unmarshal([]byte(eval[string](t, p.tab, `window.__exported`)), &doc); err != nil || doc.SchemaVersion != "ATIF-v1.4" || doc.SessionID != conv || len(doc.Steps) < 2 {
			t.Errorf("exported trajectory: %v %s %s %d steps; want the conversation's ATIF", err, doc.SchemaVersion, doc.SessionID, len(doc.Steps))
		}
		p.click(t, "#conv-delete")
		p.waitFor(t, "the confirmation", `!!document.querySelector('dialog .button.danger')`)
		p.click(t, "dialog .button.danger")
		p.waitFor(t, "back on the list", `document.getElementById('main').dataset.route === '' || location.hash === '#/' || location.hash.startsWith('#/?')`)
		var left struct {
			Spans []any `json:"spans"`
		}
		ws.api(t, "/genai/spans/query", map[string]any{"project_id": defaultProject, "filters": []map[string]any{{"field": "conversation_id", "op": "eq", "value": conv}}}, &left)
		if len(left.Spans) != 0 {
			t.Errorf("after deleting the conversation: %d of its spans left, want none", len(left.Spans))
		}
		p.checkConsole(t)
	})

	t.Run("long_conversation", func(t *testing.T) {
		conv := fmt.Sprintf("long-%d", time.Now().UnixNano())
		src := capturedTurns(t, "simple")
		var all []spans.Span
		var last string
		start := time.Now().Add(-2 * time.Hour)
		for i := range 45 {
			turn := retarget(t, src[0], conv, fmt.Sprint(i), start.Add(time.Duration(i)*time.Minute))
			all = append(all, turn...)
			last = rootOf(t, turn).TraceID.String()
		}
		ws.export(t, "", all)
		p.open(t, conversationRoute(conv))
		p.waitFor(t, "the first page of turns", `document.querySelectorAll('.turn').length === 20`)
		if got := p.text(t, ".more button"); !strings.Contains(got, "25 not shown") {
			t.Errorf("more button: got %q, want 25 turns not shown", got)
		}
		if got := p.text(t, ".conv-stats"); !strings.Contains(got, "45") {
			t.Errorf("header: got %q, want 45 turns", got)
		}
		// The server's cost covers every turn before they are all loaded:
		// 45 × Claude Code's own $0.199185 for the captured turn.
		if !p.has(t, ".conv-stats", "$8.96") {
			t.Errorf("header: got %q, want the whole conversation's cost, $8.96", p.text(t, ".conv-stats"))
		}
		// Scrolling to the end loads the next pages.
		for _, want := range []int{40, 45} {
			eval[chromedp.Void](t, p.tab, `document.querySelector('.more button').scrollIntoView()`)
			p.waitFor(t, fmt.Sprintf("%d turns", want), fmt.Sprintf(`document.querySelectorAll('.turn').length === %d`, want))
		}
		if p.count(t, ".more button") != 0 {
			t.Error("a more button is left after every turn loaded")
		}
		// A link to the last turn loads the pages up to it and shows it.
		p.open(t, conversationRoute(conv)+"?turn="+last)
		p.waitFor(t, "the linked last turn", fmt.Sprintf(`document.querySelector('.turn.focused')?.dataset.trace === %s`, js(last)))
		if got := eval[string](t, p.tab, `document.querySelector('.turn.focused h2').innerText`); got != "Turn 45" {
			t.Errorf("linked turn: got %q, want Turn 45", got)
		}
		p.key(t, "k")
		if got := eval[string](t, p.tab, `document.activeElement.closest('.turn')?.dataset.index || ''`); got != "43" {
			t.Errorf("k from turn 45: got turn index %q, want 43", got)
		}
		p.viewportShot(t, "conversation-long")
		p.checkConsole(t)
	})

	t.Run("live_turn", func(t *testing.T) {
		testLiveTurn(t, p)
	})

	// Last: every conversation, trace and agent page loads without a console
	// error, whatever instrumentation produced it.
	t.Run("every_page_loads", func(t *testing.T) {
		p.open(t, "#/")
		for _, project := range []string{defaultProject, otherProject} {
			q := ""
			if project != defaultProject {
				q = "?p=" + url.QueryEscape(project)
			}
			for _, c := range ws.conversations(t, project, map[string]any{"limit": 500}).Conversations {
				p.goTo(t, conversationRoute(c.ConversationID)+q)
				p.waitFor(t, "conversation "+c.ConversationID, `document.querySelectorAll('.turn').length > 0 || !!document.querySelector('.error-box')`)
				if p.count(t, ".error-box") > 0 {
					t.Errorf("conversation %s: %s", c.ConversationID, p.text(t, ".error-box"))
					continue
				}
				trace := eval[string](t, p.tab, `document.querySelector('.turn').dataset.trace`)
				p.goTo(t, "#/t/"+trace+q)
				p.waitFor(t, "trace "+trace, `document.querySelectorAll('.wf-row').length > 0 || !!document.querySelector('.error-box')`)
				if p.count(t, ".error-box") > 0 {
					t.Errorf("trace %s: %s", trace, p.text(t, ".error-box"))
				}
			}
			var agents struct {
				Agents []struct {
					AgentName string `json:"agent_name"`
				} `json:"agents"`
			}
			ws.api(t, "/genai/agents/query", map[string]any{"project_id": project}, &agents)
			for _, a := range agents.Agents {
				p.goTo(t, "#/agents/"+url.PathEscape(a.AgentName)+q)
				p.waitFor(t, "agent "+a.AgentName, `document.querySelectorAll('.chart-grid svg').length === 5 || !!document.querySelector('.error-box')`)
			}
		}
		p.checkConsole(t)
	})
}

// roundTicks reports whether axis labels are whole numbers from 0 in equal
// steps of 1, 2 or 5 × 10^n.
func roundTicks(labels []string) bool {
	if len(labels) < 2 {
		return false
	}
	var v []int
	for _, l := range labels {
		n, err := strconv.Atoi(strings.ReplaceAll(l, ",", ""))
		if err != nil {
			return false
		}
		v = append(v, n)
	}
	step := v[1] - v[0]
	for m := step; m > 0; m /= 10 {
		if m%10 != 0 {
			if m != 1 && m != 2 && m != 5 {
				return false
			}
			break
		}
	}
	for i := range v {
		if v[i] != i*step {
			return false
		}
	}
	return v[0] == 0 && step > 0
}

// capturedTurns returns the spans of a captures/ scenario's only session,
// one slice per turn, in order.
func capturedTurns(t *testing.T, scenario string) [][]spans.Span {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(captures(t), scenario, "projects", "*", "*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("%s capture: got %d transcripts, want 1", scenario, len(files))
	}
	s, _, err := transcript.Load(files[0], transcript.NewResolver())
	if err != nil {
		t.Fatal(err)
	}
	var turns [][]spans.Span
	index := map[spanid.TraceID]int{}
	for _, sp := range spans.Build(s, spans.Options{IntegrationVersion: "ui-test"}) {
		i, ok := index[sp.TraceID]
		if !ok {
			i = len(turns)
			index[sp.TraceID] = i
			turns = append(turns, nil)
		}
		turns[i] = append(turns[i], sp)
	}
	slices.SortFunc(turns, func(a, b []spans.Span) int { return rootOf(t, a).Start.Compare(rootOf(t, b).Start) })
	return turns
}

// retarget copies a turn under fresh trace and span ids (derived from conv
// and salt), into conversation conv, with its root starting at at.
func retarget(t *testing.T, turn []spans.Span, conv, salt string, at time.Time) []spans.Span {
	t.Helper()
	shift := at.Sub(rootOf(t, turn).Start)
	out := make([]spans.Span, 0, len(turn))
	newSpanID := func(trace spanid.TraceID, id spanid.SpanID) spanid.SpanID {
		if id.IsZero() {
			return id
		}
		sum := sha256.Sum256([]byte(conv + "/" + salt + "/" + trace.String() + "/" + id.String()))
		var n spanid.SpanID
		copy(n[:], sum[:8])
		return n
	}
	for _, sp := range turn {
		sp.SpanID = newSpanID(sp.TraceID, sp.SpanID)
		sp.ParentSpanID = newSpanID(sp.TraceID, sp.ParentSpanID)
		sum := sha256.Sum256([]byte(conv + "/" + salt + "/" + sp.TraceID.String()))
		copy(sp.TraceID[:], sum[:16])
		sp.Start = sp.Start.Add(shift)
		if !sp.End.IsZero() {
			sp.End = sp.End.Add(shift)
		}
		attrs := map[string]any{}
		for k, v := range sp.Attributes {
			attrs[k] = v
		}
		for _, k := range []string{semconv.KeyConversationID, semconv.KeySessionID} {
			if _, ok := attrs[k]; ok {
				attrs[k] = conv
			}
		}
		// A chat input's reference to an earlier call's span follows it.
		if ref, ok := attrs[semconv.KeyInputPreviousSpanID].(string); ok {
			var tr spanid.TraceID
			var id spanid.SpanID
			hex.Decode(tr[:], []byte(attrs[semconv.KeyInputPreviousTraceID].(string)))
			hex.Decode(id[:], []byte(ref))
			attrs[semconv.KeyInputPreviousSpanID] = newSpanID(tr, id).String()
			sum := sha256.Sum256([]byte(conv + "/" + salt + "/" + tr.String()))
			copy(tr[:], sum[:16])
			attrs[semconv.KeyInputPreviousTraceID] = tr.String()
		}
		sp.Attributes = attrs
		out = append(out, sp)
	}
	return out
}

// liveSpans is the multiturn capture under fresh ids in a fresh
// conversation, moved to the present, as if the session ran now.
func liveSpans(t *testing.T) (turns [][]spans.Span, conversationID string) {
	t.Helper()
	conversationID = fmt.Sprintf("live-%d", time.Now().UnixNano())
	src := capturedTurns(t, "multiturn")
	if len(src) != 2 {
		t.Fatalf("multiturn capture: got %d turns, want 2", len(src))
	}
	start := time.Now().Add(-10 * time.Second)
	for i, turn := range src {
		turns = append(turns, retarget(t, turn, conversationID, "live", start.Add(time.Duration(i)*time.Second)))
	}
	return turns, conversationID
}

func rootOf(t *testing.T, turn []spans.Span) spans.Span {
	t.Helper()
	for _, sp := range turn {
		if sp.ParentSpanID.IsZero() {
			return sp
		}
	}
	t.Fatal("turn without a root span")
	return spans.Span{}
}

// inProgress is the copy of a turn's root that weave-agentd sends when the
// turn starts: no end, no output yet.
func inProgress(root spans.Span) spans.Span {
	root.End = time.Time{}
	root.StatusCode = spans.StatusUnset
	root.StatusMessage = ""
	attrs := map[string]any{}
	for k, v := range root.Attributes {
		if k != semconv.KeyOutputMessages && k != semconv.KeyFinishReasons {
			attrs[k] = v
		}
	}
	root.Attributes = attrs
	return root
}

func testLiveTurn(t *testing.T, p *page) {
	turns, conv := liveSpans(t)
	row := fmt.Sprintf(`.conv-row[data-conversation=%s]`, js(conv))

	// A turn starts while the list is open: its row appears, running.
	p.open(t, "#/")
	p.waitFor(t, "the list", `document.querySelectorAll('.conv-row').length > 0`)
	p.ws.export(t, "", []spans.Span{inProgress(rootOf(t, turns[0]))})
	p.waitFor(t, "the new conversation, running, without a reload", fmt.Sprintf(`!!document.querySelector(%s + ' .badge.running')`, js(row)))
	p.waitFor(t, "the live indicator", `!document.getElementById('live-indicator').hidden && document.getElementById('live-indicator').innerText.includes('1 running')`)
	p.screenshot(t, "live-list")

	p.click(t, row+" .conv-link")
	p.waitFor(t, "the running turn", `!!document.querySelector('.turn.is-running .turn-head .badge.running') && !!document.querySelector('.conv-head .badge.running')`)
	p.screenshot(t, "live-running")

	// The turn finishes: the page shows its messages and stops running.
	p.ws.export(t, "", turns[0])
	p.waitFor(t, "the finished turn", `!document.querySelector('.badge.running') && document.querySelectorAll('.turn .msg.assistant').length > 0`)

	// A second turn starts in the open conversation: it appears below.
	p.ws.export(t, "", []spans.Span{inProgress(rootOf(t, turns[1]))})
	p.waitFor(t, "turn 2, running", `document.querySelectorAll('.turn').length === 2 && !!document.querySelector('.turn[data-index="1"].is-running')`)
	// Its model calls arrive while it runs.
	var calls []spans.Span
	for _, sp := range turns[1] {
		if !sp.ParentSpanID.IsZero() {
			calls = append(calls, sp)
		}
	}
	p.ws.export(t, "", calls)
	p.waitFor(t, "turn 2's messages while it runs", `!!document.querySelector('.turn[data-index="1"].is-running') && document.querySelectorAll('.turn[data-index="1"] .msg.assistant').length > 0`)
	p.ws.export(t, "", turns[1])
	p.waitFor(t, "turn 2 finished", `!document.querySelector('.turn.is-running') && !document.querySelector('.badge.running') && document.getElementById('live-indicator').hidden`)
	p.screenshot(t, "live-finished")
	p.checkConsole(t)
}

// TestAPIKeyPrompt: against a server with API keys, the UI asks for a key,
// keeps it, and then shows the data.
func TestAPIKeyPrompt(t *testing.T) {
	b := needBrowser(t)
	const key = "weave-ui-test-key-0123456789"
	ws := startServer(t, key)
	ws.importCaptures(t, "", filepath.Join(captures(t), "simple", "projects"))
	p := &page{tab: b.newTab(t), ws: ws}
	// No view renders before the key: wait for the dialog, not the route.
	p.run(t, "open the UI", chromedp.Navigate(ws.URL+"/#/"))
	p.waitFor(t, "the key dialog", `!!document.querySelector('dialog[open] input[type=password]')`)
	p.screenshot(t, "api-key")
	p.run(t, "enter the key", chromedp.SendKeys(chromedp.CSS("dialog[open] input[type=password]"), key+"\n"))
	p.waitFor(t, "the conversations", `!document.querySelector('dialog[open]') && document.querySelectorAll('.conv-row').length === 1`)
	// The key is kept: a reload goes straight to the data.
	p.open(t, "#/")
	p.waitFor(t, "the conversations after a reload", `!document.querySelector('dialog[open]') && document.querySelectorAll('.conv-row').length === 1`)
	p.checkConsole(t, "401")
}
