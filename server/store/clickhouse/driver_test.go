package clickhouse

import (
	"context"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/weavetrace/weave/server/store/clickhouse/clickhousetest"
)

// watchdogCtx holds the driver's batch watchdog goroutine in its first
// look at Done, for at most hold: the moment a loaded machine may leave
// that goroutine unscheduled.
type watchdogCtx struct {
	context.Context
	hold    time.Duration
	release chan struct{}
	held    atomic.Int32 // watchdogs held now
	seen    atomic.Int32 // watchdogs held in all
}

func (c *watchdogCtx) Done() <-chan struct{} {
	if fromWatchdog() {
		c.seen.Add(1)
		c.held.Add(1)
		select {
		case <-c.release:
		case <-time.After(c.hold):
		}
		c.held.Add(-1)
	}
	return c.Context.Done()
}

// fromWatchdog reports whether the caller runs in clickhouse-go's
// contextWatchdog goroutine.
func fromWatchdog() bool {
	pcs := make([]uintptr, 16)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	for {
		f, more := frames.Next()
		if strings.Contains(f.Function, "clickhouse-go/v2.contextWatchdog") {
			return true
		}
		if !more {
			return false
		}
	}
}

// TestWriterBatchWatchdogGone: when an insert returns, the driver's
// watchdog on its context is gone. clickhouse-go up to v2.50.0 returned
// the connection to the pool with the watchdog possibly not yet run; the
// writer then cancels the flush's context, and the watchdog, running
// late, closed the TCP connection under whichever query had taken it from
// the pool meanwhile ("use of closed network connection", the server
// logging a reset). On a loaded machine that failed a conformance test in
// most runs. Held here deterministically, the old driver fails at once.
func TestWriterBatchWatchdogGone(t *testing.T) {
	opts, err := ch.ParseDSN(clickhousetest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	opts.MaxOpenConns, opts.MaxIdleConns = 1, 1
	conn, err := ch.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	base, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Long enough that an insert returning without waiting for the
	// watchdog finds it still held; a fixed driver waits this long.
	ctx := &watchdogCtx{Context: base, hold: 2 * time.Second, release: make(chan struct{})}
	err = insertInto(ctx, conn, "FUNCTION null('x UInt8')", []string{"x"}, [][]any{{uint8(1)}})
	held := ctx.held.Load()
	close(ctx.release)
	if err != nil {
		t.Fatal(err)
	}
	if ctx.seen.Load() == 0 {
		t.Fatal("no contextWatchdog goroutine looked at the batch context: the driver changed, update this test")
	}
	if held != 0 {
		t.Fatal("the insert returned (its connection back in the pool) while the driver's watchdog on its context still ran: cancelling the context now closes the connection under its next user")
	}
	cancel() // what the writer does after a flush
	var one uint8
	if err := conn.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("the pooled connection after the insert: %v", err)
	}
}
