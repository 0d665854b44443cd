package clickhouse

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/textsearch"
)

// Search roles of the non-message bodies (store.SearchQuery).
const (
	roleToolCall   = "tool_call"
	roleToolResult = "tool_result"
	roleSystem     = "system"
)

// lightCols are the span columns every read returns, in scan order.
var lightCols = []string{
	"project_id", "trace_id", "span_id", "parent_span_id", "span_name", "span_kind", "started_at", "ended_at",
	"status_code", "status_message", "operation_name", "provider_name", "agent_name", "agent_id", "agent_version",
	"conversation_id", "request_model", "response_model", "response_id", "input_tokens", "output_tokens",
	"cache_read_input_tokens", "cache_creation_input_tokens", "reasoning_tokens", "finish_reasons", "tool_name",
	"tool_type", "tool_call_id", "error_type", "compaction_summary", "compaction_items_before",
	"compaction_items_after", "thread_id", "is_turn", "custom_attrs_string", "custom_attrs_int",
	"custom_attrs_float", "custom_attrs_bool", "resource_attrs", "total_tokens", "display_name", "wb_run_id",
	"wb_run_step", "model_parameters", "cache_creation_5m_input_tokens", "cache_creation_1h_input_tokens",
	"cost_nanos", "cost_source",
}

// detailCols are the heavy columns, returned with details only.
var detailCols = []string{
	"input_messages", "output_messages", "system_instructions", "tool_call_arguments", "tool_call_result",
	"events", "raw_span",
}

// insertCols are the columns of a spans insert, in append order.
var insertCols = append(append(append([]string(nil), lightCols...), detailCols...), "resource_attrs_text", "version", "is_deleted")

// spanCols chooses the columns of spans a read returns.
type spanCols int

const (
	lightRead spanCols = iota // lightCols
	fullRead                  // lightCols and detailCols
	chatRead                  // those of both that store.ChatSpan keeps
)

func colsFor(details bool) spanCols {
	if details {
		return fullRead
	}
	return lightRead
}

// chatCols are the positions in lightCols then detailCols of the columns
// a chat read returns: all but those of the fields store.ChatSpan leaves
// out.
var chatCols = func() []int {
	omitted := map[string]bool{
		"span_kind": true, "response_id": true, "model_parameters": true, "total_tokens": true,
		"cache_creation_5m_input_tokens": true, "cache_creation_1h_input_tokens": true, "cost_source": true,
		"thread_id": true, "display_name": true, "wb_run_id": true, "wb_run_step": true,
		"custom_attrs_float": true, "custom_attrs_bool": true, "resource_attrs": true, "raw_span": true,
	}
	var out []int
	for i, name := range slices.Concat(lightCols, detailCols) {
		if !omitted[name] {
			out = append(out, i)
		}
	}
	return out
}()

// chatRowCols are the chat columns that spans.chat_row holds (schema 13:
// RowBinary of them, in this order), so that a chat read selects that one
// column instead of 30: each column read costs ClickHouse a file to open,
// a block to decompress and its share of planning, whatever its size
// (Reads: measured). decodeChatRow reads them back.
var chatRowCols = []string{
	"parent_span_id", "span_name", "ended_at", "status_code", "status_message", "operation_name", "provider_name",
	"agent_name", "agent_id", "agent_version", "conversation_id", "request_model", "response_model",
	"input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "reasoning_tokens",
	"finish_reasons", "tool_name", "tool_type", "tool_call_id", "error_type", "compaction_summary",
	"compaction_items_before", "compaction_items_after", "is_turn", "custom_attrs_string", "custom_attrs_int",
	"cost_nanos",
}

// chatOwnCols are the positions (as chatCols') of the chat columns a chat
// read selects as themselves: the keys and the message columns.
var chatOwnCols = func() []int {
	all := slices.Concat(lightCols, detailCols)
	var out []int
	for _, at := range chatCols {
		if !slices.Contains(chatRowCols, all[at]) {
			out = append(out, at)
		}
	}
	return out
}()

