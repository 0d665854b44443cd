package ingest

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// flatten renders each item of a request decoded by pdata, with its
// resource and scope, as one canonical string: two requests with the same
// flattening carry the same data. (ptrace.JSONUnmarshaler, unlike
// ptraceotlp.ExportRequest, applies the deprecated scope lists as
// UnmarshalProto does; the chunks follow that rule in both encodings.)
func flatten(t testing.TB, sig signal, enc encoding, body []byte) []string {
	t.Helper()
	var out []string
	if sig == signalLogs {
		ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(body)
		if enc == encJSON {
			ld, err = (&plog.JSONUnmarshaler{}).UnmarshalLogs(body)
		}
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					one := plog.NewLogs()
					r := one.ResourceLogs().AppendEmpty()
					rl.Resource().CopyTo(r.Resource())
					r.SetSchemaUrl(rl.SchemaUrl())
					s := r.ScopeLogs().AppendEmpty()
					sl.Scope().CopyTo(s.Scope())
					s.SetSchemaUrl(sl.SchemaUrl())
					lr.CopyTo(s.LogRecords().AppendEmpty())
					b, err := plogotlp.NewExportRequestFromLogs(one).MarshalJSON()
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, string(b))
				}
			}
		}
		return out
	}
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(body)
	if enc == encJSON {
		td, err = (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(body)
	}
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				one := ptrace.NewTraces()
				r := one.ResourceSpans().AppendEmpty()
				rs.Resource().CopyTo(r.Resource())
				r.SetSchemaUrl(rs.SchemaUrl())
				s := r.ScopeSpans().AppendEmpty()
				ss.Scope().CopyTo(s.Scope())
				s.SetSchemaUrl(ss.SchemaUrl())
				sp.CopyTo(s.Spans().AppendEmpty())
				b, err := ptraceotlp.NewExportRequestFromTraces(one).MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, string(b))
			}
		}
	}
	return out
}

// chunked scans body, splits it and flattens every chunk in order; the
// scan must reject nothing.
func chunked(t testing.TB, sig signal, enc encoding, body []byte, items, size int) []string {
	t.Helper()
	l, err := scanRequest(sig, enc, body)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	if len(l.problems) > 0 {
		t.Fatalf("scan rejected items: %v (%s)", l.problems, l.firstProblem)
	}
	return chunkedLayout(t, l, items, size)
}

func chunkedLayout(t testing.TB, l *layout, items, size int) []string {
	t.Helper()
	sig, enc := l.sig, l.enc
	var out []string
	for _, pieces := range l.chunks(items, size) {
		n := 0
		l.eachItem(pieces, func(piece, *itemLayout, int) { n++ })
		if n == 0 || n > items {
			t.Fatalf("chunk of %d items, want 1..%d", n, items)
		}
		out = append(out, flatten(t, sig, enc, l.encode(pieces))...)
	}
	return out
}

// TestChunksDecodeLikeTheWholeRequest: for every corpus body, in both
// encodings and both signals, the chunks decode to exactly the items of
// the whole request, with their resources and scopes, in order.
func TestChunksDecodeLikeTheWholeRequest(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(corpusDir, "*", "*"))
	n := 0
	for _, p := range paths {
		var enc encoding
		switch {
		case strings.HasSuffix(p, ".decoded.json"):
			continue
		case strings.HasSuffix(p, ".pb"):
			enc = encProto
		case strings.HasSuffix(p, ".json"):
			enc = encJSON
		default:
			continue
		}
		sig := signalTraces
		if strings.Contains(p, ".logs.") {
			sig = signalLogs
		}
		body := readFile(t, p)
		want := flatten(t, sig, enc, body)
		for _, c := range []struct{ items, size int }{{1, 1 << 30}, {2, 1 << 30}, {1000, 1}, {1000, 2000}, {DefaultChunkItems, DefaultChunkBytes}} {
			if got := chunked(t, sig, enc, body, c.items, c.size); !slices.Equal(got, want) {
				t.Errorf("%s, chunks of %d items / %d bytes: decoded %d items, want %d, or they differ", p, c.items, c.size, len(got), len(want))
			}
		}
		n++
	}
	if n < 100 {
		t.Fatalf("only %d corpus bodies under %s", n, corpusDir)
	}
}

