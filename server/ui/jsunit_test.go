package ui_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/weavetrace/weave/server/api"
	"github.com/weavetrace/weave/server/ui"
)

// The UI's modules are tested where they run, in the browser: a blank page
// on a server that serves the embedded assets imports them.

const blankPage = `<!doctype html><html><head><meta charset="utf-8"><title>module tests</title><link rel="icon" href="data:,"></head><body></body></html>`

// checkerJS defines window.__md(text) → the rendered HTML, and
// window.__mdCheck(text) → "" or the first safety violation in the DOM the
// renderer built.
const checkerJS = `(async () => {
  const m = await import('/assets/js/markdown.js');
  const ATTRS = new Set(['class', 'href', 'rel', 'target', 'title', 'start', 'aria-hidden', 'data-lang']);
  window.__md = (s) => { const d = document.createElement('div'); d.append(m.renderMarkdown(s)); return d.innerHTML; };
  window.__mdCheck = (s) => {
    const d = document.createElement('div');
    d.append(m.renderMarkdown(s));
    for (const el of d.querySelectorAll('*')) {
      if (!m.ALLOWED_TAGS.has(el.tagName)) return 'element ' + el.tagName;
      for (const a of el.attributes) {
        if (!ATTRS.has(a.name)) return 'attribute ' + a.name + ' on ' + el.tagName;
        if (a.name === 'href') {
          const u = new URL(a.value);
          if (!['http:', 'https:', 'mailto:'].includes(u.protocol)) return 'href ' + a.value;
          if (el.tagName !== 'A') return 'href on ' + el.tagName;
        }
        if (a.name === 'target' && a.value !== '_blank') return 'target ' + a.value;
      }
      if (el.tagName === 'A' && el.getAttribute('rel') !== 'noopener noreferrer nofollow') return 'link without rel';
    }
    return '';
  };
  return true;
})()`

var (
	modOnce sync.Once
	modTab  *tab
	modSrv  *httptest.Server
	modErr  error
)

// moduleTab returns the shared tab on the blank page, with the checker
// loaded. It lives until the test binary ends.
func moduleTab(t testing.TB) *tab {
	t.Helper()
	b := needBrowser(t)
	modOnce.Do(func() {
		mux := http.NewServeMux()
		mux.HandleFunc("/blank", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, blankPage)
		})
		mux.Handle("/", ui.Handler())
		modSrv = httptest.NewServer(mux)
		tb := &tab{done: make(chan struct{})}
		tb.ctx, tb.cancel = chromedp.NewContext(b.ctx)
		msgs := chromedp.Console(tb.ctx)
		go func() {
			defer close(tb.done)
			for m, err := range msgs {
				if err != nil {
					return
				}
				tb.mu.Lock()
				tb.msgs = append(tb.msgs, m)
				tb.mu.Unlock()
			}
		}()
		if err := chromedp.Do(tb.ctx, chromedp.Navigate(modSrv.URL+"/blank")); err != nil {
			modErr = err
			return
		}
		modTab = tb
		cleanups = append(cleanups, func() {
			tb.cancel()
			<-tb.done
			modSrv.Close()
		})
	})
	if modErr != nil {
		t.Fatalf("module test page: %v", modErr)
	}
	if !eval[bool](t, modTab, checkerJS) {
		t.Fatal("the markdown checker did not load")
	}
	return modTab
}

// cleanups run in TestMain before the browser stops.
var cleanups []func()

// moduleCases runs fn (a JavaScript function of a module namespace and one
// case's input, returning a JSON value) over inputs.
func moduleCases[In, Out any](t *testing.T, module, fn string, inputs []In) []Out {
	t.Helper()
	tb := moduleTab(t)
	in, err := json.Marshal(inputs)
	if err != nil {
		t.Fatal(err)
	}
	expr := fmt.Sprintf(`(async () => { const m = await import(%s); const f = %s; return (%s).map((x) => f(m, x)); })()`, js(module), fn, in)
	out := eval[[]Out](t, tb, expr)
	if len(out) != len(inputs) {
		t.Fatalf("got %d results for %d cases", len(out), len(inputs))
	}
	tb.checkConsole(t)
	return out
}