// pick keeps the elements of all (aligned with lightCols then detailCols)
// of the columns c reads (a chat read: those it selects as themselves).
func pick[T any](c spanCols, all []T) []T {
	switch c {
	case lightRead:
		return all[:len(lightCols)]
	case fullRead:
		return all
	}
	out := make([]T, len(chatOwnCols))
	for i, at := range chatOwnCols {
		out[i] = all[at]
	}
	return out
}

// list is the select list of the columns c reads.
func (c spanCols) list() string {
	cols := pick(c, slices.Concat(lightCols, detailCols))
	if c == chatRead {
		cols = append(cols, "chat_row")
	}
	return strings.Join(cols, ", ")
}

func selectList(details bool) string { return colsFor(details).list() }

// msgPair is one searchable body of a span: its role and text.
type msgPair struct {
	role, text string
	digest     string // hex, 32 digits
	// terms is the body's search form (terms), computed by WriteSpans's
	// caller for bodies the digest cache does not know; "" otherwise.
	terms string
}

// key is the form kept in span_state.msg_keys: the role followed by the
// digest (always the last 32 characters).
func (p msgPair) key() string { return p.role + p.digest }

func splitKey(k string) (role, digest string, ok bool) {
	if len(k) < 32 {
		return "", "", false
	}
	return k[:len(k)-32], k[len(k)-32:], true
}

func digestOf(text string) string {
	h := sha256.Sum256([]byte(text))
	return hex.EncodeToString(h[:16])
}

// prep is one incoming span with everything computed before the writer
// sees it: its encodings, searchable bodies and prompt preview.
type prep struct {
	s       model.Span
	key     store.SpanKey
	started int64
	ended   int64 // ns, meaningful when hasEnd
	hasEnd  bool
	in, out string // JSON of the messages, "" when there are none
	events  string
	res     string
	resText map[string]string
	params  string    // model_parameters as JSON, "" when none
	pairs   []msgPair // sorted by key, unique
	prompt  string
	hash    string // digest of the span's row: an unchanged re-send is not rewritten
	row     []any  // the spans insert row with version 0 (spanValues), built once
}

func prepare(s model.Span) (*prep, error) {
	// The writer keeps the span after a caller that gave up has returned:
	// own everything the rows refer to.
	s.FinishReasons = slices.Clone(s.FinishReasons)
	s.SystemInstructions = slices.Clone(s.SystemInstructions)
	s.CustomAttrsString = maps.Clone(s.CustomAttrsString)
	s.CustomAttrsInt = maps.Clone(s.CustomAttrsInt)
	s.CustomAttrsFloat = maps.Clone(s.CustomAttrsFloat)
	s.CustomAttrsBool = maps.Clone(s.CustomAttrsBool)
	s.RawSpan = bytes.Clone(s.RawSpan)
	p := &prep{s: s, key: store.SpanKey{ProjectID: s.ProjectID, TraceID: s.TraceID, SpanID: s.SpanID},
		started: s.StartedAt.UnixNano()}
	if !s.EndedAt.IsZero() {
		p.hasEnd, p.ended = true, s.EndedAt.UnixNano()
	}
	var err error
	if p.in, err = jsonOrEmpty(len(s.InputMessages) > 0, s.InputMessages); err != nil {
		return nil, fmt.Errorf("input_messages: %w", err)
	}
	if p.out, err = jsonOrEmpty(len(s.OutputMessages) > 0, s.OutputMessages); err != nil {
		return nil, fmt.Errorf("output_messages: %w", err)
	}
	if p.events, err = jsonOrEmpty(len(s.Events) > 0, s.Events); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if p.res, err = jsonOrEmpty(len(s.ResourceAttrs) > 0, s.ResourceAttrs); err != nil {
		return nil, fmt.Errorf("resource_attrs: %w", err)
	}
	if p.resText, err = attrText(s.ResourceAttrs); err != nil {
		return nil, fmt.Errorf("resource_attrs: %w", err)
	}
	if p.params, err = jsonOrEmpty(len(s.ModelParameters) > 0, s.ModelParameters); err != nil {
		return nil, fmt.Errorf("model_parameters: %w", err)
	}
	p.pairs = searchPairs(&s)
	p.prompt = promptPreview(s.InputMessages)
	p.row = spanValues(p, 0, false)
	p.hash = rowDigest(p.row)
	return p, nil
}

