package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// rowCols are the columns scanRow reads, prefixed with the table alias s;
// rowColsDetails adds the details blob.
const rowCols = `s.pk, s.proj, s.trace_id, s.span_id, s.parent_span_id, s.span_name, s.span_kind,
	s.started_at, s.ended_at, s.status_code, s.status_message, s.operation_name, s.provider_name,
	s.agent_name, s.agent_id, s.agent_version, s.conversation_id, s.request_model, s.response_model,
	s.response_id, s.input_tokens, s.output_tokens, s.cache_read_input_tokens,
	s.cache_creation_input_tokens, s.reasoning_tokens, s.finish_reasons, s.tool_name, s.tool_type,
	s.tool_call_id, s.error_type, s.compaction_summary, s.compaction_items_before,
	s.compaction_items_after, s.thread_id, s.is_turn, s.total_tokens, s.display_name, s.wb_run_id,
	s.wb_run_step, s.model_parameters, s.cache_creation_5m_input_tokens, s.cache_creation_1h_input_tokens,
	s.cost_nanos, s.cost_source, s.attrs_id, s.resource_id`

const rowColsDetails = rowCols + ", s.details"

func selectSpans(withDetails bool) string {
	if withDetails {
		return "SELECT " + rowColsDetails + " FROM spans s "
	}
	return "SELECT " + rowCols + " FROM spans s "
}

// spanRow is a scanned span before its project name, attributes,
// resource and details are attached.
type spanRow struct {
	pk      int64
	proj    int64
	attrs   sql.NullInt64
	res     sql.NullInt64
	details []byte
	span    model.Span
}

func scanRow(sc interface{ Scan(...any) error }, withDetails bool) (*spanRow, error) {
	r := &spanRow{}
	s := &r.span
	var started, ended int64
	var tok [5]sql.NullInt64
	var total, step, w5m, w1h, cost sql.NullInt64
	var finish, params sql.NullString
	dst := []any{&r.pk, &r.proj, &s.TraceID, &s.SpanID, &s.ParentSpanID, &s.SpanName, &s.SpanKind,
		&started, &ended, &s.StatusCode, &s.StatusMessage, &s.OperationName, &s.ProviderName,
		&s.AgentName, &s.AgentID, &s.AgentVersion, &s.ConversationID, &s.RequestModel, &s.ResponseModel,
		&s.ResponseID, &tok[0], &tok[1], &tok[2], &tok[3], &tok[4], &finish, &s.ToolName, &s.ToolType,
		&s.ToolCallID, &s.ErrorType, &s.CompactionSummary, &s.CompactionItemsBefore,
		&s.CompactionItemsAfter, &s.ThreadID, &s.IsTurn, &total, &s.DisplayName, &s.WBRunID,
		&step, &params, &w5m, &w1h, &cost, &s.CostSource, &r.attrs, &r.res}
	if withDetails {
		dst = append(dst, &r.details)
	}
	if err := sc.Scan(dst...); err != nil {
		return nil, err
	}
	s.StartedAt = fromNanos(started)
	if ended != 0 {
		s.EndedAt = fromNanos(ended)
	}
	ptrs := []**int64{&s.InputTokens, &s.OutputTokens, &s.CacheReadInputTokens, &s.CacheCreationInputTokens, &s.ReasoningTokens}
	for i, t := range tok {
		if t.Valid {
			v := t.Int64
			*ptrs[i] = &v
		}
	}
	if total.Valid {
		s.TotalTokens = &total.Int64
	}
	if w5m.Valid {
		s.CacheCreation5mInputTokens = &w5m.Int64
	}
	if w1h.Valid {
		s.CacheCreation1hInputTokens = &w1h.Int64
	}
	if cost.Valid {
		s.CostUSD = model.CostPtr(cost.Int64)
	}
	if step.Valid {
		s.WBRunStep = &step.Int64
	}
	if params.Valid && params.String != "" {
		if err := decodeJSON([]byte(params.String), &s.ModelParameters); err != nil {
			return nil, fmt.Errorf("sqlite: span %s/%s: model_parameters: %w", s.TraceID, s.SpanID, err)
		}
	}
	if finish.Valid && finish.String != "" {
		if err := json.Unmarshal([]byte(finish.String), &s.FinishReasons); err != nil {
			return nil, fmt.Errorf("sqlite: span %s/%s: finish_reasons: %w", s.TraceID, s.SpanID, err)
		}
	}
	return r, nil
}

