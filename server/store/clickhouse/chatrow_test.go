package clickhouse

import (
	"context"
	"encoding/binary"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/storetest"
)

// TestChatRowColumns checks that chat_row's definition (schema 13) lists
// chatRowCols in their order, and that a chat read still returns every
// chat column: those it selects as themselves and those of chat_row.
func TestChatRowColumns(t *testing.T) {
	src, err := schemaFS.ReadFile("schema/0013_chat_row.sql")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`formatRow\('RowBinary', ([^)]*)\)`).FindSubmatch(src)
	if m == nil {
		t.Fatal("0013_chat_row.sql has no formatRow('RowBinary', …)")
	}
	if got := strings.Split(string(m[1]), ", "); !slices.Equal(got, chatRowCols) {
		t.Errorf("chat_row holds %v,\nchatRowCols decodes %v", got, chatRowCols)
	}
	all := slices.Concat(lightCols, detailCols)
	var want, got []string
	for _, at := range chatCols {
		want = append(want, all[at])
	}
	for _, at := range chatOwnCols {
		got = append(got, all[at])
	}
	got = append(got, chatRowCols...)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("a chat read returns %v, want the chat columns %v", got, want)
	}
}

// rowBinaryOf encodes values as ClickHouse's formatRow('RowBinary', …)
// does, for the types chat_row holds: nil is a NULL, *int64 a Nullable
// that is set.
func rowBinaryOf(values ...any) string {
	var b []byte
	str := func(s string) { b = append(binary.AppendUvarint(b, uint64(len(s))), s...) }
	i64 := func(v int64) { b = binary.LittleEndian.AppendUint64(b, uint64(v)) }
	for _, v := range values {
		switch x := v.(type) {
		case string:
			str(x)
		case int64:
			i64(x)
		case nil:
			b = append(b, 1)
		case *int64:
			b = append(b, 0)
			i64(*x)
		case bool:
			b = append(b, map[bool]byte{false: 0, true: 1}[x])
		case []string:
			b = binary.AppendUvarint(b, uint64(len(x)))
			for _, s := range x {
				str(s)
			}
		case [][2]string: // Map(String, String)
			b = binary.AppendUvarint(b, uint64(len(x)))
			for _, kv := range x {
				str(kv[0])
				str(kv[1])
			}
		case map[string]int64: // one entry at most: an order of its own
			b = binary.AppendUvarint(b, uint64(len(x)))
			for k, n := range x {
				str(k)
				i64(n)
			}
		default:
			panic("rowBinaryOf: no encoding for this type")
		}
	}
	return string(b)
}

// TestDecodeChatRow decodes a chat_row of every kind of value, and
// rejects a truncated one and one with bytes left over.
func TestDecodeChatRow(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	ended := storetest.T0.Add(1500 * time.Millisecond)
	row := rowBinaryOf("parent", "chat claude", n(ended.UnixNano()), "ERROR", "boom\xff", "chat", "anthropic",
		"claude-code", "agent-1", "2.1", "conv-1", "claude-sonnet", "claude-sonnet-4",
		n(10), nil, n(0), n(3), nil,
		[]string{"end_turn", "tool_use"}, "Bash", "function", "call-1", "timeout", "summary",
		int64(12), int64(-3), true, [][2]string{{"a", "x"}, {"b", ""}}, map[string]int64{"turn": 4},
		n(1234567))
	var x spanScan
	x.s.TraceID, x.s.SpanID = "t", "s"
	x.chat = row
	if err := x.decodeChatRow(); err != nil {
		t.Fatal(err)
	}
	got, err := x.span(true)
	if err != nil {
		t.Fatal(err)
	}
	want := model.Span{TraceID: "t", SpanID: "s", ParentSpanID: "parent", SpanName: "chat claude", EndedAt: ended.UTC(),
		StatusCode: "ERROR", StatusMessage: "boom\xff", OperationName: "chat", ProviderName: "anthropic",
		AgentName: "claude-code", AgentID: "agent-1", AgentVersion: "2.1", ConversationID: "conv-1",
		RequestModel: "claude-sonnet", ResponseModel: "claude-sonnet-4",
		InputTokens: n(10), CacheReadInputTokens: n(0), CacheCreationInputTokens: n(3),
		FinishReasons: []string{"end_turn", "tool_use"}, ToolName: "Bash", ToolType: "function", ToolCallID: "call-1",
		ErrorType: "timeout", CompactionSummary: "summary", CompactionItemsBefore: 12, CompactionItemsAfter: -3,
		IsTurn: true, CustomAttrsString: map[string]string{"a": "x", "b": ""}, CustomAttrsInt: map[string]int64{"turn": 4},
		CostUSD: model.CostPtr(1234567)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
	}

	empty := rowBinaryOf("", "", nil, "", "", "", "", "", "", "", "", "", "", nil, nil, nil, nil, nil,
		[]string{}, "", "", "", "", "", int64(0), int64(0), false, [][2]string{}, map[string]int64{}, nil)
	x = spanScan{chat: empty}
	if err := x.decodeChatRow(); err != nil {
		t.Fatal(err)
	}
	if got, _ := x.span(true); !reflect.DeepEqual(got, model.Span{}) {
		t.Errorf("a row of empty values decoded as %+v, want the zero span", got)
	}

	for _, bad := range []string{row[:len(row)-1], row + "x", "", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"} {
		x = spanScan{chat: bad}
		if err := x.decodeChatRow(); err == nil {
			t.Errorf("chat_row %q decoded without an error", bad)
		}
	}
}

