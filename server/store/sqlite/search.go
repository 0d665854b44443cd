package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/textsearch"
)

// ftsExpr renders a parsed query as an FTS5 MATCH expression: every term a
// quoted phrase (tokens are letters and digits only, so nothing needs
// escaping), all of them required.
func ftsExpr(q textsearch.Query) string {
	var b strings.Builder
	for i, t := range q.Terms {
		if i > 0 {
			b.WriteString(" AND ")
		}
		b.WriteByte('"')
		b.WriteString(strings.Join(t.Tokens, " "))
		b.WriteByte('"')
	}
	return b.String()
}

// hitRow is a candidate hit before sorting and snippets.
type hitRow struct {
	conv    int64
	role    string
	text    int64
	firstAt int64
	firstPK int64
	gid     int64
	trace   string
	span    string
}

// searchMatch is the FTS5 expression of a search in a project: the filter
// tokens on the meta column, the query's terms on the body column.
func searchMatch(proj, conv int64, roles []string, q textsearch.Query) string {
	var b strings.Builder
	fmt.Fprintf(&b, "meta : p%d", proj)
	if conv != 0 {
		fmt.Fprintf(&b, " AND meta : c%d", conv)
	}
	if len(roles) > 0 {
		b.WriteString(" AND meta : (")
		for i, r := range roles {
			if i > 0 {
				b.WriteString(" OR ")
			}
			b.WriteString(roleToken(r))
		}
		b.WriteString(")")
	}
	b.WriteString(" AND body : (")
	b.WriteString(ftsExpr(q))
	b.WriteString(")")
	return b.String()
}

// SearchMessages implements store.Reader. It walks the matching search
// groups newest first (FTS rowids are ordered by the millisecond of the
// first occurrence) and stops once the page and every hit tied with its
// last one are read, so a common word costs no more than a rare one.
func (s *Store) SearchMessages(ctx context.Context, q store.SearchQuery) ([]store.SearchHit, error) {
	if err := checks.Project(q.ProjectID); err != nil {
		return nil, err
	}
	parsed, err := textsearch.Parse(q.Query)
	if err != nil {
		return nil, err
	}
	limit, err := checks.Page(q.ProjectID, q.Limit, q.Offset)
	if err != nil {
		return nil, err
	}
	var where []string
	var args []any
	if err := rangeSQL("g.first_at", q.Range, &where, &args); err != nil {
		return nil, err
	}
	proj, ok, err := s.projectID(ctx, q.ProjectID)
	if err != nil || !ok {
		return nil, err
	}
	if err := s.syncSearch(ctx); err != nil {
		return nil, err
	}
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: search: %w", err)
	}
	defer tx.Rollback()

	var conv int64
	if q.ConversationID != "" {
		err := tx.QueryRowContext(ctx, "SELECT id FROM conversations WHERE proj = ? AND conv_key = ?", proj, q.ConversationID).Scan(&conv)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: search: %w", err)
		}
	}
	where, args = searchConds(q, where, args)
	need := q.Offset + limit
	cands, err := searchCands(ctx, tx, searchMatch(proj, conv, q.Roles, parsed), where, args, need)
	if err != nil {
		return nil, err
	}
	spans, err := spanInfo(ctx, tx, cands)
	if err != nil {
		return nil, err
	}
	for i := range cands {
		si := spans[cands[i].firstPK]
		cands[i].trace, cands[i].span = si.trace, si.span
	}
	sortHits(cands)
	if q.Offset >= len(cands) {
		return nil, nil
	}
	return searchHits(ctx, tx, cands[q.Offset:min(len(cands), need)], spans, parsed)
}

// searchConds adds a search's range, coarsely on the rowid (whole
// milliseconds; rangeSQL has it exactly on first_at), and its agent.
func searchConds(q store.SearchQuery, where []string, args []any) ([]string, []any) {
	if !q.Range.From.IsZero() {
		where = append(where, "f.rowid >= ?")
		args = append(args, gidMS(store.ClampNanos(q.Range.From))<<gidShift)
	}
	if !q.Range.To.IsZero() {
		where = append(where, "f.rowid < ?")
		args = append(args, (gidMS(store.ClampNanos(q.Range.To))+1)<<gidShift)
	}
	if q.AgentName != "" {
		where = append(where, "(SELECT x.eff_agent FROM spans x WHERE x.pk = g.first_pk) = ?")
		args = append(args, q.AgentName)
	}
	return where, args
}

