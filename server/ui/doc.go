// Package ui is weave-server's web UI: a single-page application of
// hand-written ES modules and CSS, embedded in the binary with go:embed and
// served by Handler at / (index.html) and /assets/ (everything else).
//
// There is no build step and no external fetch: the browser loads
// index.html, which imports assets/js/main.js; every other module is
// imported by relative path, and all data comes from the read API under
// /genai/ on the same origin. A strict Content-Security-Policy (scripts,
// styles and connections from the same origin only, no inline script, no
// frames, no plugins) backs the rule the code follows everywhere: untrusted
// content (prompts, model output, tool arguments and results, attribute
// values) is only ever inserted as text nodes, never parsed as HTML. Model
// output is rendered by assets/js/markdown.js, a small markdown renderer
// that builds DOM nodes from a whitelist and allows links with the http,
// https and mailto schemes only.
//
// Routing is by the URL fragment, so every view is linkable:
//
//	#/                         conversations (filters: ?agent=, ?range=, ?q=)
//	#/c/<conversation id>      one conversation (?turn=<trace_id>&span=<span_id>)
//	#/t/<trace_id>             one turn's span tree and waterfall (?span=)
//	#/agents                   agents with activity over time
//	#/agents/<agent name>      one agent: versions and activity
//	#/search?q=<words>         message search (?role=, ?agent=)
//
// Every route takes ?p=<entity/project>; without it the UI shows the
// server's default project (where weave-agentd sends with no
// configuration). See docs/ARCHITECTURE.md, "Front end".
//
// The browser tests (browser_test.go) drive the real Chromium through
// chromedp against an in-process weave-server seeded from the recorded
// sessions of testdata/; they need /usr/bin/chromium (or $CHROME_BIN) and fail with an
// install hint when it is missing, unless WEAVE_SKIP_BROWSER=1.
package ui