// TestChunksKeepPdataSemantics covers the request shapes the corpus lacks:
// deprecated scope lists (used only without current ones), several
// resources and scopes, repeated fields, escaped member names, null items,
// resources without scopes, and unknown fields.
func TestChunksKeepPdataSemantics(t *testing.T) {
	span := func(i int) string {
		return fmt.Sprintf(`{"traceId":"%032x","spanId":"%016x","name":"s%d","startTimeUnixNano":"1000","attributes":[{"key":"k","value":{"arrayValue":{"values":[{"intValue":"%d"}]}}}]}`, i+1, i+1, i, i)
	}
	tests := []struct{ name, body string }{
		{"deprecated scopes only", `{"resourceSpans":[{"resource":{"attributes":[{"key":"r","value":{"stringValue":"1"}}]},"deprecatedScopeSpans":[{"scope":{"name":"old"},"spans":[` + span(1) + `,` + span(2) + `]}]}]}`},
		{"deprecated scopes ignored", `{"resourceSpans":[{"deprecated_scope_spans":[{"spans":[` + span(1) + `]}],"scopeSpans":[{"spans":[` + span(2) + `]}]}]}`},
		{"many resources and scopes", `{"resourceSpans":[{"scopeSpans":[{"scope":{"name":"a"},"spans":[` + span(1) + `]},{"scope":{"name":"b"},"spans":[` + span(2) + `,` + span(3) + `]}]},{"schemaUrl":"u","resource":{},"scopeSpans":[{"spans":[` + span(4) + `]}]}]}`},
		{"repeated lists", `{"resourceSpans":[{"scopeSpans":[{"spans":[` + span(1) + `]}],"scopeSpans":[{"spans":[` + span(2) + `],"spans":[` + span(3) + `]}]}],"resourceSpans":[{"scopeSpans":[{"spans":[` + span(4) + `]}]}]}`},
		{"escaped names", `{"resource\u0053pans":[{"scope_spans":[{"sp\u0061ns":[` + span(1) + `]}]}]}`},
		{"null item and lists", `{"resourceSpans":[{"scopeSpans":[{"spans":[null,` + span(1) + `]},{"spans":null}]},{"scopeSpans":null},{}]}`},
		{"unknown members", `{"x":{"y":[1,{"z":null}]},"resourceSpans":[{"q":[[]],"scopeSpans":[{"w":"v","spans":[` + span(1) + `]}]}]}`},
		{"whitespace", " \n{ \"resourceSpans\" : [ { \"scopeSpans\" : [ { \"spans\" : [ " + span(1) + " , " + span(2) + " ] } ] } ] } \n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := flatten(t, signalTraces, encJSON, []byte(tt.body))
			if len(want) == 0 {
				t.Fatal("the case decodes to no spans")
			}
			for _, items := range []int{1, 2, 100} {
				if got := chunked(t, signalTraces, encJSON, []byte(tt.body), items, 1<<30); !slices.Equal(got, want) {
					t.Errorf("JSON chunks of %d: got\n%s\nwant\n%s", items, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
			// The same request in protobuf, written by pdata.
			req := ptraceotlp.NewExportRequest()
			if err := req.UnmarshalJSON([]byte(tt.body)); err != nil {
				t.Fatal(err)
			}
			pb, err := req.MarshalProto()
			if err != nil {
				t.Fatal(err)
			}
			for _, items := range []int{1, 2, 100} {
				if got := chunked(t, signalTraces, encProto, pb, items, 1<<30); !slices.Equal(got, want) {
					t.Errorf("protobuf chunks of %d: got %d items, want %d", items, len(got), len(want))
				}
			}
		})
	}
	// Deprecated scope spans in protobuf (field 1000), which pdata never
	// writes: alone they are used, beside current ones ignored.
	ss := scopeSpansProto(t, spanProto(t, 1))
	only := protoField(1, protoField(1000, ss))
	if got := chunked(t, signalTraces, encProto, only, 1, 1<<30); len(got) != 1 {
		t.Errorf("deprecated protobuf scopes alone: %d spans, want 1", len(got))
	}
	both := protoField(1, append(protoField(1000, ss), protoField(2, scopeSpansProto(t, spanProto(t, 2), spanProto(t, 3)))...))
	if got, want := chunked(t, signalTraces, encProto, both, 1, 1<<30), flatten(t, signalTraces, encProto, both); len(got) != 2 || !slices.Equal(got, want) {
		t.Errorf("deprecated protobuf scopes beside current ones: %d spans, want the 2 current ones", len(got))
	}
}

// protoField encodes a length-delimited field.
func protoField(num int, value []byte) []byte {
	b := binary.AppendUvarint(nil, uint64(num)<<3|2)
	b = binary.AppendUvarint(b, uint64(len(value)))
	return append(b, value...)
}

// spanProto is a valid Span message (ids from i).
func spanProto(t testing.TB, i int) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{0xaa, byte(i), byte(i >> 8), byte(i >> 16), 1})
	sp.SetSpanID(pcommon.SpanID{0xbb, byte(i), byte(i >> 8), byte(i >> 16), 1})
	sp.SetName(fmt.Sprintf("chat %d", i))
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)))
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	// Request{1: ResourceSpans{2: ScopeSpans{2: Span}}}: unwrap three levels.
	for range 3 {
		b = firstLenField(t, b)
	}
	return b
}