const linkAttrs = `rel="noopener noreferrer nofollow" target="_blank"`

func TestMarkdownRender(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"paragraph", "Hello world", `<p>Hello world</p>`},
		{"script_is_text", "<script>alert(1)</script>", `<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>`},
		{"img_is_text", `<img src=x onerror=alert(1)>`, `<p>&lt;img src=x onerror=alert(1)&gt;</p>`},
		{"entities_stay_literal", "&lt;b&gt; &amp;", `<p>&amp;lt;b&amp;gt; &amp;amp;</p>`},
		{"javascript_link", "[click](javascript:alert(1))", `<p><span class="md-link-text" title="javascript:alert(1)">click</span></p>`},
		{"javascript_link_hidden_by_tab", "[x](java\tscript:alert(1))", `<p>[x](java	script:alert(1))</p>`},
		{"data_link", "[x](data:text/html;base64,PHNjcmlwdD4=)", `<p><span class="md-link-text" title="data:text/html;base64,PHNjcmlwdD4=">x</span></p>`},
		{"relative_link", "[main.go](src/main.go)", `<p><span class="md-link-text" title="src/main.go">main.go</span></p>`},
		{"https_link", "[docs](https://example.com/a?b=1&c=2)", `<p><a class="md-link" href="https://example.com/a?b=1&amp;c=2" ` + linkAttrs + `>docs</a></p>`},
		{"link_with_emphasis", "[**b**](https://x.io)", `<p><a class="md-link" href="https://x.io/" ` + linkAttrs + `><strong>b</strong></a></p>`},
		{"bare_url", "see https://example.com/x.", `<p>see <a class="md-link" href="https://example.com/x" ` + linkAttrs + `>https://example.com/x</a>.</p>`},
		{"autolink_mailto", "<mailto:a@b.co>", `<p><a class="md-link" href="mailto:a@b.co" ` + linkAttrs + `>mailto:a@b.co</a></p>`},
		{"image_not_loaded", "![chart](https://example.com/c.png)", `<p><a class="md-link" href="https://example.com/c.png" ` + linkAttrs + `>image: chart</a></p>`},
		{"fenced_code", "```go\nfmt.Println(\"<b>\")\n```", `<pre class="md-code" data-lang="go"><code class="language-go">fmt.Println("&lt;b&gt;")</code></pre>`},
		{"unclosed_fence", "```\ncode", `<pre class="md-code"><code>code</code></pre>`},
		{"indented_code", "    x := 1", `<pre class="md-code"><code>x := 1</code></pre>`},
		{"inline_code", "run `ls -la <dir>` now", `<p>run <code class="md-inline-code">ls -la &lt;dir&gt;</code> now</p>`},
		{"emphasis", "**bold** and *it* and _it2_ and ~~gone~~", `<p><strong>bold</strong> and <em>it</em> and <em>it2</em> and <del>gone</del></p>`},
		{"strong_em", "***both***", `<p><strong><em>both</em></strong></p>`},
		{"snake_case", "call snake_case_name here", `<p>call snake_case_name here</p>`},
		{"lone_stars", "2 * 3 * 4", `<p>2 * 3 * 4</p>`},
		{"escapes", `\*not em\*`, `<p>*not em*</p>`},
		{"heading", "# Title\ntext", `<h3 class="md-h1">Title</h3><p>text</p>`},
		{"heading_levels", "### Three", `<h5 class="md-h3">Three</h5>`},
		{"list_nested", "- a\n- b\n  - c\n- d", `<ul><li>a</li><li>b<ul><li>c</li></ul></li><li>d</li></ul>`},
		{"ordered_start", "3. x\n4. y", `<ol start="3"><li>x</li><li>y</li></ol>`},
		{"task_list", "- [ ] todo\n- [x] done", `<ul><li class="md-task"><span class="md-check" aria-hidden="true">☐</span> todo</li><li class="md-task"><span class="md-check md-checked" aria-hidden="true">☑</span> done</li></ul>`},
		{"loose_list", "- a\n\n- b", `<ul><li><p>a</p></li><li><p>b</p></li></ul>`},
		{"table", "| a | b |\n|---|--:|\n| 1 | `x|y` |", `<div class="md-table-wrap"><table class="md-table"><thead><tr><th>a</th><th class="align-right">b</th></tr></thead><tbody><tr><td>1</td><td class="align-right"><code class="md-inline-code">x|y</code></td></tr></tbody></table></div>`},
		{"blockquote", "> quoted\n> more", `<blockquote><p>quoted<br>more</p></blockquote>`},
		{"line_break", "a\nb", `<p>a<br>b</p>`},
		{"rule", "a\n\n---\n\nb", `<p>a</p><hr><p>b</p>`},
		{"empty", "", ``},
	}
	inputs := make([]string, len(tests))
	for i, tt := range tests {
		inputs[i] = tt.in
	}
	got := moduleCases[string, string](t, "/assets/js/markdown.js", `(m, s) => window.__md(s)`, inputs)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got[i] != tt.want {
				t.Errorf("renderMarkdown(%q):\n got %s\nwant %s", tt.in, got[i], tt.want)
			}
		})
	}
}