func jsonOrEmpty(present bool, v any) (string, error) {
	if !present {
		return "", nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("%w: %v", store.ErrInvalid, err)
	}
	return string(b), nil
}

// attrText renders resource attribute values as text for filters: strings
// as they are, booleans as 1 / 0, other values as compact JSON; nulls are
// left out (as the embedded store's JSON functions see them).
func attrText(m map[string]any) (map[string]string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			continue
		case string:
			out[k] = x
		case bool:
			if x {
				out[k] = "1"
			} else {
				out[k] = "0"
			}
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return nil, fmt.Errorf("%w: attribute %q: %v", store.ErrInvalid, k, err)
			}
			if string(b) == "null" {
				continue
			}
			out[k] = string(b)
		}
	}
	return out, nil
}

// searchPairs lists a span's searchable bodies (store.SearchQuery): text
// and reasoning parts under their message's role, tool-call arguments and
// tool results (parts and columns) and system instructions. A part's
// response that is a JSON string counts as the string it encodes, and the
// output text of an invoke_agent span that answers a tool call as that
// call's result (store.SearchHit).
func searchPairs(s *model.Span) []msgPair {
	set := map[[2]string]bool{}
	add := func(role, text string) {
		if text != "" {
			set[[2]string{role, text}] = true
		}
	}
	answers := s.OperationName == model.OpInvokeAgent && s.ToolCallID != ""
	for i, list := range [][]model.Message{s.InputMessages, s.OutputMessages} {
		for _, m := range list {
			for _, pt := range m.Parts {
				switch {
				case pt.Type == model.PartText && answers && i == 1:
					add(roleToolResult, pt.Content)
				case pt.Type == model.PartText || pt.Type == model.PartReasoning:
					add(m.Role, pt.Content)
				}
				add(roleToolCall, string(pt.Arguments))
				resp, _ := textsearch.ResponseText(pt.Response)
				add(roleToolResult, resp)
			}
		}
	}
	for _, si := range s.SystemInstructions {
		add(roleSystem, si)
	}
	add(roleToolCall, s.ToolCallArguments)
	add(roleToolResult, s.ToolCallResult)
	out := make([]msgPair, 0, len(set))
	for k := range set {
		out = append(out, msgPair{role: k[0], text: k[1], digest: digestOf(k[1])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}

// promptPreview is store.ConversationSummary's first-prompt preview of one
// span: the last user message with text, whitespace runs collapsed, cut to
// store.FirstPromptMaxRunes runes ending with "…" when cut.
func promptPreview(msgs []model.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if !strings.EqualFold(msgs[i].Role, "user") {
			continue
		}
		t := strings.Join(strings.Fields(msgs[i].Text()), " ")
		if t == "" {
			continue
		}
		if utf8.RuneCountInString(t) > store.FirstPromptMaxRunes {
			r := []rune(t)
			t = strings.TrimRight(string(r[:store.FirstPromptMaxRunes-1]), " ") + "…"
		}
		return t
	}
	return ""
}

// spanValues are the values of one spans insert row, in insertCols order
// (version and is_deleted last).
func spanValues(p *prep, version uint64, deleted bool) []any {
	s := &p.s
	var ended *time.Time
	if p.hasEnd {
		t := s.EndedAt.UTC()
		ended = &t
	}
	finish := s.FinishReasons
	if finish == nil {
		finish = []string{}
	}
	sys := s.SystemInstructions
	if sys == nil {
		sys = []string{}
	}
	del := uint8(0)
	if deleted {
		del = 1
	}
	return []any{
		s.ProjectID, s.TraceID, s.SpanID, s.ParentSpanID, s.SpanName, s.SpanKind, s.StartedAt.UTC(), ended,
		s.StatusCode, s.StatusMessage, s.OperationName, s.ProviderName, s.AgentName, s.AgentID, s.AgentVersion,
		s.ConversationID, s.RequestModel, s.ResponseModel, s.ResponseID, s.InputTokens, s.OutputTokens,
		s.CacheReadInputTokens, s.CacheCreationInputTokens, s.ReasoningTokens, finish, s.ToolName,
		s.ToolType, s.ToolCallID, s.ErrorType, s.CompactionSummary, s.CompactionItemsBefore,
		s.CompactionItemsAfter, s.ThreadID, s.IsTurn, orEmpty(s.CustomAttrsString), orEmpty(s.CustomAttrsInt),
		orEmpty(s.CustomAttrsFloat), orEmpty(s.CustomAttrsBool), p.res, s.TotalTokens, s.DisplayName, s.WBRunID,
		s.WBRunStep, p.params, s.CacheCreation5mInputTokens, s.CacheCreation1hInputTokens, costNanos(s.CostUSD), s.CostSource,
		p.in, p.out, sys, s.ToolCallArguments, s.ToolCallResult, p.events, string(s.RawSpan),
		orEmpty(p.resText), version, del,
	}
}

// costNanos is a span's cost in nano-dollars, nil for none.
func costNanos(usd *float64) *int64 {
	if usd == nil {
		return nil
	}
	n := model.CostNanos(*usd)
	return &n
}

func orEmpty[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}

// versioned is a prepared span's insert row with its version.
func (p *prep) versioned(version uint64) []any {
	row := slices.Clone(p.row)
	row[len(row)-2] = version
	return row
}

// tombstoneValues is the is_deleted row that removes a span's copy at its
// old sort key (project_id, started_at, span_id, trace_id).
func tombstoneValues(key store.SpanKey, started int64, version uint64) []any {
	p := &prep{s: model.Span{ProjectID: key.ProjectID, TraceID: key.TraceID, SpanID: key.SpanID, StartedAt: fromNanos(started)}}
	return spanValues(p, version, true)
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// spanScan receives one row of lightCols (+ detailCols).
type spanScan struct {
	s      model.Span
	ended  *time.Time
	tok    [5]*int64
	res    string
	in     string
	out    string
	sys    []string
	events string
	raw    string
	params string
	cost   *int64
	chat   string // chat_row, of a chat read
}

func (r *spanScan) dest(details bool) []any { return r.destOf(colsFor(details)) }

// destOf receives one row of c.list().
func (r *spanScan) destOf(c spanCols) []any {
	s := &r.s
	dest := pick(c, []any{
		&s.ProjectID, &s.TraceID, &s.SpanID, &s.ParentSpanID, &s.SpanName, &s.SpanKind, &s.StartedAt, &r.ended,
		&s.StatusCode, &s.StatusMessage, &s.OperationName, &s.ProviderName, &s.AgentName, &s.AgentID, &s.AgentVersion,
		&s.ConversationID, &s.RequestModel, &s.ResponseModel, &s.ResponseID, &r.tok[0], &r.tok[1],
		&r.tok[2], &r.tok[3], &r.tok[4], &s.FinishReasons, &s.ToolName,
		&s.ToolType, &s.ToolCallID, &s.ErrorType, &s.CompactionSummary, &s.CompactionItemsBefore,
		&s.CompactionItemsAfter, &s.ThreadID, &s.IsTurn, &s.CustomAttrsString, &s.CustomAttrsInt,
		&s.CustomAttrsFloat, &s.CustomAttrsBool, &r.res, &s.TotalTokens, &s.DisplayName, &s.WBRunID,
		&s.WBRunStep, &r.params, &s.CacheCreation5mInputTokens, &s.CacheCreation1hInputTokens, &r.cost, &s.CostSource,
		&r.in, &r.out, &r.sys, &s.ToolCallArguments, &s.ToolCallResult, &r.events, &r.raw,
	})
	if c == chatRead {
		dest = append(dest, &r.chat)
	}
	return dest
}

// decodeChatRow sets the fields of chatRowCols from r.chat, the RowBinary
// of those columns (ClickHouse's formatRow: a string or an array is its
// length as a varint then its contents, a map its size then keys and
// values, Int64 8 bytes little-endian, DateTime64 its ticks as Int64,
// Bool a byte, Nullable a byte that is 1 for NULL before the value).
func (r *spanScan) decodeChatRow() error {
	d := rowBinary{b: r.chat}
	s := &r.s
	for _, f := range []*string{&s.ParentSpanID, &s.SpanName} {
		*f = d.str()
	}
	if ns := d.nullInt(); ns != nil {
		t := time.Unix(0, *ns)
		r.ended = &t
	}
	for _, f := range []*string{&s.StatusCode, &s.StatusMessage, &s.OperationName, &s.ProviderName, &s.AgentName,
		&s.AgentID, &s.AgentVersion, &s.ConversationID, &s.RequestModel, &s.ResponseModel} {
		*f = d.str()
	}
	for i := range r.tok {
		r.tok[i] = d.nullInt()
	}
	s.FinishReasons = make([]string, d.size())
	for i := range s.FinishReasons {
		s.FinishReasons[i] = d.str()
	}
	for _, f := range []*string{&s.ToolName, &s.ToolType, &s.ToolCallID, &s.ErrorType, &s.CompactionSummary} {
		*f = d.str()
	}
	s.CompactionItemsBefore, s.CompactionItemsAfter = d.int(), d.int()
	s.IsTurn = d.byte() != 0
	if n := d.size(); n > 0 {
		s.CustomAttrsString = make(map[string]string, n)
		for range n {
			k := d.str()
			s.CustomAttrsString[k] = d.str()
		}
	}
	if n := d.size(); n > 0 {
		s.CustomAttrsInt = make(map[string]int64, n)
		for range n {
			k := d.str()
			s.CustomAttrsInt[k] = d.int()
		}
	}
	r.cost = d.nullInt()
	if err := d.done(); err != nil {
		return fmt.Errorf("chat_row of %s/%s: %w", s.TraceID, s.SpanID, err)
	}
	return nil
}

// rowBinary reads values of ClickHouse's RowBinary format from b. The
// first error sticks: the readers then return zero values, and done
// reports it.
type rowBinary struct {
	b   string
	err error
}

func (d *rowBinary) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("RowBinary: %s", what)
	}
	d.b = ""
}

func (d *rowBinary) byte() byte {
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// size reads a varint length or count, bounded by what is left (every
// element takes at least a byte).
func (d *rowBinary) size() int {
	n, k := binary.Uvarint([]byte(d.b[:min(len(d.b), binary.MaxVarintLen64)]))
	if k <= 0 || n > uint64(len(d.b)-k) {
		d.fail("bad length")
		return 0
	}
	d.b = d.b[k:]
	return int(n)
}

func (d *rowBinary) str() string {
	n := d.size()
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *rowBinary) int() int64 {
	if len(d.b) < 8 {
		d.fail("truncated")
		return 0
	}
	v := int64(binary.LittleEndian.Uint64([]byte(d.b[:8])))
	d.b = d.b[8:]
	return v
}

func (d *rowBinary) nullInt() *int64 {
	if d.byte() != 0 || d.err != nil {
		return nil
	}
	v := d.int()
	if d.err != nil {
		return nil
	}
	return &v
}

// done reports the first error, or bytes left over.
func (d *rowBinary) done() error {
	if d.err == nil && d.b != "" {
		return errors.New("RowBinary: bytes left over")
	}
	return d.err
}

// span decodes the scanned row (of detailCols too when details).
func (r *spanScan) span(details bool) (model.Span, error) {
	s := r.s
	s.StartedAt = s.StartedAt.UTC()
	if r.ended != nil {
		s.EndedAt = r.ended.UTC()
	}
	s.InputTokens, s.OutputTokens, s.CacheReadInputTokens, s.CacheCreationInputTokens, s.ReasoningTokens =
		r.tok[0], r.tok[1], r.tok[2], r.tok[3], r.tok[4]
	if r.cost != nil {
		s.CostUSD = model.CostPtr(*r.cost)
	}
	if len(s.FinishReasons) == 0 {
		s.FinishReasons = nil
	}
	s.CustomAttrsString = nilIfEmpty(s.CustomAttrsString)
	s.CustomAttrsInt = nilIfEmpty(s.CustomAttrsInt)
	s.CustomAttrsFloat = nilIfEmpty(s.CustomAttrsFloat)
	s.CustomAttrsBool = nilIfEmpty(s.CustomAttrsBool)
	if r.params != "" {
		if err := decodeJSON(r.params, &s.ModelParameters); err != nil {
			return s, fmt.Errorf("model_parameters of %s/%s: %w", s.TraceID, s.SpanID, err)
		}
	}
	if r.res != "" {
		if err := decodeJSON(r.res, &s.ResourceAttrs); err != nil {
			return s, fmt.Errorf("resource_attrs of %s/%s: %w", s.TraceID, s.SpanID, err)
		}
	}
	if !details {
		return s, nil
	}
	if r.in != "" {
		if err := json.Unmarshal([]byte(r.in), &s.InputMessages); err != nil {
			return s, fmt.Errorf("input_messages of %s/%s: %w", s.TraceID, s.SpanID, err)
		}
	}
	if r.out != "" {
		if err := json.Unmarshal([]byte(r.out), &s.OutputMessages); err != nil {
			return s, fmt.Errorf("output_messages of %s/%s: %w", s.TraceID, s.SpanID, err)
		}
	}
	if len(r.sys) > 0 {
		s.SystemInstructions = r.sys
	}
	if r.events != "" {
		if err := decodeJSON(r.events, &s.Events); err != nil {
			return s, fmt.Errorf("events of %s/%s: %w", s.TraceID, s.SpanID, err)
		}
		for i := range s.Events {
			s.Events[i].Time = s.Events[i].Time.UTC()
		}
	}
	if r.raw != "" {
		s.RawSpan = json.RawMessage(r.raw)
	}
	return s, nil
}

func nilIfEmpty[V any](m map[string]V) map[string]V {
	if len(m) == 0 {
		return nil
	}
	return m
}

// decodeJSON decodes with UseNumber, as the store contract asks of the
// untyped values.
func decodeJSON(s string, v any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	return dec.Decode(v)
}

// rowDigest is a digest of a spans row's values (everything the row
// stores), so that an unchanged re-send can be recognized without reading
// the row back.
// The values are serialized into one pooled buffer and hashed at once (a
// span's row is several KiB: hashing it piece by piece copied each string
// twice).
func rowDigest(values []any) string {
	bp := digestBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	str := func(s string) {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	num := func(n uint64) {
		buf = binary.AppendUvarint(buf, n)
	}
	for _, v := range values {
		switch x := v.(type) {
		case string:
			// As str("s" + x), without building that string.
			buf = binary.AppendUvarint(buf, uint64(len(x)+1))
			buf = append(append(buf, 's'), x...)
		case time.Time:
			str("t")
			num(uint64(x.UnixNano()))
		case *time.Time:
			if x == nil {
				str("T-")
			} else {
				str("T")
				num(uint64(x.UnixNano()))
			}
		case *int64:
			if x == nil {
				str("I-")
			} else {
				str("I")
				num(uint64(*x))
			}
		case int64:
			str("i")
			num(uint64(x))
		case uint64:
			str("u")
			num(x)
		case uint8:
			str("b")
			num(uint64(x))
		case bool:
			str("B")
			num(uint64(b2u(x)))
		case []string:
			str("a")
			num(uint64(len(x)))
			for _, e := range x {
				str(e)
			}
		case map[string]string:
			str("ms")
			for _, k := range sortedKeys(x) {
				str(k)
				str(x[k])
			}
		case map[string]int64:
			str("mi")
			for _, k := range sortedKeys(x) {
				str(k)
				num(uint64(x[k]))
			}
		case map[string]float64:
			str("mf")
			for _, k := range sortedKeys(x) {
				str(k)
				num(math.Float64bits(x[k]))
			}
		case map[string]bool:
			str("mb")
			for _, k := range sortedKeys(x) {
				str(k)
				num(uint64(b2u(x[k])))
			}
		default:
			panic(fmt.Sprintf("clickhouse: rowDigest: unexpected %T", v))
		}
	}
	sum := sha256.Sum256(buf)
	if cap(buf) <= 1<<20 { // a huge row's buffer is not kept
		*bp = buf
		digestBufs.Put(bp)
	}
	return hex.EncodeToString(sum[:16])
}

var digestBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}
