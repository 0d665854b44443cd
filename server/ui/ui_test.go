package ui

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func serveReq(t *testing.T, h http.Handler, method, target string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestHandlerRoutes(t *testing.T) {
	h := Handler()
	tests := []struct {
		name        string
		method      string
		path        string
		status      int
		contentType string
		body        string
	}{
		{"index", "GET", "/", 200, "text/html; charset=utf-8", `<script type="module" src="/assets/js/main.js">`},
		{"index_head", "HEAD", "/", 200, "text/html; charset=utf-8", ""},
		{"main_module", "GET", "/assets/js/main.js", 200, "text/javascript; charset=utf-8", "import"},
		{"view_module", "GET", "/assets/js/views/conversation.js", 200, "text/javascript; charset=utf-8", "export function render"},
		{"stylesheet", "GET", "/assets/css/app.css", 200, "text/css; charset=utf-8", "--bg"},
		{"favicon", "GET", "/assets/favicon.svg", 200, "image/svg+xml", "<svg"},
		{"missing_asset", "GET", "/assets/js/nope.js", 404, "text/plain; charset=utf-8", "not found"},
		{"index_only_at_root", "GET", "/assets/index.html", 404, "text/plain; charset=utf-8", "not found"},
		{"directory", "GET", "/assets/js/", 404, "text/plain; charset=utf-8", "not found"},
		{"other_path", "GET", "/conversations", 404, "text/plain; charset=utf-8", "the UI lives at /"},
		{"dot_dot", "GET", "/assets/../ui.go", 404, "text/plain; charset=utf-8", "not found"},
		{"post", "POST", "/", 405, "text/plain; charset=utf-8", "method not allowed"},
		{"delete_asset", "DELETE", "/assets/js/main.js", 405, "text/plain; charset=utf-8", "method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := serveReq(t, h, tt.method, tt.path)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Errorf("%s %s: got status %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("%s %s: got Content-Type %q, want %q", tt.method, tt.path, got, tt.contentType)
			}
			if !strings.Contains(string(body), tt.body) {
				t.Errorf("%s %s: got body %.200q, want it to contain %q", tt.method, tt.path, body, tt.body)
			}
			if tt.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD %s: got %d body bytes, want none", tt.path, len(body))
			}
			if tt.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: got Allow %q, want %q", tt.method, tt.path, resp.Header.Get("Allow"), "GET, HEAD")
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := Handler()
	want := map[string]string{
		"Content-Security-Policy": ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	}
	for _, p := range []string{"/", "/assets/js/main.js", "/assets/nope", "/elsewhere"} {
		resp := serveReq(t, h, "GET", p)
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("GET %s: got %s %q, want %q", p, k, got, v)
			}
		}
	}
	for _, directive := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(ContentSecurityPolicy, directive) {
			t.Errorf("Content-Security-Policy lacks %q", directive)
		}
	}
	if strings.Contains(ContentSecurityPolicy, "unsafe-") {
		t.Errorf("Content-Security-Policy allows an unsafe source: %s", ContentSecurityPolicy)
	}
}

func TestETagRevalidation(t *testing.T) {
	h := Handler()
	first := serveReq(t, h, "GET", "/assets/js/main.js")
	etag := first.Header.Get("ETag")
	if etag == "" || first.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("GET main.js: got ETag %q Cache-Control %q, want an ETag and no-cache", etag, first.Header.Get("Cache-Control"))
	}
	tests := []struct {
		name   string
		match  string
		status int
	}{
		{"same_etag", etag, http.StatusNotModified},
		{"other_etag", `"0000"`, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := serveReq(t, h, "GET", "/assets/js/main.js", "If-None-Match", tt.match)
			if resp.StatusCode != tt.status {
				t.Errorf("If-None-Match %s: got %d, want %d", tt.match, resp.StatusCode, tt.status)
			}
		})
	}
	if other := serveReq(t, h, "GET", "/assets/css/app.css").Header.Get("ETag"); other == etag {
		t.Errorf("two different files share the ETag %s", etag)
	}
}

var (
	importRE    = regexp.MustCompile(`(?m)^\s*(?:import|export)\s[^;]*?\bfrom\s+'([^']+)'|import\('([^']+)'\)`)
	htmlRefRE   = regexp.MustCompile(`\b(?:src|href)="([^"]*)"`)
	cssURLRE    = regexp.MustCompile(`url\(`)
	htmlSinksRE = regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|DOMParser|createContextualFragment|srcdoc`)
)

// assetFiles returns the embedded files by path (relative to assets/).
func assetFiles(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := fs.WalkDir(assetsFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assetsFS.ReadFile(p)
		out[strings.TrimPrefix(p, "assets/")] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAssetsAreSelfContained checks the static ways a page could reach
// beyond the server: every module import is relative and names an embedded
// file, the HTML refers only to /assets/ and in-app links, and the CSS
// loads nothing. (The Content-Security-Policy enforces the same at run
// time; the browser tests fail on any violation.)
func TestAssetsAreSelfContained(t *testing.T) {
	files := assetFiles(t)
	imports := 0
	for name, src := range files {
		switch path.Ext(name) {
		case ".js":
			for _, m := range importRE.FindAllStringSubmatch(src, -1) {
				imports++
				spec := m[1] + m[2]
				if !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") {
					t.Errorf("%s imports %q: want a relative path to an embedded module", name, spec)
					continue
				}
				target := path.Join(path.Dir(name), spec)
				if _, ok := files[target]; !ok {
					t.Errorf("%s imports %q: got no embedded file %s", name, spec, target)
				}
			}
		case ".html":
			for _, m := range htmlRefRE.FindAllStringSubmatch(src, -1) {
				ref := m[1]
				if strings.HasPrefix(ref, "#") {
					continue
				}
				if !strings.HasPrefix(ref, "/assets/") {
					t.Errorf("%s refers to %q: want /assets/... or #...", name, ref)
					continue
				}
				if _, ok := files[strings.TrimPrefix(ref, "/assets/")]; !ok {
					t.Errorf("%s refers to %q: got no embedded file", name, ref)
				}
			}
		case ".css":
			if cssURLRE.MatchString(src) {
				t.Errorf("%s uses url(): the stylesheet must not load anything", name)
			}
		}
	}
	// The modules import each other; finding none means the pattern broke.
	if imports < 20 {
		t.Errorf("found %d module imports, want at least 20 (is importRE still matching?)", imports)
	}
}

// TestNoHTMLSinks guards the rule that untrusted content is never parsed as
// HTML: no module may use an API that does.
func TestNoHTMLSinks(t *testing.T) {
	for name, src := range assetFiles(t) {
		if path.Ext(name) != ".js" {
			continue
		}
		for i, line := range strings.Split(src, "\n") {
			if m := htmlSinksRE.FindString(line); m != "" {
				t.Errorf("%s:%d uses %s: build DOM nodes with dom.js instead", name, i+1, m)
			}
		}
	}
}

func TestContentType(t *testing.T) {
	tests := []struct {
		name string
		file string
		want string
	}{
		{"html", "a/index.html", "text/html; charset=utf-8"},
		{"js", "a/b.js", "text/javascript; charset=utf-8"},
		{"css", "a.css", "text/css; charset=utf-8"},
		{"svg", "i.svg", "image/svg+xml"},
		{"license", "vendor/LICENSE", "text/plain; charset=utf-8"},
		{"unknown", "blob.weird", "application/octet-stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := contentType(tt.file); got != tt.want {
				t.Errorf("contentType(%q) = %q, want %q", tt.file, got, tt.want)
			}
		})
	}
}
