package export

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/weavetrace/weave/daemon/export/exporttest"
	"github.com/weavetrace/weave/daemon/spool"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spans"
)

// record is a spool record of n spans of session s (trace 1, spans
// first..first+n-1), as the exporter writes it.
func record(t testing.TB, s string, first, n int) []byte {
	var batch []spans.Span
	for i := first; i < first+n; i++ {
		sp := span(i, false)
		sp.SetAttr(semconv.KeySessionID, s)
		sp.Events = []spans.Event{{Name: "gen_ai.evt", Time: t0, Attributes: map[string]any{"k": "v"}}}
		batch = append(batch, sp)
	}
	b, err := json.Marshal(batch)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestScanDamaged(t *testing.T) {
	rec := record(t, "sess-1", 1, 5)
	flip := func(b []byte, at, n int) []byte {
		b = append([]byte(nil), b...)
		for i := at; i < at+n && i < len(b); i++ {
			b[i] ^= 0x5a
		}
		return b
	}
	second := strings.Index(string(rec), `{"trace_id"`+``) // first span
	second = strings.Index(string(rec[second+1:]), `{"trace_id"`) + second + 1
	for _, tc := range []struct {
		name      string
		b         []byte
		named     int    // spans with trace and span id
		noSession int    // of them without a session id
		count     int    // CountSpans
		wantFirst string // span id of the first ref
	}{
		{"intact", rec, 5, 0, 5, spanID(1)},
		{"64 bytes flipped inside a span's ids", flip(rec, second+5, 64), 4, 0, 5, spanID(1)},
		{"session id damaged: taken from its trace", flip(rec, strings.Index(string(rec), "sess-1")+2, 2), 5, 0, 5, spanID(1)},
		{"only the end of a record", rec[len(rec)/2:], 2, 0, 3, ""},
		{"garbage", []byte("WVSP\x00\x01garbage{\"trace_id\":\"zz"), 0, 0, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refs := ScanDamaged(tc.b)
			named, noSession := 0, 0
			for _, r := range refs {
				if r.TraceID != "" && r.SpanID != "" {
					named++
				}
				if r.SessionID == "" {
					noSession++
				}
				if r.SessionID != "" && r.SessionID != "sess-1" {
					t.Errorf("ref %+v: session %q, want sess-1", r, r.SessionID)
				}
			}
			if named != tc.named || noSession != tc.noSession {
				t.Errorf("refs %+v: %d named, %d without a session; want %d and %d", refs, named, noSession, tc.named, tc.noSession)
			}
			if tc.wantFirst != "" && (len(refs) == 0 || refs[0].SpanID != tc.wantFirst) {
				t.Errorf("first ref %+v, want span %s", refs, tc.wantFirst)
			}
			if n := CountSpans(tc.b); n != tc.count {
				t.Errorf("CountSpans: got %d, want %d", n, tc.count)
			}
		})
	}
}