// firstLenField returns the value of the first field of a message, which
// must be length-delimited.
func firstLenField(t testing.TB, b []byte) []byte {
	t.Helper()
	tag, n := binary.Uvarint(b)
	if n <= 0 || tag&7 != 2 {
		t.Fatalf("first field is not length-delimited: %x", b[:min(len(b), 8)])
	}
	l, m := binary.Uvarint(b[n:])
	return b[n+m : n+m+int(l)]
}

func scopeSpansProto(t testing.TB, spans ...[]byte) []byte {
	t.Helper()
	var b []byte
	for _, s := range spans {
		b = append(b, protoField(2, s)...)
	}
	return b
}

// deepValueProto is an AnyValue nesting levels maps (kvlist) or lists
// (array) around a string, built without recursion: lengths inside out,
// then the prefixes outside in. A million levels take about 17 MB.
func deepValueProto(levels int, kvlist bool) []byte {
	inner := []byte{0x0a, 1, 'x'} // AnyValue{string_value: "x"}
	lens := make([]int, levels+1) // lens[i]: length of the AnyValue i levels from the inside
	lens[0] = len(inner)
	prefix := func(inner int) int {
		if kvlist { // AnyValue{6: KeyValueList{1: KeyValue{1: "k", 2: inner}}}
			kv := 3 + 1 + uvarintLen(uint64(inner)) + inner
			kvl := 1 + uvarintLen(uint64(kv)) + kv
			return 1 + uvarintLen(uint64(kvl)) + kvl - inner
		}
		arr := 1 + uvarintLen(uint64(inner)) + inner // ArrayValue{1: inner}
		return 1 + uvarintLen(uint64(arr)) + arr - inner
	}
	for i := 1; i <= levels; i++ {
		lens[i] = lens[i-1] + prefix(lens[i-1])
	}
	b := make([]byte, 0, lens[levels])
	for i := levels; i >= 1; i-- {
		in := lens[i-1]
		if kvlist {
			kv := 3 + 1 + uvarintLen(uint64(in)) + in
			kvl := 1 + uvarintLen(uint64(kv)) + kv
			b = append(b, 6<<3|2)
			b = binary.AppendUvarint(b, uint64(kvl))
			b = append(b, 1<<3|2)
			b = binary.AppendUvarint(b, uint64(kv))
			b = append(b, 1<<3|2, 1, 'k', 2<<3|2)
			b = binary.AppendUvarint(b, uint64(in))
		} else {
			arr := 1 + uvarintLen(uint64(in)) + in
			b = append(b, 5<<3|2)
			b = binary.AppendUvarint(b, uint64(arr))
			b = append(b, 1<<3|2)
			b = binary.AppendUvarint(b, uint64(in))
		}
	}
	return append(b, inner...)
}