// TestMarkdownSafety renders thousands of generated adversarial inputs and
// checks the DOM of each: only whitelisted elements and attributes, links
// only to http, https and mailto. It also renders inputs built to be slow
// and prints how long each took (a hang fails the test by its timeout).
func TestMarkdownSafety(t *testing.T) {
	tb := moduleTab(t)
	const gen = `(() => {
  let seed = 0x5eed;
  const rnd = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 4294967296; };
  const frags = ['*', '**', '***', '_', '__', '~~', '` + "`" + `', '` + "```" + `', '[', ']', '(', ')', '![', '<', '>', '#', '## ', '- ', '* ', '1. ', '> ', '|', '|---|', '---', '\n', '\n\n', ' ', '    ', '\t', 'text', 'x', '\\',
    'javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'https://example.com/p?q=1', 'mailto:a@b.c', 'data:text/html,<script>alert(1)</script>', 'vbscript:x',
    '<img src=x onerror=alert(1)>', '<script>alert(1)</script>', '"', "'", 'onclick=alert(1)', '&amp;', '&#x3C;', '\u0000', '\u202e', '[x](', '](javascript:alert(1))', '](https://e.com/" onmouseover="alert(1))', '<https://e.com>', '- [ ] ', '- [x] '];
  const out = [];
  for (let n = 0; n < 3000; n++) {
    let s = '';
    const k = 1 + Math.floor(rnd() * 40);
    for (let i = 0; i < k; i++) s += frags[Math.floor(rnd() * frags.length)];
    out.push(s);
  }
  const bad = [];
  for (const s of out) { const e = window.__mdCheck(s); if (e) bad.push([s, e]); }
  return {count: out.length, bad: bad.slice(0, 10)};
})()`
	res := eval[struct {
		Count int         `json:"count"`
		Bad   [][2]string `json:"bad"`
	}](t, tb, gen)
	if res.Count != 3000 {
		t.Fatalf("generated %d inputs, want 3000", res.Count)
	}
	for _, b := range res.Bad {
		t.Errorf("renderMarkdown(%q) built an unsafe DOM: %s", b[0], b[1])
	}
	slow := []struct{ name, expr string }{
		{"stars", `'*'.repeat(100000)`},
		{"open_brackets", `'['.repeat(50000) + ']('`},
		{"backticks", `'` + "`" + `'.repeat(30000) + 'a'`},
		{"runs_of_backticks", `Array.from({length: 3000}, (_, i) => '` + "`" + `'.repeat(i % 50 + 1)).join(' ')`},
		{"underscores", `'a_'.repeat(50000)`},
		{"quotes_nested", `'>'.repeat(5000) + ' x'`},
		{"list_nested", `'- '.repeat(3000) + 'x'`},
		{"links", `'[a](https://e.com/'.repeat(10000)`},
		{"table_rows", `'|a|b|\n|-|-|\n' + '|1|2|\n'.repeat(20000)`},
		{"long_plain", `'word '.repeat(39000)`},
		{"too_long", `'x'.repeat(250000)`},
	}
	for _, c := range slow {
		r := eval[struct {
			Ms  float64 `json:"ms"`
			Err string  `json:"err"`
			Len int     `json:"len"`
		}](t, tb, fmt.Sprintf(`(() => { const s = %s; const t0 = performance.now(); const e = window.__mdCheck(s); return {ms: performance.now() - t0, err: e, len: s.length}; })()`, c.expr))
		if r.Err != "" {
			t.Errorf("%s: unsafe DOM: %s", c.name, r.Err)
		}
		t.Logf("renderMarkdown %-18s %7d chars: %6.1f ms", c.name, r.Len, r.Ms)
	}
	tb.checkConsole(t)
}

