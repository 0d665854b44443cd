package daemon

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

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

// LockHolder reads agentd.lock as the daemon opens it: a FIFO planted
// there gives "?" instead of blocking `status` and `stop` in open(2).
func TestLockHolderFIFO(t *testing.T) {
	p := hookproto.NewPaths(t.TempDir())
	if err := syscall.Mkfifo(p.Lock, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() { got <- LockHolder(p) }()
	select {
	case h := <-got:
		if h != "?" {
			t.Errorf("LockHolder: got %q, want ?", h)
		}
	case <-time.After(10 * time.Second): // a hang guard, not a speed check
		if w, err := os.OpenFile(p.Lock, os.O_WRONLY, 0); err == nil {
			w.Close() // let it go
		}
		<-got
		t.Fatal("LockHolder blocked on a FIFO")
	}
}
