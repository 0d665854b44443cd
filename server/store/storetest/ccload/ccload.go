// Package ccload is the benchmarks' workload of weave's main producer:
// the spans weave-agentd builds from real Claude Code CLI and Agent SDK
// sessions (the hand-reviewed golden spans of the recorded sessions, under
// spans/testdata/golden), replayed under fresh ids as many times as
// needed — the "harness captures imported many times under fresh IDs" of
// issue 4's benchmark. Each session is rendered once as the OTLP/HTTP
// protobuf request weave-agentd sends (through the same exporter); every
// replica rewrites that request's trace and span ids, its session-like
// UUID attribute values (conversation, session, prompt and parent session
// ids) and shifts its times, so replicas are new conversations with the
// same shape. Next gives them as requests, NextSpans as weave-server
// stores them (normalized, raw span kept).
package ccload

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weavetrace/weave/daemon/export"
	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/normalize"
	"github.com/weavetrace/weave/spans"
)

// Load replays the sessions. It is not safe for concurrent use.
type Load struct {
	project  string
	bodies   [][]byte // one OTLP protobuf request per session
	perRound int      // spans in one replica of every session
	round    int      // the next replica
	next     int      // the next session of the round
	// Gap is how far each replica's times are shifted from the previous
	// one's (default one minute).
	Gap time.Duration
}

// GoldenDir finds spans/testdata/golden from the working directory of a
// test anywhere in the repository.
func GoldenDir() (string, error) {
	root, err := fixtures.Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "spans", "testdata", "golden"), nil
}

// FromRepo is New on the repository's spans/testdata/golden (GoldenDir).
func FromRepo(project string) (*Load, error) {
	dir, err := GoldenDir()
	if err != nil {
		return nil, err
	}
	return New(dir, project)
}

// New reads every session's golden spans under dir and renders each as the
// OTLP request weave-agentd's exporter sends, for project (routed through
// the resource attributes as weave-agentd does; "" leaves it to the
// server's default).
func New(dir, project string) (*Load, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*", "*", "*.jsonl"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("ccload: no golden spans under %s", dir)
	}
	sort.Strings(files)
	var sessions [][]spans.Span
	perRound := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var sess []spans.Span
		for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if line == "" {
				continue
			}
			var sp spans.Span
			if err := sp.UnmarshalJSON([]byte(line)); err != nil {
				return nil, fmt.Errorf("ccload: %s:%d: %w", f, i+1, err)
			}
			sess = append(sess, sp)
		}
		if len(sess) > 0 {
			sessions = append(sessions, sess)
			perRound += len(sess)
		}
	}
	bodies, err := render(sessions, project)
	if err != nil {
		return nil, err
	}
	return &Load{project: project, bodies: bodies, perRound: perRound, Gap: time.Minute}, nil
}

// render exports each session through weave-agentd's OTLP exporter to a
// loopback receiver and keeps the request bodies.
func render(sessions [][]spans.Span, project string) ([][]byte, error) {
	var mu sync.Mutex
	var got [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	ctx := context.Background()
	exp, err := export.NewClient(ctx, export.Target{Endpoint: srv.URL + "/v1/traces", Project: project, ServiceVersion: "bench"})
	if err != nil {
		return nil, err
	}
	defer exp.Shutdown(ctx)
	for i, s := range sessions {
		if err := exp.ExportSpans(ctx, s); err != nil {
			return nil, fmt.Errorf("ccload: export session %d: %w", i, err)
		}
	}
	if len(got) != len(sessions) {
		return nil, fmt.Errorf("ccload: %d requests for %d sessions", len(got), len(sessions))
	}
	return got, nil
}

// SpansPerRound is the number of spans in one replica of every session.
func (l *Load) SpansPerRound() int { return l.perRound }

// Sessions is the number of sessions replayed.
func (l *Load) Sessions() int { return len(l.bodies) }

// Next returns the next session's next replica as an OTLP protobuf request
// and its span count.
func (l *Load) Next() ([]byte, int) {
	td := l.nextTraces()
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		panic(fmt.Sprintf("ccload: marshal: %v", err)) // pdata built from a valid request
	}
	return body, td.SpanCount()
}