// markdownSeeds are real model output from the recorded transcripts (the
// assistant text blocks and compaction summaries), plus hostile inputs.
func markdownSeeds(t testing.TB) []string {
	t.Helper()
	seeds := []string{
		"# Plan\n\n1. Read `main.go`\n2. Run **tests**\n\n```bash\ngo test ./...\n```\n\n| file | lines |\n|---|---:|\n| a.go | 10 |",
		"<script>alert(1)</script>", "[x](javascript:alert(1))", "![i](https://e.com/i.png)", "- [ ] a\n  - [x] b\n\n> q\n> > qq",
	}
	files, _ := filepath.Glob(filepath.Join(captures(t), "*", "projects", "*", "*.jsonl"))
	seen := map[string]bool{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var line struct {
				Type             string `json:"type"`
				IsCompactSummary bool   `json:"isCompactSummary"`
				Message          struct {
					Content json.RawMessage `json:"content"`
				} `json:"message"`
			}
			if json.Unmarshal(sc.Bytes(), &line) != nil || (line.Type != "assistant" && !line.IsCompactSummary) {
				continue
			}
			var text string
			if json.Unmarshal(line.Message.Content, &text) != nil {
				var blocks []struct {
					Type string `json:"type"`
					Text string `json:"text"`
				}
				json.Unmarshal(line.Message.Content, &blocks)
				for _, b := range blocks {
					if b.Type == "text" {
						text += b.Text
					}
				}
			}
			if text != "" && !seen[text] {
				seen[text] = true
				seeds = append(seeds, text)
			}
		}
		fh.Close()
	}
	sort.Strings(seeds[5:])
	if len(seeds) < 20 {
		t.Fatalf("got %d markdown seeds from the captures, want at least 20", len(seeds))
	}
	return seeds
}

// FuzzMarkdown renders arbitrary text in the browser and checks that the DOM
// built is safe (see __mdCheck). Seeded with real model output.
func FuzzMarkdown(f *testing.F) {
	for _, s := range markdownSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tb := moduleTab(t)
		if e := eval[string](t, tb, fmt.Sprintf(`window.__mdCheck(%s)`, js(s))); e != "" {
			t.Errorf("renderMarkdown(%q) built an unsafe DOM: %s", s, e)
		}
	})
}