// searchCands reads the groups matching the FTS5 expression match and the
// conditions, newest millisecond first, until the first need of them
// (whatever their order within a millisecond) are in.
func searchCands(ctx context.Context, tx *sql.Tx, match string, where []string, args []any, need int) ([]hitRow, error) {
	cond := ""
	if len(where) > 0 {
		cond = " AND " + join(where)
	}
	rows, err := tx.QueryContext(ctx, `SELECT g.conv_id, g.role, g.text_id, g.first_at, g.first_pk, g.gid
		FROM search.groups_fts f CROSS JOIN search.msg_groups g ON g.gid = f.rowid
		WHERE f.groups_fts MATCH ?`+cond+` ORDER BY f.rowid DESC`,
		append([]any{match}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: search: %w", err)
	}
	var cands []hitRow
	for rows.Next() {
		var h hitRow
		if err := rows.Scan(&h.conv, &h.role, &h.text, &h.firstAt, &h.firstPK, &h.gid); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: search: %w", err)
		}
		// Rows come by millisecond, newest first; once the page is full,
		// an older millisecond cannot place anything on it.
		if len(cands) >= need && h.gid>>gidShift < cands[len(cands)-1].gid>>gidShift {
			break
		}
		cands = append(cands, h)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("sqlite: search: %w", err)
	}
	return cands, nil
}

// sortHits puts hits in the contract's order: newest first, then trace,
// span and role.
func sortHits(cands []hitRow) {
	slices.SortFunc(cands, func(a, b hitRow) int {
		if c := cmpInt(b.firstAt, a.firstAt); c != 0 {
			return c
		}
		if c := strings.Compare(a.trace, b.trace); c != 0 {
			return c
		}
		if c := strings.Compare(a.span, b.span); c != 0 {
			return c
		}
		return strings.Compare(a.role, b.role)
	})
}

// searchHits turns the page's candidates into hits: their conversations'
// keys and last activity, and a snippet of their texts.
func searchHits(ctx context.Context, tx *sql.Tx, cands []hitRow, spans map[int64]spanBrief, parsed textsearch.Query) ([]store.SearchHit, error) {
	type convInfo struct {
		key  string
		last int64
	}
	convs := make(map[int64]convInfo)
	var textIDs []int64
	for _, c := range cands {
		convs[c.conv] = convInfo{}
		textIDs = append(textIDs, c.text)
	}
	for id := range convs {
		var ci convInfo
		if err := tx.QueryRowContext(ctx, "SELECT conv_key, last_activity FROM conversations WHERE id = ?", id).Scan(&ci.key, &ci.last); err != nil {
			return nil, fmt.Errorf("sqlite: search: conversation %d: %w", id, err)
		}
		convs[id] = ci
	}
	bodies := make(map[int64]string, len(textIDs))
	if err := loadByIDs(ctx, tx, "texts", "body", uniq(textIDs), func(id int64, v []byte) error {
		bodies[id] = string(v)
		return nil
	}); err != nil {
		return nil, err
	}
	hits := make([]store.SearchHit, len(cands))
	for i, c := range cands {
		si := spans[c.firstPK]
		hits[i] = store.SearchHit{TraceID: si.trace, SpanID: si.span, ConversationID: convs[c.conv].key,
			LastActivity: fromNanos(convs[c.conv].last), AgentName: si.agent,
			OperationName: si.op, Role: c.role, StartedAt: fromNanos(c.firstAt), Snippet: textsearch.Snippet(bodies[c.text], parsed)}
	}
	return hits, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type spanBrief struct {
	trace, span, op, agent string
}

func spanInfo(ctx context.Context, q queryer, cands []hitRow) (map[int64]spanBrief, error) {
	out := make(map[int64]spanBrief, len(cands))
	var ids []int64
	for _, c := range cands {
		ids = append(ids, c.firstPK)
	}
	ids = uniq(ids)
	for len(ids) > 0 {
		n := min(len(ids), 500)
		chunk := ids[:n]
		ids = ids[n:]
		args := make([]any, n)
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := q.QueryContext(ctx, "SELECT pk, trace_id, span_id, operation_name, eff_agent FROM spans WHERE pk IN ("+placeholders(n)+")", args...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: search: %w", err)
		}
		for rows.Next() {
			var pk int64
			var b spanBrief
			if err := rows.Scan(&pk, &b.trace, &b.span, &b.op, &b.agent); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: search: %w", err)
			}
			out[pk] = b
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, fmt.Errorf("sqlite: search: %w", err)
		}
	}
	return out, nil
}
