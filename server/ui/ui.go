package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets
var assetsFS embed.FS

// ContentSecurityPolicy is sent with every UI response. Everything comes
// from the same origin; there is no inline script, and nothing may frame
// the UI. Inline style attributes are not allowed either (the code sets
// styles through the CSSOM, which the policy does not restrict).
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	etag        string
	contentType string
}

// Handler serves the UI: index.html at /, the embedded files under
// /assets/, and 404 for anything else. GET and HEAD only. Responses carry a
// strong ETag (the file's SHA-256) and Cache-Control: no-cache, so a
// browser revalidates and a new binary's assets are picked up at once.
func Handler() http.Handler {
	files := make(map[string]asset)
	err := fs.WalkDir(assetsFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assetsFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		files["/"+p] = asset{
			body:        b,
			etag:        `"` + hex.EncodeToString(sum[:16]) + `"`,
			contentType: contentType(p),
		}
		return nil
	})
	if err != nil {
		// The files are compiled into the binary; failing to read them is
		// a broken build, not a runtime condition.
		panic("ui: read embedded assets: " + err.Error())
	}
	files["/"] = files["/assets/index.html"]
	delete(files, "/assets/index.html")
	return &handler{files: files}
}

type handler struct {
	files map[string]asset
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	a, ok := h.files[r.URL.Path]
	if !ok {
		http.Error(w, "not found: "+r.URL.Path+" (the UI lives at /)", http.StatusNotFound)
		return
	}
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", a.etag)
	// ServeContent answers If-None-Match with 304, HEAD without a body and
	// Range requests; the zero modtime keeps Last-Modified out.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// contentType is the file's media type by extension, with a charset for
// text.
func contentType(p string) string {
	switch path.Ext(p) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json":
		return "application/json; charset=utf-8"
	case ".txt", ".md":
		return "text/plain; charset=utf-8"
	}
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	if strings.HasPrefix(path.Base(p), "LICENSE") {
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}