// TestCostCell renders the cost cell of every kind of usage the views
// pass: the server's cost_usd, with "≥" when some calls have no price,
// "no price" when none has, "—" without usage.
func TestCostCell(t *testing.T) {
	tests := []struct{ name, expr, want string }{
		{"no_usage", `ui.cost({input_tokens: 0, output_tokens: 0, cost_usd: 0, unpriced_count: 0})`, "—"},
		{"null", `ui.cost(null)`, "—"},
		{"priced", `ui.cost({input_tokens: 2000000, output_tokens: 1000000, cost_usd: 35, unpriced_count: 0})`, "$35.00"},
		{"small", `ui.cost({cost_usd: 0.0042})`, "$0.0042"},
		{"partly_unpriced", `ui.cost({cost_usd: 1.605, unpriced_count: 2})`, "≥ $1.60"},
		{"unpriced", `ui.cost({input_tokens: 10, cost_usd: 0, unpriced_count: 1})`, "no price"},
	}
	var cases []string
	for _, tt := range tests {
		cases = append(cases, fmt.Sprintf("%s: () => %s", js(tt.name), tt.expr))
	}
	tb := moduleTab(t)
	got := eval[map[string]string](t, tb, `(async () => {
		const ui = await import('/assets/js/ui.js');
		const cases = {`+strings.Join(cases, ",\n")+`};
		const out = {};
		for (const [name, f] of Object.entries(cases)) {
			try { out[name] = f().textContent; } catch (e) { out[name] = 'threw: ' + e; }
		}
		return out;
	})()`)
	tb.checkConsole(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got[tt.name] != tt.want {
				t.Errorf("%s renders %q, want %q", tt.expr, got[tt.name], tt.want)
			}
		})
	}
}

// TestScoreFilter parses the score filters the conversations list accepts
// into the API's filters.
func TestScoreFilter(t *testing.T) {
	tests := []struct{ in, want string }{
		{"helpfulness >= 4", `{"field":"score.helpfulness","op":"gte","value":4}`},
		{"score.helpfulness<3.5", `{"field":"score.helpfulness","op":"lt","value":3.5}`},
		{"correct = yes", `{"field":"score.correct","op":"eq","value":true}`},
		{"correct != false", `{"field":"score.correct","op":"neq","value":false}`},
		{"tone = \"friendly\"", `{"field":"score.tone","op":"eq","value":"friendly"}`},
		{"has helpfulness", `{"field":"score.helpfulness","op":"exists"}`},
		{"no score.tone", `{"field":"score.tone","op":"not_exists"}`},
		{"helpfulness", `null`},
		{"", `null`},
	}
	var ins []string
	for _, tt := range tests {
		ins = append(ins, tt.in)
	}
	got := moduleCases[string, string](t, "/assets/js/ui.js", `(m, s) => JSON.stringify(m.parseScoreFilter(s))`, ins)
	for i, tt := range tests {
		if got[i] != tt.want {
			t.Errorf("parseScoreFilter(%q) = %s, want %s", tt.in, got[i], tt.want)
		}
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name, fn string
		in       float64
		want     string
	}{
		{"tokens_small", "fmtTokens", 950, "950"},
		{"tokens_k", "fmtTokens", 12345, "12.3k"},
		{"tokens_round_k", "fmtTokens", 20000, "20k"},
		{"tokens_hundreds_k", "fmtTokens", 368000, "368k"},
		{"tokens_m", "fmtTokens", 2_410_000, "2.41M"},
		{"duration_ms", "fmtDuration", 850, "850 ms"},
		{"duration_s", "fmtDuration", 1234, "1.2 s"},
		{"duration_tens", "fmtDuration", 42_000, "42 s"},
		{"duration_min", "fmtDuration", 185_000, "3m 05s"},
		{"duration_h", "fmtDuration", 3_720_000, "1h 02m"},
		{"cost_zero", "fmtCost", 0, "$0"},
		{"cost_tiny", "fmtCost", 0.00004, "<$0.0001"},
		{"cost_cents", "fmtCost", 0.0042, "$0.0042"},
		{"cost_dollars", "fmtCost", 1.605, "$1.60"},
		{"cost_large", "fmtCost", 123.4, "$123"},
	}
	type in struct {
		Fn string  `json:"fn"`
		V  float64 `json:"v"`
	}
	var ins []in
	for _, tt := range tests {
		ins = append(ins, in{tt.fn, tt.in})
	}
	got := moduleCases[in, string](t, "/assets/js/format.js", `(m, c) => m[c.fn](c.v)`, ins)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got[i] != tt.want {
				t.Errorf("%s(%v) = %q, want %q", tt.fn, tt.in, got[i], tt.want)
			}
		})
	}
}