// FuzzDecodeChatRow: any bytes decode or fail with an error, never panic.
func FuzzDecodeChatRow(f *testing.F) {
	n := int64(7)
	f.Add(rowBinaryOf("p", "s", &n, "OK", "", "chat", "", "", "", "", "", "", "", &n, nil, nil, nil, nil,
		[]string{"stop"}, "", "", "", "", "", int64(1), int64(2), true, [][2]string{{"k", "v"}}, map[string]int64{"k": 1}, nil))
	f.Add("")
	f.Fuzz(func(t *testing.T, b string) {
		x := spanScan{chat: b}
		if x.decodeChatRow() == nil {
			if _, err := x.span(true); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestMigrateChatRowLive checks on a real server that chat reads return
// what the full reads do, less store.ChatSpan's fields, both for rows
// whose chat_row was written with them and for rows of a part written
// before schema 13 (the column added afterwards, as the migration adds
// it: ClickHouse computes it when reading until its mutation reaches the
// part). The spans carry a value in every chat column.
func TestMigrateChatRowLive(t *testing.T) {
	ctx := context.Background()
	s := openLive(t)
	built := storetest.BuildTurn(storetest.TurnSpec{ProjectID: "p", ConversationID: "c", Turn: 1,
		Start: storetest.T0, Prompt: "hello", Calls: 2, Subagent: true})
	for i := range built.Spans {
		sp := &built.Spans[i]
		sp.StatusMessage, sp.ErrorType, sp.CompactionSummary = "message é", "error", "summary"
		sp.CompactionItemsBefore, sp.CompactionItemsAfter = 40, 4
		sp.FinishReasons = []string{"stop"}
		sp.CustomAttrsString = map[string]string{"weave.x": "y", "empty": ""}
		sp.CustomAttrsInt = map[string]int64{"n": -7}
		sp.CostUSD = model.CostPtr(int64(1000 + i))
		sp.ReasoningTokens = new(int64(0))
	}
	if err := s.WriteSpans(ctx, built.Spans); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		full, err := s.TraceSpans(ctx, "p", built.TraceID)
		if err != nil {
			t.Fatal(err)
		}
		chat, err := s.TraceChatSpans(ctx, "p", built.TraceID)
		if err != nil {
			t.Fatal(err)
		}
		if len(full) != len(built.Spans) || !reflect.DeepEqual(chat, store.ChatSpans(full)) {
			t.Errorf("%s: TraceChatSpans\n%+v\nwant ChatSpans(TraceSpans)\n%+v", when, chat, store.ChatSpans(full))
		}
		conv, err := s.ConversationChatSpans(ctx, "p", "c", store.TimeRange{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(conv, chat) {
			t.Errorf("%s: ConversationChatSpans\n%+v\nwant the turn's\n%+v", when, conv, chat)
		}
	}
	check("chat_row written with the rows")
	spans := s.l.local("spans")
	def := ""
	err := s.conn.QueryRow(ctx, "SELECT default_expression FROM system.columns WHERE database = {db:String} AND table = {t:String} AND name = 'chat_row'",
		named("db", s.l.db), named("t", s.localName("spans"))).Scan(&def)
	if err != nil || def == "" {
		t.Fatalf("chat_row's definition: %q, %v", def, err)
	}
	for _, q := range []string{"ALTER TABLE " + spans + " DROP COLUMN chat_row", "ALTER TABLE " + spans + " ADD COLUMN chat_row String DEFAULT " + def} {
		if err := s.conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	check("chat_row computed when read")
}