func fromNanos(n int64) time.Time {
	if n == 1 { // stored for an end exactly at the epoch
		n = 0
	}
	return time.Unix(0, n).UTC()
}

// decodeJSON decodes with UseNumber (store package doc).
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// spanRead chooses the fields a read of spans fills.
type spanRead int

const (
	lightRead spanRead = iota // without the heavy fields (the details)
	fullRead                  // every field
	chatRead                  // those store.ChatSpan keeps
)

func readFor(withDetails bool) spanRead {
	if withDetails {
		return fullRead
	}
	return lightRead
}

// querySpans runs a selectSpans query and returns the finished spans.
func (s *Store) querySpans(ctx context.Context, q queryer, withDetails bool, query string, args ...any) ([]model.Span, error) {
	return s.queryRead(ctx, q, readFor(withDetails), query, args...)
}

// queryRead runs a selectSpans(rd != lightRead) query and returns the
// spans with the fields rd fills.
func (s *Store) queryRead(ctx context.Context, q queryer, rd spanRead, query string, args ...any) ([]model.Span, error) {
	withDetails := rd != lightRead
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query spans: %w", err)
	}
	var list []*spanRow
	for rows.Next() {
		r, err := scanRow(rows, withDetails)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: query spans: %w", err)
		}
		list = append(list, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("sqlite: query spans: %w", err)
	}
	return s.finish(ctx, q, list, rd)
}

// finish attaches project names, custom attributes, resource attributes
// and, unless rd is lightRead, the heavy columns. A chat read loads
// neither the resources nor the raw spans' chunks.
func (s *Store) finish(ctx context.Context, q queryer, list []*spanRow, rd spanRead) ([]model.Span, error) {
	if len(list) == 0 {
		return nil, nil
	}
	var attrIDs, resIDs []int64
	for _, r := range list {
		if r.attrs.Valid {
			attrIDs = append(attrIDs, r.attrs.Int64)
		}
		if r.res.Valid && rd != chatRead {
			resIDs = append(resIDs, r.res.Int64)
		}
	}
	blobs := func(table string, ids []int64) (map[int64][]byte, error) {
		out := make(map[int64][]byte, len(ids))
		err := loadByIDs(ctx, q, table, "attrs", uniq(ids), func(id int64, v []byte) error {
			out[id] = v
			return nil
		})
		return out, err
	}
	attrs, err := blobs("attrsets", attrIDs)
	if err != nil {
		return nil, err
	}
	res, err := blobs("resources", resIDs)
	if err != nil {
		return nil, err
	}
	var heavy map[int64]*model.Span
	if rd != lightRead {
		dets := make(map[int64]details, len(list))
		for _, r := range list {
			x, err := decodeDetails(r.details)
			if err != nil {
				return nil, fmt.Errorf("sqlite: span %s/%s details: %w", r.span.TraceID, r.span.SpanID, err)
			}
			if rd == chatRead {
				x.raw, x.rawForm = nil, nil
			}
			dets[r.pk] = x
		}
		if heavy, err = buildHeavy(ctx, q, dets); err != nil {
			return nil, err
		}
	}
	out := make([]model.Span, len(list))
	for i, r := range list {
		sp := r.span
		if sp.ProjectID, err = s.projectName(ctx, q, r.proj); err != nil {
			return nil, err
		}
		if r.attrs.Valid {
			if err := decodeAttrs(attrs[r.attrs.Int64], &sp); err != nil {
				return nil, fmt.Errorf("sqlite: span %s/%s attributes: %w", sp.TraceID, sp.SpanID, err)
			}
		}
		if r.res.Valid && rd != chatRead {
			if b, ok := res[r.res.Int64]; ok {
				if err := decodeJSON(b, &sp.ResourceAttrs); err != nil {
					return nil, fmt.Errorf("sqlite: resource %d: %w", r.res.Int64, err)
				}
			}
		}
		if h := heavy[r.pk]; h != nil {
			sp.InputMessages = h.InputMessages
			sp.OutputMessages = h.OutputMessages
			sp.SystemInstructions = h.SystemInstructions
			sp.ToolCallArguments = h.ToolCallArguments
			sp.ToolCallResult = h.ToolCallResult
			sp.Events = h.Events
			sp.RawSpan = h.RawSpan
		}
		if rd == chatRead {
			sp = store.ChatSpan(sp)
		}
		out[i] = sp
	}
	return out, nil
}