// deepValueJSON is the OTLP/JSON AnyValue nesting levels lists or maps.
func deepValueJSON(levels int, kvlist bool) string {
	open, close := `{"arrayValue":{"values":[`, `]}}`
	if kvlist {
		open, close = `{"kvlistValue":{"values":[{"key":"k","value":`, `}]}}`
	}
	return strings.Repeat(open, levels) + `{"stringValue":"x"}` + strings.Repeat(close, levels)
}

// deepTraceRequest is a trace request of one good span and one whose
// attribute "deep" nests levels deep (span ids 1 and 2), in enc.
func deepTraceRequest(t testing.TB, enc encoding, levels int, kvlist bool) []byte {
	t.Helper()
	if enc == encJSON {
		good := `{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"0000000000000001","name":"good","startTimeUnixNano":"1763812800000000000"}`
		deep := `{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"0000000000000002","name":"deep","startTimeUnixNano":"1763812800000000000","attributes":[{"key":"deep","value":` + deepValueJSON(levels, kvlist) + `}]}`
		return []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[` + good + `,` + deep + `]}]}]}`)
	}
	deep := append(spanProto(t, 2), protoField(9, append(protoField(1, []byte("deep")), protoField(2, deepValueProto(levels, kvlist))...))...)
	return protoField(1, protoField(2, scopeSpansProto(t, spanProto(t, 1), deep)))
}

func TestNestingDepthBoundary(t *testing.T) {
	for _, enc := range []encoding{encProto, encJSON} {
		for _, kvlist := range []bool{false, true} {
			for _, levels := range []int{0, 1, MaxValueDepth - 1, MaxValueDepth, MaxValueDepth + 1, 1000} {
				name := fmt.Sprintf("%s/kvlist=%v/%d", enc.name(), kvlist, levels)
				t.Run(name, func(t *testing.T) {
					l, err := scanRequest(signalTraces, enc, deepTraceRequest(t, enc, levels, kvlist))
					if err != nil {
						t.Fatalf("scan: %v", err)
					}
					wantRejected := levels > MaxValueDepth
					if got := l.problems[reasonTooDeep] == 1; got != wantRejected || len(l.problems) > 1 {
						t.Fatalf("problems %v (%s), want the deep span rejected: %v", l.problems, l.firstProblem, wantRejected)
					}
					if wantRejected && !strings.Contains(l.firstProblem, "deeper than 128 levels") {
						t.Errorf("message %q does not give the limit", l.firstProblem)
					}
					if wantRejected && !strings.Contains(l.firstProblem, "0000000000000002") && !strings.Contains(l.firstProblem, "bb02000001000000") {
						t.Errorf("message %q does not name the span", l.firstProblem)
					}
					if !wantRejected {
						// What the scan accepts pdata decodes.
						got := chunked(t, signalTraces, enc, l.body, 1, 1<<30)
						if len(got) != 2 {
							t.Errorf("decoded %d spans, want 2", len(got))
						}
					}
				})
			}
		}
	}
}

func TestNestingOutsideItemsFailsTheRequest(t *testing.T) {
	deepAttr := `[{"key":"deep","value":` + deepValueJSON(MaxValueDepth+1, true) + `}]`
	span := `{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"0000000000000001","startTimeUnixNano":"1"}`
	tests := []struct {
		name, body, want string
	}{
		{"resource attribute", `{"resourceSpans":[{"resource":{"attributes":` + deepAttr + `},"scopeSpans":[{"spans":[` + span + `]}]}]}`, "resource attribute value nests"},
		{"scope attribute", `{"resourceSpans":[{"scopeSpans":[{"scope":{"attributes":` + deepAttr + `},"spans":[` + span + `]}]}]}`, "scope attribute value nests"},
		{"unknown member", `{"x":` + strings.Repeat("[", MaxJSONDepth) + strings.Repeat("]", MaxJSONDepth) + `}`, "nests deeper than 544 levels"},
		{"not an object", `[1]`, "not a JSON object"},
		{"spans not a list", `{"resourceSpans":[{"scopeSpans":[{"spans":{}}]}]}`, "want an array"},
		{"scope not an object", `{"resourceSpans":[{"scopeSpans":[1]}]}`, "want an object"},
		{"truncated", `{"resourceSpans":[{"scopeSpans":[{"spans":[` + span, "unexpected end"},
		{"bad separator", `{"resourceSpans":[{"scopeSpans" 1}]}`, "want ':'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scanRequest(signalTraces, encJSON, []byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("scan: got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	// The same in protobuf: a deep resource attribute.
	res := protoField(1, append(protoField(1, []byte("deep")), protoField(2, deepValueProto(MaxValueDepth+1, false))...))
	body := protoField(1, append(protoField(1, res), protoField(2, scopeSpansProto(t, spanProto(t, 1)))...))
	if _, err := scanRequest(signalTraces, encProto, body); err == nil || !strings.Contains(err.Error(), "resource attribute value nests") {
		t.Errorf("protobuf deep resource attribute: got %v, want an error", err)
	}
}

// TestMalformedProtoItemsRejectedAlone: protobuf gives each span's length,
// so a span that is not a valid message is rejected alone.
func TestMalformedProtoItemsRejectedAlone(t *testing.T) {
	bad := []struct {
		name string
		span []byte
	}{
		{"truncated varint", append(spanProto(t, 2), 0x08, 0x80)},
		{"attribute length past the span", append(spanProto(t, 2), 9<<3|2, 50, 1)},
		{"attribute not length-delimited", append(spanProto(t, 2), 9<<3|0, 1)},
		{"field zero", append(spanProto(t, 2), 0, 0)},
		{"unbalanced group", append(spanProto(t, 2), 15<<3|4)},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			body := protoField(1, protoField(2, scopeSpansProto(t, spanProto(t, 1), tt.span, spanProto(t, 3))))
			l, err := scanRequest(signalTraces, encProto, body)
			if err != nil {
				t.Fatalf("scan: %v", err)
			}
			if l.problems[reasonUndecodable] != 1 {
				t.Fatalf("problems %v, want one undecodable span", l.problems)
			}
			if got := chunkedLayout(t, l, 1000, 1<<30); len(got) != 2 {
				t.Errorf("decoded %d spans, want the 2 good ones", len(got))
			}
		})
	}
}

func TestLogBodyDepth(t *testing.T) {
	for _, enc := range []encoding{encProto, encJSON} {
		for _, levels := range []int{MaxValueDepth, MaxValueDepth + 1} {
			var body []byte
			if enc == encJSON {
				body = []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"eventName":"gen_ai.choice","body":` + deepValueJSON(levels, true) + `}]}]}]}`)
			} else {
				lr := append(protoField(12, []byte("gen_ai.choice")), protoField(5, deepValueProto(levels, true))...)
				body = protoField(1, protoField(2, protoField(2, lr)))
			}
			l, err := scanRequest(signalLogs, enc, body)
			if err != nil {
				t.Fatalf("%s %d: scan: %v", enc.name(), levels, err)
			}
			if got, want := l.problems[reasonTooDeep], btoi(levels > MaxValueDepth); got != want {
				t.Errorf("%s, body %d deep: %d rejected, want %d", enc.name(), levels, got, want)
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// BenchmarkScanMillionDeep is the cost of refusing a span whose attribute
// nests a million levels (the request that used to overflow pdata's stack).
func BenchmarkScanMillionDeep(b *testing.B) {
	for _, enc := range []encoding{encProto, encJSON} {
		body := deepTraceRequest(b, enc, 1_000_000, enc == encProto)
		b.Run(enc.name(), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				l, err := scanRequest(signalTraces, enc, body)
				if err != nil || l.problems[reasonTooDeep] != 1 {
					b.Fatalf("scan: %v %v", err, l.problems)
				}
			}
		})
	}
}