// TestRoutes checks that every id survives a link: build then parse gives
// it back, whatever characters it holds.
func TestRoutes(t *testing.T) {
	ids := []string{
		"156b88ba-6ae8-470d-bd02-d9d86d9d5807", "trace:0123456789abcdef0123456789abcdef",
		"thread/with/slashes", "sp ace?and#hash&amp=1", "100%", "ünïcödé/会話", "a+b=c",
	}
	type res struct {
		Segments []string `json:"segments"`
		P        string   `json:"p"`
		Turn     string   `json:"turn"`
	}
	got := moduleCases[string, res](t, "/assets/js/route.js",
		`(m, id) => { const h = m.build(['c', id], {turn: 'T/1', p: 'acme/agents'}); const r = m.parse(h); return {segments: r.segments, p: r.params.get('p'), turn: r.params.get('turn')}; }`, ids)
	for i, id := range ids {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if len(got[i].Segments) != 2 || got[i].Segments[1] != id || got[i].P != "acme/agents" || got[i].Turn != "T/1" {
				t.Errorf("round trip of %q: got %+v", id, got[i])
			}
		})
	}
}

// TestAnnotationRefs checks that the UI builds the conversation and agent
// refs the server expects (api.EscapeConversationID).
func TestAnnotationRefs(t *testing.T) {
	ids := []string{"plain", "with space", "slash/and?query=1&x", "ünïcödé", "trace:abc", "*'()!~-_.", "100%"}
	got := moduleCases[string, string](t, "/assets/js/api.js", `(m, id) => m.refs.conversation(id)`, ids)
	for i, id := range ids {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if want := api.ConversationRef(id); got[i] != want {
				t.Errorf("refs.conversation(%q) = %q, want the server's %q", id, got[i], want)
			}
		})
	}
	agents := moduleCases[string, string](t, "/assets/js/api.js", `(m, id) => m.refs.agent(id)`, ids)
	for i, id := range ids {
		if want := api.AgentRef(id); agents[i] != want {
			t.Errorf("refs.agent(%q) = %q, want the server's %q", id, agents[i], want)
		}
	}
	thumbs := moduleCases[string, string](t, "/assets/js/feedback.js", `(m, r) => m.thumbsID(r)`, []string{"agent_turn/0123", "agent_turn/0124", "agent_turn/0123"})
	if thumbs[0] != thumbs[2] || thumbs[0] == thumbs[1] || !strings.HasPrefix(thumbs[0], "thumbs-") || len(thumbs[0]) > 128 {
		t.Errorf("thumbsID: got %q, want stable, distinct ids of the form thumbs-…", thumbs)
	}
}

func TestKeyArgument(t *testing.T) {
	tests := []struct {
		name, tool, args, want string
	}{
		{"bash", "Bash", `{"command":"go test ./...","description":"run tests"}`, "go test ./..."},
		{"read", "Read", `{"file_path":"/src/main.go","limit":20}`, "/src/main.go"},
		{"grep", "Grep", `{"pattern":"TODO","path":"src"}`, "TODO"},
		{"todo", "TodoWrite", `{"todos":[{"content":"a","status":"completed"},{"content":"write docs","status":"in_progress"}]}`, "2 todos · write docs"},
		{"agent", "Agent", `{"description":"find files","prompt":"…","subagent_type":"Explore"}`, "find files"},
		{"unknown_tool", "mcp__x__y", `{"limit":3,"query":"weather"}`, "weather"},
		{"numbers_only", "calc", `{"a":1,"b":2}`, `{"a":1,"b":2}`},
		{"not_json", "custom", "plain text\nargument", "plain text argument"},
		{"empty", "Bash", "", ""},
	}
	type in struct {
		Tool string `json:"tool"`
		Args string `json:"args"`
	}
	var ins []in
	for _, tt := range tests {
		ins = append(ins, in{tt.tool, tt.args})
	}
	got := moduleCases[in, string](t, "/assets/js/chat.js", `(m, c) => m.keyArgument(c.tool, c.args)`, ins)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got[i] != tt.want {
				t.Errorf("keyArgument(%s, %s) = %q, want %q", tt.tool, tt.args, got[i], tt.want)
			}
		})
	}
}