// NextSpans returns the next session's next replica as weave-server stores
// it: normalized, with its raw spans.
func (l *Load) NextSpans() []model.Span {
	td := l.nextTraces()
	var out []model.Span
	for _, rs := range td.ResourceSpans().All() {
		s, warns := normalize.Normalize(rs, normalize.Options{DefaultProject: l.project})
		for _, w := range warns {
			if w.Rejected {
				panic(fmt.Sprintf("ccload: a replayed span was rejected: %s %s", w.Code, w.Message))
			}
		}
		out = append(out, s...)
	}
	return out
}

func (l *Load) nextTraces() ptrace.Traces {
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(l.bodies[l.next]); err != nil {
		panic(fmt.Sprintf("ccload: the exporter's own request does not decode: %v", err))
	}
	td := req.Traces()
	rewrite(td, l.round, time.Duration(l.round)*l.Gap)
	l.next++
	if l.next == len(l.bodies) {
		l.next = 0
		l.round++
	}
	return td
}

// rewrite gives td the ids of replica n and shifts its times by shift.
// Replica 0 is the session as captured.
func rewrite(td ptrace.Traces, n int, shift time.Duration) {
	if n == 0 {
		return
	}
	ts := func(t pcommon.Timestamp) pcommon.Timestamp {
		if t == 0 {
			return 0 // running: no end time
		}
		return t + pcommon.Timestamp(shift)
	}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				tid := sp.TraceID()
				sp.SetTraceID(pcommon.TraceID(remap(tid[:], n)))
				sp.SetSpanID(remapSpan(sp.SpanID(), n))
				if pid := sp.ParentSpanID(); !pid.IsEmpty() {
					sp.SetParentSpanID(remapSpan(pid, n))
				}
				sp.SetStartTimestamp(ts(sp.StartTimestamp()))
				sp.SetEndTimestamp(ts(sp.EndTimestamp()))
				for _, ev := range sp.Events().All() {
					ev.SetTimestamp(ts(ev.Timestamp()))
				}
				for _, v := range sp.Attributes().All() {
					if v.Type() == pcommon.ValueTypeStr && isUUID(v.Str()) {
						v.SetStr(remapUUID(v.Str(), n))
					}
				}
				remapInputRef(sp.Attributes(), n)
			}
		}
	}
}

// remapInputRef points a chat span's input reference (the earlier call's
// span, semconv.KeyInputPreviousTraceID/SpanID) at replica n's copy.
func remapInputRef(attrs pcommon.Map, n int) {
	tv, ok1 := attrs.Get(semconv.KeyInputPreviousTraceID)
	sv, ok2 := attrs.Get(semconv.KeyInputPreviousSpanID)
	if !ok1 || !ok2 {
		return
	}
	tb, err1 := hex.DecodeString(tv.Str())
	sb, err2 := hex.DecodeString(sv.Str())
	if err1 != nil || err2 != nil || len(tb) != 16 || len(sb) != 8 {
		return
	}
	tid := remap(tb, n)
	sid := remapSpan(pcommon.SpanID(sb), n)
	tv.SetStr(hex.EncodeToString(tid[:]))
	sv.SetStr(hex.EncodeToString(sid[:]))
}

func remapSpan(id pcommon.SpanID, n int) pcommon.SpanID {
	r := remap(id[:], n)
	return pcommon.SpanID(r[:8])
}

// remap derives replica n's id from an id: the same input gives the same
// output, so parents and children stay linked.
func remap(id []byte, n int) [16]byte {
	h := sha256.New()
	h.Write(id)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	h.Write(b[:])
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

func remapUUID(s string, n int) string {
	id := remap([]byte(s), n)
	h := hex.EncodeToString(id[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
