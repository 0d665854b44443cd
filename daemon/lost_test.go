package daemon_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon"
	"github.com/weavetrace/weave/daemon/daemontest"
	"github.com/weavetrace/weave/daemon/export"
	"github.com/weavetrace/weave/daemon/export/exporttest"
	"github.com/weavetrace/weave/daemon/hookproto"
)

// spoolSession runs a daemon with the server down through one session of
// n tool events and its end, so every span is spooled, and stops it. It
// returns the span ids the session produced.
func spoolSession(t *testing.T, home string, rcv *exporttest.Receiver, n int) map[string]bool {
	t.Helper()
	rcv.SetStatus(http.StatusServiceUnavailable)
	h := newHarness(t, home, opts{rcv: rcv, proc: paddedProc()}).start()
	want := map[string]bool{}
	send := func(e *hookproto.Envelope) {
		if code, body := sendHook(t, h.p, e); code != 200 {
			t.Fatalf("hook: %d %s", code, body)
		}
		ev, err := hookproto.Decode(*e)
		if err != nil {
			t.Fatal(err)
		}
		want[daemontest.SpanFor(ev).SpanID.String()] = true
	}
	for i := range n {
		send(envelope("s1", "PreToolUse", fmt.Sprintf(`,"tool_use_id":"toolu_%d","tool_input":{"pad":"%0200d"}`, i, i)))
	}
	send(envelope("s1", "SessionEnd", "")) // closed: the next daemon does not replay it
	h.waitCalls(n + 1)
	ctx := waitCtx(t)
	for h.d.Status().Export.SpansSpooled < int64(n+1) && ctx.Err() == nil {
		rcv.Wait(ctx, func([]exporttest.Span) bool { return h.d.Status().Export.SpansSpooled >= int64(n+1) })
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	return want
}

// damageSpool flips 64 bytes at two places of the spool's largest
// segment, as issue 12's test did: inside the tool inputs' padding of the
// records about a third and two thirds in, so the damaged records' span
// ids survive (which records the places fall in depends on how the
// exporter batched; damage that takes a record's ids too is counted lost,
// as TestDamagedSpoolLossCountedAndKept checks, and TestRebuiltOf covers
// refs with damaged ids).
func damageSpool(t *testing.T, p hookproto.Paths) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(p.Spool, "seg-*.dat"))
	var seg string
	var b []byte
	for _, s := range segs {
		if c, _ := os.ReadFile(s); len(c) > len(b) {
			seg, b = s, c
		}
	}
	if len(b) < 1024 {
		t.Fatalf("spool segment too small to damage: %d bytes", len(b))
	}
	pads := regexp.MustCompile(`0{150,}`).FindAllIndex(b, -1)
	if len(pads) < 2 {
		t.Fatalf("spool segment holds %d tool input paddings, want 2 or more", len(pads))
	}
	nearest := func(at int) int {
		best := pads[0][0]
		for _, r := range pads {
			if abs(r[0]-at) < abs(best-at) {
				best = r[0]
			}
		}
		return best + 40
	}
	first, second := nearest(len(b)/3), nearest(2*len(b)/3)
	if first == second {
		second = pads[len(pads)-1][0] + 40
	}
	for _, at := range []int{first, second} {
		for i := at; i < at+64; i++ {
			b[i] ^= 0x5a
		}
	}
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// paddedProc is a test processor whose spans carry a 200-character pad.
func paddedProc() *daemontest.Processor {
	p := daemontest.New()
	p.Pad = 200
	return p
}

func abs(n int) int { return max(n, -n) }

// damagedSpool leaves a home whose spool holds a closed session's spans,
// 64 bytes flipped at two places; it returns the home, the receiver
// (answering 503) and the session's span ids.
func damagedSpool(t *testing.T) (string, *exporttest.Receiver, map[string]bool) {
	t.Helper()
	home := daemontest.ShortDir(t)
	rcv := exporttest.NewReceiver().Start()
	t.Cleanup(rcv.Close)
	want := spoolSession(t, home, rcv, 20)
	damageSpool(t, hookproto.NewPaths(home))
	return home, rcv, want
}