// TestChartLongWindows: the Agents page's "All time" over a project whose
// spans lie centuries apart. The server answers with whole-week buckets
// (about 60 of them, see store.AutoBucket); the chart fills that window
// with them, names the width, and labels long buckets with their year.
func TestChartLongWindows(t *testing.T) {
	const week = 7 * 86400e3
	type in struct {
		From  float64 `json:"from"`
		To    float64 `json:"to"`
		Width float64 `json:"width"`
	}
	type out struct {
		Buckets    int    `json:"buckets"`
		First      string `json:"first"`
		WidthLabel string `json:"widthLabel"`
	}
	tests := []struct {
		name      string
		in        in
		wantLabel string // pattern of a bucket label
		wantWidth string
	}{
		// 1800-01-01 to 2050-06-01 in 219-week buckets (what the API picks).
		{"250 years", in{-5364662400000, 2537654400000, 219 * week}, `^1[78]\d\d$`, "219-week"},
		// 1690 to 2260, the widest window the store serves.
		{"570 years", in{-8836128000000, 9151488000000, 496 * week}, `^1[67]\d\d$`, "496-week"},
		{"5 years", in{1577836800000, 1735689600000, 6 * week}, `^20(19|20)-\d\d$`, "6-week"},
		{"one day", in{1767225600000, 1767312000000, 1800e3}, `^\d\d:\d\d$`, "30-minute"},
	}
	var ins []in
	for _, tt := range tests {
		ins = append(ins, tt.in)
	}
	got := moduleCases[in, out](t, "/assets/js/chart.js", `(m, c) => {
		const b = m.fillBuckets([], c.from, c.to, c.width, () => 'a', () => 1);
		return {buckets: b.length, first: m.bucketLabel(b[0].start, c.width), widthLabel: m.bucketWidthLabel(c.width)};
	}`, ins)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := math.Floor(tt.in.From/tt.in.Width) * tt.in.Width
			wantBuckets := int(math.Ceil((tt.in.To - start) / tt.in.Width))
			if got[i].Buckets != wantBuckets || got[i].WidthLabel != tt.wantWidth || !regexp.MustCompile(tt.wantLabel).MatchString(got[i].First) {
				t.Errorf("got %+v, want %d buckets, width %q, first label like %s", got[i], wantBuckets, tt.wantWidth, tt.wantLabel)
			}
		})
	}
}

// jsCase is one input of a module function and the answer wanted.
type jsCase[In any, Out comparable] struct {
	name string
	in   In
	want Out
}

// checkJS runs fn (as moduleCases does) on every case's input and
// compares the answers.
func checkJS[In any, Out comparable](t *testing.T, module, fn string, cases []jsCase[In, Out]) {
	t.Helper()
	ins := make([]In, len(cases))
	for i, c := range cases {
		ins[i] = c.in
	}
	got := moduleCases[In, Out](t, module, fn, ins)
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s: %s on %+v gives %v, want %v", c.name, fn, c.in, got[i], c.want)
		}
	}
}

