package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/weavetrace/weave/server/store"
)

// UpsertAnnotation implements store.Annotations.
func (s *Store) UpsertAnnotation(ctx context.Context, a store.Annotation) (store.Annotation, error) {
	if err := checks.Project(a.ProjectID); err != nil {
		return store.Annotation{}, err
	}
	a, value, err := store.PrepareAnnotation(a)
	if err != nil {
		return store.Annotation{}, fmt.Errorf("sqlite: %w", err)
	}
	num, label := store.ScoreColumns(a)
	now := store.ClampNanos(s.now())
	var out store.Annotation
	err = s.inWriteTx(ctx, func(w *writeTx) error {
		created := now
		err := w.tx.QueryRowContext(ctx, "SELECT created_at FROM annotations WHERE project_id = ? AND id = ?", a.ProjectID, a.ID).Scan(&created)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: upsert annotation: %w", err)
		}
		if _, err := w.exec(`INSERT OR REPLACE INTO annotations (project_id, id, ref, kind, value, author, created_at, updated_at,
			name, data_type, min, max, trace_id, score, label)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.ProjectID, a.ID, a.Ref, a.Kind, string(value), a.Author, created, now,
			a.Name, a.DataType, a.Min, a.Max, a.TraceID, num, label); err != nil {
			return err
		}
		out, err = store.StoredAnnotation(a, value, fromNanos(created), fromNanos(now))
		return err
	})
	if err != nil {
		return store.Annotation{}, err
	}
	return out, nil
}

// DeleteAnnotation implements store.Annotations.
func (s *Store) DeleteAnnotation(ctx context.Context, projectID, id string) error {
	if err := checks.Project(projectID); err != nil {
		return err
	}
	return s.inWriteTx(ctx, func(w *writeTx) error {
		res, err := w.exec("DELETE FROM annotations WHERE project_id = ? AND id = ?", projectID, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: delete annotation: %w", err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: annotation %q: %w", id, store.ErrNotFound)
		}
		return nil
	})
}

// QueryAnnotations implements store.Annotations.
func (s *Store) QueryAnnotations(ctx context.Context, q store.AnnotationQuery) ([]store.Annotation, error) {
	limit, err := checks.Page(q.ProjectID, q.Limit, q.Offset)
	if err != nil {
		return nil, err
	}
	where := []string{"project_id = ?"}
	args := []any{q.ProjectID}
	if len(q.Refs) > 0 {
		where = append(where, "ref IN ("+placeholders(len(q.Refs))+")")
		for _, r := range q.Refs {
			args = append(args, r)
		}
	}
	if q.Kind != "" {
		where = append(where, "kind = ?")
		args = append(args, q.Kind)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, ref, kind, value, author, created_at, updated_at,
		name, data_type, min, max, trace_id FROM annotations
		WHERE `+join(where)+` ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`, append(args, limit, q.Offset)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query annotations: %w", err)
	}
	defer rows.Close()
	var out []store.Annotation
	for rows.Next() {
		a := store.Annotation{ProjectID: q.ProjectID}
		var value string
		var created, updated int64
		var lo, hi sql.NullFloat64
		if err := rows.Scan(&a.ID, &a.Ref, &a.Kind, &value, &a.Author, &created, &updated,
			&a.Name, &a.DataType, &lo, &hi, &a.TraceID); err != nil {
			return nil, fmt.Errorf("sqlite: query annotations: %w", err)
		}
		if err := decodeJSON([]byte(value), &a.Value); err != nil {
			return nil, fmt.Errorf("sqlite: annotation %q value: %w", a.ID, err)
		}
		a.CreatedAt, a.UpdatedAt = fromNanos(created), fromNanos(updated)
		if lo.Valid {
			a.Min = &lo.Float64
		}
		if hi.Valid {
			a.Max = &hi.Float64
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: query annotations: %w", err)
	}
	return out, nil
}

// scoredItems reads the project's scores and what each counts for (see
// store.ScoredItem). nil without scores.
func (s *Store) scoredItems(ctx context.Context, tx queryer, proj int64, projectID string) ([]store.ScoredItem, error) {
	rows, err := tx.QueryContext(ctx, `SELECT ref, name, data_type, score, label, trace_id FROM annotations
		WHERE project_id = ? AND kind = 'score'`, projectID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: scores: %w", err)
	}
	var list []store.ScoreRow
	for rows.Next() {
		var x store.ScoreRow
		var num sql.NullFloat64
		if err := rows.Scan(&x.Ref, &x.Name, &x.DataType, &num, &x.Label, &x.TraceID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: scores: %w", err)
		}
		if num.Valid {
			x.Num = &num.Float64
		}
		list = append(list, x)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("sqlite: scores: %w", err)
	}
	if len(list) == 0 {
		return nil, nil
	}
	spans := map[string]map[string]store.SpanPlace{}
	for ids := store.ScoredTraces(list); len(ids) > 0; {
		n := min(len(ids), 500)
		args := []any{proj}
		for _, t := range ids[:n] {
			args = append(args, t)
		}
		ids = ids[n:]
		rows, err := tx.QueryContext(ctx, `SELECT s.trace_id, s.span_id, c.conv_key, s.eff_agent FROM spans s
			JOIN conversations c ON c.id = s.conv_id WHERE s.proj = ? AND s.trace_id IN (`+placeholders(len(args)-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: scores: %w", err)
		}
		for rows.Next() {
			var trace, span string
			var p store.SpanPlace
			if err := rows.Scan(&trace, &span, &p.Conversation, &p.Agent); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: scores: %w", err)
			}
			if spans[trace] == nil {
				spans[trace] = map[string]store.SpanPlace{}
			}
			spans[trace][span] = p
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, fmt.Errorf("sqlite: scores: %w", err)
		}
	}
	return store.ResolveScores(list, spans), nil
}