// FuzzScanDamaged: any bytes give refs whose ids are well formed, each
// once, never more than the spans CountSpans sees.
func FuzzScanDamaged(f *testing.F) {
	rec := record(f, "sess-1", 1, 3)
	f.Add(rec)
	f.Add(rec[7:200])
	f.Add([]byte(`{"trace_id":"` + strings.Repeat("a", 32) + `","span_id":"0123456789abcdef","attributes":{"weave.claude_code.session.id":"x"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		refs := ScanDamaged(b)
		seen := map[SpanRef]bool{}
		for _, r := range refs {
			if seen[r] {
				t.Fatalf("ref %+v twice", r)
			}
			seen[r] = true
			if r.TraceID != "" && (len(r.TraceID) != 32 || !isHex([]byte(r.TraceID))) ||
				r.SpanID != "" && (len(r.SpanID) != 16 || !isHex([]byte(r.SpanID))) ||
				len(r.SessionID) > maxSessionID || !plain([]byte(r.SessionID)) {
				t.Fatalf("malformed ref %+v", r)
			}
		}
		if len(refs) > CountSpans(b) {
			t.Fatalf("%d refs but CountSpans %d", len(refs), CountSpans(b))
		}
	})
}

// Damaged spans wait, in the losses file, until the daemon says what it
// rebuilt; the losses survive a restart, and so do the spans still to
// rebuild.
func TestLossesKept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		losses := filepath.Join(dir, "losses.json")
		sp, err := spool.Open(filepath.Join(dir, "spool"), spool.Settings{MaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			sp.Put(record(t, "sess-1", 1+10*i, 4))
		}
		sp.Close()
		seg := filepath.Join(dir, "spool", "seg-0000000000000000.dat")
		b, _ := os.ReadFile(seg)
		mid := len(b) / 2 // inside the second record
		for i := mid; i < mid+64; i++ {
			b[i] ^= 0x5a
		}
		os.WriteFile(seg, b, 0o600)

		set := func(_ *Config, s *Settings) { s.LossesPath = losses }
		r := newRigWith(t, filepath.Join(dir, "spool"), nil, set)
		synctest.Wait()
		if n := len(r.rcv.Distinct()); n != 8 {
			t.Errorf("delivered %d spans, want the 8 of the intact records", n)
		}
		regions := r.e.TakeRebuild()
		if len(regions) != 1 || regions[0].Spans() != 4 || r.e.Idle() {
			t.Fatalf("to rebuild: %+v (idle %v), want one region of 4 spans, not idle", regions, r.e.Idle())
		}
		r.stop()

		// A restart before the rebuild: the region is handed out again.
		r = newRigWith(t, filepath.Join(dir, "spool"), nil, set)
		again := r.e.TakeRebuild()
		if len(again) != 1 || again[0].ID != regions[0].ID || r.e.Stats().PendingRebuild != 4 {
			t.Fatalf("after a restart: %+v, want the same region pending", again)
		}
		r.e.Rebuilt(again[0], 3)
		st := r.e.Stats()
		if st.PendingRebuild != 0 || st.Losses.Rebuilt != 3 || st.Losses.Lost.Spans != 1 || st.Losses.Since.IsZero() ||
			st.Losses.ByReason[LossDamaged].Spans != 1 || !r.e.Idle() {
			t.Errorf("after Rebuilt(3 of 4): %+v, want 3 rebuilt, 1 lost since now, idle", st.Losses)
		}
		r.stop()
		l, err := ReadLosses(losses)
		if err != nil || l.Lost.Spans != 1 || l.Rebuilt != 3 || len(l.Pending) != 0 || l.DamagedRegions != 1 {
			t.Errorf("losses file: %+v, %v", l, err)
		}
	})
}

// Spans dropped by the spool's cap and batches that cannot be spooled are
// counted lost, with their reason.
func TestLossesSpoolFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		sp, err := spool.Open(dir, spool.Settings{MaxBytes: 4 << 10, SegmentBytes: 1 << 10})
		if err != nil {
			t.Fatal(err)
		}
		rcv := exporttest.NewReceiver()
		e, err := New(context.Background(), Config{Target: Target{Endpoint: "http://weave.test"}, MaxBatchSpans: 4},
			Settings{Spool: sp, Transport: exporttest.Transport{H: rcv}})
		if err != nil {
			t.Fatal(err)
		}
		rcv.SetStatus(http.StatusServiceUnavailable)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		for i := range 40 {
			e.Enqueue(context.Background(), []spans.Span{span(i%200+1, false)})
			synctest.Wait()
		}
		st := e.Stats()
		if st.SpoolDropped == 0 || st.Losses.ByReason[LossSpoolFull].Batches != st.SpoolDropped {
			t.Errorf("spool full: dropped %d batches, losses %+v; want them counted", st.SpoolDropped, st.Losses)
		}
		cancel()
		<-done
		sp.Close()
	})
}