func decodeAttrs(b []byte, sp *model.Span) error {
	if b == nil {
		return errCorrupt
	}
	var set struct {
		S map[string]string  `json:"s"`
		I map[string]int64   `json:"i"`
		F map[string]float64 `json:"f"`
		B map[string]bool    `json:"b"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return err
	}
	sp.CustomAttrsString, sp.CustomAttrsInt, sp.CustomAttrsFloat, sp.CustomAttrsBool = set.S, set.I, set.F, set.B
	return nil
}

// loadSpanDetails reads the details of stored spans and rebuilds their
// heavy columns.
func loadSpanDetails(ctx context.Context, q queryer, pks []int64) (map[int64]*model.Span, error) {
	dets := make(map[int64]details, len(pks))
	if err := loadDetailsRows(ctx, q, pks, func(pk int64, x details, _ bool) { dets[pk] = x }); err != nil {
		return nil, err
	}
	return buildHeavy(ctx, q, dets)
}

// buildHeavy rebuilds the heavy columns from details and the content
// tables, in a fixed number of queries whatever the span count.
func buildHeavy(ctx context.Context, q queryer, dets map[int64]details) (map[int64]*model.Span, error) {
	var pageIDs []int64
	for _, x := range dets {
		pageIDs = append(pageIDs, x.inPages...)
	}
	var h heavy
	var err error
	if h.pages, err = loadPages(ctx, q, uniq(pageIDs)); err != nil {
		return nil, err
	}
	h.texts = make(map[int64]string)
	if err := loadByIDs(ctx, q, "texts", "body", uniq(textIDs(dets, h.pages)), func(id int64, v []byte) error {
		h.texts[id] = string(v)
		return nil
	}); err != nil {
		return nil, err
	}
	if h.chunkPages, h.chunks, err = loadRawRefs(ctx, q, dets); err != nil {
		return nil, err
	}
	out := make(map[int64]*model.Span, len(dets))
	for pk, x := range dets {
		if out[pk], err = h.span(pk, x); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// textIDs are the texts the details and message pages refer to.
func textIDs(dets map[int64]details, pages map[int64][]shape) []int64 {
	var ids []int64
	add := func(list ...int64) {
		for _, id := range list {
			if id != 0 {
				ids = append(ids, id)
			}
		}
	}
	addShapes := func(list []shape) {
		for _, sh := range list {
			for _, p := range sh.parts {
				refs := p.ids()
				add(refs[:]...)
			}
		}
	}
	for _, list := range pages {
		addShapes(list)
	}
	for _, x := range dets {
		addShapes(x.inTail)
		addShapes(x.out)
		add(x.sys...)
		add(x.args, x.result)
	}
	return ids
}

// heavy is the content buildHeavy read: message pages, texts and the raw
// forms' chunk pages and chunks, by id.
type heavy struct {
	pages      map[int64][]shape
	texts      map[int64]string
	chunkPages map[int64][]int64
	chunks     map[int64][]byte
}

// text is a text by id ("" for 0).
func (h *heavy) text(id int64) (string, error) {
	if id == 0 {
		return "", nil
	}
	t, ok := h.texts[id]
	if !ok {
		return "", fmt.Errorf("sqlite: text %d missing: %w", id, errCorrupt)
	}
	return t, nil
}

// msg rebuilds one message from its shape.
func (h *heavy) msg(sh *shape) (model.Message, error) {
	m := model.Message{Role: sh.role, Name: sh.name, FinishReason: sh.finish}
	for _, p := range sh.parts {
		part := model.Part{Type: p.typ, ID: p.id, Name: p.name, MimeType: p.mime, Modality: p.modality, FileID: p.fileID, URI: p.uri, Content: p.inline}
		if p.content != 0 {
			c, err := h.text(p.content)
			if err != nil {
				return m, err
			}
			part.Content = c
		}
		if p.args != 0 {
			a, err := h.text(p.args)
			if err != nil {
				return m, err
			}
			part.Arguments = json.RawMessage(a)
		}
		if p.resp != 0 {
			r, err := h.response(&p)
			if err != nil {
				return m, err
			}
			part.Response = json.RawMessage(r)
		}
		m.Parts = append(m.Parts, part)
	}
	return m, nil
}

// response is a part's tool response as JSON: its raw form when it has
// one, else its text (encoded as a JSON string when it was one).
func (h *heavy) response(p *shapePart) (string, error) {
	r, err := h.text(p.resp)
	if err != nil {
		return "", err
	}
	switch {
	case p.respRaw != 0:
		return h.text(p.respRaw)
	case p.respString:
		return encodeJSONString(r), nil
	}
	return r, nil
}

func (h *heavy) msgs(list []shape) ([]model.Message, error) {
	var out []model.Message
	for i := range list {
		m, err := h.msg(&list[i])
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// span rebuilds the heavy columns of one span.
func (h *heavy) span(pk int64, x details) (*model.Span, error) {
	sp := &model.Span{}
	for _, pg := range x.inPages {
		list, ok := h.pages[pg]
		if !ok {
			return nil, fmt.Errorf("sqlite: page %d missing: %w", pg, errCorrupt)
		}
		ms, err := h.msgs(list)
		if err != nil {
			return nil, err
		}
		sp.InputMessages = append(sp.InputMessages, ms...)
	}
	tail, err := h.msgs(x.inTail)
	if err != nil {
		return nil, err
	}
	sp.InputMessages = append(sp.InputMessages, tail...)
	if sp.OutputMessages, err = h.msgs(x.out); err != nil {
		return nil, err
	}
	for _, id := range x.sys {
		t, err := h.text(id)
		if err != nil {
			return nil, err
		}
		sp.SystemInstructions = append(sp.SystemInstructions, t)
	}
	if sp.ToolCallArguments, err = h.text(x.args); err != nil {
		return nil, err
	}
	if sp.ToolCallResult, err = h.text(x.result); err != nil {
		return nil, err
	}
	if x.events != nil {
		if err := decodeJSON(x.events, &sp.Events); err != nil {
			return nil, fmt.Errorf("sqlite: span %d events: %w", pk, err)
		}
		for i := range sp.Events {
			sp.Events[i].Time = sp.Events[i].Time.UTC()
		}
	}
	if x.raw != nil {
		sp.RawSpan = json.RawMessage(x.raw)
	}
	if x.rawForm != nil {
		raw, err := x.rawForm.assemble(h.chunkPages, h.chunks, sp.ToolCallResult, sp.ToolCallArguments)
		if err != nil {
			return nil, fmt.Errorf("sqlite: span %d raw_span: %w", pk, err)
		}
		sp.RawSpan = raw
	}
	return sp, nil
}

// loadRawRefs reads the chunk-id pages and the chunks the raw forms of
// dets refer to.
func loadRawRefs(ctx context.Context, q queryer, dets map[int64]details) (map[int64][]int64, map[int64][]byte, error) {
	var pageIDs, chunkIDs []int64
	for _, x := range dets {
		if x.rawForm != nil {
			pg, ch := x.rawForm.refs()
			pageIDs = append(pageIDs, pg...)
			chunkIDs = append(chunkIDs, ch...)
		}
	}
	if len(pageIDs) == 0 && len(chunkIDs) == 0 {
		return nil, nil, nil
	}
	pages := make(map[int64][]int64)
	if err := loadByIDs(ctx, q, "pages", "refs", uniq(pageIDs), func(id int64, v []byte) error {
		ids, err := decodeIDs(v)
		if err != nil {
			return fmt.Errorf("sqlite: chunk page %d: %w", id, err)
		}
		pages[id] = ids
		chunkIDs = append(chunkIDs, ids...)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	chunks := make(map[int64][]byte)
	err := loadByIDs(ctx, q, "chunks", "data", uniq(chunkIDs), func(id int64, v []byte) error {
		chunks[id] = v
		return nil
	})
	return pages, chunks, err
}

func uniq(ids []int64) []int64 {
	seen := make(map[int64]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// GetSpans implements store.Writer.
func (s *Store) GetSpans(ctx context.Context, keys []store.SpanKey) ([]model.Span, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get spans: %w", err)
	}
	defer conn.Close()
	st, err := conn.PrepareContext(ctx, selectSpans(true)+"WHERE s.proj = ? AND s.trace_id = ? AND s.span_id = ?")
	if err != nil {
		return nil, fmt.Errorf("sqlite: get spans: %w", err)
	}
	defer st.Close()
	var list []*spanRow
	seen := make(map[store.SpanKey]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		proj, ok, err := s.projectID(ctx, k.ProjectID)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		r, err := scanRow(st.QueryRowContext(ctx, proj, k.TraceID, k.SpanID), true)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: get spans: %w", err)
		}
		list = append(list, r)
	}
	return s.finish(ctx, conn, list, fullRead)
}

// checks are the request checks (project, limit, offset) shared with the
// other backend; their errors say "sqlite".
const checks = store.Checks("sqlite")

// rangeSQL adds started_at bounds on column col.
func rangeSQL(col string, r store.TimeRange, where *[]string, args *[]any) error {
	if !r.From.IsZero() && !r.To.IsZero() && !r.From.Before(r.To) {
		return fmt.Errorf("%w: sqlite: time range from %s is not before to %s", store.ErrInvalid, r.From.Format(time.RFC3339Nano), r.To.Format(time.RFC3339Nano))
	}
	if !r.From.IsZero() {
		*where = append(*where, col+" >= ?")
		*args = append(*args, store.ClampNanos(r.From))
	}
	if !r.To.IsZero() {
		*where = append(*where, col+" < ?")
		*args = append(*args, store.ClampNanos(r.To))
	}
	return nil
}

// TraceSpans implements store.Reader.
func (s *Store) TraceSpans(ctx context.Context, projectID, traceID string) ([]model.Span, error) {
	return s.traceSpans(ctx, projectID, traceID, fullRead)
}

// TraceChatSpans implements store.Reader.
func (s *Store) TraceChatSpans(ctx context.Context, projectID, traceID string) ([]model.Span, error) {
	return s.traceSpans(ctx, projectID, traceID, chatRead)
}

func (s *Store) traceSpans(ctx context.Context, projectID, traceID string, rd spanRead) ([]model.Span, error) {
	if err := checks.Project(projectID); err != nil {
		return nil, err
	}
	proj, ok, err := s.projectID(ctx, projectID)
	if err != nil || !ok {
		return nil, err
	}
	return s.queryRead(ctx, s.r, rd, selectSpans(true)+"INDEXED BY spans_key WHERE s.proj = ? AND s.trace_id = ? ORDER BY s.started_at, s.span_id",
		proj, traceID)
}

// ConversationSpans implements store.Reader.
func (s *Store) ConversationSpans(ctx context.Context, projectID, conversationID string, r store.TimeRange) ([]model.Span, error) {
	return s.conversationSpans(ctx, projectID, conversationID, r, fullRead)
}

// ConversationChatSpans implements store.Reader.
func (s *Store) ConversationChatSpans(ctx context.Context, projectID, conversationID string, r store.TimeRange) ([]model.Span, error) {
	return s.conversationSpans(ctx, projectID, conversationID, r, chatRead)
}

func (s *Store) conversationSpans(ctx context.Context, projectID, conversationID string, r store.TimeRange, rd spanRead) ([]model.Span, error) {
	if err := checks.Project(projectID); err != nil {
		return nil, err
	}
	where := []string{"s.conv_id = ?"}
	args := []any{nil}
	if err := rangeSQL("s.started_at", r, &where, &args); err != nil {
		return nil, err
	}
	proj, ok, err := s.projectID(ctx, projectID)
	if err != nil || !ok {
		return nil, err
	}
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: conversation spans: %w", err)
	}
	defer tx.Rollback()
	var conv int64
	err = tx.QueryRowContext(ctx, "SELECT id FROM conversations WHERE proj = ? AND conv_key = ?", proj, conversationID).Scan(&conv)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: conversation spans: %w", err)
	}
	args[0] = conv
	return s.queryRead(ctx, tx, rd, selectSpans(true)+"INDEXED BY spans_conv WHERE "+join(where)+" ORDER BY s.started_at, s.span_id", args...)
}

// ActiveSpans implements store.Reader.
func (s *Store) ActiveSpans(ctx context.Context, projectID string, r store.TimeRange, limit int) ([]model.Span, error) {
	if err := checks.Project(projectID); err != nil {
		return nil, err
	}
	limit, err := checks.Limit(limit)
	if err != nil {
		return nil, err
	}
	where := []string{"s.proj = ?", "s.ended_at = 0"}
	args := []any{nil}
	if err := rangeSQL("s.started_at", r, &where, &args); err != nil {
		return nil, err
	}
	proj, ok, err := s.projectID(ctx, projectID)
	if err != nil || !ok {
		return nil, err
	}
	args[0] = proj
	args = append(args, limit)
	return s.querySpans(ctx, s.r, false, selectSpans(false)+"INDEXED BY spans_running WHERE "+join(where)+
		" ORDER BY s.started_at DESC, s.span_id LIMIT ?", args...)
}

func join(where []string) string {
	out := ""
	for i, w := range where {
		if i > 0 {
			out += " AND "
		}
		out += w
	}
	return out
}
