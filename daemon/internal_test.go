package daemon

import (
	"net/http"
	"strings"
	"testing"

	"github.com/weavetrace/weave/daemon/hookproto"
)

func TestRouteTablePanicsOnDuplicate(t *testing.T) {
	rt := routes{}
	rt.register(http.MethodGet, "/x", nil)
	defer func() {
		if recover() == nil {
			t.Errorf("register of a duplicate path: got no panic, want one")
		}
	}()
	rt.register(http.MethodPost, "/x", nil)
}

// A daemon without a Processor is a configuration error, not a daemon
// that journals events and emits nothing.
func TestNewNeedsProcessor(t *testing.T) {
	_, err := New(Settings{Paths: hookproto.NewPaths(t.TempDir())})
	if err == nil || !strings.Contains(err.Error(), "no processor") {
		t.Errorf("New without a Processor: got %v, want the error daemon: no processor", err)
	}
}
