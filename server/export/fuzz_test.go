package export

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/weavetrace/weave/server/chatview"
)

// FuzzATIF builds chat views from arbitrary message sequences (types,
// nesting, tool call ids that repeat, go missing or answer nothing) and
// requires their ATIF trajectory to be valid; ValidateATIF takes the same bytes as a document and must not fail
// other than with an error.
func FuzzATIF(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{1, 2, 0x13, 0x23, 0x12, 3, 3, 4, 0x21, 0x42})
	f.Add([]byte(`{"schema_version":"ATIF-v1.4","session_id":"s","agent":{"name":"a","version":"1"},"steps":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ValidateATIF(b) // any bytes: an error or nil, no panic
		var msgs []chatview.Message
		for i, x := range b {
			depth := int(x>>4) % 3
			agent := fmt.Sprintf("agent%d", depth)
			m := msg([]string{chatview.TypeUserMessage, chatview.TypeAgentStart, chatview.TypeAssistantMessage, chatview.TypeToolCall, chatview.TypeContextCompacted}[int(x&7)%5], i, depth, agent)
			m.SpanID = fmt.Sprintf("%016x", i)
			id := fmt.Sprintf("c%d", int(x>>6)) // ids repeat
			switch m.Type {
			case chatview.TypeAgentStart:
				m.AgentName, m.AgentID = agent, []string{"", "dup", agent}[i%3]
				if x&8 != 0 {
					m.ToolCallID = id
				}
			case chatview.TypeAssistantMessage:
				if x&8 != 0 {
					m.ToolCalls = []chatview.ToolRequest{{ID: id, Name: "T"}, {ID: "", Name: "U"}, {ID: id, Name: "V"}}
				}
				m.Usage = &chatview.Usage{InputTokens: int64(x), CacheReadInputTokens: int64(i), OutputTokens: 1}
			case chatview.TypeToolCall:
				m.ToolName = "T"
				if x&8 != 0 {
					m.ToolCallID = id
				}
				m.ToolArguments = []string{"", "{}", `{"a":1}`, "[1]", "not json", "null"}[i%6]
			}
			msgs = append(msgs, m)
		}
		c := chatview.Conversation{ConversationID: "fz", Turns: []chatview.Turn{{Trace: chatview.Trace{TraceID: "t", Messages: msgs}}}}
		doc, err := json.Marshal(ATIF(c, "p/x"))
		if err != nil {
			t.Fatal(err)
		}
		if err := ValidateATIF(doc); err != nil {
			t.Fatalf("messages %v: not valid ATIF: %v\n%s", b, err, doc)
		}
	})
}
