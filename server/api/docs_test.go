package api

import (
	"os"
	"strings"
	"testing"
)

// TestDocsCoverAPI keeps docs/API.md in step with the route table and the
// error table.
func TestDocsCoverAPI(t *testing.T) {
	b, err := os.ReadFile("../../docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	h := New(Settings{Store: newFake()})
	for _, p := range h.Paths() {
		method := h.routes[p].method
		if heading := "### `" + method + " " + p + "`"; !strings.Contains(doc, heading) {
			t.Errorf("docs/API.md has no section %q", heading)
		}
	}
	for code := range statusByCode {
		if !strings.Contains(doc, "| `"+code+"` |") {
			t.Errorf("docs/API.md's error table lacks code %q", code)
		}
	}
}
