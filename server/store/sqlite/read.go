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

// rowCols are the columns scanRow reads, prefixed with the table alias s.
const rowCols = `s.pk, s.project_id, s.trace_id, s.span_id, s.parent_span_id, s.span_name, s.span_kind,
	s.started_at, s.ended_at, s.status_code, s.status_message, s.operation_name, s.provider_name,
	s.agent_name, s.agent_id, s.agent_version, s.conversation_id, s.request_model, s.response_model,
	s.response_id, s.input_tokens, s.output_tokens, s.cache_read_input_tokens,
	s.cache_creation_input_tokens, s.reasoning_tokens, s.finish_reasons, s.tool_name, s.tool_type,
	s.tool_call_id, s.error_type, s.compaction_summary, s.compaction_items_before,
	s.compaction_items_after, s.thread_id, s.is_turn, s.custom_attrs_string, s.custom_attrs_int,
	s.custom_attrs_float, s.custom_attrs_bool, s.resource_id`

// spanRow is a scanned span before its resource and details are attached.
type spanRow struct {
	pk    int64
	res   sql.NullInt64
	span  model.Span
	attrs [5]sql.NullString // finish_reasons, custom string/int/float/bool
}

func scanRow(sc interface{ Scan(...any) error }) (*spanRow, error) {
	r := &spanRow{}
	s := &r.span
	var started, ended int64
	var tok [5]sql.NullInt64
	err := sc.Scan(&r.pk, &s.ProjectID, &s.TraceID, &s.SpanID, &s.ParentSpanID, &s.SpanName, &s.SpanKind,
		&started, &ended, &s.StatusCode, &s.StatusMessage, &s.OperationName, &s.ProviderName,
		&s.AgentName, &s.AgentID, &s.AgentVersion, &s.ConversationID, &s.RequestModel, &s.ResponseModel,
		&s.ResponseID, &tok[0], &tok[1], &tok[2], &tok[3], &tok[4], &r.attrs[0], &s.ToolName, &s.ToolType,
		&s.ToolCallID, &s.ErrorType, &s.CompactionSummary, &s.CompactionItemsBefore,
		&s.CompactionItemsAfter, &s.ThreadID, &s.IsTurn, &r.attrs[1], &r.attrs[2], &r.attrs[3], &r.attrs[4], &r.res)
	if err != nil {
		return nil, err
	}
	s.StartedAt = fromNanos(started)
	if ended != 0 {
		s.EndedAt = fromNanos(ended)
	}
	for i, t := range tok {
		if t.Valid {
			v := t.Int64
			switch i {
			case 0:
				s.InputTokens = &v
			case 1:
				s.OutputTokens = &v
			case 2:
				s.CacheReadInputTokens = &v
			case 3:
				s.CacheCreationInputTokens = &v
			case 4:
				s.ReasoningTokens = &v
			}
		}
	}
	dst := []any{&s.FinishReasons, &s.CustomAttrsString, &s.CustomAttrsInt, &s.CustomAttrsFloat, &s.CustomAttrsBool}
	for i, a := range r.attrs {
		if a.Valid && a.String != "" {
			if err := json.Unmarshal([]byte(a.String), dst[i]); err != nil {
				return nil, fmt.Errorf("sqlite: span %s/%s: decode column: %w", s.TraceID, s.SpanID, err)
			}
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

// querySpans runs a SELECT of rowCols (from "spans s ...") and returns the
// spans with resources attached, and details when asked.
func (s *Store) querySpans(ctx context.Context, withDetails bool, q string, args ...any) ([]model.Span, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query spans: %w", err)
	}
	var list []*spanRow
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: query spans: %w", err)
		}
		list = append(list, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("sqlite: query spans: %w", err)
	}
	return s.finish(ctx, s.r, list, withDetails)
}

// finish attaches resource attributes and, optionally, the heavy columns.
func (s *Store) finish(ctx context.Context, q queryer, list []*spanRow, withDetails bool) ([]model.Span, error) {
	if len(list) == 0 {
		return nil, nil
	}
	var resIDs []int64
	seen := make(map[int64]bool)
	for _, r := range list {
		if r.res.Valid && !seen[r.res.Int64] {
			seen[r.res.Int64] = true
			resIDs = append(resIDs, r.res.Int64)
		}
	}
	res := make(map[int64][]byte, len(resIDs))
	if err := loadByIDs(ctx, q, "resources", "attrs", resIDs, func(id int64, v []byte) error {
		res[id] = v
		return nil
	}); err != nil {
		return nil, err
	}
	var heavy map[int64]*model.Span
	if withDetails {
		pks := make([]int64, len(list))
		for i, r := range list {
			pks[i] = r.pk
		}
		var err error
		if heavy, err = loadDetails(ctx, q, pks); err != nil {
			return nil, err
		}
	}
	out := make([]model.Span, len(list))
	for i, r := range list {
		sp := r.span
		if r.res.Valid {
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
		out[i] = sp
	}
	return out, nil
}

// loadDetails rebuilds the heavy columns of spans from their details and
// the content tables, in a fixed number of queries whatever the count.
func loadDetails(ctx context.Context, q queryer, pks []int64) (map[int64]*model.Span, error) {
	dets := make(map[int64]details, len(pks))
	if err := loadDetailsRows(ctx, q, pks, func(pk int64, x details) { dets[pk] = x }); err != nil {
		return nil, err
	}
	var pageIDs []int64
	for _, x := range dets {
		pageIDs = append(pageIDs, x.inPages...)
	}
	pages, err := loadPages(ctx, q, uniq(pageIDs))
	if err != nil {
		return nil, err
	}
	var msgIDs []int64
	for _, x := range dets {
		for _, pg := range x.inPages {
			msgIDs = append(msgIDs, pages[pg]...)
		}
		msgIDs = append(msgIDs, x.inTail...)
		msgIDs = append(msgIDs, x.out...)
	}
	shapes, err := loadShapes(ctx, q, uniq(msgIDs))
	if err != nil {
		return nil, err
	}
	var textIDs []int64
	for _, sh := range shapes {
		for _, p := range sh.parts {
			for _, id := range []int64{p.content, p.args, p.resp} {
				if id != 0 {
					textIDs = append(textIDs, id)
				}
			}
		}
	}
	for _, x := range dets {
		for _, id := range x.sys {
			if id != 0 {
				textIDs = append(textIDs, id)
			}
		}
		for _, id := range []int64{x.args, x.result} {
			if id != 0 {
				textIDs = append(textIDs, id)
			}
		}
	}
	texts := make(map[int64]string)
	if err := loadByIDs(ctx, q, "texts", "body", uniq(textIDs), func(id int64, v []byte) error {
		texts[id] = string(v)
		return nil
	}); err != nil {
		return nil, err
	}
	text := func(id int64) (string, error) {
		if id == 0 {
			return "", nil
		}
		t, ok := texts[id]
		if !ok {
			return "", fmt.Errorf("sqlite: text %d missing: %w", id, errCorrupt)
		}
		return t, nil
	}
	msg := func(id int64) (model.Message, error) {
		sh, ok := shapes[id]
		if !ok {
			return model.Message{}, fmt.Errorf("sqlite: message %d missing: %w", id, errCorrupt)
		}
		m := model.Message{Role: sh.role, Name: sh.name, FinishReason: sh.finish}
		for _, p := range sh.parts {
			part := model.Part{Type: p.typ, ID: p.id, Name: p.name, MimeType: p.mime, Modality: p.modality, FileID: p.fileID, URI: p.uri, Content: p.inline}
			c, err := text(p.content)
			if err != nil {
				return m, err
			}
			if p.content != 0 {
				part.Content = c
			}
			a, err := text(p.args)
			if err != nil {
				return m, err
			}
			if a != "" {
				part.Arguments = json.RawMessage(a)
			}
			r, err := text(p.resp)
			if err != nil {
				return m, err
			}
			if r != "" {
				part.Response = json.RawMessage(r)
			}
			m.Parts = append(m.Parts, part)
		}
		return m, nil
	}
	out := make(map[int64]*model.Span, len(dets))
	for pk, x := range dets {
		sp := &model.Span{}
		var in []int64
		for _, pg := range x.inPages {
			refs, ok := pages[pg]
			if !ok {
				return nil, fmt.Errorf("sqlite: page %d missing: %w", pg, errCorrupt)
			}
			in = append(in, refs...)
		}
		in = append(in, x.inTail...)
		for _, id := range in {
			m, err := msg(id)
			if err != nil {
				return nil, err
			}
			sp.InputMessages = append(sp.InputMessages, m)
		}
		for _, id := range x.out {
			m, err := msg(id)
			if err != nil {
				return nil, err
			}
			sp.OutputMessages = append(sp.OutputMessages, m)
		}
		for _, id := range x.sys {
			t, err := text(id)
			if err != nil {
				return nil, err
			}
			sp.SystemInstructions = append(sp.SystemInstructions, t)
		}
		if sp.ToolCallArguments, err = text(x.args); err != nil {
			return nil, err
		}
		if sp.ToolCallResult, err = text(x.result); err != nil {
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
		out[pk] = sp
	}
	return out, nil
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
	st, err := conn.PrepareContext(ctx, "SELECT "+rowCols+" FROM spans s WHERE s.project_id = ? AND s.trace_id = ? AND s.span_id = ?")
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
		r, err := scanRow(st.QueryRowContext(ctx, k.ProjectID, k.TraceID, k.SpanID))
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: get spans: %w", err)
		}
		list = append(list, r)
	}
	return s.finish(ctx, conn, list, true)
}

func needProject(p string) error {
	if p == "" {
		return fmt.Errorf("%w: sqlite: project_id is required", store.ErrInvalid)
	}
	return nil
}

// rangeSQL adds started_at bounds on column col.
func rangeSQL(col string, r store.TimeRange, where *[]string, args *[]any) error {
	if !r.From.IsZero() && !r.To.IsZero() && !r.From.Before(r.To) {
		return fmt.Errorf("%w: sqlite: time range from %s is not before to %s", store.ErrInvalid, r.From.Format(time.RFC3339Nano), r.To.Format(time.RFC3339Nano))
	}
	if !r.From.IsZero() {
		*where = append(*where, col+" >= ?")
		*args = append(*args, clampNanos(r.From))
	}
	if !r.To.IsZero() {
		*where = append(*where, col+" < ?")
		*args = append(*args, clampNanos(r.To))
	}
	return nil
}

func clampNanos(t time.Time) int64 {
	switch {
	case t.Before(store.MinTime):
		return store.MinTime.UnixNano()
	case t.After(store.MaxTime):
		return store.MaxTime.UnixNano()
	}
	return t.UnixNano()
}

// TraceSpans implements store.Reader.
func (s *Store) TraceSpans(ctx context.Context, projectID, traceID string) ([]model.Span, error) {
	if err := needProject(projectID); err != nil {
		return nil, err
	}
	return s.querySpans(ctx, true, "SELECT "+rowCols+" FROM spans s WHERE s.project_id = ? AND s.trace_id = ? ORDER BY s.started_at, s.span_id",
		projectID, traceID)
}

// ConversationSpans implements store.Reader.
func (s *Store) ConversationSpans(ctx context.Context, projectID, conversationID string, r store.TimeRange) ([]model.Span, error) {
	if err := needProject(projectID); err != nil {
		return nil, err
	}
	where := []string{"s.project_id = ?", "s.conv_key = ?"}
	args := []any{projectID, conversationID}
	if err := rangeSQL("s.started_at", r, &where, &args); err != nil {
		return nil, err
	}
	return s.querySpans(ctx, true, "SELECT "+rowCols+" FROM spans s WHERE "+join(where)+" ORDER BY s.started_at, s.span_id", args...)
}

// ActiveSpans implements store.Reader.
func (s *Store) ActiveSpans(ctx context.Context, projectID string, r store.TimeRange, limit int) ([]model.Span, error) {
	if err := needProject(projectID); err != nil {
		return nil, err
	}
	limit, err := clampLimit(limit)
	if err != nil {
		return nil, err
	}
	where := []string{"s.project_id = ?", "s.ended_at = 0"}
	args := []any{projectID}
	if err := rangeSQL("s.started_at", r, &where, &args); err != nil {
		return nil, err
	}
	args = append(args, limit)
	return s.querySpans(ctx, false, "SELECT "+rowCols+" FROM spans s INDEXED BY spans_running WHERE "+join(where)+
		" ORDER BY s.started_at DESC, s.span_id LIMIT ?", args...)
}

func clampLimit(n int) (int, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("%w: sqlite: negative limit %d", store.ErrInvalid, n)
	case n == 0:
		return store.DefaultLimit, nil
	case n > store.MaxLimit:
		return store.MaxLimit, nil
	}
	return n, nil
}

func checkOffset(n int) error {
	if n < 0 {
		return fmt.Errorf("%w: sqlite: negative offset %d", store.ErrInvalid, n)
	}
	return nil
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
