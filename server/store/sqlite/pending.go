package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// WritePendingEvents implements store.Writer. Events parked longer than
// Settings.PendingEventsMaxAge are dropped by later writes.
func (s *Store) WritePendingEvents(ctx context.Context, events []store.KeyedEvents) error {
	if len(events) == 0 {
		return nil
	}
	encoded := make([]string, len(events))
	for i, e := range events {
		if e.Key.ProjectID == "" || e.Key.TraceID == "" || e.Key.SpanID == "" {
			return invalid("pending events %d: incomplete span key %+v", i, e.Key)
		}
		b, err := json.Marshal(e.Events)
		if err != nil {
			return invalid("pending events %d: %v", i, err)
		}
		encoded[i] = string(b)
	}
	now := store.ClampNanos(s.now())
	// Counted before the rows exist, uncounted after they are gone: the
	// count may exceed the table, never fall short of it (see pendingRows).
	var added, expired int64
	for _, e := range events {
		if len(e.Events) > 0 {
			added++
		}
	}
	s.pendingRows.Add(added)
	err := s.inWriteTx(ctx, func(w *writeTx) error {
		res, err := w.exec("DELETE FROM pending_events WHERE received_at < ?", now-int64(s.maxAge))
		if err != nil {
			return err
		}
		if expired, err = res.RowsAffected(); err != nil {
			return err
		}
		for i, e := range events {
			if len(e.Events) == 0 {
				continue
			}
			if _, err := w.exec("INSERT INTO pending_events (project_id, trace_id, span_id, received_at, events) VALUES (?, ?, ?, ?, ?)",
				e.Key.ProjectID, e.Key.TraceID, e.Key.SpanID, now, encoded[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.pendingRows.Add(-added)
		return err
	}
	s.pendingRows.Add(-expired)
	return nil
}

// TakePendingEvents implements store.Writer.
func (s *Store) TakePendingEvents(ctx context.Context, keys []store.SpanKey) (map[store.SpanKey][]model.Event, error) {
	out := make(map[store.SpanKey][]model.Event)
	// Every trace request asks, and almost always nothing is parked: then
	// the answer needs neither the writer nor a query.
	if len(keys) == 0 || s.pendingRows.Load() == 0 {
		return out, nil
	}
	var taken int64
	err := s.inWriteTx(ctx, func(w *writeTx) error {
		seen := make(map[store.SpanKey]bool, len(keys))
		for _, k := range keys {
			if seen[k] {
				continue
			}
			seen[k] = true
			st, err := w.stmt("SELECT id, events FROM pending_events WHERE project_id = ? AND trace_id = ? AND span_id = ? ORDER BY id")
			if err != nil {
				return err
			}
			rows, err := st.QueryContext(ctx, k.ProjectID, k.TraceID, k.SpanID)
			if err != nil {
				return fmt.Errorf("sqlite: take pending events: %w", err)
			}
			var ids []int64
			for rows.Next() {
				var id int64
				var b string
				if err := rows.Scan(&id, &b); err != nil {
					rows.Close()
					return fmt.Errorf("sqlite: take pending events: %w", err)
				}
				var evs []model.Event
				if err := decodeJSON([]byte(b), &evs); err != nil {
					rows.Close()
					return fmt.Errorf("sqlite: pending events %d: %w", id, err)
				}
				for i := range evs {
					evs[i].Time = evs[i].Time.UTC()
				}
				out[k] = append(out[k], evs...)
				ids = append(ids, id)
			}
			if err := errors.Join(rows.Err(), rows.Close()); err != nil {
				return fmt.Errorf("sqlite: take pending events: %w", err)
			}
			for _, id := range ids {
				if _, err := w.exec("DELETE FROM pending_events WHERE id = ?", id); err != nil {
					return err
				}
			}
			taken += int64(len(ids))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.pendingRows.Add(-taken)
	return out, nil
}
