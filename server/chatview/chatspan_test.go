package chatview

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/storetest"
)

// The API builds the chat views from the stores' chat reads, which return
// only the fields store.ChatSpan keeps: no field it leaves out may change a
// view. Each such field (found by reflection, so a field added to
// ChatSpan's list is checked too) is set on every span of each turn and
// conversation; the views must be those of the spans without it.
func TestChatSpanKeepsWhatTheViewsRead(t *testing.T) {
	inputs := map[string][]model.Span{
		"claude_code_turn":    claudeCodeTurn(),
		"subagent_turn":       subagentTurn(),
		"orphan_turn":         orphanTurn(),
		"running_turn":        runningTurn(),
		"compaction_columns":  compactionColumnsTurn(),
		"compaction_events":   compactionEventsTurn(),
		"agents_sdk_turn":     agentsSDKTurn(),
		"storetest_workload":  storetest.NewWorkload(1, "p", t0).Next(),
		"storetest_full_hist": storetest.Flatten(storetest.BuildConversation(storetest.ConversationSpec{ProjectID: "p", ConversationID: "c", Start: t0, Turns: 3, CallsPerTurn: 3, Subagent: true, SystemPrompt: storetest.SystemPrompt(), FullHistory: true})),
	}
	omitted := omittedFields(t)
	if len(omitted) == 0 {
		t.Fatal("ChatSpan leaves no field out")
	}
	for name, spans := range inputs {
		for _, field := range omitted {
			filled := make([]model.Span, len(spans))
			for i, s := range spans {
				filled[i] = s
				setField(&filled[i], field)
			}
			chat := store.ChatSpans(append([]model.Span(nil), filled...))
			if got, want := jsonOf(t, Build(chat)), jsonOf(t, Build(filled)); got != want {
				t.Errorf("%s with %s set: the chat view changes when ChatSpan leaves it out", name, field)
			}
			conv := spans[0].ConversationID
			if got, want := jsonOf(t, BuildConversation(conv, chat)), jsonOf(t, BuildConversation(conv, filled)); got != want {
				t.Errorf("%s with %s set: the conversation view changes when ChatSpan leaves it out", name, field)
			}
		}
	}
}

// omittedFields are the fields of model.Span that ChatSpan zeroes.
func omittedFields(t *testing.T) []string {
	var out []string
	typ := reflect.TypeFor[model.Span]()
	for i := range typ.NumField() {
		var s model.Span
		setField(&s, typ.Field(i).Name)
		if reflect.ValueOf(store.ChatSpan(s)).Field(i).IsZero() {
			out = append(out, typ.Field(i).Name)
		}
	}
	t.Logf("ChatSpan leaves out %v", out)
	return out
}

// setField gives s's field name a non-zero value.
func setField(s *model.Span, name string) {
	f := reflect.ValueOf(s).Elem().FieldByName(name)
	f.Set(nonZero(f.Type()))
}

func nonZero(typ reflect.Type) reflect.Value {
	switch typ {
	case reflect.TypeFor[json.RawMessage]():
		return reflect.ValueOf(json.RawMessage(`{"set":true}`))
	case reflect.TypeFor[time.Time]():
		return reflect.ValueOf(t0.Add(time.Hour))
	}
	v := reflect.New(typ).Elem()
	switch typ.Kind() {
	case reflect.String:
		v.SetString("set")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	case reflect.Float64:
		v.SetFloat(0.5)
	case reflect.Pointer:
		v = reflect.New(typ.Elem())
		v.Elem().Set(nonZero(typ.Elem()))
	case reflect.Map:
		v = reflect.MakeMap(typ)
		v.SetMapIndex(reflect.ValueOf("set"), nonZero(typ.Elem()))
	case reflect.Slice:
		v = reflect.Append(reflect.MakeSlice(typ, 0, 1), nonZero(typ.Elem()))
	case reflect.Interface:
		v.Set(reflect.ValueOf("set"))
	case reflect.Struct:
		for i := range typ.NumField() {
			if typ.Field(i).IsExported() {
				v.Field(i).Set(nonZero(typ.Field(i).Type))
			}
		}
	default:
		panic("nonZero: no value for " + typ.String())
	}
	return v
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
