package ui_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"
)

// The browser tests drive the real Chromium through chromedp. One browser
// serves the whole test binary; it starts with the first test that needs
// it and stops in TestMain.

const installHint = "install it with `apt-get install -y chromium` (Debian/Ubuntu), or point CHROME_BIN at a Chromium or Chrome binary; " +
	"WEAVE_SKIP_BROWSER=1 skips the browser tests"

// artifactsDir receives screenshots (gitignored).
const artifactsDir = "testdata/artifacts"

func TestMain(m *testing.M) {
	flag.Parse()
	if skipBrowser() {
		fmt.Fprintln(os.Stderr, "server/ui: WEAVE_SKIP_BROWSER=1: the browser tests are SKIPPED (the web UI is not tested in a browser in this run)")
	}
	code := m.Run()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	shutdownBrowser()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func skipBrowser() bool { return os.Getenv("WEAVE_SKIP_BROWSER") == "1" }

// chromePath finds the browser: $CHROME_BIN, else the Debian chromium.
func chromePath() (string, error) {
	if p := os.Getenv("CHROME_BIN"); p != "" {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			return "", fmt.Errorf("CHROME_BIN=%s is not a browser binary (%v); %s", p, err, installHint)
		}
		return p, nil
	}
	const debian = "/usr/bin/chromium"
	if _, err := os.Stat(debian); err != nil {
		return "", fmt.Errorf("no Chromium at %s: %s", debian, installHint)
	}
	return debian, nil
}

type browser struct {
	ctx      context.Context // has run once: the browser process is up
	cancel   context.CancelFunc
	allocEnd context.CancelFunc
	profile  string
}

var (
	browserOnce sync.Once
	theBrowser  *browser
	browserErr  error
)

func startBrowser() (*browser, error) {
	path, err := chromePath()
	if err != nil {
		return nil, err
	}
	profile, err := os.MkdirTemp("", "weave-ui-chrome-")
	if err != nil {
		return nil, err
	}
	allocCtx, allocEnd := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1400, 1000),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		allocEnd()
		os.RemoveAll(profile)
		return nil, fmt.Errorf("start %s: %w; %s", path, err, installHint)
	}
	return &browser{ctx: ctx, cancel: cancel, allocEnd: allocEnd, profile: profile}, nil
}

func shutdownBrowser() {
	if theBrowser == nil {
		return
	}
	theBrowser.cancel()
	theBrowser.allocEnd()
	os.RemoveAll(theBrowser.profile)
	theBrowser = nil
}

// needBrowser returns the shared browser, skipping only when
// WEAVE_SKIP_BROWSER=1 and failing (never skipping) when there is none.
func needBrowser(t testing.TB) *browser {
	t.Helper()
	if skipBrowser() {
		t.Skip("WEAVE_SKIP_BROWSER=1: browser test skipped")
	}
	browserOnce.Do(func() { theBrowser, browserErr = startBrowser() })
	if browserErr != nil {
		t.Fatalf("server/ui browser tests need Chromium: %v", browserErr)
	}
	return theBrowser
}

// tab is one browser tab whose console is recorded: every error, warning
// and uncaught exception the page writes.
type tab struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
	seq  int
}

func (b *browser) newTab(t testing.TB) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("open a tab: %v", err)
	}
	tb := &tab{ctx: ctx, cancel: cancel, done: make(chan struct{})}
	msgs := chromedp.Console(ctx)
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
	t.Cleanup(func() {
		cancel()
		<-tb.done
	})
	return tb
}

// run runs steps with a deadline.
func (tb *tab) run(t testing.TB, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, tb.describe())
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) and decodes
// its value into T.
func eval[T any](t testing.TB, tb *tab, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %.120q: %v\n%s", expr, err, tb.describe())
	}
	return v
}

// waitFor polls a JavaScript predicate until it is true (20 s at most).
func (tb *tab) waitFor(t testing.TB, what, predicate string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](predicate)); err != nil {
		t.Fatalf("waiting for %s (%s): %v\n%s", what, predicate, err, tb.describe())
	}
}

// text returns the visible text of the first element matching sel.
func (tb *tab) text(t testing.TB, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("text of %s: %v\n%s", sel, err, tb.describe())
	}
	return s
}

// describe summarizes the page for a failure message.
func (tb *tab) describe() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 3*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 1500) : ''`))
	return fmt.Sprintf("page %s:\n%s", loc, body)
}

// syncConsole makes sure every console message written so far has been
// recorded: it writes a marker and waits to see it.
func (tb *tab) syncConsole(t testing.TB) {
	t.Helper()
	tb.mu.Lock()
	tb.seq++
	marker := fmt.Sprintf("weave-test-console-sync-%d", tb.seq)
	tb.mu.Unlock()
	eval[chromedp.Void](t, tb, fmt.Sprintf("console.debug(%q)", marker))
	deadline := time.Now().Add(10 * time.Second)
	for {
		tb.mu.Lock()
		found := false
		for _, m := range tb.msgs {
			if m.Text == marker {
				found = true
				break
			}
		}
		tb.mu.Unlock()
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("console marker %s never arrived", marker)
		}
		// Wait on the browser, not on a timer: a round trip lets the
		// console event ahead of it be delivered.
		eval[chromedp.Void](t, tb, "0")
	}
}

// checkConsole fails the test for every error or uncaught exception the
// page wrote since the last check (warnings are logged), except messages
// containing one of allowed.
func (tb *tab) checkConsole(t testing.TB, allowed ...string) {
	t.Helper()
	tb.syncConsole(t)
	tb.mu.Lock()
	msgs := tb.msgs
	tb.msgs = nil
	tb.mu.Unlock()
	for _, m := range msgs {
		if strings.HasPrefix(m.Text, "weave-test-console-sync-") {
			continue
		}
		switch m.Type {
		case chromedp.ConsoleError, chromedp.ConsoleException:
			ok := false
			for _, a := range allowed {
				if strings.Contains(m.Text, a) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("console %s at %s:%d: %s", m.Type, m.URL, m.Line+1, m.Text)
			}
		case chromedp.ConsoleWarning:
			t.Logf("console warning at %s:%d: %s", m.URL, m.Line+1, m.Text)
		}
	}
}

// screenshot writes a full-page PNG to testdata/artifacts/<name>.png.
func (tb *tab) screenshot(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	tb.save(t, name, buf)
}

func (tb *tab) save(t testing.TB, name string, buf []byte) {
	t.Helper()
	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(artifactsDir, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", p, len(buf))
}

// viewportShot writes a PNG of what the window shows.
func (tb *tab) viewportShot(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	tb.save(t, name, buf)
}