// Issue 12: flipping 64 bytes twice in a spool segment lost spans of a
// session that had closed (so no replay rebuilds it) and `status` said
// "0 lost". Now the spans of the damaged records are rebuilt from the
// session's journaled events and delivered; status counts the damage and
// the spans sent again, and nothing is lost.
func TestDamagedSpoolRebuiltFromJournal(t *testing.T) {
	home, rcv, want := damagedSpool(t)
	rcv.SetStatus(http.StatusOK)
	h := newHarness(t, home, opts{rcv: rcv, proc: paddedProc()}).start()
	if err := rcv.Wait(waitCtx(t), func(got []exporttest.Span) bool { return len(distinctIDs(got)) >= len(want) }); err != nil {
		t.Fatalf("delivered %d of %d spans after the damage (status %+v)", len(distinctIDs(rcv.Spans())), len(want), h.d.Status().Export.Losses)
	}
	for id := range distinctIDs(rcv.Spans()) {
		if !want[id] {
			t.Errorf("delivered span %s, not one of the session's", id)
		}
	}
	l := waitLosses(t, h)
	if l.DamagedRegions == 0 || l.Rebuilt == 0 || l.Lost.Spans != 0 || l.Lost.Batches != 0 {
		t.Errorf("losses: got %+v, want damage found, spans rebuilt, none lost", l)
	}
	if got := h.proc.Rebuilds(); len(got) == 0 || got[0] != "s1" {
		t.Errorf("rebuilds: got %v, want session s1", got)
	}
}

// With the session's journal gone too, the damaged spans cannot be
// rebuilt: status says how many were lost, since when and why, and says
// it again after a restart.
func TestDamagedSpoolLossCountedAndKept(t *testing.T) {
	home, rcv, want := damagedSpool(t)
	if err := os.RemoveAll(hookproto.NewPaths(home).Journal); err != nil {
		t.Fatal(err)
	}

	rcv.SetStatus(http.StatusOK)
	h := newHarness(t, home, opts{rcv: rcv}).start()
	l := waitLosses(t, h)
	delivered := len(distinctIDs(rcv.Spans()))
	if l.Lost.Spans == 0 || l.Lost.Spans+int64(delivered) != int64(len(want)) || l.Since.IsZero() ||
		l.ByReason["spool damaged"].Spans != l.Lost.Spans {
		t.Errorf("losses: got %+v with %d of %d spans delivered; want the rest counted lost, spool damaged, with a time", l, delivered, len(want))
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t, home, opts{rcv: rcv}).start()
	if l2 := h2.d.Status().Export.Losses; l2.Lost != l.Lost || !l2.Since.Equal(l.Since) {
		t.Errorf("after a restart: losses %+v, want %+v kept", l2, l)
	}
}

// waitLosses waits until the damage was found and settled (nothing
// spooled, no damaged span waiting to be rebuilt) and returns the losses.
func waitLosses(t *testing.T, h *harness) export.Losses {
	t.Helper()
	var st daemon.Status
	waitFor(t, func() bool {
		st = h.d.Status()
		return st.Export.Losses.DamagedRegions > 0 && st.Export.PendingRebuild == 0 && st.Export.SpoolRecords == 0
	})
	return st.Export.Losses
}

// waitFor polls cond (state changes that notify nothing the test can wait
// on) until it holds, failing after hangGuard.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	ctx := waitCtx(t)
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("condition not met within %v", hangGuard)
		case <-tick.C:
		}
	}
}

func distinctIDs(ss []exporttest.Span) map[string]bool {
	m := map[string]bool{}
	for _, s := range ss {
		m[s.SpanID] = true
	}
	return m
}

// Issue 12: a daemon died with spans spooled while the server was down;
// the next one (started by the user service, or `weave-agentd run`) gets
// no hook at all. It retries on its own, does not idle-exit while spans
// are pending, delivers them once the server is back, and only then idles
// out.
func TestSpooledSpansWaitForNoHook(t *testing.T) {
	home := daemontest.ShortDir(t)
	rcv := exporttest.NewReceiver().Start()
	defer rcv.Close()
	want := spoolSession(t, home, rcv, 25) // 26 spans
	const idle = 50 * time.Millisecond
	h := newHarness(t, home, opts{rcv: rcv, idle: idle, backoff: 20 * time.Millisecond}).start()
	// Jittered 10-20 ms apart: 10 more refused attempts outlast the idle timeout.
	refused := rcv.Rejected()
	if err := rcv.Wait(waitCtx(t), func([]exporttest.Span) bool { return rcv.Rejected() >= refused+10 }); err != nil {
		t.Fatalf("the daemon does not retry on its own: %d attempts", rcv.Rejected()-refused)
	}
	select {
	case err := <-h.done:
		t.Fatalf("the daemon exited (%v) with %d spans pending", err, len(want))
	default:
	}
	if st := h.d.Status(); st.Export.SpoolRecords == 0 || st.Export.OutageSince.IsZero() {
		t.Errorf("while down: %+v, want spooled batches and an outage", st.Export)
	}
	rcv.SetStatus(http.StatusOK)
	if err := rcv.Wait(waitCtx(t), func(got []exporttest.Span) bool { return len(distinctIDs(got)) == len(want) }); err != nil {
		t.Fatalf("delivered %d of %d spans once the server was back", len(distinctIDs(rcv.Spans())), len(want))
	}
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("idle exit: %v", err)
		}
		h.cancel = nil
	case <-time.After(hangGuard):
		t.Errorf("no idle exit once the spool was delivered")
	}
}