// TestRangesTokensTicks: time ranges formatted one way (the end as a time
// of day on the same day), input tokens with their cache split, chart
// ticks that are round numbers, and a status message not repeated where
// the result says it (issue 16 items 7 and 10).
func TestRangesTokensTicks(t *testing.T) {
	type span struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	checkJS(t, "/assets/js/format.js", `(m, c) => m.fmtRange(c.from, c.to)`, []jsCase[span, string]{
		{"same_day", span{"2026-11-22T01:41:54", "2026-11-22T01:42:06"}, "2026-11-22 01:41:54 → 01:42:06"},
		{"next_day", span{"2026-11-22T23:50:00", "2026-11-23T00:10:00"}, "2026-11-22 23:50:00 → 2026-11-23 00:10:00"},
		{"no_end", span{"2026-11-22T23:50:00", ""}, "2026-11-22 23:50:00 → —"},
	})
	type usage = map[string]int
	checkJS(t, "/assets/js/format.js", `(m, u) => m.fmtInput(u)`, []jsCase[usage, string]{
		{"cached", usage{"input_tokens": 101_000, "cache_read_input_tokens": 100_000}, "101k in (100k cached)"},
		{"cache_write", usage{"input_tokens": 18_358, "cache_creation_input_tokens": 18_354}, "18.4k in (18.4k cache write)"},
		{"both", usage{"input_tokens": 20_100, "cache_read_input_tokens": 19_800, "cache_creation_input_tokens": 295}, "20.1k in (19.8k cached, 295 cache write)"},
		{"uncached_only", usage{"input_tokens": 950}, "950 in"},
		// input smaller than the cache figures: it is the uncached part.
		{"input_excludes_cache", usage{"input_tokens": 8, "cache_read_input_tokens": 18_358}, "18.4k in (18.4k cached)"},
	})
	type axis struct {
		Max     float64 `json:"max"`
		Integer bool    `json:"integer"`
	}
	checkJS(t, "/assets/js/chart.js", `(m, c) => m.niceTicks(c.max, 4, c.integer).join(',')`, []jsCase[axis, string]{
		{"errors_max_6", axis{6, true}, "0,2,4,6"},
		{"errors_max_10", axis{10, true}, "0,5,10"},
		{"invocations_max_14", axis{14, true}, "0,5,10,15"},
		{"counts_max_2", axis{2, true}, "0,1,2"},
		{"counts_max_1", axis{1, true}, "0,1"},
		{"tokens_760k", axis{760_000, false}, "0,200000,400000,600000,800000"},
		{"fractions", axis{0.7, false}, "0,0.2,0.4,0.6,0.8"},
		{"empty", axis{0, true}, "0,1"},
	})
	type said struct {
		Shown   string `json:"shown"`
		Message string `json:"message"`
	}
	checkJS(t, "/assets/js/chat.js", `(m, c) => m.saysAlready(c.shown, c.message)`, []jsCase[said, bool]{
		{"first_line_cut", said{"Exit code 3\nto-stderr", "Exit code 3 …"}, true},
		{"same", said{"File does not exist.", "File does not exist."}, true},
		{"other", said{"Exit code 3", "Permission denied"}, false},
	})
}

// TestParallelLabels: a parallel group says how many calls ran at the same
// time even when another message splits it in the chat (issue 16 item 8).
func TestParallelLabels(t *testing.T) {
	type msg = map[string]any
	at := func(ms int) string {
		return time.Date(2026, 11, 22, 1, 0, 0, ms*1e6, time.UTC).Format(time.RFC3339Nano)
	}
	call := func(id, tool, group string, start int) msg {
		return msg{"type": "tool_call", "span_id": id, "agent_span_id": "a0", "agent_name": "claude-code", "depth": 0, "tool_name": tool,
			"tool_arguments": "{}", "parallel_group": group, "started_at": at(start), "ended_at": at(start + 50)}
	}
	turn := msg{"trace_id": "t1", "messages": []msg{
		{"type": "agent_start", "span_id": "a0", "agent_span_id": "a0", "agent_name": "claude-code", "depth": 0, "started_at": at(0)},
		call("c1", "Bash", "c1", 10),
		{"type": "assistant_message", "span_id": "m1", "agent_span_id": "a0", "agent_name": "claude-code", "depth": 0, "text": "meanwhile", "started_at": at(11)},
		call("c2", "Read", "c1", 12),
		call("c3", "Grep", "c1", 13),
		call("c4", "Write", "", 100),
	}}
	got := moduleCases[msg, string](t, "/assets/js/chat.js", `(m, turn) => [...m.renderMessages(turn).querySelectorAll('.parallel')]
		.map((g) => g.querySelector('.parallel-label').textContent + ': ' + [...g.querySelectorAll(':scope > .tool')].map((e) => e.dataset.tool).join(',')).join(' | ')`, []msg{turn})
	if want := "3 calls in parallel: Bash | 3 calls in parallel: Read,Grep"; got[0] != want {
		t.Errorf("parallel groups: got %q, want %q", got[0], want)
	}
}
