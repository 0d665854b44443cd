package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/weavetrace/weave/server/store"
)

// UpsertAnnotation implements store.Annotations.
func (s *Store) UpsertAnnotation(ctx context.Context, a store.Annotation) (store.Annotation, error) {
	if err := needProject(a.ProjectID); err != nil {
		return store.Annotation{}, err
	}
	if !store.ValidRef(a.Ref) {
		return store.Annotation{}, invalid("annotation ref %q is not agent_span/<id>, agent_turn/<id> or agent_conversation/<id>", a.Ref)
	}
	if a.Kind == "" {
		return store.Annotation{}, invalid("annotation kind is empty")
	}
	if len(a.ID) > store.MaxIDLen {
		return store.Annotation{}, invalid("annotation id longer than %d bytes", store.MaxIDLen)
	}
	value, err := json.Marshal(a.Value)
	if err != nil {
		return store.Annotation{}, invalid("annotation value: %v", err)
	}
	if a.ID == "" {
		a.ID = store.NewAnnotationID()
	}
	now := store.ClampNanos(s.now())
	var out store.Annotation
	err = s.inWriteTx(ctx, func(w *writeTx) error {
		created := now
		err := w.tx.QueryRowContext(ctx, "SELECT created_at FROM annotations WHERE project_id = ? AND id = ?", a.ProjectID, a.ID).Scan(&created)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: upsert annotation: %w", err)
		}
		if _, err := w.exec(`INSERT OR REPLACE INTO annotations (project_id, id, ref, kind, value, author, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.ProjectID, a.ID, a.Ref, a.Kind, string(value), a.Author, created, now); err != nil {
			return err
		}
		out = store.Annotation{ID: a.ID, ProjectID: a.ProjectID, Ref: a.Ref, Kind: a.Kind, Author: a.Author,
			CreatedAt: fromNanos(created), UpdatedAt: fromNanos(now)}
		return decodeJSON(value, &out.Value)
	})
	if err != nil {
		return store.Annotation{}, err
	}
	return out, nil
}

// DeleteAnnotation implements store.Annotations.
func (s *Store) DeleteAnnotation(ctx context.Context, projectID, id string) error {
	if err := needProject(projectID); err != nil {
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
	if err := needProject(q.ProjectID); err != nil {
		return nil, err
	}
	limit, err := clampLimit(q.Limit)
	if err != nil {
		return nil, err
	}
	if err := checkOffset(q.Offset); err != nil {
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
	rows, err := s.r.QueryContext(ctx, `SELECT id, ref, kind, value, author, created_at, updated_at FROM annotations
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
		if err := rows.Scan(&a.ID, &a.Ref, &a.Kind, &value, &a.Author, &created, &updated); err != nil {
			return nil, fmt.Errorf("sqlite: query annotations: %w", err)
		}
		if err := decodeJSON([]byte(value), &a.Value); err != nil {
			return nil, fmt.Errorf("sqlite: annotation %q value: %w", a.ID, err)
		}
		a.CreatedAt, a.UpdatedAt = fromNanos(created), fromNanos(updated)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: query annotations: %w", err)
	}
	return out, nil
}
